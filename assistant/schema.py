"""The one answer schema shared by every front door (CLI, HTTP API, Gradio, Slack)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Route = Literal["glossary", "locate", "figure", "reading_path", "qa", "out_of_scope"]
Mode = Literal["extractive", "generative"]
PersonaIn = Literal["municipality", "startup", "intermediary", "any"]


class Citation(BaseModel):
    n: int
    chunk_id: str
    section_path: list[str]
    pages: list[int]
    quote: str  # verbatim substring of the chunk's text
    score: float = 0.0


class GlossaryNote(BaseModel):
    term: str
    reading: str = ""
    category: str = ""
    meaning: str = ""
    rephrase: str = ""
    en: str = ""
    pages: list[int] = Field(default_factory=list)


class ReadingStep(BaseModel):
    order: int
    heading: str
    pages: list[int]
    why: str = ""


class SectionRef(BaseModel):
    section_id: str
    section_path: list[str]
    pages: list[int]


class Answer(BaseModel):
    id: str
    question: str
    answer: str
    language: Literal["ja", "en"]
    route: Route
    route_reason: str
    persona: PersonaIn
    abstained: bool = False
    # why it abstained: weak_support | not_stated (topic covered, detail asked not) | excluded_topic |
    # off_topic | unknown_figure
    abstain_reason: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    glossary: list[GlossaryNote] = Field(default_factory=list)
    reading_path: list[ReadingStep] = Field(default_factory=list)
    nearest_sections: list[SectionRef] = Field(default_factory=list)
    mode: Mode = "extractive"
    fallback: str | None = None  # why a generative answer fell back to extractive, or what its citation check removed
    session_id: str | None = None
    resolved_question: str | None = None  # the follow-up rewritten against history
    latency_ms: float = 0.0
    # shown in the API docs: a client must know that feedback on an unsaved answer will be refused
    saved: bool = Field(True, description=(
        "false when the state database was unreachable: the answer is given (a follow-up then without its "
        "earlier turns) but not stored, so a follow-up cannot build on it and feedback on its id is refused"))


class Annotation(BaseModel):
    """A glossary term found in free text (the jargon translator)."""

    term: str
    start: int
    end: int
    surface: str
    reading: str = ""
    category: str = ""
    meaning: str = ""
    rephrase: str = ""
    en: str = ""
    pages: list[int] = Field(default_factory=list)
