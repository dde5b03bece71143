"""A fake Slack Web API: a real HTTP server on 127.0.0.1 (in a thread) that records every call."""
from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.parse
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WAIT_S = 120.0
RATE_LIMITED = ("rate_limited", 0)
DROP = ("drop",)  # generous: a loaded 2-core machine answers in well under a second


def _outcome(scripted: tuple) -> str:
    """The outcome name a scripted reply leaves in ``FakeSlack.outcomes``."""
    return {"drop": "dropped", "rate_limited": "rate_limited"}.get(scripted[0]) or f"error:{scripted[1]}"


class FakeSlack:
    """Records every Web API call: (method, params, authorization header).

    ``hold(method)`` keeps the answers to that method's calls until the block ends: each held
    call is recorded at once and its state is kept in ``outcomes`` (by call index):
    "held" while the bot waits for the answer, "answered" once answered, "abandoned" when
    the bot gave up (closed the connection) before it was answered.

    ``script(method, [...], **match)`` makes the next matching calls misbehave as Slack does,
    one scripted reply per call, in order (then normal again):

    * ``RATE_LIMITED`` / ``("rate_limited", seconds)``: HTTP 429 with ``Retry-After`` and
      ``{"ok": false, "error": "ratelimited"}`` (https://api.slack.com/docs/rate-limits);
    * ``("error", code)``: HTTP 200 ``{"ok": false, "error": code}`` — e.g. ``invalid_blocks``,
      ``msg_too_long``, ``not_in_channel`` (the chat.postMessage "Errors" table);
    * ``DROP``: the connection is closed without any response.

    Each call's outcome is kept in ``outcomes``: "rate_limited", "error:<code>", "dropped", or
    "answered" (ok); ``delivered()`` lists only the calls Slack would have shown.
    """

    def __init__(self, fail_channels: frozenset[str] = frozenset()):
        """Calls for a channel in ``fail_channels`` answer ok=false (invalid_auth), as Slack does for a bad token."""
        self.calls: list[tuple[str, dict, str]] = []
        self.outcomes: dict[int, str] = {}
        self.lock = threading.Lock()
        self.counter = 0
        self._held: dict[str, threading.Event] = {}
        self._scripts: list[tuple[str, dict, list]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                ctype = self.headers.get("content-type", "")
                if "json" in ctype:
                    params = json.loads(raw or b"{}")
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                method = self.path.rsplit("/", 1)[-1]
                with fake.lock:
                    fake.counter += 1
                    ts = f"1700000000.{fake.counter:06d}"
                    index = len(fake.calls)
                    fake.calls.append((method, params, self.headers.get("authorization", "")))
                    gate = fake._held.get(method)
                    if gate is not None:
                        fake.outcomes[index] = "held"
                    scripted = fake._next_scripted(method, params)
                    if scripted is not None:
                        # decided now, before any byte is sent: a client retrying at once (Retry-After: 0)
                        # must never find this call still looking "answered"
                        fake.outcomes[index] = _outcome(scripted)
                if scripted is not None:
                    self._misbehave(scripted)
                    return
                if gate is not None and not self._wait_open(gate):
                    with fake.lock:
                        fake.outcomes[index] = "abandoned"
                    return
                if params.get("channel") in fail_channels:
                    body = {"ok": False, "error": "invalid_auth", "warning": "superfluous_charset",
                            "response_metadata": {"messages": ["[ERROR] token rejected"]}}
                elif method == "auth.test":
                    body = {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "kanmin",
                            "team": "test", "url": "https://test.slack.com/"}
                else:
                    body = {"ok": True, "ts": ts, "channel": params.get("channel", ""), "message_ts": ts}
                if gate is not None:  # before the reply, for the same reason as a scripted outcome
                    with fake.lock:
                        fake.outcomes[index] = "answered"
                out = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def _misbehave(self, scripted: tuple) -> None:
                kind = scripted[0]
                if kind == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if kind == "rate_limited":
                    status, body, headers = 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(scripted[1])}
                else:
                    status, body, headers = 200, {"ok": False, "error": scripted[1]}, {}
                out = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(out)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

            def _wait_open(self, gate: threading.Event) -> bool:
                """Wait for ``gate``; False if the caller closed the connection first."""
                deadline = time.monotonic() + WAIT_S
                while not gate.wait(0.05):
                    if time.monotonic() > deadline:
                        return False
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    if readable:
                        try:
                            if self.connection.recv(1, socket.MSG_PEEK) == b"":
                                return False  # EOF: the client gave up waiting
                        except OSError:
                            return False
                return True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def script(self, method: str, replies: list, **match) -> None:
        """The next ``len(replies)`` calls of ``method`` matching ``match`` get these replies (see the class doc)."""
        with self.lock:
            self._scripts.append((method, match, [tuple(r) if isinstance(r, (tuple, list)) else (r,) for r in replies]))

    def _next_scripted(self, method: str, params: dict) -> tuple | None:  # under self.lock
        for m, match, replies in self._scripts:
            if m == method and replies and all(params.get(k) == v for k, v in match.items()):
                return replies.pop(0)
        return None

    def delivered(self, method: str, **match) -> list[dict]:
        """The matching calls that Slack accepted (not rate limited, rejected, dropped or abandoned)."""
        with self.lock:
            return [p for i, (m, p, _) in enumerate(self.calls)
                    if m == method and all(p.get(k) == v for k, v in match.items())
                    and self.outcomes.get(i, "answered") == "answered"]

    @contextmanager
    def hold(self, *methods: str):
        """Keep the answers to ``methods`` (e.g. "chat.postMessage") until the block ends."""
        gate = threading.Event()
        with self.lock:
            for m in methods:
                self._held[m] = gate
        try:
            yield gate
        finally:
            with self.lock:
                for m in methods:
                    self._held.pop(m, None)
            gate.set()

    def of(self, method: str, **match) -> list[dict]:
        with self.lock:
            return [p for m, p, _ in self.calls if m == method and all(p.get(k) == v for k, v in match.items())]

    def outcome_of(self, method: str, **match) -> list[str]:
        """The held-call states ("held" / "answered" / "abandoned") of the matching calls, in order."""
        with self.lock:
            return [self.outcomes.get(i, "answered") for i, (m, p, _) in enumerate(self.calls)
                    if m == method and all(p.get(k) == v for k, v in match.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = WAIT_S, **match) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(method, **match)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{method} {match} not called {count}x in {timeout}s; calls: "
                             f"{[(m, p.get('channel'), p.get('thread_ts')) for m, p, _ in self.calls]}")

    def close(self):
        with self.lock:
            gates = list(self._held.values())
        for g in gates:
            g.set()
        self.httpd.shutdown()
        self.httpd.server_close()
