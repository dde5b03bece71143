"""Query–sentence scoring over retrieved chunks: the core of the extractive answerer."""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from ingest.models import Chunk
from ingest.text import split_sentences

_URLISH = re.compile(r"https?://|^[-・•]\s|^<")
_BIGRAM_CACHE_LIMIT = 4096


@dataclass
class Candidate:
    chunk: Chunk
    rank: int  # rank of the chunk's hit (0 = best)
    start: int  # position of the sentence in chunk.text
    end: int
    text: str  # verbatim, stripped of surrounding whitespace
    score: float = 0.0
    coverage: float = 0.0


class IdfTable:
    """Inverse document frequencies over the guide's chunks (computed once per process)."""

    def __init__(self, docs: Iterable[list[str]]):
        df: Counter[str] = Counter()
        n = 0
        for tokens in docs:
            n += 1
            df.update(set(tokens))
        self.n = max(n, 1)
        self.df = df
        self.default = math.log(1 + self.n)

    def idf(self, token: str) -> float:
        d = self.df.get(token)
        return math.log(1 + self.n / d) if d else self.default


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in ``text``, whitespace trimmed."""
    spans = []
    pos = 0
    for s in split_sentences(text):
        i = text.find(s, pos)
        if i < 0:
            continue
        pos = i + len(s)
        a, b = i, i + len(s)
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            spans.append((a, b))
    return spans


def bigrams(s: str) -> set[str]:
    s = re.sub(r"\s+", "", s)
    return {s[i:i + 2] for i in range(len(s) - 1)}


def similar(a: str, b: str, threshold: float = 0.6) -> bool:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return False
    return len(x & y) / min(len(x), len(y)) >= threshold


class SentenceScorer:
    def __init__(self, tokenize: Callable[[str], list[str]], idf: IdfTable):
        self.tokenize = tokenize
        self.idf = idf
        self._cache: dict[str, set[str]] = {}

    def tokens(self, text: str) -> set[str]:
        toks = self._cache.get(text)
        if toks is None:
            toks = set(self.tokenize(text))
            if len(self._cache) < 50_000:
                self._cache[text] = toks
        return toks

    def coverage(self, query_tokens: set[str], text: str) -> float:
        """IDF-weighted share of the query's tokens found in ``text``."""
        if not query_tokens:
            return 0.0
        have = self.tokens(text)
        total = sum(self.idf.idf(t) for t in query_tokens)
        return sum(self.idf.idf(t) for t in query_tokens if t in have) / total if total else 0.0

    def candidates(self, query_tokens: set[str], hits: list[tuple[Chunk, float]], max_hits: int = 6) -> list[Candidate]:
        out: list[Candidate] = []
        for rank, (chunk, _) in enumerate(hits[:max_hits]):
            if chunk.kind in ("reference", "footnote"):
                continue
            for a, b in sentence_spans(chunk.text):
                text = chunk.text[a:b]
                if len(text) < 12 or _URLISH.search(text):
                    continue
                cov = self.coverage(query_tokens, text)
                # the chunk's retrieval rank carries the passage context a single sentence lacks
                score = 0.55 * cov + 0.45 / (1 + rank) + (0.05 if chunk.kind == "body" else 0.0)
                out.append(Candidate(chunk, rank, a, b, text, score, cov))
        return out


def select(cands: list[Candidate], max_sentences: int = 3, per_chunk: int = 2) -> list[Candidate]:
    """Best sentences, no near-duplicates, then in reading order (hit rank, position)."""
    chosen: list[Candidate] = []
    if not cands:
        return chosen
    best = max(c.score for c in cands)
    per: Counter[str] = Counter()
    for c in sorted(cands, key=lambda c: -c.score):
        if len(chosen) >= max_sentences or c.score < 0.6 * best:
            break
        if per[c.chunk.id] >= per_chunk or any(similar(c.text, o.text) for o in chosen):
            continue
        chosen.append(c)
        per[c.chunk.id] += 1
    return sorted(chosen, key=lambda c: (c.rank, c.start))
