"""TOC → structure tree on the real vendored guide: every heading found in body order or
reported as recovered, the two headings lost with page 115 restored at the right seam,
第4章's (2)→(4) gap kept, spacing variants matched, and 図表47 reported missing."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.settings import get_settings
from ingest.text import squash

KANMIN = str(Path(sys.executable).parent / "kanmin")

# The guide's 目次, verbatim (dot leaders dropped): 64 entries.
TOC = [
    ("はじめに", 1), ("(1) 本ガイドの目的", 2), ("(2) 本ガイドの主な想定読者層", 4),
    ("第1章 自治体とスタートアップによる官民連携の意義", 8), ("(1) 「スタートアップ」とは", 8),
    ("(2) 本ガイドで推進する「官民連携」とは", 9),
    ("(3) なぜ自治体とスタートアップの官民連携を進める必要があるのか", 11),
    ("(4) 連携により創出される自治体とスタートアップ両者のメリットはどのようなものか", 14),
    ("(5) 取組を促進する意義と目指す姿", 15),
    ("第2章 官民連携の進め方", 17), ("(1) 自治体とスタートアップの相互理解の現状", 17),
    ("(2) 相互理解が無いことで起こる「よくある落とし穴」", 18), ("(3) 知っておくべき自治体の特徴", 22),
    ("(4) 知っておくべきスタートアップの特徴", 26), ("(5) 両者の特徴を踏まえた官民連携の工夫点", 27),
    ("(6) 官民連携までのプロセスと課題", 29),
    ("第3章 自治体編", 30), ("(1) 自治体が官民連携を進めるための準備プロセス", 30),
    ("STEP①官民連携全般", 30), ("STEP②スタートアップとの連携", 32),
    ("(2) 官民連携に向けた各プロセスとそのポイント", 38), ("① 課題特定・企画 段階", 38),
    ("② 連携先の探索段階", 43), ("③ 調整・意思決定段階", 46), ("④ 連携方法の検討 段階", 48),
    ("⑤ 予算化 段階", 49), ("(3) 社会課題解決に意欲的なスタートアップを知るには", 50),
    ("第4章 スタートアップ編", 52), ("(1) スタートアップが官民連携を進めるための準備プロセス", 53),
    ("① プロセスの概観", 53), ("② 自治体の動向・課題に対して高いアンテナを持つ", 55),
    ("③ 自社が対峙する相手を知る", 56), ("④ 自社製品・サービスの付加価値と自治体の課題解決を結びつける", 56),
    ("⑤ 官民連携の段階に合わせて、必要な資料を使い分ける", 57),
    ("(2) 官民連携に向けた各プロセスとそのポイント", 59), ("① 課題特定・企画", 59),
    ("② 利害関係者の特定", 68), ("③ 連携先の探索", 72), ("④ 調整・意思決定", 78), ("⑤ 予算化", 81),
    ("(4) 官民連携やスタートアップ支援を行っている自治体はどこか", 85),
    ("第5章 官民連携編", 86), ("(1) 官民連携の成立パターン", 86),
    ("(2) それぞれのメリットや活用可能と考えられる資源", 86),
    ("(3) 出口①自治体“へ”の導入（公共調達等）", 87), ("① 自治体“へ”の導入とは", 87),
    ("② 公共調達の原則", 88), ("③ 公共調達においてスタートアップの強みを活かす方法", 90),
    ("④ 地方自治法施行令第167条の2第1項第4号を活用したスタートアップとの 随意契約（略称「4号随契」）", 94),
    ("⑤ 共同調達", 103), ("⑥ PFS（Pay For Success：成果連動型民間委託契約方式）", 107),
    ("(4) 出口②自治体“を介して”広める（共同プロモーション等）", 110), ("① 自治体“を介して”広めるとは", 110),
    ("② 契約や手続き", 112), ("③ 公平性の考え方", 113),
    ("(5) 出口③自治体“と共に”創る（共同開発・実証実験）", 115), ("① 自治体“と共に”創るとは", 115),
    ("② 共同開発・実証実験にあたって取り決めておくこと", 118), ("③ 規制緩和／規制改革", 119),
    ("(6) 理想的な官民連携までのプロセス", 121), ("(7) 良質なマッチングを推進する取組紹介", 122),
    ("おわりに：共同座長からのメッセージ", 134), ("参考情報一覧", 136),
    ("本書の執筆にご協力いただいた方々（順不同）", 137),
]
# Page 115 (図表47, the (5) heading, its ① heading, footnotes 56–57) is absent from the text.
RECOVERED = ["(5) 出口③自治体“と共に”創る（共同開発・実証実験）", "① 自治体“と共に”創るとは"]
SEAM = "を活用し、スタートアップにとっては行政が持つ資源"
# (TOC spelling, body spelling): same heading, different spacing
SPACING_VARIANTS = [
    ("(4) 出口②自治体“を介して”広める（共同プロモーション等）",
     "(4) 出口② 自治体“を介して”広める（共同プロモーション等）"),
    ("⑤ 予算化 段階", "⑤ 予算化段階"),
    ("④ 地方自治法施行令第167条の2第1項第4号を活用したスタートアップとの 随意契約（略称「4号随契」）",
     "④ 地方自治法施行令第167条の2第1項第4号を活用した スタートアップとの随意契約（略称「4号随契」）"),
]


@pytest.fixture(scope="module")
def raw() -> str:
    return Path(get_settings().guide_path).read_text(encoding="utf-8")


def walk(nodes):
    for n in nodes:
        yield n
        yield from walk(n.children)


def toc_nodes(guide):
    """TOC-level nodes (chapter / section / sub-section) in tree (= body) order."""
    return [n for n in walk(guide.tree) if n.kind in ("chapter", "section", "subsection")]


def test_toc_has_all_64_entries_with_printed_pages(guide):
    assert [(e.heading, e.page) for e in guide.toc] == TOC
    assert guide.stats.toc_entries == 64


def test_toc_levels_and_paths(guide):
    levels = [e.level for e in guide.toc]
    assert levels.count(1) == 9  # はじめに, 第1–5章, おわりに, 参考情報一覧, 本書の執筆…
    for e in guide.toc:
        if e.heading.startswith("("):
            assert e.level == 2, e.heading
        elif re.match(r"^(?:[①-⑳]|STEP)", e.heading):
            assert e.level == 3, e.heading
        assert e.path[-1] == e.heading
        assert len(e.path) == e.level
    assert guide.toc[[e.heading for e in guide.toc].index(RECOVERED[1])].path == ["第5章 官民連携編", *RECOVERED]


def test_every_heading_found_in_body_order_or_reported_recovered(guide, raw):
    nodes = toc_nodes(guide)
    assert [n.heading for n in nodes] == [h for h, _ in TOC], "tree must hold every TOC heading once, in TOC order"
    starts = [n.start for n in nodes]
    assert starts == sorted(starts), "TOC headings must sit in the body in TOC order"
    assert len({n.id for n in nodes}) == 64
    for entry, node in zip(guide.toc, nodes):
        assert entry.found == (entry.heading not in RECOVERED), entry.heading
        assert node.recovered == (not entry.found)
        if entry.found:
            # the node starts on the body line that carries this heading (spacing-insensitive)
            line = raw[node.start:raw.index("\n", node.start)]
            assert squash(line) == squash(entry.heading), (entry.heading, line)


def test_exactly_the_two_lost_headings_are_recovered(guide):
    assert guide.stats.toc_found == 62
    assert guide.stats.recovered_headings == RECOVERED
    assert [e.heading for e in guide.toc if not e.found] == RECOVERED


def test_recovered_headings_are_placed_at_the_seam(guide, raw):
    by_heading = {n.heading: n for n in toc_nodes(guide)}
    s5, u1 = by_heading[RECOVERED[0]], by_heading[RECOVERED[1]]
    seam = raw.index(SEAM)
    assert s5.start == u1.start == seam
    assert u1 in s5.children and s5.children[0] is u1
    assert s5.pages[0] == u1.pages[0] == 115
    # the previous section (③ 公平性の考え方) ends before the seam
    prev = by_heading["③ 公平性の考え方"]
    assert prev.end <= seam
    # ② 共同開発・実証実験… (found in the body) is the next child of (5)
    assert [c.heading for c in s5.children if c.kind == "subsection"] == [
        RECOVERED[1], "② 共同開発・実証実験にあたって取り決めておくこと", "③ 規制緩和／規制改革"]


def test_recovered_content_lands_under_the_recovered_headings(guide):
    hits = [c for c in guide.chunks if c.text.startswith(SEAM)]
    assert len(hits) == 1
    chunk = hits[0]
    assert chunk.section_path == ["第5章 官民連携編", *RECOVERED]
    assert chunk.recovered is True
    assert chunk.kind == "body"
    # the whole ① sub-section (its case studies included) is marked recovered
    u1 = [c for c in guide.chunks if c.section_path[:3] == ["第5章 官民連携編", *RECOVERED]]
    assert len(u1) >= 3 and all(c.recovered for c in u1)
    assert any("チャリチャリ" in c.text for c in u1)
    # nothing before the seam or after (5) is marked recovered
    assert not any(c.recovered for c in guide.chunks if c.section_path[:2] != ["第5章 官民連携編", RECOVERED[0]])
    # the text before the seam stays in ③ 公平性の考え方
    before = [c for c in guide.chunks if "排他性を占有性と置き換えてご覧ください" in c.text]
    assert len(before) == 1 and before[0].section_path[1] == "(4) 出口②自治体“を介して”広める（共同プロモーション等）"


def test_chapter4_skips_from_2_to_4_without_inventing_3(guide):
    ch4 = next(n for n in guide.tree if n.heading == "第4章 スタートアップ編")
    sections = [n for n in ch4.children if n.kind == "section"]
    assert [n.heading[:3] for n in sections] == ["(1)", "(2)", "(4)"]
    assert sections[-1].heading == "(4) 官民連携やスタートアップ支援を行っている自治体はどこか"
    ids = {n.id for n in walk(guide.tree)}
    assert f"{ch4.id}.s04" in ids and f"{ch4.id}.s03" not in ids
    toc_ch4 = [e.heading for e in guide.toc if e.path and e.path[0] == "第4章 スタートアップ編" and e.level == 2]
    assert toc_ch4 == [s.heading for s in sections]
    assert not any(c.section_path[:2][-1].startswith("(3)") for c in guide.chunks
                   if c.section_path[0] == "第4章 スタートアップ編" and len(c.section_path) > 1)


@pytest.mark.parametrize("toc_heading,body_heading", SPACING_VARIANTS, ids=["exit2-space", "yosanka-dankai", "4go-zuikei"])
def test_headings_with_different_spacing_are_matched(guide, raw, toc_heading, body_heading):
    assert toc_heading != body_heading
    assert f"\n{body_heading}\n" in raw
    body_part = raw[raw.index("\nはじめに\n", raw.index("附録")):]
    assert f"\n{toc_heading}\n" not in body_part, "the TOC spelling must not occur verbatim in the body"
    entry = next(e for e in guide.toc if e.heading == toc_heading)
    assert entry.found
    node = next(n for n in toc_nodes(guide) if n.heading == toc_heading)
    assert raw[node.start:node.start + len(body_heading)] == body_heading
    assert node.pages[0] == entry.page


def test_figure_47_listed_but_absent_is_reported_missing(guide, raw):
    assert guide.stats.figures_listed == 58 == len(guide.figures)
    assert [f.number for f in guide.figures] == list(range(1, 59))
    assert guide.stats.figures_missing == [47]
    fig47 = next(f for f in guide.figures if f.number == 47)
    assert (fig47.title, fig47.page, fig47.placed) == ("占有性の考え方と公募の必要性", 115, False)
    body = raw[raw.index("\nはじめに\n", raw.index("附録")):]
    assert not re.search(r"^図表\s*47\s*[：:]", body, flags=re.M)  # no caption, only the in-text 図表 47 reference
    assert "図表 47 のような整理" in body
    assert not any(c.figure == 47 for c in guide.chunks)


def test_cli_ingest_stats_json_reports_recovered_and_missing():
    proc = subprocess.run([KANMIN, "ingest", "--stats", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    stats = data["stats"]
    assert stats["recovered_headings"] == RECOVERED
    assert stats["figures_missing"] == [47]
    assert stats["toc_entries"] == 64 and stats["toc_found"] == 62
    assert re.fullmatch(r"[0-9a-f]{64}", data["sha256"])
