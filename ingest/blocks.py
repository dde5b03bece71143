"""Split the body into typed blocks (paragraph-sized units with character offsets).

The PDF extraction gives paragraphs separated by blank lines, tables as tab-separated
lines or HTML list fragments, footnotes as lines starting with superscript digits,
and page breaks that cut sentences (footnotes then sit in the middle of a sentence).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.text import SUPERSCRIPT_DIGITS, superscript_to_int

_FOOTNOTE_RE = re.compile(rf"^([{SUPERSCRIPT_DIGITS}]+)\s*(.+)$", re.S)
_CAPTION_RE = re.compile(r"^図表\s*(\d+)\s*[：:]\s*(.+)$", re.S)
_POINT_RE = re.compile(r"^(\d{1,2})\.\s*(\S.*)$")
_CIRCLED_RE = re.compile(r"^([①-⑳])\s*(\S.*)$")
_COLUMN_RE = re.compile(r"^【コラム】")
_CASE_RE = re.compile(r"^(事例紹介|取組紹介|中間支援の取組)")
_REFERENCE_RE = re.compile(r"^【参考】?\s*URL|^【参考 URL】|^【参考URL】")
_BULLET_RE = re.compile(r"^(?:[-・•]\s|<?https?://)")
_URL_ONLY_RE = re.compile(r"^<?https?://\S+>?$")
_SENTENCE_END = "。！？!?」』）)"


@dataclass
class Block:
    kind: str  # text | table | caption | footnote | marker | bullet | blank-ish
    text: str
    start: int  # offset of the first character in the guide text
    end: int
    line_no: int
    marker: str = ""  # point | circled | column | case | reference (for kind == marker)
    number: int | None = None  # footnote or figure number
    joined: list[int] = field(default_factory=list)  # offsets of continuation pieces


def _is_table(text: str) -> bool:
    return "\t" in text or "<ul" in text or "<p>" in text


def classify(text: str, next_text: str | None) -> tuple[str, str, int | None]:
    """Return (kind, marker, number) for one paragraph."""
    s = text.strip()
    m = _FOOTNOTE_RE.match(s)
    if m:
        return "footnote", "", superscript_to_int(m.group(1))
    m = _CAPTION_RE.match(s)
    if m and "\t" not in s:
        return "caption", "", int(m.group(1))
    if _is_table(text):
        return "table", "", None
    if _COLUMN_RE.match(s):
        return "marker", "column", None
    if _CASE_RE.match(s) and len(s) < 120:
        return "marker", "case", None
    if _REFERENCE_RE.match(s):
        return "marker", "reference", None
    short_heading = len(s) < 130 and not s.endswith(("。", "。⁵⁹")) and "\n" not in s
    if _POINT_RE.match(s) and short_heading:
        return "marker", "point", int(_POINT_RE.match(s).group(1))
    if _CIRCLED_RE.match(s) and short_heading and len(s) < 90:
        return "marker", "circled", None
    if _BULLET_RE.match(s) or _URL_ONLY_RE.match(s):
        return "bullet", "", None
    return "text", "", None


def split_blocks(text: str, start_offset: int, start_line: int) -> list[Block]:
    """Paragraphs of ``text[start_offset:]`` separated by blank lines, typed."""
    blocks: list[Block] = []
    pos = start_offset
    line_no = start_line
    cur: list[str] = []
    cur_start = pos
    cur_line = line_no
    for line in text[start_offset:].split("\n"):
        if line.strip() in ("", "\u00a0"):
            if cur:
                body = "\n".join(cur)
                blocks.append(Block("text", body, cur_start, cur_start + len(body), cur_line))
                cur = []
        else:
            if not cur:
                cur_start = pos
                cur_line = line_no
            cur.append(line)
        pos += len(line) + 1
        line_no += 1
    if cur:
        body = "\n".join(cur)
        blocks.append(Block("text", body, cur_start, cur_start + len(body), cur_line))
    for i, b in enumerate(blocks):
        nxt = blocks[i + 1].text if i + 1 < len(blocks) else None
        b.kind, b.marker, b.number = classify(b.text, nxt)
    _mark_footnote_continuations(blocks)
    return blocks


def _mark_footnote_continuations(blocks: list[Block]) -> None:
    """A URL line right after a footnote is the footnote's second line."""
    for i in range(1, len(blocks)):
        prev, b = blocks[i - 1], blocks[i]
        s = b.text.strip()
        # "(<https://…>) より" and "（<https://…>）より" too; a footnote that already has its URL takes no other
        if b.kind != "footnote" and prev.kind == "footnote" and "http" not in prev.text and (
                s.lstrip("(（<").startswith("http") or len(s) < 60 and "http" in s):
            b.kind = "footnote_cont"
            b.number = prev.number


def ends_sentence(text: str) -> bool:
    s = text.rstrip().rstrip(SUPERSCRIPT_DIGITS)
    return not s or s[-1] in _SENTENCE_END or s.endswith(("ください", "ます", "です"))
