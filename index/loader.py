"""Load and verify a persisted index → :class:`index.retriever.Retriever`.

Every problem (missing, partial, corrupt, stale, built for another embedder)
is reported as one ``IndexUnavailable`` line with the rebuild command, never
a traceback: the front doors print it as is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from pydantic import TypeAdapter, ValidationError

from index.dense import DenseIndex
from index.embedders import KanminEmbedding, make_embedder, validate_embedder_id
from index.fusion import FusionConfig
from index.glossary import load_en_aliases
from index.lexical import LexicalIndex
from index.manifest import BM25_DIR, CHUNKS_NAME, DENSE_NAME, GLOSSARY_NAME, Manifest, unavailable, verify
from index.question_bank import QuestionBank
from index.retriever import Retriever
from index.sentence_vectors import SentenceVectors
from index.storage import recover
from index.token_table import TokenTable
from index.tokenizer import get_tokenizer
from ingest.models import Chunk, GlossaryEntry
from ingest.settings import Settings, get_settings

_CHUNKS = TypeAdapter(list[Chunk])
_GLOSSARY = TypeAdapter(list[GlossaryEntry])


def load_index(
    settings: Settings | None = None,
    *,
    embedder_id: str | None = None,
    corpus_sha256: str | None = None,
    glossary: Sequence[GlossaryEntry] | None = None,
    en_aliases: Mapping[str, str] | None = None,
    config: FusionConfig | None = None,
    embedder: KanminEmbedding | None = None,
) -> Retriever:
    """Verify ``settings.index_dir`` and return a ready Retriever.

    ``embedder_id`` defaults to ``settings.embedder``; ``corpus_sha256`` (if
    given) must match the one the index was built from. ``glossary`` defaults
    to the one stored at build time; ``en_aliases`` to settings.glossary_en_path.
    """
    settings = settings or get_settings()
    index_dir = Path(settings.index_dir)
    recover(index_dir)
    manifest = verify(
        index_dir,
        embedder_id=validate_embedder_id(embedder_id or settings.embedder),
        corpus_sha256=corpus_sha256,
        dense_index=settings.dense_index,
    )
    chunks, lexical, dense, sentences, questions = read_contents(index_dir, manifest)
    tokens = TokenTable.load(index_dir, chunks, sentences.spans)
    if glossary is None:
        glossary = _read(index_dir / GLOSSARY_NAME, _GLOSSARY)

    if embedder is None:
        embedder = make_embedder(manifest.embedder)
    if embedder.dim != manifest.dim:
        raise unavailable(
            "index_embedder_mismatch",
            f"embedder {manifest.embedder!r} produces {embedder.dim}-d vectors "
            f"but the index holds {manifest.dim}-d ones",
        )
    if en_aliases is None:
        en_aliases = load_en_aliases(Path(settings.glossary_en_path))
    return Retriever(
        chunks,
        lexical,
        dense,
        embedder,
        get_tokenizer(manifest.split_mode),
        glossary=glossary,
        en_aliases=en_aliases,
        config=config,
        manifest=manifest,
        sentences=sentences,
        questions=questions,
        tokens=tokens,
    )


def read_contents(index_dir: Path, manifest: Manifest):
    """Chunks, BM25, FAISS, sentence vectors and the question bank, checked against each other and the manifest
    (no embedder needed: `kanmin info` uses it to catch damage that checksums cannot)."""
    chunks = _read(index_dir / CHUNKS_NAME, _CHUNKS)
    try:
        lexical = LexicalIndex.load(index_dir / BM25_DIR)
        dense = DenseIndex.load(index_dir / DENSE_NAME)
    except Exception as e:  # a checksum-valid file that still fails to load (library change)
        raise unavailable(
            "index_corrupt", f"index at {index_dir} cannot be loaded ({type(e).__name__}: {_first_line(e)})"
        ) from e
    _check_sizes(index_dir, manifest, chunks, lexical, dense)
    sentences = SentenceVectors.load(index_dir, manifest.dim)
    questions = QuestionBank.load(index_dir, manifest.dim, chunks)
    return chunks, lexical, dense, sentences, questions


def _read(path: Path, adapter: TypeAdapter):
    try:
        return adapter.validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as e:
        raise unavailable("index_corrupt", f"index file {path} is unreadable ({type(e).__name__})") from e


def _check_sizes(index_dir: Path, m: Manifest, chunks: list[Chunk], lexical: LexicalIndex, dense: DenseIndex) -> None:
    sizes = {"chunks.json": len(chunks), "FAISS ntotal": dense.ntotal, "BM25 documents": lexical.num_docs}
    for what, n in sizes.items():
        if n != m.chunk_count:
            raise unavailable(
                "index_corrupt",
                f"index at {index_dir} is inconsistent: {what} is {n} but the manifest says {m.chunk_count} chunks",
            )
    if dense.dim != m.dim:
        raise unavailable(
            "index_corrupt", f"index at {index_dir} is inconsistent: FAISS dim {dense.dim} != manifest dim {m.dim}"
        )


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:200] if lines else ""
