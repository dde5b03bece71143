"""Glossary terms written in romaji: "kan no ketteiken mondai", "yon-go zuikei", "genka".

English-speaking users name the guide's jargon as they heard it. Every glossary entry carries
its reading (かんのけっていけんもんだい), so its romaji is known without a dictionary (jaconv).
Both sides are folded the same way (long vowels, macrons, spaces and hyphens dropped: kyōsō,
kyousou and kyoso meet), and a run of up to five Latin words in the question that folds to a
term's romaji is that term.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

import jaconv

from ingest.models import GlossaryEntry

MAX_WORDS = 5
# shorter romaji collide with English words (kea, ika, kai)
MIN_FOLDED = 5
_WORD = re.compile(r"[A-Za-z\u00c0-\u017f]+")
_JOIN = re.compile(r"[\s\-‐‑–]*")
_LONG = ((r"ou", "o"), (r"oo", "o"), (r"uu", "u"), (r"aa", "a"), (r"ii", "i"), (r"ei", "e"), (r"ee", "e"),
         (r"m(?=[bpm])", "n"), (r"tch", "cch"))


def fold(text: str) -> str:
    """Romaji as compared: lower case, no macrons, no spaces or hyphens, long vowels single."""
    s = unicodedata.normalize("NFKD", text.lower())
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = re.sub(r"[\s\-‐‑–’]", "", s)
    for a, b in _LONG:
        s = re.sub(a, b, s)
    return s


def romaji_of(reading: str) -> str:
    return jaconv.kana2alphabet(jaconv.kata2hira(reading))


class RomajiTerms:
    def __init__(self, entries: Iterable[GlossaryEntry]):
        self.by_folded: dict[str, GlossaryEntry] = {}
        for e in entries:  # the first entry of a romaji keeps it (guide entries come first)
            if e.reading and re.fullmatch(r"[ぁ-ゖァ-ヺー]+", e.reading):
                key = fold(romaji_of(e.reading))
                if len(key) >= MIN_FOLDED:
                    self.by_folded.setdefault(key, e)

    def find(self, text: str) -> list[tuple[int, int, GlossaryEntry]]:
        """(start, end, entry) of each run of Latin words in ``text`` that spells a term, longest
        first, not overlapping."""
        if not self.by_folded:
            return []
        words = list(_WORD.finditer(text))
        out: list[tuple[int, int, GlossaryEntry]] = []
        i = 0
        while i < len(words):
            hit = None
            for j in range(min(len(words), i + MAX_WORDS) - 1, i - 1, -1):
                gaps = [text[words[k].end():words[k + 1].start()] for k in range(i, j)]
                if not all(_JOIN.fullmatch(g) for g in gaps):
                    continue
                e = self.by_folded.get(fold(text[words[i].start():words[j].end()]))
                if e is not None:
                    hit = (words[i].start(), words[j].end(), e, j)
                    break
            if hit:
                out.append(hit[:3])
                i = hit[3] + 1
            else:
                i += 1
        return out
