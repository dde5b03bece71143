"""Abstention: say so when the guide's support for an answer is weak.

Not a fixed cosine cut (e5 cosines cluster in 0.7–0.9 for anything Japanese): the
decision combines how much of the question's vocabulary the best passages cover
with the dense similarity, with thresholds calibrated on the eval set
(eval/calibrate_abstention.py writes data/abstention.json)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class AbstainConfig:
    min_coverage_ja: float = 0.45
    min_dense_ja: float = 0.80
    min_coverage_en: float = 0.30
    min_dense_en: float = 0.80

    @classmethod
    def load(cls, path: Path) -> "AbstainConfig":
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})
        return cls()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


@dataclass
class Support:
    coverage: float  # IDF-weighted share of question tokens found in the best passage
    dense: float  # best dense cosine among the hits


def weak(support: Support, language: str, cfg: AbstainConfig) -> bool:
    """Weak when neither the words nor the meaning of the question meet the guide's text."""
    if language == "en":
        return support.coverage < cfg.min_coverage_en and support.dense < cfg.min_dense_en
    return support.coverage < cfg.min_coverage_ja and support.dense < cfg.min_dense_ja
