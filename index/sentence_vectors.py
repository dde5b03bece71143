"""Passage vectors of every quotable sentence, so the answerer can rank sentences by meaning.

Built with the chunk index (same embedder, same cache); looked up by (chunk id, start, end).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from index.manifest import SENTENCE_VECTORS_NAME, SENTENCES_NAME, unavailable


class SentenceVectors:
    def __init__(self, spans: list[tuple[str, int, int]], vectors: np.ndarray):
        self.spans = spans
        self.rows = {(cid, a, b): i for i, (cid, a, b) in enumerate(spans)}
        self.vectors = vectors

    @classmethod
    def load(cls, index_dir: Path, dim: int) -> "SentenceVectors":
        try:
            spans = [tuple(x) for x in json.loads((index_dir / SENTENCES_NAME).read_text(encoding="utf-8"))]
            vectors = np.load(index_dir / SENTENCE_VECTORS_NAME, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise unavailable("index_corrupt", f"sentence vectors in {index_dir} are unreadable ({type(e).__name__})") from e
        if vectors.ndim != 2 or vectors.shape != (len(spans), dim):
            raise unavailable("index_corrupt", f"index at {index_dir} is inconsistent: sentence vectors "
                                               f"{vectors.shape} for {len(spans)} sentences of dim {dim}")
        return cls(spans, vectors)

    def top(self, query_vector: np.ndarray, k: int) -> list[tuple[str, int, int, float]]:
        """The k sentences nearest to the query: (chunk id, start, end, cosine)."""
        sims = self.vectors @ query_vector
        k = min(k, len(sims))
        if k <= 0:
            return []
        idx = np.argpartition(-sims, k - 1)[:k]
        idx = idx[np.argsort(-sims[idx])]
        return [(*self.spans[i], float(sims[i])) for i in idx]

    def similarity(self, query_vector: np.ndarray, chunk_id: str, start: int, end: int) -> float | None:
        row = self.rows.get((chunk_id, start, end))
        return None if row is None else float(self.vectors[row] @ query_vector)
