"""The audit: units and order, human vs model agreement, the whole audit, and `themekit audit`."""

from __future__ import annotations

import logging

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import themekit.embed
from themekit.audit.agreement import bootstrap_ci, cohen_kappa
from themekit.audit import (AuditResult, agreement_chart, audit, coded_units, model_agreement, segment_id,
                            transcript_order)
from themekit.audit.core import _kappa_ci
from themekit.codebook.coding import CodedSegment
from themekit.embed import Embeddings, HashingEmbedder
from themekit.types import Corpus, InputError, Transcript, Utterance

STUDY = Path(__file__).resolve().parents[1] / "data" / "example"

TOPICS = {
    "Access": ["getting an appointment took weeks", "the waiting list for an appointment was long",
               "I could not get an appointment at the surgery"],
    "Cost": ["the price of the prescription was too high", "paying for parking cost a fortune",
             "the fees cost more than I could pay"],
    "Trust": ["I did not trust what the doctor said", "the nurse was honest so I trusted her",
              "trust in the clinic grew over time"],
}


def small_study(coders=("A", "B"), n_transcripts=4, swap=None):
    """An in-memory corpus: each transcript has one participant utterance per topic sentence;
    coders code each utterance with its topic (``swap``: (coder, transcript, code given
    instead of Access))."""
    transcripts, utterances, segments = [], [], []
    for t in range(1, n_transcripts + 1):
        tid = f"P{t}"
        parts, pos, turn = [], 0, 0
        for code, sentences in TOPICS.items():
            for s in sentences:
                for role, text in (("interviewer", "Can you tell me more?"), ("participant", f"{s} in visit {t}.")):
                    uid = f"{tid}#{turn}"
                    utterances.append(Utterance(uid, tid, "I" if role == "interviewer" else tid, role, turn,
                                                pos, pos + len(text), text))
                    if role == "participant":
                        for c in coders:
                            given = code
                            if swap and swap[0] == c and swap[1] == tid and code == "Access":
                                given = swap[2]
                            segments.append(CodedSegment(tid, pos, pos + len(text), given, c, text,
                                                         f"2025-01-0{t}T10:00:00"))
                    parts.append(text)
                    pos += len(text) + 1
                    turn += 1
        transcripts.append(Transcript(tid, "\n".join(parts)))
    meta = pd.DataFrame({"interview_date": [f"2025-03-{10 - t:02d}" for t in range(1, n_transcripts + 1)]},
                        index=pd.Index([f"P{t}" for t in range(1, n_transcripts + 1)], name="transcript_id"))
    corpus = Corpus(transcripts, utterances, meta)
    corpus.check_offsets()
    return corpus, segments


# -- units and order ---------------------------------------------------------------------------
def test_coded_units_merge_codes_of_a_span_per_coder():
    segs = [CodedSegment("P2", 5, 9, "B", "x", "abcd"), CodedSegment("P2", 5, 9, "A", "x", "abcd", 3),
            CodedSegment("P10", 0, 4, "A", "x", "efgh"), CodedSegment("P2", 5, 9, "A", "y", "abcd")]
    u = coded_units(segs)
    assert list(u.unit_id) == ["P2:5-9@x", "P2:5-9@y", "P10:0-4@x"]
    assert u.codes.tolist() == [("A", "B"), ("A",), ("A",)]
    assert u.order.tolist()[0] == 3 and segment_id("P2", 5, 9) == "P2:5-9"


def test_transcript_order_sources():
    corpus, segs = small_study(n_transcripts=3)
    segs = segs + [CodedSegment("P10", 0, 3, "Access", "A", "abc", "2025-01-09")]
    units = coded_units(segs)
    by, src = transcript_order(units, "transcript")
    assert by["A"] == ["P1", "P2", "P3", "P10"] and src.startswith("transcript")
    by, src = transcript_order(units[units.transcript_id != "P10"], "interview_date", corpus)
    assert by["A"] == ["P3", "P2", "P1"] and "interview_date" in src      # dates run backwards
    by, _ = transcript_order(units[units.transcript_id != "P10"], "auto", corpus)
    assert by["A"] == ["P3", "P2", "P1"]
    by, src = transcript_order(units, "coded_at")
    assert by["A"] == ["P1", "P2", "P3", "P10"] and "coding time" in src
    by, _ = transcript_order(units, ["P10", "P3", "P2", "P1"])
    assert by["B"] == ["P3", "P2", "P1"]
    with pytest.raises(InputError, match="no such column.*interview_date"):
        transcript_order(units, "wave", corpus)
    with pytest.raises(ValueError, match="does not list transcripts P10"):
        transcript_order(units, ["P1", "P2", "P3"])


def test_precomputed_embeddings_are_keyed_by_segment_id():
    from themekit.audit.coded import unit_embeddings

    units = coded_units([CodedSegment("P1", 0, 4, "A", "x", "abcd"), CodedSegment("P1", 0, 4, "B", "y", "abcd"),
                         CodedSegment("P1", 5, 8, "A", "x", "efg")])
    emb = Embeddings.from_arrays(["P1:0-4", "P1:5-8"], np.array([[1.0, 0], [0, 2.0]]))
    x = unit_embeddings(units, emb)
    np.testing.assert_allclose(x, [[1, 0], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="keyed by segment id"):
        unit_embeddings(units, Embeddings.from_arrays(["P1:0-4"], np.ones((1, 2))))


# -- human vs model ------------------------------------------------------------------------------
def test_model_agreement_by_hand():
    rows = [("u1", "T1", {"Access"}), ("u2", "T1", {"Cost"}), ("u3", "T1", {"Trust", "Cost"}),
            ("u4", "T1", {"Access"}), ("u5", "T2", {"Access"}), ("u6", "T2", {"Cost"}),
            ("u7", "T2", set()), ("u8", "T2", {"Trust"})]
    aligned = pd.DataFrame([(u, t, "A", frozenset(c)) for u, t, c in rows],
                           columns=["utterance_id", "transcript_id", "coder", "codes"])
    model = pd.Series({"u1": "Access", "u2": "Cost", "u3": "Cost", "u4": "Cost", "u5": "Access",
                       "u6": "Trust", "u7": "Access", "u8": "Cost"})
    t = model_agreement(aligned, model, n_boot=200, random_state=0).set_index("transcript_id")
    # T1: human (Access, Cost, Cost [the model's pick among Trust|Cost], Access) vs model
    assert t.loc["T1", "kappa"] == pytest.approx(cohen_kappa(["Access", "Cost", "Cost", "Access"],
                                                             ["Access", "Cost", "Cost", "Cost"]))
    assert t.loc["T1", "percent_agreement"] == pytest.approx(0.75)
    assert t.loc["T2", "n_units"] == 3                       # the uncoded utterance does not count
    allrow = t.loc["(all)"]
    assert allrow.n_units == 7 and allrow.kappa == pytest.approx(cohen_kappa(
        ["Access", "Cost", "Cost", "Access", "Access", "Cost", "Trust"],
        ["Access", "Cost", "Cost", "Cost", "Access", "Trust", "Cost"]))
    assert (t["overall_kappa"] == allrow.kappa).all()
    assert t.loc["T1", "position"] == 1 and t.loc["T2", "position"] == 2


def test_model_agreement_flags_an_interview_below_the_overall_level():
    rng = np.random.default_rng(0)
    rows, model = [], {}
    codes = ["a", "b", "c"]
    for t in range(1, 6):
        for i in range(30):
            uid = f"T{t}u{i}"
            h = codes[rng.integers(3)]
            rows.append((uid, f"T{t}", "A", frozenset([h])))
            model[uid] = h if t != 5 else codes[(codes.index(h) + 1) % 3]   # T5: always wrong
    aligned = pd.DataFrame(rows, columns=["utterance_id", "transcript_id", "coder", "codes"])
    t = model_agreement(aligned, pd.Series(model), n_boot=300).set_index("transcript_id")
    assert t.loc["T5", "flagged"] and not t.drop(index=["T5", "(all)"])["flagged"].any()


def test_vectorised_kappa_ci_equals_bootstrap_ci():
    rng = np.random.default_rng(5)
    a = rng.choice(list("abcd"), 57).astype(object)
    b = np.where(rng.random(57) < 0.6, a, rng.choice(list("abcd"), 57)).astype(object)
    lo, hi = _kappa_ci(a, b, 500, 0.95, 3)
    ref = bootstrap_ci(lambda d: cohen_kappa(d[0], d[1]), np.array([a, b]), n_boot=500, random_state=3)
    assert (lo, hi) == pytest.approx((ref.low, ref.high))


# -- the whole audit -----------------------------------------------------------------------------
def test_audit_on_a_small_study(tmp_path):
    corpus, segs = small_study(swap=("B", "P3", "Trust"))
    model = pd.Series({u.id: next(c for c, ss in TOPICS.items() if any(s in u.text for s in ss))
                       for u in corpus.select()})
    r = audit(corpus, segs, embedder=HashingEmbedder(64), mapper=model, n_permutations=100, n_boot=100)
    assert isinstance(r, AuditResult)
    assert r.settings["order"] == "metadata column 'interview_date'" and r.settings["coders"] == ["A", "B"]
    a = r.agreement.set_index("code")
    assert list(a.index) == ["Access", "Cost", "Trust", "(all codes)"]
    assert a.loc["Cost", "kappa"] == pytest.approx(1.0) and a.loc["Access", "kappa"] < 1
    assert a.loc["(all codes)", "n_units"] == 36                     # participants' utterances only
    assert set(r.pairwise.coder_a) == {"A"}
    assert len(r.drift) == 2 * 3 * 4 and r.drift.attrs["null"] == "segment"
    top = r.miscodings.iloc[0]
    assert top.coder == "B" and top.transcript_id == "P3" and top.code == "Trust" and top.alternative == "Access"
    ma = r.model_agreement.set_index(["coder", "transcript_id"])
    assert ma.loc[("A", "(all)"), "kappa"] == pytest.approx(1.0)
    assert ma.loc[("B", "P3"), "percent_agreement"] == pytest.approx(6 / 9)
    files = r.save(tmp_path / "audit")
    for name in ("agreement.csv", "drift.csv", "miscodings.csv", "model_agreement.csv", "figures.html",
                 "settings.json", "figures/agreement.json", "coder_drift.csv", "coder_drift_evidence.csv",
                 "coder_agreement.csv", "figures/coder_a.json", "figures/coder_b.json"):
        assert (tmp_path / "audit" / name).is_file() and name in files
    assert pd.read_csv(tmp_path / "audit" / "miscodings.csv").iloc[0].code == "Trust"
    assert json.loads((tmp_path / "audit" / "settings.json").read_text())["settings"]["random_state"] == 0
    text = r.summary()
    assert "Agreement (2 coders: A, B" in text and "Suspected mis-codings" in text and "Coder drift" in text
    assert set(r.coder_agreement.coder) == {"A", "B"} and r.coder_agreement.agree_others.notna().any()
    assert len(r.figures()) >= 2 and agreement_chart(r.agreement).data[0].y[0] == "Access"


def test_audit_with_one_coder_and_zero_shot_mapper():
    from themekit.codebook import Code, Codebook

    corpus, segs = small_study(coders=("A",), n_transcripts=3)
    cb = Codebook([Code(None, c, definition=TOPICS[c][0]) for c in TOPICS])
    r = audit(corpus, segs, cb, embedder=HashingEmbedder(64), mapper="zero-shot", n_permutations=50, n_boot=50)
    assert r.agreement.empty and any("two coders" in n for n in r.notes)
    assert r.settings["model"].startswith("mapper, zero-shot")
    assert set(r.model_agreement.transcript_id) == {"P1", "P2", "P3", "(all)"}
    r2 = audit(corpus, segs, cb, embedder=HashingEmbedder(64), mapper=None, n_permutations=50, n_boot=50)
    assert r2.model_agreement.empty and any("mapper=None" in n for n in r2.notes)


def test_segments_covering_no_utterance_are_said_once(caplog):
    from themekit.codebook import Code, Codebook

    corpus, segs = small_study(coders=("A",), n_transcripts=3)
    cb = Codebook([Code(None, c, definition=TOPICS[c][0]) for c in TOPICS])
    # a transcriber's line after the last utterance: coded, but part of no utterance
    transcripts = [Transcript(t.id, t.text + "\n[END OF RECORDING]") for t in corpus.transcripts.values()]
    corpus = Corpus(transcripts, corpus.utterances, corpus.metadata)
    for t in transcripts:
        segs.append(CodedSegment(t.id, len(t.text) - 18, len(t.text), "Access", "A", t.text[-18:]))
    with caplog.at_level(logging.INFO, logger="themekit"):
        r = audit(corpus, segs, cb, embedder=HashingEmbedder(64), mapper="seeded", n_permutations=20, n_boot=20)
    left = [n for n in r.notes if "cover no utterance" in n]
    assert left == ["3 coded segments cover no utterance, so no coder or model comparison uses them (a "
                    "transcriber's note at the edge of a turn, a speaker label or a heading)"]
    assert not [m for m in caplog.messages if "overlap none" in m]   # not once per cross-fitted fold
    assert "Agreement: not computed (agreement needs two coders" in r.summary()


def test_cross_fitted_model_coder_takes_the_given_mappers_weights(monkeypatch):
    # the folds reuse a seeded mapper's learned weights instead of learning them again in each fold
    from themekit.codebook import Code, Codebook
    from themekit.mapping import CodeMapper
    import themekit.mapping.model as model

    corpus, segs = small_study(coders=("A",), n_transcripts=5)
    cb = Codebook([Code(None, c, definition=TOPICS[c][0]) for c in TOPICS])
    emb = HashingEmbedder(64)
    fitted = CodeMapper(context=None).fit(cb, corpus.utterances, embedder=emb, corpus=corpus, seeds=segs)
    assert fitted.crossfit_ is not None
    learned_calls = []
    real = model.cross_fit
    monkeypatch.setattr(model, "cross_fit", lambda *a, **k: learned_calls.append(1) or real(*a, **k))
    r = audit(corpus, segs, cb, embedder=emb, mapper=fitted, n_permutations=20, n_boot=20)
    assert learned_calls == []
    assert r.settings["model"].endswith("the mixing weights learned once on all the coding")
    assert not r.model_agreement.empty
    # from a mode string, the weights are learned once (one cross-fit), not once per fold
    audit(corpus, segs, cb, embedder=emb, mapper="seeded", n_permutations=20, n_boot=20)
    assert learned_calls == [1]


def test_audit_names_codes_missing_from_the_codebook():
    from themekit.codebook import Code, Codebook

    corpus, segs = small_study(coders=("A",), n_transcripts=2)
    r = audit(corpus, segs, Codebook([Code(None, "Access"), Code(None, "Cost")]), embedder=HashingEmbedder(32),
              mapper=None, n_permutations=20, n_boot=0)
    assert any("not in the codebook" in n and "Trust" in n for n in r.notes)


# -- the command ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def example_corpus(tmp_path_factory):
    from themekit import read_transcripts

    path = tmp_path_factory.mktemp("study") / "corpus.parquet"
    read_transcripts(STUDY).save(path)
    return path


def test_cli_on_the_example_study(tmp_path, monkeypatch, capsys, example_corpus):
    from themekit.cli import main

    monkeypatch.setattr(themekit.embed, "load_embedder", lambda *a, **k: HashingEmbedder(256))
    out = tmp_path / "audit"
    rc = main(["audit", str(example_corpus), "--coded", str(STUDY / "coded_segments.csv"),
               "--codebook", str(STUDY / "codebook.csv"), "-o", str(out), "--model-coder", "none",
               "--bootstrap", "100"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "260 coded segments (258 spans) by 2 coders in 8 transcripts" in text
    assert "Agreement (2 coders: AH, MK; 251 utterances" in text
    # the example's planted drift: MK applies "Phone or online preference" loosely in P05 and P07;
    # with hashed vectors it is the strongest change, but not beyond the FDR (q ~ 0.06; flagged
    # with the real model: test_real_model_audit_of_the_example)
    assert "Marginal drift" in text
    assert (out / "figures.html").is_file() and (out / "drift.csv").is_file()
    d = pd.read_csv(out / "drift.csv")
    row = d[(d.coder == "MK") & (d.code == "Phone or online preference") & (d.window == "P05")].iloc[0]
    assert row.q_value == d.q_value.min() < 0.2 and row.change_prevalence > 0
    assert main(["audit", str(example_corpus), "-o", str(out)]) == 2      # no coded segments
    assert "no coded segments" in capsys.readouterr().err


@pytest.mark.model
def test_real_model_audit_of_the_example(example_corpus):
    from themekit.codebook import Codebook
    from themekit.codebook.coding import read_coded_segments

    corpus = Corpus.load(example_corpus)
    segs = read_coded_segments(STUDY / "coded_segments.csv", corpus)
    # 20,000 permutations: with ~30 codes tested, a change at p ~ 0.001 is only resolved at the
    # Benjamini-Hochberg threshold with that many (with 1000, one permutation as extreme decides)
    r = audit(corpus, segs, Codebook.load(STUDY / "codebook.csv"), mapper=None, n_boot=200, n_permutations=20000)
    f = r.drift[r.drift.flagged]
    assert list(zip(f.coder, f.code, f.window)) == [("MK", "Phone or online preference", "P05")]
    assert r.settings["embedding_model"].startswith("all-MiniLM-L6-v2@")
    m = r.miscodings
    assert m.score.is_monotonic_decreasing and m.evidence_ids.iloc[0].count(";") == 2


def test_coding_times_with_dots_are_day_first_as_maxqda_writes_them():
    segs = [CodedSegment("P1", 0, 4, "A", "x", "abcd", "12.03.2024 10:15"),
            CodedSegment("P2", 0, 4, "A", "x", "abcd", "02.04.2024 09:00"),
            CodedSegment("P3", 0, 4, "A", "x", "abcd", "05.03.2024 10:00")]
    by, _ = transcript_order(coded_units(segs), "coded_at")
    assert by["x"] == ["P3", "P1", "P2"]


def test_auto_order_reads_the_interview_date_as_researchers_name_it():
    # metadata.csv as brought: 'Date' or 'Interview date', not interview_date
    corpus, segs = small_study(n_transcripts=3)
    for name in ("Date", "Interview date"):
        meta = corpus.metadata.rename(columns={"interview_date": name})
        c2 = Corpus(list(corpus.transcripts.values()), corpus.utterances, meta)
        by, src = transcript_order(coded_units(segs), "auto", c2)
        assert by["A"] == ["P3", "P2", "P1"] and repr(name) in src   # dates run backwards
