"""Follow-ups: 「それはいつまでに？」 is resolved against the previous turn before retrieval."""
from __future__ import annotations

import re

from assistant.schema import Answer

_ANAPHORA_JA = re.compile(
    r"^(それ|その|これ|この|あれ|あの|そこ|上記|先ほど|さっき|前述|じゃあ|では|なら|で、)|それ(は|って|を|の|に|で)")
# words that start like a pointer back but are not one: これから, このガイド, その他, …
_NOT_ANAPHORA_JA = re.compile(r"^(これから|これまで|この(ガイド|本|資料|手引)|本ガイド|その他|そのため|それぞれ|あの手この手)")
_ANAPHORA_EN = re.compile(r"^(and|what about|how about|then|so)\b|\b(it|that|they|those|them)\b", re.I)
# "this guide", "that the city…" point to something named in the question itself
_SELF_CONTAINED_EN = re.compile(r"\b(this|the) (guide|document|book)\b|\bthat (the|a|an|our|my|we|i|they)\b", re.I)
SEPARATOR = " について: "


def is_followup(question: str) -> bool:
    """True only when the question cannot stand alone: it points back (それ, その制度, "it")
    and is short enough that the pointer is its subject. 「原課とは？」 is short but stands
    alone; 「これから官民連携を始める自治体は何をすべき？」 starts like a pointer but is none."""
    q = question.strip()
    if re.search(r"[ぁ-んァ-ヶ一-龥]", q):
        if _NOT_ANAPHORA_JA.match(q):
            q = _NOT_ANAPHORA_JA.sub("", q)
            return bool(_ANAPHORA_JA.search(q)) and len(q) <= 30
        return bool(_ANAPHORA_JA.search(q)) and len(q) <= 40
    words = q.split()
    if _SELF_CONTAINED_EN.search(q) and not re.match(r"(and|what about|how about)\b", q, re.I):
        return False
    return bool(_ANAPHORA_EN.search(q)) and (len(words) <= 10 or bool(re.match(r"(and|what about|how about)\b", q, re.I)))


def resolve(question: str, history: list[Answer]) -> str | None:
    """The question rewritten with the previous turn's topic, or None when it stands alone.

    Never chained: a follow-up to a follow-up takes the first turn's topic, not the
    previous rewrite (which would grow turn by turn and drift)."""
    if not history or not is_followup(question):
        return None
    prev = history[-1]
    if prev.resolved_question:
        anchor = prev.resolved_question.split(SEPARATOR, 1)[0]
    else:
        terms = [g.term for g in prev.glossary][:3]
        anchor = "、".join(terms) if terms and prev.route == "glossary" else prev.question
    return f"{anchor}{SEPARATOR}{question}"
