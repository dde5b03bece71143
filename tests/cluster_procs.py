"""`kanmin serve` replicas on 127.0.0.1 for the cluster tests; PostgreSQL, Redis and nginx come from
eval/local_servers.py (shared with `kanmin bench`).
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx

from conftest import KANMIN, ROOT, free_port
from eval.local_servers import end_process, wait_until
START_S = 180.0  # generous: 2 cores shared with other work


class Replica:
    """One `kanmin serve` on a fixed port (so nginx's upstream finds it again after a restart)."""

    def __init__(self, name: str, tmp: Path, env: dict[str, str]):
        self.name = name
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.tmp / f"{self.name}-{self.starts}.log"

    def start(self) -> "Replica":
        self.starts += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KANMIN_DB_PATH": str(self.tmp / f"{self.name}.sqlite3"),
               **self.env}
        with open(self.log_path, "w", encoding="utf-8") as log:
            self.proc = subprocess.Popen([KANMIN, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        wait_until(lambda: httpx.get(self.url + "/readyz", timeout=5).status_code == 200, f"replica {self.name}",
              START_S, self.log_path, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush - a crashed machine."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        end_process(self.proc)
