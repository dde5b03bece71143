"""Passage vectors of every quotable sentence, so the answerer can rank sentences by meaning,
and the sentence question bank beside them (``asked``: index.asked_sentences).

Built with the chunk index (same embedder, same cache); looked up by (chunk id, start, end).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from index.asked_sentences import AskedSentences
from index.manifest import SENTENCE_VECTORS_NAME, SENTENCES_NAME, unavailable


class SentenceVectors:
    def __init__(self, spans: list[tuple[str, int, int]], vectors: np.ndarray, asked: AskedSentences | None = None):
        self.spans = spans
        self.rows = {(cid, a, b): i for i, (cid, a, b) in enumerate(spans)}
        self.vectors = vectors
        self.asked = asked

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
        return cls(spans, vectors, AskedSentences.load(index_dir, dim, len(spans)))

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

    def asked_similarity(self, query_vector: np.ndarray, chunk_id: str, start: int, end: int) -> float | None:
        """Cosine of the query to the nearest question this sentence answers (-1: it has none);
        None for a text that is not one of the index's sentences, or without a bank."""
        row = self.rows.get((chunk_id, start, end))
        return None if row is None or self.asked is None else float(self.asked.nearest(query_vector)[row])

    def similarities(self, query_vector: np.ndarray, keys: Sequence[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """For many (chunk id, start, end) at once: the sentences' cosines to the query and their
        nearest bank questions' (-1: none); NaN for a text that is not one of the index's sentences
        (and for the bank's, without a bank)."""
        rows = np.array([self.rows.get(k, -1) for k in keys], dtype=np.int64)
        known = rows >= 0
        own = np.full(len(keys), np.nan)
        asked = np.full(len(keys), np.nan)
        if known.any():
            own[known] = self.vectors[rows[known]] @ query_vector
            if self.asked is not None:
                asked[known] = self.asked.nearest(query_vector)[rows[known]]
        return own, asked

    def asked_top(self, query_vector: np.ndarray, k: int) -> list[tuple[str, int, int]]:
        """The ``k`` sentences whose questions are nearest the query: (chunk id, start, end)."""
        return [] if self.asked is None else [self.spans[r] for r in self.asked.top(query_vector, k)]
