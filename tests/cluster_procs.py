"""Throwaway Redis, nginx and `kanmin serve` replicas on 127.0.0.1 for the cluster test.

Each lives in a temp dir of its own (config, logs, pid file) and ``stop()`` ends the process it
started (by its pid) and removes that dir. nginx runs deploy/nginx/kanmin.conf itself, with only
the replica ports, the listen address and the log paths substituted.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from conftest import KANMIN, ROOT, free_port

NGINX_SITE = ROOT / "deploy" / "nginx" / "kanmin.conf"
DEPLOY_PORTS = ("8001", "8002")  # the replica ports written in the deploy file
START_S = 180.0  # generous: 2 cores shared with other work


def which(prog: str) -> str | None:
    return shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/usr/local/sbin:/usr/local/bin")


def _wait(check, what: str, deadline_s: float, log: Path | None = None, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up (exit={proc.poll() if proc else None}):\n{tail}")


def _end(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


class RedisServer:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="kanmin-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        import redis

        log = self.tmp / "redis.log"
        self.proc = subprocess.Popen(
            [which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.tmp), "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.tmp)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        _wait(client.ping, "redis-server", 30, log, self.proc)
        return self

    def stop(self) -> None:
        try:
            _end(self.proc)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


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
        _wait(lambda: httpx.get(self.url + "/readyz", timeout=5).status_code == 200, f"replica {self.name}",
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
        _end(self.proc)


class Nginx:
    def __init__(self, replicas: list[Replica]):
        self.tmp = Path(tempfile.mkdtemp(prefix="kanmin-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.replicas = replicas
        self.proc: subprocess.Popen | None = None
        self.access_log = self.tmp / "kanmin.access.log"
        self.error_log = self.tmp / "error.log"

    def config(self) -> str:
        site = NGINX_SITE.read_text(encoding="utf-8")
        for deploy_port, replica in zip(DEPLOY_PORTS, self.replicas, strict=True):
            site = site.replace(f"127.0.0.1:{deploy_port}", f"127.0.0.1:{replica.port}")
        site = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        site = site.replace("/var/log/nginx/", f"{self.tmp}/")
        user = ""
        if os.geteuid() == 0:  # workers would otherwise drop to nobody and not reach the temp dirs
            user = f"user {pwd.getpwuid(0).pw_name};"
        temp = "\n".join(f"    {k}_temp_path {self.tmp}/{k};" for k in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"{user}\nworker_processes 1;\nerror_log {self.error_log} warn;\npid {self.tmp}/nginx.pid;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n{temp}\n{site}\n}}\n")

    def start(self) -> "Nginx":
        conf = self.tmp / "nginx.conf"
        conf.write_text(self.config(), encoding="utf-8")
        nginx = which("nginx") or "nginx"
        check = subprocess.run([nginx, "-t", "-e", str(self.error_log), "-p", str(self.tmp), "-c", str(conf), "-g", "daemon off;"],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the generated config:\n{check.stderr}")
        self.proc = subprocess.Popen([nginx, "-e", str(self.error_log), "-p", str(self.tmp), "-c", str(conf), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.tmp)
        _wait(lambda: httpx.get(self.url + "/healthz", timeout=5).status_code == 200, "nginx", 30,
              self.error_log, self.proc)
        return self

    def log_lines(self) -> list[dict[str, str]]:
        """The access log as dicts (status, upstream, upstream_status, rid)."""
        out = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            m = re.search(r'" (\d{3}) \S+ upstream=(.*?) upstream_status=(.*?) rid=(\S*)$', line)
            if m:
                out.append({"status": m[1], "upstream": m[2], "upstream_status": m[3], "rid": m[4]})
        return out

    def stop(self) -> None:
        try:
            _end(self.proc)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
