"""The HTTP API against a real `kanmin serve` (uvicorn subprocess, real SQLite): every endpoint,
a bad-input matrix, request ids, metrics, feedback stored."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import API_ONLY, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = httpx.Timeout(60.0)
NOT_CONFIGURED = "generative mode is not configured (KANMIN_LLM_BACKEND=none)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Own server: this module sends more than the default 60 requests/minute from one IP.
    srv = start_server(tmp_path_factory.mktemp("api"), {**API_ONLY, "KANMIN_RATE_LIMIT": "100000/minute"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as c:
        yield c


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    assert r.headers.get("x-request-id")
    return body["error"]


def ask(client, question="原課とは何ですか？", **kw) -> dict:
    r = client.post("/v1/ask", json={"question": question, **kw})
    assert r.status_code == 200, r.text
    return r.json()


# -- every endpoint -----------------------------------------------------------------
def test_health_and_ready(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_without_the_ui_the_root_is_the_api_index(client, server):
    """KANMIN_UI=false (this module's server): "/" is the JSON index of the API, no Gradio route
    answers, and the server log says the UI is off."""
    r = client.get("/")
    assert r.status_code == 200 and r.json()["name"] == "kanmin" and "/v1/ask" in r.json()["endpoints"]
    assert client.get("/gradio_api/info").status_code == 404
    assert client.get("/config").status_code == 404
    assert "UI off (KANMIN_UI=false)" in server.log()


def test_without_the_ui_gradio_is_never_imported():
    code = ("import os, sys; os.environ['KANMIN_UI'] = sys.argv[1]\n"
            "from ui.http.serve import app_factory\n"
            "app_factory(); print('gradio' in sys.modules)")
    seen = {flag: subprocess.run([sys.executable, "-c", code, flag], cwd=str(ROOT), capture_output=True,
                                 text=True, timeout=300) for flag in ("false", "true")}
    for flag, p in seen.items():
        assert p.returncode == 0, (flag, p.stderr[-2000:])
    assert seen["false"].stdout.split()[-1] == "False" and seen["true"].stdout.split()[-1] == "True"


def test_ask_returns_answer_schema(client):
    a = ask(client, persona="startup")
    assert a["id"] and a["question"] == "原課とは何ですか？" and a["answer"]
    assert a["route"] == "glossary" and a["persona"] == "startup" and a["mode"] == "extractive"
    assert a["citations"] and all(c["pages"] and c["quote"] for c in a["citations"])
    assert {"language", "route_reason", "abstained", "glossary", "reading_path", "nearest_sections",
            "latency_ms", "session_id", "resolved_question", "fallback"} <= set(a)


def test_ask_trims_question_and_follow_up_session(client):
    sid = f"test:{uuid.uuid4().hex[:8]}"
    first = ask(client, "  随意契約とは何ですか？  ", session_id=sid)
    assert first["question"] == "随意契約とは何ですか？" and first["session_id"] == sid
    second = ask(client, "それはいつ使えますか？", session_id=sid)
    assert second["session_id"] == sid and second["id"] != first["id"]


def test_ask_generative_without_llm_falls_back(client):
    # a question the guide answers (route qa): generative is asked for, no LLM is configured
    a = ask(client, "実証実験の予算はどう確保しますか", mode="generative")
    assert a["route"] == "qa" and not a["abstained"], a["route_reason"]
    assert a["mode"] == "extractive" and a["fallback"] == NOT_CONFIGURED
    assert a["citations"] and a["answer"]
    # the same question asked extractively: the same answer, no notice
    plain = ask(client, "実証実験の予算はどう確保しますか")
    assert plain["fallback"] is None and plain["answer"] == a["answer"]
    # only qa answers are ever generated: a glossary answer in generative mode has nothing to fall back from
    g = ask(client, "原課とは何ですか？", mode="generative")
    assert g["route"] == "glossary" and g["mode"] == "extractive" and g["fallback"] is None


def test_glossary_list_filter_and_term(client):
    r = client.get("/v1/glossary")
    assert r.status_code == 200
    notes = r.json()
    assert len(notes) > 10 and all("term" in n and "meaning" in n for n in notes)
    r = client.get("/v1/glossary", params={"q": "原課"})
    assert r.status_code == 200 and any(n["term"] == "原課" for n in r.json())
    assert len(r.json()) < len(notes)
    r = client.get("/v1/glossary/原課")
    assert r.status_code == 200 and r.json()["term"] == "原課" and r.json()["pages"]


def test_annotate(client):
    r = client.post("/v1/glossary/annotate", json={"text": "原課と調整のうえ、随意契約で進めます。"})
    assert r.status_code == 200
    anns = r.json()["annotations"]
    terms = {a["term"] for a in anns}
    assert "原課" in terms
    a = next(a for a in anns if a["term"] == "原課")
    assert "原課と調整のうえ、随意契約で進めます。"[a["start"]:a["end"]] == a["surface"]


def test_toc_and_chunks(client):
    r = client.get("/v1/toc")
    assert r.status_code == 200
    toc = r.json()
    assert len(toc) > 20 and toc[0]["page"] >= 1 and toc[0]["heading"]
    a = ask(client)
    cid = a["citations"][0]["chunk_id"]
    r = client.get(f"/v1/chunks/{cid}")
    assert r.status_code == 200 and r.json()["id"] == cid
    assert a["citations"][0]["quote"] in r.json()["text"]


def test_feedback_stored_in_sqlite(client, server):
    a = ask(client)
    r = client.post("/v1/feedback", json={"answer_id": a["id"], "rating": "up"})
    assert r.status_code == 200, r.text
    fid = r.json()["id"]
    r = client.post("/v1/feedback", json={"answer_id": a["id"], "rating": "down", "comment": "ページが違う"})
    assert r.status_code == 200
    db = Path(server.log_path).parent / "kanmin.sqlite3"
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute("SELECT id, answer_id, rating, comment, source FROM feedback WHERE answer_id = ?"
                            " ORDER BY id", (a["id"],)).fetchall()
        assert rows == [(fid, a["id"], "up", None, "api"), (fid + 1, a["id"], "down", "ページが違う", "api")]
        saved = conn.execute("SELECT json FROM answers WHERE id = ?", (a["id"],)).fetchone()
        assert json.loads(saved[0])["id"] == a["id"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_metrics(client):
    ask(client)
    client.get("/v1/nope")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in ("kanmin_http_requests_total", "kanmin_http_request_duration_seconds_bucket",
                 "kanmin_answers_total", "kanmin_abstentions_total", "kanmin_fallbacks_total",
                 "kanmin_feedback_total", "kanmin_ready"):
        assert name in text, name
    assert 'kanmin_answers_total{mode="extractive",route="glossary",source="api"}' in text
    assert 'route="/v1/ask"' in text and 'route="/v1/{rest:path}"' in text
    assert "python_gc" not in text  # a registry of its own, not the global one


def test_request_id_generated_and_echoed(client, server):
    r = client.get("/healthz")
    rid = r.headers["x-request-id"]
    assert len(rid) >= 16
    r = client.get("/v1/toc", headers={"X-Request-ID": "trace-abc.123:x"})
    assert r.headers["x-request-id"] == "trace-abc.123:x"
    r = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert r.headers["x-request-id"] != "bad id <script>"
    r = client.post("/v1/ask", json={"question": ""}, headers={"X-Request-ID": "err-req-1"})
    assert r.status_code == 422 and r.headers["x-request-id"] == "err-req-1"


def log_records(server) -> list[dict]:
    out = []
    for raw in server.log().splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def wait_log_records(server, request_id: str, timeout: float = 120.0) -> list[dict]:
    """The server's JSON log records of one request, once its access line is written (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [rec for rec in log_records(server) if rec.get("request_id") == request_id]
        if any("status" in rec for rec in mine) or time.monotonic() > deadline:
            return mine
        time.sleep(0.05)


def test_structured_access_log(client, server):
    rid = "logline-check-" + uuid.uuid4().hex[:8]
    r = client.get("/v1/toc", headers={"X-Request-ID": rid, "Authorization": "Bearer not-a-secret-xyz"})
    assert r.status_code == 200
    mine = wait_log_records(server, rid)
    assert len(mine) == 1, mine
    line = mine[0]
    assert line["method"] == "GET" and line["path"] == "/v1/toc" and line["status"] == 200
    assert isinstance(line["latency_ms"], (int, float))
    assert "not-a-secret-xyz" not in server.log() and "Authorization" not in server.log()


def test_openapi_has_examples(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    for path in ("/v1/ask", "/v1/glossary", "/v1/glossary/{term}", "/v1/glossary/annotate", "/v1/toc",
                 "/v1/chunks/{chunk_id}", "/v1/feedback", "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    ask_op = spec["paths"]["/v1/ask"]["post"]
    assert "example" in ask_op["responses"]["200"]["content"]["application/json"]
    assert "422" in ask_op["responses"] and "503" in ask_op["responses"]
    schemas = spec["components"]["schemas"]
    assert schemas["AskRequest"].get("examples")
    assert set(schemas["AskRequest"]["properties"]["persona"]["anyOf"][0]["enum"]) == {
        "municipality", "startup", "intermediary", "any"}


# -- bad input matrix --------------------------------------------------------------------
LONG = "あ" * 2001
BAD = [
    # (id, method, path, kwargs, status, code or None)
    ("empty question", "POST", "/v1/ask", {"json": {"question": ""}}, 422, "empty_question"),
    ("whitespace question", "POST", "/v1/ask", {"json": {"question": " \n\t\u3000 "}}, 422, "empty_question"),
    ("overlong question", "POST", "/v1/ask", {"json": {"question": LONG}}, 422, "question_too_long"),
    ("question int", "POST", "/v1/ask", {"json": {"question": 42}}, 422, "invalid_input"),
    ("question list", "POST", "/v1/ask", {"json": {"question": ["a"]}}, 422, "invalid_input"),
    ("question null", "POST", "/v1/ask", {"json": {"question": None}}, 422, "invalid_input"),
    ("missing question", "POST", "/v1/ask", {"json": {"persona": "startup"}}, 422, "invalid_input"),
    ("unknown field", "POST", "/v1/ask", {"json": {"question": "原課", "foo": 1}}, 422, "invalid_input"),
    ("body is array", "POST", "/v1/ask", {"json": ["原課"]}, 422, "invalid_input"),
    ("body is string", "POST", "/v1/ask", {"json": "原課"}, 422, "invalid_input"),
    ("invalid json", "POST", "/v1/ask",
     {"content": b'{"question": "x"', "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
    ("invalid utf8", "POST", "/v1/ask",
     {"content": b'{"question": "\xff\xfe"}', "headers": {"content-type": "application/json"}}, 400, None),
    ("form body", "POST", "/v1/ask",
     {"content": b"question=x", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415, None),
    ("empty body", "POST", "/v1/ask", {"headers": {"content-type": "application/json"}}, 422, "invalid_input"),
    ("unknown persona", "POST", "/v1/ask", {"json": {"question": "原課", "persona": "alien"}}, 422, "invalid_input"),
    ("persona 'all' (chunk-only value)", "POST", "/v1/ask", {"json": {"question": "原課", "persona": "all"}}, 422,
     "invalid_input"),
    ("unknown mode", "POST", "/v1/ask", {"json": {"question": "原課", "mode": "creative"}}, 422, "invalid_input"),
    ("bad session id", "POST", "/v1/ask", {"json": {"question": "原課", "session_id": "../../etc/passwd"}}, 422,
     "invalid_input"),
    ("overlong session id", "POST", "/v1/ask", {"json": {"question": "原課", "session_id": "s" * 129}}, 422,
     "invalid_input"),
    ("NUL in question", "POST", "/v1/ask", {"json": {"question": "原課\u0000とは"}}, 422, "question_control_chars"),
    ("NUL in annotate", "POST", "/v1/glossary/annotate", {"json": {"text": "a\u0000b"}}, 422, None),
    ("overlong annotate", "POST", "/v1/glossary/annotate", {"json": {"text": "あ" * 20001}}, 422, "text_too_long"),
    ("annotate wrong type", "POST", "/v1/glossary/annotate", {"json": {"text": {"a": 1}}}, 422, "invalid_input"),
    ("too large body", "POST", "/v1/glossary/annotate", {"json": {"text": "a" * (2 << 20)}}, 413,
     "payload_too_large"),
    ("unknown term", "GET", "/v1/glossary/存在しない用語ですよ", {}, 404, "unknown_term"),
    ("overlong term", "GET", "/v1/glossary/" + "x" * 201, {}, 422, "invalid_input"),
    ("NUL in glossary q", "GET", "/v1/glossary?q=%00", {}, 422, "invalid_input"),
    ("unknown chunk id", "GET", "/v1/chunks/c99.s99-b99", {}, 404, None),
    ("dotdot chunk id (encoded)", "GET", "/v1/chunks/%2e%2e", {}, 404, None),
    ("traversal chunk id (encoded slashes)", "GET", "/v1/chunks/..%2F..%2Fetc%2Fpasswd", {}, 404, None),
    ("traversal glossary term", "GET", "/v1/glossary/..%2F..%2Fetc%2Fpasswd", {}, 404, None),
    ("NUL in chunk id", "GET", "/v1/chunks/c01%00", {}, 404, None),
    ("feedback unknown answer", "POST", "/v1/feedback", {"json": {"answer_id": "deadbeef", "rating": "up"}}, 404,
     "unknown_answer"),
    ("feedback bad rating", "POST", "/v1/feedback", {"json": {"answer_id": "deadbeef", "rating": "meh"}}, 422,
     "invalid_input"),
    ("feedback traversal id", "POST", "/v1/feedback", {"json": {"answer_id": "../../x", "rating": "up"}}, 422,
     "invalid_input"),
    ("feedback overlong comment", "POST", "/v1/feedback",
     {"json": {"answer_id": "deadbeef", "rating": "up", "comment": "c" * 2001}}, 422, "invalid_input"),
    ("unknown route", "GET", "/v1/does-not-exist", {}, 404, "not_found"),
    ("wrong method", "GET", "/v1/ask", {}, 405, "method_not_allowed"),
    ("wrong method on healthz", "DELETE", "/healthz", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input(client, case):
    _name, method, path, kwargs, status, code = case
    r = client.request(method, path, **kwargs)
    assert_error(r, status, code)
    if status == 405:
        assert r.headers.get("allow")


def test_healthy_after_bad_inputs(client, server):
    for case in BAD:
        client.request(case[1], case[2], **case[3])
    assert server.alive()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    a = ask(client, "自治体の予算はいつ決まりますか？")
    assert a["answer"]
    assert "Traceback" not in server.log()
    assert '"level": "error"' not in server.log()
