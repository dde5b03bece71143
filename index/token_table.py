"""Tokens of the guide's own texts (each chunk, each quotable sentence), computed at build time.

The answerer scores sentences by the query words they contain. Tokenizing the guide in the
server would cost every answer Sudachi calls and page in most of the Sudachi dictionary
(~150 MB of RSS); reading the build's tokens costs neither. Texts not in the table (anything
but a chunk or a quotable sentence) are tokenized as before by the caller.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from index.manifest import TOKENS_NAME, unavailable
from ingest.models import Chunk


class TokenTable:
    def __init__(self, chunk_tokens: list[list[str]], by_text: dict[str, frozenset[str]]):
        self.chunk_tokens = chunk_tokens  # aligned with the index's chunks (for IDF)
        self.by_text = by_text  # chunk text or quotable sentence → its token set

    @classmethod
    def load(cls, index_dir: Path, chunks: Sequence[Chunk], spans: Sequence[tuple[str, int, int]]) -> "TokenTable":
        try:
            raw = json.loads((index_dir / TOKENS_NAME).read_text(encoding="utf-8"))
            # one str object per distinct token (~4k) instead of one per occurrence (~80k): −3 MB RSS
            distinct: dict[str, str] = {}
            chunk_tokens, sentence_tokens = ([[distinct.setdefault(t, t) for t in toks] for toks in raw[part]]
                                             for part in ("chunks", "sentences"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise unavailable("index_corrupt", f"tokens in {index_dir} are unreadable ({type(e).__name__})") from e
        if len(chunk_tokens) != len(chunks) or len(sentence_tokens) != len(spans):
            raise unavailable("index_corrupt", f"index at {index_dir} is inconsistent: tokens for "
                                               f"{len(chunk_tokens)} chunks / {len(sentence_tokens)} sentences")
        text_of = {c.id: c.text for c in chunks}
        by_text: dict[str, frozenset[str]] = {}
        for (cid, a, b), toks in zip(spans, sentence_tokens):
            by_text[text_of[cid][a:b]] = frozenset(toks)
        for c, toks in zip(chunks, chunk_tokens):
            by_text[c.text] = frozenset(toks)
        return cls(chunk_tokens, by_text)
