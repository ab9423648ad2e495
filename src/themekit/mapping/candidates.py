"""Candidate codes (from discovery) related to the codebook codes of a fitted mapper.

:func:`map_candidates` says, per candidate code, which codebook code it matches — *matched*,
*ambiguous* (two or more codes about as close) or *emergent* (none: a candidate new code);
:func:`unsupported_codes` lists the codebook codes that the data does not support.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .model import CodeMapper, _check

__all__ = ["map_candidates", "unsupported_codes", "STATUSES", "CANDIDATE_COLUMNS"]

STATUSES = ("matched", "ambiguous", "emergent")


def _candidate_members(candidates) -> tuple[list[str], dict[str, list[str]] | None, dict[str, np.ndarray] | None,
                                            dict[str, str]]:
    """(candidate ids, members by id or None, centroids by id or None, labels by id)."""
    from ..embed import Embeddings

    labels: dict[str, str] = {}
    if isinstance(candidates, Embeddings):
        return list(candidates.ids), None, {i: candidates.vectors[k] for k, i in enumerate(candidates.ids)}, {}
    if isinstance(candidates, Mapping):
        members = {str(k): [str(u) for u in v] for k, v in candidates.items()}
        return list(members), members, None, {}
    members = getattr(candidates, "members", None)
    centroids = getattr(candidates, "centroids", None)
    table = getattr(candidates, "codes", None)
    assignments = getattr(candidates, "assignments", None)
    if members is None and isinstance(assignments, pd.DataFrame):   # themekit.discover.themes.DiscoveryResult
        members = assignments[assignments["code"].notna() & (assignments["code"] != "")]
    if members is None and centroids is None:
        raise TypeError("candidates must be a discovery result (with members and/or centroids), a mapping "
                        "candidate id -> utterance ids, or Embeddings of candidate centroids; got "
                        f"{type(candidates).__name__}")
    if callable(members):
        members = members()
    if isinstance(members, pd.DataFrame):   # long form: candidate/code id + utterance_id
        key = next((c for c in ("code_id", "candidate_id", "code", "topic", "cluster") if c in members.columns), None)
        if key is None or "utterance_id" not in members.columns:
            raise ValueError("a members table needs utterance_id and code_id (or candidate_id) columns")
        members = {str(k): list(map(str, g["utterance_id"])) for k, g in members.groupby(key, sort=False)}
    elif members is not None:
        members = {str(k): [str(u) for u in v] for k, v in dict(members).items()}
    if isinstance(centroids, Embeddings):
        centroids = {i: centroids.vectors[k] for k, i in enumerate(centroids.ids)}
    elif centroids is not None:
        centroids = {str(k): np.asarray(v, dtype=np.float64) for k, v in dict(centroids).items()}
    if isinstance(table, pd.DataFrame):
        key = next((c for c in ("code_id", "candidate_id", "id") if c in table.columns), None)
        lab = next((c for c in ("label", "name", "title") if c in table.columns), None)
        if key is not None and lab is not None:
            labels = {str(k): str(v) for k, v in zip(table[key], table[lab])}
    ids = list(members) if members is not None else list(centroids)
    return ids, members, centroids, labels


def map_candidates(candidates, mapper: CodeMapper, *, tau: float = 1.0, delta: float = 0.25,
                   exclude: Iterable[str] = ("-1", "outliers"),
                   labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Relate candidate codes to the codebook codes of a fitted ``mapper``.

    ``candidates``: a :class:`themekit.discover.themes.DiscoveryResult` (its ``assignments`` and
    ``codes`` tables), any object with ``members`` (candidate id -> utterance ids) and/or
    ``centroids``, a mapping candidate id -> utterance ids, or :class:`Embeddings` of
    centroids. Candidate ids in ``exclude`` (the outlier group) are skipped; ``labels``
    (candidate id -> label) fills the ``label`` column where the candidates carry none.

    Score of candidate ``k`` for code ``c``: how many standard deviations its utterances'
    prior scores for ``c`` lie above the corpus average for ``c`` (mean member z-score; with
    centroids only: the centroid's score, standardised the same way). The calibration is the
    corpus itself, so ``tau`` reads "a typical member is one SD more like this code than a
    typical utterance". Status: *matched* — best ≥ ``tau`` and the runner-up is more than
    ``delta`` below it or under ``tau``; *ambiguous* — two or more codes ≥ ``tau`` within
    ``delta`` of the best; *emergent* — no code reaches ``tau`` (a candidate new code).

    Returns one row per candidate and codebook code it resembles, sorted by candidate then
    rank: ``candidate, label, n_members, status, code, score, rank, fit``. ``status`` is the
    candidate's and stands on its first row only; ``fit`` is the row's code: ``best match``,
    ``as close as the best`` (within ``delta``: why a candidate is ambiguous), ``close`` (score
    >= ``tau``, more than ``delta`` below the best) or, for an emergent candidate's single row,
    ``nearest (below tau)``. ``result.attrs["matrix"]`` is the full candidate x code score matrix.
    """
    mapper._check_fitted()
    _check("tau", tau, isinstance(tau, (int, float)), "a number")
    _check("delta", delta, isinstance(delta, (int, float)) and delta >= 0, "a number >= 0")
    ids, members, centroids, found = _candidate_members(candidates)
    labels = {**{str(k): str(v) for k, v in (labels or {}).items()}, **found}
    skip = {str(e) for e in exclude}
    ids = [i for i in ids if i not in skip]
    prior = mapper.prior_
    mu, sd = prior.mean(axis=0).to_numpy(), prior.std(axis=0).to_numpy()
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (prior.to_numpy() - mu) / sd
    pos = {u: i for i, u in enumerate(prior.index)}
    rows_m, n_members = [], []
    for cid in ids:
        if members is not None:
            rows = [pos[u] for u in members.get(cid, []) if u in pos]
            n_members.append(len(rows))
            if rows:
                rows_m.append(z[rows].mean(axis=0))
                continue
            if centroids is None or cid not in centroids:
                rows_m.append(np.full(len(mapper.codes_), np.nan))
                continue
        else:
            n_members.append(0)
        c = np.asarray(centroids[cid], dtype=np.float64)[None, :]
        x = mapper._finish(c)
        pr, _ = mapper._prior(x)
        rows_m.append((pr[0] - mu) / sd)
    m = np.vstack(rows_m) if rows_m else np.zeros((0, len(mapper.codes_)))
    matrix = pd.DataFrame(m, index=pd.Index(ids, name="candidate"), columns=list(mapper.codes_))
    out = []
    for r, cid in enumerate(ids):
        out.extend(_candidate_rows(cid, labels.get(cid, ""), n_members[r], m[r], mapper.codes_, tau, delta))
    df = pd.DataFrame(out, columns=CANDIDATE_COLUMNS)
    df.attrs["matrix"] = matrix
    df.attrs["tau"], df.attrs["delta"] = tau, delta
    return df


CANDIDATE_COLUMNS = ["candidate", "label", "n_members", "status", "code", "score", "rank", "fit"]


def _candidate_rows(cid: str, label: str, n: int, s: np.ndarray, codes, tau: float, delta: float) -> list[tuple]:
    """The rows of one candidate: the codes it resembles; its status on the first row only."""
    order = np.argsort(-np.nan_to_num(s, nan=-np.inf), kind="stable")
    best = s[order[0]]
    if np.isnan(best) or best < tau:
        return [(cid, label, n, "emergent", codes[order[0]], float(best), 1, "nearest (below tau)")]
    near = [j for j in order if not np.isnan(s[j]) and s[j] >= tau]
    tied = [j for j in near if best - s[j] <= delta]
    status = "ambiguous" if len(tied) >= 2 else "matched"
    rows = []
    for rank, j in enumerate(near, 1):
        fit = "best match" if rank == 1 else ("as close as the best" if j in tied else "close")
        rows.append((cid, label, n, status if rank == 1 else "", codes[j], float(s[j]), rank, fit))
    return rows


def unsupported_codes(mapper: CodeMapper, candidate_mapping: pd.DataFrame | None = None, *,
                      min_support: int = 1) -> pd.DataFrame:
    """Codebook coverage: per code, its support in the data, and whether it has any.

    A code is *supported* when at least ``min_support`` utterances have it as their top,
    non-abstained suggestion, or it has seeds, or (with ``candidate_mapping`` from
    :func:`map_candidates`) a matched or ambiguous candidate code ranks it first or within
    ``delta`` of the first. Codes with no support are a finding in themselves (a construct with
    no data). Columns: the :meth:`CodeMapper.support` columns, ``candidates`` (the candidate
    codes pointing at it) and ``supported``.
    """
    out = mapper.support()
    pointing: dict[str, list[str]] = {c: [] for c in mapper.codes_}
    if candidate_mapping is not None and len(candidate_mapping):
        delta = candidate_mapping.attrs.get("delta", 0.25)
        tau = candidate_mapping.attrs.get("tau", 1.0)
        for cid, g in candidate_mapping.groupby("candidate", sort=False):
            if g.sort_values("rank")["status"].iloc[0] == "emergent":
                continue
            best = g["score"].max()
            for code, s in zip(g["code"], g["score"]):
                if s >= tau and best - s <= delta:
                    pointing[code].append(str(cid))
    out["candidates"] = out["code"].map(lambda c: "|".join(pointing.get(c, [])))
    out["supported"] = (out["n_top"] >= min_support) | (out["n_seeds"] > 0) | (out["candidates"] != "")
    return out
