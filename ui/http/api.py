"""The HTTP API (FastAPI): /v1/*, health, readiness, metrics, Slack events, and the Gradio UI at "/".

Every error is JSON ``{"error": {"code", "message"}}``. See docs/CONTRACTS.md for the layers.
"""
from __future__ import annotations

import importlib
import logging
import re
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Callable

import anyio.to_thread
from fastapi import FastAPI, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from limits import parse_many
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from assistant.schema import Answer, GlossaryNote
from ingest.errors import InvalidInput, NotFound
from ingest.models import Chunk, TocEntry
from ingest.settings import Settings, get_settings
from ui import errors
from ui.metrics import Metrics
from ui.http.middleware import (
    ANONYMOUS, ApiKeyMiddleware, BodyLimitMiddleware, MethodGuardMiddleware, RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from ui.models import (
    ANSWER_EXAMPLE, ID_PATTERN, MAX_TERM, AnnotateRequest, AnnotateResponse, AskRequest, FeedbackRequest,
    FeedbackResponse, Health, Ready, check_text, error_responses,
)
from ui.http.process_limits import answer_limiter, limit_request_threads
from ui.http.proxies import ProxyHeadersMiddleware, parse_networks
from ui.http.ratelimit import MEMORY, RateLimitMiddleware, Throttle, build_limiter, storage_options
from ui.runtime import ContainerHolder
from ui.http.sessions import scoped_session
from ui.slack.bot import SlackBot
from ui.http.ui_door import UiDoor, wrap_mount

log = logging.getLogger("kanmin.api")

MAX_BODY_BYTES = 1 << 20
MAX_ANNOTATIONS = 500  # the first 500 occurrences (~170 KB); X-Annotations-Total says how many there were


def _default_factory() -> Any:
    from assistant.container import get_container

    return get_container()


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def check_settings(settings: Settings) -> None:
    """The server settings that would make it fail (ValueError naming the setting), checked before
    anything starts: `kanmin serve` reports them once, not from every worker."""
    try:
        parse_many(settings.rate_limit)
    except ValueError:
        raise ValueError(f"KANMIN_RATE_LIMIT {settings.rate_limit!r} is not a rate such as '60/minute'") from None
    parse_networks(settings.forwarded_allow_ips)  # ValueError names the bad entry
    storage_options(settings.rate_limit_storage.strip() or MEMORY, settings.rate_limit_storage_timeout_s)


def create_app(container_factory: Callable[[], Any] | None = None, settings: Settings | None = None,
               start_loading: bool = True) -> FastAPI:
    """Build the app. The container is built in a background thread at start-up (lifespan)."""
    settings = settings or get_settings()
    check_settings(settings)
    holder = ContainerHolder(container_factory or _default_factory)
    metrics = Metrics()
    metrics.ready.set_function(lambda: 1.0 if getattr(holder.container, "assistant", None) is not None else 0.0)
    api_keys = settings.api_key_set()
    slack_bot = SlackBot(settings, holder, metrics)
    limiter = build_limiter(api_keys, settings.rate_limit_storage, settings.rate_limit_storage_timeout_s)
    throttle = Throttle(limiter, settings.rate_limit, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        limit_request_threads(settings.request_threads)
        app.state.answer_limiter = answer_limiter(settings.answer_threads)
        if start_loading:
            holder.start()
            if settings.serve_when_ready:
                # uvicorn opens the port only after this: a balancer without active health checks
                # (nginx OSS) then never sends a request to a replica that is still loading
                await run_in_threadpool(holder.wait, settings.serve_when_ready_timeout_s)
        slack_bot.start_socket_mode()
        yield
        slack_bot.close()

    app = FastAPI(
        title="kanmin API",
        version="0.1.0",
        description="Citation-grounded answers from the 官民連携 practice guide. Errors are "
                    '`{"error": {"code", "message"}}`. When API keys are configured, `/v1/*` needs '
                    "`Authorization: Bearer <key>`.",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: closed networks (LGWAN) have no CDN
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                   "auto_configure": False},
    )
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.settings = settings
    errors.install(app)

    def container() -> Any:
        return holder.get_loaded()

    # -- operational ----------------------------------------------------------
    @app.get("/healthz", response_model=Health, tags=["ops"], summary="process is up")
    async def healthz() -> dict:  # in the loop: never queued behind answers for a request thread
        return {"status": "ok"}

    @app.get("/readyz", response_model=Ready, tags=["ops"], summary="guide and index loaded and verified",
             responses=error_responses(503))
    def readyz() -> Any:
        ok, code, reason = holder.status()
        if not ok:
            return errors.error_response(503, code, reason)
        # shared state: a replica that cannot reach it is taken out of rotation by the balancer
        store = getattr(holder.container, "store", None)
        down = store.ping() if store is not None else None
        if down:
            return errors.error_response(503, "database_unavailable", down)
        if not throttle.storage_ok():
            return errors.error_response(503, "rate_limit_storage_unavailable", "rate-limit storage unreachable")
        return {"status": "ready", "reason": reason}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (kanmin_*)",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    # -- v1 ---------------------------------------------------------------------
    @app.post("/v1/ask", response_model=Answer, tags=["assistant"], summary="ask the guide a question",
              responses={200: {"content": {"application/json": {"example": ANSWER_EXAMPLE}}},
                         **error_responses(400, 401, 422, 429, 503)})
    async def ask(req: AskRequest, request: Request) -> Answer:
        # the conversation is stored under the caller's namespace; the caller sees its own id back
        session = scoped_session(request.scope.get("state", {}).get("caller", ANONYMOUS), req.session_id)
        c = container()
        # the answer off the loop, its response checked in the loop: a plain `def` route takes a thread
        # twice (FastAPI validates its response in the threadpool too), so under load a request queued
        # again behind all the others (p95 at concurrency 16: 934 ms, p50 471). An extractive answer
        # takes one of the worker's answer slots (KANMIN_ANSWER_THREADS); a generative one, which
        # mostly waits on the LLM, a request thread
        slots = None if req.mode == "generative" else getattr(request.app.state, "answer_limiter", None)
        if slots is not None and slots.available_tokens < 1:
            metrics.slot_waits.inc()
        answer = await anyio.to_thread.run_sync(
            partial(c.assistant.ask, req.question, persona=req.persona, session_id=session, mode=req.mode,
                    source="api"), limiter=slots)
        metrics.observe_answer(answer, "api")
        return answer.model_copy(update={"session_id": req.session_id}) if session else answer

    @app.get("/v1/glossary", response_model=list[GlossaryNote], tags=["glossary"],
             summary="glossary notes, optionally filtered by q", responses=error_responses(401, 422, 429, 503))
    def glossary(q: str | None = Query(None, max_length=MAX_TERM, description="substring / term filter")) -> Any:
        if q is not None:
            q = check_query(q, "q")
        return container().assistant.glossary(q or None)

    @app.get("/v1/glossary/{term}", response_model=GlossaryNote, tags=["glossary"], summary="one glossary term",
             responses=error_responses(401, 404, 422, 429, 503))
    def glossary_term(term: str = Path(..., max_length=MAX_TERM, examples=["原課"])) -> Any:
        term = check_query(term, "term")
        return container().assistant.glossary_term(term)

    @app.post("/v1/glossary/annotate", response_model=AnnotateResponse, tags=["glossary"],
              summary="jargon translator: glossary terms found in free text",
              responses=error_responses(400, 401, 422, 429, 503))
    def annotate(req: AnnotateRequest, response: Response) -> Any:
        found = container().assistant.annotate(req.text)
        if len(found) > MAX_ANNOTATIONS:  # each carries its glossary note: 20 KB of terms was a 3 MB answer
            response.headers["X-Annotations-Total"] = str(len(found))
            found = found[:MAX_ANNOTATIONS]
        return {"annotations": found}

    @app.get("/v1/toc", response_model=list[TocEntry], tags=["guide"], summary="table of contents",
             responses=error_responses(401, 429, 503))
    def toc() -> Any:
        return container().guide.toc

    @app.get("/v1/chunks/{chunk_id}", response_model=Chunk, tags=["guide"], summary="one retrieval chunk",
             responses=error_responses(401, 404, 429, 503))
    def chunk(chunk_id: str = Path(..., max_length=128, examples=["c01.s01-b01"])) -> Any:
        if not _ID_RE.match(chunk_id):
            raise NotFound("chunk_not_found", f"no chunk with id {chunk_id[:64]!r}")
        return container().assistant.chunk(chunk_id)

    @app.post("/v1/feedback", response_model=FeedbackResponse, tags=["assistant"], summary="rate an answer",
              responses=error_responses(400, 401, 404, 422, 429, 503))
    def feedback(req: FeedbackRequest) -> Any:
        store = container().store
        if not store.has_answer(req.answer_id):
            raise NotFound("unknown_answer", f"no answer with id {req.answer_id!r}")
        row_id = store.add_feedback(req.answer_id, req.rating, req.comment, source="api")
        metrics.feedback.labels(req.rating, "api").inc()
        return {"id": row_id, "answer_id": req.answer_id, "rating": req.rating}

    _offline_docs(app)

    # -- Slack --------------------------------------------------------------------
    app.state.slack_bot = slack_bot

    @app.post("/slack/events", tags=["slack"], summary="Slack Events API / interactivity / slash commands",
              include_in_schema=True)
    async def slack_events(request: Request) -> Response:
        return await slack_bot.handle(request)

    # -- JSON 404/405 for our prefixes (the UI mount at "/" owns every other path) -------------
    own_routes: list[APIRoute] = [r for r in app.routes if isinstance(r, APIRoute)]

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                   include_in_schema=False)
    @app.api_route("/slack/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                   include_in_schema=False)
    def not_found(request: Request, rest: str) -> Response:
        raise StarletteHTTPException(404)

    app.state.limiter = limiter
    _mount_ui(app, holder, settings, throttle)

    # -- middleware (last added = outermost) ----------------------------------------
    app.add_middleware(MethodGuardMiddleware, routes=own_routes)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    # auth before the limiter: a wrong key is told 401 (wrong keys have their own throttle)
    app.add_middleware(RateLimitMiddleware, limiter=app.state.limiter, rate=settings.rate_limit, metrics=metrics)
    app.add_middleware(ApiKeyMiddleware, keys=api_keys, throttle=throttle)
    origins = _split(settings.cors_origins)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials="*" not in origins,
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After"])
    app.add_middleware(SecurityHeadersMiddleware, allowed_hosts=_split(settings.allowed_hosts))
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(ProxyHeadersMiddleware, trusted=settings.forwarded_allow_ips)
    return app


_ID_RE = re.compile(ID_PATTERN)


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc from the fastapi-offline package's assets, not a CDN:
    closed networks (LGWAN) have none. Its Swagger UI is 5.x, which reads the OpenAPI 3.1 document
    FastAPI emits (the 4.x of swagger-ui-bundle could not: "does not specify a valid version field")."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    # the package's public API is a FastAPI factory; we only want its static directory
    assets = files("fastapi_offline") / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="kanmin API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        page = get_redoc_html(openapi_url="/openapi.json", title="kanmin API",
                              redoc_js_url="/docs-assets/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)
        # ReDoc's "API docs by Redocly" footer fetches its logo from a CDN: keep images local
        page.headers["Content-Security-Policy"] = "img-src 'self' data: blob:"
        return page


def check_query(value: str, name: str) -> str:
    try:
        return check_text(value, name, MAX_TERM)
    except ValueError as exc:
        raise InvalidInput("invalid_input", f"{name}: {exc}") from None


def _import_ui():
    """ui.web.app (which imports Gradio), or None when it is missing or broken."""
    try:
        return importlib.import_module("ui.web.app")
    except ModuleNotFoundError as exc:
        if exc.name != "ui.web.app":
            log.error("UI not mounted", extra={"fields": {"reason": f"{type(exc).__name__}: {exc}"}})
    except Exception as exc:  # noqa: BLE001 - the API must come up even if the UI is broken
        log.error("UI not mounted", extra={"fields": {"reason": f"{type(exc).__name__}: {exc}"}})
    return None


def _mount_ui(app: FastAPI, holder: ContainerHolder, settings: Settings, throttle: Throttle) -> None:
    """Mount the Gradio UI at "/" when ui.web.app exists, behind the UI door (ui/http/ui_door.py: login
    when API keys are set, no uploads, events rate limited); else (or with KANMIN_UI=false) a small
    JSON index at "/"."""
    gradio_app = None
    if not settings.ui:
        log.info("UI off (KANMIN_UI=false): '/' is the API index")
    else:
        gradio_app = _import_ui()
    if gradio_app is not None:
        try:
            gradio_app.mount(app, holder.wait_get)
            if not wrap_mount(app, lambda inner: UiDoor(inner, settings.api_key_set(), throttle, settings.ui_secret,
                                                        settings.ui_session_hours)):
                raise RuntimeError("the UI mount at '/' was not found: refusing to serve it without its door")
            app.state.ui_mounted = True
            return
        except Exception as exc:  # noqa: BLE001
            log.error("UI mount failed", exc_info=exc)
            # never leave a half-mounted UI without its door
            app.router.routes[:] = [r for r in app.router.routes if not (isinstance(r, Mount) and r.path == "")]
    app.state.ui_mounted = False

    @app.get("/", include_in_schema=False)
    def index() -> JSONResponse:
        return JSONResponse({"name": "kanmin", "docs": "/docs", "openapi": "/openapi.json",
                             "endpoints": ["/v1/ask", "/v1/glossary", "/v1/glossary/{term}",
                                           "/v1/glossary/annotate", "/v1/toc", "/v1/chunks/{id}", "/v1/feedback",
                                           "/healthz", "/readyz", "/metrics", "/slack/events"]})
