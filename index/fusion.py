"""Weighted reciprocal rank fusion + persona boost.

RRF uses ranks, not raw scores, so BM25 scores (unbounded) and cosine scores
(~0.7–0.9 for e5) need no calibration: fused = Σ_c w_c / (rrf_k + rank_c).
The persona boost multiplies the fused score of chunks tagged with the asked
persona; chunks tagged "all" (and queries without a persona) stay neutral, so
the boost only reorders near-ties and never hides general material.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPONENTS = ("bm25", "dense")


@dataclass(frozen=True)
class FusionConfig:
    rrf_k: float = 60.0  # the usual RRF constant; larger = flatter
    w_bm25: float = 1.0
    w_dense: float = 1.0
    persona_boost: float = 0.10  # fused *= 1 + boost for chunks of the asked persona
    depth: int = 50  # candidates taken from each component before fusion
    expand_dense: bool = True  # append glossary expansions to the text embedded for dense

    def weight(self, component: str) -> float:
        return self.w_bm25 if component == "bm25" else self.w_dense


@dataclass(frozen=True)
class Ranked:
    """One component's result: doc indices best first and their raw scores."""

    ids: np.ndarray
    scores: np.ndarray


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
) -> list[Fused]:
    """Fuse component rankings; ``boosted`` is a bool mask over docs (persona)."""
    acc: dict[int, Fused] = {}
    for name, r in results.items():
        w = config.weight(name)
        for rank, (doc, raw) in enumerate(zip(r.ids.tolist(), r.scores.tolist()), start=1):
            f = acc.get(doc)
            if f is None:
                f = acc[doc] = Fused(doc, 0.0, {})
            f.score += w / (config.rrf_k + rank)
            f.ranks[name] = (rank, raw)
    if boosted is not None and config.persona_boost:
        factor = 1.0 + config.persona_boost
        for f in acc.values():
            if boosted[f.doc]:
                f.score *= factor
    # Ties (equal fused scores) break on the document order: deterministic.
    return sorted(acc.values(), key=lambda f: (-f.score, f.doc))[:k]
