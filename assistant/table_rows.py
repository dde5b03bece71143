"""Table rows as rows: 「分類: 自治体語 ／ 用語: 原課 ／ 意味: …」 instead of cells joined by " | ".

The citation keeps the guide's verbatim row; only the answer text labels each cell with its
column, and only where the row has exactly the header's cells (the guide's tables merge
cells, and a guessed pairing would mislabel them).
"""
from __future__ import annotations

from ingest.models import Chunk

CELL = " | "
_SEP = " ／ "


def _cells(line: str) -> list[str]:
    return [x.strip() for x in line.split(CELL)]


def _header_like(cells: list[str]) -> bool:
    return len(cells) >= 2 and all(0 < len(x) <= 30 and not any(m in x for m in "・。●") for x in cells)


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


def rows_view(chunk: Chunk, quote: str) -> str:
    """``quote`` (lines of ``chunk``) with each full row as 「column: value」 pairs; the header
    row itself and rows of another shape are left as the guide prints them."""
    header = header_of(chunk)
    if not header:
        return quote
    out = []
    for line in quote.split("\n"):
        cells = _cells(line)
        names = header
        if chunk.kind == "glossary" and len(cells) == len(header) - 1:
            names = header[1:]  # 図表8 merges its 分類 cell down the rows of one category
        if len(cells) != len(names) or cells == header:
            out.append(line)
            continue
        out.append(_SEP.join(f"{h}: {v}" for h, v in zip(names, cells) if v and v != "—"))
    return "\n".join(out)
