"""The report's review view: queue order, its data, and the whole loop in headless Chromium —
decide with the keyboard, reload, export decisions.csv, feed it to `themekit map --review`."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import themekit.embed
from themekit.cli import main
from themekit.codebook import Codebook
from themekit.embed import Embeddings, HashingEmbedder
from themekit.report.review import review_data, review_html, review_order

from test_decisions import CB, _corpus

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"


def _sugg(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["utterance_id", "code", "score", "rank", "suggested", "seeded", "evidence"])


def test_queue_puts_the_most_likely_right_first_and_skips_coded_and_unsuggested():
    s = _sugg([("T1#0", "Alpha", 0.5, 1, True, False, ""), ("T1#1", "Beta", 0.9, 1, True, False, ""),
               ("T1#1", "Gamma", 0.6, 2, True, False, ""), ("T1#2", "Gamma", 0.95, 1, True, True, ""),
               ("T2#0", "Beta", 0.99, 1, False, False, "")])
    q = review_order(s)
    assert list(zip(q["utterance_id"], q["code"])) == [("T1#1", "Beta"), ("T1#1", "Gamma"), ("T1#0", "Alpha")]
    assert q["shown_score"].tolist() == [0.9, 0.6, 0.5]
    # a calibrated score, when the mapper gives one, is what orders and what is shown
    q = review_order(s.assign(calibrated=[0.7, 0.2, 0.1, 0.0, 0.0]))
    assert list(q["code"]) == ["Alpha", "Beta", "Gamma"] and q["shown_score"].tolist() == [0.7, 0.2, 0.1]
    # a review queue's order is kept; rows it does not list come after
    queue = pd.DataFrame({"utterance_id": ["T1#1", "T1#0"], "code": ["Gamma", "Alpha"]})
    assert list(review_order(s, queue)["code"]) == ["Gamma", "Alpha", "Beta"]
    with pytest.raises(ValueError, match="score"):
        review_order(s.drop(columns="score"))


def test_data_carry_context_nearest_coded_example_and_escape_safely():
    corpus = _corpus()
    s = _sugg([("T1#1", "Alpha", 0.8, 1, True, False, "example: alpha"),
               ("T2#2", "Beta", 0.7, 1, True, False, "definition: beta </script> <!-- x")])
    vecs = Embeddings([u.id for u in corpus.utterances],
                      np.array([[1, 0], [0.9, 0.1], [0, 1], [0.8, 0.6], [0.1, 1], [0, 1]], dtype=np.float32), "toy")
    seeds = {"T1#0": ["Alpha"], "T2#0": ["Alpha"], "T1#2": ["Beta"], "T2#1": ["Beta"]}
    d = review_data(s, corpus, CB, seeds=seeds, embeddings=vecs, context=1)
    U = d["utterances"]
    assert d["codes"] == ["Alpha", "Beta", "Gamma"] and d["key"].startswith("themekit-review:")
    first, second = d["items"]
    assert U[first[0]][0] == "T1#1" and [U[i][0] for i in first[6]] == ["T1#0"] and [U[i][0] for i in first[7]] == ["T1#2"]
    assert U[first[5]][0] == "T1#0"          # T1#1 (0.9, 0.1) is nearest to T1#0 (1, 0) among Alpha's
    assert U[second[0]][0] == "T2#2" and [U[i][0] for i in second[7]] == []   # last of its transcript
    assert U[second[5]][0] == "T1#2"         # (0, 1): Beta's T1#2 (0, 1) is nearer than T2#1 (0.1, 1)
    page = review_html(d)
    blob = re.search(r"<script type='application/json' id='tk-review-data'>(.*?)</script>", page, re.S).group(1)
    assert "</script>" not in blob and "<!--" not in blob
    assert json.loads(blob)["items"][1][4] == "definition: beta </script> <!-- x"


# -- the whole loop in a browser ---------------------------------------------------------------
@pytest.fixture(scope="module")
def reviewed_study(tmp_path_factory):
    """The example study with three transcripts coded (the rest to review), hashing embedder."""
    from themekit.pipeline import run_study

    tmp = tmp_path_factory.mktemp("review")
    coded = pd.read_csv(EXAMPLE / "coded_segments.csv")
    part = tmp / "coded_P01-P03.csv"
    coded[coded["transcript_id"].isin(["P01", "P02", "P03"])].to_csv(part, index=False)
    run = run_study(EXAMPLE, tmp / "out", coded=part, embedder=HashingEmbedder(256), quiet=True)
    return run, tmp, part


def _current(page) -> dict:
    return page.evaluate("""() => { const D = JSON.parse(document.getElementById('tk-review-data').textContent);
        const it = D.items[+document.getElementById('tk-review').dataset.item], u = D.utterances[it[0]];
        return {utterance_id: u[0], transcript_id: u[1], start: String(u[4]), end: String(u[5]),
                code: D.codes[it[1]], score: it[2].toFixed(3), codes: D.codes}; }""")


@pytest.mark.browser
def test_review_with_the_keyboard_survives_reload_exports_and_comes_back(reviewed_study, browser, tmp_path,
                                                                         monkeypatch, artifacts, capsys):
    run, tmp, part = reviewed_study
    report = tmp / "out" / "report.html"
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(report.as_uri())
    page.wait_for_function("window.tkReview && window.tkReview.ready", timeout=30000)
    page.fill(".tk-reviewer", "AB")
    page.keyboard.press("r")                  # typed into the reviewer box: no decision
    assert page.input_value(".tk-reviewer") == "ABr" and page.evaluate("window.tkReview.csv()").count("\n") == 1
    page.fill(".tk-reviewer", "AB")
    page.keyboard.press("Escape")             # leaves the box; keys act again
    page.evaluate("document.getElementById('review').scrollIntoView()")

    expected = []
    for kind in ["accept"] * 5 + ["reject"] * 3 + ["recode"] * 2:
        cur = _current(page)
        key, new = {"accept": ("a", ""), "reject": ("r", "")}.get(kind, (None, None))
        if kind == "recode":   # the first of codes 1-2 that is not the suggested one
            n = 0 if cur["codes"][0] != cur["code"] else 1
            key, new = str(n + 1), cur["codes"][n]
        page.keyboard.press(key)
        expected.append([cur["utterance_id"], cur["transcript_id"], cur["start"], cur["end"], cur["code"], kind,
                         new, "AB", cur["score"]])
    assert len({(r[0], r[4]) for r in expected}) == 10
    assert "10 decided (5 accepted, 3 rejected, 2 recoded)" in page.inner_text(".tk-counts")

    page.reload()
    page.wait_for_function("window.tkReview && window.tkReview.ready", timeout=30000)
    assert "10 decided (5 accepted, 3 rejected, 2 recoded)" in page.inner_text(".tk-counts")
    page.select_option(".tk-f-status", "done")
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.keyboard.press("l")                  # the review is out of view: keys do nothing
    assert page.is_visible(".tk-card") and not page.is_visible(".tk-list")
    page.evaluate("document.getElementById('review').scrollIntoView()")
    page.keyboard.press("l")
    assert page.is_visible(".tk-list") and page.locator(".tk-list tbody tr").count() == 10
    page.screenshot(path=str(artifacts / "review-list.png"))

    with page.expect_download() as dl:
        page.click(".tk-export")
    assert dl.value.suggested_filename == "decisions.csv"
    path = tmp_path / "decisions.csv"
    dl.value.save_as(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["utterance_id", "transcript_id", "start", "end", "code", "decision", "new_code", "reviewer",
                       "decided_at", "score"]
    assert [r[:8] + r[9:] for r in rows[1:]] == expected
    stamps = [r[8] for r in rows[1:]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in stamps) and stamps == sorted(stamps)
    assert errors == []
    ctx.close()

    # back into the study: accepted/recoded are seeds of reviewer AB, rejected are not suggested there
    monkeypatch.setattr(themekit.embed, "load_embedder", lambda *a, **k: HashingEmbedder(256))
    out = tmp_path / "mapped"
    assert main(["map", str(EXAMPLE), "--coded", str(part), "--review", str(path), "-o", str(out)]) == 0
    assert "5 accepted, 2 recoded (seeds), 3 rejected" in capsys.readouterr().out
    sugg = pd.read_csv(out / "suggestions.csv")
    for uid, _, _, _, code, kind, new, _, _ in expected:
        rows_u = sugg[sugg["utterance_id"] == uid]
        assert rows_u["seeded"].all(), uid
        if kind == "reject":
            assert code not in set(rows_u[rows_u["suggested"]]["code"]), uid
    log = pd.read_csv(out / "review_log.csv", keep_default_na=False)
    assert log["utterance_id"].tolist() == [r[0] for r in expected]
    assert log["applied_as"].tolist() == ["seed"] * 5 + ["not this code"] * 3 + ["seed"] * 2


@pytest.mark.browser
def test_candidate_codes_edited_and_exported_as_a_codebook_that_reads_back(reviewed_study, browser, tmp_path):
    run, tmp, _ = reviewed_study
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    page.goto((tmp / "out" / "report.html").as_uri())
    page.wait_for_function("window.tkReview && window.tkReview.ready", timeout=30000)
    # the other order: the smallest margin between an utterance's two top codes first
    page.select_option(".tk-f-order", "uncertain")
    margins = page.evaluate("JSON.parse(document.getElementById('tk-review-data').textContent).items.map(i => i[9])")
    assert margins[int(page.get_attribute("#tk-review", "data-item"))] == min(margins)
    page.click(".tk-cands summary")
    ids = run.discovery.codes["id"].tolist()
    page.fill(f"[aria-label='name of {ids[0]}']", "Filling in the form")
    page.check(f"[aria-label='accept {ids[0]}']")
    page.select_option(f"[aria-label='merge {ids[1]} into']", f"cand:{ids[0]}")
    page.select_option(f"[aria-label='merge {ids[2]} into']", "code:Waiting and uncertainty")
    with page.expect_download() as dl:                 # no definition yet: refused, nothing downloaded
        page.click(".tk-export-codebook")
        page.fill(f"[aria-label='definition of {ids[0]}']", "Completing the online form; help with it.")
        page.click(".tk-export-codebook")
    path = tmp_path / "codebook_reviewed.yaml"
    dl.value.save_as(path)
    book = Codebook.load(path)
    old = run.codebook
    new = book.get("Filling in the form")
    assert new.definition == "Completing the online form; help with it." and new.parent
    assert set(book.names) == set(old.names) | {"Filling in the form", new.parent}
    merged = run.discovery.code(ids[1]).exemplars()["text"].head(2).tolist()
    assert set(merged) <= set(new.examples)
    grown = book.get("Waiting and uncertainty").examples
    assert grown[:len(old.get("Waiting and uncertainty").examples)] == old.get("Waiting and uncertainty").examples
    assert len(grown) > len(old.get("Waiting and uncertainty").examples)
    # the new code can be chosen when recoding
    assert "Filling in the form" in page.locator(".tk-recode option").all_inner_texts()[-1]
    ctx.close()
