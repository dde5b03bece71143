"""The eval dataset: loading, schema, and validation against the guide itself.

Every item is checked against the vendored guide text, so a dataset typo (a
must_include that is not in the guide, a section path that does not exist, a
page outside its section) fails loudly instead of silently lowering a score.
"""
from __future__ import annotations

import glob as globlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError, field_validator

from ingest.errors import InvalidInput
from ingest.models import Guide
from ingest.settings import PROJECT_ROOT
from ingest.source import read_guide
from ingest.text import canonical, squash

DATASET_DIR = PROJECT_ROOT / "eval" / "datasets"
DEFAULT_GLOB = str(DATASET_DIR / "*.jsonl")

Lang = Literal["ja", "en"]
ItemPersona = Literal["municipality", "startup", "intermediary", "any"]
# not_stated: the guide covers the topic but not the detail asked (a fee, a name, a threshold); the
# expected answer says so and points to the sections that cover the topic (expected_sections/pages).
ItemType = Literal["fact", "howto", "glossary", "figure", "locate", "unanswerable", "definition", "multi", "reading_path",
                   "not_stated"]
ItemRoute = Literal["glossary", "locate", "figure", "reading_path", "qa", "out_of_scope"]
TYPES: tuple[str, ...] = ItemType.__args__  # type: ignore[attr-defined]
PATH_SEP = " > "
COPY_RUN = 10  # a question "copies" the guide when it shares a run of this many characters


class EvalItem(BaseModel):
    id: str
    question: str
    lang: Lang
    persona: ItemPersona
    type: ItemType
    route: ItemRoute
    expected_sections: list[str]
    expected_pages: list[int]
    must_include: list[str]
    answer: str

    @field_validator("question", "answer")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @property
    def answerable(self) -> bool:
        return self.type not in ("unanswerable", "not_stated")

    @property
    def persona_arg(self) -> str | None:
        """The persona passed to the assistant / retriever (None = no preference)."""
        return None if self.persona == "any" else self.persona


def load_dataset(pattern: str | None = None) -> list[EvalItem]:
    """Items of every JSONL file matching ``pattern`` (sorted by file name), ids unique."""
    pattern = pattern or DEFAULT_GLOB
    if not Path(pattern).is_absolute() and not globlib.glob(pattern):
        pattern = str(PROJECT_ROOT / pattern)  # relative to the project, whatever the cwd
    files = sorted(globlib.glob(pattern))
    if not files:
        raise InvalidInput("eval_dataset_missing", f"no dataset file matches {pattern!r}")
    items: list[EvalItem] = []
    seen: set[str] = set()
    for f in files:
        for n, line in enumerate(Path(f).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = EvalItem.model_validate(json.loads(line))
            except (ValueError, ValidationError) as e:
                first = str(e).strip().splitlines()
                raise InvalidInput("eval_dataset_invalid", f"{f}:{n}: {' '.join(first[:3])[:300]}") from e
            if item.id in seen:
                raise InvalidInput("eval_dataset_invalid", f"{f}:{n}: duplicate id {item.id!r}")
            seen.add(item.id)
            items.append(item)
    return items


# ---- the guide's side ---------------------------------------------------------------------
@dataclass
class SectionRange:
    path: str
    level: int
    first: int
    last: int  # inclusive; the next same-or-higher heading's page (sections may share a page)


@dataclass
class GuideFacts:
    """What validation needs from the guide: its text and TOC paths with page ranges."""

    text: str
    canonical_text: str
    sections: dict[str, SectionRange]  # squash(path) → range
    last_page: int
    _copy_runs: set[str] | None = field(default=None, repr=False)
    _copy_run_len: int = field(default=0, repr=False)

    @classmethod
    def from_guide(cls, guide: Guide, guide_path: Path) -> "GuideFacts":
        text, _ = read_guide(guide_path)
        last_page = max([e.page for e in guide.toc] + [f.page for f in guide.figures]
                        + [p for c in guide.chunks for p in c.pages])
        sections: dict[str, SectionRange] = {}
        for i, e in enumerate(guide.toc):
            nxt = next((x for x in guide.toc[i + 1:] if x.level <= e.level), None)
            path = PATH_SEP.join(e.path)
            sections[squash(path)] = SectionRange(path, e.level, e.page, nxt.page if nxt else last_page)
        return cls(text=text, canonical_text=canonical(text), sections=sections, last_page=last_page)

    def section(self, path: str) -> SectionRange | None:
        return self.sections.get(squash(path))

    def copies_guide(self, question: str, run: int = COPY_RUN) -> bool:
        """True when the question shares a run of ``run`` characters with the guide (canonical forms)."""
        if self._copy_runs is None or self._copy_run_len != run:
            t = self.canonical_text
            self._copy_runs = {t[i:i + run] for i in range(len(t) - run + 1)}
            self._copy_run_len = run
        q = canonical(question)
        return any(q[i:i + run] in self._copy_runs for i in range(len(q) - run + 1))


def item_problems(item: EvalItem, facts: GuideFacts) -> list[str]:
    """Everything wrong with one item, as short sentences (empty = valid)."""
    out: list[str] = []
    for m in item.must_include:
        if not m.strip():
            out.append("empty must_include")
        elif m not in facts.text:
            if canonical(m) in facts.canonical_text:
                out.append(f"must_include {m!r} is not verbatim in the guide (only whitespace/width-insensitively)")
            else:
                out.append(f"must_include {m!r} is not in the guide at all")
    ranges: list[SectionRange] = []
    for s in item.expected_sections:
        r = facts.section(s)
        if r is None:
            out.append(f"expected section {s!r} is not a TOC path")
        else:
            ranges.append(r)
    for p in item.expected_pages:
        if not 1 <= p <= facts.last_page:
            out.append(f"expected page {p} is outside the guide (1–{facts.last_page})")
        elif ranges and not any(r.first <= p <= r.last for r in ranges):
            out.append(f"expected page {p} lies in none of its sections "
                       + ", ".join(f"{r.path} (pp.{r.first}–{r.last})" for r in ranges))
    if item.answerable:
        if not item.expected_sections and item.type not in ("reading_path",):
            out.append("answerable item without expected_sections")
        if not item.expected_pages and item.type not in ("reading_path",):
            out.append("answerable item without expected_pages")
        if item.route == "out_of_scope":
            out.append("answerable item routed out_of_scope")
    elif item.type == "not_stated":
        if item.route == "out_of_scope" or not item.expected_sections or not item.expected_pages:
            out.append("not_stated item needs a route other than out_of_scope and the sections/pages covering its topic")
        if item.must_include:
            out.append("not_stated item with must_include")
    else:
        if item.route != "out_of_scope":
            out.append(f"unanswerable item with route {item.route!r} (expected out_of_scope)")
        if item.expected_sections or item.expected_pages or item.must_include:
            out.append("unanswerable item with expected sections/pages/must_include")
    return out


def validate(items: list[EvalItem], facts: GuideFacts) -> dict[str, list[str]]:
    """id → problems, for the items that have any."""
    return {it.id: p for it in items if (p := item_problems(it, facts))}


def dataset_stats(items: list[EvalItem], facts: GuideFacts | None = None) -> dict:
    n = len(items)
    stats = {
        "items": n,
        "answerable": sum(it.answerable for it in items),
        "unanswerable": sum(not it.answerable for it in items),
        "lang": dict(Counter(it.lang for it in items)),
        "persona": dict(Counter(it.persona for it in items)),
        "type": dict(Counter(it.type for it in items)),
        "route": dict(Counter(it.route for it in items)),
    }
    if facts is not None and n:
        stats["no_copy_share"] = round(sum(not facts.copies_guide(it.question) for it in items) / n, 4)
    return stats
