"""The web UI's conversation logic on a real container (real index, real SQLite store), without a
browser: one answer at a time per conversation, turns read back from the store, feedback only on
this conversation's answers, the ui- session ids."""
from __future__ import annotations

from html import escape

import gradio as gr
import pytest

from ui.web.app import KanminUI, new_session_id, valid_session
from ui.web.chat import answer_id_of


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    from assistant.container import Container
    from ingest.settings import get_settings

    settings = get_settings().model_copy(update={"db_path": tmp_path_factory.mktemp("ui") / "ui.sqlite3"})
    return Container(settings).load()


@pytest.fixture()
def ui(container):
    return KanminUI(lambda: container)


SKIP = gr.skip()


def test_a_second_send_while_one_is_pending_is_dropped(ui, container):
    sid = new_session_id()
    first = ui.ask("随意契約とは何ですか？", "any", "extractive", "ja", sid)
    chat, question, button, status, session, _ = next(first)  # pending: shown, not yet answered
    assert button["interactive"] is False and question == SKIP and session == sid
    assert "回答を作成しています" in chat[-1]["content"] and "随意契約とは何ですか？" in chat[-2]["content"]
    # the same conversation asks again meanwhile (another click, another tab): nothing happens
    second = list(ui.ask("随意契約とは何ですか？", "any", "extractive", "ja", sid))
    assert second == [(SKIP,) * 6]
    rest = list(first)
    chat, question, button, status, session, _ = rest[-1]
    assert question == "" and button["interactive"] is True and status == ""
    turns = container.store.recent_turns(sid, 10)
    assert len(turns) == 1 and answer_id_of(chat[-1]["content"]) == turns[0].id
    # once answered, the conversation takes the next question, and the chat is rebuilt from the store
    list(ui.ask("PFSとは何ですか？", "any", "extractive", "ja", sid))
    turns = container.store.recent_turns(sid, 10)
    msgs = ui.chat_messages(turns, "ja")
    assert [answer_id_of(m["content"]) for m in msgs[1::2]] == [t.id for t in turns] and len(turns) == 2
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 2


def test_bad_input_is_a_message_and_keeps_the_question(ui, container):
    sid = new_session_id()
    long_q = "あ" * 2500
    [(chat, question, button, status, session, _)] = list(ui.ask(long_q, "any", "extractive", "ja", sid))
    assert chat == SKIP and question == SKIP and "2,500字" in status and "2,000字" in status
    [(chat, question, button, status, session, _)] = list(ui.ask("   ", "any", "extractive", "en", sid))
    assert "Please type a question" in status and question == SKIP
    [(*_, status, session, _)] = list(ui.ask("\x07ベル", "any", "extractive", "ja", sid))[-1:]
    assert "制御文字" in status and "Traceback" not in status
    assert container.store.recent_turns(sid, 10) == []


def test_session_ids_are_the_ui_own_form():
    sid = new_session_id()
    assert valid_session(sid) and sid.startswith("ui-") and len(sid) == 35
    for bad in ("", None, "slack:C1:1.2", "api:anon:x", "ui-" + "g" * 32, "ui-" + "a" * 31, "UI-" + "a" * 32, 5):
        assert not valid_session(bad), bad


def test_an_invalid_stored_session_gets_a_new_one(ui, container):
    out = list(ui.ask("原課とは何ですか？", "any", "extractive", "ja", "slack:C1:1.2"))
    session = out[-1][4]
    assert valid_session(session)
    assert [t.question for t in container.store.recent_turns(session, 5)] == ["原課とは何ですか？"]
    assert container.store.recent_turns("slack:C1:1.2", 5) == []


def test_feedback_only_for_this_conversations_answers(ui, container):
    mine, other = new_session_id(), new_session_id()
    list(ui.ask("原課とは何ですか？", "any", "extractive", "ja", mine))
    list(ui.ask("PFSとは何ですか？", "any", "extractive", "ja", other))
    my_answer = container.store.recent_turns(mine, 1)[0]
    their_answer = container.store.recent_turns(other, 1)[0]
    msg_mine = ui.answer_message(my_answer, "ja", [])
    msg_theirs = ui.answer_message(their_answer, "ja", [])

    def like(html: str, liked: bool, index: int = 1) -> gr.LikeData:
        return gr.LikeData(None, {"index": index, "value": html, "liked": liked})

    assert "記録しました" in ui.feedback([], mine, "ja", like(msg_mine, True))
    assert ui.feedback([], mine, "ja", like(msg_theirs, False)) == SKIP  # not this conversation's answer
    assert ui.feedback([], mine, "ja", like(msg_mine, False))  # a changed vote replaces the first
    rows = container.store.feedback_rows(my_answer.id)
    assert [r["rating"] for r in rows] == ["down"], rows
    assert container.store.feedback_rows(their_answer.id) == []


def test_whole_section_of_a_citation_only_for_this_conversation(ui, container):
    mine, other = new_session_id(), new_session_id()
    list(ui.ask("随意契約とは何ですか？", "any", "extractive", "ja", mine))
    answer = container.store.recent_turns(mine, 1)[0]
    cit = answer.citations[0]
    html = ui.reader_html(f"c:{answer.id}:{cit.n}", "ja", mine)
    assert 'class="kc-reader"' in html and 'class="kc-chunk kc-cited"' in html
    cited = html[html.index("kc-cited"):].split('<div class="kc-chunk', 1)[0]  # the cited passage only
    chunk = container.assistant.chunk(cit.chunk_id)
    assert f'data-chunk-id="{chunk.id}"' in cited and f'<mark class="kc-quote">{escape(cit.quote)}</mark>' in cited
    assert html.count('<mark class="kc-quote">') == 1
    assert ui.reader_html(f"c:{answer.id}:{cit.n}", "ja", other) == ""  # another conversation's answer
    assert ui.reader_html(f"c:{answer.id}:99", "ja", mine) == ""
    for bad in ("", "x", "p:abc", "s:../../etc", "c:zz:1", "p:99999"):
        assert ui.reader_html(bad, "ja", mine) == "", bad
    page = ui.reader_html("p:94", "ja", mine)
    assert "p.94" in page and page.count('class="kc-chunk"') == len([c for c in container.guide.chunks if 94 in c.pages])
