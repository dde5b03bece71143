"""Node-level retrieval over the section question bank (ingest.section_questions).

Each question points at a node of the guide. A query is matched against the questions by
meaning (cosine to the question's query vector: question-to-question is the symmetric case
e5 handles best) and by words (BM25 over the questions); the two node rankings are fused,
and every chunk of a node inherits that node's rank. The result is one more component for
the chunk-level fusion (index.fusion), so a paraphrased question can lift the section that
answers it even when it shares no words with the guide's prose.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, Sequence

import bm25s
import numpy as np

from index.manifest import QUESTION_VECTORS_NAME, QUESTIONS_NAME, unavailable
from ingest.models import Chunk

_RRF_K = 60.0


class QuestionBank:
    def __init__(self, rows: list[tuple[str, str, str, list[str]]], vectors: np.ndarray, chunks: Sequence[Chunk]):
        """``rows``: (node id, lang, question, tokens) per question, aligned with ``vectors``."""
        self.rows = rows
        self.vectors = vectors
        self.nodes = sorted({r[0] for r in rows})
        node_index = {n: i for i, n in enumerate(self.nodes)}
        self.question_node = np.fromiter((node_index[r[0]] for r in rows), dtype=np.int64, count=len(rows))
        # chunks of a node: its own and its descendants' (c04.s02.u03 owns c04.s02.u03.p01)
        self.node_chunks: list[np.ndarray] = []
        for n in self.nodes:
            ids = [i for i, c in enumerate(chunks) if c.section_id == n or c.section_id.startswith(n + ".")]
            self.node_chunks.append(np.asarray(ids, dtype=np.int64))
        self._bm25 = None
        if rows:
            self._bm25 = bm25s.BM25(k1=1.2, b=0.75)  # the usual defaults: short, even-length questions
            self._bm25.index([r[3] or [""] for r in rows], show_progress=False)
            self._vocab = self._bm25.vocab_dict

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def load(cls, index_dir: Path, dim: int, chunks: Sequence[Chunk]) -> "QuestionBank":
        try:
            rows = [(r[0], r[1], r[2], list(r[3])) for r in json.loads((index_dir / QUESTIONS_NAME).read_text(encoding="utf-8"))]
            vectors = np.load(index_dir / QUESTION_VECTORS_NAME, allow_pickle=False)
        except (OSError, ValueError, IndexError, TypeError) as e:
            raise unavailable("index_corrupt", f"question bank in {index_dir} is unreadable ({type(e).__name__})") from e
        if vectors.ndim != 2 or vectors.shape != (len(rows), dim):
            raise unavailable("index_corrupt", f"index at {index_dir} is inconsistent: question vectors "
                                               f"{vectors.shape} for {len(rows)} questions of dim {dim}")
        return cls(rows, vectors, chunks)

    def rank_nodes(self, query_vector: np.ndarray, tokens: list[str]) -> list[tuple[int, float]]:
        """(node index, fused score), best first: RRF of the dense and BM25 node rankings,
        a node scoring by its best question."""
        if not self.rows:
            return []
        n = len(self.nodes)
        fused = np.zeros(n)
        dense = np.full(n, -np.inf)
        np.maximum.at(dense, self.question_node, self.vectors @ query_vector)
        fused[np.argsort(-dense, kind="stable")] += 1.0 / (_RRF_K + np.arange(1, n + 1))
        ids = [self._vocab[t] for t in dict.fromkeys(tokens) if t and t in self._vocab]
        if ids:
            q_scores = self._bm25.get_scores_from_ids(ids)
            lex = np.zeros(n)
            np.maximum.at(lex, self.question_node, q_scores)
            order = [i for i in np.argsort(-lex, kind="stable") if lex[i] > 0]
            fused[order] += 1.0 / (_RRF_K + np.arange(1, len(order) + 1))
        order = np.argsort(-fused, kind="stable")
        return [(int(i), float(fused[i])) for i in order]

    def rank_chunks(self, query_vector: np.ndarray, tokens: list[str], nodes: int, per_node: int,
                    chunk_vectors: "ChunkVectors") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chunk ids, scores, 1-based ranks) for the ``nodes`` best nodes: each node lends its
        rank to its ``per_node`` chunks nearest the query (all of a long node's chunks would
        crowd every other section out of the fused list; the answerer draws in neighbours)."""
        ids, scores, ranks = [], [], []
        for rank, (node, score) in enumerate(self.rank_nodes(query_vector, tokens)[:nodes], start=1):
            members = self.node_chunks[node]
            if len(members) > per_node:
                sims = chunk_vectors.similarities(members, query_vector)
                members = members[np.argsort(-sims, kind="stable")[:per_node]]
            for cid in members.tolist():
                ids.append(cid)
                scores.append(score)
                ranks.append(rank)
        return (np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32),
                np.asarray(ranks, dtype=np.int64))


class ChunkVectors(Protocol):
    def similarities(self, ids: np.ndarray, query_vector: np.ndarray) -> np.ndarray: ...
