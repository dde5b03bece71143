"""Build and persist the index; staleness check.

Layout of ``settings.index_dir`` (see index.manifest for names)::

    manifest.json   written last; checksums of everything below
    chunks.json     the chunks, so loading needs no re-parse of the guide
    glossary.json   the glossary used for query expansion
    dense.faiss     FAISS index (row i = chunks[i])
    bm25/           bm25s index (doc i = chunks[i])

Embeddings come from the cache when the (embedder, text) pair was embedded
before; new ones are written to the cache batch by batch, so even a killed
cold build keeps its progress.
"""
from __future__ import annotations

import json
import shutil
import time
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from index.cache import EmbeddingCache, query_sha256, text_sha256
from index.dense import DENSE_KINDS, DenseIndex
from index.embedders import KanminEmbedding, make_embedder, validate_embedder_id
from index.errors import IndexUnavailable
from index.lexical import LexicalIndex
from index.progress import Progress
from index.seed import SPOT_CHECKS, EmbeddingSeed
from index.manifest import (
    ASKED_NAME,
    ASKED_VECTORS_NAME,
    BM25_DIR,
    CHUNKS_NAME,
    DENSE_NAME,
    FORMAT_VERSION,
    GLOSSARY_NAME,
    QUESTION_VECTORS_NAME,
    QUESTIONS_NAME,
    SENTENCE_VECTORS_NAME,
    SENTENCES_NAME,
    TOKENS_NAME,
    Manifest,
    checksum_files,
    library_versions,
    utc_now_iso,
    verify,
    write_manifest,
)
from index.storage import build_lock, fsync_tree, make_build_dir, publish, recover, remove_stale_build_dirs
from index.tokenizer import DEFAULT_SPLIT_MODE, SPLIT_MODES, TOKENIZER_VERSION, get_tokenizer
from ingest.errors import InvalidInput
from ingest.models import Chunk, GlossaryEntry, SectionQuestion, SentenceQuestion
from ingest.settings import Settings, get_settings
from ingest.text import quotable_spans

EMBED_BATCH = 16  # small batches: frequent progress and cache commits


def embed_texts(
    texts: Sequence[str],
    embedder: KanminEmbedding,
    cache: EmbeddingCache,
    *,
    use_cache: bool = True,
    progress: bool = True,
    as_queries: bool = False,
    seed: EmbeddingSeed | None = None,
) -> tuple[np.ndarray, int]:
    """(n, dim) unit vectors for ``texts`` and how many were actually embedded.

    Looked up in the cache, then in the shipped seed (verified on first use, see
    index.seed), and only then embedded; seed and new vectors go into the cache.
    ``as_queries``: embed as queries (e5's ``query:`` side), cached apart from passages."""
    shas = [query_sha256(t) if as_queries else text_sha256(t) for t in texts]
    have = cache.get_many(embedder.embedder_id, embedder.dim, shas) if use_cache else {}
    todo: dict[str, str] = {}
    for sha, t in zip(shas, texts):
        if sha not in have and sha not in todo:
            todo[sha] = t
    if seed is not None and use_cache and todo:
        seeded = _from_seed(seed, todo, embedder, as_queries)
        if seeded:
            cache.put_many(embedder.embedder_id, seeded)
            have.update(seeded)
            todo = {sha: t for sha, t in todo.items() if sha not in seeded}
    items = list(todo.items())
    kind = "queries" if as_queries else "passages"
    with Progress(len(items), f"embedding {kind} ({embedder.embedder_id})", unit="text", enabled=progress) as bar:
        for i in range(0, len(items), EMBED_BATCH):
            batch = items[i : i + EMBED_BATCH]
            new = dict(zip((sha for sha, _ in batch), _embed(embedder, [t for _, t in batch], as_queries)))
            cache.put_many(embedder.embedder_id, new)
            have.update(new)
            bar.update(len(batch))
    if not shas:
        return np.zeros((0, embedder.dim), np.float32), 0
    out = np.stack([have[s] for s in shas]).astype(np.float32, copy=False)
    # Re-normalise: cosine == inner product only for unit vectors.
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out = out / np.maximum(norms, 1e-12)
    return np.ascontiguousarray(out, dtype=np.float32), len(items)


def _embed(embedder: KanminEmbedding, texts: list[str], as_queries: bool) -> np.ndarray:
    if as_queries:
        return np.stack([embedder.embed_query_np(t) for t in texts])
    return embedder.embed_passages_np(texts)


def _from_seed(seed: EmbeddingSeed, todo: dict[str, str], embedder: KanminEmbedding,
               as_queries: bool) -> dict[str, np.ndarray]:
    """The seed's vectors for ``todo``; before the seed's first use, a spot check
    re-embeds a few of them and drops the seed if the model disagrees."""
    found = seed.get_many(todo)
    if found and seed.checked is None:
        probe = list(found)[:SPOT_CHECKS]
        fresh = dict(zip(probe, _embed(embedder, [todo[s] for s in probe], as_queries)))
        if not seed.agrees(fresh):
            return {}
    return found


def open_seed(settings: Settings, embedder: KanminEmbedding) -> EmbeddingSeed | None:
    return EmbeddingSeed.open(settings.seed_dir, embedder.embedder_id, embedder.dim) if settings.use_seed else None


def sentence_spans(chunks: Sequence[Chunk]) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Every quotable sentence as (chunk id, start, end), and its text."""
    spans = [(c.id, a, b) for c in chunks for a, b in quotable_spans(c.text, c.kind)]
    by_id = {c.id: c for c in chunks}
    return spans, [by_id[cid].text[a:b] for cid, a, b in spans]


def asked_rows(sentences: Sequence[str], questions: Sequence[SentenceQuestion]) -> list[list]:
    """[row of ``sentences``, lang, question] for each bank question, once for every row whose
    text is the question's sentence (a sentence that recurs in two chunks answers in both)."""
    rows_of: dict[str, list[int]] = {}
    for i, text in enumerate(sentences):
        rows_of.setdefault(text, []).append(i)
    return [[i, q.lang, q.text] for q in questions for i in rows_of.get(q.sentence, ())]


def _check_chunks(chunks: Sequence[Chunk]) -> None:
    if not chunks:
        raise InvalidInput("no_chunks", "there are no chunks to index (is the guide text empty?)")
    seen: set[str] = set()
    for c in chunks:
        if c.id in seen:
            raise InvalidInput("duplicate_chunk_id", f"chunk id {c.id!r} occurs twice; chunk ids must be unique")
        seen.add(c.id)


def build_index(
    chunks: list[Chunk],
    corpus_sha256: str,
    settings: Settings | None = None,
    embedder_id: str | None = None,
    force: bool = False,
    progress: bool = True,
    *,
    glossary: Sequence[GlossaryEntry] = (),
    questions: Sequence[SectionQuestion] = (),
    sentence_questions: Sequence[SentenceQuestion] = (),
    split_mode: str = DEFAULT_SPLIT_MODE,
    embedder: KanminEmbedding | None = None,
) -> Manifest:
    """Build the index into ``settings.index_dir`` atomically and return its manifest.

    Always builds (callers wanting "only if stale" check :func:`is_stale`);
    ``force`` additionally ignores cached embeddings and re-embeds every
    chunk (the remedy for a suspect cache). ``embedder`` lets callers (tests)
    inject an already-loaded instance; its id must match.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    embedder_id = validate_embedder_id(embedder_id or settings.embedder)
    if settings.dense_index not in DENSE_KINDS:
        raise InvalidInput(
            "invalid_dense_index", f"dense_index must be one of {DENSE_KINDS}, got {settings.dense_index!r}"
        )
    if split_mode not in SPLIT_MODES:
        raise InvalidInput("invalid_split_mode", f"split_mode must be one of {SPLIT_MODES}, got {split_mode!r}")
    _check_chunks(chunks)
    if embedder is None:
        embedder = make_embedder(embedder_id)
    elif embedder.embedder_id != embedder_id:
        raise InvalidInput("embedder_mismatch", f"embedder {embedder.embedder_id!r} given for id {embedder_id!r}")

    index_dir = Path(settings.index_dir)
    with build_lock(index_dir):
        recover(index_dir)
        remove_stale_build_dirs(index_dir)
        tmp = make_build_dir(index_dir)
        try:
            texts = [c.search_text for c in chunks]
            seed = None if force else open_seed(settings, embedder)
            with EmbeddingCache(Path(settings.cache_dir)) as cache:
                vectors, embedded = embed_texts(texts, embedder, cache, use_cache=not force, progress=progress,
                                                seed=seed)

                # every quotable sentence too: the answerer ranks sentences by meaning, not only words
                spans, s_texts = sentence_spans(chunks)
                s_vectors, _ = embed_texts(s_texts, embedder, cache, use_cache=not force, progress=progress,
                                           seed=seed)
                # the section question bank, embedded as the queries they are
                q_vectors, _ = embed_texts([q.text for q in questions], embedder, cache, use_cache=not force,
                                           progress=progress, as_queries=True, seed=seed)
                # the sentence question bank too, each question pointing at its sentence's rows
                asked = asked_rows(s_texts, sentence_questions)
                a_vectors, _ = embed_texts([r[2] for r in asked], embedder, cache, use_cache=not force,
                                           progress=progress, as_queries=True, seed=seed)
            (tmp / ASKED_NAME).write_text(json.dumps(asked, ensure_ascii=False), encoding="utf-8")
            np.save(tmp / ASKED_VECTORS_NAME, a_vectors.astype(np.float32), allow_pickle=False)
            np.save(tmp / SENTENCE_VECTORS_NAME, s_vectors.astype(np.float32), allow_pickle=False)
            (tmp / SENTENCES_NAME).write_text(json.dumps(spans, ensure_ascii=False), encoding="utf-8")

            tokenizer = get_tokenizer(split_mode)
            q_tokens = tokenizer.tokenize_many([unicodedata.normalize("NFKC", q.text) for q in questions])
            rows = [[q.node_id, q.lang, q.text, toks] for q, toks in zip(questions, q_tokens)]
            (tmp / QUESTIONS_NAME).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
            np.save(tmp / QUESTION_VECTORS_NAME, q_vectors.astype(np.float32), allow_pickle=False)

            # the answerer's word coverage reads these instead of tokenizing the guide in the server
            # (which would also page in most of the Sudachi dictionary: ~150 MB of RSS)
            (tmp / TOKENS_NAME).write_text(json.dumps({
                "chunks": tokenizer.tokenize_many([c.text for c in chunks]),
                "sentences": tokenizer.tokenize_many(s_texts),
            }, ensure_ascii=False), encoding="utf-8")
            tokens = tokenizer.tokenize_many(texts)
            (tmp / BM25_DIR).mkdir()
            LexicalIndex.build(tokens).save(tmp / BM25_DIR)
            DenseIndex.build(vectors, settings.dense_index).save(tmp / DENSE_NAME)
            (tmp / CHUNKS_NAME).write_text(
                json.dumps([c.model_dump(mode="json") for c in chunks], ensure_ascii=False), encoding="utf-8"
            )
            (tmp / GLOSSARY_NAME).write_text(
                json.dumps([g.model_dump(mode="json") for g in glossary], ensure_ascii=False), encoding="utf-8"
            )
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                embedder=embedder_id,
                dim=int(vectors.shape[1]),
                dense_index=settings.dense_index,
                split_mode=split_mode,
                tokenizer_version=TOKENIZER_VERSION,
                corpus_sha256=corpus_sha256,
                chunk_count=len(chunks),
                built_at=utc_now_iso(),
                build_seconds=round(time.perf_counter() - started, 2),
                embedded_chunks=embedded,
                versions=library_versions(),
                files=checksum_files(tmp),
            )
            write_manifest(tmp, manifest)  # last: its presence marks a complete index
            fsync_tree(tmp)
            publish(tmp, index_dir)
        except BaseException:  # incl. KeyboardInterrupt: never leave a half-built dir behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return manifest


def stale_reason(
    settings: Settings | None = None,
    corpus_sha256: str | None = None,
    embedder_id: str | None = None,
    split_mode: str = DEFAULT_SPLIT_MODE,
) -> str | None:
    """Why the index must be rebuilt (one line), or None if it is up to date.

    Up to date = what build_index would produce now: same corpus, embedder,
    dense kind, split mode, tokenizer and query-side library versions, and
    intact files. (load_index is laxer about the split mode: an index built
    with another mode still answers correctly, queries use the manifest's.)
    """
    settings = settings or get_settings()
    index_dir = Path(settings.index_dir)
    recover(index_dir)
    try:
        verify(
            index_dir,
            embedder_id=validate_embedder_id(embedder_id or settings.embedder),
            corpus_sha256=corpus_sha256,
            dense_index=settings.dense_index,
            split_mode=split_mode,
        )
    except IndexUnavailable as e:
        return e.message
    return None


def is_stale(
    settings: Settings | None = None,
    corpus_sha256: str | None = None,
    embedder_id: str | None = None,
    split_mode: str = DEFAULT_SPLIT_MODE,
) -> bool:
    """True if the index is missing, corrupt, or built from other inputs."""
    return stale_reason(settings, corpus_sha256, embedder_id, split_mode) is not None
