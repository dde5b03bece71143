"""A SQLite file written before Alembic (the store of commit d15c3c1) upgrades in place, nothing lost.

``LEGACY_SCHEMA`` is that store's DDL, copied verbatim (the code has moved on; the files in the
field have not). The file is written the way that store wrote it (WAL, ``schema_version`` = 1)
with rows in every table, then opened with today's ``Store``.
"""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.schema import Answer
from assistant.store import Store

LEGACY_SCHEMA = """
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
DATA_TABLES = ("answers", "feedback", "seen_events", "feedback_votes")


def _answer(i: int, session: str | None) -> Answer:
    return Answer(id=f"old{i}", question=f"質問{i}", answer=f"回答 {i}", language="ja", route="qa",
                  route_reason="legacy", persona="municipality", session_id=session, resolved_question=f"rq{i}")


def write_legacy_file(path: Path) -> None:
    """What the pre-Alembic store left on disk: its schema, version row and rows in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
        conn.executescript(LEGACY_SCHEMA)
        conn.execute("INSERT INTO schema_version(version) VALUES (1)")
        sessions = ["s1", "s1", "s1", "s2", None, "s1"]
        for i, sess in enumerate(sessions):
            a = _answer(i, sess)
            conn.execute("INSERT OR REPLACE INTO answers(id, session_id, question, resolved_question, answer, route,"
                         " persona, source, created_at, json) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (a.id, a.session_id, a.question, a.resolved_question, a.answer, a.route, a.persona,
                          "slack" if i % 2 else "api", f"2026-11-0{i + 1}T00:00:00.000+00:00", a.model_dump_json()))
        conn.execute("DELETE FROM answers WHERE id = 'old1'")  # a gap in seq, as pruning leaves
        for i, (aid, rating, comment) in enumerate([("old0", "up", None), ("old2", "down", "p.20 が違う"),
                                                     ("old3", "up", "ok"), ("old0", "down", None)]):
            conn.execute("INSERT INTO feedback(answer_id, rating, comment, source, created_at) VALUES (?,?,?,?,?)",
                         (aid, rating, comment, "slack", f"2026-11-1{i}T00:00:00.000+00:00"))
        conn.execute("INSERT INTO feedback_votes(answer_id, voter, feedback_id) VALUES ('old2', 'U1', 2)")
        conn.execute("INSERT INTO feedback_votes(answer_id, voter, feedback_id) VALUES ('old0', 'U2', 4)")
        conn.execute("DELETE FROM feedback WHERE id = 3")  # AUTOINCREMENT must not hand id 4 out again
        conn.execute("INSERT INTO feedback(answer_id, rating, comment, source, created_at)"
                     " VALUES ('old5', 'up', NULL, 'api', '2026-11-20T00:00:00.000+00:00')")
        for key in ("Ev1", "slack:share:C1:old0", "trigger:123.456"):
            conn.execute("INSERT INTO seen_events(key, created_at) VALUES (?, ?)",
                         (key, "2026-11-28T23:00:00.000+00:00"))
    finally:
        conn.close()


def dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        out = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in DATA_TABLES}
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        out["_tables"] = sorted(n for n in names if not n.startswith("sqlite_"))
        out["_indexes"] = sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'"))
        out["_seq"] = sorted(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        return out
    finally:
        conn.close()


def test_legacy_file_upgrades_in_place_nothing_lost(tmp_path):
    path = tmp_path / "state" / "kanmin.sqlite3"
    path.parent.mkdir()
    write_legacy_file(path)
    before = dump(path)
    assert "schema_version" in before["_tables"] and len(before["answers"]) == 5 and len(before["feedback"]) == 4

    store = Store(path)
    try:
        assert store.schema_version() == 1
        after = dump(path)
        for table in DATA_TABLES:
            assert after[table] == before[table], table  # every row, every column, byte for byte
        assert after["_tables"] == sorted({*before["_tables"], "alembic_version"} - {"schema_version"})
        assert after["_indexes"] == before["_indexes"] == ["answers_session", "feedback_answer"]
        assert after["_seq"] == before["_seq"]
        assert store.journal_mode() == "wal"

        # ... and the store reads them through its API
        assert [t.id for t in store.recent_turns("s1", 10)] == ["old0", "old2", "old5"]
        assert store.get_answer("old3").question == "質問3" and store.has_answer("old4")
        assert [(r["id"], r["answer_id"], r["rating"], r["comment"]) for r in store.feedback_rows()] == [
            (1, "old0", "up", None), (2, "old2", "down", "p.20 が違う"), (4, "old0", "down", None),
            (5, "old5", "up", None)]
        assert store.vote("old2", "U1", "down") == (2, "same")  # the legacy vote is this voter's vote
        assert store.vote("old0", "U2", "up") == (4, "changed")
        assert store.set_feedback_comment(2, "U1", "p.21 です")
        assert store.seen_event("Ev1") is True and store.seen_event("trigger:123.456") is True

        # new writes work and continue the old sequences
        store.save_answer(_answer(9, "s1"))
        assert [t.id for t in store.recent_turns("s1", 2)] == ["old5", "old9"]
        new_fid = store.add_feedback("old9", "up")
        assert new_fid == 6  # after the legacy max id 5, never a reused id
        fid, what = store.vote("old9", "U1", "down")
        assert what == "new" and fid == 7
        assert store.seen_event("Ev2") is False and store.seen_event("Ev2") is True
        conn = sqlite3.connect(path)
        try:
            with pytest.raises(sqlite3.IntegrityError):  # the legacy CHECK constraint is still there
                conn.execute("INSERT INTO feedback(answer_id, rating, created_at) VALUES ('x', 'meh', 'now')")
        finally:
            conn.close()
    finally:
        store.close()

    again = Store(path)  # a restart: already at head, nothing re-run
    try:
        assert again.schema_version() == 1 and len(again.feedback_rows()) == 6  # 4 legacy + 2 new
        assert dump(path)["_tables"] == after["_tables"]
    finally:
        again.close()


def test_legacy_file_opened_by_several_processes_at_once(tmp_path):
    path = tmp_path / "kanmin.sqlite3"
    write_legacy_file(path)
    before = dump(path)
    stores = [Store(path) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def start(s: Store) -> int:
        barrier.wait(timeout=60)
        return len(s.feedback_rows())

    try:
        with ThreadPoolExecutor(max_workers=len(stores)) as pool:
            assert list(pool.map(start, stores, timeout=300)) == [4, 4, 4, 4]
    finally:
        for s in stores:
            s.close()
    after = dump(path)
    assert all(after[t] == before[t] for t in DATA_TABLES)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    conn.close()


def test_file_from_before_feedback_votes_gains_the_table(tmp_path):
    """Files written before per-voter votes existed lack ``feedback_votes``: it is created."""
    path = tmp_path / "kanmin.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(LEGACY_SCHEMA.split("CREATE TABLE IF NOT EXISTS feedback_votes")[0])
    conn.execute("INSERT INTO schema_version(version) VALUES (1)")
    conn.execute("INSERT INTO feedback(answer_id, rating, created_at) VALUES ('a', 'up', 'then')")
    conn.close()
    store = Store(path)
    try:
        assert store.vote("a", "U1", "down") == (2, "new")
        assert [r["rating"] for r in store.feedback_rows("a")] == ["up", "down"]
    finally:
        store.close()
