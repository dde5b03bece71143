"""A retrieved chunk's neighbourhood: the chunks beside it in its section and its footnotes.

A chunk is cut by length, so the sentence that answers often sits in the next chunk of the
same section, and the number a sentence points to (²⁶) sits in a footnote chunk that
shares few words with the question. Both are drawn into the answer's candidate pool.
"""
from __future__ import annotations

from ingest.models import Chunk, Guide
from ingest.text import SUPERSCRIPT_DIGITS, superscript_to_int

# kinds whose sentences may stand in an answer beside a hit (figure captions and
# reference lists say little on their own)
_SIBLING = ("body", "case", "column", "table")


def footnote_number(text: str) -> int | None:
    """The marker a footnote chunk opens with (「⁸ …」 → 8), else None."""
    head = text.lstrip()
    digits = head[:len(head) - len(head.lstrip(SUPERSCRIPT_DIGITS))]
    return superscript_to_int(digits) if digits else None


class Neighbours:
    def __init__(self, guide: Guide):
        self.chunks = guide.chunks
        self.position = {c.id: i for i, c in enumerate(guide.chunks)}
        notes = [c for c in guide.chunks if c.kind == "footnote"]
        by_number = {footnote_number(c.text): c for c in notes}
        self.footnote_chunk: dict[int, Chunk] = {}
        for f in guide.footnotes:
            # a footnote chunk opens with its own marker (「⁸ 一般社団法人…」): two notes citing the
            # same source (² and ⁸) share their first words, so the marker decides; the words
            # confirm it (else the first chunk holding them)
            head = f.text.strip()[:40]
            own = by_number.get(f.number)
            hit = own if own is not None and head in own.text else next((c for c in notes if head in c.text), None)
            if hit is not None:
                self.footnote_chunk[f.number] = hit

    def footnotes(self, chunk: Chunk) -> list[Chunk]:
        return [self.footnote_chunk[n] for n in chunk.footnotes if n in self.footnote_chunk]

    def siblings(self, chunk: Chunk, span: int = 1) -> list[Chunk]:
        """Up to ``span`` prose chunks before and after it in the same section (captions,
        footnotes and reference lists between them are stepped over)."""
        i = self.position.get(chunk.id)
        if i is None:
            return []
        out: list[Chunk] = []
        for step in (-1, 1):
            j, found = i + step, 0
            while 0 <= j < len(self.chunks) and found < span:
                c = self.chunks[j]
                if c.section_id != chunk.section_id:
                    break
                if c.kind in _SIBLING:
                    out.append(c)
                    found += 1
                j += step
        return out
