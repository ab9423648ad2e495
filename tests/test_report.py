"""HTML report: self-contained, renders in a real headless browser without JavaScript errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from themekit.report import plots
from themekit.common.output import Section, build_manifest, figure_html, table_html, write_report


def _points(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = rng.integers(-1, 6, n)
    return pd.DataFrame({
        "x": rng.normal(size=n), "y": rng.normal(size=n), "code": [f"C{c:02d}" if c >= 0 else "outlier" for c in codes],
        "label": [f"label {c}" for c in codes], "text": [f"quote <{i}> & more words here" for i in range(n)],
        "speaker": ["P01"] * n, "transcript_id": ["P01"] * n, "start": range(n), "end": range(1, n + 1)})


def _codes() -> pd.DataFrame:
    return pd.DataFrame({"id": ["C01", "C02", "C03"], "label": ["waiting", "training", "risk"],
                         "size": [30, 12, 7], "n_participants": [6, 3, 1], "stability": [0.95, 0.7, 0.4],
                         "theme": ["T1", "T1", "T2"], "key_terms": ["wait, list", "course", "risk"]})


def test_hover_text_is_escaped_and_traceable():
    fig = plots.utterance_map(_points(5))
    hovers = [h for tr in fig.data for h in tr.hovertext]
    assert any("quote &lt;0&gt; &amp; more" in h for h in hovers)
    assert all("P01 · P01 [" in h for h in hovers)


def test_large_maps_use_webgl():
    assert type(plots.utterance_map(_points(6000)).data[0]).__name__ == "Scattergl"
    assert type(plots.utterance_map(_points(100)).data[0]).__name__ == "Scatter"


def test_outliers_are_grey_and_last():
    fig = plots.utterance_map(_points(200))
    assert fig.data[-1].name == "outlier" and fig.data[-1].marker.color == plots.OUTLIER_COLOUR


def test_table_html_escapes_and_cuts(tmp_path):
    html = table_html(pd.DataFrame({"q": ["<b>x</b>"] * 5}), max_rows=2, caption="Quotes")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "First 2 of 5 rows" in html and "<caption>Quotes</caption>" in html


def test_manifest_records_inputs_and_versions(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("hello", encoding="utf-8")
    m = build_manifest(command="themekit run", settings={"k": 1}, random_state=7, inputs=[tmp_path])
    assert m["random_state"] == 7 and m["versions"]["themekit"]
    assert m["inputs"][str(f)]["sha256"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    json.dumps(m)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path, browser, artifacts):
    counts = pd.DataFrame([[3, 0], [1, 2]], index=["P01", "P02"], columns=["T1", "T2"])
    quotes = pd.DataFrame([["a quote", ""], ["b", "c"]], index=counts.index, columns=counts.columns)
    sim = pd.DataFrame([[0.8, 0.1], [0.2, 0.3]], index=["C01", "C02"], columns=["Waiting", "Risk"])
    figs = [plots.utterance_map(_points(300)), plots.code_overview(_codes()), plots.theme_tree(_codes()),
            plots.similarity_heatmap(sim, pd.Series({"C01": "matched", "C02": "emergent"})),
            plots.framework_heatmap(counts, quotes)]
    sections = [Section("Figures", "All figures.", [figure_html(f) for f in figs]),
                Section("Table", "", [table_html(_codes())])]
    path = write_report(tmp_path / "report.html", "Test report", sections, manifest={"a": 1})
    text = path.read_text(encoding="utf-8")
    assert "<script src=" not in text  # nothing fetched from the network
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(figs)}",
                           timeout=30000)
    shot = artifacts / "report-test.png"
    page.screenshot(path=str(shot), full_page=False)
    print(f"screenshot: {shot}")
    assert errors == []
    assert page.locator(".js-plotly-plot").count() == len(figs)
    assert page.locator("table.tbl").count() == 1
    page.close()


# -- the map's layout -----------------------------------------------------------------------------
def test_exact_neighbours_are_the_brute_force_cosine_neighbours():
    from themekit.discover.neighbours import exact_knn

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    idx, dist = exact_knn(x, 5, block=64)         # several blocks
    sim = x @ x.T
    np.fill_diagonal(sim, np.inf)
    want = np.argsort(-sim, axis=1, kind="stable")[:, :5]
    assert (idx == want).all()
    assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    assert np.allclose(dist[:, 1:], 1 - np.take_along_axis(x @ x.T, idx[:, 1:], 1), atol=1e-6)


def test_map_layout_keeps_groups_apart_and_is_seeded():
    from types import SimpleNamespace

    from themekit.report.study import map_points

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    x = np.repeat(centres, 40, axis=0) + rng.normal(0, 0.05, (120, 32))
    units = [SimpleNamespace(id=f"u{i}", text=f"quote {i}", speaker="P1", transcript_id=f"T{i % 4}",
                             start=i, end=i + 1) for i in range(120)]
    a, b = map_points(units, x, random_state=0), map_points(units, x, random_state=0)
    pd.testing.assert_frame_equal(a, b)
    assert a["utterance_id"].tolist() == [u.id for u in units]
    xy = a[["x", "y"]].to_numpy()
    group = np.repeat([0, 1, 2], 40)
    centre = np.array([xy[group == g].mean(0) for g in range(3)])
    nearest = np.linalg.norm(xy[:, None] - centre[None], axis=2).argmin(1)
    assert (nearest == group).all()     # each point sits nearest its own group's centre


def test_umap_compiled_code_is_cached_on_disk(tmp_path):
    """A second process loads UMAP's compiled functions from numba's cache instead of compiling."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from themekit.common.compiled import umap_module\n"
            "u = umap_module().umap_\n"
            "d = np.sort(np.random.default_rng(0).random((50, 5)).astype(np.float32), axis=1)\n"
            "u.smooth_knn_dist(d, 5.0)\n"
            "s = u.smooth_knn_dist.stats\n"
            "print(s.cache_path is not None, sum(s.cache_hits.values()))\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    assert runs[0][0] == "True"             # a cache location was found
    assert int(runs[1][1]) >= 1             # the second process read the compiled code back


def test_umap_spectral_failure_is_one_log_line_and_other_warnings_still_show(caplog):
    import logging
    import warnings

    from themekit.common.compiled import precomputed_neighbours_quietly

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with caplog.at_level(logging.INFO, logger="themekit"):
            with precomputed_neighbours_quietly("report map"):
                warnings.warn("Spectral initialisation failed! The eigenvector solver\nfailed. ...\n\n"
                              "Falling back to random initialisation!")
                warnings.warn("n_jobs value 1 overridden to 1 by setting random_state.")
                warnings.warn("something else the user should see", RuntimeWarning)
    assert [str(w.message) for w in shown] == ["something else the user should see"]
    lines = [r.getMessage() for r in caplog.records if "spectral" in r.getMessage()]
    assert lines == ["report map: UMAP's spectral start did not converge (neighbour graph with too small an "
                     "eigengap); it started from a seeded random layout instead"]
