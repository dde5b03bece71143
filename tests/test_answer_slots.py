"""A worker computes its extractive answers in KANMIN_ANSWER_THREADS slots (default 1), apart from
its request threads: a generative answer, which waits on the LLM, must never hold a slot that the
extractive answers need, and asks beyond the slots wait their turn, not fail.

A real `kanmin serve` and the fake OpenAI-compatible LLM of test_generative on 127.0.0.1, which
holds every completion until the test releases it."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import API_ONLY, start_server, stop_server
from test_generative import STALL_S, FakeLLM

pytestmark = pytest.mark.timeout(400)
DEADLINE_S = 120  # generous: a busy 2-core machine


@pytest.fixture(scope="module")
def llm():
    f = FakeLLM()
    f.behaviour = "slow"  # holds every completion until f.stop is set
    yield f
    f.close()


@pytest.fixture(scope="module")
def server(llm, tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("slots"), {
        **API_ONLY, **llm.server_env(STALL_S * 2),
        "KANMIN_ANSWER_THREADS": "1", "KANMIN_REQUEST_THREADS": "4", "KANMIN_RATE_LIMIT": "100000/minute"})
    yield srv
    stop_server(srv)


def ask(srv, question: str, mode: str = "extractive") -> httpx.Response:
    return httpx.post(srv.url + "/v1/ask", json={"question": question, "mode": mode}, timeout=DEADLINE_S * 3)


def test_extractive_answers_go_on_while_a_generative_one_waits_for_the_llm(server, llm):
    with ThreadPoolExecutor(1) as pool:
        generative = pool.submit(ask, server, "4号随契の要件は？", "generative")
        deadline = time.monotonic() + DEADLINE_S
        while not llm.requests and time.monotonic() < deadline:  # polled: a condition, not a duration
            time.sleep(0.05)
        assert llm.requests, "the generative answer never reached the LLM"
        try:
            for q in ("原課とは？", "トライアル発注制度とは何ですか？", "予算要求はいつ頃？"):
                r = ask(server, q)
                assert r.status_code == 200 and r.json()["mode"] == "extractive", r.text[:300]
            assert not generative.done()  # all three answered while the LLM still held the generative one
        finally:
            llm.stop.set()
        r = generative.result(timeout=DEADLINE_S)
        assert r.status_code == 200 and r.json()["question"] == "4号随契の要件は？", r.text[:300]


def slot_waits(server) -> float:
    m = re.search(r"^kanmin_answer_slot_waits_total (\S+)$", httpx.get(server.url + "/metrics", timeout=30).text, re.M)
    assert m, "the server exports kanmin_answer_slot_waits_total"
    return float(m.group(1))


def test_asks_beyond_the_slots_wait_their_turn(server):
    """16 asks at once on a worker with one answer slot: each gets its own answer, and the ones that
    found the slot taken waited for it (the server counts them; with no slots none would wait)."""
    questions = ["原課とは？", "What is PFS?", "4号随契の使い方は？", "公平性はどこに書いてある？",
                 "スケールとは？", "予算化の時期は？", "図表28は？", "実証実験の前に決めることは？"] * 2
    before = slot_waits(server)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda q: ask(server, q), questions))
    assert slot_waits(server) > before
    assert [r.status_code for r in answers] == [200] * len(questions), [r.text[:200] for r in answers if r.status_code != 200]
    assert all(r.json()["question"] == q for r, q in zip(answers, questions))
    # the worker stayed responsive for everything else meanwhile
    assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200
