"""Who is asking: an explicit parameter wins, else inferred from the question, else ``any``."""
from __future__ import annotations

import re

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("intermediary", re.compile(
        r"中間支援|支援団体|支援機関|コーディネーター|intermediar|support organi[sz]ation|coordinator", re.I)),
    ("startup", re.compile(
        r"スタートアップとして|スタートアップ側|弊社|当社|自社|起業家?|創業者|スタートアップ(の|を)?(経営|代表|社長|創業|社員|担当)|"
        # "as a startup" says who asks, not "to count / qualify as a startup" (what makes a firm one)
        r"we are a startup|our startup|(?<!count )(?<!counts )(?<!qualify )(?<!qualifies )(?<!regarded )"
        r"(?<!considered )(?<!defined )(?<!recogni[sz]ed )as a startup|startup founder|our company|our product|founder|"
        # advice asked for the startup as the one who acts: what should a startup do
        r"\b(should|can|could|must) (a|the) (startup|start-up|company|founder)\b|"
        r"スタートアップ(は|が)[^。？?]{0,30}(すべき|すれば(いい|よい|良い)|したら(いい|よい|良い))", re.I)),
    ("municipality", re.compile(
        r"自治体として|自治体側|自治体の(職員|担当|実務|首長|部長|課長)|市役所|区役所|町役場|村役場|県庁|庁内|当市|本市|当町|本町|"
        r"原課|財政課|契約担当|職員として|我々自治体|"
        # city hall, unless met or pitched to ("meetings with city hall people": the other side)
        r"as a (city|municipality|local government)|our (city|municipality|town)|(?<!with )(?<!to )city hall\b|government official|municipal (staff|official)|"
        # advice asked for the municipality as the one who acts (not "what does a city look for")
        r"\b(should|can|could|must) (a|the) (city|municipality|town|village|local government|prefecture)\b|"
        r"自治体(は|が)[^。？?]{0,30}(すべき|すれば(いい|よい|良い)|したら(いい|よい|良い))",
        re.I)),
]
REASON = {"municipality": "自治体の立場からの質問", "startup": "スタートアップの立場からの質問",
          "intermediary": "中間支援の立場からの質問"}


def infer_persona(question: str) -> tuple[str, str]:
    """(persona, reason); ``any`` when the question does not say who asks."""
    for persona, pattern in _RULES:
        m = pattern.search(question)
        if m:
            return persona, f"{REASON[persona]} (「{m.group(0)}」)"
    return "any", "立場の手がかりなし"
