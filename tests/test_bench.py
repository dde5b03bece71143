"""`kanmin bench --quick --json`: one JSON line on stdout with the headline numbers (a smoke test of
the benchmark, never a timing assertion: the numbers depend on the machine and its load)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

KANMIN = str(Path(sys.executable).parent / "kanmin")


def test_bench_quick_json_prints_one_line():
    committed = ROOT / "docs" / "benchmarks.json"
    before = committed.stat().st_mtime_ns if committed.exists() else None
    # the < 60 s goal is a target in the report, not a pass/fail bound here (a hang guard only).
    # One 60-question file instead of --quick's 130 of the whole set: the same code path, with
    # half the timed questions (the report's shape is under test here, not its numbers)
    p = subprocess.run([KANMIN, "bench", "--quick", "--json", "--quiet", "--dataset", "eval/datasets/qa_part11.jsonl"],
                       cwd=str(ROOT), capture_output=True, text=True, timeout=800)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got {len(lines)}: {p.stdout[:500]!r}"
    report = json.loads(lines[0])
    for key in ("answer_p95_ms", "naive_ratio", "answer_p95_over_embed_p95", "answer_p95_over_answer_embed_p95"):
        v = report[key]
        assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0, (key, v)
    assert report["mode"] == "quick"
    assert report["answer_inprocess"]["errors"] == 0
    assert report["answer_inprocess"]["all"]["n"] == report["answer_inprocess"]["questions"]
    assert {t["key"] for t in report["targets"]} >= {"answer_inprocess.all.p95_ms", "naive_ratio",
                                                     "answer_p95_over_embed_p95", "duration_s"}
    # the naive pipeline's node vectors came from the shipped seed, not from the model
    assert report["naive_embedded"] == 0
    # every timed answer embedded once at most: its time includes one embedding, not two
    assert report["answer_inprocess"]["embed_question"]["n"] == report["answer_inprocess"]["all"]["n"]
    # a quick run without --out writes nothing (the committed full report stays as it is)
    assert (committed.stat().st_mtime_ns if committed.exists() else None) == before


def test_bench_writes_markdown_and_json(tmp_path):
    """The renderer accepts a quick report and writes both files where --out says."""
    from eval.bench import render_markdown, write_outputs

    report = {
        "schema": 1, "mode": "quick", "created_at": "2026-01-01T00:00:00+00:00", "duration_s": 1.0,
        "load_avg_start": [0.1, 0.1, 0.1], "load_avg_end": [0.1, 0.1, 0.1],
        "machine": {"cpu_model": "x", "cores": 2, "cores_usable": 2, "ram_gib": 1.0, "python": "3.11",
                    "platform": "linux", "omp_wait_policy": "PASSIVE", "versions": {"faiss": "1"}},
        "targets": [{"target": "t", "key": "k", "goal": "≤ 30 ms", "measured": 12.5, "unit": "ms", "met": True}],
        "answer_inprocess": {"questions": 1, "passes": 1, "warmup_questions": 1, "errors": 0,
                             "all": {"n": 1, "p50_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0, "mean_ms": 1.0,
                                     "max_ms": 1.0},
                             "by_route": {}},
        "ingest": {"parse_guide_median_ms": 1.0, "runs_ms": [1.0]},
        "build": {"chunks": 1, "dense_index": "flat", "warm_s": 0.1, "warm_runs_s": [0.1], "warm_embedded": 0},
    }
    paths = write_outputs(report, tmp_path)
    assert {p.name for p in paths} == {"benchmarks.md", "benchmarks.json"}
    assert json.loads((tmp_path / "benchmarks.json").read_text(encoding="utf-8"))["mode"] == "quick"
    md = render_markdown(report)
    assert "## Targets" in md and "12.5 ms" in md


def test_memory_breakdown_measures_every_step_of_a_server_start():
    """The full bench's memory table: every step measured in a fresh interpreter, and the serving
    path imports no llama-index, torch, matplotlib, pandas or Alembic."""
    from eval.bench_memory import STEPS, bench_memory

    mem = bench_memory()
    assert "error" not in mem, mem
    assert [x["step"] for x in mem["steps"]] == [label for label, _ in STEPS]
    assert mem["total_rss_mb"] > 100 and all(x["rss_mb"] > 0 for x in mem["steps"])
    assert mem["imported_not_needed"] == []
