"""Printed-page anchoring: TOC and figure-list pages at known offsets, interpolated between."""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass


@dataclass
class PageMap:
    offsets: list[int]
    pages: list[int]
    last_page: int

    @classmethod
    def from_anchors(cls, anchors: list[tuple[int, int]], body_end: int, last_page: int) -> "PageMap":
        """Keep the anchors that are monotone in both offset and page (drop outliers)."""
        anchors = sorted(set(anchors))
        kept: list[tuple[int, int]] = []
        for off, page in anchors:
            if kept and page < kept[-1][1]:
                continue  # an anchor that goes backwards is an extraction oddity
            kept.append((off, page))
        kept.append((body_end, last_page + 1))
        return cls([o for o, _ in kept], [p for _, p in kept], last_page)

    def page_at(self, offset: int) -> int:
        i = bisect.bisect_right(self.offsets, offset) - 1
        if i < 0:
            return self.pages[0]
        if i >= len(self.offsets) - 1:
            return self.last_page
        o1, o2 = self.offsets[i], self.offsets[i + 1]
        p1, p2 = self.pages[i], self.pages[i + 1]
        if p2 <= p1 or o2 <= o1:
            return p1
        return min(int(p1 + (offset - o1) / (o2 - o1) * (p2 - p1)), max(p1, p2 - 1) if p2 > p1 else p1)

    def span(self, start: int, end: int) -> list[int]:
        a, b = self.page_at(start), self.page_at(max(start, end - 1))
        return list(range(a, b + 1))


# p.85参照 / （P32 参照） / 40ページ / 本ガイド 103 ページ / 86 ページ～ / (P50)
CROSS_REF_RE = re.compile(r"(?:[pPｐＰ]\.?\s*(?P<p1>\d{1,3})(?!\d)(?:\s*参照)?|(?P<p2>\d{1,3})\s*ページ(?!にまとめ))")


def find_cross_refs(text: str) -> list[tuple[str, int]]:
    out = []
    for m in CROSS_REF_RE.finditer(text):
        page = int(m.group("p1") or m.group("p2"))
        # a bare "P" inside a word (PPP, PFS…) is not a page reference
        if m.group("p1") and m.start() > 0 and text[m.start() - 1].isascii() and text[m.start() - 1].isalpha():
            continue
        if m.group(0).strip() == text.strip():
            continue  # a page label printed inside a figure, not a reference
        out.append((m.group(0), page))
    return out
