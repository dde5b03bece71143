"""CLI: kanmin build | info | search (registered by ui/cli/main.py).

Progress and status go to stderr; ``--json`` output is UTF-8 JSON on stdout
only. Problems are raised as KanminError (one line + exit 2, handled by
ui/cli/main.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from index.errors import IndexUnavailable
from index.manifest import read_manifest, verify
from index.storage import recover
from index.tokenizer import DEFAULT_SPLIT_MODE, SPLIT_MODES
from ingest.errors import InvalidInput, KanminError
from ingest.settings import Settings, get_settings

SNIPPET_CHARS = 160


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build", help="build the search index (BM25 + dense) from the guide")
    p.add_argument("--embedder", metavar="ID", help="embedder id (default: settings.embedder, e5-small-int4)")
    p.add_argument("--force", action="store_true", help="rebuild from scratch, re-embedding every chunk")
    p.add_argument("--if-stale", action="store_true", help="build only if the index is missing, stale or corrupt")
    p.add_argument("--split-mode", choices=list(SPLIT_MODES), default=DEFAULT_SPLIT_MODE,
                   help=f"Sudachi split mode for BM25 tokens (default {DEFAULT_SPLIT_MODE}: C units + A sub-units)")
    p.set_defaults(func=cmd_build)

    p = subparsers.add_parser("info", help="show what the index was built from")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser("search", help="retrieve guide chunks for a question")
    p.add_argument("query", nargs="?", help="the question (omit with --batch)")
    p.add_argument("--persona", help="municipality | startup | intermediary (boosts that persona's chunks)")
    p.add_argument("--k", type=int, default=10, help="number of hits (1-100, default 10)")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    p.add_argument("--batch", metavar="FILE.jsonl", help='one {"id","question","persona"?} per line; JSONL out')
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=cmd_search)


# -- helpers -------------------------------------------------------------------


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _say(msg: str) -> None:
    print(f"kanmin: {msg}", file=sys.stderr)


def corpus_id(guide) -> str:
    """What an index is built from: Guide.corpus_sha256 (hash of the chunk list and the
    question bank, so a chunker change also invalidates the index), else the text sha."""
    return getattr(guide, "corpus_sha256", "") or guide.sha256


def _guide(settings: Settings):
    from ingest import load_guide

    return load_guide(settings)


def _load_retriever(settings: Settings):
    from index.loader import load_index

    guide = _guide(settings)
    return load_index(
        settings,
        corpus_sha256=corpus_id(guide),
        glossary=guide.glossary,
        en_aliases=getattr(guide, "en_aliases", None) or None,
    )


def hit_dict(hit) -> dict[str, Any]:
    c = hit.chunk
    return {
        "chunk_id": c.id,
        "section_path": c.section_path,
        "pages": c.pages,
        "text": c.text,
        "score": round(hit.score, 6),
    }


# -- build ---------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from index.build import build_index, stale_reason
    from index.embedders import validate_embedder_id

    settings = get_settings()
    embedder_id = validate_embedder_id(args.embedder or settings.embedder)
    guide = _guide(settings)
    corpus = corpus_id(guide)
    if args.if_stale and not args.force:
        reason = stale_reason(settings, corpus, embedder_id, args.split_mode)
        if reason is None:
            _say(f"index at {settings.index_dir} is up to date "
                 f"({len(guide.chunks)} chunks, {embedder_id}); nothing to do")
            return 0
        _say(f"rebuilding: {reason.split(';')[0]}")
    m = build_index(
        guide.chunks,
        corpus,
        settings,
        embedder_id=embedder_id,
        force=args.force,
        progress=True,
        glossary=guide.glossary,
        questions=guide.questions,
        sentence_questions=guide.sentence_questions,
        split_mode=args.split_mode,
    )
    _say(
        f"built {settings.index_dir}: {m.chunk_count} chunks, {m.embedder} ({m.dim}-d, {m.dense_index}, "
        f"split {m.split_mode}), "
        f"{m.embedded_chunks} embedded, {m.chunk_count - m.embedded_chunks} from cache, {m.build_seconds:.1f}s"
    )
    return 0


# -- info ----------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    settings = get_settings()
    index_dir = Path(settings.index_dir)
    recover(index_dir)
    try:
        corpus = corpus_id(_guide(settings))
    except KanminError:
        corpus = None  # no readable guide: report the index as it is
    problem = None
    try:
        m = verify(index_dir, corpus_sha256=corpus, embedder_id=settings.embedder.strip(),  # as the loader checks
                   dense_index=settings.dense_index)
        from index.loader import read_contents

        read_contents(index_dir, m)  # sizes agree: what only loading would otherwise reveal
    except IndexUnavailable as e:
        problem = e.message
        m = read_manifest(index_dir)  # raises (one line) if there is no readable manifest at all
    info = {
        "index_dir": str(index_dir),
        "embedder": m.embedder,
        "dim": m.dim,
        "dense_index": m.dense_index,
        "split_mode": m.split_mode,
        "chunks": m.chunk_count,
        "corpus_sha256": m.corpus_sha256,
        "built_at": m.built_at,
        "format_version": m.format_version,
        "versions": m.versions,
        "ok": problem is None,
        "problem": problem,
    }
    if args.json:
        _emit(info)
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    if problem:
        # scripts (and `make`) must see a damaged index: nonzero, with the one-line reason
        print(f"kanmin: error: {problem}", file=sys.stderr)
        return 2
    return 0


# -- search --------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    from index.validation import validate_k, validate_mode, validate_persona, validate_query

    validate_k(args.k)
    validate_mode(args.mode)
    validate_persona(args.persona)
    if args.batch:
        if args.query:
            raise InvalidInput("invalid_arguments", "give either a QUERY or --batch FILE, not both")
        return _search_batch(args)
    if args.query is None:
        raise InvalidInput("invalid_arguments", 'search needs a QUERY (e.g. kanmin search "原課とは") or --batch FILE')
    validate_query(args.query)  # before loading models: a bad query fails fast
    retriever = _load_retriever(get_settings())
    hits = retriever.retrieve(args.query, persona=args.persona, k=args.k, mode=args.mode)
    if args.json:
        _emit(
            {
                "query": args.query,
                "mode": args.mode,
                "persona": args.persona,
                "hits": [
                    {**hit_dict(h), "components": {n: c.model_dump() for n, c in h.components.items()}} for h in hits
                ],
            }
        )
        return 0
    if not hits:
        print("no hits")
    for i, h in enumerate(hits, 1):
        c = h.chunk
        pages = ",".join(str(p) for p in c.pages)
        ranks = " ".join(f"{n}#{v.rank}" if v.rank else f"{n}#-" for n, v in h.components.items())
        snippet = " ".join(c.text.split())[:SNIPPET_CHARS]
        print(f"{i:2d}. [{h.score:.4f}] {c.path_str}  (p.{pages}; {ranks})\n    {snippet}")
    return 0


def _read_batch(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    from index.validation import validate_persona, validate_query

    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise InvalidInput("batch_unreadable", f"cannot read batch file {path}: {e.strerror}") from e
    with f:
        try:
            lines = f.readlines()
        except UnicodeDecodeError:
            raise InvalidInput("batch_not_utf8", f"batch file {path} is not UTF-8 text") from None
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path} line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput("batch_bad_line", f"{where}: not valid JSON ({e.msg})") from e
            if not isinstance(obj, dict):
                raise InvalidInput("batch_bad_line", f'{where}: expected an object {{"id", "question", "persona"?}}')
            if "id" not in obj or not isinstance(obj["id"], (str, int)) or isinstance(obj["id"], bool):
                raise InvalidInput("batch_bad_line", f'{where}: "id" (string or integer) is required')
            if not isinstance(obj.get("question"), str):
                raise InvalidInput("batch_bad_line", f'{where}: "question" (string) is required')
            try:
                validate_query(obj["question"])
                validate_persona(obj.get("persona"))
            except InvalidInput as e:
                raise InvalidInput(e.code, f"{where}: {e.message}") from e
            yield lineno, obj


def _search_batch(args: argparse.Namespace) -> int:
    # Validate the whole file first: a bad line fails before any output.
    items = list(_read_batch(args.batch))
    retriever = _load_retriever(get_settings())  # models load once for all lines
    for _, obj in items:
        hits = retriever.retrieve(obj["question"], persona=obj.get("persona") or args.persona, k=args.k, mode=args.mode)
        _emit({"id": obj["id"], "hits": [hit_dict(h) for h in hits]})
    return 0

