"""Slack bot end to end: a real `kanmin serve` with Slack configured, pointed at a fake Slack
Web API (a real HTTP server on 127.0.0.1 in a thread) that records what the bot posts.

Nothing here sleeps and then checks that nothing happened. The server's own accounting says
what it did with each delivery, synchronously, before it answers the HTTP request: the
``kanmin_slack_events_total{kind,outcome}`` counters on /metrics (bad_signature, accepted,
duplicate, ignored_edit, ignored_bot, ignored_subtype, ignored_channel, user_capped,
text_fallback, ignored, ssl_check), what the fake Web API recorded (and how it answered each
call: rate_limited / error:<code> / dropped / answered) and
the ``seen_events`` rows of its SQLite file. A delivery that was never accepted can never be
answered, and one accepted delivery is one listener call, so "answered once" is: one accepted +
the one reply. Listeners that drop an accepted event (an empty slash command) leave no counter,
so those tests wait for the reply to a later sentinel request through the same listener pool
and then check the server's store.

Payloads come from tests/fixtures/slack/ (shapes from Slack's Events API docs and bolt-python's
test suite; see the README there), given fresh ids and signed as Slack signs them.
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

from conftest import API_ONLY, start_server, stop_server
from fake_slack import DROP, RATE_LIMITED, FakeSlack  # noqa: F401 (other suites import FakeSlack from here)

SECRET = "test-signing-" + uuid.uuid4().hex
TOKEN = "xoxb-test-" + uuid.uuid4().hex
TIMEOUT = httpx.Timeout(120.0)
CHANNEL = "C0MUNI"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "slack"
RETRY_REASONS = ("connection_failed", "http_error", "http_timeout")


def _slack_server(tmp_path_factory, fake_slack, name: str, settings: dict[str, str]):
    """A real server wired to the fake Slack Web API, with the given KANMIN_SLACK_* settings."""
    return start_server(tmp_path_factory.mktemp(name), {
        **API_ONLY, "KANMIN_SLACK_SIGNING_SECRET": SECRET,
        "KANMIN_SLACK_BOT_TOKEN": TOKEN,
        "KANMIN_SLACK_API_BASE_URL": fake_slack.url,
        "KANMIN_RATE_LIMIT": "100000/minute",
        **settings,
    })


@pytest.fixture(scope="module")
def slack_server(tmp_path_factory, fake_slack):
    srv = _slack_server(tmp_path_factory, fake_slack, "slack",
                        {"KANMIN_SLACK_CHANNEL_PERSONAS": f"{CHANNEL}=municipality,CSTART=startup"})
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


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def from_fixture(name: str, text: str | None = None, **event_fields) -> tuple[dict, dict]:
    """(payload, event) of a fixture with a fresh event_id / ts (and thread_ts), optional text and fields."""
    payload = fixture(name)
    payload["event_id"] = "Ev" + uuid.uuid4().hex[:10].upper()
    payload["event_time"] = int(time.time())
    ev = payload["event"]
    ev["ts"] = ev["event_ts"] = new_ts()
    if "thread_ts" in ev:
        ev["thread_ts"] = new_ts()
    if text is not None:
        if ev.get("subtype") == "message_changed":
            ev["message"]["text"] = text
        else:
            ev["text"] = text
    ev.update(event_fields)
    return payload, ev


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
    # auth uses the bot token against the fake API, never anything else (a response_url, which
    # test_ephemeral_not_in_channel_uses_response_url points at the fake as respond-…, takes none)
    with fake_slack.lock:
        assert all(auth == f"Bearer {TOKEN}" for m, _, auth in fake_slack.calls if not m.startswith("respond-"))
        assert all(auth == "" for m, _, auth in fake_slack.calls if m.startswith("respond-"))


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
    # every delivery, retried or not, races for the one event_id claim: one wins, four are duplicates
    assert slack_changes(before, metrics(slack_server)) == {
        ("event_callback", "accepted"): 1, ("event_callback", "duplicate"): 4}
    posts = fake_slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
    assert len(posts) == 1
    assert len(session_answers(slack_server, f"slack:{CHANNEL}:{ev['ts']}")) == 1


@pytest.mark.parametrize("num", ["1", "2"])
@pytest.mark.parametrize("reason", RETRY_REASONS)
def test_retry_of_a_lost_delivery_is_answered_once(slack_server, fake_slack, num, reason):
    """The first delivery never reached us (Slack's connection_failed / http_error / http_timeout):
    the retry is the only copy, so it must be answered — and once, however often it comes."""
    payload, ev = from_fixture("app_mention.json", text="<@UBOT> 随意契約とは？")
    retry = {"X-Slack-Retry-Num": num, "X-Slack-Retry-Reason": reason}
    before = metrics(slack_server)
    assert post_json(slack_server, payload, retry).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1}
    assert seen(slack_server, payload["event_id"])
    # the next retry, and the first delivery arriving late after all: duplicates of the claimed id
    assert post_json(slack_server, payload, {"X-Slack-Retry-Num": str(int(num) + 1),
                                             "X-Slack-Retry-Reason": reason}).status_code == 200
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1,
                                                            ("event_callback", "duplicate"): 2}
    posts = fake_slack.wait_for("chat.postMessage", channel=ev["channel"], thread_ts=ev["ts"])
    assert len(posts) == 1 and "p." in all_text(posts[0]["blocks"])
    assert [r[0] for r in session_answers(slack_server, f"slack:{ev['channel']}:{ev['ts']}")] == ["随意契約とは？"]


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
    # an edit / a deletion / a join is counted and acked, never claimed, never answered
    ({"subtype": "message_changed"}, {("event_callback", "ignored_edit"): 1}),
    ({"subtype": "message_deleted"}, {("event_callback", "ignored_subtype"): 1}),
    # a plain channel message (no mention, not a reply in a thread kanmin answered in)
    ({"channel_type": "channel", "channel": CHANNEL}, {("event_callback", "ignored_not_addressed"): 1}),
], ids=["own-message", "edit", "deleted", "channel-message"])
def test_direct_message_not_answered(slack_server, fake_slack, extra, outcome):
    ignored = dm("原課とは？", **extra)
    payload = event_payload(ignored)
    before = metrics(slack_server)
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == outcome
    assert not seen(slack_server, payload["event_id"])  # never claimed: it can never be answered
    assert fake_slack.of("chat.postMessage", thread_ts=ignored["ts"]) == []


@pytest.mark.parametrize("name,outcome", [
    ("app_mention_edited.json", "ignored_edit"),  # an edited mention is delivered again, new event_id
    ("message_changed.json", "ignored_edit"),
    ("app_mention_from_bot.json", "ignored_bot"),  # other apps: off unless KANMIN_SLACK_ANSWER_BOTS
    ("message_im_bot_message.json", "ignored_bot"),
])
def test_edits_and_other_apps_not_answered(slack_server, fake_slack, name, outcome):
    payload, ev = from_fixture(name)
    before = metrics(slack_server)
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", outcome): 1}
    assert not seen(slack_server, payload["event_id"])
    assert fake_slack.of("chat.postMessage", thread_ts=ev["ts"]) == []
    assert session_answers(slack_server, f"slack:{ev['channel']}:{ev['ts']}") == []


@pytest.mark.parametrize("name", ["message_mpim.json", "message_im_thread_broadcast.json",
                                  "message_im_file_share.json"])
def test_group_dm_broadcast_and_file_share_answered(slack_server, fake_slack, name):
    payload, ev = from_fixture(name, text="原課とは？")
    before = metrics(slack_server)
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1}
    thread = ev.get("thread_ts") or ev["ts"]
    posts = fake_slack.wait_for("chat.postMessage", channel=ev["channel"], thread_ts=thread)
    assert len(posts) == 1 and "原課" in all_text(posts[0]["blocks"])
    assert [r[0] for r in session_answers(slack_server, f"slack:{ev['channel']}:{thread}")] == ["原課とは？"]


# -- follow-ups in a channel thread without a mention (message.channels) ------------------------------
def thread_reply(text: str, thread_ts: str, **fields) -> tuple[dict, dict]:
    """A plain channel message in a thread (message_channels_thread_reply.json), no mention."""
    payload, ev = from_fixture("message_channels_thread_reply.json", text=text, **fields)
    ev["thread_ts"] = thread_ts
    return payload, ev


def test_thread_follow_up_without_mention(slack_server, fake_slack):
    root = mention("随意契約とは何ですか？")
    post_json(slack_server, event_payload(root))
    fake_slack.wait_for("chat.postMessage", thread_ts=root["ts"])  # kanmin answered: its thread now
    payload, ev = thread_reply("それはいつ使えますか？", root["ts"])
    before = metrics(slack_server)
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1}
    posts = fake_slack.wait_for("chat.postMessage", count=2, channel=CHANNEL, thread_ts=root["ts"])
    assert len(posts) == 2 and "blocks" in posts[1]
    assert [r[0] for r in session_answers(slack_server, f"slack:{CHANNEL}:{root['ts']}")] == [
        "随意契約とは何ですか？", "それはいつ使えますか？"]
    # the 👀 goes on the follow-up itself
    assert fake_slack.wait_for("reactions.remove", channel=CHANNEL, timestamp=ev["ts"])[0]["name"] == "eyes"


@pytest.mark.parametrize("case,outcome", [
    ("other-thread", "ignored_not_addressed"),  # a thread kanmin never answered in
    ("top-level", "ignored_not_addressed"),  # a channel message outside any thread
    ("mention-copy", "ignored_mention"),  # the message.channels copy of a mention: answered as app_mention
    ("edited", "ignored_edit"),
])
def test_channel_messages_not_addressed_to_kanmin(slack_server, fake_slack, case, outcome):
    root = mention("原課とは？")
    post_json(slack_server, event_payload(root))
    fake_slack.wait_for("chat.postMessage", thread_ts=root["ts"])
    thread = new_ts() if case == "other-thread" else root["ts"]
    text = "<@UBOT> それはいつ使えますか？" if case == "mention-copy" else "それはいつ使えますか？"
    payload, ev = thread_reply(text, thread)
    if case == "top-level":
        del ev["thread_ts"], ev["parent_user_id"]  # a plain message in the channel itself
    if case == "edited":
        ev["edited"] = {"user": ev["user"], "ts": new_ts()}
    before = metrics(slack_server)
    assert post_json(slack_server, payload).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", outcome): 1}
    assert not seen(slack_server, payload["event_id"])
    assert len(fake_slack.of("chat.postMessage", channel=CHANNEL, thread_ts=thread)) == (0 if case == "other-thread"
                                                                                         else 1)
    assert len(session_answers(slack_server, f"slack:{CHANNEL}:{thread}")) == (0 if case == "other-thread" else 1)


def test_slack_markup_is_read_as_the_reader_saw_it(slack_server, fake_slack):
    plain, ev_plain = from_fixture("app_mention.json", text="<@UBOT> 福岡市 の原課とは？")
    marked, ev_marked = from_fixture("app_mention.json", text="<@UBOT> <https://example.jp|福岡市> の原課とは？")
    for payload in (plain, marked):
        assert post_json(slack_server, payload).status_code == 200
    answers = []
    for ev in (ev_plain, ev_marked):
        post = fake_slack.wait_for("chat.postMessage", channel=ev["channel"], thread_ts=ev["ts"])[0]
        answer_id = post["blocks"][-1]["elements"][0]["value"]
        question, answer, raw = db_rows(slack_server, "SELECT question, answer, json FROM answers WHERE id = ?",
                                        (answer_id,))[0]
        answers.append((question, answer, json.loads(raw)["language"]))
    assert answers[0] == answers[1] and answers[1][1]
    assert answers[1][0] == "福岡市 の原課とは？" and answers[1][2] == "ja"
    # other markup: channel link, link without label, @here, another user, escapes
    payload, ev = from_fixture("app_mention.json",
                               text="<@UBOT> <#C123|general> で <!here> <@U0OTHER|sato> が "
                                    "<https://example.jp/a?b=1&amp;c=2> の &lt;原課&gt; &amp; 担当課とは？")
    post_json(slack_server, payload)
    fake_slack.wait_for("chat.postMessage", channel=ev["channel"], thread_ts=ev["ts"])
    assert [r[0] for r in session_answers(slack_server, f"slack:{ev['channel']}:{ev['ts']}")] == [
        "#general で @here @sato が https://example.jp/a?b=1&c=2 の <原課> & 担当課とは？"]


def test_long_question_cut_and_reader_told(slack_server, fake_slack):
    long = "原課とは何ですか？" + "あ" * 2500
    payload, ev = from_fixture("app_mention.json", text="<@UBOT> " + long)
    post_json(slack_server, payload)
    post = fake_slack.wait_for("chat.postMessage", channel=ev["channel"], thread_ts=ev["ts"])[0]
    assert "2,000" in post["blocks"][0]["elements"][0]["text"] and "2,000" in post["text"]
    stored = session_answers(slack_server, f"slack:{ev['channel']}:{ev['ts']}")
    assert len(stored) == 1 and len(stored[0][0]) == 2000 and stored[0][0].startswith("原課とは")


# -- the Web API misbehaving -----------------------------------------------------------------------
def test_rate_limited_twice_then_delivered_once(slack_server, fake_slack):
    payload, ev = from_fixture("app_mention.json", text="<@UBOT> 原課とは？")
    fake_slack.script("chat.postMessage", [RATE_LIMITED, RATE_LIMITED], thread_ts=ev["ts"])
    post_json(slack_server, payload)
    delivered = wait_until(lambda: fake_slack.delivered("chat.postMessage", thread_ts=ev["ts"]),
                           "the answer delivered after two 429s")
    assert len(delivered) == 1 and "blocks" in delivered[0]
    assert fake_slack.outcome_of("chat.postMessage", thread_ts=ev["ts"]) == ["rate_limited", "rate_limited",
                                                                            "answered"]
    assert len(session_answers(slack_server, f"slack:{ev['channel']}:{ev['ts']}")) == 1


def test_dropped_connection_then_delivered_once(slack_server, fake_slack):
    payload, ev = from_fixture("message_im.json", text="原課とは？")
    fake_slack.script("chat.postMessage", [DROP], thread_ts=ev["ts"])
    post_json(slack_server, payload)
    delivered = wait_until(lambda: fake_slack.delivered("chat.postMessage", thread_ts=ev["ts"]),
                           "the answer delivered after a dropped connection")
    assert len(delivered) == 1
    assert fake_slack.outcome_of("chat.postMessage", thread_ts=ev["ts"]) == ["dropped", "answered"]


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_too_long"])
def test_rejected_blocks_fall_back_to_text(slack_server, fake_slack, error):
    payload, ev = from_fixture("app_mention.json", text="<@UBOT> 原課とは？")
    fake_slack.script("chat.postMessage", [("error", error)], thread_ts=ev["ts"])
    before = metrics(slack_server)
    post_json(slack_server, payload)
    delivered = wait_until(lambda: fake_slack.delivered("chat.postMessage", thread_ts=ev["ts"]),
                           "the text-only answer delivered")
    assert len(delivered) == 1 and "blocks" not in delivered[0]
    assert "原課" in delivered[0]["text"] and "p." in delivered[0]["text"]
    assert fake_slack.outcome_of("chat.postMessage", thread_ts=ev["ts"]) == [f"error:{error}", "answered"]
    assert slack_changes(before, metrics(slack_server)) == {("event_callback", "accepted"): 1,
                                                            ("web_api", "text_fallback"): 1}


def test_ephemeral_not_in_channel_uses_response_url(slack_server, fake_slack):
    user = "U79-" + uuid.uuid4().hex[:6]
    fields = command("原課とは？", user)
    fields["response_url"] = fake_slack.url + "respond-" + user  # the fake records it as method respond-<user>
    fake_slack.script("chat.postEphemeral", [("error", "not_in_channel")], user=user)
    post_form(slack_server, fields)
    got = fake_slack.wait_for("respond-" + user)
    assert len(got) == 1 and got[0]["response_type"] == "ephemeral" and "p." in all_text(got[0]["blocks"])
    assert fake_slack.outcome_of("chat.postEphemeral", user=user) == ["error:not_in_channel"]


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


def block_action(action_id: str, value: str, thread_ts: str, trigger: str | None = None, user: str = "U9") -> dict:
    """A button click on one of our messages: block_actions.json (bolt-python's test shape) made ours."""
    body = fixture("block_actions.json")
    body["user"] = {**body["user"], "id": user, "team_id": "T1"}
    body["team"] = {**body["team"], "id": "T1"}
    body["trigger_id"] = trigger or uuid.uuid4().hex
    body["container"] = {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL,
                         "is_ephemeral": False, "thread_ts": thread_ts}
    body["channel"] = {"id": CHANNEL, "name": "general"}
    body["message"] = {"type": "message", "ts": "1700000000.000001", "thread_ts": thread_ts, "text": "x"}
    body["response_url"] = fake_response_url
    body["actions"] = [{**body["actions"][0], "action_id": action_id, "block_id": "kanmin_actions", "value": value,
                        "action_ts": f"{time.time():.6f}"}]
    return body


fake_response_url = "http://127.0.0.1:9/never-called"


def feedback_rows(server, answer_id: str) -> list[tuple]:
    return db_rows(server, "SELECT answer_id, rating, source FROM feedback WHERE answer_id = ? ORDER BY id",
                   (answer_id,))


def feedback_votes(server, answer_id: str) -> list[tuple]:
    return db_rows(server, "SELECT f.answer_id, v.voter, f.rating, f.source FROM feedback f"
                           " JOIN feedback_votes v ON v.feedback_id = f.id WHERE f.answer_id = ? ORDER BY f.id",
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
    assert slack_changes(before, after) == {("block_actions", "accepted"): 1, ("block_actions", "duplicate"): 2}
    eph = fake_slack.wait_for("chat.postEphemeral", user="U9", thread_ts=thread_ts)
    assert len(eph) == 1 and "👎" in eph[0]["text"]
    # the 👎 "thanks" offers a comment (see test_feedback_comment_modal)
    assert [e["action_id"] for b in eph[0]["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "kanmin_feedback_comment"]
    assert feedback_rows(slack_server, answer_id) == [(answer_id, "down", "slack")]
    m = metrics(slack_server)
    for rating, n in (("up", 0), ("down", 1)):
        assert value(m, "kanmin_feedback_total", rating=rating, source="slack") == value(
            before, "kanmin_feedback_total", rating=rating, source="slack") + n


def test_feedback_one_vote_per_user(slack_server, fake_slack):
    answer_id, thread_ts = _answer_id_from_new_mention(slack_server, fake_slack)
    voter = "U0V" + uuid.uuid4().hex[:6].upper()
    other = "U0W" + uuid.uuid4().hex[:6].upper()
    before = metrics(slack_server)

    def click(action_id: str, user: str, n: int) -> dict:
        """A distinct click (its own trigger_id); waits for its ephemeral reply, the n-th to ``user``."""
        post_form(slack_server, {"payload": json.dumps(block_action(action_id, answer_id, thread_ts, user=user))})
        return fake_slack.wait_for("chat.postEphemeral", count=n, user=user, thread_ts=thread_ts)[n - 1]

    first = click("kanmin_feedback_up", voter, 1)
    assert "👍" in first["text"] and "blocks" not in first  # no comment offered on 👍
    again = click("kanmin_feedback_up", voter, 2)  # the same vote twice: still one row
    assert "もう同じ評価" in again["text"]
    assert feedback_votes(slack_server, answer_id) == [(answer_id, voter, "up", "slack")]
    changed = click("kanmin_feedback_down", voter, 3)  # a change of mind replaces the vote
    assert "👎" in changed["text"] and "blocks" in changed
    assert feedback_votes(slack_server, answer_id) == [(answer_id, voter, "down", "slack")]
    repeated = click("kanmin_feedback_down", voter, 4)  # a repeated 👎: no new row, the comment offered again
    assert "もう同じ評価" in repeated["text"] and "kanmin_feedback_comment" in all_text(repeated["blocks"])
    click("kanmin_feedback_down", other, 1)  # another user's vote is their own row
    assert feedback_votes(slack_server, answer_id) == [(answer_id, voter, "down", "slack"),
                                                       (answer_id, other, "down", "slack")]
    assert slack_changes(before, metrics(slack_server)) == {
        ("block_actions", "accepted"): 5, ("block_actions", "feedback_same"): 2,
        ("block_actions", "feedback_changed"): 1}
    m = metrics(slack_server)  # new votes only: one 👍 (voter's first) and one 👎 (the other user)
    for rating in ("up", "down"):
        assert value(m, "kanmin_feedback_total", rating=rating, source="slack") == value(
            before, "kanmin_feedback_total", rating=rating, source="slack") + 1


def view_submission(feedback_id: str, comment: str, user: str) -> dict:
    """The comment modal submitted: view_submission.json (bolt-python's test shape) made ours."""
    body = fixture("view_submission.json")
    body["user"] = {**body["user"], "id": user, "team_id": "T1"}
    body["team"] = {**body["team"], "id": "T1"}
    body["trigger_id"] = uuid.uuid4().hex
    view = body["view"]
    view.update(callback_id="kanmin_feedback_comment", private_metadata=feedback_id,
                state={"values": {"kanmin_comment": {"kanmin_comment": {"type": "plain_text_input",
                                                                         "value": comment}}}})
    return body


def test_feedback_comment_modal(slack_server, fake_slack):
    answer_id, thread_ts = _answer_id_from_new_mention(slack_server, fake_slack)
    voter = "U0C" + uuid.uuid4().hex[:6].upper()
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_down", answer_id, thread_ts,
                                                                user=voter))})
    eph = fake_slack.wait_for("chat.postEphemeral", user=voter, thread_ts=thread_ts)[0]
    button = next(e for b in eph["blocks"] if b["type"] == "actions" for e in b["elements"])
    fid = button["value"]
    assert db_rows(slack_server, "SELECT answer_id, rating, comment FROM feedback WHERE id = ?", (int(fid),)) == [
        (answer_id, "down", None)]
    trigger = "trig-" + uuid.uuid4().hex
    post_form(slack_server, {"payload": json.dumps(block_action("kanmin_feedback_comment", fid, thread_ts,
                                                                trigger, user=voter))})
    opened = fake_slack.wait_for("views.open", trigger_id=trigger)
    assert len(opened) == 1
    view = opened[0]["view"] if isinstance(opened[0]["view"], dict) else json.loads(opened[0]["view"])
    assert view["type"] == "modal" and view["callback_id"] == "kanmin_feedback_comment"
    assert view["private_metadata"] == fid and view["blocks"][0]["element"]["type"] == "plain_text_input"
    # someone else's submission for that vote is refused; the voter's own is saved
    before = metrics(slack_server)
    for user, text in (("U0INTRUDER", "spam"), (voter, "  ページ番号が \n 違いました  ")):
        r = post_form(slack_server, {"payload": json.dumps(view_submission(fid, text, user))})
        assert r.status_code == 200 and r.text == ""  # an empty ack closes the modal
    wait_until(lambda: slack_changes(before, metrics(slack_server)).get(("view_submission", "comment_saved")),
               "the comment saved")
    assert wait_until(lambda: slack_changes(before, metrics(slack_server)).get(
        ("view_submission", "comment_refused")), "the intruder's comment refused") == 1
    assert slack_changes(before, metrics(slack_server)) == {
        ("view_submission", "accepted"): 2, ("view_submission", "comment_saved"): 1,
        ("view_submission", "comment_refused"): 1}
    assert db_rows(slack_server, "SELECT rating, comment FROM feedback WHERE id = ?", (int(fid),)) == [
        ("down", "ページ番号が 違いました")]


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
    assert blocks[0]["text"]["text"] == "> 原課とは何ですか？"  # the ephemeral answer shows its question
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
    # a second click (a new trigger_id) on the same answer: told it is shared already, no second copy
    again = block_action("kanmin_share", actions["kanmin_share"], "")
    again["container"]["is_ephemeral"] = True
    post_form(slack_server, {"payload": json.dumps(again)})
    told = wait_until(lambda: [p for p in fake_slack.of("chat.postEphemeral", user="U9", channel=CHANNEL)
                               if "共有されています" in p["text"]], "the already-shared notice")
    assert len(told) == 1
    assert len(fake_slack.of("chat.postMessage", channel=CHANNEL, thread_ts=None)) == shared_before + 1


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


def test_slash_command_from_fixture(slack_server, fake_slack):
    fields = fixture("slash_command.json")
    user = "W111-" + uuid.uuid4().hex[:6]
    fields.update(user_id=user, trigger_id=uuid.uuid4().hex, response_url=fake_response_url,
                  text="<https://example.jp|福岡市> の原課とは？")
    before = metrics(slack_server)
    assert post_form(slack_server, fields).status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("command", "accepted"): 1}
    eph = fake_slack.wait_for("chat.postEphemeral", user=user)
    assert len(eph) == 1 and eph[0]["channel"] == fields["channel_id"]
    assert eph[0]["blocks"][0]["text"]["text"] == "> 福岡市 の原課とは？"


def test_unsigned_ssl_check_gets_200(slack_server):
    before = metrics(slack_server)
    body = urllib.parse.urlencode(fixture("ssl_check.json")).encode()
    r = httpx.post(slack_server.url + "/slack/events", content=body,
                   headers={"content-type": "application/x-www-form-urlencoded"}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert slack_changes(before, metrics(slack_server)) == {("ssl_check", "ok"): 1}


def test_url_verification_fixture(slack_server):
    payload = fixture("url_verification.json")
    r = post_json(slack_server, payload)
    assert r.status_code == 200 and r.json()["challenge"] == payload["challenge"]


# -- settings: other apps answered, channel allowlist ----------------------------------------------
ALLOWED = "C0ALLOW"
CAP = 2


@pytest.fixture(scope="module")
def slack_server_opts(tmp_path_factory, fake_slack):
    srv = _slack_server(tmp_path_factory, fake_slack, "slack-opts", {
        "KANMIN_SLACK_ANSWER_BOTS": "true",
        "KANMIN_SLACK_ALLOWED_CHANNELS": f"{ALLOWED},C0OTHER",
        "KANMIN_SLACK_USER_ANSWERS_PER_MINUTE": str(CAP),
        "KANMIN_SLACK_WORKING_REACTION": "",
    })
    yield srv
    stop_server(srv)


def test_other_apps_answered_when_allowed(slack_server_opts, fake_slack):
    payload, ev = from_fixture("app_mention_from_bot.json", text="<@UBOT> 原課とは？", channel=ALLOWED)
    before = metrics(slack_server_opts)
    post_json(slack_server_opts, payload)
    assert slack_changes(before, metrics(slack_server_opts)) == {("event_callback", "accepted"): 1}
    posts = fake_slack.wait_for("chat.postMessage", channel=ALLOWED, thread_ts=ev["ts"])
    assert len(posts) == 1 and "原課" in all_text(posts[0]["blocks"])


def test_channel_allowlist(slack_server_opts, fake_slack):
    payload, ev = from_fixture("app_mention.json", text="<@UBOT> 原課とは？", channel="C0ELSEWHERE")
    before = metrics(slack_server_opts)
    post_json(slack_server_opts, payload)
    fields = command("原課とは？", "U80-" + uuid.uuid4().hex[:6])
    fields["channel_id"] = "C0ELSEWHERE"
    r = post_form(slack_server_opts, fields)
    assert r.status_code == 200 and "DM" in r.text  # the refusal is the ack, shown only to the user
    assert slack_changes(before, metrics(slack_server_opts)) == {("event_callback", "ignored_channel"): 1,
                                                                 ("command", "ignored_channel"): 1}
    assert not seen(slack_server_opts, payload["event_id"])
    # DMs are not channel-restricted
    dm_payload, dm_ev = from_fixture("message_im.json", text="原課とは？")
    post_json(slack_server_opts, dm_payload)
    assert len(fake_slack.wait_for("chat.postMessage", channel=dm_ev["channel"], thread_ts=dm_ev["ts"])) == 1
    assert fake_slack.of("chat.postMessage", channel="C0ELSEWHERE") == []


def test_per_user_cap(slack_server_opts, fake_slack):
    user = "U0CAP" + uuid.uuid4().hex[:6].upper()
    events = [from_fixture("app_mention.json", text=f"<@UBOT> 原課とは？ {i}", channel=ALLOWED, user=user)
              for i in range(CAP + 1)]
    before = metrics(slack_server_opts)
    for payload, _ in events:
        assert post_json(slack_server_opts, payload).status_code == 200
    # the claim is made first (a retry of the capped one stays a duplicate), then the cap is checked
    assert slack_changes(before, metrics(slack_server_opts)) == {("event_callback", "accepted"): CAP,
                                                                 ("event_callback", "user_capped"): 1}
    for _, ev in events[:CAP]:
        posts = fake_slack.wait_for("chat.postMessage", channel=ALLOWED, thread_ts=ev["ts"])
        assert len(posts) == 1 and "blocks" in posts[0]
    last = events[-1][1]
    told = fake_slack.wait_for("chat.postMessage", channel=ALLOWED, thread_ts=last["ts"])
    assert len(told) == 1 and "blocks" not in told[0] and f"{CAP} 件" in told[0]["text"]
    assert session_answers(slack_server_opts, f"slack:{ALLOWED}:{last['ts']}") == []
    # the reaction is off on this server (KANMIN_SLACK_WORKING_REACTION="")
    assert fake_slack.of("reactions.add", channel=ALLOWED, timestamp=last["ts"]) == []
    assert fake_slack.of("reactions.add", channel=ALLOWED, timestamp=events[0][1]["ts"]) == []


def test_working_reaction_added_then_removed(slack_server, fake_slack):
    root = mention("随意契約とは何ですか？")
    post_json(slack_server, event_payload(root))
    fake_slack.wait_for("chat.postMessage", thread_ts=root["ts"])
    follow = mention("それはいつ使えますか？", thread_ts=root["ts"])
    post_json(slack_server, event_payload(follow))
    fake_slack.wait_for("chat.postMessage", count=2, thread_ts=root["ts"])
    # 👀 on each question message itself (not the thread root), removed after its answer is posted
    for ev in (root, follow):
        removed = fake_slack.wait_for("reactions.remove", channel=CHANNEL, timestamp=ev["ts"])
        assert len(removed) == 1 and removed[0]["name"] == "eyes"
        with fake_slack.lock:
            order = [m for m, p, _ in fake_slack.calls
                     if (m.startswith("reactions.") and p.get("timestamp") == ev["ts"])
                     or (m == "chat.postMessage" and p.get("thread_ts") == root["ts"])]
        adds = [i for i, m in enumerate(order) if m == "reactions.add"]
        rems = [i for i, m in enumerate(order) if m == "reactions.remove"]
        assert len(adds) == 1 and len(rems) == 1 and adds[0] < rems[0]
        assert "chat.postMessage" in order[adds[0]:rems[0]]


def test_reaction_failure_does_not_block_the_answer(slack_server, fake_slack):
    payload, ev = from_fixture("message_im.json", text="原課とは？")
    fake_slack.script("reactions.add", [("error", "missing_scope")], timestamp=ev["ts"])
    post_json(slack_server, payload)
    posts = fake_slack.wait_for("chat.postMessage", channel=ev["channel"], thread_ts=ev["ts"])
    assert len(posts) == 1 and "blocks" in posts[0]
    assert fake_slack.outcome_of("reactions.add", timestamp=ev["ts"]) == ["error:missing_scope"]
    # the refusal was logged (once per kind, as a warning: the operator should add reactions:write)
    # before the answer was asked for
    assert any("slack reaction not set" in ln and "missing_scope" in ln for ln in slack_server.log().splitlines())


# -- who may use the bot: KANMIN_SLACK_ALLOWED_USERS ----------------------------------------------------
LISTED = "U0LISTED"


@pytest.fixture(scope="module")
def slack_server_users(tmp_path_factory, fake_slack):
    srv = _slack_server(tmp_path_factory, fake_slack, "slack-users",
                        {"KANMIN_SLACK_ALLOWED_USERS": f" {LISTED}, U0ALSO ,"})
    yield srv
    stop_server(srv)


def test_user_allowlist(slack_server_users, fake_slack):
    srv = slack_server_users
    channel = "C0USERS" + uuid.uuid4().hex[:4].upper()
    other = "U0NOTLISTED"
    refused = [from_fixture("app_mention.json", text="<@UBOT> 原課とは？", channel=channel, user=other),
               from_fixture("message_im.json", text="原課とは？", user=other)]
    before = metrics(srv)
    for payload, _ in refused:
        assert post_json(srv, payload).status_code == 200
    fields = command("原課とは？", other)
    r = post_form(srv, fields)
    assert r.status_code == 200 and "管理者" in r.text  # the refusal is the ack, shown to that user only
    # counted and acked, never claimed: no answer, no session, nothing posted
    assert slack_changes(before, metrics(srv)) == {("event_callback", "ignored_user"): 2,
                                                   ("command", "ignored_user"): 1}
    for payload, ev in refused:
        assert not seen(srv, payload["event_id"])
        assert session_answers(srv, f"slack:{ev['channel']}:{ev['ts']}") == []
    # a listed user is answered, in the channel and by /kanmin
    payload, ev = from_fixture("app_mention.json", text="<@UBOT> 原課とは？", channel=channel, user=LISTED)
    before = metrics(srv)
    post_json(srv, payload)
    post_form(srv, command("原課とは？", "U0ALSO"))
    assert slack_changes(before, metrics(srv)) == {("event_callback", "accepted"): 1, ("command", "accepted"): 1}
    posts = fake_slack.wait_for("chat.postMessage", channel=channel, thread_ts=ev["ts"])
    assert len(posts) == 1 and "blocks" in posts[0]
    assert len(fake_slack.wait_for("chat.postEphemeral", user="U0ALSO")) == 1
    # nothing was ever sent to the unlisted user (the channel's only post is the listed user's answer)
    assert fake_slack.of("chat.postEphemeral", user=other) == []
    assert fake_slack.of("chat.postMessage", channel=channel) == posts
    assert fake_slack.of("chat.postMessage", thread_ts=refused[1][1]["ts"]) == []


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
    # one row per new vote (a repeat adds none, a change of mind rewrites its row): new votes == rows
    rows = db_rows(slack_server, "SELECT COUNT(*) FROM feedback WHERE source = 'slack'")[0][0]
    assert rows >= 1 and rows == sum(value(m, "kanmin_feedback_total", rating=r, source="slack")
                                     for r in ("up", "down"))
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
