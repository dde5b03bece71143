"""A kanmin embedder as a llama-index ``BaseEmbedding`` (``Settings.embed_model``).

Kept apart from index/embedders.py so that importing an embedder never imports
llama-index: the server does not need it. Get one with ``embedder.as_llama_index()``.
"""
from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr


class LlamaIndexEmbedding(BaseEmbedding):
    """Delegates to a ``KanminEmbedding``'s numpy methods (same model, same counters)."""

    _inner: Any = PrivateAttr(default=None)

    @classmethod
    def wrap(cls, inner: Any) -> "LlamaIndexEmbedding":
        out = cls(model_name=inner.model_name, embed_batch_size=inner.batch_size)
        out._inner = inner
        return out

    @property
    def embedder_id(self) -> str:
        return self._inner.embedder_id

    @property
    def dim(self) -> int:
        return self._inner.dim

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._inner.embed_query_np(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._inner.embed_passages_np([text])[0].tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._inner.embed_passages_np(texts).tolist()
