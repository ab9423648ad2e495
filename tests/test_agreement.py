"""Intercoder agreement: exact values on hand-worked examples, equality with scikit-learn's
cohen_kappa_score and the krippendorff package on random data, and the AnnoMI exactness check."""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from themekit.audit.agreement import (
    ALL_CODES, BootstrapCI, agreement_table, bootstrap_ci, cohen_kappa, krippendorff_alpha,
    pairwise_kappa, percent_agreement, reliability_matrix,
)

nan = np.nan
ANNOMI = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi" / "AnnoMI-full.csv"
FAST = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(x: float, y: float, tol: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol


def sk_kappa(a, b, **kw) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning where kappa is undefined
        return float(cohen_kappa_score(a, b, **kw))


def kd_alpha(data, level="nominal") -> float:
    """The krippendorff package's alpha, NaN where it refuses (one value, nothing pairable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 0/0 where the pairable values do not vary
            return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except ValueError:
        return nan


# --------------------------------------------------------------------------- Cohen's kappa

def test_kappa_hand_examples():
    # scikit-learn's example. Po = 4/5. Marginals a: neg 2, pos 2, neu 1; b: neg 3, pos 1, neu 1.
    # Pe = (2*3 + 2*1 + 1*1) / 25 = 9/25; kappa = (0.8 - 0.36) / 0.64 = 0.6875.
    a = ["negative", "positive", "negative", "neutral", "positive"]
    b = ["negative", "positive", "negative", "neutral", "negative"]
    assert cohen_kappa(a, b) == pytest.approx(0.6875, abs=1e-15)
    # Wikipedia's 2x2 example, 50 units: yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    # Po = 35/50 = 0.7; P(a yes) = 0.5, P(b yes) = 0.6; Pe = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.4.
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-15)
    assert percent_agreement([a, b]) == pytest.approx(0.7, abs=1e-15)
    # Weighted: a = 0 1 2, b = 0 2 2. Only (1, 2) disagrees: sum w*O = 1 (linear), 1 (quadratic).
    # Expected = a_i * b_j / 3 with a = (1, 1, 1), b = (1, 0, 2): linear sum = (1*3 + 2*3) / 3 = 3,
    # quadratic sum = (1*5 + 2*5) / 3 = 5. kappa = 1 - 1/3 and 1 - 1/5.
    assert cohen_kappa([0, 1, 2], [0, 2, 2], weights="linear") == pytest.approx(2 / 3, abs=1e-15)
    assert cohen_kappa([0, 1, 2], [0, 2, 2], weights="quadratic") == pytest.approx(0.8, abs=1e-15)


def test_kappa_undefined_and_missing():
    # Expected agreement 1 (one category throughout): kappa undefined -> NaN, like scikit-learn.
    assert math.isnan(cohen_kappa(["x", "x", "x"], ["x", "x", "x"]))
    assert math.isnan(sk_kappa(["x", "x", "x"], ["x", "x", "x"]))
    assert percent_agreement([["x", "x", "x"], ["x", "x", "x"]]) == 1.0
    assert math.isnan(cohen_kappa([], []))
    # Units where either coder is missing are dropped.
    a, b = ["p", None, "q", "p", nan, "q"], ["p", "q", "q", "q", "p", None]
    assert cohen_kappa(a, b) == pytest.approx(sk_kappa(["p", "q", "p"], ["p", "q", "q"]), abs=1e-15)
    with pytest.raises(ValueError, match="same units"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")


labels_st = st.sampled_from([0, 1, 2, 3])


@FAST
@given(st.data())
def test_kappa_equals_sklearn(data):
    n = data.draw(st.integers(1, 30))
    a = data.draw(st.lists(labels_st, min_size=n, max_size=n))
    b = data.draw(st.lists(labels_st, min_size=n, max_size=n))
    weights = data.draw(st.sampled_from([None, "linear", "quadratic"]))
    labels = data.draw(st.one_of(st.none(), st.permutations([0, 1, 2, 3]).flatmap(
        lambda p: st.integers(1, 4).map(lambda k: list(p[:k])))))
    if labels is not None and not set(labels) & set(a):
        return  # scikit-learn refuses: no label of `labels` in a
    if data.draw(st.booleans()):  # text labels too
        a, b = [f"c{x}" for x in a], [f"c{x}" for x in b]
        labels = None if labels is None else [f"c{x}" for x in labels]
    ours = cohen_kappa(a, b, labels=labels, weights=weights)
    assert same(ours, sk_kappa(a, b, labels=labels, weights=weights), 1e-12)
    assert same(ours, cohen_kappa(b, a, labels=labels, weights=weights), 1e-12)


# --------------------------------------------------------------------- Krippendorff's alpha

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", sec. C: 4 observers, 12 units.
K2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]


def test_alpha_krippendorff_2011_example():
    # Unit 12 has one value: not pairable. n = 40 pairable values.
    # Per unit, o_u = (ordered pairs of equal values) / (m_u - 1) on the diagonal:
    #   u1 (1,1,1) 3; u2 (2,2,3,2) 2; u3, u4 (3 x4) 4 + 4; u5 (2 x4) 4; u6 (1,2,3,4) 0; u7 (4 x4) 4;
    #   u8 (1,1,2,1) 2; u9 (2 x4) 4; u10 (5,5,5) 3; u11 (1,1) 2  ->  sum o_cc = 32.
    # Value totals n_c: 1: 9, 2: 13, 3: 10, 4: 5, 5: 3 -> sum n_c^2 = 384.
    # alpha = 1 - (n - 1) (n - sum o_cc) / (n^2 - sum n_c^2) = 1 - 39 * 8 / 1216 = 113/152 = 0.743.
    assert krippendorff_alpha(K2011) == pytest.approx(113 / 152, abs=1e-15)
    # Percent agreement: agreeing ordered pairs 6+6+12+12+12+0+12+6+12+6+2 = 86 of 110.
    assert percent_agreement(K2011) == pytest.approx(86 / 110, abs=1e-15)
    # The paper's other levels: ordinal 0.815, interval 0.849.
    assert round(krippendorff_alpha(K2011, "ordinal"), 3) == 0.815
    assert round(krippendorff_alpha(K2011, "interval"), 3) == 0.849
    for level in ("nominal", "ordinal", "interval"):
        assert same(krippendorff_alpha(K2011, level), kd_alpha(K2011, level), 1e-12)
    # The same data as text, a DataFrame, and a NumPy string array ("nan" = missing).
    words = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    text = [[words.get(v) for v in row] for row in K2011]
    assert krippendorff_alpha(text) == pytest.approx(113 / 152, abs=1e-15)
    assert krippendorff_alpha(pd.DataFrame(text)) == pytest.approx(113 / 152, abs=1e-15)
    as_str = np.array([[words.get(v, "nan") for v in row] for row in K2011])
    assert krippendorff_alpha(as_str) == pytest.approx(113 / 152, abs=1e-15)
    domain = ["very low", "low", "mid", "high", "very high"]
    assert krippendorff_alpha(text, "ordinal", value_domain=domain) == pytest.approx(
        krippendorff_alpha(K2011, "ordinal"), abs=1e-15)
    with pytest.raises(ValueError, match="value_domain"):
        krippendorff_alpha(text, "ordinal")
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(text, "interval")


def test_alpha_undefined_and_invalid():
    assert math.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, nan]]))  # no variation
    assert math.isnan(krippendorff_alpha([[1, nan], [nan, 2]]))  # nothing pairable
    assert math.isnan(krippendorff_alpha(np.empty((2, 0))))
    assert math.isnan(percent_agreement([[1, nan], [nan, 2]]))
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(K2011, "ratio")
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(ValueError, match="not in value_domain"):
        krippendorff_alpha([[1, 2], [1, 3]], value_domain=[1, 2])
    # Sets are compared as whole values (exact-set agreement).
    assert krippendorff_alpha([[{"a"}, {"a", "b"}, None], [{"a"}, {"b", "a"}, set()]]) == 1.0


@FAST
@given(st.data())
def test_alpha_equals_krippendorff_package(data):
    coders, units = data.draw(st.integers(2, 5)), data.draw(st.integers(1, 15))
    cell = st.one_of(st.just(nan), st.integers(0, 4).map(float))
    matrix = data.draw(st.lists(st.lists(cell, min_size=units, max_size=units), min_size=coders, max_size=coders))
    for level in ("nominal", "ordinal", "interval"):
        assert same(krippendorff_alpha(matrix, level), kd_alpha(matrix, level), 1e-9)
    # Two complete coders: percent agreement is the plain share of agreeing units.
    a, b = matrix[0], matrix[1]
    both = [(x, y) for x, y in zip(a, b) if not (math.isnan(x) or math.isnan(y))]
    expected = np.mean([x == y for x, y in both]) if both else nan
    assert same(percent_agreement([a, b]), expected, 1e-12)


# ------------------------------------------------------------------------------- bootstrap

def test_bootstrap_ci_is_a_seeded_percentile_bootstrap_over_units():
    a = ["y", "y", "n", "n", "y", "n", "y", "y", "n", "n", "y", "n"]
    b = ["y", "n", "n", "n", "y", "n", "y", "y", "y", "n", "y", "n"]
    stat = lambda d: cohen_kappa(d[0], d[1])  # noqa: E731
    res = bootstrap_ci(stat, [a, b], n_boot=50, ci=0.9, random_state=7)
    assert isinstance(res, BootstrapCI)
    rng = np.random.default_rng(7)
    manual = []
    for _ in range(50):
        idx = rng.integers(0, 12, size=12)
        manual.append(cohen_kappa(np.take(a, idx), np.take(b, idx)))
    manual = np.array(manual)
    valid = manual[~np.isnan(manual)]
    assert res.estimate == cohen_kappa(a, b)
    assert [res.low, res.high] == pytest.approx(np.quantile(valid, [0.05, 0.95]), abs=1e-12)
    assert res.n_valid == valid.size
    assert res == bootstrap_ci(stat, [a, b], n_boot=50, ci=0.9, random_state=7)
    assert res != bootstrap_ci(stat, [a, b], n_boot=50, ci=0.9, random_state=8)
    # alpha on units-as-columns data; a DataFrame gives the same result as its values.
    r1 = bootstrap_ci(krippendorff_alpha, K2011, n_boot=100)
    assert r1 == bootstrap_ci(krippendorff_alpha, pd.DataFrame(K2011), n_boot=100)
    assert r1.low <= r1.estimate <= r1.high
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(stat, [a, b], n_boot=0)
    with pytest.raises(ValueError, match="ci"):
        bootstrap_ci(stat, [a, b], ci=95)


# ------------------------------------------------------------------- multi-label tables

def toy() -> pd.DataFrame:
    # u5 is coded by c1 only (not pairable).
    return pd.DataFrame({
        "utterance_id": ["u1", "u2", "u3", "u4", "u5", "u1", "u2", "u3", "u4"],
        "coder": ["c1"] * 5 + ["c2"] * 4,
        "codes": [{"A"}, {"A", "B"}, set(), {"B"}, {"A"}, {"A"}, {"B"}, frozenset(), ("A", "B")],
    })


def test_agreement_table_hand_example():
    # Code A: c1 = 1 1 0 0, c2 = 1 0 0 1. Po = 1/2, Pe = .5*.5 + .5*.5 = 1/2 -> kappa 0.
    #   alpha: n = 8 values, n_1 = n_0 = 4; u2 and u4 each have 2 differing ordered pairs / (2-1)
    #   -> sum o = 4; alpha = 1 - 7 * 4 / (64 - 16 - 16) = 1 - 28/32 = 0.125.
    # Code B: c1 = 0 1 0 1 = c2 -> kappa = alpha = 1, agreement 1.
    # Pooled (De Vries): kappa = 1 - sum(1 - Po) / sum(1 - Pe) = 1 - (.5 + 0) / (.5 + .5) = 0.5;
    #   alpha = 1 - 7 * (4 + 0) / (32 + 32) = 0.5625; percent agreement = (.5 + 1) / 2 = .75.
    # Prevalence overall = share of units with any code: 3/4 for both coders.
    t = agreement_table(toy(), n_boot=0)
    assert list(t["code"]) == ["A", "B", ALL_CODES]
    assert list(t["n_units"]) == [4, 4, 4] and list(t["n_coders"]) == [2, 2, 2]
    assert t["kappa"].tolist() == pytest.approx([0.0, 1.0, 0.5], abs=1e-15)
    assert t["alpha"].tolist() == pytest.approx([0.125, 1.0, 0.5625], abs=1e-15)
    assert t["percent_agreement"].tolist() == pytest.approx([0.5, 1.0, 0.75], abs=1e-15)
    assert t["prevalence_c1"].tolist() == [0.5, 0.5, 0.75]
    assert t["kappa_low"].isna().all()
    # overall="set": values {A}, {A,B}, {}, {B} vs {A}, {B}, {}, {A,B}: Po = 1/2, Pe = 4 * (1/4)^2
    #   -> kappa = (.5 - .25) / .75 = 1/3; alpha = 1 - 7 * 4 / (64 - 4 * 2^2) = 1 - 28/48 = 5/12.
    s = agreement_table(toy(), n_boot=0, overall="set").iloc[-1]
    assert (s["kappa"], s["alpha"], s["percent_agreement"]) == pytest.approx((1 / 3, 5 / 12, 0.5), abs=1e-15)
    # A listed code nobody applied: its own kappa/alpha undefined, the pooled ones unchanged.
    t3 = agreement_table(toy(), codes=["A", "B", "C"], n_boot=0)
    assert math.isnan(t3.loc[2, "alpha"]) and "never applied" in t3.loc[2, "note"]
    assert t3.iloc[-1]["alpha"] == pytest.approx(0.5625, abs=1e-15)
    # pairwise_kappa: the same figures for the only pair.
    p = pairwise_kappa(toy(), n_boot=0)
    assert list(p["code"]) == ["A", "B", ALL_CODES] and set(p["coder_a"]) == {"c1"}
    assert p["kappa"].tolist() == pytest.approx([0.0, 1.0, 0.5], abs=1e-15)


def test_tidy_input_forms():
    # One row per applied code ("code" column), a NaN code = coded, nothing applied.
    long = pd.DataFrame({"unit_id": [1, 2, 2, 3, 4, 1, 2, 3, 4, 4],
                         "coder": ["c1"] * 5 + ["c2"] * 5,
                         "code": ["A", "A", "B", nan, "B", "A", "B", nan, "A", "B"]})
    t = agreement_table(long, n_boot=0)
    assert t["alpha"].tolist() == pytest.approx([0.125, 1.0, 0.5625], abs=1e-15)
    two_cols = long.assign(transcript="T1", utt=long["unit_id"]).drop(columns="unit_id")
    t2 = agreement_table(two_cols, n_boot=0, unit=["transcript", "utt"])
    pd.testing.assert_frame_equal(t, t2)
    with pytest.raises(ValueError, match="unit column"):
        agreement_table(long.drop(columns="unit_id"))
    with pytest.raises(ValueError, match="overall"):
        agreement_table(long, overall="masi")


def naive_pooled(cube: np.ndarray) -> tuple[float, list[float]]:
    """Pooled and per-code alpha from ordered coder pairs; cube = codes x coders x units, NaN missing."""
    do_sum, de_sum, alphas = 0.0, 0.0, []
    for x in cube:
        vals = [[v for v in x[:, u] if not math.isnan(v)] for u in range(x.shape[1])]
        vals = [v for v in vals if len(v) >= 2]
        pooled = [v for unit in vals for v in unit]
        n = len(pooled)
        if n == 0:
            alphas.append(nan)
            continue
        do = sum(sum(p != q for p, q in itertools.permutations(u, 2)) / (len(u) - 1) for u in vals) / n
        de = sum(p != q for p, q in itertools.permutations(pooled, 2)) / (n * (n - 1))
        do_sum, de_sum = do_sum + do, de_sum + de
        alphas.append(1 - do / de if de else nan)
    return (1 - do_sum / de_sum if de_sum else nan), alphas


# A cell: not coded (None), or the set of codes applied (possibly empty).
cell_st = st.one_of(st.none(), st.frozensets(st.sampled_from("ABC")), st.frozensets(st.sampled_from("ABC")))
grid_st = st.integers(2, 4).flatmap(lambda c: st.lists(st.lists(cell_st, min_size=c, max_size=c),
                                                       min_size=1, max_size=10))


@settings(max_examples=30, deadline=None)
@given(grid_st)
def test_agreement_table_equals_reference_implementations(grid):
    rows = [{"unit_id": u, "coder": f"c{c}", "codes": s}
            for u, unit in enumerate(grid) for c, s in enumerate(unit) if s is not None]
    if not rows:
        return
    df = pd.DataFrame(rows)
    table = agreement_table(df, codes=list("ABC"), n_boot=0)
    coders = sorted(df["coder"].unique())
    units = sorted(df["unit_id"].unique())
    cube = np.full((3, len(coders), len(units)), nan)
    for r in rows:
        for k, code in enumerate("ABC"):
            cube[k, coders.index(r["coder"]), units.index(r["unit_id"])] = code in r["codes"]
    pooled, alphas = naive_pooled(cube)
    for k in range(3):
        assert same(table.loc[k, "alpha"], kd_alpha(cube[k]), 1e-9)
        assert same(table.loc[k, "alpha"], alphas[k], 1e-9)
        assert same(table.loc[k, "percent_agreement"], percent_agreement(cube[k]), 1e-12)
    assert same(table.iloc[-1]["alpha"], pooled, 1e-9)
    for _, row in pairwise_kappa(df, codes=list("ABC"), n_boot=0).iterrows():
        if row["code"] == ALL_CODES:
            continue
        k, i, j = "ABC".index(row["code"]), coders.index(row["coder_a"]), coders.index(row["coder_b"])
        both = ~np.isnan(cube[k, i]) & ~np.isnan(cube[k, j])
        assert row["n_units"] == both.sum()
        expected = sk_kappa(cube[k, i][both], cube[k, j][both]) if both.any() else nan
        assert same(row["kappa"], expected, 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 3).flatmap(lambda c: st.lists(
    st.lists(st.one_of(st.none(), st.sampled_from("ABC")), min_size=c, max_size=c), min_size=1, max_size=12)))
def test_pooled_equals_nominal_on_single_label_data(grid):
    # One code per unit and coder: a disagreement A/B is one in A's and one in B's binary variable,
    # and the expected disagreements double too, so pooled kappa/alpha = nominal kappa/alpha.
    rows = [{"unit_id": u, "coder": c, "code": v} for u, unit in enumerate(grid) for c, v in enumerate(unit)
            if v is not None]
    if not rows:
        return
    overall = agreement_table(pd.DataFrame(rows), n_boot=0).iloc[-1]
    matrix = [[unit[c] for unit in grid] for c in range(len(grid[0]))]
    assert same(overall["alpha"], krippendorff_alpha(matrix), 1e-12)
    if len(matrix) == 2:
        assert same(overall["kappa"], cohen_kappa(*matrix), 1e-12)


def test_table_intervals_match_bootstrap_ci():
    # The tables' vectorised bootstrap draws the resamples bootstrap_ci draws (same random_state).
    rng = np.random.default_rng(3)
    rows = [{"unit_id": u, "coder": c, "codes": frozenset(x for x in "AB" if rng.random() < 0.4)}
            for u in range(30) for c in ("c1", "c2", "c3") if rng.random() < 0.85]
    df = pd.DataFrame(rows)
    table = agreement_table(df, n_boot=100, random_state=11)
    cube = np.full((2, 3, 30), nan)
    for r in rows:
        for k, code in enumerate("AB"):
            cube[k, int(r["coder"][1]) - 1, r["unit_id"]] = code in r["codes"]
    cube = cube[:, :, (~np.isnan(cube[0])).sum(axis=0) >= 2]  # pairable units, in table order
    for k in range(2):
        ref = bootstrap_ci(krippendorff_alpha, cube[k], n_boot=100, random_state=11)
        got = table.loc[k, ["alpha", "alpha_low", "alpha_high"]].tolist()
        assert got == pytest.approx([ref.estimate, ref.low, ref.high], abs=1e-12)
    ref = bootstrap_ci(lambda x: naive_pooled(x)[0], cube, n_boot=100, random_state=11)
    assert table.iloc[-1][["alpha", "alpha_low", "alpha_high"]].tolist() == pytest.approx(
        [ref.estimate, ref.low, ref.high], abs=1e-12)
    # Kappa for one pair of coders, on the units both coded.
    pair = pairwise_kappa(df, n_boot=100, random_state=11)
    row = pair[(pair["coder_a"] == "c1") & (pair["coder_b"] == "c2") & (pair["code"] == "A")].iloc[0]
    both = ~np.isnan(cube[0, 0]) & ~np.isnan(cube[0, 1])
    ref = bootstrap_ci(lambda d: cohen_kappa(d[0], d[1]), cube[0, :2][:, both], n_boot=100, random_state=11)
    assert [row["kappa"], row["kappa_low"], row["kappa_high"]] == pytest.approx(
        [ref.estimate, ref.low, ref.high], abs=1e-12)


# ------------------------------------------------------------------------- AnnoMI (real data)

@pytest.mark.skipif(not ANNOMI.exists(), reason=f"AnnoMI data not found at {ANNOMI}")
def test_annomi_multi_annotator_exactness():
    # Utterances are (transcript_id, utterance_id); annotators are annotator_id. The multi-annotated
    # part is 428 utterances in 7 transcripts, each coded by all 10 annotators. main_therapist_behaviour
    # is coded on therapist utterances only (216); client rows have it NaN for every annotator, so
    # they are not pairable: alpha is the same with or without them, and kappa uses therapist rows.
    df = pd.read_csv(ANNOMI, usecols=["transcript_id", "utterance_id", "interlocutor", "annotator_id",
                                      "main_therapist_behaviour", "client_talk_type"])
    key = ["transcript_id", "utterance_id"]
    multi = df[df.groupby(key)["annotator_id"].transform("nunique") >= 2]
    assert multi.drop_duplicates(key).shape[0] == 428
    therapist = multi[multi["interlocutor"] == "therapist"]
    data = reliability_matrix(therapist, unit=key, coder="annotator_id", value="main_therapist_behaviour")
    assert data.shape == (10, 216)
    ours = krippendorff_alpha(data)
    ref = krippendorff.alpha(reliability_data=data.to_numpy(dtype=str), level_of_measurement="nominal")
    assert abs(ours - ref) <= 1e-9
    everything = reliability_matrix(multi, unit=key, coder="annotator_id", value="main_therapist_behaviour")
    assert abs(krippendorff_alpha(everything) - ref) <= 1e-9
    for i, j in itertools.combinations(data.index, 2):
        a, b = data.loc[i], data.loc[j]
        both = a.notna() & b.notna()
        assert abs(cohen_kappa(a, b) - cohen_kappa_score(a[both], b[both])) <= 1e-12
    # The same through the tidy table: overall="set" on single-label data is plain nominal alpha,
    # and each behaviour's row is the one-vs-rest binary alpha.
    tidy = therapist.rename(columns={"annotator_id": "coder", "main_therapist_behaviour": "code"})
    table = agreement_table(tidy, unit=key, n_boot=0, overall="set")
    assert abs(table.iloc[-1]["alpha"] - ref) <= 1e-9
    pooled = agreement_table(tidy, unit=key, n_boot=0)  # single-label: pooled = nominal too
    assert abs(pooled.iloc[-1]["alpha"] - ref) <= 1e-9
    for _, row in table.iloc[:-1].iterrows():
        binary = data.eq(row["code"]).astype(float).to_numpy()
        assert abs(row["alpha"] - krippendorff.alpha(reliability_data=binary, level_of_measurement="nominal")) <= 1e-9
    # client_talk_type on client utterances: another variable, same check.
    client = reliability_matrix(multi[multi["interlocutor"] == "client"], unit=key, coder="annotator_id",
                                value="client_talk_type")
    ref = krippendorff.alpha(reliability_data=client.to_numpy(dtype=str), level_of_measurement="nominal")
    assert abs(krippendorff_alpha(client) - ref) <= 1e-9
