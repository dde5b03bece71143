"""Structured JSON logging for the server, with secrets redacted from every line."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import datetime, timezone
from typing import Iterable


# json.dumps(ensure_ascii=False) escapes C0 controls but not DEL, C1 (U+0080-U+009F: U+0085 NEL,
# U+009B CSI), line/paragraph separators or bidi overrides; log viewers split or recolour lines on them.
# They can only occur inside JSON strings, where the escaped form is the same text.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def escape_controls(line: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. ``extra={"fields": {...}}`` adds keys; known secrets become ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which worker, when `kanmin serve --workers N` runs several
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        line = escape_controls(json.dumps(out, ensure_ascii=False, default=str))
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, "***")
        return line


class FloodGuard(logging.Filter):
    """At most ``burst`` warning/error records per (logger, message, exception type) a minute; the
    rest are counted and reported once the minute is over. Junk requests that make a library log a
    traceback each (unknown Gradio session hashes, malformed protocol input) cannot flood the log."""

    def __init__(self, burst: int = 5, window_s: float = 60.0):
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self.seen: dict[tuple, list[float]] = {}  # key → [window start, count]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, str(record.msg)[:200], exc)
        now = time.monotonic()
        slot = self.seen.get(key)
        if slot is None or now - slot[0] >= self.window_s:
            suppressed = int(slot[1]) - self.burst if slot is not None and slot[1] > self.burst else 0
            if len(self.seen) > 1000:  # bounded memory under a flood of distinct messages
                self.seen.clear()
            self.seen[key] = [now, 1]
            if suppressed:
                fields = dict(getattr(record, "fields", None) or {})
                fields["suppressed_before"] = suppressed
                record.fields = fields
            return True
        slot[1] += 1
        return slot[1] <= self.burst


def settings_secrets(settings) -> list[str]:
    secrets = [settings.slack_signing_secret, settings.slack_bot_token, settings.slack_app_token,
               settings.llm_api_key, *settings.api_key_set()]
    return [s for s in secrets if s]


def configure_logging(settings, level: int = logging.INFO) -> None:
    """Route every logger (ours, uvicorn, slack_bolt) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings_secrets(settings)))
    handler.addFilter(FloodGuard())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # uvicorn's own access lines carry raw paths (Gradio session hashes): ui/http/middleware.py writes
    # the access log, masked. Off here, not only by uvicorn's access_log=False, because each worker
    # configures its logging after uvicorn has applied its own settings.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    # Libraries that log request headers (tokens) at DEBUG stay at INFO or above.
    for name in ("slack_sdk", "slack_bolt", "httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("faiss").setLevel(logging.WARNING)
