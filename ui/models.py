"""HTTP request/response models with limits and OpenAPI examples."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from assistant import inputs
from assistant.schema import Annotation
from ingest.errors import InvalidInput

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
MAX_QUESTION = 2000
MAX_ANNOTATE = 20000
MAX_COMMENT = 2000
MAX_TERM = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

PersonaIn = Literal["municipality", "startup", "intermediary", "any"]
ModeIn = Literal["extractive", "generative"]


def check_text(value: str, name: str, max_len: int, strip: bool = True, allow_empty: bool = False) -> str:
    if _CONTROL.search(value):
        raise ValueError(f"{name} must not contain control characters (e.g. NUL)")
    if strip:
        value = value.strip()
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if len(value) > max_len:
        raise ValueError(f"{name} is too long ({len(value)} > {max_len} characters)")
    return value


def kanmin_check(fn, value):
    """Run the assistant's own input check; its error code becomes the HTTP error code."""
    try:
        return fn(value)
    except InvalidInput as exc:
        raise PydanticCustomError(exc.code, exc.message, {"kanmin": True}) from None


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "原課とは何ですか？", "persona": "startup"},
        {"question": "実証実験の予算はどう確保しますか", "persona": "municipality",
         "session_id": "web:3f2a9c", "mode": "extractive"},
    ]})

    question: StrictStr = Field(..., description="1–2,000 characters after trimming")
    persona: PersonaIn | None = Field(None, description="who is asking; default: inferred / any")
    session_id: StrictStr | None = Field(None, pattern=ID_PATTERN,
                                         description="conversation id for follow-up questions")
    mode: ModeIn | None = Field(None, description="extractive (default) or generative (needs an LLM backend)")

    @field_validator("question")
    @classmethod
    def _question(cls, v: str) -> str:
        return kanmin_check(inputs.check_question, v)


class AnnotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "原課と調整のうえ、随意契約で実証を進めます。"}]})

    text: StrictStr = Field(..., description="free text, at most 20,000 characters")

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return kanmin_check(inputs.check_annotate_text, v)


class AnnotateResponse(BaseModel):
    annotations: list[Annotation]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"answer_id": "a1b2c3d4", "rating": "up"},
        {"answer_id": "a1b2c3d4", "rating": "down", "comment": "引用ページが違います"},
    ]})

    answer_id: StrictStr = Field(..., pattern=ID_PATTERN)
    rating: Literal["up", "down"]
    comment: StrictStr | None = Field(None, max_length=20000, description="at most 2,000 characters")

    @field_validator("comment")
    @classmethod
    def _comment(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = check_text(v, "comment", MAX_COMMENT, allow_empty=True)
        return v or None


class FeedbackResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 12, "answer_id": "a1b2c3d4", "rating": "up"}]})

    id: int
    answer_id: str
    rating: Literal["up", "down"]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "invalid_input", "message": "question: question must not be empty"}}]})

    error: ErrorDetail


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    reason: str


ANSWER_EXAMPLE = {
    "id": "a1b2c3d4", "question": "原課とは何ですか？",
    "answer": "原課とは、その政策分野を所管する担当課のことです。[1]",
    "language": "ja", "route": "glossary", "route_reason": "glossary term in question", "persona": "startup",
    "abstained": False,
    "citations": [{"n": 1, "chunk_id": "c01.s01-b01", "section_path": ["はじめに"], "pages": [3],
                   "quote": "原課（政策分野を所管する担当課）", "score": 0.92}],
    "glossary": [{"term": "原課", "reading": "げんか", "category": "自治体語",
                  "meaning": "政策分野を所管する担当課", "rephrase": "担当課", "en": "line division", "pages": [3]}],
    "reading_path": [], "nearest_sections": [], "mode": "extractive", "fallback": None,
    "session_id": None, "resolved_question": None, "latency_ms": 12.3, "saved": True,
}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    examples = {
        400: ("invalid_json", "request body is not valid JSON"),
        401: ("unauthorized", "missing API key: send 'Authorization: Bearer <key>'"),
        404: ("not_found", "unknown id"),
        422: ("invalid_input", "question: question must not be empty"),
        429: ("rate_limited", "rate limit exceeded (60 per 1 minute); retry in 12s"),
        503: ("index_unavailable", "index missing: run `kanmin build --force`"),
    }
    out: dict[int | str, dict] = {}
    for s in statuses:
        code, msg = examples[s]
        out[s] = {"model": ErrorResponse, "description": code,
                  "content": {"application/json": {"example": {"error": {"code": code, "message": msg}}}}}
    return out
