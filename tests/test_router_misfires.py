"""Question analysis that does not misfire: a glossary route only when the question asks what a
term means, and follow-up rewriting only when the question cannot stand alone (never chained)."""
from __future__ import annotations

import pytest

from assistant.followup import SEPARATOR, is_followup


@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


@pytest.mark.parametrize("question", [
    "随意契約ってどんなパターンがあるの？",  # asks for its kinds, not its meaning
    "4号随契って何円まで使えるの？",  # asks for an amount
    "実証実験で大事なことは何？",  # 「ことは何」 is not 「とは何」
    "スタートアップが原課と話すときに気をつけることは何？",
    "予算要求の前に、同じサービスを入れている他の自治体に聞いておくといいことって何？",  # nor 「ことって何」
    "I meant the budget side: how does a city plan money for a pilot?",  # "meant" is not "mean"
    "自治体がスタートアップと官民連携を進めるとき、最初に決めることは？",  # ubiquitous words are no focus
    "What is the deadline for a trial ordering application?",  # "what is" + more than the term
    "What is trial ordering used for in Tsukuba?",
    "What is a startup supposed to bring to the first meeting?",
    "What exactly is a 'No. 4' sole-source contract, and how long does Tsukuba's certification for it stay valid?",
])
def test_not_a_definition_question(assistant, question):
    assert assistant.router.route(question).route != "glossary"


@pytest.mark.parametrize("question, term", [
    ("原課とは？", "原課"),
    ("「原課」って何ですか", "原課"),
    ("市役所の人がよく「原課」って言うんですが、どういう意味ですか？", "原課"),
    # asked to bring a thing named by its jargon: what the thing is
    ("市役所の方に「ボンチ絵を用意してください」と言われました。何を作ればいいの？", "ボンチ絵"),
    ("What does PFS mean?", "PFS"),
    # the term inside an English cue, not the one named last before it
    ("The guide mentions SIB right next to PFS. What does SIB mean?", "SIB"),
    ("What is meant by scale in the guide?", "スケール(する)"),
    ("スタートアップとは何ですか？", "スタートアップ"),
    ("トライアル発注ってどんな制度？", "トライアル発注制度"),
    # "What is X?" with nothing else asked is X's meaning, in the asker's English
    ("What is trial ordering?", "トライアル発注制度"),
    ("What is PFS?", "PFS"),
    # "exactly" / "actually" in the cue; "it" pointing back at the term the sentence before names
    ("What exactly is 4号随契?", "4号随契"),
    ("People keep telling me about 'yon-go zuikei' (4号随契). What exactly is it?", "4号随契"),
    ("What is a 4-go zuikei?", "4号随契"),  # the term as Japanese colleagues say it, romanised
    # 逆プロポ, which the guide defines on p.131; "proposal" alone is 企画書・提案書, whose card this got
    ("What is a reverse proposal?", "逆プロポ"),
    ("逆プロポって何？", "逆プロポ"),
    # 「…ってどこのこと？」 asks what the word names; a romanised katakana word; the usual spelling
    # of a word the guide misprints (ノータイス); "that word" pointing back at the quoted term
    ("市の担当者に「原課に確認してから回答します」と言われました。原課ってどこのこと？", "原課"),
    ("The city says the draft rule will go out for 'paburikku komento' first. What does that mean?", "パブリックコメント"),
    ("スタートアップからのメールに「ショート・ノーティスで恐縮ですが」とありました。どういう意味？", "ショート・ノータイス"),
    ("The startup proposed starting with a 'feasibility study'. How does the guide's term list explain that word?",
     "フィージビリティ・スタディ"),
    ("Someone asked us to bring a 'bonchi-e' to the next meeting. What on earth is that?", "ボンチ絵"),
    # 「…って、具体的にどういう団体を指すの？」 asks what the word names
    ("外郭団体って、具体的にどういう団体を指すんですか？", "外郭団体"),
    ("原課ってどの部署を指すの？", "原課"),
    # 随意契約 is its own term: 4号随契's alias 「随意契約（4号）」 without its bracket does not take it
    ("随意契約って何？", "随意契約"),
    ("What is 随意契約?", "随意契約"),
    ("随意契約（4号）とは？", "4号随契"),
])
def test_a_definition_question_asks_about_the_term_before_its_cue(assistant, question, term):
    d = assistant.router.route(question)
    assert d.route == "glossary" and d.term is not None and d.term.term == term


@pytest.mark.parametrize("question, route", [
    ("Before pitching to a city, where can I find public information about its policy priorities?", "qa"),
    # parts of something else than the guide
    ("Before our first meeting with a city, which parts of the public-sector lean canvas should we have worked out?", "qa"),
    ("Which parts of the guide cover fairness?", "locate"),
    ("Where can I find the section on fairness in the guide?", "locate"),
    ("Where does the guide talk about regulatory sandboxes?", "locate"),
    # the place asked for in a question of its own, or as 「…が書いてあるところ／箇所／場所」
    ("Does the guide discuss who owns information learned during a partnership? Where?", "locate"),
    ("中間支援団体もこのガイドの想定読者に入っていますか？それが書いてある場所を教えてください。", "locate"),
    ("社会課題に取り組むスタートアップのリストを紹介している箇所は？", "locate"),
    ("何月ごろまでに自治体に話を持っていけばいいのか。それが書いてあるところを知りたいです。", "locate"),
    # but "where" inside a question about something else stays a question
    ("Where should a startup go first to meet city officials?", "qa"),
    # a venue asked for, not a place in the guide
    ("When and where is the next Matching Pitch being held?", "qa"),
    ("Where is the Startup City Promotion Council based?", "qa"),
    # a place in the guide asked for without "where"
    ("Is there a single place in the guide that lists the reference websites?", "locate"),
    ("Is there a list of useful reference websites somewhere near the end of the guide?", "locate"),
    # a date and a venue asked for ("when and where is"), not a place in the guide
    ("When and where is the next national–local practitioners' meeting on startups?", "qa"),
])
def test_where_can_i_find_is_a_locate_question_only_about_the_guide(assistant, question, route):
    assert assistant.router.route(question).route == route


@pytest.mark.parametrize("question, route", [
    ("課長に説明する概要資料は、何ページくらいにまとめるのがいい？", "qa"),  # how long, not where
    ("4号随契の説明は、このガイドの何章のどの辺ですか？", "locate"),
    ("公平性の話は何ページ？", "locate"),
    ("公開資料の一覧が載ってるページってどこ？", "locate"),
    ("Does the guide have a page of useful links at the end?", "locate"),
])
def test_pages_asked_as_a_place_or_as_a_length(assistant, question, route):
    assert assistant.router.route(question).route == route


@pytest.mark.parametrize("question, route", [
    # which parts a reader should read is a reading path, not a place
    ("I'm in the contracts section. Which parts of the guide should I actually read?", "reading_path"),
    ("うちの社長に読ませるなら、どの章がいい？", "reading_path"),
    ("経営者の立場なら、まずどの章に目を通すのがおすすめですか？", "reading_path"),
    ("財政課で予算査定をしてる。このガイドのどの章を読んでおけばいい？", "reading_path"),
    ("Which parts of the lean canvas should we fill in?", "qa"),
    ("Which parts of the guide cover fairness?", "locate"),
    # where to start reading is a reading path; where to read about a topic is a place in the guide
    ("スタートアップから連携の話が来た福祉課の担当です。ガイドのどこから読めばいい？", "reading_path"),
    ("近隣の市とまとめて調達できないか考えています。ガイドのどこを読めばいいですか？", "locate"),
    ("1社とだけ組むと不公平だと言われそうです。ガイドのどこを読めば公平性の考え方がわかりますか？", "locate"),
])
def test_which_parts_to_read_is_a_reading_path(assistant, question, route):
    assert assistant.router.route(question).route == route


@pytest.mark.parametrize("question, terms", [
    ("時間的排他性と物理的排他性って、それぞれどういう意味ですか？", ["時間的排他性", "物理的排他性"]),
    ("What do PFS and SIB mean?", ["PFS", "SIB"]),
    ("原課とは？", []),  # one term: no pair
    ("原課とスタートアップの関係とは何か？", []),  # a ubiquitous word is no second term
])
def test_terms_asked_about_together_each_get_a_card(assistant, question, terms):
    d = assistant.router.route(question)
    assert d.route == "glossary" and [t.term for t in d.terms] == terms
    if terms:
        a = assistant.ask(question)
        heads = [line for line in a.answer.split("\n") if line.startswith(tuple(terms))]
        assert [h.split("（")[0].split(":")[0] for h in heads][:2] == terms, a.answer
        assert {c.n for c in a.citations} >= {1, 2} and all(t in a.answer for t in terms)


@pytest.mark.parametrize("question, route", [
    # a second question about something else: each part is answered (qa), not one term card
    ("トライアル発注とは何ですか、どのように始めればよいですか", "qa"),
    ("原課とは何ですか。また、どう連携すればよいですか？", "qa"),
    # a second question about the term itself ("it", "one"): the term's card answers it
    ("What is an SIB, and how does it relate to PFS?", "glossary"),
    ("What is a 原課, and how do I contact one?", "glossary"),
])
def test_a_definition_among_other_questions(assistant, question, route):
    assert assistant.router.route(question).route == route


def test_the_definition_part_of_a_two_part_question_quotes_the_terms_meaning(assistant):
    term = assistant.router.route("トライアル発注とは？").term
    ans = assistant.ask("トライアル発注とは何ですか、どのように始めればよいですか")
    assert ans.route == "qa" and not ans.abstained
    first, second = ans.answer.find("【トライアル発注とは何ですか】"), ans.answer.find("【どのように始めればよいですか】")
    assert 0 == first < second, ans.answer
    # the first part is answered by the guide's own statement of the term's meaning, first
    assert ans.citations[0].quote == term.meaning
    assert ans.answer.index(term.meaning) < second
    # the second part has a passage of its own under its label
    assert any(f"[{c.n}]" in ans.answer[second:] for c in ans.citations[1:]), ans.answer


@pytest.mark.parametrize("question, followup", [
    ("これから官民連携を始める自治体は何をすべき？", False),
    ("このガイドの対象読者は？", False),
    ("それぞれの出口の違いは？", False),
    ("What does this guide say about PFS?", False),
    ("それはいつまでに必要？", True),
    ("その制度の対象は？", True),
    ("What about the budget?", True),
    ("How long does it take?", True),
])
def test_only_questions_that_point_back_are_follow_ups(question, followup):
    assert is_followup(question) is followup


def test_a_stand_alone_question_in_a_session_is_answered_as_asked(assistant):
    sid = "router-test-standalone"
    first = assistant.ask("原課とは？", session_id=sid)
    assert first.route == "glossary"
    second = assistant.ask("これから官民連携を始める自治体は何をすべき？", session_id=sid)
    assert second.resolved_question is None  # not rewritten to 「原課 について: …」
    assert second.route != "glossary"
    assert "原課" not in second.question


def test_follow_up_rewrites_never_chain(assistant):
    sid = "router-test-chain"
    assistant.ask("トライアル発注とは？", session_id=sid)
    second = assistant.ask("それはいつから始まった？", session_id=sid)
    third = assistant.ask("その対象は？", session_id=sid)
    assert second.resolved_question and third.resolved_question
    anchor = second.resolved_question.split(SEPARATOR, 1)[0]
    assert third.resolved_question == f"{anchor}{SEPARATOR}その対象は？"
    assert third.resolved_question.count(SEPARATOR) == 1


def test_a_joined_yes_no_question_is_a_clause_but_not_a_part():
    from assistant.router import clauses, question_parts

    q = "What are the three exits, and does it cover PFI-type schemes as well?"
    assert question_parts(q) == [q]  # answered as one question
    assert clauses(q) == ["What are the three exits", "does it cover PFI-type schemes as well?"]
    assert clauses("3つの出口って何？あと、PPPは扱ってる？") == question_parts("3つの出口って何？あと、PPPは扱ってる？")


@pytest.mark.parametrize("question, figures", [
    ("How are Figures 16 and 17 meant to be filled in?", (16, 17)),
    ("図表16と17はそれぞれ何を書く欄？", (16, 17)),
    ("What do Figure 3, 4 and 5 have in common?", (3, 4, 5)),
    ("図表 51 の概要を教えて", (51,)),
    ("Figure 12 and 2025 targets", (12,)),  # a year is no figure number
])
def test_every_figure_a_question_names_is_routed(assistant, question, figures):
    d = assistant.router.route(question)
    assert d.route == "figure" and d.figures == figures and d.figure == figures[0]


def test_a_question_naming_two_figures_is_answered_with_both(assistant):
    """"Figures 16 and 17" are the two pages of one sheet: each is named with its page and its
    rows quoted, citations numbered on, no passage quoted twice."""
    a = assistant.ask("How are Figures 16 and 17 meant to be filled in?")
    assert a.route == "figure" and not a.abstained
    assert a.answer.startswith("Figure 16, “") and "\n\nFigure 17, “" in a.answer, a.answer
    assert [c.n for c in a.citations] == list(range(1, len(a.citations) + 1))
    assert len({(c.chunk_id, c.quote) for c in a.citations}) == len(a.citations)
    assert "⑥強み" in a.answer  # Figure 17's own columns
    assert all(f"[{c.n}]" in a.answer for c in a.citations)


@pytest.mark.parametrize("question, figure", [
    # a figure named by what it shows, not by its number: the figure of the best passages
    ("In the figure mapping each partnership step to the troubles on each side, what do startups struggle "
     "with at the budgeting stage?", 13),
    ("共同調達の主体になりうる組織の表で、一部事務組合はどんな特徴？", 42),
    ("利害関係者の一覧表で、交流人口・関係人口はどんな政策領域と結びつけられていますか？", 23),
])
def test_a_figure_described_instead_of_numbered_is_answered_as_that_figure(assistant, question, figure):
    a = assistant.ask(question)
    assert a.route == "figure" and not a.abstained, (a.route, a.answer[:200])
    assert a.answer.startswith((f"図表{figure}「", f"Figure {figure}, “")), a.answer[:120]


@pytest.mark.parametrize("question", [
    "What can a city bring to the table for a young company apart from a budget line?",
    "Which table of contents entry covers fairness?",
    "自治体の予算表はどう読めばいい？",
])
def test_a_table_in_other_words_is_no_described_figure(question):
    from assistant.router import describes_figure

    assert not describes_figure(question)
