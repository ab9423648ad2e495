"""Learned weights, calibration, the review queue and the weak-codebook warning (issue 13), on
tiny hand-made inputs with exact expected outputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from themekit.codebook import Code, Codebook
from themekit.mapping import CodeMapper, bare_codes, expected_calibration_error, queue_precision, \
    reliability_table, review_queue, weak_codebook
from themekit.mapping.calibration import (MIN_SEEDS, TemperatureCalibrator, choose_weights, fold_of,
                                          mix_components, top1_kappa, zero_shot_weights)

from test_mapping import EMB, book, units


def test_ece_and_reliability_table_exact():
    conf = np.array([0.15, 0.15, 0.85, 0.85, 0.95])
    right = np.array([0, 1, 1, 1, 1])
    t = reliability_table(conf, right, n_bins=10)
    assert t[["bin_low", "n"]].values.tolist() == [[0.1, 2], [0.8, 2], [0.9, 1]]
    assert t["observed"].tolist() == [0.5, 1.0, 1.0]
    # |0.5-0.15|*2 + |1-0.85|*2 + |1-0.95|*1, over 5
    assert expected_calibration_error(conf, right) == pytest.approx((0.7 + 0.3 + 0.05) / 5)


def test_folds_are_balanced_and_deterministic():
    f = fold_of(23, 5, random_state=3)
    assert sorted(np.bincount(f).tolist()) == [4, 4, 5, 5, 5]
    assert (f == fold_of(23, 5, random_state=3)).all() and not (f == fold_of(23, 5, random_state=4)).all()


def test_choose_weights_follows_the_source_that_is_right_and_falls_back_when_unsure():
    n, k = 30, 3
    truth = [[i % k] for i in range(n)]
    right = np.full((n, k), 0.1)
    right[np.arange(n), np.arange(n) % k] = 0.8
    wrong = np.roll(right, 1, axis=1)
    comps = [wrong, wrong, right, right]
    zero = zero_shot_weights(True)
    w, learned, reason, _ = choose_weights(comps, truth, zero, k, fold=fold_of(n, 5))
    assert learned and w[0] == w[1] == 0 and w[2] + w[3] == pytest.approx(1.0)
    # fewer seeds than MIN_SEEDS: the zero-shot weights, whatever the seeds say
    few = MIN_SEEDS - 1
    w, learned, reason, _ = choose_weights([c[:few] for c in comps], truth[:few], zero, k)
    assert not learned and (w == zero).all() and "too few" in reason
    # a source no better than the zero-shot one: no gain, zero-shot weights kept
    w, learned, _, mixed = choose_weights([right, right, right, right], truth, zero, k)
    assert np.allclose(mixed, right)
    assert not learned and (w == zero).all()


def test_mix_components_renormalises_each_source_over_the_codes():
    a = np.array([[0.2, 0.2, 0.6]])          # a "no code" column: codes renormalised to 0.5/0.5
    b = np.array([[1.0, 0.0]])
    out = mix_components([a, None, b, None], np.array([0.5, 0, 0.5, 0]), 2)
    assert out.tolist() == [[0.75, 0.25]]


def test_top1_kappa_uses_the_gold_rule():
    q = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    # row 3: top code 0 is among the human codes {0, 1}: counted right
    assert top1_kappa(q, [[0], [1], [0, 1], [1]], 2) == pytest.approx(1.0)
    assert top1_kappa(q, [[1], [0], [1], [0]], 2) == pytest.approx(-1.0)


def test_temperature_calibration_flattens_overconfident_scores_and_keeps_order():
    rng = np.random.default_rng(0)
    n, k = 400, 4
    p = np.full((n, k), 0.02)
    top = rng.integers(0, k, n)
    p[np.arange(n), top] = 0.94                 # says 94%, is right 60% of the time
    truth = [[t] if rng.random() < 0.6 else [(t + 1) % k] for t in top]
    cal = TemperatureCalibrator().fit(p, truth)
    assert cal.exponent_ < 1
    q = cal.transform(p)
    assert np.allclose(q.sum(axis=1), 1) and (q.argmax(axis=1) == top).all()
    assert abs(q[np.arange(n), top].mean() - 0.6) < 0.05
    right = np.array([t in tr for t, tr in zip(top, truth)])
    assert expected_calibration_error(q[np.arange(n), top], right) < expected_calibration_error(
        p[np.arange(n), top], right)
    # a "no code" share stays as it is
    pn = np.array([[0.3, 0.1, 0.1, 0.1]])
    assert cal.transform(pn).sum() == pytest.approx(0.6)


def test_review_queue_orders_by_score_and_expects_the_running_mean():
    s = pd.DataFrame({"utterance_id": ["a", "b", "c", "d", "e"], "code": list("XYXYX"),
                      "score": [0.5, 0.9, 0.7, 0.95, 0.3], "rank": [1, 1, 1, 1, 1],
                      "suggested": [True, True, True, True, False], "abstained": [False] * 5,
                      "seeded": [False, False, False, True, False]})
    q = review_queue(s, calibrated=True)
    assert q["utterance_id"].tolist() == ["b", "c", "a"]      # d is a seed, e not suggested
    assert q["queue"].tolist() == [1, 2, 3]
    assert q["expected_right"].tolist() == pytest.approx([0.9, 0.8, 0.7])
    p = queue_precision(q, tops=(2, 50))
    assert p.values.tolist() == [[2, 2, pytest.approx(0.8)], [50, 3, pytest.approx(0.7)]]
    assert review_queue(s, calibrated=False)["expected_right"].isna().all()


def test_weak_codebook_warning():
    named = [Code(None, n) for n in ("Trust", "Barriers", "Cost")]
    assert bare_codes(named) == ["Trust", "Barriers", "Cost"]
    assert "3 of 3 codes have only a name" in weak_codebook(named)
    described = [Code(None, "Trust", "Believing the service acts in your interest."),
                 Code(None, "Barriers", examples=("I could not get there.",)), Code(None, "Cost")]
    assert weak_codebook(described) is None      # one bare code of three


def test_mapper_warns_once_for_a_names_only_codebook(caplog):
    us = units(["alpha", "beta", "gamma"])
    with caplog.at_level(logging.WARNING, logger="themekit"):
        m = CodeMapper(context=None).fit(Codebook([Code(None, n) for n in ("alpha", "beta", "gamma")]), us,
                                         embedder=EMB)
    assert m.weak_codebook_ is not None
    assert sum("weak codebook" in r.message for r in caplog.records) == 1
    assert CodeMapper(context=None).fit(book(("A", "alpha", {}), ("B", "beta", {})), us,
                                        embedder=EMB).weak_codebook_ is None


def _seeded_study():
    cb = book(("Alpha", "alpha", {}), ("Beta", "beta", {}))
    texts = ["zeta"] * 10 + ["eta"] * 10 + ["zeta alpha", "eta beta"] * 3
    us = units(texts)
    seeds = {f"u{i}": "Alpha" for i in range(6)} | {f"u{i}": "Beta" for i in range(10, 16)}
    return cb, us, seeds


def test_seeded_scores_are_calibrated_and_say_so():
    cb, us, seeds = _seeded_study()
    kw = dict(context=None, lexical_weight=0.0)
    m = CodeMapper(**kw).fit(cb, us, embedder=EMB, seeds=seeds)
    assert m.calibrated_ and m.crossfit_.learned and m.crossfit_.n_folds == 5
    s = m.suggestions_
    assert s["calibrated"].all()
    cal = m.calibrated_scores_
    assert np.allclose(s["score"], [cal.loc[u, c] for u, c in zip(s["utterance_id"], s["code"])])
    assert not np.allclose(s["score"], s["model_score"])
    d = m.decisions()
    assert d["calibrated"] and d["learned"] and d["calibration"]["method"] == "temperature"
    assert set(d["weights"]) == {"codebook", "codebook+self-training", "seeds", "seeds+self-training"}
    assert sum(d["weights"].values()) == pytest.approx(1.0)
    q = m.review_queue()
    assert not q["seeded"].any() and q["score"].is_monotonic_decreasing
    # the fold models serve new utterances exactly as they scored the fitted ones
    assert np.allclose(m.predict_proba(us).to_numpy(), m.scores_.to_numpy())
    # deterministic
    m2 = CodeMapper(**kw).fit(cb, us, embedder=EMB, seeds=seeds)
    pd.testing.assert_frame_equal(m.suggestions_, m2.suggestions_)


def test_zero_shot_scores_are_not_calibrated_and_fixed_weights_still_work():
    cb, us, seeds = _seeded_study()
    kw = dict(context=None, lexical_weight=0.0)
    z = CodeMapper(**kw).fit(cb, us, embedder=EMB)
    assert not z.calibrated_ and not z.suggestions_["calibrated"].any()
    assert (z.suggestions_["score"] == z.suggestions_["model_score"]).all()
    d = z.decisions()
    assert d["review_queue_expected_share_right"] is None and "not calibrated" in d["scores"]
    f = CodeMapper(**kw, weights="fixed").fit(cb, us, embedder=EMB, seeds=seeds)
    blend = 5 / (5 + 12 / 2)
    assert f.weights_ == pytest.approx({"codebook": blend, "codebook+self-training": 0.0, "seeds": 0.0,
                                        "seeds+self-training": 1 - blend})
    assert f.crossfit_ is None and not f.calibrated_


def test_given_weights_are_used_as_given_with_one_seeded_fit():
    cb, us, seeds = _seeded_study()
    kw = dict(context=None, lexical_weight=0.0)
    learned = CodeMapper(**kw).fit(cb, us, embedder=EMB, seeds=seeds)
    g = CodeMapper(**kw, weights=dict(learned.weights_)).fit(cb, us, embedder=EMB, seeds=seeds)
    assert g.weights_ == learned.weights_
    assert g.crossfit_ is None and not g.calibrated_
    assert g.decisions()["reason"].startswith("weights given: codebook ")
    # one seeded fit on all seeds, not the fold models: the seed utterances score their own codes
    top = g.scores_.idxmax(axis=1)
    assert all(top[u] == c for u, c in seeds.items())
    # all weight on the codebook: the same scores whatever the seeds; all on the seeds: they decide
    cb_only = dict(kw, weights={"codebook": 1.0})
    a = CodeMapper(**cb_only).fit(cb, us, embedder=EMB, seeds=seeds)
    b = CodeMapper(**cb_only).fit(cb, us, embedder=EMB, seeds={"u0": "Beta", "u10": "Alpha"})
    assert a.weights_["codebook"] == 1.0 and a.weights_["seeds"] == 0.0
    np.testing.assert_allclose(a.scores_.to_numpy(), b.scores_.to_numpy())
    flipped = {u: ("Beta" if c == "Alpha" else "Alpha") for u, c in seeds.items()}
    s = CodeMapper(**kw, weights={"seeds": 1.0}).fit(cb, us, embedder=EMB, seeds=flipped)
    assert all(s.scores_.idxmax(axis=1)[u] == c for u, c in flipped.items())


def test_get_params_and_checks():
    m = CodeMapper(weights="fixed", n_folds=3)
    p = m.get_params()
    assert p["weights"] == "fixed" and p["n_folds"] == 3 and p["calibrate"] is True
    assert CodeMapper(**p).get_params() == p
    assert m.set_params(n_folds=4).n_folds == 4
    with pytest.raises(ValueError, match="no parameter 'folds'"):
        m.set_params(folds=2)
    for bad, match in ((dict(weights="auto"), "weights must be"), (dict(weights={"seeds": 0.5}), "weights must be"),
                       (dict(weights={"seed": 1.0}), "weights must be"), (dict(n_folds=1), "n_folds must be"),
                       (dict(calibrate="yes"), "calibrate must be")):
        with pytest.raises(ValueError, match=match):
            CodeMapper(**bad).fit(book(("A", "alpha", {}), ("B", "beta", {})), units(["alpha"]), embedder=EMB)
