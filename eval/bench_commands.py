"""CLI: kanmin bench [--quick] [--json] [--out DIR]

A full run writes DIR/benchmarks.md and DIR/benchmarks.json (DIR defaults to docs/);
a ``--quick`` run (< 1 min: ingest, warm build, in-process answers vs the naive pipeline)
writes only when ``--out`` is given, so it never overwrites the full report.
With ``--json`` stdout carries exactly one JSON line (the report, with ``answer_p95_ms``
and ``naive_ratio`` at the top level); progress always goes to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


def cmd_bench(args) -> int:
    from eval.bench import DEFAULT_OUT, Bench, log, render_summary, write_outputs

    bench = Bench(quick=args.quick, progress=not args.quiet, requests_per_level=args.requests,
                  passes=args.passes, dataset=args.dataset)
    # Libraries that print (llama-index's "LLM is explicitly disabled") must not reach stdout.
    with contextlib.redirect_stdout(sys.stderr):
        report = bench.run()
    out = Path(args.out) if args.out else (None if args.quick else DEFAULT_OUT)
    if out is not None and not args.no_write:
        paths = write_outputs(report, out)
        log("wrote " + ", ".join(str(p) for p in paths))
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        print(render_summary(report))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance benchmarks → docs/benchmarks.md and docs/benchmarks.json")
    p.add_argument("--quick", action="store_true",
                   help="reduced run (< 1 min): ingest, warm build, in-process answers vs the naive pipeline")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line on stdout")
    p.add_argument("--out", default=None,
                   help="directory for benchmarks.md/.json (default: docs/ for a full run; a quick run writes only "
                        "when --out is given)")
    p.add_argument("--no-write", action="store_true", help="write no files")
    p.add_argument("--passes", type=int, default=None, help="measured passes over the eval questions "
                                                                "(default: 3; quick: 1)")
    p.add_argument("--requests", type=int, default=None, help="requests per concurrency level (default: 200)")
    p.add_argument("--dataset", default=None, help="JSONL glob of questions (default: eval/datasets/*.jsonl)")
    p.add_argument("--quiet", action="store_true", help="less progress on stderr")
    p.set_defaults(func=cmd_bench)
