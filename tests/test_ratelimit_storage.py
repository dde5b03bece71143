"""KANMIN_RATE_LIMIT_STORAGE: counters in a shared Redis hold across app instances; an unreachable
storage makes /readyz not ready while requests are still served and limited per process; a bad
URI fails at start-up. /readyz also reports an unreachable database (a real refused connection)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from assistant.store import Store
from eval.local_servers import RedisServer, which
from conftest import free_port
from ingest.settings import Settings
from ui.http.api import create_app


class Glossary:
    def glossary(self, q=None):
        return []


def _app(tmp_path, storage: str, store=None):
    stub = SimpleNamespace(assistant=Glossary(), store=store, ready=lambda: (True, "ready"))
    settings = Settings(db_path=tmp_path / "k.sqlite3", rate_limit="3/minute", rate_limit_storage=storage)
    return create_app(lambda: stub, settings=settings)


def _wait_loaded(client, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.json().get("error", {}).get("code") != "starting":
            return r
        time.sleep(0.05)
    raise AssertionError(r.text)


def test_bad_storage_uri_fails_at_start_up(tmp_path):
    with pytest.raises(ValueError, match="KANMIN_RATE_LIMIT_STORAGE"):
        _app(tmp_path, "nosuch://somewhere")


def test_unreachable_redis_not_ready_but_still_limited_per_process(tmp_path):
    with TestClient(_app(tmp_path, f"redis://127.0.0.1:{free_port()}/0")) as client:
        r = _wait_loaded(client)
        assert r.status_code == 503 and r.json()["error"]["code"] == "rate_limit_storage_unavailable"
        codes = [client.get("/v1/glossary").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]


@pytest.mark.skipif(not which("redis-server"), reason="redis-server not installed (make apt)")
def test_redis_counters_are_shared_between_apps(tmp_path):
    redis_srv = RedisServer().start()
    try:
        one, two = _app(tmp_path, redis_srv.url), _app(tmp_path, redis_srv.url)
        with TestClient(one) as c1, TestClient(two) as c2:
            assert _wait_loaded(c1).status_code == 200 and _wait_loaded(c2).status_code == 200
            assert [c1.get("/v1/glossary").status_code for _ in range(2)] == [200, 200]
            assert [c2.get("/v1/glossary").status_code for _ in range(2)] == [200, 429]  # 3 in all, not 3 each
            assert c1.get("/v1/glossary").status_code == 429
            redis_srv.stop()
            r = c1.get("/readyz")
            assert r.status_code == 503 and r.json()["error"]["code"] == "rate_limit_storage_unavailable"
            assert c2.get("/v1/glossary").status_code == 200  # served, counted per process meanwhile
    finally:
        redis_srv.stop()


def test_unreachable_database_not_ready(tmp_path):
    settings = Settings(db_connect_timeout_s=2, db_retry_attempts=1)
    store = Store(url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/kanmin", settings=settings)
    with TestClient(_app(tmp_path, "memory://", store=store)) as client:
        r = _wait_loaded(client)
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
        assert r.json()["error"]["message"] == "database unreachable (OperationalError)"  # no host or port
