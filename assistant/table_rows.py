"""Table rows as rows: 「分類: 自治体語 ／ 用語: 原課 ／ 意味: …」 instead of cells joined by " | ".

The citation keeps the guide's verbatim row; only the answer text labels each cell with its
column, and only where the row has exactly the header's cells (the guide's tables merge
cells, and a guessed pairing would mislabel them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.models import Chunk
from ingest.text import unwrap

CELL = " | "
_SEP = " ／ "
_BULLET = re.compile(r"(^|\s)[・•●]")


def _cells(line: str) -> list[str]:
    return [x.strip() for x in line.split(CELL)]


def _header_like(cells: list[str]) -> bool:
    # a 「・」 joining two words (「自治体・ISUの違い」) is no bullet: only one opening a cell's item is
    return len(cells) >= 2 and all(0 < len(x) <= 30 and "。" not in x and not _BULLET.search(x) for x in cells)


def header_of(chunk: Chunk) -> list[str] | None:
    """The column names of the table ``chunk`` belongs to, where the guide gives them:
    a 図表8 glossary row carries its table's header in its search text (the line before the
    row); a table chunk may open with its header row."""
    if chunk.kind == "glossary":
        lines = chunk.search_text.split("\n")
        first = chunk.text.split("\n")[0]
        for i in range(1, len(lines)):
            if lines[i].strip() == first.strip() and CELL in lines[i - 1]:
                cells = _cells(lines[i - 1])
                return cells if _header_like(cells) else None
        return None
    if chunk.kind == "table":
        cells = _cells(chunk.text.split("\n")[0])
        return cells if _header_like(cells) else None
    return None


@dataclass(frozen=True)
class _Row:
    names: list[str]  # the column names its cells are shown with
    labelled: bool  # its first cell names the row (a column the header leaves unnamed)


def _is_header(cells: list[str], after: list[str], header: list[str]) -> bool:
    """A header-like line, followed by a row of its own shape, that the rows so far do not fit."""
    return _header_like(cells) and len(cells) != len(header) and len(after) in (len(cells), len(cells) + 1)


def _layout(chunk: Chunk) -> dict[str, _Row]:
    """How each data line of a table chunk is labelled. The header is the chunk's opening line,
    or a finer one right under it (図表13's stages under its phases, the row below fitting it);
    a header-like line further down that the rows before it do not fit starts a new table (the
    課題整理シート's 「課題の詳細 | 希望する事業者の役割・提案例 | …」 under its title row). When the first
    row has one cell more than the header, every row's first cell is its label (「知識・経験 | 行政の
    範囲内 | 行政の枠外も」 under 「連携 | 共創」)."""
    lines = chunk.text.split("\n")
    first = _cells(lines[0])
    if not _header_like(first):
        return {}
    header, labelled, rows_seen = first, False, False
    out: dict[str, _Row] = {}
    for i, line in enumerate(lines[1:], start=1):
        cells = _cells(line)
        if len(cells) < 2:
            continue
        after = _cells(lines[i + 1]) if i + 1 < len(lines) else []
        if not rows_seen and len(cells) == len(header) + 1:
            labelled = True
        elif not labelled and _is_header(cells, after, header):
            header, rows_seen = cells, False
            continue
        rows_seen = True
        out[line] = _Row(header, labelled)
    # a table most of whose rows fit no header lost its shape in extraction (「自治体・ISUの違い | 連携に
    # 向けた工夫」 over four-cell rows): a guessed pairing would mislabel it
    fitting = sum(_fits(_cells(line), row) for line, row in out.items())
    return out if 2 * fitting >= len(out) else {}


def _fits(cells: list[str], row: _Row) -> bool:
    """A row with a cell per column (and its label); in a labelled table, also one whose label the
    extraction lost (図表13's スタートアップの困りごと row: its five stages)."""
    return len(cells) == len(row.names) + row.labelled or (row.labelled and len(cells) == len(row.names))


def rows_view(chunk: Chunk, quote: str) -> str:
    """``quote`` (lines of ``chunk``) with each full row as 「column: value」 pairs (a labelled row as
    「label — column: value」); header rows and rows of another shape are left as the guide prints them.
    Prose shows its hard-wrapped lines joined (p.120's 「…スタ\n ートアップ…」 reads 「スタートアップ」)."""
    if chunk.kind == "glossary":
        return _glossary_view(chunk, quote)
    if chunk.kind != "table":
        return unwrap(quote)
    layout = _layout(chunk)
    out = []
    for line in quote.split("\n"):
        row, cells = layout.get(line), _cells(line)
        if row is None or not _fits(cells, row):
            out.append(line)
            continue
        labelled = len(cells) > len(row.names)
        label = f"{cells[0]} — " if labelled else ""
        values = cells[1:] if labelled else cells
        out.append(label + _SEP.join(f"{h}: {v}" for h, v in zip(row.names, values) if v and v != "—"))
    return "\n".join(out)


def _glossary_view(chunk: Chunk, quote: str) -> str:
    header = header_of(chunk)
    if not header:
        return quote
    out = []
    for line in quote.split("\n"):
        cells = _cells(line)
        names = header
        if len(cells) == len(header) - 1:
            names = header[1:]  # 図表8 merges its 分類 cell down the rows of one category
        if len(cells) != len(names) or cells == header:
            out.append(line)
            continue
        out.append(_SEP.join(f"{h}: {v}" for h, v in zip(names, cells) if v and v != "—"))
    return "\n".join(out)
