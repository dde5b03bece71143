"""Conversations belong to their caller: a ``/v1`` ``session_id`` is stored under the caller's namespace.

Without this, ``session_id`` was one global namespace and the follow-up resolver echoed the previous
turn, so anyone who knew or guessed an id (Slack thread ids are visible in the channel) could read
the topic of someone else's conversation and plant a turn in it. The caller's identity is the hash of
its API key (ui/ratelimit.key_identity) or ``anon`` when the server has no keys. The Slack and web-UI
front doors own the ``slack:`` and ``ui-`` prefixes, so ``/v1`` refuses them outright.
"""
from __future__ import annotations

import hashlib

from ingest.errors import InvalidInput

RESERVED_PREFIXES = ("slack:", "ui-")
API_PREFIX = "api:"
MAX_ID = 128  # assistant.inputs.check_session


def check_not_reserved(session_id: str | None) -> None:
    if session_id and session_id.lower().startswith(RESERVED_PREFIXES):
        raise InvalidInput("reserved_session_id",
                           f"session_id may not start with {' or '.join(map(repr, RESERVED_PREFIXES))}: "
                           "those belong to the Slack and web front doors")


def scoped_session(caller: str, session_id: str | None) -> str | None:
    """The stored id of ``session_id`` for ``caller`` (None stays None: no history)."""
    if not session_id:
        return None
    check_not_reserved(session_id)
    owner = caller.replace(":", "-")  # "key:ab12…" → "key-ab12…" (":" separates the parts)
    scoped = f"{API_PREFIX}{owner}:{session_id}"
    if len(scoped) > MAX_ID:  # still unique per (caller, id): the long id is hashed
        scoped = f"{API_PREFIX}{owner}:h{hashlib.sha256(session_id.encode()).hexdigest()[:40]}"
    return scoped
