"""Question language: Japanese unless Latin letters clearly dominate
("What is a 原課?" is an English question about a Japanese term)."""
from __future__ import annotations

import re

_JA = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> str:
    ja = len(_JA.findall(text))
    latin = len(_LATIN.findall(text))
    return "ja" if ja and ja * 3 >= latin else "en"


# a Latin word that reads as romanised Japanese (Tsukuba, Kitakyushu, kintone): a name the guide may
# write in kana or kanji, or a place: syllables (ka, shi, tsu, kyo…), a syllabic n, or a doubled consonant
_ROMAJI = re.compile(r"(?:(?:[kgsztdnhbpmyrwfjc]h?|sh|ch|ts|[kgnhbpmr]y)?[aiueo]|n|[kstpgdbc](?=[kstpgdbc]))+")


def reads_as_romaji(word: str) -> bool:
    return bool(_ROMAJI.fullmatch(word.lower()))
