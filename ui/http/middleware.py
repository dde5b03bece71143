"""Request id, access log, metrics, 500 safety net, security headers, and optional API-key auth (pure ASGI)."""
from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.errors import error_response
from ui.metrics import Metrics
from ui.http.ratelimit import (
    AUTH_FAIL_NAMESPACE, PROTECTED_PREFIX, Throttle, address_identity, bearer_token, key_identity, valid_key,
)

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Gradio puts the browser's session hash in some paths: whoever reads the log must not be able to replay it.
SESSION_IN_PATH = re.compile(r"^(/gradio_api/(?:heartbeat|queue/data|stream)/)[^/]+")
ANONYMOUS = "anon"  # the caller identity when no API keys are configured
access_log = logging.getLogger("kanmin.access")
log = logging.getLogger("kanmin.api")


def route_label(scope: Scope) -> str:
    route = scope.get("route")
    if isinstance(route, Mount):
        return f"mount:{route.path or '/'}"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Outermost: X-Request-ID on every response, one JSON log line per request, metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        state = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # the safety net: log, answer 500 JSON if nothing was sent yet
            log.error("unhandled error", exc_info=exc, extra={"fields": {"request_id": rid}})
            state["status"] = 500
            if not state["started"]:
                await error_response(500, "internal", "internal server error")(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - start
            route = route_label(scope)
            self.metrics.observe_request(scope["method"], route, int(state["status"]), seconds)
            client = scope.get("client")
            fields = {
                "method": scope["method"], "path": SESSION_IN_PATH.sub(r"\1…", scope["path"]), "route": route,
                "status": state["status"], "latency_ms": round(seconds * 1000, 2), "request_id": rid,
                "client": client[0] if client else None}
            peer = scope["state"].get("peer")
            if peer is not None and peer != fields["client"]:  # forwarded by a trusted proxy: keep both
                fields["peer"] = peer
            access_log.info("request", extra={"fields": fields})


class ApiKeyMiddleware:
    """When API keys are configured, ``/v1/*`` requires ``Authorization: Bearer <key>``.

    Sets ``scope["state"]["caller"]``: the key's identity, or ``anon`` without keys (sessions and
    rate limits are per caller). Wrong keys are answered 401, and once an address has sent more wrong
    keys than the rate limit allows, 429 (guessing throttled); a missing key is always a plain 401.
    """

    def __init__(self, app: ASGIApp, keys: set[str], throttle: Throttle | None = None):
        self.app = app
        self.keys = keys
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        if not self.keys:
            scope.setdefault("state", {})["caller"] = ANONYMOUS
            return await self.app(scope, receive, send)
        token = bearer_token(Headers(scope=scope))
        if token is None:
            resp = error_response(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                                  headers={"WWW-Authenticate": "Bearer"})
            return await resp(scope, receive, send)
        if not valid_key(token, self.keys):
            retry = self.throttle.hit(AUTH_FAIL_NAMESPACE, address_identity(scope)) if self.throttle else None
            if retry is not None:
                return await self.throttle.refusal(retry)(scope, receive, send)  # type: ignore[union-attr]
            resp = error_response(401, "unauthorized", "invalid API key",
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return await resp(scope, receive, send)
        scope.setdefault("state", {})["caller"] = key_identity(token)
        return await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Headers browsers need on every response (UI and API): no framing (clickjacking of the feedback
    buttons), no MIME sniffing, no referrer leaking paths. With ``allowed_hosts`` set, any other Host
    header is refused 400, so a forged Host never reaches Gradio's URL building."""

    HEADERS = {
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    def __init__(self, app: ASGIApp, allowed_hosts: list[str] | None = None):
        self.app = app
        self.allowed_hosts = {h.lower() for h in allowed_hosts or []}

    def _host_ok(self, scope: Scope) -> bool:
        if not self.allowed_hosts:
            return True
        host = Headers(scope=scope).get("host", "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return host in self.allowed_hosts or name in self.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                csp = headers["Content-Security-Policy"]
                if "frame-ancestors" not in csp:  # a page's own policy (e.g. /redoc) still may not be framed
                    headers["Content-Security-Policy"] = f"{csp}; frame-ancestors 'none'"
            await send(message)

        if not self._host_ok(scope):
            return await error_response(400, "bad_host", "Host header not served here")(scope, receive, send_wrapper)
        return await self.app(scope, receive, send_wrapper)


class BodyLimitMiddleware:
    """413 JSON for request bodies over ``max_bytes`` (declared Content-Length or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return await error_response(400, "bad_request", "invalid Content-Length")(scope, receive, send)
            if int(declared) > self.max_bytes:
                return await error_response(413, "payload_too_large",
                                            f"request body over {self.max_bytes} bytes")(scope, receive, send)
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # FastAPI re-raises HTTPException from body parsing → JSON 413
                    raise HTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        return await self.app(scope, limited_receive, send)


class MethodGuardMiddleware:
    """405 JSON when the path is one of ours but the method is not, before the UI mount at "/"
    (a full-path Mount would otherwise win over a method mismatch and answer 404)."""

    def __init__(self, app: ASGIApp, routes: list):
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed: set[str] = set()
            for route in self.routes:
                match, _ = route.matches(scope)
                if match == Match.FULL:
                    allowed = set()
                    break
                if match == Match.PARTIAL:
                    allowed |= set(route.methods or ())
            if allowed:
                resp = error_response(405, "method_not_allowed",
                                      f"method {scope['method']} not allowed for {scope['path']}",
                                      headers={"Allow": ", ".join(sorted(allowed))})
                return await resp(scope, receive, send)
        return await self.app(scope, receive, send)
