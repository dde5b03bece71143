"""Names the guide never mentions.

A question about 企業版ふるさと納税 shares its other words (自治体, 連携, 財源) with many
passages, so retrieval finds "something" and quoting it would read as an answer. When the
question names a proper noun (not a person or a place: an official scheme, an organisation,
a product) that appears nowhere in the guide, the honest answer is that the guide does not
mention it, with the nearest sections.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

from ingest.text import nfkc


class Unmentioned:
    def __init__(self, guide_text: str, proper_nouns: Callable[[str], list[str]], known: Iterable[str] = ()):
        self._text = _squash(guide_text)
        self._proper_nouns = proper_nouns
        # words the project's reviewed data defines (glossary, thesaurus): not "never mentioned"
        self._known = {_squash(k) for k in known}

    def find(self, question: str) -> list[str]:
        """Proper nouns of ``question`` that the guide's text never contains."""
        out = []
        for noun in self._proper_nouns(question):
            key = _squash(noun)
            if len(key) >= 3 and key not in self._text and key not in self._known and noun not in out:
                out.append(noun)
        return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", nfkc(text))
