"""Find glossary terms in any text (question, answer, a pasted memo): the jargon translator."""
from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.schema import Annotation, GlossaryNote
from index.romaji import RomajiTerms
from ingest.glossary_search import GlossarySearch, glossary_of, is_general
from ingest.models import GlossaryEntry, Guide
from ingest.text import nfkc

_KATAKANA = re.compile(r"^[\u30a0-\u30ffー・]+$")
_KATAKANA_CH = re.compile(r"[\u30a0-\u30ffー]")


def note_of(e: GlossaryEntry) -> GlossaryNote:
    return GlossaryNote(term=e.term, reading=e.reading, category=e.category, meaning=e.meaning,
                        rephrase=e.rephrase, en=e.en, pages=list(e.pages))


@dataclass(frozen=True)
class _Form:
    surface: str
    entry: GlossaryEntry
    katakana: bool
    latin: bool
    general: bool  # an everyday word of data/glossary_general.yaml (a note, never a route or citation)


class TermMatcher:
    """Longest-match-first, non-overlapping; katakana and Latin forms must stand alone
    (レク is not found inside レクチャー, "pay" not inside "payment"). The surface forms are
    the ones ingest.glossary_search gives every front door."""

    def __init__(self, glossary: list[GlossaryEntry], en_aliases: dict[str, str]):
        self.search = GlossarySearch(glossary, en_aliases)
        by_term = {e.term: e for e in self.search.entries}
        forms: dict[str, _Form] = {}
        for surface, e, english in self.search.text_forms():
            s = surface.lower() if english else surface
            if s.lower() not in forms:  # guide entries come first: a general word never takes their surface
                forms[s.lower()] = _Form(s, e, not english and bool(_KATAKANA.match(s)), english or s.isascii(),
                                 is_general(e))
        self.forms = sorted(forms.values(), key=lambda f: -len(f.surface))
        self.by_term = by_term
        self.romaji = RomajiTerms(self.search.entries)  # "kan no ketteiken mondai" → 官の決定権問題
        # candidates by their first two characters, longest first: a regex alternation of
        # ~600 forms costs ~3 ms per answer, one-character buckets ~0.3 ms, these less
        self._by_first: dict[str, list[tuple[str, _Form]]] = {}
        for f in self.forms:
            low = f.surface.lower()
            self._by_first.setdefault(low[:2], []).append((low, f))
        firsts = "".join(sorted({k[0] for k in self._by_first}))
        self._first = re.compile(f"[{re.escape(firsts)}]") if firsts else None

    @classmethod
    def of_guide(cls, guide: Guide) -> "TermMatcher":
        """Over the guide's glossary and its everyday words (found as notes only, see ``find``)."""
        return cls(*glossary_of(guide))

    def find(self, text: str, general: bool = False) -> list[tuple[int, int, GlossaryEntry, str]]:
        """(start, end, entry, surface) in ``text``. Positions refer to NFKC(text), which
        keeps the length of Japanese text; callers pass already-normalised text where it matters.
        General words are found only with ``general=True`` (the translator and answer notes): the
        router and the on-topic test must see the guide's own terms only."""
        if not self._first:
            return []
        norm = nfkc(text)
        low = norm.lower()
        if len(low) != len(norm):  # a character whose lower case is longer: match on the original
            low = norm
        out = []
        pos = 0
        while pos < len(low):
            m = self._first.search(low, pos)
            if not m:
                break
            a = m.start()
            for surface, form in self._by_first.get(low[a:a + 2], ()):
                if (form.general and not general) or not low.startswith(surface, a):
                    continue
                b = a + len(surface)
                ok = True
                if form.katakana:
                    ok = not (a > 0 and _KATAKANA_CH.match(norm[a - 1])) and not (b < len(norm) and _KATAKANA_CH.match(norm[b]))
                if ok and form.latin:
                    ok = not (a > 0 and norm[a - 1].isascii() and norm[a - 1].isalnum()) and not (
                        b < len(norm) and norm[b].isascii() and norm[b].isalnum())
                if ok:
                    out.append((a, b, form.entry, norm[a:b]))
                    pos = b
                    break
            else:
                pos = a + 1
        # a term spelt in romaji, where no surface form was found
        for a, b, e in self.romaji.find(norm):
            if (general or not is_general(e)) and not any(x < b and a < y for x, y, _, _ in out):
                out.append((a, b, e, norm[a:b]))
        return sorted(out, key=lambda f: f[0])

    def annotate(self, text: str) -> list[Annotation]:
        return [Annotation(term=e.term, start=a, end=b, surface=s, reading=e.reading, category=e.category,
                           meaning=e.meaning, rephrase=e.rephrase, en=e.en, pages=list(e.pages))
                for a, b, e, s in self.find(text, general=True)]

    def notes(self, *texts: str) -> list[GlossaryNote]:
        """Every term found in the texts, in order of appearance, the guide's own terms before the
        everyday words (never outranked by them)."""
        seen: dict[str, GlossaryEntry] = {}
        for text in texts:
            for _, _, e, _ in self.find(text, general=True):
                seen.setdefault(e.term, e)
        return [note_of(e) for e in sorted(seen.values(), key=is_general)]
