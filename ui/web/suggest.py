"""Suggested next questions for an answer, drawn from the guide's own question bank
(data/section_questions.yaml): the questions written for the cited sections, deepest first."""
from __future__ import annotations

from typing import Sequence

from ingest.models import SectionQuestion
from ingest.text import canonical

N_SUGGESTIONS = 3


class QuestionBank:
    def __init__(self, questions: Sequence[SectionQuestion]):
        self.by_node: dict[tuple[str, str], list[str]] = {}
        for q in questions:
            self.by_node.setdefault((q.node_id, q.lang), []).append(q.text)

    def suggest(self, section_ids: Sequence[str], lang: str, asked: Sequence[str] = (),
                k: int = N_SUGGESTIONS) -> list[str]:
        """Up to ``k`` questions of the sections (then their parents), none of them already asked."""
        seen = {canonical(a) for a in asked if a}
        out: list[str] = []
        for sid in section_ids:
            parts = sid.split(".")
            # the section itself, then each enclosing section up to the chapter
            for depth in range(len(parts), 0, -1):
                found = 0
                for text in self.by_node.get((".".join(parts[:depth]), lang), []):
                    key = canonical(text)
                    if key not in seen:
                        seen.add(key)
                        out.append(text)
                        found += 1
                        if len(out) >= k:
                            return out
                if found:
                    break  # the nearest level with questions is enough for this section
        return out
