"""Intercoder agreement: Cohen's kappa, Krippendorff's alpha, percent agreement, bootstrap
confidence intervals, and per-code agreement tables for (multi-label) qualitative coding.

Conventions
-----------
* Reliability data are a *coders x units* matrix (a 2-D array, nested lists or a DataFrame with
  coders as rows), as in Krippendorff (2011) and the ``krippendorff`` package. Missing codings are
  ``None``/``NaN`` (and, in NumPy string arrays, the string ``"nan"``, as that package reads them).
* Only *pairable* units count: a unit coded by fewer than two coders carries no information about
  agreement and is dropped (Krippendorff 2011, sec. C). Cohen's kappa uses the units both coders
  coded.
* Undefined statistics are ``NaN``, never an exception: kappa when the expected agreement is 1
  (both coders used one and the same category for every unit; scikit-learn's default
  ``replace_undefined_by=np.nan`` does the same), alpha when the pairable values show no
  variation at all (expected disagreement 0) or no unit is pairable, and either when there are
  no units. Report the percent agreement in those cases; it stays defined.
* A model is just another coder: model-vs-human agreement uses the same functions.

Multi-label coding (:func:`agreement_table`, :func:`pairwise_kappa`): every code is a binary
presence/absence variable on each unit a coder coded; kappa and alpha are computed per code. The
"(all codes)" row pools the codes as De Vries et al. (2008) pool kappa over items: observed and
expected disagreement are summed over codes before the ratio is taken,
``kappa_pooled = 1 - sum_k (1 - Po_k) / sum_k (1 - Pe_k)`` and, the same for alpha,
``alpha_pooled = 1 - sum_k Do_k / sum_k De_k``. This is the weighted mean of the per-code values
with weights ``1 - Pe_k`` (``De_k``): every code keeps its own chance model (its prevalence), rare
and unused codes do not make the overall figure undefined, and a unit coded by both coders with
no code at all counts as agreement on every code's absence. On single-label data (one code per
unit and coder) the pooled kappa and alpha equal the ordinary nominal kappa and alpha on the
codes exactly: a disagreement between codes c and c' is one disagreement in the binary variables
of both c and c', and each code's expected disagreement doubles the same way, so the factor 2
cancels. The pooled figures thus extend the usual statistics to multi-label coding rather than
replace them. ``overall="set"`` gives the other standard reading instead: each unit's value is
the whole set of codes applied, compared nominally (agreement only on identical sets; for
single-label data this, too, is the usual nominal kappa/alpha). Not implemented: MASI-weighted
alpha (Passonneau 2006) and Krippendorff & Craggs' (2016) multi-valued alpha.

References: J. Cohen (1960), Educ. Psychol. Meas. 20:37-46. K. Krippendorff (2011), "Computing
Krippendorff's Alpha-Reliability", Univ. of Pennsylvania. H. De Vries, M. N. Elliott,
D. E. Kanouse, S. S. Teleki (2008), "Using pooled kappa to summarize interrater agreement across
many items", Field Methods 20(3):272-282.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, Literal, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = [
    "ALL_CODES", "BootstrapCI", "cohen_kappa", "krippendorff_alpha", "percent_agreement",
    "bootstrap_ci", "reliability_matrix", "agreement_table", "pairwise_kappa",
]

ALL_CODES = "(all codes)"
_LEVELS = ("nominal", "ordinal", "interval")
_WEIGHTS = (None, "linear", "quadratic")
_CHUNK = 2_000_000  # bootstrap weights held at once (resamples x units)


# ----------------------------------------------------------------------------------- encoding

def _matrix(data: Any, name: str = "data") -> np.ndarray:
    """A 2-D coders x units array; text arrays become object arrays with ``"nan"`` as missing."""
    arr = data.to_numpy(dtype=object) if isinstance(data, pd.DataFrame) else np.asarray(data)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
        arr[arr == "nan"] = None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D coders x units matrix; got an array of shape {arr.shape}")
    return arr


def _factorize(values: np.ndarray, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 = missing) and the distinct values, sorted when they can be."""
    flat = values.ravel()
    try:
        codes, uniques = pd.factorize(flat, use_na_sentinel=True)
    except TypeError:  # sets are unhashable: compare them as frozensets
        frozen = np.empty(flat.size, dtype=object)
        frozen[:] = [frozenset(v) if isinstance(v, set) else v for v in flat]
        flat = frozen
        try:
            codes, uniques = pd.factorize(flat, use_na_sentinel=True)
        except TypeError as exc:  # lists, dicts
            raise ValueError(f"coded values must be hashable (a str, number or frozenset): {exc}") from None
    uniques = np.asarray(uniques, dtype=object if flat.dtype == object else None)
    try:
        perm = np.argsort(uniques, kind="stable")
    except TypeError:
        if ordered:
            raise ValueError("the values mix types that cannot be ordered; pass the categories in order "
                             "(labels=[...] for kappa, value_domain=[...] for alpha)") from None
        return codes.reshape(values.shape), uniques
    rank = np.empty(len(perm), dtype=np.int64)
    rank[perm] = np.arange(len(perm))
    if len(perm):
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
    return codes.reshape(values.shape), uniques[perm]


def _check_level(level: str) -> None:
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {_LEVELS}; got {level!r}")


# ------------------------------------------------------------------------- core statistics

def _nominal_parts(codes: np.ndarray, n_values: int):
    """For the pairable units (columns with >= 2 codings): m_u, o_u = ordered pairs of differing
    values / (m_u - 1), ordered pairs of differing values, ordered pairs, and the nonzero
    unit x value counts n_uc as (unit, value, count) arrays."""
    m = (codes >= 0).sum(axis=0)
    codes, m = codes[:, m >= 2], m[m >= 2].astype(float)
    n_values = max(n_values, 1)
    coder, unit = np.nonzero(codes >= 0)
    cells, counts = np.unique(unit * n_values + codes[coder, unit], return_counts=True)
    unit, value, counts = cells // n_values, cells % n_values, counts.astype(float)
    disagree = m * m - np.bincount(unit, weights=counts * counts, minlength=m.size)
    return m, disagree / np.maximum(m - 1, 1), disagree, m * (m - 1), (unit, value, counts)


def _alpha(n, o_sum, expected):
    """alpha = 1 - (n - 1) * sum_u o_u / expected, NaN where the expected disagreement is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1 - (n - 1) * o_sum / expected, np.nan)


def _interval_alpha(x: np.ndarray) -> float:
    """Interval alpha on a coders x units float matrix (NaN = missing), via within-unit spread:
    sum over ordered pairs (i, j) in a unit of (x_i - x_j)^2 = 2 m_u sum_i (x_i - mean_u)^2."""
    valid = ~np.isnan(x)
    m = valid.sum(axis=0)
    x, valid, m = x[:, m >= 2], valid[:, m >= 2], m[m >= 2]
    vals = x[valid]
    if vals.size == 0 or np.unique(vals).size < 2:
        return float("nan")
    unit_mean = np.where(valid, x, 0).sum(axis=0) / m
    within = np.where(valid, (x - unit_mean) ** 2, 0).sum(axis=0)
    n = vals.size
    observed = (m * within / (m - 1)).sum()
    expected = n * ((vals - vals.mean()) ** 2).sum()
    return float(1 - (n - 1) * observed / expected)


def krippendorff_alpha(data: Any, level: Literal["nominal", "ordinal", "interval"] = "nominal",
                       value_domain: Sequence | None = None) -> float:
    """Krippendorff's alpha for a coders x units reliability matrix with missing values.

    Any number of coders; ``None``/``NaN`` marks a missing coding; units with fewer than two
    codings are not pairable and are dropped. ``alpha = 1 - (n - 1) * sum_u [pairs of differing
    values in u / (m_u - 1)] / [pairs of differing values among all n pairable values]``, with
    squared differences for ``"interval"`` and squared differences of mid-ranks (cumulative
    frequencies) for ``"ordinal"`` (Krippendorff 2011). Equals ``krippendorff.alpha`` to
    floating-point rounding. Returns NaN when no unit is pairable or the pairable values do not
    vary (expected disagreement 0: alpha is undefined).

    ``value_domain`` orders the categories for ``"ordinal"`` (needed for non-numeric values);
    for ``"nominal"`` it is ignored except to check that every value is in it.
    """
    _check_level(level)
    arr = _matrix(data)
    if arr.size == 0:
        return float("nan")
    if value_domain is not None:
        domain = pd.Index(list(value_domain))
        if not domain.is_unique:
            raise ValueError("value_domain contains duplicates")
        flat = arr.ravel()
        idx = domain.get_indexer(flat)
        bad = (idx < 0) & ~pd.isna(flat)
        if bad.any():
            raise ValueError(f"value {flat[bad][0]!r} is not in value_domain")
        codes, uniques = idx.reshape(arr.shape), np.asarray(domain, dtype=object)
    else:
        if level == "ordinal" and arr.dtype.kind not in "iufb" and any(
                isinstance(v, str) for v in arr.ravel()):
            raise ValueError("ordinal alpha on text categories needs value_domain=[...] in order")
        codes, uniques = _factorize(arr, ordered=level != "nominal")
    if level == "nominal":
        m, o, _, _, (_, value, counts) = _nominal_parts(codes, len(uniques))
        n, n_c = m.sum(), np.bincount(value, weights=counts, minlength=len(uniques))
        return float(_alpha(n, o.sum(), n * n - (n_c * n_c).sum())) if m.size else float("nan")
    if level == "interval":
        try:
            values = np.asarray(uniques, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("interval alpha needs numeric values") from None
    else:  # ordinal: mid-rank of each category among the pairable values
        pairable = codes[:, (codes >= 0).sum(axis=0) >= 2]
        n_c = np.bincount(pairable[pairable >= 0], minlength=len(uniques))
        values = np.cumsum(n_c) - n_c / 2
    x = np.where(codes >= 0, values[np.maximum(codes, 0)] if len(values) else 0.0, np.nan)
    return _interval_alpha(x.astype(float))


def percent_agreement(data: Any) -> float:
    """Share of agreeing pairs among all pairs of codings of the same unit.

    ``data`` is a coders x units matrix as for :func:`krippendorff_alpha` (two coders:
    ``percent_agreement([a, b])``). Every pair of coders who both coded a unit is one comparison;
    with two coders this is the share of units (coded by both) on which they agree, and with
    complete data it equals the mean of the pairwise percent agreements. NaN if no unit is pairable.
    """
    codes, uniques = _factorize(_matrix(data), ordered=False)
    m, _, disagree, pairs, _ = _nominal_parts(codes, len(uniques))
    return float(1 - disagree.sum() / pairs.sum()) if m.size else float("nan")


def _kappa_codes(ia: np.ndarray, ib: np.ndarray, n_labels: int, weights: str | None) -> float:
    keep = (ia >= 0) & (ib >= 0)
    ia, ib = ia[keep], ib[keep]
    if ia.size == 0 or n_labels == 0:
        return float("nan")
    confusion = np.bincount(ia * n_labels + ib, minlength=n_labels * n_labels)
    confusion = confusion.reshape(n_labels, n_labels).astype(float)
    sum0, sum1 = confusion.sum(axis=0), confusion.sum(axis=1)
    expected = np.outer(sum0, sum1) / sum0.sum()
    grid = np.arange(n_labels, dtype=float)
    if weights is None:
        w = 1.0 - np.eye(n_labels)
    elif weights == "linear":
        w = np.abs(grid[:, None] - grid[None, :])
    else:
        w = (grid[:, None] - grid[None, :]) ** 2
    denominator = (w * expected).sum()
    return float(1 - (w * confusion).sum() / denominator) if denominator != 0 else float("nan")


def cohen_kappa(a: Sequence, b: Sequence, labels: Sequence | None = None,
                weights: Literal["linear", "quadratic"] | None = None) -> float:
    """Cohen's kappa for two coders on the same units: ``(Po - Pe) / (1 - Pe)``.

    ``a[i]`` and ``b[i]`` are the two coders' categories for unit ``i``. Units where either is
    missing (``None``/``NaN``) are dropped; with ``labels``, units where either category is not
    in ``labels`` are dropped too, and ``labels`` gives the category order used by
    ``weights`` ("linear": |i - j|, "quadratic": (i - j)^2; default: the sorted categories).
    Equals ``sklearn.metrics.cohen_kappa_score(a, b, labels=labels, weights=weights)`` on the
    retained units. Returns NaN (kappa undefined) when no unit is left or the expected
    agreement is 1, i.e. both coders used one and the same category throughout (scikit-learn
    returns NaN with a warning there too); the percent agreement is then 1.
    """
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    a, b = pd.Series(list(a), dtype=object), pd.Series(list(b), dtype=object)
    if len(a) != len(b):
        raise ValueError(f"a and b must code the same units; got {len(a)} and {len(b)} values")
    if labels is not None:
        index = pd.Index(list(labels))
        if not index.is_unique:
            raise ValueError("labels contains duplicates")
        return _kappa_codes(index.get_indexer(a), index.get_indexer(b), len(index), weights)
    pair = np.empty((2, len(a)), dtype=object)
    pair[0], pair[1] = a.to_numpy(), b.to_numpy()
    codes, uniques = _factorize(pair, ordered=weights is not None)
    return _kappa_codes(codes[0], codes[1], len(uniques), weights)


# --------------------------------------------------------------------------------- bootstrap

class BootstrapCI(NamedTuple):
    """A statistic and its percentile bootstrap interval; ``n_valid`` counts the resamples on
    which the statistic was defined (not NaN): the interval is computed from those."""

    estimate: float
    low: float
    high: float
    n_valid: int


def _check_boot(n_boot: int, ci: float, allow_zero: bool = False) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < (0 if allow_zero else 1):
        raise ValueError(f"n_boot must be an integer >= {0 if allow_zero else 1}; got {n_boot!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1 (e.g. 0.95); got {ci!r}")


def _resamples(n_units: int, n_boot: int, random_state) -> Iterator[np.ndarray]:
    """Unit indices of the resamples, in chunks of rows (row b overall = resample b); shared by
    all bootstrap paths. Drawing a chunk gives the same numbers as drawing its rows one by one
    (the bit generator carries its buffered bits over), so resample b is the b-th
    ``integers(0, n_units, n_units)`` draw of ``default_rng(random_state)``."""
    rng = np.random.default_rng(random_state)
    rows, done = max(1, _CHUNK // max(n_units, 1)), 0
    while done < n_boot:
        size = min(rows, n_boot - done)
        yield rng.integers(0, n_units, size=(size, n_units))
        done += size


def _weight_chunks(n_units: int, n_boot: int, random_state) -> Iterator[np.ndarray]:
    """The resamples of :func:`_resamples` as rows of unit multiplicities."""
    for idx in _resamples(n_units, n_boot, random_state):
        flat = (idx + n_units * np.arange(len(idx))[:, None]).ravel()
        yield np.bincount(flat, minlength=idx.size).reshape(idx.shape).astype(float)


def _interval(stats: np.ndarray, ci: float) -> tuple[float, float, int]:
    valid = stats[~np.isnan(stats)]
    if valid.size == 0:
        return float("nan"), float("nan"), 0
    low, high = np.quantile(valid, [(1 - ci) / 2, (1 + ci) / 2])
    return float(low), float(high), int(valid.size)


def bootstrap_ci(stat_fn: Callable[[Any], float], data: Any, n_boot: int = 1000, ci: float = 0.95,
                 random_state: int | np.random.Generator | None = 0, *, axis: int = -1) -> BootstrapCI:
    """Percentile bootstrap interval of ``stat_fn(data)``, resampling units with replacement.

    ``data`` is a coders x units matrix (units along ``axis``), passed to ``stat_fn`` as a NumPy
    array (a DataFrame's values);
    each resample draws as many units as there are, with replacement, and the interval is the
    ``(1 - ci) / 2`` and ``(1 + ci) / 2`` quantiles (linear interpolation) of the statistic over
    the resamples where it is defined; ``n_valid`` says how many that was. Resample ``b`` uses
    the ``b``-th draw of ``numpy.random.default_rng(random_state).integers(0, n_units, n_units)``,
    so the result is deterministic for a given ``random_state``; the tables in this module use
    the same draws. Drop unpairable units first if they should not be resampled. Examples:
    ``bootstrap_ci(krippendorff_alpha, data)``, ``bootstrap_ci(lambda d: cohen_kappa(d[0], d[1]), [a, b])``.
    """
    _check_boot(n_boot, ci)
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy(dtype=object)
    elif not isinstance(data, np.ndarray):
        data = np.asarray(data, dtype=object)
    n_units = data.shape[axis]
    if n_units == 0:
        raise ValueError("data has no units to resample")
    stats = np.array([stat_fn(np.take(data, idx, axis=axis))
                      for chunk in _resamples(n_units, n_boot, random_state) for idx in chunk], dtype=float)
    return BootstrapCI(float(stat_fn(data)), *_interval(stats, ci))


# ------------------------------------------------------------------ tidy (multi-label) data

def reliability_matrix(df: pd.DataFrame, *, unit: str | Sequence[str], coder: str, value: str) -> pd.DataFrame:
    """Coders x units matrix (NaN where a coder did not code a unit) from one row per
    (unit, coder) with a single category in ``value``; ``unit`` may name several columns
    (e.g. ``["transcript_id", "utterance_id"]``). Raises if a coder has two rows for a unit."""
    unit_cols = [unit] if isinstance(unit, str) else list(unit)
    dup = df.duplicated(unit_cols + [coder])
    if dup.any():
        row = df.loc[dup].iloc[0]
        raise ValueError(f"coder {row[coder]!r} has more than one row for unit "
                         f"{tuple(row[unit_cols])!r}; give one category per unit and coder")
    return df.pivot(index=coder, columns=unit_cols, values=value)


def _as_codeset(value: Any) -> frozenset:
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, (set, frozenset, list, tuple, np.ndarray, pd.Series)):
        return frozenset(v for v in value if not (np.ndim(v) == 0 and pd.isna(v)))
    return frozenset() if value is None or pd.isna(value) else frozenset([value])


def _sorted(items) -> list:
    items = list(items)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=lambda x: (type(x).__name__, str(x)))


class _Coding:
    """Tidy coding parsed into arrays: units x coders, with a code set where a coder coded."""

    def __init__(self, df: pd.DataFrame, codes, unit, coder, codes_col):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"aligned_df must be a pandas DataFrame; got {type(df).__name__}")
        if unit is None:
            unit = next((c for c in ("unit_id", "utterance_id", "unit") if c in df.columns), None)
        if codes_col is None:
            codes_col = next((c for c in ("codes", "code") if c in df.columns), None)
        unit_cols = [unit] if isinstance(unit, str) else list(unit or [])
        missing = [c for c in unit_cols + [coder, codes_col] if c is None or c not in df.columns]
        if missing or not unit_cols:
            raise ValueError(
                "aligned_df needs a unit column (utterance_id or unit_id), a coder column and a "
                f"codes/code column; missing {missing or 'a unit column'} in {list(df.columns)}")
        keys = df[unit_cols[0]] if len(unit_cols) == 1 else pd.Series(list(zip(*(df[c] for c in unit_cols))))
        cells: dict[tuple, frozenset] = {}
        for u, c, v in zip(keys.to_numpy(), df[coder].to_numpy(), df[codes_col].to_numpy()):
            cells[(u, c)] = cells.get((u, c), frozenset()) | _as_codeset(v)
        self.units = _sorted({u for u, _ in cells})
        self.coders = _sorted({c for _, c in cells})
        if codes is None:
            codes = _sorted(set().union(*cells.values()) if cells else ())
        self.codes = list(codes)
        if len(set(self.codes)) != len(self.codes):
            raise ValueError("codes contains duplicates")
        u_index = {u: i for i, u in enumerate(self.units)}
        c_index = {c: i for i, c in enumerate(self.coders)}
        k_index = {k: i for i, k in enumerate(self.codes)}
        self.coded = np.zeros((len(self.coders), len(self.units)), dtype=bool)
        self.present = np.zeros((len(self.codes), len(self.coders), len(self.units)), dtype=bool)
        self.sets = np.full((len(self.coders), len(self.units)), None, dtype=object)
        wanted = frozenset(self.codes)
        for (u, c), s in cells.items():
            ci, ui = c_index[c], u_index[u]
            self.coded[ci, ui] = True
            self.sets[ci, ui] = s & wanted
            for k in s & wanted:
                self.present[k_index[k], ci, ui] = True

    def restrict(self, coders: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """coded, present, sets for these coders on the units at least two of them coded."""
        coded = self.coded[list(coders)]
        keep = coded.sum(axis=0) >= 2
        return coded[:, keep], self.present[:, list(coders)][:, :, keep], self.sets[list(coders)][:, keep]


class _Stats:
    """Per-code and overall agreement on fixed units. Every statistic is a function of sums over
    units, so the estimate (each unit once) and each bootstrap resample (unit multiplicities
    ``w``) take one product of ``w`` with the stacked per-unit quantities. The product is a
    sparse one: single-threaded, where multithreaded BLAS on these thin products can stall."""

    def __init__(self, coded, present, sets, overall: str):
        self.overall, self.two = overall, coded.shape[0] == 2
        n_units = coded.shape[1]
        m = coded.sum(axis=0).astype(float)
        self.n1 = n1 = present.sum(axis=1).astype(float)  # codes x units
        self.m = m
        parts = {"m": m[None], "n1": n1, "o": 2 * n1 * (m - n1) / np.maximum(m - 1, 1),
                 "dis": 2 * n1 * (m - n1), "pairs": (m * (m - 1))[None]}
        if self.two:
            a, b = present[:, 0].astype(float), present[:, 1].astype(float)
            parts.update(a=a, b=b, xor=np.abs(a - b), units=np.ones((1, n_units)))
        if overall == "set":
            codes, uniques = _factorize(np.where(coded, sets, None), ordered=False)
            _, o, disagree, pairs, (unit, value, counts) = _nominal_parts(codes, len(uniques))
            shape = (max(len(uniques), 1), n_units)
            parts.update(set_o=o[None], set_dis=disagree[None], set_pairs=pairs[None],
                         set_nc=sparse.csr_matrix((counts, (value, unit)), shape=shape))
            if self.two:
                cols = np.arange(n_units)
                parts.update(set_a=sparse.csr_matrix((np.ones(n_units), (codes[0], cols)), shape=shape),
                             set_b=sparse.csr_matrix((np.ones(n_units), (codes[1], cols)), shape=shape),
                             set_xor=(codes[0] != codes[1]).astype(float)[None])
        self.slices, start = {}, 0
        for name, block in parts.items():
            self.slices[name] = slice(start, start + block.shape[0])
            start += block.shape[0]
        self.stacked = sparse.vstack([sparse.csr_matrix(b) for b in parts.values()], format="csr")

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Statistics for each row of unit weights ``w``: per code (rows x codes) and overall."""
        sums = np.asarray(self.stacked @ w.T).T
        get = lambda name: sums[:, self.slices[name]]  # noqa: E731
        n = get("m")  # (rows, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            n1, obs = get("n1"), (n - 1) * get("o")
            expected = n * n - n1 ** 2 - (n - n1) ** 2
            pa = 1 - get("dis") / get("pairs")
            out = {"alpha": _alpha(n, get("o"), expected), "pa": pa}
            if self.two:
                nn, sa, sb, dis = get("units"), get("a"), get("b"), get("xor")
                ew = (sa * (nn - sb) + sb * (nn - sa)) / nn  # sum of w * expected (scikit-learn)
                out["kappa"] = np.where(ew > 0, 1 - dis / ew, np.nan)
            if self.overall == "pooled":
                esum = expected.sum(axis=1)
                out["alpha_all"] = np.where(esum > 0, 1 - obs.sum(axis=1) / esum, np.nan)
                out["pa_all"] = pa.mean(axis=1) if pa.shape[1] else np.full(len(n), np.nan)
                if self.two:
                    ewsum = ew.sum(axis=1)
                    out["kappa_all"] = np.where(ewsum > 0, 1 - dis.sum(axis=1) / ewsum, np.nan)
            else:
                n = n[:, 0]
                n_c = get("set_nc")
                out["alpha_all"] = _alpha(n, get("set_o")[:, 0], n * n - (n_c * n_c).sum(axis=1))
                out["pa_all"] = 1 - get("set_dis")[:, 0] / get("set_pairs")[:, 0]
                if self.two:
                    nn = get("units")[:, 0]
                    ew = (nn * nn - (get("set_a") * get("set_b")).sum(axis=1)) / nn
                    out["kappa_all"] = np.where(ew > 0, 1 - get("set_xor")[:, 0] / ew, np.nan)
        return out

    def run(self, n_boot: int, ci: float, random_state) -> dict[str, tuple]:
        """{statistic: (estimate, low, high, n_valid)}, arrays over codes + the overall value last."""
        n_units = self.m.size
        est = self(np.ones((1, n_units)))
        est = {k: (np.append(v[0], est[k + "_all"][0]) if v.ndim == 2 else None) for k, v in est.items()}
        result = {}
        draws: dict[str, list] = {k: [] for k, v in est.items() if v is not None}
        if n_boot and n_units:
            for w in _weight_chunks(n_units, n_boot, random_state):
                boot = self(w)
                for k in draws:
                    draws[k].append(np.column_stack([boot[k], boot[k + "_all"]]))
        for k in draws:
            stats = np.vstack(draws[k]) if draws[k] else np.empty((0, est[k].size))
            bounds = [_interval(stats[:, j], ci) if len(stats) else (np.nan, np.nan, 0)
                      for j in range(est[k].size)]
            result[k] = (est[k], *map(np.array, zip(*bounds))) if bounds else (est[k],) + (np.array([]),) * 3
        return result


def _note(n_units: int, n1: float, n: float, n_valid: int, n_boot: int, overall: bool) -> str:
    notes = []
    if n_units == 0:
        return "no unit coded by two or more coders"
    if not overall and n1 == 0:
        notes.append("code never applied: agreement on absence only (kappa/alpha undefined)")
    elif not overall and n1 == n:
        notes.append("code applied to every unit by every coder (kappa/alpha undefined)")
    elif n_boot and n_valid < n_boot:
        notes.append(f"CI from the {n_valid} of {n_boot} resamples where the statistic is defined")
    return "; ".join(notes)


def _check_overall(overall: str) -> None:
    if overall not in ("pooled", "set"):
        raise ValueError(f"overall must be 'pooled' or 'set'; got {overall!r}")


def agreement_table(aligned_df: pd.DataFrame, codes: Sequence | None = None, n_boot: int = 1000,
                    random_state: int | np.random.Generator | None = 0, *, ci: float = 0.95,
                    overall: Literal["pooled", "set"] = "pooled", unit: str | Sequence[str] | None = None,
                    coder: str = "coder", codes_col: str | None = None) -> pd.DataFrame:
    """Agreement per code, and over all codes, for multi-label coding by any number of coders.

    ``aligned_df`` has one row per (unit, coder) with the set of codes the coder applied (column
    ``codes``: a set/list/tuple or a single code; empty or NaN = the coder coded the unit and
    applied none) or one row per applied code (column ``code``); rows of the same unit and coder
    are merged. The unit column is ``unit_id``, else ``utterance_id``, unless ``unit`` names it
    (several columns allowed, e.g. ``["transcript_id", "utterance_id"]`` where utterance ids
    repeat across transcripts). A missing row means the coder did not code that unit -- so a unit
    a coder read and left uncoded needs a row with an empty set, or absence cannot be told from
    not coding (:func:`themekit.codebook.coding.align_to_utterances` output has this shape).

    Each code becomes a presence/absence variable; units coded by fewer than two coders are
    dropped. One row per code (in ``codes`` order, default sorted; a listed code nobody applied
    gets a row too) and a last row ``"(all codes)"``: ``n_units`` (pairable units), ``n_coders``,
    ``prevalence_<coder>`` (share of the pairable units the coder coded that carry the code; on
    the overall row, carry any code), ``percent_agreement`` (as :func:`percent_agreement`),
    ``kappa`` with ``kappa_low``/``kappa_high`` (Cohen's kappa; NaN unless exactly two coders --
    see :func:`pairwise_kappa`), ``alpha`` with ``alpha_low``/``alpha_high`` (nominal
    Krippendorff's alpha), and ``note``. The overall row pools the codes' observed and expected
    disagreement (``overall="pooled"``, De Vries et al. 2008; see the module docstring) or
    compares whole code sets nominally (``overall="set"``). Pooled, its percent agreement is the
    mean over codes, which counts agreement on each code's absence: listing codes nobody uses
    raises it, while the pooled kappa and alpha do not change (such codes add no expected
    disagreement). CIs: percentile bootstrap over units, the same ``n_boot`` resamples for every
    row, as :func:`bootstrap_ci` would draw them with this ``random_state`` (units in sorted
    order); ``n_boot=0`` skips them.
    """
    _check_boot(n_boot, ci, allow_zero=True)
    _check_overall(overall)
    coding = _Coding(aligned_df, codes, unit, coder, codes_col)
    coded, present, sets = coding.restrict(range(len(coding.coders)))
    stats = _Stats(coded, present, sets, overall)
    res = stats.run(n_boot, ci, random_state)
    n_units = coded.shape[1]
    active = coded.any(axis=1)
    rows = []
    for j, code in enumerate(coding.codes + [ALL_CODES]):
        is_all = code == ALL_CODES
        row: dict[str, Any] = {"code": code, "n_units": n_units, "n_coders": int(active.sum())}
        for i, c in enumerate(coding.coders):
            hits = present[:, i].any(axis=0) if is_all else present[j, i]
            row[f"prevalence_{c}"] = float(hits[coded[i]].mean()) if coded[i].any() else np.nan
        row["percent_agreement"] = float(res["pa"][0][j])
        for stat in ("kappa", "alpha"):
            if stat in res:
                row[stat], row[f"{stat}_low"], row[f"{stat}_high"] = (float(res[stat][i][j]) for i in range(3))
            else:
                row[stat] = row[f"{stat}_low"] = row[f"{stat}_high"] = np.nan
        n1 = stats.n1[j].sum() if not is_all and n_units else 0
        n_valid = int(res["alpha"][3][j]) if n_boot and n_units else 0
        row["note"] = _note(n_units, n1, stats.m.sum(), n_valid, n_boot, is_all)
        rows.append(row)
    return pd.DataFrame(rows)


def pairwise_kappa(aligned_df: pd.DataFrame, codes: Sequence | None = None, n_boot: int = 1000,
                   random_state: int | np.random.Generator | None = 0, *, ci: float = 0.95,
                   overall: Literal["pooled", "set"] = "pooled", unit: str | Sequence[str] | None = None,
                   coder: str = "coder", codes_col: str | None = None) -> pd.DataFrame:
    """Cohen's kappa for each pair of coders, per code and over all codes.

    Same input and options as :func:`agreement_table`. For each pair (``coder_a`` < ``coder_b``)
    the units both coded are used; one row per code and an ``"(all codes)"`` row: ``n_units``,
    ``percent_agreement``, ``kappa``, ``kappa_low``, ``kappa_high``, ``note``. Each pair's CI is
    bootstrapped with a generator seeded by ``random_state`` afresh (an int seed), so a pair's
    figures do not depend on which other coders are in the data.
    """
    _check_boot(n_boot, ci, allow_zero=True)
    _check_overall(overall)
    coding = _Coding(aligned_df, codes, unit, coder, codes_col)
    rows = []
    for i, j in itertools.combinations(range(len(coding.coders)), 2):
        coded, present, sets = coding.restrict((i, j))
        stats = _Stats(coded, present, sets, overall)
        res = stats.run(n_boot, ci, random_state)
        n_units = coded.shape[1]
        for k, code in enumerate(coding.codes + [ALL_CODES]):
            is_all = code == ALL_CODES
            n1 = stats.n1[k].sum() if not is_all and n_units else 0
            n_valid = int(res["kappa"][3][k]) if n_boot and n_units else 0
            rows.append({
                "coder_a": coding.coders[i], "coder_b": coding.coders[j], "code": code, "n_units": n_units,
                "percent_agreement": float(res["pa"][0][k]), "kappa": float(res["kappa"][0][k]),
                "kappa_low": float(res["kappa"][1][k]), "kappa_high": float(res["kappa"][2][k]),
                "note": _note(n_units, n1, stats.m.sum(), n_valid, n_boot, is_all),
            })
    columns = ["coder_a", "coder_b", "code", "n_units", "percent_agreement", "kappa", "kappa_low",
               "kappa_high", "note"]
    return pd.DataFrame(rows, columns=columns)
