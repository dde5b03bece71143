"""Persona tags (municipality / startup / intermediary / all) and the guide's own reading
guidance (図表2: what each reader learns and does next; 図表3: where each reader should read)."""
from __future__ import annotations

import pytest


def test_chapter_3_is_for_municipalities(guide):
    chunks = [c for c in guide.chunks if c.section_path[0] == "第3章 自治体編"]
    assert len(chunks) > 50
    assert all(c.personas == ["municipality"] for c in chunks), [c.id for c in chunks if c.personas != ["municipality"]]


def test_chapter_4_is_for_startups(guide):
    chunks = [c for c in guide.chunks if c.section_path[0] == "第4章 スタートアップ編"]
    assert len(chunks) > 50
    assert all(c.personas == ["startup"] for c in chunks), [c.id for c in chunks if c.personas != ["startup"]]


def test_intermediary_parts_of_chapter_5(guide):
    ch5_7 = [c for c in guide.chunks if c.section_path[:2] == ["第5章 官民連携編", "(7) 良質なマッチングを推進する取組紹介"]]
    inter = [c for c in ch5_7 if any(h.startswith("2. 中間支援を行う団体") for h in c.section_path)]
    assert len(inter) >= 10
    assert all(c.personas == ["intermediary"] for c in inter)
    for heading in ("中間支援の取組① Urban Innovation Japan / NPO 法人コミュニティリンク",
                    "中間支援の取組② 逆プロポ / 株式会社ソーシャル・エックス"):
        part = [c for c in ch5_7 if heading in c.section_path]
        assert part, heading
        assert all(c.personas == ["intermediary"] for c in part), heading
    # the government matching programmes of (7) 1. are for everyone
    gov = [c for c in ch5_7 if c not in inter]
    assert gov and all(c.personas == ["all"] for c in gov)
    # and so is the rest of 第5章 (出口① …, 出口② …, 出口③ …)
    rest = [c for c in guide.chunks if c.section_path[0] == "第5章 官民連携編" and c not in ch5_7]
    assert rest and all(c.personas == ["all"] for c in rest)


def test_introduction_is_for_all(guide):
    intro = [c for c in guide.chunks if c.section_path[0] == "はじめに"]
    general = [c for c in intro if len(c.section_path) == 1 or c.section_path[1] == "(2) 本ガイドの主な想定読者層"
               or c.section_path == ["はじめに", "(1) 本ガイドの目的"]]
    assert len(general) >= 8
    assert all(c.personas == ["all"] for c in general)
    # its two problem statements address one side each
    muni = [c for c in intro if c.section_path[-1:] == ["① 自治体の官民連携にまつわる課題"]]
    start = [c for c in intro if c.section_path[-1:] == ["② スタートアップの官民連携にまつわる課題"]]
    assert muni and all(c.personas == ["municipality"] for c in muni)
    assert start and all(c.personas == ["startup"] for c in start)


def test_a_table_that_sets_both_sides_side_by_side_is_for_both(guide, session_assistant):
    """図表7 (p.15) lists the benefits for the municipality beside those for the startup, printed
    under ② スタートアップにとってのメリット: for both sides, so an official asking for the
    municipality's benefits reads its row as the answer, not as "from the other side"."""
    from ingest.personas import table_personas

    both = [c for c in guide.chunks if c.kind == "table" and set(c.personas) == {"municipality", "startup"}]
    assert [c.text.split("\n", 1)[0] for c in both] == ["自治体にとってのメリット | スタートアップにとってのメリット"]
    assert table_personas("項目 | 自治体 | 金額\n…", ["startup"]) == ["startup"]  # one side's column only
    a = session_assistant.ask("What are the benefits for a municipality of working with startups?", persona="municipality")
    first = a.answer.split("\n")[1]
    assert "自治体にとってのメリット" in first and "other side" not in first, a.answer[:400]


def test_every_chunk_has_known_personas(guide):
    allowed = {"municipality", "startup", "intermediary", "all"}
    for c in guide.chunks:
        assert c.personas and set(c.personas) <= allowed, c.id
        assert "all" not in c.personas or c.personas == ["all"], c.id


# ---------------------------------------------------------------- 図表3

FIGURE_3 = [
    # (sector, role, readers, recommended chapters)
    ("自治体", "意思決定者", ["首長", "部長や局長"], ["第1章 自治体とスタートアップによる官民連携の意義"]),
    ("自治体", "実務者", ["経済・産業担当部署の担当者", "スタートアップ政策の担当者"],
     ["第2章 官民連携の進め方", "第3章 自治体編", "第5章 官民連携編"]),
    ("自治体", "実務者", ["官民連携を打診された各政策領域担当課の担当者(原課担当者)", "契約担当部署・財政部局の担当者"],
     ["第1章 自治体とスタートアップによる官民連携の意義", "第2章 官民連携の進め方", "第5章 官民連携編"]),
    ("スタートアップ", "意思決定者", ["代表者(CEO)", "部長・事業統括"],
     ["第1章 自治体とスタートアップによる官民連携の意義", "第5章 官民連携編"]),
    ("スタートアップ", "実務者", ["社外交渉役", "事業担当者"],
     ["第2章 官民連携の進め方", "第4章 スタートアップ編", "第5章 官民連携編"]),
    ("中間支援団体", "—", ["支援担当者"], ["第2章 官民連携の進め方", "第5章 官民連携編"]),
]
PERSONA = {"自治体": "municipality", "スタートアップ": "startup", "中間支援団体": "intermediary"}


def test_figure_3_reading_guidance(guide):
    rows = [r for r in guide.reading_guide if r.source_figure == 3]
    assert [(r.sector, r.role, r.readers, r.chapters) for r in rows] == FIGURE_3
    for r in rows:
        assert r.persona == PERSONA[r.sector]
        assert r.wants and all(w.endswith("？") for w in r.wants), r.wants


def test_economic_policy_staff_read_chapters_2_3_5(guide):
    row = next(r for r in guide.reading_guide if "経済・産業担当部署の担当者" in r.readers)
    assert (row.sector, row.role, row.persona) == ("自治体", "実務者", "municipality")
    assert [c.split()[0] for c in row.chapters] == ["第2章", "第3章", "第5章"]
    assert "スタートアップとの協議・会話をスムーズに行うために、知っておく必要があることは何か？" in row.wants


# ---------------------------------------------------------------- 図表2

FIGURE_2 = [
    ("自治体", "意思決定者",
     ["多様なスタートアップとの官民連携を進める上での前提知識を理解", "活用できる制度、契約方法、公平性の考え方について理解"],
     ["官民連携しやすい自治体になるべく、連携窓口を開設", "スタートアップからの連携を呼び込むべく、行政が持つ課題を募集"]),
    ("自治体", "実務者",
     ["連携プロセス応じた、実務における知識やノウハウを学ぶ", "連携の出口の具体例を学び、事例創出に向けたイメージを持つ"],
     ["官民のマッチング機会へ参加し、連携パートナーを探索",
      "本ガイドに記載のある、社会課題解決に意欲的なスタートアップ(P50)を参考に、連携候補となるスタートアップを検討"]),
    ("スタートアップ", "意思決定者",
     ["民間側が押さえるべき行政の特徴について理解し、円滑な連携に向けた準備ができる",
      "公共調達の基本を押さえながら、それ以外の連携のメリットを理解できる"],
     ["自社事業が自治体のどのような課題解決に資するか整理", "本ガイドの附録(P85)を参考にし、連携候補とする自治体を検討"]),
    ("スタートアップ", "実務者",
     ["自治体とのコミュニケーション前に踏まえるべき前提知識を得る", "連携先となる自治体の検討する際のポイントを理解"],
     ["官民のマッチング機会への参加や、連携窓口が開設されている自治体(P85)へアプローチするなど、連携パートナーを模索"]),
    ("中間支援団体", "—",
     ["自治体とスタートアップが連携を進める上でのポイントや、先進事例を理解"],
     ["官民連携による新たなビジネス展開の検討に向けて、社会課題解決に意欲的なスタートアップ(P50)や"
      "官民連携・スタートアップ支援に積極的な自治体(P85)を参考にパートナーを探索"]),
]


def test_figure_2_learning_and_next_actions(guide):
    rows = [r for r in guide.reading_guide if r.source_figure == 2]
    assert [(r.sector, r.role, r.wants, r.next_actions) for r in rows] == FIGURE_2
    assert all(r.persona == PERSONA[r.sector] and not r.chapters for r in rows)


@pytest.mark.parametrize("persona", ["municipality", "startup", "intermediary"])
def test_every_persona_has_reading_guidance(guide, persona):
    assert any(r.persona == persona and r.chapters for r in guide.reading_guide)
    assert any(r.persona == persona and r.next_actions for r in guide.reading_guide)
