"""Fault paths that a healthy real server cannot show, in-process with a stub container:
an unexpected exception → 500 JSON (logged, with request id); a failing container → 503 on /readyz and /v1."""
from __future__ import annotations

import logging
import time
from types import SimpleNamespace

from fastapi.testclient import TestClient

from index.errors import IndexUnavailable
from ingest.settings import Settings
from ui.http.api import create_app


class BrokenAssistant:
    def ask(self, *a, **kw):
        raise RuntimeError("boom: something internal")

    def glossary(self, q=None):
        raise IndexUnavailable("index_missing", "index missing: run `kanmin build --force`")


def _settings(tmp_path) -> Settings:
    return Settings(db_path=tmp_path / "k.sqlite3")


def _wait_ready(client, want: int, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.status_code == want and r.json().get("error", {}).get("code") != "starting":
            return r
        time.sleep(0.05)
    raise AssertionError(r.text)


def test_unexpected_exception_is_500_json(tmp_path, caplog):
    stub = SimpleNamespace(assistant=BrokenAssistant(), store=None, ready=lambda: (True, "ready"))
    app = create_app(lambda: stub, settings=_settings(tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        _wait_ready(client, 200)
        with caplog.at_level(logging.ERROR):
            r = client.post("/v1/ask", json={"question": "原課とは"}, headers={"X-Request-ID": "fault-1"})
        assert r.status_code == 500
        assert r.json() == {"error": {"code": "internal", "message": "internal server error"}}
        assert r.headers["x-request-id"] == "fault-1"
        assert "boom" not in r.text
        assert any("unhandled" in rec.getMessage() for rec in caplog.records)
        r = client.get("/v1/glossary")  # a KanminError with status 503 keeps its code
        assert r.status_code == 503 and r.json()["error"]["code"] == "index_missing"
        assert client.get("/healthz").status_code == 200


def test_container_failure_reported(tmp_path):
    def factory():
        raise IndexUnavailable("index_corrupt", "index at /x is corrupt: dense.faiss truncated\nrun `kanmin build --force`")

    app = create_app(factory, settings=_settings(tmp_path))
    with TestClient(app) as client:
        r = _wait_ready(client, 503)
        assert r.json()["error"]["code"] == "index_corrupt"
        assert "\n" not in r.json()["error"]["message"] and "corrupt" in r.json()["error"]["message"]
        r = client.post("/v1/ask", json={"question": "原課とは"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "index_corrupt"
        assert "\n" not in r.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200


def test_not_ready_container(tmp_path):
    stub = SimpleNamespace(assistant=None, store=None, ready=lambda: (False, "index stale: run `kanmin build`"))
    app = create_app(lambda: stub, settings=_settings(tmp_path))
    with TestClient(app) as client:
        r = _wait_ready(client, 503)
        assert r.json()["error"] == {"code": "index_unavailable", "message": "index stale: run `kanmin build`"}
        assert "kanmin_ready 0.0" in client.get("/metrics").text
        r = client.post("/v1/ask", json={"question": "原課とは"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "index_unavailable"
