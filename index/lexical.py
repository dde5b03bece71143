"""Lexical retrieval: bm25s over Sudachi tokens (see index.tokenizer).

Only documents with a positive score count as retrieved, so a query whose
tokens are all out of vocabulary (e.g. plain English) yields no BM25 hits and
the fusion falls back to the dense ranking alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

# Lucene BM25 defaults; the guide's chunks are of similar length, so these
# have not needed tuning.
BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}


_NO_IDS = np.empty(0, dtype=np.int64)
_NO_SCORES = np.empty(0, dtype=np.float32)


@dataclass(frozen=True)
class LexicalResult:
    ids: np.ndarray  # doc indices, best first (score > 0 only)
    scores: np.ndarray
    coverage: float  # share of the distinct typed tokens present in the vocabulary
    expanded: bool  # glossary expansion tokens took part


class LexicalIndex:
    def __init__(self, bm25: bm25s.BM25):
        self._bm25 = bm25
        self._vocab = bm25.vocab_dict
        self.num_docs = int(bm25.scores["num_docs"])
        # Document frequency per token id (CSC columns are tokens).
        self._df = np.diff(np.asarray(bm25.scores["indptr"]))

    @classmethod
    def build(cls, corpus_tokens: list[list[str]]) -> "LexicalIndex":
        bm25 = bm25s.BM25(**BM25_PARAMS)
        # bm25s needs a non-empty token list per document; an empty chunk
        # (a figure with no caption text) gets the empty token it reserves.
        bm25.index([t if t else [""] for t in corpus_tokens], show_progress=False)
        return cls(bm25)

    def save(self, directory: Path) -> None:
        self._bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex":
        return cls(bm25s.BM25.load(str(directory), mmap=False, show_progress=False, verbosity=0))

    def search(
        self,
        tokens: list[str],
        k: int,
        extra_tokens: list[str] | None = None,
        extra_weight: float = 1.0,
        extra_max_df: float = 1.0,
    ) -> "LexicalResult":
        """Top-k docs for the typed ``tokens`` plus weighted expansion tokens.

        ``extra_tokens`` (glossary expansions) add ``extra_weight`` × their
        BM25 score, so an expansion helps recall without outweighing the
        words the user actually typed. Expansion tokens found in more than
        ``extra_max_df`` of the documents are dropped: "startup" →
        スタートアップ (in ~75% of chunks) would only rank noise, and for an
        English query the expansions are the whole BM25 query.
        """
        ids = self._ids(tokens)
        typed = set(ids)
        max_df = extra_max_df * self.num_docs
        extra = [i for i in self._ids(extra_tokens or ()) if i not in typed and self._df[i] <= max_df]
        n_typed = len(dict.fromkeys(t for t in tokens if t))
        coverage = len(ids) / n_typed if n_typed else 0.0
        if not ids and not extra:
            return LexicalResult(_NO_IDS, _NO_SCORES, coverage, False)
        if ids:
            scores = self._bm25.get_scores_from_ids(ids)
            if extra:
                scores = scores + extra_weight * self._bm25.get_scores_from_ids(extra)
        else:
            scores = extra_weight * self._bm25.get_scores_from_ids(extra)
        n = scores.shape[0]
        k = min(k, n)
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        return LexicalResult(top[keep], scores[top][keep], coverage, bool(extra))

    def is_common(self, tokens: list[str], max_df: float) -> bool:
        """True if every token occurs in more than ``max_df`` of the documents."""
        ids = self._ids(tokens)
        return bool(ids) and len(ids) == len(set(t for t in tokens if t)) and min(
            int(self._df[i]) for i in ids
        ) > max_df * self.num_docs

    def _ids(self, tokens) -> list[int]:
        vocab = self._vocab
        return [vocab[t] for t in dict.fromkeys(tokens) if t and t in vocab]
