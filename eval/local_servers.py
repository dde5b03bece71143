"""Throwaway servers on 127.0.0.1 for the benchmark and the tests: a PostgreSQL cluster (initdb +
pg_ctl), Redis, and nginx running deploy/nginx/kanmin.conf in front of kanmin replicas.

Each lives in a temp dir of its own (data, config, logs, pid file, socket) and ``stop()`` ends the
process it started (by its pid or pg_ctl) and removes that dir. It lives in ``eval`` because
``kanmin bench`` measures a cluster too; the tests import it from here (tests may import eval,
never the other way).

``initdb`` refuses to run as root, so as root the cluster is made and run by the ``postgres``
system user (``runuser -u postgres``); as any other user it runs as that user.
"""
from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from ingest.settings import PROJECT_ROOT

NGINX_SITE = PROJECT_ROOT / "deploy" / "nginx" / "kanmin.conf"
DEPLOY_PORTS = ("8001", "8002")  # the replica ports written in the deploy file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def which(prog: str) -> str | None:
    return shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/usr/local/sbin:/usr/local/bin")


def wait_until(check: Callable[[], object], what: str, deadline_s: float, log: Path | None = None,
               proc: subprocess.Popen | None = None) -> None:
    """Poll ``check`` every 0.2 s until it is truthy; RuntimeError with the log's tail otherwise."""
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


def end_process(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM the process we started, SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# ---- PostgreSQL -------------------------------------------------------------------------------
def _pg_bin() -> Path:
    """KANMIN_TEST_PG_BIN, else /usr/local/bin, else Debian's newest /usr/lib/postgresql/<v>/bin (not on PATH)."""
    if os.environ.get("KANMIN_TEST_PG_BIN"):
        return Path(os.environ["KANMIN_TEST_PG_BIN"])
    if (Path("/usr/local/bin") / "initdb").exists():
        return Path("/usr/local/bin")
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/local/bin")


PG_BIN = _pg_bin()
PG_RUN_AS = "postgres"


def pg_missing() -> str | None:
    """Why a PostgreSQL cluster cannot be started here (None if it can)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL binaries not found: {PG_BIN / tool} is missing"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_RUN_AS)
        except KeyError:
            return f"running as root and there is no {PG_RUN_AS!r} system user for initdb"
    return None


class PgCluster:
    """``durable=False`` (tests): fsync, full-page writes and synchronous commit off, for speed.
    ``durable=True`` (the benchmark): PostgreSQL's defaults, as a deployment runs it."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.tmp = Path(tempfile.mkdtemp(prefix="kanmin-pg-"))
        self.data = self.tmp / "data"
        self.log = self.tmp / "postgres.log"
        self.port = 0
        self.started = False
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            ent = pwd.getpwnam(PG_RUN_AS)
            os.chown(self.tmp, ent.pw_uid, ent.pw_gid)

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", PG_RUN_AS, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.tmp)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")

    def start(self) -> "PgCluster":
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.port = free_port()
        self.started = True  # from here on, stop() has something to stop
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the (initialised) cluster on its port: the first start, or again after ``stop_server``."""
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.tmp} -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                  "-w", "-t", "120", "start", timeout=180)

    def stop_server(self) -> None:
        """Stop the server, keep the data (``-m fast``: open sessions are ended, as in a restart)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", timeout=90)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.started and (self.data / "postmaster.pid").exists():
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "-t", "60",
                          "stop", timeout=90)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- Redis ------------------------------------------------------------------------------------
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
        wait_until(client.ping, "redis-server", 30, log, self.proc)
        return self

    def stop(self) -> None:
        try:
            end_process(self.proc)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- nginx ------------------------------------------------------------------------------------
class Nginx:
    """nginx with deploy/nginx/kanmin.conf; ``replicas`` are anything with a ``port`` (two of them)."""

    def __init__(self, replicas: Sequence):
        self.tmp = Path(tempfile.mkdtemp(prefix="kanmin-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.replicas = list(replicas)
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
        import httpx

        conf = self.tmp / "nginx.conf"
        conf.write_text(self.config(), encoding="utf-8")
        nginx = which("nginx") or "nginx"
        base = [nginx, "-e", str(self.error_log), "-p", str(self.tmp), "-c", str(conf), "-g", "daemon off;"]
        check = subprocess.run([base[0], "-t", *base[1:]], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the generated config:\n{check.stderr}")
        self.proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.tmp)
        wait_until(lambda: httpx.get(self.url + "/healthz", timeout=5).status_code == 200, "nginx", 30,
                   self.error_log, self.proc)
        return self

    def error_tail(self, chars: int = 2000) -> str:
        """The end of nginx's error logs (the server's and the site's): why an upstream failed."""
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in (self.error_log, self.tmp / "kanmin.error.log")
                         if p.is_file())

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
            end_process(self.proc)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
