"""The sentence question bank (data/sentence_questions.yaml): for a quotable sentence of the
guide, the questions that sentence answers by itself, as municipal staff and startups ask them.

A user's question is nearer to another question than to the guide's prose (the embedder is
small), so the answerer ranks a sentence also by how near the question is to the ones that
sentence answers. Entries are keyed by the sentence's verbatim text, not by a position, so
that a re-chunked guide keeps them; an entry whose sentence the guide no longer has is dropped
with a warning. A retrieval aid only: the questions are never quoted.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import yaml

from ingest.errors import IngestError
from ingest.models import Chunk, SentenceQuestion
from ingest.section_questions import LANGS
from ingest.text import quotable_spans

log = logging.getLogger("kanmin.ingest")


def quotable_sentences(chunks: Sequence[Chunk]) -> set[str]:
    """The text of every quotable sentence of the chunks (what the answerer can quote)."""
    return {c.text[a:b] for c in chunks for a, b in quotable_spans(c.text, c.kind)}


def load_sentence_questions(path: Path, chunks: Sequence[Chunk]) -> list[SentenceQuestion]:
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        raise IngestError("questions_yaml", f"cannot parse {path.name}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, list):
        raise IngestError("questions_yaml", f"{path.name} must be a list of {{sentence, ja: [...], en: [...]}}")
    known = quotable_sentences(chunks)
    out: list[SentenceQuestion] = []
    dropped: list[str] = []
    for n, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("sentence"), str):
            raise IngestError("questions_yaml", f"{path.name}: entry {n} must have a sentence and ja/en question lists")
        sentence = entry["sentence"]
        if sentence not in known:
            dropped.append(sentence[:20])
            continue
        for lang in LANGS:
            for q in entry.get(lang) or []:
                text = str(q).strip()
                if text:
                    out.append(SentenceQuestion(sentence=sentence, lang=lang, text=text))
    if dropped:
        log.warning("%s: %d sentence(s) not in the guide, skipped: %s", path.name, len(dropped), "; ".join(dropped[:5]))
    return out
