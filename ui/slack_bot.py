"""Slack bot (slack-bolt): HTTP mode at POST /slack/events on the API app, or Socket Mode.

* Signature verification (bad / missing / older than 5 minutes → 401 JSON), url_verification.
* Ack at once; answer in a lazy listener (a worker thread), in the thread, with Block Kit.
* Slack retries (X-Slack-Retry-Num) are acked without re-processing; duplicate event_ids,
  slash-command and button deliveries are processed once (Store.seen_event).
* app_mention and DMs (message.im): follow-ups in a thread share the session
  ``slack:<channel>:<thread_ts>``. /kanmin <question> answers ephemerally with a share button.
* 👍/👎 buttons write feedback (source="slack"). Tokens and secrets are never logged.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from assistant.schema import Answer
from assistant.store import Store
from ingest.errors import KanminError
from ingest.settings import Settings
from ui.errors import error_response
from ui.metrics import Metrics
from ui.runtime import ContainerHolder
from ui.slack_blocks import FEEDBACK_DOWN, FEEDBACK_UP, SHARE, answer_blocks, fallback_text, label

log = logging.getLogger("kanmin.slack")

PERSONAS = {"municipality", "startup", "intermediary", "any"}
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
CONTAINER_WAIT_S = 90.0
SEEN_EVENTS_TTL_S = 3 * 86400.0  # Slack retries within minutes; keep de-dup keys for 3 days
PRUNE_EVERY = 500


def parse_channel_personas(value: str) -> dict[str, str]:
    """``"C123=municipality,C456=startup"`` → ``{"C123": "municipality", ...}`` (unknown personas skipped)."""
    out: dict[str, str] = {}
    for part in value.split(","):
        channel, _, persona = part.partition("=")
        channel, persona = channel.strip(), persona.strip().lower()
        if channel and persona in PERSONAS:
            out[channel] = persona
        elif part.strip():
            log.warning("ignoring slack_channel_personas entry", extra={"fields": {"entry": part.strip()[:64]}})
    return out


def strip_mentions(text: str) -> str:
    return " ".join(_MENTION.sub(" ", text or "").split())


def dedupe_key(body: dict[str, Any]) -> str | None:
    """A stable id for one delivery of one Slack request (None when there is nothing to de-duplicate)."""
    kind = body.get("type")
    if kind == "event_callback" and body.get("event_id"):
        return f"slack:event:{body['event_id']}"
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        user = (body.get("user") or {}).get("id", "")
        if body.get("trigger_id"):
            return f"slack:action:{body['trigger_id']}"
        return f"slack:action:{user}:{actions[0].get('action_ts', '')}:{actions[0].get('action_id', '')}"
    if body.get("command") and body.get("trigger_id"):
        return f"slack:command:{body['trigger_id']}"
    return None


class _QuietUnhandled(logging.Filter):
    """Verified events nobody listens for are acked (200) on purpose; don't log their bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unhandled request")


class SlackBot:
    def __init__(self, settings: Settings, holder: ContainerHolder, metrics: Metrics):
        self.settings = settings
        self.holder = holder
        self.metrics = metrics
        self.mode = (settings.slack_mode or "http").strip().lower()
        self.personas = parse_channel_personas(settings.slack_channel_personas)
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._socket_handler: Any = None
        self._accepted = 0
        if self.mode == "socket":
            self.configured = bool(settings.slack_bot_token and settings.slack_app_token)
        else:
            self.configured = bool(settings.slack_bot_token and settings.slack_signing_secret)
        self.verifier = SignatureVerifier(settings.slack_signing_secret) if settings.slack_signing_secret else None
        self.app: App | None = self._build_app() if self.configured else None

    # -- construction -------------------------------------------------------------
    def _build_app(self) -> App:
        s = self.settings
        base_url = s.slack_api_base_url.strip() or WebClient.BASE_URL
        if not base_url.endswith("/"):
            base_url += "/"
        client = WebClient(token=s.slack_bot_token, base_url=base_url, timeout=15,
                           logger=logging.getLogger("kanmin.slack.web"))
        bolt_logger = logging.getLogger("kanmin.slack.bolt")
        bolt_logger.setLevel(logging.WARNING)
        if not any(isinstance(f, _QuietUnhandled) for f in bolt_logger.filters):
            bolt_logger.addFilter(_QuietUnhandled())
        app = App(
            client=client,
            signing_secret=s.slack_signing_secret or "",
            token_verification_enabled=False,
            request_verification_enabled=self.mode != "socket",
            process_before_response=False,
            logger=bolt_logger,
            name="kanmin",
        )
        app.use(self._skip_retries_and_duplicates)
        app.event("app_mention")(ack=self._ack, lazy=[self._on_mention])
        app.event("message")(ack=self._ack, lazy=[self._on_message])
        app.command("/kanmin")(ack=self._ack_command, lazy=[self._on_command])
        app.action(FEEDBACK_UP)(ack=self._ack, lazy=[self._on_feedback])
        app.action(FEEDBACK_DOWN)(ack=self._ack, lazy=[self._on_feedback])
        app.action(SHARE)(ack=self._ack, lazy=[self._on_share])
        app.error(self._on_error)
        return app

    def socket_handler(self):
        """The Socket Mode handler (built, not connected)."""
        if self._socket_handler is None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            self._socket_handler = SocketModeHandler(self.app, self.settings.slack_app_token,
                                                     logger=logging.getLogger("kanmin.slack.socket"))
        return self._socket_handler

    def start_socket_mode(self) -> None:
        if self.mode != "socket" or self.app is None:
            return

        def run() -> None:
            try:
                self.socket_handler().connect()
                log.info("slack socket mode connected")
            except Exception as exc:  # noqa: BLE001 - no network is not fatal for the API
                log.error("slack socket mode failed", extra={"fields": {"reason": type(exc).__name__}})

        threading.Thread(target=run, name="kanmin-slack-socket", daemon=True).start()

    def close(self) -> None:
        if self._socket_handler is not None:
            try:
                self._socket_handler.close()
            except Exception:  # noqa: BLE001
                pass

    # -- state ------------------------------------------------------------------------
    def store(self) -> Store:
        c = self.holder.container
        if c is not None and getattr(c, "store", None) is not None:
            return c.store
        with self._store_lock:
            if self._store is None:
                self._store = Store(self.settings.db_path)
            return self._store

    def persona_for(self, channel: str | None) -> str | None:
        return self.personas.get(channel or "")

    # -- HTTP entry point ---------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        if self.app is None or self.mode == "socket" or self.verifier is None:
            why = ("Slack runs in Socket Mode; HTTP events are off" if self.mode == "socket" and self.app
                   else "Slack is not configured: set KANMIN_SLACK_SIGNING_SECRET and KANMIN_SLACK_BOT_TOKEN")
            self.metrics.slack_events.labels("http", "not_configured").inc()
            return error_response(503, "slack_not_configured", why)
        body = await request.body()
        ts = request.headers.get("x-slack-request-timestamp")
        sig = request.headers.get("x-slack-signature")
        if not ts or not sig:
            self.metrics.slack_events.labels("http", "bad_signature").inc()
            return error_response(401, "invalid_signature", "missing Slack signature headers")
        try:
            valid = self.verifier.is_valid(body=body, timestamp=ts, signature=sig)
        except UnicodeDecodeError:  # the verifier decodes the body: non-UTF-8 bytes were a 500 for anyone
            valid = False
        if not valid:
            self.metrics.slack_events.labels("http", "bad_signature").inc()
            return error_response(401, "invalid_signature", "invalid or expired Slack signature")
        try:
            bolt_req = to_bolt_request(request, body)
        except Exception:  # noqa: BLE001 - e.g. a JSON array: bolt assumes an object
            return error_response(400, "invalid_payload", "Slack request body could not be parsed")
        try:
            bolt_resp: BoltResponse = await run_in_threadpool(self.app.dispatch, bolt_req)
        except Exception as exc:  # noqa: BLE001 - bolt's own error path can fail on a malformed (signed) payload
            log.warning("slack request not processed", extra={"fields": {"error": type(exc).__name__}})
            bolt_resp = BoltResponse(status=500, body="")
        if bolt_resp.status >= 500:  # a listener/middleware failed on this payload (logged above / by _on_error)
            return error_response(400, "invalid_payload", "Slack request could not be processed")
        if bolt_resp.status == 401:
            return error_response(401, "invalid_signature", "invalid or expired Slack signature")
        if bolt_resp.status == 404:  # verified but nothing listens for it: ack so Slack does not retry
            self.metrics.slack_events.labels("http", "ignored").inc()
            return Response(status_code=200)
        return to_starlette_response(bolt_resp)

    # -- bolt middleware / acks -------------------------------------------------------------
    def _skip_retries_and_duplicates(self, req, body, next):
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        if retry:
            self.metrics.slack_events.labels(body.get("type") or "unknown", "retry_skipped").inc()
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        key = dedupe_key(body)
        if key is not None and self.store().seen_event(key):
            self.metrics.slack_events.labels(body.get("type") or "command", "duplicate").inc()
            return BoltResponse(status=200, body="")
        self.metrics.slack_events.labels(body.get("type") or ("command" if body.get("command") else "unknown"),
                                         "accepted").inc()
        self._accepted += 1
        if self._accepted % PRUNE_EVERY == 0:
            try:
                self.store().prune_events(SEEN_EVENTS_TTL_S)
            except Exception as exc:  # noqa: BLE001 - housekeeping only
                log.warning("pruning seen_events failed", extra={"fields": {"error": type(exc).__name__}})
        return next()

    @staticmethod
    def _ack(ack) -> None:
        ack()

    @staticmethod
    def _ack_command(ack, command) -> None:
        if not strip_mentions(command.get("text", "")):
            ack(text=label("ja", "help"))
        else:
            ack()

    def _on_error(self, error, body, logger) -> None:
        log.error("slack listener error", extra={"fields": {"error": f"{type(error).__name__}: {error}"[:300],
                                                            "type": (body or {}).get("type")}})

    # -- answering ------------------------------------------------------------------------
    def _ask(self, question: str, channel: str | None, session_id: str | None) -> tuple[Answer | None, str | None]:
        """(answer, None) or (None, user-facing error text)."""
        try:
            c = self.holder.get_loaded(wait=CONTAINER_WAIT_S)
            answer = c.assistant.ask(question, persona=self.persona_for(channel), session_id=session_id,
                                     source="slack")
        except KanminError as exc:
            key = "unavailable" if getattr(exc, "status", 400) >= 500 else "error"
            return None, label("ja", key, msg=exc.message)
        except Exception as exc:  # noqa: BLE001
            log.error("slack answer failed", exc_info=exc)
            return None, label("ja", "error", msg="internal error")
        self.metrics.observe_answer(answer, "slack")
        return answer, None

    def _reply_in_thread(self, client: WebClient, channel: str, thread_ts: str, text: str) -> None:
        question = strip_mentions(text)
        if not question:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=label("ja", "help"))
            return
        answer, err = self._ask(question[:2000], channel, f"slack:{channel}:{thread_ts}")
        if answer is None:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=err)
            return
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=fallback_text(answer),
                                blocks=answer_blocks(answer), unfurl_links=False, unfurl_media=False)

    def _on_mention(self, event, client) -> None:
        channel = event.get("channel")
        ts = event.get("thread_ts") or event.get("ts")
        if not channel or not ts:
            return
        self._reply_in_thread(client, channel, ts, event.get("text", ""))

    def _on_message(self, event, client) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # only plain human messages in DMs (mentions in channels come as app_mention)
        channel = event.get("channel")
        ts = event.get("thread_ts") or event.get("ts")
        if not channel or not ts:
            return
        self._reply_in_thread(client, channel, ts, event.get("text", ""))

    def _on_command(self, command, client, respond) -> None:
        question = strip_mentions(command.get("text", ""))
        if not question:
            return
        channel, user = command.get("channel_id"), command.get("user_id")
        answer, err = self._ask(question[:2000], channel, None)
        if answer is None:
            text, blocks = err, None
        else:
            text, blocks = fallback_text(answer), answer_blocks(answer, share=True)
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        except SlackApiError as exc:  # e.g. not_in_channel: fall back to the response_url
            log.info("postEphemeral failed; using response_url",
                     extra={"fields": {"error": str(exc.response.get("error"))}})
            respond(text=text, blocks=blocks, response_type="ephemeral")

    # -- buttons --------------------------------------------------------------------------
    @staticmethod
    def _where(body: dict) -> tuple[str | None, str | None, str | None]:
        user = (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        thread_ts = (body.get("container") or {}).get("thread_ts") or (body.get("message") or {}).get("thread_ts")
        return user, channel, thread_ts

    def _on_feedback(self, body, action, client) -> None:
        user, channel, thread_ts = self._where(body)
        answer_id = str(action.get("value") or "")[:128]
        rating = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        store = self.store()
        answer = store.get_answer(answer_id) if answer_id else None
        lang = answer.language if answer else "ja"
        if answer is None:
            text = label(lang, "unknown_answer")
        else:
            try:
                store.add_feedback(answer_id, rating, None, source="slack")
                self.metrics.feedback.labels(rating, "slack").inc()
                text = label(lang, "thanks_up" if rating == "up" else "thanks_down")
            except Exception as exc:  # noqa: BLE001
                log.error("slack feedback failed", exc_info=exc)
                text = label(lang, "feedback_failed")
        if channel and user:
            kwargs = {"thread_ts": thread_ts} if thread_ts else {}
            client.chat_postEphemeral(channel=channel, user=user, text=text, **kwargs)

    def _on_share(self, body, action, client, respond) -> None:
        user, channel, _ = self._where(body)
        answer = self.store().get_answer(str(action.get("value") or "")[:128])
        if answer is None:
            respond(text=label("ja", "unknown_answer"), response_type="ephemeral", replace_original=False)
            return
        blocks = answer_blocks(answer, shared_by=user)
        try:
            client.chat_postMessage(channel=channel, text=fallback_text(answer), blocks=blocks, unfurl_links=False)
        except SlackApiError:
            respond(text=fallback_text(answer), blocks=blocks, response_type="in_channel", replace_original=False)
