"""Coder drift: the same kind of passage, a different code.

The marginal statistics of :mod:`themekit.audit.drift` (a code's prevalence and centroid per
window) move whenever participants talk about different things. Here the content is held
fixed: each coded span is compared with what the coder's *own earlier coding* says about
passages like it, and drift is a rise, from some interview on, in how often the coder departs
from it — concentrated on one code or one pair of codes.

1. **Earlier coding as a model.** For each of a coder's spans in the interview at position
   ``t`` (the coder's transcript order), its ``n_neighbors`` most similar spans (cosine of the
   embeddings) among the coder's spans in interviews ``< t`` vote with their codes, weighted by
   similarity; the top code is what the coder's earlier coding predicts ("would have been A").
   One similarity matrix, no refitting. With several coders, the same vote among the *other*
   coders' spans (all interviews) gives a second reference, shown beside it.
2. **Series per code and pair.** Per interview ``t``, soft counts (each span weighted by the
   reference's probability): *out of A*: spans weighted by P(A), those not coded A; *pair
   A -> B*: the same spans, those coded B and not A; *into B*: spans weighted by 1 - P(B), those
   coded B. Each is a share ``k_t / n_t`` conditional on content, so a participant who simply
   talks more about A does not move it.
3. **Change point and its null.** For each series, the one-sided CUSUM of the excess
   ``sum_{t>=s} (k_t - n_t p)`` over splits ``s`` (``min_before`` predicted interviews before
   it at least); under "no change" it is a Brownian bridge once divided by its quasi-binomial
   standard error, and the bridge's maximum exceeds ``c`` with probability ``exp(-2 c^2)``. The
   dispersion ``phi`` is the interviews' Pearson chi-square around the shares either side of
   the best split, over (interviews - 2), at least 1: participants differ beyond binomial noise,
   and this keeps a series whose interviews scatter widely from passing for a change. Within a
   code, its series (into, out of, and every pair it is part of with at least ``min_units``
   departures) are combined by Simes' test; across codes (and coders), Benjamini–Hochberg
   (:func:`themekit.audit.drift.benjamini_hochberg`). A code with ``q <= alpha`` is flagged at
   the best split of its strongest series; a second flagged code describing the same change (a
   code in common, change point within one interview) is folded into the first.
   ``null="permutation"`` instead shuffles whole interviews ``n_permutations`` times (max over
   splits of the binomial likelihood ratio; Westfall–Young min-p within a code): exact, but
   its p-values cannot go below ``1 / (n_permutations + 1)``.
4. **Size and evidence.** The share before and after, its difference with a percentile
   bootstrap interval over interviews (each side resampled by interview), and the spans
   behind it: coded B from the change on though predicted A, each with its nearest earlier
   A-coded spans (verbatim, transcript id and offsets).
5. **Codebook changes are not drift.** With a :class:`~themekit.audit.codebook_history.CodebookHistory`,
   a flagged change whose code had a definition change, rename, merge or creation placed within
   one interview of the change point is reported with ``status="follows codebook change"``.

The early interviews are predicted from little coding and disagree more, so the test (a rise)
is conservative there; the series start at the second interview and a split needs
``min_before`` predicted interviews before it. ``reference="others"`` predicts each interview
from all the coder's other interviews instead (no learning curve; the later coding counts too).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .coded import units_and_codes
from .drift import _laney_limits, benjamini_hochberg

__all__ = ["coder_drift", "CoderDrift", "coder_chart", "CODER_DRIFT_COLUMNS", "EVIDENCE_COLUMNS",
           "CODER_AGREEMENT_COLUMNS"]

CODER_DRIFT_COLUMNS = [
    "drift_id", "coder", "code", "kind", "from_code", "to_code", "change_at", "position", "n_before",
    "k_before", "share_before", "n_after", "k_after", "share_after", "change", "change_low", "change_high",
    "statistic", "p_value", "q_value", "flagged", "status", "codebook_event"]
EVIDENCE_COLUMNS = [
    "drift_id", "coder", "from_code", "to_code", "unit_id", "transcript_id", "start", "end", "text",
    "coded", "predicted", "vote_share", "evidence_score", "neighbour_rank", "neighbour_unit_id", "neighbour_transcript_id",
    "neighbour_start", "neighbour_end", "neighbour_text", "neighbour_codes", "similarity"]
CODER_AGREEMENT_COLUMNS = [
    "coder", "transcript_id", "position", "n_units", "agree_earlier", "center", "lcl", "ucl", "signal",
    "agree_others", "flagged"]


@dataclass
class CoderDrift:
    """Result of :func:`coder_drift`: ``table`` (one row per coder and code tested, flagged rows
    first), ``evidence`` (spans behind each flagged drift with their nearest earlier neighbours),
    ``agreement`` (per coder and interview: share of spans whose code is the one the earlier
    coding predicts, with Laney p′ control limits), ``predictions`` (per span: predicted code
    and vote share), ``settings``."""

    table: pd.DataFrame
    evidence: pd.DataFrame
    agreement: pd.DataFrame
    predictions: pd.DataFrame
    settings: dict = field(default_factory=dict)

    @property
    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flagged"]]


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}; got {value!r}")


# -- earlier coding as a nearest-neighbour model -------------------------------------------------
def _votes(x: np.ndarray, pos: np.ndarray, y: np.ndarray, k: int, reference: str = "earlier"
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row, the similarity-weighted vote (n, C) of its ``k`` nearest reference rows
    (``"earlier"``: a smaller position; ``"others"``: another position), and their
    indices/similarities (n, k; -1 where fewer exist)."""
    n, n_codes = len(x), y.shape[1]
    votes = np.zeros((n, n_codes))
    nn = np.full((n, k), -1, dtype=np.int64)
    sim = np.full((n, k), np.nan)
    for t in np.unique(pos):
        rows = np.flatnonzero(pos == t)
        ref = np.flatnonzero(pos < t if reference == "earlier" else pos != t)
        if not len(ref):
            continue
        s = x[rows] @ x[ref].T
        kk = min(k, len(ref))
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        ts = np.take_along_axis(s, top, 1)
        o = np.argsort(-ts, axis=1, kind="stable")
        top, ts = np.take_along_axis(top, o, 1), np.take_along_axis(ts, o, 1)
        nn[rows, :kk] = ref[top]
        sim[rows, :kk] = ts
        w = np.clip(ts, 0, None)
        votes[rows] = np.einsum("rk,rkc->rc", w, y[ref[top]].astype(float))
    return votes, nn, sim


def _other_votes(x: np.ndarray, mine: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Vote of the k nearest spans coded by other coders (rows not in ``mine``), for rows in ``mine``."""
    ref = np.flatnonzero(~mine)
    rows = np.flatnonzero(mine)
    out = np.zeros((len(rows), y.shape[1]))
    if not len(ref):
        return out
    kk = min(k, len(ref))
    for a in range(0, len(rows), 2048):
        r = rows[a:a + 2048]
        s = x[r] @ x[ref].T
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        w = np.clip(np.take_along_axis(s, top, 1), 0, None)
        out[a:a + len(r)] = np.einsum("rk,rkc->rc", w, y[ref[top]].astype(float))
    return out


# -- one-sided binomial change-point scan -------------------------------------------------------
def _xlogy(k: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > 0, k * np.log(np.where(p > 0, p, 1)), 0.0)


def _scan(n: np.ndarray, k: np.ndarray, min_before: int) -> np.ndarray:
    """LR of "the share k/n is higher from split s on" for (..., T) series -> (..., S) over
    splits s = min_before..T-1 (0 where the share does not rise or a side is empty)."""
    cn, ck = np.cumsum(n, -1), np.cumsum(k, -1)
    nb, kb = cn[..., min_before - 1:-1], ck[..., min_before - 1:-1]
    na, ka = cn[..., -1:] - nb, ck[..., -1:] - kb
    N, K = cn[..., -1:], ck[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        pb, pa, p0 = kb / nb, ka / na, K / N
        ll = (_xlogy(kb, pb) + _xlogy(nb - kb, 1 - pb) + _xlogy(ka, pa) + _xlogy(na - ka, 1 - pa)
              - _xlogy(K, p0) - _xlogy(N - K, 1 - p0))
        ok = (nb > 0) & (na > 0) & (pa > pb)
    return np.where(ok, 2 * np.maximum(ll, 0), 0.0)


def _series(onehot: np.ndarray, prob: np.ndarray, y: np.ndarray, codes: Sequence[str]) -> list[tuple]:
    """Per-interview series of each comparison as (kind, from, to, n_t, k_t): ``n_t`` the spans
    (soft: weighted by the reference's probability) whose content the reference calls A, ``k_t``
    those of them the coder did not code A. ``out of A``: n = P(A), k = P(A) and not coded A;
    ``pair A -> B``: n = P(A), k = P(A) and coded B, not A; ``into B``: n = 1 - P(B), k = 1 - P(B)
    and coded B."""
    out = []
    not_y = 1 - y
    n_pred = onehot.T @ prob                                         # (T, C)
    w2_pred = onehot.T @ (prob * prob)                               # sums of squared weights
    k_out = onehot.T @ (prob * not_y)
    k_in = onehot.T @ ((1 - prob) * y)
    n_in = onehot.T @ (1 - prob)
    w2_in = onehot.T @ ((1 - prob) ** 2)
    for j, c in enumerate(codes):
        out.append(("out of", c, None, n_pred[:, j], k_out[:, j], w2_pred[:, j]))
        out.append(("into", None, c, n_in[:, j], k_in[:, j], w2_in[:, j]))
    pair = np.einsum("it,ia,ib->tab", onehot, prob * not_y, y)       # (T, A, B)
    for a_ in range(len(codes)):
        for b_ in range(len(codes)):
            if a_ != b_:
                out.append(("pair", codes[a_], codes[b_], n_pred[:, a_], pair[:, a_, b_], w2_pred[:, a_]))
    return out


def _cusum(n: np.ndarray, k: np.ndarray, min_before: int, w2: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-sided CUSUM change-point test of a rise in the share k/n, per (C, T) series, with a
    quasi-binomial variance: the excess from split s on, S_s = sum_{t>=s} (k_t - n_t p), over
    sqrt(phi p (1-p) N) is a Brownian bridge under "no change", whose maximum exceeds c with
    probability exp(-2 c^2). ``phi``: the interviews' Pearson chi-square around the two shares
    either side of the best split, over T - 2, at least 1 (participants differ beyond binomial
    noise). With soft counts (spans weighted by the reference's probability), ``w2``: the sums
    of squared weights, which set the binomial variance in place of ``n``. Returns (p, best
    split index into s = min_before..T-1, standardised maximum)."""
    w2 = n if w2 is None else w2
    N, K = n.sum(-1, keepdims=True), k.sum(-1, keepdims=True)
    p0 = np.where(N > 0, K / np.maximum(N, 1e-12), 0)
    excess = np.cumsum((k - n * p0)[..., ::-1], -1)[..., ::-1]          # from t on
    cand = excess[..., min_before:]
    best = np.argmax(cand, -1)
    s = best + min_before
    top = np.take_along_axis(cand, best[..., None], -1)[..., 0]
    idx = np.arange(n.shape[-1])
    after = idx[None, :] >= s[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        nb, kb = (n * ~after).sum(-1), (k * ~after).sum(-1)
        na, ka = (n * after).sum(-1), (k * after).sum(-1)
        pb, pa = kb / nb, ka / na
        fit = np.where(after, pa[:, None], pb[:, None])
        chi = np.where((w2 > 0) & (fit > 0) & (fit < 1), (k - n * fit) ** 2 / (w2 * fit * (1 - fit)), 0).sum(-1)
        used = (n > 0).sum(-1)
        phi = np.maximum(np.nan_to_num(chi / np.maximum(used - 2, 1), nan=1.0), 1.0)
        z = top / np.sqrt(phi * p0[..., 0] * (1 - p0[..., 0]) * w2.sum(-1))
    z = np.where(np.isfinite(z) & (top > 0), z, 0.0)
    return np.exp(-2 * z * z), best, z


def _minp(obs: np.ndarray, null: np.ndarray) -> tuple[float, np.ndarray]:
    """Westfall–Young min-p over columns: obs (C,), null (B, C) (larger = more extreme).
    Returns the family p and the pointwise p per column."""
    b = len(null)
    p_obs = ((null >= obs - 1e-9).sum(0) + 1) / (b + 1)
    # each permutation's pointwise p per column, by rank within the column
    srt = np.sort(null, axis=0)
    ge = b - np.stack([np.searchsorted(srt[:, j], null[:, j] - 1e-9, side="left") for j in range(null.shape[1])], 1)
    p_null = (ge + 1) / (b + 1)
    min_null = p_null.min(1) if null.shape[1] else np.ones(b)
    fam = (np.sum(min_null <= p_obs.min() + 1e-12) + 1) / (b + 1) if len(p_obs) else 1.0
    return float(min(fam, 1.0)), p_obs


def _bootstrap_change(n: np.ndarray, k: np.ndarray, split: int, n_boot: int, ci: float, rng
                      ) -> tuple[float, float]:
    """Percentile CI of k/n after minus k/n before the split (``k``: the excess of observed over
    expected), resampling interviews on each side."""
    nb, kb, na, ka = n[:split], k[:split], n[split:], k[split:]
    if nb.sum() == 0 or na.sum() == 0 or not n_boot:
        return float("nan"), float("nan")
    ib = rng.integers(0, len(nb), (n_boot, len(nb)))
    ia = rng.integers(0, len(na), (n_boot, len(na)))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = ka[ia].sum(1) / na[ia].sum(1) - kb[ib].sum(1) / nb[ib].sum(1)
    d = d[np.isfinite(d)]
    if not d.size:
        return float("nan"), float("nan")
    lo, hi = np.quantile(d, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


# -- the test ----------------------------------------------------------------------------------
def coder_drift(units: pd.DataFrame, vectors: np.ndarray, order: Mapping[str, Sequence[str]],
                codes: Sequence[str] | None = None, *, n_neighbors: int = 10, n_permutations: int = 1000,
                alpha: float = 0.05, min_units: int = 5, min_before: int = 2, n_evidence: int = 5,
                n_boot: int = 1000, ci: float = 0.95, reference: str = "earlier", smoothing: float = 1.0, null: str = "quasi",
                history=None, random_state: int = 0) -> CoderDrift:
    """Conditional drift per coder (see the module docstring).

    ``units``: one row per coded span and coder (:func:`themekit.audit.coded_units`); ``vectors``:
    a unit-length embedding row per unit; ``order``: ``{coder: [transcript ids in order]}``
    (:func:`themekit.audit.transcript_order`). ``n_neighbors``: earlier spans that vote;
    ``min_units``: a series is tested only when at least this many spans depart from the
    prediction in it overall; ``min_before``: predicted interviews needed before a change
    point; ``reference``: ``"earlier"`` (the coder's earlier interviews) or ``"others"`` (all the
    coder's other interviews); ``smoothing``: pseudo-neighbours spread as the coder's codes are;
    ``null``: ``"quasi"`` (CUSUM, quasi-binomial Brownian-bridge bound) or ``"permutation"``; ``n_evidence``: spans shown per flagged drift; ``n_boot``/``ci``: the interval of the
    change; ``history``: a :class:`~themekit.audit.codebook_history.CodebookHistory` (codebook
    changes placed in each coder's order) or None.
    """
    _check("n_neighbors", n_neighbors, isinstance(n_neighbors, (int, np.integer)) and n_neighbors >= 1,
           "an integer >= 1")
    _check("n_permutations", n_permutations,
           isinstance(n_permutations, (int, np.integer)) and n_permutations >= 19, "an integer >= 19")
    _check("alpha", alpha, isinstance(alpha, float) and 0 < alpha < 1, "a number between 0 and 1")
    _check("min_units", min_units, isinstance(min_units, (int, np.integer)) and min_units >= 1, "an integer >= 1")
    _check("null", null, null in ("quasi", "permutation"), '"quasi" or "permutation"')
    _check("reference", reference, reference in ("earlier", "others"), '"earlier" or "others"')
    _check("min_before", min_before, isinstance(min_before, (int, np.integer)) and min_before >= 1,
           "an integer >= 1")
    units, x, codes, y = units_and_codes(units, vectors, codes)
    families, pred_rows, agree_rows, cache, seqs = [], [], [], {}, {}
    several = units["coder"].nunique() > 1
    for coder, seq in order.items():
        mine = (units["coder"] == coder).to_numpy()
        present = set(units.loc[mine, "transcript_id"])
        seq = [t for t in seq if t in present]
        if len(seq) < min_before + 2:
            continue
        seqs[coder] = seq
        pos_of = {t: i for i, t in enumerate(seq)}
        sel = np.flatnonzero(mine & units["transcript_id"].map(lambda t: t in pos_of).to_numpy())
        pos = units.loc[sel, "transcript_id"].map(pos_of).to_numpy(dtype=np.int64)
        ys = y[sel]
        votes, nn, sim = _votes(x[sel], pos, ys, n_neighbors, reference)
        has_pred = votes.sum(1) > 0
        pred = np.where(has_pred, votes.argmax(1), -1)
        share = np.where(has_pred, votes.max(1) / np.maximum(votes.sum(1), 1e-12), np.nan)
        agree = np.where(has_pred, ys[np.arange(len(sel)), np.maximum(pred, 0)], False)
        other = None
        if several:
            ov = _other_votes(x, mine, y, n_neighbors)
            ov = ov[np.searchsorted(np.flatnonzero(mine), sel)]
            opred = np.where(ov.sum(1) > 0, ov.argmax(1), -1)
            other = np.where(opred >= 0, ys[np.arange(len(sel)), np.maximum(opred, 0)], False)
            other_ok = opred >= 0
        for i, u in enumerate(sel):
            pred_rows.append({"unit_id": units.at[u, "unit_id"], "coder": coder, "position": int(pos[i]) + 1,
                              "predicted": codes[pred[i]] if pred[i] >= 0 else None,
                              "vote_share": share[i], "agrees": bool(agree[i]) if has_pred[i] else None})
        # the reference's probabilities, smoothed by one pseudo-neighbour spread as the coder's
        # codes are (so a code no neighbour carries is unlikely, not impossible)
        T = len(seq)
        prior = ys.sum(0) / max(ys.sum(), 1)
        prob = (votes + smoothing * prior) / (votes.sum(1, keepdims=True) + smoothing)
        onehot = np.zeros((len(sel), T))
        onehot[np.arange(len(sel)), pos] = has_pred
        first = 1 if reference == "earlier" else 0  # the first interview has no earlier coding
        series = _series(onehot, prob, ys.astype(float), codes)
        n_t = T - first
        rng = np.random.default_rng([random_state, zlib.crc32(str(coder).encode())])
        perms = np.stack([rng.permutation(n_t) for _ in range(n_permutations)])
        for j, code in enumerate(codes):
            comps = [c for c in series if code in (c[1], c[2]) and c[4].sum() >= min_units]
            W2 = np.stack([c[5][first:] for c in comps]) if comps else None
            if not comps or n_t < min_before + 1:
                continue
            N = np.stack([c[3][first:] for c in comps])
            K = np.stack([c[4][first:] for c in comps])
            if null == "quasi":
                p_col, best_s, z = _cusum(N, K, min_before, W2)
                o = np.argsort(p_col, kind="stable")
                fam_p = float(min(1.0, np.min(p_col[o] * len(o) / np.arange(1, len(o) + 1))))   # Simes
                ci_ = int(o[0])
                split = int(best_s[ci_]) + min_before
                o1 = z
            else:
                obs = _scan(N, K, min_before)                                         # (C, S)
                nul = _scan(N[:, perms].transpose(1, 0, 2), K[:, perms].transpose(1, 0, 2), min_before)
                o1, n1 = obs.max(1), nul.max(2)           # each series' best split: (C,), (B, C)
                fam_p, p_obs = _minp(o1, n1)
                ci_ = int(np.lexsort((-o1, p_obs))[0])
                split = int(np.argmax(obs[ci_])) + min_before
            kind, a_, b_ = comps[ci_][:3]
            families.append({"coder": coder, "code": code, "kind": kind, "from_code": a_, "to_code": b_,
                             "split": split, "pos": split + first, "seq": seq, "n": N[ci_], "k": K[ci_],
                             "p": fam_p, "lr": float(o1[ci_]), "obs_zero": bool(o1[ci_] <= 0)})
        cache[coder] = {"sel": sel, "pos": pos, "pred": pred, "share": share, "x": x[sel], "prob": prob}
        # per-interview agreement with the earlier coding (and the others')
        n_i = np.bincount(pos[has_pred], minlength=T).astype(float)
        a_i = np.bincount(pos[has_pred], weights=agree[has_pred].astype(float), minlength=T)
        center = a_i.sum() / n_i.sum() if n_i.sum() else np.nan
        lcl, ucl, _ = _laney_limits(a_i, n_i, center)
        for t in range(T):
            pa = a_i[t] / n_i[t] if n_i[t] else np.nan
            sig = ""
            if np.isfinite(pa) and np.isfinite(lcl[t]):
                sig = "below" if pa < lcl[t] - 1e-12 else "above" if pa > ucl[t] + 1e-12 else ""
            ao = np.nan
            if other is not None:
                m = (pos == t) & other_ok
                ao = float(other[m].mean()) if m.any() else np.nan
            agree_rows.append({"coder": coder, "transcript_id": seq[t], "position": t + 1, "n_units": int(n_i[t]),
                               "agree_earlier": pa, "center": center, "lcl": lcl[t], "ucl": ucl[t], "signal": sig,
                               "agree_others": ao, "flagged": False})
    if history is not None:
        coded_at = None
        if units["order"].notna().any():
            coded_at = pd.DataFrame({"transcript_id": units["transcript_id"], "coder": units["coder"],
                                     "date": units["order"]})
        history.place(seqs, coded_at)
    table, evidence = _flag(families, units, codes, cache, alpha, n_evidence, n_boot, ci, history,
                            np.random.default_rng(random_state))
    agreement = pd.DataFrame(agree_rows, columns=CODER_AGREEMENT_COLUMNS)
    if len(agreement):
        starts = {(r.coder, r.change_at) for r in table[table.flagged].itertuples()}
        agreement["flagged"] = [(c, t) in starts for c, t in zip(agreement.coder, agreement.transcript_id)]
        agreement = agreement.astype({"flagged": bool, "n_units": "int64", "position": "int64"})
    settings = {"n_neighbors": int(n_neighbors), "null": null, "reference": reference, "smoothing": smoothing,
                "n_permutations": int(n_permutations), "alpha": alpha,
                "min_units": int(min_units), "min_before": int(min_before), "random_state": random_state,
                "codebook_history": None if history is None else history.describe()}
    return CoderDrift(table, evidence, agreement, pd.DataFrame(pred_rows), settings)


def _flag(families, units, codes, cache, alpha, n_evidence, n_boot, ci, history, rng):
    rows, ev = [], []
    q = benjamini_hochberg([f["p"] for f in families]) if families else np.zeros(0)
    order = np.argsort([f["p"] for f in families], kind="stable")
    taken: list[dict] = []
    for i in order:
        f, qf = families[i], float(q[i])
        n, k, s = f["n"], f["k"], f["split"]
        nb, kb, na, ka = n[:s].sum(), k[:s].sum(), n[s:].sum(), k[s:].sum()
        sb = kb / nb if nb else np.nan
        sa = ka / na if na else np.nan
        flagged = qf <= alpha and not f["obs_zero"]
        status, event = "", ""
        involved = {c for c in (f["from_code"], f["to_code"]) if c} | {f["code"]}
        if flagged:
            same = next((t for t in taken if t["coder"] == f["coder"] and abs(t["pos"] - f["pos"]) <= 1
                         and involved & t["involved"]), None)
            if same is not None:
                flagged, status = False, f"same change as {same['id']}"
            else:
                ev_hit = history.event_near(f["coder"], involved, f["pos"], f["seq"]) if history is not None else None
                status = "drift" if ev_hit is None else "follows codebook change"
                event = ev_hit or ""
        lo, hi = _bootstrap_change(n, k, s, n_boot, ci, rng) if flagged else (np.nan, np.nan)
        drift_id = ""
        if flagged:
            drift_id = f"D{len(taken) + 1}"
            taken.append({"coder": f["coder"], "pos": f["pos"], "involved": involved, "id": drift_id})
            ev.extend(_evidence(drift_id, f, units, codes, cache[f["coder"]], n_evidence))
        rows.append({"drift_id": drift_id, "coder": f["coder"], "code": f["code"], "kind": f["kind"],
                     "from_code": f["from_code"], "to_code": f["to_code"], "change_at": f["seq"][f["pos"]],
                     "position": f["pos"] + 1, "n_before": float(nb), "k_before": float(kb), "share_before": sb,
                     "n_after": float(na), "k_after": float(ka), "share_after": sa, "change": sa - sb,
                     "change_low": lo, "change_high": hi, "statistic": f["lr"], "p_value": f["p"], "q_value": qf,
                     "flagged": bool(flagged), "status": status, "codebook_event": event})
    table = pd.DataFrame(rows, columns=CODER_DRIFT_COLUMNS)
    table = table.astype({"flagged": bool})
    return table, pd.DataFrame(ev, columns=EVIDENCE_COLUMNS)


def _evidence(drift_id, f, units, codes, c, n_evidence) -> list[dict]:
    """Spans from the change on that the reference predicts as A but the coder coded B (per the
    flagged series), most confidently predicted first, each with its three nearest A-coded spans
    from before the change (the coder's earlier use of A)."""
    sel, pos, xs, prob = c["sel"], c["pos"], c["x"], c["prob"]
    coded = [set(units.at[u, "codes"]) for u in sel]
    idx = {code: j for j, code in enumerate(codes)}
    a, b = f["from_code"], f["to_code"]
    after = np.flatnonzero(pos >= f["pos"])
    if f["kind"] == "pair":   # coded B (not A), most A-like first
        cand = [i for i in after if b in coded[i] and a not in coded[i]]
        key = {i: prob[i, idx[a]] / (prob[i, idx[a]] + prob[i, idx[b]]) for i in cand}
    elif f["kind"] == "into":  # coded B, least B-like first
        cand = [i for i in after if b in coded[i]]
        key = {i: 1 - prob[i, idx[b]] for i in cand}
    else:                      # not coded A, most A-like first
        cand = [i for i in after if a not in coded[i]]
        key = {i: prob[i, idx[a]] for i in cand}
    cand = sorted(cand, key=lambda i: -key[i])
    rows = []
    for i in cand[:n_evidence]:
        u = sel[i]
        p = a if a is not None else codes[int(np.argmax(np.where([c_ in coded[i] for c_ in codes], -1, prob[i])))]
        to = b if b is not None else "; ".join(sorted(coded[i]))
        earlier = np.flatnonzero((pos < f["pos"]) & np.array([p in cs for cs in coded]))
        sims = xs[earlier] @ xs[i] if len(earlier) else np.zeros(0)
        nbrs = earlier[np.argsort(-sims, kind="stable")[:3]]
        base = {"drift_id": drift_id, "coder": f["coder"], "from_code": p, "to_code": to,
                "unit_id": units.at[u, "unit_id"], "transcript_id": units.at[u, "transcript_id"],
                "start": int(units.at[u, "start"]), "end": int(units.at[u, "end"]), "text": units.at[u, "text"],
                "coded": "; ".join(sorted(coded[i])), "predicted": p, "vote_share": float(prob[i, idx[p]]),
                "evidence_score": float(key[i])}
        if not len(nbrs):
            rows.append({**base, "neighbour_rank": np.nan, "neighbour_unit_id": None, "neighbour_transcript_id": None,
                         "neighbour_start": np.nan, "neighbour_end": np.nan, "neighbour_text": None,
                         "neighbour_codes": None, "similarity": np.nan})
        for r, j in enumerate(nbrs):
            v = sel[j]
            rows.append({**base, "neighbour_rank": r + 1, "neighbour_unit_id": units.at[v, "unit_id"],
                         "neighbour_transcript_id": units.at[v, "transcript_id"],
                         "neighbour_start": int(units.at[v, "start"]), "neighbour_end": int(units.at[v, "end"]),
                         "neighbour_text": units.at[v, "text"], "neighbour_codes": "; ".join(sorted(coded[j])),
                         "similarity": float(xs[j] @ xs[i])})
    return rows


# -- figure ------------------------------------------------------------------------------------
def coder_chart(agreement: pd.DataFrame, coder: str, model: pd.DataFrame | None = None,
                flagged: pd.DataFrame | None = None):
    """One coder's agreement with their own earlier coding, interview by interview, with
    Laney p′ control limits; the other coders' coding and the model (percent agreement per
    interview from :func:`themekit.audit.model_agreement`) beside it; interviews where a flagged
    drift starts marked (hover: the drift)."""
    import plotly.graph_objects as go

    d = agreement[agreement["coder"] == coder].sort_values("position")
    if d.empty:
        raise ValueError(f"no coder agreement rows for coder {coder!r}")
    x = d["transcript_id"].astype(str).tolist()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=d["agree_earlier"], mode="lines+markers", name="with own earlier coding",
                             customdata=d["n_units"], hovertemplate="%{x}<br>agreement %{y:.1%}<br>"
                             "%{customdata} spans<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=d["center"], mode="lines", name="centre", line=dict(color="grey", dash="dot")))
    for col, name in (("ucl", "control limits (Laney p′)"), ("lcl", None)):
        fig.add_trace(go.Scatter(x=x, y=d[col], mode="lines", name=name or "", showlegend=name is not None,
                                 legendgroup="limits", line=dict(color="firebrick", dash="dash", shape="hvh")))
    if d["agree_others"].notna().any():
        fig.add_trace(go.Scatter(x=x, y=d["agree_others"], mode="lines+markers", name="with other coders' coding",
                                 line=dict(dash="dashdot")))
    if model is not None and len(model):
        m = model[(model["coder"] == coder) & (model["transcript_id"].isin(x))]
        if len(m):
            m = m.set_index("transcript_id").reindex(x)
            fig.add_trace(go.Scatter(x=x, y=m["percent_agreement"], mode="lines+markers", name="with the model",
                                     line=dict(dash="dot")))
    if flagged is not None and len(flagged):
        f = flagged[(flagged["coder"] == coder) & flagged["flagged"]]
        if len(f):
            at = d.set_index("transcript_id")["agree_earlier"]
            text = [f"{r.drift_id}: {_describe(r)} ({r.status}; q={r.q_value:.3f})" for r in f.itertuples()]
            fig.add_trace(go.Scatter(x=f["change_at"].astype(str), y=at.reindex(f["change_at"]).to_numpy(),
                                     mode="markers", marker=dict(symbol="x", size=14, color="firebrick"),
                                     name="drift starts here", text=text,
                                     hovertemplate="%{x}: %{text}<extra></extra>"))
    fig.update_layout(title=f"Coding consistency — {coder}", height=440, template="plotly_white",
                      xaxis_title="interview (in order)", yaxis_title="share of spans agreeing",
                      yaxis=dict(tickformat=".0%"), margin=dict(l=60, r=30, t=70, b=50))
    return fig


def _describe(r) -> str:
    if r.kind == "pair":
        return f"{r.to_code!r} where {r.from_code!r} was coded before"
    if r.kind == "into":
        return f"{r.to_code!r} used more broadly"
    return f"{r.from_code!r} given up for other codes"
