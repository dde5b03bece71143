"""Slack bot (slack-bolt): HTTP mode at POST /slack/events on the API app, or Socket Mode.

* Signature verification (bad / missing / older than 5 minutes → 401 JSON), url_verification.
* Ack at once; answer in a lazy listener (a worker thread), in the thread, with Block Kit.
* Every delivery — first or a retry (X-Slack-Retry-Num) — claims its event_id / trigger_id in
  the store (Store.seen_event: SQLite, or PostgreSQL shared by replicas) and only the claiming
  delivery is answered: exactly once, whether or not the first delivery arrived.
* Edits (``edited`` / message_changed), other apps' messages (``bot_id`` / bot_message, unless
  ``slack_answer_bots``) and other subtypes are acked and counted, never answered.
* app_mention, DMs and group DMs (message.im / message.mpim, also thread_broadcast / file_share):
  follow-ups in a thread share the session ``slack:<channel>:<thread_ts>``. /kanmin <question>
  answers ephemerally (quoting the question) with a share button that shares once per channel.
* Questions are read as the reader saw them (ui.slack.text.normalise: links → labels, the bot's
  mention removed, &amp; unescaped); answers are escaped mrkdwn.
* Web API calls retry 429 (Retry-After) and dropped connections (slack_sdk retry handlers); a
  message Slack rejects (invalid_blocks / msg_too_long) is re-posted as text only.
* A plain channel message (message.channels / message.groups) is answered only as a follow-up in a
  thread kanmin already answered in (its session exists); any other channel message is ignored.
* ``slack_allowed_users``: only those users are answered (others: ignored; /kanmin tells them).
* 👍/👎 buttons write feedback (source="slack"), one vote per user and answer (a repeat changes
  nothing, the other button replaces it); a 👎 offers a comment modal (views.open / view_submission).
  Tokens and secrets are never logged.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.middleware.ssl_check import SslCheck
from slack_bolt.request.internals import parse_body
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from assistant.schema import Answer
from assistant.store import Store, StoreUnavailable
from ingest.errors import KanminError
from ingest.settings import Settings
from ui.errors import error_response
from ui.metrics import Metrics
from ui.runtime import ContainerHolder
from ui.models import MAX_QUESTION
from ui.slack.blocks import (
    COMMENT_INPUT, FEEDBACK_COMMENT, FEEDBACK_DOWN, FEEDBACK_UP, MAX_COMMENT, SHARE, answer_blocks, comment_button,
    comment_modal, escape, fallback_text, label, text_only, truncation_note,
)
from ui.slack.text import normalise

log = logging.getLogger("kanmin.slack")

PERSONAS = {"municipality", "startup", "intermediary", "any"}
CONTAINER_WAIT_S = 90.0
SEEN_EVENTS_TTL_S = 3 * 86400.0  # Slack retries within minutes; keep de-dup keys for 3 days
PRUNE_EVERY = 500
EDIT_SUBTYPES = {"message_changed"}
ANSWERED_SUBTYPES = {None, "thread_broadcast", "file_share", "bot_message"}  # bot_message: see slack_answer_bots
DM_CHANNEL_TYPES = {"im", "mpim"}
CHANNEL_TYPES = {"channel", "group"}  # message.channels / message.groups: thread follow-ups only
REJECTED = {"invalid_blocks", "invalid_blocks_format", "msg_too_long"}  # re-posted as text only
RATE_LIMIT_RETRIES = 5  # 429s in a row before giving up (each waits Slack's Retry-After)
CONNECTION_RETRIES = 2
AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


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


def parse_channels(value: str) -> frozenset[str]:
    return frozenset(c.strip() for c in value.split(",") if c.strip())


def bot_ids(body: dict[str, Any], context: Any = None) -> set[str]:
    """The bot's own user ids: bolt's auth.test result (context) and the event's authorizations."""
    ids = {context.get("bot_user_id")} if context is not None else set()
    ids |= {a.get("user_id") for a in body.get("authorizations") or [] if a.get("is_bot")}
    return {i for i in ids if i}


def web_client(token: str, base_url: str = "") -> WebClient:
    """slack_sdk's WebClient with its own retry handlers: 429 (waits Retry-After) and dropped connections."""
    base_url = base_url.strip() or WebClient.BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(token=token, base_url=base_url, timeout=15, logger=logging.getLogger("kanmin.slack.web"),
                     retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                                     ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES)])


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


def _is_ssl_check(body: bytes) -> bool:
    """``ssl_check=1&token=…`` (form-encoded, sent without a signature when the request URL is saved)."""
    if not body.startswith(b"ssl_check=") and b"&ssl_check=" not in body:
        return False
    try:
        return SslCheck._is_ssl_check_request(parse_body(body.decode("utf-8"), "application/x-www-form-urlencoded"))
    except Exception:  # noqa: BLE001
        return False


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
        self.allowed_channels = parse_channels(settings.slack_allowed_channels)
        self.allowed_users = parse_channels(settings.slack_allowed_users)
        self.user_cap = max(0, int(settings.slack_user_answers_per_minute))
        self.reaction = settings.slack_working_reaction.strip().strip(":")
        self._recent: dict[str, deque[float]] = {}  # user → monotonic times of their accepted questions
        self._capped: set[str] = set()  # de-dup keys of questions over the per-user cap (told, not answered)
        self._cap_lock = threading.Lock()
        self._reaction_errors: set[str] = set()
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
        client = web_client(s.slack_bot_token, s.slack_api_base_url)
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
        app.use(self._gate)
        app.event("app_mention")(ack=self._ack, lazy=[self._on_mention])
        app.event("message")(ack=self._ack, lazy=[self._on_message])
        app.command("/kanmin")(ack=self._ack_command, lazy=[self._on_command])
        app.action(FEEDBACK_UP)(ack=self._ack, lazy=[self._on_feedback])
        app.action(FEEDBACK_DOWN)(ack=self._ack, lazy=[self._on_feedback])
        app.action(SHARE)(ack=self._ack, lazy=[self._on_share])
        app.action(FEEDBACK_COMMENT)(ack=self._ack, lazy=[self._on_comment_button])
        app.view(FEEDBACK_COMMENT)(ack=self._ack, lazy=[self._on_comment])
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
                self._store = Store.from_settings(self.settings)
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
        if _is_ssl_check(body):  # Slack's unsigned certificate probe: 200, like bolt's SslCheck
            self.metrics.slack_events.labels("ssl_check", "ok").inc()
            return Response(status_code=200)
        ts = request.headers.get("x-slack-request-timestamp")
        sig = request.headers.get("x-slack-signature")
        if not ts or not sig:
            self.metrics.slack_events.labels("http", "bad_signature").inc()
            return error_response(401, "invalid_signature", "missing Slack signature headers")
        try:
            valid = self.verifier.is_valid(body=body, timestamp=ts, signature=sig)
        except Exception:  # noqa: BLE001 - any malformed input (non-UTF-8 body, timestamp "abc") is a bad signature
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
        if bolt_resp.status == 503:  # the gate could not claim it (state database unreachable): Slack retries
            return error_response(503, "database_unavailable", "the state database is unreachable; deliver again later")
        if bolt_resp.status >= 500:  # a listener/middleware failed on this payload (logged above / by _on_error)
            return error_response(400, "invalid_payload", "Slack request could not be processed")
        if bolt_resp.status == 401:
            return error_response(401, "invalid_signature", "invalid or expired Slack signature")
        if bolt_resp.status == 404:  # verified but nothing listens for it: ack so Slack does not retry
            self.metrics.slack_events.labels("http", "ignored").inc()
            return Response(status_code=200)
        return to_starlette_response(bolt_resp)

    # -- bolt middleware / acks -------------------------------------------------------------
    def _user_allowed(self, user: Any) -> bool:
        return not self.allowed_users or (isinstance(user, str) and user in self.allowed_users)

    def _kanmin_thread(self, channel: str, thread_ts: str) -> bool:
        """Has kanmin answered in this thread (its session ``slack:<channel>:<thread_ts>`` exists)?"""
        try:
            return bool(self.store().recent_turns(f"slack:{channel}:{thread_ts}", 1))
        except Exception as exc:  # noqa: BLE001 - an unreadable store: treat as not ours
            log.warning("slack thread lookup failed", extra={"fields": {"error": type(exc).__name__}})
            return False

    def _skip_reason(self, event: dict[str, Any], body: dict[str, Any] | None = None,
                     context: Any = None) -> str | None:
        """Why an app_mention / message event is not answered (None: answer it). Decided before the
        event_id is claimed, synchronously, and counted as ``kanmin_slack_events_total{outcome}``."""
        if not isinstance(event, dict) or event.get("type") not in ("app_mention", "message"):
            return None  # (a malformed event is bolt's to refuse, as before)
        etype, subtype = event["type"], event.get("subtype")
        if subtype is not None and not isinstance(subtype, str):
            return "ignored_subtype"
        # an edit re-sends the message (app_mention with `edited`, or message/message_changed) under a
        # new event_id: the original was answered already (or, if the mention was added by the edit,
        # the reader is told in docs/slack.md to ask anew)
        if event.get("edited") or subtype in EDIT_SUBTYPES:
            return "ignored_edit"
        if subtype not in ANSWERED_SUBTYPES:
            return "ignored_subtype"  # joins, deletions, topic changes, …
        if (event.get("bot_id") or subtype == "bot_message") and not self.settings.slack_answer_bots:
            return "ignored_bot"  # other apps (the bot's own messages bolt drops before this)
        channel_message = etype == "message" and event.get("channel_type") not in DM_CHANNEL_TYPES
        if channel_message:
            # a channel message (message.channels / message.groups) is answered only as a follow-up
            # in a thread kanmin answered in; mentions come as app_mention (this is their copy)
            thread_ts, text = event.get("thread_ts"), str(event.get("text") or "")
            if event.get("channel_type") not in CHANNEL_TYPES or not thread_ts or thread_ts == event.get("ts"):
                return "ignored_not_addressed"
            if any(f"<@{i}" in text for i in bot_ids(body or {}, context)):
                return "ignored_mention"
        if ((etype == "app_mention" or channel_message) and self.allowed_channels
                and event.get("channel") not in self.allowed_channels):
            return "ignored_channel"
        if channel_message and not self._kanmin_thread(str(event.get("channel") or ""), str(event["thread_ts"])):
            return "ignored_not_addressed"
        if not self._user_allowed(event.get("user")):
            return "ignored_user"
        return None

    def _gate(self, req, body, context, next):
        """Every delivery, first or retried (``X-Slack-Retry-Num``), is processed at most once: its
        de-dup key (event_id / trigger_id) is claimed atomically in the store (``seen_events``) and
        only the delivery that claims it is answered. A retry whose first delivery never arrived
        claims the key and is answered; one whose first delivery did arrive is a duplicate."""
        kind = body.get("type") or ("command" if body.get("command") else "unknown")
        retried = bool((req.headers.get("x-slack-retry-num") or [None])[0])
        if kind == "event_callback":
            why = self._skip_reason(body.get("event") or {}, body, context)
            if why:
                self.metrics.slack_events.labels(kind, why).inc()
                return BoltResponse(status=200, body="")
        if (body.get("command") and self.allowed_channels and not str(body.get("channel_id", "")).startswith("D")
                and body.get("channel_id") not in self.allowed_channels):
            self.metrics.slack_events.labels(kind, "ignored_channel").inc()
            return BoltResponse(status=200, body=label("ja", "channel_not_allowed"))
        if body.get("command") and not self._user_allowed(body.get("user_id")):
            self.metrics.slack_events.labels(kind, "ignored_user").inc()
            return BoltResponse(status=200, body=label("ja", "user_not_allowed"))  # the ack: shown to them only
        key = dedupe_key(body)
        try:
            seen = key is not None and self.store().seen_event(key)
        except StoreUnavailable:
            # unclaimed, so not answered here: a 503 makes Slack deliver it again later, and
            # whichever replica gets that retry claims and answers it once the database is back
            self.metrics.slack_events.labels(kind, "database_unavailable").inc()
            return BoltResponse(status=503, body="")
        if seen:
            self.metrics.slack_events.labels(kind, "duplicate").inc()
            return BoltResponse(status=200, body="")
        if key is not None and self._over_cap(kind, body):
            with self._cap_lock:
                if len(self._capped) > 10_000:  # (keys whose listener never ran: malformed events)
                    self._capped.clear()
                self._capped.add(key)
            self.metrics.slack_events.labels(kind, "user_capped").inc()
            return next()  # the listener tells the user to slow down instead of answering
        self.metrics.slack_events.labels(kind, "accepted").inc()
        if retried:
            log.info("slack retry accepted (its first delivery never arrived)",
                     extra={"fields": {"kind": kind, "retry_reason": (req.headers.get("x-slack-retry-reason")
                                                                      or [""])[0][:32]}})
        self._accepted += 1
        if self._accepted % PRUNE_EVERY == 0:
            try:
                self.store().prune_events(SEEN_EVENTS_TTL_S)
            except Exception as exc:  # noqa: BLE001 - housekeeping only
                log.warning("pruning seen_events failed", extra={"fields": {"error": type(exc).__name__}})
        return next()

    def _over_cap(self, kind: str, body: dict[str, Any]) -> bool:
        """More than ``slack_user_answers_per_minute`` questions from this user in the last 60 s?
        (In memory, per process: a restart forgets; only questions count, not buttons.)"""
        if not self.user_cap:
            return False
        if kind == "event_callback":
            user = (body.get("event") or {}).get("user")
        elif kind == "command":
            user = body.get("user_id")
        else:
            return False
        if not user:
            return False
        now = time.monotonic()
        with self._cap_lock:
            times = self._recent.setdefault(str(user), deque())
            while times and now - times[0] > 60.0:
                times.popleft()
            if len(times) >= self.user_cap:
                return True
            times.append(now)
            if len(self._recent) > 10_000:  # forget idle users
                for u in [u for u, t in self._recent.items() if not t or now - t[-1] > 60.0]:
                    self._recent.pop(u, None)
            return False

    def _take_capped(self, body: dict[str, Any]) -> bool:
        key = dedupe_key(body)
        with self._cap_lock:
            if key in self._capped:
                self._capped.discard(key)
                return True
        return False

    @staticmethod
    def _ack(ack) -> None:
        ack()

    @staticmethod
    def _ack_command(ack, command) -> None:
        if not normalise(command.get("text", "")):
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
            return None, escape(label("ja", key, msg=exc.message))
        except Exception as exc:  # noqa: BLE001
            log.error("slack answer failed", exc_info=exc)
            return None, label("ja", "error", msg="internal error")
        self.metrics.observe_answer(answer, "slack")
        return answer, None

    @staticmethod
    def _cut(question: str) -> tuple[str, int | None]:
        """The question within the length limit, and its original length when it was cut."""
        if len(question) <= MAX_QUESTION:
            return question, None
        return question[:MAX_QUESTION].strip(), len(question)

    def _send(self, send, *, text: str, blocks: list[dict] | None, plain: str | None, **kw) -> None:
        """``send(text=, blocks=, **kw)``; when Slack rejects the blocks or the length, once more as text only.
        (429s and dropped connections are retried inside the WebClient.)"""
        try:
            send(text=text, blocks=blocks, **kw)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if blocks is None or plain is None or error not in REJECTED:
                raise
            self.metrics.slack_events.labels("web_api", "text_fallback").inc()
            log.warning("slack rejected the answer's blocks; posting text only", extra={"fields": {"error": error}})
            send(text=plain, **kw)

    def _react(self, client: WebClient, add: bool, channel: str, ts: str | None) -> bool:
        """The "working on it" reaction on the question (needs the reactions:write scope; best effort)."""
        if not self.reaction or not ts:
            return False
        try:
            if add:
                client.reactions_add(channel=channel, timestamp=ts, name=self.reaction)
            else:
                client.reactions_remove(channel=channel, timestamp=ts, name=self.reaction)
            return True
        except (SlackApiError, OSError) as exc:  # missing_scope, already_reacted, …: never blocks the answer
            error = str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
            with self._cap_lock:  # warn once per kind of failure (e.g. missing_scope: add reactions:write);
                # a bad token is reported by the reply's own failure, not twice
                first = error not in self._reaction_errors and error not in AUTH_ERRORS
                self._reaction_errors.add(error)
            (log.warning if first else log.debug)("slack reaction not set",
                                                  extra={"fields": {"add": add, "error": error[:64]}})
            return False

    def _reply_in_thread(self, client: WebClient, channel: str, thread_ts: str, text: str, ids: set[str],
                         message_ts: str | None = None) -> None:
        reacted = False
        try:
            question, length = self._cut(normalise(text, ids))
            if not question:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=label("ja", "help"))
                return
            reacted = self._react(client, True, channel, message_ts)
            answer, err = self._ask(question, channel, f"slack:{channel}:{thread_ts}")
            if answer is None:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=err)
                return
            note = truncation_note(answer.language, length, MAX_QUESTION) if length else None
            self._send(client.chat_postMessage, channel=channel, thread_ts=thread_ts,
                       text=fallback_text(answer, note), blocks=answer_blocks(answer, note=note),
                       plain=text_only(answer, note), unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:  # still failing after the client's retries (never with the token)
            log.error("slack reply not delivered", extra={"fields": {
                "method": "chat.postMessage", "error": str(exc.response.get("error"))[:64]}})
        except OSError as exc:  # connection errors left after the retries
            log.error("slack reply not delivered", extra={"fields": {"method": "chat.postMessage",
                                                                     "error": type(exc).__name__}})
        finally:
            if reacted:
                self._react(client, False, channel, message_ts)

    def _tell_capped(self, client: WebClient, channel: str, thread_ts: str) -> None:
        try:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                    text=label("ja", "slow_down", n=self.user_cap))
        except (SlackApiError, OSError) as exc:
            log.info("slack slow-down notice not delivered", extra={"fields": {"error": type(exc).__name__}})

    def _on_mention(self, event, body, context, client) -> None:
        self._answer_event(event, body, context, client)

    def _on_message(self, event, body, context, client) -> None:
        if self._skip_reason(event, body, context):
            return  # filtered (and counted) in _gate already; channel mentions come as app_mention
        self._answer_event(event, body, context, client)

    def _answer_event(self, event, body, context, client) -> None:
        """A mention or a message: answered in its thread, unless its sender is over the per-user cap."""
        channel = event.get("channel")
        ts = event.get("thread_ts") or event.get("ts")
        if not channel or not ts:
            return
        if self._take_capped(body):
            self._tell_capped(client, channel, ts)
            return
        self._reply_in_thread(client, channel, ts, event.get("text", ""), bot_ids(body, context), event.get("ts"))

    def _on_command(self, command, client, respond) -> None:
        question, length = self._cut(normalise(command.get("text", "")))
        channel, user = command.get("channel_id"), command.get("user_id")
        if self._take_capped(command):
            if question and channel and user:
                try:
                    client.chat_postEphemeral(channel=channel, user=user, text=label("ja", "slow_down", n=self.user_cap))
                except SlackApiError:
                    respond(text=label("ja", "slow_down", n=self.user_cap), response_type="ephemeral")
            return
        if not question:
            return
        answer, err = self._ask(question, channel, None)
        if answer is None:
            text, blocks, plain = err, None, None
        else:
            note = truncation_note(answer.language, length, MAX_QUESTION) if length else None
            text = fallback_text(answer, note)
            blocks = answer_blocks(answer, share=True, show_question=True, note=note)
            plain = text_only(answer, note, show_question=True)
        try:
            self._send(client.chat_postEphemeral, channel=channel, user=user, text=text, blocks=blocks, plain=plain)
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
        """One vote per user and answer: a repeat changes nothing, the other button replaces the vote.
        A 👎 offers an "add a comment" button (a modal, views.open)."""
        user, channel, thread_ts = self._where(body)
        answer_id = str(action.get("value") or "")[:128]
        rating = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        store = self.store()
        answer = store.get_answer(answer_id) if answer_id else None
        lang = answer.language if answer else "ja"
        blocks = None
        if answer is None:
            text = label(lang, "unknown_answer")
        else:
            try:
                if user:
                    fid, what = store.vote(answer_id, str(user), rating, source="slack")
                else:  # (no user in the payload: nothing to de-duplicate on)
                    fid, what = store.add_feedback(answer_id, rating, None, source="slack"), "new"
                if what == "new":
                    self.metrics.feedback.labels(rating, "slack").inc()
                    text = label(lang, "thanks_up" if rating == "up" else "thanks_down")
                else:
                    self.metrics.slack_events.labels("block_actions", f"feedback_{what}").inc()
                    text = label(lang, "same_vote" if what == "same" else "changed_vote",
                                 rating="👍" if rating == "up" else "👎")
                if rating == "down" and user:  # (again on a repeated 👎: the way back to the form)
                    blocks = comment_button(lang, fid, text)
            except Exception as exc:  # noqa: BLE001
                log.error("slack feedback failed", exc_info=exc)
                text = label(lang, "feedback_failed")
        if channel and user:
            kwargs = {"thread_ts": thread_ts} if thread_ts else {}
            if blocks:
                kwargs["blocks"] = blocks
            client.chat_postEphemeral(channel=channel, user=user, text=text, **kwargs)

    def _on_comment_button(self, body, action, client) -> None:
        """Open the comment modal (the click's trigger_id is valid for 3 s: opened at once)."""
        user = (body.get("user") or {}).get("id")
        try:
            fid = int(str(action.get("value") or ""))
        except ValueError:
            return
        if not user or not body.get("trigger_id"):
            return
        try:
            client.views_open(trigger_id=body["trigger_id"], view=comment_modal("ja", fid))
        except (SlackApiError, OSError) as exc:  # e.g. expired_trigger_id
            error = str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
            log.info("slack comment modal not opened", extra={"fields": {"error": error[:64]}})

    def _on_comment(self, body, view) -> None:
        """The modal's submission: the comment of the submitter's own vote."""
        user = (body.get("user") or {}).get("id")
        values = ((view.get("state") or {}).get("values") or {}).get(COMMENT_INPUT) or {}
        comment = " ".join(str((values.get(COMMENT_INPUT) or {}).get("value") or "").split())[:MAX_COMMENT]
        try:
            fid = int(str(view.get("private_metadata") or ""))
        except ValueError:
            return
        if not user or not comment:
            return
        saved = self.store().set_feedback_comment(fid, str(user), comment)
        self.metrics.slack_events.labels("view_submission", "comment_saved" if saved else "comment_refused").inc()

    def _on_share(self, body, action, client, respond) -> None:
        """Share an ephemeral answer in the channel — once: a second click (or a second person's click
        on their own copy of the same answer) gets an ephemeral "already shared"."""
        user, channel, _ = self._where(body)
        answer_id = str(action.get("value") or "")[:128]
        answer = self.store().get_answer(answer_id) if answer_id else None
        if answer is None:
            respond(text=label("ja", "unknown_answer"), response_type="ephemeral", replace_original=False)
            return
        if self.store().seen_event(f"slack:share:{channel}:{answer_id}"):
            self.metrics.slack_events.labels("block_actions", "share_repeated").inc()
            if channel and user:
                client.chat_postEphemeral(channel=channel, user=user, text=label(answer.language, "already_shared"))
            return
        blocks = answer_blocks(answer, shared_by=user)
        try:
            self._send(client.chat_postMessage, channel=channel, text=fallback_text(answer), blocks=blocks,
                       plain=text_only(answer, show_question=True), unfurl_links=False)
        except SlackApiError:
            respond(text=fallback_text(answer), blocks=blocks, response_type="in_channel", replace_original=False)
