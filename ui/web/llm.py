"""Is the generative (LLM) mode worth offering? Only when a backend is configured without
error and its server answers; probed at most once a minute so page loads stay fast."""
from __future__ import annotations

import threading
import time
from typing import Any

import httpx

PROBE_TIMEOUT_S = 2.0
PROBE_EVERY_S = 60.0

_lock = threading.Lock()
_cache: dict[str, tuple[float, bool]] = {}


def _probe_url(settings: Any) -> str | None:
    backend = (settings.llm_backend or "none").strip().lower()
    base = (settings.llm_base_url or "").strip().rstrip("/")
    if backend == "openai" and base:
        return base + "/models"
    if backend == "ollama":
        return (base or "http://localhost:11434") + "/api/tags"
    return None


def _reachable(url: str, api_key: str) -> bool:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(url, timeout=PROBE_TIMEOUT_S, headers=headers)
    except httpx.HTTPError:
        return False
    return r.status_code < 500  # a 401/404 still means a server is there


def llm_available(container: Any) -> bool:
    generator = getattr(getattr(container, "assistant", None), "generator", None)
    if generator is None or getattr(generator, "config_error", None) or getattr(generator, "llm", None) is None:
        return False
    settings = container.settings
    url = _probe_url(settings)
    if url is None:
        return False
    now = time.monotonic()
    with _lock:
        hit = _cache.get(url)
        if hit and now - hit[0] < PROBE_EVERY_S:
            return hit[1]
    ok = _reachable(url, settings.llm_api_key or "")
    with _lock:
        _cache[url] = (now, ok)
    return ok
