"""Issue #18, written as attacks on real `kanmin serve` processes (127.0.0.1, their own SQLite files).

Four servers, started side by side once for the module:

* ``keyed``: API keys, Slack (a fake Slack Web API), an allowed-hosts list, a nested state directory;
* ``limited``: API keys and 3 requests a minute (wrong-key throttle, UI events limited per caller);
* ``open``: no keys (the UI and API are open by design), a 3 s header-read timeout;
* ``proxied``: no keys, 3 a minute, ``KANMIN_FORWARDED_ALLOW_IPS=127.0.0.1`` (a trusted proxy).

Each test fails on the code before #18 (which answered these attacks 200 / 500 / not at all) and
passes after; a few parameter variants (e.g. a well-formed but wrong Slack signature, upload paths
that never routed) are guards that already held. Nothing waits for a fixed time: the server's own answers, logs and /proc are polled
with generous deadlines.
"""
from __future__ import annotations

import json
import re
import secrets
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest

from helpers_reliability import assert_http_error, complete_lines, raw_http, start_servers, wait_log, wait_until
from test_slack_events import event_payload, mention, sign

KEYS = {name: f"sec-{name}-" + secrets.token_hex(16) for name in ("a", "b", "ui")}
LIMITED_KEYS = {name: f"lim-{name}-" + secrets.token_hex(16) for name in ("ui", "valid")}
SLACK_SECRET = "sec-signing-" + uuid.uuid4().hex
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def servers(tmp_path_factory, fake_slack):
    state = tmp_path_factory.mktemp("keyed-state")
    db = state / "private" / "db" / "kanmin.sqlite3"  # directories the store creates itself
    configs = {
        "keyed": {"KANMIN_API_KEYS": ",".join(KEYS.values()), "KANMIN_SLACK_SIGNING_SECRET": SLACK_SECRET,
                  "KANMIN_SLACK_BOT_TOKEN": "xoxb-sec-" + uuid.uuid4().hex,
                  "KANMIN_SLACK_API_BASE_URL": fake_slack.url, "KANMIN_RATE_LIMIT": "1000/minute",
                  "KANMIN_ALLOWED_HOSTS": "127.0.0.1,localhost", "KANMIN_DB_PATH": str(db)},
        "limited": {"KANMIN_API_KEYS": ",".join(LIMITED_KEYS.values()), "KANMIN_RATE_LIMIT": "3/minute"},
        "open": {"KANMIN_RATE_LIMIT": "1000/minute", "KANMIN_HEADER_TIMEOUT_S": "3"},
        "proxied": {"KANMIN_RATE_LIMIT": "3/minute", "KANMIN_FORWARDED_ALLOW_IPS": "127.0.0.1"},
    }
    srvs = start_servers(tmp_path_factory.mktemp("security"), configs)
    srvs["keyed"].db = db
    yield srvs
    from conftest import stop_server

    for s in srvs.values():
        stop_server(s)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def access_line(server, rid: str) -> dict:
    line = wait_log(server, f'"request_id": "{re.escape(rid)}".*"logger": "kanmin.access"|'
                            f'"logger": "kanmin.access".*"request_id": "{re.escape(rid)}"')[0]
    return json.loads(line)


# -- 8. Slack signature errors of any kind: 401, never 500, one log line ------------------------------------
GARBAGE = [("X-Slack-Request-Timestamp", v) for v in ("abc", "1.5", "0x10", "99999999999999999999999999", "-",
                                                     "１７００".encode())]
GARBAGE += [("X-Slack-Signature", v) for v in ("v0=ü".encode("latin-1"), "v0=" + "é" * 64, "v1=00", "=")]


@pytest.mark.parametrize("header,value", GARBAGE)
def test_garbage_slack_signature_headers_are_401_not_500(servers, header, value):
    srv = servers["keyed"]
    body = json.dumps(event_payload(mention("原課とは？"))).encode()
    headers = {"content-type": "application/json", **sign(body, secret=SLACK_SECRET)}
    headers[header] = value
    rid = "slack-sig-" + uuid.uuid4().hex[:8]
    headers = {k: v if isinstance(v, bytes) else v.encode("utf-8") for k, v in {**headers, "X-Request-ID": rid}.items()}
    before = len(srv.log())
    r = httpx.post(srv.url + "/slack/events", content=body, headers=headers, timeout=TIMEOUT)
    assert_http_error(r, 401, "invalid_signature")
    access_line(srv, rid)
    lines = [ln for ln in srv.log().splitlines() if rid in ln]
    assert len(lines) == 1, lines  # the access line only: no error record
    assert "Traceback" not in srv.log()[before:]


# -- 9. log lines escape C0/C1 controls and line/paragraph separators ----------------------------------------
def test_separator_in_path_stays_one_log_line(servers):
    srv = servers["open"]
    rid = "sep-" + uuid.uuid4().hex[:8]
    target = "/nothing%E2%80%A8forged%C2%85line%C2%9B31m%E2%80%A9%1B%5B2J%E2%80%AEend"
    status, _, _ = raw_http(srv.port, target, headers={"X-Request-ID": rid})
    assert status == 404 or 400 <= status < 500, status
    entry = access_line(srv, rid)  # str.splitlines() splits on U+2028/U+2029/U+0085: one line = parses
    assert entry["path"] == "/nothing\u2028forged\u0085line\u009b31m\u2029\x1b[2J\u202eend"
    raw = srv.log()
    for ch in ("\u2028", "\u2029", "\u0085", "\u009b", "\x1b", "\u202e"):
        assert ch not in raw, repr(ch)


# -- 6. trusted proxies explicit; wrong keys 401 before 429, guessing throttled per address -------------------
def test_rotating_forwarded_for_from_an_untrusted_peer_hits_the_limit(servers):
    srv = servers["limited"]
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        def spoof() -> dict[str, str]:
            return {"X-Forwarded-For": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7"}

        # no key at all: always 401, however often (the limiter never answers before auth)
        for _ in range(5):
            assert_http_error(c.get("/v1/toc", headers=spoof()), 401, "unauthorized")
        # wrong keys are told 401 first, then guessing is throttled per peer, whatever XFF says
        codes = [c.get("/v1/toc", headers={**spoof(), **bearer("guess-" + secrets.token_hex(8))}).status_code
                 for _ in range(4)]
        assert codes == [401, 401, 401, 429], codes
        rid = "xff-" + uuid.uuid4().hex[:8]
        r = c.get("/v1/toc", headers={"X-Forwarded-For": "<script>alert(1)</script>", "X-Request-ID": rid,
                                      **bearer("guess-again")})
        assert_http_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        # the login form shares the guessing throttle
        r = c.post("/auth/login", data={"api_key": "guess-form"}, headers=spoof())
        assert_http_error(r, 429, "rate_limited")
        # a valid key is its own bucket: not locked out by the guesses from its office's address
        assert c.get("/v1/toc", headers={**spoof(), **bearer(LIMITED_KEYS["valid"])}).status_code == 200
    entry = access_line(srv, rid)
    assert entry["client"] == "127.0.0.1" and "peer" not in entry
    assert "<script>" not in srv.log()


def test_forwarded_for_believed_only_from_a_trusted_proxy(servers):
    srv = servers["proxied"]
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        one = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}  # client, then an inner trusted hop
        assert [c.get("/v1/toc", headers=one).status_code for _ in range(3)] == [200] * 3
        assert_http_error(c.get("/v1/toc", headers=one), 429, "rate_limited")
        rid = "fwd-" + uuid.uuid4().hex[:8]
        assert c.get("/v1/toc", headers={"X-Forwarded-For": "198.51.100.8", "X-Request-ID": rid}).status_code == 200
        entry = access_line(srv, rid)
        assert entry["client"] == "198.51.100.8" and entry["peer"] == "127.0.0.1"
        # a forged hop is not an address: the peer is the client
        rid = "fwd-bad-" + uuid.uuid4().hex[:8]
        c.get("/v1/toc", headers={"X-Forwarded-For": "<script>x</script>", "X-Request-ID": rid})
        entry = access_line(srv, rid)
        assert entry["client"] == "127.0.0.1" and "peer" not in entry
    assert "<script>" not in srv.log()


# -- 1, 2. one door: the UI behind the API keys; uploads refused; UI events rate limited -------------------
UI_PATHS = [("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/run/predict"), ("GET", "/config"),
            ("GET", "/gradio_api/info"), ("GET", "/gradio_api/file=/etc/passwd"),
            ("GET", "/gradio_api/queue/data?session_hash=abc"), ("GET", "/gradio_api/heartbeat/abc")]


def test_keyed_ui_refuses_anonymous_asks_and_uploads(servers):
    srv = servers["keyed"]
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        r = c.get("/", headers={"Accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/auth/login"
        for method, path in UI_PATHS:
            body = {"data": ["原課とは？"], "fn_index": 0, "session_hash": "x"} if method == "POST" else None
            assert_http_error(c.request(method, path, json=body), 401, "unauthorized")
        # a forged or foreign cookie is no login
        for cookie in ("forged", "eyJ4Ijoia2V5OmFiIn0.AAAA.BBBB", ""):
            c.cookies.set("kanmin_ui", cookie)
            assert_http_error(c.post("/gradio_api/queue/join", json={}), 401, "unauthorized")
        c.cookies.clear()
        assert_http_error(c.post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000)}), 403,
                          "uploads_disabled")
        assert_http_error(c.post("/auth/login", data={"api_key": "not-a-key"}), 401, "unauthorized")


def test_keyed_ui_login_then_ask(servers):
    srv = servers["keyed"]
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        page = c.get("/auth/login")
        assert page.status_code == 200 and 'name="api_key"' in page.text
        r = c.post("/auth/login", data={"api_key": KEYS["ui"]})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "kanmin_ui=" in cookie and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert KEYS["ui"] not in cookie  # the cookie names the key's hash, not the key
        # behind the door the UI is itself: its config, and its queue takes an event
        config = c.get("/config")
        assert config.status_code == 200, config.text[:200]
        config = config.json()
        comps = {x["id"]: x for x in config["components"]}
        fn = next(i for i, d in enumerate(config["dependencies"]) if d.get("backend_fn"))
        data = [comps[i]["props"].get("value") for i in config["dependencies"][fn]["inputs"]]
        r = c.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn, "session_hash": uuid.uuid4().hex[:11]})
        assert r.status_code == 200 and r.json().get("event_id"), r.text[:300]
        # Gradio's traffic monitoring (its functions, counts and timings) is off, also after login
        assert c.get("/monitoring/summary").status_code == 403
        # uploads stay refused after login
        assert_http_error(c.post("/gradio_api/upload", files={"files": ("a.txt", b"x")}), 403, "uploads_disabled")
        # logged out: the door is shut again
        c.get("/auth/logout")
        assert_http_error(c.post("/gradio_api/queue/join", json={}), 401, "unauthorized")


@pytest.mark.parametrize("target", ["/gradio_api/upload", "/gradio_api/upload/", "/gradio_api/%75pload",
                                    "//gradio_api/upload", "/gradio_api/upload?upload_id=x", "/upload"])
def test_open_server_refuses_uploads_too(servers, target):
    body = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n" + b"x" * 1000 + \
        b"\r\n--b--\r\n"
    status, head, payload = raw_http(servers["open"].port, target, method="POST", body=body,
                                     headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert 400 <= status < 500, (status, payload[:200])  # refused (403), or no such route: never stored
    assert b"a.txt" not in payload and b"/tmp/" not in payload


def test_ui_events_are_rate_limited_per_caller(servers):
    srv = servers["limited"]
    key = LIMITED_KEYS["ui"]
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        assert c.post("/auth/login", data={"api_key": key}).status_code == 303
        assert c.get("/config").status_code == 200  # pages and assets are not events
        event = {"data": [], "fn_index": 0, "session_hash": "abc"}
        codes = [c.post("/gradio_api/queue/join", json=event).status_code for _ in range(3)]
        assert 429 not in codes and 401 not in codes, codes
        assert_http_error(c.post("/gradio_api/queue/join", json=event), 429, "rate_limited")
        assert_http_error(c.post("/gradio_api/run/predict", json=event), 429, "rate_limited")
        # the UI's bucket is beside the key's /v1 bucket, not in it
        assert c.get("/v1/toc", headers=bearer(key)).status_code == 200


# -- 4. callers kept apart ----------------------------------------------------------------------------------
def test_session_id_reused_by_another_key_sees_nothing(servers):
    srv = servers["keyed"]
    sid = "shared-" + uuid.uuid4().hex[:8]
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        first = c.post("/v1/ask", json={"question": "4号随契とは？", "session_id": sid}, headers=bearer(KEYS["a"]))
        assert first.status_code == 200 and first.json()["session_id"] == sid
        # the other caller guesses the id: its follow-up has no previous turn to lean on
        other = c.post("/v1/ask", json={"question": "それはどんな場合に使える？", "session_id": sid},
                       headers=bearer(KEYS["b"]))
        assert other.status_code == 200, other.text
        assert other.json()["resolved_question"] is None
        assert "4号随契" not in json.dumps(other.json(), ensure_ascii=False).split('"citations"')[0]
        # the owner's own follow-up still resolves (the history is there, for its caller only)
        own = c.post("/v1/ask", json={"question": "それはどんな場合に使える？", "session_id": sid},
                     headers=bearer(KEYS["a"]))
        assert own.status_code == 200 and "4号随契" in (own.json()["resolved_question"] or ""), own.json()
        # the Slack and UI prefixes belong to their front doors
        for reserved in ("slack:C0MUNI:1700000000.000100", "ui-" + uuid.uuid4().hex, "SLACK:x"):
            r = c.post("/v1/ask", json={"question": "原課とは？", "session_id": reserved}, headers=bearer(KEYS["a"]))
            assert_http_error(r, 422, "reserved_session_id")


# -- 3. limits before parsing --------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024


def test_30mb_header_block_is_cut_off_with_bounded_memory(servers):
    srv = servers["open"]
    before = rss_mb(srv.proc.pid)
    chunk = b"a" * (1 << 20)
    conns, sent = [], []
    try:
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
            conns.append(s)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: ")
            n = 0
            try:
                while n < 30 * len(chunk):
                    s.sendall(chunk)
                    n += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            sent.append(n)
        # while every connection is still open on our side, the server holds none of it
        grown = rss_mb(srv.proc.pid) - before
    finally:
        for s in conns:
            s.close()
    assert all(n < 30 * len(chunk) for n in sent), sent  # each was cut off before the 30 MB were in
    assert grown < 60, f"server RSS grew {grown:.0f} MB while holding 6 unfinished header blocks"
    assert httpx.get(srv.url + "/healthz", timeout=TIMEOUT).status_code == 200
    # an oversized header block that did arrive whole is answered with the API's JSON error
    status, head, body = raw_http(srv.port, "/healthz", headers={"X-Big": "b" * 200_000})
    assert status == 400 and b"application/json" in head, head
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_trickled_header_block_is_closed_by_the_header_timeout(servers):
    srv = servers["open"]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        deadline = time.monotonic() + 120  # the server's limit is 3 s; this is only a backstop
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                s.sendall(b"X")  # a byte now and then keeps a naive read timeout happy
                s.settimeout(0.5)
                closed = s.recv(4096) == b""
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        assert closed, "the server kept an unfinished header block open for 120 s"


def test_annotate_output_is_bounded(servers):
    srv = servers["open"]
    text = "原課と官民連携とPFIと随意契約とサウンディング" * 700  # ~20 KB of glossary terms
    r = httpx.post(srv.url + "/v1/glossary/annotate", json={"text": text[:20000]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) < 256 * 1024, len(r.content)
    anns = r.json()["annotations"]
    assert int(r.headers["x-annotations-total"]) > len(anns) > 0  # the caller is told it was cut
    assert anns == sorted(anns, key=lambda a: a["start"])  # the first occurrences, in order


# -- 10. security headers, Host, state file modes -------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/auth/login", "/healthz", "/v1/toc", "/docs", "/redoc", "/nothing"])
def test_security_headers_everywhere(servers, path):
    for name in ("keyed", "open"):
        r = httpx.get(servers[name].url + path, timeout=TIMEOUT)
        h = r.headers
        assert h.get("x-frame-options") == "DENY" and "frame-ancestors 'none'" in h.get("content-security-policy", "")
        assert h.get("x-content-type-options") == "nosniff" and h.get("referrer-policy") == "no-referrer"


def test_host_not_reflected(servers):
    r = httpx.get(servers["open"].url + "/", headers={"X-Forwarded-Host": "evil.example",
                                                     "X-Forwarded-Proto": "https"}, timeout=TIMEOUT)
    assert r.status_code == 200 and "evil.example" not in r.text
    r = httpx.get(servers["keyed"].url + "/auth/login", headers={"Host": "evil.example"}, timeout=TIMEOUT)
    assert_http_error(r, 400, "bad_host")
    assert "evil.example" not in r.text


def test_state_files_private(servers):
    db = servers["keyed"].db
    wait_until(lambda: db.exists(), what="the SQLite store")
    for p in [db, *db.parent.glob(db.name + "-*")]:
        assert p.stat().st_mode & 0o077 == 0, (p, oct(p.stat().st_mode))
    for d in (db.parent, db.parent.parent):
        assert d.stat().st_mode & 0o077 == 0, (d, oct(d.stat().st_mode))


# -- 8. error logs for unauthenticated junk are one line each, and rate limited -------------------------------
def test_junk_requests_cannot_flood_the_error_log(servers):
    srv = servers["open"]
    before = len(complete_lines(srv.log()))
    rids = []
    for i in range(20):  # unknown Gradio session hashes: each one used to be a 7 KB traceback
        rid = f"junk-{i}-" + uuid.uuid4().hex[:6]
        rids.append(rid)
        try:
            httpx.get(srv.url + f"/gradio_api/queue/data?session_hash=junk{i}", headers={"X-Request-ID": rid},
                      timeout=TIMEOUT)
        except httpx.HTTPError:
            pass  # a broken stream is the library's answer; the log is what is checked here
    for rid in rids:
        access_line(srv, rid)
    new = complete_lines(srv.log())[before:]
    entries = [json.loads(line) for line in new]  # every finished line is one JSON object
    errors = [e for e in entries if e["level"] in ("error", "warning") and e.get("request_id") in rids]
    assert len(errors) <= 5, f"{len(errors)} error records for 20 junk requests"
    assert "junk" not in "".join(e.get("path", "") for e in entries)  # session hashes are not logged


def test_gradio_session_hash_never_logged(servers):
    """The review replayed a session hash read from the access log to see someone's UI history."""
    srv = servers["open"]
    secret_hash = "h" + secrets.token_hex(8)
    rid = "hb-" + uuid.uuid4().hex[:8]
    try:
        with httpx.stream("GET", srv.url + f"/gradio_api/heartbeat/{secret_hash}", headers={"X-Request-ID": rid},
                          timeout=httpx.Timeout(60.0, read=3.0)) as r:
            next(r.iter_bytes(), None)  # the heartbeat streams; one chunk is enough, then hang up
    except httpx.HTTPError:
        pass
    entry = access_line(srv, rid)
    assert entry["path"].startswith("/gradio_api/heartbeat/") and secret_hash not in srv.log()
