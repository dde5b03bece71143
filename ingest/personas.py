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


# a table whose columns set the two sides side by side (図表7: 「自治体にとってのメリット |
# スタートアップにとってのメリット」) is for both, whichever side's section it is printed in
_SIDES = (re.compile(r"自治体|行政"), re.compile(r"スタートアップ|企業|事業者"))


def table_personas(text: str, personas: list[str]) -> list[str]:
    """``personas`` of the table's section, or both sides when its header row has a column for each."""
    cells = [c for c in text.split("\n", 1)[0].split("|") if c.strip()]
    mun = {i for i, c in enumerate(cells) if _SIDES[0].search(c) and not _SIDES[1].search(c)}
    start = {i for i, c in enumerate(cells) if _SIDES[1].search(c) and not _SIDES[0].search(c)}
    if mun and start and set(personas) & {"municipality", "startup"}:
        return ["municipality", "startup"]
    return personas
