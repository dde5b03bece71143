"""Builds the application container once, in the background, and reports readiness."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ingest.errors import KanminError
from ui.errors import ServiceUnavailable

log = logging.getLogger("kanmin.api")

RETRY_AFTER_FAILURE_S = 30.0


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, KanminError) else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())[:500] or type(exc).__name__


class ContainerHolder:
    """Thread-safe lazy holder: ``start()`` builds in a daemon thread; ``get()`` never blocks the caller
    for long (503 ``starting`` while loading, 503 with the one-line reason if loading failed)."""

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._container: Any = None
        self._error: BaseException | None = None
        self._failed_at = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._container is not None or (self._thread is not None and self._thread.is_alive()):
                return
            self._done.clear()
            self._thread = threading.Thread(target=self._build, name="kanmin-container", daemon=True)
            self._thread.start()

    def _build(self) -> None:
        t0 = time.perf_counter()
        try:
            container = self.factory()
        except BaseException as exc:  # noqa: BLE001 - reported through /readyz
            with self._lock:
                self._error, self._failed_at = exc, time.monotonic()
            log.error("container failed to load", extra={"fields": {"reason": _one_line(exc)}})
        else:
            with self._lock:
                self._container, self._error = container, None
            log.info("container loaded", extra={"fields": {"seconds": round(time.perf_counter() - t0, 3)}})
        finally:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        """Block until the first load finished (loaded or failed); False on timeout."""
        return self._done.wait(timeout)

    def _maybe_retry(self) -> None:
        if self._error is not None and time.monotonic() - self._failed_at > RETRY_AFTER_FAILURE_S:
            self.start()

    @property
    def container(self) -> Any:
        return self._container

    def status(self) -> tuple[bool, str, str]:
        """(ready, code, reason)."""
        c = self._container
        if c is None:
            if self._error is not None:
                self._maybe_retry()
                code = self._error.code if isinstance(self._error, KanminError) else "not_ready"
                return False, code, _one_line(self._error)
            if self._thread is None:
                self.start()
            return False, "starting", "loading the guide and index"
        try:
            ok, reason = c.ready()
        except Exception as exc:  # noqa: BLE001
            return False, "not_ready", _one_line(exc)
        return bool(ok), ("ready" if ok else "index_unavailable"), str(reason)

    def get(self, wait: float = 0.0) -> Any:
        """The container, or ServiceUnavailable (503) while it is loading or after it failed."""
        c = self._container
        if c is not None:
            return c
        if self._thread is None:
            self.start()
        if wait > 0:
            self._done.wait(wait)
            if self._container is not None:
                return self._container
        if self._error is not None:
            self._maybe_retry()
            err = self._error
            if isinstance(err, KanminError):
                raise ServiceUnavailable(err.code, _one_line(err))
            raise ServiceUnavailable("not_ready", _one_line(err))
        raise ServiceUnavailable("starting", "the service is still loading the guide and index; retry shortly")

    def get_loaded(self, wait: float = 0.0) -> Any:
        """Like get(), and also 503 when the container exists but its assistant is not loaded."""
        c = self.get(wait)
        if getattr(c, "assistant", None) is None:
            try:
                _ok, reason = c.ready()
            except Exception as exc:  # noqa: BLE001
                reason = _one_line(exc)
            raise ServiceUnavailable("index_unavailable", " ".join(str(reason).split()) or "not ready")
        return c

    def wait_get(self) -> Any:
        """For UI handlers: waits (bounded) while loading, then the container or ServiceUnavailable."""
        return self.get_loaded(wait=30.0)
