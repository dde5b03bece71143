"""Write latest.md / latest.json / latest.png from a report dict (see eval.runner.build_report)."""
from __future__ import annotations

import json
import os
from pathlib import Path

MAIN_METRICS: list[tuple[str, str]] = [
    ("recall_at_1", "R@1"), ("recall_at_3", "R@3"), ("recall_at_5", "R@5"), ("mrr", "MRR"),
    ("ndcg_at_10", "nDCG@10"), ("page_precision", "page P"), ("page_recall", "page R"), ("page_hit_at_3", "page hit@3"),
    ("must_include_recall", "must-incl."), ("must_include_text", "must-incl. in text"),
    ("must_include_lead", "must-incl. first 250"),
    ("answer_chars_p50", "median chars"), ("answered_chars_p50", "median chars, answered"), ("english_lead", "EN lead"),
    ("char_f1", "char F1"),
    ("abstain_precision", "abst. P"),
    ("abstain_recall", "abst. R"), ("abstain_f1", "abst. F1"), ("router_accuracy", "router"),
    ("glossary_accuracy", "glossary"), ("answered_rate", "answered"), ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
]
TYPE_METRICS: list[tuple[str, str]] = [
    ("recall_at_3", "R@3"), ("mrr", "MRR"), ("page_recall", "page R"), ("must_include_recall", "must-incl."),
    ("must_include_text", "in text"), ("must_include_lead", "first 250"), ("answer_chars_p50", "median chars"),
    ("answered_chars_p50", "median chars, answered"), ("char_f1", "char F1"),
    ("router_accuracy", "router"), ("answered_rate", "answered"),
]
PLOT_METRICS = ["recall_at_3", "mrr", "ndcg_at_10", "page_precision", "page_recall", "must_include_recall",
                "char_f1", "abstain_f1", "router_accuracy"]


def _fmt(v, key: str = "") -> str:
    if v is None:
        return "—"
    if key.endswith("_ms"):
        return f"{v:.0f}"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _rel(path: str) -> str:
    from ingest.settings import PROJECT_ROOT

    try:
        return str(Path(path).relative_to(PROJECT_ROOT))
    except ValueError:
        return path


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict, gate: list[str] | None = None) -> str:
    configs = report["configs"]
    names = list(configs)
    ds = report["dataset"]
    lines = [f"# kanmin eval — {report['created_at']}", ""]
    lines.append(f"Dataset `{_rel(ds['glob'])}`: {ds['items']} questions "
                 f"({ds['answerable']} answerable, {ds['unanswerable']} unanswerable); languages {ds['lang']}; "
                 f"{ds.get('no_copy_share', 0):.0%} of the questions copy no {10}-character run of the guide. "
                 f"Run time {report['runtime_s']:.0f} s.")
    if ds.get("problems"):
        lines.append(f"\n**Dataset problems: {len(ds['problems'])} item(s)** — see latest.json.")
    lines += ["", "## Configurations side by side", ""]
    lines += _table(["metric"] + names, [[label] + [_fmt(configs[n].get(k), k) for n in names] for k, label in MAIN_METRICS])
    km = configs.get("kanmin")
    if km and km.get("quotes_checked") is not None:
        lines.append(f"\nkanmin quotes verified verbatim: {km['quotes_checked'] - len(report.get('quote_problems', []))}"
                     f"/{km['quotes_checked']}.")
    if gate is not None:
        where = (report.get("gate") or {}).get("thresholds", "eval/thresholds.yaml")
        lines.append(f"\nCI gate ({where}): " + ("**pass**" if not gate else "**FAIL** — " + "; ".join(gate)))
    lines += ["", "How to read: kanmin ranks the ≤3 citations of its answer; bm25/dense/hybrid rank 10 chunks and "
              "cite the top 3 (answer = top chunk); naive = llama-index VectorStoreIndex over the whole guide "
              "(default SentenceSplitter, same embedder), 10 nodes ranked, top 3 cited with pages estimated from "
              "kanmin's page anchors. Retrieval, page and must-include metrics use answerable items; an answerable "
              "item with no citation scores 0. Page metrics are exact (±0).", ""]

    lines += ["## English subset", ""]
    en = report["english"]
    lines += _table(["metric"] + names, [[label] + [_fmt(en[n].get(k), k) for n in names]
                                         for k, label in MAIN_METRICS if not k.startswith("latency")])
    lines += ["", f"({next(iter(en.values()))['n'] if en else 0} English questions.)", ""]

    sides = report.get("persona_sides")
    if sides:
        lines += ["## Whose side leads", "",
                  "The answerable qa questions asked once as an official and once as a startup: the share of answers "
                  "whose leading quote was written for the asker's side, and for the other side only.", ""]
        lines += _table(["asked as", "answers", "own side leads", "other side leads"],
                        [[p, str(v["answers"]), _fmt(v["own_side_lead"]), _fmt(v["other_side_lead"])]
                         for p, v in sides.items()])
        lines.append("")

    lines += ["## Per question type", ""]
    for n in names:
        bt = report["by_type"][n]
        lines += [f"### {n}", ""]
        lines += _table(["type", "n"] + [label for _, label in TYPE_METRICS] + ["abst. R"],
                        [[t, str(m["n"])] + [_fmt(m.get(k), k) for k, _ in TYPE_METRICS] + [_fmt(m.get("abstain_recall"))]
                         for t, m in bt.items()])
        lines.append("")

    lines += ["## Failures", "", "Counts per category:", ""]
    cats = sorted({c for n in names for c in report["failure_counts"][n]})
    lines += _table(["category"] + names, [[c] + [str(report["failure_counts"][n].get(c, 0)) for n in names] for c in cats])
    lines.append("")
    first = names[0]  # the main configuration (details are kept for it only)
    rows = report["failures"][first]
    lines += [f"### {first}: {len(rows)} item(s) with a failure", ""]
    lines += _table(["id", "type", "lang", "question", "failed"], [
        [r["id"], r["type"], r["lang"], _esc(r["question"][:60]),
         _esc("; ".join(f"**{f['category']}** {f['detail']}" for f in r["failed"])[:400])] for r in rows])
    if report.get("quote_problems"):
        lines += ["", "### Quotes not verbatim", ""]
        lines += _table(["id", "citation", "chunk", "problem"],
                        [[q["id"], str(q["citation"]), str(q["chunk_id"]), _esc(q["problem"])] for q in report["quote_problems"]])
    lines.append("")
    return "\n".join(lines)


def render_png(report: dict, path: Path) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    configs = report["configs"]
    names = list(configs)
    width = 0.8 / max(len(names), 1)
    fig, axes = plt.subplots(3, 1, figsize=(13, 13))

    ax = axes[0]
    x = np.arange(len(PLOT_METRICS))
    for i, n in enumerate(names):
        vals = [configs[n].get(k) for k in PLOT_METRICS]
        ax.bar(x + i * width, [v if v is not None else 0 for v in vals], width, label=n)
    ax.set_xticks(x + width * (len(names) - 1) / 2, PLOT_METRICS, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("Metrics by configuration (all questions; retrieval/page/must-include on answerable)")

    for ax, key, title in ((axes[1], "recall_at_3", "Section recall@3 by question type"),
                           (axes[2], "must_include_recall", "must_include recall by question type")):
        types = sorted({t for n in names for t, m in report["by_type"][n].items() if m.get(key) is not None})
        x = np.arange(len(types))
        for i, n in enumerate(names):
            bt = report["by_type"][n]
            vals = [bt.get(t, {}).get(key) for t in types]
            ax.bar(x + i * width, [v if v is not None else 0 for v in vals], width, label=n)
        ax.set_xticks(x + width * (len(names) - 1) / 2, types, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(names), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


ROW_KEYS = ("failures", "items", "quote_problems")  # long lists: one row per line keeps the file small and diffable


def dump_json(report: dict) -> str:
    parts = []
    for key, value in report.items():
        if key in ROW_KEYS and isinstance(value, dict):
            inner = ",\n".join(
                f"  {json.dumps(name)}: [" + ",".join("\n   " + json.dumps(row, ensure_ascii=False) for row in rows)
                + ("\n  ]" if rows else "]") for name, rows in value.items())
            parts.append(f" {json.dumps(key)}: {{\n{inner}\n }}" if value else f" {json.dumps(key)}: {{}}")
        elif key in ROW_KEYS and isinstance(value, list):
            parts.append(f" {json.dumps(key)}: [" + ",".join("\n  " + json.dumps(row, ensure_ascii=False) for row in value)
                         + ("\n ]" if value else "]"))
        else:
            body = json.dumps(value, ensure_ascii=False, indent=1).replace("\n", "\n ")
            parts.append(f" {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_reports(report: dict, out_dir: Path, gate: list[str] | None = None, name: str = "latest",
                  thresholds: str = "eval/thresholds.yaml") -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{name}.json", "md": out_dir / f"{name}.md", "png": out_dir / f"{name}.png"}
    if gate is not None:
        report = {**report, "gate": {"passed": not gate, "violations": gate, "thresholds": _rel(thresholds)}}
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(dump_json(report), encoding="utf-8")
    tmp.replace(paths["json"])
    paths["md"].write_text(render_markdown(report, gate), encoding="utf-8")
    render_png(report, paths["png"])
    return paths
