"""The statistics behind :mod:`themekit.audit.coder_drift`: a content model cross-fitted over
interviews, and a change-point scan of the coder's choice given the content.

For one coder, spans ``i`` with embedding ``x_i`` in interview ``t_i`` (the coder's order):

1. **Content scores** (:func:`crossfit_scores`): a ridge one-vs-rest linear model of the codes on
   the embeddings, refitted for each interview on all the coder's *other* interviews (closed
   form: the interview's rows are subtracted from the Gram matrix, one solve per interview).
   A span's score never comes from a model that saw the span.
2. **Series** (:func:`comparison_series`): for code B (*into B*), all spans, outcome "coded B";
   for a pair of neighbouring codes A, B (each code with its ``n_pairs`` nearest codes by
   centroid), the spans coded exactly one of them, outcome "coded B". The content covariate is
   the score of B (or B minus A), turned into a probability ``p_i`` by a one-variable logistic
   regression fitted on all the series' spans; per interview, the excess ``r_t = sum (y - p)``
   and the binomial variance ``v_t = sum p (1 - p)``.
3. **Change point** (:func:`cusum_test`): under "the coder's choice given the content does not
   change" the excesses have mean zero in every interview; the CUSUM ``S_s = sum_{t>=s} r_t``
   over ``sqrt(phi V)`` is then a Brownian bridge, whose two-sided maximum exceeds ``c`` with
   probability at most ``2 exp(-2 c^2)`` (``p_value="bound"``); ``p_value="exact"`` computes the
   probability for the discrete bridge actually scanned (:func:`bridge_pvalue`: only the allowed
   splits, at their variance-weighted times; a few times smaller). Both take ``phi`` as known;
   it is estimated from the interviews, so where it is above 1 both are somewhat optimistic, the
   exact one more so (the bound's slack absorbs part of it). ``phi``, the interviews' Pearson chi-square around
   the two-level fit at the best split over (interviews - 2), at least 1, is the
   quasi-binomial dispersion: participants differ beyond binomial noise, and one odd interview
   inflates it rather than making a change point. A change needs ``min_before`` interviews
   before it and ``min_after`` from it on (it must persist).

The contrast is a shift in the coder's choice *given* the content: a participant who talks
more about A moves ``p`` with it and leaves ``r`` at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.parallel import one_blas_thread

__all__ = ["crossfit_scores", "calibrate", "nearest_codes", "comparison_series", "cusum_test", "Series",
           "coder_series", "bridge_pvalue", "P_VALUES"]

P_VALUES = ("bound", "exact")


def crossfit_scores(x: np.ndarray, pos: np.ndarray, y: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """(n, C) scores of each code for each span from a ridge regression of the code indicators
    on ``[x, 1]`` (intercept not penalised) fitted on the spans of every *other* interview."""
    xm = np.hstack([x, np.ones((len(x), 1))])
    yf = y.astype(float)
    gram, cross = xm.T @ xm, xm.T @ yf
    reg = ridge * np.eye(xm.shape[1])
    reg[-1, -1] = 1e-8
    out = np.zeros(y.shape)
    for t in np.unique(pos):
        r = pos == t
        w = np.linalg.solve(gram - xm[r].T @ xm[r] + reg, cross - xm[r].T @ yf[r])
        out[r] = xm[r] @ w
    return out


def calibrate(score: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """P(y = 1 | score) by a logistic regression on (1, score) (Newton steps, a tiny ridge so
    that a perfectly separated series stays finite)."""
    X = np.column_stack([np.ones_like(score), score])
    beta = np.zeros(2)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(X @ beta, -30, 30)))
        w = p * (1 - p)
        step = np.linalg.solve(X.T @ (X * w[:, None]) + 1e-6 * np.eye(2), X.T @ (y - p) - 1e-6 * beta)
        beta += step
        if np.abs(step).max() < 1e-9:
            break
    return 1 / (1 + np.exp(-np.clip(X @ beta, -30, 30)))


def nearest_codes(x: np.ndarray, y: np.ndarray, k: int) -> list[set[int]]:
    """Unordered pairs {a, b}: each code with its ``k`` nearest codes by centroid cosine
    (codes with no span have no neighbours)."""
    used = y.any(0)
    c = y.T.astype(float) @ x
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    s = c @ c.T
    s[:, ~used] = -np.inf
    np.fill_diagonal(s, -np.inf)
    pairs = []
    for a in np.flatnonzero(used):
        for b in np.argsort(-s[a], kind="stable")[:k]:
            if np.isfinite(s[a, b]) and {a, b} not in pairs:
                pairs.append({int(a), int(b)})
    return pairs


@dataclass
class Series:
    """One comparison: ``kind`` ("into" or "pair"), codes ``a`` (None for into) and ``b``
    (indices), ``rows`` (the spans it uses), ``p`` (their P(coded B | content)), per interview
    ``n``, ``k`` (spans coded B), ``r`` (excess k - sum p), ``v`` (binomial variance), and the test
    result: ``p_value``, ``split`` (first interview of the change), ``z``, ``phi`` (dispersion),
    ``direction`` (+1: B rises, -1: B falls)."""

    kind: str
    a: int | None
    b: int
    rows: np.ndarray
    p: np.ndarray
    n: np.ndarray
    k: np.ndarray
    r: np.ndarray
    v: np.ndarray
    p_value: float = 1.0
    split: int = 0
    z: float = 0.0
    phi: float = 1.0
    direction: int = 1


def _one_series(kind, a, b, rows, scores, y, pos, n_interviews) -> Series:
    yy = y[rows, b].astype(float)
    score = scores[rows, b] if a is None else scores[rows, b] - scores[rows, a]
    p = calibrate(score, yy)
    t = pos[rows]
    return Series(kind, a, b, rows, p, np.bincount(t, minlength=n_interviews).astype(float),
                  np.bincount(t, yy, n_interviews), np.bincount(t, yy - p, n_interviews),
                  np.bincount(t, p * (1 - p), n_interviews))


def comparison_series(scores: np.ndarray, y: np.ndarray, pos: np.ndarray, n_interviews: int,
                      pairs: list[set[int]], min_units: int) -> list[Series]:
    """The *into* series of every code and the series of every pair, each with at least
    ``min_units`` spans on either side of its outcome."""
    out = []
    everything = np.arange(len(y))
    todo = [("into", None, b, everything) for b in range(y.shape[1])]
    for pair in pairs:
        a, b = sorted(pair)
        todo.append(("pair", a, b, np.flatnonzero(y[:, a] ^ y[:, b])))
    for kind, a, b, rows in todo:
        k = y[rows, b].sum()
        if k >= min_units and len(rows) - k >= min_units:
            out.append(_one_series(kind, a, b, rows, scores, y, pos, n_interviews))
    return out


def bridge_pvalue(v: np.ndarray, z: float, lo: int, hi: int, grid: int = 200) -> float:
    """P(max over splits lo <= s <= hi of |sum_{t>=s} r_t| >= z sqrt(V)) when the ``r_t`` are
    independent normal with variances ``v`` conditioned on summing to zero (a Brownian bridge
    seen at times tau_s = sum_{t>=s} v_t / V). The bridge is Markov, so the probability of
    staying inside (-z, z) is carried from one scanned time to the next on a grid of ``grid``
    cells (the bridge's Gaussian transition between cells); exact up to the grid."""
    from scipy.special import ndtr

    V = float(np.sum(v))
    if z <= 0 or V <= 0:
        return 1.0
    tau = np.cumsum(np.asarray(v, dtype=float)[::-1])[::-1] / V
    times = np.unique(tau[lo:hi + 1])
    times = times[(times > 0) & (times < 1)]
    if not times.size:
        return 1.0
    edges = np.linspace(-z, z, grid + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    sd = np.sqrt(times[0] * (1 - times[0]))
    inside = ndtr(edges[1:] / sd) - ndtr(edges[:-1] / sd)     # B(tau_1) ~ N(0, tau (1 - tau))
    for a, b in zip(times[:-1], times[1:]):
        mean = mid[:, None] * (1 - b) / (1 - a)
        sd = np.sqrt((b - a) * (1 - b) / (1 - a))
        inside = inside @ (ndtr((edges[None, 1:] - mean) / sd) - ndtr((edges[None, :-1] - mean) / sd))
    return float(min(1.0, max(0.0, 1.0 - inside.sum())))


def cusum_test(r: np.ndarray, v: np.ndarray, min_before: int, min_after: int, p_value: str = "bound"
               ) -> tuple[float, int, float, float]:
    """Two-sided CUSUM change-point test of the per-interview excesses ``r`` (variances ``v``).
    Returns (p, split s: the change starts at interview s, standardised maximum z, phi); p = 1
    when no split is allowed. ``p_value``: "bound" (the continuous bridge's ``2 exp(-2 z^2)``)
    or "exact" (:func:`bridge_pvalue` over the allowed splits)."""
    T = len(r)
    lo, hi = min_before, T - min_after          # allowed splits s: lo <= s <= hi
    V = v.sum()
    if hi < lo or V <= 0:
        return 1.0, lo, 0.0, 1.0
    after = np.cumsum(r[::-1])[::-1]            # sum_{t >= s} r_t
    s = lo + int(np.argmax(np.abs(after[lo:hi + 1])))
    U = float(after[s])
    va = float(v[s:].sum())
    vb = V - va
    if va <= 0 or vb <= 0:
        return 1.0, s, 0.0, 1.0
    # the two-level fit: the excess shared out by variance on each side of the split
    idx = np.arange(T)
    fit = np.where(idx >= s, U / va, -U / vb) * v
    used = v > 0
    chi = float(((r - fit)[used] ** 2 / v[used]).sum())
    phi = max(1.0, chi / max(int(used.sum()) - 2, 1))
    z = abs(U) / np.sqrt(phi * V)
    if p_value == "exact":
        return bridge_pvalue(v, z, lo, hi), s, float(z), phi
    return float(min(1.0, 2 * np.exp(-2 * z * z))), s, float(z), phi


def coder_series(item: tuple, *, n_pairs: int, ridge: float, min_units: int, min_before: int,
                 min_after: int, p_value: str = "bound") -> list[Series]:
    """All tested series of one coder: ``item`` = (x, pos, y, n_interviews) of the coder's spans.
    Module-level (picklable) so a mapper can run coders on other workers."""
    x, pos, y, T = item
    with one_blas_thread():   # the same bits here and on a worker
        scores = crossfit_scores(x, pos, y, ridge)
        series = comparison_series(scores, y, pos, T, nearest_codes(x, y, n_pairs), min_units)
    for s in series:
        s.p_value, s.split, s.z, s.phi = cusum_test(s.r, s.v, min_before, min_after, p_value)
        s.direction = 1 if s.r[s.split:].sum() >= 0 else -1
    return series
