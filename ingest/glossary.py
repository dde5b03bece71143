"""The glossary: every row of the guide's jargon table (図表8), plus the terms the guide
defines elsewhere (reviewed data in data/glossary_extra.yaml), with English from
data/glossary_en.yaml, then the everyday words of data/glossary_general.yaml (一般語, general
words: meanings in a reviewer's words, never cited as the guide)."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.blocks import Block
from ingest.errors import IngestError
from ingest.glossary_search import GENERAL, GENERAL_OUTSIDE, fold, names
from ingest.models import GlossaryEntry
from ingest.tables import table_rows
from ingest.text import nfkc

log = logging.getLogger("kanmin.ingest")

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


class GeneralItem(BaseModel):
    """One item of data/glossary_general.yaml: an everyday municipal/startup word, written by a
    reviewer in their own words (not the guide's), with an anchor where the guide uses it."""

    model_config = ConfigDict(extra="ignore")

    term: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    reading: str = ""
    en: str = ""
    en_aliases: list[str] = Field(default_factory=list)
    meaning: str = Field(min_length=1)
    anchor: str | None = None  # verbatim substring of one line of the guide where the word appears
    source: str = "general"  # guide (anchored) | general

    @field_validator("aliases", "en_aliases", mode="before")
    @classmethod
    def _none_is_empty(cls, v):
        return v or []


class GeneralLoad(NamedTuple):
    entries: list[GlossaryEntry]
    en_aliases: dict[str, str]  # {english alias (lower case): term}, none the guide's glossary uses
    problems: list[str]


def load_general(path: Path, text: str, page_at: Callable[[int], int], glossary: list[GlossaryEntry],
                 en_aliases: dict[str, str]) -> GeneralLoad:
    """Everyday words as entries of their own category (一般語), kept apart from the guide's
    glossary (Guide.general_glossary): they are glossary notes only, never query expansion,
    routing or citations.

    An anchor found in the guide gives the page where the word appears; a missing or bad anchor
    makes the word general, not from the guide (一般語（ガイド外）). A word, alias or English alias
    the guide's glossary (``glossary``, ``en_aliases``) already has is dropped: general words never
    replace the guide's entries. Also returns the problems found (bad items, dropped anchors and
    duplicates), one line each."""
    data = _load_yaml(path)
    if data is None:
        return GeneralLoad([], {}, [])
    if isinstance(data, dict) and len(data) == 1:  # a top-level key above the list
        data = next(iter(data.values()))
    if not isinstance(data, list):
        raise IngestError("glossary_yaml", f"{path.name}: expected a list of items")
    taken = {fold(n) for e in glossary for n in (*names(e), e.reading) if n}
    out: list[GlossaryEntry] = []
    en_out: dict[str, str] = {}
    problems: list[str] = []
    for n, raw in enumerate(data, 1):
        try:
            item = GeneralItem.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            problems.append(f"item {n}: {'.'.join(map(str, err['loc']))}: {err['msg']}")
            continue
        if fold(item.term) in taken:
            problems.append(f"{item.term}: already in the guide's glossary (dropped)")
            continue
        # an alias that only restates the term in another width (シリーズＡ) is dropped silently
        aliases = [a for a in dict.fromkeys(item.aliases) if a and fold(a) != fold(item.term)]
        clash = [a for a in aliases if fold(a) in taken]
        if clash:
            problems.append(f"{item.term}: aliases {clash} already name a guide entry (dropped)")
            aliases = [a for a in aliases if a not in clash]
        pages = _anchor_pages(item, aliases, text, page_at, problems)
        out.append(GlossaryEntry(
            term=item.term, reading=item.reading, category=GENERAL if pages else GENERAL_OUTSIDE,
            meaning=item.meaning, en=item.en, pages=pages, aliases=aliases, source="general",
        ))
        taken |= {fold(x) for x in (item.term, *aliases)}
        for alias in (str(a).strip().lower() for a in item.en_aliases):
            if alias and alias not in en_aliases:
                en_out.setdefault(alias, item.term)
    for p in problems:  # reviewed data: say what was dropped rather than fail the whole guide
        log.warning("%s: %s", path.name, p)
    return GeneralLoad(out, en_out, problems)


def _anchor_pages(item: GeneralItem, aliases: list[str], text: str, page_at: Callable[[int], int],
                  problems: list[str]) -> list[int]:
    """[the page where the anchor's line shows the word], or [] (anchor absent, not verbatim,
    spanning lines, or not containing the word)."""
    anchor = item.anchor or ""
    if not anchor:
        if item.source == "guide":
            problems.append(f"{item.term}: source is guide but there is no anchor (kept as general)")
        return []
    pos = text.find(anchor)
    if pos < 0 or "\n" in anchor:
        problems.append(f"{item.term}: anchor {anchor[:30]!r} is not one line of the guide (anchor dropped)")
        return []
    norm = nfkc(anchor)
    where = next((norm.find(nfkc(w)) for w in (item.term, *aliases) if w and nfkc(w) in norm), -1)
    if where < 0:
        problems.append(f"{item.term}: anchor {anchor[:30]!r} does not contain the word (anchor dropped)")
        return []
    return [page_at(pos + where)]  # NFKC keeps the length of Japanese text
