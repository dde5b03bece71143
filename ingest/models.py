"""Typed data models that leave the ``ingest`` package.

Japanese domain terms keep their names: 図表 (figure/table), 脚注 (footnote),
原課 (the line division that owns a policy area).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Persona = Literal["municipality", "startup", "intermediary", "all"]
PERSONAS: tuple[str, ...] = ("municipality", "startup", "intermediary")

NodeKind = Literal[
    "front", "chapter", "section", "subsection", "point",
    "column", "case", "reference", "appendix",
]
ChunkKind = Literal["body", "table", "figure", "footnote", "column", "case", "reference", "glossary"]


class TocEntry(BaseModel):
    """One line of the 目次 (table of contents)."""

    heading: str
    level: int  # 1 chapter, 2 section (1), 3 sub-section ① / STEP①
    page: int
    path: list[str]  # headings from the chapter down to this one
    found: bool = True  # False when the body lost the heading (recovered)


class FigureEntry(BaseModel):
    """One line of the figure list (図表 N：title …… page)."""

    number: int
    title: str
    page: int
    placed: bool = False  # caption found in the body


class Footnote(BaseModel):
    number: int
    text: str
    page: int
    chunk_id: str | None = None  # the first chunk whose text carries the marker
    cited_by: list[str] = Field(default_factory=list)  # every chunk with a marker for it (²⁶ appears twice)


class SectionQuestion(BaseModel):
    """A question a section answers, phrased as users ask it (doc2query): an extra
    retrieval key that bridges their words (お金が入るのはいつ) to the guide's (支払時期)."""

    node_id: str  # a node of the structure tree, e.g. c04.s02.u03
    lang: str  # ja | en
    text: str


class SentenceQuestion(BaseModel):
    """A question one sentence of the guide answers by itself (doc2query at sentence level):
    the answerer ranks that sentence by how near the user's question is to it."""

    sentence: str  # the guide's sentence, verbatim (a quotable sentence of a chunk)
    lang: str  # ja | en
    text: str


class CrossRef(BaseModel):
    """An in-text reference such as p.85参照 or 本ガイド 103 ページ."""

    text: str
    page: int
    source_section_id: str
    target_section_id: str | None


class Node(BaseModel):
    """A node of the structure tree (chapter → section → sub-section → …)."""

    id: str
    kind: NodeKind
    heading: str
    level: int
    path: list[str]
    pages: tuple[int, int]  # printed pages (first, last)
    personas: list[str]
    recovered: bool = False  # heading restored from the TOC, absent from the body
    start: int = 0  # character offsets into the guide text
    end: int = 0
    children: list["Node"] = Field(default_factory=list)


class GlossaryEntry(BaseModel):
    term: str
    reading: str = ""
    category: str  # 自治体語 | スタートアップ語 | 用語 (defined in the text) | 略称
    meaning: str  # the guide's own words
    rephrase: str = ""  # 言い換え例 (plain rephrasing)
    en: str = ""
    pages: list[int] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)  # also-searched forms (担当課 for 原課)
    detail: str = ""  # a second passage of the guide that spells out what the term covers (verbatim)
    source: str = ""  # 図表8 | footnote N | abbreviation | definition


class ReadingGuide(BaseModel):
    """A row of 図表2/図表3: who reads, what they want, where to read."""

    sector: str  # 自治体 | スタートアップ | 中間支援団体
    persona: str
    role: str  # 意思決定者 | 実務者 | —
    readers: list[str]
    wants: list[str]
    chapters: list[str]  # recommended chapters, in the guide's order
    next_actions: list[str] = Field(default_factory=list)
    source_figure: int = 3


class Chunk(BaseModel):
    """A retrieval unit. Never crosses a (sub-)section boundary."""

    id: str
    kind: ChunkKind
    section_id: str
    section_path: list[str]
    recovered: bool = False
    pages: list[int]
    personas: list[str]
    text: str  # quotable: exactly as in the guide (after table-row cleaning)
    search_text: str  # NFKC; heading path + text, for retrieval only
    figure: int | None = None
    footnotes: list[int] = Field(default_factory=list)
    # where each page of ``pages`` begins inside ``text`` (first is 0): lets a quote
    # cite the page of its own sentence rather than every page the chunk spans
    page_starts: list[int] = Field(default_factory=list)

    def pages_of(self, start: int, end: int) -> list[int]:
        """Printed pages covered by ``text[start:end]``."""
        if not self.page_starts or len(self.page_starts) != len(self.pages):
            return list(self.pages)
        first = last = self.pages[0]
        for page, at in zip(self.pages, self.page_starts):
            if at <= start:
                first = page
            if at < max(end, start + 1):
                last = page
        return list(range(first, last + 1))

    @property
    def path_str(self) -> str:
        return " > ".join(self.section_path)


class IngestStats(BaseModel):
    toc_entries: int
    toc_found: int
    recovered_headings: list[str]
    figures_listed: int
    figures_placed: int
    figures_missing: list[int]
    footnotes: int
    footnotes_linked: int
    footnote_markers_linked: int  # marker → footnote links (a footnote can be cited more than once)
    glossary_entries: int
    chunks: int
    coverage: float  # share of body non-space characters present in chunk texts
    cross_refs: int
    seconds: float


class Guide(BaseModel):
    """The parsed guide: everything downstream needs, serialisable as JSON."""

    title: str
    sha256: str  # of the guide text file
    # of the chunk list: changes when the text *or* the way it is chunked changes,
    # so an index built by an older ingest is seen as stale
    corpus_sha256: str = ""
    toc: list[TocEntry]
    figures: list[FigureEntry]
    tree: list[Node]
    footnotes: list[Footnote]
    cross_refs: list[CrossRef]
    glossary: list[GlossaryEntry]
    reading_guide: list[ReadingGuide]
    en_aliases: dict[str, str] = Field(default_factory=dict)  # English word → glossary term
    # 一般語 (everyday words, data/glossary_general.yaml): glossary notes and search only, never
    # query expansion, routing or citations — hence apart from ``glossary`` (ingest.glossary_search)
    general_glossary: list[GlossaryEntry] = Field(default_factory=list)
    general_en_aliases: dict[str, str] = Field(default_factory=dict)
    questions: list[SectionQuestion] = Field(default_factory=list)  # data/section_questions.yaml
    sentence_questions: list[SentenceQuestion] = Field(default_factory=list)  # data/sentence_questions.yaml
    chunks: list[Chunk]
    stats: IngestStats | None = None

    def chunk(self, chunk_id: str) -> Chunk | None:
        for c in self.chunks:
            if c.id == chunk_id:
                return c
        return None
