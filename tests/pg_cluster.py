"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests (initdb + pg_ctl, removed at the end).

``initdb`` refuses to run as root, so as root the cluster is made and run by the ``postgres``
system user (``runuser -u postgres``); as any other user it runs as that user. The data
directory, the unix socket and the log all live in one temp dir that ``stop()`` removes.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

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
RUN_AS = "postgres"


def missing() -> str | None:
    """Why a cluster cannot be started here (None if it can)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL binaries not found: {PG_BIN / tool} is missing"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root and there is no {RUN_AS!r} system user for initdb"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="kanmin-pg-"))
        self.data = self.tmp / "data"
        self.log = self.tmp / "postgres.log"
        self.port = 0
        self.started = False
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            ent = pwd.getpwnam(RUN_AS)
            os.chown(self.tmp, ent.pw_uid, ent.pw_gid)

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.tmp)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")

    def start(self) -> "PgCluster":
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.port = _free_port()
        opts = (f"-h 127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off -c full_page_writes=off"
                " -c synchronous_commit=off -c max_connections=200")
        self.started = True  # from here on, stop() has something to stop
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                  "-w", "-t", "120", "start", timeout=180)
        return self

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
