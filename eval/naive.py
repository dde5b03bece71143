"""The naive baseline: what a first llama-index prototype over the guide would do.

One ``Document`` holding the whole guide text, the default ``SentenceSplitter``
(``Settings.node_parser``), ``VectorStoreIndex`` with the same embedder as kanmin
(``Settings.embed_model``), no LLM (``Settings.llm = None``), top-k similarity
retrieval; the answer is the top node's text. No structure, no BM25, no glossary.

The nodes know only their character offsets, so their printed pages and section
are estimated from kanmin's own page anchors (:class:`GuideLocator`): the tree
nodes' start pages plus every page boundary recorded in a chunk (``page_starts``)
located in the guide text. Node embeddings are cached in the index's embedding
cache (``settings.cache_dir``, keyed by embedder id + sha256 of the text), so only
the first run pays for embedding (~1–2 min on 2 cores).
"""
from __future__ import annotations

import bisect
import contextlib
import sys
from dataclasses import dataclass

from index.build import embed_texts, open_seed
from index.cache import EmbeddingCache
from index.embedders import KanminEmbedding, make_embedder
from ingest.models import Guide, Node
from ingest.settings import Settings, get_settings
from ingest.source import read_guide

FRONT_MATTER = "(表紙・目次)"


class GuideLocator:
    """Character offset in the guide text → printed page and deepest section path."""

    def __init__(self, guide: Guide, text: str):
        self.text = text
        nodes: list[Node] = []

        def walk(ns: list[Node]) -> None:
            for n in ns:
                nodes.append(n)
                walk(n.children)

        walk(guide.tree)
        body = [n for n in nodes if n.end > n.start]
        by_id = {n.id: n for n in nodes}
        anchors: dict[int, int] = {}
        for n in body:
            anchors.setdefault(n.start, n.pages[0])
        for c in guide.chunks:
            node = by_id.get(c.section_id)
            if node is None or len(c.page_starts) != len(c.pages):
                continue
            for page, at in zip(c.pages, c.page_starts):
                snippet = c.text[at:at + 24]
                if len(snippet.strip()) < 8:
                    continue
                i = text.find(snippet, node.start, node.end + len(snippet))
                if i >= 0 and text.find(snippet, i + 1, node.end + len(snippet)) < 0:
                    anchors[i] = page
        # keep a monotone sequence (a page never decreases along the text)
        kept: list[tuple[int, int]] = []
        for off, page in sorted(anchors.items()):
            if kept and page < kept[-1][1]:
                continue
            kept.append((off, page))
        self._offsets = [o for o, _ in kept]
        self._pages = [p for _, p in kept]
        self.body_start = self._offsets[0] if kept else 0
        # deepest node per offset: nodes sorted by start; a containing node is scanned for
        self._nodes = sorted(body, key=lambda n: (n.start, -n.end))

    def page_at(self, offset: int) -> int | None:
        i = bisect.bisect_right(self._offsets, offset) - 1
        return self._pages[i] if i >= 0 else None  # None: front matter (cover, TOC)

    def pages(self, start: int, end: int) -> list[int]:
        a, b = self.page_at(start), self.page_at(max(start, end - 1))
        if a is None and b is None:
            return []
        a = a if a is not None else self._pages[0]
        return list(range(a, (b if b is not None else a) + 1))

    def section_path(self, offset: int) -> list[str]:
        best: Node | None = None
        for n in self._nodes:
            if n.start > offset:
                break
            if n.start <= offset < n.end and (best is None or len(n.path) >= len(best.path)):
                best = n
        return list(best.path) if best else [FRONT_MATTER]


def naive_nodes(text: str) -> list:
    """The guide as llama-index's default node parser splits one Document of it."""
    from llama_index.core import Document
    from llama_index.core import Settings as LlamaSettings

    return LlamaSettings.node_parser.get_nodes_from_documents([Document(text=text)])


def naive_texts(text: str) -> list[str]:
    """What the naive pipeline embeds, node by node."""
    from llama_index.core.schema import MetadataMode

    return [n.get_content(metadata_mode=MetadataMode.EMBED) for n in naive_nodes(text)]


@dataclass
class NaiveHit:
    text: str
    start: int
    end: int
    score: float
    section_path: list[str]
    pages: list[int]


class NaivePipeline:
    def __init__(self, guide: Guide, settings: Settings | None = None, depth: int = 10,
                 embedder: KanminEmbedding | None = None, progress: bool = True):
        from llama_index.core import Settings as LlamaSettings
        from llama_index.core import VectorStoreIndex
        from llama_index.core.schema import MetadataMode

        settings = settings or get_settings()
        text, _ = read_guide(settings.guide_path)
        self.locator = GuideLocator(guide, text)
        self.embedder = embedder or make_embedder(settings.embedder)
        # llama-index prints "LLM is explicitly disabled" on stdout: keep stdout clean for --json
        with contextlib.redirect_stdout(sys.stderr):
            LlamaSettings.embed_model = self.embedder.as_llama_index()
            LlamaSettings.llm = None
        splitter = LlamaSettings.node_parser  # the default SentenceSplitter
        self.nodes = naive_nodes(text)
        contents = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in self.nodes]
        with EmbeddingCache(settings.cache_dir) as cache:
            vectors, self.embedded = embed_texts(contents, self.embedder, cache, progress=progress,
                                                 seed=open_seed(settings, self.embedder))
        for n, v in zip(self.nodes, vectors):
            n.embedding = v.tolist()
        self.index = VectorStoreIndex(self.nodes, embed_model=self.embedder.as_llama_index(), show_progress=False)
        self.retriever = self.index.as_retriever(similarity_top_k=depth)
        self.splitter = {"class": type(splitter).__name__, "chunk_size": getattr(splitter, "chunk_size", None),
                         "chunk_overlap": getattr(splitter, "chunk_overlap", None), "nodes": len(self.nodes)}

    def retrieve(self, question: str) -> list[NaiveHit]:
        out = []
        for nws in self.retriever.retrieve(question):
            node = nws.node
            start = node.start_char_idx if node.start_char_idx is not None else self.locator.text.find(node.text)
            start = max(start, 0)
            end = node.end_char_idx if node.end_char_idx is not None else start + len(node.text)
            first = start + (len(node.text) - len(node.text.lstrip()))
            out.append(NaiveHit(text=node.text, start=start, end=end, score=float(nws.score or 0.0),
                                section_path=self.locator.section_path(first), pages=self.locator.pages(first, end)))
        return out
