"""Generative mode (llama-index OpenAILike) against a fake OpenAI-compatible server.

The fake is a real HTTP server on 127.0.0.1 (in a thread) with switchable behaviours:
good, bad citations, unsupported, declined, slow, garbage JSON, HTML 500, HTML/empty
content, and a closed port. Questions go through the real Assistant and real index.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.citation_check import check, marker_numbers, split
from assistant.generative import LlmGarbage, LlmGenerator, LlmTimeout, call_with_deadline
from assistant.prompting import build_messages, excerpt, sources_of
from assistant.schema import Citation
from ingest.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 10.0  # the LLM client's deadline: far above a good fake answer even on a busy machine
# The "slow" fake and the stubborn client stall this long (or until the test ends). An answer that
# comes back in under half of it did not wait for them: the deadline fired. No bound here is
# near the real times (10 s, 0.5 s), so a slow, busy machine cannot miss it.
STALL_S = 120.0
SLOW_DEADLINE_S = 1.5  # the deadline the "slow" case waits for (nothing else of that case takes long)
Q_JA = "随意契約はどのような場合に使えますか"
Q_JA2 = "実証実験の費用は誰が負担しますか"
Q_EN = "What should a city prepare before a pilot project with a startup?"
MARK = re.compile(r"\[(\d+)\]")


# ---- the fake OpenAI-compatible server -------------------------------------------------
def parse_sources(prompt: str) -> dict[int, str]:
    """Read the numbered sources' passages back out of the user prompt (as a model would)."""
    pat = re.compile(r"^\[(\d+)\] [^\n]*\n(?:該当箇所|Passage): ([^\n]*)$", re.M)
    return {int(n): body.strip() for n, body in pat.findall(prompt)}


def first_sentence(text: str) -> str:
    for piece in re.split(r"[。\n]", text):
        piece = piece.strip()
        if len(piece) >= 12:
            return piece
    return text.strip()[:40]


def good_answer(prompt: str, english: bool) -> str:
    srcs = parse_sources(prompt)
    out = []
    for n in sorted(srcs)[:2]:
        s = first_sentence(srcs[n])
        out.append(f"The guide says 「{s[:30]}」 [{n}]." if english else f"{s}[{n}]。")
    return " ".join(out) if english else "".join(out)


def bad_answer(prompt: str, english: bool) -> str:
    srcs = parse_sources(prompt)
    s1 = first_sentence(srcs[1])
    s2 = first_sentence(srcs[min(2, max(srcs))])
    return (f"{s1}[1]。"
            "補助金の上限は一律750万円で、国が全額を負担するとガイドは定めています[1]。"
            f"{s2}[99]。"
            "この点はガイド全体の結論です。")


def unsupported_answer(prompt: str, english: bool) -> str:
    return "補助金の上限は一律750万円で、国が全額を負担します[1]。審査は毎年4月に行われます[2]。"


class FakeLLM:
    def __init__(self):
        self.behaviour = "good"
        self.requests: list[dict] = []
        self.stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                fake.requests.append({"path": self.path, "body": body})
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/v1/completions"):
                    return self._send(404, "application/json", b'{"error": "not found"}')
                fake.respond(self, body)

            def _send(self, status: int, ctype: str, payload: bytes):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.Handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def server_env(self, timeout_s: float) -> dict[str, str]:
        """The settings that point a kanmin server (or the CLI) at this fake, OpenAI-compatible."""
        return {"KANMIN_LLM_BACKEND": "openai", "KANMIN_LLM_BASE_URL": f"http://127.0.0.1:{self.port}/v1",
                "KANMIN_LLM_MODEL": "fake", "KANMIN_LLM_TIMEOUT_S": str(timeout_s)}

    def prompt_of(self, body: dict) -> str:
        if "messages" in body:
            return "\n".join(m.get("content") or "" for m in body["messages"] if m.get("role") == "user")
        return body.get("prompt") or ""

    def completion(self, body: dict, text: str) -> bytes:
        if "messages" in body:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            obj = "text_completion"
        return json.dumps({"id": "fake-1", "object": obj, "created": int(time.time()), "model": body.get("model", "fake"),
                           "choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}},
                          ensure_ascii=False).encode()

    def respond(self, h, body: dict) -> None:
        b = self.behaviour
        prompt = self.prompt_of(body)
        english = "Question: " in prompt
        if b == "slow":
            self.stop.wait(STALL_S)  # released when the module's tests are done
            return h._send(200, "application/json", self.completion(body, good_answer(prompt, english)))
        if b == "garbage_json":
            return h._send(200, "application/json", b'{"id": "x", "choices": [ {"message": ')
        if b == "html500":
            return h._send(500, "text/html", b"<html><head><title>500</title></head><body><h1>Internal Server Error</h1></body></html>")
        if b == "html_content":
            return h._send(200, "application/json", self.completion(body, "<!DOCTYPE html><html><body>Bad Gateway</body></html>"))
        if b == "empty":
            return h._send(200, "application/json", self.completion(body, ""))
        text = {"good": good_answer, "bad": bad_answer, "unsupported": unsupported_answer,
                "declined": lambda p, e: "出典からは答えられません。"}[b](prompt, english)
        return h._send(200, "application/json", self.completion(body, text))

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake():
    f = FakeLLM()
    yield f
    f.close()


def llm_settings(tmp: Path, port: int, **kw) -> Settings:
    kw.setdefault("llm_timeout_s", TIMEOUT_S)
    return Settings(llm_backend="openai", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="fake",
                    db_path=tmp / "kanmin.sqlite3", **kw)


@pytest.fixture(scope="module")
def container(fake, tmp_path_factory):
    from assistant.container import Container

    c = Container(llm_settings(tmp_path_factory.mktemp("gen"), fake.port)).load()
    # warm up retrieval (tokenizer, embedder) once for the module
    for q in (Q_JA, Q_JA2, Q_EN):
        c.assistant.ask(q)
    return c


@pytest.fixture
def assistant(container, fake):
    fake.behaviour = "good"
    fake.requests.clear()
    return container.assistant


def markers(text: str) -> list[int]:
    return [int(n) for n in MARK.findall(text)]


def assert_markers_valid(a) -> None:
    ns = markers(a.answer)
    assert ns, a.answer
    assert set(ns) == {c.n for c in a.citations}, (a.answer, [c.n for c in a.citations])
    assert [c.n for c in a.citations] == list(range(1, len(a.citations) + 1))
    first_use = list(dict.fromkeys(ns))
    assert first_use == sorted(first_use), "renumbered in order of first use"


def assert_extractive_fallback(a, extractive, expect: str, t: float) -> None:
    assert a.mode == "extractive", a.answer
    assert a.fallback and expect in a.fallback, a.fallback
    assert a.answer == extractive.answer
    assert [c.quote for c in a.citations] == [c.quote for c in extractive.citations]
    assert t < STALL_S / 2, f"took {t:.2f}s: waited for a stalled LLM instead of falling back"


# ---- through the real Assistant ---------------------------------------------------------
@pytest.mark.parametrize("question", [Q_JA, Q_JA2, Q_EN])
def test_good_answer_is_generative_and_verified(assistant, fake, question):
    extractive = assistant.ask(question)
    a = assistant.ask(question, mode="generative")
    assert a.route == "qa"
    assert a.mode == "generative", a.fallback
    assert a.fallback is None
    assert_markers_valid(a)
    chunks = assistant.chunks
    ext_quotes = {(c.chunk_id, c.quote) for c in extractive.citations}
    for c in a.citations:
        assert c.quote in chunks[c.chunk_id].text  # verbatim, unchanged
        assert (c.chunk_id, c.quote) in ext_quotes  # only the extractive answer's sources
    # every sentence carries a marker; every claim is the cited source's text
    for s in split(a.answer):
        assert MARK.search(s.raw), s.raw
    # the request: chat endpoint, our model, no retries hidden behind one call
    assert len(fake.requests) == 1
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == "fake"
    user = fake.prompt_of(req["body"])
    assert question in user
    for c in extractive.citations:
        assert f"[{c.n}]" in user and c.quote[:20] in user


def test_bad_citations_are_removed_and_flagged(assistant, fake):
    fake.behaviour = "bad"
    a = assistant.ask(Q_JA, mode="generative")
    # the first sentence is source [1]'s own words: the answer is kept, repaired, and says so
    assert a.mode == "generative", a.fallback
    assert a.fallback, "a repaired answer must say what was removed"
    assert "no source for [99]" in a.fallback
    assert "removed" in a.fallback or "dropped" in a.fallback
    assert "[99]" not in a.answer
    assert "750万円" not in a.answer and "結論" not in a.answer  # unsupported claims never shown
    assert_markers_valid(a)
    assert len(a.citations) == 1


def test_wholly_unsupported_answer_falls_back(assistant, fake):
    fake.behaviour = "unsupported"
    extractive = assistant.ask(Q_JA)
    t0 = time.perf_counter()
    a = assistant.ask(Q_JA, mode="generative")
    assert_extractive_fallback(a, extractive, "llm_unsupported", time.perf_counter() - t0)
    assert "750万円" not in a.answer


def test_declined_answer_falls_back(assistant, fake):
    fake.behaviour = "declined"
    extractive = assistant.ask(Q_JA2)
    t0 = time.perf_counter()
    a = assistant.ask(Q_JA2, mode="generative")
    assert_extractive_fallback(a, extractive, "llm_declined", time.perf_counter() - t0)


@pytest.mark.parametrize("behaviour,expect", [
    ("slow", "LlmTimeout"),
    ("garbage_json", "LlmGarbage"),
    ("html500", "HTTP 500"),
    ("html_content", "HTML"),
    ("empty", "empty"),
])
def test_failures_fall_back_to_extractive_every_time(assistant, fake, behaviour, expect, tmp_path, monkeypatch):
    fake.behaviour = behaviour
    if behaviour == "slow":
        # the deadline itself is under test: a shorter one than the module's (the fake stalls for
        # STALL_S whatever it is), so three questions do not wait 3 × TIMEOUT_S
        from assistant.container import make_generator

        monkeypatch.setattr(assistant, "generator",
                            make_generator(llm_settings(tmp_path, fake.port, llm_timeout_s=SLOW_DEADLINE_S)))
    for question in (Q_JA, Q_EN, Q_JA):
        extractive = assistant.ask(question)
        t0 = time.perf_counter()
        a = assistant.ask(question, mode="generative")
        assert_extractive_fallback(a, extractive, expect, time.perf_counter() - t0)
        assert a.fallback.startswith("llm_error: ")


def test_down_server_falls_back_every_time(assistant, tmp_path, monkeypatch):
    from assistant.container import make_generator

    monkeypatch.setattr(assistant, "generator", make_generator(llm_settings(tmp_path, closed_port())))
    for question in (Q_JA, Q_EN, Q_JA2):
        extractive = assistant.ask(question)
        t0 = time.perf_counter()
        a = assistant.ask(question, mode="generative")
        assert_extractive_fallback(a, extractive, "LlmUnavailable", time.perf_counter() - t0)


def test_misconfigured_backend_falls_back(assistant, tmp_path, monkeypatch):
    from assistant.container import make_generator

    bad = Settings(llm_backend="openai", llm_base_url="", llm_model="fake", db_path=tmp_path / "x.sqlite3")
    monkeypatch.setattr(assistant, "generator", make_generator(bad))
    a = assistant.ask(Q_JA, mode="generative")
    assert a.mode == "extractive" and "KANMIN_LLM_BASE_URL" in a.fallback


def test_default_settings_generative_is_not_configured(container):
    from assistant.container import make_generator
    from assistant.service import Assistant

    gen = make_generator(Settings(llm_backend="none"))
    assert gen is None
    plain = Assistant(container.guide, container.assistant.retriever, None, container.assistant.abstain_cfg, generator=gen)
    a = plain.ask(Q_JA, mode="generative")
    assert a.mode == "extractive"
    assert a.fallback and a.fallback.startswith("generative mode is not configured")
    assert a.citations


def test_default_path_does_not_import_llm_clients():
    code = ("import sys\n"
            "from assistant.container import make_generator\n"
            "from ingest.settings import Settings\n"
            "assert make_generator(Settings(llm_backend='none')) is None\n"
            "bad = [m for m in sys.modules if m.startswith(('llama_index.llms', 'openai', 'ollama'))]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


# ---- construction ----------------------------------------------------------------------
def test_openai_client_parameters(tmp_path):
    g = LlmGenerator.from_settings(Settings(llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1/", llm_model="m",
                                            llm_api_key="", llm_timeout_s=3.5, db_path=tmp_path / "x"))
    assert g.config_error is None
    llm = g.llm
    assert type(llm).__name__ == "OpenAILike"
    assert llm.api_base == "http://127.0.0.1:9/v1" and llm.model == "m" and llm.api_key == "none"
    assert llm.timeout == 3.5 and llm.max_retries == 0 and llm.is_chat_model and llm.context_window > 0
    assert g.timeout_s == 3.5


def test_ollama_client_parameters(tmp_path):
    g = LlmGenerator.from_settings(Settings(llm_backend="ollama", llm_base_url="", llm_model="qwen", llm_timeout_s=4,
                                            db_path=tmp_path / "x"))
    assert g.config_error is None
    llm = g.llm
    assert type(llm).__name__ == "Ollama"
    assert llm.base_url == "http://localhost:11434" and llm.model == "qwen" and llm.request_timeout == 4
    assert llm.context_window > 0  # never -1: that would query the server before every call


@pytest.mark.parametrize("kw,expect", [
    ({"llm_backend": "openai", "llm_model": "m"}, "KANMIN_LLM_BASE_URL"),
    ({"llm_backend": "openai", "llm_base_url": "http://x/v1"}, "KANMIN_LLM_MODEL"),
    ({"llm_backend": "gpt", "llm_model": "m"}, "unknown KANMIN_LLM_BACKEND"),
])
def test_config_errors_are_reported_per_call(kw, expect):
    g = LlmGenerator.from_settings(Settings(**kw))
    assert g.config_error and expect in g.config_error


# ---- the hard deadline -------------------------------------------------------------------
class _Msg:
    def __init__(self, content):
        self.message = type("M", (), {"content": content})()


class StubbornLLM:
    """A client that ignores its own timeout: it answers after ``sleep_s`` or when released."""

    def __init__(self, sleep_s: float, content="x"):
        self.sleep_s = sleep_s
        self.content = content
        self.released = threading.Event()

    def chat(self, messages):
        self.released.wait(self.sleep_s)
        return _Msg(self.content)


def _cites(guide_chunks) -> tuple[list[Citation], dict]:
    chunk = next(c for c in guide_chunks if c.kind == "body" and len(c.text) > 80)
    q = chunk.text[:60]
    return [Citation(n=1, chunk_id=chunk.id, section_path=chunk.section_path, pages=chunk.pages, quote=q)], {chunk.id: chunk}


def test_hard_wall_clock_timeout(guide):
    cites, chunks = _cites(guide.chunks)
    stubborn = StubbornLLM(STALL_S)
    g = LlmGenerator(stubborn, timeout_s=0.5)
    t0 = time.perf_counter()
    try:
        with pytest.raises(LlmTimeout):
            g.generate("質問", "ja", cites, chunks)
        took = time.perf_counter() - t0
    finally:
        stubborn.released.set()  # let the abandoned call's thread end
    assert took < STALL_S / 2, f"took {took:.1f}s: waited for the client instead of the 0.5 s deadline"


def test_call_with_deadline_passes_results_and_errors():
    assert call_with_deadline(lambda: 7, 1.0) == 7
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, 1.0)


@pytest.mark.parametrize("content", [None, 42, "", "   ", "<html><body>502 Bad Gateway</body></html>", "abc\x00\x01def"])
def test_garbage_content_raises(guide, content):
    cites, chunks = _cites(guide.chunks)
    with pytest.raises(LlmGarbage):
        LlmGenerator(StubbornLLM(0, content), timeout_s=2).generate("質問", "ja", cites, chunks)


def test_generate_renumbers_and_keeps_quotes(guide):
    chunks = [c for c in guide.chunks if c.kind == "body" and len(c.text) > 80][:3]
    cites = [Citation(n=i + 1, chunk_id=c.id, section_path=c.section_path, pages=c.pages, quote=c.text[:50])
             for i, c in enumerate(chunks)]
    s3 = first_sentence(chunks[2].text)
    s1 = first_sentence(chunks[0].text)
    g = LlmGenerator(StubbornLLM(0, f"{s3}[3]。{s1}[1][7]。"), timeout_s=2)
    text, kept, problem = g.generate("質問", "ja", cites, {c.id: c for c in chunks})
    assert markers(text) == [1, 2]
    assert [c.chunk_id for c in kept] == [chunks[2].id, chunks[0].id]
    assert [c.n for c in kept] == [1, 2]
    assert [c.quote for c in kept] == [cites[2].quote, cites[0].quote]
    assert problem and "[7]" in problem


# ---- the checker on its own ----------------------------------------------------------------
SRC = {
    1: "地方公共団体の契約は一般競争入札によることが原則とされているが、地方自治法施行令(第167条の2)では、"
       "下記の要件に該当する場合に限り、随意契約を締結することが可能とされている。",
    2: "例外的に随意契約ができる9つの要件が記載されていますが、ここでご紹介するのは、"
       "④新商品として生産される物品を買い入れる場合又は新役務の提供を受ける場合、についてです。",
}


def test_check_keeps_supported_paraphrase():
    r = check("自治体の契約は一般競争入札が原則で、地方自治法施行令第167条の2の要件に該当する場合に限り随意契約ができます[1]。"
              "随意契約ができる要件は9つあります[2]。", SRC, english=False)
    assert r.used == [1, 2] and r.dropped == 0 and not r.problems
    assert markers(r.text) == [1, 2]


def test_check_drops_wrong_numbers_and_wrong_sources():
    r = check("随意契約ができる要件は12あります[2]。"  # number not in the source
              "随意契約ができる9つの要件があります[1]。"  # right claim, wrong source
              "一般競争入札が原則です[1][2]。", SRC, english=False)
    assert r.text == "一般競争入札が原則です[1]。"
    assert r.used == [1]
    joined = " ".join(r.problems)
    assert "12 not in" in joined and "[2] removed from sentence 3" in joined


def test_check_out_of_range_and_unmarked():
    r = check("一般競争入札が原則です[1][9]。ガイドでは重要だとされています。", SRC, english=False)
    assert r.text == "一般競争入札が原則です[1]。"
    assert any("no source for [9]" in p for p in r.problems)
    assert any("no citation" in p for p in r.problems)


def test_check_english_needs_a_verbatim_japanese_anchor():
    r = check("Contracts use 「一般競争入札」 in principle [1]. The ministry approves 「随意契約」 via METI [1]. "
              "This is always allowed [2].", SRC, english=True)
    assert r.text == "Contracts use 「一般競争入札」 in principle [1]."
    assert r.kept == 1 and r.dropped == 2


def test_check_marker_forms():
    assert marker_numbers("1, 2") == [1, 2]
    assert marker_numbers("１、２") == [1, 2]
    assert marker_numbers("1-3") == [1, 2, 3]
    r = check("一般競争入札が原則です［１］。\n随意契約ができる9つの要件があります。[2]", SRC, english=False)
    assert r.text == "一般競争入札が原則です[1]。\n随意契約ができる9つの要件があります。[2]"


def test_check_strips_reasoning_and_detects_decline():
    r = check("<think>[1] says 一般競争入札</think>出典からは答えられません。", SRC, english=False)
    assert r.text == "" and r.declined


def test_prompt_contains_numbered_sources(guide):
    cites, chunks = _cites(guide.chunks)
    sys_ja, user_ja = build_messages("質問です", "ja", sources_of(cites, chunks))
    assert "[1]" in user_ja and cites[0].quote in user_ja and "質問: 質問です" in user_ja and "1〜5文" in sys_ja
    sys_en, user_en = build_messages("A question?", "en", sources_of(cites, chunks))
    assert "ONLY" in sys_en and "Question: A question?" in user_en and "「」" in sys_en
    long = "あ" * 3000 + "ここが引用です。" + "い" * 3000
    ex = excerpt(long, "ここが引用です。")
    assert "ここが引用です。" in ex and len(ex) < 1000
