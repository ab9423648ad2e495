"""Review decisions (decisions.csv): read and checked, turned into human coding, fed to the mapper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from themekit.codebook import Code, Codebook, CodedSegment
from themekit.codebook.decisions import (Decision, decisions_to_pandas, read_decisions, rejected_codes,
                                         review_log, review_seed_table, review_segments, review_summary,
                                         write_decisions)
from themekit.mapping import CodeMapper
from themekit.types import Corpus, InputError, Transcript, Utterance

from test_mapping import EMB, PURE

HEADER = "utterance_id,transcript_id,start,end,code,decision,new_code,reviewer,decided_at,score\n"


def _corpus() -> Corpus:
    """Two transcripts, three utterances each, ``text[start:end] == utterance.text``."""
    ts, us = [], []
    for tid, words in (("T1", ["alpha one", "beta two", "gamma six"]), ("T2", ["alpha ten", "zeta nine", "beta x"])):
        text, pos = "", []
        for w in words:
            pos.append((len(text), len(text) + len(w)))
            text += w + "\n"
        ts.append(Transcript(tid, text))
        us += [Utterance(f"{tid}#{i}", tid, "P", "participant", i, s, e, w)
               for i, ((s, e), w) in enumerate(zip(pos, words))]
    return Corpus(ts, us)


CB = Codebook([Code(None, "Alpha", "alpha"), Code(None, "Beta", "beta"), Code(None, "Gamma", "gamma")])


def _write(tmp_path: Path, rows: str, name: str = "decisions.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + rows, encoding="utf-8")
    return p


def test_reads_every_column_and_the_latest_decision_wins(tmp_path):
    p = _write(tmp_path, "T1#0,T1,0,9,Alpha,accept,,AB,2026-01-01T10:00:00Z,0.812\n"
                         "T1#1,T1,10,18,Alpha,recode,Beta,AB,2026-01-01T10:00:05Z,0.4\n"
                         "T2#1,T2,10,19,Beta,reject,,CD,2026-01-01T10:00:09Z,\n"
                         "T1#0,T1,0,9,Alpha,reject,,AB,2026-01-01T09:00:00Z,0.812\n")   # older: replaced
    ds = read_decisions(p, _corpus(), CB.names)
    assert ds == [Decision("T1#0", "T1", 0, 9, "Alpha", "accept", "", "AB", "2026-01-01T10:00:00Z", 0.812, 2),
                  Decision("T1#1", "T1", 10, 18, "Alpha", "recode", "Beta", "AB", "2026-01-01T10:00:05Z", 0.4, 3),
                  Decision("T2#1", "T2", 10, 19, "Beta", "reject", "", "CD", "2026-01-01T10:00:09Z", None, 4)]
    assert [d.final_code for d in ds] == ["Alpha", "Beta", None]
    assert review_summary(ds, p) == {"file": str(p), "decisions": 3, "accept": 1, "reject": 1, "recode": 1,
                                     "reviewers": ["AB", "CD"], "first_decided_at": "2026-01-01T10:00:00Z",
                                     "last_decided_at": "2026-01-01T10:00:09Z"}
    out = write_decisions(ds, tmp_path / "again.csv")
    assert read_decisions(out, _corpus(), CB.names) == [Decision(**{**d.__dict__, "line": i + 2})
                                                          for i, d in enumerate(ds)]


@pytest.mark.parametrize("row, message, line", [
    ("T1#0,T1,0,9,Alpha,maybe,,AB,,\n", "decision 'maybe' must be accept, reject or recode", 2),
    ("T1#0,T1,0,9,Alpha,recode,,AB,,\n", "a recode needs new_code", 2),
    ("T1#0,T1,0,9,Alpha,accept,Beta,AB,,\n", "use decision 'recode'", 2),
    ("T1#0,T1,0,9,Alpha,recode,Alpha,AB,,\n", "recode to the same code", 2),
    ("T1#0,T1,zero,9,Alpha,accept,,AB,,\n", "start 'zero' is not a character offset", 2),
    ("T1#0,T1,0,9,Alpha,accept,,AB,,high\n", "score 'high' is not a number", 2),
    ("T1#0,T1,0,9,Alpha,accept,,AB,,\nT9#0,T9,0,9,Alpha,accept,,AB,,\n", "utterance 'T9#0' is not in this study", 3),
    ("T1#0,T1,0,8,Alpha,accept,,AB,,\n", "the transcripts or the segmentation changed", 2),
    ("T1#0,T1,0,9,Delta,accept,,AB,,\n", "code 'Delta' is not a code of the codebook", 2),
    ("T1#0,T1,0,9,Alpha,recode,Emergent,AB,,\n", "--codebook codebook_reviewed.yaml", 2),
    (",T1,0,9,Alpha,accept,,AB,,\n", "empty utterance_id", 2),
    ("T1#0,T1,0,9,Alpha,accept,,AB,2026-02-00T00:00:00Z,\n", "decided_at '2026-02-00T00:00:00Z' is not a date", 2),
])
def test_bad_rows_name_the_file_and_line(tmp_path, row, message, line):
    p = _write(tmp_path, row)
    with pytest.raises(InputError) as e:
        read_decisions(p, _corpus(), CB.names)
    assert e.value.path == str(p) and e.value.line == line and message in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="no such decisions file"):
        read_decisions(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        read_decisions(tmp_path / "empty.csv")
    (tmp_path / "cols.csv").write_text("utterance_id,code\nT1#0,Alpha\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column.*transcript_id, start, end, decision") as e:
        read_decisions(tmp_path / "cols.csv")
    assert e.value.line == 1
    with pytest.raises(InputError, match="only a header"):
        read_decisions(_write(tmp_path, ""))


def _decisions() -> list[Decision]:
    return [Decision("T1#0", "T1", 0, 9, "Alpha", "accept", reviewer="AB", decided_at="t1"),
            Decision("T1#1", "T1", 10, 18, "Alpha", "recode", "Beta", reviewer="AB", decided_at="t2"),
            Decision("T2#1", "T2", 10, 19, "Beta", "reject", reviewer="AB", decided_at="t3"),
            Decision("T2#1", "T2", 10, 19, "Gamma", "reject", reviewer="AB", decided_at="t4"),
            Decision("T2#2", "T2", 20, 26, "Alpha", "reject", reviewer="AB", decided_at="t5"),
            Decision("T2#2", "T2", 20, 26, "Gamma", "accept", reviewer="AB", decided_at="t6")]


def test_accepted_and_recoded_are_the_reviewers_coding_rejected_are_not_this_code():
    ds = _decisions()
    assert review_segments(ds) == [CodedSegment("T1", 0, 9, "Alpha", "AB", order="t1"),
                                   CodedSegment("T1", 10, 18, "Beta", "AB", order="t2"),
                                   CodedSegment("T2", 20, 26, "Gamma", "AB", order="t6")]
    assert rejected_codes(ds) == {"T1#1": frozenset({"Alpha"}), "T2#1": frozenset({"Beta", "Gamma"}),
                                  "T2#2": frozenset({"Alpha"})}


def test_seed_table_adds_the_review_to_human_coding_without_inventing_no_code():
    corpus = _corpus()
    human = [CodedSegment("T1", 20, 29, "Gamma", "HC")]          # HC coded T1: its other utterances are "no code"
    seeds = review_seed_table(_decisions(), human, corpus)
    got = dict(zip(seeds["utterance_id"], seeds["codes"]))
    assert got == {"T1#0": frozenset({"Alpha"}), "T1#1": frozenset({"Beta"}), "T1#2": frozenset({"Gamma"}),
                   "T2#1": frozenset(), "T2#2": frozenset({"Gamma"})}   # T2#0: not seen by anyone


def test_mapper_never_suggests_a_rejected_code_there_and_learns_from_the_review():
    corpus = _corpus()
    units = list(corpus.utterances)
    kw = dict(PURE, abstain_threshold=0.0, top_k=3)
    plain = CodeMapper(**kw).fit(CB, units, embedder=EMB)
    assert plain.predict().loc["T1#0"] == "Alpha" and plain.predict().loc["T2#0"] == "Alpha"
    ds = [Decision("T2#0", "T2", 0, 9, "Alpha", "reject"), Decision("T1#1", "T1", 10, 18, "Beta", "recode", "Gamma")]
    m = CodeMapper(**kw).fit(CB, units, embedder=EMB, seeds=review_seed_table(ds, None, corpus),
                             rejected=rejected_codes(ds))
    assert m.rejected_ == {"T2#0": frozenset({"Alpha"}), "T1#1": frozenset({"Beta"})}
    assert m.scores_.loc["T2#0", "Alpha"] == 0.0 and m.scores_.loc["T1#1", "Beta"] == 0.0
    s = m.suggestions()
    sug = s[s["suggested"]]
    assert "Alpha" not in set(sug[sug["utterance_id"] == "T2#0"]["code"])
    assert m.seeds_ == {"T1#1": ["Gamma"]} and m.uncoded_ == ("T2#0",)
    assert bool(s.set_index("utterance_id").loc["T1#1", "seeded"].all())
    # the trail: what was decided, how it was used, what is suggested now
    log = review_log(ds, s)
    assert log[["utterance_id", "decision", "applied_as", "seeded"]].values.tolist() == [
        ["T2#0", "reject", "not this code", True], ["T1#1", "recode", "seed", True]]
    assert "Alpha" not in log["now_suggested"].iloc[0].split("|")


def test_decisions_table_columns():
    df = decisions_to_pandas(_decisions()[:1])
    assert list(df.columns) == ["utterance_id", "transcript_id", "start", "end", "code", "decision", "new_code",
                                "reviewer", "decided_at", "score"]
    assert df["start"].dtype == np.int64 and np.isnan(df["score"].iloc[0])
    with pytest.raises(ValueError, match="new_code"):
        Decision("u", "T", 0, 1, "A", "recode")


def test_run_with_review_keeps_the_trail_and_exports_the_reviewers_codings(tmp_path):
    """`themekit run --review`: review_log.csv, the manifest's review, the reviewer's codings in
    the .qdpx, seeds and rejections in the mapping (example study, P01 coded, hashing embedder)."""
    import json

    from themekit import import_qdpx
    from themekit.embed import HashingEmbedder
    from themekit.pipeline import run_study

    study = Path(__file__).resolve().parents[1] / "data" / "example"
    coded = pd.read_csv(study / "coded_segments.csv")
    part = tmp_path / "coded_P01.csv"
    coded[coded["transcript_id"] == "P01"].to_csv(part, index=False)
    first = run_study(study, tmp_path / "one", coded=part, embedder=HashingEmbedder(256), quiet=True, report=False)
    s = first.mapper.suggestions(only_suggested=True)
    s = s[~s["seeded"]].drop_duplicates("utterance_id").head(3)
    other = [c for c in first.mapper.codes_ if c != s["code"].iloc[2]][0]
    rows = "".join(f"{r.utterance_id},{r.transcript_id},{r.start},{r.end},{r.code},{d},{n},ZZ,2026-02-0{i + 1}T00:00:00Z,"
                   f"{r.score:.3f}\n" for i, (r, d, n) in enumerate(zip(s.itertuples(), ["accept", "reject", "recode"],
                                                                          ["", "", other])))
    dec = _write(tmp_path, rows)
    run = run_study(study, tmp_path / "two", coded=part, embedder=HashingEmbedder(256), quiet=True, report=False,
                    review=dec)
    u = s["utterance_id"].tolist()
    assert run.mapper.seeds_[u[0]] == [s["code"].iloc[0]] and run.mapper.seeds_[u[2]] == [other]
    assert u[1] in run.mapper.uncoded_ and run.mapper.scores_.loc[u[1], s["code"].iloc[1]] == 0.0
    log = pd.read_csv(tmp_path / "two" / "mapping" / "review_log.csv", keep_default_na=False)
    assert log["utterance_id"].tolist() == u and log["decision"].tolist() == ["accept", "reject", "recode"]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["review"]["reviewers"] == ["ZZ"] and manifest["settings"]["review"]["reject"] == 1
    assert str(dec) in manifest["inputs"]
    reviewer = [x for x in import_qdpx(tmp_path / "two" / "project.qdpx").segments if x.coder == "ZZ"]
    assert sorted((x.transcript_id, x.start, x.end, x.code) for x in reviewer) == sorted(
        [(s["transcript_id"].iloc[0], s["start"].iloc[0], s["end"].iloc[0], s["code"].iloc[0]),
         (s["transcript_id"].iloc[2], s["start"].iloc[2], s["end"].iloc[2], other)])
    assert run.framework_source == "human coding and review decisions"
