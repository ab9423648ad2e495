"""Coding drift: how each code's use changes across interviews, per coder.

For each coder, their transcripts are put in order (interview date, sequence or coding time;
:func:`themekit.audit.transcript_order`) and grouped into windows of ``window`` consecutive
transcripts. For each code and window the table gives

- **prevalence**: share of the coder's coded segments in the window that carry the code, with
  control limits of a Laney p′ chart (binomial limits widened by the between-window spread
  actually seen, so that ordinary differences between participants are not signals);
- **centroid shift**: ``1 - cos`` between the centroid of the code's segments in the window and
  the centroid of all its earlier segments, with an upper control limit (the 99th percentile of
  that shift when the code's segments are shuffled between windows);
- **dispersion**: mean cosine distance of the window's segments to their centroid;
- a **change-point test** "from this window on": the centroid shift and the prevalence change
  between the segments from this window on and those before it.

Noise is not drift: the change-point test compares each statistic with its permutation
distribution. The centroid shift is tested by shuffling the code's own segments between its
windows (each window keeps its number of segments: "window membership" is what is shuffled,
so a change in how often a code is used is not mistaken for a change in what it means); the
prevalence change by shuffling all of the coder's segments between transcripts (each
transcript keeps its number of segments). Within a code, both statistics are tested over all
windows at once (max-T over windows and statistics, standardised by their permutation mean
and spread; Westfall & Young 1993; the two statistics' permutations are drawn side by side);
the smallest adjusted p is the code's, and across codes (and coders) those are corrected by
Benjamini–Hochberg. ``q_value`` = the larger of the code's q-value and the window's adjusted
``p_value``. A drifted code (q <= ``alpha``) is *flagged* at its estimated change point: the
window where the change is most significant (for the centroid, for the prevalence, or both).

Participants also differ in what they talk about, and shuffling segments counts that as
change as well. ``null="overdispersed"`` allows for it: the observed z-scores are divided by
the spread between windows actually seen beyond sampling noise, estimated from the moving
ranges of the windows' own z-scores (a Laney p′ chart's correction, 2002; a single step change
barely widens it). It is the stricter choice for studies whose participants differ a lot;
with few interviews it rarely flags anything.

Centroids are compared through the sums of the code's segment vectors per window (nothing n x
n: memory grows with segments x dimensions). Permutations run in chunks of whole blocks, each
block of ``PERM_BLOCK`` permutations from its own generator seeded by (``random_state``, coder,
code, block number), so the table is the same however the chunks are cut and wherever they run
(``mapper``: e.g. Dask workers).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..common.parallel import Mapper, local_map, one_blas_thread
from .coded import units_and_codes

__all__ = ["drift_table", "benjamini_hochberg", "holm", "control_chart", "DRIFT_COLUMNS", "NULLS"]

NULLS = ("segment", "overdispersed")
SHIFT_LIMIT_QUANTILE = 0.99
DRIFT_COLUMNS = [
    "coder", "code", "position", "window", "transcripts", "n_segments", "n_units", "prevalence",
    "prevalence_center", "prevalence_lcl", "prevalence_ucl", "prevalence_signal", "centroid_shift",
    "shift_ucl", "shift_signal", "dispersion", "change_shift", "change_prevalence", "p_shift",
    "p_prevalence", "p_value", "q_value", "flagged", "flag_reason"]


def _adjusted(p: Sequence[float], adjust) -> np.ndarray:
    """``adjust(sorted p-values)`` put back in the original order, capped at 1; NaN stays NaN and
    is not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size:
        o = ok[np.argsort(p[ok], kind="stable")]
        out[o] = np.minimum(adjust(p[o], np.arange(1, ok.size + 1), ok.size), 1.0)
    return out


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN stays NaN and is not counted)."""
    return _adjusted(p, lambda s, rank, m: np.minimum.accumulate((s * m / rank)[::-1])[::-1])


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error; NaN stays NaN and is not counted)."""
    return _adjusted(p, lambda s, rank, m: np.maximum.accumulate(s * (m - rank + 1)))


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}; got {value!r}")


# -- statistics from window sums ----------------------------------------------------------------
def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...r,...r->...", a, b)


def _stats(s: np.ndarray, n: np.ndarray, tot: np.ndarray, min_segments: int) -> dict[str, np.ndarray]:
    """Per window for (..., W, r) sums of the code's segment vectors per window, (..., W) counts
    of the code's segments ``n`` and of all segments ``tot``: every cosine below is one between
    sums of unit vectors (a centroid's direction), so window sums are all it needs."""
    before = np.zeros_like(s)                 # sum of the windows before w
    for w in range(1, s.shape[-2]):           # (a loop over windows: faster than cumsum on this axis)
        np.add(before[..., w - 1, :], s[..., w - 1, :], out=before[..., w, :])
    total = before[..., -1, :] + s[..., -1, :]
    aa, bt = _dot(before, before), _dot(before, total[..., None, :])
    ssq, se, st = _dot(s, s), _dot(s, before), _dot(s, total[..., None, :])
    tt = _dot(total, total)[..., None]
    ab = bt - aa                              # before . (sum from w on)
    bb = tt - 2 * bt + aa                     # |sum from w on|^2
    rest_sq, s_rest = tt - 2 * st + ssq, st - ssq   # the sum of all other windows
    cn = np.concatenate([np.zeros(n.shape[:-1] + (1,)), np.cumsum(n, -1)], -1)
    ct = np.concatenate([np.zeros(tot.shape[:-1] + (1,)), np.cumsum(tot, -1)], -1)
    nb, na = cn[..., :-1], cn[..., -1:] - cn[..., :-1]
    tb, ta = ct[..., :-1], ct[..., -1:] - ct[..., :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        change_shift = 1 - ab / np.sqrt(aa * bb)
        change_shift = np.where((nb >= min_segments) & (na >= min_segments) & (aa > 0) & (bb > 0),
                                np.clip(change_shift, 0, 2), np.nan)
        change_prev = np.where((tb > 0) & (ta > 0), na / ta - nb / tb, np.nan)
        shift = np.where((ssq > 0) & (aa > 0), np.clip(1 - se / np.sqrt(ssq * aa), 0, 2), np.nan)
        rest_n = n.sum(-1, keepdims=True) - n
        apart = np.where((n > 0) & (rest_n >= min_segments) & (ssq > 0) & (rest_sq > 0),
                         np.clip(1 - s_rest / np.sqrt(ssq * rest_sq), 0, 2), np.nan)
    change_shift[..., 0] = np.nan
    change_prev[..., 0] = np.nan
    return {"change_shift": change_shift, "change_prevalence": change_prev, "centroid_shift": shift,
            "apart": apart}


def _window_sums(z: np.ndarray, labels: np.ndarray, n_windows: int) -> np.ndarray:
    """(B, W, r) sums of the rows of ``z`` (n, r) by window, for (B, n) window labels."""
    from scipy import sparse

    b, n = labels.shape
    rows = (labels + n_windows * np.arange(b)[:, None]).ravel()
    m = sparse.csr_matrix((np.ones(b * n), (rows, np.tile(np.arange(n), b))), shape=(b * n_windows, n))
    return np.asarray(m @ z).reshape(b, n_windows, z.shape[1])


def _inner_product_rows(x: np.ndarray) -> np.ndarray:
    """Rows with the same inner products as ``x``'s, in at most ``min(n, dim)`` columns (a
    code with fewer segments than dimensions costs no more than its n x n Gram matrix would)."""
    n, d = x.shape
    if n >= d:
        return x
    if n == 0:
        return np.zeros((0, 1))
    with one_blas_thread():
        return np.linalg.qr(x.T, mode="r").T       # x x^T = R^T R


def _prevalence_change(n: np.ndarray, tot: np.ndarray) -> np.ndarray:
    """Per window w (..., W): share of segments with the code from w on minus before w."""
    cn = np.concatenate([np.zeros(n.shape[:-1] + (1,)), np.cumsum(n, -1)], -1)
    ct = np.concatenate([np.zeros(tot.shape[:-1] + (1,)), np.cumsum(tot, -1)], -1)
    nb, na = cn[..., :-1], cn[..., -1:] - cn[..., :-1]
    tb, ta = ct[..., :-1], ct[..., -1:] - ct[..., :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((tb > 0) & (ta > 0), na / ta - nb / tb, np.nan)
    out[..., 0] = np.nan
    return out


#: permutations drawn from one generator, seeded by (random_state, coder, code, block number)
PERM_BLOCK = 25
#: numbers per array in one chunk of permutations (window labels, window sums): about 32 MB each
PERM_CHUNK_BUDGET = 4_000_000
PERM_CHUNK_MAX = 250


@dataclass(frozen=True)
class _Case:
    """One coder's code, as its permutations see it: ``seed`` (random_state, coder, code),
    ``z`` its segments' vectors (as inner products: :func:`_inner_product_rows`), ``lab`` their
    windows, ``tot_w`` the number of all the coder's segments in each window."""

    seed: tuple
    z: np.ndarray
    lab: np.ndarray
    tot_w: np.ndarray
    min_segments: int

    @property
    def n_windows(self) -> int:
        return len(self.tot_w)

    def chunk_size(self) -> int:
        """Permutations per chunk: whole blocks, as many as the memory budget allows."""
        per = 3 * len(self.lab) + self.n_windows * (self.z.shape[1] + 8)
        blocks = PERM_CHUNK_BUDGET // max(per * PERM_BLOCK, 1)
        return PERM_BLOCK * int(min(max(PERM_CHUNK_MAX // PERM_BLOCK, 1), max(1, blocks)))


def _null_chunk(cases: Sequence[_Case], item: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Permutations ``b0 <= b < b1`` of case ``i`` (``item`` = (i, b0, b1); ``b0`` a multiple of
    ``PERM_BLOCK``): the (B, W) null statistics. Each block of ``PERM_BLOCK`` permutations draws
    from its own generator, seeded by (random_state, coder, code, block): the numbers do not
    depend on how the blocks are grouped into chunks or where the chunks run.
    Centroid null: the code's own segments shuffled between its windows (counts kept);
    prevalence null: the code's segments put at random among all the coder's segments, each
    window keeping its number of segments (so its count of the code is hypergeometric)."""
    with one_blas_thread():
        return _null_chunk_stats(cases[item[0]], item[1], item[2])


def _null_chunk_stats(c: _Case, b0: int, b1: int) -> dict[str, np.ndarray]:
    n_k, w = len(c.lab), c.n_windows
    labels, n_perm_w = [], []
    for block in range(b0 // PERM_BLOCK, -(-b1 // PERM_BLOCK)):
        rng = np.random.default_rng([*c.seed, block])
        m = min(PERM_BLOCK, b1 - block * PERM_BLOCK)
        labels.append(rng.permuted(np.tile(c.lab, (m, 1)), axis=1))
        n_perm_w.append(rng.multivariate_hypergeometric(c.tot_w, n_k, size=m).astype(float))
    labels, n_perm_w = np.concatenate(labels), np.concatenate(n_perm_w)
    b = len(labels)
    tot_w = np.tile(c.tot_w.astype(float), (b, 1))
    n_w = np.tile(np.bincount(c.lab, minlength=w).astype(float), (b, 1))
    st = _stats(_window_sums(c.z, labels, w), n_w, tot_w, c.min_segments)
    return {"change_shift": st["change_shift"], "centroid_shift": st["centroid_shift"], "apart": st["apart"],
            "change_prevalence": _prevalence_change(n_perm_w, tot_w)}


def _null_stats(cases: Sequence[_Case], n_permutations: int, mapper: Mapper) -> Iterator[dict[str, np.ndarray]]:
    """Each case's (n_permutations, W) null statistics, in the cases' order: the permutations
    cut into chunks and run by ``mapper`` (the cases are shipped once, with the function)."""
    items = [(i, b0, min(b0 + c.chunk_size(), n_permutations))
             for i, c in enumerate(cases) for b0 in range(0, n_permutations, c.chunk_size())]
    per_case = np.bincount([i for i, _, _ in items], minlength=len(cases))
    results = iter(mapper(partial(_null_chunk, list(cases)), items))
    for i in range(len(cases)):
        parts = [next(results) for _ in range(per_case[i])]
        yield {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _pvalues(obs: np.ndarray, null: np.ndarray, scale: np.ndarray | float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For obs (C,) and null (B, C) (columns: windows x statistics; larger = more extreme):
    pointwise p (share of the column's permutation values at least as large, the observed
    counted once), max-T adjusted p over all columns (each standardised by its permutation mean
    and spread, the observed z divided by ``scale``, the overdispersion factor; Westfall & Young
    1993), and the observed z. NaN where a column cannot be tested."""
    finite = np.isfinite(null)
    cnt = finite.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, null, 0).sum(0) / np.maximum(cnt, 1)
        sd = np.sqrt(np.where(finite, (null - mean) ** 2, 0).sum(0) / np.maximum(cnt - 1, 1))
        testable = np.isfinite(obs) & (cnt > 1) & (sd > 1e-12)
        z_null = np.where(finite & testable, (null - mean) / sd, -np.inf)
        z_obs = np.where(testable, (obs - mean) / sd / scale, np.nan)
        ge = (z_null >= z_obs - 1e-12).sum(0)
        p_point = np.where(testable, (ge + 1) / (cnt + 1), np.nan)
    zmax = z_null.max(axis=1) if z_null.shape[1] else np.full(len(null), -np.inf)
    p_adj = np.array([(np.sum(zmax >= z - 1e-12) + 1) / (len(null) + 1) if np.isfinite(z) else np.nan
                      for z in z_obs])
    return np.minimum(p_point, 1), np.minimum(p_adj, 1), z_obs


def drift_table(units: pd.DataFrame, vectors: np.ndarray, order: Mapping[str, Sequence[str]],
                codes: Sequence[str] | None = None, *, window: int = 1, null: str = "segment",
                n_permutations: int = 1000, alpha: float = 0.05, min_segments: int = 3,
                random_state: int = 0, mapper: Mapper | None = None) -> pd.DataFrame:
    """Code x window drift table (one block of rows per coder), see the module docstring.

    ``units``: one row per coded span and coder (:func:`themekit.audit.coded_units`);
    ``vectors``: a unit-length embedding row per unit; ``order``: ``{coder: [transcript ids in
    order]}`` (:func:`themekit.audit.transcript_order`); ``window``: transcripts per window;
    ``min_segments``: a centroid is compared only with at least this many segments on each side.
    Rows: ``coder, code, position`` (1-based window index), ``window`` (its label),
    ``transcripts``; window figures ``n_segments`` (the code's), ``n_units`` (all the coder's
    segments there), ``prevalence`` with ``prevalence_center``/``_lcl``/``_ucl`` (Laney p′
    3-sigma limits) and ``prevalence_signal`` ("above"/"below" the limits, else ""),
    ``centroid_shift`` (vs all earlier use) with ``shift_ucl`` and ``shift_signal``,
    ``dispersion``; change from this window on: ``change_shift``, ``change_prevalence``
    (after - before), pointwise ``p_shift``, ``p_prevalence``, adjusted ``p_value``,
    ``q_value``, ``flagged`` (the estimated change point of a drifted code: the window where
    the change is most significant, for the centroid and for the prevalence) and
    ``flag_reason``. ``result.attrs`` records the settings and, per coder and code, the
    overdispersion factors used (``"overdispersion"``). ``mapper``: runs the chunks of
    permutations (:mod:`themekit.common.parallel`; e.g. a :class:`themekit.scale.DaskMapper`);
    the table is the same whichever runs them.
    """
    _check("window", window, isinstance(window, (int, np.integer)) and window >= 1, "an integer >= 1")
    _check("null", null, null in NULLS, f"one of {NULLS}")
    _check("n_permutations", n_permutations,
           isinstance(n_permutations, (int, np.integer)) and n_permutations >= 19, "an integer >= 19")
    _check("alpha", alpha, isinstance(alpha, float) and 0 < alpha < 1, "a number between 0 and 1")
    _check("min_segments", min_segments, isinstance(min_segments, (int, np.integer)) and min_segments >= 1,
           "an integer >= 1")
    units, vectors, codes, y = units_and_codes(units, vectors, codes)
    # pass 1: per coder and code, what its permutations need; they run in chunks on ``mapper``
    coders: list[dict] = []
    cases: list[_Case] = []
    for coder, seq in order.items():
        present = set(units.loc[units.coder == coder, "transcript_id"])
        seq = [t for t in seq if t in present]
        if not seq:
            continue
        sel = np.flatnonzero((units["coder"] == coder).to_numpy())
        pos_of = {t: i for i, t in enumerate(seq)}
        tpos = units.loc[sel, "transcript_id"].map(pos_of).to_numpy()
        keep = ~pd.isna(tpos)
        sel, tpos = sel[keep], tpos[keep].astype(np.int64)
        t_count = len(seq)
        n_windows = math.ceil(t_count / window)
        blocks = np.arange(t_count) // window
        seg_window = blocks[tpos]
        tot_w = np.bincount(seg_window, minlength=n_windows).astype(float)
        coders.append({
            "coder": coder, "n_windows": n_windows, "tot_w": tot_w, "first": len(cases),
            "labels": [seq[b * window] if window == 1 else f"{seq[b * window]}–{seq[min(t_count, (b + 1) * window) - 1]}"
                       for b in range(n_windows)],
            "members": [", ".join(seq[b * window:(b + 1) * window]) for b in range(n_windows)]})
        for j, code in enumerate(codes):
            has = y[sel, j]
            cases.append(_Case((random_state, zlib.crc32(str(coder).encode()), zlib.crc32(str(code).encode())),
                               _inner_product_rows(vectors[sel[has]]), seg_window[has],
                               np.bincount(seg_window, minlength=n_windows), min_segments))
    nulls = _null_stats(cases, n_permutations, mapper or local_map)

    # pass 2: observed statistics against their permutation nulls, case by case
    rows: list[dict] = []
    families: list[dict] = []
    overdispersion: dict[str, dict[str, tuple[float, float]]] = {}
    for c in coders:
        coder, n_windows, tot_w, labels, members = c["coder"], c["n_windows"], c["tot_w"], c["labels"], c["members"]
        overdispersion[str(coder)] = {}
        for j, code in enumerate(codes):
            case = cases[c["first"] + j]
            n_w = np.bincount(case.lab, minlength=n_windows).astype(float)
            s_w = _window_sums(case.z, case.lab[None], n_windows)[0]
            obs = _stats(s_w, n_w, tot_w, min_segments)
            with np.errstate(divide="ignore", invalid="ignore"):
                disp = np.where(n_w > 0, 1 - np.sqrt(np.maximum(_dot(s_w, s_w), 0)) / n_w, np.nan)
            nul = next(nulls)
            shift_ucl = np.array([np.quantile(col[np.isfinite(col)], SHIFT_LIMIT_QUANTILE)
                                  if np.isfinite(col).any() else np.nan for col in nul["centroid_shift"].T])
            center = n_w.sum() / tot_w.sum() if tot_w.sum() else np.nan
            lcl, ucl, sigma_prev = _laney_limits(n_w, tot_w, center)
            if null == "overdispersed":  # widen by the spread between windows beyond sampling noise
                sigma_shift = _moving_range_sigma(_zscores(obs["apart"], nul["apart"]))
            else:
                sigma_prev = sigma_shift = 1.0
            overdispersion[str(coder)][code] = (sigma_shift, sigma_prev)
            obs_stat = np.concatenate([obs["change_shift"], np.abs(obs["change_prevalence"])])
            null_stat = np.concatenate([nul["change_shift"], np.abs(nul["change_prevalence"])], axis=1)
            scale = np.repeat([sigma_shift, sigma_prev], n_windows)
            p_point, p_adj, z = _pvalues(obs_stat, null_stat, scale)
            ps, pp, pas, pap = p_point[:n_windows], p_point[n_windows:], p_adj[:n_windows], p_adj[n_windows:]
            zs, zp = z[:n_windows], z[n_windows:]
            n_stats = int(np.isfinite(p_adj).any())
            first = len(rows)
            for b in range(n_windows):
                prev = n_w[b] / tot_w[b] if tot_w[b] else np.nan
                sig = ""
                if np.isfinite(prev) and np.isfinite(ucl[b]):
                    sig = "above" if prev > ucl[b] + 1e-12 else "below" if prev < lcl[b] - 1e-12 else ""
                shift = obs["centroid_shift"][b]
                both = [v for v in (pas[b], pap[b]) if np.isfinite(v)]
                rows.append({
                    "coder": coder, "code": code, "position": b + 1, "window": labels[b],
                    "transcripts": members[b], "n_segments": int(n_w[b]), "n_units": int(tot_w[b]),
                    "prevalence": prev, "prevalence_center": center, "prevalence_lcl": lcl[b],
                    "prevalence_ucl": ucl[b], "prevalence_signal": sig,
                    "centroid_shift": shift, "shift_ucl": shift_ucl[b],
                    "shift_signal": "above" if np.isfinite(shift) and np.isfinite(shift_ucl[b])
                    and shift > shift_ucl[b] + 1e-12 else "",
                    "dispersion": disp[b], "change_shift": obs["change_shift"][b],
                    "change_prevalence": obs["change_prevalence"][b], "p_shift": ps[b],
                    "p_prevalence": pp[b], "p_value": min(both) if both else np.nan, "q_value": np.nan,
                    "flagged": False, "flag_reason": ""})
            if n_stats:
                families.append({"rows": (first, len(rows)), "p": float(np.nanmin(np.concatenate([pas, pap]))),
                                 "adj": (pas, pap), "z": (zs, zp), "dir": obs["change_prevalence"]})
    df = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    if families:
        fam_q = benjamini_hochberg([f["p"] for f in families])
        qcol = df["q_value"].to_numpy(dtype=float, copy=True)
        flagged = np.zeros(len(df), dtype=bool)
        reasons = [""] * len(df)
        pcol = df["p_value"].to_numpy(dtype=float)
        for f, qf in zip(families, fam_q):
            a, b = f["rows"]
            qcol[a:b] = np.maximum(qf, pcol[a:b])
            if qf > alpha:
                continue
            for which, adj, z in zip(("centroid shift", "prevalence"), f["adj"], f["z"]):
                if not np.isfinite(z).any():
                    continue
                w = int(np.nanargmax(np.where(np.isfinite(z), z, -np.inf)))
                if adj[w] <= alpha:
                    flagged[a + w] = True
                    why = which if which == "centroid shift" else \
                        "prevalence " + ("up" if f["dir"][w] > 0 else "down")
                    reasons[a + w] = "; ".join(r for r in (reasons[a + w], why) if r)
        df["q_value"] = qcol
        df["flagged"] = flagged
        df["flag_reason"] = reasons
    df = df.astype({"n_segments": "int64", "n_units": "int64", "position": "int64", "flagged": bool})
    df.attrs.update({"null": null, "window": int(window), "n_permutations": int(n_permutations),
                     "alpha": alpha, "min_segments": int(min_segments), "random_state": random_state,
                     "overdispersion": overdispersion})
    return df


def _zscores(obs: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Each column's observed value standardised by its permutation mean and spread."""
    finite = np.isfinite(null)
    cnt = finite.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, null, 0).sum(0) / np.maximum(cnt, 1)
        sd = np.sqrt(np.where(finite, (null - mean) ** 2, 0).sum(0) / np.maximum(cnt - 1, 1))
        return np.where(np.isfinite(obs) & (cnt > 1) & (sd > 1e-12), (obs - mean) / sd, np.nan)


def _moving_range_sigma(z: np.ndarray) -> float:
    """Spread of window z-scores from successive differences (MR-bar / 1.128; Laney 2002),
    robust to a step change; at least 1 (never narrower than the permutation null)."""
    z = z[np.isfinite(z)]
    if z.size < 3:
        return 1.0
    return max(1.0, float(np.mean(np.abs(np.diff(z))) / 1.128))


def _laney_limits(n: np.ndarray, tot: np.ndarray, center: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Laney p′ chart 3-sigma limits (never narrower than the binomial p-chart's) and the
    overdispersion factor sigma_z used."""
    ok = tot > 0
    if not np.isfinite(center) or not ok.any():
        nan = np.full(len(n), np.nan)
        return nan, nan, 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(center * (1 - center) / tot)
        z = np.where(ok & (sigma > 0), (n / tot - center) / sigma, np.nan)
    sigma_z = _moving_range_sigma(z)
    lcl = np.where(ok, np.clip(center - 3 * sigma * sigma_z, 0, 1), np.nan)
    ucl = np.where(ok, np.clip(center + 3 * sigma * sigma_z, 0, 1), np.nan)
    return lcl, ucl, sigma_z


# -- figure ------------------------------------------------------------------------------------
def control_chart(drift: pd.DataFrame, code: str, coder: str | None = None):
    """Plotly control charts of one code over the window order: prevalence with its Laney p′
    limits, and centroid shift against earlier use with its permutation limit; flagged change
    points are marked (hover for the transcripts and figures)."""
    from plotly.subplots import make_subplots

    d = drift[drift["code"] == code]
    if coder is None:
        coders = list(dict.fromkeys(d["coder"]))
        if not coders:
            raise ValueError(f"no drift rows for code {code!r}")
        coder = coders[0]
    d = d[d["coder"] == coder].sort_values("position")
    if d.empty:
        raise ValueError(f"no drift rows for code {code!r} and coder {coder!r}")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Prevalence (share of coded segments)", "Centroid shift from earlier use"))
    x = d["window"].astype(str).tolist()
    hover = [f"{w}<br>{t}<br>{n} of {m} segments" for w, t, n, m in
             zip(x, d["transcripts"], d["n_segments"], d["n_units"])]
    import plotly.graph_objects as go

    fig.add_trace(go.Scatter(x=x, y=d["prevalence"], mode="lines+markers", name="prevalence",
                             text=hover, hovertemplate="%{text}<br>prevalence %{y:.3f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=d["prevalence_center"], mode="lines", name="centre",
                             line=dict(color="grey", dash="dot")), 1, 1)
    for col, name in (("prevalence_ucl", "control limits"), ("prevalence_lcl", None)):
        fig.add_trace(go.Scatter(x=x, y=d[col], mode="lines", line=dict(color="firebrick", dash="dash", shape="hvh"),
                                 name=name or "", showlegend=name is not None, legendgroup="limits"), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=d["centroid_shift"], mode="lines+markers", name="centroid shift",
                             text=hover, hovertemplate="%{text}<br>shift %{y:.3f}<extra></extra>"), 2, 1)
    fig.add_trace(go.Scatter(x=x, y=d["shift_ucl"], mode="lines", name="99% limit (shuffled order)",
                             line=dict(color="firebrick", dash="dash", shape="hvh")), 2, 1)
    flagged = d[d["flagged"]]
    if len(flagged):
        fig.add_trace(go.Scatter(x=flagged["window"].astype(str), y=flagged["prevalence"], mode="markers",
                                 marker=dict(symbol="x", size=13, color="firebrick"), name="change from here",
                                 text=flagged["flag_reason"] + " (q=" + flagged["q_value"].round(3).astype(str) + ")",
                                 hovertemplate="%{x}: %{text}<extra></extra>"), 1, 1)
    fig.update_layout(title=f"{code} — {coder}", height=560, margin=dict(l=60, r=30, t=80, b=60),
                      template="plotly_white", hovermode="x unified")
    fig.update_xaxes(title_text="window (in interview order)", row=2, col=1)
    return fig
