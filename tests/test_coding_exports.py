"""Coded segments as CAQDAS programs export them: MAXQDA retrieved segments (Excel, paragraph
Begin/End, code paths), ATLAS.ti quotations (numbered documents, codes one a line), Dedoose
excerpts (a range, one column per code), Taguette highlights (HTML), NVivo coded references;
quotes whose spacing, typography or speaker labels differ from the transcript; code lists joined
by ';', '|', ',' or newlines; code names that differ from the codebook in case, spacing, path
or number."""

from __future__ import annotations

import logging

import pytest

from themekit.codebook import Code, Codebook, read_coded_segments
from themekit.types import Corpus, InputError, Transcript

#      0         1         2         3         4         5         6         7         8
#      0123456789012345678901234567890123456789012345678901234567890123456789012345678901234
P1 = ("Interviewer: How was it?\n"                                    # 0-24
      "P1: I waited six weeks – six! – before anyone called.\n"        # 25-78
      "Interviewer: And what helped?\n"                                # 79-108
      "P1: My sister drove me there… she’s been great.\n")             # 109-156
P2 = "Interviewer: The cost?\nP2: It’s “only” a few pounds, but every week.\n"

WAIT = "I waited six weeks – six! – before anyone called."
SISTER = "My sister drove me there… she’s been great."
POUNDS = "It’s “only” a few pounds, but every week."


@pytest.fixture
def corpus():
    return Corpus([Transcript("P1", P1), Transcript("P2", P2)], [])


@pytest.fixture
def book():
    return Codebook([Code(None, "Barriers", is_codable=False), Code(None, "Access", parent="Barriers"),
                     Code(None, "Cost", parent="Barriers"), Code(None, "1.2 Family support")])


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def spans(segs):
    return [(s.transcript_id, s.start, s.end, s.code, s.coder) for s in segs]


def at(text, piece):
    i = text.index(piece)
    return i, i + len(piece)


def test_maxqda_retrieved_segments_xlsx(tmp_path, corpus, book, caplog):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Color", "Document group", "Document name", "Code", "Begin", "End", "Weight score", "Segment",
               "Modified by", "Modified", "Created by", "Created", "Area", "Coverage %"])
    # Begin/End are paragraph numbers; the segment's dashes and ellipsis are plain ASCII
    ws.append(["#ff0000", "Interviews", "P1", "Barriers\\Access", 2, 2, 0,
               "I waited six weeks - six! - before anyone called.", "AH", "2025-01-01", "AH", "2025-01-01", 50, 10.5])
    ws.append(["#00ff00", "Interviews", "P1", "Family support ", 4, 4, 0, "My sister drove me there... she's been great.",
               "AH", "2025-01-02", "AH", "2025-01-02", 40, 9])
    ws.append(["#00ff00", "Interviews", "p2", "barriers\\cost", 2, 2, 0, 'It\'s "only" a few pounds, but every week.',
               "BK", "2025-01-03", "BK", "2025-01-03", 40, 9])
    wb.save(tmp_path / "segments.xlsx")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(tmp_path / "segments.xlsx", corpus, codebook=book)
    assert spans(segs) == [("P1", *at(P1, WAIT), "Access", "AH"), ("P1", *at(P1, SISTER), "1.2 Family support", "AH"),
                           ("P2", *at(P2, POUNDS), "Cost", "BK")]
    assert [s.text for s in segs] == [WAIT, SISTER, POUNDS]
    assert [s.order for s in segs] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert ("in 3 rows (lines 2, 3, 4) the offsets in 'Begin'/'End' do not point at the row's quote" in caplog.text)
    assert ("3 code names matched to the codebook ignoring case, spacing, path or number: 'Barriers\\\\Access' -> "
            "'Access', 'Family support' -> '1.2 Family support', 'barriers\\\\cost' -> 'Cost'") in caplog.text
    assert ("segments.xlsx: 3 quotes found in their transcript only when ignoring typography (quotes, dashes, '…') "
            "(lines 2, 3, 4)") in caplog.text
    assert len(caplog.records) == 3  # one line each: offsets, code names, typography


def test_atlas_quotations_numbered_documents_and_codes_one_a_line(tmp_path, corpus, book):
    p = write(tmp_path, "quotes.csv", 'ID,Quotation Name,Document,Codes,Quotation Content,Created by\n'
                                      f'1:1,wait,D1: P1.docx,"Access\nCost",{WAIT},AH\n'
                                      f'2:1,fare,2: P2.txt,Cost,"{POUNDS.replace(chr(8220), chr(34) * 2).replace(chr(8221), chr(34) * 2)}",AH\n')
    segs = read_coded_segments(p, corpus, codebook=book)
    assert spans(segs) == [("P1", *at(P1, WAIT), "Access", "AH"), ("P1", *at(P1, WAIT), "Cost", "AH"),
                           ("P2", *at(P2, POUNDS), "Cost", "AH")]


def test_dedoose_excerpts_range_and_code_columns(tmp_path, corpus):
    a, b = at(P1, WAIT)
    p = write(tmp_path, "excerpts.csv",
              "Media Title,Excerpt Range,Excerpt Creator,Excerpt Date,Excerpt Copy,Access,Cost,Family support\n"
              f"P1.txt,{a}-{b},AH,2025-01-01,{WAIT},True,False,False\n"
              f"P2.txt,,BK,2025-01-02,\"It’s “only” a few pounds\",0,1,1\n"
              f"P1.txt,,BK,2025-01-02,before anyone,0,0,0\n")
    segs = read_coded_segments(p, corpus)
    assert spans(segs) == [("P1", a, b, "Access", "AH"), ("P2", *at(P2, "It’s “only” a few pounds"), "Cost", "BK"),
                           ("P2", *at(P2, "It’s “only” a few pounds"), "Family support", "BK")]
    with pytest.raises(InputError, match=r"excerpts2.csv, line 2: range 'x' is not two character offsets"):
        read_coded_segments(write(tmp_path, "excerpts2.csv", "Media Title,Excerpt Range,Codes\nP1,x,A\n"), corpus)


def test_taguette_highlights_in_html(tmp_path, corpus):
    p = write(tmp_path, "highlights.csv", "id,document,tag,content\n"
                                          '1,P1,Access,"<p>I waited six weeks &ndash; six! &ndash; before anyone '
                                          'called.</p>"\n'
                                          '2,P1,Family,"<p>My sister drove me there&hellip; she&#x27;s been great.</p>"\n')
    segs = read_coded_segments(p, corpus)
    assert spans(segs) == [("P1", *at(P1, WAIT), "Access", "coder1"), ("P1", *at(P1, SISTER), "Family", "coder1")]


def test_nvivo_references_paths_and_a_quote_across_a_speaker_label(tmp_path, corpus, book, caplog):
    p = write(tmp_path, "refs.csv", "Code,File,Reference,Coverage,Coded Text\n"
                                    '"Codes\\\\Barriers\\Access","Files\\\\P1",1,12.5%,"before anyone called."\n'
                                    '"Codes\\\\Barriers\\Cost","Files\\\\P1",2,10%,'
                                    '"before anyone called. And what helped? My sister drove me"\n')
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus, codebook=book)
    start = P1.index("before anyone called.")
    assert spans(segs) == [("P1", start, start + 21, "Access", "coder1"),
                           ("P1", start, P1.index("drove me") + 8, "Cost", "coder1")]
    assert segs[1].text == "before anyone called.\nInterviewer: And what helped?\nP1: My sister drove me"
    assert "line 3: quote found in transcript 'P1' only when ignoring a speaker label between turns" in caplog.text


@pytest.mark.parametrize("cell,column,with_book,codes", [
    ("Access; Cost", "code", False, ["Access", "Cost"]),
    ("Access | Cost", "code", False, ["Access", "Cost"]),
    ("Access\nCost", "code", False, ["Access", "Cost"]),
    ("Access, Cost", "codes", False, ["Access", "Cost"]),
    ("Access, Cost", "code", False, ["Access, Cost"]),       # a code column: one code unless the codebook says
    ("Access, Cost", "code", True, ["Access", "Cost"]),
    ("access ,COST", "code", True, ["Access", "Cost"]),
])
def test_code_lists(tmp_path, corpus, book, cell, column, with_book, codes):
    p = write(tmp_path, "c.csv", f'transcript_id,{column},quote\nP1,"{cell}",six weeks\n')
    segs = read_coded_segments(p, corpus, codebook=book if with_book else None)
    assert [s.code for s in segs] == codes and {(s.start, s.end) for s in segs} == {at(P1, "six weeks")}


def test_a_code_with_a_comma_in_the_codebook_stays_whole(tmp_path, corpus):
    book = Codebook([Code(None, "Cost, time"), Code(None, "Cost")])
    p = write(tmp_path, "c.csv", 'transcript_id,codes,quote\nP1,"Cost, time",six weeks\n')
    assert [s.code for s in read_coded_segments(p, corpus, codebook=book)] == ["Cost, time"]


def test_title_rows_above_the_header_and_case_of_transcript_ids(tmp_path, corpus):
    p = write(tmp_path, "c.csv", "Coded segments export,,\n,,\nDocument,Code,Text\np1.TXT,Access,six weeks\n")
    [s] = read_coded_segments(p, corpus)
    assert (s.transcript_id, s.start, s.end) == ("P1", *at(P1, "six weeks"))


def test_offsets_that_miss_their_quote_fall_back_only_when_the_quote_is_there(tmp_path, corpus, caplog):
    p = write(tmp_path, "c.csv", "transcript_id,start,end,code,text\nP1,3,3,A,six weeks\nP1,0,5,B,\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus)
    assert spans(segs) == [("P1", *at(P1, "six weeks"), "A", "coder1"), ("P1", 0, 5, "B", "coder1")]
    assert "in 1 rows (line 2) the offsets in 'start'/'end' do not point at the row's quote" in caplog.text
    p = write(tmp_path, "d.csv", "transcript_id,start,end,code,text\nP1,0,5,A,seven weeks\n")
    with pytest.raises(InputError, match=r"d.csv, line 2: text 'seven weeks' does not match transcript 'P1' \[0:5\]"):
        read_coded_segments(p, corpus)


def test_no_transcript_column_names_what_to_call_it(tmp_path, corpus):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.append(["Code", "Segment"])
    wb.active.append(["A", "six weeks"])
    wb.save(tmp_path / "s.xlsx")
    with pytest.raises(InputError, match=r"s.xlsx, line 1: no transcript_id column \('transcript_id', 'Document', "
                                         r"'Document name', 'File', 'Media Title'\) \(first row: Code, Segment\)"):
        read_coded_segments(tmp_path / "s.xlsx", corpus)


def test_semicolon_separated_coding(tmp_path, corpus):
    p = write(tmp_path, "c.csv", "Document;Code;Segment\nP1;Access;six weeks\nP2;Cost;a few pounds, but\n")
    assert spans(read_coded_segments(p, corpus)) == [("P1", *at(P1, "six weeks"), "Access", "coder1"),
                                                     ("P2", *at(P2, "a few pounds, but"), "Cost", "coder1")]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from themekit.codebook.quotes import find_quote, _normal_view  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("ab ’'“\"–-…\n."), min_size=1, max_size=40), st.data())
def test_property_a_quote_in_plain_typography_lands_on_its_text(text, data):
    a = data.draw(st.integers(0, len(text) - 1))
    b = data.draw(st.integers(a + 1, len(text)))
    piece = text[a:b]
    plain = " ".join(piece.replace("’", "'").replace("“", '"').replace("–", "-").replace("…", "...").split())
    if not plain:
        return
    found = find_quote(text, plain, 0)
    assert found is not None
    s, e, _ = found
    assert 0 <= s < e <= len(text)
    assert _normal_view(text[s:e])[0].strip() == _normal_view(plain)[0]


def test_old_workbooks_are_named(tmp_path, corpus):
    (tmp_path / "c.xls").write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    with pytest.raises(InputError, match="c.xls: .xls workbooks are not read; save the sheet as .xlsx or .csv"):
        read_coded_segments(tmp_path / "c.xls", corpus)


def test_nvivo_reference_reports_one_file_per_code_in_a_folder(tmp_path, corpus, book, caplog):
    import docx

    folder = tmp_path / "nodes"
    folder.mkdir()
    (folder / "Access.txt").write_text(
        "Name: Codes\\\\Barriers\\Access\n\n"
        "<Files\\\\P1> - § 2 references coded  [8.52% Coverage]\n\n"
        "Reference 1 - 4.10% Coverage\n\nI waited six weeks – six! – before anyone called.\n\n"
        "Reference 2 - 4.42% Coverage\n\nHow was\nit?\n\n"
        "<Files\\\\P2> - § 1 reference coded  [1.20% Coverage]\n\n"
        "Reference 1 - 1.20% Coverage\n\na few pounds\n", encoding="utf-8")
    d = docx.Document()
    for t in ("<Internals\\\\P2> - § 1 reference coded  [3.00% Coverage]", "Reference 1 - 3.00% Coverage",
              "It's \"only\" a few pounds"):
        d.add_paragraph(t)
    d.save(folder / "Cost.docx")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(folder, corpus, codebook=book)
    assert spans(segs) == [("P1", *at(P1, WAIT), "Access", "coder1"), ("P1", *at(P1, "How was it?"), "Access", "coder1"),
                           ("P2", *at(P2, "a few pounds"), "Access", "coder1"),
                           ("P2", *at(P2, "It’s “only” a few pounds"), "Cost", "coder1")]
    assert "Access.txt, line 9: quote found in transcript 'P1' only when ignoring whitespace" in caplog.text
    with pytest.raises(InputError, match="no coded-segment files"):
        (tmp_path / "empty").mkdir()
        read_coded_segments(tmp_path / "empty", corpus)


def test_document_names_matched_loosely_when_one_transcript_fits(tmp_path, caplog):
    corpus = Corpus([Transcript("interview_01", "P: I waited six weeks."), Transcript("interview_02", "P: Fine."),
                     Transcript("Site A 1", "P: x"), Transcript("site_a_01", "P: y")], [])
    p = write(tmp_path, "c.csv", "Document,Code,Segment\nInterview 1.docx,A,six weeks\nINTERVIEW-02,B,Fine\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus)
    assert [(s.transcript_id, s.text) for s in segs] == [("interview_01", "six weeks"), ("interview_02", "Fine")]
    assert ("2 document names matched to transcripts ignoring case, spacing, punctuation and leading zeros: "
            "'Interview 1.docx' -> 'interview_01', 'INTERVIEW-02' -> 'interview_02'") in caplog.text
    p = write(tmp_path, "d.csv", "Document,Code,Segment\nsite a 001,A,x\n")   # two transcripts fit: no guess
    with pytest.raises(InputError, match="d.csv, line 2: document 'site a 001' fits several transcripts "
                                         r"\('Site A 1', 'site_a_01'\) when case, spacing and leading zeros are "
                                         "ignored; write the transcript's id exactly"):
        read_coded_segments(p, corpus)


def test_refi_project_codings_placed_on_the_study_transcripts(tmp_path, corpus, book, caplog):
    from themekit.codebook import CodedSegment, export_qdpx

    # the program's copy: plain typography, no interviewer line, so offsets differ from ours
    copy = "P1: I waited six weeks - six! - before anyone called.\n"
    theirs = Corpus([Transcript("P1", copy)], [])
    s = copy.index("I waited")
    segs = [CodedSegment("P1", s, s + 18, "Access", "AH", copy[s:s + 18]),
            CodedSegment("P1", s, len(copy) - 1, "Cost", "BK", copy[s:-1])]
    theirs_book = Codebook([Code(None, "Barriers", is_codable=False), Code(None, "access", parent="Barriers"),
                            Code(None, "Cost", parent="Barriers")])
    segs[0] = CodedSegment("P1", s, s + 18, "access", "AH", copy[s:s + 18])
    path = export_qdpx(tmp_path / "project.qdpx", theirs, theirs_book, segs)
    with caplog.at_level(logging.WARNING, logger="themekit"):
        got = read_coded_segments(path, corpus, codebook=book)
    assert spans(got) == [("P1", *at(P1, "I waited six weeks"), "Access", "AH"), ("P1", *at(P1, WAIT), "Cost", "BK")]
    assert got[1].text == WAIT
    assert "2 codings placed on the transcripts by their text" in caplog.text
    assert [c.name for c in Codebook.load(path).codes] == ["Barriers", "access", "Cost"]   # --codebook project.qdpx


def test_rows_without_a_code_are_counted_in_one_line(tmp_path, corpus, caplog):
    p = write(tmp_path, "c.csv", "Document,Code,Segment\nP1,A,six weeks\nP1,,waited\nP1, ,six\nP2,;,cost\nP2,\" , \",cost\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert [s.code for s in read_coded_segments(p, corpus)] == ["A"]
    assert [r.getMessage() for r in caplog.records] == [f"{p}: 4 rows without a code skipped (lines 3, 4, 5, 6)"]


def test_code_names_that_differ_only_in_case_between_two_codes_are_not_merged(tmp_path, corpus, caplog):
    book = Codebook([Code(None, "Trust"), Code(None, "Trust in staff"), Code(None, "Trust building"),
                     Code(None, "trust Building")])
    p = write(tmp_path, "c.csv", "transcript_id,code,quote\nP1,trust,six weeks\nP1,TRUST IN STAFF,six weeks\n"
                                 "P1,TRUST BUILDING,six weeks\nP1,trust Building,six weeks\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus, codebook=book)
    assert [s.code for s in segs] == ["Trust", "Trust in staff", "TRUST BUILDING", "trust Building"]
    assert "2 code names matched to the codebook" in caplog.text


def test_document_names_keep_their_number_boundaries(tmp_path):
    corpus = Corpus([Transcript("P1", "P: one"), Transcript("P10", "P: ten"), Transcript("P12", "P: twelve")], [])
    p = write(tmp_path, "c.csv", "Document,Code,Segment\np01,A,one\nP 10,A,ten\n")
    assert [s.transcript_id for s in read_coded_segments(p, corpus)] == ["P1", "P10"]
    p = write(tmp_path, "d.csv", "Document,Code,Segment\nP1-2,A,twelve\n")  # participant 1, interview 2: not P12
    with pytest.raises(InputError, match="d.csv, line 2: unknown transcript 'P1-2'"):
        read_coded_segments(p, corpus)


def test_a_short_quote_said_twice_is_placed_by_the_rows_offsets(tmp_path, caplog):
    text = "I: Did it help?\nP1: It’s fine.\nI: And the app?\nP1: It’s fine. Mostly.\n"
    second = text.index("It’s fine.", 25)
    corpus = Corpus([Transcript("P1", text)], [])
    # offsets two characters off (another version of the file) still say which one was coded
    p = write(tmp_path, "c.csv", f"transcript_id,start,end,code,text\nP1,{second + 2},{second + 12},A,It’s fine.\n"
                                 f"P1,{second + 2},{second + 12},B,It's fine.\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus)
    assert [(s.start, s.end) for s in segs] == [(second, second + 10)] * 2


def test_a_speaker_label_is_skipped_only_between_turns(tmp_path):
    corpus = Corpus([Transcript("P1", "P1: I told them Mum said: no way.\nI: Right.\nP1: And then nothing.\n")], [])
    p = write(tmp_path, "c.csv", "transcript_id,code,quote\nP1,A,Right. And then\n")
    [s] = read_coded_segments(p, corpus)
    assert s.text == "Right.\nP1: And then"
    p = write(tmp_path, "d.csv", "transcript_id,code,quote\nP1,A,I told them no way\n")
    with pytest.raises(InputError, match="d.csv, line 2: quote 'I told them no way' not found in transcript 'P1'"):
        read_coded_segments(p, corpus)


def test_quotes_that_differ_in_whitespace_only_are_said_in_one_line(tmp_path, corpus, caplog):
    s = P1.index("six weeks")
    p = write(tmp_path, "c.csv", "transcript_id,start,end,code,text\n" +
              "".join(f'P1,{s},{s + 9},A,"six  weeks"\n' for _ in range(7)))
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert len(read_coded_segments(p, corpus)) == 7
    assert [r.getMessage() for r in caplog.records] == [
        f"{p}: 7 quotes differ from their transcript in whitespace only (lines 2, 3, 4, 5, 6, ...); the "
        "transcript's text is used"]


def test_a_dotted_document_number_is_no_file_extension(tmp_path):
    corpus = Corpus([Transcript("P1", "P: one"), Transcript("P1.1", "P: first")], [])
    p = write(tmp_path, "c.csv", "Document,Code,Segment\nP1.1,A,first\nP1.txt,A,one\nP1.2,A,one\n")
    with pytest.raises(InputError, match="c.csv, line 4: unknown transcript 'P1.2'"):   # interview 2 not loaded
        read_coded_segments(p, corpus)


def test_codes_with_commas_in_a_comma_joined_cell_are_read_by_the_codebook(tmp_path, corpus):
    book = Codebook([Code(None, "Cost, time and travel"), Code(None, "Trust"), Code(None, "Cost")])
    p = write(tmp_path, "c.csv", 'transcript_id,codes,quote\nP1,"Cost, time and travel, trust",six weeks\n'
                                 'P1,"Cost, Trust",six weeks\n')
    assert [s.code for s in read_coded_segments(p, corpus, codebook=book)] == [
        "Cost, time and travel", "Trust", "Cost", "Trust"]


def test_a_quote_found_several_times_without_offsets_is_said(tmp_path, caplog):
    corpus = Corpus([Transcript("P1", "P1: Yes.\nI: Sure?\nP1: Yes. Sure.\n")], [])
    p = write(tmp_path, "c.csv", "transcript_id,code,quote\nP1,A,Yes.\nP1,B,Sure.\nP1,C,Yes. Sure.\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert [(s.code, s.start) for s in read_coded_segments(p, corpus)] == [("A", 4), ("B", 27), ("C", 22)]
    assert [r.getMessage() for r in caplog.records] == [
        f"{p}: 1 quote occurs more than once in its transcript and has no offsets (line 2); placed at the first "
        "occurrence after the coder's previous quote — give start/end to place it"]


def test_code_columns_named_with_words_that_contain_id_or_age(tmp_path, corpus):
    # Dedoose: 'Management pressure' and 'Confidence' are codes; 'Participant age' and 'Word count' are not
    p = write(tmp_path, "excerpts.csv", "Media Title,Excerpt Copy,Participant age,Word count,Management pressure,"
                                        "Confidence\nP1.txt,six weeks,34,2,1,0\nP1.txt,waited,34,1,0,1\n")
    assert [s.code for s in read_coded_segments(p, corpus)] == ["Management pressure", "Confidence"]


def test_a_quote_coded_twice_with_one_code_is_two_places_and_code_sorted_rows_keep_their_order(tmp_path, caplog):
    text = "P1: Yes.\nI: Why?\nP1: It was slow.\nI: Again?\nP1: Yes.\nI: And?\nP1: It was slow.\n"
    corpus = Corpus([Transcript("P1", text)], [])
    first, second = text.index("Yes."), text.rindex("Yes.")
    slow1, slow2 = text.index("It was slow."), text.rindex("It was slow.")
    # rows sorted by code (as MAXQDA, ATLAS.ti and NVivo export): each code's rows are in transcript order
    p = write(tmp_path, "c.csv", "transcript_id,code,quote\nP1,Agree,Yes.\nP1,Agree,Yes.\nP1,Slow,It was slow.\n"
                                 "P1,Slow,It was slow.\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus)
    assert [(s.code, s.start) for s in segs] == [("Agree", first), ("Agree", second), ("Slow", slow1),
                                                 ("Slow", slow2)]
    # one passage, two codes on two rows: the same place
    p = write(tmp_path, "d.csv", "transcript_id,code,quote\nP1,Agree,It was slow.\nP1,Slow,It was slow.\n")
    assert [s.start for s in read_coded_segments(p, corpus)] == [slow1, slow1]
