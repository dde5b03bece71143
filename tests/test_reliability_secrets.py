"""Point 6 — secrets never appear in logs or responses.

A real server with recognisable random values for KANMIN_API_KEYS (two keys), KANMIN_SLACK_BOT_TOKEN,
KANMIN_SLACK_SIGNING_SECRET, KANMIN_SLACK_APP_TOKEN and KANMIN_LLM_API_KEY (generative mode against a fake
LLM that echoes the Authorization header it receives back, as a compromised or buggy server might). We
exercise /v1/ask with good, bad and near-miss keys, Slack events signed and badly signed, a Slack Web
API call that fails, failing requests (401/404/405/413/422/400), secrets typed into URLs and bodies; then
search every response body and header and the captured server log for the values (and long fragments).
Each test scans its own responses, waits until the server has logged its requests (by request id) and
scans the log; the server fixture scans the whole log once more after the server has stopped.
"""
from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest

from conftest import start_server, stop_server
from fake_slack import FakeSlack
from helpers_reliability import (
    TIMEOUT, cli_env, cli_main, delta, good_index_dir, kanmin_env, no_secrets, run_cli, slack_counts, wait_log,
    wait_logged, wait_until,
)
from test_generative import Q_JA, FakeLLM
from test_slack_events import event_payload, mention, sign

pytestmark = pytest.mark.timeout(300)

KEY_A = "kma-" + secrets.token_hex(24)
KEY_B = "kmb-" + secrets.token_urlsafe(24)
BOT_TOKEN = "xoxb-" + secrets.token_hex(24)
APP_TOKEN = "xapp-" + secrets.token_hex(24)
SIGNING_SECRET = secrets.token_hex(24)
LLM_KEY = "sk-" + secrets.token_hex(24)
SECRETS = [KEY_A, KEY_B, BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, LLM_KEY]


class EchoLLM(FakeLLM):
    """Behaviours "echo_ok" (a supported answer plus the caller's Authorization header) and "echo_401"
    (HTTP 401 whose body repeats the key, as some servers do)."""

    auths: list[str] = []

    def respond(self, h, body: dict) -> None:
        auth = h.headers.get("authorization", "")
        self.auths.append(auth)
        if self.behaviour == "echo_401":
            payload = json.dumps({"error": {"message": f"Incorrect API key provided: {auth}",
                                            "code": "invalid_api_key"}})
            return h._send(401, "application/json", payload.encode())
        if self.behaviour == "echo_ok":
            from test_generative import good_answer

            prompt = self.prompt_of(body)
            text = good_answer(prompt, False) + f" 認証情報: {auth} [1]。 KEY={auth.split()[-1]} [2]。"
            return h._send(200, "application/json", self.completion(body, text))
        return super().respond(h, body)


@pytest.fixture(scope="module")
def llm():
    fake = EchoLLM()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def slack():
    fake = FakeSlack(fail_channels=frozenset({"CFAIL"}))
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm, slack):
    srv = start_server(tmp_path_factory.mktemp("rel-secrets"), {
        "KANMIN_RATE_LIMIT": "1000000/minute",
        "KANMIN_API_KEYS": f"{KEY_A},{KEY_B}",
        "KANMIN_SLACK_BOT_TOKEN": BOT_TOKEN,
        "KANMIN_SLACK_APP_TOKEN": APP_TOKEN,
        "KANMIN_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "KANMIN_SLACK_API_BASE_URL": slack.url,
        **llm.server_env(3),
        "KANMIN_LLM_API_KEY": LLM_KEY,
    })
    yield srv
    stop_server(srv)  # flushes and closes the log: everything the server ever wrote is scanned
    log = srv.log()
    assert '"logger": "kanmin.access"' in log  # (each test checks its own requests were logged)
    no_secrets(log, SECRETS, "in the server log (after shutdown)")


def _scan(r: httpx.Response, where: str = "") -> httpx.Response:
    where = where or f"{r.request.method} {r.request.url.path} ({r.status_code})"
    no_secrets(r.text, SECRETS, f"in the body of {where}")
    no_secrets("\n".join(f"{k}: {v}" for k, v in r.headers.items()), SECRETS, f"in the headers of {where}")
    return r


def _log_is_clean(server, responses: list[httpx.Response]) -> str:
    """Wait until the server has logged every one of ``responses``, then scan the whole log."""
    log = wait_logged(server, responses)
    no_secrets(log, SECRETS, "in the server log")
    return log


def test_api_keys_good_bad_and_near_miss(server):
    sent = []
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as c:
        for key in (KEY_A, KEY_B):
            r = _scan(c.post("/v1/ask", json={"question": "原課とは何ですか？"},
                             headers={"Authorization": f"Bearer {key}"}))
            sent.append(r)
            assert r.status_code == 200 and r.json()["citations"], r.text
        bad = {
            "none": {},
            "wrong": {"Authorization": "Bearer " + secrets.token_hex(24)},
            "near miss (+1 char)": {"Authorization": f"Bearer {KEY_A}x"},
            "near miss (-1 char)": {"Authorization": f"Bearer {KEY_A[:-1]}"},
            "other secret as key": {"Authorization": f"Bearer {BOT_TOKEN}"},
            "basic auth": {"Authorization": "Basic " + base64.b64encode(f"user:{KEY_A}".encode()).decode()},
            "key in X-API-Key": {"X-API-Key": KEY_A},
        }
        for name, headers in bad.items():
            r = _scan(c.post("/v1/ask", json={"question": "原課とは何ですか？"}, headers=headers))
            sent.append(r)
            assert r.status_code == 401, name
            assert r.json()["error"]["code"] == "unauthorized"
        r = _scan(c.get("/v1/toc", params={"api_key": KEY_A}))  # keys in the query string are not accepted
        sent.append(r)
        assert r.status_code == 401
    log = _log_is_clean(server, sent)
    assert log.count('"status": 401') >= len(bad) + 1


def test_failing_requests(server):
    auth = {"Authorization": f"Bearer {KEY_A}"}
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers=auth) as c:
        cases = [
            c.post("/v1/ask", json={"question": ""}),
            c.post("/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"}),
            c.post("/v1/ask", content=b"\xff\xfe", headers={"content-type": "application/json"}),
            c.get("/v1/chunks/..%2F..%2Fetc%2Fpasswd"),
            c.get("/v1/nope"),
            c.delete("/v1/ask"),
            c.post("/v1/glossary/annotate", json={"text": "a" * (2 << 20)}),
            c.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"}),
        ]
        for r in cases:
            _scan(r)
            assert 400 <= r.status_code < 500, r.text
        assert sorted({r.status_code for r in cases}) == [400, 404, 405, 413, 422], [r.status_code for r in cases]
        # secrets typed by the caller into a URL or a body: the log must redact them (the response may
        # echo the caller's own input, so these responses are not scanned)
        echoed = [c.get(f"/v1/glossary/{SIGNING_SECRET}"),
                  c.post("/v1/ask", json={"question": f"my token is {BOT_TOKEN}"}),
                  c.post("/v1/ask", json={"question": "x", "persona": KEY_B})]
        assert [r.status_code for r in echoed] == [404, 200, 422], [r.text for r in echoed]
    log = _log_is_clean(server, cases + echoed)
    assert "/v1/glossary/***" in log  # the secret in the path was logged, redacted


def test_open_endpoints(server):
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as c:
        sent = []
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/auth/login"):
            r = _scan(c.get(path))
            sent.append(r)
            assert r.status_code == 200, path
        # the web UI is behind the same keys (#18): open after the login form, scanned the same
        assert c.get("/config").status_code == 401
        assert _scan(c.post("/auth/login", data={"api_key": KEY_A})).status_code == 303
        for path in ("/", "/config"):
            r = _scan(c.get(path))
            assert r.status_code == 200, path
    _log_is_clean(server, [r for r in sent if r.request.url.path.startswith(("/healthz", "/readyz", "/metrics"))])


def test_generative_with_an_llm_that_echoes_its_key(server, llm):
    auth = {"Authorization": f"Bearer {KEY_A}"}
    sent = []
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers=auth) as c:
            for behaviour in ("good", "echo_ok", "echo_401", "html500"):
                llm.behaviour = behaviour
                r = c.post("/v1/ask", json={"question": Q_JA, "mode": "generative"})
                assert r.status_code == 200, r.text
                _scan(r, f"a generative answer ({behaviour})")
                sent.append(r)
    finally:
        llm.behaviour = "good"
    modes = [r.json()["mode"] for r in sent]
    assert modes[0] == "generative" and modes[2:] == ["extractive", "extractive"], modes  # the LLM really answered
    assert f"Bearer {LLM_KEY}" in llm.auths  # the key was really in use (sent to the LLM server only)
    _log_is_clean(server, sent)


def test_slack_signed_badly_signed_and_failing(server, slack):
    def post(payload: dict, secret: str | None = SIGNING_SECRET, tamper: bool = False) -> httpx.Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", **(sign(body, secret=secret) if secret else {})}
        if tamper:
            body = body.replace("原課".encode(), "元課".encode())
        r = httpx.post(server.url + "/slack/events", content=body, headers=headers, timeout=TIMEOUT)
        sent.append(r)
        return _scan(r)

    sent: list[httpx.Response] = []
    before = slack_counts(server.url)
    ok = mention("原課とは何ですか？", channel="COK")
    assert post(event_payload(ok)).status_code == 200
    failing = mention("随意契約とは何ですか？", channel="CFAIL")
    assert post(event_payload(failing)).status_code == 200
    for kwargs in ({"secret": "not-the-secret"}, {"secret": BOT_TOKEN}, {"secret": None}, {"tamper": True},
                   {"secret": SIGNING_SECRET[:-1]}):
        r = post(event_payload(mention("原課とは何ですか？", channel="CBAD")), **kwargs)
        assert r.status_code == 401, kwargs
    r = post({"type": "url_verification", "challenge": "c-123"})
    assert r.status_code == 200 and r.json()["challenge"] == "c-123"
    # the five 401s were refused before bolt saw them: only the two good events reached a listener
    assert delta(slack_counts(server.url), before) == {("http", "bad_signature"): 5, ("event_callback", "accepted"): 2}
    wait_until(lambda: slack.of("chat.postMessage", channel="COK") and slack.of("chat.postMessage", channel="CFAIL"),
               what="both Slack replies attempted")
    assert slack.of("chat.postMessage", channel="CBAD") == []
    with slack.lock:
        assert all(auth == f"Bearer {BOT_TOKEN}" for _, _, auth in slack.calls)  # sent only to the Slack API
    # the failing Web API call (ok=false, invalid_auth) is logged: its error text must not carry the token
    failed = wait_log(server, r"invalid_auth")
    assert any("chat.postMessage" in ln for ln in failed), failed
    _log_is_clean(server, sent)


CLI_ENV = {"KANMIN_API_KEYS": KEY_A, "KANMIN_SLACK_BOT_TOKEN": BOT_TOKEN, "KANMIN_SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "KANMIN_LLM_BACKEND": "openai", "KANMIN_LLM_MODEL": "fake", "KANMIN_LLM_API_KEY": LLM_KEY,
           "KANMIN_LLM_TIMEOUT_S": "3"}


def test_cli_does_not_print_secrets(llm):
    """The real executable, generative mode, against an LLM whose 401 body repeats the key."""
    llm.behaviour = "echo_401"
    env = cli_env(good_index_dir(), {**CLI_ENV, "KANMIN_LLM_BASE_URL": f"http://127.0.0.1:{llm.port}/v1"})
    n = len(llm.auths)
    try:
        p = run_cli("ask", "--json", "--mode", "generative", Q_JA, env=env)
    finally:
        llm.behaviour = "good"
    assert p.returncode == 0 and "Traceback" not in p.stderr, p
    a = json.loads(p.stdout)
    assert a["mode"] == "extractive" and "llm_error" in a["fallback"], a  # the 401 was met and handled
    assert f"Bearer {LLM_KEY}" in llm.auths[n:]
    no_secrets(p.stdout + p.stderr, SECRETS, "in `kanmin ask --mode generative` output")


@pytest.mark.parametrize("argv", [["info", "--json"], ["ask", ""], ["ask", "--json", "--mode", "generative", Q_JA]],
                         ids=["info", "ask-empty", "ask-generative"])
def test_cli_in_process_does_not_print_or_log_secrets(llm, capsys, caplog, argv):
    """The same settings in-process: stdout, stderr and every log record the command emits."""
    llm.behaviour = "echo_401"
    try:
        with kanmin_env({**CLI_ENV, "KANMIN_LLM_BASE_URL": f"http://127.0.0.1:{llm.port}/v1"}):
            caplog.set_level("DEBUG")
            p = cli_main(capsys, *argv)
    finally:
        llm.behaviour = "good"
    assert "Traceback" not in p.stderr, p
    assert p.returncode == (2 if argv == ["ask", ""] else 0), p
    no_secrets(p.stdout + p.stderr + caplog.text, SECRETS, f"in `kanmin {' '.join(argv[:2])}` output or logs")
