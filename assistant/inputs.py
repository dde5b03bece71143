"""Validation of what a person sends, shared by every front door."""
from __future__ import annotations

import re
import unicodedata

from ingest.errors import InvalidInput

MAX_QUESTION_CHARS = 2000
MAX_ANNOTATE_CHARS = 20000
PERSONAS = ("municipality", "startup", "intermediary", "any")
MODES = ("extractive", "generative")
SESSION_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def _check_text(value: object, what: str, limit: int) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{what}_not_utf8", f"the {what} is not valid UTF-8 text") from None
    if not isinstance(value, str):
        raise InvalidInput(f"invalid_{what}", f"the {what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidInput(f"{what}_too_long", f"the {what} is {len(value):,} characters; the limit is {limit:,}")
    for i, ch in enumerate(value):
        if ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidInput(f"{what}_control_chars",
                               f"the {what} contains a control character (U+{ord(ch):04X}) at position {i}")
    if "\ufffd" in value:
        raise InvalidInput(f"{what}_not_utf8", f"the {what} contains undecodable bytes (U+FFFD)")
    return value


def check_question(value: object) -> str:
    text = _check_text(value, "question", MAX_QUESTION_CHARS).strip()
    if not text:
        raise InvalidInput("empty_question", "the question is empty: ask something about the guide")
    return text


def check_annotate_text(value: object) -> str:
    text = _check_text(value, "text", MAX_ANNOTATE_CHARS)
    if not text.strip():
        raise InvalidInput("empty_text", "the text is empty")
    return text


def check_persona(value: object) -> str | None:
    if value is None or value == "":
        return None
    if value not in PERSONAS:
        raise InvalidInput("invalid_persona", f"unknown persona {value!r}: use one of {', '.join(PERSONAS)}")
    return str(value)


def check_mode(value: object) -> str | None:
    if value is None or value == "":
        return None
    if value not in MODES:
        raise InvalidInput("invalid_mode", f"unknown mode {value!r}: use extractive or generative")
    return str(value)


def check_session(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not SESSION_RE.match(value):
        raise InvalidInput("invalid_session_id", "session_id must be 1–128 characters of A–Z a–z 0–9 _ . : -")
    return value
