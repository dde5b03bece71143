"""CLI: kanmin ingest | toc | glossary | find | show."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ingest.errors import InvalidInput, NotFound
from ingest.glossary_search import GENERAL, GENERAL_OUTSIDE, NOT_FROM_GUIDE, GlossarySearch
from ingest.models import Chunk, Guide
from ingest.page_labels import page_label
from ingest.settings import get_settings
from ingest.text import canonical


def _out(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _guide(path: str | None = None, strict: bool = False) -> Guide:
    from ingest.pipeline import load_guide, parse_guide

    settings = get_settings()
    if path or strict:
        return parse_guide(Path(path) if path else settings.guide_path, settings, strict=strict)
    return load_guide(settings)


def cmd_ingest(args) -> int:
    guide = _guide(args.path, args.strict)
    stats = guide.stats.model_dump() if guide.stats else {}
    if args.json:
        _out({"title": guide.title, "sha256": guide.sha256, "stats": stats} if args.stats else guide.model_dump())
        return 0
    print(f"{guide.title}\nsha256 {guide.sha256}")
    print(f"  chunks: {len(guide.chunks)}  glossary: {len(guide.glossary)} (+{len(guide.general_glossary)} everyday "
          f"words)  footnotes: {len(guide.footnotes)}")
    if args.stats:
        for key, value in stats.items():
            print(f"  {key}: {value}")
    return 0


def cmd_toc(args) -> int:
    guide = _guide()
    if args.json:
        _out([e.model_dump() for e in guide.toc])
        return 0
    for e in guide.toc:
        mark = "" if e.found else "  [recovered]"
        print(f"{'  ' * (e.level - 1)}{e.heading} …… {page_label([e.page])}{mark}")
    return 0


GLOSSARY_KEYS = ("term", "reading", "category", "meaning", "rephrase", "en", "pages")  # = the API's GlossaryNote


def glossary_dicts(guide: Guide, term: str | None) -> list[dict]:
    """The entries ``kanmin glossary TERM`` shows: the same search as the UI and /v1/glossary?q=."""
    entries = GlossarySearch.of_guide(guide).search(term)
    if term and not entries:
        raise NotFound("unknown_term", f"no glossary entry for {term!r}")
    return [{k: getattr(e, k) for k in GLOSSARY_KEYS} for e in entries]


def glossary_line(r: dict) -> str:
    """One entry (or an answer's GlossaryNote, dumped) as a line of text; an everyday word says
    whether its meaning is the guide's."""
    reading = f"（{r['reading']}）" if r["reading"] else ""
    rephrase = f" → {r['rephrase']}" if r["rephrase"] else ""
    en = f" / {r['en']}" if r["en"] else ""
    if r["category"] == GENERAL_OUTSIDE:
        where = f"  [{NOT_FROM_GUIDE}]"
    elif r["category"] == GENERAL:
        where = f"  [general meaning; the word appears on {page_label(r['pages'])}]"
    else:
        where = f"  {page_label(r['pages'])}" if r["pages"] else ""
    return f"{r['term']}{reading} [{r['category']}] {r['meaning']}{rephrase}{en}{where}"


def cmd_glossary(args) -> int:
    rows = glossary_dicts(_guide(), args.term)
    if args.json:
        _out(rows)
        return 0
    for r in rows:
        print(glossary_line(r))
    return 0


def find_chunks(guide: Guide, text: str) -> list[Chunk]:
    key = canonical(text)
    if not key:
        raise InvalidInput("empty_text", "find: TEXT must not be empty")
    return [c for c in guide.chunks if key in canonical(c.text)]


def cmd_find(args) -> int:
    guide = _guide()
    result = [{"text": t, "matches": [
        {"chunk_id": c.id, "section_path": c.section_path, "pages": c.pages} for c in find_chunks(guide, t)
    ]} for t in args.text]
    if args.json:
        _out(result)
        return 0
    for r in result:
        print(r["text"])
        for m in r["matches"]:
            print(f"  {m['chunk_id']}  {page_label(m['pages'])}  {' > '.join(m['section_path'])}")
    return 0


def resolve_show(guide: Guide, ref: str) -> list[Chunk]:
    """<chunk-id | p.N | 図表N> → the chunks to show."""
    ref = ref.strip()
    m = re.fullmatch(r"[pP]\.?\s*(\d{1,3})", ref)
    if m:
        page = int(m.group(1))
        chunks = [c for c in guide.chunks if page in c.pages and c.kind != "footnote"]
        if not chunks:
            raise NotFound("page_not_found", f"no text on page {page}")
        return chunks
    m = re.fullmatch(r"(?:図表|figure|fig\.?)\s*(\d{1,2})", ref, flags=re.I)
    if m:
        n = int(m.group(1))
        chunks = [c for c in guide.chunks if c.figure == n]
        if not chunks:
            raise NotFound("figure_not_found", f"図表{n} is not in the guide text")
        return chunks
    chunk = guide.chunk(ref)
    if chunk is None:
        raise NotFound("chunk_not_found", f"no chunk {ref!r} (use a chunk id, p.N or 図表N)")
    return [chunk]


def cmd_show(args) -> int:
    chunks = resolve_show(_guide(), args.ref)
    if args.json:
        _out([c.model_dump() for c in chunks])
        return 0
    print(show_text(chunks), end="")
    return 0


def show_text(chunks: list[Chunk]) -> str:
    """Chunks as a reader sees them: the section path once, above its run of passages (a later
    section shows only the headings that differ from the one before: "■ … > 【参考 URL】"), each
    passage with its pages; internal chunk ids only in --json."""
    out: list[str] = []
    path: list[str] = []
    for c in chunks:
        if c.section_path != path:
            same = 0
            while same < min(len(path), len(c.section_path) - 1) and path[same] == c.section_path[same]:
                same += 1
            out.append(f"■ {'… > ' if same else ''}{' > '.join(c.section_path[same:])}\n")
            path = c.section_path
        out.append(f"({page_label(c.pages)})\n{c.text}\n\n")
    return "".join(out)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="parse the guide and report its structure")
    p.add_argument("path", nargs="?", help="guide text (default: the vendored one)")
    p.add_argument("--stats", action="store_true", help="report what was recovered and what is missing")
    p.add_argument("--json", action="store_true")
    p.add_argument("--strict", action="store_true", help="refuse a text whose sha256 differs from the vendored one")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("toc", help="table of contents with printed pages")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_toc)

    p = sub.add_parser("glossary", help="glossary entries (図表8, terms defined in the text, everyday words)")
    p.add_argument("term", nargs="?", help="term, alias, reading or English (the web UI's search)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_glossary)

    p = sub.add_parser("find", help="chunks whose text contains TEXT (whitespace-insensitive)")
    p.add_argument("text", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find)

    p = sub.add_parser("show", help="show a chunk, a page (p.N) or a figure (図表N)")
    p.add_argument("ref")
    p.add_argument("--json", action="store_true", help="the chunks with their ids and every field")
    p.set_defaults(func=cmd_show)
