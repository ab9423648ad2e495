"""How :class:`themekit.mapping.CodeMapper` turns vectors into code probabilities.

Steps 4-6 of the method in :mod:`themekit.mapping`:

- :func:`prior_scores`: the codebook prior (whole description, best positive facet,
  exclusion penalty), made probabilities by :func:`_softmax`;
- :func:`seed_rows` and :func:`self_trained_classifier`: the logistic regression trained on
  facets, seeds and its own most confident pseudo-labels;
- :func:`mix`: prior and classifier probabilities combined;
- :func:`score_in_chunks`: a fitted mapper's scores for many utterances, chunk by chunk on an
  engine (:mod:`themekit.common.parallel`).
"""

from __future__ import annotations

from functools import partial
from typing import Mapping

import numpy as np

from ..common.parallel import Mapper, local_map, row_chunks
from ..common.parallel import one_blas_thread

#: utterances scored per chunk (a worker's task): vectors and word features of 20k utterances
SCORE_CHUNK = 20000


def _softmax(s: np.ndarray, t: float) -> np.ndarray:
    a = s / t
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


# -- prior ---------------------------------------------------------------------------------------
def prior_scores(x: np.ndarray, facet_x: np.ndarray, facet_code: np.ndarray, facet_pos: np.ndarray,
                 n_codes: int, chunk: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """(utterance x code prior scores, the positive facet behind each score) for the centred
    vectors ``x`` against the centred facet vectors ``facet_x``."""
    if len(x) > chunk:   # bounded memory on large corpora
        parts = [prior_scores(x[s:s + chunk], facet_x, facet_code, facet_pos, n_codes, chunk)
                 for s in range(0, len(x), chunk)]
        return np.vstack([p for p, _ in parts]), np.vstack([e for _, e in parts])
    sim = x @ facet_x.T
    k = n_codes
    pos_best = np.full((len(x), k), -np.inf)
    pos_arg = np.zeros((len(x), k), dtype=int)
    excl_best = np.full((len(x), k), -np.inf)
    for j in range(k):
        cols = np.nonzero((facet_code == j) & facet_pos)[0]
        a = sim[:, cols].argmax(axis=1)
        # holistic (the whole description, always the first facet) and best single facet,
        # averaged: the best of many facets alone favours codes that have many of them
        pos_best[:, j] = 0.5 * (sim[:, cols[0]] + sim[np.arange(len(x)), cols[a]])
        pos_arg[:, j] = cols[a]
        ex = np.nonzero((facet_code == j) & ~facet_pos)[0]
        if len(ex):
            excl_best[:, j] = sim[:, ex].max(axis=1)
    prior = pos_best - np.maximum(0.0, excl_best - pos_best)
    return prior, pos_arg


# -- classifier ----------------------------------------------------------------------------------
def seed_rows(seed_labels: Mapping[str, tuple], row: Mapping[str, int], code_index: Mapping[str, int],
              n_codes: int) -> tuple[list[int], list[int], list[float]]:
    """Training rows from human coding: (utterance rows, classes, weights). An utterance with
    several codes is one row per code, weighing 1 in total; one left uncoded is class
    ``n_codes`` ("no code")."""
    s_rows, s_y, s_w = [], [], []
    for uid, cs in seed_labels.items():
        for c in cs:
            s_rows.append(row[uid])
            s_y.append(code_index[c])
            s_w.append(1.0 / len(cs))
        if not cs:
            s_rows.append(row[uid])
            s_y.append(n_codes)
            s_w.append(1.0)
    return s_rows, s_y, s_w


def fit_logistic(xs, ys, ws, C: float, start=None):
    """Multinomial logistic regression on the stacked rows, given in single precision: the
    features are embeddings and word scores, far coarser than float32's 7 digits, and where
    scikit-learn keeps float32 (recent versions do) each step costs about half as much.
    ``start``: a model over the same classes to start from (the previous self-training round,
    whose training rows these mostly are: fewer steps to converge)."""
    from sklearn.linear_model import LogisticRegression
    X = np.vstack(xs).astype(np.float32)
    y = np.concatenate(ys)
    model = LogisticRegression(C=C, max_iter=2000)
    if start is not None and np.array_equal(start.classes_, np.unique(y)):
        model.set_params(warm_start=True)
        model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    with one_blas_thread():
        return model.fit(X, y, sample_weight=np.concatenate(ws).astype(np.float32))


def class_proba(model, z, n_classes: int) -> np.ndarray:
    """Probabilities over all ``n_classes`` (0 for classes the model never saw)."""
    p = np.zeros((z.shape[0], n_classes))
    p[:, model.classes_] = model.predict_proba(z)
    return p


def self_trained_classifier(z: np.ndarray, zf: np.ndarray, p0: np.ndarray, *, facet_code: np.ndarray,
                            facet_pos: np.ndarray, s_rows: list[int], s_y: list[int], s_w: list[float],
                            seeded: np.ndarray, n_codes: int, n_classes: int, prior_weight: float,
                            self_training: int, pseudo_fraction: float, pseudo_weight: float, C: float,
                            return_rounds: bool = False):
    """(model or None, utterance x class probabilities) of the classifier on features ``z``,
    trained on the facet features ``zf``, the seed rows and ``self_training`` rounds of
    pseudo-labels; without seeds, the first round's labels come from the prior ``p0``.
    ``return_rounds``: the list of (model, probabilities) after each round instead, round 0
    first (without seeds round 0 is (None, ``p0``))."""
    # facet training rows: prior_weight per code, shared among its positive facets
    pos = np.nonzero(facet_pos)[0]
    counts = np.bincount(facet_code[pos], minlength=n_codes)
    f_y = facet_code[pos]
    f_w = prior_weight / counts[f_y]

    # seeds balanced across codes: which codes the coded part of a study happens to contain
    # should not become the model's belief about how common each code is
    sw = np.array(s_w)
    if s_rows:
        sy = np.array(s_y)
        tot = np.bincount(sy, weights=sw, minlength=n_classes)
        sw = sw * (tot[tot > 0].mean() / tot[sy])

    def train(p_cur: np.ndarray | None, start=None):
        parts_x, parts_y, parts_w = [zf[pos]], [f_y], [f_w]
        if s_rows:
            parts_x.append(z[s_rows]); parts_y.append(np.array(s_y)); parts_w.append(sw)
        if p_cur is not None and pseudo_weight > 0:
            pl, conf = p_cur.argmax(1), p_cur.max(1)
            chosen = []
            for j in range(p_cur.shape[1]):
                idx = np.nonzero((pl == j) & ~seeded)[0]
                if len(idx):
                    keep = max(1, int(np.ceil(pseudo_fraction * len(idx))))
                    chosen.extend(idx[np.argsort(-conf[idx], kind="stable")[:keep]])
            if chosen:
                chosen = np.array(sorted(chosen))
                parts_x.append(z[chosen]); parts_y.append(pl[chosen])
                parts_w.append(np.full(len(chosen), pseudo_weight))
        return fit_logistic(parts_x, parts_y, parts_w, C, start)

    model = train(None) if s_rows else None
    p_cur = class_proba(model, z, n_classes) if s_rows else p0
    rounds = [(model, p_cur)]
    for _ in range(self_training):
        model = train(p_cur, model)
        p_cur = class_proba(model, z, n_classes)
        rounds.append((model, p_cur))
    return rounds if return_rounds else (model, p_cur)


# -- mixing --------------------------------------------------------------------------------------
def mix(p0: np.ndarray, p: np.ndarray, blend: float, n_codes: int) -> np.ndarray:
    """Mix prior probabilities ``p0`` (codes only) into the classifier's ``p`` with share
    ``blend``; "no code" keeps its mass."""
    if blend <= 0:
        return p
    if p.shape[1] > n_codes:
        none = p[:, n_codes:]
        p0 = np.hstack([p0 * (1 - none.sum(axis=1, keepdims=True)), none])
    return blend * p0 + (1 - blend) * p


# -- scoring many utterances ---------------------------------------------------------------------
def _score_chunk(scorer, item: tuple) -> tuple[np.ndarray, np.ndarray]:
    vectors, texts = item
    return scorer._score_vectors(vectors, texts)


def score_in_chunks(scorer, vectors: np.ndarray, texts: list[str], mapper: Mapper | None = None,
                    chunk_size: int = SCORE_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(utterance x class probabilities, evidence facets) of a fitted mapper's
    ``_score_vectors`` for the rows of ``vectors`` (utterance vectors with their context, not yet
    centred) and their ``texts``, ``chunk_size`` rows at a time, run by ``mapper``. ``scorer``
    (the fitted model without its corpus or training data: ``CodeMapper._scorer()``) travels
    once with the function. Each row's scores depend on that row alone: the same chunks give the
    same numbers wherever they run, other chunk sizes the same up to BLAS rounding (1e-16)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size!r}")
    items = [(vectors[s], texts[s]) for s in row_chunks(len(vectors), chunk_size)]
    if not items:
        return scorer._score_vectors(vectors, texts)
    parts = list((mapper or local_map)(partial(_score_chunk, scorer), items))
    return np.vstack([p for p, _ in parts]), np.vstack([e for _, e in parts])
