"""Point 5 — offline proof: ingest, build, ask, serve and the web UI's flow with every outbound connection
except loopback blocked.

Subprocesses get a sitecustomize.py (tests/helpers_reliability.SITECUSTOMIZE) prepended via PYTHONPATH: it
wraps socket.socket.connect / connect_ex / sendto, socket.create_connection, getaddrinfo / gethostbyname,
and uvloop's create_connection / getaddrinfo / sock_connect (uvicorn's loop, which resolves and connects
in C), records every non-loopback attempt to a file and raises. The flow must succeed and the file must
stay empty. The guard itself is tested first (it must block, and must let loopback through).
The in-process variant monkeypatches socket for ingest + ask in the pytest process.
A real browser run of the UI (no request may leave 127.0.0.1) is tests/test_ui_browser.py.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from conftest import start_server, stop_server
from helpers_reliability import (
    TIMEOUT, NetGuard, cache_copy, cli_env, good_index_dir, guarded_env, install_guard, run_cli, ui_ask,
    ui_page_assets,
)

pytestmark = pytest.mark.timeout(300)
HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


@pytest.fixture(scope="module")
def guard(tmp_path_factory):
    return install_guard(tmp_path_factory.mktemp("netguard"))


def _attempts(log: Path) -> str:
    return log.read_text(encoding="utf-8") if log.exists() else ""


def _loaded(log: Path) -> str:
    p = Path(str(log) + ".loaded")
    return p.read_text(encoding="utf-8") if p.exists() else ""


SELF_TEST = textwrap.dedent(r"""
    import asyncio, json, socket, sys, urllib.request
    out = {}

    def attempt(name, fn):
        try:
            fn()
            out[name] = "CONNECTED"
        except Exception as e:  # OSError, or a client's wrapper of it (httpx.ConnectError)
            out[name] = "blocked" if "netguard" in str(e) else f"other: {e!r}"

    attempt("create_connection", lambda: socket.create_connection(("192.0.2.1", 80), timeout=2))
    attempt("connect", lambda: socket.socket().connect(("198.51.100.7", 443)))
    attempt("connect_ex", lambda: socket.socket().connect_ex(("203.0.113.9", 443)))
    attempt("getaddrinfo", lambda: socket.getaddrinfo("huggingface.co", 443))
    attempt("urllib", lambda: urllib.request.urlopen("https://pypi.org/simple/", timeout=2))
    import httpx
    attempt("httpx", lambda: httpx.get("https://huggingface.co/api/models", timeout=2))
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None:
        async def uv():
            await asyncio.open_connection("example.com", 443)

        attempt("uvloop", lambda: uvloop.run(uv()))
    # loopback keeps working
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=2); c.close()
    c = socket.create_connection(("localhost", srv.getsockname()[1]), timeout=2); c.close()
    srv.close()
    out["loopback"] = "ok"
    print(json.dumps(out))
""")


def test_guard_blocks_and_records(guard, tmp_path):
    guard_dir, _ = guard
    log = tmp_path / "selftest.log"
    script = tmp_path / "selftest.py"
    script.write_text(SELF_TEST, encoding="utf-8")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                       env=guarded_env(guard_dir, log), cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out.pop("loopback") == "ok"
    assert set(out.values()) == {"blocked"}, out
    attempts = _attempts(log)
    for target in ("192.0.2.1", "198.51.100.7", "203.0.113.9", "huggingface.co", "pypi.org"):
        assert target in attempts, target
    assert "guarded" in _loaded(log)
    if HAVE_UVLOOP:
        assert "uvloop-guarded" in _loaded(log) and "example.com" in attempts


@pytest.mark.timeout(600)
def test_offline_ingest_build_ask_serve_ui(guard, tmp_path):
    guard_dir, log = guard
    log.write_text("", encoding="utf-8")
    idx = tmp_path / "index"  # a fresh index dir; embeddings come from a copy of the cache (quick)
    cache = cache_copy(tmp_path / "cache")
    extra = {"KANMIN_INDEX_DIR": str(idx), "KANMIN_CACHE_DIR": str(cache),
             "KANMIN_DB_PATH": str(tmp_path / "cli.sqlite3")}
    env = guarded_env(guard_dir, log, cli_env(None, extra))

    p = run_cli("ingest", "--stats", "--json", env=env)
    assert p.returncode == 0, p
    assert json.loads(p.stdout)["sha256"]
    p = run_cli("build", env=env, timeout=300)
    assert p.returncode == 0 and "built" in p.stderr, p
    p = run_cli("info", "--json", env=env)
    assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True, p
    p = run_cli("search", "共同調達", "--k", "3", "--json", env=env)
    assert p.returncode == 0 and len(json.loads(p.stdout)["hits"]) == 3, p
    p = run_cli("ask", "--json", "原課とは何ですか？", env=env)
    assert p.returncode == 0, p
    a = json.loads(p.stdout)
    assert a["route"] == "glossary" and a["citations"]
    assert not _attempts(log), _attempts(log)

    srv = start_server(tmp_path, {"PYTHONPATH": env["PYTHONPATH"], "KANMIN_NETGUARD_LOG": str(log),
                                  "KANMIN_INDEX_DIR": str(idx), "KANMIN_CACHE_DIR": str(cache)})
    try:
        with httpx.Client(timeout=TIMEOUT) as c:
            assets = ui_page_assets(srv.url, c)
            assert any(a.endswith(".css") for a in assets) and len(assets) >= 3, assets
            config = c.get(srv.url + "/config")
            assert config.status_code == 200 and config.json()["analytics_enabled"] is False
            html = ui_ask(srv.url, c, "原課とは何ですか？")
            assert "kc-answer" in html and "data-route=\"glossary\"" in html and "kc-error" not in html, html[:500]
            r = c.post(srv.url + "/v1/ask", json={"question": "実証実験の予算はどう確保しますか？"})
            assert r.status_code == 200 and r.json()["citations"]
            assert c.get(srv.url + "/v1/glossary/原課").status_code == 200
            assert c.get(srv.url + "/v1/toc").status_code == 200
        assert srv.alive()
    finally:
        stop_server(srv)
    loaded = _loaded(log)
    assert f"{srv.proc.pid} guarded" in loaded, loaded  # the server really ran under the guard
    if HAVE_UVLOOP:  # uvicorn runs on uvloop when it is installed: its C-level connects were guarded too
        assert f"{srv.proc.pid} uvloop-guarded" in loaded, loaded
    for cmd in ("ingest", "build", "info", "search", "ask"):
        assert f"kanmin {cmd}" in loaded, (cmd, loaded)
    assert _attempts(log) == "", f"outbound connection attempts:\n{_attempts(log)}"


# -- in-process ---------------------------------------------------------------------------------------
@pytest.fixture
def netguard(monkeypatch):
    return NetGuard(monkeypatch)


def test_netguard_fixture_blocks(netguard):
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(ConnectionRefusedError):
        socket.getaddrinfo("huggingface.co", 443)
    assert [k for k, _ in netguard.attempts] == ["create_connection", "getaddrinfo"]


@pytest.mark.timeout(300)
def test_offline_in_process_ingest_and_ask(netguard, tmp_path):
    from assistant.container import Container
    from ingest.pipeline import parse_guide
    from ingest.settings import Settings, get_settings

    settings = Settings(index_dir=good_index_dir(), db_path=tmp_path / "k.sqlite3")
    guide = parse_guide(get_settings().guide_path, settings)  # a fresh parse, not the cached one
    assert len(guide.chunks) > 100 and guide.glossary
    c = Container(settings).load()
    for q in ("原課とは何ですか？", "How can a startup find a municipality to work with?", "図表8を見せて"):
        a = c.assistant.ask(q)
        assert a.answer and (a.citations or a.abstained)
    assert netguard.attempts == [], netguard.attempts
