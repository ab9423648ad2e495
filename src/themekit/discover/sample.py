"""Discovery on large corpora: fit on a stratified sample, then assign every unit by a stated rule.

Above ``CodeDiscoverer(fit_sample_size=...)`` units (default 30,000), the consensus of
:mod:`.cluster` is fitted on a sample and the other units are placed afterwards:

1. **Sample**, stratified by transcript (:func:`stratified_sample`): each transcript gives a
   share of the sample proportional to its number of units (largest remainders, ties broken by
   a seeded draw), and within a transcript the units are drawn at random with ``random_state``.
2. **Fit** the consensus codes on the sample exactly as for a small study (reduce, cluster,
   agree, refine, reassign outliers): its codes, centroids and outlier threshold.
3. **Assign** every unit outside the sample by the rule that step 4 of :mod:`.cluster` applies
   to outliers: it joins the code whose centroid (the sample's code centroids, unit length) is
   most cosine-similar if that similarity is at least the fitted outlier threshold, else it is
   an outlier. ``assignment`` says ``"assigned"`` for a unit placed this way; units in the
   sample keep "core", "reassigned" or "outlier" as the fit decided.
4. **Stability on all units**: each consensus run's clusters are extended to the other units
   by the same rule (centroid of the run's cluster in the embedding space; threshold: the 5th
   percentile of the run's cluster members' similarity to their own centroid), so a code's
   stability — the mean co-association of its members across runs — counts every unit placed
   in it ("core" and "assigned"), not only the sample.

Assignment works on chunks of units, each independent of the others, so a mapper
(:mod:`themekit.common.parallel`; e.g. a Dask cluster through :mod:`themekit.scale`) can
spread them; the result is the same with any mapper. Memory: the vectors (n x d), one chunk's
similarities (chunk x codes) and the run labels (runs x n): linear in the corpus.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from ..common.parallel import Mapper, local_map, row_chunks
from .consensus import centroids_of

__all__ = ["stratified_sample", "run_centroids", "assign_chunk", "assign_all", "ASSIGN_CHUNK"]

#: units per assignment task
ASSIGN_CHUNK = 16_384
_RUN_QUANTILE = 0.05      # as the "auto" outlier threshold of the consensus codes


def stratified_sample(groups: Sequence, size: int, random_state: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` units drawn in proportion to each group's (transcript's) size;
    all indices if ``size >= len(groups)``. Deterministic for a given ``random_state``."""
    groups = np.asarray([str(g) for g in groups])
    n = len(groups)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be an int >= 1; got {size!r}")
    if size >= n:
        return np.arange(n)
    rs = np.random.RandomState(random_state)
    names, group = np.unique(groups, return_inverse=True)
    counts = np.bincount(group, minlength=len(names))
    quota = counts * (size / n)
    take = np.floor(quota).astype(np.int64)
    frac = quota - take
    tiebreak = rs.random_sample(len(names))
    extra = np.lexsort((tiebreak, -frac))[: size - int(take.sum())]
    take[extra] += 1
    # a random rank within each group: the first take[g] ranks of group g are drawn
    order = np.lexsort((rs.random_sample(n), group))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[group[order]]
    return np.flatnonzero(rank < take[group])


def run_centroids(x: np.ndarray, runs: np.ndarray, quantile: float = _RUN_QUANTILE):
    """Per consensus run: its clusters' unit-length centroids in the embedding space and the
    similarity threshold of step 4 (None for a run without clusters)."""
    out = []
    for r in runs:
        k = int(r.max()) + 1 if (r >= 0).any() else 0
        if k == 0:
            out.append((np.zeros((0, x.shape[1]), np.float32), None))
            continue
        c = centroids_of(x, r, k)
        members = np.flatnonzero(r >= 0)
        own = np.einsum("ij,ij->i", x[members], c[r[members]])
        out.append((c, float(np.quantile(own, quantile))))
    return out


def _nearest(sims: np.ndarray, threshold: float | None):
    if sims.shape[1] == 0 or threshold is None:
        return np.full(len(sims), -1, np.int64), np.zeros(len(sims), np.float32)
    best = sims.argmax(1)
    score = sims[np.arange(len(sims)), best]
    return np.where(score >= threshold, best, -1).astype(np.int64), score.astype(np.float32)


def assign_chunk(x: np.ndarray, centroids: np.ndarray, threshold: float | None,
                 runs: Sequence[tuple[np.ndarray, float | None]] = ()):
    """Nearest-centroid-with-threshold for one chunk of unit vectors (rows L2-normalised):
    (labels (-1: outlier), similarity to the nearest code centroid, labels per run)."""
    labels, score = _nearest(x @ centroids.T, threshold)
    run_labels = np.stack([_nearest(x @ c.T, t)[0] for c, t in runs]) if len(runs) else \
        np.zeros((0, len(x)), np.int64)
    return labels, score, run_labels


def _assign_task(x: np.ndarray, centroids, threshold, runs):
    return assign_chunk(x, centroids, threshold, runs)


def assign_all(x: np.ndarray, centroids: np.ndarray, threshold: float | None,
               runs: Sequence[tuple[np.ndarray, float | None]] = (), *, mapper: Mapper | None = None,
               chunk: int = ASSIGN_CHUNK):
    """:func:`assign_chunk` over all rows of ``x``, in chunks of ``chunk`` rows run by ``mapper``."""
    n = len(x)
    labels = np.full(n, -1, np.int64)
    score = np.zeros(n, np.float32)
    run_labels = np.full((len(runs), n), -1, np.int64)
    parts = row_chunks(n, chunk)
    fn = functools.partial(_assign_task, centroids=centroids, threshold=threshold, runs=list(runs))
    for sl, (lab, sc, rl) in zip(parts, (mapper or local_map)(fn, (x[sl] for sl in parts))):
        labels[sl], score[sl], run_labels[:, sl] = lab, sc, rl
    return labels, score, run_labels
