"""The Retriever: query validation → glossary expansion → BM25 + dense → fusion.

Built by :func:`index.loader.load_index`; everything heavy (models, indexes,
persona masks, token lists of glossary expansions) is prepared once so a warm
query allocates only small per-query arrays.
"""
from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from index.dense import DenseIndex
from index.embedders import KanminEmbedding
from index.fusion import COMPONENTS, FusionConfig, Ranked, fuse
from index.glossary import Expansion, QueryExpander
from index.lexical import LexicalIndex
from index.question_bank import QuestionBank
from index.sentence_vectors import SentenceVectors
from index.token_table import TokenTable
from index.tokenizer import SudachiTokenizer
from index.validation import (  # noqa: F401  (re-exported: callers import them from here too)
    MAX_K,
    MAX_QUERY_CHARS,
    MODES,
    NEUTRAL_PERSONAS,
    Mode,
    is_mostly_latin,
    validate_k,
    validate_mode,
    validate_persona,
    validate_query,
)
from ingest.models import PERSONAS, Chunk, GlossaryEntry


# Embedding time grows faster than length (~0.4 ms/token at 100 tokens,
# ~1 s for a 2,000-character paste on a busy 2-core box). The dense query
# keeps the head and the tail (where a pasted question usually asks) of a
# long text; BM25 still sees all of it.
MAX_DENSE_QUERY_CHARS = 256


def _clip(query: str) -> str:
    if len(query) <= MAX_DENSE_QUERY_CHARS:
        return query
    half = MAX_DENSE_QUERY_CHARS // 2
    return f"{query[:half]} … {query[-half:]}"


def _with_extra(query: str, extra: Sequence[str]) -> str:
    words = " ".join(unicodedata.normalize("NFKC", w) for w in extra if w)
    return f"{query} {words}" if words else query


def _dense_text(query: str, expander: QueryExpander, cfg: FusionConfig) -> str:
    query = _clip(query)
    if not cfg.expand_dense or cfg.dense_expansions <= 0:
        return query
    japanese = [x for x in expander.expand(query).extra if not x.isascii()]
    picked = japanese[: cfg.dense_expansions]
    return f"{query} ({' '.join(picked)})" if picked else query


class ComponentScore(BaseModel):
    rank: int | None = None  # 1-based; None when this component did not retrieve the chunk
    score: float | None = None  # raw component score (BM25 / cosine)


class Hit(BaseModel):
    chunk: Chunk
    score: float  # fused: weighted RRF × persona boost × kind prior
    components: dict[str, ComponentScore]


@dataclass(frozen=True)
class _State:
    config: FusionConfig
    expander: QueryExpander
    priors: np.ndarray | None  # per-chunk kind prior


class Retriever:
    def __init__(
        self,
        chunks: Sequence[Chunk],
        lexical: LexicalIndex,
        dense: DenseIndex,
        embedder: KanminEmbedding,
        tokenizer: SudachiTokenizer,
        glossary: Sequence[GlossaryEntry] = (),
        en_aliases: Mapping[str, str] | None = None,
        config: FusionConfig | None = None,
        manifest: object | None = None,
        sentences: SentenceVectors | None = None,
        questions: QuestionBank | None = None,
        tokens: TokenTable | None = None,
    ):
        self.chunks = list(chunks)
        self.lexical = lexical
        self.dense = dense
        self.embedder = embedder
        self.tokenizer = tokenizer
        self._glossary = list(glossary)
        self._en_aliases = dict(en_aliases or {})
        self.manifest = manifest
        self.sentences = sentences
        self.questions = questions
        self.tokens = tokens
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # small LRU: retrieve, then rank sentences
        self._by_id = {c.id: c for c in self.chunks}
        # Persona masks once, so boosting is an O(1) lookup per candidate.
        self._persona_mask = {
            p: np.fromiter((p in c.personas for c in self.chunks), dtype=bool, count=len(self.chunks))
            for p in PERSONAS
        }
        self._extra_tokens: dict[str, list[str]] = {}  # expansion text → tokens (small, bounded by the glossary)
        self.config = config or FusionConfig()

    @property
    def config(self) -> FusionConfig:
        return self._state.config

    @config.setter
    def config(self, value: FusionConfig) -> None:
        """Swap the fusion config (the eval tunes it on a loaded index).

        Everything derived from it is rebuilt and published as one object, so
        a concurrent retrieve sees either the old or the new state, never a mix.
        """
        max_df = value.expansion_max_df
        expander = QueryExpander(
            self._glossary,
            self._en_aliases,
            skip=lambda term: self.lexical.is_common(self.tokenizer.tokenize(term), max_df),
        )
        kinds = dict(value.kind_priors)
        priors = (
            np.fromiter((kinds.get(c.kind, 1.0) for c in self.chunks), dtype=np.float64, count=len(self.chunks))
            if kinds
            else None
        )
        self._state = _State(value, expander, priors)

    @property
    def expander(self) -> QueryExpander:
        return self._state.expander

    def _embed_query(self, text: str) -> np.ndarray:
        vec = self._query_vectors.get(text)
        if vec is None:
            vec = self.embedder.embed_query_np(text)
            self._query_vectors[text] = vec
            while len(self._query_vectors) > 64:
                self._query_vectors.popitem(last=False)
        return vec

    def forget_query_vectors(self) -> None:
        """Empty the query-vector LRU (benchmarks time every question as a new one)."""
        self._query_vectors.clear()

    def query_vector(self, query: str, extra: Sequence[str] = ()) -> np.ndarray:
        """The query's dense vector, as ``retrieve`` embeds it (cached: no second model call)."""
        asked = unicodedata.normalize("NFKC", validate_query(query))
        state = self._state
        return self._embed_query(_dense_text(self._dense_query(asked, extra, state.config), state.expander, state.config))

    @staticmethod
    def _dense_query(asked: str, extra: Sequence[str], cfg: FusionConfig) -> str:
        """What the dense side embeds: the question, with the caller's extra words only where
        that was measured to help (FusionConfig.dense_extra)."""
        if cfg.dense_extra == "all" or (cfg.dense_extra == "en" and is_mostly_latin(asked)):
            return _with_extra(asked, list(extra)[:cfg.dense_extra_max] if cfg.dense_extra_max else extra)
        return asked

    def question_chunks(self, query: str, nodes: int = 2, per_node: int = 3, extra: Sequence[str] = ()) -> list[Chunk]:
        """Chunks of the nodes whose bank questions best match ``query`` (see QuestionBank),
        best node first; empty without a bank. ``extra``: as in ``retrieve``."""
        if self.questions is None or not len(self.questions):
            return []
        full = _with_extra(unicodedata.normalize("NFKC", validate_query(query)), extra)
        ids, _, _ = self.questions.rank_chunks(self.query_vector(query, extra), self.tokenizer.tokenize(full), nodes,
                                               per_node, self.dense)
        return [self.chunks[i] for i in ids.tolist()]

    def chunk(self, chunk_id: str) -> Chunk | None:
        return self._by_id.get(chunk_id)

    def expand(self, query: str) -> Expansion:
        return self.expander.expand(unicodedata.normalize("NFKC", query))

    def retrieve(self, query: str, persona: str | None = None, k: int = 10, mode: str = "hybrid",
                 extra: Sequence[str] = (), vector: np.ndarray | None = None) -> list[Hit]:
        """Hits for ``query``; ``extra``: words a caller adds (its thesaurus expansions), searched
        with the query on both sides. A caller that passes the same (query, extra) to every
        search of one question embeds once (the vector is cached). ``vector``: search the dense
        side with this vector instead (a part of a question, with the whole question's meaning)."""
        asked = unicodedata.normalize("NFKC", validate_query(query))
        q = _with_extra(asked, extra)
        persona = validate_persona(persona)
        k = validate_k(k)
        mode = validate_mode(mode)
        state = self._state
        cfg = state.config
        depth = max(cfg.depth, k)
        exp = state.expander.expand(q)
        tokens = self.tokenizer.tokenize(q)

        results: dict[str, Ranked] = {}
        if mode in ("hybrid", "bm25"):
            expansion_tokens: list[str] = []
            for text in exp.extra:
                toks = self._extra_tokens.get(text)
                if toks is None:
                    toks = self._extra_tokens[text] = self.tokenizer.tokenize(text)
                expansion_tokens.extend(toks)
            lex = self.lexical.search(tokens, depth, expansion_tokens, cfg.expansion_weight, cfg.expansion_max_df)
            # Weights only matter relative to each other: a single mode keeps 1.
            weight = cfg.bm25_weight(lex.coverage, lex.expanded, is_mostly_latin(q)) if mode == "hybrid" else 1.0
            results["bm25"] = Ranked(lex.ids, lex.scores, weight)
        if mode in ("hybrid", "dense"):
            qv = vector if vector is not None else self._embed_query(
                _dense_text(self._dense_query(asked, extra, cfg), state.expander, cfg))
            ids, scores = self.dense.search(qv, depth)
            results["dense"] = Ranked(ids, scores, cfg.w_dense if mode == "hybrid" else 1.0)
            w_q = cfg.w_questions_en if is_mostly_latin(q) else cfg.w_questions
            if mode == "hybrid" and w_q > 0 and self.questions is not None and len(self.questions):
                ids, scores, ranks = self.questions.rank_chunks(qv, tokens, cfg.question_nodes, cfg.question_chunks,
                                                                self.dense)
                results["questions"] = Ranked(ids, scores, w_q, ranks)

        boosted = self._persona_mask[persona] if persona else None
        hits = []
        for f in fuse(results, cfg, k, boosted, state.priors):
            comps = {}
            for name in COMPONENTS:  # every key always: a stable shape for callers
                r = f.ranks.get(name)
                comps[name] = ComponentScore(rank=r[0], score=float(r[1])) if r else ComponentScore()
            hits.append(Hit(chunk=self.chunks[f.doc], score=f.score, components=comps))
        return hits
