"""Section-bounded chunks of 300–700 characters cut at sentence boundaries.

Quotable ``text`` is the guide's own words; the heading path is only in ``search_text``.
Tables and figure captions become chunks of their own; footnotes become footnote
chunks in the section of the chunk that cites them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.blocks import Block, ends_sentence
from ingest.models import Chunk
from ingest.pages import PageMap
from ingest.personas import table_personas
from ingest.structure import RawNode, Structure
from ingest.tables import row_text, table_rows
from ingest.text import SUPERSCRIPT_DIGITS, nfkc, split_sentences, superscript_to_int

MIN_CHARS = 300
MAX_CHARS = 700
# a superscript run anywhere but at the start of a line (that is a footnote's own number)
_MARKER_IN_TEXT = re.compile(rf"(?<![{SUPERSCRIPT_DIGITS}\n])(?<!^)([{SUPERSCRIPT_DIGITS}]+)")
_KIND_BY_NODE = {"column": "column", "case": "case", "reference": "reference"}
_KIND_LETTER = {"body": "b", "table": "t", "figure": "f", "footnote": "n", "column": "k",
                "case": "e", "reference": "r", "glossary": "g"}

# a line printed between a figure's table and its caption: a credit (「Copyright © 2021 Hiroshima
# Prefecture…」), a logo's text (「Life is Tech!」), a page label or title of the sample (「p.2」)
_CREDIT = re.compile(r"^\s*(Copyright\b|©|\(c\)\s)", re.I)
CAPTION_GAP_CHARS = 40


def _between_table_and_caption(b: Block) -> bool:
    text = b.text.strip()
    return bool(_CREDIT.match(text)) or (b.kind == "text" and len(text) <= CAPTION_GAP_CHARS and "。" not in text)


@dataclass
class Piece:
    text: str
    start: int
    end: int
    kind: str = "text"
    # (index in text, offset in the guide) where each glued part begins: a sentence
    # joined across a page break skips the footnotes printed between its halves
    segments: tuple[tuple[int, int], ...] = ()

    def offset(self, index: int) -> int:
        base_i, base_o = 0, self.start
        for i, o in self.segments:
            if i <= index:
                base_i, base_o = i, o
        return base_o + (index - base_i)

    def glue(self, other: "Block") -> "Piece":
        segs = self.segments or ((0, self.start),)
        return Piece(self.text + other.text, self.start, other.end, self.kind,
                     segs + ((len(self.text), other.start),))


def footnote_markers(text: str) -> list[int]:
    return [n for n, _ in marker_ends(text)]


def marker_ends(text: str) -> list[tuple[int, int]]:
    """(footnote number, offset just after its marker) of each marker in ``text``."""
    return [(superscript_to_int(m.group(1)), m.end()) for m in _MARKER_IN_TEXT.finditer(text)]


def _pack(sentences: list[Piece]) -> list[list[Piece]]:
    groups: list[list[Piece]] = []
    cur: list[Piece] = []
    size = 0
    for s in sentences:
        n = len(s.text)
        if cur and size >= MIN_CHARS and size + n > MAX_CHARS:
            groups.append(cur)
            cur, size = [], 0
        cur.append(s)
        size += n
    if cur:
        # a short tail joins the previous chunk when that keeps it reasonable
        if groups and size < MIN_CHARS // 2 and sum(len(p.text) for p in groups[-1]) + size <= MAX_CHARS + 150:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


def _sentences(paragraphs: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for para in paragraphs:
        pos = 0
        for sent in split_sentences(para.text):
            idx = para.text.find(sent, pos)
            pos = idx + len(sent)
            out.append(Piece(sent, para.offset(idx), para.offset(max(idx, pos - 1)) + 1))
        if out:
            out[-1] = Piece(out[-1].text + "\n", out[-1].start, out[-1].end)
    return out


class Chunker:
    def __init__(self, blocks: list[Block], structure: Structure, pages: PageMap,
                 captions: dict[int, str], glossary_blocks: set[int]):
        self.blocks = blocks
        self.s = structure
        self.pages = pages
        self.captions = captions
        self.glossary_blocks = glossary_blocks
        self.counters: dict[str, int] = {}
        self.chunks: list[Chunk] = []
        self.marker_owner: dict[int, str] = {}  # footnote number -> chunk id citing it
        self.pending_markers: dict[str, list[int]] = {}
        self.marker_links: dict[int, list[str]] = {}  # footnote number -> every chunk whose marker cites it  # markers on a heading, for its first chunk

    def _new_id(self, node: RawNode, kind: str) -> str:
        key = f"{node.id}-{_KIND_LETTER[kind]}"
        self.counters[key] = self.counters.get(key, 0) + 1
        return f"{key}{self.counters[key]:02d}"

    def _emit(self, node: RawNode, kind: str, text: str, start: int, end: int,
              figure: int | None = None, search_extra: str = "") -> Chunk:
        text = text.strip("\n")
        pages = self.pages.span(start, end)
        # linear map from text position to guide offset: good enough inside one chunk
        scale = (end - start) / max(1, len(text))
        page_starts = [0] + [
            next((k for k in range(len(text)) if self.pages.page_at(start + int(k * scale)) >= p), len(text))
            for p in pages[1:]
        ]
        notes = footnote_markers(text) if kind != "footnote" else []
        chunk = Chunk(
            id=self._new_id(node, kind), kind=kind, section_id=node.id, section_path=list(node.path),
            recovered=_is_recovered(node), pages=pages, page_starts=page_starts,
            personas=table_personas(text, list(node.personas)) if kind == "table" else list(node.personas),
            text=text, search_text=nfkc(" > ".join(node.path) + ("\n" + search_extra if search_extra else "") + "\n" + text),
            figure=figure, footnotes=notes,
        )
        for n in notes + self.pending_markers.pop(node.id, []):
            self.marker_owner.setdefault(n, chunk.id)
            self.marker_links.setdefault(n, []).append(chunk.id)
        self.chunks.append(chunk)
        return chunk

    def run(self) -> list[Chunk]:
        blocks, owner = self.blocks, self.s.owner
        run: list[Piece] = []
        run_node: RawNode | None = None

        def flush():
            nonlocal run, run_node
            if run and run_node is not None:
                kind = _KIND_BY_NODE.get(run_node.kind, "body")
                for group in _pack(_sentences(run)):
                    self._emit(run_node, kind, "".join(p.text for p in group), group[0].start, group[-1].end)
            run, run_node = [], None

        for i, b in enumerate(blocks):
            if i in self.s.heading_blocks or b.kind in ("footnote", "footnote_cont"):
                if i in self.s.heading_blocks:
                    flush()
                    self.pending_markers.setdefault(self.s.heading_blocks[i], []).extend(footnote_markers(b.text))
                continue
            node = self.s.nodes[owner[i]]
            if b.kind in ("table", "caption"):
                flush()
                if b.kind == "table":
                    self._table(i, b, node)
                else:
                    self._emit(node, "figure", b.text.strip(), b.start, b.end, figure=b.number)
                continue
            if run_node is not None and node.id != run_node.id:
                flush()
            run_node = node
            text = b.text
            if run and run[-1].kind == "text" and b.kind == "text" and _cut_by_page_break(run[-1].text):
                # a page break cut this sentence: glue the halves back together
                run.append(run.pop().glue(b))
            else:
                run.append(Piece(text, b.start, b.end, b.kind))
        flush()
        return self.chunks

    def _next_caption(self, i: int) -> int | None:
        for b in self.blocks[i + 1:i + 7]:
            if b.kind == "caption":
                return b.number
            if b.kind not in ("footnote", "footnote_cont", "table") and not _between_table_and_caption(b):
                return None
        return None

    def _table(self, i: int, b: Block, node: RawNode) -> None:
        figure = self._next_caption(i)
        caption = self.captions.get(figure, "") if figure else ""
        rows = [row_text(r) for r in table_rows(b.text)]
        if i in self.glossary_blocks:
            header = rows[0]
            for r in rows[1:]:
                self._emit(node, "glossary", r, b.start, b.end, figure=figure, search_extra=f"{caption}\n{header}")
            return
        group: list[str] = []
        for r in rows:
            if group and sum(len(x) for x in group) + len(r) > MAX_CHARS:
                self._emit(node, "table", "\n".join(group), b.start, b.end, figure=figure, search_extra=caption)
                group = []
            group.append(r)
        if group:
            self._emit(node, "table", "\n".join(group), b.start, b.end, figure=figure, search_extra=caption)


def _cut_by_page_break(text: str) -> bool:
    """A paragraph that stops mid-sentence was cut by a page break; a short label
    line without 。 (パターン①…, ✓ 当初予算, a name list) is not one."""
    last = text.rstrip().split("\n")[-1]
    return not ends_sentence(text) and (len(last) >= 60 or "。" in last)


def _is_recovered(node: RawNode) -> bool:
    """Under a heading that the extraction lost (the nearest TOC heading decides)."""
    n: RawNode | None = node
    while n is not None and n.toc_page is None:
        n = n.parent
    return bool(n and n.recovered)
