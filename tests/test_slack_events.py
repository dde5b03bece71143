"""Slack bot end to end: a real `kanmin serve` with Slack configured, pointed at a fake Slack
Web API (a real HTTP server on 127.0.0.1 in a thread) that records what the bot posts."""
from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import start_server, stop_server
from fake_slack import FakeSlack  # noqa: F401 (other suites import it from here)

SECRET = "test-signing-" + uuid.uuid4().hex
TOKEN = "xoxb-test-" + uuid.uuid4().hex
TIMEOUT = httpx.Timeout(30.0)
CHANNEL = "C0MUNI"


@pytest.fixture(scope="module")
def slack_server(tmp_path_factory, fake_slack):
    srv = start_server(tmp_path_factory.mktemp("slack"), {
        "KANMIN_SLACK_SIGNING_SECRET": SECRET,
        "KANMIN_SLACK_BOT_TOKEN": TOKEN,
        "KANMIN_SLACK_API_BASE_URL": fake_slack.url,
        "KANMIN_SLACK_CHANNEL_PERSONAS": f"{CHANNEL}=municipality,CSTART=startup",
        "KANMIN_RATE_LIMIT": "100000/minute",
    })
    yield srv
    stop_server(srv)


def sign(body: bytes, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    base = b"v0:" + str(ts).encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig}


def post_json(server, payload: dict, extra: dict | None = None, **sign_kw) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"content-type": "application/json", **sign(body, **sign_kw), **(extra or {})}
    return httpx.post(server.url + "/slack/events", content=body, headers=headers, timeout=TIMEOUT)


def post_form(server, fields: dict, extra: dict | None = None) -> httpx.Response:
    body = urllib.parse.urlencode(fields).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", **sign(body), **(extra or {})}
    return httpx.post(server.url + "/slack/events", content=body, headers=headers, timeout=TIMEOUT)


def event_payload(event: dict, event_id: str | None = None) -> dict:
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10], "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}], "event": event}


def mention(text: str, channel: str = CHANNEL, ts: str | None = None, thread_ts: str | None = None) -> dict:
    ev = {"type": "app_mention", "user": "U1", "text": f"<@UBOT> {text}", "channel": channel,
          "ts": ts or f"{time.time():.6f}", "event_ts": f"{time.time():.6f}"}
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return ev


def db(server) -> sqlite3.Connection:
    return sqlite3.connect(Path(server.log_path).parent / "kanmin.sqlite3", timeout=10)


def all_text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# -- signature / url_verification ------------------------------------------------------------
def test_url_verification(slack_server):
    r = post_json(slack_server, {"type": "url_verification", "challenge": "ch-123", "token": "x"})
    assert r.status_code == 200
    assert r.json()["challenge"] == "ch-123"


@pytest.mark.parametrize("how", ["bad_signature", "wrong_secret", "missing_headers", "old_timestamp",
                                 "future_timestamp", "tampered_body"])
def test_bad_signatures_rejected(slack_server, fake_slack, how):
    payload = event_payload(mention("原課とは？"))
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", **sign(body)}
    if how == "bad_signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    elif how == "wrong_secret":
        headers.update(sign(body, secret="not-the-secret"))
    elif how == "missing_headers":
        headers = {"content-type": "application/json"}
    elif how == "old_timestamp":
        headers.update(sign(body, ts=int(time.time()) - 6 * 60))
    elif how == "future_timestamp":
        headers.update(sign(body, ts=int(time.time()) + 6 * 60))
    elif how == "tampered_body":
        body = body.replace(b"\\u539f", b"\\u5143")
    before = len(fake_slack.of("chat.postMessage"))
    r = httpx.post(slack_server.url + "/slack/events", content=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_signature"
    time.sleep(0.3)
    assert len(fake_slack.of("chat.postMessage")) == before


# -- app_mention ----------------------------------------------------------------------------------
def test_app_mention_answered_in_thread(slack_server, fake_slack):
    ev = mention("原課とは何ですか？")
    t0 = time.monotonic()
    r = post_json(slack_server, event_payload(ev))
    assert r.status_code == 200 and time.monotonic() - t0 < 3.0  # acked within Slack's 3 s
    posts = fake_slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
    time.sleep(1.0)
    posts = fake_slack.of("chat.postMessage", thread_ts=ev["ts"])
    assert len(posts) == 1
    msg = posts[0]
    assert msg["channel"] == CHANNEL and msg["text"]
    blocks = msg["blocks"] if isinstance(msg["blocks"], list) else json.loads(msg["blocks"])
    kinds = [b["type"] for b in blocks]
    assert kinds[0] == "section" and "context" in kinds and kinds[-1] == "actions"
    contexts = [b for b in blocks if b["type"] == "context"]
    assert any("p." in e["text"] for b in contexts for e in b["elements"])
    assert "原課" in all_text(blocks)
    buttons = {e["action_id"]: e["value"] for e in blocks[-1]["elements"]}
    assert set(buttons) == {"kanmin_feedback_up", "kanmin_feedback_down"}
    answer_id = buttons["kanmin_feedback_up"]
    conn = db(slack_server)
    try:
        row = conn.execute("SELECT session_id, source, persona, json FROM answers WHERE id = ?", (answer_id,)).fetchone()
    finally:
        conn.close()
    assert row is not None
    assert row[0] == f"slack:{CHANNEL}:{ev['ts']}" and row[1] == "slack"
    assert row[2] == "municipality"  # persona from KANMIN_SLACK_CHANNEL_PERSONAS
    # auth uses the bot token against the fake API, never anything else
    assert all(auth == f"Bearer {TOKEN}" for m, _, auth in fake_slack.calls)


def test_follow_up_in_thread_shares_session(slack_server, fake_slack):
    root = mention("随意契約とは何ですか？", channel="CSTART")
    post_json(slack_server, event_payload(root))
    fake_slack.wait_for("chat.postMessage", thread_ts=root["ts"])
    follow = mention("それはいつ使えますか？", channel="CSTART", thread_ts=root["ts"])
    post_json(slack_server, event_payload(follow))
    fake_slack.wait_for("chat.postMessage", count=2, thread_ts=root["ts"])
    conn = db(slack_server)
    try:
        rows = conn.execute("SELECT question, persona FROM answers WHERE session_id = ? ORDER BY seq",
                            (f"slack:CSTART:{root['ts']}",)).fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == ["随意契約とは何ですか？", "それはいつ使えますか？"]
    assert {r[1] for r in rows} == {"startup"}


def test_duplicates_and_retries_answered_once(slack_server, fake_slack):
    ev = mention("実証実験の予算はどう確保しますか？")
    payload = event_payload(ev, event_id="EvDUP" + uuid.uuid4().hex[:8])
    results: list[int] = []

    def deliver(extra):
        results.append(post_json(slack_server, payload, extra).status_code)

    threads = [threading.Thread(target=deliver, args=(x,)) for x in
               ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}, {}, {},
                {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"})]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * 5
    fake_slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
    time.sleep(2.0)
    assert len(fake_slack.of("chat.postMessage", thread_ts=ev["ts"])) == 1


def test_empty_mention_gets_help(slack_server, fake_slack):
    ev = mention("")
    post_json(slack_server, event_payload(ev))
    posts = fake_slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
    assert len(posts) == 1 and "blocks" not in posts[0] and "@kanmin" in posts[0]["text"]


def test_direct_message(slack_server, fake_slack):
    ts = f"{time.time():.6f}"
    ev = {"type": "message", "channel_type": "im", "channel": "D0DM", "user": "U2", "text": "原課とは？", "ts": ts}
    assert post_json(slack_server, event_payload(ev)).status_code == 200
    posts = fake_slack.wait_for("chat.postMessage", channel="D0DM", thread_ts=ts)
    assert len(posts) == 1 and "p." in all_text(posts[0]["blocks"])
    # the bot's own message and edits are not answered
    for extra in ({"bot_id": "BBOT", "user": "UBOT"}, {"subtype": "message_changed"}):
        ts2 = f"{time.time():.6f}"
        post_json(slack_server, event_payload({**ev, "ts": ts2, **extra}))
        time.sleep(0.5)
        assert fake_slack.of("chat.postMessage", channel="D0DM", thread_ts=ts2) == []


def test_unhandled_event_acked(slack_server):
    r = post_json(slack_server, event_payload({"type": "reaction_added", "user": "U1", "reaction": "eyes",
                                               "item": {"type": "message", "channel": CHANNEL, "ts": "1.0"}}))
    assert r.status_code == 200


# -- buttons -------------------------------------------------------------------------------------
def _answer_id_from_new_mention(server, fake) -> tuple[str, str]:
    ev = mention("原課とは？")
    post_json(server, event_payload(ev))
    msg = fake.wait_for("chat.postMessage", thread_ts=ev["ts"])[0]
    actions = msg["blocks"][-1]["elements"]
    return next(a["value"] for a in actions if a["action_id"] == "kanmin_feedback_up"), ev["ts"]


def block_action(action_id: str, value: str, thread_ts: str, trigger: str | None = None) -> dict:
    return {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U9", "team_id": "T1"},
            "api_app_id": "A1", "token": "legacy", "trigger_id": trigger or uuid.uuid4().hex,
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL,
                          "is_ephemeral": False, "thread_ts": thread_ts},
            "channel": {"id": CHANNEL, "name": "general"},
            "message": {"type": "message", "ts": "1700000000.000001", "thread_ts": thread_ts, "text": "x"},
            "response_url": fake_response_url,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "kanmin_actions", "value": value,
                         "action_ts": f"{time.time():.6f}"}]}


fake_response_url = "http://127.0.0.1:9/never-called"


def test_feedback_button_stores_one_row(slack_server, fake_slack):
    answer_id, thread_ts = _answer_id_from_new_mention(slack_server, fake_slack)
    trigger = "trig-" + uuid.uuid4().hex
    payload = block_action("kanmin_feedback_down", answer_id, thread_ts, trigger)
    for extra in ({}, {}, {"X-Slack-Retry-Num": "1"}):  # the same click delivered three times
        r = post_form(slack_server, {"payload": json.dumps(payload)}, extra)
        assert r.status_code == 200
    eph = fake_slack.wait_for("chat.postEphemeral", user="U9", thread_ts=thread_ts)
    time.sleep(1.0)
    eph = fake_slack.of("chat.postEphemeral", user="U9", thread_ts=thread_ts)
    assert len(eph) == 1 and "👎" in eph[0]["text"]
    conn = db(slack_server)
    try:
        rows = conn.execute("SELECT answer_id, rating, source FROM feedback WHERE answer_id = ?",
                            (answer_id,)).fetchall()
    finally:
        conn.close()
    assert rows == [(answer_id, "down", "slack")]
    # a second, distinct click is a second row
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_up", answer_id, thread_ts))})
    fake_slack.wait_for("chat.postEphemeral", count=2, user="U9", thread_ts=thread_ts)
    conn = db(slack_server)
    try:
        assert conn.execute("SELECT COUNT(*) FROM feedback WHERE answer_id = ?", (answer_id,)).fetchone()[0] == 2
    finally:
        conn.close()


def test_feedback_button_unknown_answer(slack_server, fake_slack):
    thread_ts = f"{time.time():.6f}"
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_up", "nope123", thread_ts))})
    eph = fake_slack.wait_for("chat.postEphemeral", thread_ts=thread_ts)
    assert len(eph) == 1
    conn = db(slack_server)
    try:
        assert conn.execute("SELECT COUNT(*) FROM feedback WHERE answer_id = 'nope123'").fetchone()[0] == 0
    finally:
        conn.close()


# -- slash command ----------------------------------------------------------------------------------
def test_slash_command_ephemeral_with_share(slack_server, fake_slack):
    trigger = "trig-" + uuid.uuid4().hex
    fields = {"token": "legacy", "team_id": "T1", "channel_id": CHANNEL, "channel_name": "general",
              "user_id": "U77", "user_name": "tanaka", "command": "/kanmin", "text": "原課とは何ですか？",
              "response_url": fake_response_url, "trigger_id": trigger, "api_app_id": "A1"}
    t0 = time.monotonic()
    r = post_form(slack_server, fields)
    assert r.status_code == 200 and time.monotonic() - t0 < 3.0
    post_form(slack_server, fields)  # a duplicate delivery of the same command
    eph = fake_slack.wait_for("chat.postEphemeral", user="U77")
    time.sleep(1.0)
    eph = fake_slack.of("chat.postEphemeral", user="U77")
    assert len(eph) == 1 and eph[0]["channel"] == CHANNEL
    blocks = eph[0]["blocks"]
    assert "p." in all_text(blocks)
    actions = {e["action_id"]: e["value"] for e in blocks[-1]["elements"]}
    assert {"kanmin_share", "kanmin_feedback_up", "kanmin_feedback_down"} <= set(actions)
    # "share in channel" posts the answer once, visibly
    before = len(fake_slack.of("chat.postMessage", channel=CHANNEL))
    share = block_action("kanmin_share", actions["kanmin_share"], "")
    share["container"]["is_ephemeral"] = True
    post_form(slack_server, {"payload": json.dumps(share)})
    posted = fake_slack.wait_for("chat.postMessage", count=before + 1, channel=CHANNEL)
    assert "U9" in all_text(posted[-1]["blocks"]) and "原課" in all_text(posted[-1]["blocks"])


def test_slash_command_empty_text_gets_help(slack_server, fake_slack):
    fields = {"command": "/kanmin", "text": "  ", "channel_id": CHANNEL, "user_id": "U78",
              "trigger_id": uuid.uuid4().hex, "response_url": fake_response_url, "team_id": "T1"}
    r = post_form(slack_server, fields)
    assert r.status_code == 200 and "@kanmin" in r.text
    time.sleep(0.5)
    assert fake_slack.of("chat.postEphemeral", user="U78") == []


# -- hygiene ---------------------------------------------------------------------------------------
def test_server_healthy_and_secrets_never_logged(slack_server):
    assert slack_server.alive()
    assert httpx.get(slack_server.url + "/healthz", timeout=TIMEOUT).status_code == 200
    metrics = httpx.get(slack_server.url + "/metrics", timeout=TIMEOUT).text
    assert 'kanmin_answers_total{mode="extractive",route="glossary",source="slack"}' in metrics
    assert 'kanmin_feedback_total{rating="down",source="slack"} 1.0' in metrics
    log = slack_server.log()
    assert TOKEN not in log and SECRET not in log
    assert TOKEN[5:] not in log and SECRET[8:] not in log
    assert "Traceback" not in log


def test_not_configured_answers_503(live_server):
    body = json.dumps({"type": "url_verification", "challenge": "x"}).encode()
    r = httpx.post(live_server.url + "/slack/events", content=body,
                   headers={"content-type": "application/json", **sign(body)}, timeout=TIMEOUT)
    assert r.status_code == 503
    assert r.json() == {"error": {"code": "slack_not_configured", "message": r.json()["error"]["message"]}}
    assert r.headers.get("x-request-id")
    r = httpx.get(live_server.url + "/slack/events", timeout=TIMEOUT)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
