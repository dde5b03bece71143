"""Server modes, each a real `kanmin serve`: API keys (+ CORS), rate limiting, index missing."""
from __future__ import annotations

import re
import secrets
import time

import httpx
import pytest

from conftest import API_ONLY, start_server, stop_server

KEY_A = "ka-" + secrets.token_hex(16)
KEY_B = "kb-" + secrets.token_hex(16)
# the rate-limited server's keys: each test exhausts a bucket of its own, so order does not matter
RL_KEYS = {name: f"rl-{name}-" + secrets.token_hex(8) for name in ("spent", "other", "spare")}
TIMEOUT = httpx.Timeout(60.0)


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert r.headers.get("x-request-id")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("keyed"), {
        "KANMIN_API_KEYS": f"{KEY_A}, {KEY_B}", "KANMIN_CORS_ORIGINS": "https://portal.example.jp"})
    yield srv
    stop_server(srv)


def test_api_keys_required_on_v1(keyed):
    with httpx.Client(base_url=keyed.url, timeout=TIMEOUT) as c:
        assert_error(c.get("/v1/toc"), 401, "unauthorized")
        assert c.get("/v1/toc").headers.get("www-authenticate", "").startswith("Bearer")
        assert_error(c.get("/v1/toc", headers={"Authorization": "Bearer wrong-key"}), 401, "unauthorized")
        assert_error(c.get("/v1/toc", headers={"Authorization": f"Basic {KEY_A}"}), 401, "unauthorized")
        assert_error(c.get("/v1/toc", headers={"Authorization": "Bearer"}), 401, "unauthorized")
        assert_error(c.get("/v1/toc", headers={"Authorization": f"Bearer {KEY_A}x"}), 401, "unauthorized")
        assert_error(c.post("/v1/ask", json={"question": "原課とは"}), 401, "unauthorized")
        assert_error(c.get("/v1/no-such-route"), 401, "unauthorized")  # no route discovery without a key
        for key in (KEY_A, KEY_B):
            r = c.get("/v1/toc", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and r.json()
        r = c.post("/v1/ask", json={"question": "原課とは"}, headers={"Authorization": f"bearer {KEY_B}"})
        assert r.status_code == 200 and r.json()["citations"]


def test_open_endpoints_not_behind_keys(keyed):
    with httpx.Client(base_url=keyed.url, timeout=TIMEOUT) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        assert "kanmin_http_requests_total" in c.get("/metrics").text
        assert_error(c.post("/slack/events", content=b"{}"), 503, "slack_not_configured")
        # the UI is behind the same keys (#18): a browser is sent to the login page, which is open
        r = c.get("/", headers={"Accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/auth/login"
        assert c.get("/auth/login").status_code == 200


def wait_access_lines(server, request_ids: set[str], timeout: float = 120.0) -> None:
    """Poll the server log until the access line of every request in ``request_ids`` is written."""
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        missing = {rid for rid in request_ids if f'"request_id": "{rid}"' not in log}
        if not missing:
            return
        assert time.monotonic() < deadline, f"no access line for {missing} in {timeout:.0f} s"
        time.sleep(0.05)


def test_keys_never_logged(keyed):
    rid = secrets.token_hex(8)
    with httpx.Client(base_url=keyed.url, timeout=TIMEOUT) as c:
        assert c.get("/v1/toc", headers={"Authorization": f"Bearer {KEY_A}", "X-Request-ID": f"{rid}-a"}).status_code == 200
        assert c.get("/v1/toc", headers={"Authorization": "Bearer some-wrong-key-123",
                                         "X-Request-ID": f"{rid}-b"}).status_code == 401
    wait_access_lines(keyed, {f"{rid}-a", f"{rid}-b"})  # both requests are in the log by now
    log = keyed.log()
    assert KEY_A not in log and KEY_B not in log and "some-wrong-key-123" not in log


def test_cors_when_configured(keyed):
    with httpx.Client(base_url=keyed.url, timeout=TIMEOUT) as c:
        r = c.options("/v1/ask", headers={"Origin": "https://portal.example.jp",
                                          "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "authorization,content-type"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://portal.example.jp"
        r = c.get("/v1/toc", headers={"Origin": "https://portal.example.jp", "Authorization": f"Bearer {KEY_A}"})
        assert r.headers["access-control-allow-origin"] == "https://portal.example.jp"
        r = c.get("/v1/toc", headers={"Origin": "https://evil.example.com", "Authorization": f"Bearer {KEY_A}"})
        assert "access-control-allow-origin" not in r.headers


def test_no_cors_by_default(live_server):
    r = httpx.get(live_server.url + "/healthz", headers={"Origin": "https://portal.example.jp"}, timeout=TIMEOUT)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """One server for every rate-limit test: 3 requests a minute per client, API keys on."""
    srv = start_server(tmp_path_factory.mktemp("limited"), {
        **API_ONLY, "KANMIN_RATE_LIMIT": "3/minute", "KANMIN_API_KEYS": ",".join(RL_KEYS.values())})
    yield srv
    stop_server(srv)


def rate_limited_total(c: httpx.Client) -> float:
    m = re.search(r"^kanmin_rate_limited_total (\S+)$", c.get("/metrics").text, re.M)
    return float(m.group(1)) if m else 0.0


def test_rate_limit_per_api_key(limited):
    with httpx.Client(base_url=limited.url, timeout=TIMEOUT) as c:
        spent = {"Authorization": f"Bearer {RL_KEYS['spent']}"}
        refused_before = rate_limited_total(c)
        assert [c.get("/v1/toc", headers=spent).status_code for _ in range(3)] == [200] * 3
        r = c.get("/v1/toc", headers=spent)
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        # one bucket for all of /v1
        assert_error(c.post("/v1/ask", json={"question": "原課"}, headers=spent), 429, "rate_limited")
        # another key has its own bucket
        other = {"Authorization": f"Bearer {RL_KEYS['other']}"}
        assert c.get("/v1/toc", headers=other).status_code == 200
        # operational endpoints are not limited
        assert all(c.get("/healthz").status_code == 200 for _ in range(10))
        assert c.get("/readyz").status_code == 200
        assert rate_limited_total(c) == refused_before + 2
    assert limited.alive()


def test_rate_limit_per_client_without_a_valid_key(limited):
    """Auth comes first (#18): no key is always 401; wrong keys are 401 until the client's address
    has sent more of them than the limit allows, then 429 (guessing throttled per address)."""
    with httpx.Client(base_url=limited.url, timeout=TIMEOUT) as c:
        codes = [c.get("/v1/toc", headers=h).status_code
                 for h in ({}, {"Authorization": "Bearer wrong"}, {}, {}, {})]
        assert codes == [401] * 5
        codes = [c.get("/v1/toc", headers={"Authorization": f"Bearer wrong-{i}"}).status_code for i in range(2)]
        assert codes == [401, 401]
        assert_error(c.get("/v1/toc", headers={"Authorization": "Bearer another-wrong"}), 429, "rate_limited")
        assert_error(c.get("/v1/toc"), 401, "unauthorized")  # a missing key is never throttled into a 429
        # a valid key is not the IP's bucket
        r = c.get("/v1/toc", headers={"Authorization": f"Bearer {RL_KEYS['spare']}"})
        assert r.status_code == 200 and r.json()


def test_bad_rate_limit_setting_fails_fast(tmp_path):
    with pytest.raises(RuntimeError, match=r"server exited early(.|\n)*KANMIN_RATE_LIMIT 'lots' is not a rate"):
        start_server(tmp_path, {"KANMIN_RATE_LIMIT": "lots"}, timeout=120)


def test_index_missing_not_ready(no_index_server):
    srv = no_index_server
    with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503
        err = r.json()["error"]
        assert err["code"] != "starting" and "\n" not in err["message"] and err["message"]
        r = c.post("/v1/ask", json={"question": "原課とは"})
        assert r.status_code == 503 and r.json()["error"]["message"] == err["message"]
        assert c.get("/v1/toc").status_code == 503
        assert c.get("/healthz").status_code == 200
    assert srv.alive()
