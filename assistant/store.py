"""State: answers (conversation history), feedback, Slack event de-duplication.

One state layer on SQLAlchemy Core, two engines:

- **SQLite** (the default, no server): one file (``settings.db_path``), WAL mode, pooled
  connections; every write is one ``BEGIN IMMEDIATE`` transaction and is retried with
  jittered backoff on ``database is locked`` / busy, so concurrent feedback is never lost.
- **PostgreSQL** (``KANMIN_DATABASE_URL=postgresql+psycopg://…``, psycopg 3): shared by
  every replica; pooled connections with a server-side ``statement_timeout``; writes are
  retried on serialization failures and deadlocks. Answers (history) commit without waiting for
  the WAL flush (``db_async_answer_commit``); feedback and claims wait for it.

The schema is versioned by Alembic (``assistant/migrations``). The first use of a ``Store``
checks it under a lock (SQLite: the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: a
transaction-scoped advisory lock), so processes starting together do not race: a database at the
head revision is used as it is; a new, empty one is created from the tables below and stamped
with the head (Alembic's "create_all, then stamp" recipe); anything else (an older revision, a
SQLite file written before Alembic) goes through ``alembic upgrade head``. Alembic itself (with
Mako, 7–11 MB of a server's memory) is imported only on that last path. Claims
(``seen_event``) and votes (``vote``) are single ``INSERT … ON CONFLICT DO NOTHING`` statements
whose row count says who won.
"""
from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import (CheckConstraint, Column, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text,
                        bindparam, create_engine, delete, event, func, inspect, select, text, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from assistant.migrations import HEAD_REVISION
from assistant.schema import Answer
from ingest.errors import KanminError
from ingest.settings import Settings, get_settings

T = TypeVar("T")
log = logging.getLogger("kanmin.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x6B616E6D696E  # "kanmin": pg_advisory_xact_lock key held while migrating
_PG_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected

class StoreUnavailable(KanminError):
    """The state database cannot be reached (down, restarting, pool exhausted): HTTP 503, the caller
    may try again. Raised instead of the driver's error so that no front door answers 500."""

    status = 503


def _unreachable(exc: BaseException) -> bool:
    """Connection-level failures (refused, dropped, admin shutdown, pool timeout), not bad SQL."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        return not _is_sqlite_busy(exc)
    return False


def _is_sqlite_busy(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.OperationalError):
        msg = str(orig).lower()
        return "locked" in msg or "busy" in msg
    return False


# The schema at HEAD_REVISION: what queries use, and what a new database is created from. The
# migrations build the same tables step by step for older databases; tests/test_store.py checks
# that both give the same schema on both engines.
STATE_TABLES = MetaData()
answers = Table(
    "answers", STATE_TABLES,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("session_id", Text),
    Column("question", Text, nullable=False),
    Column("resolved_question", Text),
    Column("answer", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("persona", Text, nullable=False),
    Column("source", Text, nullable=False, server_default=text("'api'")),
    Column("created_at", Text, nullable=False),
    Column("json", Text, nullable=False),
    Index("answers_session", "session_id", "seq"),
    sqlite_autoincrement=True,
)
feedback = Table(
    "feedback", STATE_TABLES,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", Text, nullable=False),
    Column("rating", Text, nullable=False),
    Column("comment", Text),
    Column("source", Text, nullable=False, server_default=text("'api'")),
    Column("created_at", Text, nullable=False),
    CheckConstraint("rating IN ('up', 'down')", name="feedback_rating"),
    Index("feedback_answer", "answer_id"),
    sqlite_autoincrement=True,
)
seen_events = Table(
    "seen_events", STATE_TABLES,
    Column("key", Text, primary_key=True),
    Column("created_at", Text, nullable=False),
)
feedback_votes = Table(
    "feedback_votes", STATE_TABLES,
    Column("answer_id", Text, primary_key=True),
    Column("voter", Text, primary_key=True),
    Column("feedback_id", Integer, nullable=False),
)
# Alembic's own version table, as Alembic creates it, so that a stamped database is one Alembic reads.
_version_meta = MetaData()
alembic_version = Table(
    "alembic_version", _version_meta,
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


_ANSWER_COLUMNS = ("id", "session_id", "question", "resolved_question", "answer", "route", "persona", "source",
                   "created_at", "json")
_DELETE_ANSWER = delete(answers).where(answers.c.id == bindparam("answer_id"))


def _one_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


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


def make_engine(settings: Settings, path: Path | str | None = None, url: str | None = None) -> Engine:
    """The engine for ``url`` (default ``settings.database_url``); empty = SQLite at ``path``
    (default ``settings.db_path``). Pool sizes and timeouts come from the settings."""
    url = settings.database_url if url is None else url
    pool = dict(pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                pool_timeout=settings.db_pool_timeout_s)
    if not url:
        db = Path(settings.db_path if path is None else path)
        engine = create_engine(URL.create("sqlite+pysqlite", database=str(db)), **pool,
                               connect_args={"timeout": settings.db_busy_timeout_ms / 1000,
                                             "check_same_thread": False})
        busy_ms = int(settings.db_busy_timeout_ms)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # the driver's implicit BEGIN off: we emit our own
            dbapi_conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            dbapi_conn.execute("PRAGMA synchronous = NORMAL")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # writers take the write lock up front (no deadlock-prone lock upgrade mid-transaction)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("kanmin_write")
                                 else "BEGIN")

        return engine
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"KANMIN_DATABASE_URL: only postgresql+psycopg://… is supported, got "
                         f"{parsed.drivername!r}")
    connect_args: dict[str, Any] = {"connect_timeout": max(1, int(round(settings.db_connect_timeout_s)))}
    if settings.db_statement_timeout_ms > 0:
        connect_args["options"] = f"-c statement_timeout={int(settings.db_statement_timeout_ms)}"
    return create_engine(parsed, **pool, pool_pre_ping=True, connect_args=connect_args)


class Store:
    """Thread-safe store; safe to share across threads, processes and (PostgreSQL) replicas.

    ``Store(path)`` is the SQLite file at ``path``; ``Store(url="postgresql+psycopg://…")`` or
    ``Store.from_settings(settings)`` follows ``KANMIN_DATABASE_URL``. Nothing is opened or
    created until first use.
    """

    def __init__(self, path: Path | str | None = None, *, url: str = "", settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.url = url or ""
        if not self.url and path is None:
            path = self.settings.db_path
        self.path: Path | None = None if self.url else Path(path)  # type: ignore[arg-type]
        self._engine_obj: Engine | None = None
        self._writer: Engine | None = None
        self._init_lock = threading.Lock()
        self._upsert: Any = None  # the answer statements, built on first save (see _answer_statements)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Store":
        s = settings or get_settings()
        return cls(s.db_path, url=s.database_url, settings=s)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self.path is not None else "postgresql"

    # -- engine, schema ------------------------------------------------------
    def _engine(self) -> Engine:
        if self._engine_obj is not None:
            return self._engine_obj
        with self._init_lock:
            if self._engine_obj is None:
                if self.path is not None:
                    _private_file(self.path)  # 0600 file, 0700 new dirs: conversations are personal data
                engine = make_engine(self.settings, path=self.path, url=self.url)
                try:
                    self._migrate(engine)
                except BaseException:
                    engine.dispose()
                    raise
                # preserve_rowcount: psycopg reports -1 for an INSERT's row count unless asked
                # to keep it, and the claims below decide who won by that count
                self._writer = engine.execution_options(kanmin_write=True, preserve_rowcount=True)
                self._engine_obj = engine
        return self._engine_obj

    def _migrate(self, engine: Engine) -> None:
        """The schema at HEAD_REVISION, checked and made under a lock held throughout (see the
        module docstring)."""
        if self.path is not None:
            def wal() -> None:
                raw = engine.raw_connection()
                try:
                    mode = raw.driver_connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                finally:
                    raw.close()
                if str(mode).lower() != "wal":  # pragma: no cover - e.g. exotic filesystems
                    raise sqlite3.OperationalError(f"could not enable WAL (got {mode})")

            self._retry(wal)

        def upgrade() -> None:
            with engine.execution_options(kanmin_write=True).begin() as conn:  # SQLite: BEGIN IMMEDIATE
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                present = set(inspect(conn).get_table_names())
                if "alembic_version" in present:
                    if conn.execute(select(alembic_version.c.version_num)).scalars().all() == [HEAD_REVISION]:
                        return
                elif not present & set(STATE_TABLES.tables):
                    STATE_TABLES.create_all(conn)
                    _version_meta.create_all(conn)
                    conn.execute(alembic_version.insert().values(version_num=HEAD_REVISION))
                    return
                from alembic import command
                from alembic.config import Config

                cfg = Config()
                cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

        self._retry(upgrade)

    def _transient(self, exc: BaseException) -> bool:
        if _is_sqlite_busy(exc):
            return True
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        return getattr(orig, "sqlstate", None) in _PG_RETRY_SQLSTATES

    def _retry(self, fn: Callable[[], T]) -> T:
        """``fn`` retried on busy / serialization failures. A database that cannot be reached is
        not retried here (a write whose COMMIT was lost in flight might have landed: the caller
        decides) but reported as ``StoreUnavailable``; after it, the pool's pre-ping reconnects."""
        attempts = max(1, int(self.settings.db_retry_attempts))
        cap = max(0.001, float(self.settings.db_retry_max_delay_s))
        delay = min(0.005, cap)
        for attempt in range(attempts):
            try:
                return fn()
            except (DBAPIError, sqlite3.OperationalError, PoolTimeout) as exc:
                if self._transient(exc) and attempt < attempts - 1:
                    time.sleep(delay + random.random() * delay)
                    delay = min(delay * 2, cap)
                    continue
                if _unreachable(exc):
                    log.warning("database unreachable", extra={"fields": {"error": _one_line(exc)}})
                    raise StoreUnavailable("database_unavailable",
                                           "the state database is unreachable; try again shortly") from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, fn: Callable[[Connection], T]) -> T:
        self._engine()

        def run() -> T:
            with self._writer.begin() as conn:  # type: ignore[union-attr]
                return fn(conn)

        return self._retry(run)

    def _read(self, stmt) -> list[Any]:
        engine = self._engine()

        def run() -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(stmt).all())

        return self._retry(run)

    def _insert(self, table: Table):
        return (sqlite_insert if self.path is not None else pg_insert)(table)

    def close(self) -> None:
        """Close pooled connections (the store reopens them if used again)."""
        if self._engine_obj is not None:
            self._engine_obj.dispose()

    # -- introspection -------------------------------------------------------
    def ping(self) -> str | None:
        """None when the database answers ``SELECT 1``; else the error's one-line reason (for /readyz)."""
        try:
            self._read(text("SELECT 1"))
            return None
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            # /readyz is public: the reason names the error class only; hosts and ports go to the log
            cause = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ else exc
            log.warning("database unreachable", extra={"fields": {"error": _one_line(cause)}})
            return f"database unreachable ({type(cause).__name__})"

    def schema_version(self) -> int:
        """The Alembic revision the database is at (revisions are numbered 0001, 0002, …)."""
        return int(self._read(text("SELECT version_num FROM alembic_version"))[0][0])

    def journal_mode(self) -> str:
        """SQLite's journal mode (``"wal"``); PostgreSQL always writes ahead, so ``"wal"`` there too."""
        if self.path is None:
            self._engine()
            return "wal"
        return str(self._read(text("PRAGMA journal_mode"))[0][0]).lower()

    # -- answers -------------------------------------------------------------
    def _answer_statements(self):
        """(INSERT … ON CONFLICT DO NOTHING, INSERT … ON CONFLICT (id) DO UPDATE), bound parameters,
        built once: a statement rebuilt per answer (``.values(**row)``) cost ~1 ms of SQLAlchemy
        coercion on every save."""
        if self._upsert is None:
            ins = self._insert(answers)
            self._upsert = (ins.on_conflict_do_nothing(index_elements=[answers.c.id]),
                            ins.on_conflict_do_update(index_elements=[answers.c.id],
                                                      set_={k: ins.excluded[k] for k in _ANSWER_COLUMNS if k != "id"}))
        return self._upsert

    def save_answer(self, answer: Answer, source: str = "api") -> None:
        row = dict(id=answer.id, session_id=answer.session_id, question=answer.question,
                   resolved_question=answer.resolved_question, answer=answer.answer, route=answer.route,
                   persona=answer.persona, source=source, created_at=_now(), json=answer.model_dump_json())
        insert_new, upsert = self._answer_statements()
        no_flush_wait = self.path is None and self.settings.db_async_answer_commit

        def run(c: Connection) -> None:
            if no_flush_wait:  # this transaction only (settings.db_async_answer_commit says why)
                c.exec_driver_sql("SET LOCAL synchronous_commit = off")
            # a new id (every ask) is one statement; a re-saved answer is replaced (delete + insert),
            # so it becomes its session's newest turn, and ON CONFLICT covers a concurrent save of it
            if c.execute(insert_new, row).rowcount == 1:
                return
            c.execute(_DELETE_ANSWER, {"answer_id": answer.id})
            c.execute(upsert, row)

        self._write(run)

    def recent_turns(self, session_id: str, limit: int) -> list[Answer]:
        if not session_id or limit <= 0:
            return []
        rows = self._read(select(answers.c.json).where(answers.c.session_id == session_id)
                          .order_by(answers.c.seq.desc()).limit(int(limit)))
        return [Answer.model_validate_json(r.json) for r in reversed(rows)]

    def has_answer(self, answer_id: str) -> bool:
        return bool(self._read(select(answers.c.seq).where(answers.c.id == answer_id).limit(1)))

    def get_answer(self, answer_id: str) -> Answer | None:
        rows = self._read(select(answers.c.json).where(answers.c.id == answer_id))
        return Answer.model_validate_json(rows[0].json) if rows else None

    def prune_sessions(self, keep_turns: int) -> None:
        """Keep only the last ``keep_turns`` answers of every session (history stays bounded)."""
        keep = max(int(keep_turns), 0)
        rn = func.row_number().over(partition_by=answers.c.session_id, order_by=answers.c.seq.desc())
        ranked = (select(answers.c.seq, rn.label("rn")).where(answers.c.session_id.is_not(None))
                  .subquery("ranked"))
        old = select(ranked.c.seq).where(ranked.c.rn > keep)
        self._write(lambda c: c.execute(delete(answers).where(answers.c.session_id.is_not(None),
                                                              answers.c.seq.in_(old))))

    # -- feedback ------------------------------------------------------------
    def add_feedback(self, answer_id: str, rating: str, comment: str | None = None, source: str = "api") -> int:
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        stmt = (feedback.insert().values(answer_id=answer_id, rating=rating, comment=comment, source=source,
                                         created_at=_now()).returning(feedback.c.id))
        return int(self._write(lambda c: c.execute(stmt).scalar_one()))

    def vote(self, answer_id: str, voter: str, rating: str, source: str = "api") -> tuple[int, str]:
        """One feedback row per (answer, voter): the first vote inserts it ("new"), the same vote again
        changes nothing ("same"), the other rating replaces it ("changed"). Returns (feedback id, what).

        The (answer, voter) row is claimed with ``INSERT … ON CONFLICT DO NOTHING``: of two votes
        arriving together (two replicas, two clicks) exactly one inserts; the other waits for it
        and then sees its row."""
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        vote_key = (feedback_votes.c.answer_id == answer_id) & (feedback_votes.c.voter == voter)

        def new_row(c: Connection) -> int:
            fid = int(c.execute(feedback.insert().values(answer_id=answer_id, rating=rating, comment=None,
                                                         source=source, created_at=_now())
                                .returning(feedback.c.id)).scalar_one())
            c.execute(update(feedback_votes).where(vote_key).values(feedback_id=fid))
            return fid

        def run(c: Connection) -> tuple[int, str]:
            claimed = c.execute(self._insert(feedback_votes)
                                .values(answer_id=answer_id, voter=voter, feedback_id=0)
                                .on_conflict_do_nothing(index_elements=[feedback_votes.c.answer_id,
                                                                        feedback_votes.c.voter])).rowcount
            if claimed == 1:
                return new_row(c), "new"
            row = c.execute(select(feedback.c.id, feedback.c.rating)
                            .select_from(feedback_votes.join(feedback, feedback.c.id == feedback_votes.c.feedback_id))
                            .where(vote_key).with_for_update(of=feedback)).first()
            if row is None:  # a vote whose feedback row is gone: vote afresh
                return new_row(c), "new"
            if row.rating == rating:
                return int(row.id), "same"
            c.execute(update(feedback).where(feedback.c.id == row.id).values(rating=rating, created_at=_now()))
            return int(row.id), "changed"

        return self._write(run)

    def set_feedback_comment(self, feedback_id: int, voter: str, comment: str) -> bool:
        """The comment of ``voter``'s own vote (False if that vote is not theirs / unknown)."""
        mine = select(feedback_votes.c.feedback_id).where(feedback_votes.c.voter == voter)
        stmt = update(feedback).where(feedback.c.id == int(feedback_id), feedback.c.id.in_(mine)).values(comment=comment)
        return bool(self._write(lambda c: c.execute(stmt).rowcount))

    def feedback_rows(self, answer_id: str | None = None) -> list[dict]:
        stmt = select(feedback).order_by(feedback.c.id)
        if answer_id is not None:
            stmt = stmt.where(feedback.c.answer_id == answer_id)
        return [dict(r._mapping) for r in self._read(stmt)]

    # -- Slack de-duplication -----------------------------------------------
    def seen_event(self, key: str) -> bool:
        """Atomically claim ``key``; True if it had already been claimed (by any process/replica)."""
        stmt = self._insert(seen_events).values(key=key, created_at=_now()).on_conflict_do_nothing(
            index_elements=[seen_events.c.key])
        return self._write(lambda c: c.execute(stmt).rowcount) == 0

    def prune_events(self, older_than_s: float = 86400.0) -> None:
        cutoff = datetime.fromtimestamp(time.time() - older_than_s, timezone.utc).isoformat(timespec="milliseconds")
        self._write(lambda c: c.execute(delete(seen_events).where(seen_events.c.created_at < cutoff)))

    def __repr__(self) -> str:
        if self.path is not None:
            return f"Store({str(self.path)!r})"
        return f"Store(url={make_url(self.url).render_as_string(hide_password=True)!r})"
