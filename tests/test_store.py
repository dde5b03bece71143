"""Store unit tests against a real SQLite file."""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.schema import Answer
from assistant.store import SCHEMA_VERSION, Store


def _answer(i: int, session: str | None = "s1") -> Answer:
    return Answer(id=f"a{i}", question=f"q{i}", answer=f"ans {i}", language="ja", route="qa",
                  route_reason="test", persona="any", session_id=session, resolved_question=f"rq{i}")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "sub" / "dir" / "k.sqlite3")
    yield s
    s.close()


def test_creates_file_wal_and_schema_version(store):
    assert not store.path.exists()
    assert store.feedback_rows() == []
    assert store.path.exists()
    assert store.journal_mode() == "wal"
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()
    # Re-opening does not duplicate the version row.
    again = Store(store.path)
    assert again.schema_version() == 1
    again.close()
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    conn.close()


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
    conn = sqlite3.connect(store.path)
    row = conn.execute("SELECT id, session_id, question, resolved_question, answer, route, persona, created_at,"
                       " json FROM answers WHERE id='a9'").fetchone()
    conn.close()
    assert row[:7] == ("a9", "s1", "q9", "rq9", "ans 9", "qa", "any") and row[7] and '"id":"a9"' in row[8]


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


def test_500_concurrent_feedback_none_lost(tmp_path):
    store = Store(tmp_path / "k.sqlite3")
    store.save_answer(_answer(1))
    barrier = threading.Barrier(16)

    def one(i: int) -> int:
        if i < 16:
            barrier.wait(timeout=10)
        return store.add_feedback("a1", "up" if i % 2 else "down", comment=f"c{i}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(500), timeout=120))
    assert len(set(ids)) == 500
    rows = store.feedback_rows("a1")
    assert len(rows) == 500
    assert sum(r["rating"] == "up" for r in rows) == 250
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 500
    conn.close()


def test_concurrent_feedback_across_store_instances(tmp_path):
    """Two Store objects (as two processes would) on one file: writers retry, none lost."""
    path = tmp_path / "k.sqlite3"
    a, b = Store(path), Store(path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: (a if i % 2 else b).add_feedback("x", "up"), range(200), timeout=120))
    assert len(a.feedback_rows()) == 200


def test_feedback_rejects_bad_rating(store):
    with pytest.raises(ValueError):
        store.add_feedback("a1", "meh")
    assert store.feedback_rows() == []


def test_feedback_rows_fields(store):
    rid = store.add_feedback("a1", "down", comment="wrong page", source="slack")
    rows = store.feedback_rows()
    assert rows[0]["id"] == rid and rows[0]["rating"] == "down" and rows[0]["comment"] == "wrong page"
    assert rows[0]["source"] == "slack" and rows[0]["created_at"]
    assert store.feedback_rows("other") == []


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
        t.join(timeout=30)
    assert results.count(False) == 1 and results.count(True) == 19


def test_prune_events(store):
    assert store.seen_event("old") is False
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE seen_events SET created_at = '2000-01-01T00:00:00.000+00:00' WHERE key = 'old'")
    conn.commit()
    conn.close()
    store.seen_event("new")
    store.prune_events(3600)
    assert store.seen_event("old") is False  # forgotten, so recorded afresh
    assert store.seen_event("new") is True
