"""`themekit run`: the whole pipeline writes every output, deterministically, and the report renders."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import themekit
from themekit.cli import main
from themekit.embed import HashingEmbedder
from themekit.pipeline import run_study

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"


@pytest.fixture(scope="module")
def hashed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return run_study(EXAMPLE, out, embedder=HashingEmbedder(), random_state=3, quiet=True), out


def test_every_output_is_written(hashed_run):
    run, out = hashed_run
    for rel in ("corpus.parquet", "utterances.csv", "roles.csv", "discovery/codes.csv", "discovery/codebook.yaml",
                "discovery/codebook.qdc", "mapping/suggestions.csv", "mapping/candidate_mapping.csv",
                "mapping/codebook_coverage.csv", "framework.xlsx", "project.qdpx", "report.html",
                "manifest.json"):
        assert (out / rel).is_file(), rel
    assert not list(out.rglob(".*.tmp"))  # no half-written files left behind


def test_manifest_records_settings_model_and_inputs(hashed_run):
    run, out = hashed_run
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["random_state"] == 3 and m["model_id"] == "hashing-256"
    assert any(k.endswith("coded_segments.csv") for k in m["inputs"])
    assert any(k.endswith("P05.vtt") for k in m["inputs"])
    assert m["settings"]["corpus"]["segmenter"]["min_chars"] == 40
    assert str(out / "report.html") in m["outputs"]
    chosen = {(d["transcript_id"], d["label"]): d["role"] for d in m["settings"]["corpus"]["roles"]}
    assert chosen[("P01", "Interviewer")] == "interviewer" and chosen[("P01", "P01")] == "participant"
    assert "Speaker roles (roles.csv)" in (out / "report.html").read_text(encoding="utf-8")


def test_outputs_trace_back_to_verbatim_quotes(hashed_run):
    run, out = hashed_run
    corpus = themekit.Corpus.load(out / "corpus.parquet")
    sugg = pd.read_csv(out / "mapping" / "suggestions.csv")
    for r in sugg.head(50).itertuples():
        assert corpus.transcripts[r.transcript_id].text[r.start:r.end] == r.text
    with zipfile.ZipFile(out / "project.qdpx") as z:
        assert "project.qde" in z.namelist()
    assert themekit.validate_project(out / "project.qdpx") == []


def test_same_random_state_same_codes(hashed_run, tmp_path):
    run, _ = hashed_run
    again = run_study(EXAMPLE, tmp_path, embedder=HashingEmbedder(), random_state=3, quiet=True, report=False,
                      cache=False)   # computed again, not read back
    pd.testing.assert_frame_equal(run.discovery.codes, again.discovery.codes)
    pd.testing.assert_frame_equal(run.mapper.suggestions(), again.mapper.suggestions())


def test_bad_codebook_is_one_line_error_and_no_report(tmp_path, capsys):
    bad = tmp_path / "codebook.csv"
    bad.write_text("code,theme,definition\nA,T,x\nA,T,y\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(EXAMPLE), "--codebook", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "codebook.csv" in err[0]
    assert not (out / "report.html").exists()


@pytest.mark.model
@pytest.mark.browser
def test_readme_main_job_and_report_in_browser(tmp_path, browser, artifacts, capsys):
    """The README's main job on data/example with the real model; the report renders cleanly."""
    out = tmp_path / "out"
    assert main(["-q", "run", str(EXAMPLE), "-o", str(out)]) == 0
    assert "candidate codes" in capsys.readouterr().out
    report = out / "report.html"
    html = report.read_text(encoding="utf-8")
    assert "<script src=" not in html  # self-contained: works offline
    n_figs = html.count('class="plotly-graph-div"')
    assert n_figs >= 6
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(report.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_figs}",
                           timeout=60000)
    shot = artifacts / "example-report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert errors == []
    page.close()
