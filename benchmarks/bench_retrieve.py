"""Warm retrieval latency: p50/p95 of Retriever.retrieve, per mode and per stage.

Also measures what llama-index's wrappers would add on the hot path:
  * FaissVectorStore.query vs raw faiss ``index.search`` (same FAISS index),
  * BaseEmbedding.get_query_embedding (instrumented, list output) vs the
    numpy method the Retriever calls.

Method: every query is run ``--repeat`` times after a warm-up pass; a query's
latency is the median of its repeats; p50/p95 are taken over those medians.

Usage:  .venv/bin/python benchmarks/bench_retrieve.py [--repeat 7] [--out benchmarks/retrieve.json]
Loads settings.index_dir (KANMIN_INDEX_DIR); builds it first if it is missing
or stale (embeddings come from the cache when present).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = [
    "原課との調整はどう進めればよいですか",
    "スタートアップが自治体の予算に間に合わせるには何月までに提案すべき？",
    "4号随契の認定を受けるための手続き",
    "成果連動型の委託契約とは",
    "複数の自治体で共同調達する方法",
    "実証実験の成果やデータの権利は誰に帰属するのか",
    "公平性を保ちながら特定の企業と連携するには",
    "民間提案窓口を設置するメリット",
    "課題整理シートの書き方",
    "連携協定を結んで共同プロモーションをしたい",
    "規制のサンドボックス制度",
    "当初予算と補正予算の違い",
    "中間支援団体の役割",
    "スケールするとはどういう意味？",
    "レクとは何ですか",
    "How can a startup find a municipality to work with?",
    "What is pay for success?",
    "When is the municipal budget decided?",
    "How do I brief the line division?",
    "joint procurement across municipalities",
]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[i]


def summarize(per_query_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(pct(per_query_ms, 0.50), 3),
        "p95_ms": round(pct(per_query_ms, 0.95), 3),
        "max_ms": round(max(per_query_ms), 3),
        "mean_ms": round(statistics.fmean(per_query_ms), 3),
    }


def time_per_query(fn, items, repeat: int, before=None) -> list[float]:
    """Median of ``repeat`` timings per item (ms), after one warm-up call each; ``before`` runs
    untimed ahead of every call (to empty the retriever's query-vector cache)."""
    for it in items:
        fn(it)
    out = []
    for it in items:
        ts = []
        for _ in range(repeat):
            if before:
                before()
            t0 = time.perf_counter()
            fn(it)
            ts.append((time.perf_counter() - t0) * 1000)
        out.append(statistics.median(ts))
    return out


def get_retriever():
    from index.build import build_index, stale_reason
    from index.commands import corpus_id
    from index.loader import load_index
    from ingest import load_guide
    from ingest.settings import get_settings

    settings = get_settings()
    guide = load_guide(settings)
    corpus = corpus_id(guide)
    reason = stale_reason(settings, corpus)
    if reason:
        print(f"building index first: {reason.split(';')[0]}", file=sys.stderr)
        build_index(guide.chunks, corpus, settings, glossary=guide.glossary, questions=guide.questions,
                    sentence_questions=guide.sentence_questions)
    retriever = load_index(settings, corpus_sha256=corpus, glossary=guide.glossary, questions=guide.questions,
                           en_aliases=getattr(guide, "en_aliases", None) or None)
    return retriever, settings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "retrieve.json"))
    args = ap.parse_args()

    import faiss
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.faiss import FaissVectorStore

    t0 = time.perf_counter()
    r, settings = get_retriever()
    load_s = time.perf_counter() - t0

    results: dict[str, dict] = {}
    for mode in ("hybrid", "bm25", "dense"):
        ms = time_per_query(lambda q: r.retrieve(q, k=args.k, mode=mode), QUERIES, args.repeat,
                            before=r.forget_query_vectors)
        results[f"retrieve_{mode}"] = summarize(ms)
    results["retrieve_hybrid_persona"] = summarize(
        time_per_query(lambda q: r.retrieve(q, persona="startup", k=args.k), QUERIES, args.repeat,
                       before=r.forget_query_vectors)
    )

    # Stages of the hybrid path.
    depth = r.config.depth
    results["stage_tokenize"] = summarize(time_per_query(r.tokenizer.tokenize, QUERIES, args.repeat))
    toks = {q: r.tokenizer.tokenize(q) for q in QUERIES}
    results["stage_bm25_search"] = summarize(
        time_per_query(lambda q: r.lexical.search(toks[q], depth), QUERIES, args.repeat)
    )
    results["stage_embed_query"] = summarize(time_per_query(r.embedder.embed_query_np, QUERIES, args.repeat))
    vecs = {q: r.embedder.embed_query_np(q) for q in QUERIES}

    # Raw faiss vs llama-index FaissVectorStore over the very same index.
    index = r.dense.faiss_index
    store = FaissVectorStore(faiss_index=index)

    def raw(q):
        return index.search(vecs[q].reshape(1, -1), depth)

    def via_store(q):
        return store.query(VectorStoreQuery(query_embedding=vecs[q].tolist(), similarity_top_k=depth))

    def via_dense(q):
        return r.dense.search(vecs[q], depth)

    rep = max(args.repeat, 50)  # sub-millisecond: more repeats for a stable median
    results["faiss_raw_search"] = summarize(time_per_query(raw, QUERIES, rep))
    results["faiss_dense_wrapper"] = summarize(time_per_query(via_dense, QUERIES, rep))
    results["faiss_llamaindex_vectorstore"] = summarize(time_per_query(via_store, QUERIES, rep))
    results["embed_llamaindex_get_query_embedding"] = summarize(
        time_per_query(r.embedder.as_llama_index().get_query_embedding, QUERIES, args.repeat)
    )
    # Sanity: both paths return the same ids.
    same = all(
        [int(i) for i in raw(q)[1][0]] == [int(i) for i in via_store(q).ids] for q in QUERIES
    )

    m = r.manifest
    report = {
        "queries": len(QUERIES),
        "repeat": args.repeat,
        "k": args.k,
        "method": "per-query median of repeats after warm-up; p50/p95 over queries",
        "index": {
            "chunks": m.chunk_count,
            "embedder": m.embedder,
            "dense_index": m.dense_index,
            "split_mode": m.split_mode,
        },
        "load_index_s": round(load_s, 3),
        "results": results,
        "llamaindex_vectorstore_overhead_ms_p50": round(
            results["faiss_llamaindex_vectorstore"]["p50_ms"] - results["faiss_raw_search"]["p50_ms"], 4
        ),
        "vectorstore_ids_identical": same,
        "env": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "faiss_omp_threads": faiss.omp_get_max_threads(),
            "versions": m.versions,
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    width = max(len(k) for k in results)
    print(f"index: {m.chunk_count} chunks, {m.embedder}, {m.dense_index}, split {m.split_mode}; "
          f"{len(QUERIES)} queries × {args.repeat} repeats (warm)")
    for name, s in results.items():
        print(f"  {name:<{width}}  p50 {s['p50_ms']:8.3f} ms   p95 {s['p95_ms']:8.3f} ms")
    print(f"  FaissVectorStore overhead vs raw faiss (p50): {report['llamaindex_vectorstore_overhead_ms_p50']:.4f} ms;"
          f" same ids: {same}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
