"""Per-item scores, per-item failures and their aggregation (pure functions, no I/O).

Conventions
-----------
* A ranked hit matches an expected section when its section path, joined with
  " > ", starts with the expected path (whitespace-insensitive) at a heading
  boundary: ``第3章 > (1) > STEP①`` matches ``第3章 > (1)``, ``(1) 目的X`` does not
  match ``(1) 目的``.
* recall@k = share of the item's expected sections matched within the top k;
  MRR = 1/rank of the first matching hit; nDCG@10 with binary gains, each expected
  section credited once (so duplicates of one section do not inflate the score).
* Page precision/recall compare the pages of the top-3 citations with the
  expected pages, exactly (±0). An answerable item with no citation scores 0.
* Retrieval, page and must_include metrics use answerable items only; abstention,
  router and character-F1 use every item.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eval.dataset import PATH_SEP, EvalItem
from ingest.text import squash

CITED_TOP = 3
_MARKER = re.compile(r"\[\d+\]")


@dataclass
class CitedRef:
    chunk_id: str | None
    section_path: list[str]
    pages: list[int]
    quote: str


@dataclass
class Prediction:
    answer: str = ""
    citations: list[CitedRef] = field(default_factory=list)  # what the answer cites, in order
    ranked: list[list[str]] = field(default_factory=list)  # section paths, best first
    abstained: bool = False
    route: str | None = None  # None: the configuration has no router
    latency_ms: float = 0.0
    error: str | None = None
    # kanmin's own answer (assistant.schema.Answer) as asked: tests over the whole tuning set read
    # its citations' scores and numbers from the gate's run instead of asking every question again
    full: Any = field(default=None, repr=False, compare=False)


@dataclass
class Failure:
    category: str  # route | false_abstention | missed_abstention | section_miss | section_partial | page_miss | must_include | error
    detail: str


@dataclass
class ItemResult:
    item: EvalItem
    pred: Prediction
    scores: dict[str, float | None]
    failures: list[Failure]


# ---- primitives ---------------------------------------------------------------------------
def path_key(path: list[str] | str) -> str:
    return squash(PATH_SEP.join(path) if isinstance(path, list) else path)


def section_matches(hit_path: list[str], expected: str) -> bool:
    hit, exp = path_key(hit_path), path_key(expected)
    return hit == exp or (hit.startswith(exp) and hit[len(exp)] == ">")


def recall_at(ranked: list[list[str]], expected: list[str], k: int) -> float:
    top = ranked[:k]
    found = sum(any(section_matches(h, e) for h in top) for e in expected)
    return found / len(expected)


def reciprocal_rank(ranked: list[list[str]], expected: list[str]) -> float:
    for i, h in enumerate(ranked):
        if any(section_matches(h, e) for e in expected):
            return 1.0 / (i + 1)
    return 0.0


def ndcg_at(ranked: list[list[str]], expected: list[str], k: int = 10) -> float:
    credited: set[int] = set()
    dcg = 0.0
    for i, h in enumerate(ranked[:k]):
        new = next((j for j, e in enumerate(expected) if j not in credited and section_matches(h, e)), None)
        if new is not None:
            credited.add(new)
            dcg += 1.0 / math.log2(i + 2)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(expected), k)))
    return dcg / ideal if ideal else 0.0


def cited_pages(citations: list[CitedRef], top: int = CITED_TOP) -> set[int]:
    return {p for c in citations[:top] for p in c.pages}


def page_scores(citations: list[CitedRef], expected: list[int]) -> tuple[float, float]:
    cited, exp = cited_pages(citations), set(expected)
    if not cited:
        return 0.0, 0.0
    hit = cited & exp
    return len(hit) / len(cited), len(hit) / len(exp)


def haystack(pred: Prediction) -> str:
    return squash(pred.answer + "\n" + "\n".join(c.quote for c in pred.citations))


def missing_must_include(pred: Prediction, must: list[str]) -> list[str]:
    hay = haystack(pred)
    return [m for m in must if squash(m) not in hay]


LEAD_CHARS = 250  # what an official reads before deciding whether to read on


def lead_text(answer: str, chars: int = LEAD_CHARS) -> str:
    """The first ``chars`` characters of the answer as the reader sees it (citation markers removed)."""
    return _MARKER.sub("", answer)[:chars]


def has_english_lead(answer: str) -> bool:
    """The answer's first line is English (mostly Latin letters) and names printed pages."""
    first = _MARKER.sub("", answer).strip().split("\n", 1)[0]
    letters = [ch for ch in first if ch.isalpha()]
    latin = sum(ch.isascii() for ch in letters)
    return bool(letters) and latin / len(letters) >= 0.6 and bool(re.search(r"\bpp?\.\s?\d", first))


def char_f1(prediction: str, reference: str) -> float:
    """Bag-of-characters F1 (NFKC, whitespace and citation markers removed)."""
    a = Counter(squash(_MARKER.sub("", prediction)))
    b = Counter(squash(reference))
    common = sum((a & b).values())
    if not common:
        return 0.0
    p, r = common / sum(a.values()), common / sum(b.values())
    return 2 * p * r / (p + r)


def route_ok(item: EvalItem, pred: Prediction) -> bool | None:
    if pred.route is None:
        return None
    if item.route == "out_of_scope":
        return pred.abstained or pred.route == "out_of_scope"
    if item.type == "not_stated":  # in scope, but the right answer is "the guide does not state it"
        return pred.abstained
    return pred.route == item.route and not pred.abstained


# ---- one item -----------------------------------------------------------------------------
def score_item(item: EvalItem, pred: Prediction) -> ItemResult:
    s: dict[str, float | None] = {}
    fails: list[Failure] = []
    if pred.error:
        fails.append(Failure("error", pred.error))
    ans = item.answerable
    if ans and item.expected_sections:
        for k in (1, 3, 5):
            s[f"recall_at_{k}"] = recall_at(pred.ranked, item.expected_sections, k)
        s["mrr"] = reciprocal_rank(pred.ranked, item.expected_sections)
        s["ndcg_at_10"] = ndcg_at(pred.ranked, item.expected_sections, 10)
    if ans and item.expected_pages:
        s["page_precision"], s["page_recall"] = page_scores(pred.citations, item.expected_pages)
        # the bar: do the top-3 citations hit an expected page at all?
        s["page_hit_at_3"] = float(bool(cited_pages(pred.citations) & set(item.expected_pages)))
    if ans and item.must_include:
        miss = missing_must_include(pred, item.must_include)
        s["must_include_recall"] = 1 - len(miss) / len(item.must_include)
        lead = squash(lead_text(pred.answer))
        s["must_include_lead"] = sum(squash(m) in lead for m in item.must_include) / len(item.must_include)
        # in the answer text itself: a passage cited by number only has its quote in the citation
        text = squash(_MARKER.sub("", pred.answer))
        s["must_include_text"] = sum(squash(m) in text for m in item.must_include) / len(item.must_include)
    else:
        miss = []
    s["char_f1"] = char_f1(pred.answer, item.answer)
    if not pred.error:
        s["answer_chars"] = float(len(_MARKER.sub("", pred.answer)))
        if item.lang == "en" and ans and not pred.abstained:
            s["english_lead"] = float(has_english_lead(pred.answer))
    r_ok = route_ok(item, pred)
    s["route_ok"] = None if r_ok is None else float(r_ok)
    if item.type == "glossary" and pred.route is not None:
        s["glossary_ok"] = float(pred.route == "glossary" and not miss and not pred.abstained)

    # failures, most telling first
    if ans and pred.abstained:
        fails.append(Failure("false_abstention", "abstained on an answerable question"))
    if not ans and not pred.abstained:
        fails.append(Failure("missed_abstention", "answered an unanswerable question"))
    if r_ok is False and not (ans and pred.abstained) and item.route != "out_of_scope":
        fails.append(Failure("route", f"route {pred.route} (expected {item.route})"))
    if ans and not pred.abstained:
        if item.expected_sections and s["recall_at_3"] == 0:
            got = "; ".join(dict.fromkeys(PATH_SEP.join(p[-2:]) for p in pred.ranked[:3])) or "nothing"
            fails.append(Failure("section_miss", f"expected {item.expected_sections} not in top-3 (got: {got})"))
        elif item.expected_sections and s["recall_at_3"] < 1:
            fails.append(Failure("section_partial", f"top-3 covers {s['recall_at_3']:.0%} of {item.expected_sections}"))
        if item.expected_pages and s["page_recall"] == 0:
            fails.append(Failure("page_miss", f"cited pages {sorted(cited_pages(pred.citations))} "
                                              f"vs expected {item.expected_pages}"))
        if miss:
            fails.append(Failure("must_include", f"missing {miss}"))
    return ItemResult(item, pred, s, fails)


# ---- aggregation --------------------------------------------------------------------------
SCORE_KEYS = ("recall_at_1", "recall_at_3", "recall_at_5", "mrr", "ndcg_at_10", "page_precision",
              "page_recall", "page_hit_at_3", "must_include_recall", "must_include_text", "must_include_lead", "char_f1",
              "english_lead")


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def aggregate(results: list[ItemResult]) -> dict:
    out: dict = {"n": len(results), "n_answerable": sum(r.item.answerable for r in results)}
    for key in SCORE_KEYS:
        out[key] = _mean([v for r in results if (v := r.scores.get(key)) is not None])
    # abstention: positive = unanswerable, predicted = abstained
    tp = sum((not r.item.answerable) and r.pred.abstained for r in results)
    fp = sum(r.item.answerable and r.pred.abstained for r in results)
    fn = sum((not r.item.answerable) and not r.pred.abstained for r in results)
    p = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else None
    out["abstain_precision"] = round(p, 4) if (tp + fn) else None
    out["abstain_recall"] = None if rec is None else round(rec, 4)
    out["abstain_f1"] = None if rec is None else round(2 * p * rec / (p + rec) if p + rec else 0.0, 4)
    answerable = [r for r in results if r.item.answerable]
    out["answered_rate"] = _mean([0.0 if r.pred.abstained else 1.0 for r in answerable])
    routed = [v for r in results if (v := r.scores.get("route_ok")) is not None]
    out["router_accuracy"] = _mean(routed)
    out["glossary_accuracy"] = _mean([v for r in results if (v := r.scores.get("glossary_ok")) is not None])
    chars = [v for r in results if (v := r.scores.get("answer_chars")) is not None]
    out["answer_chars_p50"] = round(float(np.median(chars)), 1) if chars else None
    # the same over the answers a reader gets to the answerable questions: short declines (a third
    # of the tuning set) pull the median above far down (tuning set of 848, 2026-11-29: 356 over all, 572 here)
    answered = [v for r in answerable if not r.pred.abstained and (v := r.scores.get("answer_chars")) is not None]
    out["answered_chars_p50"] = round(float(np.median(answered)), 1) if answered else None
    lat = [r.pred.latency_ms for r in results if r.pred.error is None]
    out["latency_p50_ms"] = round(float(np.percentile(lat, 50)), 1) if lat else None
    out["latency_p95_ms"] = round(float(np.percentile(lat, 95)), 1) if lat else None
    out["errors"] = sum(r.pred.error is not None for r in results)
    out["failed_items"] = sum(bool(r.failures) for r in results)
    return out


def by_type(results: list[ItemResult]) -> dict[str, dict]:
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        groups.setdefault(r.item.type, []).append(r)
    return {t: aggregate(rs) for t, rs in sorted(groups.items())}


def failure_rows(results: list[ItemResult], detail: bool = True) -> list[dict]:
    """Items with a failure; ``detail=False`` keeps only the categories (compact, for baselines)."""
    rows = []
    for r in results:
        if not r.failures:
            continue
        row: dict = {"id": r.item.id, "type": r.item.type, "lang": r.item.lang}
        if detail:
            row["question"] = r.item.question
            row["failed"] = [{"category": f.category, "detail": f.detail[:300]} for f in r.failures]
        else:
            row["failed"] = [f.category for f in r.failures]
        rows.append(row)
    return rows


def failure_counts(results: list[ItemResult]) -> dict[str, int]:
    c: Counter[str] = Counter(f.category for r in results for f in r.failures)
    return dict(c.most_common())
