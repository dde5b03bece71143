"""The assistant on the real guide and the real index: routes with reasons, grounded citations,
abstention, glossary notes, reading paths, follow-ups that survive a restart, and the CLI."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from answer_config import hand_weighted
from assistant.abstain import off_guide
from assistant.container import Container
from assistant.persona import infer_persona
from assistant.service import Assistant
from assistant.store import Store
from ingest.errors import InvalidInput
from ingest.settings import get_settings

KANMIN = str(Path(sys.executable).parent / "kanmin")


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    settings = get_settings().model_copy(update={"db_path": tmp_path_factory.mktemp("assistant") / "a.sqlite3"})
    return Container(settings).load()


@pytest.fixture(scope="module")
def assistant(container) -> Assistant:
    return container.assistant


def quotes_in_chunks(answer, assistant) -> None:
    for c in answer.citations:
        assert c.quote and c.quote in assistant.chunk(c.chunk_id).text
        assert c.pages and all(p in range(1, 140) for p in c.pages)


@pytest.mark.parametrize("question, route", [
    ("原課ってどういう意味ですか？", "glossary"),
    ("What does 'scale' mean?", "glossary"),
    ("図表31には何が書いてある？", "figure"),
    ("What does figure 45 show?", "figure"),
    ("公平性の考え方はガイドのどこに書いてある？", "locate"),
    ("官民連携の窓口を持ってる自治体の一覧はどこを見ればいい？", "locate"),
    ("Which section covers joint procurement?", "locate"),
    ("自治体の実務者は何から読めばいい？", "reading_path"),
    ("スタートアップから入札なしで購入する方法は？", "qa"),
])
def test_router_routes_and_says_why(assistant, question, route):
    ans = assistant.ask(question)
    assert ans.route == route, ans.route_reason
    assert ans.route_reason and not ans.abstained
    quotes_in_chunks(ans, assistant)


def test_glossary_answer_cites_table_8_and_translates(assistant):
    ans = assistant.ask("原課とは？")
    assert ans.citations[0].pages == [20]
    assert "特定の案件や政策領域を担当している課のこと" in ans.citations[0].quote
    note = next(g for g in ans.glossary if g.term == "原課")
    assert note.rephrase == "担当課、担当部署" and note.en and note.reading == "げんか"


@pytest.mark.parametrize("question, term", [
    ("The city's PR team said they'll do a 'nagekomi' once our pilot is announced. What do they mean by that?",
     "投げ込み"),
    ("スタートアップの社長が「キャズムを越えたい」と言ってたけど、キャズムって何？", "キャズム"),
    ("自治体の人が「ボンチ絵を作って」って言ってた。何のこと？", "ボンチ絵"),
])
def test_a_glossary_answer_adds_only_passages_that_speak_of_the_term(assistant, question, term):
    """After the term's card, the passages that also answer the question name the term: the
    question's other words (pilot, 社長, 作って) alone pull in text about something else."""
    ans = assistant.ask(question)
    assert ans.route == "glossary" and not ans.abstained
    entry = assistant.matcher.search.lookup(term)
    surfaces = [entry.term, *entry.aliases]
    extra = [line for line in ans.answer.split("\n") if line.startswith("「")]  # unlabelled passages
    quoted = {c.n: c.quote for c in ans.citations}
    for line in extra:
        n = int(re.search(r"\[(\d+)\]$", line).group(1))
        assert any(s in quoted[n] for s in surfaces), line


def test_english_question_gets_english_glosses_of_japanese_quotes(assistant):
    ans = assistant.ask("How can a city buy from a startup without a tender?")
    assert ans.language == "en" and ans.route == "qa" and not ans.abstained
    assert ans.answer.startswith("In “"), ans.answer[:80]  # where, in English
    assert re.search(r"\(pp?\.\d", ans.answer.split("\n")[0])  # and on which pages
    assert ans.glossary and all(g.en for g in ans.glossary)
    assert any("随意契約" in c.quote or "随意契約" in " ".join(c.section_path) for c in ans.citations)


def test_a_superior_who_will_not_say_yes_is_the_guides_jocho(assistant):
    """「上がOKを出さない」: the superior (上長) and what to prepare for them — the 理論武装 (p.56) or the
    概要資料 (p.80) — not declined."""
    ans = assistant.ask("担当の職員さんは乗り気なのに、上がなかなかOKを出さない。こちらで何を用意すればいい？", persona="startup")
    assert not ans.abstained, ans.answer
    assert ("理論武装" in ans.answer[:300] or "概要資料" in ans.answer[:300]), ans.answer
    assert {56, 80} & {p for c in ans.citations[:3] for p in c.pages}, ans.citations


def test_what_to_ask_cities_that_went_first_finds_the_budgeting_list(assistant):
    """他の自治体 is the guide's 他都市: 「予算化に向け他都市から収集すると良い事項」 (p.49) and its
    items are among the first three citations."""
    ans = assistant.ask("予算要求の前に、先行している他の自治体に問い合わせるなら何を聞いておくべき？", persona="municipality")
    assert any(49 in c.pages for c in ans.citations[:3]), ans.citations
    assert "予算規模、歳出費目" in ans.answer


@pytest.mark.parametrize("question, page", [
    # a city looking for startups: 第3章 (3) 「社会課題解決に意欲的なスタートアップを知るには」
    ("How do other cities find startups to work with?", 50),
    # one offer to several towns at once: 第5章 ⑤ 共同調達
    ("Can a startup propose the same service to several cities at once?", 103),
    # favouritism is the guide's 公平性 (③ 公平性の考え方, p.114)
    ("If we work with just one startup, how do we avoid accusations of favoritism?", 114),
    # local firms a newcomer seems to threaten: 「黒船」ではなく…コラボレーター (p.78)
    ("地方の自治体に提案に行くと、地元業者の仕事を奪いに来たと思われないか心配です", 78),
])
def test_paraphrases_reach_the_section_that_answers(assistant, question, page):
    ans = assistant.ask(question)
    assert not ans.abstained and any(page in c.pages for c in ans.citations[:2]), ans.citations


def test_4go_zuikei_answer_points_to_its_section_on_p94(assistant):
    ans = assistant.ask("4号随契で発注するための要件は？", persona="municipality")
    assert any(94 <= p <= 102 for c in ans.citations[:3] for p in c.pages), ans.citations


@pytest.mark.parametrize("question, route, reasons, says", [
    ("今日の東京の天気は？", "out_of_scope", {"weak_support", "off_topic"}, "見当たりません"),
    # the weather is off topic even where the question shares the guide's words (福岡市)
    ("明日の福岡市の天気はどうですか？", "out_of_scope", {"off_topic"}, "見当たりません"),
    ("Will the weather be fine in Fukuoka for our pilot next week?", "out_of_scope", {"off_topic"}, "no passage"),
    ("What is the capital of France?", "out_of_scope", {"weak_support", "off_topic"}, "no passage"),
    # a place of the guide's cases alone does not make a question the guide's subject
    ("How do I cook ramen in Sapporo?", "out_of_scope", {"off_topic"}, "no passage"),
    ("What is the minimum wage in Osaka this year?", "out_of_scope", {"off_topic"}, "no passage"),
    ("What's the process for registering a kabushiki kaisha, and how long does it take?", "out_of_scope", {"off_topic"},
     "no passage"),
    ("合同会社を作るときの登記に必要な書類を教えて。", "out_of_scope", {"off_topic"}, "見当たりません"),
    # one word of a glossary gloss (SaaS, from the DMP catalogue's) does not make it the guide's subject
    ("How do I configure horizontal pod autoscaling for our SaaS backend?", "out_of_scope", {"off_topic"},
     "no passage"),
    # an amount the guide does not state: on topic (qa), but answered as not stated
    ("インパクトコンソーシアムの年会費はいくら？", "qa", {"not_stated"}, "記載はありません"),
    ("PFI方式の実施方針の公表から契約までの手続きを教えて", "out_of_scope", {"excluded_topic"}, "PFI"),
])
def test_abstains_with_the_nearest_sections(assistant, question, route, reasons, says):
    ans = assistant.ask(question)
    assert ans.abstained and ans.route == route, ans.answer
    assert ans.abstain_reason in reasons, ans.abstain_reason
    assert says in ans.answer, ans.answer
    assert ans.nearest_sections, "an abstention still points to the nearest sections"


def test_the_guides_all_weather_sensor_is_not_the_weather():
    assert off_guide("全天候型のセンサーを実証した例は？") is None and off_guide("明日の天気は？") == "天気"


def test_an_english_question_on_the_guides_subject_is_answered(assistant):
    """A case study asked in English with no word the guide's glossary glosses: its subject (a
    startup's service) keeps it on topic."""
    ans = assistant.ask("In how many areas across Japan does Charichari now run its bike-share service?")
    assert not ans.abstained and ans.route == "qa", ans.answer


def test_a_case_place_with_a_word_of_the_guide_is_on_topic(assistant):
    """Fukuoka (福岡市) with "scheme" (a word of the glossary's English): on topic, answered from
    福岡市's 先端技術公共調達サポート (p.48 names its 第1弾); a place with no such word is not
    (the ramen question above)."""
    ans = assistant.ask("What was the first theme of Fukuoka's scheme?")
    assert not ans.abstained and ans.route == "qa", ans.answer
    assert any(48 in c.pages for c in ans.citations), ans.citations


@pytest.mark.parametrize("question", [
    "PFIや指定管理者制度もこのガイドで解説してますか？",
    "うちの市はPFIや指定管理の案件も多いんだけど、このガイドってそういう手法も扱ってる？",  # 扱ってる？
])
def test_excluded_topic_quotes_the_guide_saying_so(assistant, question):
    ans = assistant.ask(question)
    assert not ans.abstained
    assert "取り上げない" in ans.citations[0].quote


def test_figures_missing_from_the_text_or_the_guide(assistant):
    lost = assistant.ask("図表47は何？")  # listed on p.115, lost from the text with that page
    assert lost.route == "figure" and "p.115" in lost.answer and "含まれていません" in lost.answer
    none = assistant.ask("図表99を見せて")
    assert none.abstained and "1〜58" in none.answer


def test_reading_path_follows_figure_3(assistant):
    ans = assistant.ask("契約担当の職員ですが、何から読めばいいですか？", persona="municipality")
    assert [s.heading[:3] for s in ans.reading_path] == ["第1章", "第2章", "第5章"]
    assert [s.pages[0] for s in ans.reading_path] == [8, 17, 86]
    assert ans.citations and "原課" in ans.citations[0].quote


def test_persona_explicit_wins_else_inferred(assistant):
    assert assistant.ask("予算化のタイミングは？", persona="startup").persona == "startup"
    assert assistant.ask("自治体として予算化のタイミングを知りたい").persona == "municipality"
    assert assistant.ask("We are a startup. When should we pitch before the budget cycle?").persona == "startup"
    assert assistant.ask("予算化のタイミングは？").persona == "any"
    # advice asked for the one who acts: that side asks; what a city looks for is no such sign
    assert assistant.ask("これから官民連携を始める自治体は何をすべき？").persona == "municipality"
    assert assistant.ask("How can a startup find a partner city?").persona == "startup"
    assert assistant.ask("What does a city look for in a proposal?").persona == "any"
    # city hall as the one met or pitched to is the other side, not the asker
    assert infer_persona("I work at city hall. How do we buy from a startup?")[0] == "municipality"
    assert infer_persona("In our first meetings with city hall people they looked lost. Any tips?")[0] == "any"
    assert infer_persona("How do we pitch to city hall?")[0] == "any"
    # city halls in general (the plural) are no one's own position
    assert infer_persona("Why bother pairing city halls with startups at all?")[0] == "any"
    # what makes a firm count as a startup says nothing of who asks
    assert infer_persona("What is the maximum company age for a firm to count as a startup?")[0] == "any"
    assert infer_persona("As a startup, how do we approach a city?")[0] == "startup"


def test_follow_up_is_resolved_and_survives_a_restart(container, tmp_path):
    first = container.assistant.ask("4号随契とは？", session_id="s-follow")
    # a new Store on the same file: the process restarted
    fresh = Assistant(container.guide, container.assistant.retriever, Store(container.settings.db_path))
    follow = fresh.ask("それはどんな場合に使える？", session_id="s-follow")
    assert follow.resolved_question and "4号随契" in follow.resolved_question
    assert first.id != follow.id
    alone = fresh.ask("それはどんな場合に使える？", session_id="s-other")
    assert alone.resolved_question is None
    # a short question that points nowhere stands alone, even inside a session
    short = fresh.ask("原課とは？", session_id="s-follow")
    assert short.resolved_question is None and short.route == "glossary"


def test_history_is_bounded(container):
    store = container.store
    for i in range(12):
        container.assistant.ask(f"原課とは？ {i}", session_id="s-bounded")
    assert len(store.recent_turns("s-bounded", 100)) >= 12
    store.prune_sessions(keep_turns=5)
    assert len(store.recent_turns("s-bounded", 100)) == 5


@pytest.mark.parametrize("bad, code", [
    ("", "empty_question"), ("   \n ", "empty_question"), ("あ" * 2001, "question_too_long"),
    ("原課\x00とは", "question_control_chars"), (b"\xff\xfe", "question_not_utf8"), (42, "invalid_question"),
])
def test_bad_questions_are_clear_errors(assistant, bad, code):
    with pytest.raises(InvalidInput) as e:
        assistant.ask(bad)
    assert e.value.code == code and e.value.message


def test_unknown_persona_and_mode_are_clear_errors(assistant):
    with pytest.raises(InvalidInput, match="persona"):
        assistant.ask("原課とは？", persona="mayor")
    with pytest.raises(InvalidInput, match="mode"):
        assistant.ask("原課とは？", mode="poetry")


def test_cli_ask_json_through_the_executable(tmp_path):
    """Smoke: the real `kanmin ask` (a subprocess loads guide, models and index: seconds)."""
    env = {**os.environ, "KANMIN_DB_PATH": str(tmp_path / "cli.sqlite3")}
    p = subprocess.run([KANMIN, "ask", "原課とは？", "--json"], capture_output=True, text=True, encoding="utf-8",
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    ans = json.loads(p.stdout)
    assert ans["route"] == "glossary" and ans["citations"][0]["pages"] == [20]
    conn = sqlite3.connect(tmp_path / "cli.sqlite3")
    try:
        rows = conn.execute("SELECT id, source FROM answers").fetchall()
    finally:
        conn.close()
    assert rows == [(ans["id"], "cli")]  # stored where KANMIN_DB_PATH says


def test_cli_ask_batch(container, tmp_path, capsys, monkeypatch):
    """`kanmin ask --batch` in-process (ui.cli.main), answered by this module's container."""
    import assistant.container as container_module
    from ui.cli import main

    monkeypatch.setattr(container_module, "_container", container)
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"id": "a", "question": "図表8"}\n\n{"id": "b", "question": "PFSとは", "persona": "startup"}\n'
                     '{"id": "c", "question": ""}\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", "--batch", str(batch), "--json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c"]
    assert lines[0]["route"] == "figure" and lines[1]["persona"] == "startup"
    assert lines[0]["answer_id"] != lines[1]["answer_id"]
    assert set(lines[2]) == {"id", "error"} and lines[2]["error"]["code"] == "empty_question"
    assert lines[2]["error"]["message"] and "Traceback" not in err  # one refused line, the rest answered
    # a bad line stops the batch before any answer, with one line on stderr
    batch.write_text('{"id": "a", "question": "図表8"}\nnot json\n', encoding="utf-8")
    assert main(["ask", "--batch", str(batch), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().count("\n") == 0 and "q.jsonl:2" in err


def test_enumerations_found_in_the_guide(guide):
    from assistant.enumerations import Enumerations

    lists = {s: [[i.text for i in items] for items in ls] for s, ls in Enumerations(guide).lists.items()}
    assert lists["c04.s02.u02.p02"][0][0] == "観点① 他都市導入実績" and len(lists["c04.s02.u02.p02"][0]) == 6
    assert [x[:6] for x in lists["c04.s02.u03"][0]] == ["パターン① ", "パターン② ", "パターン③ ", "パターン④ "]
    assert len(lists["c03.s01"][0]) == 4
    # "- ① …" lines, quoted without the dash
    assert lists["c02.s02"][0][0] == "① 自治体“へ”導入する（公共調達等）" and len(lists["c02.s02"][0]) == 3
    # bullet lists too, item text without the bullet
    assert lists["c06.s05.u02"][0] == ["実験の内容", "役割及び責任分担等", "経費等の分担", "成果及び権利の帰属・譲渡等", "成果等の公表"]
    assert not any("http" in x for ls in lists.values() for items in ls for x in items)
    # ✓ headings, each followed by its own paragraphs, one list per section across a page break (pp.57–58)
    assert lists["c05.s01.u05"] == [["ディスカッションペーパー", "事業概要資料", "企画書・提案書"]]
    assert [x[:5] for x in lists["c05.s02.u01.p02"][0]] == ["「Ⅰ. 社", "「Ⅱ. 受", "「Ⅲ. 課", "「Ⅷ. 既"]  # without the ** marks
    assert [x[:5] for x in lists["c06.s04.u01.e01"][0]] == ["STEP1", "STEP2"]
    # 「1つ目は、…点です。」「2つ目の理由は、…点です。」: prose items, one sentence each
    assert lists["c02.s03"][0] == ["1つ目は、課題解決に向けたアプローチの「幅」が広がる点です。",
                                   "2つ目の理由は、課題解決に向けたアプローチに「深さ」を付加することができる点です。"]


def test_a_lead_in_finds_the_list_that_follows_it_in_its_section(guide):
    from assistant.enumerations import Enumerations

    e = Enumerations(guide)
    chunk = guide.chunk("c05.s01.u05-b01")
    end = chunk.text.index("以下の 3 種類に分類されると考えられます。") + len("以下の 3 種類に分類されると考えられます。")
    assert [i.text for i in e.following(chunk, end)] == ["ディスカッションペーパー", "事業概要資料", "企画書・提案書"]
    assert e.following(chunk, len(chunk.text)) == []  # after the list's first item: no list follows
    assert e.following(guide.chunk("c06.s04.u01.e01-e02"), 0) == []  # nor from a later chunk


def test_a_list_question_gets_the_guides_items_in_order(assistant):
    ans = assistant.ask("関係する他の課が協力してくれないとき、どう進めればいい？", persona="municipality")
    quotes_in_chunks(ans, assistant)
    listed = [c.quote for c in ans.citations if c.quote.startswith("パターン")]
    assert listed == sorted(listed) and len(listed) == 4
    assert "ガイドが挙げている項目:" in ans.answer
    assert all(f"[{c.n}]" in ans.answer for c in ans.citations)
    # a question for one fact gets no list
    one = assistant.ask("首長の意思決定で方針決裁を得るやり方は、いわゆる何方式と呼ばれていますか", persona="municipality")
    assert "ガイドが挙げている項目" not in one.answer


@pytest.mark.parametrize("question, n", [
    ("インパクトコンソーシアムっていつできたの？分科会はいくつあるんですか？", 2),
    ("トライアル発注の制度って作る意味ある？あと、福岡市ではどう運用してるの？", 2),
    ("What is Fukuoka's mirai@, and how does it handle proposals from startups?", 2),
    ("全国に自治体っていくつあるんですか？営業先の母数を知りたくて。", 1),  # the second part is no question
    ("When and where was Matching Pitch 2024 held?", 1),
    ("自治体から「他で実績ありますか？」と聞かれて話が止まります。最初の1件目を作るコツは？", 1),
    ("チャリチャリは福岡市との実証のあと、どこまで広がった？", 1),
    ("原課とは何ですか。また、どう連携すればよいですか？", 2),  # a polite question ending in 。
    ("トライアル発注とは何ですか、どのように始めればよいですか", 2),  # …ですか、 then a second question
    ("4号随契を使うべきですか、それとも入札にすべきですか？", 1),  # one either-or question
    ("原課をご存知ですか。連携の方法について教えてください。", 1),  # the second part is no question
    # …but a request for one more thing is a part of its own
    ("国が自治体に出した事務連絡って、いつ付けのもの？あと、対象の交付金の名前も教えて。", 2),
    # a part that opens with its question word right after a question mark has no subject of its own
    ("札幌市って、スタートアップ担当に民間から人を採ったことがあるんですよね？どういう役職で？", 1),
    ("トライアル発注で認定された商品ってあるの？何件くらい？", 1),
    # a short later part with no subject and no question word narrows the part before it
    ("官民連携を進める中で、スタートアップはどんな資料を用意すればいいですか？段階ごとに違う？", 1),
    ("市の予算で導入したいと思ってもらえたら、どのくらいで話がまとまりますか？提案してすぐ決まる？", 1),
    ("If one vendor is selected in the catalogue, what kind of contract is that? And what if we pick several?", 1),
    # …but one with its own subject or question word is a question of its own
    ("つくば市の認定制度って、市外の会社でも取れる？あと、認定されたらいつまで有効？", 2),
    ("自治体との契約って複数年でまとめて結べるんでしょうか。あと代金はいつ払われますか？", 2),
    ("What are the three exits the guide talks about? and are there PPP methods it deliberately leaves out?", 2),
    # ", and" before a question word behind its preposition is a seam too
    ("When does a city's budget usually get finalized, and by what month do we need the scope agreed?", 2),
    ("What does Tsukuba certify, and for how long is a certification valid?", 2),
    # a follow-up read with its anchor: the anchor's own question mark is no seam, the new question's are
    ("これから官民連携を始める自治体は何をすべき？ について: What about for startups?", 1),
    ("原課 について: それって何？あと、スタートアップはどう連携すればいい？", 2),
    # the other answer to the same question (それとも / or): one question with its alternatives
    ("自治体との打ち合わせ資料、最初から作り込んだ提案書で行くべき？それとも段階ごとに変えるべき？", 1),
    ("Should we bring a full proposal to the first meeting? Or start with a short overview?", 1),
])
def test_question_parts(question, n):
    from assistant.router import question_parts

    assert len(question_parts(question)) == n


@pytest.mark.parametrize("question, fact", [
    ("民間提案の窓口をもう設置している自治体は全国でどのくらい？", "現在94"),
    ("PFSの事例は国内でどれくらいありますか", "273件"),
])
def test_the_unit_holding_the_count_asked_leads(assistant, question, fact):
    # "how many": the passage with the number opens the answer, though a passage without one
    # (what a 窓口 is, what PFS is) scores higher
    ans = assistant.ask(question)
    quotes_in_chunks(ans, assistant)
    assert fact in ans.answer.split("\n")[0]


def test_a_two_part_question_is_answered_part_by_part(assistant):
    ans = assistant.ask("つくば市のトライアル発注認定って、一度とれば何年くらい有効？市外の会社でも申請できる？")
    quotes_in_chunks(ans, assistant)
    assert 2 <= len(ans.citations) <= 5
    text = ans.answer
    assert "つくば" in text or any("つくば" in " ".join(c.section_path) for c in ans.citations)
    assert "有効期間は認定した翌々年度末まで" in text  # how long it holds
    assert "地域限定要件は無く" in text  # whether a company from outside the city may apply


def test_unrelated_parts_each_get_their_passage(assistant):
    # answered as one question, every sentence goes to 共同調達 (more matching words) and 原課
    # gets none; answered part by part, each part has its passage, in the order asked
    ans = assistant.ask("原課って何？あと、共同調達のメリットは？")
    quotes_in_chunks(ans, assistant)
    genka = next(i for i, c in enumerate(ans.citations) if "原課" in c.quote or "担当している課" in c.quote)
    joint = next(i for i, c in enumerate(ans.citations) if "共同調達" in c.quote + " ".join(c.section_path))
    assert genka < joint
    assert ans.answer.index("【原課って何") < ans.answer.index("【共同調達のメリット")


def test_the_parts_of_a_multi_part_answer_are_labelled_in_the_order_asked(assistant):
    ans = assistant.ask("4号随契を使うには何が必要？あと、トライアル発注制度との違いは？")
    first, second = ans.answer.find("【4号随契を使うには何が必要"), ans.answer.find("【トライアル発注制度との違いは")
    assert 0 == first < second, ans.answer
    # each label sits directly above a quoted passage of its part
    assert re.search(r"【トライアル発注制度との違いは[?？]】\n[^【]+?\[\d+\]", ans.answer), ans.answer
    en = assistant.ask("What is PFS, and which city used it to help people quit smoking?")
    # (a long part is cut at a word, as a long heading is: AnswerConfig.part_label_chars)
    assert re.search(r"On “What is PFS”:\n- 「.+\n(.+\n)*On “which city used it…”:\n- 「",
                     en.answer), en.answer
    one = assistant.ask("4号随契とトライアル発注制度はどう違う？")
    assert "【4号随契とトライアル発注制度" not in one.answer  # a one-part question has no label


@pytest.mark.parametrize("part, label", [
    # a part that opens with its context is labelled by the sentence that asks
    ("We don't have anyone in-house who can drive our startup policy. Is there an example of a city "
     "recruiting someone from the private sector for this", "Is there an example of a city recruiting someone "
     "from the private sector for this"),
    ("うちの課、11月に提案をもらった。来年度予算でいける？", "来年度予算でいける？"),
    ("What is PFS", "What is PFS"),  # one sentence: itself
    ("Budget timing. Why?", "Budget timing. Why?"),  # a last sentence of a word or two says too little alone
    # the word that joined the part to the one before is not part of its ask
    ("And how much did the city estimate it saved in medical costs?",
     "how much did the city estimate it saved in medical costs?"),
    ("あと、共同調達のメリットは？", "共同調達のメリットは？"),
])
def test_a_parts_label_is_the_sentence_that_asks(part, label):
    from assistant.answer_qa import asked_in

    assert asked_in(part) == label


def test_a_multi_part_answer_labels_each_part_by_its_ask(assistant):
    ans = assistant.ask("We don't have anyone in-house who can drive our startup policy. Is there an example of a "
                        "city recruiting someone from the private sector for this, and what post did they hire for?")
    # (cut at a word, as the Japanese labels are: AnswerConfig.part_label_chars)
    assert ans.answer.split("\n")[1].startswith("On “Is there an example…”:"), ans.answer


def test_a_part_already_answered_points_at_the_passage_instead_of_padding(assistant):
    """The first part's passage (「2008年に…これまで500件を超える官民連携事例…」) also answers the
    second part: the second part points at it ([1]) rather than quoting weaker passages."""
    with hand_weighted(assistant):  # the pointer rule, whichever passage the lead ranker would pick
        ans = assistant.ask("横浜市が全国で初めて官民連携の指針や専門部署・提案窓口をそろえたのはいつ？"
                            "それでどれくらい事例が生まれたの？")
        en = assistant.ask("What is Fukuoka City's one-stop desk for private-sector proposals called, and when "
                           "did it open?", persona="startup")
    quotes_in_chunks(ans, assistant)
    m = re.search(r"【それでどれくらい事例が生まれたの[?？]】\n→ 上の\[(\d+)\]に記載があります。", ans.answer)
    assert m, ans.answer
    pointed = ans.citations[int(m.group(1)) - 1]
    assert "500件を超える" in pointed.quote and "2008年" in pointed.quote
    assert not re.search(r"\[\d+\]", ans.answer[m.end():])  # no passage quoted for it after the pointer
    m = re.search(r"On “when did it open\?”: see \[(\d+)\] above\.", en.answer)
    assert m, en.answer
    assert "2018年より" in en.citations[int(m.group(1)) - 1].quote


def test_a_later_parts_passage_found_under_an_earlier_part_is_quoted_under_its_own(assistant):
    """"How many attended?" is best answered by a row the first part quoted as its third passage
    (「参加者数 | 現地参加 218名…」): the row moves under the part it answers instead of the first
    part quoting three passages and the second pointing back at one of them."""
    ans = assistant.ask("When was the Cabinet Office's 2024 Matching Pitch held, and how many people attended?")
    quotes_in_chunks(ans, assistant)
    first, second = ans.answer.split("\nOn “how many people…”:\n")
    assert "2024年11月28日" in first and "218名" not in first, ans.answer
    assert "現地参加 218名" in second and " above." not in second, ans.answer


def test_locate_names_the_best_section_and_its_pages_then_the_passages_then_its_headings(assistant):
    ans = assistant.ask("官民連携でありがちな失敗パターンがまとまってるのって何ページから？")
    assert ans.route == "locate"
    quotes_in_chunks(ans, assistant)
    first_line = ans.answer.split("\n")[1]
    # the section and the pages it runs over: where it starts is its first page
    assert "よくある落とし穴" in first_line and first_line.endswith("（pp.18–21）"), ans.answer
    assert "よくある落とし穴" in " > ".join(ans.citations[0].section_path)
    # the passages that matched before the section's own sub-headings (with their pages), which
    # map the rest of it
    block = ans.answer.split("\n・")[1]
    assert "この節の見出し: 1. 偏見や先入観" in block and "4. 連携を進めていったものの" in block
    assert block.index("[1]") < block.index("この節の見出し"), ans.answer


def test_a_figure_answer_quotes_the_passage_that_explains_it(assistant):
    ans = assistant.ask("図表11って何の図？")
    assert ans.route == "figure"
    quotes_in_chunks(ans, assistant)
    # the body text that explains the figure, without the sentence that only announces it
    # (「…一般的な形を解説していきます(図表 11)。」): the answer's head names the figure and page
    assert ans.answer.startswith("図表11「一般的な自治体の予算編成の基本的スケジュール」（p.25）。")
    intro = next(c.quote for c in ans.citations if "3月の議会に案が提示され" in c.quote)
    assert intro.startswith("自治体の予算編成は、一般的に") and "解説していきます" not in intro
    # nothing from a section other than the figure's own
    figure_section = ans.citations[0].section_path[:3]
    assert all(c.section_path[:3] == figure_section for c in ans.citations)


def test_a_figure_answer_shows_the_figure_before_the_text_around_it(assistant):
    """What the figure shows (its own rows) comes right after where it is; the body passage that
    introduces it follows. The head names the figure and its page, the citation its path."""
    ans = assistant.ask("図表9で、市区町村はどんな役割と整理されていますか？")
    assert ans.route == "figure"
    quotes_in_chunks(ans, assistant)
    rows = ans.citations[1]
    assert assistant.chunk(rows.chunk_id).kind == "table" and "自治事務を担い" in rows.quote
    intro = next(c for c in ans.citations[1:] if "図表9" in c.quote.replace(" ", ""))
    assert ans.answer.index("自治事務を担い") < ans.answer.index(intro.quote[:20])
    head = ans.answer.split("\n", 1)[0]
    assert "第2章 官民連携の進め方 >" not in head and ans.citations[0].section_path[0] == "第2章 官民連携の進め方"


def test_a_figure_without_rows_of_its_own_is_explained_by_the_sentence_that_cites_it_first(assistant):
    """図表32 (p.91) is an image: the text's sentence that cites it (「…最も多いのが「サービスの唯一性」…
    （図表 32）」) answers what it shows, before the other passages of its section."""
    ans = assistant.ask("According to Figure 32, what was the most common tweak municipalities made when procuring?")
    assert ans.route == "figure" and not any(assistant.chunk(c.chunk_id).kind == "table" for c in ans.citations)
    assert "図表 32" in ans.citations[1].quote and "サービスの唯一性" in ans.citations[1].quote, ans.answer


def test_locate_quotes_sit_under_their_own_section(assistant):
    ans = assistant.ask("自治体の予算がどういうスケジュールで決まるのか、説明している箇所を教えてください。", persona="startup")
    assert ans.route == "locate"
    for line in ans.answer.split("\n")[1:]:
        if not line.startswith("・"):
            continue
        section = line[1:].split("（")[0]
        for n in re.findall(r"\[(\d+)\]", line):
            assert " > ".join(ans.citations[int(n) - 1].section_path).startswith(section)


def test_the_list_that_matches_the_question_wins(assistant):
    # the top hit belongs to 観点①〜⑥; the question is about what to agree in writing before a pilot
    ans = assistant.ask("スタートアップと実証実験を始める前に、書面で何を決めておけばいい？", persona="municipality")
    quotes_in_chunks(ans, assistant)
    # the 福岡市 list comes with its lead-in (「以下を含む各内容について協議し…」) as one quote
    unit = next(c for c in ans.citations if "経費等の分担" in c.quote)
    assert "以下を含む各内容について協議し" in unit.quote and "成果等の公表" in unit.quote
    assert "観点①" not in ans.answer


def test_the_best_word_match_earns_a_place(guide):
    from assistant.sentences import AnswerConfig, Candidate, select

    chunk = guide.chunk("c06.s03.u05.e01-e04")
    text = chunk.text
    a = text.index("広域連合")
    b = text.index("。", a) + 1
    texts = ["予算要求の時期", "入札方式の違い", "公平性を確保する", "規制緩和の事例", "窓口を設置した"]
    weak = [Candidate(chunk, 0, i, i + 1, t, score=0.9 - i / 100, coverage=0.1) for i, t in enumerate(texts)]
    match = Candidate(chunk, 3, a, b, text[a:b], score=0.5, coverage=0.34)
    cfg = AnswerConfig(max_sentences=5, min_ratio=0.1, per_chunk=9)
    assert match not in select(weak + [match], cfg)
    chosen = select(weak + [match], AnswerConfig(max_sentences=5, min_ratio=0.1, per_chunk=9, coverage_slots=1))
    assert match in chosen and len(chosen) == 5
    assert "窓口を設置した" not in [c.text for c in chosen]  # the weakest made way


def test_a_locate_answer_names_the_place_before_it_quotes(assistant):
    ans = assistant.ask("スタートアップと組むときの公平性の考え方って、ガイドのどこに書いてある？")
    assert ans.route == "locate"
    quotes_in_chunks(ans, assistant)
    place = ans.answer.split("\n")[1]
    assert place == "・第5章 官民連携編 > (4) 出口②自治体“を介して”広める（共同プロモーション等） > ③ 公平性の考え方（pp.113–114）"
    # each passage is the sentence that matched, without a window of neighbours around it
    assert all(c.quote.count("。") == 1 and c.quote.endswith("。") for c in ans.citations)


def test_a_locate_answer_opens_with_the_section_whose_title_names_the_topic(assistant):
    """Among the sections the search finds, the one whose own title says what is asked leads: the
    appendix list of municipalities with a partnership desk (p.85), not the chapter that mentions it;
    in English, by the reviewed English titles (「③ 規制緩和／規制改革」, pp.119–120)."""
    from assistant.answer_locate import _content_words

    ja = assistant.ask("官民連携の窓口がある自治体の一覧はどこを見ればいい？")
    assert ja.route == "locate"
    assert ja.answer.split("\n")[1] == "・第4章 スタートアップ編 > (4) 官民連携やスタートアップ支援を行っている自治体はどこか（p.85）"
    en = assistant.ask("Where in the guide can I read about regulatory sandboxes and deregulation for pilots?")
    assert en.answer.startswith("The guide covers this mainly in “③ Deregulation / regulatory reform” (pp.119–120):")
    assert en.citations[0].pages[0] in (119, 120)
    # the words that ask where are not the topic; a plural counts as its singular
    assert _content_words("Which part of the guide covers the regulatory sandboxes?") == {"regulatory", "sandbox"}
    assert _content_words("municipalities' policies and processes") == {"municipality", "policy", "process"}


def test_a_locate_question_for_a_sheet_cites_its_figures_first(assistant):
    """Asked where a sheet, a form or a table is, the figures that match are the answer: cited
    first with their own pages; asked where a topic is explained, they are shown, not cited."""
    from assistant.answer_locate import FIGURE_ASKED

    ans = assistant.ask("課題を整理するシートのフォーマットと記入例はガイドのどこにある？")
    assert ans.route == "locate"
    quotes_in_chunks(ans, assistant)
    first = ans.citations[:3]
    assert [assistant.chunk(c.chunk_id).kind for c in first] == ["figure"] * 3, first
    assert {p for c in first for p in c.pages} == {40, 41}
    assert "図表 16：課題整理シート (1/2) ²⁶（p.40）[1]" in ans.answer
    topic = assistant.ask("自治体の予算がどういうスケジュールで決まるのか、説明している箇所を教えてください。")
    assert topic.route == "locate" and "図表" in topic.answer  # its figures are named …
    assert all(assistant.chunk(c.chunk_id).kind != "figure" for c in topic.citations)  # … not cited
    assert all(FIGURE_ASKED.search(q) for q in ("様式はどこ？", "図表28はどこ", "Which table lists the exits?",
                                                 "Where is the application form?"))
    assert not any(FIGURE_ASKED.search(q) for q in ("連携を図る方法はどこ？", "代表者の意図", "how to form a team",
                                                     "the platform", "成果の公表はどこに書いてある？", "発表の仕方"))


def test_a_locate_question_for_a_link_finds_the_reference_list(assistant):
    """参考情報一覧 (p.136) is a list of titles and addresses, with no sentence to quote: asked where
    a report's link is, the answer opens there, quoting the entry's title (not its address)."""
    ans = assistant.ask("経産省が委託した調査の報告書のリンクはガイドのどこにありますか？")
    assert ans.route == "locate" and not ans.abstained, ans.answer
    quotes_in_chunks(ans, assistant)
    first = ans.citations[0]
    assert first.section_path == ["参考情報一覧"] and first.pages == [136], first
    assert "調査報告書" in first.quote and "http" not in first.quote, first.quote


@pytest.mark.parametrize("question, page", [
    # a heading under the section (「2. …自治体の一覧【附録】」) names what is asked: its section leads
    ("民間提案の窓口を設けている自治体のリストって、ガイドのどこを見ればいいですか？", 85),
    # "Is there one place in the guide that…" is the asking, not the topic
    ("Is there one place in the guide that gathers all the reference links it mentions, such as RESAS?", 136),
])
def test_a_locate_question_finds_the_section_by_what_it_asks_for(assistant, question, page):
    ans = assistant.ask(question)
    assert ans.route == "locate" and any(page in c.pages for c in ans.citations[:3]), ans.citations


def test_a_figure_question_naming_a_row_gets_that_row_first(assistant):
    ans = assistant.ask("図表12の歩み寄りのポイントで、「スピード感」の違いに対してはどんな工夫が書かれてる？")
    assert ans.route == "figure"
    quotes_in_chunks(ans, assistant)
    first = ans.answer.split("\n")[1]
    assert first.startswith("「スピード感 | ") and "プロセスや役割分担の認識を合わせる" in first
    # a question about the figure as a whole keeps the table's first rows instead
    whole = assistant.ask("図表12には何が書いてある？")
    assert whole.answer.split("\n")[1].startswith("「自治体・ISUの違い | 連携に向けた工夫")
    # 図表41's rows sit above a credit line and its caption: they are the figure's own
    drone = assistant.ask("In 図表41, which city had the drone project for checking sewers, and which company took it on?")
    assert drone.route == "figure" and "福山市" in drone.answer and "Liberaware" in drone.answer, drone.answer
    # a small table (図表58: five rows) is shown whole: its last row (コミュニケーション) answers
    small = assistant.ask("図表58では、「連携」と「共創」とで、やり取りの方向はどう違う？")
    assert "単方向" in small.answer and "双方向" in small.answer, small.answer
    # two rows named: both lead, adjacent ones as one passage
    two = assistant.ask("図表42で、広域連合と一部事務組合はそれぞれ何団体ある？")
    quotes_in_chunks(two, assistant)
    assert "116団体" in two.citations[1].quote and "1,279団体" in two.citations[1].quote, two.answer
    # a row named by its first cell leads, though a long row shares more of the question's other words
    # (図表51: 「参加者は…何人」 names 「参加者数 | 現地参加 218名…」; 「プログラム」 names 内閣府 and ピッチ)
    named = assistant.ask("図表51のマッチングピッチ2024、内閣府のイベントの参加者は会場とオンラインで何人ずつ？")
    assert "現地参加 218名" in named.citations[1].quote, named.answer


@pytest.mark.parametrize("question, name", [
    ("アーバンイノベーションジャパンってどこで生まれたサービス？", "Urban Innovation JAPAN"),
    ("ローカルイノベーションチャレンジって、どこの自治体が一緒にやってるの？", "Local Innovation Challenge HOKKAIDO"),
    # declined as weakly supported while アーバン / イノベーション / ジャパン counted as missing words
    ("アーバンイノベーションジャパン（UIJ）はどこ発祥で、どれくらいの実績がある？", "Urban Innovation JAPAN"),
])
def test_a_latin_name_typed_in_katakana_finds_its_passage(assistant, question, name):
    # the thesaurus maps the katakana to the guide's Latin name, and the katakana's own words
    # (absent from the guide) no longer count against the passage's support
    assert assistant.thesaurus.phrases(question) and name in assistant.thesaurus.expand(question)
    lead = assistant.ask(question).citations[0]  # an abstention cites nothing: IndexError
    assert name.lower() in (lead.quote + " ".join(lead.section_path)).lower(), lead


def test_a_meaning_that_names_its_term_is_not_introduced_twice(assistant):
    """「トライアル発注制度は、…」 is the guide's own sentence: the card does not say
    「トライアル発注制度とは、トライアル発注制度は、…」; a meaning without its term keeps 「…とは、」."""
    first = assistant.ask("トライアル発注って何？").answer.split("\n", 1)[0]
    assert first.startswith("トライアル発注制度（とらいあるはっちゅうせいど）：トライアル発注制度は、"), first
    assert assistant.ask("原課とは？").answer.startswith("原課（げんか）とは、特定の案件や政策領域を担当している課")


def test_a_long_japanese_part_label_is_cut_but_names_its_part(assistant):
    """A Japanese part's label 【…】 names the part in at most 20 characters (the quotes answer it;
    the whole question restated took the first lines); a short one stays whole."""
    ans = assistant.ask("子ども関係の部署にいます。民間から解決策の提案を募りたいのですが、課題の出し方のコツはありますか？"
                        "「保育所の数が足りない」と書くだけではダメ？", persona="municipality")
    labels = re.findall(r"^【(.*)】$", ans.answer, flags=re.M)
    assert len(labels) == 2, ans.answer
    assert all(len(label) <= assistant.answer_cfg.part_label_chars == 20 for label in labels)
    assert labels[0].endswith("…") and labels[0][:-1] in "子ども関係の部署にいます。民間から解決策の提案を募りたいのですが、課題の出し方のコツはありますか?"
    short = assistant.ask("トライアル発注とは何ですか、どのように始めればよいですか")
    assert "【トライアル発注とは何ですか】" in short.answer
