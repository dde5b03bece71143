"""Scale benchmark for ``kanmin bench``: synthetic corpora of 10× and 100× the guide's chunks.

Nothing is embedded with the model for the copies (100× would take hours on 2 cores):

* vectors — copy 0 is the guide's own chunk vectors (read back from the built FAISS
  index); every other copy adds Gaussian noise (σ = ``NOISE_SIGMA`` per dimension,
  cosine to the original ≈ 0.93) and re-normalises;
* BM25 tokens — each chunk's ``search_text`` is split into sentences (。) and tokenised
  once with Sudachi; a copy shuffles the sentence order and replaces ``REPLACE_SHARE``
  of its tokens with tokens drawn from the corpus's own token stream (so document
  frequencies and lengths shift as in a real, larger corpus);
* chunks — pydantic copies with new ids (same text, pages, personas).

Measured per scale: FAISS flat and HNSW build time and query p50/p95 (one ``DenseIndex.search``
per eval question, depth 50 as the retriever asks), HNSW recall@10 against flat, BM25 build and
query, and the whole ``Retriever.retrieve`` (hybrid, k=8: query embedding, glossary
expansion, BM25, dense, fusion) over the synthetic corpus with each dense kind.
"""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np

from eval.bench import _r, forget_queries, log, summarize
from ingest.settings import Settings

FACTORS = (1, 10, 100)
NOISE_SIGMA = 0.02
REPLACE_SHARE = 0.10
SEED = 20260501


def _sentences(text: str) -> list[str]:
    parts = [p for p in text.replace("\n", "。").split("。") if p.strip()]
    return parts or [text]


def _time_each(fn, queries: Sequence, passes: int = 1, warm: int = 5, before=None) -> list[float]:
    for q in queries[:warm]:
        fn(q)
    out = []
    for _ in range(passes):
        for q in queries:
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def _build_threads() -> None:
    """A fresh ``kanmin build`` process lets faiss use every core; DenseIndex.search pins the
    calling thread to one, so restore the default before each build."""
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)


def bench_scale(retriever, guide, items: Sequence, settings: Settings, *, factors: Sequence[int] = FACTORS,
                progress: bool = True) -> dict[str, Any]:
    from index.dense import DenseIndex
    from index.lexical import LexicalIndex
    from index.retriever import Retriever

    rng = np.random.default_rng(SEED)
    chunks = list(retriever.chunks)
    n = len(chunks)
    base_vecs = retriever.dense.faiss_index.reconstruct_n(0, n).astype(np.float32)
    tok = retriever.tokenizer

    t0 = time.perf_counter()
    base_sents = [[tok.tokenize(s) for s in _sentences(c.search_text)] for c in chunks]
    tokenize_s = time.perf_counter() - t0
    vocab: list[str] = sorted({t for doc in base_sents for s in doc for t in s})
    tid = {t: i for i, t in enumerate(vocab)}
    base_ids = [[np.fromiter((tid[t] for t in s), dtype=np.int32, count=len(s)) for s in doc] for doc in base_sents]
    stream = np.concatenate([s for doc in base_ids for s in doc])
    base_tokens = [[t for s in doc for t in s] for doc in base_sents]

    questions = [it.question for it in items]
    personas = [it.persona_arg for it in items]
    qvecs = [retriever.embedder.embed_query_np(q) for q in questions]
    qtoks = [tok.tokenize(q) for q in questions]
    depth = retriever.config.depth
    out: dict[str, Any] = {
        "method": (f"Copies of the guide's {n} chunks. Vectors: the guide's own chunk vectors + Gaussian noise "
                   f"(σ={NOISE_SIGMA}/dim), re-normalised. BM25 tokens: Sudachi tokens per sentence, sentence order "
                   f"shuffled, {REPLACE_SHARE:.0%} of tokens replaced by tokens drawn from the corpus. Queries: the "
                   f"{len(questions)} eval questions; dense/BM25 component searches at depth {depth}; hybrid = "
                   "`Retriever.retrieve(k=8)` incl. query embedding. faiss builds use every core; searches one."),
        "tokenize_1x_s": _r(tokenize_s),
        "queries": len(questions),
        "noise_sigma": NOISE_SIGMA,
        "replace_share": REPLACE_SHARE,
    }
    for f in factors:
        total = n * f
        if progress:
            log(f"scale {f}×: {total} synthetic chunks")
        # vectors
        vecs = np.empty((total, base_vecs.shape[1]), dtype=np.float32)
        vecs[:n] = base_vecs
        for c in range(1, f):
            v = base_vecs + rng.normal(0.0, NOISE_SIGMA, base_vecs.shape).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            vecs[c * n:(c + 1) * n] = v
        # tokens
        tokens = list(base_tokens)
        for c in range(1, f):
            for doc in base_ids:
                order = rng.permutation(len(doc))
                ids = np.concatenate([doc[i] for i in order]) if doc else np.empty(0, np.int32)
                if ids.size:
                    mask = rng.random(ids.size) < REPLACE_SHARE
                    ids[mask] = stream[rng.integers(0, stream.size, int(mask.sum()))]
                tokens.append([vocab[i] for i in ids.tolist()])
        syn_chunks = list(chunks) + [ch.model_copy(update={"id": f"{ch.id}~{c}"}) for c in range(1, f) for ch in chunks]

        row: dict[str, Any] = {"factor": f, "chunks": total}
        _build_threads()
        dt_flat, flat = _timed(lambda: DenseIndex.build(vecs, "flat"))
        _build_threads()
        dt_hnsw, hnsw = _timed(lambda: DenseIndex.build(vecs, "hnsw"))
        dt_bm25, lex = _timed(lambda: LexicalIndex.build(tokens))
        row.update(build_flat_s=_r(dt_flat, 4), build_hnsw_s=_r(dt_hnsw, 3), build_bm25_s=_r(dt_bm25, 3))
        row["flat"] = summarize(_time_each(lambda q: flat.search(q, depth), qvecs, passes=2))
        row["hnsw"] = summarize(_time_each(lambda q: hnsw.search(q, depth), qvecs, passes=2))
        rec = []
        for q in qvecs:
            a = set(flat.search(q, 10)[0].tolist())
            b = set(hnsw.search(q, 10)[0].tolist())
            rec.append(len(a & b) / max(len(a), 1))
        row["hnsw_recall_at_10"] = _r(float(np.mean(rec)), 3)
        row["bm25"] = summarize(_time_each(lambda t: lex.search(t, depth), qtoks, passes=2))
        for kind, dense in (("flat", flat), ("hnsw", hnsw)):
            r = Retriever(syn_chunks, lex, dense, retriever.embedder, tok, glossary=guide.glossary,
                          en_aliases=guide.en_aliases, config=retriever.config)
            pairs = list(zip(questions, personas))
            row[f"hybrid_{kind}"] = summarize(_time_each(lambda qp: r.retrieve(qp[0], persona=qp[1], k=8), pairs,
                                                        passes=2, before=lambda: forget_queries(r)))
            del r
        out[f"x{f}"] = row
        del vecs, tokens, syn_chunks, flat, hnsw, lex
    return out


def _timed(fn):
    t0 = time.perf_counter()
    v = fn()
    return time.perf_counter() - t0, v
