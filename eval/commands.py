"""CLI: kanmin eval [--dataset GLOB] [--config kanmin] [--compare bm25,dense,hybrid,naive] [--json] [--out DIR]
     kanmin calibrate-abstention [--write] [--json]
     kanmin train-lead-ranker [--write] [--json]"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_eval(args) -> int:
    from eval.gate import THRESHOLDS_PATH, check, load_thresholds
    from eval.report import write_reports
    from eval.runner import default_out_dir, parse_configs, run_eval

    configs = parse_configs(args.config, args.compare)
    run = run_eval(args.dataset, configs, progress=not args.quiet)
    report = run.report
    gate = None
    th_path = Path(args.thresholds) if args.thresholds else THRESHOLDS_PATH
    thresholds = load_thresholds(th_path) if (args.gate or th_path.is_file()) else None
    if thresholds and thresholds["config"] in report["configs"]:
        gate = check(report["configs"][thresholds["config"]], thresholds)
    if not args.no_write:
        paths = write_reports(report, Path(args.out) if args.out else default_out_dir(), gate,
                              thresholds=str(th_path.resolve()))
        if not args.json:
            print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps({**report, "gate": None if gate is None else {"passed": not gate, "violations": gate}},
                                    ensure_ascii=False) + "\n")
    else:
        _print_summary(report, gate)
    if args.gate and gate:
        return 1
    return 0


def _print_summary(report: dict, gate: list[str] | None) -> None:
    keys = [("recall_at_1", "R@1"), ("recall_at_3", "R@3"), ("mrr", "MRR"), ("ndcg_at_10", "nDCG@10"),
            ("page_precision", "pageP"), ("page_recall", "pageR"), ("must_include_recall", "mustInc"),
            ("char_f1", "chrF1"), ("abstain_f1", "abstF1"), ("router_accuracy", "router"),
            ("glossary_accuracy", "gloss"), ("latency_p95_ms", "p95ms")]
    names = list(report["configs"])
    print(f"{'config':<8}" + "".join(f"{label:>9}" for _, label in keys))
    for n in names:
        m = report["configs"][n]
        cells = []
        for k, _ in keys:
            v = m.get(k)
            cells.append(f"{'—':>9}" if v is None else (f"{v:>9.0f}" if k.endswith("_ms") else f"{v:>9.3f}"))
        print(f"{n:<8}" + "".join(cells))
    for n in names:
        counts = report["failure_counts"][n]
        if counts:
            print(f"{n} failures: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if gate is not None:
        print("gate: pass" if not gate else "gate: FAIL\n  " + "\n  ".join(gate))


def cmd_calibrate(args) -> int:
    from eval.calibrate import calibrate, render

    result = calibrate(args.dataset, write=args.write, min_answered=args.min_answered)
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        print(render(result))
    return 0


def cmd_train_lead_ranker(args) -> int:
    from eval.train_lead_ranker import render, train

    about = train(args.dataset, write=args.write, progress=not args.quiet)
    if args.json:
        sys.stdout.write(json.dumps(about, ensure_ascii=False) + "\n")
    else:
        print(render(about))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate the assistant (and baselines) on the QA dataset")
    p.add_argument("--dataset", default=None, help="JSONL glob (default: eval/datasets/*.jsonl)")
    p.add_argument("--config", default="kanmin", help="main configuration: kanmin | bm25 | dense | hybrid | naive")
    p.add_argument("--compare", default=None, help="more configurations, comma-separated (e.g. bm25,dense,hybrid,naive)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--out", default=None, help="report directory (default: eval/reports)")
    p.add_argument("--no-write", action="store_true", help="do not write latest.md/json/png")
    p.add_argument("--gate", action="store_true", help="exit 1 when a metric violates eval/thresholds.yaml")
    p.add_argument("--thresholds", default=None, help="thresholds file (default: eval/thresholds.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("calibrate-abstention", help="grid-search the abstention thresholds on the eval set")
    p.add_argument("--dataset", default=None, help="JSONL glob (default: eval/datasets/*.jsonl)")
    p.add_argument("--min-answered", type=float, default=0.95, help="share of answerable questions to keep answering")
    p.add_argument("--write", action="store_true", help="write data/abstention.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("train-lead-ranker", help="fit the lead ranker on the eval set's key phrases")
    p.add_argument("--dataset", default=None, help="JSONL glob (default: eval/datasets/*.jsonl; never the hold-out)")
    p.add_argument("--write", action="store_true", help="write data/lead_ranker.json")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train_lead_ranker)
