"""Japanese tokenizer for BM25: SudachiPy + sudachidict_core.

Pipeline: NFKC → Sudachi → drop function words by POS → normalized_form,
lower-cased. Latin words and numbers are kept as written, lower-cased (PoC →
poc, 2026): Sudachi's normalized_form would turn English words into katakana
(the → ザ, city → シティー, data → データ), so an English query would match
unrelated katakana words of the guide.

Split modes (``SplitMode``):
  * ``"A"``  – shortest units (官民 / 連携): best recall for compounds a user
    splits differently from the guide, noisier matches.
  * ``"C"``  – longest units (官民連携, 地方自治法): precise, but a query
    writing 連携 alone never matches 官民連携.
  * ``"CA"`` – C units plus their A sub-units (官民連携 官民 連携): an exact
    compound match scores higher than a partial one, partial ones still match.

Default CA. Hybrid MRR@10 with the default FusionConfig — our 43
hand-written queries: A .819, CA .817, C .751; the eval set (retrieval
only): A .755, CA .766, C .762. C loses our paraphrases, A and CA tie on
ours, CA is best on the eval set.

The Sudachi dictionary takes ~0.1–0.5 s to load, so it is loaded once per
process; tokenizer objects are cheap and kept one per thread (a Sudachi
tokenizer must not be used by two threads at the same time).
"""
from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from typing import Iterable, Literal, get_args

# Bump when the token stream changes (POS filter, stopwords, normalisation):
# the manifest records it and an index built with another version is stale.
TOKENIZER_VERSION = 2

SplitMode = Literal["A", "C", "CA"]
SPLIT_MODES: tuple[str, ...] = get_args(SplitMode)
DEFAULT_SPLIT_MODE: SplitMode = "CA"

# Function words and punctuation carry no topical signal for BM25.
_DROP_POS = [("助詞",), ("助動詞",), ("補助記号",), ("記号",), ("空白",)]

# English function words: the guide's few Latin words are names (Pay For
# Success, Local Innovation Challenge), so "a", "for", "how" in an English
# query would only match those by accident. Lucene's list + question words.
EN_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with how what when where which who whom why do does did can could should would "
    "i me my we our you your he she his her its s am been being have has had about from so".split()
)

# Sudachi refuses inputs above ~48 KiB; chunks and queries are far smaller, but
# a defensive split keeps a pathological input from raising mid-build.
_MAX_PIECE_CHARS = 8000
_MEMO_MAX_CHARS = 300  # questions and words, not documents
_MEMO_SIZE = 4096

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
                _trim_dictionary_pages()
    return _dictionary


def _trim_dictionary_pages() -> None:
    """Let the kernel keep only the Sudachi dictionary pages a lookup touches.

    The dictionary (~190 MB) is a read-only file mapping. Loading it reads most of it, and each
    page fault maps its neighbours too (readahead), so a server's RSS fills with pages no lookup
    needs. MADV_RANDOM stops the readahead; MADV_DONTNEED drops what loading mapped (clean file
    pages: they come back from the page cache on the next touch). Linux only; best effort."""
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/proc/{os.getpid()}/maps", encoding="utf-8") as f:
            for line in f:
                if line.rstrip().endswith("system.dic"):
                    start, end = (int(x, 16) for x in line.split()[0].split("-"))
                    for advice in (_MADV_RANDOM, _MADV_DONTNEED):
                        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), advice)
    except OSError:
        pass


_MADV_RANDOM, _MADV_DONTNEED = 1, 4


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
        self._memo: dict[str, tuple[str, ...]] = {}

    def _tok(self):
        tok = getattr(self._local, "tok", None)
        if tok is None:
            tok = self._dict.tokenizer(mode=self._mode)
            self._local.tok = tok
        return tok

    def tokenize(self, text: str) -> list[str]:
        """BM25 tokens of ``text``. Memoised for short texts: one answer tokenizes its question, its
        expansions and the thesaurus's words several times, and those words recur across questions."""
        if len(text) <= _MEMO_MAX_CHARS:
            hit = self._memo.get(text)
            if hit is None:
                hit = self._memo[text] = tuple(self._tokenize(text))
                if len(self._memo) > _MEMO_SIZE:
                    self._memo.clear()  # crude but thread-safe bound: the working set refills at once
            return list(hit)
        return self._tokenize(text)

    def _tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        out: list[str] = []
        tok = self._tok()
        for piece in _pieces(text):
            for m in tok.tokenize(piece):
                if self._drop(m):
                    continue
                norm = _form(m)
                if not norm:
                    continue
                out.append(norm)
                if self._sub_mode is not None:
                    subs = m.split(self._sub_mode)
                    if len(subs) > 1:
                        out.extend(f for s in subs if not self._drop(s) and (f := _form(s)))
        return out

    def proper_nouns(self, text: str) -> list[str]:
        """Proper nouns in ``text`` other than person and place names (ふるさと納税, an
        organisation), as written: what a question names that the guide might never mention."""
        from sudachipy import SplitMode

        out = []
        for m in self._dict.tokenizer(mode=SplitMode.C).tokenize(unicodedata.normalize("NFKC", text)[:_MAX_PIECE_CHARS]):
            pos = m.part_of_speech()
            if pos[0] == "名詞" and pos[1] == "固有名詞" and pos[2] not in ("人名", "地名") and not m.surface().isascii():
                out.append(m.surface())
        return out

    def place_names(self, text: str) -> list[str]:
        """Place names in ``text`` below the country (福岡市, つくば, 茨城県), as written."""
        from sudachipy import SplitMode

        out = []
        for m in self._dict.tokenizer(mode=SplitMode.C).tokenize(unicodedata.normalize("NFKC", text)[:_MAX_PIECE_CHARS]):
            pos = m.part_of_speech()
            if pos[0] == "名詞" and pos[1] == "固有名詞" and pos[2] == "地名" and pos[3] != "国":
                out.append(m.surface())
        return out

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in texts]


def _form(m) -> str:
    surface = m.surface()
    if surface.isascii():
        word = surface.strip().lower()
        return "" if word in EN_STOPWORDS else word
    return m.normalized_form().strip().lower()


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
