"""Parse the two 目次 blocks: headings with printed pages, and the 図表 list."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.errors import IngestError
from ingest.models import FigureEntry, TocEntry

# "heading.....\t12", "heading\t12", "heading 12" (dot leaders optional)
_ENTRY_RE = re.compile(r"^(?P<head>.+?)\s*(?:\.{2,}|…+)?\s*\t\s*(?P<page>\d{1,3})\s*$")
_FIG_RE = re.compile(r"^図表\s*(?P<num>\d+)\s*[：:]\s*(?P<title>.+)$")
_SECTION_RE = re.compile(r"^\(\d+\)")
_SUB_RE = re.compile(r"^(?:[①-⑳]|STEP\s*[①-⑳0-9])")


@dataclass
class TocBlock:
    entries: list[TocEntry]
    figures: list[FigureEntry]
    appendix: list[tuple[str, int]]
    end_line: int  # index of the first line after the TOC blocks


def heading_level(heading: str) -> int:
    if _SECTION_RE.match(heading):
        return 2
    if _SUB_RE.match(heading):
        return 3
    return 1


def parse_toc(lines: list[str]) -> TocBlock:
    starts = [i for i, line in enumerate(lines[:600]) if line.strip() == "目次"]
    if not starts:
        raise IngestError("toc_missing", "no table of contents (目次) found: is this the guide text?")
    entries: list[TocEntry] = []
    figures: list[FigureEntry] = []
    appendix: list[tuple[str, int]] = []
    mode = "toc"
    path: list[str] = []
    i = starts[0] + 1
    end = i
    while i < len(lines):
        raw = lines[i].strip()
        i += 1
        if not raw:
            continue
        if raw == "目次":
            mode = "figures"
            continue
        if raw == "附録":
            mode = "appendix"
            continue
        if raw.startswith("---"):
            end = i
            break
        m = _ENTRY_RE.match(raw)
        if not m:
            # the TOC is over once a non-entry line shows up after entries
            if entries:
                end = i - 1
                break
            continue
        head = m.group("head").rstrip(". ").strip()
        page = int(m.group("page"))
        end = i
        if mode == "toc":
            level = heading_level(head)
            path = path[: level - 1] + [head]
            # a (n) directly under a chapter, a ① directly under a (n)
            while len(path) < level:
                path.insert(len(path) - 1, "")
            entries.append(TocEntry(heading=head, level=level, page=page, path=list(path)))
        elif mode == "figures":
            fm = _FIG_RE.match(head)
            if fm:
                figures.append(FigureEntry(number=int(fm.group("num")), title=fm.group("title").strip(), page=page))
        else:
            appendix.append((head, page))
    if len(entries) < 3:
        raise IngestError("toc_missing", "table of contents (目次) has no page entries: is this the guide text?")
    return TocBlock(entries=entries, figures=figures, appendix=appendix, end_line=end)
