"""index: the retrieval layer (Sudachi BM25 + e5 dense, fused; build/persist/load).

Public API (imported lazily so `import index` stays cheap and torch-free):

    build_index(chunks, corpus_sha256, settings, embedder_id=None, force=False, progress=True,
                glossary=(), questions=()) -> Manifest
    is_stale(settings, corpus_sha256, embedder_id=None) -> bool   /  stale_reason(...) -> str | None
    load_index(settings, ...) -> Retriever
    Retriever.retrieve(query, persona=None, k=10, mode="hybrid") -> list[Hit]
    Hit, ComponentScore, FusionConfig, Manifest
    make_embedder(embedder_id) -> KanminEmbedding (numpy API; .as_llama_index() for llama-index)
    get_tokenizer(split_mode) -> SudachiTokenizer
    IndexUnavailable, EmbedderUnavailable
"""
from __future__ import annotations

import importlib
from typing import Any

from index.errors import EmbedderUnavailable, IndexUnavailable

_EXPORTS = {
    "build_index": "index.build",
    "is_stale": "index.build",
    "stale_reason": "index.build",
    "load_index": "index.loader",
    "Retriever": "index.retriever",
    "Hit": "index.retriever",
    "ComponentScore": "index.retriever",
    "validate_query": "index.validation",
    "validate_persona": "index.validation",
    "validate_k": "index.validation",
    "validate_mode": "index.validation",
    "FusionConfig": "index.fusion",
    "Manifest": "index.manifest",
    "make_embedder": "index.embedders",
    "KanminEmbedding": "index.embedders",
    "DEFAULT_EMBEDDER_ID": "index.embedders",
    "get_tokenizer": "index.tokenizer",
    "SudachiTokenizer": "index.tokenizer",
}

__all__ = ["IndexUnavailable", "EmbedderUnavailable", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
