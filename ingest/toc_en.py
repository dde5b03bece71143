"""Reviewed English titles of the guide's TOC headings and figures (data/toc_en.yaml), and of
its list items (data/list_items_en.yaml: ズレ①–④, 観点①–⑥, the three exits…).

The Japanese stays authoritative (quotes are never translated); these titles let an
English answer say in English where the guide answers, before its Japanese quotes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingest.errors import IngestError

PATH_SEP = " > "


@dataclass(frozen=True)
class TocEnglish:
    headings: dict[str, str] = field(default_factory=dict)  # heading as printed (or full path) → English
    figures: dict[int, str] = field(default_factory=dict)  # 図表 number → English title
    items: dict[str, str] = field(default_factory=dict)  # a list item as printed → English

    def heading(self, path: list[str]) -> str | None:
        """English of the deepest heading of ``path`` (a TOC path), or None."""
        if not path:
            return None
        return self.headings.get(PATH_SEP.join(path)) or self.headings.get(path[-1])

    def path(self, path: list[str]) -> list[str]:
        """English of every heading of ``path`` that has one (others stay Japanese)."""
        return [self.heading(path[: i + 1]) or h for i, h in enumerate(path)]

    def figure(self, number: int) -> str | None:
        return self.figures.get(number)

    def item(self, text: str) -> str | None:
        """English of a list item (its text as printed), or None."""
        return self.items.get(text.strip())


def load_toc_en(path: Path, items_path: Path | None = None) -> TocEnglish:
    """The files' titles and items; an absent file gives none (answers then name the Japanese)."""
    headings: dict[str, str] = {}
    figures: dict[int, str] = {}
    if path.is_file():
        data = _load(path)
        try:
            headings = {str(k): str(v) for k, v in (data.get("headings") or {}).items()}
            figures = {int(k): str(v) for k, v in (data.get("figures") or {}).items()}
        except (AttributeError, TypeError, ValueError) as e:
            raise IngestError("toc_en_invalid", f"{path} is not a valid English titles file: {e}") from e
    items: dict[str, str] = {}
    if items_path is not None and items_path.is_file():
        try:
            items = {str(k).strip(): str(v) for k, v in (_load(items_path).get("items") or {}).items()}
        except (AttributeError, TypeError) as e:
            raise IngestError("toc_en_invalid", f"{items_path} is not a valid English list items file: {e}") from e
    return TocEnglish(headings, figures, items)


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise IngestError("toc_en_invalid", f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise IngestError("toc_en_invalid", f"{path} is not a mapping")
    return data
