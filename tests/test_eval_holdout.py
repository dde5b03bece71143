"""The hold-out questions (eval/holdout/): never used to tune the answerer (qa_holdout.jsonl was
written after it was tuned, fresh_2026-11.jsonl from the guide alone by someone who saw no code or
eval set). They must agree with the guide like the main set, and their scores are gated by their
own floors (eval/thresholds_holdout.yaml: minimums only, a small margin below the current scores).
"""
from __future__ import annotations

import pytest

from eval.dataset import DATASET_DIR, GuideFacts, dataset_stats, load_dataset, validate
from eval.gate import HOLDOUT_THRESHOLDS_PATH, THRESHOLDS_PATH, check, load_thresholds
from eval.runner import run_eval
from ingest.settings import PROJECT_ROOT, get_settings

HOLDOUT_DIR = DATASET_DIR.parent / "holdout"
HOLDOUT = str(HOLDOUT_DIR / "*.jsonl")
# file → (questions, least share not copying a guide sentence): the sets as written
HOLDOUT_FILES = {"qa_holdout.jsonl": (40, 1.0), "fresh_2026-11.jsonl": (85, 0.72)}


@pytest.fixture(scope="module")
def holdout_run(eval_context):
    """The kanmin configuration on the 125 hold-out questions (seconds, on the shared eval context)."""
    return run_eval(HOLDOUT, configs=("kanmin",), ctx=eval_context, progress=False, sides=False)


@pytest.fixture(scope="module")
def floors() -> dict:
    return load_thresholds(HOLDOUT_THRESHOLDS_PATH)


def test_holdout_items_agree_with_the_guide(guide):
    assert sorted(p.name for p in HOLDOUT_DIR.glob("*.jsonl")) == sorted(HOLDOUT_FILES)
    facts = GuideFacts.from_guide(guide, get_settings().guide_path)
    for name, (n, no_copy) in HOLDOUT_FILES.items():
        items = load_dataset(str(HOLDOUT_DIR / name))
        assert len(items) == n, name
        assert validate(items, facts) == {}, name
        # paraphrased, as users ask (qa_holdout entirely; the fresh set mostly, at 0.73 now)
        assert dataset_stats(items, facts)["no_copy_share"] >= no_copy, name
    items = load_dataset(HOLDOUT)
    assert len({it.id for it in items}) == len(items) == sum(n for n, _ in HOLDOUT_FILES.values())
    assert {it.id for it in items}.isdisjoint({it.id for it in load_dataset(None)})


def test_holdout_thresholds_are_floors_for_the_holdout(floors):
    assert floors["config"] == "kanmin"
    assert (PROJECT_ROOT / floors["dataset"]).parent == DATASET_DIR.parent / "holdout"
    assert floors["maximum"] == {}, "hold-out thresholds are floors only"
    # every score the main gate floors is floored here too
    main = load_thresholds(THRESHOLDS_PATH)
    assert set(main["minimum"]) <= set(floors["minimum"])


def test_holdout_meets_its_floors(holdout_run, floors):
    report = holdout_run.report
    assert report["dataset"]["items"] == 125
    metrics = report["configs"]["kanmin"]
    assert metrics["n"] == 125 and metrics["n_answerable"] == 104
    violations = check(metrics, floors)
    summary = {k: metrics.get(k) for k in floors["minimum"]}
    assert not violations, "hold-out gate failed:\n  " + "\n  ".join(violations) + f"\ncurrent: {summary}"
    errors = [(r.item.id, r.pred.error) for r in holdout_run.results["kanmin"] if r.pred.error]
    assert not errors
    assert holdout_run.quote_issues == []


def test_gate_fails_below_the_floors(floors):
    """eval.gate.check reports every floor a run falls under, and passes at the floor itself."""
    minimum = floors["minimum"]
    at_floor = {k: float(v) for k, v in minimum.items()}
    assert check(at_floor, floors) == []
    below = {k: v - 0.01 for k, v in at_floor.items()}
    violations = check(below, floors)
    assert len(violations) == len(minimum)
    for key, line in zip(minimum, violations):
        assert line.startswith(f"{key}: ") and "< minimum" in line, line
    # one metric under its floor is one violation, naming it
    one = {**at_floor, "must_include_recall": at_floor["must_include_recall"] - 0.03}
    assert check(one, floors) == [
        f"must_include_recall: {one['must_include_recall']:.4f} < minimum {at_floor['must_include_recall']:.4f}"]
    # a metric the run did not compute is a violation too, not a pass
    missing = {k: v for k, v in at_floor.items() if k != "router_accuracy"}
    assert check(missing, floors) == [f"router_accuracy: not computed (minimum {minimum['router_accuracy']})"]


def test_gate_fails_above_a_maximum():
    main = load_thresholds(THRESHOLDS_PATH)
    ok = {**{k: float(v) for k, v in main["minimum"].items()}, **{k: float(v) for k, v in main["maximum"].items()}}
    assert check(ok, main) == []
    slow = {**ok, "latency_p95_ms": float(main["maximum"]["latency_p95_ms"]) + 1}
    assert check(slow, main) == [f"latency_p95_ms: {slow['latency_p95_ms']:.4f} > maximum "
                                 f"{float(main['maximum']['latency_p95_ms']):.4f}"]
