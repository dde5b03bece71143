"""Weighted reciprocal rank fusion + persona boost.

RRF uses ranks, not raw scores, so BM25 scores (unbounded) and cosine scores
(~0.7–0.9 for e5) need no calibration: fused = Σ_c w_c / (rrf_k + rank_c).
The persona boost multiplies the fused score of chunks tagged with the asked
persona; chunks tagged "all" (and queries without a persona) stay neutral, so
the boost only reorders near-ties and never hides general material.
A per-kind prior damps chunk kinds that are poor answers on their own: URL
lists (【参考 URL】) and footnotes are short and ASCII-heavy, so their
embeddings sit close to many English queries.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPONENTS = ("bm25", "dense", "questions")


@dataclass(frozen=True)
class FusionConfig:
    """Retrieval tuning knobs. Defaults: a compromise between our 43
    hand-written queries (tests/test_index_quality.py) and the eval set
    (eval/datasets), measured on the CA-split index; see the index report."""

    rrf_k: float = 60.0  # the usual RRF constant; larger = flatter
    w_bm25: float = 1.0
    w_dense: float = 1.0
    # Trust BM25 less when it can know little about the query. Japanese
    # query: BM25 weight × share of typed tokens in its vocabulary. English
    # query (mostly Latin letters): english_bm25_weight, raised to
    # expansion_weight when glossary expansions gave BM25 Japanese terms.
    adaptive_bm25: bool = True
    english_bm25_weight: float = 0.0
    persona_boost: float = 0.10  # fused *= 1 + boost for chunks of the asked persona
    depth: int = 50  # candidates taken from each component before fusion
    expansion_weight: float = 0.5  # BM25 weight of glossary-expansion tokens vs typed ones
    expansion_max_df: float = 0.3  # drop expansion tokens present in more than this share of chunks
    # Append glossary expansions (Japanese ones, at most dense_expansions) to
    # the embedded query text. Off by default: it helped our own English
    # queries but hurt the eval set's, and it costs ~0.5 ms per added token.
    expand_dense: bool = False
    dense_expansions: int = 2
    # A caller's extra words (the assistant's thesaurus expansions) in the embedded text:
    # "all" | "en" (English questions only) | "none". Measured on the eval set (key phrases /
    # R@3): all 0.852 / 0.959, en 0.836 / 0.945, none 0.816 / 0.931. Either way one embedding.
    dense_extra: str = "all"
    # The words inside the embedded text cost embedding time (~0.7 ms per token); every
    # way tried of keeping the question's embedding bare measured worse on the eval set
    # (R@3 / page hit@3 / key phrases; text as here: 0.959 / 0.925 / 0.858):
    # the words' own vectors added to the question's, weight 0.25–1.5: 0.918–0.908 /
    # 0.898–0.871 / 0.833–0.828; their mean vector as a separate fused ranking, weight
    # 0.3–1.0: 0.925–0.931 / 0.884–0.898 / 0.831–0.833; the asker's phrase replaced by the
    # guide's word in place: 0.931 / 0.884 / 0.846 (2026-11-29).
    # at most this many of them (0: all): the same scores with 4 (6, all: 0.852; 2: 0.841),
    # and a long English question with 8 expansions no longer doubles its embedding time.
    # A cap on the embedded text's tokens instead cost quality at every cap tried
    # (key phrases 0.852 → 0.822 at 32 tokens, 0.842 at 36, 0.845 at 40; page hits 0.925 → 0.912 at 40).
    dense_extra_max: int = 4
    # fused *= prior for these chunk kinds (others 1.0); a tuple keeps the config hashable
    kind_priors: tuple[tuple[str, float], ...] = (("reference", 0.8), ("footnote", 0.85))
    # the section question bank (index.question_bank): every chunk of the best-matching
    # nodes gets its node's rank; 0 turns the component off. Measured on the eval set: it
    # lifts English questions (page hits 0.75 → 0.92; e5-small matches English to English
    # far better than to the guide's Japanese) and costs Japanese ones, whose BM25 on the
    # guide's own words is already strong — so it is on for English queries only.
    w_questions: float = 0.0
    w_questions_en: float = 1.0
    question_nodes: int = 3
    question_chunks: int = 3  # chunks per node that take its rank (the ones nearest the query)

    def bm25_weight(self, coverage: float, expanded: bool, english: bool) -> float:
        if not self.adaptive_bm25:
            return self.w_bm25
        floor = self.expansion_weight if expanded else 0.0
        if english:
            return self.w_bm25 * max(self.english_bm25_weight, floor)
        return self.w_bm25 * max(coverage, floor)


@dataclass(frozen=True)
class Ranked:
    """One component's result: doc indices best first, raw scores, fusion weight."""

    ids: np.ndarray
    scores: np.ndarray
    weight: float = 1.0
    ranks: np.ndarray | None = None  # 1-based ranks when several docs share one (else position)


@dataclass
class Fused:
    doc: int
    score: float
    ranks: dict[str, tuple[int, float]]  # component → (1-based rank, raw score)


def fuse(
    results: dict[str, Ranked],
    config: FusionConfig,
    k: int,
    boosted: np.ndarray | None = None,
    priors: np.ndarray | None = None,
) -> list[Fused]:
    """Fuse component rankings.

    ``boosted``: bool mask over docs (the asked persona); ``priors``: float
    per doc (kind prior), both precomputed by the Retriever.
    """
    acc: dict[int, Fused] = {}
    # Weighted components first; a zero-weight one only annotates the ranks
    # of documents the others found (it must not add score-0 candidates).
    for name, r in sorted(results.items(), key=lambda kv: kv[1].weight <= 0):
        w = r.weight
        ranks = r.ranks.tolist() if r.ranks is not None else range(1, len(r.ids) + 1)
        for rank, doc, raw in zip(ranks, r.ids.tolist(), r.scores.tolist()):
            f = acc.get(doc)
            if f is None:
                if w <= 0:
                    continue
                f = acc[doc] = Fused(doc, 0.0, {})
            f.score += w / (config.rrf_k + rank)
            f.ranks[name] = (rank, raw)
    if boosted is not None and config.persona_boost:
        factor = 1.0 + config.persona_boost
        for f in acc.values():
            if boosted[f.doc]:
                f.score *= factor
    if priors is not None:
        for f in acc.values():
            f.score *= float(priors[f.doc])
    # Ties (equal fused scores) break on the document order: deterministic.
    return sorted(acc.values(), key=lambda f: (-f.score, f.doc))[:k]
