"""Request id, access log, metrics, 500 safety net, and optional API-key auth (pure ASGI)."""
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
from ui.ratelimit import PROTECTED_PREFIX, bearer_token, valid_key

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
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
            access_log.info("request", extra={"fields": {
                "method": scope["method"], "path": scope["path"], "route": route, "status": state["status"],
                "latency_ms": round(seconds * 1000, 2), "request_id": rid,
                "client": client[0] if client else None}})


class ApiKeyMiddleware:
    """When API keys are configured, ``/v1/*`` requires ``Authorization: Bearer <key>``."""

    def __init__(self, app: ASGIApp, keys: set[str]):
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.keys or not scope["path"].startswith(PROTECTED_PREFIX)
                or scope["method"] == "OPTIONS"):
            return await self.app(scope, receive, send)
        token = bearer_token(Headers(scope=scope))
        if token is None:
            resp = error_response(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                                  headers={"WWW-Authenticate": "Bearer"})
            return await resp(scope, receive, send)
        if not valid_key(token, self.keys):
            resp = error_response(401, "unauthorized", "invalid API key",
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return await resp(scope, receive, send)
        return await self.app(scope, receive, send)


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
