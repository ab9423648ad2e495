"""Coding drift on hand-made coding with synthetic embeddings (no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from themekit.audit import coded_units
from themekit.codebook.coding import CodedSegment
from themekit.audit import drift
from themekit.audit.drift import (DRIFT_COLUMNS, _Case, _inner_product_rows, _laney_limits, _null_chunk, _stats,
                                  _window_sums, benjamini_hochberg, control_chart, drift_table, holm)
from themekit.common.parallel import local_map

DIM = 16


def project(n_transcripts=10, per=6, shift_from=None, prevalence_from=None, seed=0, coder="A"):
    """Codes Stable and Moving (``per`` spans each per transcript) plus Other (filler).
    ``shift_from``: from this transcript (1-based) on, Moving's spans point elsewhere;
    ``prevalence_from``: from here on, Moving is applied three times as often."""
    rng = np.random.default_rng(seed)
    base = np.eye(DIM) * 3
    segs, vecs = [], []
    for t in range(1, n_transcripts + 1):
        tid = f"T{t}"
        pos = 0
        n_moving = per * (3 if prevalence_from and t >= prevalence_from else 1)
        plan = [("Stable", 0)] * per + [("Moving", 1)] * n_moving + [("Other", 3)] * (3 * per - n_moving)
        for code, axis in plan:
            v = base[axis].copy()
            if code == "Moving" and shift_from and t >= shift_from:
                v = base[2].copy() + base[1] * 0.3
            segs.append(CodedSegment(tid, pos, pos + 5, code, coder, f"{code} {t} {pos}"))
            vecs.append(v + rng.normal(0, 0.8, DIM))
            pos += 10
    units = coded_units(segs)
    key = {(s.transcript_id, s.start): v for s, v in zip(segs, vecs)}
    x = np.array([key[(t, s)] for t, s in zip(units.transcript_id, units.start)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    order = {coder: [f"T{t}" for t in range(1, n_transcripts + 1)]}
    return units, x, order


def test_benjamini_hochberg_by_hand():
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.2, np.nan])
    np.testing.assert_allclose(q[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert np.isnan(q[4])


def test_holm_by_hand():
    p = holm([0.01, 0.04, 0.03, 0.2, np.nan])
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1, kept non-decreasing
    np.testing.assert_allclose(p[:4], [0.04, 0.09, 0.09, 0.2])
    assert np.isnan(p[4])
    assert (holm([0.01, 0.04, 0.03, 0.2]) >= benjamini_hochberg([0.01, 0.04, 0.03, 0.2])).all()


def test_planted_centroid_shift_is_flagged_at_its_start_and_stable_code_is_not():
    units, x, order = project(shift_from=7)
    d = drift_table(units, x, order, n_permutations=200, random_state=0)
    assert list(d.columns) == DRIFT_COLUMNS
    flagged = d[d.flagged]
    assert set(flagged.code) == {"Moving"}
    assert list(flagged.window) == ["T7"]
    assert flagged.iloc[0].flag_reason == "centroid shift"
    moving = d[d.code == "Moving"].set_index("window")
    assert moving.loc["T7", "centroid_shift"] > 0.5 > moving.loc["T5", "centroid_shift"]
    assert moving.loc["T7", "shift_signal"] == "above"
    stable = d[d.code == "Stable"]
    assert stable.q_value.min() > 0.05 and (stable.prevalence == 0.25).all()


def test_planted_prevalence_change_is_flagged_up():
    units, x, order = project(prevalence_from=6, seed=1)
    d = drift_table(units, x, order, n_permutations=200, random_state=0)
    f = d[d.flagged]
    assert list(zip(f.code, f.window, f.flag_reason)) == [("Moving", "T6", "prevalence up"),
                                                          ("Other", "T6", "prevalence down")]
    row = d[(d.code == "Moving") & (d.window == "T6")].iloc[0]
    assert row.change_prevalence == pytest.approx(0.75 - 0.25)


def test_p_values_are_deterministic_for_a_random_state():
    units, x, order = project(shift_from=6, seed=2)
    a = drift_table(units, x, order, n_permutations=100, random_state=3)
    b = drift_table(units, x, order, n_permutations=100, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    c = drift_table(units, x, order, n_permutations=100, random_state=4)
    assert not np.allclose(a.p_shift.fillna(-1), c.p_shift.fillna(-1))


def test_overdispersed_null_widens_for_spread_between_windows():
    units, x, order = project(prevalence_from=6, seed=1)
    d = drift_table(units, x, order, null="overdispersed", n_permutations=200)
    sig_shift, sig_prev = d.attrs["overdispersion"]["A"]["Stable"]
    assert sig_shift >= 1 and sig_prev >= 1
    plain = drift_table(units, x, order, null="segment", n_permutations=200)
    assert (d.p_value.fillna(1) >= plain.p_value.fillna(1) - 1e-12).all()


def test_window_blocks_and_labels():
    units, x, order = project(n_transcripts=9)
    d = drift_table(units, x, order, window=3, n_permutations=50)
    w = d[d.code == "Stable"]
    assert list(w.window) == ["T1–T3", "T4–T6", "T7–T9"]
    assert list(w.transcripts) == ["T1, T2, T3", "T4, T5, T6", "T7, T8, T9"]
    assert (w.n_units == 3 * 24).all()


def test_window_sum_statistics_equal_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(14, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    win = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3])
    n = np.bincount(win).astype(float)
    tot = n + 2
    st = _stats(_window_sums(x, win[None], 4)[0], n, tot, min_segments=2)

    def cosd(a, b):
        return 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    for w in range(1, 4):
        before, after = x[win < w].sum(0), x[win >= w].sum(0)
        assert st["change_shift"][w] == pytest.approx(cosd(before, after))
        assert st["centroid_shift"][w] == pytest.approx(cosd(x[win == w].sum(0), before))
        assert st["change_prevalence"][w] == pytest.approx(n[w:].sum() / tot[w:].sum() - n[:w].sum() / tot[:w].sum())
        assert st["apart"][w] == pytest.approx(cosd(x[win == w].sum(0), x[win != w].sum(0)))
    assert np.isnan(st["change_shift"][0]) and np.isnan(st["centroid_shift"][0])


# -- the former formula (Gram matrices of the code's segments, n x n): the reference -----------
def _gram_stats(q, n, tot, min_segments):
    w = q.shape[-1]
    c = np.zeros(q.shape[:-2] + (w + 1, w + 1))
    c[..., 1:, 1:] = q.cumsum(-2).cumsum(-1)
    i = np.arange(w)
    aa = c[..., i, i]
    ab = c[..., i, w] - aa
    bb = c[..., w, w][..., None] - 2 * c[..., i, w] + aa
    ssq = np.diagonal(q, axis1=-2, axis2=-1)
    rc = np.concatenate([np.zeros(q.shape[:-1] + (1,)), np.cumsum(q, -1)[..., :-1]], -1)
    se = np.diagonal(rc, axis1=-2, axis2=-1)
    cn = np.concatenate([np.zeros(n.shape[:-1] + (1,)), np.cumsum(n, -1)], -1)
    nb, na = cn[..., :-1], cn[..., -1:] - cn[..., :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        change_shift = np.where((nb >= min_segments) & (na >= min_segments) & (aa > 0) & (bb > 0),
                                np.clip(1 - ab / np.sqrt(aa * bb), 0, 2), np.nan)
        shift = np.where((ssq > 0) & (aa > 0), np.clip(1 - se / np.sqrt(ssq * aa), 0, 2), np.nan)
        rows = q.sum(-1)
        total = rows.sum(-1, keepdims=True)
        rest_n = n.sum(-1, keepdims=True) - n
        rest_sq = total - 2 * rows + ssq
        apart = np.where((n > 0) & (rest_n >= min_segments) & (ssq > 0) & (rest_sq > 0),
                         np.clip(1 - (rows - ssq) / np.sqrt(ssq * rest_sq), 0, 2), np.nan)
    change_shift[..., 0] = np.nan
    return {"change_shift": change_shift, "centroid_shift": shift, "apart": apart}


def _gram_permutations(x, lab, perms, n_windows):
    """(B, W, W) window Gram matrices of the code's segments shuffled by ``perms``, as before."""
    gram = (x @ x.T).ravel()
    qp = np.zeros((len(perms), n_windows, n_windows))
    for b, p in enumerate(perms):
        lb = lab[p]
        flat = (lb[:, None] * n_windows + lb[None, :]).ravel()
        qp[b] = np.bincount(flat, weights=gram, minlength=n_windows ** 2).reshape(n_windows, n_windows)
    return qp


@pytest.mark.parametrize("n_k, dim", [(9, 16), (40, 6), (1, 4)])
def test_window_sums_give_the_gram_formula_statistics(n_k, dim):
    rng = np.random.default_rng(n_k)
    x = rng.normal(size=(n_k, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    lab = np.sort(rng.integers(0, 5, n_k))
    perms = np.stack([np.arange(n_k)] + [rng.permutation(n_k) for _ in range(30)])
    n = np.tile(np.bincount(lab, minlength=5).astype(float), (len(perms), 1))
    tot = n + 3
    z = _inner_product_rows(x)
    assert z.shape[1] == min(n_k, dim)
    new = _stats(_window_sums(z, lab[perms], 5), n, tot, min_segments=2)
    old = _gram_stats(_gram_permutations(x, lab, perms, 5), n, tot, min_segments=2)
    for k in old:
        np.testing.assert_allclose(new[k], old[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)


def _cases(n_windows=4, seed=0):
    rng = np.random.default_rng(seed)
    seg_window = np.sort(rng.integers(0, n_windows, 60))
    has = rng.random(60) < 0.4
    x = rng.normal(size=(60, 8))
    tot_w = np.bincount(seg_window, minlength=n_windows)
    return [_Case((0, 1, j), _inner_product_rows(x[has]), seg_window[has], tot_w, 3) for j in range(2)]


def test_permutation_chunks_do_not_change_the_numbers():
    cases = _cases()
    whole = _null_chunk(cases, (1, 0, 60))
    blocks = [_null_chunk(cases, (1, b, min(b + drift.PERM_BLOCK, 60))) for b in range(0, 60, drift.PERM_BLOCK)]
    assert len(blocks) == 3
    for k in whole:
        np.testing.assert_array_equal(whole[k], np.concatenate([s[k] for s in blocks]))
    # another code draws other permutations
    other = _null_chunk(cases, (0, 0, 60))
    assert not np.allclose(np.nan_to_num(other["change_prevalence"]), np.nan_to_num(whole["change_prevalence"]))


def test_drift_table_is_the_same_whatever_the_chunks_and_the_mapper(monkeypatch):
    units, x, order = project(shift_from=6, seed=2)
    a = drift_table(units, x, order, n_permutations=60, random_state=1)
    calls = []

    def mapper(fn, items):
        items = list(items)
        calls.append(len(items))
        return list(local_map(fn, reversed(items)))[::-1]

    monkeypatch.setattr(drift, "PERM_CHUNK_BUDGET", 1)     # one block of permutations per chunk
    b = drift_table(units, x, order, n_permutations=60, random_state=1, mapper=mapper)
    assert calls == [3 * 3]            # 3 codes, 60 permutations in blocks of 25, 25, 10
    pd.testing.assert_frame_equal(a, b)


def test_laney_limits_by_hand():
    n, tot = np.array([5.0, 10, 5, 20]), np.array([50.0, 50, 50, 50])
    center = n.sum() / tot.sum()
    lcl, ucl, sigma_z = _laney_limits(n, tot, center)
    s = np.sqrt(center * (1 - center) / 50)
    z = (n / tot - center) / s
    expected = max(1.0, np.mean(np.abs(np.diff(z))) / 1.128)
    assert sigma_z == pytest.approx(expected)
    np.testing.assert_allclose(ucl, np.clip(center + 3 * s * expected, 0, 1))
    np.testing.assert_allclose(lcl, np.clip(center - 3 * s * expected, 0, 1))


def test_each_coder_has_their_own_order():
    u1, x1, _ = project(n_transcripts=5, coder="A")
    u2, x2, _ = project(n_transcripts=3, coder="B", seed=5)
    units = pd.concat([u1, u2], ignore_index=True)
    x = np.vstack([x1, x2])
    order = {"A": ["T1", "T2", "T3", "T4", "T5"], "B": ["T3", "T1", "T2"]}
    d = drift_table(units, x, order, n_permutations=50)
    assert list(d[(d.coder == "B") & (d.code == "Stable")].window) == ["T3", "T1", "T2"]
    assert d.groupby("coder").size().to_dict() == {"A": 15, "B": 9}


@pytest.mark.parametrize("kw, msg", [({"window": 0}, "window"), ({"null": "x"}, "null"),
                                     ({"n_permutations": 5}, "n_permutations"), ({"alpha": 2.0}, "alpha")])
def test_parameter_errors(kw, msg):
    units, x, order = project(n_transcripts=3)
    with pytest.raises(ValueError, match=msg):
        drift_table(units, x, order, **kw)


def test_control_chart_has_limits_and_flag_marker():
    units, x, order = project(shift_from=7)
    d = drift_table(units, x, order, n_permutations=200)
    fig = control_chart(d, "Moving")
    names = [t.name for t in fig.data]
    assert {"prevalence", "centroid shift", "control limits", "change from here"} <= set(names)
    assert list(fig.data[0].x) == [f"T{i}" for i in range(1, 11)]
    with pytest.raises(ValueError, match="no drift rows"):
        control_chart(d, "Nope")
