"""guide text → Guide (structure tree, pages, footnotes, glossary, reading guide, chunks)."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from ingest.blocks import Block, split_blocks
from ingest.chunker import Chunker
from ingest.errors import IngestError
from ingest.glossary import apply_english, is_glossary_table, load_extra, load_general, parse_glossary_table
from ingest.models import (
    Chunk, CrossRef, FigureEntry, Footnote, Guide, IngestStats, Node, TocEntry,
)
from ingest.pages import PageMap, find_cross_refs
from ingest.reading_guide import is_reader_table, parse_reader_table
from ingest.section_questions import load_questions
from ingest.sentence_questions import load_sentence_questions
from ingest.settings import Settings, get_settings
from ingest.source import read_guide, vendored_sha256
from ingest.structure import RawNode, Structure, build_structure
from ingest.text import canonical, squash
from ingest.toc import parse_toc


def _body_start(lines: list[str], toc_end: int, first_heading: str) -> int:
    key = squash(first_heading)
    for i in range(toc_end, len(lines)):
        if squash(lines[i]) == key:
            return i
    raise IngestError("body_missing", f"the first TOC heading {first_heading!r} never appears in the body")


def _offset_of_line(lines: list[str], line_no: int) -> int:
    return sum(len(line) + 1 for line in lines[:line_no])


def _to_node(raw: RawNode, pages: PageMap) -> Node:
    first = pages.page_at(raw.start)
    last = max(first, pages.page_at(max(raw.start, raw.end - 1)))
    if raw.toc_page is not None:
        first = raw.toc_page
        last = max(last, first)
    return Node(
        id=raw.id, kind=raw.kind, heading=raw.heading, level=raw.level, path=raw.path,
        pages=(first, last), personas=raw.personas, recovered=raw.recovered, start=raw.start, end=raw.end,
        children=[_to_node(c, pages) for c in raw.children],
    )


def _footnote_page_breaks(blocks: list[Block], pages: PageMap, anchors: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Footnotes are printed at the foot of their page: the text after a run of
    footnotes starts the next page (never past the next TOC/figure anchor)."""
    extra = []
    i = 0
    while i < len(blocks):
        if blocks[i].kind not in ("footnote", "footnote_cont"):
            i += 1
            continue
        j = i
        while j < len(blocks) and blocks[j].kind in ("footnote", "footnote_cont"):
            j += 1
        if j < len(blocks):
            nxt = blocks[j].start
            page = pages.page_at(blocks[i].start) + 1
            later = [p for o, p in anchors if o >= nxt]
            if later:
                page = min(page, min(later))
            extra.append((nxt, page))
        i = j
    return extra


def _footnotes(blocks: list[Block], pages: PageMap) -> tuple[list[Footnote], dict[int, str]]:
    """Footnotes, and their verbatim text (marker included) for the footnote chunks."""
    notes: dict[int, Footnote] = {}
    raw: dict[int, str] = {}
    for b in blocks:
        if b.kind == "footnote" and b.number is not None:
            text = b.text.strip().lstrip("⁰¹²³⁴⁵⁶⁷⁸⁹").strip()
            notes[b.number] = Footnote(number=b.number, text=text, page=pages.page_at(b.start))
            raw[b.number] = b.text.strip()
        elif b.kind == "footnote_cont" and b.number in notes:
            notes[b.number].text += "\n" + b.text.strip()
            raw[b.number] += "\n" + b.text.strip()
    return [notes[n] for n in sorted(notes)], raw


def _section_at_page(toc_nodes: list[RawNode], page: int) -> str | None:
    best = None
    for node in toc_nodes:
        if node.toc_page is not None and node.toc_page <= page:
            if best is None or node.toc_page >= best.toc_page:
                best = node
    return best.id if best else None


def parse_guide(path: Path, settings: Settings | None = None, strict: bool = False) -> Guide:
    t0 = time.perf_counter()
    settings = settings or get_settings()
    strict_sha = vendored_sha256(settings.guide_sha256_path) if strict else None
    if strict and strict_sha is None:
        raise IngestError("sha_missing", f"--strict: no vendored sha256 at {settings.guide_sha256_path}")
    text, sha = read_guide(path, strict_sha256=strict_sha)
    lines = text.split("\n")
    toc = parse_toc(lines)
    title = next((l.strip() for l in lines if l.strip()), "")
    start_line = _body_start(lines, toc.end_line, toc.entries[0].heading)
    blocks = split_blocks(text, _offset_of_line(lines, start_line), start_line + 1)
    structure = build_structure(toc.entries, blocks)

    # page anchors: TOC pages at the headings, figure-list pages at the captions
    fig_pages = {f.number: f.page for f in toc.figures}
    anchors: list[tuple[int, int]] = []
    toc_nodes = [n for n in structure.nodes.values() if n.toc_page is not None]
    for node in toc_nodes:
        anchors.append((node.start, node.toc_page))
    captions: dict[int, str] = {}
    for i, b in enumerate(blocks):
        if b.kind == "caption" and b.number is not None:
            captions[b.number] = b.text.strip()
            if b.number in fig_pages:
                anchors.append((b.start, fig_pages[b.number]))
                # the figure's table (printed above its caption) is on the same page
                prev = next((x for x in reversed(blocks[max(0, i - 3):i]) if x.kind not in ("footnote", "footnote_cont")), None)
                if prev is not None and prev.kind == "table":
                    anchors.append((prev.start, fig_pages[b.number]))
    last_page = max([e.page for e in toc.entries] + [f.page for f in toc.figures])
    pages = PageMap.from_anchors(anchors, len(text), last_page)
    anchors += _footnote_page_breaks(blocks, pages, anchors)
    pages = PageMap.from_anchors(anchors, len(text), last_page)

    figures = [f.model_copy(update={"placed": f.number in captions}) for f in toc.figures]
    toc_entries = [e.model_copy(update={"found": ok}) for e, ok in zip(toc.entries, structure.toc_found)]

    glossary_blocks: set[int] = set()
    glossary = []
    reading = []
    for i, b in enumerate(blocks):
        if b.kind != "table":
            continue
        fig = next((x.number for x in blocks[i + 1:i + 4] if x.kind == "caption"), None)
        if is_glossary_table(b):
            glossary_blocks.add(i)
            glossary.extend(parse_glossary_table(b, fig, [fig_pages.get(fig, pages.page_at(b.start))]))
        elif is_reader_table(b):
            reading.extend(parse_reader_table(b, fig))

    chunker = Chunker(blocks, structure, pages, captions, glossary_blocks)
    chunks = chunker.run()
    footnotes, footnote_raw = _footnotes(blocks, pages)
    by_id = {c.id: c for c in chunks}
    for fn in footnotes:
        cid = chunker.marker_owner.get(fn.number)
        fn.chunk_id = cid
        fn.cited_by = list(chunker.marker_links.get(fn.number, []))
        host = by_id.get(cid) if cid else None
        node = structure.nodes[host.section_id] if host else structure.nodes["c00"]
        chunker._emit(node, "footnote", footnote_raw[fn.number], 0, 0)
        chunker.chunks[-1].pages = [fn.page]
        chunker.chunks[-1].page_starts = [0]
    chunks = chunker.chunks

    glossary += load_extra(settings.glossary_extra_path, text, pages.page_at)
    en_aliases = apply_english(glossary, settings.glossary_en_path)
    general = load_general(settings.glossary_general_path, text, pages.page_at, glossary, en_aliases)

    cross_refs = []
    for i, b in enumerate(blocks):
        if b.kind in ("text", "table", "bullet"):
            for ref, page in find_cross_refs(b.text):
                cross_refs.append(CrossRef(
                    text=ref, page=page, source_section_id=structure.owner[i],
                    target_section_id=_section_at_page(toc_nodes, page),
                ))

    tree = [_to_node(r, pages) for r in structure.roots]
    questions = load_questions(settings.section_questions_path, set(structure.nodes))
    sentence_questions = load_sentence_questions(settings.sentence_questions_path, chunks)
    guide = Guide(
        title=title, sha256=sha, toc=toc_entries, figures=figures, tree=tree, footnotes=footnotes,
        cross_refs=cross_refs, glossary=glossary, reading_guide=reading, en_aliases=en_aliases,
        questions=questions, sentence_questions=sentence_questions, chunks=chunks, general_glossary=general.entries, general_en_aliases=general.en_aliases,
    )
    # everything the index embeds: chunks and the question banks
    guide.corpus_sha256 = hashlib.sha256(json.dumps(
        {"chunks": [c.model_dump() for c in chunks], "questions": [q.model_dump() for q in questions],
         "sentence_questions": [q.model_dump() for q in sentence_questions]},
        ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    guide.stats = _stats(guide, blocks, structure, time.perf_counter() - t0)
    return guide


def _stats(guide: Guide, blocks: list[Block], structure: Structure, seconds: float) -> IngestStats:
    # coverage: every body paragraph's characters must reappear in a chunk text or heading path
    corpus = canonical("".join(c.text for c in guide.chunks)) + canonical(
        "".join(n.heading for n in structure.nodes.values()))
    total = covered = 0
    for b in blocks:
        for line in b.text.split("\n"):
            for cell in line.split("\t"):
                key = canonical(cell)
                total += len(key)
                if key and key in corpus:
                    covered += len(key)
    return IngestStats(
        toc_entries=len(guide.toc), toc_found=sum(e.found for e in guide.toc),
        recovered_headings=[e.heading for e in guide.toc if not e.found],
        figures_listed=len(guide.figures), figures_placed=sum(f.placed for f in guide.figures),
        figures_missing=[f.number for f in guide.figures if not f.placed],
        footnotes=len(guide.footnotes), footnotes_linked=sum(1 for f in guide.footnotes if f.chunk_id),
        footnote_markers_linked=sum(len(f.cited_by) for f in guide.footnotes),
        glossary_entries=len(guide.glossary), chunks=len(guide.chunks),
        coverage=round(covered / total, 4) if total else 0.0, cross_refs=len(guide.cross_refs),
        seconds=round(seconds, 3),
    )


_lock = threading.Lock()
_cache: dict[tuple[str, float], Guide] = {}


def load_guide(settings: Settings | None = None) -> Guide:
    """The parsed vendored guide, cached per process (keyed by path and mtime)."""
    settings = settings or get_settings()
    path = Path(settings.guide_path)
    key = (str(path), path.stat().st_mtime if path.exists() else 0.0)
    with _lock:
        if key not in _cache:
            _cache[key] = parse_guide(path, settings)
        return _cache[key]
