"""Candidate codes from utterance embeddings: reduce, cluster, agree over seeds, refine, reassign outliers.

:class:`CodeDiscoverer` is an sklearn-style estimator; :func:`discover` is the one-call version.

How a partition is made (``fit``):

1. **Reduce** the L2-normalised embeddings with UMAP (cosine, 5 dimensions, ``min_dist=0``),
   ``n_stability_runs`` times with seeds drawn from ``random_state`` (``"auto"``: see
   :func:`auto_stability_runs`). What does not depend on
   the seed is computed once and shared: the k-nearest-neighbour graph (exact up to 20,000
   utterances, NN-descent above) and UMAP's spectral initialisation (eigenvectors of that
   graph's Laplacian). Each run then optimises the layout from that shared start with a low
   initial learning rate (0.25; UMAP's default is 1.0), 150 epochs and 3 negative samples per
   edge (UMAP: 5; an epoch costs a third less, and the epochs saved go into convergence).
   The runs therefore differ by the noise of the optimisation rather than by where an early,
   large step happened to throw a cluster. On three public coded corpora (SERDIF, AnnoMI,
   TalkMoves; mean pairwise ARI of the codes of 8 seeds) this, with step 4, raised the agreement
   between seeds from about 0.74/0.64/0.75 to 0.91/0.81/0.79 at the same cost and the same
   agreement with the human codes; short runs from independent starts agree less, even pooled.
2. **Cluster** each run with HDBSCAN (``min_cluster_size`` = ``min_code_size``, 'eom').
3. **Agree** (consensus clustering): two utterances' co-association is the share of runs that put
   them in the same cluster; codes are the groups of average-linkage clustering on
   ``1 - co-association`` cut where groups are together in a strict majority of runs. Groups
   smaller than ``min_code_size`` become outliers. A code's **stability** is the mean
   co-association of pairs of its core members (1.0: together in every run).
4. **Refine and reassign outliers** (``outlier_rule="nearest-centroid"``): starting from the
   consensus codes, up to three nearest-centroid steps in the original embedding space (each
   utterance joins the code whose centroid, the mean embedding of its members, is most
   cosine-similar; centroids are recomputed), so the boundaries between codes are settled on
   the embeddings themselves rather than on the layouts. Utterances the runs left unclustered
   join a code only if their similarity to its centroid is at least ``outlier_threshold``;
   ``"auto"`` uses the 5th percentile of the consensus members' similarity to their own code's
   centroid — an outlier joins only if it is at least as close as the least typical 5% of the
   code members found by clustering. The rest stay outliers. A code left with fewer than
   ``min_code_size`` members is dissolved into the others. ``assignment_`` says "core" for an
   utterance in the code the runs agreed on, "reassigned" for one placed by this step.
   ``outlier_rule="none"`` keeps the consensus codes as they are.

**Large corpora** (more than ``fit_sample_size`` utterances, default 20,000): the steps above
run on a sample stratified by transcript, and every other utterance joins the nearest code
centroid if it is at least as similar as the outlier threshold (``assignment_`` "assigned");
stability is computed on all utterances. See :mod:`themekit.discover.sample`. ``fit_mask_``
says which utterances were in the fit; the manifest records the sample. Smaller studies are
fitted on all their utterances, exactly as described above.

Reducer and clusterer are swappable: anything with ``fit_transform`` (reducer; ``None`` for the
default UMAP, ``"none"`` to cluster the embeddings directly) and ``fit_predict`` or ``labels_``
(clusterer, label ``-1`` for noise). Components with a ``random_state`` parameter get each run's seed.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any, Sequence

import numpy as np

from ..embed import normalize_rows
from ..types import Corpus, Utterance
from ..common.compiled import precomputed_neighbours_quietly, umap_module
from .consensus import _consensus, centroids_of, coassociation
from .neighbours import EXACT_KNN_MAX as _EXACT_KNN_MAX
from .neighbours import approximate_knn as _approximate_knn
from .neighbours import exact_knn as _exact_knn

__all__ = ["CodeDiscoverer", "discover", "auto_min_code_size", "auto_stability_runs", "coassociation"]

log = logging.getLogger("themekit")

# UMAP layout of each run (default reducer), see module docstring, step 1
_N_EPOCHS = 150
_LEARNING_RATE = 0.25
_NEGATIVE_SAMPLE_RATE = 3
_REFINE_STEPS = 3         # nearest-centroid assignment steps after consensus, see step 4
# n_jobs=-1 runs in parallel from this many utterances: a worker process takes a few seconds to
# start (imports; UMAP's compiled code comes from numba's disk cache, common.compiled), a run
# ~0.4 ms per utterance; below this the workers cost more than they save. (A pipeline run puts
# a smaller study's whole discovery in a second process beside the mapping instead.)
_PARALLEL_MIN = 10_000
FIT_SAMPLE_SIZE = 20_000  # above this, fit on a stratified sample and assign the rest
# The spectral start solves an eigenproblem per connected component of the k-NN graph (and one
# for their layout); on graphs with many components that cost grows far faster than the graph.
# Above these sizes the shared start is the graph-free PCA start instead (see _spectral_init).
_SPECTRAL_MAX_COMPONENTS = 100


def auto_min_code_size(n: int) -> int:
    """Smallest candidate code: ``max(5, round(sqrt(n) / 4))`` — 5 for up to ~500 utterances,
    11 for 1,800, 25 for 10,000, 79 for 100,000: codes grow with the corpus, but slower than
    it, so a large study still gets fine-grained codes rather than a few broad topics."""
    return max(5, int(round(math.sqrt(max(n, 0)) / 4)))


def auto_stability_runs(n: int) -> int:
    """Consensus runs for ``n`` utterances: ``clip(round(9000 / n), 6, 12)``, a roughly fixed
    budget (6 runs of 1,500 utterances). More runs make the codes less dependent on
    ``random_state``; small studies, where a single run is least stable, get up to 12 because
    each run is cheap there, and large corpora keep 6 (where agreement between seeds levelled
    off on the public corpora in ``bench/bench_discover.py``; a run of UMAP on 2,000 utterances
    takes about 0.6 s on 2 CPU cores). On the 526 utterances of ``data/example``, 12 runs
    instead of 6 raise the agreement between seeds from 0.72 to 0.83 (pairwise ARI)."""
    return int(min(12, max(6, round(9000 / max(n, 1)))))


class CodeDiscoverer:
    """Candidate codes from utterance embeddings (see module docstring).

    Parameters
    ----------
    reducer : object, None or "none"
        ``fit_transform`` dimension reducer; None: UMAP as described (skipped for corpora of
        fewer than ~13 utterances, too few for a layout); "none": no reduction.
    clusterer : object or None
        ``fit_predict`` clusterer; None: HDBSCAN(min_cluster_size=min_code_size).
    min_code_size : int or None
        Fewest utterances of a candidate code; None: :func:`auto_min_code_size`.
    n_stability_runs : int or "auto"
        Runs with different seeds agreed on (1: a single run, stability reported as NaN);
        "auto": :func:`auto_stability_runs`.
    outlier_rule : "nearest-centroid" or "none"
        "nearest-centroid": refine the consensus codes and reassign outliers (step 4);
        "none": keep the consensus codes and outliers as the runs found them.
    outlier_threshold : "auto" or float in [-1, 1]
        Cosine similarity an outlier needs to its nearest code centroid to join it.
    n_neighbors : int or None
        UMAP neighbourhood (default reducer only); None: ``min(30, max(10, n // 20))``.
    n_components : int
        UMAP dimensions (default reducer only).
    random_state : int
        Seed of everything stochastic; the same value gives the same codes.
    n_jobs : int or None
        Processes for the consensus runs (joblib): -1 (default) every available core from
        10,000 utterances on, one below (a worker process needs about ten seconds to start and
        compile UMAP's layout code: more than the runs of a smaller study take); an int uses
        that many whatever the size; None or 1 one at a time. Each run has its own seed drawn from
        ``random_state`` and the runs are combined in seed order, so the codes are the same
        whatever the number of processes; it is therefore not recorded with the settings.
    fit_sample_size : int or None
        Above this many utterances, fit on a sample of this size stratified by transcript and
        assign the others (see "Large corpora" above); None: always fit on all utterances.
    """

    _params = ("reducer", "clusterer", "min_code_size", "n_stability_runs", "outlier_rule",
               "outlier_threshold", "n_neighbors", "n_components", "random_state", "n_jobs",
               "fit_sample_size")

    def __init__(self, reducer: Any = None, clusterer: Any = None, min_code_size: int | None = None,
                 n_stability_runs: int | str = "auto", outlier_rule: str = "nearest-centroid",
                 outlier_threshold: str | float = "auto", n_neighbors: int | None = None,
                 n_components: int = 5, random_state: int = 0, n_jobs: int | None = -1,
                 fit_sample_size: int | None = FIT_SAMPLE_SIZE):
        self.reducer = reducer
        self.clusterer = clusterer
        self.min_code_size = min_code_size
        self.n_stability_runs = n_stability_runs
        self.outlier_rule = outlier_rule
        self.outlier_threshold = outlier_threshold
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.fit_sample_size = fit_sample_size

    # -- sklearn conventions ----------------------------------------------------------------
    def get_params(self, deep: bool = False) -> dict:
        return {p: getattr(self, p) for p in self._params}

    def set_params(self, **params) -> "CodeDiscoverer":
        for k, v in params.items():
            if k not in self._params:
                raise ValueError(f"CodeDiscoverer has no parameter {k!r}; valid: {', '.join(self._params)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"CodeDiscoverer({args})"

    def _validate_params(self, n: int) -> None:
        def bad(name, must, got):
            raise ValueError(f"CodeDiscoverer: {name} must be {must}; got {got!r}")

        def is_int(v):
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        if self.min_code_size is not None and (not is_int(self.min_code_size) or self.min_code_size < 2):
            bad("min_code_size", "None or an int >= 2", self.min_code_size)
        runs = self.n_stability_runs
        if not (runs == "auto" or (is_int(runs) and 1 <= runs <= 100)):
            bad("n_stability_runs", "'auto' or an int from 1 to 100", runs)
        if self.outlier_rule not in ("nearest-centroid", "none"):
            bad("outlier_rule", "'nearest-centroid' or 'none'", self.outlier_rule)
        t = self.outlier_threshold
        if not (t == "auto" or (isinstance(t, numbers.Real) and not isinstance(t, bool) and -1 <= t <= 1)):
            bad("outlier_threshold", "'auto' or a cosine similarity in [-1, 1]", t)
        if self.n_neighbors is not None and (not is_int(self.n_neighbors) or self.n_neighbors < 2):
            bad("n_neighbors", "None or an int >= 2", self.n_neighbors)
        if not is_int(self.n_components) or self.n_components < 1:
            bad("n_components", "an int >= 1", self.n_components)
        if not is_int(self.random_state) or self.random_state < 0:
            bad("random_state", "an int >= 0", self.random_state)
        if not (self.n_jobs is None or (is_int(self.n_jobs) and self.n_jobs != 0)):
            bad("n_jobs", "None, -1 (all cores) or an int >= 1", self.n_jobs)
        if self.fit_sample_size is not None and (not is_int(self.fit_sample_size) or self.fit_sample_size < 100):
            bad("fit_sample_size", "None or an int >= 100", self.fit_sample_size)
        r = self.reducer
        if not (r is None or r == "none" or hasattr(r, "fit_transform")):
            bad("reducer", "None, 'none' or an object with fit_transform", r)
        c = self.clusterer
        if not (c is None or hasattr(c, "fit_predict") or hasattr(c, "fit")):
            bad("clusterer", "None or an object with fit_predict (or fit and labels_)", c)
        if n < 2:
            raise ValueError(f"CodeDiscoverer: need at least 2 utterances to discover codes; got {n}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise RuntimeError("this CodeDiscoverer is not fitted yet; call fit(utterances, embeddings) first")

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, utterances: Sequence[Utterance] | Corpus, embeddings, *, mapper=None) -> "CodeDiscoverer":
        """Learn candidate codes. ``embeddings``: :class:`themekit.embed.Embeddings` covering
        the utterances (matched by id) or an (n, d) array in the utterances' order. ``mapper``
        (:mod:`themekit.common.parallel`, e.g. ``themekit.scale.DaskMapper``) runs the assignment
        of a large corpus in chunks; the result does not depend on it.

        Sets ``labels_`` (code index per utterance, -1 outlier), ``assignment_`` ("core",
        "reassigned", "outlier"), ``scores_`` (cosine to the assigned — or, for outliers, the
        nearest — code centroid), ``stability_`` (per code), ``centroids_``, ``min_code_size_``,
        ``outlier_threshold_``, ``utterances_``, ``vectors_``, ``run_labels_`` (n_runs x n),
        ``fit_mask_`` (True for the utterances the codes were fitted on) and ``result_`` (a
        :class:`themekit.discover.themes.DiscoveryResult`).
        """
        utts = list(utterances.select() if isinstance(utterances, Corpus) else utterances)
        x = _vectors_for(utts, embeddings)
        n = len(utts)
        self._validate_params(n)
        if self.fit_sample_size is not None and n > self.fit_sample_size:
            return self._fit_sampled(utts, x, mapper)
        self.fit_mask_ = np.ones(n, dtype=bool)
        mcs = self.min_code_size if self.min_code_size is not None else auto_min_code_size(n)
        mcs = min(mcs, n)
        n_runs = auto_stability_runs(n) if self.n_stability_runs == "auto" else self.n_stability_runs
        seeds = np.random.RandomState(self.random_state).randint(0, 2**31 - 1, size=n_runs)
        shared = self._shared_layout(x)
        runs = np.stack(self._runs(x, mcs, seeds, shared))
        core = runs[0].copy() if len(runs) == 1 else _consensus(runs)
        core = _drop_small_and_order(core, mcs)
        labels, assignment, scores, centroids, thr = _reassign(
            x, core, self.outlier_rule, self.outlier_threshold, min_size=mcs)
        k = int(labels.max()) + 1 if (labels >= 0).any() else 0
        stability = np.array([coassociation(runs, _stability_members(labels, assignment, c))
                              for c in range(k)])
        self.min_code_size_ = mcs
        self.n_stability_runs_ = n_runs
        self.outlier_threshold_ = thr
        self.run_labels_ = runs
        self.labels_ = labels
        self.assignment_ = assignment
        self.scores_ = scores
        self.centroids_ = centroids
        self.stability_ = stability
        self.utterances_ = tuple(utts)
        self.vectors_ = x
        from .themes import DiscoveryResult
        self.result_ = DiscoveryResult.from_partition(
            utts, x, labels, assignment, run_labels=runs, params=self._manifest())
        return self

    def fit_predict(self, utterances, embeddings) -> np.ndarray:
        return self.fit(utterances, embeddings).labels_

    def _fit_sampled(self, utts: list[Utterance], x: np.ndarray, mapper) -> "CodeDiscoverer":
        """Fit on a stratified sample, assign the rest (module docstring, "Large corpora")."""
        from .sample import assign_all, run_centroids, stratified_sample

        n = len(utts)
        idx = stratified_sample([u.transcript_id for u in utts], self.fit_sample_size, self.random_state)
        log.info("discovery: fitting on a sample of %d of %d utterances (stratified by transcript), "
                 "then assigning the rest to the nearest code centroid", len(idx), n)
        sub = CodeDiscoverer(**{**self.get_params(), "fit_sample_size": None})
        sub.fit([utts[i] for i in idx], x[idx])
        rest = np.setdiff1d(np.arange(n), idx)
        thr = sub.outlier_threshold_
        lab, sc, rl = assign_all(x[rest], sub.centroids_, thr, run_centroids(sub.vectors_, sub.run_labels_),
                                 mapper=mapper)
        labels = np.full(n, -1, np.int64)
        labels[idx], labels[rest] = sub.labels_, lab
        scores = np.zeros(n, np.float32)
        scores[idx], scores[rest] = sub.scores_, sc
        assignment = np.empty(n, dtype=object)
        assignment[idx] = sub.assignment_
        assignment[rest] = np.where(lab >= 0, "assigned", "outlier")
        runs = np.full((len(sub.run_labels_), n), -1, np.int64)
        runs[:, idx], runs[:, rest] = sub.run_labels_, rl
        # codes renumbered by their size in the whole corpus, as in a small study
        final = _drop_small_and_order(labels, 1)
        k = int(final.max()) + 1 if (final >= 0).any() else 0
        old = np.array([labels[np.flatnonzero(final == c)[0]] for c in range(k)], dtype=np.int64)
        fit_mask = np.zeros(n, dtype=bool)
        fit_mask[idx] = True
        self.min_code_size_ = sub.min_code_size_
        self.n_stability_runs_ = sub.n_stability_runs_
        self.outlier_threshold_ = thr
        self.run_labels_ = runs
        self.labels_ = final
        self.assignment_ = assignment
        self.scores_ = scores
        self.centroids_ = sub.centroids_[old] if k else sub.centroids_
        self.stability_ = np.array([coassociation(runs, _stability_members(final, assignment, c))
                                    for c in range(k)])
        self.utterances_ = tuple(utts)
        self.vectors_ = x
        self.fit_mask_ = fit_mask
        from .themes import DiscoveryResult
        self.result_ = DiscoveryResult.from_partition(
            utts, x, final, assignment, run_labels=runs, params=self._manifest(), fit_mask=fit_mask)
        return self

    def _manifest(self) -> dict:
        p = {k: (v if v is None or isinstance(v, (str, int, float)) else repr(v))
             for k, v in self.get_params().items() if k != "n_jobs"}   # no effect on results
        # recorded where it decided something, so small studies' manifests stay as they were
        if self.fit_sample_size is not None and not getattr(self, "fit_mask_", np.ones(1, bool)).all():
            fit = self.fit_mask_
            p["fit_sample"] = {
                "n_fit": int(fit.sum()), "n_utterances": int(len(fit)),
                "sampling": f"stratified by transcript, random_state {self.random_state}",
                "others": "nearest code centroid if cosine >= outlier_threshold_ (assignment 'assigned'), "
                          "else outlier",
                "listed_in": "assignments (column in_fit)"}
        else:
            p.pop("fit_sample_size", None)
        p["min_code_size_"] = self.min_code_size_
        p["n_stability_runs_"] = self.n_stability_runs_
        p["outlier_threshold_"] = round(float(self.outlier_threshold_), 6) \
            if self.outlier_threshold_ is not None else None
        return p

    def _runs(self, x: np.ndarray, mcs: int, seeds: np.ndarray, shared: dict | None) -> list[np.ndarray]:
        """The consensus runs' labels, in seed order, on up to ``n_jobs`` processes. A run
        depends only on its seed and the shared layout, so where it runs cannot change it."""
        n_jobs = _effective_jobs(self.n_jobs, len(seeds), len(x))
        if n_jobs == 1:
            return [self._one_run(x, mcs, int(s), i, shared) for i, s in enumerate(seeds)]
        from joblib import Parallel, delayed

        # processes (loky), not threads: UMAP's layout (numba) and HDBSCAN hold the GIL. joblib
        # limits each worker's BLAS threads so the processes do not oversubscribe the cores.
        return Parallel(n_jobs=n_jobs)(delayed(self._one_run)(x, mcs, int(s), i, shared)
                                       for i, s in enumerate(seeds))

    def _one_run(self, x: np.ndarray, mcs: int, seed: int, i: int, shared=None) -> np.ndarray:
        z = self._reduce(x, seed, shared)
        clusterer = self._clusterer(mcs, seed)
        if hasattr(clusterer, "fit_predict"):
            labels = clusterer.fit_predict(z)
        else:
            labels = clusterer.fit(z).labels_
        labels = np.asarray(labels, dtype=np.int64)
        log.debug("run %d (seed %d): %d clusters, %d noise", i, seed, labels.max() + 1, (labels < 0).sum())
        return labels

    def _shared_layout(self, x: np.ndarray) -> dict | None:
        """What every run of the default reducer shares: neighbourhood size, dimensions, the
        k-nearest-neighbour graph and the spectral initialisation. None: no layout (custom or
        "none" reducer, or too few utterances)."""
        if self.reducer is not None:
            return None
        n = len(x)
        nn = self.n_neighbors or min(30, max(10, n // 20))
        nn = max(2, min(nn, n - 1))
        dims = min(self.n_components, max(1, n - 2))
        if n <= nn + 2 or n <= dims + 1:   # too few points for a layout: documented in the class
            return None
        rs = np.random.RandomState(self.random_state)
        knn = _exact_knn(x, nn) if n <= _EXACT_KNN_MAX else _approximate_knn(x, nn, rs)
        return {"n_neighbors": nn, "dims": dims, "knn": knn,
                "init": _spectral_init(x, knn, nn, dims, rs)}

    def _reduce(self, x: np.ndarray, seed: int, shared: dict | None = None) -> np.ndarray:
        if isinstance(self.reducer, str) and self.reducer == "none":
            return x
        if self.reducer is not None:
            return np.asarray(_with_seed(self.reducer, seed).fit_transform(x))
        if shared is None:
            shared = self._shared_layout(x)
        if shared is None:
            return x
        try:
            UMAP = umap_module().UMAP
        except ImportError:  # pragma: no cover - umap-learn is a dependency
            raise RuntimeError("the default reducer needs umap-learn: pip install umap-learn") from None
        idx, dist = shared["knn"]
        init = shared["init"]
        umap = UMAP(n_neighbors=shared["n_neighbors"], n_components=shared["dims"], min_dist=0.0,
                    metric="cosine", n_epochs=_N_EPOCHS, learning_rate=_LEARNING_RATE,
                    negative_sample_rate=_NEGATIVE_SAMPLE_RATE,
                    init=init if init is not None else "spectral", random_state=seed,
                    # copies: UMAP marks disconnected neighbours in these arrays in place, and
                    # in a worker process of the parallel runs they are read-only memory maps
                    precomputed_knn=(idx.copy(), dist.copy(), None))
        with precomputed_neighbours_quietly("discovery"):
            return umap.fit_transform(x)

    def _clusterer(self, mcs: int, seed: int):
        if self.clusterer is not None:
            return _with_seed(self.clusterer, seed)
        import hdbscan
        return hdbscan.HDBSCAN(min_cluster_size=mcs, cluster_selection_method="eom")


# -- helpers ------------------------------------------------------------------------------------
def _effective_jobs(n_jobs: int | None, n_runs: int, n: int) -> int:
    """Processes to use: ``n_jobs`` (negative: the cores this process may use, counted as
    joblib does, from ``_PARALLEL_MIN`` utterances on), at most one per run."""
    if n_jobs is None or n_runs <= 1:
        return 1
    if n_jobs < 0:
        if n < _PARALLEL_MIN:
            return 1
        from joblib import cpu_count

        n_jobs = max(1, cpu_count() + 1 + n_jobs)
    return max(1, min(n_jobs, n_runs))


def _stability_members(labels: np.ndarray, assignment: np.ndarray, code: int) -> np.ndarray:
    """A code's core (and assigned) members (as :class:`~themekit.discover.themes.DiscoveryResult`
    counts them), or all its members if none is core."""
    members = np.flatnonzero(labels == code)
    core = members[np.isin(assignment[members], ("core", "assigned"))]
    return core if len(core) else members


def _vectors_for(utts: list[Utterance], embeddings) -> np.ndarray:
    ids = [u.id for u in utts]
    if hasattr(embeddings, "subset") and hasattr(embeddings, "vectors"):
        v = np.asarray(embeddings.subset(ids).vectors, dtype=np.float32)
    else:
        v = np.asarray(embeddings, dtype=np.float32)
        if v.ndim != 2 or len(v) != len(utts):
            raise ValueError(f"embeddings must have one row per utterance: got shape {v.shape} for "
                             f"{len(utts)} utterances")
    if not np.all(np.isfinite(v)):
        raise ValueError("embeddings contain NaN or infinite values")
    return normalize_rows(v)


def _with_seed(component, seed: int):
    try:
        from sklearn.base import clone
        c = clone(component)
    except Exception:
        import copy
        c = copy.deepcopy(component)
    if hasattr(c, "get_params") and "random_state" in c.get_params():
        c.set_params(random_state=seed)
    elif hasattr(c, "random_state"):
        c.random_state = seed
    return c


def _spectral_init(x: np.ndarray, knn, k: int, dims: int, random_state: np.random.RandomState):
    """UMAP's spectral initialisation (eigenvectors of the fuzzy k-NN graph's Laplacian, scaled
    as UMAP scales it), computed once and shared by the runs; None if it cannot be computed
    (each run then makes its own)."""
    import warnings
    try:
        umap_module()
        from umap.spectral import spectral_layout
        from umap.umap_ import fuzzy_simplicial_set
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph, _, _ = fuzzy_simplicial_set(x, k, random_state, "cosine",
                                               knn_indices=knn[0], knn_dists=knn[1])
            graph = graph.tocoo()     # the edges UMAP itself keeps for _N_EPOCHS epochs
            graph.data[graph.data < graph.data.max() / float(_N_EPOCHS)] = 0.0
            graph.eliminate_zeros()
            n_parts = _n_graph_components(graph)
            if n_parts > _SPECTRAL_MAX_COMPONENTS:
                log.info("layout start: the neighbour graph has %d separate components; starting "
                         "from the first %d principal components instead of the spectral layout "
                         "(whose cost grows far faster with many components)", n_parts, dims)
                emb = _pca_init(x, dims)
            else:
                emb = np.asarray(spectral_layout(x, graph, dims, random_state, metric="cosine"))
    except Exception as e:   # pragma: no cover - umap falls back to a random layout itself
        log.debug("shared spectral initialisation failed (%s); each run makes its own", e)
        return None
    if emb.shape != (len(x), dims) or not np.all(np.isfinite(emb)) or not np.abs(emb).max() > 0:
        return None
    emb = (emb * (10.0 / np.abs(emb).max())).astype(np.float32)
    return emb + random_state.normal(scale=1e-4, size=emb.shape).astype(np.float32)


def _n_graph_components(graph) -> int:
    from scipy.sparse.csgraph import connected_components
    return int(connected_components(graph, directed=False)[0])


def _pca_init(x: np.ndarray, dims: int) -> np.ndarray:
    """The first ``dims`` principal components of ``x`` (signs fixed: largest loading positive),
    O(n d^2): a deterministic, graph-free start for the layout."""
    xc = x - x.mean(0)
    _, vecs = np.linalg.eigh((xc.T @ xc).astype(np.float64))
    comps = vecs[:, ::-1][:, :dims]
    comps *= np.sign(comps[np.abs(comps).argmax(0), np.arange(comps.shape[1])])
    return xc @ comps.astype(np.float32)


def _drop_small_and_order(labels: np.ndarray, mcs: int) -> np.ndarray:
    """Groups smaller than ``mcs`` become -1; the rest renumbered by size (largest first),
    ties by first member, so code ids do not depend on arbitrary cluster numbering."""
    out = np.full(len(labels), -1, dtype=np.int64)
    keep = []
    for g in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == g)
        if len(members) >= mcs:
            keep.append((-len(members), int(members[0]), g))
    for new, (_, _, g) in enumerate(sorted(keep)):
        out[labels == g] = new
    return out


def _reassign(x, core, rule, threshold, quantile: float = 0.05, min_size: int = 1,
              steps: int | None = None):
    """Final memberships from the consensus codes ``core`` (-1: outlier); see module docstring,
    step 4. Returns labels, assignment ("core", "reassigned", "outlier"), scores, the codes'
    centroids and the outlier threshold used."""
    n = len(core)
    steps = _REFINE_STEPS if steps is None else steps
    k = int(core.max()) + 1 if (core >= 0).any() else 0
    labels = core.copy()
    if k == 0:
        return (labels, np.full(n, "outlier", dtype=object), np.zeros(n, dtype=np.float32),
                np.zeros((0, x.shape[1]), np.float32), None)
    cents = centroids_of(x, core, k)
    sims = x @ cents.T
    own = sims[np.arange(n), np.maximum(core, 0)]
    if threshold == "auto":
        thr = float(np.quantile(own[core >= 0], quantile))
    else:
        thr = float(threshold)
    if rule == "nearest-centroid":
        alive = np.ones(k, dtype=bool)
        step = 0
        while True:
            masked = np.where(alive, sims, -np.inf)
            new = masked.argmax(1)
            unclustered = (core < 0) | ~alive[np.maximum(core, 0)]
            new[unclustered & (masked[np.arange(n), new] < thr)] = -1
            changed = not np.array_equal(new, labels)
            labels = new
            sizes = np.bincount(labels[labels >= 0], minlength=k)
            small = np.flatnonzero(alive & (sizes < min_size))
            if len(small):      # a code the refinement left too small: dissolved, steps go on
                alive[small[np.argmin(sizes[small])]] = False
                if not alive.any():
                    labels = np.full(n, -1, dtype=np.int64)
                    break
            else:
                step += 1
                if not changed or step >= steps:
                    break
            sims = x @ centroids_of(x, labels, k).T    # dissolved codes are masked above
        assignment = np.where(labels < 0, "outlier",
                              np.where(labels == core, "core", "reassigned")).astype(object)
        labels = _drop_small_and_order(labels, 1)   # renumbered by size, as consensus codes are
        k = int(labels.max()) + 1 if (labels >= 0).any() else 0
        cents = centroids_of(x, labels, k)
    else:
        assignment = np.where(core >= 0, "core", "outlier").astype(object)
    sims = x @ cents.T if k else np.zeros((n, 0), np.float32)
    if k:
        scores = np.where(labels >= 0, sims[np.arange(n), np.maximum(labels, 0)], sims.max(1))
    else:
        scores = np.zeros(n)
    return labels, assignment, scores.astype(np.float32), cents, thr


def discover(corpus_or_utterances: Corpus | Sequence[Utterance], embeddings=None, embedder=None,
             *, progress: bool = True, mapper=None, **params):
    """Candidate codes and themes for a corpus (its participant utterances) or utterances.

    ``embeddings``: precomputed :class:`themekit.embed.Embeddings` (or an array in utterance
    order); otherwise the utterances are embedded with ``embedder`` (default model, cached).
    ``params`` go to :class:`CodeDiscoverer`; ``mapper`` to its ``fit``. Returns a :class:`themekit.discover.themes.DiscoveryResult`.
    """
    if isinstance(corpus_or_utterances, Corpus):
        utts = corpus_or_utterances.select()
    else:
        utts = list(corpus_or_utterances)
    if embeddings is None:
        from ..embed import embed_utterances
        embeddings = embed_utterances(utts, embedder, progress=progress)
    model_id = getattr(embeddings, "model_id", None)
    result = CodeDiscoverer(**params).fit(utts, embeddings, mapper=mapper).result_
    if model_id:
        result.params["model_id"] = model_id
    return result
