"""Point 2 — schemathesis against the real server's OpenAPI schema.

Every operation in /openapi.json gets positive and negative generated cases (schemathesis 4 Python API:
``schemathesis.openapi.from_url`` + ``APIOperation.as_strategy`` under Hypothesis), sent to a real
`kanmin serve` with the rate limit lifted. Checks: no 5xx, status code / content type / headers / body
conform to the schema. /slack/events answers 401 to unsigned requests (not in the schema), so it is
only held to "never 5xx" — and gets its own fuzzing with properly *signed* random JSON bodies.

Each operation asserts its own number of generated cases (at least EXAMPLES per generation mode: with
the default 60, 6 operations with inputs x 2 modes x 60 + 5 without inputs + 60 signed Slack bodies =
785 cases) and that the server is healthy, with a clean log, after it. The counts go to
test-artifacts/schemathesis.json when the module is done. Deterministic by default (``derandomize``) so CI is stable; set
KANMIN_FUZZ_RANDOM=1 to explore new inputs locally.
"""
from __future__ import annotations

import json
import os
import secrets

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance, status_code_conformance,
)

from conftest import API_ONLY, start_server, stop_server
from helpers_reliability import assert_healthy, write_artifact
from test_slack_events import sign

pytestmark = pytest.mark.timeout(300)

SECRET = "fuzz-signing-" + secrets.token_hex(16)
TOKEN = "xoxb-fuzz-" + secrets.token_hex(16)
EXAMPLES = int(os.environ.get("KANMIN_FUZZ_EXAMPLES", "60"))  # per operation and generation mode
RANDOM = os.environ.get("KANMIN_FUZZ_RANDOM") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
OPERATIONS = [
    "GET /healthz", "GET /readyz", "GET /metrics", "POST /v1/ask", "GET /v1/glossary", "GET /v1/glossary/{term}",
    "POST /v1/glossary/annotate", "GET /v1/toc", "GET /v1/chunks/{chunk_id}", "POST /v1/feedback",
    "POST /slack/events",
]
COUNTS: dict[str, int] = {}
STATUSES: dict[str, dict[int, int]] = {}


def _settings(n: int):
    return settings(max_examples=n, deadline=None, database=None, derandomize=not RANDOM,
                    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
                    print_blob=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_slack):
    srv = start_server(tmp_path_factory.mktemp("rel-schema"), {
        **API_ONLY, "KANMIN_RATE_LIMIT": "1000000/minute",
        "KANMIN_SLACK_SIGNING_SECRET": SECRET,
        "KANMIN_SLACK_BOT_TOKEN": TOKEN,
        "KANMIN_SLACK_API_BASE_URL": fake_slack.url,
    })
    yield srv
    try:
        if COUNTS:
            write_artifact("schemathesis.json", {
                "total_cases": sum(COUNTS.values()), "per_operation": COUNTS,
                "statuses": {k: {str(s): n for s, n in v.items()} for k, v in STATUSES.items()},
                "examples_per_mode": EXAMPLES, "random": RANDOM})
        _assert_healthy_and_clean(srv)
    finally:
        stop_server(srv)


def _assert_healthy_and_clean(server) -> None:
    assert server.alive()
    assert_healthy(server.url)
    log = server.log()
    assert '"msg": "unhandled error"' not in log and "Traceback" not in log
    assert TOKEN not in log and SECRET not in log


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(server.url + "/openapi.json", timeout=30)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


def _operation(schema, label: str):
    for result in schema.get_all_operations():
        op = result.ok()
        if op.label == label:
            return op
    raise AssertionError(f"{label} not in the schema")


def test_schema_lists_every_operation(schema):
    labels = sorted(r.ok().label for r in schema.get_all_operations())
    assert labels == sorted(OPERATIONS), "a new endpoint? add it to OPERATIONS so it is fuzzed"


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_operation(schema, session, server, label):
    op = _operation(schema, label)
    has_inputs = bool(list(op.iter_parameters())) or op.body
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_inputs else [GenerationMode.POSITIVE]
    statuses = STATUSES[label] = {}
    COUNTS[label] = 0
    for mode in modes:
        ran = 0

        @_settings(EXAMPLES if has_inputs else 1)
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case):
            nonlocal ran
            ran += 1
            response = case.call(session=session, timeout=60)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if label == "POST /slack/events":  # 401 without a Slack signature is by design
                assert response.status_code < 500, response.text[:500]
                return
            case.validate_response(response, checks=CHECKS)

        run()
        COUNTS[label] += ran
        assert ran >= (EXAMPLES if has_inputs else 1), (label, mode, ran)  # the cases really were generated
    assert all(s < 500 for s in statuses), statuses
    _assert_healthy_and_clean(server)


# -- /slack/events with valid signatures: what bolt sees after verification --------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
slack_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "block_actions", "app_rate_limited", "x"])},
    optional={"event_id": st.text(max_size=20) | st.integers(), "challenge": json_values,
              "event": st.fixed_dictionaries({}, optional={
                  "type": st.sampled_from(["app_mention", "message", "reaction_added"]) | st.text(max_size=10),
                  "text": json_values, "channel": json_values, "ts": json_values, "thread_ts": json_values,
                  "channel_type": st.sampled_from(["im", "channel"]) | json_values, "subtype": json_values}),
              "actions": json_values, "user": json_values, "channel": json_values, "team_id": json_values},
)


def test_fuzz_signed_slack_events(server, fake_slack):
    label = "POST /slack/events (signed)"
    statuses = STATUSES[label] = {}
    COUNTS[label] = 0

    @_settings(EXAMPLES)
    @given(payload=st.one_of(slack_like, json_values))
    def run(payload):
        COUNTS[label] += 1
        body = json.dumps(payload, ensure_ascii=False).encode()
        r = httpx.post(server.url + "/slack/events", content=body, timeout=60,
                       headers={"content-type": "application/json", **sign(body, secret=SECRET)})
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (payload, r.text[:300])
        if r.status_code >= 400:
            assert set(r.json()) == {"error"}

    run()
    assert COUNTS[label] >= EXAMPLES, COUNTS[label]
    # the signatures were right (nothing refused as unsigned) and bodies did get through to bolt
    assert 401 not in statuses and statuses.get(200), statuses
    # lazy listeners started by the fuzzed events may still be running: the server must stay up and
    # keep answering (assert_healthy asks a real question), and nothing may hit the 500 safety net
    _assert_healthy_and_clean(server)
