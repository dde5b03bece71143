"""The glossary: every row of the guide's jargon table (図表8), plus the terms the guide
defines elsewhere (reviewed data in data/glossary_extra.yaml), with English from
data/glossary_en.yaml."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import yaml

from ingest.blocks import Block
from ingest.errors import IngestError
from ingest.models import GlossaryEntry
from ingest.tables import table_rows

_CATEGORY_RE = re.compile(r"^(\S+?語)")


def is_glossary_table(block: Block) -> bool:
    rows = table_rows(block.text)
    return bool(rows) and any("用語" in c for c in rows[0]) and any("言い換え" in c for c in rows[0])


def parse_glossary_table(block: Block, figure: int | None, pages: list[int]) -> list[GlossaryEntry]:
    rows = table_rows(block.text)
    entries: list[GlossaryEntry] = []
    category = ""
    for cells in rows[1:]:
        if len(cells) >= 4:
            cat, term, meaning, rephrase = cells[:4]
        elif len(cells) == 3:
            cat, (term, meaning, rephrase) = "", cells
        else:
            continue
        if cat:
            m = _CATEGORY_RE.match(cat)
            category = m.group(1) if m else cat
        entries.append(GlossaryEntry(
            term=term, category=category or "用語", meaning=meaning, rephrase=rephrase,
            pages=pages, source=f"図表{figure}" if figure else "table",
            aliases=_term_aliases(term),
        ))
    return entries


def _term_aliases(term: str) -> list[str]:
    """スケール(する) is also found as スケール; ドライブ(をかける) as ドライブ."""
    base = re.sub(r"[(（].*?[)）]", "", term).strip()
    return [base] if base and base != term else []


def _load_yaml(path: Path):
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise IngestError("glossary_yaml", f"cannot parse {path.name}: {str(exc).splitlines()[0]}") from None


def load_extra(path: Path, text: str, page_at: Callable[[int], int]) -> list[GlossaryEntry]:
    """Terms defined outside the table. Meanings must be the guide's own words."""
    data = _load_yaml(path) or []
    out = []
    for item in data:
        meaning = item.get("meaning", "")
        anchor = item.get("anchor") or meaning[:20]
        pos = text.find(anchor)
        if pos < 0 or meaning not in text:
            continue  # a later guide revision may drop a definition: never cite words not in it
        out.append(GlossaryEntry(
            term=item["term"], reading=item.get("reading", ""), category=item.get("category", "用語"),
            meaning=meaning, rephrase=item.get("rephrase", ""), pages=[page_at(pos)],
            aliases=[a for a in item.get("aliases", []) if a], source=str(item.get("source", "definition")),
            detail=item["detail"] if item.get("detail") and item["detail"] in text else "",
        ))
    return out


def apply_english(entries: list[GlossaryEntry], path: Path) -> dict[str, str]:
    """Fill ``en`` and ``reading``; return {english alias (lower-case): term}."""
    data = _load_yaml(path) or {}
    en_map: dict[str, str] = {}
    for e in entries:
        info = data.get(e.term) or next((data[a] for a in e.aliases if a in data), None)
        if not info:
            continue
        e.en = info.get("en", e.en)
        # extra Japanese surface forms (e.g. ポンチ絵, the usual spelling of the table's ボンチ絵)
        e.aliases += [a for a in info.get("aliases", []) or [] if a not in e.aliases]
        e.reading = e.reading or info.get("reading", "")
        for alias in info.get("en_aliases", []) or []:
            en_map[str(alias).lower()] = e.term
    return en_map
