"""Abstention: say so when the guide's support for an answer is weak.

Not a fixed cosine cut (e5 cosines cluster in 0.7–0.9 for anything Japanese): the
decision combines how much of the question's vocabulary the best passages cover
with the dense similarity, with thresholds calibrated on the eval set
(`kanmin calibrate-abstention --write`, eval/calibrate.py, writes data/abstention.json)."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Collection


@dataclass
class AbstainConfig:
    min_coverage_ja: float = 0.45
    min_dense_ja: float = 0.80
    min_coverage_en: float = 0.30
    min_dense_en: float = 0.80

    @classmethod
    def load(cls, path: Path) -> "AbstainConfig":
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})
        return cls()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


@dataclass
class Support:
    coverage: float  # IDF-weighted share of question tokens found in the best passage
    dense: float  # best dense cosine among the hits


# English words that place a question inside the guide's world; an English question with
# none of them (and no glossary term) is off-topic whatever its embedding says.
DOMAIN_EN = frozenset("""
municipality municipalities municipal city cities town towns village prefecture prefectures local government
governments public official officials staff department departments division mayor governor startup startups
start-up start-ups founder founders company companies business businesses guide chapter chapters section sections
page pages figure figures table procurement procure procuring tender tenders tendering bid bidding contract
contracts contracting budget budgets budgeting fiscal partnership partnerships partner partners partnering
collaboration collaborate collaborating cooperation co-creation proposal proposals pitch pitching matching
policy policies regulation regulations regulatory sandbox pilot pilots trial demonstration
fairness fair intermediary intermediaries support supporting consortium impact social issue issues
agreement agreements outcome outcomes pfs sib pay success joint purchase purchasing order ordering
kanmin renkei public-private private sector exit exits scale scaling evaluation subsidy grant grants
product products service services
""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z-]+")
# function words and everyday words that glossary glosses happen to contain
EN_STOP = frozenset("""
what when where which while whom whose that this these those there their they them then than with without
from into onto over under about after before between through during each every some such other others more
most much many very also only just even good well best better make made makes does done doing have having
been being were will would could should shall might must your yours ours here how why who the and for are
not but can all any may use used using one two three first new way ways thing things time times today
""".split())


def on_topic_en(question: str, extra_words: frozenset[str] = frozenset(), names: frozenset[str] = frozenset(),
                places: frozenset[str] = frozenset()) -> bool:
    """A word of the guide's subject, one of the guide's own Latin names (``names``, from
    ``latin_names``: "Where did Urban Innovation JAPAN come from?", "How did Luup…?"), or two of ``extra_words``
    (the glossary's English glosses): one gloss word alone is too little ("…autoscaling in
    Kubernetes for our SaaS backend?" shares only "saas" with the DMP catalogue's gloss). A place
    of the guide's cases (``places``: Fukuoka) counts as one gloss word: "the first theme of
    Fukuoka's scheme" is on topic, "How do I cook ramen in Sapporo?" is not."""
    words = {w.lower() for w in _WORD.findall(question)}
    if words & DOMAIN_EN or len(words & extra_words) + bool(words & places) >= 2:
        return True
    folded = " ".join(_WORD.findall(question)).lower()
    return any(re.search(rf"\b{re.escape(n)}\b", folded) if " " in n or n.islower()
               else re.search(rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])", question) for n in names)


# a name as the guide writes one in Latin letters: two or more capitalised words (Urban Innovation
# JAPAN, Local Innovation Challenge HOKKAIDO)
_NAME_RUN = re.compile(r"(?:[A-Z][A-Za-z]+[ 　]+){1,5}[A-Z][A-Za-z]+")


def latin_names(text: str, known: Collection[str] = ()) -> frozenset[str]:
    """The guide's Latin names: those of two or more words, lower-cased, words joined by one space;
    and single words of four letters or more, as written (a question must write them so too),
    that stand among the Japanese as a name does and are no English word ``known`` to the project
    (its lexicon's and thesaurus's): Luup, CureApp, LIMEX, not Tokyo or Society (「Society5.0」)."""
    runs = {" ".join(_WORD.findall(m.group(0))).lower() for m in _NAME_RUN.finditer(text)}
    known_lower = {k.lower() for k in known} | EN_STOP
    single = {w for m in _SINGLE_NAME.finditer(text) if (w := m.group(0).strip()).lower() not in known_lower}
    return frozenset(runs | single)


# one word standing among the Japanese, not a word of an English phrase (Beyond Limits, Life is Tech !
# Lesson, Diversity & Inclusion): written as names are (CureApp, LVMH), or capitalised between
# Japanese characters and brackets (「Makuake」, 「図表 48 : Luup が」, 「(株)Liberaware)」)
_JA = r"\u3000-\u30ff\u3400-\u9fff"
_SINGLE_NAME = re.compile(
    rf"(?:(?<=[{_JA}「(:])|(?<=[{_JA}「(:] )|(?<=\)))"
    r"(?=[A-Za-z]{4})(?:[A-Z][a-z]*[A-Z][A-Za-z]*|[A-Z][a-z]+)"
    rf"(?=[ ]?[{_JA}」)])")


# questions about something no part of the guide is near (the weather): declined as off topic
# whatever words they share with it (「明日の福岡市の天気は？」 matches the guide's 福岡市 well).
# Not 天候: the guide's 全天候型 is a sensor, not the weather. Wages (最低賃金) are off the guide too;
# not a salary, which a question about Sapporo's recruited 係長 asks (a detail the guide leaves out).
# Nor setting up a company (登記, 定款, "register a kabushiki kaisha"), which question writers kept
# asking; not "incorporation", which dates a startup ("years since incorporation").
_OFF_GUIDE = re.compile(r"\bweather\b|天気|気温|\bwages?\b|賃金|登記|定款|登録免許税|会社設立|"
                        r"\b(kabushiki|godo) kaisha\b|legal affairs bureau", re.I)


def off_guide(question: str) -> str | None:
    """The word of ``question`` that puts it outside the guide's subject, or None."""
    m = _OFF_GUIDE.search(question)
    return m.group(0) if m else None


def weak(support: Support, language: str, cfg: AbstainConfig) -> bool:
    """Weak when neither the words nor the meaning of the question meet the guide's text."""
    if language == "en":
        return support.coverage < cfg.min_coverage_en and support.dense < cfg.min_dense_en
    return support.coverage < cfg.min_coverage_ja and support.dense < cfg.min_dense_ja


# The guide says outright which topics it leaves out (「…については、本ガイドにおいては取り上げない」):
# a question about one of them is answered with that sentence, not with loosely related text.
_EXCLUSION = re.compile(r"（([^（）]{2,80})）については、?本ガイドにおいては取り上げない")


@dataclass
class Exclusion:
    terms: tuple[str, ...]
    chunk_id: str
    start: int
    end: int


def exclusions(chunks) -> list[Exclusion]:
    """Topics the guide declares out of its scope, with the sentence that says so."""
    out = []
    for c in chunks:
        for m in _EXCLUSION.finditer(c.text):
            inner = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+", "", m.group(1))
            terms = {t.strip() for part in re.split(r"や|、|及び|および", inner) for t in [part, *part.split("/")]}
            start = c.text.rfind("。", 0, m.start()) + 1
            while start < m.start() and c.text[start].isspace():  # the quote starts at the sentence
                start += 1
            end = c.text.find("。", m.end())
            out.append(Exclusion(tuple(sorted(t for t in terms if len(t) >= 3)), c.id, start, end + 1 if end >= 0 else len(c.text)))
    return out
