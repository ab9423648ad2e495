"""evaluate(): the gold rule, and equality with scikit-learn's metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, precision_recall_fscore_support

from themekit.audit.evaluate import EvaluationReport, evaluate, gold_from_aligned, resolve_gold

CODES = ["A", "B", "C"]


def test_equals_sklearn_on_single_label_data():
    rng = np.random.default_rng(0)
    gold = rng.choice(CODES, 60).tolist()
    pred = [g if rng.random() < 0.6 else rng.choice(CODES) for g in gold]
    ids = [f"u{i}" for i in range(60)]
    rep = evaluate(dict(zip(ids, pred)), dict(zip(ids, gold)), codes=CODES)
    assert isinstance(rep, EvaluationReport)
    assert rep.accuracy == pytest.approx(np.mean(np.array(gold) == np.array(pred)))
    assert rep.kappa == pytest.approx(cohen_kappa_score(gold, pred, labels=CODES))
    assert rep.macro_f1 == pytest.approx(f1_score(gold, pred, labels=CODES, average="macro"))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=CODES, zero_division=0)
    assert np.allclose(rep.per_code[["precision", "recall", "f1"]].to_numpy(), np.c_[p, r, f])
    assert rep.per_code["support"].tolist() == s.tolist()
    assert (rep.confusion.to_numpy() == confusion_matrix(gold, pred, labels=CODES)).all()
    for c in CODES:   # one-vs-rest kappa
        assert rep.per_code.loc[c, "kappa"] == pytest.approx(
            cohen_kappa_score(np.array(gold) == c, np.array(pred) == c))


def test_multi_coded_units_and_the_gold_rule():
    gold = {"u1": ["A", "B"], "u2": ["A", "B"], "u3": ["C"], "u4": [], "u5": ["B"]}
    pred = {"u1": "B", "u2": "C", "u3": "C", "u4": "A", "u5": None}
    assert resolve_gold(["B", "C"], [["A", "B"], ["A", "B"]]) == ["B", "A"]
    rep = evaluate(pred, gold, codes=CODES)
    assert rep.n_units == 4 and rep.n_answered == 3          # u4 has no human code; u5 abstained
    assert rep.accuracy == pytest.approx(2 / 3) and rep.accuracy_all == pytest.approx(2 / 4)
    assert rep.coverage == pytest.approx(3 / 4)
    g, p = ["B", "A", "C"], ["B", "C", "C"]
    assert rep.kappa == pytest.approx(cohen_kappa_score(g, p, labels=CODES))
    assert rep.confusion.loc["A", "C"] == 1
    assert "first human code" in rep.rule and "answered" in rep.summary()


def test_accepts_mapper_tables_and_aligned_coding():
    sugg = pd.DataFrame({"utterance_id": ["u1", "u1", "u2", "u2"], "code": ["A", "B", "B", "A"],
                         "rank": [1, 2, 1, 2], "abstained": [False, False, True, True]})
    aligned = pd.DataFrame({"utterance_id": ["u1", "u1", "u2"], "coder": ["x", "y", "x"],
                            "codes": [frozenset({"B"}), frozenset({"A"}), frozenset({"B"})]})
    assert gold_from_aligned(aligned) == {"u1": ["A", "B"], "u2": ["B"]}
    assert gold_from_aligned(aligned, coder="y") == {"u1": ["A"]}
    rep = evaluate(sugg, aligned)
    assert rep.n_units == 2 and rep.n_answered == 1 and rep.accuracy == 1.0
    long = pd.DataFrame({"utterance_id": ["u1", "u2"], "code": ["A", "A"]})
    assert evaluate(sugg, long).accuracy == 1.0


def test_errors_are_explained():
    with pytest.raises(ValueError, match="same"):
        evaluate({"a": "A"}, {"b": ["A"]})
    with pytest.raises(ValueError, match="not in the code list"):
        evaluate({"a": "Z"}, {"a": ["A"]}, codes=CODES)
    with pytest.raises(TypeError):
        evaluate(["A"], {"a": ["A"]})
