"""Consensus over several clusterings: co-association of units across runs, average-linkage
(UPGMA) cut of the co-association graph, code centroids, and how often a code's members stay
together (stability).
"""

from __future__ import annotations

import logging

import numpy as np

from ..embed import normalize_rows

__all__ = ["centroids_of", "coassociation"]

log = logging.getLogger("themekit")

_ATOMS_MAX = 6_000        # co-association on at most this many distinct label patterns


def _consensus(runs: np.ndarray, threshold: float = 0.5):
    """Average-linkage consensus of label vectors (rows of ``runs``); see module docstring.

    Exact shortcuts: an utterance that is noise in at least half the runs can never be grouped
    at a strict majority, so it is an outlier straight away; utterances clustered identically in
    every run ("atoms") are merged first (their distance is 0), so the clustering runs on atoms
    weighted by size. Only when more than ``_ATOMS_MAX`` atoms remain (very large corpora) are
    utterances with the same pattern of clusters and noise merged as well (an approximation,
    logged).
    """
    n_runs, n = runs.shape
    out = np.full(n, -1, dtype=np.int64)
    keep = np.flatnonzero((runs >= 0).sum(0) * 2 > n_runs)
    if len(keep) == 0:
        return out
    sub = runs[:, keep]
    # noise is never "together": each noise label becomes unique to its utterance
    keyed = np.where(sub >= 0, sub, -1 - np.arange(len(keep))[None, :]).T
    patterns, atom_of, sizes = np.unique(keyed, axis=0, return_inverse=True, return_counts=True)
    if len(patterns) > _ATOMS_MAX:
        log.info("consensus: %d distinct patterns; merging utterances with equal cluster-and-noise "
                 "patterns (approximate)", len(patterns))
        patterns, atom_of, sizes = np.unique(np.where(sub >= 0, sub, -1).T, axis=0,
                                             return_inverse=True, return_counts=True)
        if len(patterns) > _ATOMS_MAX:
            raise MemoryError(f"{len(patterns)} distinct cluster patterns across runs is too many "
                              "for consensus clustering; use fewer n_stability_runs or a larger "
                              "min_code_size")
    atom_of = atom_of.ravel()
    m = len(patterns)
    co = np.zeros((m, m), dtype=np.float32)
    for r in range(n_runs):
        p = patterns[:, r]
        co += (p[:, None] == p[None, :]) & (p[:, None] >= 0)
    co /= n_runs
    groups = _upgma_cut(1.0 - co, sizes.astype(np.float64), threshold)
    out[keep] = groups[atom_of]
    return out


def _upgma_cut(dist: np.ndarray, weights: np.ndarray, threshold: float) -> np.ndarray:
    """Flat clusters of weighted average linkage: merge while the closest pair is < threshold."""
    m = len(dist)
    d = dist.astype(np.float64).copy()
    np.fill_diagonal(d, np.inf)
    w = weights.copy()
    group = np.arange(m)
    active = np.ones(m, dtype=bool)
    rowmin = d.min(1)
    rowarg = d.argmin(1)
    while True:
        i = int(np.argmin(np.where(active, rowmin, np.inf)))
        if not active[i] or rowmin[i] >= threshold:
            break
        j = int(rowarg[i])
        i, j = min(i, j), max(i, j)
        new = (w[i] * d[i] + w[j] * d[j]) / (w[i] + w[j])
        new[i] = new[j] = np.inf
        new[~active] = np.inf
        d[i, :] = new
        d[:, i] = new
        d[j, :] = np.inf
        d[:, j] = np.inf
        w[i] += w[j]
        active[j] = False
        group[group == j] = i
        rowmin[j] = np.inf
        stale = active & ((rowarg == i) | (rowarg == j))
        stale[i] = True
        for k in np.flatnonzero(stale):
            rowarg[k] = int(np.argmin(d[k]))
            rowmin[k] = d[k, rowarg[k]]
        better = active & (new < rowmin)
        rowmin[better] = new[better]
        rowarg[better] = i
    _, labels = np.unique(group, return_inverse=True)
    return labels


def centroids_of(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Unit-length mean vector of each group 0..k-1 (zeros for a group without members)."""
    c = np.zeros((k, x.shape[1]), dtype=np.float32)
    for g in range(k):
        members = labels == g
        if members.any():   # an empty group keeps a zero vector
            c[g] = x[members].mean(0)
    return normalize_rows(c)


def coassociation(runs: np.ndarray, members: np.ndarray) -> float:
    """Mean co-association of pairs of ``members`` over the runs (rows of ``runs``): the share
    of runs putting two members in the same (non-noise) cluster. NaN for one run; 1.0 for one member."""
    runs = np.asarray(runs)
    if runs.shape[0] < 2:
        return float("nan")
    s = len(members)
    if s < 2:
        return 1.0
    together = 0.0
    for r in runs:
        lab = r[members]
        cnt = np.bincount(lab[lab >= 0]).astype(np.float64)
        together += (cnt * (cnt - 1)).sum()
    return float(together / (runs.shape[0] * s * (s - 1)))
