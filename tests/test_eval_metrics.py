"""Metric definitions (pure functions): section matching, ranking, pages, must_include, char F1."""
from __future__ import annotations

import math

import pytest

from eval.dataset import EvalItem
from eval.metrics import (
    CitedRef, Prediction, aggregate, char_f1, ndcg_at, page_scores, recall_at, reciprocal_rank, score_item,
    section_matches,
)

SEC = "第3章 自治体編 > (1) 自治体が官民連携を進めるための準備プロセス"


def test_section_match_is_a_prefix_at_heading_boundaries():
    assert section_matches(["第3章 自治体編", "(1) 自治体が官民連携を進めるための準備プロセス", "STEP①官民連携全般"], SEC)
    assert section_matches(["第3章  自治体編", "(1)自治体が官民連携を進めるための準備プロセス"], SEC)  # whitespace
    assert not section_matches(["第3章 自治体編"], SEC)  # a parent is not the section
    assert not section_matches(["第3章 自治体編", "(1) 自治体が官民連携を進めるための準備プロセスX"], SEC)


def test_ranking_metrics():
    a, b = ["A", "x"], ["B"]
    ranked = [["Z"], ["A", "x", "y"], ["A", "x"], ["B"]]
    exp = ["A > x", "B"]
    assert recall_at(ranked, exp, 1) == 0
    assert recall_at(ranked, exp, 3) == 0.5
    assert recall_at(ranked, exp, 5) == 1
    assert reciprocal_rank(ranked, exp) == 0.5
    # credited once per expected section: ranks 2 and 4
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert ndcg_at(ranked, exp) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert ndcg_at([a, b], exp) == pytest.approx(1.0)


def test_page_scores_use_the_top3_citations():
    cites = [CitedRef("c1", ["A"], [3, 4], "q"), CitedRef("c2", ["A"], [5], "q"),
             CitedRef("c3", ["A"], [6], "q"), CitedRef("c4", ["A"], [3], "q")]
    p, r = page_scores(cites, [3, 9])
    assert p == pytest.approx(1 / 4) and r == pytest.approx(1 / 2)
    assert page_scores([], [3]) == (0.0, 0.0)


def test_char_f1_ignores_whitespace_width_and_markers():
    assert char_f1("ＡＢ c[1]", "abc".upper().replace("C", "c")) == pytest.approx(1.0)
    assert char_f1("", "abc") == 0.0


def _item(**kw):
    base = dict(id="t", question="q", lang="ja", persona="any", type="fact", route="qa",
                expected_sections=["A"], expected_pages=[3], must_include=["全角ＡＢＣ"], answer="全角ABC")
    base.update(kw)
    return EvalItem.model_validate(base)


def test_score_item_and_failures():
    pred = Prediction(answer="全角 ABC です[1]", citations=[CitedRef("c", ["A", "b"], [3], "x")],
                      ranked=[["A", "b"]], route="qa")
    r = score_item(_item(), pred)
    assert r.scores["recall_at_1"] == 1 and r.scores["page_precision"] == 1
    assert r.scores["must_include_recall"] == 1  # NFKC + whitespace-insensitive
    assert r.failures == []
    miss = score_item(_item(route="locate"), Prediction(answer="no", ranked=[["B"]], route="qa"))
    cats = {f.category for f in miss.failures}
    assert cats == {"route", "section_miss", "page_miss", "must_include"}


def test_key_phrases_in_the_text_and_in_the_citations():
    # the key phrase only in a passage cited by number: found with the citations' quotes, not in the text
    pred = Prediction(answer="別の一文です[1]\n関連箇所: [2] p.3",
                      citations=[CitedRef("c", ["A", "b"], [3], "別の一文です"), CitedRef("d", ["A", "b"], [3], "全角ＡＢＣです")],
                      ranked=[["A", "b"]], route="qa")
    r = score_item(_item(), pred)
    assert r.scores["must_include_recall"] == 1
    assert r.scores["must_include_text"] == 0 and r.scores["must_include_lead"] == 0
    shown = score_item(_item(), Prediction(answer="全角 ABC です[1]", citations=pred.citations[1:], ranked=[["A", "b"]]))
    assert shown.scores["must_include_text"] == 1 == shown.scores["must_include_lead"]


def test_abstention_and_router_aggregate():
    un = _item(id="u", type="unanswerable", route="out_of_scope", expected_sections=[], expected_pages=[], must_include=[])
    res = [
        score_item(un, Prediction(answer="なし", abstained=True, route="out_of_scope")),  # TP
        score_item(un.model_copy(update={"id": "u2"}), Prediction(answer="x", route="qa")),  # FN
        score_item(_item(), Prediction(answer="x", abstained=True, route="out_of_scope")),  # FP
        score_item(_item(id="g"), Prediction(answer="全角ABC", ranked=[["A"]], route="qa")),
    ]
    m = aggregate(res)
    assert m["abstain_precision"] == 0.5 and m["abstain_recall"] == 0.5 and m["abstain_f1"] == 0.5
    assert m["router_accuracy"] == 0.5  # TP counts; FN, FP (abstained answerable) do not; last is right
    assert m["answered_rate"] == 0.5
    assert aggregate([score_item(_item(), Prediction(answer="x"))])["router_accuracy"] is None  # no router
    # median length over all four answers (2, 1, 1, 5 characters), and over the answers an answerable
    # question got (only 全角ABC: a decline, or an answer to an unanswerable question, does not count)
    assert m["answer_chars_p50"] == 1.5 and m["answered_chars_p50"] == 5.0
