"""Framework matrices: charting coded data by theme, participant and subtheme; Excel output."""

from __future__ import annotations

import pandas as pd
import pytest
from openpyxl import load_workbook

from themekit.codebook import Code, Codebook
from themekit.codebook.coding import CodedSegment
from themekit.report.framework import (FrameworkMatrix, Quote, _sheet_names, export_framework_excel,
                                framework_matrix, participant_column, row_labels)
from themekit.types import Corpus, Transcript, Utterance

A1 = "I: Tell me.\nA: Queues are long. The tool helps me plan.\n"
B1 = "I: And trust?\nB: I trust the nurses, not the app.\n"
B2 = "I: Since then?\nB: The phone lines are jammed every Monday.\n"
C1 = "I: Anything?\nC: Nothing to add really.\n"


@pytest.fixture(scope="module")
def corpus():
    meta = pd.DataFrame({"participant_id": ["P1", "P2", "P2", "P3"],
                         "site": ["North", "South", "South", "North"],
                         "role": ["GP", "Nurse", "Nurse", "Admin"]},
                        index=pd.Index(["A1", "B1", "B2", "C1"], name="transcript_id"), dtype=str)
    utterances = [Utterance("B1#2", "B1", "B", "participant", 1, 17, 49, B1[17:49])]
    return Corpus([Transcript("A1", A1), Transcript("B1", B1), Transcript("B2", B2), Transcript("C1", C1)],
                  utterances, meta)


@pytest.fixture(scope="module")
def codebook():
    return Codebook([
        Code(None, "Access", is_codable=False),
        Code(None, "Waiting", parent="Access"),
        Code(None, "Navigation", parent="Access"),
        Code(None, "Phone lines", parent="Navigation"),
        Code(None, "Trust"),
        Code(None, "Empty theme", is_codable=False),
        Code(None, "Unused", parent="Empty theme"),
    ])


@pytest.fixture(scope="module")
def segments():
    return [
        CodedSegment("A1", 15, 31, "Waiting", "AH"),
        CodedSegment("A1", 15, 31, "Waiting", "MK"),       # same extract, second coder: one quote
        CodedSegment("A1", 32, 55, "Navigation", "AH"),
        CodedSegment("B2", 18, 58, "Phone lines", "AH"),   # rolls up into Navigation
        CodedSegment("B1", 17, 35, "Trust", "MK"),
        CodedSegment("A1", 32, 55, "Waiting", "MK"),
    ]


def test_participant_rows_and_columns(corpus):
    assert participant_column(corpus.metadata) == "participant_id"
    assert row_labels(corpus) == {"A1": "P1", "B1": "P2", "B2": "P2", "C1": "P3"}
    assert row_labels(corpus, "transcript") == {"A1": "A1", "B1": "B1", "B2": "B2", "C1": "C1"}
    assert row_labels(corpus, "site") == {"A1": "North", "B1": "South", "B2": "South", "C1": "North"}
    with pytest.raises(ValueError, match="by must be"):
        row_labels(corpus, "age")


def test_exact_cells(corpus, codebook, segments):
    m = framework_matrix(segments, corpus, codebook)
    assert m.themes == ("Access", "Trust", "Empty theme")
    assert m.rows == ("P1", "P2", "P3")
    access = m["Access"]
    assert list(access.columns) == ["Waiting", "Navigation"]
    assert access.to_dict("index") == {
        "P1": {"Waiting": "“Queues are long.” (A1, 15–31)\n\n“The tool helps me plan.” (A1, 32–55)",
               "Navigation": "“The tool helps me plan.” (A1, 32–55)"},
        "P2": {"Waiting": "", "Navigation": "“The phone lines are jammed every Monday.” (B2, 18–58; Phone lines)"},
        "P3": {"Waiting": "", "Navigation": ""},
    }
    assert m["Trust"].to_dict("index") == {"P1": {"Trust": ""}, "P2": {"Trust": "“I trust the nurses” (B1, 17–35)"},
                                           "P3": {"Trust": ""}}
    assert m["Empty theme"].to_dict("index") == {r: {"Unused": ""} for r in ("P1", "P2", "P3")}
    q = m.tables["Access"].at["P1", "Waiting"][0]
    assert q == Quote("A1", 15, 31, "Queues are long.", ("Waiting",), ("AH", "MK"))
    assert corpus.transcripts[q.transcript_id].text[q.start:q.end] == q.text
    assert m.counts("Access").to_dict("index") == {"P1": {"Waiting": 2, "Navigation": 1},
                                                  "P2": {"Waiting": 0, "Navigation": 1},
                                                  "P3": {"Waiting": 0, "Navigation": 0}}


def test_summary_and_spread(corpus, codebook, segments):
    m = framework_matrix(segments, corpus, codebook)
    # the span 32-55 is under two Access columns but is one extract of P1
    assert m.summary().to_dict("index") == {"P1": {"Access": 2, "Trust": 0, "Empty theme": 0},
                                            "P2": {"Access": 1, "Trust": 1, "Empty theme": 0},
                                            "P3": {"Access": 0, "Trust": 0, "Empty theme": 0}}
    assert m.spread().to_dict("records") == [
        {"theme": "Access", "code": "Waiting", "participants": 1, "share": 1 / 3, "quotes": 2, "who": "P1"},
        {"theme": "Access", "code": "Navigation", "participants": 2, "share": 2 / 3, "quotes": 2, "who": "P1, P2"},
        {"theme": "Trust", "code": "Trust", "participants": 1, "share": 1 / 3, "quotes": 1, "who": "P2"},
        {"theme": "Empty theme", "code": "Unused", "participants": 0, "share": 0.0, "quotes": 0, "who": ""},
    ]


def test_coders_by_and_attributes(corpus, codebook, segments):
    m = framework_matrix(segments, corpus, codebook, coders="MK", by="site", attributes=["role"])
    assert m.rows == ("North", "South")
    assert m.attributes.to_dict("index") == {"North": {"role": "GP; Admin"}, "South": {"role": "Nurse"}}
    assert m["Access"].at["North", "Waiting"] == ("“Queues are long.” (A1, 15–31)\n\n"
                                                  "“The tool helps me plan.” (A1, 32–55)")
    assert m["Access"].at["North", "Navigation"] == ""


def test_suggestion_table_with_utterance_ids(corpus, codebook):
    sugg = pd.DataFrame({"utterance_id": ["B1#2"], "code": ["Trust"], "score": [0.8]})
    m = framework_matrix(sugg, corpus, codebook)
    q = m.tables["Trust"].at["P2", "Trust"]
    assert q == (Quote("B1", 17, 49, "I trust the nurses, not the app.", ("Trust",), (), 0.8),)
    # align_to_utterances-style rows: a set of codes per utterance
    aligned = pd.DataFrame({"utterance_id": ["B1#2"], "coder": ["AH"], "codes": [frozenset({"Trust"})]})
    assert framework_matrix(aligned, corpus, codebook)["Trust"].at["P2", "Trust"] == \
        "“I trust the nurses, not the app.” (B1, 17–49)"


def test_theme_coded_directly_gets_its_own_column(corpus):
    cb = Codebook([Code(None, "Access"), Code(None, "Waiting", parent="Access")])
    m = framework_matrix([CodedSegment("A1", 15, 31, "Access", "AH")], corpus, cb)
    assert list(m.tables["Access"].columns) == ["Access", "Waiting"]
    assert m["Access"].at["P1", "Access"] == "“Queues are long.” (A1, 15–31)"


def test_errors(corpus, codebook):
    with pytest.raises(ValueError, match="codes not in the codebook: 'Wating'.*did you mean 'Waiting'"):
        framework_matrix([CodedSegment("A1", 15, 31, "Wating", "AH")], corpus, codebook)
    with pytest.raises(ValueError, match="outside transcript 'A1'"):
        framework_matrix([CodedSegment("A1", 15, 310, "Waiting", "AH")], corpus, codebook)
    with pytest.raises(ValueError, match="not in the corpus"):
        framework_matrix([CodedSegment("Z9", 1, 3, "Waiting", "AH")], corpus, codebook)
    with pytest.raises(ValueError, match="unknown utterance"):
        framework_matrix(pd.DataFrame({"utterance_id": ["nope"], "code": ["Trust"]}), corpus, codebook)
    with pytest.raises(ValueError, match="attribute 'age'"):
        framework_matrix([], corpus, codebook, attributes=["age"])


def test_sheet_names_are_valid_and_unique():
    names = _sheet_names(["Summary", "A/B: c?", "x" * 40, "x" * 40, "History", "'quoted'", "[]"])
    assert names == ["Summary (2)", "A-B- c-", "x" * 31, "x" * 27 + " (2)", "History (2)", "quoted", "--"]
    assert all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == len(names)


def test_excel_workbook(tmp_path, corpus, codebook, segments):
    m = framework_matrix(segments, corpus, codebook, attributes=["role"])
    path = export_framework_excel(tmp_path / "out" / "framework.xlsx", m)
    assert path.exists() and not list(path.parent.glob(".*.tmp"))
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Access", "Trust", "Empty theme"]

    ws = wb["Access"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows == [
        ["Participant", "role", "Waiting", "Navigation"],
        ["P1", "GP", "“Queues are long.” (A1, 15–31)\n\n“The tool helps me plan.” (A1, 32–55)",
         "“The tool helps me plan.” (A1, 32–55)"],
        ["P2", "Nurse", None, "“The phone lines are jammed every Monday.” (B2, 18–58; Phone lines)"],
        ["P3", "Admin", None, None],
        ["Quotes", None, 2, 2],
        ["Participants", None, 1, 2],
    ]
    assert ws.freeze_panes == "C2"
    assert all(c.font.bold for c in ws[1]) and ws["A2"].font.bold and not ws["C2"].font.bold
    assert ws["C2"].alignment.wrap_text and ws["C2"].alignment.vertical == "top"
    assert ws.column_dimensions["A"].width == 16 and ws.column_dimensions["C"].width == 60

    s = wb["Summary"]
    rows = [[c.value for c in row] for row in s.iter_rows()]
    assert rows[:5] == [
        ["Participant", "role", "Access", "Trust", "Empty theme", None],
        ["P1", "GP", 2, 0, 0, None],
        ["P2", "Nurse", 1, 1, 0, None],
        ["P3", "Admin", 0, 0, 0, None],
        ["Participants voicing", None, 2, 1, 0, None],
    ]
    assert rows[6] == ["Theme", "Code", "Participants", "Share", "Quotes", "Who"]
    assert rows[7:] == [["Access", "Waiting", 1, pytest.approx(1 / 3), 2, "P1"],
                        ["Access", "Navigation", 2, pytest.approx(2 / 3), 2, "P1, P2"],
                        ["Trust", "Trust", 1, pytest.approx(1 / 3), 1, "P2"],
                        ["Empty theme", "Unused", 0, 0, 0, None]]
    assert s.freeze_panes == "B2" and s["A1"].font.bold and s["A7"].font.bold
    assert s["D8"].number_format == "0%"


def test_excel_from_coded_units_with_awkward_names(tmp_path, corpus):
    cb = Codebook([Code(None, "Trust: is it earned? / lost [x]" + "!" * 20), Code(None, "=SUM(A1)")])
    segs = [CodedSegment("A1", 15, 31, "=SUM(A1)", "AH")]
    path = export_framework_excel(tmp_path / "f.xlsx", segs, corpus, cb, by="transcript")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Trust- is it earned- - lost -x-", "=SUM(A1)"]
    ws = wb["=SUM(A1)"]
    assert ws["B1"].value == "=SUM(A1)" and ws["B1"].data_type == "s"
    assert ws["A1"].value == "Transcript" and ws["B2"].value == "“Queues are long.” (A1, 15–31)"
    with pytest.raises(ValueError, match="pass corpus and codebook"):
        export_framework_excel(tmp_path / "g.xlsx", segs)
    assert isinstance(framework_matrix(segs, corpus, cb), FrameworkMatrix)
