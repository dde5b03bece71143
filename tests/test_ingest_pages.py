"""Printed-page anchors. Expected pages are reasoned from the guide itself, not from the parser:
TOC pages at heading starts, figure-list pages at captions, and the layout of this text
extraction — a page's footnotes follow its last line (often cutting a sentence, e.g.
「…メゾンを傘下に持つ」 ¹ ² ³ ⁴ 「LVMH のアワード…」), and a sentence split across a blank line
with no footnote between is a page break too (「…2.新しい技術」 / 「やビジネスモデル…」)."""
from __future__ import annotations

import pytest

from ingest.commands import find_chunks

# (chapter, passage, printed page)
PASSAGES = [
    # はじめに (p.1–7): footnotes ¹–⁴ close p.1, ⁵ closes p.2, ⁶ closes p.3; (2) starts p.4
    ("はじめに", "本ガイドは、インパクトコンソーシアム官民連携促進分科会", 1),
    ("はじめに", "LVMH のアワードを日本で初めて受賞", 2),
    ("はじめに", "という3点が挙げられています。体制の観点では", 3),
    ("はじめに", "まず、自治体とスタートアップの間には、組織文化や業務プロセスの違い", 4),
    ("はじめに", "過去、官民連携に取り組んだものの連携が実現しなかった", 5),  # after 「…一助となるこ」/「とを目指して」
    ("はじめに", "そこで、図表 3 では、皆様がより手早く必要な情報を抽出できるよう", 6),  # under 図表2 (p.6)
    # 第1章 (p.8–16): p.8 ends 「…2.新しい技術」; ⁷⁸⁹ close p.9; ¹⁰¹¹ close p.10 (図表4)
    ("第1章", "本章では、本ガイドにて解説する自治体とスタートアップによる官民連携とは何か", 8),
    ("第1章", "外部不経済⁹や社会的な不条理の解消", 9),
    ("第1章", "本ガイドでは、スタートアップが有する新しい技術やビジネスモデルを、地域や自治体", 9),
    ("第1章", "日本は、気候変動・少子高齢化・生物多様性", 11),
    ("第1章", "その過程では、課題に関係する利害関係者や自治体職員の声から", 12),  # after 「…ことで官」/「民連携が」
    ("第1章", "スタートアップ等とともに社会的な課題の解決をできるか否かの検証", 13),  # after ¹² (end of p.12)
    ("第1章", "自治体にとっては、地域の社会課題の解決に資する新たな方策を実行することができます", 14),
    ("第1章", "スタートアップにとっては、スケール可能性のある地域社会の課題解決の機会創出", 15),  # after ¹³
    ("第1章", "の多くの課題は、非常に多岐にわたる利害関係者が関与する根深さ", 16),
    # 第2章 (p.17–29)
    ("第2章", "相互理解を深めていく前に、自治体とスタートアップの特徴的な4つの認識のズレ", 17),
    ("第2章", "行政と民間の間には、しばしば偏見や先入観が生まれます", 18),
    ("第2章", "前述のようなズレや落とし穴を防ぐためにも", 22),
    ("第2章", "はいえず、いわゆる「大は小を兼ねる」にはなり得ません", 23),
    ("第2章", "画競争（コンペ方式・プロポーザル方式）においては、まず公募要件が公示され", 25),  # after ¹⁵
    ("第2章", "スタートアップの業界には、「リーンスタートアップ」という言葉・文化があります", 26),
    ("第2章", "官民の双方について特徴を理解した後は、実践に移っていきます", 27),
    ("第2章", "相互理解のポイントを踏まえたことで、官民連携に向けた心構え", 29),
    # 第3章 (p.30–51)
    ("第3章", "まず、スタートアップに限らず官民連携全般に関する庁内体制を構築する方法", 30),
    ("第3章", "ルールづくりを行います。例えば、情報共有の方法や頻度", 31),  # after ¹⁷¹⁸
    ("第3章", "次に、スタートアップとの連携を推進する自治体の取組やそのポイント", 32),
    ("第3章", "福岡市の公民連携ワンストップ窓口として、受け付けた相談や提案をたらい回しにしない", 34),  # after ¹⁹²⁰
    ("第3章", "このように、外郭団体を設立することで迅速かつ効果的に", 37),  # under 図表15 (p.37)
    ("第3章", "民間企業からの提案を効果的に呼び込むためには、まず地域の現状をしっかりと把握し", 38),
    ("第3章", "「自治体の課題整理のための参考様式」を紹介します", 39),  # after ²⁵
    ("第3章", "具体的な事例として、福岡市が保健福祉分野", 41),  # after 図表16/17 (p.40) and ²⁶
    ("第3章", "他の自治体が共通の課題を抱えている場合、共同調達の可能性を検討", 42),  # after ²⁷
    ("第3章", "スタートアップ側に対する入口や課題の提示について理解・準備を進めた後は", 43),
    ("第3章", "連携候補との対話を進めると、庁内での調整や意思決定を行う段階に至ります", 46),
    ("第3章", "連携に向けて検討を進めるか否かを判断する材料は見えてきたので", 48),
    ("第3章", "公共調達という出口に向かうには、スタートアップが持つ製品・サービスの優位性", 49),
    ("第3章", "実際にどのようなスタートアップが存在するのか", 50),
    ("第3章", "最新の会員がカタログ化されており", 51),  # after ²⁸
    # 第4章 (p.52–85)
    ("第4章", "スタートアップは、社会に新たな付加価値を提供する革新的な技術や", 52),
    ("第4章", "スタートアップが、自治体との官民連携の実施に至るまでには", 53),
    ("第4章", "後段にも記述するとおり、自治体との官民連携は、まず「自治体を知る」", 55),
    ("第4章", "自治体との官民連携を実現するためには、上述までの自治体及びその職員に対する理解", 57),
    ("第4章", "自治体は、多岐にわたる政策領域(例えば、地域自治", 59),
    ("第4章", "係者に対して働きかける場を指しており", 60),  # after 「…利害関」/「係者」
    ("第4章", "官民連携を通じて自治体が現場で抱えている課題の解決を図るうえでは", 61),  # under 図表20 (p.61)
    ("第4章", "図表 21 のリーンキャンバスは、一般的に用いられるリーンキャンバスから", 62),
    ("第4章", "自治体の政策領域においても、スタートアップのビジネスと同様に", 68),
    ("第4章", "最後に、実現を目指す官民連携における、各利害関係者の立ち位置や役割", 69),  # under 図表24
    ("第4章", "サービスを直接的に購買・利用する立場なのか等", 70),
    ("第4章", "入・スケール化を見据えた公益性・公共性を訴求するストーリー作り", 71),
    ("第4章", "自治体の課題とその解決策、そして各ステークホルダーへの利害に関する仮説", 72),
    ("第4章", "上記のような民間提案窓口を通じて自治体職員を探す際は", 74),  # under 図表25 (p.74)
    ("第4章", "こうした取組は、決して福岡市に限ったものでなく", 76),  # under 図表26 (p.76)
    ("第4章", "連携先となる自治体が見つかった後は、いよいよ連携の実現に向けた調整", 78),
    ("第4章", "自治体・スタートアップ間の対話を通じて、官民連携の枠組みや内容が固まってから", 81),
    ("第4章", "官民連携を行う上で、自治体から委託費等の形で予算執行を受ける場合は", 83),  # under 図表28
    ("第4章", "時間にもよりますが、初めてコンタクトを取るのは8月よりも前", 84),
    ("第4章", "本章の「③連携先の探索」において、自治体が設置している民間提案窓口", 85),
    # 第5章 (p.86–133)
    ("第5章", "官民連携を促進するため、その成立パターンの詳細", 86),
    ("第5章", "1つ目の出口である「自治体“へ”導入する」は", 87),
    ("第5章", "ルメリットを得ながら発注を行う共同調達についても", 88),  # after ³⁴³⁵
    ("第5章", "公共調達の原則について理解したうえで、スタートアップの強みを活かす工夫点", 90),
    ("第5章", "スタートアップとの随意契約を推進する取組をご紹介します", 92),  # after 図表32 (p.91) and ³⁷
    ("第5章", "公共調達という出口におけるスタートアップとの連携の要点を理解したところで", 94),
    ("第5章", "実績を作ることにより、販路の開拓を支援する", 95),
    ("第5章", "つくば市のトライアル発注認定事業は、新規性が高く優れた製品", 96),
    ("第5章", "トアップ a 社のサービスについて、他都市である B 市において", 99),  # after ⁴⁰
    ("第5章", "め」として説明・理解されてしまうと、原課の業務内容", 102),  # after ⁴³
    ("第5章", "公共調達におけるスタートアップとの連携では、複数自治体の課題を集約", 103),
    ("第5章", "本事業は、当初の実証実験にとどまらず", 104),  # after ⁴⁴
    ("第5章", "一方で、スタートアップからの共同調達を行ったことがある自治体は3団体", 106),  # after ⁴⁶
    ("第5章", "スタートアップが持つソリューションの強みを活かした連携の形として", 107),
    ("第5章", "実績については2つの指標で表されています", 109),  # after ⁴⁹⁵⁰ (end of p.108)
    ("第5章", "2つ目の出口である「自治体 “を介して” 広める」は", 110),
    ("第5章", "す。それが連携協定という手法です。鯖江市においては", 111),
    ("第5章", "このように行政が非財務的な資源を提供する形での連携について", 112),
    ("第5章", "まず、官民連携という「機会」に広く参入ができるかどうか", 114),  # after ⁵⁴
    ("第5章", "を活用し、スタートアップにとっては行政が持つ資源", 116),  # page 115 is lost
    ("第5章", "複数の自治体が連携して、実証実験を行う取組も紹介します", 117),  # after ⁵⁸
    ("第5章", "共同開発や実証実験においては、官民それぞれのデータやノウハウ", 118),
    ("第5章", "この「自治体“と共に”創る」という出口については", 119),
    ("第5章", "経済産業省を中心に、スタートアップ向けの規制対応・規制改革に関するガイダンス", 120),  # after ⁶⁰
    ("第5章", "現状のプロセスを踏まえ、実践的な対応について解説してきました", 121),
    ("第5章", "官民のマッチングについて、その質を高めるポイントや取組について紹介します", 122),
    ("第5章", "政府機関としても、マッチングやネットワーキングの機会創出", 123),  # after ⁶²
    ("第5章", "CSTI事務局では、マッチングピッチの取組以外にも", 124),  # after ⁶³
    ("第5章", "地方創生 SDGs 官民連携プラットフォームは、自治体単独では解決が難しい", 126),  # after ⁶⁵
    ("第5章", "Urban Innovation JAPAN は、神戸市から生まれた", 127),  # after 「…官民」/「の当事者」
    ("第5章", "こちらは、Urban Innovation JAPAN が中間支援に携わった", 128),
    ("第5章", "実際に事例を見ながら、中間支援のポイントを追っていきましょう", 131),
    ("第5章", "プと自治体それぞれの強みを活かしながら", 132),  # after ⁶⁹⁷⁰
    # おわりに (p.134–135)
    ("おわりに", "スタートアップには社会を変える力がある", 134),
    ("おわりに", "インパクトコンソーシアム官民連携促進分科会では1年に渡り", 135),
]

# Passages that open a page right after the previous page's footnotes (or its cut sentence):
# their printed page is certain, so the anchor should be exact.
PAGE_OPENERS = [
    ("LVMH のアワードを日本で初めて受賞", 2),
    ("という3点が挙げられています。体制の観点では", 3),
    ("まず、自治体とスタートアップの間には、組織文化や業務プロセスの違い", 4),
    ("画競争（コンペ方式・プロポーザル方式）においては、まず公募要件が公示され", 25),
    ("ルールづくりを行います。例えば、情報共有の方法や頻度", 31),
    ("福岡市の公民連携ワンストップ窓口として、受け付けた相談や提案をたらい回しにしない", 34),
    ("自治体は、前年度に決定した予算を当年度に執行しながら", 83),
    ("トアップ a 社のサービスについて、他都市である B 市において", 99),
    ("本事業は、当初の実証実験にとどまらず", 104),
    ("経済産業省を中心に、スタートアップ向けの規制対応・規制改革に関するガイダンス", 120),
    ("政府機関としても、マッチングやネットワーキングの機会創出", 123),
]


def _chunks(guide, passage):
    hits = [c for c in find_chunks(guide, passage) if c.kind != "footnote"]
    assert hits, f"passage not found in any chunk: {passage}"
    return hits


def test_passages_cover_every_chapter(guide):
    assert len(PASSAGES) >= 25
    chapters = {ch for ch, _, _ in PASSAGES}
    assert chapters == {"はじめに", "第1章", "第2章", "第3章", "第4章", "第5章", "おわりに"}
    for ch, passage, _ in PASSAGES:
        assert all(c.section_path[0].startswith(ch) for c in _chunks(guide, passage)), passage


@pytest.mark.parametrize("chapter,passage,page", PASSAGES, ids=[f"p{p:03d}" for _, _, p in PASSAGES])
def test_passage_page_within_one(guide, chapter, passage, page):
    for c in _chunks(guide, passage):
        assert min(abs(p - page) for p in c.pages) <= 1, (passage, page, c.id, c.pages)


def test_page_openers_after_footnotes_are_on_the_next_page(guide):
    """Footnotes close a page: the text after them is on the next printed page."""
    wrong = []
    for passage, page in PAGE_OPENERS:
        for c in _chunks(guide, passage):
            if page not in c.pages:
                wrong.append((page, c.pages, passage[:16]))
    assert not wrong, f"(printed page, chunk pages, passage): {wrong}"


def test_4go_zuikei_section_starts_on_page_94(guide):
    node = next(n for n in _walk(guide.tree) if "4号随契" in n.heading and n.kind == "subsection")
    assert node.pages[0] == 94
    first = next(c for c in guide.chunks if c.section_id == node.id)
    assert first.pages[0] == 94
    assert first.text.startswith("公共調達という出口におけるスタートアップとの連携の要点を理解したところで")


def test_figure_8_is_on_page_20(guide):
    fig = [c for c in guide.chunks if c.figure == 8]
    assert len(fig) == 22  # the caption and the 21 rows
    assert all(c.pages == [20] for c in fig)
    assert next(f for f in guide.figures if f.number == 8).page == 20


@pytest.mark.parametrize("passage", [
    "自治体は、前年度に決定した予算を当年度に執行しながら",
    "予算編成のタイミングを逃してしまうと次年度の予算化に間に合わず",
    "図表 28：自治体の予算編成スケジュール（イメージ）",
    "各部局が予算要求を完了して部局長や首長の査定にまわし始める前の10月までには",
    "初めてコンタクトを取るのは8月よりも前になるのが一般的",
], ids=["p83-zennendo", "p83-timing", "p83-fig28", "p83-october", "p84-august"])
def test_startup_budget_timing_advice_is_on_pages_83_84(guide, passage):
    """第4章 ⑤ 予算化 > 2. 予算編成スケジュール and 図表28 (p.83): the advice is printed on pp.83–84."""
    for c in _chunks(guide, passage):
        assert c.section_path[-2:] == ["⑤ 予算化", "2. 予算編成スケジュール"], c.section_path
        assert set(c.pages) & {83, 84}, (passage, c.id, c.pages)


def test_toyonaka_pfs_results_are_on_page_109(guide):
    hits = _chunks(guide, "実績については2つの指標で表されています")
    assert len(hits) == 1
    assert 109 in hits[0].pages
    assert "目標900人に対して792人" in hits[0].text
    assert hits[0].section_path[-1] == "事例紹介：豊中市×株式会社 CureApp「とよなか卒煙プロジェクト」"


def test_toc_nodes_start_on_their_toc_page(guide):
    nodes = [n for n in _walk(guide.tree) if n.kind in ("chapter", "section", "subsection")]
    assert len(nodes) == len(guide.toc)
    for e, n in zip(guide.toc, nodes):
        assert n.heading == e.heading
        assert n.pages[0] == e.page, n.heading
        assert n.pages[0] <= n.pages[1]


def test_chunk_pages_are_sane_and_in_reading_order(guide):
    last = 1
    for c in guide.chunks:
        assert c.pages == list(range(c.pages[0], c.pages[-1] + 1)), c.id
        assert 1 <= c.pages[0] and c.pages[-1] <= 137, c.id
        if c.kind == "footnote":
            continue
        assert c.pages[0] >= last, (c.id, c.pages, last)  # non-footnote chunks come in reading order
        last = c.pages[0]
        if c.kind in ("body", "case", "column"):
            assert len(c.pages) <= 3, (c.id, c.pages)


def _walk(nodes):
    for n in nodes:
        yield n
        yield from _walk(n.children)
