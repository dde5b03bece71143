"""Query expansion from the reviewed domain thesaurus (data/thesaurus.yaml): the words people
use (まとめて調達, "tender") → the words the guide uses (共同調達, 入札)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Collection

import yaml

from ingest.text import nfkc

_WORD = re.compile(r"[A-Za-z][A-Za-z-]+")
_APOSTROPHE = re.compile(r"(?<=[A-Za-z])['’](?=[A-Za-z])")


class Thesaurus:
    def __init__(self, ja: dict[str, list[str]], en: dict[str, list[str]],
                 lexicon: dict[str, list[str]] | None = None, patterns: dict[str, list[str]] | None = None,
                 places: dict[str, list[str]] | None = None):
        self.ja = {nfkc(k): v for k, v in ja.items()}
        # asked by what it avoids (「入札をせずに」, "without holding a competitive tender" → 随意契約):
        # regular expressions, found first in either language; the words they match are not looked
        # up again (their 入札 / "tender" would search for the very thing the question avoids)
        self.patterns = [(re.compile(k, re.I), v) for k, v in (patterns or {}).items()]
        # the English of the guide's nouns and verbs (data/lexicon_en.yaml), a second layer: a single
        # English word the thesaurus lacks is looked up there, its words searched after the thesaurus's
        self.lexicon = {k.lower(): v for k, v in (lexicon or {}).items() if " " not in k.strip()}
        # the places of the guide's cases (Fukuoka → 福岡市): looked up as English words, and naming
        # one puts a question inside the guide's subject
        self.places = frozenset(" ".join(k.lower().split()) for k in (places or {}))
        keys = {" ".join(k.lower().split()): v for k, v in {**en, **(places or {})}.items()}
        self.en = {k: v for k, v in keys.items() if " " not in k}
        # English entries of several words ("without a tender" → 随意契約) are phrases: they are
        # found first, and their own words are not looked up again ("tender" → 入札 would ask
        # for the very thing the question avoids)
        self.en_phrases = {k: v for k, v in keys.items() if " " in k}
        self._en_phrase = (re.compile(r"\b(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(
            self.en_phrases, key=len, reverse=True)) + r")\b", re.I) if self.en_phrases else None)

    @classmethod
    def load(cls, path: Path, lexicon: dict[str, list[str]] | None = None) -> "Thesaurus":
        data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
        return cls(data.get("ja") or {}, data.get("en") or {}, lexicon, data.get("patterns") or {},
                   data.get("places") or {})

    def expand(self, query: str, asking: Collection[str] = ()) -> list[str]:
        """Guide words to search in addition to the query (none already in it). ``asking``: the
        question's words that ask for a detail ("share price", "what percentage"), not looked up in
        the lexicon: its 価格 / 金額 would draw in any sentence with a sum, which then reads as
        stating the detail asked."""
        # an apostrophe inside a word goes (Shin'onsen → shinonsen; a possessive city's → citys → city)
        q = _APOSTROPHE.sub("", nfkc(query))
        out: dict[str, None] = {}
        for pattern, words in self.patterns:
            if pattern.search(q):
                out.update(dict.fromkeys(words))
                q = pattern.sub(" ", q)
        for phrase in self.phrases(q):
            out.update(dict.fromkeys(self.ja.get(phrase, ())))
        if self._en_phrase is not None:
            for m in self._en_phrase.finditer(q):
                out.update(dict.fromkeys(self.en_phrases[" ".join(m.group(1).lower().split())]))
            q_words = self._en_phrase.sub(" ", q)
        else:
            q_words = q
        second: dict[str, None] = {}
        for w in _WORD.findall(q_words):
            w = w.lower()
            words = _lookup(self.en, w)
            if not words and w not in asking:
                second.update(dict.fromkeys(_lookup(self.lexicon, w)))
            out.update(dict.fromkeys(words))
        out.update(second)
        return [w for w in out if w not in q]

    def phrases(self, query: str) -> list[str]:
        """The asker's phrases in ``query`` that an entry maps to the guide's words: the Japanese
        entries' and the text each pattern matches."""
        q = nfkc(query)
        found = [m.group(0) for pattern, _ in self.patterns for m in pattern.finditer(q)]
        return found + [phrase for phrase in self.ja if phrase in q and phrase not in found]


def _lookup(table: dict[str, list[str]], word: str) -> list[str]:
    """``word``'s entry; a plural finds its singular ("trials" → trial) unless it has its own."""
    return table.get(word) or (table.get(word[:-1], []) if word.endswith("s") else [])


def load_lexicon(path: Path) -> dict[str, list[str]]:
    """data/lexicon_en.yaml (``en: {english: [the guide's words]}``): the English of the guide's
    nouns and verbs, read once for the thesaurus's second layer and for ``Unmentioned``'s known
    English; empty when the file is absent."""
    if not path.is_file():
        return {}
    return {str(k): list(v) for k, v in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("en") or {}).items()}
