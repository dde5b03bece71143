"""The glossary: 図表8 (自治体・スタートアップごとの頻出単語例, p.20) row by row, plus the terms
the guide defines elsewhere; every meaning in the guide's own words."""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest.settings import get_settings

# 図表8 (guide lines ~458–480), verbatim: (用語, 分類, 意味, 言い換え例)
FIGURE_8 = [
    ("原課", "自治体語", "特定の案件や政策領域を担当している課のこと", "担当課、担当部署"),
    ("投げ込み", "自治体語", "記者クラブにプレスリリースを配布すること", "記者クラブ/広報への伝達"),
    ("パブリックコメント", "自治体語", "規制設定/改定/廃止案について市民から意見を集うこと", "意見収集"),
    ("ボンチ絵", "自治体語", "事業内容などを1ページにまとめたイラスト・図", "概要図、スキーム図"),
    ("レク", "自治体語", "担当者から首長/管理職上司への事前説明(レクチャー)", "首長/上司への説明"),
    ("アサイン(する)", "スタートアップ語", "人やものに仕事(処理)を割り当てること", "配属する、割り当てる"),
    ("オーソライズ(する)", "スタートアップ語", "公的機関や上長から、認証や承認を得ること", "認証、承認"),
    ("キャズム", "スタートアップ語", "新製品や新技術を市場浸透させるにあたっての障害", "市場までの隔たり"),
    ("コアコンピタンス", "スタートアップ語", "競合と比較した際の優位点、真似できない能力", "優位性、差別化要素"),
    ("ショート・ノータイス", "スタートアップ語", "納期・期限まで時間がない中、何かをお知らせすること", "期間が短い"),
    ("スケール(する)", "スタートアップ語", "主に事業の規模を指し、「スケールする」≒「拡大する」", "(事業を)拡大する"),
    ("スコープ", "スタートアップ語", "事業やプロジェクトの目的とする範囲・領域", "事業範囲、対象範囲"),
    ("セグメント", "スタートアップ語", "共通のニーズを持った顧客層", "顧客層"),
    ("ドライブ(をかける)", "スタートアップ語", "事業や作業を加速すること", "(作業を)加速させる"),
    ("ナレッジ", "スタートアップ語", "組織・個人が持っている有益な知識や、事例などの情報", "知見、情報、暗黙知"),
    ("バッファ", "スタートアップ語", "スケジュール遅延や工数増加の緩衝として確保したもの", "工数猶予、予備期間"),
    ("フィージビリティ・スタディ", "スタートアップ語", "事業・プロジェクト計画が成功するかどうかを評価すること", "実行可能性調査"),
    ("ペイ(する)", "スタートアップ語", "事業にかけた費用・投資を回収する、利益が出ること", "投資回収、利益がでる"),
    ("マージン", "スタートアップ語", "売上から費用を引いた後に残る利益のこと", "利益、粗利益"),
    ("マーチャント", "スタートアップ語", "主にWebで商品を販売したり、サービスを提供するサイト", "販売サイト"),
    ("ローンチ", "スタートアップ語", "新しい商品やサービスを公開・立ち上げること", "販売開始、提供開始"),
]


@pytest.fixture(scope="module")
def raw() -> str:
    return Path(get_settings().guide_path).read_text(encoding="utf-8")


def test_figure_8_rows_exact(guide):
    rows = [(e.term, e.category, e.meaning, e.rephrase) for e in guide.glossary if e.source == "図表8"]
    assert rows == FIGURE_8


def test_figure_8_rows_are_rows_of_the_guide_table(raw):
    """The expected tuples themselves: each is one tab-separated row of 図表8 in the guide."""
    start = raw.index("分類\t用語(50音順)\t意味\t言い換え例")
    table = raw[start:raw.index("図表8：自治体・スタートアップごとの頻出単語例", start)]
    for term, _, meaning, rephrase in FIGURE_8:
        assert f"{term}\t{meaning}\t{rephrase}" in table, term
    assert table.count("自治体語 (行政機関語)") == 1 and table.count("スタートアップ語 (民間事業者語)") == 1
    assert table.index("自治体語 (行政機関語)") < table.index("原課") < table.index("レク")
    assert table.index("レク") < table.index("スタートアップ語 (民間事業者語)") < table.index("アサイン(する)")


def test_figure_8_entries_are_on_page_20(guide):
    entries = [e for e in guide.glossary if e.source == "図表8"]
    assert len(entries) == 21
    assert all(e.pages == [20] for e in entries)
    assert [e.category for e in entries].count("自治体語") == 5
    assert [e.category for e in entries].count("スタートアップ語") == 16


def test_glossary_size_and_completeness(guide):
    assert len(guide.glossary) >= 40
    assert guide.stats.glossary_entries == len(guide.glossary)
    terms = [e.term for e in guide.glossary]
    assert len(terms) == len(set(terms)), "one entry per term"
    for e in guide.glossary:
        assert e.reading, f"{e.term}: no reading"
        assert e.en, f"{e.term}: no English"
        assert e.pages and all(1 <= p <= 137 for p in e.pages), f"{e.term}: pages {e.pages}"
        assert e.category, e.term


def test_every_meaning_is_verbatim_in_the_guide(guide, raw):
    missing = [e.term for e in guide.glossary if not e.meaning or e.meaning not in raw]
    assert not missing


def test_defined_terms_beyond_figure_8(guide):
    by_term = {e.term: e for e in guide.glossary}
    # a few definitions the guide gives in running text or footnotes
    assert by_term["外部不経済"].meaning.startswith("「外部不経済」とは、マイナスの外部性")
    assert by_term["外部不経済"].pages == [9]
    assert "4号随契" in by_term and by_term["4号随契"].pages == [87]
    assert "PFS" in by_term and "成果指標" in by_term["PFS"].meaning
