"""Which candidate sentence answers: a learned order over the answerer's candidates.

The hand-weighted sentence score (assistant/sentences.py) blends word coverage, meaning and the
chunk's retrieval rank with fixed weights. A gradient-boosted tree model, fitted on the tuning
questions' key phrases (``kanmin train-lead-ranker``, eval/train_lead_ranker.py), reads the same
signals and a few more (how each compares with the other candidates', the section heading's
words, the question's characters) and orders the best-scored candidates by how likely each holds
the answer. Only the order changes: the candidates keep the set of scores they had, so every
threshold that reads scores (supports, windows, the asker's side) keeps its meaning.

The model is stored as plain arrays (data/lead_ranker.json) and evaluated here with numpy:
importing scikit-learn in the server would cost ~110 MB of RSS and a second at start-up.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from assistant.sentences import Candidate, bigrams
from ingest.errors import InvalidInput
from ingest.text import nfkc

log = logging.getLogger("kanmin.assistant")

FORMAT = "kanmin-lead-ranker/1"

# the features, in the model's column order (a model fitted on other columns is not used)
FEATURES = (
    "coverage", "meaning", "asked", "rank", "body", "typed", "untyped", "length", "first_in_chunk",
    "no_questions", "meaning_gap", "asked_gap", "coverage_gap", "score_gap", "meaning_place", "asked_place",
    "coverage_place", "score_place", "english", "bigrams", "heading_coverage", "advice_for_how", "advice",
    "item_line", "no_period", "place_in_chunk", "position_in_chunk", "neighbour_asked", "brings_items", "score",
)
# cosine ranges rescaled onto [0, 1] (e5 cosines of Japanese text sit in 0.7–0.9)
MEANING_RANGE = (0.78, 0.90)
ASKED_RANGE = (0.81, 0.93)
NO_MEANING = 0.80  # a text that is not one of the index's sentences
NO_ASKED = 0.78  # a sentence no bank question asks for
HOW = re.compile(r"どう|どのよう|方法|コツ|進め|how|what should|tips|ways", re.I)
ADVICE = re.compile(r"ましょう|お勧め|おすすめ|必要です|重要です|肝要|有効です|一案|考えられます|望ましい|よいでしょう|ことが大切")
ITEM = re.compile(r"\s*[-・●■◆□①-⑳]")


@dataclass(frozen=True)
class Question:
    """What the features read of the question being answered."""

    text: str
    english: bool
    wants: Sequence[re.Pattern[str]]  # the answer types it asks for (a date, a count, a sum)
    coverage: Callable[[str], float]  # IDF-weighted share of the question's words found in a text
    # for (chunk id, start, end) of many sentences: their own cosines to the question and the
    # cosines to the nearest bank question each answers (-1: none); NaN for an unknown text
    similarities: Callable[[Sequence[tuple[str, int, int]]], tuple[np.ndarray, np.ndarray]]
    # a lead-in quoted with the items it introduces (the answer brings them along)
    brings_items: Callable[[Candidate], bool]


def _rescale(v: float, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return min(1.0, max(0.0, (float(v) - lo) / (hi - lo)))


def _place(v: np.ndarray) -> np.ndarray:
    """1 / (1 + place among the candidates, best first)."""
    order = np.argsort(-v, kind="stable")
    place = np.empty(len(v))
    place[order] = np.arange(len(v))
    return 1.0 / (1.0 + place)


def features(cands: Sequence[Candidate], q: Question, rows: Sequence[int] | None = None) -> np.ndarray:
    """One row per candidate in ``rows`` (default: all), columns as FEATURES. The comparisons
    with the others (gaps, places) read every candidate; the rest is computed for ``rows`` only."""
    rows = list(range(len(cands))) if rows is None else list(rows)
    own, asked_raw = q.similarities([(c.chunk.id, c.start, c.end) for c in cands])
    sim = np.where(np.isnan(own), NO_MEANING, own)
    asked_or_none = np.where(np.isnan(asked_raw), -1.0, asked_raw)  # no bank questions, or not a sentence
    asked = np.where(asked_or_none <= -1.0, NO_ASKED, asked_or_none)
    cov = np.array([c.coverage for c in cands])
    score = np.array([c.score for c in cands])
    gaps = (sim - sim.max(), asked - asked.max(), cov - cov.max(), score - score.max())
    siblings: dict[str, list[int]] = {}
    for i, c in enumerate(cands):
        siblings.setdefault(c.chunk.id, []).append(i)
    for ids in siblings.values():
        ids.sort(key=lambda i: cands[i].start)
    q_bigrams = frozenset() if q.english else bigrams(nfkc(q.text))
    how = bool(HOW.search(q.text))
    places = (_place(sim), _place(asked), _place(cov), _place(score))
    X = np.empty((len(rows), len(FEATURES)))
    for r, i in enumerate(rows):
        c = cands[i]
        ids = siblings[c.chunk.id]
        k = ids.index(i)
        typed = bool(q.wants) and any(w.search(c.text) for w in q.wants)
        advice = bool(ADVICE.search(c.text))
        near = max((asked_or_none[j] for j in ids[max(k - 1, 0):k] + ids[k + 1:k + 2]), default=-1.0)
        X[r] = (cov[i], _rescale(sim[i], MEANING_RANGE), _rescale(asked[i], ASKED_RANGE), 1.0 / (1.0 + c.rank),
                c.chunk.kind == "body", typed, bool(q.wants) and not typed, min(len(c.text), 300) / 300, k == 0,
                asked_or_none[i] <= -1.0, *(g[i] for g in gaps), *(p[i] for p in places), q.english,
                len(q_bigrams & bigrams(nfkc(c.text))) / len(q_bigrams) if q_bigrams else 0.0,
                q.coverage(" ".join(c.chunk.section_path)), how and advice, advice, bool(ITEM.match(c.text)),
                "。" not in c.text, min(k, 5) / 5, k / max(len(ids) - 1, 1),
                _rescale(near if near > -1.0 else NO_ASKED, ASKED_RANGE), q.brings_items(c), score[i])
    return X


class LeadRanker(Protocol):
    def rank(self, cands: Sequence[Candidate], q: "Question", rows: Sequence[int]) -> np.ndarray:
        """A decision per candidate of ``rows``: the higher, the likelier it holds the answer."""
        ...


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted regression trees as padded arrays [tree, node]: a row goes left where its
    feature value is ≤ the node's threshold; the decision is the baseline plus the leaves' values."""

    features: tuple[str, ...]
    baseline: float
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    depth: int
    about: dict

    @cached_property
    def _flat(self) -> tuple[np.ndarray, ...]:
        """The trees as one node array (tree-major): a leaf's children are itself, so a row that
        reaches one stays there; one-dimensional gathers are several times faster than the
        [tree, node] ones for an ensemble of hundreds of trees."""
        n_trees, width = self.feature.shape
        base = (np.arange(n_trees) * width)[:, None]
        own = base + np.arange(width)[None, :]
        left = np.where(self.leaf, own, base + self.left).ravel()
        right = np.where(self.leaf, own, base + self.right).ravel()
        return self.feature.ravel(), self.threshold.ravel(), left, right, self.value.ravel(), base.ravel()

    def decision(self, X: np.ndarray) -> np.ndarray:
        """The log-odds that each row holds the answer (one pass per tree level, all trees at once)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        feature, threshold, left, right, value, roots = self._flat
        n, width = X.shape
        node = np.repeat(roots, n)  # tree-major: tree t's rows at t*n … t*n+n-1
        at = np.tile(np.arange(n) * width, len(roots))
        flat = X.ravel()
        for _ in range(self.depth):
            node = np.where(flat[at + feature[node]] <= threshold[node], left[node], right[node])
        return self.baseline + value[node].reshape(len(roots), n).sum(axis=0)

    def rank(self, cands: Sequence[Candidate], q: Question, rows: Sequence[int]) -> np.ndarray:
        """The model's decision for the candidates ``rows`` (a trainer's recorder reads them all)."""
        return self.decision(features(cands, q, rows))

    @classmethod
    def from_dict(cls, data: dict, where: str = "lead ranker") -> "TreeEnsemble":
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            names = tuple(data["features"])
            if names != FEATURES:
                raise ValueError("fitted on other features than this version computes")
            trees = data["trees"]
            if not trees:
                raise ValueError("no trees")
            width = max(len(t["feature"]) for t in trees)

            def pad(key: str, dtype) -> np.ndarray:
                out = np.zeros((len(trees), width), dtype=dtype)
                for i, t in enumerate(trees):
                    if len(t[key]) != len(t["feature"]):
                        raise ValueError(f"tree {i}: {key} has {len(t[key])} nodes, feature {len(t['feature'])}")
                    out[i, :len(t[key])] = t[key]
                return out

            feature, left, right = pad("feature", np.intp), pad("left", np.intp), pad("right", np.intp)
            leaf = pad("leaf", bool)
            for i, t in enumerate(trees):  # padding is a leaf worth 0, never reached
                leaf[i, len(t["feature"]):] = True
            if (feature < 0).any() or (feature >= len(FEATURES)).any() or (left < 0).any() or (left >= width).any() \
                    or (right < 0).any() or (right >= width).any():
                raise ValueError("a node points outside its tree")
            model = cls(names, float(data["baseline"]), feature, pad("threshold", np.float64), left, right, leaf,
                        pad("value", np.float64), int(data["depth"]), dict(data.get("about") or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput("lead_ranker_invalid", f"{where} is not a usable model: {e}") from e
        if not (np.isfinite(model.threshold).all() and np.isfinite(model.value).all()) or model.depth < 1:
            raise InvalidInput("lead_ranker_invalid", f"{where} is not a usable model: non-finite values or no depth")
        return model


def load_lead_ranker(path: Path) -> TreeEnsemble | None:
    """The bundled model, or None without one or with one fitted on other features than this code
    computes (the answers then keep the hand-weighted order; ``kanmin train-lead-ranker --write``
    refits it). A damaged file is an error."""
    if not path.is_file():
        log.warning("no lead ranker at %s: answers keep the hand-weighted sentence order", path)
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InvalidInput("lead_ranker_invalid", f"lead ranker {path} is unreadable ({type(e).__name__})") from e
    if not isinstance(data, dict):
        raise InvalidInput("lead_ranker_invalid", f"lead ranker {path} is not a JSON object")
    if isinstance(data.get("features"), list) and tuple(data["features"]) != FEATURES:
        log.warning("the lead ranker at %s was fitted on other features than this version computes: answers "
                    "keep the hand-weighted sentence order until `kanmin train-lead-ranker --write`", path)
        return None
    return TreeEnsemble.from_dict(data, where=f"lead ranker {path}")


def top_rows(cands: Sequence[Candidate], top: int) -> list[int]:
    """The ``top`` best-scored candidates, best first (ties in the order given)."""
    return sorted(range(len(cands)), key=lambda i: -cands[i].score)[:top]


def reorder(cands: list[Candidate], rows: Sequence[int], decision: np.ndarray) -> None:
    """The candidates ``rows`` take their scores again in the model's order (in place): the best
    of their scores goes to the one the model rates highest, and so on. The others keep theirs."""
    scores = sorted((cands[i].score for i in rows), reverse=True)
    ranked = [i for _, i in sorted(enumerate(rows), key=lambda p: -decision[p[0]])]
    for score, i in zip(scores, ranked):
        cands[i].score = score
