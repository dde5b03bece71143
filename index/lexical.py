"""Lexical retrieval: bm25s over Sudachi tokens (see index.tokenizer).

Only documents with a positive score count as retrieved, so a query whose
tokens are all out of vocabulary (e.g. plain English) yields no BM25 hits and
the fusion falls back to the dense ranking alone.
"""
from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

# Lucene BM25 defaults; the guide's chunks are of similar length, so these
# have not needed tuning.
BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}


class LexicalIndex:
    def __init__(self, bm25: bm25s.BM25):
        self._bm25 = bm25
        self._vocab = bm25.vocab_dict
        self.num_docs = int(bm25.scores["num_docs"])

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

    def search(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (doc indices, scores), best first; only scores > 0."""
        ids = [self._vocab[t] for t in dict.fromkeys(tokens) if t and t in self._vocab]
        if not ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores = self._bm25.get_scores_from_ids(ids)
        k = min(k, scores.shape[0])
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        return top[keep], scores[top][keep]
