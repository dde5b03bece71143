"""Slack bot end to end: a real `kanmin serve` with Slack configured, pointed at a fake Slack
Web API (a real HTTP server on 127.0.0.1 in a thread) that records what the bot posts.

Nothing here sleeps and then checks that nothing happened. The server's own accounting says
what it did with each delivery, synchronously, before it answers the HTTP request: the
``kanmin_slack_events_total{kind,outcome}`` counters on /metrics (bad_signature, accepted,
duplicate, retry_skipped, ignored) and the ``seen_events`` rows of its SQLite file. A delivery
that was never accepted can never be answered, and one accepted delivery is one listener call,
so "answered once" is: one accepted + the one reply. Listeners that drop an accepted event (an
edit, an empty slash command) leave no counter, so those tests wait for the reply to a later
sentinel request through the same listener pool and then check the server's store.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
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
TIMEOUT = httpx.Timeout(120.0)
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
          "ts": ts or new_ts(), "event_ts": new_ts()}
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return ev


def new_ts() -> str:
    """A unique Slack message ts (two calls in the same microsecond must still differ)."""
    return f"{time.time():.0f}.{uuid.uuid4().int % 10**6:06d}"


def db(server) -> sqlite3.Connection:
    return sqlite3.connect(Path(server.log_path).parent / "kanmin.sqlite3", timeout=30)


def db_rows(server, sql: str, params: tuple = ()) -> list[tuple]:
    conn = db(server)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def seen(server, event_id: str) -> bool:
    """The server recorded this event as received (its de-duplication key), i.e. it was accepted."""
    return bool(db_rows(server, "SELECT 1 FROM seen_events WHERE key = ?", (f"slack:event:{event_id}",)))


def session_answers(server, session_id: str) -> list[tuple]:
    return db_rows(server, "SELECT question, persona, source FROM answers WHERE session_id = ? ORDER BY seq",
                   (session_id,))


_SAMPLE = re.compile(r'^(kanmin_\w+)(?:\{(.*)\})? (\S+)$')


def metrics(server) -> dict[tuple[str, frozenset], float]:
    """/metrics as {(name, frozenset(labels)): value} (kanmin_* samples only)."""
    text = httpx.get(server.url + "/metrics", timeout=TIMEOUT).text
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(sample: dict, name: str, **labels) -> float:
    return sample.get((name, frozenset(labels.items())), 0.0)


def slack_changes(before: dict, after: dict) -> dict[tuple[str, str], float]:
    """What happened to Slack deliveries in between: {(kind, outcome): count}."""
    out = {}
    for (name, labels), v in after.items():
        if name == "kanmin_slack_events_total":
            d = v - before.get((name, labels), 0.0)
            if d:
                lab = dict(labels)
                out[(lab["kind"], lab["outcome"])] = d
    return out


def wait_until(check, what: str, timeout: float = 120.0):
    """Poll ``check()`` until it returns something truthy (generous deadline for a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


def all_text(blocks) -> str:
    return json.dumps(blocks if isinstance(blocks, list) else json.loads(blocks), ensure_ascii=False)


# -- signature / url_verification ------------------------------------------------------------
def test_url_verification(slack_server):
    r = post_json(slack_server, {"type": "url_verification", "challenge": "ch-123", "token": "x"})
    assert r.status_code == 200
    assert r.json()["challenge"] == "ch-123"


@pytest.mark.parametrize("how", ["bad_signature", "wrong_secret", "missing_headers", "old_timestamp",
                                 "future_timestamp", "tampered_body"])
def test_bad_signatures_rejected(slack_server, fake_slack, how):
    ev = mention("原課とは？")
    payload = event_payload(ev)
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
        assert body != json.dumps(payload).encode()
    before = metrics(slack_server)
    r = httpx.post(slack_server.url + "/slack/events", content=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_signature"
    # refused before dispatch: counted as a bad signature and nothing else, never recorded as
    # received; a delivery that was not accepted can never be answered, now or later
    assert slack_changes(before, metrics(slack_server)) == {("http", "bad_signature"): 1}
    assert not seen(slack_server, payload["event_id"])
    assert fake_slack.of("chat.postMessage", thread_ts=ev["ts"]) == []


# -- app_mention ----------------------------------------------------------------------------------
def test_app_mention_answered_in_thread(slack_server, fake_slack):
    ev = mention("原課とは何ですか？")
    payload = event_payload(ev)
    before = metrics(slack_server)
    with fake_slack.hold("chat.postMessage"):
        r = post_json(slack_server, payload)
        assert r.status_code == 200
        # acked before it is answered: Slack's reply to the answer is held, so an ack that waited
        # for the answer could not have come back (the bot gives up after its 15 s client timeout)
        assert all(o == "held" for o in fake_slack.outcome_of("chat.postMessage", thread_ts=ev["ts"]))
        assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1}
        assert seen(slack_server, payload["event_id"])
    wait_until(lambda: fake_slack.outcome_of("chat.postMessage", thread_ts=ev["ts"]) == ["answered"],
               "the held reply delivered")
    # one accepted delivery is one listener call, which posts once: no second reply can follow
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
    row = db_rows(slack_server, "SELECT session_id, source, persona FROM answers WHERE id = ?", (answer_id,))
    assert row == [(f"slack:{CHANNEL}:{ev['ts']}", "slack", "municipality")]  # persona from the channel map
    assert session_answers(slack_server, f"slack:{CHANNEL}:{ev['ts']}") == [("原課とは何ですか？", "municipality", "slack")]
    # auth uses the bot token against the fake API, never anything else
    assert all(auth == f"Bearer {TOKEN}" for m, _, auth in fake_slack.calls)


def test_follow_up_in_thread_shares_session(slack_server, fake_slack):
    root = mention("随意契約とは何ですか？", channel="CSTART")
    post_json(slack_server, event_payload(root))
    fake_slack.wait_for("chat.postMessage", thread_ts=root["ts"])
    follow = mention("それはいつ使えますか？", channel="CSTART", thread_ts=root["ts"])
    post_json(slack_server, event_payload(follow))
    fake_slack.wait_for("chat.postMessage", count=2, thread_ts=root["ts"])
    rows = session_answers(slack_server, f"slack:CSTART:{root['ts']}")
    assert [r[0] for r in rows] == ["随意契約とは何ですか？", "それはいつ使えますか？"]
    assert {r[1] for r in rows} == {"startup"}


def test_duplicates_and_retries_answered_once(slack_server, fake_slack):
    ev = mention("実証実験の予算はどう確保しますか？")
    payload = event_payload(ev, event_id="EvDUP" + uuid.uuid4().hex[:8])
    results: list[int] = []

    def deliver(extra):
        results.append(post_json(slack_server, payload, extra).status_code)

    before = metrics(slack_server)
    threads = [threading.Thread(target=deliver, args=(x,)) for x in
               ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}, {}, {},
                {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"})]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [200] * 5
    # every delivery is accounted for before its 200: one accepted, two duplicates, two retries
    assert slack_changes(before, metrics(slack_server)) == {
        ("event_callback", "accepted"): 1, ("event_callback", "duplicate"): 2,
        ("event_callback", "retry_skipped"): 2}
    posts = fake_slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
    assert len(posts) == 1
    assert len(session_answers(slack_server, f"slack:{CHANNEL}:{ev['ts']}")) == 1


def test_empty_mention_gets_help(slack_server, fake_slack):
    ev = mention("")
    before = metrics(slack_server)
    post_json(slack_server, event_payload(ev))
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1}
    posts = fake_slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
    assert len(posts) == 1 and "blocks" not in posts[0] and "@kanmin" in posts[0]["text"]
    assert session_answers(slack_server, f"slack:{CHANNEL}:{ev['ts']}") == []  # help, not an answer


def dm(text: str, **extra) -> dict:
    return {"type": "message", "channel_type": "im", "channel": "D0DM", "user": "U2", "text": text,
            "ts": new_ts(), **extra}


def test_direct_message(slack_server, fake_slack):
    ev = dm("原課とは？")
    assert post_json(slack_server, event_payload(ev)).status_code == 200
    posts = fake_slack.wait_for("chat.postMessage", channel="D0DM", thread_ts=ev["ts"])
    assert len(posts) == 1 and "p." in all_text(posts[0]["blocks"])
    assert [r[2] for r in session_answers(slack_server, f"slack:D0DM:{ev['ts']}")] == ["slack"]


@pytest.mark.parametrize("extra,outcome", [
    # the bot's own message: bolt drops self events before any middleware or listener runs
    ({"bot_id": "BBOT", "user": "UBOT"}, {}),
    # an edit reaches the listener (accepted) and is dropped there
    ({"subtype": "message_changed"}, {("event_callback", "accepted"): 1}),
], ids=["own-message", "edit"])
def test_direct_message_not_answered(slack_server, fake_slack, extra, outcome):
    ignored = dm("原課とは？", **extra)
    payload = event_payload(ignored)
    before = metrics(slack_server)
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == outcome
    assert seen(slack_server, payload["event_id"]) == bool(outcome)
    # a real DM after it, through the same listener pool: once it is answered, a dropped event
    # (submitted first, with nothing to do) has long finished
    sentinel = dm("随意契約とは？")
    post_json(slack_server, event_payload(sentinel))
    fake_slack.wait_for("chat.postMessage", channel="D0DM", thread_ts=sentinel["ts"])
    assert fake_slack.of("chat.postMessage", thread_ts=ignored["ts"]) == []
    assert session_answers(slack_server, f"slack:D0DM:{ignored['ts']}") == []  # never asked


def test_unhandled_event_acked(slack_server, fake_slack):
    before = metrics(slack_server)
    r = post_json(slack_server, event_payload({"type": "reaction_added", "user": "U1", "reaction": "eyes",
                                               "item": {"type": "message", "channel": CHANNEL, "ts": "1.0"}}))
    assert r.status_code == 200
    # verified, then nothing listens for it: acked (so Slack does not retry) and counted as ignored
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1,
                                                            ("http", "ignored"): 1}


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


def feedback_rows(server, answer_id: str) -> list[tuple]:
    return db_rows(server, "SELECT answer_id, rating, source FROM feedback WHERE answer_id = ? ORDER BY id",
                   (answer_id,))


def test_feedback_button_stores_one_row(slack_server, fake_slack):
    answer_id, thread_ts = _answer_id_from_new_mention(slack_server, fake_slack)
    trigger = "trig-" + uuid.uuid4().hex
    payload = block_action("kanmin_feedback_down", answer_id, thread_ts, trigger)
    before = metrics(slack_server)
    for extra in ({}, {}, {"X-Slack-Retry-Num": "1"}):  # the same click delivered three times
        r = post_form(slack_server, {"payload": json.dumps(payload)}, extra)
        assert r.status_code == 200
    after = metrics(slack_server)
    assert slack_changes(before, after) == {("block_actions", "accepted"): 1, ("block_actions", "duplicate"): 1,
                                            ("block_actions", "retry_skipped"): 1}
    eph = fake_slack.wait_for("chat.postEphemeral", user="U9", thread_ts=thread_ts)
    assert len(eph) == 1 and "👎" in eph[0]["text"]
    assert feedback_rows(slack_server, answer_id) == [(answer_id, "down", "slack")]
    # a second, distinct click is a second row
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_up", answer_id, thread_ts))})
    fake_slack.wait_for("chat.postEphemeral", count=2, user="U9", thread_ts=thread_ts)
    assert feedback_rows(slack_server, answer_id) == [(answer_id, "down", "slack"), (answer_id, "up", "slack")]
    m = metrics(slack_server)
    for rating in ("up", "down"):
        assert value(m, "kanmin_feedback_total", rating=rating, source="slack") == value(
            before, "kanmin_feedback_total", rating=rating, source="slack") + 1


def test_feedback_button_unknown_answer(slack_server, fake_slack):
    thread_ts = new_ts()
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_up", "nope123", thread_ts))})
    eph = fake_slack.wait_for("chat.postEphemeral", thread_ts=thread_ts)
    assert len(eph) == 1 and "👍" not in eph[0]["text"]
    assert feedback_rows(slack_server, "nope123") == []


# -- slash command ----------------------------------------------------------------------------------
def command(text: str, user: str) -> dict:
    return {"token": "legacy", "team_id": "T1", "channel_id": CHANNEL, "channel_name": "general",
            "user_id": user, "user_name": "tanaka", "command": "/kanmin", "text": text,
            "response_url": fake_response_url, "trigger_id": "trig-" + uuid.uuid4().hex, "api_app_id": "A1"}


def test_slash_command_ephemeral_with_share(slack_server, fake_slack):
    user = "U77-" + uuid.uuid4().hex[:6]
    fields = command("原課とは何ですか？", user)
    before = metrics(slack_server)
    with fake_slack.hold("chat.postEphemeral"):
        r = post_form(slack_server, fields)
        assert r.status_code == 200
        # acked while the answer's post is still held (see test_app_mention_answered_in_thread)
        assert all(o == "held" for o in fake_slack.outcome_of("chat.postEphemeral", user=user))
        assert post_form(slack_server, fields).status_code == 200  # a duplicate delivery of the same command
        assert slack_changes(before, metrics(slack_server)) == {("command", "accepted"): 1,
                                                                ("command", "duplicate"): 1}
    eph = fake_slack.wait_for("chat.postEphemeral", user=user)
    assert len(eph) == 1 and eph[0]["channel"] == CHANNEL
    blocks = eph[0]["blocks"]
    assert "p." in all_text(blocks)
    blocks = blocks if isinstance(blocks, list) else json.loads(blocks)
    actions = {e["action_id"]: e["value"] for e in blocks[-1]["elements"]}
    assert {"kanmin_share", "kanmin_feedback_up", "kanmin_feedback_down"} <= set(actions)
    # "share in channel" posts the answer once, visibly (a channel post: no thread)
    share = block_action("kanmin_share", actions["kanmin_share"], "")
    share["container"]["is_ephemeral"] = True
    shared_before = len(fake_slack.of("chat.postMessage", channel=CHANNEL, thread_ts=None))
    before = metrics(slack_server)
    post_form(slack_server, {"payload": json.dumps(share)})
    assert slack_changes(before, metrics(slack_server)) == {("block_actions", "accepted"): 1}
    posted = fake_slack.wait_for("chat.postMessage", count=shared_before + 1, channel=CHANNEL, thread_ts=None)
    assert len(posted) == shared_before + 1
    assert "U9" in all_text(posted[-1]["blocks"]) and "原課" in all_text(posted[-1]["blocks"])


def test_slash_command_empty_text_gets_help(slack_server, fake_slack):
    user = "U78-" + uuid.uuid4().hex[:6]
    before = metrics(slack_server)
    r = post_form(slack_server, command("  ", user))
    assert r.status_code == 200 and "@kanmin" in r.text  # the help is the ack itself
    assert slack_changes(before, metrics(slack_server)) == {("command", "accepted"): 1}
    # a real question from the same user after it: once that one is answered, the empty one (first
    # in the listener pool, with nothing to do) has long finished — and posted nothing
    post_form(slack_server, command("原課とは？", user))
    answer = wait_until(lambda: [p for p in fake_slack.of("chat.postEphemeral", user=user) if "blocks" in p],
                        "the answer to the second command")
    assert "p." in all_text(answer[0]["blocks"])
    assert fake_slack.of("chat.postEphemeral", user=user) == answer  # and nothing for the empty one


# -- hygiene ---------------------------------------------------------------------------------------
def test_server_healthy_and_secrets_never_logged(slack_server, fake_slack):
    # its own glossary answer and 👎, so it needs no other test to have run
    answer_id, thread_ts = _answer_id_from_new_mention(slack_server, fake_slack)
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_down", answer_id, thread_ts))})
    fake_slack.wait_for("chat.postEphemeral", user="U9", thread_ts=thread_ts)
    assert slack_server.alive()
    assert httpx.get(slack_server.url + "/healthz", timeout=TIMEOUT).status_code == 200
    m = metrics(slack_server)
    assert value(m, "kanmin_answers_total", mode="extractive", route="glossary", source="slack") >= 1
    # the counters agree with the server's store (every reply above was waited for)
    down = db_rows(slack_server, "SELECT COUNT(*) FROM feedback WHERE rating = 'down' AND source = 'slack'")[0][0]
    assert down >= 1 and value(m, "kanmin_feedback_total", rating="down", source="slack") == down
    answered = sum(v for (name, labels), v in m.items()
                   if name == "kanmin_answers_total" and ("source", "slack") in labels)
    assert answered == db_rows(slack_server, "SELECT COUNT(*) FROM answers WHERE source = 'slack'")[0][0]
    log = slack_server.log()
    assert TOKEN not in log and SECRET not in log
    assert TOKEN[5:] not in log and SECRET[8:] not in log
    assert "Traceback" not in log


def test_not_configured_answers_503(live_server):
    body = json.dumps({"type": "url_verification", "challenge": "x"}).encode()
    before = metrics(live_server)
    r = httpx.post(live_server.url + "/slack/events", content=body,
                   headers={"content-type": "application/json", **sign(body)}, timeout=TIMEOUT)
    assert r.status_code == 503
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "slack_not_configured"
    # the message tells the operator what to set
    assert "KANMIN_SLACK_SIGNING_SECRET" in body["error"]["message"]
    assert "KANMIN_SLACK_BOT_TOKEN" in body["error"]["message"]
    assert r.headers.get("x-request-id")
    assert slack_changes(before, metrics(live_server)) == {("http", "not_configured"): 1}
    r = httpx.get(live_server.url + "/slack/events", timeout=TIMEOUT)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
