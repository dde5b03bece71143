"""Question language: Japanese when it has any kana or kanji, else English."""
from __future__ import annotations

import re

_JA = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def detect_language(text: str) -> str:
    return "ja" if _JA.search(text) else "en"
