"""Cosine k-nearest neighbours of L2-normalised vectors, computed once and handed to UMAP.

UMAP finds neighbours itself: below 4,096 points by a full distance matrix through a
per-pair Python callable for ``metric="cosine"`` (seconds to tens of seconds on a few thousand
utterances), above by NN-descent. For normalised vectors cosine similarity is a dot product, so
the exact neighbours are a few matrix products in blocks; discovery's layouts and the report's
map both pass them as ``precomputed_knn``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXACT_KNN_MAX", "exact_knn", "approximate_knn", "cosine_knn"]

#: above this many points, approximate neighbours (NN-descent, computed once)
EXACT_KNN_MAX = 20_000


def exact_knn(x: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k-nearest neighbours of the rows of ``x`` (L2-normalised; self first), in
    blocks of ``block`` rows: (indices, distances), in order of similarity, then index. Which
    of several points tied at the k-th place is kept is not by index, but it is deterministic
    (the same input gives the same neighbours)."""
    n = len(x)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, block):
        sim = x[s:s + block] @ x.T
        rows = np.arange(sim.shape[0])
        sim[rows, s + rows] = np.inf            # self always first
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        psim = np.take_along_axis(sim, part, 1)
        order = np.lexsort((part, -psim), axis=1)   # by similarity, then index: deterministic
        idx[s:s + block] = np.take_along_axis(part, order, 1)
        d = 1.0 - np.take_along_axis(psim, order, 1)
        d[:, 0] = 0.0
        dist[s:s + block] = np.clip(d, 0.0, 2.0)
    return idx, dist


def approximate_knn(x: np.ndarray, k: int, random_state: np.random.RandomState):
    """Approximate cosine k-nearest neighbours (NN-descent, single-threaded: reproducible)."""
    from ..common.compiled import umap_module
    umap_module()
    from umap.umap_ import nearest_neighbors
    idx, dist, _ = nearest_neighbors(x, k, "cosine", {}, False, random_state, low_memory=True,
                                     use_pynndescent=True, n_jobs=1, verbose=False)
    return idx, dist


def cosine_knn(x: np.ndarray, k: int, random_state: np.random.RandomState):
    """Exact neighbours up to :data:`EXACT_KNN_MAX` points, approximate above."""
    return exact_knn(x, k) if len(x) <= EXACT_KNN_MAX else approximate_knn(x, k, random_state)
