"""A fake Slack Web API: a real HTTP server on 127.0.0.1 (in a thread) that records every call."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSlack:
    """Records every Web API call: (method, params, authorization header)."""

    def __init__(self, fail_channels: frozenset[str] = frozenset()):
        """Calls for a channel in ``fail_channels`` answer ok=false (invalid_auth), as Slack does for a bad token."""
        self.calls: list[tuple[str, dict, str]] = []
        self.lock = threading.Lock()
        self.counter = 0
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
                    fake.calls.append((method, params, self.headers.get("authorization", "")))
                if params.get("channel") in fail_channels:
                    body = {"ok": False, "error": "invalid_auth", "warning": "superfluous_charset",
                            "response_metadata": {"messages": ["[ERROR] token rejected"]}}
                elif method == "auth.test":
                    body = {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "kanmin",
                            "team": "test", "url": "https://test.slack.com/"}
                else:
                    body = {"ok": True, "ts": ts, "channel": params.get("channel", ""), "message_ts": ts}
                out = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def of(self, method: str, **match) -> list[dict]:
        with self.lock:
            return [p for m, p, _ in self.calls if m == method and all(p.get(k) == v for k, v in match.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0, **match) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(method, **match)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{method} {match} not called {count}x in {timeout}s; calls: "
                             f"{[(m, p.get('channel'), p.get('thread_ts')) for m, p, _ in self.calls]}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
