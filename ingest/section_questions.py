"""The section question bank (data/section_questions.yaml): per node of the guide, questions
that node answers, written the way municipal staff and startups ask them.

The embedder is small and matches paraphrases poorly; a user's question is usually nearer to
another question than to the guide's prose, so the index searches these too. Entries for
nodes the guide no longer has are dropped (a later revision may renumber sections): the
bank is a retrieval aid, never a source of quotes.
"""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from ingest.errors import IngestError
from ingest.models import SectionQuestion

log = logging.getLogger("kanmin.ingest")

LANGS = ("ja", "en")


def load_questions(path: Path, node_ids: set[str]) -> list[SectionQuestion]:
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise IngestError("questions_yaml", f"cannot parse {path.name}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise IngestError("questions_yaml", f"{path.name} must map node ids to {{ja: [...], en: [...]}}")
    out: list[SectionQuestion] = []
    dropped = []
    for node_id, by_lang in data.items():
        if str(node_id) not in node_ids:
            dropped.append(str(node_id))
            continue
        if not isinstance(by_lang, dict):
            raise IngestError("questions_yaml", f"{path.name}: {node_id} must map ja/en to lists of questions")
        for lang in LANGS:
            for q in by_lang.get(lang) or []:
                text = str(q).strip()
                if text:
                    out.append(SectionQuestion(node_id=str(node_id), lang=lang, text=text))
    if dropped:
        log.warning("%s: %d node id(s) not in the guide, skipped: %s", path.name, len(dropped), ", ".join(dropped[:5]))
    return out
