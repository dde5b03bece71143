"""Per-client rate limiting for ``/v1/*`` (slowapi ``Limiter`` + its ``limits`` storage).

The key is the API key (hashed, never stored or logged in clear) when API keys are
configured and a valid one is presented, else the client IP. One shared bucket per
client across all ``/v1`` routes; refusals are ``429`` JSON errors with ``Retry-After``.
"""
from __future__ import annotations

import hashlib
import hmac
import time

from limits import parse_many
from slowapi import Limiter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ui.errors import error_response
from ui.metrics import Metrics

PROTECTED_PREFIX = "/v1/"


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


def make_key_func(api_keys: set[str]):
    def key_func(request: Request) -> str:
        token = bearer_token(request.headers)
        if api_keys and valid_key(token, api_keys):
            return "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]  # type: ignore[union-attr]
        return "ip:" + (request.client.host if request.client else "unknown")

    return key_func


class RateLimitMiddleware:
    """Pure ASGI middleware: checks the slowapi limiter's storage before the app runs."""

    def __init__(self, app: ASGIApp, limiter: Limiter, rate: str, metrics: Metrics):
        self.app = app
        self.limiter = limiter
        self.items = parse_many(rate)  # ValueError on a malformed setting: fail at start-up
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        request = Request(scope)
        key = self.limiter._key_func(request)
        storage = self.limiter.limiter  # limits.strategies.RateLimiter
        for item in self.items:
            if not storage.hit(item, "kanmin-v1", key):
                reset_at, _remaining = storage.get_window_stats(item, "kanmin-v1", key)
                retry = max(1, int(reset_at - time.time()) + 1)
                self.metrics.rate_limited.inc()
                resp = error_response(429, "rate_limited", f"rate limit exceeded ({item}); retry in {retry}s",
                                      headers={"Retry-After": str(retry)})
                return await resp(scope, receive, send)
        return await self.app(scope, receive, send)


def build_limiter(api_keys: set[str]) -> Limiter:
    return Limiter(key_func=make_key_func(api_keys), storage_uri="memory://", strategy="moving-window",
                   headers_enabled=False)
