"""Key terms, labels, exemplars and spread on tiny texts with exact expected results."""

from __future__ import annotations

import numpy as np

from themekit.discover.label import (Lemmatizer, key_terms, make_label, participant_key, select_exemplars,
                            spread)
from themekit.types import Utterance


def test_lemmas_without_stop_words_and_fillers():
    lem = Lemmatizer()
    assert lem.tokens("Um, yeah, I mean the waiting lists were like really long, you know.") == \
        ["wait", "list", "", "long", ""]
    assert lem.tokens("The data table's numbers didn't load") == ["data", "table", "number", "", "load"]
    assert lem.tokens("the numbers matter") == ["number", "matter"]
    assert lem.terms("waiting lists, referral letters") == \
        ["wait", "list", "referral", "letter", "wait list", "referral letter"]
    assert Lemmatizer(extra_stop_words=["referral"]).tokens("referral letters") == ["letter"]


def test_key_terms_c_tf_idf_exact():
    lem = Lemmatizer()
    texts = ["waiting list", "the waiting list", "nurse kind", "kind nurse", "waiting nurse"]
    groups = np.array([0, 0, 1, 1, -1])
    terms = key_terms([lem.terms(t) for t in texts], groups, n_terms=3)
    # group 0: wait x2, list x2, "wait list" x2; every term occurs only in its group (f = 2):
    # score = 2/4 * log(1 + 4/2) for all three
    assert [t for t, _ in terms[0]] == ["wait list", "list", "wait"]      # ties: bigram first
    assert terms[0][1][1] == terms[0][0][1] == round(0.5 * np.log(3.0), 6)
    assert [t for t, _ in terms[1]] == ["kind", "nurse"]          # "nurse kind" once each order
    # a term must be in >= 2 of a group's utterances
    terms = key_terms([["a1"], ["b1"], ["a1", "c1"]], np.array([0, 0, 0]))
    assert [t for t, _ in terms[0]] == ["a1"]


def test_make_label_skips_contained_words():
    assert make_label(["wait list", "wait", "list", "referral", "letter"]) == "wait list / referral / letter"
    assert make_label(["nurse"], n=3) == "nurse"
    assert make_label([]) == "(no key terms)"


def test_exemplars_central_first_then_diverse_and_new_speakers():
    v = np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0.8, 0.6]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    centroid = v.mean(0) / np.linalg.norm(v.mean(0))
    speakers = ["A", "A", "B", "C"]
    got = select_exemplars(v, centroid, speakers, n_content=[3, 3, 3, 3], n=3)
    assert got[0] == int(np.argmax(v @ centroid))
    assert len(set(got)) == 3
    assert {speakers[i] for i in got} == {"A", "B", "C"}
    # too-short utterances only when nothing else
    assert select_exemplars(v, centroid, speakers, [3, 0, 0, 0], n=1) == [0]


def test_spread_counts_participants_within_transcripts():
    def u(i, t, s):
        return Utterance(f"{t}#{i}", t, s, "participant", i, 0, 1, "x")
    utts = [u(1, "T1", "Ann"), u(2, "T1", "Ann"), u(3, "T1", "Bo"), u(4, "T2", None)]
    assert spread(utts, 8) == {"n_transcripts": 2, "n_participants": 3, "participant_share": 0.375}
    assert participant_key(utts[3]) == "T2\x1f"
