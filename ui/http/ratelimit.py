"""Per-caller rate limiting (slowapi ``Limiter`` + its ``limits`` storage) for ``/v1/*`` and UI events.

The key is the caller's identity: the API key (hashed, never stored or logged in clear) when a
valid one is presented, else the client address (the TCP peer, or the address a trusted proxy
forwarded: ui/http/proxies.py). One bucket per caller for all of ``/v1``, and one at the same rate for
the web UI's events (ui/http/ui_door.py: a page load fires several, and they must not eat the API's).
Refusals are ``429`` JSON errors with ``Retry-After``. Wrong API keys are throttled separately,
per address (ui/middleware.ApiKeyMiddleware), after they have been answered 401.

The counters live in ``KANMIN_RATE_LIMIT_STORAGE``: ``memory://`` (per process, the default) or a
shared ``redis://…`` so that N/minute holds across replicas. If the shared storage cannot be
reached, each process falls back to its own memory counters (logged, /readyz says not ready)
rather than refusing or failing every request.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time

from limits import parse_many
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from slowapi import Limiter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ui.errors import error_response
from ui.metrics import Metrics

log = logging.getLogger("kanmin.ratelimit")

PROTECTED_PREFIX = "/v1/"
CALLER_NAMESPACE = "kanmin-v1"  # one bucket per caller for /v1
UI_NAMESPACE = "kanmin-ui"  # and one, at the same rate, for the web UI's events
AUTH_FAIL_NAMESPACE = "kanmin-authfail"  # wrong keys, per address
MEMORY = "memory://"
FALLBACK_LOG_EVERY_S = 60.0  # one warning a minute while the shared storage is unreachable
SHARED_RETRY_S = 5.0  # after a shared-storage failure, count per process this long before trying again


def bearer_token(headers) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def valid_key(token: str | None, keys: set[str]) -> bool:
    if not token:
        return False
    ok = False
    for k in keys:  # compare against every key: constant time per key, no early exit
        ok |= hmac.compare_digest(token.encode("utf-8", "replace"), k.encode("utf-8"))
    return ok


def key_identity(token: str) -> str:
    """A stable, non-reversible name for an API key (rate-limit bucket, session namespace)."""
    return "key:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


def address_identity(scope: Scope) -> str:
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


def make_key_func(api_keys: set[str]):
    def key_func(request: Request) -> str:
        token = bearer_token(request.headers)
        if api_keys and valid_key(token, api_keys):
            return key_identity(token)  # type: ignore[arg-type]
        return address_identity(request.scope)

    return key_func


class Throttle:
    """``limits``' moving window on the limiter's storage: ``hit(namespace, key)`` → None, or the
    seconds to wait when the caller is over the limit."""

    def __init__(self, limiter: Limiter, rate: str, metrics: Metrics):
        self.storage = limiter.limiter  # limits.strategies.RateLimiter
        self.fallback = MovingWindowRateLimiter(MemoryStorage())  # used only while a shared storage is down
        self.items = parse_many(rate)  # ValueError on a malformed setting: fail at start-up
        self.metrics = metrics
        self._warned_at = 0.0
        self._shared_down_until = 0.0

    def hit(self, namespace: str, key: str) -> int | None:
        # hits run in the event loop: after a failure, skip the shared storage for a while, so an
        # unreachable Redis costs one timeout per SHARED_RETRY_S, not one per request
        if time.monotonic() < self._shared_down_until:
            return self._hit(self.fallback, namespace, key)
        try:
            return self._hit(self.storage, namespace, key)
        except Exception as exc:  # noqa: BLE001 - redis errors vary by version; any of them means "unreachable"
            now = time.monotonic()
            self._shared_down_until = now + SHARED_RETRY_S
            if now - self._warned_at > FALLBACK_LOG_EVERY_S:
                self._warned_at = now
                log.warning("rate-limit storage unreachable; counting per process",
                            extra={"fields": {"error": type(exc).__name__}})
            return self._hit(self.fallback, namespace, key)

    def _hit(self, storage, namespace: str, key: str) -> int | None:
        for item in self.items:
            if not storage.hit(item, namespace, key):
                reset_at, _remaining = storage.get_window_stats(item, namespace, key)
                self.metrics.rate_limited.inc()
                return max(1, int(reset_at - time.time()) + 1)
        return None

    def storage_ok(self) -> bool:
        """True for memory; for a shared storage, whether it answers a ping (for /readyz)."""
        try:
            return bool(self.storage.storage.check())
        except Exception:  # noqa: BLE001
            return False

    def refusal(self, retry: int):
        return error_response(429, "rate_limited", f"rate limit exceeded; retry in {retry}s",
                              headers={"Retry-After": str(retry)})


class RateLimitMiddleware:
    """Pure ASGI, inside ApiKeyMiddleware: only authenticated (or, without keys, anonymous) ``/v1``
    calls reach it, so a wrong key is told 401 before any 429."""

    def __init__(self, app: ASGIApp, limiter: Limiter, rate: str, metrics: Metrics):
        self.app = app
        self.limiter = limiter
        self.throttle = Throttle(limiter, rate, metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        retry = self.throttle.hit(CALLER_NAMESPACE, self.limiter._key_func(Request(scope)))
        if retry is not None:
            return await self.throttle.refusal(retry)(scope, receive, send)
        return await self.app(scope, receive, send)


def storage_options(uri: str, timeout_s: float) -> dict:
    """Connection options for the storage named by ``uri`` (ValueError when it cannot be used)."""
    options = {} if uri.startswith(MEMORY) else {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    try:
        storage_from_string(uri, **options)  # validates the scheme and the client library; no connection yet
    except (ConfigurationError, ValueError) as exc:
        raise ValueError(f"KANMIN_RATE_LIMIT_STORAGE {uri.split('@')[-1]!r}: {exc}") from None
    return options


def build_limiter(api_keys: set[str], storage_uri: str = MEMORY, timeout_s: float = 0.5) -> Limiter:
    uri = storage_uri.strip() or MEMORY
    return Limiter(key_func=make_key_func(api_keys), storage_uri=uri, strategy="moving-window",
                   storage_options=storage_options(uri, timeout_s), headers_enabled=False)
