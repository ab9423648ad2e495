"""Learned weights and calibrated scores, both from cross-fitting over the seeds.

A :class:`~themekit.mapping.CodeMapper` has four sources of code probabilities (its
``COMPONENTS``): the codebook prior alone, a classifier self-trained from the codebook (no
seeds), a classifier trained on the codebook and the seeds, and that classifier after
self-training. Zero-shot the mapper mixes the first two half and half. How much each should
count once seeds exist depends on the study: a good codebook and a handful of seeds want the
codebook to dominate; a names-only codebook and many seeds the reverse. No fixed rule gets
both right, so the seeds decide:

1. **Cross-fitting.** The coded seed utterances are split into ``n_folds`` folds; for each
   fold the seeded classifiers are trained without it and score its utterances (the
   seed-free sources score them too). Every seed then has predictions from models that did
   not see it.
2. **Weights.** Every mix of the sources on a grid (steps of 0.1 on the simplex) is scored by
   the cross-fitted log-likelihood of the human codes (the probability the mix gives to the
   codes the coder applied). The best mix is used only when choosing that way beats the
   zero-shot mix on seeds the choice did not see (the choice is itself cross-fitted over the
   folds), by more than one standard error of the paired per-seed difference and without
   clearly fewer top codes right (:func:`choose_weights`). With too few seeds to tell (under
   ``MIN_SEEDS``, or under 2 per code on average: k-fold then holds out a code's only
   example, so the folds cannot judge what it teaches), the mapper keeps the zero-shot weights. The cross-fitted kappa reported is that of this procedure.
3. **Calibration.** On the cross-fitted predictions of the chosen mix, temperature scaling
   (:class:`TemperatureCalibrator`): one exponent that sharpens or flattens the code
   probabilities, chosen by the likelihood of the codes coders applied (multi-label: any of
   them; an utterance left uncoded keeps its "no code" share). The calibrated score estimates
   the probability that a coder of this study would apply the code. (A per-pair logistic
   calibration with a top-code term was tried and was less stable on a few hundred seeds.)
4. **Serving.** The seeded classifiers that score the study are the fold models, averaged:
   the weights and the calibration were learned on exactly these models.

Without seeds nothing can be calibrated: scores rank utterances but are not probabilities
of being right, and the mapper says so (``calibrated_ = False``).

Also here: :func:`expected_calibration_error` and :func:`reliability_table` (predicted vs
observed in bins) for reports and benchmarks, and :func:`review_queue`: suggestions in the
order that gets a reviewer the most right ones first, with the expected share right so far.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["COMPONENTS", "CrossFit", "TemperatureCalibrator", "choose_weights", "cross_fit", "fold_of",
           "expected_calibration_error", "reliability_table", "review_queue", "queue_precision",
           "top1_kappa", "MIN_SEEDS", "mix_components", "zero_shot_weights"]

#: the mapper's probability sources, in the order of the weight vectors
COMPONENTS = ("codebook", "codebook+self-training", "seeds", "seeds+self-training")
#: fewer coded seed utterances than this: too few to tell, keep the zero-shot weights
MIN_SEEDS = 10
_EPS = 1e-4


# -- small measures ------------------------------------------------------------------------------
def _renorm(p: np.ndarray) -> np.ndarray:
    s = p.sum(axis=1, keepdims=True)
    return p / np.where(s > 0, s, 1.0)


def log_lik(q: np.ndarray, truth: Sequence[Sequence[int]], index: tuple | None = None) -> np.ndarray:
    """Per row: log of the probability ``q`` gives to the row's human codes (any of them).
    ``index``: :func:`_truth_index` of ``truth`` when it is reused for many ``q``."""
    rows, cols, long_rows = index if index is not None else _truth_index(truth)
    # summed in each row's code order, as q[i, t].sum() does for fewer than 8 codes: the same bits
    total = np.bincount(rows, weights=q[rows, cols], minlength=len(truth))
    for i in long_rows:
        total[i] = float(q[i, list(truth[i])].sum())
    return np.log(np.maximum(_EPS, total))


def _truth_index(truth: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(row, code) pairs of the human codes, and the rows with 8 codes or more (numpy sums
    those pairwise: they are summed the numpy way)."""
    lengths = [len(t) for t in truth]
    rows = np.repeat(np.arange(len(truth)), lengths)
    cols = np.fromiter((int(j) for t in truth for j in t), dtype=np.intp, count=int(sum(lengths)))
    return rows, cols, [i for i, n in enumerate(lengths) if n >= 8]


def top1_kappa(q: np.ndarray, truth: Sequence[Sequence[int]], n_codes: int) -> float:
    """Cohen's kappa of the top code against the human codes (gold = the top code when the coder
    applied it, else the coder's first code), over ``n_codes`` labels."""
    from sklearn.metrics import cohen_kappa_score

    if len(truth) == 0:
        return float("nan")
    pred = q.argmax(axis=1)
    gold = np.array([p if p in t else t[0] for p, t in zip(pred, truth)])
    if len(set(gold) | set(pred)) < 2:
        return float("nan") if (gold == pred).all() else 0.0
    return float(cohen_kappa_score(gold, pred, labels=list(range(n_codes))))


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins: the mean over predictions of |bin accuracy - bin
    confidence|."""
    t = reliability_table(conf, correct, n_bins)
    n = t["n"].sum()
    return float((t["n"] * (t["observed"] - t["predicted"]).abs()).sum() / n) if n else float("nan")


def reliability_table(conf: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Predicted (mean score) vs observed (share right) per equal-width score bin (empty bins
    left out): columns ``bin_low, bin_high, predicted, observed, n``."""
    conf = np.asarray(conf, float)
    correct = np.asarray(correct, float)
    b = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    rows = []
    for j in range(n_bins):
        m = b == j
        if m.any():
            rows.append((j / n_bins, (j + 1) / n_bins, float(conf[m].mean()), float(correct[m].mean()), int(m.sum())))
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "predicted", "observed", "n"])


# -- folds and weights ---------------------------------------------------------------------------
def fold_of(n: int, n_folds: int, random_state: int = 0) -> np.ndarray:
    """A fold number (0 .. n_folds-1) per item, balanced and shuffled with ``random_state``."""
    rng = np.random.default_rng(random_state)
    return rng.permutation(np.arange(n) % max(1, n_folds))


def zero_shot_weights(self_training: bool) -> np.ndarray:
    """The weights without seeds: the prior and the self-trained classifier half and half (the
    self-trained labels can drift), or the prior alone without self-training."""
    return np.array([0.5, 0.5, 0.0, 0.0]) if self_training else np.array([1.0, 0.0, 0.0, 0.0])


def _simplex(available: Sequence[bool], step: float = 0.1) -> np.ndarray:
    """All weight vectors on a grid of ``step`` that sum to 1 and are 0 where not available."""
    idx = [j for j, a in enumerate(available) if a]
    n = int(round(1 / step))
    out = []
    for combo in itertools.product(range(n + 1), repeat=len(idx)):
        if sum(combo) == n:
            w = np.zeros(len(available))
            w[idx] = np.array(combo) / n
            out.append(w)
    return np.array(out)


def mix_components(comps: Sequence[np.ndarray | None], w: np.ndarray, n_codes: int) -> np.ndarray:
    """Σ w_j · (source j's code probabilities, renormalised over the codes)."""
    out = None
    for wj, c in zip(w, comps):
        if wj > 0 and c is not None:
            part = wj * _renorm(c[:, :n_codes])
            out = part if out is None else out + part
    return out


def _mix_normed(normed: Sequence[np.ndarray | None], w: np.ndarray) -> np.ndarray:
    """:func:`mix_components` of sources already renormalised over the codes (the same sums)."""
    out = None
    for wj, c in zip(w, normed):
        if wj > 0 and c is not None:
            part = wj * c
            out = part if out is None else out + part
    return out


def choose_weights(comps: Sequence[np.ndarray | None], truth: Sequence[Sequence[int]],
                   zero_shot: np.ndarray, n_codes: int, *, fold: np.ndarray | None = None,
                   step: float = 0.1, min_seeds: int = MIN_SEEDS) -> tuple[np.ndarray, bool, str, np.ndarray]:
    """(weights, learned, reason, mixed): the mix of the sources ``comps`` (cross-fitted code
    probabilities of the seeds; None for a source not available) with the best mean
    log-likelihood of the human codes ``truth`` — used only if choosing that way beats the
    ``zero_shot`` weights; else the zero-shot weights. ``mixed``: each seed's probabilities
    under the weights the choice made without it (for an honest kappa).

    The best of many mixes looks better on the seeds it was picked on than it will be on new
    utterances. So the choice itself is cross-fitted over ``fold`` (the seeds' folds): for each
    fold the mix is picked on the other folds and judged on this one. Learned weights are used
    when that judged gain in log-likelihood exceeds one standard error of the paired per-seed
    difference and the judged share of top codes right is not lower than zero-shot's by more
    than one standard error."""
    n = len(truth)
    zero_mix = mix_components(comps, zero_shot, n_codes)
    if n < min_seeds:
        return zero_shot, False, f"{n} coded seed utterances: too few to tell (fewer than {min_seeds})", zero_mix
    grid = _simplex([c is not None for c in comps], step)
    normed = [None if c is None else _renorm(c[:, :n_codes]) for c in comps]   # once, not per mix
    mixes = [_mix_normed(normed, w) for w in grid]
    index = _truth_index(truth)
    ll = np.vstack([log_lik(q, truth, index) for q in mixes])
    best = int(np.argmax(ll.mean(axis=1)))
    fold = np.zeros(n, int) if fold is None else np.asarray(fold)
    pick = np.full(n, best)
    for f in np.unique(fold):
        if len(np.unique(fold)) > 1:
            pick[fold == f] = int(np.argmax(ll[:, fold != f].mean(axis=1)))
    judged = ll[pick, np.arange(n)]
    mixed = np.vstack([mixes[pick[i]][i] for i in range(n)])
    base = log_lik(zero_mix, truth, index)
    d = judged - base
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    right = lambda q: np.array([q[i].argmax() in t for i, t in enumerate(truth)], float)  # noqa: E731
    da = right(mixed) - right(zero_mix)
    d_acc, se_acc = float(da.mean()), float(da.std(ddof=1) / np.sqrt(n))
    what = (f"choosing on the other folds, judged gain over the zero-shot weights: log-likelihood "
            f"{d.mean():+.3f} (1 SE {se:.3f}), top code right {d_acc:+.1%} (1 SE {se_acc:.1%})")
    # (identical sources differ by rounding only: hence the 1e-9)
    if d.mean() > max(se, 1e-9) and d_acc >= -se_acc:
        return grid[best], True, what, mixed
    return zero_shot, False, "no clear gain from the seeds: " + what, zero_mix


# -- calibration ---------------------------------------------------------------------------------
class TemperatureCalibrator:
    """Temperature scaling of the code probabilities: ``q_c ∝ p_c ** a`` (renormalised over the
    codes; a "no code" share stays as it is), with ``a`` chosen to maximise the likelihood of
    the human codes on cross-fitted seed predictions (multi-label: the probability of any of
    an utterance's codes). One parameter: stable on a few hundred seeds, and it keeps every
    ranking (within an utterance and, for the top code, mostly across them)."""

    GRID = np.exp(np.linspace(np.log(0.25), np.log(4.0), 61))

    def fit(self, p: np.ndarray, truth: Sequence[Sequence[int]]) -> "TemperatureCalibrator":
        rows = [i for i, t in enumerate(truth) if len(t)]
        if not rows:
            raise ValueError("calibration needs coded seed utterances")
        t = [list(truth[i]) for i in rows]
        index = _truth_index(t)
        ll = [log_lik(self._apply(p[rows], a), t, index).mean() for a in self.GRID]
        self.exponent_ = float(self.GRID[int(np.argmax(ll))])
        return self

    @staticmethod
    def _apply(p: np.ndarray, a: float) -> np.ndarray:
        mass = p.sum(axis=1, keepdims=True)
        q = np.clip(p, 1e-12, None) ** a
        return q / q.sum(axis=1, keepdims=True) * mass

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Calibrated code probabilities for model probabilities ``p`` (utterances x codes)."""
        return self._apply(p, self.exponent_) if len(p) else p.copy()

    def to_dict(self) -> dict[str, float]:
        return {"method": "temperature", "exponent": round(self.exponent_, 4),
                "temperature": round(1 / self.exponent_, 4)}


@dataclass
class CrossFit:
    """What cross-fitting over the seeds decided (``CodeMapper.crossfit_``)."""

    weights: dict[str, float]
    learned: bool
    reason: str
    n_seeds: int
    n_folds: int
    kappa: float
    kappa_zero_shot: float
    calibrator: TemperatureCalibrator | None = None
    ece_raw: float = float("nan")
    ece: float = float("nan")
    ece_coded: float = float("nan")
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: the seeded sources' probabilities for all rows, averaged over the fold models (None
    #: without folds): what the mapper serves, so calibration sees the models it calibrates
    sources: tuple | None = field(default=None, repr=False)
    #: the cross-fitted mixed probabilities of the seeds and their human codes (code indices)
    heldout: np.ndarray | None = field(default=None, repr=False)
    truth: list | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """For the run manifest."""
        return {"weights": {k: round(v, 3) for k, v in self.weights.items()}, "learned": self.learned,
                "reason": self.reason, "n_seeds": self.n_seeds, "n_folds": self.n_folds,
                "cross_fitted_kappa": _r(self.kappa), "cross_fitted_kappa_zero_shot_weights": _r(self.kappa_zero_shot),
                "calibrated": self.calibrator is not None,
                "calibration": self.calibrator.to_dict() if self.calibrator is not None else None,
                "cross_fitted_ece_top_code_before": _r(self.ece_raw), "cross_fitted_ece_top_code": _r(self.ece),
                "cross_fitted_ece_top_code_coded_only": _r(self.ece_coded)}


def _r(x: float) -> float | None:
    return None if x is None or x != x else round(float(x), 4)


def cross_fit(seed_idx: Sequence[int], truth: Sequence[Sequence[int]], fixed: Sequence[np.ndarray | None],
              seeded: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], *, n_codes: int,
              zero_shot: np.ndarray, n_folds: int = 5, random_state: int = 0, calibrate: bool = True,
              self_trained: bool = True) -> CrossFit:
    """Cross-fit the seeded sources over the seeds and decide weights and calibration.

    ``seed_idx``: the seed utterances' rows (coded and left uncoded); ``truth``: their code
    indices (empty for uncoded); ``fixed``: the seed-free sources' probabilities for all rows
    (codebook, codebook+self-training; None where absent); ``seeded(train_mask)``: the two seeded
    sources' probabilities for all rows when trained on the seeds where ``train_mask`` is true
    (``(p_seeds, p_seeds_self_trained)``, "no code" as a last column if learned).
    """
    seed_idx = np.asarray(seed_idx, int)
    n = len(seed_idx)
    coded = np.array([len(t) > 0 for t in truth], bool)
    n_coded = int(coded.sum())
    folds = min(n_folds, n_coded) if n_coded >= 2 else 0
    n_seeded_codes = len({c for t in truth for c in t})
    if n_coded < max(MIN_SEEDS, 2 * n_seeded_codes) or folds < 2:
        w = zero_shot
        return CrossFit(dict(zip(COMPONENTS, map(float, w))), False,
                        f"{n_coded} coded seed utterances for {n_seeded_codes} codes: too few to tell (fewer "
                        f"than {MIN_SEEDS}, or under 2 per code)", n_coded, 0, float("nan"), float("nan"))
    # coded and uncoded seeds are folded separately, so each fold has its share of both
    fold = np.empty(n, int)
    fold[coded] = fold_of(n_coded, folds, random_state)
    fold[~coded] = fold_of(n - n_coded, folds, random_state + 1)
    parts_s0, parts_st, none_h = {}, {}, np.zeros(n)
    avg = None
    for f in range(folds):
        train = fold != f
        ps0, pst = seeded(train)
        avg = (ps0 / folds, pst / folds) if avg is None else (avg[0] + ps0 / folds, avg[1] + pst / folds)
        rows = seed_idx[~train]
        parts_s0[f], parts_st[f] = ps0[rows], pst[rows]
        if pst.shape[1] > n_codes:
            none_h[~train] = pst[rows, n_codes]
    held_s = [np.zeros((n, n_codes)), np.zeros((n, n_codes))]
    for f in range(folds):
        m = fold == f
        held_s[0][m] = parts_s0[f][:, :n_codes]
        held_s[1][m] = parts_st[f][:, :n_codes]
    if not self_trained:   # without self-training rounds the two seeded sources are one
        held_s[1] = None
    comps = [None if c is None else c[seed_idx] for c in fixed] + held_s
    t_coded = [truth[i] for i in np.nonzero(coded)[0]]
    comps_c = [None if c is None else c[coded] for c in comps]
    w, learned, reason, mixed = choose_weights(comps_c, t_coded, zero_shot, n_codes, fold=fold[coded])
    kappa = top1_kappa(mixed, t_coded, n_codes)
    kappa_zs = top1_kappa(mix_components(comps_c, zero_shot, n_codes), t_coded, n_codes)
    out = CrossFit(dict(zip(COMPONENTS, map(float, w))), learned, reason, n_coded, folds, kappa, kappa_zs,
                   sources=avg)
    if calibrate:
        # the mixed probability of every seed, "no code" mass taken out as the mapper does
        qa = mix_components(comps, w, n_codes) * (1 - none_h)[:, None]
        truth_l = [list(t) for t in truth]
        out.heldout, out.truth = qa, truth_l
        try:
            cal = TemperatureCalibrator().fit(qa, truth_l)
        except ValueError:
            return out
        out.calibrator = cal
        qc = cal.transform(qa)
        top = qa.argmax(axis=1)
        right = np.array([top[i] in truth_l[i] for i in range(n)], float)
        out.ece_raw = expected_calibration_error(qa[np.arange(n), top], right)
        out.ece = expected_calibration_error(qc[np.arange(n), top], right)
        out.ece_coded = expected_calibration_error(qc[coded, top[coded]], right[coded])
        rel_raw = reliability_table(qa[np.arange(n), top], right).assign(scores="before calibration")
        rel = reliability_table(qc[np.arange(n), top], right).assign(scores="calibrated")
        out.reliability = pd.concat([rel_raw, rel], ignore_index=True)
    return out


# -- the review queue ----------------------------------------------------------------------------
QUEUE_TOPS = (50, 100, 200)


def review_queue(suggestions: pd.DataFrame, calibrated: bool) -> pd.DataFrame:
    """Suggested codes of utterances not yet coded, most likely right first: ``queue`` (1, 2, ...),
    the suggestion's columns, and ``expected_right`` (the expected share right among the first
    ``queue`` rows: the mean calibrated score so far; empty when scores are not calibrated)."""
    df = suggestions
    keep = df["suggested"] & ~df["abstained"]
    if "seeded" in df:
        keep &= ~df["seeded"]
    q = df[keep].sort_values(["score", "utterance_id", "rank"], ascending=[False, True, True], kind="stable")
    q = q.reset_index(drop=True)
    q.insert(0, "queue", np.arange(1, len(q) + 1))
    exp = q["score"].cumsum() / q["queue"] if calibrated else pd.Series(np.nan, index=q.index)
    q["expected_right"] = exp.astype(float).round(4)
    return q


def queue_precision(queue: pd.DataFrame, tops: Sequence[int] = QUEUE_TOPS) -> pd.DataFrame:
    """Expected share right among the top N of a :func:`review_queue` (N in ``tops``, capped at
    its length)."""
    rows = []
    for n in tops:
        m = min(n, len(queue))
        if m == 0:
            continue
        rows.append((n, m, float(queue["expected_right"].iloc[m - 1])))
    return pd.DataFrame(rows, columns=["top", "suggestions", "expected_share_right"])
