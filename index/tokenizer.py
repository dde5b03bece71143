"""Japanese tokenizer for BM25: SudachiPy + sudachidict_core.

Pipeline: NFKC → Sudachi → drop function words by POS → normalized_form,
lower-cased. Latin words and numbers are kept (PoC, KPI, 2026 …).

Split modes (``SplitMode``):
  * ``"A"``  – shortest units (官民 / 連携): best recall for compounds a user
    splits differently from the guide, noisier matches.
  * ``"C"``  – longest units (官民連携, 地方自治法): precise, but a query
    writing 連携 alone never matches 官民連携.
  * ``"CA"`` – C units plus their A sub-units (官民連携 官民 連携): an exact
    compound match scores higher than a partial one, partial ones still match.
    Default: best of the three on our hand-written queries (see the report
    in tests/test_index_quality.py and benchmarks).

The Sudachi dictionary takes ~0.1–0.5 s to load, so it is loaded once per
process; tokenizer objects are cheap and kept one per thread (a Sudachi
tokenizer must not be used by two threads at the same time).
"""
from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from typing import Iterable, Literal, get_args

SplitMode = Literal["A", "C", "CA"]
SPLIT_MODES: tuple[str, ...] = get_args(SplitMode)
DEFAULT_SPLIT_MODE: SplitMode = "CA"

# Function words and punctuation carry no topical signal for BM25.
_DROP_POS = [("助詞",), ("助動詞",), ("補助記号",), ("記号",), ("空白",)]

# Sudachi refuses inputs above ~48 KiB; chunks and queries are far smaller, but
# a defensive split keeps a pathological input from raising mid-build.
_MAX_PIECE_CHARS = 8000

_dict_lock = threading.Lock()
_dictionary = None


def _get_dictionary():
    """The process-wide Sudachi dictionary (the slow part), loaded once."""
    global _dictionary
    if _dictionary is None:
        with _dict_lock:
            if _dictionary is None:
                from sudachipy import Dictionary

                _dictionary = Dictionary(dict="core")
    return _dictionary


class SudachiTokenizer:
    """Turns text into BM25 tokens. Create via :func:`get_tokenizer` (shared)."""

    def __init__(self, split_mode: str = DEFAULT_SPLIT_MODE):
        if split_mode not in SPLIT_MODES:
            raise ValueError(f"split_mode must be one of {SPLIT_MODES}, got {split_mode!r}")
        from sudachipy import SplitMode as _SM

        self.split_mode = split_mode
        self._dict = _get_dictionary()
        self._mode = _SM.A if split_mode == "A" else _SM.C
        self._sub_mode = _SM.A if split_mode == "CA" else None
        self._drop = self._dict.pos_matcher(_DROP_POS)
        self._local = threading.local()

    def _tok(self):
        tok = getattr(self._local, "tok", None)
        if tok is None:
            tok = self._dict.tokenizer(mode=self._mode)
            self._local.tok = tok
        return tok

    def tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        out: list[str] = []
        tok = self._tok()
        for piece in _pieces(text):
            for m in tok.tokenize(piece):
                if self._drop(m):
                    continue
                norm = m.normalized_form().lower()
                if not norm.strip():
                    continue
                out.append(norm)
                if self._sub_mode is not None:
                    subs = m.split(self._sub_mode)
                    if len(subs) > 1:
                        out.extend(
                            s.normalized_form().lower()
                            for s in subs
                            if not self._drop(s) and s.normalized_form().strip()
                        )
        return out

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in texts]


def _pieces(text: str) -> Iterable[str]:
    if len(text) <= _MAX_PIECE_CHARS:
        yield text
        return
    for i in range(0, len(text), _MAX_PIECE_CHARS):
        yield text[i : i + _MAX_PIECE_CHARS]


@lru_cache(maxsize=len(SPLIT_MODES))
def get_tokenizer(split_mode: str = DEFAULT_SPLIT_MODE) -> SudachiTokenizer:
    """The shared tokenizer for a split mode (created once per process)."""
    return SudachiTokenizer(split_mode)
