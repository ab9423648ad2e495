"""`themekit map` and `themekit evaluate` on the example study (hashing embedder: fast)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import themekit.embed
from themekit.cli import main
from themekit.embed import HashingEmbedder

STUDY = Path(__file__).resolve().parents[1] / "data" / "example"


@pytest.fixture()
def hashing(monkeypatch):
    monkeypatch.setattr(themekit.embed, "load_embedder", lambda *a, **k: HashingEmbedder(256))


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """The example study read once (reading is the slow part), with its codebook and coding."""
    from themekit import read_transcripts

    path = tmp_path_factory.mktemp("study") / "corpus.parquet"
    read_transcripts(STUDY).save(path)
    return [str(path), "--codebook", str(STUDY / "codebook.csv"), "--coded", str(STUDY / "coded_segments.csv")]


def test_study_folder_defaults():
    import argparse

    from themekit.cli.map import find_codebook, find_coded

    args = argparse.Namespace(inputs=[str(STUDY)], codebook=None, coded=None)
    assert find_codebook(args)[1] == STUDY / "codebook.csv"
    assert find_coded(args) == STUDY / "coded_segments.csv"
    args = argparse.Namespace(inputs=[str(STUDY / "transcripts")], codebook=None, coded=None)
    with pytest.raises(Exception, match="--codebook"):
        find_codebook(args)


def test_map_writes_reviewable_outputs(tmp_path, hashing, capsys, corpus_file):
    out = tmp_path / "m"
    coded = pd.read_csv(STUDY / "coded_segments.csv")
    part = tmp_path / "coded_P01.csv"          # one transcript coded: the others are left to suggest
    coded[coded["transcript_id"] == "P01"].to_csv(part, index=False)
    args = corpus_file[:-1] + [str(part)]
    assert main(["map", *args, "-o", str(out), "--top-k", "2", "--next", "5"]) == 0
    text = capsys.readouterr().out
    assert "seeded with" in text and "left uncoded" in text and "codes with no supporting data" in text
    sugg = pd.read_csv(out / "suggestions.csv")
    assert {"utterance_id", "code", "score", "rank", "abstained", "evidence"} <= set(sugg.columns)
    assert sugg["rank"].max() == 2
    scores = pd.read_parquet(out / "code_scores.parquet")
    assert len(scores) == sugg["utterance_id"].nunique()
    cov = pd.read_csv(out / "codebook_coverage.csv")
    assert {"code", "n_top", "supported"} <= set(cov.columns)
    # issue 13: the review queue, calibrated scores and the decisions in the manifest
    assert sugg["calibrated"].all() and "scores are calibrated" in text and "weights:" in text
    queue = pd.read_csv(out / "review_queue.csv")
    assert queue["queue"].tolist() == list(range(1, len(queue) + 1))
    assert queue["score"].is_monotonic_decreasing and not queue["seeded"].any()
    assert queue["expected_right"].between(0, 1).all()
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    mapping = manifest["settings"]["mapping"]
    assert mapping["calibrated"] is True and mapping["n_folds"] == 5
    assert set(mapping["weights"]) == {"codebook", "codebook+self-training", "seeds", "seeds+self-training"}
    assert manifest["settings"]["mapper"]["weights"] == "learned"
    assert len(pd.read_csv(out / "code_next.csv")) == 5


def test_map_with_candidates_and_zero_shot(tmp_path, hashing, capsys, corpus_file):
    out = tmp_path / "m"
    assert main(["map", *corpus_file, "-o", str(out), "--zero-shot", "--next", "0"]) == 0
    text = capsys.readouterr().out
    assert "zero-shot" in text and "not calibrated" in text
    assert not pd.read_csv(out / "suggestions.csv")["calibrated"].any()
    assert pd.read_csv(out / "review_queue.csv")["expected_right"].isna().all()
    ids = pd.read_csv(out / "suggestions.csv")["utterance_id"].drop_duplicates().tolist()
    cand = tmp_path / "cand.csv"
    pd.DataFrame({"utterance_id": ids[:10], "candidate": ["k1"] * 5 + ["k2"] * 5}).to_csv(cand, index=False)
    assert main(["map", *corpus_file, "-o", str(out), "--zero-shot", "--candidates", str(cand)]) == 0
    cm = pd.read_csv(out / "candidate_mapping.csv")
    first = cm.groupby("candidate").head(1)        # the status is the candidate's: its first row
    assert set(first["status"]) <= {"matched", "ambiguous", "emergent"}
    assert cm.drop(first.index)["status"].isna().all()
    assert "candidate codes:" in capsys.readouterr().out


def test_evaluate_both_ways(tmp_path, hashing, capsys, corpus_file):
    assert main(["evaluate", *corpus_file, "--seed-fraction", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "used as seeds" in text and "kappa" in text and "f1" in text
    assert "weights:" in text and "calibration on the evaluated utterances" in text
    out = tmp_path / "m"
    assert main(["map", *corpus_file, "-o", str(out), "--zero-shot", "--next", "0"]) == 0
    capsys.readouterr()
    assert main(["evaluate", *corpus_file, "--suggestions", str(out / "suggestions.csv"),
                 "-o", str(tmp_path / "ev")]) == 0
    with_corpus = capsys.readouterr().out
    assert "accuracy" in with_corpus
    assert (tmp_path / "ev" / "confusion.csv").is_file()
    # without the transcripts: coded segments are aligned by their offsets as given
    offsets = tmp_path / "coded_offsets.csv"
    sugg = pd.read_csv(out / "suggestions.csv")
    first = sugg[sugg["rank"] == 1].head(40)
    pd.DataFrame({"transcript_id": first["transcript_id"] + ".txt", "start": first["start"], "end": first["end"],
                  "code": first["code"]}).to_csv(offsets, index=False)
    assert main(["evaluate", "--suggestions", str(out / "suggestions.csv"), "--coded", str(offsets)]) == 0
    assert "40 units" in (text := capsys.readouterr().out) and "accuracy 1.000" in text


def test_bad_input_is_one_line(tmp_path, hashing, capsys, corpus_file):
    assert main(["map", *corpus_file, "--threshold", "high", "-o", str(tmp_path)]) == 2
    assert "--threshold" in capsys.readouterr().err
    assert main(["evaluate"]) == 2
