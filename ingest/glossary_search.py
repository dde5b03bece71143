"""The one glossary matching every front door uses: the UI's search box, `/v1/glossary?q=`,
`/v1/glossary/{term}`, `kanmin glossary` and the jargon translator (assistant/terms.py).

An entry is found by its term, its Japanese aliases, its kana reading, its English gloss and
English aliases, all compared in one folded form (NFKC for half/full width, case-folded,
katakana as hiragana, spaces dropped). Entries of the guide (図表8, glossary_extra) always come
before the everyday words of data/glossary_general.yaml when both match equally well.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ingest.models import GlossaryEntry, Guide
from ingest.text import nfkc

GENERAL = "一般語"  # everyday word (general word) that the guide's text uses: its page is where it appears
GENERAL_OUTSIDE = "一般語（ガイド外）"  # everyday word the guide does not use at all
GENERAL_CATEGORIES = (GENERAL, GENERAL_OUTSIDE)
NOT_FROM_GUIDE = "general, not from the guide"

_GROUP = {0: 0, 1: 1, 2: 1, 3: 2}  # exact name | part of a name | part of the meaning
_SPACE = re.compile(r"\s+")
_PARENS = re.compile(r"[(（][^)）]*[)）]")
_QUOTES = str.maketrans("", "", "“”\"'‘’「」『』")
_KATA = {c: c - 0x60 for c in range(ord("ァ"), ord("ヶ") + 1)}  # katakana → hiragana


def fold(text: str) -> str:
    """The compared form: ＰｏＣ, poc and P o C are one key; so are ズイイ and ずいい."""
    return _SPACE.sub("", nfkc(text or "")).translate(_QUOTES).casefold().translate(_KATA)


def category_label(category: str, lang: str = "ja") -> str:
    """How a front door names a category: an English reader is told in English that an everyday
    word is general, not from the guide; every other category keeps its Japanese name."""
    if lang == "en" and category == GENERAL_OUTSIDE:
        return NOT_FROM_GUIDE
    if lang == "en" and category == GENERAL:
        return "general word"
    return category


def is_general(e: GlossaryEntry) -> bool:
    """An everyday word of data/glossary_general.yaml, not a term of the guide's own glossary."""
    return e.category in GENERAL_CATEGORIES


def from_guide(e: GlossaryEntry) -> bool:
    """False for a general word the guide never uses: its meaning is general, not the guide's."""
    return e.category != GENERAL_OUTSIDE


def names(e: GlossaryEntry, tails: bool = True) -> list[str]:
    """The Japanese surface forms of an entry (term and aliases, also without a parenthesised
    tail unless ``tails`` is False: スケール(する) → スケール), NFKC, in order, without duplicates."""
    out: dict[str, None] = {}
    for s in (e.term, *e.aliases):
        for form in ((s, _PARENS.sub("", s)) if tails else (s,)):
            form = nfkc(form).strip()
            if form:
                out.setdefault(form, None)
    return list(out)


def glossary_of(guide: Guide) -> tuple[list[GlossaryEntry], dict[str, str]]:
    """(entries, English aliases) that the glossary front doors search: the guide's own, then the
    everyday words. Retrieval, routing and citations use ``guide.glossary`` alone."""
    return [*guide.glossary, *guide.general_glossary], {**guide.general_en_aliases, **guide.en_aliases}


@dataclass(frozen=True)
class _Keys:
    exact: frozenset[str]  # names, reading, English aliases, the English gloss as a whole
    words: tuple[str, ...]  # the same, plus the English gloss, for prefix and substring matches
    text: tuple[str, ...]  # meaning and rephrasing: last-resort substring matches


class GlossarySearch:
    """Search and look-up over the glossary (guide entries first, then general words).

    ``en_aliases`` is {english alias (lower case): term} as in ``Guide.en_aliases``."""

    def __init__(self, entries: Sequence[GlossaryEntry], en_aliases: Mapping[str, str] | None = None):
        # the guide's own entries first, whatever order they came in: a general word never outranks them
        self.entries = sorted(entries, key=is_general)
        by_term = {e.term: e for e in self.entries}
        self._english: dict[str, list[str]] = {}
        for alias, term in (en_aliases or {}).items():
            if term in by_term:
                self._english.setdefault(term, []).append(alias)
        self._keys = [self._keys_of(e) for e in self.entries]

    @classmethod
    def of_guide(cls, guide: Guide) -> "GlossarySearch":
        """The guide's glossary and its everyday words (whose English aliases never take the guide's)."""
        return cls(*glossary_of(guide))

    def english(self, e: GlossaryEntry) -> list[str]:
        """The entry's English aliases (lower case)."""
        return list(self._english.get(e.term, ()))

    def _keys_of(self, e: GlossaryEntry) -> _Keys:
        reading = [e.reading, _PARENS.sub("", e.reading)] if e.reading else []
        en_whole = _PARENS.sub("", e.en).strip()
        exact = {fold(s) for s in (*names(e), *reading, *self.english(e), en_whole) if fold(s)}
        words = tuple(dict.fromkeys([*exact, fold(e.en)]))
        text = tuple(fold(s) for s in (e.meaning, e.rephrase) if s)
        return _Keys(frozenset(exact), words, text)

    def rank(self, query: str) -> list[tuple[int, GlossaryEntry]]:
        """(tier, entry) for every entry the query finds, best first: 0 an exact name, reading or
        English alias; 1 a name that starts with the query; 2 the query inside a name, reading or
        the English gloss; 3 the query inside the meaning or rephrasing. Ties keep the guide's
        entries before general words, then glossary order."""
        key = fold(query)
        if not key:
            return [(0, e) for e in self.entries]
        out = []
        for i, (e, k) in enumerate(zip(self.entries, self._keys)):
            if key in k.exact:
                tier = 0
            elif any(w.startswith(key) for w in k.words):
                tier = 1
            elif any(key in w for w in k.words):
                tier = 2
            elif any(key in t for t in k.text):
                tier = 3
            else:
                continue
            out.append((tier, is_general(e), i, e))
        out.sort(key=lambda t: t[:3])
        return [(t[0], t[3]) for t in out]

    def search(self, query: str | None) -> list[GlossaryEntry]:
        """The entries the query finds best: those it names exactly if any (原課 → 原課 alone), else
        those whose names, readings or English contain it (ずいい → 随意契約, …), else those whose
        meaning or rephrasing does. All entries for an empty query."""
        ranked = self.rank(query or "")
        if not ranked:
            return []
        group = _GROUP[ranked[0][0]]
        return [e for tier, e in ranked if _GROUP[tier] == group]

    def lookup(self, term: str) -> GlossaryEntry | None:
        """The entry a term names exactly (term, alias, reading or English alias), else the single
        entry whose name starts with it; None when nothing, or several, match that well."""
        ranked = self.rank(term)
        if not fold(term) or not ranked:
            return None
        exact = [e for tier, e in ranked if tier == 0]
        if exact:
            return exact[0]
        prefix = [e for tier, e in ranked if tier == 1]
        return prefix[0] if len(prefix) == 1 else None

    def text_forms(self) -> Iterable[tuple[str, GlossaryEntry, bool]]:
        """(surface, entry, is_english) to look for in running text (the jargon translator):
        names of at least two characters and English aliases of at least three, guide entries
        first so that a general word never takes a guide term's surface. A name as written comes
        before any name without its parenthesised tail: 4号随契's alias 「随意契約（4号）」 read as
        「随意契約」 would take 随意契約's own term."""
        for general in (False, True):
            group = [e for e in self.entries if is_general(e) is general]
            for e in group:
                for s in names(e, tails=False):
                    if len(s) >= 2:
                        yield s, e, False
                for alias in self.english(e):
                    if len(alias) >= 3:
                        yield alias, e, True
            for e in group:
                for s in names(e):
                    if len(s) >= 2:
                        yield s, e, False
