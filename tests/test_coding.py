"""Coded segments: reading, checking against transcripts, writing, aligning to utterances."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themekit import read_transcripts
from themekit.codebook.coding import (CodedSegment, align_to_utterances, read_coded_segments, segments_to_pandas,
                             write_coded_segments)
from themekit.types import Corpus, InputError, Transcript, Utterance

#                      0         1         2         3         4         5
#                      012345678901234567890123456789012345678901234567890123
T1 = "I: How was it?\nP: It was slow. It was slow again.\nI: And then?\nP: Fine.\n"
T2 = "I: Hello?\nP: The nurse was kind.\n"


def make_corpus() -> Corpus:
    """Hand-made corpus with exact utterance offsets (no segmenter involved)."""
    def utts(tid, text, spans):
        out = []
        for n, (speaker, piece) in enumerate(spans, start=1):
            start = text.index(piece)
            role = "interviewer" if speaker == "I" else "participant"
            out.append(Utterance(f"{tid}#{n}", tid, speaker, role, n - 1, start, start + len(piece), piece))
        return out
    u1 = utts("T1", T1, [("I", "How was it?"), ("P", "It was slow. It was slow again."), ("I", "And then?"),
                         ("P", "Fine.")])
    u2 = utts("T2", T2, [("I", "Hello?"), ("P", "The nurse was kind.")])
    corpus = Corpus([Transcript("T1", T1), Transcript("T2", T2)], u1 + u2)
    corpus.check_offsets()
    return corpus


@pytest.fixture
def corpus():
    return make_corpus()


def csv_file(tmp_path, text, name="coded.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# -- reading ----------------------------------------------------------------------------------------

def test_offsets_exact(tmp_path, corpus):
    p = csv_file(tmp_path, "transcript_id,start,end,code,coder,text,order\n"
                           "T1,18,30,Slow,AH,It was slow.,3\nT2,13,32,Kind,,,\n")
    assert read_coded_segments(p, corpus) == [
        CodedSegment("T1", 18, 30, "Slow", "AH", "It was slow.", 3),
        CodedSegment("T2", 13, 32, "Kind", "coder1", "The nurse was kind.", None),
    ]


def test_without_corpus_keeps_given_text(tmp_path):
    p = csv_file(tmp_path, "transcript,start,end,code,quote,timestamp\nT1.txt,18,30,Slow,It was slow.,"
                           "2025-07-07T09:44:55\nT1,0,2,X,,1.5\n")
    assert read_coded_segments(p) == [
        CodedSegment("T1", 18, 30, "Slow", "coder1", "It was slow.", "2025-07-07T09:44:55"),
        CodedSegment("T1", 0, 2, "X", "coder1", None, 1.5),
    ]


def test_serdif_format_splits_codes_and_strips_extension(tmp_path, corpus, caplog):
    p = csv_file(tmp_path, "segment_id,transcript,participant,start,end,text,codes\n"
                           "1,T1.txt,T1,18,30,It was slow.,Slow|Negative\n"
                           '2,T2.txt,T2,13,32,"The nurse was kind.",Kind\n'
                           "3,T2.txt,T2,0,2,I:,\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        segs = read_coded_segments(p, corpus)
    assert [(s.transcript_id, s.start, s.end, s.code, s.coder) for s in segs] == [
        ("T1", 18, 30, "Slow", "coder1"), ("T1", 18, 30, "Negative", "coder1"), ("T2", 13, 32, "Kind", "coder1")]
    assert f"{p}, line 4: no code; row skipped" in caplog.text


def test_quote_resolution_follows_previous_segment(tmp_path, corpus):
    # "It was slow" occurs twice in T1: the second row of coder A continues after the first
    p = csv_file(tmp_path, "transcript_id,coder,code,quote,coded_at\n"
                           "T1,A,Slow,It was slow,1\n"
                           "T1,A,Again,It was slow,2\n"            # same passage, second code: same place
                           "T1,A,Again2,It was slow again.,3\n"
                           "T1,A,Slow,It was slow,4\n"             # nothing after the previous: first
                           "T1,B,Slow,It was slow,5\n")
    got = [(s.coder, s.code, s.start, s.end) for s in read_coded_segments(p, corpus)]
    assert got == [("A", "Slow", 18, 29), ("A", "Again", 18, 29), ("A", "Again2", 31, 49),
                   ("A", "Slow", 31, 42), ("B", "Slow", 18, 29)]
    assert T1[31:42] == "It was slow"


def test_quote_with_whitespace_differences_warns(tmp_path, corpus, caplog):
    p = csv_file(tmp_path, 'transcript_id,code,quote\nT1,X,"slow again.   I: And"\n')
    with caplog.at_level(logging.WARNING, logger="themekit"):
        [s] = read_coded_segments(p, corpus)
    assert s.text == "slow again.\nI: And" and (s.start, s.end) == (38, 56)
    assert "line 2: quote found in transcript 'T1' only when ignoring whitespace" in caplog.text


def test_text_whitespace_only_difference_warns(tmp_path, corpus, caplog):
    p = csv_file(tmp_path, "transcript_id,start,end,code,text\nT1,18,30,Slow, It  was slow.\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        [s] = read_coded_segments(p, corpus)
    assert s.text == "It was slow."
    assert "line 2: text differs from transcript 'T1' [18:30] in whitespace only" in caplog.text


def test_order_kept_as_number_or_text(tmp_path):
    p = csv_file(tmp_path, "transcript_id,start,end,code,sequence\nT,0,1,a,7\nT,0,1,b,2.5\nT,0,1,c,second\n")
    assert [s.order for s in read_coded_segments(p)] == [7, 2.5, "second"]


def test_integration_with_read_transcripts(tmp_path):
    folder = tmp_path / "study"
    (folder / "transcripts").mkdir(parents=True)
    (folder / "transcripts" / "P1.txt").write_text(
        "Interviewer: How was the wait?\nP1: It was long. I waited six weeks for a call back.\n", encoding="utf-8")
    corpus = read_transcripts(folder)
    p = csv_file(folder, "transcript_id,coder,code,quote\nP1,AH,Waiting,six weeks\n", "coded_segments.csv")
    [s] = read_coded_segments(p, corpus)
    assert corpus.transcripts["P1"].text[s.start:s.end] == "six weeks"
    df = align_to_utterances([s], corpus)
    assert df[df.codes.map(len) > 0]["utterance_id"].tolist() == [
        u.id for u in corpus if "six weeks" in u.text]


# -- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,match,line", [
    ("transcript_id,start,end,code\nT1,0,5,A\nT9,0,5,A\n", "unknown transcript 'T9'; known transcript ids: T1, T2", 3),
    ("transcript_id,start,end,code\nT2,10,99,A\n", "offsets 10-99 are beyond the end of transcript 'T2' "
     "\\(33 characters\\)", 2),
    ("transcript_id,start,end,code,text\nT1,18,30,A,It was fast.\n", "text 'It was fast.' does not match "
     "transcript 'T1' \\[18:30\\] which reads 'It was slow.'", 2),
    ("transcript_id,start,end,code\nT1,30,18,A\n", "start 30 is not before end 18", 2),
    ("transcript_id,start,end,code\nT1,5,5,A\n", "start 5 is not before end 5", 2),
    ("transcript_id,start,end,code\nT1,x,5,A\n", "start 'x' is not a character offset", 2),
    ("transcript_id,start,end,code,quote\nT1,3,,A,x\n", "give both start and end, or neither", 2),
    ("transcript_id,code,quote\nT1,A,It was quick\n", "quote 'It was quick' not found in transcript 'T1'", 2),
    ("transcript_id,code,quote\nT1,A,\n", "no start/end offsets and no quote", 2),
    ("transcript_id,start,end,quote\nT1,0,1,x\n", "no code column", 1),
    ("code,start,end\nA,0,1\n", "no transcript_id column", 1),
    ("transcript_id,code\nT1,A\n", "give start and end offsets, or a quote column", 1),
    ("transcript_id,start,end,code\n\n", "no coded segments in the file", None),
    ("", "the coded-segments file is empty", None),
    ('transcript_id,code,quote\nT1,A,"unterminated\n', "quote 'unterminated' not found", 2),
])
def test_errors_name_file_and_line(tmp_path, corpus, text, match, line):
    p = csv_file(tmp_path, text)
    with pytest.raises(InputError, match=match) as e:
        read_coded_segments(p, corpus)
    assert e.value.path == str(p) and str(e.value).startswith(str(p))
    if line is not None:
        assert e.value.line == line and f"line {line}:" in str(e.value)


def test_quote_without_corpus_is_an_error(tmp_path):
    p = csv_file(tmp_path, "transcript_id,code,quote\nT1,A,It was slow\n")
    with pytest.raises(InputError, match="line 2: no start/end offsets: pass the transcripts"):
        read_coded_segments(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_coded_segments(tmp_path / "nope.csv")


def test_segment_checks_offsets():
    with pytest.raises(ValueError, match="0 <= start < end"):
        CodedSegment("T", 5, 2, "A")


# -- writing ----------------------------------------------------------------------------------------

def test_write_and_read_back(tmp_path, corpus):
    segs = [CodedSegment("T1", 18, 30, "Slow, \"really\"", "AH", "It was slow.", "2025-07-07T09:44:55"),
            CodedSegment("T2", 13, 32, "Kind", "MK", "The nurse was kind.", 4)]
    p = write_coded_segments(segs, tmp_path / "out" / "segments.csv")
    assert p.read_text().splitlines()[0] == "transcript_id,start,end,code,coder,text,order"
    assert read_coded_segments(p, corpus) == segs
    assert [x.name for x in p.parent.iterdir()] == ["segments.csv"]


_TXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(["\n", ",", '"', "|"]),
               min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,5}", fullmatch=True),
                          st.integers(0, 50), st.integers(1, 20),
                          # a code name in a coded-segments table is one line without ';' or '|' (they join several codes)
                          _TXT.map(str.strip).filter(lambda s: s and not set(s) & set("|;\n")),
                          st.from_regex(r"[A-Za-z]{1,6}", fullmatch=True), st.none() | _TXT,
                          st.none() | st.integers(0, 10 ** 6) | st.from_regex(r"2025-0[1-9]-1[0-9]T0[0-9]:00",
                                                                               fullmatch=True)),
                min_size=1, max_size=8))
def test_property_write_read_round_trip(tmp_path, rows):
    segs = [CodedSegment(t, s, s + n, code, coder, text, order) for t, s, n, code, coder, text, order in rows]
    p = write_coded_segments(segs, tmp_path / "rt.csv")
    assert read_coded_segments(p) == segs


def test_segments_to_pandas():
    df = segments_to_pandas([CodedSegment("T1", 0, 2, "A", "x", None, 3)])
    assert list(df.columns) == ["transcript_id", "start", "end", "code", "coder", "text", "order"]
    assert df.dtypes["start"] == "int64" and df.loc[0, "order"] == 3
    assert len(segments_to_pandas([])) == 0


# -- alignment --------------------------------------------------------------------------------------

def rows(df):
    return [(r.utterance_id, r.coder, tuple(sorted(r.codes)), r.n_segments) for r in df.itertuples()]


def test_align_rules(corpus):
    segs = [
        CodedSegment("T1", 18, 22, "Phrase", "A"),   # "It w": inside the long utterance T1#2
        CodedSegment("T1", 31, 64, "Span", "A"),     # 58% of T1#2 and all of T1#3 ("And then?")
        CodedSegment("T1", 44, 56, "Straddle", "B"),  # 5 of 31 chars of T1#2 + 3 of 9 of T1#3: most in T1#2
    ]
    assert T1[18:49] == "It was slow. It was slow again." and T1[53:62] == "And then?"
    df = align_to_utterances(segs, corpus)
    assert rows(df) == [
        ("T1#1", "A", (), 0), ("T1#1", "B", (), 0),
        ("T1#2", "A", ("Phrase", "Span"), 2), ("T1#2", "B", ("Straddle",), 1),
        ("T1#3", "A", ("Span",), 1), ("T1#3", "B", (), 0),
        ("T1#4", "A", (), 0), ("T1#4", "B", (), 0),
    ]
    assert list(df.columns) == ["utterance_id", "transcript_id", "coder", "codes", "n_segments"]
    assert df.attrs["unassigned"] == []


def test_align_span_over_half_of_each(corpus):
    # covers 18 of 31 chars of T1#2 (58%) and all of T1#3
    df = align_to_utterances([CodedSegment("T1", 31, 64, "X", "A")], corpus, min_overlap=0.5)
    assert rows(df)[1:3] == [("T1#2", "A", ("X",), 1), ("T1#3", "A", ("X",), 1)]
    df = align_to_utterances([CodedSegment("T1", 31, 64, "X", "A")], corpus, min_overlap=0.9)
    assert rows(df)[1:3] == [("T1#2", "A", (), 0), ("T1#3", "A", ("X",), 1)]


def test_align_missing_transcripts_and_pivot(corpus):
    segs = [CodedSegment("T1", 66, 71, "Fine", "A"), CodedSegment("T2", 13, 32, "Kind", "B"),
            CodedSegment("T2", 13, 17, "Nurse", "B"), CodedSegment("T2", 13, 32, "Kind", "A")]
    df = align_to_utterances(segs, corpus)
    # B did not code T1: no rows for B there; A coded both transcripts
    assert sorted(set(zip(df.transcript_id, df.coder))) == [("T1", "A"), ("T2", "A"), ("T2", "B")]
    wide = df.pivot(index="utterance_id", columns="coder", values="codes")
    assert wide.loc["T1#4", "A"] == frozenset({"Fine"}) and (
        isinstance(wide.loc["T1#4", "B"], float) and math.isnan(wide.loc["T1#4", "B"]))
    assert wide.loc["T2#2", "B"] == frozenset({"Kind", "Nurse"}) and wide.loc["T2#1", "B"] == frozenset()
    assert df.set_index(["utterance_id", "coder"]).loc[("T2#2", "B"), "n_segments"] == 2


def test_align_to_selected_utterances_reports_unassigned(corpus):
    segs = [CodedSegment("T1", 3, 14, "Q", "A"), CodedSegment("T1", 66, 71, "Fine", "A")]
    df = align_to_utterances(segs, corpus, utterances=corpus.select())
    assert rows(df) == [("T1#2", "A", (), 0), ("T1#4", "A", ("Fine",), 1)]
    assert df.attrs["unassigned"] == [segs[0]]


def test_align_validates(corpus):
    with pytest.raises(ValueError, match="min_overlap must be in \\(0, 1\\], got 0"):
        align_to_utterances([], corpus, min_overlap=0)
    with pytest.raises(ValueError, match="unknown transcript 'T9'"):
        align_to_utterances([CodedSegment("T9", 0, 1, "A")], corpus)
    assert len(align_to_utterances([], corpus)) == 0


def test_coded_interviewer_speech_joins_the_units_and_what_is_left_out_is_counted(corpus):
    from themekit.codebook.coding import coded_speech, coded_speech_line

    segs = [CodedSegment("T1", 3, 14, "Prompt", "AH"),        # "How was it?": interviewer speech
            CodedSegment("T1", 18, 30, "Slow", "AH"),         # participant speech
            CodedSegment("T1", 0, 2, "Label", "AH")]          # "I:": no utterance at all
    units = [u for u in corpus if u.role == "participant"]
    out, info = coded_speech(corpus, segs, units)
    assert [u.id for u in out] == ["T1#1", "T1#2", "T1#4", "T2#2"]
    assert info == {"added": {"interviewer": 1}, "segments_added": 1, "left_out": 1}
    assert coded_speech_line(info) == (
        "coded speech outside participant turns is mapped and used as seeds too (1 interviewer "
        "utterances, 1 coded segments); 1 coded segments are left out: they cover no utterance (a "
        "transcriber's note at the edge of a turn, a speaker label or a heading)")
    assert coded_speech(corpus, segs[1:2], units)[0] == units
