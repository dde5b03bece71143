"""Follow-ups: 「それはいつまでに？」 is resolved against the previous turn before retrieval."""
from __future__ import annotations

import re

from assistant.schema import Answer

_ANAPHORA = re.compile(
    r"^(それ|その|これ|この|あれ|あの|そこ|上記|先ほど|さっき|前述|じゃあ|では|なら|で、)|それ(は|って|を|の|に|で)|"
    r"^(and|what about|how about|then|so)\b|\b(it|that|this|they|those|them)\b", re.I)


def is_followup(question: str) -> bool:
    # only a pointer back (それ, その, "it") makes a follow-up: 「原課とは？」 is short but stands alone
    return bool(_ANAPHORA.search(question.strip()))


def resolve(question: str, history: list[Answer]) -> str | None:
    """The question rewritten with the previous turn's topic, or None when it stands alone."""
    if not history or not is_followup(question):
        return None
    prev = history[-1]
    topic = prev.resolved_question or prev.question
    terms = [g.term for g in prev.glossary][:3]
    anchor = "、".join(terms) if terms and prev.route == "glossary" else topic
    return f"{anchor} について: {question}"
