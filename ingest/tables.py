"""Tables flattened by the extraction (tab-separated cells, HTML list fragments) → rows of text."""
from __future__ import annotations

import re

from ingest.text import strip_tags

_SPACES = re.compile(r"[ \u3000\u00a0]{2,}")


def clean_cell(cell: str) -> str:
    text = strip_tags(cell)
    # list items inside a cell were separated by runs of spaces
    text = _SPACES.sub(" ", text)
    return text.strip()


def table_rows(text: str) -> list[list[str]]:
    """Cells per line (empty leading cells kept: they mean "same as the row above")."""
    rows = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        cells = [clean_cell(c) for c in line.split("\t")]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows.append(cells)
    return rows


def row_text(cells: list[str]) -> str:
    return " | ".join(c for c in cells if c)


def split_items(cell: str) -> list[str]:
    """Bulleted items of a cell ("・首長 ・部長や局長" → ["首長", "部長や局長"])."""
    if not re.match(r"\s*・", cell):  # 図表2: list items lost their bullets, only spaces remain
        return cell.split()
    # only a ・ that opens an item is a bullet: 経済・産業担当 and 部長・事業統括 stay whole
    parts = [p.strip(" ・") for p in re.split(r"(?:^|\s)・", cell)]
    return [p for p in parts if p]
