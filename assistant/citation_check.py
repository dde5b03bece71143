"""Check a generated answer's [n] markers against the numbered sources.

Rules (conservative: an unsupported claim is never shown):
- a marker that names no source is removed and flagged;
- a marker whose source does not support its sentence is removed and flagged.
  Support = share of the sentence's content units (bigrams of kanji/katakana runs,
  lone kanji, ASCII words) found in the source text; in English answers only the
  Japanese words (the 「」 quotes the prompt asks for) can be checked against the
  Japanese guide, so only those count;
- every number and acronym in the sentence must appear in a kept source;
- in Japanese answers every clause (between 、 , ; : and brackets) with enough units needs the same
  support on its own, so a claim appended to a quoted sentence does not ride on it;
- a sentence left without a marker is dropped;
- the kept markers are renumbered 1.. in order of first use.

Facts are checked against the cited passage's *sentence window* (the quoted sentence and its
neighbours, ``windows``), not the whole chunk: a number found anywhere in a long chunk used to let an
invented amount through. Facts = numbers with their unit (750万円, 2026年, 3か月), acronyms, Latin
names, organisation / place names (…株式会社, …省, …市) and every 「…」 quote. Links, HTML and
markdown markup the sources do not contain are stripped first (the API's ``answer`` is shown by
clients that may not escape it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.text import canonical, nfkc

# a marker group: [1] [1,2] [1、2] [1-3] ［１］ 【1】
_MARK = re.compile(
    r"[\[［【]\s*([0-9０-９]+(?:\s*(?:[,，、]|[-–〜~])\s*[0-9０-９]+)*)\s*[\]］】]"
)
_SENTENCE = re.compile(
    r"[^\n]+?(?:[。！？]|[.!?](?=\s|$|[\[［【」』）)\"']))"  # up to a terminator
    r"(?:[」』）)\"'])*"  # closers kept with their sentence
    r"(?:[ \t]*" + _MARK.pattern + r")*"  # markers written after the terminator
    r"|[^\n]+"  # or the rest of the line
)
_CONTENT_RUN = re.compile(r"[\u30a1-\u30fa\u30fc\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_ACRONYM = re.compile(r"\b(?:[A-Z]{2,}[a-z]?s?|[A-Z][a-z]+[A-Z]\w*|[A-Z][A-Z0-9]*\d[A-Z0-9]*)\b")
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"^```\w*\s*|\s*```$")
_LABEL = re.compile(r"^\s*(?:回答|答え|Answer|A)\s*[:：]\s*", re.I)
_DECLINE = re.compile(
    r"答えられません|回答できません|記載(?:は|が)?(?:ありません|見当たりません)|含まれていません"
    r"|cannot answer|can't answer|can ?not be answered|do(?:es)? not (?:contain|mention|say)|no information",
    re.I,
)

# a number and the unit written with it: "750万円" must be found as such, not as any "750"
_AMOUNT = re.compile(
    r"\d+(?:[.,]\d+)*(?:\s*(?:兆|億|万|千|百))*\s*"
    r"(?:円|ドル|%|％|パーセント|件|年度|年|か月|ヶ月|カ月|ケ月|月|日|週間|時間|分|秒|人|名|社|回|倍|割|歳"
    r"|条|項|号|ページ|頁|つ|者|団体|自治体)?"
)
_LATIN_NAME = re.compile(r"\b[A-Z][A-Za-z0-9&.\-]*[A-Za-z0-9]\b")
_ORG = re.compile(
    r"[\u30a1-\u30fa\u30fc\u4e00-\u9fff々A-Za-z0-9]{2,16}?"
    r"(?:株式会社|有限会社|合同会社|財団法人|社団法人|大学|銀行|省|庁|県|市|町|村)(?![\u4e00-\u9fff])"
    r"|(?:株式会社|有限会社|合同会社)[\u30a1-\u30fa\u30fc\u4e00-\u9fffA-Za-z0-9]{1,16}"
    r"|[\u30a1-\u30fa\u30fcA-Za-z]{2,16}社"
)
_QUOTE = re.compile(r"「([^「」\n]{1,80})」")
# markup the guide (plain text) never contains: links, tags, markdown emphasis / headings / quotes
_MD_LINK = re.compile(r"!?\[([^\[\]\n]{0,200})\]\(\s*((?:[^()\s]|\([^()\s]*\))*)"  # [label](url "title")
                      r"(?:\s+[^()]*)?\)")
_URL = re.compile(r"(?:https?|javascript|vbscript|data|file|ftp):[^\s<>「」『』()（）\[\]]+"
                  r"|www\.[^\s<>「」()（）]+", re.I)
_TAG = re.compile(r"</?[A-Za-z!][^<>\n]{0,300}>|<!--.*?-->", re.S)
_MD_EMPH = re.compile(r"(\*\*|__|\*|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+(?=\S))", re.M)

MIN_UNITS = 2  # a sentence needs at least this many checkable units
SUPPORT = 0.5  # share of a sentence's units its kept sources must contain
PER_SOURCE = 0.3  # share each cited source must contribute on its own
MAX_SENTENCES = 6


@dataclass
class Checked:
    text: str  # the kept sentences with renumbered markers ("" when nothing is supported)
    used: list[int]  # original source numbers, in order of first use (new n = index + 1)
    problems: list[str] = field(default_factory=list)
    kept: int = 0
    dropped: int = 0
    declined: bool = False


@dataclass
class _Sentence:
    sep: str  # whitespace that preceded it
    raw: str
    index: int


def clean(text: str) -> str:
    text = _THINK.sub("", text).strip()
    text = _FENCE.sub("", text).strip()
    return _LABEL.sub("", text, count=1).strip()


def split(text: str) -> list[_Sentence]:
    out: list[_Sentence] = []
    pos = 0
    for m in _SENTENCE.finditer(text):
        sep, raw = text[pos:m.start()], m.group(0)
        pos = m.end()
        lead = len(raw) - len(raw.lstrip())
        sep, raw = sep + raw[:lead], raw[lead:]
        if not raw.strip():
            continue
        # a line holding only markers (or punctuation) belongs to the sentence before it
        if out and not _has_content(_MARK.sub("", raw)):
            out[-1].raw += raw.strip()
            continue
        out.append(_Sentence(sep, raw, len(out) + 1))
    return out


def _has_content(s: str) -> bool:
    return any(ch.isalnum() for ch in s)


def marker_numbers(group: str) -> list[int]:
    nums: list[int] = []
    g = nfkc(group)
    for part in re.split(r"\s*[,、]\s*", g):
        rng = re.split(r"\s*[-–〜~]\s*", part)
        if len(rng) == 2 and rng[0].isdigit() and rng[1].isdigit():
            a, b = int(rng[0]), int(rng[1])
            if 0 < b - a <= 10:
                nums.extend(range(a, b + 1))
                continue
        if part.strip().isdigit():
            nums.append(int(part.strip()))
    return list(dict.fromkeys(nums))


# words about the guide itself ("ガイドによると…"), not claims: never counted against a sentence
_META = re.compile(r"本ガイド|ガイド|出典|記載|資料|本書")


def units(text: str, english: bool) -> set[str]:
    t = _META.sub(" ", nfkc(text).lower())
    out: set[str] = set()
    for run in _CONTENT_RUN.findall(t):
        if len(run) == 1:
            out.add(run)
        else:
            out.update(run[i:i + 2] for i in range(len(run) - 1))
    if not english:
        out.update(w for w in _ASCII_WORD.findall(t) if len(w) >= 2 and not w.isdigit())
    return out


def must_appear(text: str, english: bool = False) -> list[str]:
    """A claim's exact facts, which the cited window must contain verbatim: numbers with their unit,
    acronyms, Latin names (in Japanese sentences), organisation / place names and 「」 quotes."""
    t = nfkc(text)
    found = [_squash(m.group(0)) for m in _AMOUNT.finditer(t)]
    found += [a for a in _ACRONYM.findall(t)]
    if not english:  # in English every sentence starts with a capital: only acronyms there
        found += [w for w in _LATIN_NAME.findall(t) if not w.isdigit()]
    found += [m.group(0) for m in _ORG.finditer(t)]
    found += ["「" + q.strip() for q in _QUOTE.findall(t) if q.strip()]
    return list(dict.fromkeys(f for f in found if f))


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s).replace(",", "")


def strip_markup(text: str, sources: str) -> tuple[str, list[str]]:
    """``text`` without links, HTML tags and markdown the ``sources`` do not contain; what was removed."""
    removed: list[str] = []

    def link(m: re.Match) -> str:
        removed.append("link")
        label = m.group(1)
        return f"[{label}]" if label.strip().isdigit() else label  # "[1](x)": keep the marker

    def url(m: re.Match) -> str:
        if m.group(0) in sources:
            return m.group(0)
        removed.append("url")
        return ""

    def tag(m: re.Match) -> str:
        removed.append("html")
        return ""

    def emph(m: re.Match) -> str:
        removed.append("markdown")
        return m.group(2)

    text = _MD_LINK.sub(link, text)
    text = _TAG.sub(tag, text)
    text = _URL.sub(url, text)
    text = _MD_EMPH.sub(emph, text)
    text, n = _MD_LINE.subn("", text)
    if n:
        removed.append("markdown")
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip(), list(dict.fromkeys(removed))


class SourceText:
    def __init__(self, text: str):
        self.canon = canonical(text).lower()
        self.digits = _squash(nfkc(text))

    def coverage(self, us: set[str]) -> float:
        return sum(1 for u in us if u in self.canon) / len(us) if us else 0.0

    def has(self, fact: str) -> bool:
        if fact.startswith("「"):  # a quote: the words, verbatim, ignoring spacing
            return _squash(canonical(fact[1:]).lower()) in _squash(self.canon)
        if fact[0].isdigit():
            return re.search(rf"(?<![\d.]){re.escape(fact)}(?![\d])", self.digits) is not None
        return fact.lower() in self.canon


_WINDOW_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*|\n")


def sentence_window(text: str, quote: str, radius: int = 1) -> str:
    """The sentences of ``text`` that hold ``quote``, with ``radius`` sentences either side: what a
    claim citing this passage may state. Falls back to ``text`` when the quote is not found."""
    start = text.find(quote) if quote else -1
    if start < 0:
        return text
    end = start + len(quote)
    spans = [(m.start(), m.end()) for m in _WINDOW_SENTENCE.finditer(text) if m.group(0).strip()]
    hit = [i for i, (a, b) in enumerate(spans) if a < end and b > start]
    if not hit:
        return text
    lo, hi = max(0, hit[0] - radius), min(len(spans) - 1, hit[-1] + radius)
    return text[spans[lo][0]:spans[hi][1]]


def check(answer: str, sources: dict[int, str], english: bool, windows: dict[int, str] | None = None) -> Checked:
    """Validate ``answer`` against ``sources`` (source number → checkable text); ``windows`` (source
    number → the cited sentences and their neighbours) is what its words and facts must be found in
    (default: the whole source)."""
    windows = {n: (windows or {}).get(n, t) for n, t in sources.items()}
    problems: list[str] = []
    text, removed = strip_markup(clean(answer), "\n".join(sources.values()))
    if removed:
        problems.append(f"markup removed ({', '.join(removed)})")
    srcs = {n: SourceText(t) for n, t in windows.items()}
    bad_markers: list[int] = []
    kept: list[tuple[_Sentence, set[int]]] = []
    dropped = 0
    sentences = split(text)
    for s in sentences:
        groups = [marker_numbers(m.group(1)) for m in _MARK.finditer(s.raw)]
        cited = list(dict.fromkeys(n for g in groups for n in g))
        body = _MARK.sub("", s.raw)
        if not _has_content(body):
            continue
        if not cited:
            dropped += 1
            problems.append(f"sentence {s.index} dropped: no citation")
            continue
        valid = [n for n in cited if n in srcs]
        for n in cited:
            if n not in srcs and n not in bad_markers:
                bad_markers.append(n)
        us = units(body, english)
        if len(us) < MIN_UNITS:
            dropped += 1
            why = "no quoted Japanese words to check" if english else "nothing checkable"
            problems.append(f"sentence {s.index} dropped: {why}")
            continue
        ok = []
        for n in valid:
            cov = srcs[n].coverage(us)
            if cov >= PER_SOURCE:
                ok.append(n)
            else:
                problems.append(f"[{n}] removed from sentence {s.index}: not supported by source {n} (overlap {cov:.2f})")
        if ok:
            union = SourceText("\n".join(windows[n] for n in ok))
            cov = union.coverage(us)
            missing = [f for f in must_appear(body, english) if not union.has(f)]
            weak = None if english else _weak_clause(body, union)
            if cov < SUPPORT:
                problems.append(f"sentence {s.index} dropped: weak support from {_marks(ok)} (overlap {cov:.2f})")
                ok = []
            elif weak is not None:  # a claim added to a supported sentence ("…, and it is mandatory[1]")
                problems.append(f"sentence {s.index} dropped: clause {weak[:20]!r} not in {_marks(ok)}")
                ok = []
            elif missing:
                problems.append(f"sentence {s.index} dropped: {', '.join(missing[:3])} not in {_marks(ok)}")
                ok = []
        if not ok:
            dropped += 1
            if valid and not any(p.startswith(f"sentence {s.index} dropped") for p in problems):
                problems.append(f"sentence {s.index} dropped: no supported citation")
            elif not valid:
                problems.append(f"sentence {s.index} dropped: no valid citation")
            continue
        kept.append((s, set(ok)))
    if bad_markers:
        problems.insert(0, f"no source for {_marks(bad_markers)} (valid: 1–{max(srcs, default=0)})")
    if len(kept) > MAX_SENTENCES:
        problems.append(f"{len(kept) - MAX_SENTENCES} supported sentence(s) beyond {MAX_SENTENCES} cut")
        kept = kept[:MAX_SENTENCES]

    order: list[int] = []
    for s, ok in kept:
        for m in _MARK.finditer(s.raw):
            for n in marker_numbers(m.group(1)):
                if n in ok and n not in order:
                    order.append(n)
    new = {old: i + 1 for i, old in enumerate(order)}
    parts: list[str] = []
    for s, ok in kept:
        shown: set[int] = set()

        def repl(m: re.Match, ok=ok, shown=shown) -> str:
            ns = [n for n in marker_numbers(m.group(1)) if n in ok and n not in shown]
            shown.update(ns)
            return "".join(f"[{new[n]}]" for n in ns)

        body = _MARK.sub(repl, s.raw)
        body = re.sub(r"(\])\s*\[", r"\1[", body)  # "[1] [2]" → "[1][2]"
        body = re.sub(r"[ \t]+([。、，,.!?！？])", r"\1", body).strip()
        sep = "" if not parts else ("\n" if "\n" in s.sep else (" " if s.sep else ""))
        parts.append(sep + body)
    out = "".join(parts).strip()
    declined = not kept and bool(_DECLINE.search(text))
    return Checked(text=out, used=order, problems=problems, kept=len(kept), dropped=dropped, declined=declined)


_CLAUSE = re.compile(r"[、，,;；:：（）()]")
CLAUSE_UNITS = 3  # shorter clauses carry too few units to judge on their own


def _weak_clause(body: str, source: SourceText) -> str | None:
    """The first clause of a Japanese sentence with enough units of its own and too little support."""
    for clause in _CLAUSE.split(body):
        us = units(clause, False)
        if len(us) >= CLAUSE_UNITS and source.coverage(us) < SUPPORT:
            return clause.strip()
    return None


def _marks(ns: list[int]) -> str:
    return "".join(f"[{n}]" for n in ns)
