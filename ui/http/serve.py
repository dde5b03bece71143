"""CLI: kanmin serve."""
from __future__ import annotations

import argparse
import os

from ingest.errors import InvalidInput
from ingest.settings import get_settings


def cmd_serve(args) -> int:
    import uvicorn

    from ui.http.api import check_settings
    from ui.logs import configure_logging

    settings = get_settings()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    workers = args.workers if args.workers is not None else settings.workers
    if not 0 < port < 65536:
        raise InvalidInput("invalid_port", f"port must be 1..65535, got {port}")
    if not 1 <= workers <= 64:
        raise InvalidInput("invalid_workers", f"workers must be 1..64, got {workers}")
    try:
        check_settings(settings)  # e.g. a malformed KANMIN_RATE_LIMIT: one clear error, before any worker
    except ValueError as exc:
        raise InvalidInput("invalid_setting", str(exc)) from None
    configure_logging(settings)
    # Every worker (a fresh process) reads its settings from the environment: hand it the worker
    # count of --workers and its share of the cores for the embedder's threads, so N workers on a
    # box with C cores run C/N OpenMP threads each instead of N × C (measured: docs/deploy.md).
    os.environ["KANMIN_WORKERS"] = str(workers)
    os.environ["KANMIN_EMBED_THREADS"] = str(settings.model_copy(update={"workers": workers}).embed_threads_for_process())
    get_settings.cache_clear()
    # Each worker builds its container (guide + index) once, in a background thread, at start-up;
    # /healthz answers at once and /readyz turns 200 when it is loaded. Several workers share the
    # store (SQLite in WAL with one writer at a time, or PostgreSQL); rate limits are per worker
    # unless KANMIN_RATE_LIMIT_STORAGE is shared (redis://…).
    # Limits before parsing (ui/http/limits.py): h11 with a bounded header block and a header-read
    # timeout. uvicorn's own X-Forwarded-For handling is off: ui/http/proxies.py trusts only
    # KANMIN_FORWARDED_ALLOW_IPS (uvicorn's default trusts 127.0.0.1).
    options = dict(host=host, port=port, workers=workers, log_config=None, access_log=False,
                   timeout_graceful_shutdown=5, server_header=False, proxy_headers=False,
                   http="ui.http.limits:FromSettings", h11_max_incomplete_event_size=settings.max_header_bytes)
    if workers == 1:
        uvicorn.run("ui.http.serve:app_factory", factory=True, **options)
        return 0
    # several workers, each on its own SO_REUSEPORT socket (ui/http/reuseport.py: uvicorn's one shared
    # socket can hand a client's whole connection pool to one worker); started from an import string
    from ui.http.reuseport import run_workers

    run_workers(uvicorn.Config("ui.http.serve:app_factory", factory=True, **options))
    return 0


def app_factory():
    """The app as each `kanmin serve` worker builds it (logging configured in that process)."""
    from ui.http.api import create_app
    from ui.http.process_limits import cap_malloc_arenas
    from ui.logs import configure_logging

    settings = get_settings()
    cap_malloc_arenas(settings.malloc_arenas)  # before the container loader and request threads start
    configure_logging(settings)
    return create_app(settings=settings)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="HTTP API (+ Slack events, + web UI when present)")
    p.add_argument("--host", default=None, help="bind address (default: KANMIN_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: KANMIN_PORT or 8000)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: KANMIN_WORKERS or 1); each loads the guide and index")
    p.set_defaults(func=cmd_serve)
