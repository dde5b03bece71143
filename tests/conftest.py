"""Shared fixtures: the real guide, and real servers started as subprocesses on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
KANMIN = str(Path(sys.executable).parent / "kanmin")
ARTIFACTS = ROOT / "test-artifacts"


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
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"server not ready in {timeout}s:\n{server.log()[-3000:]}")


def stop_server(server: LiveServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """One real server for the whole session (default settings, no keys, no Slack)."""
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def fake_slack():
    """A fake Slack Web API on 127.0.0.1 that records what the bot posts."""
    from fake_slack import FakeSlack

    fake = FakeSlack()
    yield fake
    fake.close()
