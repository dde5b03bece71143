"""Issue 14: a replica keeps answering while PostgreSQL is briefly down, and loses no write silently.

A real `kanmin serve` on a throwaway PostgreSQL cluster (eval/local_servers.py). PostgreSQL is
stopped (``pg_ctl stop -m fast``, as in a restart) and started again on the same port, and the
replica is never restarted. While it is down:

- /readyz is 503 JSON ``database_unavailable`` (the balancer takes the replica out of rotation);
- POST /v1/ask still answers (200) and says ``"saved": false`` — given, not stored;
- POST /v1/feedback is 503 JSON ``database_unavailable`` (the caller knows to retry), never a 500;
- a Slack event is 503 (not claimed, not answered), so Slack delivers it again; its retry after the
  restart is answered exactly once (a fake, local Slack Web API counts the replies);

and afterwards everything works again and the feedback rows in PostgreSQL are exactly the
acknowledged ones. Every wait polls with a generous deadline; nothing asserts speed.
"""
from __future__ import annotations

import uuid

import httpx
import pytest

from cluster_procs import Replica
from eval.local_servers import PgCluster, pg_missing
from fake_slack import FakeSlack
from helpers_reliability import wait_until
from test_slack_events import SECRET, TOKEN, event_payload, mention, post_json

pytestmark = pytest.mark.skipif(pg_missing() is not None, reason=str(pg_missing()))

LONG = httpx.Timeout(60.0)
DEADLINE_S = 90.0  # generous: 2 shared cores


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """PostgreSQL and one replica on it; both removed at the end, also when a test fails."""
    parts: list = []
    try:
        pg = PgCluster()
        parts.append(pg)
        pg.start()
        db_url = pg.new_database()
        slack = FakeSlack()
        parts.append(slack)
        replica = Replica("outage", tmp_path_factory.mktemp("outage"), {
            "KANMIN_DATABASE_URL": db_url,
            "KANMIN_RATE_LIMIT": "100000/minute",
            "KANMIN_API_KEYS": "",
            "KANMIN_LLM_BACKEND": "none",
            "KANMIN_DB_CONNECT_TIMEOUT_S": "2",
            "KANMIN_SLACK_SIGNING_SECRET": SECRET,
            "KANMIN_SLACK_BOT_TOKEN": TOKEN,
            "KANMIN_SLACK_API_BASE_URL": slack.url,
        })
        parts.append(replica)
        replica.start()
        yield {"pg": pg, "db_url": db_url, "replica": replica, "slack": slack}
    finally:
        for part in reversed(parts):
            try:
                part.close() if isinstance(part, FakeSlack) else part.stop()
            except Exception as exc:  # noqa: BLE001 - stop the rest anyway
                print(f"cleanup of {type(part).__name__} failed: {exc}")
        for part in parts:
            if isinstance(part, PgCluster):
                assert not part.tmp.exists(), f"{part.tmp} was not removed"


def poll(check, what: str):
    return wait_until(check, DEADLINE_S, 0.25, what, tolerate=(httpx.HTTPError,))


def feedback_comments(pg: PgCluster, db_url: str) -> set[str]:
    import psycopg

    dbname = db_url.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname={dbname}") as conn:
        return {r[0] for r in conn.execute("SELECT comment FROM feedback")}


def test_answers_without_the_database_and_no_write_lost_silently(stack):
    pg, replica, slack = stack["pg"], stack["replica"], stack["slack"]
    url = replica.url
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=url, timeout=LONG) as c:
        # up: answered, saved, feedback acknowledged
        first = c.post("/v1/ask", json={"question": "原課とは何ですか？", "session_id": f"s-{tag}"})
        assert first.status_code == 200, first.text
        assert first.json()["saved"] is True
        answer_id = first.json()["id"]
        ok = c.post("/v1/feedback", json={"answer_id": answer_id, "rating": "up", "comment": f"before-{tag}"})
        assert ok.status_code == 200, ok.text
        acked = {f"before-{tag}"}

        pg.stop_server()
        try:
            down = poll(lambda: (r := c.get("/readyz")).status_code == 503 and r, "/readyz goes not-ready")
            assert down.headers["content-type"].startswith("application/json")
            assert down.json()["error"]["code"] == "database_unavailable", down.text

            # an answer needs no state: given, and it says it was not stored
            for body in ({"question": "随意契約とは何ですか？"},
                         {"question": "それはいつ使えますか？", "session_id": f"s-{tag}"}):
                r = c.post("/v1/ask", json=body)
                assert r.status_code == 200, r.text
                assert r.json()["answer"] and r.json()["saved"] is False, r.text
            # a write that cannot be made is refused in the open: 503 JSON, not a 500, not a silent 200
            for _ in range(3):
                r = c.post("/v1/feedback", json={"answer_id": answer_id, "rating": "down",
                                                 "comment": f"during-{tag}"})
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "database_unavailable", r.text
            # a Slack event cannot be claimed: 503, so Slack retries it; not answered now
            ev = mention("実証実験の予算はどう確保しますか？")
            payload = event_payload(ev)
            r = post_json(replica, payload)
            assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable", r.text
            unsaved = c.get("/metrics").text
            assert 'kanmin_answers_unsaved_total{source="api"} 2.0' in unsaved
        finally:
            pg.start_server()  # the same data directory and port

        # back without restarting kanmin: ready, answers saved, follow-ups and feedback work again
        poll(lambda: c.get("/readyz").status_code == 200, "/readyz is ready again")
        again = c.post("/v1/ask", json={"question": "4号随契とは？", "session_id": f"s-{tag}"})
        assert again.status_code == 200 and again.json()["saved"] is True, again.text
        r = c.post("/v1/feedback", json={"answer_id": again.json()["id"], "rating": "up", "comment": f"after-{tag}"})
        assert r.status_code == 200, r.text
        acked.add(f"after-{tag}")
        # Slack's retry of the refused event is claimed and answered, once
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
        assert post_json(replica, payload, retry).status_code == 200
        assert slack.wait_for("chat.postMessage", thread_ts=ev["ts"])
        retry["X-Slack-Retry-Num"] = "2"
        assert post_json(replica, payload, retry).status_code == 200  # a duplicate now: acknowledged only
        sentinel = mention("原課とは何ですか？")  # answered after the duplicate would have been
        assert post_json(replica, event_payload(sentinel)).status_code == 200
        assert slack.wait_for("chat.postMessage", thread_ts=sentinel["ts"])
        assert len(slack.of("chat.postMessage", thread_ts=ev["ts"])) == 1

    # every acknowledged row is there, and only those: the refused ones were not written behind our back
    assert feedback_comments(pg, stack["db_url"]) == acked
    log = replica.log_path.read_text(errors="replace")
    assert "unhandled error" not in log and "Traceback" not in log, log[-3000:]
