"""One door for the web UI: the Gradio app at "/" behind the same API keys as ``/v1``.

Wraps the Gradio mount (pure ASGI), so every path under "/" (page, config, ``/gradio_api/queue/join``,
``/gradio_api/file=…``, websockets) passes here first:

* ``POST /gradio_api/upload`` (and the older ``/upload``) is refused always: the UI has no file inputs,
  and an open upload route was anonymous disk space served back to anyone.
* With ``KANMIN_API_KEYS`` set, a request needs the login cookie: ``GET /auth/login`` is a small form,
  ``POST /auth/login`` checks the key (wrong keys throttled per address like ``/v1``) and sets a cookie
  signed with itsdangerous (HMAC-SHA256 over ``KANMIN_UI_SECRET``, else a per-process random secret):
  HttpOnly, SameSite=Strict, ``Secure`` over https, expiring after ``KANMIN_UI_SESSION_HOURS``. The
  cookie names the key's identity (its hash), so removing a key from the setting logs its users out.
* UI events (POSTs under ``/gradio_api/``) are rate limited per caller (the logged-in key, else the
  address) at ``KANMIN_RATE_LIMIT``, in a bucket of their own beside the caller's ``/v1`` one.

Without keys the UI stays open (docs/security.md): only the upload refusal and the limits apply.
"""
from __future__ import annotations

import hashlib
import html
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.errors import error_response
from ui.http.ratelimit import AUTH_FAIL_NAMESPACE, UI_NAMESPACE, Throttle, address_identity, key_identity, valid_key

COOKIE = "kanmin_ui"
LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
MAX_LOGIN_BODY = 4096
_UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
_EVENT_PREFIX = "/gradio_api/"

_PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>kanmin — ログイン / sign in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}button{{padding:.5rem 1rem}}
.err{{color:#b00020}}</style></head><body>
<h1>kanmin</h1><p>API キーを入力してください / Enter your API key.</p>{error}
<form method="post" action="{action}"><label for="k">API key</label>
<input id="k" name="api_key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">ログイン / Sign in</button></form></body></html>"""


class UiDoor:
    """ASGI wrapper around the mounted UI app (see the module docstring)."""

    def __init__(self, app: ASGIApp, keys: set[str], throttle: Throttle, secret: str = "",
                 session_hours: float = 12.0):
        self.app = app
        self.keys = keys
        self.throttle = throttle
        self.max_age = max(60, int(session_hours * 3600))
        # a random secret means logins end with the process; set KANMIN_UI_SECRET to keep them
        self.signer = URLSafeTimedSerializer(secret or secrets.token_hex(32), salt="kanmin-ui-login",
                                             signer_kwargs={"digest_method": hashlib.sha256})
        self.identities = {key_identity(k) for k in keys}

    # -- cookie ---------------------------------------------------------------------------------
    def caller(self, scope: Scope) -> str | None:
        """The logged-in key identity from a valid, unexpired cookie, else None."""
        raw = Headers(scope=scope).get("cookie")
        if not raw:
            return None
        try:
            morsel = SimpleCookie(raw).get(COOKIE)
        except Exception:  # noqa: BLE001 - a malformed Cookie header is simply no login
            return None
        if morsel is None:
            return None
        try:
            identity = self.signer.loads(morsel.value, max_age=self.max_age)
        except BadSignature:  # (SignatureExpired is a BadSignature)
            return None
        return identity if isinstance(identity, str) and identity in self.identities else None

    def _set_cookie(self, response: Response, scope: Scope, identity: str) -> None:
        response.set_cookie(COOKIE, self.signer.dumps(identity), max_age=self.max_age, path="/", httponly=True,
                            samesite="strict", secure=scope.get("scheme") == "https")

    # -- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope.get("method", "GET")
        if scope["type"] == "http" and path.startswith(_UPLOAD_PATHS):
            return await error_response(403, "uploads_disabled", "file uploads are not accepted")(scope, receive, send)
        if self.keys and path == LOGIN_PATH and scope["type"] == "http":
            return await self._login(scope, receive, send)
        if self.keys and path == LOGOUT_PATH and scope["type"] == "http":
            resp = RedirectResponse(LOGIN_PATH, status_code=303)
            resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            return await resp(scope, receive, send)
        identity = None
        if self.keys:
            identity = self.caller(scope)
            if identity is None:
                return await self._refuse(scope, receive, send)
        if scope["type"] == "http" and method == "POST" and path.startswith(_EVENT_PREFIX):
            retry = self.throttle.hit(UI_NAMESPACE, identity or address_identity(scope))
            if retry is not None:
                return await self.throttle.refusal(retry)(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # closing before accept is a 403 to the client
            return await send({"type": "websocket.close", "code": 1008})
        accept = Headers(scope=scope).get("accept", "")
        if scope["method"] in ("GET", "HEAD") and "text/html" in accept:
            return await RedirectResponse(LOGIN_PATH, status_code=303)(scope, receive, send)
        resp = error_response(401, "unauthorized", f"sign in first: {LOGIN_PATH} (the web UI needs an API key)")
        return await resp(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in ("GET", "HEAD"):
            return await self._page(scope, receive, send, 200)
        if scope["method"] != "POST":
            resp = error_response(405, "method_not_allowed", f"method {scope['method']} not allowed for {LOGIN_PATH}",
                                  headers={"Allow": "GET, HEAD, POST"})
            return await resp(scope, receive, send)
        body = await _read_body(receive, MAX_LOGIN_BODY)
        if body is None:
            return await error_response(413, "payload_too_large", "login form too large")(scope, receive, send)
        try:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=4)
        except (UnicodeDecodeError, ValueError):
            fields = {}
        key = (fields.get("api_key") or [""])[0].strip()
        if not valid_key(key, self.keys):
            retry = self.throttle.hit(AUTH_FAIL_NAMESPACE, address_identity(scope))
            if retry is not None:
                return await self.throttle.refusal(retry)(scope, receive, send)
            return await self._page(scope, receive, send, 401, "API キーが正しくありません / invalid API key")
        resp = RedirectResponse("/", status_code=303)
        self._set_cookie(resp, scope, key_identity(key))
        return await resp(scope, receive, send)

    async def _page(self, scope: Scope, receive: Receive, send: Send, status: int, error: str = "") -> None:
        accept = Headers(scope=scope).get("accept", "")
        if status != 200 and "text/html" not in accept:
            return await error_response(status, "unauthorized", "invalid API key")(scope, receive, send)
        err = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
        page = _PAGE.format(error=err, action=LOGIN_PATH)
        resp = HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
        return await resp(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    body = b""
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return body


def wrap_mount(app, door_factory) -> bool:
    """Wrap the app of the Mount at "/" (the UI) with ``door_factory(inner)``; False if there is none."""
    from starlette.routing import Mount

    for route in app.router.routes:
        if isinstance(route, Mount) and route.path == "":
            route.app = door_factory(route.app)
            return True
    return False
