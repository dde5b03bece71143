"""Scale-out benchmarks for ``kanmin bench`` (full run): what the shared state costs.

* ``bench_store_engines`` — in-process warm ``Assistant.ask`` with the store on a SQLite file vs
  on a throwaway local PostgreSQL cluster (PostgreSQL's own defaults, durable commits), the same
  assistant and questions, the two engines interleaved per question (the order alternating) so
  that load from other processes falls on both alike. Each answer is saved, as the server does;
  the follow-up half also reads its session's history first.
* ``bench_replicas`` — 2 ``kanmin serve`` replicas on that PostgreSQL behind nginx
  (deploy/nginx/kanmin.conf), POST /v1/ask at concurrency 16 through nginx, compared with the
  1-worker server of ``bench_http.bench_workers`` (same questions, same request count).

Every server is started here on 127.0.0.1 and stopped (and its temp dir removed) at the end.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from eval.bench import _r, forget_queries, log, summarize

SESSION_TURNS = 3  # follow-up half: each session gets this many turns before the next one starts


def _time_ask(assistant, it, session: str | None) -> float:
    forget_queries(assistant.retriever)  # both engines pay the query embedding alike
    t0 = time.perf_counter()
    assistant.ask(it.question, persona=it.persona_arg, session_id=session, source="bench")
    return (time.perf_counter() - t0) * 1000


def bench_store_engines(assistant, items: Sequence, tmp: Path, *, passes: int = 2,
                        progress: bool = True) -> dict[str, Any]:
    """Answer latency with the store on SQLite vs PostgreSQL (see the module doc)."""
    from assistant.store import Store
    from eval.local_servers import PgCluster, pg_missing

    reason = pg_missing()
    if reason:
        return {"skipped": reason}
    original = assistant.store
    pg = PgCluster(durable=True)
    stores: dict[str, Any] = {}
    try:
        pg.start()
        stores = {"sqlite": Store(tmp / "state" / "engines.sqlite3"), "postgresql": Store(url=pg.new_database())}
        ms: dict[tuple[str, str], list[float]] = {(e, m): [] for e in stores for m in ("one_shot", "follow_up")}
        save_ms: dict[str, list[float]] = {e: [] for e in stores}
        for engine, store in stores.items():  # warm-up: connections, migrations, statement caches
            assistant.store = store
            for it in items[:20]:
                assistant.ask(it.question, persona=it.persona_arg, source="bench")
        for p in range(passes):
            if progress:
                log(f"store engines: pass {p + 1}/{passes} over {len(items)} questions, SQLite and PostgreSQL")
            for i, it in enumerate(items):
                order = list(stores) if (i + p) % 2 == 0 else list(reversed(stores))
                mode = "follow_up" if i % 2 else "one_shot"
                for engine in order:
                    assistant.store = stores[engine]
                    session = f"bench-{engine}-{p}-{i // (2 * SESSION_TURNS)}" if mode == "follow_up" else None
                    ms[(engine, mode)].append(_time_ask(assistant, it, session))
        # the store's own part: one save_answer per question, interleaved likewise
        answer = assistant.ask(items[0].question, source="bench")
        for i in range(len(items)):
            for engine in (list(stores) if i % 2 == 0 else list(reversed(stores))):
                a = answer.model_copy(update={"id": f"{answer.id}-{engine}-{i}"})
                t0 = time.perf_counter()
                stores[engine].save_answer(a, source="bench")
                save_ms[engine].append((time.perf_counter() - t0) * 1000)
    finally:
        assistant.store = original
        for s in stores.values():
            s.close()
        pg.stop()
    out: dict[str, Any] = {
        "method": ("in-process Assistant.ask, warm, the same assistant with its store swapped; the engines "
                   "interleaved per question (order alternating); the query-vector LRU emptied before each "
                   "ask; every answer saved; follow_up = every other question asked within a session "
                   f"({SESSION_TURNS} turns each), so its history is read first. PostgreSQL: a local throwaway "
                   "cluster with its default durability (fsync, synchronous_commit on), over TCP on 127.0.0.1"),
        "questions": len(items), "passes": passes,
    }
    for engine in stores:
        both = ms[(engine, "one_shot")] + ms[(engine, "follow_up")]
        out[engine] = {"all": summarize(both), "one_shot": summarize(ms[(engine, "one_shot")]),
                       "follow_up": summarize(ms[(engine, "follow_up")]), "save_answer": summarize(save_ms[engine])}
    sq, pq = out["sqlite"]["all"]["p50_ms"], out["postgresql"]["all"]["p50_ms"]
    out["p50_ratio"] = _r(pq / sq, 3) if sq else None
    out["p50_cost_pct"] = _r((pq - sq) / sq * 100, 1) if sq else None
    return out


def bench_replicas(tmp: Path, items: Sequence, requests: int, one_worker: dict[str, Any] | None,
                   concurrency: int = 16, progress: bool = True) -> dict[str, Any]:
    """2 replicas on PostgreSQL behind nginx; throughput and p95 at ``concurrency`` through nginx."""
    from eval.bench_http import Server, load
    from eval.local_servers import Nginx, PgCluster, pg_missing, which
    from ingest.settings import usable_cores

    reason = pg_missing() or (None if which("nginx") else "nginx is not installed")
    if reason:
        return {"skipped": reason}
    # both replicas share this box's cores, as two workers do: each gets its share for the embedder
    threads = max(1, usable_cores() // 2)
    out: dict[str, Any] = {"concurrency": concurrency, "requests": requests, "replicas": 2,
                           "embed_threads_per_replica": threads,
                           "setup": "2 `kanmin serve` (1 worker each) on one machine, PostgreSQL (local, default "
                                    "durability), nginx with deploy/nginx/kanmin.conf; rate limits in memory "
                                    "(set high)"}
    pg = PgCluster(durable=True)
    servers: list[Server] = []
    nginx = None
    try:
        pg.start()
        env = {"KANMIN_DATABASE_URL": pg.new_database(), "KANMIN_EMBED_THREADS": str(threads),
               "KANMIN_FORWARDED_ALLOW_IPS": "127.0.0.1"}
        for _ in range(2):
            servers.append(Server(tmp, extra_env=env))
            servers[-1].wait()  # one after the other: the first runs the migrations
        nginx = Nginx(servers).start()
        if progress:
            log(f"replicas: 2 behind nginx on PostgreSQL, concurrency {concurrency}, {requests} requests")
        load(nginx.url, items, concurrency, min(requests, 64))  # warm both replicas
        out["through_nginx"] = load(nginx.url, items, concurrency, requests)
        for s in servers:
            if s.proc.poll() is not None:
                raise RuntimeError(f"a replica died during the benchmark:\n{s.log()[-2000:]}")
    finally:
        if nginx is not None:
            nginx.stop()
        for s in servers:
            s.stop()
        pg.stop()
    if one_worker:
        one = one_worker.get("workers_1") or {}
        out["one_worker"] = {k: one.get(k) for k in ("requests", "rps", "p95_ms", "errors")}
        if one.get("rps"):
            out["ratio_rps"] = _r(out["through_nginx"]["rps"] / one["rps"], 3)
        if one.get("p95_ms"):
            out["ratio_p95"] = _r(out["through_nginx"]["p95_ms"] / one["p95_ms"], 3)
    return out


def render_markdown(r: dict) -> list[str]:
    """The docs/benchmarks.md sections of the two benchmarks above (empty when not run)."""
    from eval.bench import LAT_HEADER, _f, _lat_row, _table
    from eval.bench_http import describe_load

    L: list[str] = []
    sep = r.get("measured_separately")
    if sep:  # sections re-measured after the full run, by the same functions (eval/bench_cluster.py)
        L += ["", f"*{sep}*"]
    w = r.get("workers") or {}
    shares = [(n, w.get(f"workers_{n}") or {}) for n in (1, 2)]
    if all("other_cores" in t for _, t in shares):
        L += ["", "CPU during the worker runs above (`/proc`): " + "; ".join(
            f"{n} worker{'s' if n > 1 else ''}: server {_f(t['server_cores'])} cores, load generator "
            f"{_f(t['load_generator_cores'])}, other work on the machine {_f(t['other_cores'])}" for n, t in shares)
            + ". The ratio says what a second worker adds only when the other work stays near 0."]
    rep = r.get("replicas")
    if rep and "skipped" in rep:
        L += ["", "## 2 replicas behind nginx with PostgreSQL", "", f"Not measured: {rep['skipped']}."]
    elif rep:
        t = rep["through_nginx"]
        L += ["", "## 2 replicas behind nginx with PostgreSQL", "",
              f"{rep['setup']}; embedder threads per replica: {rep['embed_threads_per_replica']}. "
              f"POST /v1/ask through nginx at concurrency {rep['concurrency']} {describe_load(t)}, after a warm-up, "
              f"compared with the 1-worker server above: requests/s {_f(rep.get('ratio_rps'))}×, "
              f"p95 {_f(rep.get('ratio_p95'))}×.", ""]
        one = rep.get("one_worker") or {}
        L += _table(["", "requests", "errors", "wall s", "req/s", "p50 ms", "p95 ms", "p99 ms", "req/s ÷ 1 worker",
                     "p95 ÷ 1 worker"],
                    [["1 worker (above)", one.get("requests", rep["requests"]), one.get("errors"), None, one.get("rps"), None,
                      one.get("p95_ms"), None, 1.0, 1.0],
                     ["2 replicas + nginx + PostgreSQL", t["requests"], t["errors"], t["wall_s"], t["rps"], t["p50_ms"],
                      t["p95_ms"], t["p99_ms"], rep.get("ratio_rps"), rep.get("ratio_p95")]])
    st = r.get("store_engines")
    if st and "skipped" in st:
        L += ["", "## State store: SQLite vs PostgreSQL", "", f"Not measured: {st['skipped']}."]
    elif st:
        L += ["", "## State store: SQLite vs PostgreSQL", "",
              f"{st['method']}. {st['questions']} questions × {st['passes']} passes per engine. Answer p50 with "
              f"PostgreSQL ÷ with SQLite: {_f(st['p50_ratio'])}× ({_f(st['p50_cost_pct'])} %).", ""]
        rows = []
        for engine in ("sqlite", "postgresql"):
            e = st[engine]
            rows += [_lat_row(f"{engine}: answer, all", e["all"]), _lat_row(f"{engine}: answer, one-shot", e["one_shot"]),
                     _lat_row(f"{engine}: answer, follow-up (reads history)", e["follow_up"]),
                     _lat_row(f"{engine}: save_answer alone", e["save_answer"])]
        L += _table(LAT_HEADER, rows)
    return L
