"""Suspected mis-codings: coded segments whose code fits them worse than another code does.

Every coded span (per coder) is scored by how well each code fits it, judged *without* the
span itself — so a segment's own label never vouches for it. Four views, each a probability
over the codes, are averaged:

1. **Neighbours** — the ``n_neighbors`` most similar other coded spans (cosine of
   embeddings; copies of the same span by other coders excluded), weighted by
   ``exp((cos - cos_max) / t)`` with ``t`` the spread (standard deviation) of those
   similarities; a neighbour with several codes splits its vote.
2. **Centroids** — cosine to each code's centroid computed *without* the span (leave-one-out),
   turned into probabilities by a softmax whose temperature is the spread of these cosines.
3. **Classifier** — a logistic regression on the embeddings, cross-fitted: the spans are split
   into ``n_folds`` folds (copies of a span stay together; folds balanced per code) and each
   fold is scored by a model trained on the others (the "confident learning" recipe of
   Northcutt, Jiang & Chuang 2021, JAIR 70:1373).
4. **Words** (``lexical=True``) — the same cross-fitted regression on TF-IDF word and
   word-pair features of the span text: coders often follow wording the embedding blurs.

``fit`` of a code = the mean probability; a span's score is ``1 - max fit of its own codes``
(a span with several codes is suspicious only if none of them fits), its alternative the
best-fitting other code, and it is *suspected* when the alternative fits better than every
code it carries. Evidence: the nearest spans carrying the alternative code that are themselves
coded as the model expects (their best-fitting code is one of theirs).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .coded import code_matrix

__all__ = ["find_miscodings", "code_fit", "MISCODING_COLUMNS"]

log = logging.getLogger("themekit")
_SOLVER = "saga"

MISCODING_COLUMNS = [
    "rank", "unit_id", "segment_id", "transcript_id", "start", "end", "coder", "code", "text",
    "score", "fit", "alternative", "alternative_fit", "suspected", "fit_neighbours", "fit_centroid",
    "fit_classifier", "fit_words", "evidence_ids", "evidence"]


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}; got {value!r}")


def _softmax_rows(s: np.ndarray, t: float) -> np.ndarray:
    z = np.exp((s - s.max(axis=1, keepdims=True)) / t)
    return z / z.sum(axis=1, keepdims=True)


def _spread(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    sd = float(x.std()) if x.size > 1 else 0.0
    return sd if sd > 1e-6 else 1.0


def _neighbours(x: np.ndarray, group: np.ndarray, eligible: np.ndarray, k: int, chunk: int = 2048):
    """Indices (n, k) and cosines of each row's k nearest eligible rows of another group
    (-1 / -inf where fewer exist)."""
    n = len(x)
    cand = np.flatnonzero(eligible)
    k = min(k, max(len(cand) - 1, 0))
    idx = np.full((n, max(k, 1)), -1, dtype=np.int64)
    sim = np.full((n, max(k, 1)), -np.inf)
    if k == 0:
        return idx[:, :0], sim[:, :0]
    xc, gc = x[cand], group[cand]
    for s in range(0, n, chunk):
        rows = np.arange(s, min(n, s + chunk))
        sims = x[rows] @ xc.T
        sims[group[rows][:, None] == gc[None, :]] = -np.inf  # itself and its copies
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(sims, part, axis=1)
        o = np.argsort(-ps, axis=1, kind="stable")
        idx[rows] = cand[np.take_along_axis(part, o, axis=1)]
        sim[rows] = np.take_along_axis(ps, o, axis=1)
    idx[~np.isfinite(sim)] = -1
    return idx, sim


def _folds(y: np.ndarray, group: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row: spans (groups) dealt round-robin per first code, in random order."""
    groups = np.unique(group)
    first = {}
    for i in range(len(y)):
        g = group[i]
        if g not in first and y[i].any():
            first[g] = int(np.flatnonzero(y[i])[0])
    fold_of: dict[int, int] = {}
    by_code: dict[int, list] = {}
    for g in groups:
        by_code.setdefault(first.get(g, -1), []).append(g)
    offset = 0
    for c in sorted(by_code):
        members = np.array(by_code[c])
        rng.shuffle(members)
        for j, g in enumerate(members):
            fold_of[int(g)] = (offset + j) % n_folds
        offset += len(members)  # spread small codes' first members over different folds
    return np.array([fold_of[int(g)] for g in group])


def _cross_fitted(features, y: np.ndarray, fold: np.ndarray, n_folds: int, C: float,
                  random_state: int = 0) -> np.ndarray:
    """P(code | span) from a multinomial logistic regression trained without the span's fold."""
    from sklearn.linear_model import LogisticRegression

    n, k = y.shape
    out = np.zeros((n, k))
    rows, labels = np.nonzero(y)
    for f in range(n_folds):
        test = np.flatnonzero(fold == f)
        train = ~np.isin(rows, test)
        if not len(test) or not train.any():
            continue
        classes = np.unique(labels[train])
        if len(classes) == 1:
            out[test, classes[0]] = 1.0
            continue
        model = LogisticRegression(C=C, solver=_SOLVER, max_iter=300, tol=1e-3, random_state=random_state)
        model.fit(features[rows[train]], labels[train])
        out[np.ix_(test, model.classes_)] = model.predict_proba(features[test])
    return out


def code_fit(units: pd.DataFrame, vectors: np.ndarray, codes: list[str], *, n_neighbors: int = 30,
             n_folds: int = 5, C: float = 10.0, lexical: bool = True, random_state: int = 0,
             text_col: str = "text") -> dict[str, np.ndarray]:
    """How well each code fits each unit, without the unit: ``{"fit": (n, k) mean probability,
    "neighbours"|"centroid"|"classifier"|"words": (n, k) each view, "nn_idx", "nn_sim": each
    unit's nearest other spans}``. Units with none of ``codes`` are scored but teach nothing."""
    y = code_matrix(units, codes)
    x = np.asarray(vectors, dtype=np.float64)
    n, k = y.shape
    group = pd.factorize(units["segment_id"])[0]
    labelled = y.any(axis=1)
    rng = np.random.default_rng(random_state)

    # 1. neighbours
    nn_idx, nn_sim = _neighbours(x, group, labelled, n_neighbors)
    valid = nn_idx >= 0
    t = _spread(nn_sim[valid])
    with np.errstate(invalid="ignore"):
        w = np.where(valid, np.exp((nn_sim - np.where(valid, nn_sim, -np.inf).max(axis=1, keepdims=True)) / t), 0.0)
    votes = y[np.maximum(nn_idx, 0)].astype(float)
    votes /= np.maximum(votes.sum(axis=2, keepdims=True), 1)
    p_nn = (w[:, :, None] * votes).sum(axis=1)
    tot = p_nn.sum(axis=1, keepdims=True)
    p_nn = np.divide(p_nn, tot, out=np.full_like(p_nn, 1.0 / max(k, 1)), where=tot > 0)

    # 2. leave-one-span-out centroids
    sums = y.T.astype(float) @ x                                   # k x d
    gy = np.zeros((group.max() + 1 if n else 0, k))
    np.add.at(gy, group, y.astype(float))                          # copies of each span per code
    cos = np.empty((n, k))
    for j in range(k):
        s = sums[j][None, :] - gy[group, j][:, None] * x          # the code's sum without this span
        norm = np.linalg.norm(s, axis=1)
        cos[:, j] = np.where(norm > 1e-9, (x * s).sum(axis=1) / np.maximum(norm, 1e-12), -1.0)
    p_c = _softmax_rows(cos, _spread(cos))

    # 3./4. cross-fitted classifiers
    fold = _folds(y, group, n_folds, rng)
    p_lr = _cross_fitted(x, y, fold, n_folds, C, random_state)
    views = {"neighbours": p_nn, "centroid": p_c, "classifier": p_lr}
    if lexical:
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = units[text_col].fillna("").astype(str).tolist()
        try:
            words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
        except ValueError:  # no word occurs twice: nothing lexical to learn
            words = None
        views["words"] = (_cross_fitted(words, y, fold, n_folds, C, random_state) if words is not None
                          else np.full((n, k), 1.0 / max(k, 1)))
    fit = sum(views.values()) / len(views)
    return {"fit": fit, **views, "nn_idx": nn_idx, "nn_sim": nn_sim}


def _quote(text: str, n: int = 160) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def find_miscodings(units: pd.DataFrame, vectors: np.ndarray, codes: list[str] | None = None, *,
                    n_neighbors: int = 30, n_folds: int = 5, C: float = 10.0, lexical: bool = True,
                    min_code_size: int = 3, n_evidence: int = 3, random_state: int = 0) -> pd.DataFrame:
    """Rank coded segments by how badly their code fits them (most suspicious first).

    ``units``: one row per coded span and coder (:func:`themekit.audit.coded_units`);
    ``vectors``: one unit-length embedding row per unit; ``codes``: the codes to judge (default:
    all used). Codes with fewer than ``min_code_size`` spans are not judged (too few examples
    to say what they mean): spans carrying only such codes get no score (NaN, listed last).

    Columns: ``rank``, the unit's ids and position, ``coder``, ``code`` (``|``-joined if
    several), ``text``, ``score`` (1 - ``fit``), ``fit`` (best fit among its own codes, 0-1),
    ``alternative`` and ``alternative_fit`` (best other code), ``suspected`` (the alternative
    fits better), the views' fits of the own code (``fit_neighbours``, ``fit_centroid``,
    ``fit_classifier``, ``fit_words``), ``evidence_ids`` and ``evidence``: up to ``n_evidence``
    nearest spans coded with the alternative, whose own coding the model agrees with
    (``"P03:120-188@AH (cos 0.71): quote"``, ``" || "``-separated).
    """
    _check("n_neighbors", n_neighbors, isinstance(n_neighbors, (int, np.integer)) and n_neighbors >= 1,
           "an integer >= 1")
    _check("n_folds", n_folds, isinstance(n_folds, (int, np.integer)) and n_folds >= 2, "an integer >= 2")
    _check("C", C, isinstance(C, (int, float)) and C > 0, "a number > 0")
    _check("min_code_size", min_code_size, isinstance(min_code_size, (int, np.integer)) and min_code_size >= 2,
           "an integer >= 2")
    _check("n_evidence", n_evidence, isinstance(n_evidence, (int, np.integer)) and n_evidence >= 0,
           "an integer >= 0")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(units):
        raise ValueError(f"vectors must have one row per unit: got shape {vectors.shape} for {len(units)} units")
    units = units.reset_index(drop=True)
    used = sorted({c for cs in units["codes"] for c in cs})
    codes = list(used if codes is None else codes)
    size = pd.Series([c for cs in units["codes"] for c in cs]).value_counts()
    judged = [c for c in codes if size.get(c, 0) >= min_code_size]
    small = [c for c in codes if 0 < size.get(c, 0) < min_code_size]
    if small:
        log.info("not judging codes with fewer than %d segments: %s", min_code_size, ", ".join(small))
    out = units[["unit_id", "segment_id", "transcript_id", "start", "end", "coder"]].copy()
    out["code"] = units["codes"].map(lambda cs: "|".join(cs))
    out["text"] = units["text"]
    for col in MISCODING_COLUMNS:
        if col not in out.columns and col != "rank":
            out[col] = np.nan
    out = out.astype({"alternative": object, "evidence_ids": object, "evidence": object, "suspected": object})
    if len(judged) < 2 or len(units) < 3:
        out["suspected"] = False
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        out.attrs["codes_judged"] = judged
        return out[MISCODING_COLUMNS]
    res = code_fit(units, vectors, judged, n_neighbors=n_neighbors, n_folds=n_folds, C=C, lexical=lexical,
                   random_state=random_state)
    y = code_matrix(units, judged)
    scored = y.any(axis=1)
    fit = res["fit"]
    own = np.where(y, fit, -np.inf)
    best_own = own.argmax(axis=1)
    other = np.where(y, -np.inf, fit)
    alt = other.argmax(axis=1)
    i_sc = np.flatnonzero(scored)
    out.loc[i_sc, "fit"] = own.max(axis=1)[i_sc]
    out.loc[i_sc, "score"] = 1 - own.max(axis=1)[i_sc]
    out.loc[i_sc, "alternative"] = [judged[j] for j in alt[i_sc]]
    out.loc[i_sc, "alternative_fit"] = other.max(axis=1)[i_sc]
    out["suspected"] = False
    out.loc[i_sc, "suspected"] = other.max(axis=1)[i_sc] > own.max(axis=1)[i_sc]
    for view, col in (("neighbours", "fit_neighbours"), ("centroid", "fit_centroid"),
                      ("classifier", "fit_classifier"), ("words", "fit_words")):
        if view in res:
            out.loc[i_sc, col] = res[view][i_sc, best_own[i_sc]]
    # evidence: nearest spans with the alternative code, coded as the model expects
    agrees = y[np.arange(len(y)), fit.argmax(axis=1)] & scored
    nn_idx = res["nn_idx"]
    x = np.asarray(vectors, dtype=np.float64)
    seg_ids = units["segment_id"].to_numpy()
    ev_ids, ev_txt = [], []
    for i in range(len(units)):
        if not scored[i] or n_evidence == 0:
            ev_ids.append(""), ev_txt.append("")
            continue
        a = alt[i]
        cand = [j for j in nn_idx[i] if j >= 0 and y[j, a] and agrees[j]]
        if len(cand) < n_evidence:  # look beyond the neighbour list
            pool = np.flatnonzero(y[:, a] & agrees & (seg_ids != seg_ids[i]))
            if len(pool):
                sims = x[pool] @ x[i]
                cand = list(dict.fromkeys(cand + [int(j) for j in pool[np.argsort(-sims, kind="stable")]]))
        cand = cand[:n_evidence]
        ev_ids.append(";".join(units.at[j, "unit_id"] for j in cand))
        ev_txt.append(" || ".join(f"{units.at[j, 'unit_id']} (cos {float(x[j] @ x[i]):.2f}): "
                                  f"{_quote(units.at[j, 'text'])}" for j in cand))
    out["evidence_ids"], out["evidence"] = ev_ids, ev_txt
    out = out.sort_values(["score", "unit_id"], ascending=[False, True], na_position="last", kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out = out.reset_index(drop=True)[MISCODING_COLUMNS]
    out.attrs["codes_judged"] = judged
    return out
