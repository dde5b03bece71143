"""The sentence question bank, searchable: for each quotable sentence, how near a query is to
the questions that sentence answers (ingest.sentence_questions).

Question-to-question is the symmetric case e5 handles best, so this tells the sentence that
answers from the ones that only share the topic better than the sentence's own passage vector.
Built with the index (same embedder, same cache); rows point at rows of sentences.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from index.manifest import ASKED_NAME, ASKED_VECTORS_NAME, unavailable


class AskedSentences:
    def __init__(self, rows: list[tuple[int, str, str]], vectors: np.ndarray, sentences: int):
        """``rows``: (row of sentences.json, lang, question) per question, aligned with ``vectors``."""
        self.rows = rows
        self.vectors = vectors
        self.sentences = sentences
        self.sentence_of = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self._memo: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def load(cls, index_dir: Path, dim: int, sentences: int) -> "AskedSentences":
        try:
            rows = [(int(r[0]), str(r[1]), str(r[2])) for r in json.loads((index_dir / ASKED_NAME).read_text(encoding="utf-8"))]
            vectors = np.load(index_dir / ASKED_VECTORS_NAME, allow_pickle=False)
        except (OSError, ValueError, IndexError, TypeError) as e:
            raise unavailable("index_corrupt", f"sentence question bank in {index_dir} is unreadable ({type(e).__name__})") from e
        if vectors.ndim != 2 or vectors.shape != (len(rows), dim) or any(not 0 <= r[0] < sentences for r in rows):
            raise unavailable("index_corrupt", f"index at {index_dir} is inconsistent: sentence question vectors "
                                               f"{vectors.shape} for {len(rows)} questions of dim {dim}")
        return cls(rows, vectors, sentences)

    def nearest(self, query_vector: np.ndarray) -> np.ndarray:
        """Per row of sentences.json, the cosine of the query to the nearest question that
        sentence answers (-1 for a sentence without questions). One product per query: the
        answerer scores hundreds of sentences against the same vector."""
        memo = self._memo  # one read: another thread may replace it
        if memo is not None and memo[0] is query_vector:  # (held, so its identity cannot be reused)
            return memo[1]
        best = np.full(self.sentences, -1.0, dtype=np.float32)
        if self.rows:
            np.maximum.at(best, self.sentence_of, self.vectors @ query_vector)
        self._memo = (query_vector, best)
        return best

    def top(self, query_vector: np.ndarray, k: int) -> list[int]:
        """The rows of sentences.json whose questions are nearest the query, best first (k distinct)."""
        best = self.nearest(query_vector)
        answered = np.flatnonzero(best > -1.0)
        order = answered[np.argsort(-best[answered], kind="stable")]
        return order[:k].tolist()
