"""Block Kit rendering of an Answer for Slack (pure functions, no I/O)."""
from __future__ import annotations

import re
from typing import Any

from assistant.schema import Answer
from ingest.page_labels import page_label

FEEDBACK_UP = "kanmin_feedback_up"
FEEDBACK_DOWN = "kanmin_feedback_down"
FEEDBACK_COMMENT = "kanmin_feedback_comment"  # the "add a comment" button after a 👎, and its modal's callback_id
COMMENT_INPUT = "kanmin_comment"
MAX_COMMENT = 1000
SHARE = "kanmin_share"

MAX_SECTION = 2900  # Block Kit section text limit is 3,000
MAX_CONTEXT = 1900  # context text element limit is 2,000 (kept below)
MAX_CITATIONS = 8
MAX_GLOSSARY = 6

LABELS = {
    "ja": {"up": "👍 役に立った", "down": "👎 役に立たなかった", "share": "チャンネルに共有",
           "glossary": "用語", "nearest": "関連しそうな節", "reading": "読む順番", "abstained": "ガイドに根拠が見つかりませんでした。",
           "thanks_up": "フィードバックありがとうございます（👍）。", "thanks_down": "フィードバックありがとうございます（👎）。改善に使います。",
           "help": "ガイドについて質問してください。例: `@kanmin 原課とは？`", "shared_by": "<@{user}> が共有しました",
           "error": "回答を作れませんでした: {msg}", "unavailable": "いま回答できません（{msg}）。しばらくしてからもう一度お試しください。",
           "unknown_answer": "この回答はもう見つかりません。", "feedback_failed": "フィードバックを保存できませんでした。",
           "truncated": "⚠️ 質問が長すぎたため、最初の {limit:,} 字だけで回答しました（元は {length:,} 字）。",
           "already_shared": "この回答はもうこのチャンネルに共有されています。", "question": "質問",
           "channel_not_allowed": "このチャンネルでは kanmin は使えません。DM でお試しください。",
           "slow_down": "質問が続いています（1 分に {n} 件まで）。少し待ってからもう一度どうぞ。",
           "user_not_allowed": "kanmin はこのワークスペースでは一部の人だけが使えます。管理者にお問い合わせください。",
           "same_vote": "この回答にはもう同じ評価をいただいています。", "changed_vote": "評価を変更しました（{rating}）。",
           "add_comment": "コメントを書く", "comment_title": "フィードバック", "comment_label": "どこが役に立ちませんでしたか？",
           "comment_submit": "送信", "comment_cancel": "キャンセル"},
    "en": {"up": "👍 Helpful", "down": "👎 Not helpful", "share": "Share in channel",
           "glossary": "Terms", "nearest": "Nearest sections", "reading": "Reading path",
           "abstained": "The guide has no grounded answer for this.",
           "thanks_up": "Thanks for the feedback (👍).", "thanks_down": "Thanks for the feedback (👎). We'll use it to improve.",
           "help": "Ask me about the guide, e.g. `@kanmin what is 原課?`", "shared_by": "Shared by <@{user}>",
           "error": "Could not answer: {msg}", "unavailable": "Not available right now ({msg}). Please try again shortly.",
           "unknown_answer": "This answer can no longer be found.", "feedback_failed": "Could not save the feedback.",
           "truncated": "⚠️ The question was too long: answered from its first {limit:,} characters (of {length:,}).",
           "already_shared": "This answer has already been shared in this channel.", "question": "Question",
           "channel_not_allowed": "kanmin is not enabled in this channel. Try a direct message.",
           "slow_down": "Too many questions in a row (at most {n} a minute). Please wait a moment and ask again.",
           "user_not_allowed": "kanmin is only enabled for some people in this workspace. Ask your admin.",
           "same_vote": "You already rated this answer that way.", "changed_vote": "Rating changed ({rating}).",
           "add_comment": "Add a comment", "comment_title": "Feedback", "comment_label": "What was not helpful?",
           "comment_submit": "Send", "comment_cancel": "Cancel"},
}


def label(lang: str, key: str, **kw: Any) -> str:
    text = LABELS.get(lang, LABELS["ja"]).get(key) or LABELS["ja"][key]
    return text.format(**kw) if kw else text


def escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")  # a cut inside &amp; / &lt; / &gt;


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, "…" marking a cut; never half an HTML entity (``&am…``)."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return _ENTITY_TAIL.sub("", head) + "…"


def pages_str(pages: list[int]) -> str:
    return page_label(pages, empty="p.?")


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_CONTEXT)}]}


def _quote(question: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip("> " + escape(" ".join(question.split())), 500)}}


def truncation_note(lang: str, length: int, limit: int) -> str:
    return label(lang, "truncated", limit=limit, length=length)


def answer_blocks(answer: Answer, *, feedback: bool = True, share: bool = False,
                  shared_by: str | None = None, show_question: bool = False,
                  note: str | None = None) -> list[dict]:
    """``show_question``: quote the question first (an ephemeral /kanmin answer has no visible question);
    ``note``: a context line first (e.g. the question was cut to the length limit)."""
    lang = answer.language
    blocks: list[dict] = []
    if note:
        blocks.append(_context(escape(note)))
    if shared_by:
        blocks.append(_context(label(lang, "shared_by", user=shared_by)))
        blocks.append(_quote(answer.question))
    elif show_question:
        blocks.append(_quote(answer.question))
    body = answer.answer.strip() or label(lang, "abstained")
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(escape(body), MAX_SECTION)}})
    for c in answer.citations[:MAX_CITATIONS]:
        path = " › ".join(c.section_path) or "—"
        quote = clip(" ".join(c.quote.split()), 300)
        blocks.append(_context(f"[{c.n}] *{escape(path)}* · {pages_str(c.pages)}\n_{escape(quote)}_"))
    if answer.abstained and answer.nearest_sections:
        lines = [f"• {escape(' › '.join(s.section_path))} · {pages_str(s.pages)}" for s in answer.nearest_sections[:5]]
        blocks.append(_context(f"*{label(lang, 'nearest')}*\n" + "\n".join(lines)))
    if answer.reading_path:
        lines = [f"{s.order}. {escape(s.heading)} · {pages_str(s.pages)}" for s in answer.reading_path[:8]]
        blocks.append(_context(f"*{label(lang, 'reading')}*\n" + "\n".join(lines)))
    if answer.glossary:
        lines = []
        for g in answer.glossary[:MAX_GLOSSARY]:
            gloss = g.rephrase or g.meaning
            en = f" ({escape(g.en)})" if g.en else ""
            lines.append(f"• *{escape(g.term)}*{en}: {escape(clip(gloss, 200))} · {pages_str(g.pages)}")
        blocks.append(_context(f"*{label(lang, 'glossary')}*\n" + "\n".join(lines)))
    elements = []
    if feedback:
        elements += [
            {"type": "button", "action_id": FEEDBACK_UP, "value": answer.id,
             "text": {"type": "plain_text", "text": label(lang, "up"), "emoji": True}},
            {"type": "button", "action_id": FEEDBACK_DOWN, "value": answer.id,
             "text": {"type": "plain_text", "text": label(lang, "down"), "emoji": True}},
        ]
    if share:
        elements.append({"type": "button", "action_id": SHARE, "value": answer.id, "style": "primary",
                         "text": {"type": "plain_text", "text": label(lang, "share"), "emoji": True}})
    if elements:
        blocks.append({"type": "actions", "block_id": "kanmin_actions", "elements": elements})
    return blocks


def comment_button(lang: str, feedback_id: int, text: str) -> list[dict]:
    """The ephemeral reply to a 👎 (``text``) with an "add a comment" button (opens comment_modal)."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "kanmin_comment_actions", "elements": [
                {"type": "button", "action_id": FEEDBACK_COMMENT, "value": str(feedback_id),
                 "text": {"type": "plain_text", "text": label(lang, "add_comment"), "emoji": True}}]}]


def comment_modal(lang: str, feedback_id: int) -> dict:
    """The views.open modal: one multiline plain_text_input; ``private_metadata`` carries the feedback id."""
    return {"type": "modal", "callback_id": FEEDBACK_COMMENT, "private_metadata": str(feedback_id),
            "title": {"type": "plain_text", "text": label(lang, "comment_title")},
            "submit": {"type": "plain_text", "text": label(lang, "comment_submit")},
            "close": {"type": "plain_text", "text": label(lang, "comment_cancel")},
            "blocks": [{"type": "input", "block_id": COMMENT_INPUT, "label": {"type": "plain_text",
                                                                              "text": label(lang, "comment_label")},
                        "element": {"type": "plain_text_input", "action_id": COMMENT_INPUT, "multiline": True,
                                    "max_length": MAX_COMMENT}}]}


def fallback_text(answer: Answer, note: str | None = None) -> str:
    """The top-level ``text`` (notifications / clients without Block Kit), escaped: Slack parses
    it as mrkdwn, so a ``<!channel>`` in an answer must not become a live @channel."""
    cites = " ".join(f"[{c.n}] {pages_str(c.pages)}" for c in answer.citations[:MAX_CITATIONS])
    body = (answer.answer.strip() or label(answer.language, "abstained")) + (f"  {cites}" if cites else "")
    return clip(escape(((note + "\n") if note else "") + body), 3000)


def text_only(answer: Answer, note: str | None = None, *, show_question: bool = False) -> str:
    """The whole answer as one escaped mrkdwn ``text`` with its citations: posted alone when
    Slack rejects the blocks (``invalid_blocks`` / ``msg_too_long``)."""
    lang = answer.language
    lines = [note] if note else []
    if show_question:
        lines.append(f"{label(lang, 'question')}: {' '.join(answer.question.split())}")
    lines.append(answer.answer.strip() or label(lang, "abstained"))
    for c in answer.citations[:MAX_CITATIONS]:
        lines.append(f"[{c.n}] {' › '.join(c.section_path) or '—'} · {pages_str(c.pages)}")
    return clip(escape("\n".join(lines)), 3900)
