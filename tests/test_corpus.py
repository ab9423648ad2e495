"""Corpus: tables, Parquet round trip, and the ingest command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import themekit
from themekit.cli import main
from themekit.types import Corpus

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "example"


@pytest.fixture()
def study(tmp_path) -> Path:
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "P01.txt").write_text(
        "Interviewer: How was the first week?\n\nP01: Busy. The tool sent us forty referrals and "
        "nobody had read the manual yet. (laughs)\n\nInterviewer: Mm-hmm.\n", encoding="utf-8")
    (tmp_path / "transcripts" / "P02.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Interviewer>And for you?</v>\n\n"
        "00:00:03.500 --> 00:00:08.000\n<v P02>I could refer myself at night, which I liked.</v>\n",
        encoding="utf-8")
    (tmp_path / "metadata.csv").write_text("transcript_id,role,site,wave\nP01,PWP,A,1\nP02,Service user,B,2\n",
                                           encoding="utf-8")
    return tmp_path


def test_to_pandas_one_row_per_utterance_with_metadata(study):
    corpus = themekit.read_transcripts(study)
    df = corpus.to_pandas()
    assert len(df) == len(corpus) == 5
    assert list(df.columns[:11]) == ["id", "transcript_id", "speaker", "role", "turn", "start", "end",
                                     "text", "start_time", "end_time", "backchannel"]
    assert df.loc[df.speaker == "P02", "site"].tolist() == ["B"]
    assert df.loc[df.speaker == "P02", "start_time"].tolist() == [3.5]


def test_parquet_round_trip_is_lossless(study, tmp_path):
    corpus = themekit.read_transcripts(study)
    path = corpus.save(tmp_path / "c.parquet")
    back = Corpus.load(path)
    assert back.utterances == corpus.utterances
    assert back.transcripts == corpus.transcripts
    pd.testing.assert_frame_equal(back.metadata, corpus.metadata)
    assert back.settings == corpus.settings
    back.check_offsets()


def test_load_rejects_a_foreign_parquet(tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(themekit.InputError, match="not a themekit corpus"):
        Corpus.load(tmp_path / "x.parquet")


def test_cli_ingest_writes_parquet_and_csv(study, tmp_path, capsys):
    out = tmp_path / "out" / "corpus.parquet"
    assert main(["ingest", str(study), "-o", str(out)]) == 0
    assert "2 transcripts, 5 utterances" in capsys.readouterr().out
    assert len(Corpus.load(out)) == 5
    assert main(["ingest", str(study), "-o", str(tmp_path / "c.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "c.csv")) == 5


def test_cli_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.vtt").write_text("WEBVTT\n\n00:01 -> 00:02\nhi\n", encoding="utf-8")
    out = tmp_path / "corpus.parquet"
    assert main(["ingest", str(tmp_path / "in"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.vtt, line 3" in err
    assert not out.exists() and not list(tmp_path.glob(".corpus*"))


def test_cli_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "ingest" in capsys.readouterr().out


@pytest.mark.skipif(not (EXAMPLE / "transcripts").is_dir(), reason="example study not present")
def test_example_study_reads_cleanly():
    corpus = themekit.read_transcripts(EXAMPLE)
    corpus.check_offsets()
    assert len(corpus.transcripts) == 9
    formats = {t.format for t in corpus.transcripts.values()}
    assert {"txt", "vtt", "srt", "docx", "table"} <= formats
    for tid in corpus.transcripts:
        roles = {u.role for u in corpus if u.transcript_id == tid}
        assert {"interviewer", "participant"} <= roles, tid
    assert corpus.metadata.loc["P01"].notna().all()
