"""Dense retrieval: raw FAISS over L2-normalized vectors (inner product = cosine).

``flat`` (IndexFlatIP, exact) is the default: at ~10^3 chunks an exhaustive scan
costs ~0.01 ms. ``hnsw`` (IndexHNSWFlat, inner product) is there for larger
corpora (settings.dense_index).

Raw faiss rather than llama-index's FaissVectorStore: measured on the guide
index (benchmarks/bench_retrieve.py) the store adds ~0.02 ms per query (list
round-trip, result objects) — negligible next to the ~7-15 ms query
embedding — but it brings nothing we use (it stores no text, has no metadata
filters, no delete) and hides the index we need for efSearch and ntotal.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import faiss
import numpy as np

DenseKind = Literal["flat", "hnsw"]
DENSE_KINDS: tuple[str, ...] = ("flat", "hnsw")

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128


class DenseIndex:
    def __init__(self, index: "faiss.Index"):
        self._index = index
        self._matrix: np.ndarray | None = None  # stored vectors, for similarities()
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = HNSW_EF_SEARCH

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "flat") -> "DenseIndex":
        if kind not in DENSE_KINDS:
            raise ValueError(f"dense_index must be one of {DENSE_KINDS}, got {kind!r}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        d = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        else:
            index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(vectors)
        return cls(index)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> "DenseIndex":
        return cls(faiss.read_index(str(path)))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (doc indices, cosine scores), best first."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)  # a view: no copy
        # One query gains nothing from OpenMP threads, and on 2 cores faiss's
        # idle workers spin after each call, stealing CPU from the embedder's
        # own OpenMP threads. The setting is per calling thread, hence here.
        faiss.omp_set_num_threads(1)
        scores, ids = self._index.search(q, min(k, self.ntotal))
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def similarities(self, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Cosines of the given docs to the query (their stored vectors, read out once)."""
        if self._matrix is None:
            self._matrix = self._index.reconstruct_n(0, self.ntotal)
        return self._matrix[ids] @ np.asarray(query, dtype=np.float32)

    @property
    def faiss_index(self) -> "faiss.Index":
        return self._index
