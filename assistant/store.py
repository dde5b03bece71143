"""SQLite state: answers (conversation history), feedback, Slack event de-duplication.

One file (``settings.db_path``), WAL mode, one connection per thread. Writers retry
on ``database is locked`` / busy with backoff so concurrent feedback is never lost.
"""
from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from assistant.schema import Answer

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
_WRITE_ATTEMPTS = 60

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT,
    question TEXT NOT NULL,
    resolved_question TEXT,
    answer TEXT NOT NULL,
    route TEXT NOT NULL,
    persona TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'api',
    created_at TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_session ON answers(session_id, seq);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    source TEXT NOT NULL DEFAULT 'api',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
CREATE TABLE IF NOT EXISTS seen_events (
    key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback_votes (
    answer_id TEXT NOT NULL,
    voter TEXT NOT NULL,
    feedback_id INTEGER NOT NULL,
    PRIMARY KEY (answer_id, voter)
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _private_file(path: Path) -> None:
    """Conversations are personal data: the directories we create are 0700 and the database 0600
    (SQLite gives its -wal/-shm files the database's mode). An existing database is tightened."""
    missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    try:
        # create it only if missing (O_EXCL): closing any fd of an open database would drop this
        # process's SQLite (POSIX) locks
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
    except PermissionError:  # a database owned by someone else (read-only deployments): leave it
        pass


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class Store:
    """Thread-safe SQLite store; safe to share across threads and processes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._initialised = False

    # -- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        self._ensure_schema()
        conn = self._open()
        self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        _private_file(self.path)
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.row_factory = sqlite3.Row
        return conn

    def _ensure_schema(self) -> None:
        if self._initialised:
            return
        with self._init_lock:
            if self._initialised:
                return
            conn = self._open()
            try:
                def init() -> None:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":  # pragma: no cover - e.g. exotic filesystems
                        raise sqlite3.OperationalError(f"could not enable WAL (got {mode})")
                    conn.executescript(_SCHEMA)
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        if conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
                            conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise

                self._retry(init)
            finally:
                conn.close()
            self._initialised = True

    @staticmethod
    def _retry(fn: Callable[[], T]) -> T:
        delay = 0.005
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == _WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, sql_fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connect()

        def run() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = sql_fn(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.OperationalError:
                    pass
                raise

        return self._retry(run)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = self._connect()
        return self._retry(lambda: conn.execute(sql, params).fetchall())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- introspection -------------------------------------------------------
    def schema_version(self) -> int:
        return int(self._read("SELECT MAX(version) FROM schema_version")[0][0])

    def journal_mode(self) -> str:
        return str(self._read("PRAGMA journal_mode")[0][0]).lower()

    # -- answers -------------------------------------------------------------
    def save_answer(self, answer: Answer, source: str = "api") -> None:
        payload = answer.model_dump_json()
        row = (answer.id, answer.session_id, answer.question, answer.resolved_question, answer.answer,
               answer.route, answer.persona, source, _now(), payload)
        self._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO answers(id, session_id, question, resolved_question, answer, route,"
            " persona, source, created_at, json) VALUES (?,?,?,?,?,?,?,?,?,?)", row))

    def recent_turns(self, session_id: str, limit: int) -> list[Answer]:
        if not session_id or limit <= 0:
            return []
        rows = self._read("SELECT json FROM answers WHERE session_id = ? ORDER BY seq DESC LIMIT ?",
                          (session_id, int(limit)))
        return [Answer.model_validate_json(r["json"]) for r in reversed(rows)]

    def has_answer(self, answer_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM answers WHERE id = ? LIMIT 1", (answer_id,)))

    def get_answer(self, answer_id: str) -> Answer | None:
        rows = self._read("SELECT json FROM answers WHERE id = ?", (answer_id,))
        return Answer.model_validate_json(rows[0]["json"]) if rows else None

    def prune_sessions(self, keep_turns: int) -> None:
        """Keep only the last ``keep_turns`` answers of every session (history stays bounded)."""
        keep = max(int(keep_turns), 0)
        self._write(lambda c: c.execute(
            "DELETE FROM answers WHERE session_id IS NOT NULL AND seq IN ("
            " SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY seq DESC) AS rn"
            " FROM answers WHERE session_id IS NOT NULL) WHERE rn > ?)", (keep,)))

    # -- feedback ------------------------------------------------------------
    def add_feedback(self, answer_id: str, rating: str, comment: str | None = None, source: str = "api") -> int:
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        row = (answer_id, rating, comment, source, _now())
        return int(self._write(lambda c: c.execute(
            "INSERT INTO feedback(answer_id, rating, comment, source, created_at) VALUES (?,?,?,?,?)",
            row).lastrowid))

    def vote(self, answer_id: str, voter: str, rating: str, source: str = "api") -> tuple[int, str]:
        """One feedback row per (answer, voter): the first vote inserts it ("new"), the same vote again
        changes nothing ("same"), the other rating replaces it ("changed"). Returns (feedback id, what)."""
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")

        def run(c: sqlite3.Connection) -> tuple[int, str]:
            row = c.execute("SELECT f.id, f.rating FROM feedback_votes v JOIN feedback f ON f.id = v.feedback_id"
                            " WHERE v.answer_id = ? AND v.voter = ?", (answer_id, voter)).fetchone()
            if row is None:
                fid = int(c.execute("INSERT INTO feedback(answer_id, rating, comment, source, created_at)"
                                    " VALUES (?,?,?,?,?)", (answer_id, rating, None, source, _now())).lastrowid)
                c.execute("INSERT OR REPLACE INTO feedback_votes(answer_id, voter, feedback_id) VALUES (?,?,?)",
                          (answer_id, voter, fid))
                return fid, "new"
            if row["rating"] == rating:
                return int(row["id"]), "same"
            c.execute("UPDATE feedback SET rating = ?, created_at = ? WHERE id = ?", (rating, _now(), row["id"]))
            return int(row["id"]), "changed"

        return self._write(run)

    def set_feedback_comment(self, feedback_id: int, voter: str, comment: str) -> bool:
        """The comment of ``voter``'s own vote (False if that vote is not theirs / unknown)."""
        return bool(self._write(lambda c: c.execute(
            "UPDATE feedback SET comment = ? WHERE id = ? AND id IN"
            " (SELECT feedback_id FROM feedback_votes WHERE voter = ?)", (comment, int(feedback_id), voter)).rowcount))

    def feedback_rows(self, answer_id: str | None = None) -> list[dict]:
        if answer_id is None:
            rows = self._read("SELECT * FROM feedback ORDER BY id")
        else:
            rows = self._read("SELECT * FROM feedback WHERE answer_id = ? ORDER BY id", (answer_id,))
        return [dict(r) for r in rows]

    # -- Slack de-duplication -----------------------------------------------
    def seen_event(self, key: str) -> bool:
        """Atomically record ``key``; True if it had already been recorded."""
        cur = self._write(lambda c: c.execute(
            "INSERT OR IGNORE INTO seen_events(key, created_at) VALUES (?, ?)", (key, _now())))
        return cur.rowcount == 0

    def prune_events(self, older_than_s: float = 86400.0) -> None:
        cutoff = datetime.fromtimestamp(time.time() - older_than_s, timezone.utc).isoformat(timespec="milliseconds")
        self._write(lambda c: c.execute("DELETE FROM seen_events WHERE created_at < ?", (cutoff,)))

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"
