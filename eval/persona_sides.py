"""Whose side leads: the same qa questions asked as an official and as a startup.

第3章 自治体編 and 第4章 スタートアップ編 often mirror each other; an official should read the
自治体編 passage first. For each persona, the share of answers whose leading quote comes from
a passage written for that persona, and the share from the other side's.
"""
from __future__ import annotations

from typing import Any, Sequence

SIDES = ("municipality", "startup")


def lead_sides(assistant, items: Sequence[Any]) -> dict[str, dict[str, float | int]]:
    qa = [it for it in items if it.route == "qa" and it.answerable]
    out: dict[str, dict[str, float | int]] = {}
    for persona in SIDES:
        own = other = n = 0
        for it in qa:
            a = assistant.ask(it.question, persona=persona, source="eval")
            if a.abstained or not a.citations:
                continue
            personas = assistant.chunk(a.citations[0].chunk_id).personas
            n += 1
            own += persona in personas
            other += any(p in SIDES and p != persona for p in personas) and persona not in personas
        out[persona] = {"answers": n, "own_side_lead": round(own / n, 3) if n else None,
                        "other_side_lead": round(other / n, 3) if n else None}
    return out
