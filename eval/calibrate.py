"""Calibrate the abstention thresholds (assistant.abstain.AbstainConfig) on the eval set.

For every question the assistant's own support signals are collected exactly as
``Assistant._answer`` computes them (same persona inference, same hits), then,
per language, a grid search over (min_coverage, min_dense) maximises abstention
F1 (positive = unanswerable item) while keeping ≥ ``min_answered`` of the
answerable questions answered.

Overfitting guards (there are only ~13 unanswerable questions):
* candidate thresholds are midpoints between consecutive observed values, and
  among the equally good grid points the one farthest from every observation
  (largest margin, relative to the signal's spread) wins, then the one that
  abstains least;
* a language whose best grid point catches no unanswerable question keeps
  "never abstain on support" (coverage 0, dense 0) rather than an arbitrary cut;
* the answered-rate constraint actually used is picked out of sample: among
  the levels ≥ the floor (0.95, 0.96, … 0.99) the one with the best
  leave-one-out F1 (and a leave-one-out answered rate ≥ the floor) wins;
* leave-one-out and repeated stratified 2-fold cross-validated F1 are reported
  next to the in-sample F1 — trust those, not the in-sample number.

Questions the support check never sees (glossary term cards, figures, reading
paths) keep the abstention decision the assistant made for them.

Run: ``kanmin calibrate-abstention [--write]`` (writes data/abstention.json).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see eval.runner

import numpy as np  # noqa: E402

from eval.dataset import load_dataset  # noqa: E402

LANGS = ("ja", "en")
NEVER = 0.0  # a threshold of 0 on both signals never abstains on support


@dataclass
class Row:
    id: str
    lang: str
    positive: bool  # unanswerable
    checked: bool  # the support check applies to this question
    coverage: float
    dense: float
    fixed_abstain: bool  # abstained for another reason (unknown figure, no candidate sentence, …)


def collect(dataset: str | None = None, progress: bool = True) -> tuple[list[Row], object]:
    """Support signals of every question, as the assistant computes them."""
    from assistant.abstain import Support, weak
    from assistant.language import detect_language
    from assistant.persona import infer_persona
    from eval.runner import EvalContext

    ctx = EvalContext(progress=progress)
    a = ctx.assistant
    rows = []
    for it in load_dataset(dataset):
        q = it.question.strip()
        lang = detect_language(q)
        who = it.persona if it.persona != "any" else infer_persona(q)[0]
        d = a.router.route(q)
        checked = not ((d.route == "glossary" and d.term is not None) or (d.route == "figure" and d.figure is not None)
                       or d.route == "reading_path")
        cov = dense = 0.0
        if checked:
            s = a._support(q, a._hits(q, who))
            cov, dense = s.coverage, s.dense
        ans = a.ask(q, persona=it.persona_arg, source="eval")
        fixed = ans.abstained and not (checked and weak(Support(cov, dense), lang, a.abstain_cfg))
        rows.append(Row(it.id, lang, not it.answerable, checked, cov, dense, fixed))
    return rows, a.abstain_cfg


def _candidates(values: np.ndarray) -> np.ndarray:
    """0 (never), midpoints between consecutive distinct values, and just above the maximum."""
    v = np.unique(np.round(values, 6))
    mids = (v[:-1] + v[1:]) / 2 if len(v) > 1 else np.array([])
    top = v[-1] + 1e-3 if len(v) else 1.0
    return np.unique(np.concatenate([[NEVER], mids, [top]]))


@dataclass
class LangChoice:
    min_coverage: float
    min_dense: float
    tp: int
    fp: int


def _grid(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate coverage/dense cuts and the weak-matrix (items × cov × dense)."""
    checked = [r for r in rows if r.checked]
    cov = np.array([r.coverage for r in checked]) if checked else np.array([0.0])
    den = np.array([r.dense for r in checked]) if checked else np.array([0.0])
    cc, dc = _candidates(cov), _candidates(den)
    c_all = np.array([r.coverage for r in rows])
    d_all = np.array([r.dense for r in rows])
    ok = np.array([r.checked for r in rows])
    weak = (c_all[:, None, None] < cc[None, :, None]) & (d_all[:, None, None] < dc[None, None, :]) & ok[:, None, None]
    return cc, dc, weak


def _margin(cc: np.ndarray, dc: np.ndarray, rows: list[Row]) -> np.ndarray:
    """Per grid point: distance of each cut to the nearest observation, relative to the spread (min of the two)."""
    obs_c = np.array([r.coverage for r in rows if r.checked] or [0.0])
    obs_d = np.array([r.dense for r in rows if r.checked] or [0.0])
    sc = max(float(np.ptp(obs_c)), 1e-6)
    sd = max(float(np.ptp(obs_d)), 1e-6)
    mc = np.min(np.abs(cc[:, None] - obs_c[None, :]), axis=1) / sc
    md = np.min(np.abs(dc[:, None] - obs_d[None, :]), axis=1) / sd
    return np.minimum(mc[:, None], md[None, :])


def fit(rows: list[Row], min_answered: float = 0.95) -> dict[str, LangChoice]:
    """Per-language thresholds maximising the overall abstention F1 under the answered-rate constraint."""
    n_answerable = sum(not r.positive for r in rows)
    n_pos = sum(r.positive for r in rows)
    fixed_fp = sum(r.fixed_abstain and not r.positive for r in rows)
    fixed_tp = sum(r.fixed_abstain and r.positive for r in rows)
    budget = int(np.floor((1 - min_answered) * n_answerable + 1e-9)) - fixed_fp
    per: dict[str, tuple] = {}
    for lang in LANGS:
        lr = [r for r in rows if r.lang == lang]
        if not lr:
            continue
        cc, dc, weak = _grid(lr)
        pos = np.array([r.positive and not r.fixed_abstain for r in lr])
        neg = np.array([(not r.positive) and not r.fixed_abstain for r in lr])
        tp = (weak & pos[:, None, None]).sum(axis=0)
        fp = (weak & neg[:, None, None]).sum(axis=0)
        per[lang] = (cc, dc, tp, fp, _margin(cc, dc, lr))
    # combine languages: for each language, the best (tp) per fp count, then all fp splits within the budget
    best_by_fp: dict[str, dict[int, tuple[int, float, int, int]]] = {}
    for lang, (cc, dc, tp, fp, margin) in per.items():
        table: dict[int, tuple[int, float, int, int]] = {}
        for i in range(len(cc)):
            for j in range(len(dc)):
                f, t = int(fp[i, j]), int(tp[i, j])
                if f > max(budget, 0):
                    continue
                key = (t, margin[i, j], -f)
                cur = table.get(f)
                if cur is None or key > (cur[0], cur[1], -f):
                    table[f] = (t, float(margin[i, j]), i, j)
        best_by_fp[lang] = table
    langs = list(per)
    best = None
    for fps in _splits(langs, best_by_fp, max(budget, 0)):
        tp = fixed_tp + sum(best_by_fp[l][f][0] for l, f in zip(langs, fps))
        fp = fixed_fp + sum(fps)
        f1 = 2 * tp / (2 * tp + fp + (n_pos - tp)) if n_pos else 0.0
        margin = min(best_by_fp[l][f][1] for l, f in zip(langs, fps))
        key = (round(f1, 9), -fp, margin)
        if best is None or key > best[0]:
            best = (key, fps)
    out: dict[str, LangChoice] = {}
    for lang, f in zip(langs, best[1] if best else [0] * len(langs)):
        cc, dc, tp, fp, _ = per[lang]
        t, _, i, j = best_by_fp[lang][f]
        if t == 0:  # catches nothing: do not abstain on support at all
            out[lang] = LangChoice(NEVER, NEVER, 0, 0)
        else:
            out[lang] = LangChoice(float(round(cc[i], 4)), float(round(dc[j], 4)), t, int(fp[i, j]))
    for lang in LANGS:
        out.setdefault(lang, LangChoice(NEVER, NEVER, 0, 0))
    return out


def _splits(langs: list[str], tables: dict, budget: int):
    if not langs:
        yield ()
        return
    head, rest = langs[0], langs[1:]
    for f in sorted(tables[head]):
        if f <= budget:
            for tail in _splits(rest, tables, budget - f):
                yield (f, *tail)


def predict(rows: list[Row], choice: dict[str, LangChoice]) -> np.ndarray:
    out = []
    for r in rows:
        c = choice[r.lang]
        weak = r.checked and r.coverage < c.min_coverage and r.dense < c.min_dense
        out.append(bool(weak or r.fixed_abstain))
    return np.array(out)


def scores(rows: list[Row], abstained: np.ndarray) -> dict:
    pos = np.array([r.positive for r in rows])
    tp = int((abstained & pos).sum())
    fp = int((abstained & ~pos).sum())
    fn = int((~abstained & pos).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    answered = 1 - fp / max(int((~pos).sum()), 1)
    return {"precision": round(p, 4), "recall": round(rc, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn,
            "answered_rate": round(answered, 4)}


def cross_validate(rows: list[Row], min_answered: float, folds: str = "loo", repeats: int = 20, seed: int = 0) -> dict:
    """Out-of-sample abstention scores: each item predicted by thresholds fitted without it."""
    n = len(rows)
    if folds == "loo":
        pred = np.zeros(n, dtype=bool)
        for i in range(n):
            train = rows[:i] + rows[i + 1:]
            pred[i] = predict([rows[i]], fit(train, min_answered))[0]
        return scores(rows, pred)
    rng = np.random.default_rng(seed)
    f1s, answered = [], []
    pos_idx = [i for i, r in enumerate(rows) if r.positive]
    neg_idx = [i for i, r in enumerate(rows) if not r.positive]
    for _ in range(repeats):
        pred = np.zeros(n, dtype=bool)
        a = set(rng.permutation(pos_idx)[: len(pos_idx) // 2]) | set(rng.permutation(neg_idx)[: len(neg_idx) // 2])
        halves = [[i for i in range(n) if i in a], [i for i in range(n) if i not in a]]
        for k in (0, 1):
            train = [rows[i] for i in halves[1 - k]]
            test = halves[k]
            pred[test] = predict([rows[i] for i in test], fit(train, min_answered))
        s = scores(rows, pred)
        f1s.append(s["f1"])
        answered.append(s["answered_rate"])
    return {"f1_mean": round(float(np.mean(f1s)), 4), "f1_std": round(float(np.std(f1s)), 4),
            "answered_rate_mean": round(float(np.mean(answered)), 4), "repeats": repeats}


def calibrate(dataset: str | None = None, write: bool = False, min_answered: float = 0.95, progress: bool = True) -> dict:
    from assistant.abstain import AbstainConfig
    from assistant.container import ABSTENTION_PATH

    rows, current = collect(dataset, progress)
    # the operating constraint itself is chosen out of sample: the strictest answered-rate level
    # is not assumed, the one with the best leave-one-out F1 (answered rate still ≥ the floor) wins
    levels = sorted({round(x, 2) for x in (min_answered, 0.96, 0.97, 0.98, 0.99) if x >= min_answered})
    sweep = {lvl: cross_validate(rows, lvl, "loo") for lvl in levels}
    ok = [lvl for lvl in levels if sweep[lvl]["answered_rate"] >= min_answered] or levels
    level = max(ok, key=lambda lvl: (sweep[lvl]["f1"], sweep[lvl]["answered_rate"]))
    choice = fit(rows, level)
    cfg = AbstainConfig(min_coverage_ja=choice["ja"].min_coverage, min_dense_ja=choice["ja"].min_dense,
                        min_coverage_en=choice["en"].min_coverage, min_dense_en=choice["en"].min_dense)
    cur = {lang: LangChoice(getattr(current, f"min_coverage_{lang}"), getattr(current, f"min_dense_{lang}"), 0, 0)
           for lang in LANGS}
    result = {
        "min_answered": min_answered,
        "items": len(rows),
        "unanswerable": sum(r.positive for r in rows),
        "support_checked": sum(r.checked for r in rows),
        "current": {"config": asdict(current), "in_sample": scores(rows, predict(rows, cur))},
        "levels": {str(lvl): sweep[lvl] for lvl in levels},
        "chosen": {"level": level, "config": asdict(cfg), "in_sample": scores(rows, predict(rows, choice)),
                   "loo": sweep[level], "two_fold": cross_validate(rows, level, "2fold")},
        "signals": [asdict(r) for r in rows],
        "written": None,
    }
    if write:
        cfg.save(ABSTENTION_PATH)
        result["written"] = str(ABSTENTION_PATH)
    return result


def render(result: dict) -> str:
    ch, cur = result["chosen"], result["current"]
    lines = [f"abstention calibration on {result['items']} questions ({result['unanswerable']} unanswerable, "
             f"{result['support_checked']} pass through the support check); keep ≥ {result['min_answered']:.0%} answered",
             f"current  {cur['config']}\n         in-sample {cur['in_sample']}",
             "leave-one-out by answered-rate constraint: " + ", ".join(
                 f"≥{lvl}: F1 {v['f1']} answered {v['answered_rate']}" for lvl, v in result["levels"].items()),
             f"chosen   (constraint ≥ {ch['level']}) {ch['config']}\n         in-sample {ch['in_sample']}",
             f"         leave-one-out {ch['loo']}",
             f"         2-fold x{ch['two_fold']['repeats']} F1 {ch['two_fold']['f1_mean']} ± {ch['two_fold']['f1_std']}, "
             f"answered {ch['two_fold']['answered_rate_mean']}"]
    pos = [s for s in result["signals"] if s["positive"]]
    lines.append("unanswerable signals: " + ", ".join(
        f"{s['id']}({s['lang']} cov {s['coverage']:.2f} dense {s['dense']:.3f}{'' if s['checked'] else ' unchecked'})" for s in pos))
    lines.append(f"written to {result['written']}" if result["written"] else "not written (use --write)")
    return "\n".join(lines)
