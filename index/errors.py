from __future__ import annotations

from ingest.errors import KanminError


class IndexUnavailable(KanminError):
    """The index is missing, stale or corrupt; the message says how to rebuild."""

    status = 503
