"""Process-level benchmarks for ``kanmin bench``: CLI cold start, ``kanmin serve`` start-up,
warm latency over HTTP, throughput at fixed concurrency, and the server's memory.

Everything runs on 127.0.0.1 against subprocesses this module starts (and stops); each
gets its own temporary SQLite file, and the server a rate limit high enough not to
interfere (KANMIN_RATE_LIMIT=100000/minute).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from eval.bench import ROUTES, _r, log, summarize
from ingest.settings import PROJECT_ROOT, Settings

LEVELS = (1, 4, 16)
REQUEST_TIMEOUT_S = 120.0


def kanmin_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "kanmin"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ui.cli"]


def child_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KANMIN_DB_PATH": str(tmp / "state" / f"child-{time.monotonic_ns()}.sqlite3"),
        "KANMIN_DATABASE_URL": "",  # a temp SQLite file, never a configured PostgreSQL
        "KANMIN_API_KEYS": "",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(kanmin_cmd() + args, env=env, cwd=str(PROJECT_ROOT), capture_output=True, text=True,
                       timeout=timeout)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"`kanmin {' '.join(args)}` exited {p.returncode}: {p.stderr.strip()[-800:]}")
    return dt, p


# ---- CLI processes ----------------------------------------------------------------------------
def bench_build_cli(build_settings: Settings, tmp: Path) -> dict[str, Any]:
    """``kanmin build`` (warm cache, unconditional) and ``kanmin build --if-stale`` (no-op) as processes."""
    env = child_env(tmp, {"KANMIN_INDEX_DIR": str(build_settings.index_dir),
                          "KANMIN_CACHE_DIR": str(build_settings.cache_dir)})
    warm, _ = _run(["build"], env)
    noop, _ = _run(["build", "--if-stale"], env)
    return {"cli_build_warm_s": _r(warm), "cli_if_stale_s": _r(noop)}


def bench_cold_ask(tmp: Path, question: str, runs: int = 3) -> dict[str, Any]:
    """Process start → first answer printed: ``kanmin ask "…" --json`` wall time."""
    times, lat = [], []
    for _ in range(runs):
        dt, p = _run(["ask", question, "--json"], child_env(tmp))
        ans = json.loads(p.stdout.strip().splitlines()[-1])
        if not ans.get("answer"):
            raise RuntimeError("kanmin ask --json printed no answer")
        times.append(dt)
        lat.append(ans.get("latency_ms"))
    return {"ask_cli_question": question, "ask_cli_median_s": _r(statistics.median(times)),
            "ask_cli_runs_s": [_r(t) for t in times], "ask_answer_latency_ms": _r(statistics.median(lat))}


# ---- the server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STATUS_FIELDS = {"VmRSS": "rss_mb", "VmHWM": "hwm_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}


def read_mem_mb(pid: int) -> dict[str, float | None]:
    """VmRSS / VmHWM of a process, and VmRSS split into anonymous memory (heap, arrays) and
    file-backed pages (RssFile: the mapped model and dictionary pages a request has touched,
    which the kernel may drop and several workers share), in MB (10^6 bytes)."""
    out: dict[str, float | None] = dict.fromkeys(_STATUS_FIELDS.values())
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = _STATUS_FIELDS.get(line.split(":", 1)[0])
            if key:
                out[key] = round(int(line.split()[1]) * 1024 / 1e6, 1)
    return out


class Server:
    def __init__(self, tmp: Path, workers: int = 1, extra_env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"server-{self.port}.log"
        # several workers: each opens the shared port only once loaded (no ask meets a starting one)
        env = child_env(tmp, {"KANMIN_RATE_LIMIT": "100000/minute", "KANMIN_WORKERS": str(workers),
                              "KANMIN_SERVE_WHEN_READY": "1" if workers > 1 else "0", **(extra_env or {})})
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(kanmin_cmd() + ["serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(PROJECT_ROOT))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = 300.0) -> tuple[float, float]:
        """Seconds from process start to /healthz 200 and to /readyz 200 (polled every 50 ms)."""
        import httpx

        healthz = None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{self.log()[-2000:]}")
                try:
                    if healthz is None and c.get(self.url + "/healthz").status_code == 200:
                        healthz = time.perf_counter() - self.t0
                    if healthz is not None and c.get(self.url + "/readyz").status_code == 200:
                        return healthz, time.perf_counter() - self.t0
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout:.0f} s:\n{self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _payload(it) -> dict[str, Any]:
    body: dict[str, Any] = {"question": it.question}
    if it.persona_arg:
        body["persona"] = it.persona_arg
    return body


def http_latency(url: str, items: Sequence, passes: int, progress: bool) -> dict[str, Any]:
    import httpx

    by_route: dict[str, list[float]] = {r: [] for r in ROUTES}
    all_ms: list[float] = []
    server_ms: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as c:
        for it in items:  # warm-up pass
            with contextlib.suppress(httpx.HTTPError):
                c.post("/v1/ask", json=_payload(it))
        for p in range(passes):
            if progress:
                log(f"HTTP answers: pass {p + 1}/{passes} over {len(items)} questions")
            for it in items:
                t0 = time.perf_counter()
                try:
                    r = c.post("/v1/ask", json=_payload(it))
                except httpx.HTTPError:
                    errors += 1
                    continue
                ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    errors += 1
                    continue
                body = r.json()
                all_ms.append(ms)
                by_route.setdefault(body.get("route", "?"), []).append(ms)
                server_ms.append(body.get("latency_ms") or 0.0)
    return {"questions": len(items), "passes": passes, "errors": errors, "all": summarize(all_ms),
            "by_route": {k: summarize(v) for k, v in by_route.items()},
            "answer_latency_field": summarize(server_ms)}


def load_level(url: str, items: Sequence, concurrency: int, requests: int, start: int = 0) -> dict[str, Any]:
    """``requests`` POST /v1/ask with ``concurrency`` threads, each with its own keep-alive client.

    Request i asks ``items[(start + i) % len(items)]``: callers continue the cycle across levels
    so that a question recurs only after every other one (beyond the server's query-vector LRU).
    """
    import httpx

    counter = itertools.count()
    lock = threading.Lock()
    lat: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as c:
            while True:
                with lock:
                    i = next(counter)
                if i >= requests:
                    return
                it = items[(start + i) % len(items)]
                t0 = time.perf_counter()
                try:
                    r = c.post("/v1/ask", json=_payload(it))
                    ok = r.status_code == 200
                    err = None if ok else f"HTTP {r.status_code}"
                except httpx.HTTPError as e:
                    err = type(e).__name__
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if err is None:
                        lat.append(ms)
                    else:
                        errors.append(err)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    s = summarize(lat)
    kinds: dict[str, int] = {}
    for e in errors:
        kinds[e] = kinds.get(e, 0) + 1
    return {"concurrency": concurrency, "requests": requests, "ok": len(lat), "errors": len(errors),
            "error_kinds": kinds, "wall_s": _r(wall), "rps": _r(len(lat) / wall if wall else 0.0, 1),
            "p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"], "p99_ms": s["p99_ms"]}


WRK_SCRIPT = """
local bodies = {%(bodies)s}
local start, sent = %(start)d, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local body = bodies[((start + sent) %% #bodies) + 1]
  sent = sent + 1
  return wrk.format(nil, "/v1/ask", nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\\n', summary.requests,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket string whose closing bracket cannot occur inside it."""
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_available() -> bool:
    """wrk (Debian package ``wrk``) is the load generator when present."""
    import shutil

    return shutil.which("wrk") is not None


def load_level_wrk(url: str, items: Sequence, concurrency: int, seconds: float, start: int = 0,
                   tmp: Path | None = None) -> dict[str, Any]:
    """As ``load_level``, driven by wrk for ``seconds``: one C thread with ``concurrency``
    keep-alive connections costs the 2-core machine ~0.01 of a core where 16 Python threads with
    httpx cost 0.1–0.2 of one, which is CPU the server under test does not get. Requests still in
    flight at the end are not counted; a non-2xx/3xx answer, a refused or dropped connection and a
    timeout each count as an error."""
    import tempfile

    script = WRK_SCRIPT % {"bodies": ",".join(_lua_string(json.dumps(_payload(it), ensure_ascii=False)) for it in items),
                           "start": start}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=tmp, delete=False, encoding="utf-8") as f:
        f.write(script)
    try:
        proc = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
                               f"--timeout={int(REQUEST_TIMEOUT_S)}s", "-s", f.name, url],
                              capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_S)
    finally:
        os.unlink(f.name)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-500:]}")
    r = json.loads(line)
    kinds = {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]}
    errors = sum(kinds.values())
    wall = r["duration_us"] / 1e6
    ok = max(0, r["requests"] - r["status"])
    return {"concurrency": concurrency, "requests": r["requests"], "ok": ok, "errors": errors,
            "error_kinds": kinds, "wall_s": _r(wall), "seconds": seconds, "rps": _r(ok / wall if wall else 0.0, 1),
            "p50_ms": _r(r["p50_us"] / 1000), "p95_ms": _r(r["p95_us"] / 1000), "p99_ms": _r(r["p99_us"] / 1000),
            "generator": "wrk (1 thread)"}


def describe_load(t: dict[str, Any]) -> str:
    """How a ``load`` result was generated, for the report."""
    if t.get("generator", "").startswith("wrk"):
        return (f"for {t['seconds']:g} s from wrk (one C thread, {t['concurrency']} keep-alive connections; "
                "requests in flight at the end not counted)")
    return f"{t['requests']} requests from {t['concurrency']} httpx threads (one keep-alive client each)"


WRK_REQUESTS_PER_S = 20  # a level of N requests runs wrk for N / 20 s (200 → 10 s), at least 3 s


def load(url: str, items: Sequence, concurrency: int, requests: int, start: int = 0) -> dict[str, Any]:
    """Throughput at ``concurrency``: wrk when installed (`make bench` installs it) for a time
    that ``requests`` sets, else ``requests`` requests from httpx threads."""
    if wrk_available():
        return load_level_wrk(url, items, concurrency, max(3.0, requests / WRK_REQUESTS_PER_S), start)
    return {**load_level(url, items, concurrency, requests, start), "generator": "httpx (Python threads)"}


class RssSampler:
    """Samples a process's VmRSS every ``interval`` seconds in a thread; keeps the maximum."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval = pid, interval
        self.max_rss = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            v = read_mem_mb(self.pid)["rss_mb"]
            if v is not None:
                self.max_rss = max(self.max_rss, v)
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def bench_server(tmp: Path, items: Sequence, *, passes: int, requests_per_level: int,
                 progress: bool = True, levels: Sequence[int] = LEVELS) -> dict[str, Any]:
    log("server: kanmin serve on 127.0.0.1 (free port) → /readyz")
    server = Server(tmp)
    try:
        healthz_s, readyz_s = server.wait()
        time.sleep(1.0)  # let start-up garbage settle before reading "at rest"
        rest = read_mem_mb(server.pid)
        latency = http_latency(server.url, items, passes, progress)
        warm = read_mem_mb(server.pid)
        throughput = []
        with RssSampler(server.pid) as sampler:
            for n, c in enumerate(levels):
                if progress:
                    log(f"throughput: concurrency {c}, {requests_per_level} requests")
                throughput.append(load(server.url, items, c, requests_per_level, start=n * requests_per_level))
        end = read_mem_mb(server.pid)
        if server.proc.poll() is not None:
            raise RuntimeError(f"server died during the benchmark:\n{server.log()[-2000:]}")
    finally:
        server.stop()
    return {
        "server_start": {"server_healthz_s": _r(healthz_s), "server_readyz_s": _r(readyz_s)},
        "answer_http": latency,
        "throughput": throughput,
        "rss": {"rest_rss_mb": rest["rss_mb"], "warm_rss_mb": warm["rss_mb"],
                "load_max_rss_mb": sampler.max_rss or None, "end_rss_mb": end["rss_mb"],
                "rest_anon_mb": rest["anon_mb"], "rest_file_mb": rest["file_mb"],
                "end_anon_mb": end["anon_mb"], "end_file_mb": end["file_mb"],
                "peak_hwm_mb": end["hwm_mb"],
                "peak_hwm_mib": None if end["hwm_mb"] is None else round(end["hwm_mb"] * 1e6 / 2**20, 1),
                "unit": "MB = 10^6 bytes (MiB = 2^20 bytes)",
                "pid_measured": "the `kanmin serve` process (uvicorn, 1 worker)"},
    }


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat: all but idle and iowait)."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by ``root`` and its descendants (a server and its workers)."""
    procs: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        procs[int(stat.parent.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick)
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(t for pid, (_, t) in procs.items() if pid in tree)


class CpuShare:
    """Cores used during a block by the server's process tree, by this load generator, and by
    everything else on the machine (other work that competes for the same cores: a ratio between
    runs means little unless ``other_cores`` stays near 0)."""

    def __init__(self, server_pid: int):
        self.pid = server_pid
        self.out: dict[str, float] = {}

    @staticmethod
    def _own_cpu_s() -> float:
        """This process and its children that ended (wrk runs; the server is not waited for yet)."""
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self) -> "CpuShare":
        self._start = (time.monotonic(), _machine_busy_s(), _tree_cpu_s(self.pid), self._own_cpu_s())
        return self

    def __exit__(self, *exc: object) -> None:
        t, busy, server, own = self._start
        wall = time.monotonic() - t
        if wall <= 0:
            return
        srv = (_tree_cpu_s(self.pid) - server) / wall
        gen = (self._own_cpu_s() - own) / wall
        self.out = {"server_cores": _r(srv), "load_generator_cores": _r(gen),
                    "other_cores": _r(max(0.0, (_machine_busy_s() - busy) / wall - srv - gen))}


def bench_workers(tmp: Path, items: Sequence, requests: int, concurrency: int = 16,
                  progress: bool = True) -> dict[str, Any]:
    """Throughput of POST /v1/ask at ``concurrency`` with `kanmin serve --workers 1` and `--workers 2`,
    back to back on the same questions: does a second process use the second core?"""
    out: dict[str, Any] = {"concurrency": concurrency, "requests": requests}
    for workers in (1, 2):
        if progress:
            log(f"workers: {workers} worker(s), concurrency {concurrency}, {requests} requests")
        server = Server(tmp, workers=workers)
        try:
            server.wait()
            load(server.url, items, concurrency, min(requests, 64))  # warm every worker's caches
            with CpuShare(server.pid) as cpu:
                out[f"workers_{workers}"] = load(server.url, items, concurrency, requests)
            out[f"workers_{workers}"].update(cpu.out)
        finally:
            server.stop()
    one, two = out["workers_1"]["rps"], out["workers_2"]["rps"]
    out["ratio"] = _r(two / one, 3) if one else None
    return out
