"""Store tests, each against both engines: a real SQLite file and a real PostgreSQL cluster.

The PostgreSQL half starts a throwaway cluster (eval/local_servers.py) once for this module and
removes it at the end, also when tests fail; it is skipped only when the binaries are missing.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from assistant.schema import Answer
from assistant.migrations import HEAD_REVISION
from assistant.store import MIGRATIONS_DIR, STATE_TABLES, Store
from eval.local_servers import PgCluster, pg_missing
from ingest.settings import PROJECT_ROOT, Settings


def _answer(i: int, session: str | None = "s1") -> Answer:
    return Answer(id=f"a{i}", question=f"q{i}", answer=f"ans {i}", language="ja", route="qa",
                  route_reason="test", persona="any", session_id=session, resolved_question=f"rq{i}")


@pytest.fixture(scope="module")
def pg():
    reason = pg_missing()
    if reason:
        pytest.skip(reason)
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path):
    """A factory of Store objects on one fresh database (several = several processes/replicas)."""
    made: list[Store] = []
    if request.param == "postgresql":
        url = request.getfixturevalue("pg").new_database()

        def make() -> Store:
            made.append(Store(url=url))
            return made[-1]
    else:
        path = tmp_path / "sub" / "dir" / "k.sqlite3"

        def make() -> Store:
            made.append(Store(path))
            return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.fixture
def store(make_store):
    return make_store()


def sql(store: Store, statement: str, params: dict | None = None) -> list[tuple]:
    """Run SQL on the store's database through a connection of its own (not the store's)."""
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.path)
        try:
            rows = conn.execute(statement, params or {}).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    engine = sa.create_engine(store.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            res = conn.execute(sa.text(statement), params or {})
            return [tuple(r) for r in res.all()] if res.returns_rows else []
    finally:
        engine.dispose()


def tables(store: Store) -> set[str]:
    if store.dialect == "sqlite":
        return {r[0] for r in sql(store, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                            " AND name NOT LIKE 'sqlite_%'")}
    return {r[0] for r in sql(store, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_sqlite_file_created_on_first_use_in_wal(tmp_path):
    store = Store(tmp_path / "sub" / "dir" / "k.sqlite3")
    assert store.dialect == "sqlite"
    assert not store.path.exists()
    assert store.feedback_rows() == []
    assert store.path.exists()
    assert store.journal_mode() == "wal"
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    store.close()


def test_migrated_at_first_use_and_idempotent(make_store):
    store = make_store()
    assert store.schema_version() == 1
    assert tables(store) == {"alembic_version", "answers", "feedback", "seen_events", "feedback_votes"}
    assert sql(store, "SELECT version_num FROM alembic_version") == [("0001",)]
    store.add_feedback("a1", "up")
    again = make_store()  # a second process starting on a migrated database
    assert again.schema_version() == 1
    assert sql(store, "SELECT COUNT(*) FROM alembic_version") == [(1,)]
    assert len(again.feedback_rows()) == 1


def _schema(engine: sa.Engine) -> dict:
    """Every table's columns, keys, indexes and checks, as the database itself reports them."""
    insp = sa.inspect(engine)
    return {t: {"columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in insp.get_columns(t)],
                "pk": insp.get_pk_constraint(t),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
                "checks": sorted((c["name"], c["sqltext"]) for c in insp.get_check_constraints(t))}
            for t in sorted(insp.get_table_names())}


def test_a_new_database_gets_the_schema_the_migrations_build(make_store, tmp_path, request):
    """A new database is created from the store's tables and stamped (no Alembic run); the same
    revision built by ``alembic upgrade head`` on another new database must be the same schema,
    and Alembic's own comparison must find nothing to change."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext

    store = make_store()
    assert store.schema_version() == int(HEAD_REVISION)
    url = (request.getfixturevalue("pg").new_database() if store.dialect == "postgresql"
           else f"sqlite:///{tmp_path / 'by_alembic.sqlite3'}")
    by_alembic = sa.create_engine(url)
    try:
        with by_alembic.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        assert _schema(store._engine()) == _schema(by_alembic)
        if store.dialect == "sqlite":  # down to the DDL text
            master = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            with by_alembic.connect() as conn:
                assert sql(store, master) == [tuple(r) for r in conn.exec_driver_sql(master)]
        for engine in (store._engine(), by_alembic):
            with engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_server_default": True})
                assert compare_metadata(ctx, STATE_TABLES) == []
                assert ctx.get_current_revision() == HEAD_REVISION
    finally:
        by_alembic.dispose()


def test_head_revision_is_alembic_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_the_serving_path_never_imports_alembic(tmp_path):
    """Creating a new SQLite file, and opening it again as a restarted server does, stay off
    Alembic (it and Mako hold ~11 MB of a server's memory); only an older file needs it."""
    code = ("import sys\n"
            "from assistant.store import Store\n"
            "for _ in range(2):\n"
            "    s = Store(sys.argv[1]); s.add_feedback('a1', 'up'); assert s.schema_version() == 1; s.close()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "k.sqlite3")], capture_output=True, text=True,
                         timeout=300, cwd=str(PROJECT_ROOT))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_concurrent_start_up_migrates_once(make_store):
    """Four stores (as four processes) starting together on an empty database: the migration lock
    lets exactly one create the schema; the others wait and find it done."""
    stores = [make_store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def start(s: Store) -> int:
        barrier.wait(timeout=60)
        return s.schema_version()

    with ThreadPoolExecutor(max_workers=len(stores)) as pool:
        assert list(pool.map(start, stores, timeout=300)) == [1, 1, 1, 1]
    assert sql(stores[0], "SELECT COUNT(*) FROM alembic_version") == [(1,)]


def test_save_answer_and_recent_turns(store):
    for i in range(10):
        store.save_answer(_answer(i))
    store.save_answer(_answer(100, session="other"))
    store.save_answer(_answer(200, session=None))
    turns = store.recent_turns("s1", 3)
    assert [t.id for t in turns] == ["a7", "a8", "a9"]  # oldest → newest
    assert turns[-1].resolved_question == "rq9"
    assert [t.id for t in store.recent_turns("other", 5)] == ["a100"]
    assert store.recent_turns("nope", 5) == []
    assert store.recent_turns("s1", 0) == []
    assert store.has_answer("a200") and store.has_answer("a0") and not store.has_answer("zzz")
    assert store.get_answer("a9").answer == "ans 9" and store.get_answer("zzz") is None
    row = sql(store, "SELECT id, session_id, question, resolved_question, answer, route, persona, created_at,"
                     " json FROM answers WHERE id='a9'")[0]
    assert row[:7] == ("a9", "s1", "q9", "rq9", "ans 9", "qa", "any") and row[7] and '"id":"a9"' in row[8]


def test_resaved_answer_replaces_and_becomes_newest(store):
    for i in range(3):
        store.save_answer(_answer(i))
    changed = _answer(0)
    changed.answer = "edited"
    store.save_answer(changed, source="slack")
    assert [t.id for t in store.recent_turns("s1", 10)] == ["a1", "a2", "a0"]
    assert store.get_answer("a0").answer == "edited"
    assert sql(store, "SELECT COUNT(*), MAX(source) FROM answers WHERE id = 'a0'") == [(1, "slack")]


def test_prune_sessions_bounds_history(store):
    for i in range(20):
        store.save_answer(_answer(i))
    for i in range(20, 25):
        store.save_answer(_answer(i, session="s2"))
    store.save_answer(_answer(99, session=None))
    store.prune_sessions(4)
    assert [t.id for t in store.recent_turns("s1", 100)] == ["a16", "a17", "a18", "a19"]
    assert len(store.recent_turns("s2", 100)) == 4
    assert store.has_answer("a99")  # session-less answers stay (feedback may refer to them)


def test_500_concurrent_feedback_none_lost(store):
    store.save_answer(_answer(1))
    barrier = threading.Barrier(16)

    def one(i: int) -> int:
        if i < 16:
            barrier.wait(timeout=60)
        return store.add_feedback("a1", "up" if i % 2 else "down", comment=f"c{i}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(500), timeout=300))
    assert len(set(ids)) == 500
    rows = store.feedback_rows("a1")
    assert len(rows) == 500
    assert sum(r["rating"] == "up" for r in rows) == 250
    assert sql(store, "SELECT COUNT(*) FROM feedback") == [(500,)]


def test_concurrent_feedback_across_store_instances(make_store):
    """Two Store objects (as two processes would) on one database: writers retry, none lost."""
    a, b = make_store(), make_store()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: (a if i % 2 else b).add_feedback("x", "up"), range(200), timeout=300))
    assert len(a.feedback_rows()) == 200


def test_feedback_rejects_bad_rating(store):
    with pytest.raises(ValueError):
        store.add_feedback("a1", "meh")
    with pytest.raises(ValueError):
        store.vote("a1", "U1", "meh")
    assert store.feedback_rows() == []


def test_feedback_rows_fields(store):
    rid = store.add_feedback("a1", "down", comment="wrong page", source="slack")
    rows = store.feedback_rows()
    assert set(rows[0]) == {"id", "answer_id", "rating", "comment", "source", "created_at"}
    assert rows[0]["id"] == rid and rows[0]["rating"] == "down" and rows[0]["comment"] == "wrong page"
    assert rows[0]["source"] == "slack" and isinstance(rows[0]["created_at"], str) and rows[0]["created_at"]
    assert store.feedback_rows("other") == []


def test_one_vote_per_voter_and_comments(store):
    fid, what = store.vote("a1", "U1", "up", source="slack")
    assert what == "new"
    assert store.vote("a1", "U1", "up", source="slack") == (fid, "same")
    assert store.vote("a1", "U1", "down", source="slack") == (fid, "changed")
    fid2, what2 = store.vote("a1", "U2", "down", source="slack")
    assert what2 == "new" and fid2 != fid
    assert store.vote("a2", "U1", "up")[1] == "new"
    assert [(r["answer_id"], r["rating"]) for r in store.feedback_rows("a1")] == [("a1", "down"), ("a1", "down")]
    assert store.set_feedback_comment(fid, "U1", "p.20 が違う")
    assert not store.set_feedback_comment(fid, "U2", "not theirs")
    assert not store.set_feedback_comment(99999, "U1", "unknown")
    assert [r["comment"] for r in store.feedback_rows("a1")] == ["p.20 が違う", None]
    assert sql(store, "SELECT COUNT(*) FROM feedback_votes WHERE feedback_id = 0") == [(0,)]


def test_concurrent_votes_one_row_per_voter(make_store):
    """Two replicas receiving the same click 30 times: one "new" per (answer, voter), one row each."""
    a, b = make_store(), make_store()
    n = 30
    barrier = threading.Barrier(2)

    def clicks(s: Store) -> list[tuple[int, str]]:
        out = []
        for i in range(n):
            barrier.wait(timeout=60)
            out.append(s.vote(f"ans{i}", "U1", "up", source="slack"))
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:
        ra, rb = pool.map(clicks, [a, b], timeout=300)
    for i in range(n):
        assert sorted([ra[i][1], rb[i][1]]) == ["new", "same"], i
        assert ra[i][0] == rb[i][0]
    assert len(a.feedback_rows()) == n


def test_seen_event_atomic(store):
    assert store.seen_event("Ev1") is False
    assert store.seen_event("Ev1") is True
    results: list[bool] = []
    lock = threading.Lock()

    def hit():
        r = store.seen_event("Ev2")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results.count(False) == 1 and results.count(True) == 19


def test_seen_event_two_claimants_fifty_ids(make_store):
    """Two threads, each with its own Store (as two replicas), claim the same 50 event ids in
    lock-step: every id is won by exactly one of them."""
    stores = [make_store(), make_store()]
    ids = [f"Ev{i:03d}" for i in range(50)]
    barrier = threading.Barrier(2)

    def claim_all(s: Store) -> list[bool]:
        won = []
        for key in ids:
            barrier.wait(timeout=60)
            won.append(not s.seen_event(key))
        return won

    with ThreadPoolExecutor(max_workers=2) as pool:
        wa, wb = pool.map(claim_all, stores, timeout=300)
    assert [x + y for x, y in zip(wa, wb)] == [1] * 50
    assert sql(stores[0], "SELECT COUNT(*) FROM seen_events") == [(50,)]


def test_prune_events(store):
    assert store.seen_event("old") is False
    sql(store, "UPDATE seen_events SET created_at = '2000-01-01T00:00:00.000+00:00' WHERE key = 'old'")
    store.seen_event("new")
    store.prune_events(3600)
    assert store.seen_event("old") is False  # forgotten, so recorded afresh
    assert store.seen_event("new") is True


def test_from_settings_selects_the_engine(tmp_path, request):
    s = Store.from_settings(Settings(db_path=tmp_path / "x.sqlite3"))
    assert s.dialect == "sqlite" and s.path == tmp_path / "x.sqlite3"
    p = Store.from_settings(Settings(db_path=tmp_path / "y.sqlite3",
                                     database_url="postgresql+psycopg://u:secret@127.0.0.1:1/db"))
    assert p.dialect == "postgresql" and p.path is None and "secret" not in repr(p)
    assert not (tmp_path / "y.sqlite3").exists()
    with pytest.raises(ValueError, match="postgresql"):
        Store(url="mysql://u@h/db").feedback_rows()


def test_postgres_statement_timeout_and_pool_settings(pg):
    s = Settings(db_statement_timeout_ms=1234, db_pool_size=3, db_max_overflow=2)
    store = Store(url=pg.new_database(), settings=s)
    try:
        assert store.feedback_rows() == []
        engine = store._engine()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar_one() == "1234ms"
        assert engine.pool.size() == 3 and engine.pool._max_overflow == 2
    finally:
        store.close()


def test_postgres_answers_commit_without_flush_wait_only_in_their_transaction(pg):
    """db_async_answer_commit: SET LOCAL in the answer's transaction, never left on the pooled
    connection for the feedback that follows (which must wait for the WAL flush)."""
    url = pg.new_database()
    store = Store(url=url, settings=Settings(db_pool_size=1, db_max_overflow=0))
    try:
        with store._engine().connect() as conn:  # the test cluster runs with it off: this database, on
            conn.execute(sa.text(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET synchronous_commit = on"))
            conn.commit()
        store._engine().dispose()
        store.save_answer(_answer(1))
        with store._engine().connect() as conn:  # the one pooled connection the save used
            assert conn.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"
        assert store.recent_turns("s1", 5)[0].id == "a1"
    finally:
        store.close()


def test_slack_bot_and_container_use_the_configured_database(pg, tmp_path):
    """The callers build their store from the settings: with KANMIN_DATABASE_URL set, two bots (two
    replicas) claim Slack events in the one PostgreSQL database and no SQLite file appears."""
    from assistant.container import Container
    from ui.metrics import Metrics
    from ui.runtime import ContainerHolder
    from ui.slack.bot import SlackBot

    settings = Settings(db_path=tmp_path / "never.sqlite3", database_url=pg.new_database())
    bots = [SlackBot(settings, ContainerHolder(lambda: None), Metrics()) for _ in range(2)]
    try:
        assert [b.store().dialect for b in bots] == ["postgresql", "postgresql"]
        assert bots[0].store() is not bots[1].store()
        assert bots[0].store().seen_event("slack:event:Ev9") is False
        assert bots[1].store().seen_event("slack:event:Ev9") is True
        container = Container(settings).load()  # the session's index (tests/conftest.py)
        assert container.store.dialect == "postgresql"
        assert container.store.seen_event("slack:event:Ev9") is True
    finally:
        for b in bots:
            b.store().close()
    assert not (tmp_path / "never.sqlite3").exists()


def _poll(cond, what: str, deadline_s: float = 120.0) -> None:
    import time

    end = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class _CountingStore(Store):
    """Counts the transient errors the store decided to retry."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.transient_seen = 0

    def _transient(self, exc):
        hit = super()._transient(exc)
        self.transient_seen += hit
        return hit


def test_sqlite_busy_write_is_retried_until_the_lock_goes(tmp_path):
    path = tmp_path / "k.sqlite3"
    store = _CountingStore(path, settings=Settings(db_busy_timeout_ms=20, db_retry_attempts=100000,
                                                   db_retry_max_delay_s=0.02))
    store.add_feedback("a", "up")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(store.add_feedback("a", "down")))
    t.start()
    try:
        _poll(lambda: store.transient_seen >= 3, "three busy retries")
        assert not done  # still waiting for the lock, not failed, not written around it
    finally:
        holder.execute("COMMIT")
        holder.close()
    t.join(timeout=120)
    assert done == [2] and [r["rating"] for r in store.feedback_rows()] == ["up", "down"]
    store.close()


def test_sqlite_busy_gives_up_after_the_configured_attempts(tmp_path):
    path = tmp_path / "k.sqlite3"
    store = _CountingStore(path, settings=Settings(db_busy_timeout_ms=10, db_retry_attempts=3,
                                                   db_retry_max_delay_s=0.01))
    store.add_feedback("a", "up")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            store.add_feedback("a", "down")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.transient_seen == 3  # three tries, each busy; the error is reported, not swallowed
    assert len(store.feedback_rows()) == 1
    store.close()


def test_postgres_serialization_failure_is_retried(pg):
    """A real serialization failure (40001): a REPEATABLE READ transaction whose row another
    transaction changed after its snapshot. The store's retry runs it again, and the second run wins."""
    url = pg.new_database()
    store = _CountingStore(url=url, settings=Settings(db_retry_attempts=5, db_retry_max_delay_s=0.01))
    other = sa.create_engine(url, poolclass=sa.pool.NullPool)
    fid = store.add_feedback("a", "up")
    runs = 0

    def txn() -> None:
        nonlocal runs
        runs += 1
        with store._engine().connect() as c:
            c.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            c.execute(sa.text("SELECT comment FROM feedback WHERE id = :i"), {"i": fid}).all()  # snapshot
            if runs == 1:
                with other.begin() as o:
                    o.execute(sa.text("UPDATE feedback SET comment = 'other' WHERE id = :i"), {"i": fid})
            c.execute(sa.text("UPDATE feedback SET comment = 'mine' WHERE id = :i"), {"i": fid})
            c.commit()

    try:
        store._retry(txn)
        assert runs == 2 and store.transient_seen == 1
        assert store.feedback_rows()[0]["comment"] == "mine"
    finally:
        other.dispose()
        store.close()


def test_seen_event_two_processes_fifty_ids(make_store, tmp_path):
    """Two OS processes, each with its own Store, claim the same 50 event ids at once: each id is
    won by exactly one process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    store = make_store()
    store.feedback_rows()
    target = store.url or str(store.path)
    go = tmp_path / "go"
    script = Path(__file__).with_name("store_claimer.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, str(script), target, str(go), "50"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    won = [set(o[0].split()) for o in outs]
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == {f"ev{i}" for i in range(50)}
    assert sql(store, "SELECT COUNT(*) FROM seen_events") == [(50,)]
