"""Find glossary terms in any text (question, answer, a pasted memo): the jargon translator."""
from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.schema import Annotation, GlossaryNote
from ingest.models import GlossaryEntry
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


class TermMatcher:
    """Longest-match-first, non-overlapping; katakana and Latin forms must stand alone
    (レク is not found inside レクチャー, "pay" not inside "payment")."""

    def __init__(self, glossary: list[GlossaryEntry], en_aliases: dict[str, str]):
        by_term = {e.term: e for e in glossary}
        forms: dict[str, _Form] = {}
        for e in glossary:
            for s in [e.term, *e.aliases]:
                s = nfkc(s).strip()
                if len(s) >= 2 and s not in forms:
                    forms[s] = _Form(s, e, bool(_KATAKANA.match(s)), s.isascii())
        for alias, term in en_aliases.items():
            if term in by_term and len(alias) >= 3 and alias not in forms:
                forms[alias] = _Form(alias, by_term[term], False, True)
        self.forms = sorted(forms.values(), key=lambda f: -len(f.surface))
        self.by_term = by_term
        # candidates by their first two characters, longest first: a regex alternation of
        # ~600 forms costs ~3 ms per answer, one-character buckets ~0.3 ms, these less
        self._by_first: dict[str, list[tuple[str, _Form]]] = {}
        for f in self.forms:
            low = f.surface.lower()
            self._by_first.setdefault(low[:2], []).append((low, f))
        firsts = "".join(sorted({k[0] for k in self._by_first}))
        self._first = re.compile(f"[{re.escape(firsts)}]") if firsts else None

    def find(self, text: str) -> list[tuple[int, int, GlossaryEntry, str]]:
        """(start, end, entry, surface) in ``text``. Positions refer to NFKC(text), which
        keeps the length of Japanese text; callers pass already-normalised text where it matters."""
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
                if not low.startswith(surface, a):
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
        return out

    def annotate(self, text: str) -> list[Annotation]:
        return [Annotation(term=e.term, start=a, end=b, surface=s, reading=e.reading, category=e.category,
                           meaning=e.meaning, rephrase=e.rephrase, en=e.en, pages=list(e.pages))
                for a, b, e, s in self.find(text)]

    def notes(self, *texts: str) -> list[GlossaryNote]:
        seen: dict[str, GlossaryNote] = {}
        for text in texts:
            for _, _, e, _ in self.find(text):
                seen.setdefault(e.term, note_of(e))
        return list(seen.values())
