"""Quote verification: every quote an answer shows must be the guide's own words.

A quote passes when it is an exact substring of the text of the chunk it cites,
and both the quote and that chunk text occur in the guide (canonical forms:
NFKC, whitespace-insensitive), either in the raw text or in the text with the
footnote lines removed (a page break can put a footnote inside a sentence, and
chunks join the sentence back together).
"""
from __future__ import annotations

from ingest.blocks import split_blocks
from ingest.models import Guide
from ingest.text import canonical


class QuoteVerifier:
    def __init__(self, guide: Guide, text: str):
        blocks = split_blocks(text, 0, 1)
        no_notes = "\n".join(b.text for b in blocks if b.kind not in ("footnote", "footnote_cont"))
        self._haystacks = (canonical(text), canonical(no_notes))
        self._chunks = {c.id: c for c in guide.chunks}
        self._chunk_ok: dict[str, bool] = {}

    def in_guide(self, text: str) -> bool:
        key = canonical(text)
        return bool(key) and any(key in h for h in self._haystacks)

    def problem(self, chunk_id: str | None, quote: str) -> str | None:
        """Why the quote is not verbatim (None when it is)."""
        if not quote or not quote.strip():
            return "empty quote"
        chunk = self._chunks.get(chunk_id or "")
        if chunk is None:
            return f"cites unknown chunk {chunk_id!r}"
        if quote not in chunk.text:
            return f"quote is not an exact substring of chunk {chunk_id}"
        ok = self._chunk_ok.get(chunk.id)
        if ok is None:
            ok = self._chunk_ok[chunk.id] = self.in_guide(chunk.text)
        if not ok:
            return f"chunk {chunk_id} text is not in the guide"
        if not self.in_guide(quote):
            return "quote is not in the guide text"
        return None
