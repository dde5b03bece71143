"""Limits before parsing: uvicorn's h11 protocol with a bounded header block and a header-read timeout.

uvicorn picks httptools when it is installed, which buffers an unfinished header block without
limit (10 connections × 30 MB cost 710 MB of RSS, before any auth). h11 refuses a header block
over ``h11_max_incomplete_event_size`` (400, connection closed); this subclass also closes a
connection whose request line + headers have not fully arrived within ``header_timeout_s``
(slowloris), whether it is a new connection or the next request on a kept-alive one.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ingest.settings import get_settings


def bounded_h11(header_timeout_s: float) -> type[H11Protocol]:
    """An H11Protocol subclass with the given header-read timeout (uvicorn takes a class, not options)."""

    class BoundedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm_header_timer()  # inside a header block (or between requests): the clock runs
            else:
                self._cancel_header_timer()  # the request line and headers are in

        def send_400_response(self, msg: str) -> None:
            # the API's error contract even before the app: JSON, not uvicorn's text/plain
            body = json.dumps({"error": {"code": "bad_request", "message": "invalid HTTP request (malformed, or "
                                         "request line + headers over the size limit)"}}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"connection", b"close")]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_s, self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return BoundedH11Protocol



def __getattr__(name: str) -> Any:
    """``ui.http.limits:FromSettings``: the protocol with the settings' timeout, by import string, as
    uvicorn's worker processes need it (a class made in the parent cannot be sent to them)."""
    if name == "FromSettings":
        return bounded_h11(get_settings().header_timeout_s)
    raise AttributeError(name)
