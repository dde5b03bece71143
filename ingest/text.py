"""Text normalisation shared by parsing, chunking and quote verification."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUP_TO_ASCII = str.maketrans(SUPERSCRIPT_DIGITS, "0123456789")
_TAG_RE = re.compile(r"</?(?:ul|li|p)\b[^>]*>")
_WS_RE = re.compile(r"\s+")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_tags(text: str) -> str:
    """Drop the HTML list fragments the PDF extraction left in table cells."""
    return _TAG_RE.sub(" ", text)


def squash(text: str) -> str:
    """Key for comparing headings and phrases: NFKC, no whitespace at all."""
    return _WS_RE.sub("", nfkc(text))


def canonical(text: str) -> str:
    """Whitespace-, tag- and width-insensitive form used to verify quotes and phrases."""
    return _WS_RE.sub("", nfkc(strip_tags(text))).replace("|", "")


def superscript_to_int(marker: str) -> int:
    return int(marker.translate(_SUP_TO_ASCII))


def is_control_free(text: str) -> bool:
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in text)


_SENT_END = "。！？!?"


# a line the PDF extraction broke mid-sentence (p.120: 「…ガイダンスを\n 発出しています。」): the line
# goes on after one space, the one before ends in no sentence end, and the next is no item or link
HARD_WRAP = re.compile(r"(?<=[^\s。．！？」』）)])\n (?=[^\s※\-・(（<●■◆✓])")


def unwrap(text: str) -> str:
    """``text`` with its hard-wrapped lines joined, as a reader should see a quote of it."""
    return HARD_WRAP.sub("", text)


def split_sentences(text: str) -> list[str]:
    """Split Japanese text after 。！？ and at line ends (never inside 「」 or （）, never at a hard
    wrap); pieces concatenate back to ``text``."""
    out: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "「『（(":
            depth += 1
        elif ch in "」』）)":
            depth = max(0, depth - 1)
        elif (ch == "\n" and not HARD_WRAP.match(text, i)) or (ch in _SENT_END and depth == 0):
            j = i + 1
            # keep trailing closers and footnote markers with the sentence
            while j < n and (text[j] in SUPERSCRIPT_DIGITS or text[j] in "」』）)"):
                j += 1
            out.append(text[start:j])
            start = j
            i = j
            continue
        i += 1
    if start < n:
        out.append(text[start:])
    return [s for s in out if s.strip()] if out else []


# link lines are not answers; a bulleted line of prose (「- ④ 新商品として…」) is
URLISH = re.compile(r"https?://|^<|^[-・•]\s*[-・•]")
NON_QUOTABLE_KINDS = ("reference", "footnote", "figure")


@lru_cache(maxsize=4096)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence in ``text``, whitespace trimmed (memoised: the answerer
    splits the same chunks for every question)."""
    spans = []
    pos = 0
    for s in split_sentences(text):
        i = text.find(s, pos)
        if i < 0:
            continue
        pos = i + len(s)
        a, b = i, i + len(s)
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            spans.append((a, b))
    return tuple(spans)


@lru_cache(maxsize=4096)
def quotable_spans(text: str, kind: str) -> tuple[tuple[int, int], ...]:
    """Sentences of a chunk that may stand in an answer (no link lists, captions, footnotes)."""
    if kind in NON_QUOTABLE_KINDS:
        return ()
    return tuple((a, b) for a, b in sentence_spans(text) if b - a >= 12 and not URLISH.search(text[a:b]))
