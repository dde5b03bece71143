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
