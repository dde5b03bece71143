"""Load test for POST /v1/ask: N requests at a fixed concurrency against a running `kanmin serve`.

Usage:  .venv/bin/python benchmarks/load_ask.py --url http://127.0.0.1:8000 [-n 2000] [-c 32]
                                                [--out test-artifacts/load.json] [--api-key KEY]
The server's rate limit must allow it (e.g. KANMIN_RATE_LIMIT=1000000/minute).

Latency is measured per request on the client (send → full JSON body received), over one keep-alive
connection pool of ``concurrency`` connections. An "error" is anything but HTTP 200 with a JSON answer
that has citations or an explicit abstention — including timeouts and connection failures.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

QUESTIONS = [
    "原課とは何ですか？",
    "随意契約はどのような場合に使えますか",
    "実証実験の予算はどう確保しますか",
    "スタートアップが自治体の予算に間に合わせるには何月までに提案すべき？",
    "4号随契の認定を受けるための手続き",
    "成果連動型の委託契約とは",
    "複数の自治体で共同調達する方法",
    "実証実験の成果やデータの権利は誰に帰属するのか",
    "公平性を保ちながら特定の企業と連携するには",
    "民間提案窓口を設置するメリット",
    "図表8を見せて",
    "自治体職員はどこから読めばいいですか",
    "課題整理シートの書き方はどこに書いてありますか",
    "How can a startup find a municipality to work with?",
    "What is pay for success?",
    "When is the municipal budget decided?",
]
PERSONAS = [None, "municipality", "startup", "intermediary", "any"]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


async def _run(url: str, n: int, concurrency: int, timeout: float, api_key: str | None) -> dict:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    examples: list[str] = []
    next_i = 0
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits, headers=headers) as client:
        # warm-up (not counted): first answers load lazy parts of the models
        for q in QUESTIONS[:3]:
            await client.post("/v1/ask", json={"question": q})

        async def worker() -> None:
            nonlocal next_i
            while True:
                i = next_i
                if i >= n:
                    return
                next_i += 1
                body: dict = {"question": QUESTIONS[i % len(QUESTIONS)]}
                persona = PERSONAS[(i // len(QUESTIONS)) % len(PERSONAS)]
                if persona:
                    body["persona"] = persona
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/ask", json=body)
                    data = r.json() if r.status_code == 200 else None
                    ms = (time.perf_counter() - t0) * 1000
                    if r.status_code != 200:
                        errors[f"http_{r.status_code}"] += 1
                        if len(examples) < 5:
                            examples.append(r.text[:300])
                    elif not (data.get("citations") or data.get("abstained")):
                        errors["empty_answer"] += 1
                    else:
                        latencies.append(ms)
                        routes[data["route"]] += 1
                except (httpx.HTTPError, ValueError) as exc:
                    errors[type(exc).__name__] += 1
                    if len(examples) < 5:
                        examples.append(repr(exc)[:300])

        t_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t_start

    return {
        "requests": n,
        "concurrency": concurrency,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "error_examples": examples,
        "wall_s": round(wall, 2),
        "throughput_rps": round(n / wall, 1) if wall else None,
        "p50_ms": round(pct(latencies, 0.50), 1),
        "p95_ms": round(pct(latencies, 0.95), 1),
        "p99_ms": round(pct(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "routes": dict(routes),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }


def run_load(url: str, n: int = 2000, concurrency: int = 32, timeout: float = 120.0,
             api_key: str | None = None) -> dict:
    return asyncio.run(_run(url, n, concurrency, timeout, api_key))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-c", "--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--api-key")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    result = run_load(args.url, args.n, args.concurrency, args.timeout, args.api_key)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
