from __future__ import annotations

from ingest.errors import KanminError

REBUILD_HINT = "run `kanmin build --force`"


class IndexUnavailable(KanminError):
    """The index is missing, stale or corrupt; the message says how to rebuild."""

    status = 503


class EmbedderUnavailable(KanminError):
    """An embedder id is unknown, or its model cannot be loaded offline."""

    status = 400
