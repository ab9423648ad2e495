"""Readers: every transcript shape we support, exact turns and utterances, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import themekit
from themekit.io.readers import ReaderOptions, parse_labelled_text, read_file
from themekit.types import InputError


def utts(corpus, role=None):
    return [(u.speaker, u.role, u.text) for u in corpus if role is None or u.role == role]


def write(tmp_path: Path, name: str, text: str, encoding="utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def turns_of(text: str, **kw):
    return [(t.speaker, t.role, text[t.start:t.end]) for t in parse_labelled_text(text, ReaderOptions(**kw))]


# -- plain text with labels ---------------------------------------------------------------

def test_interviewer_and_participant_code_labels_with_continuation_lines():
    text = ("Interview P01, 3 March\n\n"
            "Interviewer: How did the triage tool change your week?\n\n"
            "P01: It moved the admin to the start.\nPeople arrive with forms done.\n\n"
            "Interviewer: Anything else?\n")
    assert turns_of(text) == [
        ("Interviewer", "interviewer", "How did the triage tool change your week?"),
        ("P01", "participant", "It moved the admin to the start.\nPeople arrive with forms done."),
        ("Interviewer", "interviewer", "Anything else?"),
    ]


def test_short_i_r_labels():
    text = "I: What worked?\nR: The reminders worked.\nI: And what did not?\nR: The login.\n"
    assert [(s, r) for s, r, _ in turns_of(text)] == [
        ("I", "interviewer"), ("R", "participant"), ("I", "interviewer"), ("R", "participant")]


def test_timestamped_labels_both_shapes_keep_times():
    text = ("[00:01:23] Interviewer: Tell me about referrals.\n"
            "[00:01:30] P03: Mostly online now.\n"
            "Interviewer (00:02:05): Why is that?\n"
            "P03 (00:02:09): It is quicker for people.\n")
    turns = parse_labelled_text(text)
    assert [(t.speaker, text[t.start:t.end]) for t in turns] == [
        ("Interviewer", "Tell me about referrals."), ("P03", "Mostly online now."),
        ("Interviewer", "Why is that?"), ("P03", "It is quicker for people.")]
    assert [t.times[0][1] for t in turns] == [83.0, 90.0, 125.0, 129.0]


def test_labels_on_their_own_line():
    text = "INTERVIEWER\nSo how did it start?\n\nP04\nWell, slowly.\nThen all at once.\n\nINTERVIEWER\nRight.\n"
    assert turns_of(text) == [
        ("INTERVIEWER", "interviewer", "So how did it start?"),
        ("P04", "participant", "Well, slowly.\nThen all at once."),
        ("INTERVIEWER", "interviewer", "Right."),
    ]


def test_speaker_numbers_the_questioner_is_the_interviewer():
    text = ("Speaker 1: What do you think of the tool?\nSpeaker 2: It saves me time on the phone.\n"
            "Speaker 1: And for patients?\nSpeaker 2: Some find it hard to use.\n")
    assert [(s, r) for s, r, _ in turns_of(text)] == [
        ("Speaker 1", "interviewer"), ("Speaker 2", "participant"),
        ("Speaker 1", "interviewer"), ("Speaker 2", "participant")]


def test_explicit_interviewer_label_overrides_guess():
    text = "Anna: Why?\nBen: Because.\nAnna: Really?\nBen: Yes, I think the tool is good.\n"
    roles = [(s, r) for s, r, _ in turns_of(text, interviewer=("Ben",))]
    assert roles[0] == ("Anna", "participant") and roles[1] == ("Ben", "interviewer")


def test_a_colon_inside_a_sentence_is_not_a_label():
    text = "P01: I said it plainly.\nInterviewer: Go on.\nP01: the thing is: nobody read it.\n"
    assert turns_of(text)[-1] == ("P01", "participant", "the thing is: nobody read it.")


# -- plain text without labels ------------------------------------------------------------

def test_unlabelled_lines_with_numbered_prompts_and_observations():
    text = ("1 Read the home tab.\n Alright, I have logged in.\n (The participant reads the task)\n"
            "  1.a Was it enough?\n   Yes, I think so, it seems sensible.\n")
    assert turns_of(text) == [
        (None, "interviewer", "1 Read the home tab."),
        (None, "participant", "Alright, I have logged in."),
        (None, "other", "(The participant reads the task)"),
        (None, "interviewer", "1.a Was it enough?"),
        (None, "participant", "Yes, I think so, it seems sensible."),
    ]


def test_prompt_pattern_is_configurable():
    text = "Q. What happened?\nIt went well overall.\nQ. Anything else?\nNo, nothing.\n"
    roles = [r for _, r, _ in turns_of(text, prompt_pattern=r"^Q\. ")]
    assert roles == ["interviewer", "participant", "interviewer", "participant"]


# -- subtitles ------------------------------------------------------------------------------

TEAMS_VTT = """WEBVTT

0a1b/12-0
00:00:03.120 --> 00:00:07.480
<v Interviewer>How did you first hear about the tool?</v>

0a1b/13-0
00:00:08.000 --> 00:00:11.500
<v P05>From our team lead, in a team meeting last spring.</v>

0a1b/14-0
00:00:11.600 --> 00:00:15.000
<v P05>She showed us the new referral form on the big screen.</v>
"""


def test_teams_vtt_merges_consecutive_cues_and_keeps_times(tmp_path):
    corpus = themekit.read_transcripts(write(tmp_path, "P05.vtt", TEAMS_VTT))
    t = corpus.transcripts["P05"]
    assert t.text == ("Interviewer: How did you first hear about the tool?\n\n"
                      "P05: From our team lead, in a team meeting last spring. She showed us the new referral form on the big screen.\n\n")
    assert [(u.speaker, u.role, u.text, u.start_time, u.end_time) for u in corpus] == [
        ("Interviewer", "interviewer", "How did you first hear about the tool?", 3.12, 7.48),
        ("P05", "participant", "From our team lead, in a team meeting last spring.", 8.0, 11.5),
        ("P05", "participant", "She showed us the new referral form on the big screen.", 11.6, 15.0),
    ]
    assert corpus.utterances[1].turn == corpus.utterances[2].turn == 1


def test_zoom_vtt_and_otter_srt_name_prefixes(tmp_path):
    zoom = ("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nInterviewer: Is it easy to use?\n\n"
            "2\n00:00:04.500 --> 00:00:09.000\nP06: Mostly, once you have logged in twice.\n")
    srt = ("1\n00:00:01,000 --> 00:00:04,000\nInterviewer: Is it easy to use?\n\n"
           "2\n00:00:04,500 --> 00:01:09,250\nP07: Not for my mum, she has no smartphone at all.\n")
    for name, text in (("P06.vtt", zoom), ("P07.srt", srt)):
        corpus = themekit.read_transcripts(write(tmp_path, name, text))
        assert [u.role for u in corpus] == ["interviewer", "participant"]
        assert corpus.utterances[1].speaker == name[:3]
    assert corpus.utterances[1].end_time == 69.25


@pytest.mark.parametrize("bad, line", [
    ("WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nP01: hi\n", 3),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nP01: hi there\n", 3),
])
def test_malformed_vtt_names_the_line(tmp_path, bad, line):
    with pytest.raises(InputError) as e:
        read_file(write(tmp_path, "x.vtt", bad))
    assert e.value.line == line and "x.vtt" in str(e.value)


def test_vtt_without_header_is_refused(tmp_path):
    with pytest.raises(InputError, match="WEBVTT"):
        read_file(write(tmp_path, "x.vtt", "1\n00:00:01.000 --> 00:00:02.000\nhi\n"))


# -- Word -----------------------------------------------------------------------------------

def test_docx_paragraphs_and_tables(tmp_path):
    import docx

    d = docx.Document()
    d.add_paragraph("Interview P08 – transcript")
    p = d.add_paragraph()
    p.add_run("Interviewer:").bold = True
    p.add_run(" What about training?")
    d.add_paragraph("P08: There was one session. It was not enough for the risk questions.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Interviewer", "Would more help?"
    table.cell(1, 0).text, table.cell(1, 1).text = "P08", "Yes, a refresher after a month would."
    d.save(tmp_path / "P08.docx")
    corpus = themekit.read_transcripts(tmp_path / "P08.docx")
    assert utts(corpus) == [
        ("Interviewer", "interviewer", "What about training?"),
        ("P08", "participant", "There was one session. It was not enough for the risk questions."),
        ("Interviewer", "interviewer", "Would more help?"),
        ("P08", "participant", "Yes, a refresher after a month would."),
    ]
    corpus.check_offsets()


def test_corrupt_docx_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.docx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="bad.docx.*Word"):
        read_file(p)


# -- tables ----------------------------------------------------------------------------------

def test_csv_table_with_guessed_columns(tmp_path):
    p = write(tmp_path, "u.csv", "transcript_id,speaker,text\nA,Interviewer,Why?\n"
                                 "A,P1,Because the waiting list was long.\nB,P2,I liked the app.\n")
    corpus = themekit.read_transcripts(p)
    assert sorted(corpus.transcripts) == ["A", "B"]
    assert corpus.transcripts["A"].text == "Interviewer: Why?\nP1: Because the waiting list was long.\n"
    assert utts(corpus) == [("Interviewer", "interviewer", "Why?"),
                            ("P1", "participant", "Because the waiting list was long."),
                            ("P2", "participant", "I liked the app.")]


def test_export_headers_in_their_own_spelling(tmp_path):
    # a transcription service's CSV: "Speaker Name", "Start Time", no transcript column (the file is one)
    p = write(tmp_path, "P9.csv", "Speaker Name,Start Time,End Time,Transcription\n"
                                  "Interviewer,00:00:02,00:00:05,How did you hear of it?\n"
                                  "P9,00:00:06,00:00:09.5,\"From my GP, on a card.\"\n")
    corpus = themekit.read_transcripts(p)
    assert list(corpus.transcripts) == ["P9"]
    assert [(u.speaker, u.role, u.text, u.start_time) for u in corpus] == [
        ("Interviewer", "interviewer", "How did you hear of it?", 2.0),
        ("P9", "participant", "From my GP, on a card.", 6.0)]


def test_jsonl_with_column_mapping(tmp_path):
    rows = [{"conv": "c1", "who": "therapist", "utt": "What brings you here?", "t": "00:00:05"},
            {"conv": "c1", "who": "client", "utt": "My drinking, mostly.", "t": "7.5"}]
    p = write(tmp_path, "u.jsonl", "\n".join(json.dumps(r) for r in rows))
    opts = ReaderOptions(table_columns={"transcript": "conv", "speaker": "who", "text": "utt",
                                        "start_time": "t"})
    corpus = themekit.read_transcripts(p, reader=opts)
    assert [(u.speaker, u.role, u.start_time) for u in corpus] == [
        ("therapist", "interviewer", 5.0), ("client", "participant", 7.5)]


def test_table_without_text_column_says_how_to_name_it(tmp_path):
    with pytest.raises(InputError, match="--column text=NAME"):
        read_file(write(tmp_path, "u.csv", "a,b\n1,2\n"))


def test_jsonl_bad_line_is_named(tmp_path):
    with pytest.raises(InputError) as e:
        read_file(write(tmp_path, "u.jsonl", '{"text": "ok"}\n{oops\n'))
    assert e.value.line == 2


# -- encodings --------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_encodings_are_detected(tmp_path, encoding):
    text = "Interviewer: Was it “easy”?\r\nP02: It wasn’t – not at first.\r\n"
    corpus = themekit.read_transcripts(write(tmp_path, "P02.txt", text, encoding))
    assert corpus.transcripts["P02"].text == text.replace("\r\n", "\n")
    assert corpus.utterances[1].text == "It wasn’t – not at first."


def test_undecodable_bytes_are_a_clear_error(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(b"P01: fine\nP01: \x81\x8d\x8f broken\n")
    with pytest.raises(InputError, match="neither UTF-8 nor Windows-1252") as e:
        read_file(p)
    assert e.value.line == 2


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, message", [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b"  \n\n", "empty"),
    ("bin.txt", b"\x00\x01\x02binary\x00", "binary"),
    ("notes.pdf", b"%PDF-1.4 ...", "unknown transcript format"),
    ("old.doc", b"\xd0\xcf\x11\xe0 old word", "save the file as .docx"),
])
def test_bad_files(tmp_path, name, data, message):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(InputError, match=message) as e:
        read_file(p)
    assert name in str(e.value)


def test_duplicate_transcript_ids(tmp_path):
    (tmp_path / "a").mkdir()
    write(tmp_path / "a", "P01.txt", "P01: hello there, this is me.\n")
    write(tmp_path / "a", "P01.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nP01: hi\n")
    with pytest.raises(InputError, match="duplicate transcript id 'P01'"):
        themekit.read_transcripts(tmp_path / "a")


def test_metadata_row_for_unknown_transcript(tmp_path):
    (tmp_path / "transcripts").mkdir()
    write(tmp_path / "transcripts", "P01.txt", "P01: hello there, this is me.\n")
    write(tmp_path, "metadata.csv", "transcript_id,site\nP01,A\nP09,B\n")
    with pytest.raises(InputError, match="unknown transcript 'P09'") as e:
        themekit.read_transcripts(tmp_path)
    assert e.value.line == 3 and e.value.path.endswith("metadata.csv")


def test_study_folder_with_metadata(tmp_path):
    (tmp_path / "transcripts").mkdir()
    write(tmp_path / "transcripts", "P01.txt", "Interviewer: Hi?\nP01: Hello, I am a practitioner here.\n")
    write(tmp_path / "transcripts", "P02.srt", "1\n00:00:01,000 --> 00:00:02,000\nP02: I use it daily now.\n")
    write(tmp_path, "metadata.csv", "transcript_id,site,wave\nP01,A,1\nP02,B,007\n")
    write(tmp_path, "codebook.csv", "code,definition\nX,y\n")
    corpus = themekit.read_transcripts(tmp_path)
    assert list(corpus.transcripts) == ["P01", "P02"]
    df = corpus.to_pandas()
    assert df.loc[df.transcript_id == "P02", "wave"].tolist() == ["007"]


def test_metadata_id_column_found_by_its_values(tmp_path, caplog):
    # researchers name it 'Interview' or 'Participant'; its values are the transcript names
    (tmp_path / "transcripts").mkdir()
    write(tmp_path / "transcripts", "P01.txt", "Interviewer: Hi?\nP01: Hello, I am a nurse.\n")
    write(tmp_path / "transcripts", "P02.txt", "Interviewer: Hi?\nP02: I use it daily now.\n")
    write(tmp_path, "metadata.csv", "Date,Interview,Site\n2024-03-04,P01,North\n2024-03-07,p02.txt,South\n")
    with caplog.at_level("WARNING", logger="themekit"):
        df = themekit.read_transcripts(tmp_path).to_pandas()
    assert df.drop_duplicates("transcript_id").set_index("transcript_id")[["Date", "Site"]].to_dict() == {
        "Date": {"P01": "2024-03-04", "P02": "2024-03-07"}, "Site": {"P01": "North", "P02": "South"}}
    said = [r.getMessage() for r in caplog.records if "metadata.csv" in r.getMessage()]
    assert len(said) == 1 and "'Interview'" in said[0]


def test_metadata_without_a_column_of_transcript_names_still_asks_for_one(tmp_path):
    (tmp_path / "transcripts").mkdir()
    write(tmp_path / "transcripts", "P01.txt", "Interviewer: Hi?\nP01: Hello, I am a nurse.\n")
    write(tmp_path, "metadata.csv", "Date,Site\n2024-03-04,North\n")
    with pytest.raises(InputError, match="no transcript id column"):
        themekit.read_transcripts(tmp_path)


def test_a_flat_study_folder_does_not_read_its_codebook_or_coding_as_transcripts(tmp_path):
    # no transcripts/ folder: the codebook and coded segments beside the interviews, named as the
    # team names them, and NVivo's reference reports in a folder passed as the coding
    write(tmp_path, "P01.txt", "Interviewer: Hi?\nP01: Hello, I am a nurse.\n")
    write(tmp_path, "P02.txt", "Interviewer: Hi?\nP02: I use it daily now.\n")
    write(tmp_path, "Telehealth codebook v3.csv", "code,definition\nAccess,getting care\n")
    write(tmp_path, "codebook.tsv", "code\tdefinition\nAccess\tgetting care\n")
    write(tmp_path, "MAXQDA Coded segments.csv", "Document name,Code,Segment\nP01,Access,Hello\n")
    (tmp_path / "NVivo coding").mkdir()
    write(tmp_path / "NVivo coding", "Access.txt",
          "<Files\\\\P01> - § 1 references coded  [3.10% Coverage]\n\nReference 1 - 1.55% Coverage\n\nHello\n")
    corpus = themekit.read_transcripts(tmp_path, exclude=[tmp_path / "NVivo coding"])
    assert list(corpus.transcripts) == ["P01", "P02"]
