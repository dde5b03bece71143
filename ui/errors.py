"""Every HTTP error is JSON ``{"error": {"code", "message"}}``; 5xx only for real faults."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import KanminError

log = logging.getLogger("kanmin.api")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class ServiceUnavailable(KanminError):
    status = 503


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _loc(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if rest and where == "body" else ".".join([where, *rest]) if rest else where
    return ".".join(parts)


def validation_message(errors: list[dict[str, Any]], limit: int = 3) -> str:
    msgs = []
    for err in errors[:limit]:
        msg = str(err.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        where = _loc(err.get("loc", ()))
        msgs.append(f"{where}: {msg}" if where else msg)
    more = len(errors) - limit
    return "; ".join(msgs) + (f" (+{more} more)" if more > 0 else "")


async def kanmin_error_handler(request: Request, exc: KanminError) -> JSONResponse:
    status = int(getattr(exc, "status", 400) or 400)
    if status >= 500:
        log.warning("kanmin error", extra={"fields": {"code": exc.code, "status": status,
                                                      "request_id": getattr(request.state, "request_id", None)}})
    return error_response(status, exc.code, exc.message)


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "request body is not valid JSON")
    ctype = request.headers.get("content-type", "")
    if request.method in ("POST", "PUT", "PATCH") and "json" not in ctype.lower() and any(
            (e.get("loc") or ("",))[0] == "body" for e in errors):
        return error_response(415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)")
    if any(e.get("type") == "model_attributes_type" or e.get("type") == "dict_type" for e in errors) and all(
            len(e.get("loc", ())) <= 1 for e in errors):
        return error_response(422, "invalid_input", "request body must be a JSON object")
    custom = [e for e in errors if (e.get("ctx") or {}).get("kanmin")]
    if custom:  # the assistant's own input checks carry their code (empty_question, question_too_long, …)
        return error_response(422, str(custom[0]["type"]), str(custom[0]["msg"]))
    return error_response(422, "invalid_input", validation_message(errors))


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    code = STATUS_CODES.get(status, "error" if status < 500 else "internal")
    detail = exc.detail if isinstance(exc.detail, str) else None
    if status == 404:
        message = detail if detail and detail != "Not Found" else f"no such endpoint: {request.method} {request.url.path}"
    elif status == 405:
        message = f"method {request.method} not allowed for {request.url.path}"
    else:
        message = detail or code.replace("_", " ")
    return error_response(status, code, message, headers=getattr(exc, "headers", None))


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc,
              extra={"fields": {"request_id": getattr(request.state, "request_id", None)}})
    return error_response(500, "internal", "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(KanminError, kanmin_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unhandled_error_handler)
