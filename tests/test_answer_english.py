"""English questions get an English first line: where the guide answers (the section's reviewed
English title) and the printed pages; the Japanese quotes after it stay verbatim."""
from __future__ import annotations

import re

import pytest

from eval.metrics import has_english_lead, lead_text
from ingest.settings import get_settings
from ingest.toc_en import load_toc_en

PAGES = re.compile(r"\bpp?\.\s?\d")


@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


def test_every_toc_heading_and_figure_has_a_reviewed_english_title(guide):
    toc_en = load_toc_en(get_settings().toc_en_path)
    missing = [" > ".join(e.path) for e in guide.toc if not toc_en.heading(e.path)]
    assert missing == []
    assert [f.number for f in guide.figures if not toc_en.figure(f.number)] == []
    # a heading shared by two chapters is told apart by its full path
    shared = [e for e in guide.toc if e.path[-1] == "(2) 官民連携に向けた各プロセスとそのポイント"]
    assert len(shared) == 2 and all(toc_en.heading(e.path) for e in shared)


@pytest.mark.parametrize("question, route, first", [
    ("How can a municipality buy a startup's product without a competitive tender?", "qa", "In “"),
    ("Where does the guide discuss fairness toward other companies?", "locate", "The guide covers this mainly in “"),
    ("What does Figure 28 show?", "figure", "Figure 28, “"),
    ("What does genka mean?", "glossary", "原課"),
    ("Which chapters should a startup CEO read first?", "reading_path",
     "Figure 3 (p.7) recommends this reading order for decision makers at startups"),
    # the row names its readers at length in Japanese (…・契約担当部署・財政部局の担当者): on a line of its own
    ("Which chapters should someone in a city's contracts or finance section read?", "reading_path",
     "Figure 3 (p.7) recommends this reading order for practitioners at municipalities"),
    ("What do Figures 16 and 17 show?", "figure", "Figure 16, “"),
    ("Does the guide cover PFI?", "qa", "The guide states (p.10) that it does not cover PFI"),
])
def test_an_english_answer_opens_in_english_with_the_pages(assistant, question, route, first):
    a = assistant.ask(question)
    assert a.route == route and not a.abstained
    line = a.answer.split("\n", 1)[0]
    assert line.startswith(first), line
    assert PAGES.search(line), line
    assert has_english_lead(a.answer), line  # as the eval counts it: a Japanese quote on it counts too
    for c in a.citations:  # the quotes stay the guide's own Japanese, verbatim
        assert c.quote in assistant.chunk(c.chunk_id).text


def test_the_english_lead_names_the_section_of_the_leading_quote(assistant):
    a = assistant.ask("When should a startup approach a city so its service gets into next year's budget?")
    toc_en = load_toc_en(get_settings().toc_en_path)
    lead = a.citations[0]
    titles = [toc_en.heading(lead.section_path[:n]) for n in range(len(lead.section_path), 0, -1)]
    first_title = next(t for t in titles if t)
    line = a.answer.split("\n", 1)[0]
    shown = line.split("“", 1)[1].rsplit("”", 1)[0]  # the heading, cut at a word with … when long
    assert len(shown) <= assistant.answer_cfg.title_chars + 1
    assert shown == first_title or (shown.endswith("…") and first_title.startswith(shown[:-1])), (shown, first_title)
    assert f"p.{lead.pages[0]}" in line


def test_a_list_from_another_section_than_the_first_lines_says_where_it_is(assistant):
    """The first line names the leading quote's section; a list taken from another passage's
    section (the four patterns, pp.46–47, under a lead on fairness, p.114) names its own, and a
    list from the lead's own section keeps the plain heading."""
    chunks = list(assistant.chunks.values())
    patterns = next(c for c in chunks if "パターン① 首長の意思決定" in c.text)
    fairness = next(c for c in chunks if c.kind == "body" and "③ 公平性の考え方" in c.section_path[-1])
    items = next(items for items in assistant.enumerations.lists[patterns.section_id]
                 if any("パターン① 首長の意思決定" in i.text for i in items))
    assert len(items) == 4 and all(i.chunk.section_path == patterns.section_path for i in items)
    other = assistant._list_block(items, [assistant._cite(1, fairness, 0, 20)], "en")
    assert other.startswith("The guide lists, in “") and "pp.46–47" in other.split("\n", 1)[0], other
    own = assistant._list_block(items, [assistant._cite(1, patterns, 0, 20)], "en")
    assert own.startswith("The guide lists:\n"), own


def test_a_japanese_question_keeps_its_japanese_answer(assistant):
    a = assistant.ask("4号随契とは何ですか？")
    assert not a.answer.startswith("The guide")


def test_every_list_item_has_reviewed_english(assistant):
    toc_en = load_toc_en(get_settings().toc_en_path, get_settings().list_items_en_path)
    items = [i.text for lists in assistant.enumerations.lists.values() for items in lists for i in items]
    assert len(items) >= 70
    assert [t for t in items if not toc_en.item(t)] == []
    assert all(not re.search(r"[ぁ-んァ-ヴ]", toc_en.item(t)) for t in items)  # English, not kana


def test_list_items_show_their_english_beside_the_verbatim_japanese(assistant):
    # the enforcement order's nine grounds for a negotiated contract, quoted in one passage with their
    # lead-in: each item's English on its own line after the quote. (Until the 800-tree lead ranker the
    # example was "The guide says it focuses on three exits for partnerships. What are they?"; it now
    # leads with p.20's pointer to 第5章 and cites the exits' list by page only, a loss of that ranker.)
    a = assistant.ask("In which cases does the enforcement order allow a municipality to use a negotiated "
                      "contract instead of competitive bidding?")
    assert "① 予定価格が少額の場合" in a.answer and "④ 新商品として生産される物品を買い入れる場合" in a.answer
    english = [line.strip() for line in a.answer.split("\n") if line.startswith("    (")]
    assert len(english) >= 9 and english[0].startswith("(① ") and "small amount" in english[0], a.answer[:600]
    for c in a.citations:
        assert c.quote in assistant.chunk(c.chunk_id).text
    # a Japanese question gets no English beside its items
    ja = assistant.ask("官民連携の3つの出口とは？")
    assert "① 自治体“へ”導入する" in ja.answer + "".join(c.quote for c in ja.citations)
    assert not any(line.startswith("    (") for line in ja.answer.split("\n"))


def test_a_long_english_heading_is_cut_at_a_word():
    from assistant.drafting import clip_title

    long = ("④ Negotiated (non-competitive) contracts with startups under Article 167-2(1)(iv) of the Local "
            "Autonomy Act Enforcement Order (the “No. 4 negotiated contract”)")
    assert clip_title(long, 60) == "④ Negotiated (non-competitive) contracts with startups…"
    assert clip_title("⑤ Budgeting", 60) == "⑤ Budgeting" and clip_title(long, 0) == long


def test_a_place_spelt_in_english_finds_the_guides_case(assistant):
    # the thesaurus spells the guide's places as English questions do (Sabae → 鯖江市): the e5
    # vector alone does not bring 鯖江市's passage into the first three
    assert "鯖江市" in assistant.thesaurus.expand("What does Sabae do with startups?")
    a = assistant.ask("What does Sabae do with startups?")
    assert any("鯖江" in c.quote or any("鯖江" in s for s in c.section_path) for c in a.citations[:3]), a.answer[:300]
    # an apostrophe inside the word (Shin'onsen) and a possessive (Sabae's) read as the word
    assert "新温泉町" in assistant.thesaurus.expand("What did the Shin'onsen school install?")
    assert "鯖江市" in assistant.thesaurus.expand("What is Sabae’s approach?")


@pytest.mark.parametrize("question, page", [
    # two tuning parts written apart asked these in the same everyday words
    ("Our town has basically no budget for this. What can we offer a startup other than money?", 86),  # 自治体を持つ資源
    ("A startup shared an idea with us that isn't public yet. If someone files a records request for it, "
     "how should our city handle that?", 31),  # 情報公開請求
    ("We have our first meeting with a city's health department next month. How should we put together "
     "the discussion document we bring?", 65),  # ディスカッションペーパー
])
def test_everyday_english_reaches_the_guides_own_term(assistant, question, page):
    a = assistant.ask(question)
    assert not a.abstained and any(page in c.pages for c in a.citations[:3]), a.answer


def test_an_open_call_is_the_guides_koubo(assistant):
    # "open call" is 公募: whether a 連携協定 needs one is answered by 第5章's fairness passage
    assert "公募" in assistant.thesaurus.expand("Do we have to run an open call first?")
    a = assistant.ask("A startup wants to sign a partnership agreement with our city. Given fairness concerns, "
                      "do we have to run an open call first?", persona="municipality")
    assert not a.abstained and "公募" in a.citations[0].quote, a.answer


def test_buying_without_a_tender_is_a_negotiated_contract(assistant):
    """"without a tender" is what 随意契約 (4号随契) is: the phrase maps there, and its word "tender"
    (→ 入札, 一般競争入札) is not looked up as well, which asked for the very thing avoided."""
    words = assistant.thesaurus.expand("How can a city buy from a startup without a tender?")
    assert "随意契約" in words and "入札" not in words and "一般競争入札" not in words
    assert "入札" in assistant.thesaurus.expand("How do we run a tender for startups?")
    assert "随意契約" in assistant.thesaurus.expand("Can we hire a startup without  competitive\nbidding?")
    a = assistant.ask("How can a city buy from a startup without a tender?", persona="municipality")
    assert not a.abstained
    assert "随意契約" in a.citations[0].quote, a.answer
    assert "The guide lists" not in a.answer.split("\n- ", 1)[0], a.answer  # no unrelated list before the quotes


@pytest.mark.parametrize("question, persona", [
    # each of these missed the thesaurus's exact phrases ("without a tender") and was answered with
    # 企画競争 or a list of evaluation viewpoints, never 随意契約
    ("How can our city buy a startup's product without a competitive tender?", "municipality"),
    ("How can a municipality contract with a startup without holding a tender?", None),
    ("Can a city buy our product without putting it out to tender?", "startup"),
    ("入札をせずにスタートアップから購入する方法はある？", "municipality"),
    ("入札にかけずにスタートアップの製品を買えますか？", None),
])
def test_any_wording_of_buying_without_a_tender_is_answered_with_the_negotiated_contract(assistant, question, persona):
    """The thesaurus's patterns (data/thesaurus.yaml ``patterns``): "without (holding) a (competitive)
    tender", 「入札をせずに」, 「入札にかけずに」 ask for 随意契約, and their 入札 is not searched."""
    words = assistant.thesaurus.expand(question)
    assert words[0] == "随意契約" and "入札" not in words, words
    a = assistant.ask(question, persona=persona)
    assert not a.abstained and "随意契約" in lead_text(a.answer), a.answer


def test_a_question_about_the_tender_itself_is_not_read_as_avoiding_it(assistant):
    for q in ("What happens in a competitive tender?", "一般競争入札の流れは？", "Why do startups lose tenders on price?"):
        assert "随意契約" not in assistant.thesaurus.expand(q), q


@pytest.mark.parametrize("question", [
    "Is a partnership agreement with a city legally binding?",
    "ある自治体と連携協定を結ぶ話が進んでいます。協定って、契約みたいにお互いを縛るものなんでしょうか？",
    "スタートアップと連携協定を結ぶ話が出てるんだけど、協定を結んだら市に費用負担とか法的な義務が発生しちゃうの？",
    "Does signing a partnership agreement put our city under any legal obligation?",
])
def test_whether_an_agreement_binds_is_answered_by_the_gentlemens_agreement_passage(assistant, question):
    """"binding" / 縛る / 法的な義務 are the guide's 拘束力 (a 連携協定 is 「紳士協定的な位置づけ」, p.111)."""
    a = assistant.ask(question)
    assert not a.abstained
    assert "拘束力" in a.answer and "紳士協定" in a.answer, a.answer


def test_a_question_from_a_viewpoint_gets_no_list_of_viewpoints(assistant):
    """「公平性の観点から」 says from which viewpoint it asks; it does not ask for the guide's 観点①–⑥."""
    a = assistant.ask("ある自治体が特定のスタートアップと連携協定を結びたいそうですが、公平性の観点から公募しないといけないのでしょうか？")
    assert "観点①" not in a.answer, a.answer
    assert any("公平" in c.quote or "排他性" in c.quote for c in a.citations[:2]), a.answer
    # asking for the viewpoints themselves still gets the list
    b = assistant.ask("連携先を選ぶとき、どんな観点で検討すればいい？")
    assert "観点①" in b.answer, b.answer


def test_names_the_guide_prints_in_latin_letters_count_as_an_english_questions_words(assistant):
    """An English question's words reach the Japanese text through the thesaurus; the names the
    guide prints in Latin letters (CureApp, LIMEX: in at most 3 of its chunks) count as its words too
    (AnswerConfig.latin_df); words it never prints, and romanised places (Toyonaka, Hiroshima:
    the place checks read those), do not."""
    words = assistant._query_tokens("What did Toyonaka end up paying CureApp against the contract's maximum?")
    assert "cureapp" in words and "豊中市" in words
    assert not {"toyonaka", "maximum", "what"} & words
    assert "limex" in assistant._query_tokens("What does the LIMEX partnership with Sabae aim at?")
    assert "hiroshima" not in assistant._query_tokens("What did the joint procurement in Hiroshima cost each town?")
    # the guide's common English words (in its English names) are no names
    assert not {"startup", "city"} & assistant._query_tokens("How should a startup explain its proposal to the city?")


def test_the_lexicon_is_a_second_layer_after_the_reviewed_thesaurus():
    """data/lexicon_en.yaml (the English of the guide's nouns) is looked up for a single English word
    the thesaurus lacks, its nouns after the thesaurus's words; never for a word that asks for the
    detail ("share price": 価格 / 金額 would draw in any sum)."""
    from assistant.thesaurus import Thesaurus

    t = Thesaurus({}, {"procure": ["調達"], "towns": ["自治体"]},
                  lexicon={"neighbouring": ["近隣"], "towns": ["市町村"], "price": ["価格"], "jointly": ["共同"]})
    assert t.expand("Can neighbouring towns procure jointly?") == ["自治体", "調達", "近隣", "共同"]
    assert t.expand("What is the price?", asking={"what", "is", "the", "price"}) == []
    assert t.expand("What is the price?") == ["価格"]


def test_the_lexicon_finds_the_guides_noun_for_an_everyday_english_word(assistant):
    """"cloud software from a catalogue" (a tuning part 18 question): with the lexicon's nouns
    (catalogue → カタログ) the answer quotes the DMP カタログサイト passage (p.92) and the new-product
    clause (p.94); the reviewed thesaurus alone quoted the 地方自治法 text of p.88 instead."""
    q = ("What legal ground lets a city skip bidding when buying a brand-new product, and is there a faster "
         "route for buying cloud software from a catalogue?")
    a = assistant.ask(q, persona="municipality")
    pages = {p for c in a.citations[:3] for p in c.pages}
    assert {92, 94} <= pages and "DMP カタログサイト" in a.answer, a.answer[:300]


def test_a_share_price_is_not_answered_with_a_sum_the_lexicon_drew_in(assistant):
    a = assistant.ask("What is CureApp's current share price?")
    assert a.abstained, a.answer[:300]


def test_the_lexicon_knows_the_guides_verbs_in_their_forms(assistant):
    """data/lexicon_en.yaml's verbs, each form its own entry (hire / hired, approve / approved): "Has any city
    hired an outsider…" (a tuning part 19 question) reaches 札幌市's 外部人材を採用・登用 (p.34); with the
    nouns alone, "drive" found the glossary's ドライブ(をかける) (p.20) first."""
    words = assistant.thesaurus.expand("Has any city hired an outsider? Who approved it? Was it certified?")
    assert {"採用", "決裁", "認定"} <= set(words), words
    a = assistant.ask("Nobody in our office really understands startups. Has any city hired an outsider to drive this?",
                      persona="municipality")
    # p.34's 札幌市 hire: the guidance sentence (外部人材を採用・登用) or the case itself (係長の初公募)
    lead = a.citations[0].quote
    assert 34 in a.citations[0].pages and ("外部人材を採用・登用" in lead or "民間からの初公募" in lead), a.answer[:300]


def test_a_name_the_guide_prints_in_latin_letters_puts_an_english_question_on_topic(assistant):
    """"Urban Innovation JAPAN" holds none of the guide's subject words, but the guide prints the
    name (p.126): the question is answered from there, not declined as off topic."""
    a = assistant.ask("Where did Urban Innovation JAPAN come from and how big is it now?")
    assert not a.abstained and a.route == "qa", a.answer
    assert "神戸市から生まれた" in a.answer and 126 in a.citations[0].pages, a.answer
    # a name the guide never prints is still no reason to answer
    off = assistant.ask("Where did Kubernetes come from and how big is it now?")
    assert off.abstained, off.answer


def test_a_single_word_name_the_guide_prints_puts_an_english_question_on_topic(assistant):
    """「図表 48 : Luup が取り組んだ…」: one Latin word standing among the Japanese is a name the guide
    prints; a question naming it is answered (p.119). Words of the guide's English phrases
    (「Diversity & Inclusion」, 「Society5.0」) and ordinary English are no such name."""
    a = assistant.ask("How did Luup get electric kick scooters legalised?")
    assert not a.abstained and 119 in {p for c in a.citations for p in c.pages}, a.answer
    assert {"Luup", "CureApp", "Makuake", "Liberaware"} <= assistant.en_names
    assert not {"Society", "Inclusion", "Lesson", "Tokyo"} & assistant.en_names
    off = assistant.ask("What is next for the inclusion of society?")
    assert off.abstained, off.answer
