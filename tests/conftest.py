"""Shared fixtures: the session's own state, the real guide, and real servers on 127.0.0.1.

The test session owns all of its state: index, embedding cache and SQLite store live in one
session temp dir, exported through ``KANMIN_*`` variables before anything reads the settings,
so the pytest process, every ``kanmin`` subprocess and every server see the same files and
never the developer's ``data/index``, ``data/cache`` or ``data/state``. The index is built
once at session start from the shipped embedding seed (seconds); the session fails at once
if it cannot be built, rather than every server fixture polling for a ready that never comes.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KANMIN = str(Path(sys.executable).parent / "kanmin")
ARTIFACTS = ROOT / "test-artifacts"
STATE_DIR = Path(tempfile.mkdtemp(prefix="kanmin-test-state-"))
os.environ.update({
    "KANMIN_INDEX_DIR": str(STATE_DIR / "index"),
    "KANMIN_CACHE_DIR": str(STATE_DIR / "cache"),
    "KANMIN_DB_PATH": str(STATE_DIR / "state" / "kanmin.sqlite3"),
    "KANMIN_DATABASE_URL": "",  # the session's own SQLite file, never a developer's PostgreSQL
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
})

import httpx  # noqa: E402  (after the environment above, like every project import)
import pytest  # noqa: E402

WATCHED = ("index", "cache", "state")  # the developer's ignored state under data/


def _data_snapshot() -> dict[str, tuple[int, int]]:
    out = {}
    for name in WATCHED:
        for p in sorted((ROOT / "data" / name).rglob("*")):
            # SQLite's -wal/-shm/-journal come and go with any reader (a `kanmin` run elsewhere)
            if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal")):
                st = p.stat()
                out[p.relative_to(ROOT).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def pytest_sessionstart(session):
    session.config._kanmin_data_before = _data_snapshot()
    from index.build import build_index
    from index.commands import corpus_id
    from ingest import load_guide
    from ingest.settings import get_settings

    try:
        g = load_guide()
        build_index(g.chunks, corpus_id(g), get_settings(), glossary=g.glossary, questions=g.questions,
                    sentence_questions=g.sentence_questions,
                    progress=False)
    except Exception as e:  # noqa: BLE001 - one clear line instead of a wall of fixture errors
        pytest.exit(f"cannot build the test session's index in {STATE_DIR}: {e}", returncode=3)


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_kanmin_data_before", None)
    if before is not None:
        after = _data_snapshot()
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        if changed:
            print(f"\nFAILED: the developer's state under data/ changed during the tests: {changed[:10]} "
                  "(the tests must use their session state; or another kanmin process wrote there meanwhile)",
                  file=sys.stderr)
            session.exitstatus = 1
    shutil.rmtree(STATE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_assistant(tmp_path_factory):
    """One in-process Assistant on the session index, with its own SQLite store (answers, sessions)."""
    from assistant.container import Container
    from ingest.settings import get_settings

    settings = get_settings().model_copy(update={"db_path": tmp_path_factory.mktemp("assistant") / "a.sqlite3"})
    return Container(settings).load().assistant


@pytest.fixture(scope="session")
def eval_context():
    """One EvalContext per session: the real container loaded once, eval answers not stored
    (the gate, the hold-out and the answer-unit tests share it)."""
    from eval.runner import EvalContext

    return EvalContext(progress=False)


@pytest.fixture(scope="session")
def tuning_run(eval_context):
    """The gate's eval run over the whole tuning set (kanmin only), once per session: the gate
    scores it and the tests over every tuning answer read its answers (``pred.full``)."""
    from eval.runner import run_eval

    return run_eval(configs=("kanmin",), ctx=eval_context, progress=False, sides=False)


@pytest.fixture(scope="session")
def state_dir() -> Path:
    """The session's own state (index, cache, store)."""
    return STATE_DIR


@pytest.fixture(scope="session")
def guide():
    from ingest import load_guide

    return load_guide()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


# a server for tests of /v1 and Slack only: no web UI, so Gradio is not imported (~2.5 s a start);
# the UI's own tests use servers with it (live_server, the browser and security modules)
API_ONLY = {"KANMIN_UI": "false"}


def start_server(tmp_dir: Path, env_extra: dict[str, str] | None = None, wait_ready: bool = True,
                 timeout: float = 120.0) -> LiveServer:
    """`kanmin serve` in a subprocess with its own SQLite file; waits for /healthz (and /readyz)."""
    port = free_port()
    env = dict(os.environ)
    env.update({
        "KANMIN_DB_PATH": str(tmp_dir / "kanmin.sqlite3"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(env_extra or {})
    log_path = tmp_dir / f"server-{port}.log"
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen([KANMIN, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
    server = LiveServer(proc, port, log_path)
    deadline = time.monotonic() + timeout
    path = "/readyz" if wait_ready else "/healthz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()[-3000:]}")
        try:
            r = httpx.get(server.url + path, timeout=2)
            if r.status_code == 200 or (not wait_ready and r.status_code in (200, 503)):
                return server
            if wait_ready and r.status_code == 503 and _not_ready_code(r) != "starting":
                # the server says why it cannot get ready (no index, a stale one): fail now, not in 120 s
                stop_server(server)
                raise RuntimeError(f"server cannot get ready: {r.text[:500]}")
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"server not ready in {timeout}s:\n{server.log()[-3000:]}")


def _not_ready_code(r: httpx.Response) -> str:
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""


def stop_server(server: LiveServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """One real server for the whole session (default settings, no keys, no Slack), except its rate
    limit: every module and the browser share it from one address, and a random test order once put
    61 UI events in one minute against the default 60/minute (the 61st page-load event refused, its
    test failed). The limits themselves are tested on servers of their own (test_api_modes.py)."""
    server = start_server(tmp_path_factory.mktemp("server"), {"KANMIN_RATE_LIMIT": "100000/minute"})
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def no_index_server(tmp_path_factory):
    """One real server whose index directory is empty (not ready), shared by the API and UI tests
    of that state: a server start costs seconds, the state is the same."""
    tmp = tmp_path_factory.mktemp("no-index-server")
    empty = tmp / "no-index"
    empty.mkdir()
    server = start_server(tmp, {"KANMIN_INDEX_DIR": str(empty), "KANMIN_LLM_BACKEND": "none"}, wait_ready=False)
    from helpers_reliability import wait_until

    try:
        # past "starting": the load has failed and says why
        wait_until(lambda: httpx.get(server.url + "/readyz", timeout=30).json()["error"]["code"] != "starting",
                   120, 0.3, "the index-less server's load to fail")
    except BaseException:
        stop_server(server)
        raise
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def fake_slack():
    """A fake Slack Web API on 127.0.0.1 that records what the bot posts."""
    from fake_slack import FakeSlack

    fake = FakeSlack()
    yield fake
    fake.close()


# ---- a real browser (Debian chromium driven by playwright; never `playwright install`) ----------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LOCAL_URL = re.compile(r"^(https?|wss?)://127\.0\.0\.1:\d+/|^(data|blob):")  # what a page may load


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs chromium and fonts-ipafont-gothic with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()
