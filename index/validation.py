"""Input validation for retrieval requests, shared by every front door.

Kept free of heavy imports (no models, no indexes) so a CLI or HTTP handler
can reject a bad request in microseconds, before anything is loaded.
"""
from __future__ import annotations

import unicodedata
from typing import Literal

from ingest.errors import InvalidInput
from ingest.models import PERSONAS

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")
MAX_QUERY_CHARS = 2000
MAX_K = 100
# Persona values that mean "no preference" (assistant.schema uses "any").
NEUTRAL_PERSONAS = frozenset({"", "any", "all"})
# Tabs and newlines occur in pasted questions; other C0/C1 controls do not.
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def is_mostly_latin(text: str) -> bool:
    """True for an English (Latin-script) question, False for Japanese."""
    latin = other = 0
    for ch in text:
        if ch.isalpha():
            if ch.isascii():
                latin += 1
            else:
                other += 1
    return latin > 2 * other


def validate_query(query: object) -> str:
    """The query, stripped; InvalidInput with a clear message otherwise."""
    if not isinstance(query, str):
        raise InvalidInput("invalid_query", f"the query must be text, got {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(
            "query_too_long", f"the query is {len(query):,} characters long; the limit is {MAX_QUERY_CHARS:,}"
        )
    for i, ch in enumerate(query):
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs"):  # Cs: undecodable bytes
            raise InvalidInput(
                "query_control_chars", f"the query contains a control character (U+{ord(ch):04X}) at position {i}"
            )
    stripped = query.strip()
    if not stripped:
        raise InvalidInput("empty_query", "the query is empty: ask a question about the guide")
    return stripped


def validate_persona(persona: object) -> str | None:
    if persona is None:
        return None
    if not isinstance(persona, str) or (persona not in PERSONAS and persona not in NEUTRAL_PERSONAS):
        raise InvalidInput(
            "invalid_persona", f"unknown persona {persona!r}: use one of {', '.join(PERSONAS)} (or omit it)"
        )
    return None if persona in NEUTRAL_PERSONAS else persona


def validate_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput("invalid_k", f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k


def validate_mode(mode: object) -> str:
    if mode not in MODES:
        raise InvalidInput("invalid_mode", f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]
