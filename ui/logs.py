"""Structured JSON logging for the server, with secrets redacted from every line."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Iterable


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
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        line = json.dumps(out, ensure_ascii=False, default=str)
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, "***")
        return line


def settings_secrets(settings) -> list[str]:
    secrets = [settings.slack_signing_secret, settings.slack_bot_token, settings.slack_app_token,
               settings.llm_api_key, *settings.api_key_set()]
    return [s for s in secrets if s]


def configure_logging(settings, level: int = logging.INFO) -> None:
    """Route every logger (ours, uvicorn, slack_bolt) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings_secrets(settings)))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # Libraries that log request headers (tokens) at DEBUG stay at INFO or above.
    for name in ("slack_sdk", "slack_bolt", "httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("faiss").setLevel(logging.WARNING)
