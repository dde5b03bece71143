"""Slack pieces without a server: Block Kit rendering, channel personas, de-dup keys, Socket Mode construction."""
from __future__ import annotations

import re
from pathlib import Path

from assistant.schema import Answer, Citation, GlossaryNote, SectionRef
from ingest.settings import Settings
from ui.metrics import Metrics
from ui.runtime import ContainerHolder
from ui.slack.blocks import (
    FEEDBACK_COMMENT, FEEDBACK_DOWN, FEEDBACK_UP, SHARE, answer_blocks, clip, comment_button, comment_modal,
    fallback_text, pages_str, text_only,
)
from ui.slack.bot import SlackBot, dedupe_key, parse_channel_personas
from ui.slack.text import normalise


def _answer(**kw) -> Answer:
    base = dict(id="abc123", question="原課とは？", answer="原課とは<担当課>のこと & more[1]", language="ja",
                route="glossary", route_reason="t", persona="any",
                citations=[Citation(n=1, chunk_id="c1", section_path=["第2章", "(2) 落とし穴"], pages=[20, 21],
                                    quote="特定の案件や政策領域を担当している課のこと")],
                glossary=[GlossaryNote(term="原課", rephrase="担当課", en="line division", pages=[20])])
    base.update(kw)
    return Answer(**base)


def test_answer_blocks_shape():
    blocks = answer_blocks(_answer())
    assert blocks[0]["type"] == "section"
    assert "&lt;担当課&gt;" in blocks[0]["text"]["text"] and "&amp;" in blocks[0]["text"]["text"]
    ctx = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert any("第2章 › (2) 落とし穴" in t and "p.20–21" in t for t in ctx)
    assert any("原課" in t and "担当課" in t for t in ctx)
    actions = blocks[-1]
    assert actions["type"] == "actions"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [(FEEDBACK_UP, "abc123"),
                                                                           (FEEDBACK_DOWN, "abc123")]
    shared = answer_blocks(_answer(), feedback=False, share=True)
    assert [e["action_id"] for e in shared[-1]["elements"]] == [SHARE]
    assert "p.20" in fallback_text(_answer())


def test_answer_blocks_limits_and_abstention():
    long = _answer(answer="あ" * 10000, citations=[
        Citation(n=i, chunk_id=f"c{i}", section_path=["章"], pages=[i], quote="q" * 5000) for i in range(1, 20)])
    blocks = answer_blocks(long)
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 3000
    assert all(len(e["text"]) <= 2000 for b in blocks if b["type"] == "context" for e in b["elements"])
    abst = answer_blocks(_answer(abstained=True, route="out_of_scope", citations=[], glossary=[],
                                 nearest_sections=[SectionRef(section_id="c1", section_path=["第1章"], pages=[5, 6])]))
    assert any("第1章" in b["elements"][0]["text"] and "p.5–6" in b["elements"][0]["text"]
               for b in abst if b["type"] == "context")
    assert pages_str([]) == "p.?" and pages_str([7]) == "p.7"


def test_channel_personas_and_mentions():
    assert parse_channel_personas("C123=municipality, C456=startup,bad,C9=alien,") == {
        "C123": "municipality", "C456": "startup"}
    assert parse_channel_personas("") == {}
    assert normalise("<@U123ABC> 原課とは <@U9|bob>？", {"U123ABC"}) == "原課とは @bob？"


def test_normalise_slack_markup():
    assert normalise("<https://example.jp|福岡市> の原課とは？") == "福岡市 の原課とは？"
    assert normalise("<https://x.jp/a?b=1&amp;c=2>") == "https://x.jp/a?b=1&c=2"
    assert normalise("<mailto:a@b.jp|a@b.jp> へ") == "a@b.jp へ"
    assert normalise("<#C123|general> <#C456> <#C789|>") == "#general #C456 #C789"
    assert normalise("<!here> <!channel> <!everyone> <!here|here>") == "@here @channel @everyone @here"
    assert normalise("<!subteam^S1|@pfi-team> <!date^1392734382^{date}|2014-02-18>") == "@pfi-team 2014-02-18"
    assert normalise("<@UBOT> <@U123> <@W9|sato>", {"UBOT"}) == "@U123 @sato"
    assert normalise("A &amp; B &lt;原課&gt; &amp;lt;") == "A & B <原課> &lt;"
    assert normalise(None) == "" and normalise("  <@UBOT>  ", {"UBOT"}) == ""


def test_clip_never_cuts_an_entity():
    for cut in range(1, 12):
        text = "あ" * cut + "&amp;&lt;&gt;" + "い" * 20
        out = clip(text, cut + 4)
        assert len(out) <= cut + 4 and out.endswith("…")
        assert not re.search(r"&[a-z]*$", out[:-1]), out  # never "&am…"
    assert clip("abc", 5) == "abc"


def test_fallback_text_is_escaped():
    a = _answer(answer="<!channel> 原課とは<@U1>のこと & more")
    text = fallback_text(a)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "&amp; more" in text
    plain = text_only(a, show_question=True)
    assert "<!channel>" not in plain and "第2章 › (2) 落とし穴 · pp.20–21" in plain and "原課とは？" in plain


def test_dedupe_keys():
    assert dedupe_key({"type": "event_callback", "event_id": "Ev1"}) == "slack:event:Ev1"
    assert dedupe_key({"type": "block_actions", "trigger_id": "t1", "actions": [{}]}) == "slack:action:t1"
    assert dedupe_key({"command": "/kanmin", "trigger_id": "t2"}) == "slack:command:t2"
    assert dedupe_key({"type": "url_verification"}) is None


def test_not_configured_and_socket_mode_construction(tmp_path: Path):
    holder = ContainerHolder(lambda: None)
    off = SlackBot(Settings(db_path=tmp_path / "a.sqlite3"), holder, Metrics())
    assert off.app is None and not off.configured
    sock = SlackBot(Settings(db_path=tmp_path / "b.sqlite3", slack_mode="socket", slack_bot_token="xoxb-1",
                             slack_app_token="xapp-1", slack_api_base_url="http://127.0.0.1:9/api"),
                    holder, Metrics())
    assert sock.configured and sock.app is not None
    handler = sock.socket_handler()  # built, not connected (no network in tests)
    assert handler.app is sock.app
    assert sock.app.client.base_url == "http://127.0.0.1:9/api/"
    sock.close()
    http = SlackBot(Settings(db_path=tmp_path / "c.sqlite3", slack_signing_secret="s", slack_bot_token="xoxb-2"),
                    holder, Metrics())
    assert http.configured and http.app is not None
    # the Web API client retries 429s (Retry-After) and dropped connections itself
    kinds = {type(h).__name__: h.max_retry_count for h in http.app.client.retry_handlers}
    assert kinds["RateLimitErrorRetryHandler"] >= 2 and kinds["ConnectionErrorRetryHandler"] >= 1


def test_comment_button_and_modal_shape():
    blocks = comment_button("ja", 42, "thanks")
    assert blocks[0]["text"]["text"] == "thanks"
    assert blocks[-1]["elements"][0]["action_id"] == FEEDBACK_COMMENT and blocks[-1]["elements"][0]["value"] == "42"
    view = comment_modal("en", 42)
    assert view["type"] == "modal" and view["callback_id"] == FEEDBACK_COMMENT and view["private_metadata"] == "42"
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24  # Block Kit limits
    element = view["blocks"][0]["element"]
    assert element["type"] == "plain_text_input" and element["multiline"] and element["max_length"] <= 3000


def test_user_allowlist_and_channel_thread_rules(tmp_path: Path):
    holder = ContainerHolder(lambda: None)
    bot = SlackBot(Settings(db_path=tmp_path / "u.sqlite3", slack_signing_secret="s", slack_bot_token="xoxb-2",
                            slack_allowed_users="U1, U2"), holder, Metrics())
    assert bot.allowed_users == frozenset({"U1", "U2"})
    ev = {"type": "message", "channel_type": "im", "channel": "D1", "ts": "1.0", "text": "原課とは？"}
    assert bot._skip_reason({**ev, "user": "U1"}) is None
    assert bot._skip_reason({**ev, "user": "U3"}) == "ignored_user"
    assert bot._skip_reason({**ev, "channel_type": "channel", "user": "U1"}) == "ignored_not_addressed"
    reply = {**ev, "channel_type": "channel", "channel": "C1", "user": "U1", "thread_ts": "0.5"}
    assert bot._skip_reason(reply) == "ignored_not_addressed"  # kanmin never answered in that thread
    body = {"authorizations": [{"user_id": "UBOT", "is_bot": True}]}
    assert bot._skip_reason({**reply, "text": "<@UBOT> それは？"}, body) == "ignored_mention"
    everyone = SlackBot(Settings(db_path=tmp_path / "e.sqlite3", slack_signing_secret="s", slack_bot_token="x"),
                        holder, Metrics())
    assert everyone.allowed_users == frozenset() and everyone._skip_reason({**ev, "user": "U3"}) is None
