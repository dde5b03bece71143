"""The hold-out questions (eval/holdout/): written after the answerer was tuned, never used to
tune it. They must agree with the guide like the main set; their scores are reported, not gated."""
from __future__ import annotations

from eval.dataset import DATASET_DIR, GuideFacts, dataset_stats, load_dataset, validate
from ingest.settings import get_settings

HOLDOUT = str(DATASET_DIR.parent / "holdout" / "*.jsonl")


def test_holdout_items_agree_with_the_guide(guide):
    items = load_dataset(HOLDOUT)
    assert len(items) == 40
    facts = GuideFacts.from_guide(guide, get_settings().guide_path)
    assert validate(items, facts) == {}
    stats = dataset_stats(items, facts)
    assert stats["no_copy_share"] == 1.0  # paraphrased, as users ask
    assert {it.id for it in items}.isdisjoint({it.id for it in load_dataset(None)})
