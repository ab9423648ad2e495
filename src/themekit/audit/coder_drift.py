"""Coder drift: the same kind of passage, a different code.

The marginal statistics of :mod:`themekit.audit.drift` (a code's prevalence and centroid per
window) move whenever participants talk about different things. Here the content is held
fixed: the question is whether the coder's *choice for a given content* changes from some
interview on (the statistics: :mod:`themekit.audit.content_scan`).

1. **Content model.** Per coder, a ridge one-vs-rest model of the codes on the span embeddings,
   cross-fitted over interviews (each interview scored by a model of the coder's other
   interviews): how A-like or B-like a passage is, as this coder codes.
2. **Comparisons.** *Into B*: over all the coder's spans, is B given more (or less) often than
   the content says, from some interview on ("B used more broadly" / "B given up")? *Pair
   A -> B*: over the spans coded A or B (not both), is B chosen more often for the same
   A-vs-B-like content (the boundary between neighbouring codes slides)? Pairs are each code
   with its ``n_pairs`` nearest codes by centroid, so few comparisons are made.
3. **Change point and its null.** Each comparison's per-interview excess of observed over
   content-expected codes is scanned by a two-sided CUSUM; under "no change in the coder" it
   is a Brownian bridge once divided by its quasi-binomial standard error (``2 exp(-2 z^2)``
   bounds the p-value); the dispersion (interviews' Pearson chi-square around the two-level
   fit, at least 1) absorbs participants who differ, and a change needs ``min_before``
   interviews before it and ``min_after`` from it on. Within a code, its comparisons are
   combined by Simes' test; across codes (and coders), Benjamini–Hochberg
   (:func:`themekit.audit.drift.benjamini_hochberg`; ``correction="holm"``: Holm's family-wise
   adjustment, which admits no further codes once one is flagged, at some cost in power). A
   code with ``q <= alpha`` is flagged at
   the split of its strongest comparison; a second flagged code describing the same change (a
   code in common, change point within one interview) is folded into the first.
4. **Size and evidence.** The share before and after (observed), the change in the share
   *beyond what the content explains* with a percentile bootstrap interval over interviews,
   and the spans behind it: from the change on, coded B though the content model calls them
   least B-like (most A-like for a pair), each with its nearest earlier A-coded spans
   (verbatim, transcript id and offsets).
5. **Codebook changes are not drift.** With a :class:`~themekit.audit.codebook_history.CodebookHistory`,
   a flagged change whose code had a definition change, rename, merge or creation placed within
   one interview of the change point is reported with ``status="follows codebook change"``.

Beside the test, as description: per coder and interview, the share of spans whose code is the
one their ``n_neighbors`` most similar spans from the coder's *earlier* interviews vote for
(and, with several coders, the others' coding), with Laney p′ control limits — the chart.
Units are coded spans; passages no one coded are not seen, so "broader use" is seen among the
coded spans (a span that carried another code now carries B).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .coded import units_and_codes
from .content_scan import P_VALUES, Series, coder_series
from .drift import _laney_limits, benjamini_hochberg, holm

CORRECTIONS = {"bh": benjamini_hochberg, "holm": holm}

__all__ = ["coder_drift", "CoderDrift", "coder_chart", "CORRECTIONS", "CODER_DRIFT_COLUMNS", "EVIDENCE_COLUMNS",
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
        ref = np.flatnonzero(pos < t if reference == "earlier" else pos != t)
        if not len(ref):
            continue
        kk = min(k, len(ref))
        # rows in blocks: memory stays (block x spans), however long one transcript is
        all_rows = np.flatnonzero(pos == t)
        for a in range(0, len(all_rows), 2048):
            rows = all_rows[a:a + 2048]
            _vote_block(x, y, rows, ref, kk, votes, nn, sim)
    return votes, nn, sim


def _vote_block(x, y, rows, ref, kk, votes, nn, sim) -> None:
    """Fill ``votes``/``nn``/``sim`` for ``rows`` from their ``kk`` nearest ``ref`` rows."""
    s = x[rows] @ x[ref].T
    top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
    ts = np.take_along_axis(s, top, 1)
    o = np.argsort(-ts, axis=1, kind="stable")
    top, ts = np.take_along_axis(top, o, 1), np.take_along_axis(ts, o, 1)
    nn[rows, :kk] = ref[top]
    sim[rows, :kk] = ts
    w = np.clip(ts, 0, None)
    votes[rows] = np.einsum("rk,rkc->rc", w, y[ref[top]].astype(float))


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


def _bootstrap_change(n: np.ndarray, r: np.ndarray, split: int, n_boot: int, ci: float, rng
                      ) -> tuple[float, float]:
    """Percentile CI of the excess share (``r``: observed minus content-expected, per interview)
    after minus before the split, resampling interviews on each side."""
    nb, rb, na, ra = n[:split], r[:split], n[split:], r[split:]
    if nb.sum() == 0 or na.sum() == 0 or not n_boot:
        return float("nan"), float("nan")
    ib = rng.integers(0, len(nb), (n_boot, len(nb)))
    ia = rng.integers(0, len(na), (n_boot, len(na)))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = ra[ia].sum(1) / na[ia].sum(1) - rb[ib].sum(1) / nb[ib].sum(1)
    d = d[np.isfinite(d)]
    if not d.size:
        return float("nan"), float("nan")
    lo, hi = np.quantile(d, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def _simes(p: np.ndarray) -> float:
    p = np.sort(np.asarray(p, dtype=float))
    return float(min(1.0, np.min(p * len(p) / np.arange(1, len(p) + 1))))


# -- the test ----------------------------------------------------------------------------------
def coder_drift(units: pd.DataFrame, vectors: np.ndarray, order: Mapping[str, Sequence[str]],
                codes: Sequence[str] | None = None, *, n_pairs: int = 3, ridge: float = 1.0, alpha: float = 0.05,
                min_units: int = 5, min_before: int = 2, min_after: int = 2, n_neighbors: int = 10,
                n_evidence: int = 5, n_boot: int = 1000, ci: float = 0.95, history=None, mapper=None,
                p_value: str = "bound", correction: str = "bh", random_state: int = 0) -> CoderDrift:
    """Conditional drift per coder (see the module docstring).

    ``units``: one row per coded span and coder (:func:`themekit.audit.coded_units`); ``vectors``:
    a unit-length embedding row per unit; ``order``: ``{coder: [transcript ids in order]}``
    (:func:`themekit.audit.transcript_order`). ``n_pairs``: each code is compared with its
    ``n_pairs`` nearest codes (centroid cosine); ``ridge``: penalty of the content model;
    ``min_units``: a comparison is tested only when at least this many of its spans carry the
    code and this many do not; ``min_before`` / ``min_after``: interviews needed before a change
    point and from it on; ``n_neighbors``: earlier spans that vote in the agreement chart;
    ``n_evidence``: spans shown per flagged drift; ``n_boot``/``ci``: the interval of the change;
    ``history``: a :class:`~themekit.audit.codebook_history.CodebookHistory` (codebook changes
    placed in each coder's order) or None; ``mapper``: ``mapper(fn, items)`` running the coders
    (default: builtin map; see :mod:`themekit.common.parallel`); ``p_value``: "bound" (the
    continuous bridge's tail bound, conservative) or "exact" (the discrete bridge over the
    allowed splits; see :mod:`themekit.audit.content_scan`); ``correction``: across codes, "bh"
    (Benjamini–Hochberg, false discovery rate) or "holm" (family-wise error rate).
    """
    for name, value, low in (("n_pairs", n_pairs, 1), ("min_units", min_units, 1), ("min_before", min_before, 1),
                             ("min_after", min_after, 1), ("n_neighbors", n_neighbors, 1), ("n_boot", n_boot, 0)):
        _check(name, value, isinstance(value, (int, np.integer)) and value >= low, f"an integer >= {low}")
    _check("alpha", alpha, isinstance(alpha, float) and 0 < alpha < 1, "a number between 0 and 1")
    _check("ridge", ridge, isinstance(ridge, (int, float)) and ridge > 0, "a number > 0")
    _check("p_value", p_value, p_value in P_VALUES, " or ".join(map(repr, P_VALUES)))
    _check("correction", correction, correction in CORRECTIONS, " or ".join(map(repr, CORRECTIONS)))
    units, x, codes, y = units_and_codes(units, vectors, codes)
    families, pred_rows, agree_rows, cache, seqs, items = [], [], [], {}, {}, []
    several = units["coder"].nunique() > 1
    for coder, seq in order.items():
        mine = (units["coder"] == coder).to_numpy()
        present = set(units.loc[mine, "transcript_id"])
        seq = [t for t in seq if t in present]
        if len(seq) < min_before + min_after:
            continue
        seqs[coder] = seq
        pos_of = {t: i for i, t in enumerate(seq)}
        sel = np.flatnonzero(mine & units["transcript_id"].map(lambda t: t in pos_of).to_numpy())
        pos = units.loc[sel, "transcript_id"].map(pos_of).to_numpy(dtype=np.int64)
        cache[coder] = {"sel": sel, "pos": pos, "x": x[sel], "seq": seq}
        items.append((x[sel], pos, y[sel], len(seq)))
    run = partial(coder_series, n_pairs=n_pairs, ridge=ridge, min_units=min_units, min_before=min_before,
                  min_after=min_after, p_value=p_value)
    results = list((mapper or map)(run, items))
    for (coder, c), series in zip(cache.items(), results):
        c["series"] = series
        sel, pos, seq = c["sel"], c["pos"], c["seq"]
        ys = y[sel]
        for j, code in enumerate(codes):
            comps = [s_ for s_ in series if j in (s_.a, s_.b)]
            if not comps:
                continue
            best = min(comps, key=lambda s_: (s_.p_value, -s_.z))
            families.append({"coder": coder, "code": code, "series": best, "p": _simes([s_.p_value for s_ in comps]),
                             "seq": seq, "pos": best.split, **_orient(best, codes)})
        _agreement(coder, c, ys, units, x, y, codes, several, n_neighbors, pred_rows, agree_rows)
    if history is not None:
        coded_at = None
        if units["order"].notna().any():
            coded_at = pd.DataFrame({"transcript_id": units["transcript_id"], "coder": units["coder"],
                                     "date": units["order"]})
        history.place(seqs, coded_at)
    table, evidence = _flag(families, units, codes, cache, alpha, n_evidence, n_boot, ci, history,
                            np.random.default_rng(random_state), CORRECTIONS[correction])
    agreement = pd.DataFrame(agree_rows, columns=CODER_AGREEMENT_COLUMNS)
    if len(agreement):
        starts = {(r.coder, r.change_at) for r in table[table.flagged].itertuples()}
        agreement["flagged"] = [(c, t) in starts for c, t in zip(agreement.coder, agreement.transcript_id)]
        agreement = agreement.astype({"flagged": bool, "n_units": "int64", "position": "int64"})
    settings = {"test": "content-conditional CUSUM (quasi-binomial), Simes within a code, "
                        + ("BH" if correction == "bh" else "Holm") + " across codes",
                "p_value": p_value, "correction": correction,
                "n_pairs": int(n_pairs), "ridge": float(ridge), "alpha": alpha, "min_units": int(min_units),
                "min_before": int(min_before), "min_after": int(min_after), "n_neighbors": int(n_neighbors),
                "n_comparisons": int(sum(len(c["series"]) for c in cache.values())),
                "random_state": random_state,
                "codebook_history": None if history is None else history.describe()}
    return CoderDrift(table, evidence, agreement, pd.DataFrame(pred_rows), settings)


def _orient(s: Series, codes: Sequence[str]) -> dict:
    """The comparison as the table reads it: ``kind``, ``from_code`` -> ``to_code`` (the code
    chosen more often from the change on), and per interview ``n``, ``k`` (spans carrying
    ``to_code``, or for "out of" not carrying ``from_code``), ``r`` (their excess over the
    content model)."""
    if s.kind == "pair":
        a, b = codes[s.a], codes[s.b]
        if s.direction > 0:
            return {"kind": "pair", "from_code": a, "to_code": b, "n": s.n, "k": s.k, "r": s.r}
        return {"kind": "pair", "from_code": b, "to_code": a, "n": s.n, "k": s.n - s.k, "r": -s.r}
    if s.direction > 0:
        return {"kind": "into", "from_code": None, "to_code": codes[s.b], "n": s.n, "k": s.k, "r": s.r}
    return {"kind": "out of", "from_code": codes[s.b], "to_code": None, "n": s.n, "k": s.n - s.k, "r": -s.r}


def _agreement(coder, c, ys, units, x, y, codes, several, n_neighbors, pred_rows, agree_rows) -> None:
    """Per span: the code its nearest earlier spans vote for; per interview: the share agreeing
    (and with the other coders' coding), with Laney p′ limits — description for the chart."""
    sel, pos, seq = c["sel"], c["pos"], c["seq"]
    votes, _, _ = _votes(c["x"], pos, ys, n_neighbors, "earlier")
    has_pred = votes.sum(1) > 0
    pred = np.where(has_pred, votes.argmax(1), -1)
    share = np.where(has_pred, votes.max(1) / np.maximum(votes.sum(1), 1e-12), np.nan)
    agree = np.where(has_pred, ys[np.arange(len(sel)), np.maximum(pred, 0)], False)
    other = other_ok = None
    if several:
        mine = (units["coder"] == coder).to_numpy()
        ov = _other_votes(x, mine, y, n_neighbors)[np.searchsorted(np.flatnonzero(mine), sel)]
        opred = np.where(ov.sum(1) > 0, ov.argmax(1), -1)
        other = np.where(opred >= 0, ys[np.arange(len(sel)), np.maximum(opred, 0)], False)
        other_ok = opred >= 0
    for i, u in enumerate(sel):
        pred_rows.append({"unit_id": units.at[u, "unit_id"], "coder": coder, "position": int(pos[i]) + 1,
                          "predicted": codes[pred[i]] if pred[i] >= 0 else None,
                          "vote_share": share[i], "agrees": bool(agree[i]) if has_pred[i] else None})
    T = len(seq)
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


def _flag(families, units, codes, cache, alpha, n_evidence, n_boot, ci, history, rng, adjust=benjamini_hochberg):
    rows, ev = [], []
    q = adjust([f["p"] for f in families]) if families else np.zeros(0)
    order = np.argsort([f["p"] for f in families], kind="stable")
    taken: list[dict] = []
    for i in order:
        f, qf = families[i], float(q[i])
        n, k, r, s = f["n"], f["k"], f["r"], f["pos"]
        nb, kb, na, ka = n[:s].sum(), k[:s].sum(), n[s:].sum(), k[s:].sum()
        sb = kb / nb if nb else np.nan
        sa = ka / na if na else np.nan
        change = (r[s:].sum() / na if na else np.nan) - (r[:s].sum() / nb if nb else np.nan)
        flagged = qf <= alpha and f["series"].z > 0
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
        lo, hi = _bootstrap_change(n, r, s, n_boot, ci, rng) if flagged else (np.nan, np.nan)
        drift_id = ""
        if flagged:
            drift_id = f"D{len(taken) + 1}"
            taken.append({"coder": f["coder"], "pos": f["pos"], "involved": involved, "id": drift_id})
            ev.extend(_evidence(drift_id, f, units, codes, cache[f["coder"]], n_evidence))
        rows.append({"drift_id": drift_id, "coder": f["coder"], "code": f["code"], "kind": f["kind"],
                     "from_code": f["from_code"], "to_code": f["to_code"], "change_at": f["seq"][f["pos"]],
                     "position": f["pos"] + 1, "n_before": float(nb), "k_before": float(kb), "share_before": sb,
                     "n_after": float(na), "k_after": float(ka), "share_after": sa, "change": change,
                     "change_low": lo, "change_high": hi, "statistic": f["series"].z, "p_value": f["p"],
                     "q_value": qf, "flagged": bool(flagged), "status": status, "codebook_event": event})
    table = pd.DataFrame(rows, columns=CODER_DRIFT_COLUMNS)
    table = table.astype({"flagged": bool})
    return table, pd.DataFrame(ev, columns=EVIDENCE_COLUMNS)


def _evidence(drift_id, f, units, codes, c, n_evidence) -> list[dict]:
    """Spans from the change on behind the flagged comparison, the clearest first: for a pair
    A -> B, coded B though the content model finds them most A-like; for "into B", coded B
    though least B-like; for "out of A", not coded A though most A-like. Each with its three
    nearest spans coded A (the earlier code; for "into B", the span's code) from before the
    change: the coder's earlier use."""
    sel, pos, xs, s_ = c["sel"], c["pos"], c["x"], f["series"]
    coded = [set(units.at[u, "codes"]) for u in sel]
    a, b = f["from_code"], f["to_code"]
    rows_, p = s_.rows, s_.p                       # p: P(the series' code B | content)
    after = pos[rows_] >= f["pos"]
    if f["kind"] == "pair":      # coded to_code; P(to_code) = p if not flipped
        p_to = p if codes[s_.b] == b else 1 - p
        mask = after & np.array([b in coded[i] for i in rows_])
        key = 1 - p_to
    elif f["kind"] == "into":
        mask = after & np.array([b in coded[i] for i in rows_])
        key = 1 - p
    else:
        mask = after & np.array([a not in coded[i] for i in rows_])
        key = p
    cand = np.flatnonzero(mask)
    cand = cand[np.argsort(-key[cand], kind="stable")][:n_evidence]
    out = []
    for ci_ in cand:
        i = int(rows_[ci_])
        u = sel[i]
        earlier_code = a if a is not None else "; ".join(sorted(coded[i] - {b})) or None
        to = b if b is not None else "; ".join(sorted(coded[i])) or "(none)"
        ref = a if a is not None else next(iter(sorted(coded[i] - {b})), None)
        earlier = np.flatnonzero((pos < f["pos"]) & np.array([ref is not None and ref in cs for cs in coded]))
        sims = xs[earlier] @ xs[i] if len(earlier) else np.zeros(0)
        nbrs = earlier[np.argsort(-sims, kind="stable")[:3]]
        base = {"drift_id": drift_id, "coder": f["coder"], "from_code": earlier_code, "to_code": to,
                "unit_id": units.at[u, "unit_id"], "transcript_id": units.at[u, "transcript_id"],
                "start": int(units.at[u, "start"]), "end": int(units.at[u, "end"]), "text": units.at[u, "text"],
                "coded": "; ".join(sorted(coded[i])), "predicted": ref, "vote_share": float(key[ci_]),
                "evidence_score": float(key[ci_])}
        if not len(nbrs):
            out.append({**base, "neighbour_rank": np.nan, "neighbour_unit_id": None, "neighbour_transcript_id": None,
                        "neighbour_start": np.nan, "neighbour_end": np.nan, "neighbour_text": None,
                        "neighbour_codes": None, "similarity": np.nan})
        for rank, j in enumerate(nbrs):
            v = sel[j]
            out.append({**base, "neighbour_rank": rank + 1, "neighbour_unit_id": units.at[v, "unit_id"],
                        "neighbour_transcript_id": units.at[v, "transcript_id"],
                        "neighbour_start": int(units.at[v, "start"]), "neighbour_end": int(units.at[v, "end"]),
                        "neighbour_text": units.at[v, "text"], "neighbour_codes": "; ".join(sorted(coded[j])),
                        "similarity": float(xs[j] @ xs[i])})
    return out


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
