"""Seed normalisation and the choice of what to code next."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from themekit.mapping.seeding import as_seed_labels, density, select_next


def test_as_seed_labels_forms():
    ids, codes = ["u1", "u2", "u3"], ["A", "B"]
    assert as_seed_labels({"u1": "A", "u2": ["A", "B"], "u9": "A"}, ids, codes) == {"u1": ["A"], "u2": ["A", "B"]}
    df = pd.DataFrame({"utterance_id": ["u1", "u3"], "codes": ["A|B", "B"]})
    assert as_seed_labels(df, ids, codes) == {"u1": ["A", "B"], "u3": ["B"]}
    assert as_seed_labels(None, ids, codes) == {}
    with pytest.raises(ValueError, match="utterance_id"):
        as_seed_labels(pd.DataFrame({"x": [1]}), ids, codes)


def test_select_next_prefers_the_most_uncertain():
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.8, 0.2], [0.5, 0.5], [0.7, 0.3]])
    x = np.tile([[1.0, 0.0]], (5, 1))                  # equal density everywhere
    labelled = np.array([False, False, False, True, False])   # the most uncertain is already coded
    idx, prio = select_next(proba, x, labelled, 1)
    assert idx.tolist() == [1]
    idx, prio = select_next(proba, x, labelled, 4)
    assert idx.tolist() == [1, 4, 2, 0] and np.all(np.diff(prio) <= 0)


def test_select_next_spreads_a_batch_over_clusters():
    # two tight groups; the uncertain ones all sit in group 0, one slightly less uncertain in group 1
    x = np.array([[1, 0]] * 4 + [[0, 1]] * 4, dtype=float)
    margin = np.array([0.0, 0.01, 0.02, 0.03, 0.2, 0.5, 0.6, 0.7])
    proba = np.c_[(1 + margin) / 2, (1 - margin) / 2]
    idx, _ = select_next(proba, x, np.zeros(8, bool), 2, pool_factor=4)
    assert sorted(idx.tolist()) == [0, 4]


def test_density_is_high_in_crowds():
    x = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    d = density(x, n_neighbors=2)
    assert d[:3].tolist() == [1.0, 1.0, 1.0] and d[3] == 0.0


def test_mapper_suggest_next():
    from themekit.codebook import Code, Codebook
    from themekit.mapping import CodeMapper
    from themekit.types import Utterance

    class TwoWords:   # "alpha" and "beta" on their own axes
        model_id, cacheable = "two-words-test", False

        def encode(self, texts, *, progress=False):
            words = [re.findall(r"[a-z]+", t.lower()) for t in texts]
            v = np.array([[w.count("alpha"), w.count("beta"), 0.0] for w in words], dtype=np.float32)
            v[~v.any(axis=1), 2] = 1.0
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    EMB = TwoWords()

    def units(texts):
        return [Utterance(f"u{i}", "T1", "P1", "participant", i, 10 * i, 10 * i + 5, t) for i, t in enumerate(texts)]

    cb = Codebook([Code(None, "Alpha", "alpha"), Code(None, "Beta", "beta")])
    us = units(["alpha", "alpha", "beta", "beta", "alpha beta", "alpha alpha beta"])
    m = CodeMapper(context=None, center=False, lexical_weight=0.0, self_training=0).fit(cb, us, embedder=EMB)
    nxt = m.suggest_next(1)
    assert nxt["utterance_id"].tolist() == ["u4"]
    assert list(nxt.columns) == ["utterance_id", "transcript_id", "speaker", "start", "end", "text", "priority",
                                 "margin", "code_1", "code_2"]
    m2 = CodeMapper(context=None, self_training=0).fit(cb, us, embedder=EMB, seeds={"u4": "Alpha"})
    assert "u4" not in m2.suggest_next(3)["utterance_id"].tolist()
