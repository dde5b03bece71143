"""Slack markup → plain question text (pure functions, no I/O).

Slack sends message text in its own markup (https://api.slack.com/reference/surfaces/formatting):
``<@U123>`` / ``<@U123|name>`` user mentions, ``<#C123|general>`` channel links,
``<!here>`` / ``<!channel>`` / ``<!everyone>`` / ``<!subteam^S1|@team>`` / ``<!date^…|fallback>``
special mentions, ``<https://x|label>`` / ``<mailto:a@b|a@b>`` links, and ``&amp; &lt; &gt;``
escapes. The assistant must see what the reader saw, so a link's label replaces the link, the
bot's own mention disappears, and other mentions read as ``@name``.
"""
from __future__ import annotations

import re
from typing import Iterable

_TOKEN = re.compile(r"<([^<>]*)>")


def _label(rest: str) -> tuple[str, str]:
    target, bar, label = rest.partition("|")
    return target, label if bar else ""


def _replace(token: str, bot_ids: frozenset[str]) -> str:
    if token.startswith("@"):  # <@U123> / <@U123|name>
        uid, label = _label(token[1:])
        if uid in bot_ids:
            return " "
        return f"@{label.lstrip('@') or uid}"
    if token.startswith("#"):  # <#C123|general> / <#C123> / <#C123|>
        cid, label = _label(token[1:])
        return f"#{label.lstrip('#') or cid}"
    if token.startswith("!"):  # <!here> <!channel> <!everyone> <!subteam^S1|@team> <!date^…|fallback>
        target, label = _label(token[1:])
        if target.startswith("subteam^"):
            return "@" + (label.lstrip("@") or target.split("^", 1)[1])
        if target.startswith("date^"):
            return label
        return f"@{label.lstrip('@') or target}"
    target, label = _label(token)  # <https://x|label> / <https://x> / <mailto:a@b|a@b>
    return label or target


def normalise(text: str | None, bot_ids: Iterable[str] = ()) -> str:
    """Slack markup → the text the reader saw (whitespace collapsed).

    >>> normalise("<@UBOT> <https://example.jp|福岡市> の原課とは？", {"UBOT"})
    '福岡市 の原課とは？'
    """
    ids = frozenset(i for i in bot_ids if i)
    out = _TOKEN.sub(lambda m: _replace(m.group(1), ids), text or "")
    # entities last: a link's target and label arrive escaped too (&amp; inside a URL)
    out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(out.split())
