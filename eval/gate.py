"""The CI gate: eval/thresholds.yaml holds minimums (and maximums) for one configuration.

eval/thresholds_holdout.yaml holds floors (minimums only) for the hold-out set (eval/holdout/),
with the dataset it applies to; the hold-out is scored and gated, never tuned on.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ingest.errors import InvalidInput
from ingest.settings import PROJECT_ROOT

THRESHOLDS_PATH = PROJECT_ROOT / "eval" / "thresholds.yaml"
HOLDOUT_THRESHOLDS_PATH = PROJECT_ROOT / "eval" / "thresholds_holdout.yaml"


def load_thresholds(path: Path | None = None) -> dict:
    path = Path(path or THRESHOLDS_PATH)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput("eval_thresholds", f"cannot read thresholds {path}: {type(e).__name__}: {e}") from e
    if not isinstance(data.get("minimum", {}), dict) or not isinstance(data.get("maximum", {}), dict):
        raise InvalidInput("eval_thresholds", f"{path}: 'minimum' and 'maximum' must be mappings of metric: value")
    return {"config": data.get("config", "kanmin"), "minimum": data.get("minimum") or {},
            "maximum": data.get("maximum") or {}, "dataset": data.get("dataset")}


def check(metrics: dict, thresholds: dict) -> list[str]:
    """One line per violated threshold (empty = the gate passes)."""
    out = []
    for key, floor in thresholds.get("minimum", {}).items():
        value = metrics.get(key)
        if value is None:
            out.append(f"{key}: not computed (minimum {floor})")
        elif value < float(floor):
            out.append(f"{key}: {value:.4f} < minimum {float(floor):.4f}")
    for key, ceiling in thresholds.get("maximum", {}).items():
        value = metrics.get(key)
        if value is None:
            out.append(f"{key}: not computed (maximum {ceiling})")
        elif value > float(ceiling):
            out.append(f"{key}: {value:.4f} > maximum {float(ceiling):.4f}")
    return out
