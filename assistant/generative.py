"""Optional generative mode (extra ``llm``; off by default): an LLM rewrites the
extractive answer's sources into 1–5 sentences with [n] markers, which are then
checked against the sources (assistant.citation_check) before anything is shown.

The llama-index LLM packages are imported only when a backend is configured.
Any failure raises an LlmError subclass, on which the Assistant falls back to the
extractive answer; an answer with nothing supported returns ("", [], problem).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Callable

from assistant.citation_check import check, sentence_window
from assistant.prompting import build_messages, sources_of
from assistant.schema import Citation
from ingest.models import Chunk
from ingest.text import is_control_free

log = logging.getLogger("kanmin.generative")

CONTEXT_WINDOW = 8192
MAX_OUTPUT_TOKENS = 512
TEMPERATURE = 0.1
MAX_INFLIGHT = 8  # concurrent LLM calls; a hung backend cannot pile up threads beyond this
MAX_ANSWER_CHARS = 8000
PROBLEM_CHARS = 480
_HTML = re.compile(r"^\s*<(?:!doctype|html|head|body|\?xml)\b|</(?:html|body)>", re.I)


class LlmError(Exception):
    """Base class: the generative answer is unusable; fall back to extractive."""


class LlmConfigError(LlmError):
    pass


class LlmTimeout(LlmError):
    pass


class LlmUnavailable(LlmError):
    pass


class LlmGarbage(LlmError):
    pass


def call_with_deadline(fn: Callable[[], Any], timeout_s: float, gate: threading.BoundedSemaphore | None = None) -> Any:
    """Run ``fn`` in a daemon thread and wait at most ``timeout_s`` (wall clock) for it.

    A client that ignores its own timeout keeps its thread until it returns, but
    the caller is released on time; ``gate`` bounds how many such threads exist.
    """
    t0 = time.monotonic()
    if gate is not None and not gate.acquire(timeout=timeout_s):
        raise LlmTimeout(f"too many LLM calls in flight (waited {timeout_s:g}s)")
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
        finally:
            if gate is not None:
                gate.release()
            done.set()

    threading.Thread(target=run, name="kanmin-llm", daemon=True).start()
    if not done.wait(max(0.0, timeout_s - (time.monotonic() - t0))):
        raise LlmTimeout(f"no answer from the LLM within {timeout_s:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _classify(exc: BaseException) -> LlmError:
    """Map client exceptions (openai, httpx, ollama) to short, typed errors."""
    if isinstance(exc, LlmError):
        return exc
    names = _names(exc)
    msg = " ".join(str(exc).split())[:160]
    if names & {"APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout", "ConnectTimeout"}:
        return LlmTimeout(f"the LLM did not answer in time ({type(exc).__name__})")
    if names & {"APIConnectionError", "ConnectError", "ConnectionError", "NetworkError", "RemoteProtocolError"}:
        return LlmUnavailable(f"cannot reach the LLM server ({type(exc).__name__}: {msg})")
    if "APIStatusError" in names or "ResponseError" in names:
        status = getattr(exc, "status_code", None)
        return LlmUnavailable(f"the LLM server answered HTTP {status}" if status else f"the LLM server failed: {msg}")
    if names & {"JSONDecodeError", "APIResponseValidationError", "ValidationError", "KeyError", "TypeError",
                "AttributeError", "IndexError", "ValueError"}:
        return LlmGarbage(f"unreadable LLM response ({type(exc).__name__}: {msg})")
    return LlmError(f"{type(exc).__name__}: {msg}")


class LlmGenerator:
    """Generator for ``Assistant`` (see assistant.service.Generator)."""

    def __init__(self, llm: Any, timeout_s: float, backend: str = "openai", model: str = "",
                 config_error: str | None = None):
        self.llm = llm
        self.timeout_s = float(timeout_s)
        self.backend = backend
        self.model = model
        self.config_error = config_error
        self._gate = threading.BoundedSemaphore(MAX_INFLIGHT)

    # ---- construction -----------------------------------------------------------
    @classmethod
    def from_settings(cls, settings) -> "LlmGenerator":
        """Build the llama-index client. A misconfiguration does not stop the app:
        the generator then reports it on every call (and the answer falls back)."""
        backend = (settings.llm_backend or "none").strip().lower()
        timeout = float(settings.llm_timeout_s)
        model = settings.llm_model.strip()
        try:
            if timeout <= 0:
                raise LlmConfigError(f"KANMIN_LLM_TIMEOUT_S must be > 0, got {timeout}")
            if not model:
                raise LlmConfigError(f"KANMIN_LLM_MODEL is required for backend {backend!r}")
            if backend == "openai":
                base = settings.llm_base_url.strip().rstrip("/")
                if not base:
                    raise LlmConfigError("KANMIN_LLM_BASE_URL is required for backend 'openai' (e.g. http://127.0.0.1:8080/v1)")
                try:
                    from llama_index.llms.openai_like import OpenAILike
                except ImportError as exc:
                    raise LlmConfigError("backend 'openai' needs the llm extra: pip install 'kanmin[llm]'") from exc
                llm = OpenAILike(
                    api_base=base, model=model, api_key=settings.llm_api_key or "none",
                    timeout=timeout, max_retries=0, is_chat_model=True, is_function_calling_model=False,
                    context_window=CONTEXT_WINDOW, max_tokens=MAX_OUTPUT_TOKENS, temperature=TEMPERATURE,
                    reuse_client=True,
                )
            elif backend == "ollama":
                try:
                    from llama_index.llms.ollama import Ollama
                except ImportError as exc:
                    raise LlmConfigError("backend 'ollama' needs the llm extra: pip install 'kanmin[llm]'") from exc
                llm = Ollama(
                    model=model, base_url=settings.llm_base_url.strip().rstrip("/") or "http://localhost:11434",
                    request_timeout=timeout, temperature=TEMPERATURE,
                    # set explicitly: -1 would make the client ask the server (a network call) first
                    context_window=CONTEXT_WINDOW, additional_kwargs={"num_predict": MAX_OUTPUT_TOKENS},
                )
            else:
                raise LlmConfigError(f"unknown KANMIN_LLM_BACKEND {backend!r} (none | openai | ollama)")
        except LlmConfigError as exc:
            log.error("generative mode unavailable: %s", exc)
            return cls(None, timeout if timeout > 0 else 1.0, backend, model, config_error=str(exc))
        return cls(llm, timeout, backend, model)

    # ---- Generator protocol ------------------------------------------------------
    def generate(self, question: str, language: str, citations: list[Citation],
                 chunks: dict[str, Chunk]) -> tuple[str, list[Citation], str | None]:
        if self.config_error or self.llm is None:
            raise LlmConfigError(self.config_error or "no LLM client")
        if not citations:
            return "", [], "llm_skipped: no sources to ground a generated answer"
        english = language == "en"
        sources = sources_of(citations, chunks)
        system, user = build_messages(question, language, sources)
        t0 = time.monotonic()
        raw = self._complete(system, user)
        log.info("llm answer from %s/%s in %.2fs (%d chars)", self.backend, self.model, time.monotonic() - t0, len(raw))
        result = check(raw, {s.n: s.text for s in sources}, english=english,
                       windows=_windows(citations, chunks, sources))
        if not result.text or not result.used:
            if result.declined:
                return "", [], "llm_declined: the model found no answer in the sources"
            return "", [], _problem("llm_unsupported", result.problems or ["no supported sentence"])
        by_n = {c.n: c for c in citations}
        kept = [by_n[old].model_copy(update={"n": i + 1}) for i, old in enumerate(result.used)]
        problem = _problem("llm_citations_repaired", result.problems) if result.problems else None
        return result.text, kept, problem

    # ---- the call ------------------------------------------------------------------
    def _complete(self, system: str, user: str) -> str:
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]
        try:
            resp = call_with_deadline(lambda: self.llm.chat(messages), self.timeout_s, self._gate)
        except Exception as exc:  # noqa: BLE001 - typed for the fallback reason
            err = _classify(exc)
            if err is not exc:
                raise err from exc
            raise
        content = getattr(getattr(resp, "message", None), "content", None)
        if content is None:  # llama-index maps "" to None
            raise LlmGarbage("the LLM returned an empty answer")
        if not isinstance(content, str):
            raise LlmGarbage(f"the LLM returned no text ({type(content).__name__})")
        text = content.strip()
        if not text:
            raise LlmGarbage("the LLM returned an empty answer")
        if _HTML.search(text):
            raise LlmGarbage("the LLM returned an HTML page instead of an answer")
        if not is_control_free(text) or "\ufffd" in text:
            raise LlmGarbage("the LLM returned binary or mis-encoded text")
        return text[:MAX_ANSWER_CHARS]


def _windows(citations: list[Citation], chunks: dict[str, Chunk], sources: list) -> dict[int, str]:
    """Per source: its heading and pages, and the quoted sentence with one neighbour either side (a
    generated claim's facts must be there, not merely somewhere in a long chunk)."""
    out = {}
    by_n = {s.n: s for s in sources}
    for c in citations:
        chunk = chunks.get(c.chunk_id)
        src = by_n.get(c.n)
        head = "\n".join(src.text.split("\n")[:2]) if src is not None else ""
        out[c.n] = head + "\n" + sentence_window(chunk.text if chunk is not None else c.quote, c.quote)
    return out


def _problem(kind: str, items: list[str]) -> str:
    s = f"{kind}: " + "; ".join(items)
    return s if len(s) <= PROBLEM_CHARS else s[:PROBLEM_CHARS - 1] + "…"
