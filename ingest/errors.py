"""Errors the caller can fix. Every front door turns them into a clear message
(HTTP 4xx JSON ``{"error": {"code", "message"}}``, CLI one line + exit 2)."""
from __future__ import annotations


class KanminError(Exception):
    """Carries a stable machine-readable ``code`` and a one-line message."""

    status = 400

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(KanminError):
    status = 422


class NotFound(KanminError):
    status = 404


class IngestError(KanminError):
    """The guide text is missing, unreadable, or not of the expected shape."""

    status = 422
