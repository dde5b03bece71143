"""Block Kit rendering of an Answer for Slack (pure functions, no I/O)."""
from __future__ import annotations

from typing import Any

from assistant.schema import Answer

FEEDBACK_UP = "kanmin_feedback_up"
FEEDBACK_DOWN = "kanmin_feedback_down"
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
           "unknown_answer": "この回答はもう見つかりません。", "feedback_failed": "フィードバックを保存できませんでした。"},
    "en": {"up": "👍 Helpful", "down": "👎 Not helpful", "share": "Share in channel",
           "glossary": "Terms", "nearest": "Nearest sections", "reading": "Reading path",
           "abstained": "The guide has no grounded answer for this.",
           "thanks_up": "Thanks for the feedback (👍).", "thanks_down": "Thanks for the feedback (👎). We'll use it to improve.",
           "help": "Ask me about the guide, e.g. `@kanmin what is 原課?`", "shared_by": "Shared by <@{user}>",
           "error": "Could not answer: {msg}", "unavailable": "Not available right now ({msg}). Please try again shortly.",
           "unknown_answer": "This answer can no longer be found.", "feedback_failed": "Could not save the feedback."},
}


def label(lang: str, key: str, **kw: Any) -> str:
    text = LABELS.get(lang, LABELS["ja"]).get(key) or LABELS["ja"][key]
    return text.format(**kw) if kw else text


def escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pages_str(pages: list[int]) -> str:
    if not pages:
        return "p.?"
    lo, hi = min(pages), max(pages)
    return f"p.{lo}" if lo == hi else f"p.{lo}–{hi}"


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_CONTEXT)}]}


def answer_blocks(answer: Answer, *, feedback: bool = True, share: bool = False,
                  shared_by: str | None = None) -> list[dict]:
    lang = answer.language
    blocks: list[dict] = []
    if shared_by:
        blocks.append(_context(label(lang, "shared_by", user=shared_by)))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip("> " + escape(answer.question), 500)}})
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
        blocks.append({"type": "actions", "block_id": f"kanmin_actions", "elements": elements})
    return blocks


def fallback_text(answer: Answer) -> str:
    """Plain ``text`` for notifications / clients without Block Kit."""
    cites = " ".join(f"[{c.n}] {pages_str(c.pages)}" for c in answer.citations[:MAX_CITATIONS])
    return clip((answer.answer.strip() or label(answer.language, "abstained")) + (f"  {cites}" if cites else ""), 3000)
