"""Human coding as seeds for the mapper, and which utterances to code next (active learning).

Seeds are the codes a researcher has already applied. They come as coded segments (read with
:func:`themekit.codebook.coding.read_coded_segments`; aligned to utterances with
:func:`themekit.codebook.coding.align_to_utterances`), as a table ``utterance_id, code``, or as a
mapping ``utterance_id -> code or codes``. :func:`as_seed_labels` turns any of them into
``{utterance_id: [codes]}`` restricted to the utterances being mapped and the codebook's codes.

:func:`select_next` picks the utterances whose coding should help the suggestions most:

1. **uncertainty** — the margin between the model's two most probable codes (small margin:
   the model cannot tell two codes apart there);
2. **density** — how typical the utterance is (mean cosine to its nearest neighbours in a
   sample of the corpus): coding an outlier teaches little about the rest (information
   density, Settles & Craven 2008);
3. **diversity** — the best candidates are grouped into ``n`` clusters (k-means on the
   embeddings) and the highest-scoring utterance of each cluster is taken, so one batch does
   not ask ten times about the same thing.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["as_seed_labels", "select_next", "density"]

log = logging.getLogger("themekit")


def _codes_of(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.split("|") if c.strip()]
    if isinstance(value, (set, frozenset)):
        return sorted(str(c) for c in value)
    return [str(c) for c in value]


def as_seed_labels(seeds: Any, unit_ids: Sequence[str], code_names: Sequence[str], *,
                   corpus=None, utterances=None, min_overlap: float = 0.5,
                   keep_uncoded: bool = False) -> dict[str, list[str]]:
    """``{utterance_id: [codes]}`` for the units that carry at least one codebook code; with
    ``keep_uncoded``, also ``{utterance_id: []}`` for units a coder saw and left uncoded (an
    empty code set in the aligned coding: an utterance of a transcript the coder coded).

    ``seeds``: a list of :class:`~themekit.codebook.coding.CodedSegment` (``corpus`` needed to align
    them: a segment codes an utterance it covers at least ``min_overlap`` of, or lies inside;
    codes of all coders are pooled), the DataFrame of ``align_to_utterances``, a DataFrame
    with ``utterance_id`` and ``code`` (or ``codes``, ``|``-joined) columns, or a mapping.
    Codes not in the codebook are dropped with a warning that names them (a coded file from
    an older codebook version, a typo); units not being mapped are ignored.
    """
    from ..codebook.coding import CodedSegment, align_to_utterances

    if seeds is None:
        return {}
    if isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, CodedSegment) for s in seeds):
        if corpus is None:
            raise ValueError("coded segments need the corpus to be aligned to utterances: pass corpus=")
        seeds = align_to_utterances(seeds, corpus, min_overlap, utterances=utterances)
    raw: dict[str, list[str]] = {}
    if isinstance(seeds, pd.DataFrame):
        cols = set(seeds.columns)
        if "utterance_id" not in cols or not ({"code", "codes"} & cols):
            raise ValueError("a seed table needs utterance_id and code (or codes) columns; got "
                             f"{', '.join(map(str, seeds.columns))}")
        col = "codes" if "codes" in cols else "code"
        for uid, v in zip(seeds["utterance_id"], seeds[col]):
            lst = raw.setdefault(str(uid), [])
            lst.extend(c for c in _codes_of(v) if c not in lst)
    elif isinstance(seeds, Mapping):
        for uid, v in seeds.items():
            raw[str(uid)] = list(dict.fromkeys(_codes_of(v)))
    else:
        raise TypeError("seeds must be coded segments, a DataFrame (utterance_id, code) or a mapping "
                        f"utterance_id -> codes; got {type(seeds).__name__}")
    known, units = set(code_names), set(unit_ids)
    unknown: dict[str, int] = {}
    out: dict[str, list[str]] = {}
    for uid, codes in raw.items():
        if uid not in units:
            continue
        keep = []
        for c in codes:
            if c in known:
                keep.append(c)
            else:
                unknown[c] = unknown.get(c, 0) + 1
        if keep or (keep_uncoded and not codes):
            out[uid] = keep
    if unknown:
        shown = ", ".join(f"{c!r} ({n}x)" for c, n in sorted(unknown.items(), key=lambda x: -x[1])[:8])
        log.warning("seed codes not in the codebook were ignored: %s%s", shown,
                    f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
    return out


def density(x: np.ndarray, n_neighbors: int = 10, sample: int = 4000, random_state: int = 0,
            chunk: int = 2048) -> np.ndarray:
    """Mean cosine of each row of ``x`` (unit rows) to its ``n_neighbors`` nearest rows among a
    random sample of at most ``sample`` rows (itself excluded): high in dense regions."""
    n = len(x)
    if n <= 1:
        return np.ones(n)
    rng = np.random.default_rng(random_state)
    ref_idx = np.arange(n) if n <= sample else np.sort(rng.choice(n, sample, replace=False))
    ref = x[ref_idx]
    k = max(1, min(n_neighbors, len(ref_idx) - 1))
    out = np.empty(n)
    for s in range(0, n, chunk):
        sim = x[s:s + chunk] @ ref.T
        rows = np.arange(s, min(n, s + chunk))
        self_hit = np.searchsorted(ref_idx, rows)
        ok = (self_hit < len(ref_idx)) & (ref_idx[np.minimum(self_hit, len(ref_idx) - 1)] == rows)
        sim[np.nonzero(ok)[0], self_hit[ok]] = -np.inf
        top = np.partition(sim, -k, axis=1)[:, -k:]
        out[s:s + len(rows)] = top.mean(axis=1)
    return out


def select_next(proba: np.ndarray, x: np.ndarray, labelled: np.ndarray, n: int, *,
                dens: np.ndarray | None = None, pool_factor: int = 5,
                random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n`` unlabelled rows to code next, and their priority scores.

    ``proba``: (units x codes) probabilities of the current model; ``x``: unit embeddings
    (unit rows) for density and diversity; ``labelled``: boolean mask of rows already coded.
    Priority = (1 - margin between the two most probable codes) x density. The ``pool_factor
    * n`` highest-priority rows are clustered into ``n`` groups (k-means, ``random_state``) and
    the best row of each group is chosen; the result is sorted by priority.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    pool = np.nonzero(~np.asarray(labelled, bool))[0]
    if len(pool) == 0:
        return np.zeros(0, int), np.zeros(0)
    p = np.sort(proba[pool], axis=1)
    margin = p[:, -1] - (p[:, -2] if p.shape[1] > 1 else 0.0)
    d = density(x, random_state=random_state) if dens is None else dens
    d = np.clip(d[pool], 0, None)
    priority = (1.0 - margin) * d
    if len(pool) <= n:
        order = np.argsort(-priority, kind="stable")
        return pool[order], priority[order]
    m = min(len(pool), max(n, pool_factor * n))
    cand = np.argsort(-priority, kind="stable")[:m]
    if m == n:
        chosen = cand
    else:
        from sklearn.cluster import KMeans

        from ..common.parallel import one_blas_thread

        with one_blas_thread():
            km = KMeans(n_clusters=n, n_init=3, random_state=random_state).fit(x[pool[cand]])
        chosen = []
        for c in range(n):
            members = cand[km.labels_ == c]
            if len(members):
                chosen.append(members[np.argmax(priority[members])])
        chosen = np.array(chosen, dtype=int)
        if len(chosen) < n:   # empty clusters (duplicate points): fill by priority
            rest = [i for i in cand if i not in set(chosen.tolist())]
            chosen = np.r_[chosen, rest[:n - len(chosen)]].astype(int)
    chosen = chosen[np.argsort(-priority[chosen], kind="stable")]
    return pool[chosen], priority[chosen]
