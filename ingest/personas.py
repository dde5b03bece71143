"""Persona tags: who a passage addresses (自治体 municipality, スタートアップ startup,
中間支援 intermediary, or all). Chapter defaults, refined by heading rules."""
from __future__ import annotations

import re

# (pattern on a heading, personas) — the deepest matching heading wins.
HEADING_RULES: list[tuple[re.Pattern[str], list[str]]] = [
    (re.compile(r"^第3章|自治体編"), ["municipality"]),
    (re.compile(r"^第4章|スタートアップ編"), ["startup"]),
    (re.compile(r"中間支援"), ["intermediary"]),
    (re.compile(r"自治体にとってのメリット|自治体の官民連携にまつわる課題"), ["municipality"]),
    (re.compile(r"スタートアップにとってのメリット|スタートアップの官民連携にまつわる課題"), ["startup"]),
    # what a startup must know about municipalities, and vice versa
    (re.compile(r"知っておくべき自治体の特徴"), ["startup"]),
    (re.compile(r"知っておくべきスタートアップの特徴"), ["municipality"]),
    (re.compile(r"スタートアップを知るには"), ["municipality"]),
    (re.compile(r"支援を行っている自治体はどこか"), ["startup"]),
]


def personas_for(heading: str, inherited: list[str]) -> list[str]:
    for pattern, personas in reversed(HEADING_RULES):
        if pattern.search(heading):
            return list(personas)
    return list(inherited) if inherited else ["all"]
