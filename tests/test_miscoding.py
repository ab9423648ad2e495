"""Suspected mis-codings on hand-made spans with synthetic embeddings (no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from themekit.audit import coded_units
from themekit.codebook.coding import CodedSegment
from themekit.audit.miscoding import MISCODING_COLUMNS, code_fit, find_miscodings

CODES = ["Access", "Cost", "Trust"]
WORDS = {"Access": "getting an appointment was hard", "Cost": "the price was too high",
         "Trust": "I did not believe the doctor"}


def make(n_per_code=8, dim=12, noise=0.35, seed=0, planted=None, extra=()):
    """Spans in three tight clusters (one per code); ``planted``: (code of its cluster, code
    given) for one extra span that sits in one cluster but carries another code."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(CODES)] * 3
    segs, vecs = [], []
    pos = 0
    for k, code in enumerate(CODES):
        for i in range(n_per_code):
            segs.append(CodedSegment(f"T{i % 4 + 1}", pos, pos + 10, code, "A", f"{WORDS[code]} {i}"))
            vecs.append(centres[k] + rng.normal(0, noise, dim))
            pos += 20
    if planted is not None:
        true, given = planted
        segs.append(CodedSegment("T1", pos, pos + 10, given, "A", f"{WORDS[true]} planted"))
        vecs.append(centres[CODES.index(true)] + rng.normal(0, noise, dim))
        pos += 20
    for true, given in extra:  # multi-code spans: one segment per code, same offsets
        for g in given:
            segs.append(CodedSegment("T2", pos, pos + 10, g, "A", f"{WORDS[true]} both"))
        vecs.append(centres[CODES.index(true)] + rng.normal(0, noise, dim))
        pos += 20
    units = coded_units(segs)
    # units are sorted by transcript and offset: put the vectors in the same order
    by_span = {}
    k = 0
    seen = []
    for s in segs:
        key = (s.transcript_id, s.start)
        if key not in by_span:
            by_span[key] = vecs[k]
            k += 1
            seen.append(key)
    x = np.array([by_span[(t, s)] for t, s in zip(units.transcript_id, units.start)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return units, x


def test_planted_mislabel_ranks_first_with_alternative_and_evidence():
    units, x = make(planted=("Cost", "Trust"))
    m = find_miscodings(units, x, random_state=0)
    assert list(m.columns) == MISCODING_COLUMNS
    top = m.iloc[0]
    assert top["text"] == "the price was too high planted"
    assert top["code"] == "Trust" and top["alternative"] == "Cost" and bool(top["suspected"])
    assert top["rank"] == 1 and top["score"] == pytest.approx(1 - top["fit"])
    assert top["alternative_fit"] > 0.5 > top["fit"]
    ids = top["evidence_ids"].split(";")
    assert len(ids) == 3
    coded_as = dict(zip(units.unit_id, units.codes))
    assert all(coded_as[i] == ("Cost",) for i in ids)
    assert top["evidence"].count(" || ") == 2 and "(cos " in top["evidence"]
    # nobody else is suspected: the clusters are clean
    assert m["suspected"].sum() == 1
    assert m["score"].is_monotonic_decreasing


def test_deterministic_for_a_random_state():
    units, x = make(planted=("Access", "Cost"), seed=3)
    a = find_miscodings(units, x, random_state=7)
    b = find_miscodings(units, x, random_state=7)
    pd.testing.assert_frame_equal(a, b)


def test_multi_code_span_is_suspicious_only_if_no_code_fits():
    units, x = make(extra=[("Cost", ("Cost", "Trust")), ("Access", ("Cost", "Trust"))])
    m = find_miscodings(units, x).set_index("text")
    ok = m.loc["the price was too high both"]
    assert ok["code"] == "Cost|Trust" and not ok["suspected"]
    bad = m.loc["getting an appointment was hard both"]
    assert bad["suspected"] and bad["alternative"] == "Access" and bad["rank"] == 1


def test_views_are_probabilities_and_exclude_the_span_itself():
    units, x = make()
    res = code_fit(units, x, CODES, n_neighbors=5)
    for view in ("fit", "neighbours", "centroid", "classifier", "words"):
        p = res[view]
        assert p.shape == (len(units), 3)
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-9)
    # no span is its own neighbour
    assert not (res["nn_idx"] == np.arange(len(units))[:, None]).any()


def test_copies_of_a_span_by_another_coder_do_not_vouch_for_it():
    units, x = make()
    # coder B codes the first Access span as Trust: same text, same vector
    first = units.iloc[0]
    seg = CodedSegment(first.transcript_id, int(first.start), int(first.end), "Trust", "B", first.text)
    both = pd.concat([units, coded_units([seg])], ignore_index=True)
    xb = np.vstack([x, x[:1]])
    res = code_fit(both, xb, CODES, n_neighbors=5)
    copy = len(both) - 1
    assert 0 not in res["nn_idx"][copy] and copy not in res["nn_idx"][0]
    m = find_miscodings(both, xb)
    row = m.set_index("unit_id").loc[both.unit_id.iloc[copy]]
    assert row["suspected"] and row["alternative"] == "Access"


def test_small_codes_are_not_judged():
    units, x = make(planted=("Cost", "Trust"))
    lonely = coded_units([CodedSegment("T9", 0, 5, "Rare", "A", "odd")])
    both = pd.concat([units, lonely], ignore_index=True)
    xb = np.vstack([x, x[:1]])
    m = find_miscodings(both, xb, min_code_size=3)
    last = m.iloc[-1]
    assert last["code"] == "Rare" and np.isnan(last["score"]) and not last["suspected"]
    assert "Rare" not in m.attrs["codes_judged"]
    assert m.iloc[0]["text"] == "the price was too high planted"


@pytest.mark.parametrize("kw, msg", [({"n_neighbors": 0}, "n_neighbors"), ({"n_folds": 1}, "n_folds"),
                                     ({"C": -1}, "C must"), ({"min_code_size": 1}, "min_code_size")])
def test_parameter_errors_name_the_parameter(kw, msg):
    units, x = make()
    with pytest.raises(ValueError, match=msg):
        find_miscodings(units, x, **kw)


def test_vectors_must_match_units():
    units, x = make()
    with pytest.raises(ValueError, match="one row per unit"):
        find_miscodings(units, x[:-1])
