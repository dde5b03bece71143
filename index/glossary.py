"""Glossary query expansion.

The guide says 原課 where a reader may type 担当課, and スケール where a
municipal reader thinks 拡大. A query that contains a glossary term, one of
its aliases or one of its short rephrasings (担当課 → 原課) also searches the
term, its aliases and its rephrasings. An English word listed as an English
alias maps to the Japanese term (and everything that term expands to), so
English questions reach BM25 too.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from index.romaji import RomajiTerms
from ingest.models import GlossaryEntry

_SPLIT = re.compile(r"[、,，/／;；]")
_KATAKANA = re.compile(r"^[\u30a0-\u30ffー・]+$")
_PARENS = re.compile(r"[（(][^）)]*[）)]")
# 図表8 rephrasings are short (担当課、担当部署); longer "rephrasings" of the
# extra glossary are definitions whose many words would dilute the query.
MAX_REPHRASE_CHARS = 12
MIN_TRIGGER_CHARS = 3


@dataclass(frozen=True)
class Expansion:
    terms: tuple[str, ...] = ()  # glossary terms recognised in the query
    extra: tuple[str, ...] = ()  # texts added to the search (not already in the query)

    def __bool__(self) -> bool:
        return bool(self.extra)


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s).strip()


def _pieces(s: str) -> list[str]:
    return [p for p in (_nfkc(x) for x in _SPLIT.split(s or "")) if p]


class _Form:
    """A surface form of a glossary term to look for in a query."""

    __slots__ = ("text", "pattern")

    def __init__(self, text: str):
        self.text = text
        if _KATAKANA.match(text):
            # Katakana loanwords must not match inside a longer katakana word
            # (レク in コレクション).
            self.pattern = re.compile(rf"(?<![\u30a0-\u30ff]){re.escape(text)}(?![\u30a0-\u30ffー])")
        elif text.isascii():
            # PFS, RESAS, Lean Canvas: whole words, any case.
            self.pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])", re.IGNORECASE)
        else:
            self.pattern = None  # kanji terms: plain substring

    def found_in(self, q: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(q) is not None
        return self.text in q


class QueryExpander:
    """``skip(term)`` → True drops a term whose expansion would be noise (the
    Retriever skips terms present in most chunks, e.g. スタートアップ)."""

    def __init__(
        self,
        glossary: Sequence[GlossaryEntry] = (),
        en_aliases: Mapping[str, str] | None = None,
        skip: Callable[[str], bool] | None = None,
    ):
        # term → everything searched when the term is recognised
        self._expansions: dict[str, tuple[str, ...]] = {}
        self._forms: list[tuple[_Form, str]] = []  # (form, term)
        en: dict[str, str] = {}
        for e in glossary:
            term = _nfkc(e.term)
            if not term:
                continue
            aliases = [_nfkc(a) for a in e.aliases if _nfkc(a)]
            rephrasings = [p for p in _pieces(e.rephrase) if len(p) <= MAX_REPHRASE_CHARS]
            self._expansions[term] = tuple(dict.fromkeys([term, *aliases, *rephrasings]))
            # A reader's plain word (担当課) also leads to the guide's jargon (原課);
            # 1–2 character rephrasings (承認, 利益) are too generic to trigger it.
            plain = [r for r in (_PARENS.sub("", p).strip() for p in rephrasings) if len(r) >= MIN_TRIGGER_CHARS]
            for form in dict.fromkeys([term, *aliases, *plain]):
                self._forms.append((_Form(form), term))
            for alias in _pieces(_PARENS.sub("", e.en)):
                en.setdefault(alias.lower(), term)
        # en_aliases keys name terms as printed (スケール(する)); resolve them to
        # the glossary's term, with or without the parenthesised part.
        lookup: dict[str, str] = {}
        for term in self._expansions:
            lookup.setdefault(term, term)
            lookup.setdefault(_PARENS.sub("", term).strip(), term)
        for alias, term in (en_aliases or {}).items():
            term = _nfkc(term)
            term = lookup.get(term) or lookup.get(_PARENS.sub("", term).strip()) or term
            if alias.strip() and term:
                en[_nfkc(alias).lower()] = term
                self._expansions.setdefault(term, (_PARENS.sub("", term).strip() or term,))
        if skip is not None:
            dropped = {t for t in self._expansions if skip(t)}
            self._expansions = {t: v for t, v in self._expansions.items() if t not in dropped}
            self._forms = [(f, t) for f, t in self._forms if t not in dropped]
            en = {a: t for a, t in en.items() if t not in dropped}
        self._en = en
        # a term spelt in romaji ("kan no ketteiken mondai"), by its reading
        self._romaji = RomajiTerms([e for e in glossary if _nfkc(e.term) in self._expansions])
        self._memo: dict[str, Expansion] = {}
        # Longest first so "public procurement" wins over "procurement"; ASCII
        # boundaries, not \b, because "scaleとは" has no \b between e and と.
        self._en_re = (
            re.compile(
                r"(?<![a-z0-9])("
                + "|".join(re.escape(a) for a in sorted(en, key=len, reverse=True))
                + r")(?![a-z0-9])"
            )
            if en
            else None
        )

    @property
    def size(self) -> int:
        return len(self._expansions)

    def expand(self, query: str) -> Expansion:
        """``query`` must already be NFKC-normalised. Memoised: one answer expands the same
        question several times (retrieval, word coverage, support)."""
        hit = self._memo.get(query)
        if hit is None:
            hit = self._expand(query)
            if len(self._memo) >= 256:
                self._memo.pop(next(iter(self._memo)))
            self._memo[query] = hit
        return hit

    def spelt(self, query: str) -> list[str]:
        """The terms ``query`` (NFKC) spells in romaji, skipped ones left out."""
        return [_nfkc(e.term) for _, _, e in self._romaji.find(query)]

    def _expand(self, query: str) -> Expansion:
        terms: dict[str, None] = {}
        for form, term in self._forms:
            if form.found_in(query):
                terms[term] = None
        if self._en_re is not None:
            for m in self._en_re.finditer(query.lower()):
                terms[self._en[m.group(1)]] = None
        terms.update(dict.fromkeys(self.spelt(query)))
        if not terms:
            return Expansion()
        extra = dict.fromkeys(
            t for term in terms for t in self._expansions.get(term, (term,)) if t not in query
        )
        return Expansion(terms=tuple(terms), extra=tuple(extra))


def load_en_aliases(path: Path) -> dict[str, str]:
    """{english alias: japanese term} from data/glossary_en.yaml, {} if absent.

    Accepts the shapes a hand-edited file is likely to take:
    ``{term: [alias, …]}``, ``{term: {en_aliases: [...]}}``,
    ``[{term: …, en_aliases: [...]}, …]`` (optionally under a top-level key).
    """
    if not path.is_file():
        return {}
    import yaml

    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        only = next(iter(data.values()))
        if only and all(isinstance(x, dict) for x in only):
            data = only
    out: dict[str, str] = {}

    def add(term: Any, aliases: Any) -> None:
        if not isinstance(term, str):
            return
        if isinstance(aliases, str):
            aliases = [aliases]
        for a in aliases or ():
            if isinstance(a, str) and a.strip():
                out[a.strip().lower()] = term.strip()

    items: Iterable[Any] = data.items() if isinstance(data, dict) else enumerate(data or [])
    for key, val in items:
        if isinstance(val, dict):
            term = val.get("term", key)
            add(term, val.get("en_aliases") or val.get("aliases") or val.get("en"))
        elif isinstance(val, (list, str)):
            add(key, val)
    return out
