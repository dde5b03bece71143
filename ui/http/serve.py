"""CLI: kanmin serve."""
from __future__ import annotations

import argparse

from ingest.errors import InvalidInput
from ingest.settings import get_settings


def cmd_serve(args) -> int:
    import uvicorn

    from ui.http.api import create_app
    from ui.http.limits import bounded_h11
    from ui.logs import configure_logging

    settings = get_settings()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    if not 0 < port < 65536:
        raise InvalidInput("invalid_port", f"port must be 1..65535, got {port}")
    configure_logging(settings)
    try:
        app = create_app(settings=settings)
    except ValueError as exc:  # e.g. a malformed KANMIN_RATE_LIMIT
        raise InvalidInput("invalid_setting", str(exc)) from None
    # One worker: the container (guide + index) is built once, in a background thread, at start-up;
    # /healthz answers at once and /readyz turns 200 when it is loaded.
    # Limits before parsing (ui/http/limits.py): h11 with a bounded header block and a header-read
    # timeout. uvicorn's own X-Forwarded-For handling is off: ui/http/proxies.py trusts only
    # KANMIN_FORWARDED_ALLOW_IPS (uvicorn's default trusts 127.0.0.1).
    uvicorn.run(app, host=host, port=port, workers=1, log_config=None, access_log=False,
                timeout_graceful_shutdown=5, server_header=False, proxy_headers=False,
                http=bounded_h11(settings.header_timeout_s),
                h11_max_incomplete_event_size=settings.max_header_bytes)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="HTTP API (+ Slack events, + web UI when present)")
    p.add_argument("--host", default=None, help="bind address (default: KANMIN_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: KANMIN_PORT or 8000)")
    p.set_defaults(func=cmd_serve)
