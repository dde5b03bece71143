"""The guide's own reading guidance (図表2 and 図表3): reader × role → what to read."""
from __future__ import annotations

from ingest.blocks import Block
from ingest.models import ReadingGuide
from ingest.tables import split_items, table_rows

SECTOR_PERSONA = {"自治体": "municipality", "スタートアップ": "startup", "中間支援団体": "intermediary"}


def is_reader_table(block: Block) -> bool:
    rows = table_rows(block.text)
    return bool(rows) and rows[0][:2] == ["セクター", "立場"]


def parse_reader_table(block: Block, figure: int | None) -> list[ReadingGuide]:
    rows = table_rows(block.text)
    header = rows[0]
    recommend = next((i for i, h in enumerate(header) if "推奨" in h), None)
    out: list[ReadingGuide] = []
    sector = role = ""
    for cells in rows[1:]:
        cells = cells + [""] * (len(header) - len(cells))
        sector = cells[0] or sector
        role = cells[1] or role
        persona = SECTOR_PERSONA.get(sector, "all")
        if recommend is not None:
            out.append(ReadingGuide(
                sector=sector, persona=persona, role=role, readers=split_items(cells[2]),
                wants=split_items(cells[3]), chapters=split_items(cells[recommend]), source_figure=figure or 0,
            ))
        else:
            out.append(ReadingGuide(
                sector=sector, persona=persona, role=role, readers=[], wants=split_items(cells[2]),
                chapters=[], next_actions=split_items(cells[3]) if len(cells) > 3 else [],
                source_figure=figure or 0,
            ))
    return out
