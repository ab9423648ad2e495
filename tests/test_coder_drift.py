"""Coder drift (conditional test) and codebook history, on hand-made coding with synthetic
embeddings (no model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from themekit.audit import coded_units
from themekit.audit.codebook_history import read_codebook_history
from themekit.audit.content_scan import bridge_pvalue, crossfit_scores, cusum_test
from themekit.audit.coder_drift import (CODER_AGREEMENT_COLUMNS, CODER_DRIFT_COLUMNS, EVIDENCE_COLUMNS,
                                        coder_chart, coder_drift)
from themekit.codebook.coding import CodedSegment

DIM = 16
AXIS = {"Alpha": 0, "Beta": 1, "Gamma": 2}


def project(n_transcripts=12, per=8, drift_from=None, share=0.75, more_alpha_from=None, seed=0, coder="A",
            odd=None, broaden_from=None):
    """Each transcript has ``per`` spans of Alpha-, Beta- and Gamma-like content, coded as such.
    ``drift_from``: from this transcript (1-based) on, ``share`` of the Alpha-like spans are
    coded Beta (the coder's boundary slides). ``odd``: only in this transcript, the same.
    ``more_alpha_from``: from here on the participants talk three times as much about Alpha
    (content changes, coding does not). ``broaden_from``: from here on ``share`` of the
    Gamma-like spans also carry Alpha (Alpha used more broadly)."""
    rng = np.random.default_rng(seed)
    segs, vecs = [], []
    for t in range(1, n_transcripts + 1):
        tid, pos = f"T{t}", 0
        n_alpha = per * (3 if more_alpha_from and t >= more_alpha_from else 1)
        for content, n in (("Alpha", n_alpha), ("Beta", per), ("Gamma", per)):
            for i in range(n):
                code = content
                slid = (drift_from and t >= drift_from) or t == odd
                if content == "Alpha" and slid and i < round(share * n):
                    code = "Beta"
                v = np.zeros(DIM)
                v[AXIS[content]] = 3
                segs.append(CodedSegment(tid, pos, pos + 5, code, coder, f"{content} {t}.{i}",
                                         f"2025-01-{t:02d}T10:00:00"))
                if content == "Gamma" and broaden_from and t >= broaden_from and i < round(share * n):
                    segs.append(CodedSegment(tid, pos, pos + 5, "Alpha", coder, f"{content} {t}.{i}",
                                             f"2025-01-{t:02d}T10:00:00"))
                vecs.append(v + rng.normal(0, 0.9, DIM))
                if len(segs) > len(vecs):                # the same passage, a second code
                    vecs.insert(-1, vecs[-1])
                pos += 10
    units = coded_units(segs)
    key = {(s.transcript_id, s.start): v for s, v in zip(segs, vecs)}
    x = np.array([key[(t, s)] for t, s in zip(units.transcript_id, units.start)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return units, x, {coder: [f"T{t}" for t in range(1, n_transcripts + 1)]}


def test_cusum_by_hand():
    # excess 0 in four interviews, then +3 in four (variances 2 each): the change starts at 4
    r = np.array([-1.5, -1.5, -1.5, -1.5, 1.5, 1.5, 1.5, 1.5])
    v = np.full(8, 2.0)
    p, s, z, phi = cusum_test(r, v, 2, 2)
    assert s == 4
    # two-level fit is exact: chi-square 0, phi floored at 1; z = |S_4| / sqrt(V)
    assert phi == 1.0 and z == pytest.approx(6 / np.sqrt(16))
    assert p == pytest.approx(2 * np.exp(-2 * 1.5 ** 2))
    # a fall is a change too (two-sided), at the same place
    assert cusum_test(-r, v, 2, 2)[:3] == pytest.approx((p, 4, z))
    # the change must persist: min_after interviews from it on
    assert cusum_test(np.array([0, 0, 0, 0, 0, 0, 0, 6.0]) - 0.75, v, 2, 2)[1] <= 6
    assert cusum_test(r, v, 5, 4) == (1.0, 5, 0.0, 1.0)          # no split allowed


def test_exact_bridge_pvalue_matches_simulation_and_is_below_the_bound():
    # unequal interviews; the scanned splits 2..8 of 10
    v = np.array([1.0, 3.0, 0.5, 2.0, 2.0, 4.0, 1.0, 0.7, 2.5, 1.5])
    rng = np.random.default_rng(0)
    r = rng.normal(size=(200_000, len(v))) * np.sqrt(v)
    r -= np.outer(r.sum(1), v / v.sum())            # condition on the excesses summing to zero
    after = np.cumsum(r[:, ::-1], axis=1)[:, ::-1][:, 2:9]
    stat = np.abs(after).max(1) / np.sqrt(v.sum())
    for z in (0.8, 1.2, 1.6):
        simulated = (stat >= z).mean()
        exact = bridge_pvalue(v, z, 2, 8)
        assert exact == pytest.approx(simulated, abs=4 * np.sqrt(simulated / 200_000) + 1e-4)
        assert exact < min(1.0, 2 * np.exp(-2 * z * z))
    # more splits scanned, more chances: never a smaller p
    assert bridge_pvalue(v, 1.2, 1, 9) >= bridge_pvalue(v, 1.2, 2, 8)
    assert bridge_pvalue(v, 0.0, 2, 8) == 1.0
    # cusum_test gives it for the same z and split
    rr = np.array([-1.5, -1.5, -1.5, -1.5, 1.5, 1.5, 1.5, 1.5])
    vv = np.full(8, 2.0)
    pb, s, z, phi = cusum_test(rr, vv, 2, 2)
    pe, s2, z2, _ = cusum_test(rr, vv, 2, 2, p_value="exact")
    assert (s2, z2) == (s, z) and pe == pytest.approx(bridge_pvalue(vv, z, 2, 6)) and pe < pb


def test_crossfit_scores_never_see_their_own_interview():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    y = rng.random((30, 2)) < 0.5
    pos = np.repeat(np.arange(3), 10)
    s = crossfit_scores(x, pos, y, ridge=0.5)
    for t in range(3):
        other = pos != t
        xm = np.hstack([x, np.ones((30, 1))])
        reg = 0.5 * np.eye(5)
        reg[-1, -1] = 1e-8
        w = np.linalg.solve(xm[other].T @ xm[other] + reg, xm[other].T @ y[other])
        np.testing.assert_allclose(s[pos == t], xm[pos == t] @ w, atol=1e-9)
    # changing an interview's codes leaves its own scores unchanged
    y2 = y.copy()
    y2[pos == 1] = ~y2[pos == 1]
    np.testing.assert_allclose(crossfit_scores(x, pos, y2, 0.5)[pos == 1], s[pos == 1], atol=1e-9)


def test_sliding_boundary_is_flagged_at_its_start_with_evidence():
    units, x, order = project(drift_from=7)
    r = coder_drift(units, x, order, n_boot=200, random_state=0)
    assert list(r.table.columns) == CODER_DRIFT_COLUMNS and list(r.evidence.columns) == EVIDENCE_COLUMNS
    f = r.flagged
    assert len(f) == 1
    row = f.iloc[0]
    assert row.change_at == "T7" and row.status == "drift" and row.q_value <= 0.05
    assert {row.from_code, row.to_code} - {None} <= {"Alpha", "Beta"}
    assert row.share_after > row.share_before and row.change_low > 0
    ev = r.evidence[r.evidence.drift_id == row.drift_id]
    assert len(ev) and (ev.text.str.startswith("Alpha")).all() and (ev.coded == "Beta").all()
    # the neighbours are earlier Alpha-coded spans, before the change, quoted with their offsets
    assert (ev.neighbour_codes == "Alpha").all()
    assert ev.neighbour_transcript_id.map(lambda t: int(t[1:]) < 7).all()
    assert (ev.neighbour_end > ev.neighbour_start).all()
    ag = r.agreement.set_index("transcript_id")
    assert list(r.agreement.columns) == CODER_AGREEMENT_COLUMNS
    assert ag.loc["T7", "flagged"] and not ag.loc["T5", "flagged"]
    assert ag.loc[["T8", "T9", "T10"], "agree_earlier"].mean() < ag.loc[["T3", "T4", "T5"], "agree_earlier"].mean()


def test_participants_talking_more_about_a_code_is_not_coder_drift():
    units, x, order = project(more_alpha_from=6, seed=1)
    r = coder_drift(units, x, order, random_state=0)
    assert not r.table.flagged.any()


def test_no_change_flags_nothing_and_is_deterministic():
    units, x, order = project(seed=2)
    a = coder_drift(units, x, order, random_state=3)
    b = coder_drift(units, x, order, random_state=3)
    assert not a.table.flagged.any()
    pd.testing.assert_frame_equal(a.table, b.table)


def test_one_odd_interview_is_not_a_change():
    # T6 alone codes most Alpha-like passages Beta (a participant unlike the others): no drift
    units, x, order = project(odd=6, seed=4)
    r = coder_drift(units, x, order, random_state=0)
    assert not r.table.flagged.any()
    # the same slide kept from T6 on is one
    units, x, order = project(drift_from=6, seed=4)
    f = coder_drift(units, x, order, random_state=0).flagged
    assert list(f.change_at) == ["T6"]


def test_broader_use_of_a_code_is_flagged_as_into():
    units, x, order = project(broaden_from=8, share=0.5, seed=5)
    r = coder_drift(units, x, order, n_boot=200, random_state=0)
    f = r.flagged
    assert len(f) == 1
    row = f.iloc[0]
    assert (row.kind, row.to_code, row.change_at) == ("into", "Alpha", "T8")
    assert row.change > 0 and row.change_low > 0
    ev = r.evidence[r.evidence.drift_id == row.drift_id]
    # the evidence: Gamma-like passages now also coded Alpha, next to earlier Gamma-coded ones
    assert ev.text.str.startswith("Gamma").all() and (ev.coded == "Alpha; Gamma").all()
    assert (ev.neighbour_codes == "Gamma").all()


def test_a_mapper_runs_the_coders_with_the_same_result():
    units, x, order = project(drift_from=7)
    seen = []

    def mapper(fn, items):
        items = list(items)
        seen.append(len(items))
        return [fn(i) for i in items]

    a = coder_drift(units, x, order, n_boot=50, random_state=0)
    b = coder_drift(units, x, order, n_boot=50, mapper=mapper, random_state=0)
    assert seen == [1]
    pd.testing.assert_frame_equal(a.table, b.table)


def test_parameters_are_checked():
    units, x, order = project(n_transcripts=5)
    with pytest.raises(ValueError, match="n_pairs must be an integer >= 1"):
        coder_drift(units, x, order, n_pairs=0)
    with pytest.raises(ValueError, match="ridge must be a number > 0"):
        coder_drift(units, x, order, ridge=-1.0)
    with pytest.raises(ValueError, match="vectors must have one row per unit"):
        coder_drift(units, x[:3], order)
    with pytest.raises(ValueError, match="p_value must be 'bound' or 'exact'"):
        coder_drift(units, x, order, p_value="asymptotic")
    with pytest.raises(ValueError, match="correction must be 'bh' or 'holm'"):
        coder_drift(units, x, order, correction="bonferroni")


def test_exact_p_values_and_holm_on_a_planted_slide():
    units, x, order = project(drift_from=7, seed=6)
    bound = coder_drift(units, x, order, n_boot=0, random_state=0)
    exact = coder_drift(units, x, order, n_boot=0, p_value="exact", random_state=0)
    hb = coder_drift(units, x, order, n_boot=0, correction="holm", random_state=0)
    key = ["coder", "code"]
    b, e = bound.table.set_index(key), exact.table.set_index(key).reindex(bound.table.set_index(key).index)
    assert (e.p_value <= b.p_value + 1e-12).all() and (e.p_value < b.p_value).any()
    assert list(exact.flagged.change_at) == ["T7"]
    # Holm adjusts more than BH: the same test, never a smaller q, no flag BH lacks
    h = hb.table.set_index(key).reindex(b.index)
    assert (h.q_value >= b.q_value - 1e-12).all()
    assert set(hb.flagged.code) <= set(bound.flagged.code)
    assert exact.settings["p_value"] == "exact" and hb.settings["correction"] == "holm"
    assert "Holm across codes" in hb.settings["test"]


def test_a_shift_where_the_codebook_changed_follows_the_codebook(tmp_path):
    units, x, order = project(drift_from=7)
    log = tmp_path / "log.csv"
    # Beta's definition was widened on the 6th, after T6 had been coded, before T7 was
    rows = ["date,code,event,transcript_id"] + [f"2025-01-{t:02d}T10:00:00,,,T{t}" for t in range(1, 13)]
    rows.append("2025-01-06T18:00:00,Beta,definition changed,")
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    h = read_codebook_history(log, [f"T{t}" for t in range(1, 13)])
    assert list(h.events.event) == ["definition changed"] and len(h.coding_times) == 12
    r = coder_drift(units, x, order, history=h, random_state=0)
    f = r.flagged.iloc[0]
    assert f.status == "follows codebook change" and "Beta definition changed" in f.codebook_event
    # the same change logged well away from the shift: drift
    log.write_text("\n".join(rows[:-1] + ["2025-01-02T18:00:00,Beta,definition changed,"]) + "\n", encoding="utf-8")
    r = coder_drift(units, x, order, history=read_codebook_history(log), random_state=0)
    assert r.flagged.iloc[0].status == "drift"


def test_codebook_versions_folder(tmp_path):
    d = tmp_path / "versions"
    d.mkdir()
    (d / "codebook_20250101.csv").write_text("name,definition\nAlpha,first\nBeta,second\n", encoding="utf-8")
    (d / "codebook_20250105_1.csv").write_text("tag,description\nAlpha,first\nBeta,wider\nGamma,new\n",
                                               encoding="utf-8")
    (d / "codebook_20250105_2.csv").write_text("name,definition\nBeta,wider\nGamma,new\n", encoding="utf-8")
    h = read_codebook_history(d)
    got = sorted(zip(h.events.date.dt.day, h.events.code, h.events.event))
    assert got == [(5, "Alpha", "removed"), (5, "Beta", "definition changed"), (5, "Gamma", "added")]
    (d / "undated.csv").write_text("name\nX\n", encoding="utf-8")
    assert len(read_codebook_history(d).events) == 3                      # undated files are not versions
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="no dated codebook versions"):
        read_codebook_history(empty)


def test_taguette_log(tmp_path):
    recs = [
        {"date": "2025-01-01 09:00", "document_id": 1, "payload": {"type": "document_add", "document_name": "T1_rec.txt"}},
        {"date": "2025-01-02 09:00", "document_id": 2, "payload": {"type": "document_add", "document_name": "T2_rec.txt"}},
        {"date": "2025-01-01 09:01", "document_id": None, "payload": {"type": "tag_add", "tag_id": 5, "tag_path": "Old"}},
        {"date": "2025-01-01 09:02", "document_id": 1, "payload": {"type": "highlight_add", "tags": [5]}},
        {"date": "2025-01-02 09:02", "document_id": 2, "payload": {"type": "highlight_add", "tags": [5]}},
        {"date": "2025-01-02 08:00", "document_id": None, "payload": {"type": "tag_add", "tag_id": 6, "tag_path": "Other"}},
        {"date": "2025-01-03 08:00", "document_id": None, "payload": {"type": "tag_add", "tag_id": 5, "tag_path": "New"}},
        {"date": "2025-01-03 09:00", "document_id": None, "payload": {"type": "tag_merge", "src_tag_id": 6, "dest_tag_id": 5}},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    h = read_codebook_history(path, ["T1", "T2"])
    # events under the tag's final name (renamed Old -> New; Other merged into it)
    assert list(h.events.code) == ["New", "New", "New", "New"]
    assert list(h.events.event) == ["added", "added", "renamed", "merged"]
    assert h.coding_times.groupby("transcript_id").date.min().dt.day.to_dict() == {"T1": 1, "T2": 2}
    placed = h.place({"A": ["T1", "T2"]})
    assert [p for p, _ in placed["A"]["New"]] == [1]                    # "Other" added between T1 and T2


def test_coder_chart_marks_the_start():
    units, x, order = project(drift_from=7)
    r = coder_drift(units, x, order, random_state=0)
    fig = coder_chart(r.agreement, "A", flagged=r.table)
    names = [t.name for t in fig.data]
    assert "with own earlier coding" in names and "drift starts here" in names
    marks = next(t for t in fig.data if t.name == "drift starts here")
    assert list(marks.x) == ["T7"]


def test_cli_takes_a_codebook_history(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    import themekit.embed
    from themekit.cli import main
    from themekit.embed import HashingEmbedder

    study = Path(__file__).resolve().parents[1] / "data" / "example"
    monkeypatch.setattr(themekit.embed, "load_embedder", lambda *a, **k: HashingEmbedder(128))
    log = tmp_path / "log.csv"
    log.write_text("date,code,event\n2025-01-01,Triage accuracy,definition changed\n", encoding="utf-8")
    out = tmp_path / "audit"
    rc = main(["audit", str(study), "-o", str(out), "--model-coder", "none", "--bootstrap", "50",
               "--codebook-history", str(log)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Coder drift (same kind of passage, a different code" in text
    settings = json.loads((out / "settings.json").read_text())["settings"]
    assert "1 codebook events" in settings["coder_drift"]["codebook_history"]
    assert (settings["coder_drift"]["p_value"], settings["coder_drift"]["correction"]) == ("bound", "bh")
    holm_out = tmp_path / "audit-holm"
    assert main(["audit", str(study), "-o", str(holm_out), "--model-coder", "none", "--bootstrap", "50",
                 "--drift-correction", "holm", "--drift-p-value", "exact"]) == 0
    capsys.readouterr()
    hs = json.loads((holm_out / "settings.json").read_text())["settings"]["coder_drift"]
    assert (hs["p_value"], hs["correction"]) == ("exact", "holm") and "Holm across codes" in hs["test"]
    assert (out / "coder_drift.csv").is_file() and (out / "figures" / "coder_mk.json").is_file()
    assert main(["audit", str(study), "-o", str(out), "--codebook-history", str(tmp_path / "missing.csv")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
