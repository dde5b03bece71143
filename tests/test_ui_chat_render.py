"""A chat turn of the web UI (ui/web/chat.py), suggested questions (ui/web/suggest.py) and the
LLM-choice gate (ui/web/llm.py): pure functions and real objects, no server, no browser."""
from __future__ import annotations

import re
from types import SimpleNamespace

from assistant.schema import Answer, Citation, GlossaryNote, SectionRef
from ingest.models import Chunk, SectionQuestion
from test_ui_render import balanced
from ui.web import chat as W
from ui.web.llm import llm_available
from ui.web.suggest import QuestionBank

CHUNK = Chunk(id="c1", kind="body", section_id="c06.s03.u04.p01", section_path=["第5章", "④ 4号随契"], pages=[94, 95],
              personas=["all"], text="前文<b>です。\n\n地方公共団体が競争の方法によらないで契約する方法。後文 & 終わり",
              search_text="x")


def _answer(**kw) -> Answer:
    base = dict(id="a" * 32, question="随意契約とは？", answer="随意契約とは、…方法[1]\n\n使われ方: 「…」[2] [7]",
                language="ja", route="glossary", route_reason="r", persona="any",
                citations=[Citation(n=1, chunk_id="c1", section_path=["第5章", "④ 4号随契"], pages=[94],
                                    quote="地方公共団体が競争の方法によらないで契約する方法。"),
                           Citation(n=2, chunk_id="gone", section_path=["第5章"], pages=[87, 88], quote="…")],
                glossary=[GlossaryNote(term="随意契約", reading="ずいいけいやく", rephrase="入札なしの契約")])
    base.update(kw)
    return Answer(**base)


def render(a: Answer, lang: str = "ja", suggestions=()) -> str:
    return W.answer_html(a, lang, lambda cid: CHUNK if cid == "c1" else None,
                         lambda ch: "c06.s03.u04", suggestions)


def test_turn_is_one_escaped_html_block_with_chips_and_hidden_evidence():
    a = _answer(answer="<script>x</script> & y[1][2][7]\n\nnext", question="<img src=x onerror=alert(1)>")
    html = render(a)
    # one line, no blank line: gr.Chatbot's markdown keeps an HTML block raw only until a blank line
    assert "\n" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in W.user_html(a.question) and "&lt;img" in W.user_html(a.question)
    assert re.findall(r'class="kc-cite" data-n="(\d+)"', html.split('class="kc-sources"')[0]) == ["1", "2"]
    assert "[7]" in html and 'data-n="7"' not in html  # not a citation: left as text
    # one hidden evidence panel per citation, the quote highlighted inside its passage
    assert re.findall(r'<div class="kc-ev" data-n="(\d)" hidden>', html) == ["1", "2"]
    assert '<mark class="kc-quote">地方公共団体が競争の方法によらないで契約する方法。</mark>' in html
    assert "前文&lt;b&gt;です。<br><br><mark" in html  # the passage's newlines kept as <br>
    assert 'data-nav="c:' + 'a' * 32 + ':1"' in html  # "show the whole section", at the cited passage
    assert 'data-nav="s:c06.s03.u04"' not in html and 'data-nav="c:' + 'a' * 32 + ':2"' not in html  # no chunk: no button
    # pages are links to that page's passages
    assert '<a class="kc-pagelink" href="?p=94" data-nav="p:94">94</a>' in html
    assert 'href="?p=87"' in html and 'href="?p=88"' in html
    assert 'data-answer-id="' + "a" * 32 + '"' in html and W.answer_id_of(html) == "a" * 32
    balanced(html)


def test_copy_text_is_the_answer_with_its_sources():
    a = _answer()
    html = render(a)
    m = re.search(r'class="kc-copy" data-copy="([^"]*)"', html)
    assert m and "&#10;" in m.group(1)  # newlines kept, as entities (one-line HTML)
    text = W.copy_text(a, "ja")
    assert text.startswith(a.answer) and "出典:" in text
    assert "[1] 第5章 > ④ 4号随契 (p.94) 「地方公共団体が競争の方法によらないで契約する方法。」" in text


def test_no_glossary_cards_under_a_not_in_the_guide_answer():
    assert 'class="kc-gl"' in render(_answer())
    out = _answer(abstained=True, route="out_of_scope", citations=[], answer="ガイドには記載が見当たりません。",
                  nearest_sections=[SectionRef(section_id="c03.s02", section_path=["第2章", "(2) 落とし穴"],
                                               pages=[18, 19, 20])])
    html = render(out, suggestions=["x？"])
    assert "kc-gl" not in html and "kc-term" not in html
    assert "ガイドに記載が見当たりません" in html and 'data-nav="s:c03.s02"' in html
    assert "pp." in html and 'href="?p=18"' in html and 'href="?p=20"' in html
    balanced(html)


def test_fallback_is_one_translated_line_with_the_reason_kept_as_a_tooltip():
    cases = {
        "generative mode is not configured (KANMIN_LLM_BACKEND=none)": "生成（LLM）は使えないため",
        "llm_error: LlmTimeout: no answer in 20 s": "時間内に返らなかった",
        "llm_unusable: no supported citation in the generated answer": "出典で確かめられなかった",
        "llm_error: LlmUnavailable: the LLM server answered HTTP 500": "エラーが起きた",
    }
    for reason, words in cases.items():
        html = W.fallback_line(_answer(fallback=reason), "ja")
        assert words in html and html.count("<div") == 1, html
        assert f'title="{reason}"' in html.replace("&#x27;", "'")
        assert ">" + reason not in html  # the developer text is not the visible line
    en = W.fallback_line(_answer(fallback="llm_error: LlmTimeout: x"), "en")
    assert "did not arrive in time" in en
    trimmed = W.fallback_line(_answer(mode="generative", fallback="citation_check: removed 1 sentence"), "ja")
    assert "削除しました" in trimmed
    assert W.fallback_line(_answer(), "ja") == ""


def test_suggestions_are_clickable_questions():
    html = render(_answer(), suggestions=['予算は"いつ"？', "<b>契約</b>は？"])
    assert html.count('class="kc-suggest"') == 2
    assert 'data-q="予算は&quot;いつ&quot;？"' in html and "&lt;b&gt;契約&lt;/b&gt;は？" in html
    balanced(html)


def test_markdown_export_has_every_turn_with_citations():
    a1 = _answer()
    a2 = _answer(id="b" * 32, question="それはいつ？", resolved_question="随意契約とは？ について: それはいつ？",
                 answer="予算の後です[1]", citations=[Citation(n=1, chunk_id="c1", section_path=["第3章", "予算"],
                                                           pages=[27, 28], quote="予算")])
    md = W.conversation_markdown([a1, a2], "ja")
    assert md.startswith("# 官民連携ガイド アシスタント — 会話の記録\n")
    assert "## 質問 1" in md and "## 質問 2" in md and "> それはいつ？" in md
    assert "- [1] 第5章 > ④ 4号随契 (p.94): 「地方公共団体が競争の方法によらないで契約する方法。」" in md
    assert "- [1] 第3章 > 予算 (pp.27–28): 「予算」" in md
    assert "随意契約とは？ について: それはいつ？" in md
    assert W.conversation_markdown([], "en").startswith("# Public–Private Partnership Guide Assistant")


def test_suggestions_come_from_the_cited_sections_question_bank():
    bank = QuestionBank([
        SectionQuestion(node_id="c06.s03.u04", lang="ja", text="4号随契はいつ使える？"),
        SectionQuestion(node_id="c06.s03.u04", lang="ja", text="随意契約とは？"),
        SectionQuestion(node_id="c06.s03.u04", lang="en", text="When can a negotiated contract be used?"),
        SectionQuestion(node_id="c06.s03", lang="ja", text="公共調達の原則は？"),
        SectionQuestion(node_id="c02", lang="ja", text="別の章の質問"),
    ])
    # the deepest section with questions first; an asked question is never suggested again
    assert bank.suggest(["c06.s03.u04.p01"], "ja", asked=["随意契約とは？"]) == ["4号随契はいつ使える？"]
    assert bank.suggest(["c06.s03.u04.p01"], "en") == ["When can a negotiated contract be used?"]
    assert bank.suggest(["c06.s03.u09"], "ja") == ["公共調達の原則は？"]  # no own questions: the parent's
    assert bank.suggest(["c06.s03.u04", "c02.s01"], "ja", k=3) == ["4号随契はいつ使える？", "随意契約とは？", "別の章の質問"]
    assert bank.suggest([], "ja") == []


def test_suggestions_from_the_real_guide(guide):
    bank = QuestionBank(guide.questions)
    by_node = {}
    for q in guide.questions:
        by_node.setdefault((q.node_id, q.lang), []).append(q.text)
    node, lang = next(k for k, v in by_node.items() if len(v) >= 3 and k[1] == "ja")
    got = bank.suggest([node + ".p01"], "ja")
    assert got == by_node[(node, lang)][:3]


def test_llm_choice_is_offered_only_for_a_working_generator():
    settings = SimpleNamespace(llm_backend="none", llm_base_url="", llm_api_key="")
    assert llm_available(SimpleNamespace(assistant=SimpleNamespace(generator=None), settings=settings)) is False
    broken = SimpleNamespace(config_error="KANMIN_LLM_MODEL is required", llm=None)
    assert llm_available(SimpleNamespace(assistant=SimpleNamespace(generator=broken), settings=settings)) is False
    # configured, but nothing listens on the port: not reachable, not offered
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = SimpleNamespace(llm_backend="openai", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_api_key="")
    gen = SimpleNamespace(config_error=None, llm=object())
    assert llm_available(SimpleNamespace(assistant=SimpleNamespace(generator=gen), settings=settings)) is False


def test_a_passage_cited_by_page_only_opens_its_quote(session_assistant):
    """A real answer's further passages (「関連箇所: [3] p.101」, their quotes not in the text) are
    chips in the answer text, each opening its passage with the quote marked: the evidence the
    text no longer quotes is one click away."""
    from ui.web.render import esc

    a = session_assistant.ask("スタートアップ推進の担当です。トライアル発注制度を原課に使ってもらうには、どんな説明が効きますか？")
    line = next(ln for ln in a.answer.split("\n") if ln.startswith("関連箇所: "))
    further = [int(n) for n in re.findall(r"\[(\d+)\]", line)]
    assert further
    html = W.answer_html(a, "ja", session_assistant.chunks.get, lambda ch: ch.section_id)
    text = html.split('class="kc-sources"')[0]
    by_n = {c.n: c for c in a.citations}
    for n in further:
        assert by_n[n].quote not in a.answer.replace(line, "")  # cited by page only
        assert f'class="kc-cite" data-n="{n}"' in text
        panel = html.split(f'<div class="kc-ev" data-n="{n}" hidden>', 1)[1].split('<div class="kc-ev"', 1)[0]
        assert f'<mark class="kc-quote">{esc(by_n[n].quote)}' in panel.replace("<br>", "\n")
