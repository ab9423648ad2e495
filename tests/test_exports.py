"""Transcripts as transcription tools and researchers export them: exact speakers, roles, text
and times on tiny hand-made copies of each shape, and exact offsets throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

import themekit
from themekit.io.readers import ReaderOptions, parse_labelled_text
from themekit.types import InputError


def turns_of(text: str, **kw):
    """(speaker, role, text, start time) of each turn."""
    out = []
    for t in parse_labelled_text(text, ReaderOptions(**kw)):
        out.append((t.speaker, t.role, text[t.start:t.end], t.times[0][1] if t.times else None))
    return out


def read(tmp_path: Path, name: str, data: bytes | str):
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    corpus = themekit.read_transcripts(p)
    corpus.check_offsets()   # transcript.text[u.start:u.end] == u.text for every utterance
    return [(u.speaker, u.role, u.text, u.start_time) for u in corpus]


def test_no_break_space_after_a_label(tmp_path):
    # Word puts a no-break space after "Interviewer:"; the turns were dropped as header text
    text = ("\ufeffInterviewer:\u00a0What changed for you?\r\n\r\n"
            "Participant:\u00a0The forms came first.\r\n\r\nInterviewer:\tAnd then?\r\n\r\n"
            "Participant:\tThen the calls.\r\n\r\nWe got used to it.\r\n")
    assert read(tmp_path, "p1.txt", text) == [
        ("Interviewer", "interviewer", "What changed for you?", None),
        ("Participant", "participant", "The forms came first.", None),
        ("Interviewer", "interviewer", "And then?", None),
        ("Participant", "participant", "Then the calls.", None),
        ("Participant", "participant", "We got used to it.", None),
    ]


def test_bold_markdown_labels():
    text = ("**Interviewer:** What changed for you?\n\n**P04**: The forms came first.\n\n"
            "__Interviewer__: And then?\n\n**P04:** Then the calls.\n")
    assert turns_of(text) == [
        ("Interviewer", "interviewer", "What changed for you?", None),
        ("P04", "participant", "The forms came first.", None),
        ("Interviewer", "interviewer", "And then?", None),
        ("P04", "participant", "Then the calls.", None),
    ]


def test_labels_with_a_qualifier_in_brackets():
    text = ("Interviewer (JD): What changed for you?\nParticipant (P03): The forms came first.\n"
            "Interviewer (JD): And then?\n")
    assert turns_of(text) == [
        ("Interviewer (JD)", "interviewer", "What changed for you?", None),
        ("Participant (P03)", "participant", "The forms came first.", None),
        ("Interviewer (JD)", "interviewer", "And then?", None),
    ]


def test_header_block_with_key_value_lines_is_not_speech():
    text = ("Interview transcript - Project TRIAGE\nDate: 12/03/2024\nInterviewer: JD\n"
            "Participant: P03\nDuration: 45 min\n\n"
            "I: Thanks for taking part. What is your role?\nP: I am a practice nurse.\n"
            "I: And the new system?\nP: It took a while.\n")
    assert turns_of(text) == [
        ("I", "interviewer", "Thanks for taking part. What is your role?", None),
        ("P", "participant", "I am a practice nurse.", None),
        ("I", "interviewer", "And the new system?", None),
        ("P", "participant", "It took a while.", None),
    ]


def test_header_runs_only_to_the_first_turn_without_a_blank_line():
    text = ("Date: 12/03/2024\nInterviewer: Thanks for coming in today.\n"
            "Participant: You're welcome.\nInterviewer: What is your role?\nParticipant: Nurse\n")
    assert [t[:3] for t in turns_of(text)] == [
        ("Interviewer", "interviewer", "Thanks for coming in today."),
        ("Participant", "participant", "You're welcome."),
        ("Interviewer", "interviewer", "What is your role?"),
        ("Participant", "participant", "Nurse"),
    ]


def test_a_header_needs_a_header_key():
    # short turns at the top without "Date:"/"Duration:" keys are speech
    text = "Interviewer: Hello\nParticipant: Hi\nInterviewer: Shall we start?\nParticipant: Yes\n"
    assert [t[2] for t in turns_of(text)] == ["Hello", "Hi", "Shall we start?", "Yes"]


def test_end_markers_and_tool_credits_are_not_speech():
    text = ("Jane Doe started transcription\n\nJane Doe  0:03\nWhat changed for you?\n\n"
            "Sam Patel  0:12\nThe forms came first.\n\nJane Doe  0:20\nAnd then?\n\n"
            "Sam Patel  0:24\nThe calls.\n\nEND OF TRANSCRIPT\n\n"
            "Transcribed by https://otter.ai\n")
    assert turns_of(text) == [
        ("Jane Doe", "interviewer", "What changed for you?", 3.0),
        ("Sam Patel", "participant", "The forms came first.", 12.0),
        ("Jane Doe", "interviewer", "And then?", 20.0),
        ("Sam Patel", "participant", "The calls.", 24.0),
    ]
    text = "I: What changed?\nR: The forms.\n[end of recording]\nSam Patel stopped transcription\n"
    assert turns_of(text) == [("I", "interviewer", "What changed?", None),
                              ("R", "participant", "The forms.", None)]


def test_timestamp_after_the_label_is_the_start_time():
    # Sonix: "Name: [00:00:05] text"
    text = ("Jane Doe: [00:00:05] What changed for you?\n\nSam Patel: [00:01:12] The forms came first.\n\n"
            "Jane Doe: [00:02:25] And then?\n\nSam Patel: [00:02:31] The calls.\n")
    assert turns_of(text) == [
        ("Jane Doe", "interviewer", "What changed for you?", 5.0),
        ("Sam Patel", "participant", "The forms came first.", 72.0),
        ("Jane Doe", "interviewer", "And then?", 145.0),
        ("Sam Patel", "participant", "The calls.", 151.0),
    ]


def test_zoom_saved_transcript_bracketed_name_and_clock_time():
    text = ("[Jane Doe] 10:02:15\nWhat changed for you?\n[Sam Patel] 10:02:22\nThe forms came first.\n"
            "[Jane Doe] 10:02:35\nAnd then?\n[Sam Patel] 10:02:41\nThe calls.\n")
    assert turns_of(text) == [
        ("Jane Doe", "interviewer", "What changed for you?", 36135.0),
        ("Sam Patel", "participant", "The forms came first.", 36142.0),
        ("Jane Doe", "interviewer", "And then?", 36155.0),
        ("Sam Patel", "participant", "The calls.", 36161.0),
    ]


def test_time_lines_date_the_next_turn_and_are_not_speech():
    # Teams' older .docx: a cue timing line, the name, the text; Happy Scribe: time then name
    text = ("0:0:3.120 --> 0:0:7.450\nJane Doe\nWhat changed for you?\n\n"
            "0:0:12.0 --> 0:0:18.0\nSam Patel\nThe forms came first.\n\n"
            "0:0:25.0 --> 0:0:29.0\nJane Doe\nAnd then?\n\n0:0:31.0 --> 0:0:40.0\nSam Patel\nThe calls.\n")
    assert turns_of(text) == [
        ("Jane Doe", "interviewer", "What changed for you?", 3.12),
        ("Sam Patel", "participant", "The forms came first.", 12.0),
        ("Jane Doe", "interviewer", "And then?", 25.0),
        ("Sam Patel", "participant", "The calls.", 31.0),
    ]


def test_a_time_line_inside_a_turn_dates_the_rest_of_it():
    text = ("Interviewer: What changed for you?\nParticipant: The forms came first.\n"
            "00:05:00\nThen the calls.\nInterviewer: And then?\n")
    assert turns_of(text) == [
        ("Interviewer", "interviewer", "What changed for you?", None),
        ("Participant", "participant", "The forms came first.", None),
        ("Participant", "participant", "Then the calls.", 300.0),
        ("Interviewer", "interviewer", "And then?", None),
    ]


def test_time_lines_in_unlabelled_text_are_not_blocks():
    text = "00:00:05\nI opened the page and looked for the form.\n00:00:40\nThen I scrolled down.\n"
    assert [t[2] for t in turns_of(text)] == ["I opened the page and looked for the form.",
                                             "Then I scrolled down."]


def test_f4_time_marks_stay_out_of_utterances(tmp_path):
    # f4/f5 transcripts (German qualitative research, imported into MAXQDA/ATLAS.ti)
    text = ("I: Wie hat das neue System Ihre Arbeit verändert? #00:00:05-2#\n\n"
            "B: Am Anfang war es schwierig. #00:00:19-8# Wir haben den Formularen nicht vertraut. #00:00:41-3#\n\n"
            "I: Und heute? #00:00:45-0#\n\nB: Heute geht es gut. #00:00:50-1#\n")
    got = read(tmp_path, "B03.txt", text)
    assert got == [
        ("I", "interviewer", "Wie hat das neue System Ihre Arbeit verändert?", None),
        ("B", "participant", "Am Anfang war es schwierig. #00:00:19-8# Wir haben den Formularen nicht vertraut.",
         None),
        ("I", "interviewer", "Und heute?", None),
        ("B", "participant", "Heute geht es gut.", None),
    ]
    corpus = themekit.read_transcripts(tmp_path / "B03.txt")
    assert corpus.utterances[1].content == "Am Anfang war es schwierig. Wir haben den Formularen nicht vertraut."


def test_srt_cue_without_a_name_goes_on_with_the_speaker_before(tmp_path):
    # Otter names the speaker on the first cue of a turn only
    srt = ("1\n00:00:03,000 --> 00:00:07,500\nJane Doe: Could you tell me\n\n"
           "2\n00:00:07,500 --> 00:00:10,000\nabout your role at the practice?\n\n"
           "3\n00:00:12,000 --> 00:00:18,000\nSam Patel: I have been a practice nurse for six years.\n\n"
           "4\n00:00:18,000 --> 00:00:21,000\nMostly doing chronic disease reviews.\n")
    assert read(tmp_path, "P09.srt", srt) == [
        ("Jane Doe", "interviewer", "Could you tell me about your role at the practice?", 3.0),
        ("Sam Patel", "participant",
         "I have been a practice nurse for six years. Mostly doing chronic disease reviews.", 12.0),
    ]


def test_vtt_header_lines_after_webvtt(tmp_path):
    vtt = ("WEBVTT\nKind: captions\nLanguage: en\n\n00:00:01.000 --> 00:00:04.000 align:start position:0%\n"
           "<v Interviewer>Is it easy to use?</v>\n\n00:00:04.500 --> 00:00:09.000\n"
           "<v P06>Mostly, once you have logged in twice.</v>\n")
    assert read(tmp_path, "P06.vtt", vtt) == [
        ("Interviewer", "interviewer", "Is it easy to use?", 1.0),
        ("P06", "participant", "Mostly, once you have logged in twice.", 4.5),
    ]


NVIVO_ROWS = [("1", "0:00.0 - 0:07.4", "What changed for you?", "Interviewer"),
              ("2", "0:12.0 - 0:18.0", "The forms came first.", "P03"),
              ("3", "1:02:05.5 - 1:02:09.0", "And then?", "Interviewer")]


def test_nvivo_transcript_table_in_word(tmp_path):
    import docx

    d = docx.Document()
    d.add_paragraph("P03 interview")
    table = d.add_table(rows=1, cols=4)
    for c, h in zip(table.rows[0].cells, ["#", "Timespan", "Content", "Speaker"]):
        c.text = h
    for row in NVIVO_ROWS:
        for c, v in zip(table.add_row().cells, row):
            c.text = v
    d.save(tmp_path / "P03.docx")
    assert read(tmp_path, "P03.docx", (tmp_path / "P03.docx").read_bytes()) == [
        ("Interviewer", "interviewer", "What changed for you?", 0.0),
        ("P03", "participant", "The forms came first.", 12.0),
        ("Interviewer", "interviewer", "And then?", 3725.5),
    ]


def test_nvivo_transcript_csv_timespan(tmp_path):
    rows = "\n".join(",".join(r) for r in [("#", "Timespan", "Content", "Speaker"), *NVIVO_ROWS])
    corpus = themekit.read_transcripts(_write(tmp_path, "P03.csv", "\ufeff" + rows + "\n"))
    assert [(u.speaker, u.role, u.text, u.start_time, u.end_time) for u in corpus] == [
        ("Interviewer", "interviewer", "What changed for you?", 0.0, 7.4),
        ("P03", "participant", "The forms came first.", 12.0, 18.0),
        ("Interviewer", "interviewer", "And then?", 3725.5, 3729.0),
    ]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_tab_separated_time_name_text_lines(tmp_path):
    text = ("00:00:05\tJane Doe\tWhat changed for you?\n00:00:12\tSam Patel\tThe forms came first.\n"
            "00:00:25\tJane Doe\tAnd then?\n00:00:31\tSam Patel\tThe calls.\n")
    assert read(tmp_path, "P10.txt", text) == [
        ("Jane Doe", "interviewer", "What changed for you?", 5.0),
        ("Sam Patel", "participant", "The forms came first.", 12.0),
        ("Jane Doe", "interviewer", "And then?", 25.0),
        ("Sam Patel", "participant", "The calls.", 31.0),
    ]
    assert [t[:3] for t in turns_of("Interviewer\tWhat changed?\nP10\tThe forms.\n")] == [
        ("Interviewer", "interviewer", "What changed?"), ("P10", "participant", "The forms.")]


def test_role_words_with_a_qualifier_and_german_labels_are_certain(tmp_path):
    (tmp_path / "T1.txt").write_text("Interviewer (JD): What changed?\nParticipant (P03): The forms.\n"
                                     "Interviewer (JD): And then?\nParticipant (P03): The calls.\n")
    (tmp_path / "T2.txt").write_text("IV: Was hat sich geändert?\nIE: Die Formulare.\nIV: Und dann?\n"
                                     "IE: Die Anrufe.\n")
    (tmp_path / "T3.txt").write_text("I: Was hat sich geändert?\nBefragte: Die Formulare.\nI: Und dann?\n"
                                     "Befragte: Die Anrufe.\n")
    (tmp_path / "P07.txt").write_text("Dana (JD): What changed?\nSam (P07): The forms.\nDana (JD): And then?\n"
                                      "Sam (P07): The calls.\n")
    corpus = themekit.read_transcripts(tmp_path)
    roles = {(d["transcript_id"], d["label"]): (d["role"], d["confidence"]) for d in corpus.settings["roles"]}
    assert roles == {
        ("T1", "Interviewer (JD)"): ("interviewer", "high"), ("T1", "Participant (P03)"): ("participant", "high"),
        ("T2", "IV"): ("interviewer", "high"), ("T2", "IE"): ("participant", "high"),
        ("T3", "I"): ("interviewer", "high"), ("T3", "Befragte"): ("participant", "high"),
        ("P07", "Sam (P07)"): ("participant", "high"), ("P07", "Dana (JD)"): ("interviewer", "medium"),
    }


def test_vtt_entities_are_unescaped(tmp_path):
    vtt = ("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\n<v Interviewer>Did R&amp;D help?</v>\n\n"
           "2\n00:00:04.500 --> 00:00:09.000\n<v P06>Yes &lt;laughs&gt; a lot.</v>\n")
    assert [u[2] for u in read(tmp_path, "P06.vtt", vtt)] == ["Did R&D help?", "Yes <laughs> a lot."]


def _tracked_docx(path: Path):
    """A Word file corrected with Track Changes on, one turn inside a content control."""
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def run(text, tag="w:t"):
        r, t = OxmlElement("w:r"), OxmlElement(tag)
        t.text = text
        t.set(qn("xml:space"), "preserve")
        r.append(t)
        return r

    d = docx.Document()
    p = d.add_paragraph("Interviewer: What changed ")
    ins = OxmlElement("w:ins")
    ins.set(qn("w:id"), "1")
    ins.set(qn("w:author"), "JD")
    ins.append(run("for you"))
    deleted = OxmlElement("w:del")
    deleted.set(qn("w:id"), "2")
    deleted.set(qn("w:author"), "JD")
    deleted.append(run(" for ya", "w:delText"))
    p._p.append(ins)
    p._p.append(deleted)
    p._p.append(run("?"))
    d.add_paragraph("P11: The forms came first.")
    sdt, content = OxmlElement("w:sdt"), OxmlElement("w:sdtContent")
    inner = d.add_paragraph("Interviewer: And then?")._p
    content.append(inner)
    sdt.append(content)
    d.element.body.insert(len(d.element.body) - 1, sdt)
    d.add_paragraph("P11: The calls.")
    d.save(path)


def test_docx_tracked_insertions_and_content_controls_are_read(tmp_path):
    _tracked_docx(tmp_path / "P11.docx")
    assert read(tmp_path, "P11.docx", (tmp_path / "P11.docx").read_bytes()) == [
        ("Interviewer", "interviewer", "What changed for you?", None),
        ("P11", "participant", "The forms came first.", None),
        ("Interviewer", "interviewer", "And then?", None),
        ("P11", "participant", "The calls.", None),
    ]


def test_a_few_unreadable_times_in_a_table_are_left_empty_and_said_once(tmp_path, caplog):
    rows = ["transcript_id,speaker,timestamp,text", "T1,Interviewer,00:00:13,What changed?",
            "T1,P1,00:09:025,The forms.", "T1,Interviewer,00:00:20,And then?", "T1,P1,00:00:24,The calls."]
    with caplog.at_level("WARNING", logger="themekit"):
        corpus = themekit.read_transcripts(_write(tmp_path, "t.csv", "\n".join(rows) + "\n"))
    assert [u.start_time for u in corpus] == [13.0, None, 20.0, 24.0]
    assert [r.getMessage() for r in caplog.records if "time cell" in r.getMessage()] == [
        f"{tmp_path / 't.csv'}: 1 time cell(s) could not be read (first: line 3, cannot read time "
        "'00:09:025'); those utterances have no time"]


def test_a_column_of_mostly_unreadable_times_is_an_error(tmp_path):
    rows = ["transcript_id,speaker,time,text", "T1,Interviewer,morning,What changed?", "T1,P1,noon,The forms."]
    with pytest.raises(InputError, match="line 2.*cannot read time 'morning'"):
        themekit.read_transcripts(_write(tmp_path, "t.csv", "\n".join(rows) + "\n"))


def test_names_in_any_script_and_in_directory_order():
    # Teams shows directory names as "Doe, Jane"; names start with any letter (Émilie, Łukasz)
    text = ("Doe, Jane   0:03\nWhat changed for you?\n\nÉmilie Dubois (Guest)   0:12\nThe forms came first.\n\n"
            "Doe, Jane   0:25\nAnd then?\n\nÉmilie Dubois (Guest)   1:02:31\nThe calls.\n")
    assert turns_of(text) == [
        ("Doe, Jane", "interviewer", "What changed for you?", 3.0),
        ("Émilie Dubois (Guest)", "participant", "The forms came first.", 12.0),
        ("Doe, Jane", "interviewer", "And then?", 25.0),
        ("Émilie Dubois (Guest)", "participant", "The calls.", 3751.0),
    ]


def test_zoom_vtt_prefix_with_a_name_in_any_script(tmp_path):
    vtt = ("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nDoe, Jane: Is it easy to use?\n\n"
           "2\n00:00:04.500 --> 00:00:09.000\nŁukasz Nowak: Mostly, once you have logged in twice.\n")
    assert [u[:3] for u in read(tmp_path, "P13.vtt", vtt)] == [
        ("Doe, Jane", "interviewer", "Is it easy to use?"),
        ("Łukasz Nowak", "participant", "Mostly, once you have logged in twice."),
    ]


def test_a_comma_inside_speech_is_no_label():
    text = ("Interviewer: What changed?\nParticipant: Well, honestly: the forms.\n"
            "Well, honestly: the calls too.\nInterviewer: And then?\n")
    assert [t[:3] for t in turns_of(text)] == [
        ("Interviewer", "interviewer", "What changed?"),
        ("Participant", "participant", "Well, honestly: the forms.\nWell, honestly: the calls too."),
        ("Interviewer", "interviewer", "And then?"),
    ]


def test_whisperx_bracketed_speaker_ids(tmp_path):
    srt = ("1\n00:00:00,000 --> 00:00:04,000\n[SPEAKER_00]: What changed for you?\n\n"
           "2\n00:00:04,500 --> 00:00:09,000\n[SPEAKER_01]: The forms came first, then the calls.\n")
    assert read(tmp_path, "P14.srt", srt) == [
        ("SPEAKER_00", "interviewer", "What changed for you?", 0.0),
        ("SPEAKER_01", "participant", "The forms came first, then the calls.", 4.5),
    ]
    text = ("[SPEAKER_00]: What changed for you?\n[SPEAKER_01]: The forms came first.\n"
            "[SPEAKER_00]: And then?\n[SPEAKER_01]: The calls.\n")
    assert [t[:3] for t in turns_of(text)] == [
        ("SPEAKER_00", "interviewer", "What changed for you?"), ("SPEAKER_01", "participant", "The forms came first."),
        ("SPEAKER_00", "interviewer", "And then?"), ("SPEAKER_01", "participant", "The calls.")]


def test_a_vtt_cue_with_two_voices(tmp_path):
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Interviewer>Is it easy to use?\n<v P15>Mostly.\n\n"
           "00:00:04.500 --> 00:00:09.000\n<v P15>Once you have logged in twice, it is.</v>\n")
    assert read(tmp_path, "P15.vtt", vtt) == [
        ("Interviewer", "interviewer", "Is it easy to use?", 1.0),
        ("P15", "participant", "Mostly. Once you have logged in twice, it is.", 1.0),
    ]


def test_word_table_with_a_speaker_transcript_header_row(tmp_path):
    import docx

    d = docx.Document()
    table = d.add_table(rows=1, cols=3)
    for c, h in zip(table.rows[0].cells, ["Timecode", "Speaker", "Transcript"]):
        c.text = h
    for row in [("00:00:03", "Interviewer", "What changed for you?"), ("00:00:09", "P16", "The forms came first.")]:
        for c, v in zip(table.add_row().cells, row):
            c.text = v
    d.save(tmp_path / "P16.docx")
    assert read(tmp_path, "P16.docx", (tmp_path / "P16.docx").read_bytes()) == [
        ("Interviewer", "interviewer", "What changed for you?", 3.0),
        ("P16", "participant", "The forms came first.", 9.0),
    ]


def test_one_speaker_however_the_label_is_typed():
    text = ("INTERVIEWER: What changed for you?\nP7: The forms came first.\nInterviewer: And then?\n"
            "P07: The calls.\nInterviwer: Anything else?\nP07: No.\nInterviewer: Thanks.\n")
    assert [t[:3] for t in turns_of(text)] == [
        ("Interviewer", "interviewer", "What changed for you?"), ("P07", "participant", "The forms came first."),
        ("Interviewer", "interviewer", "And then?"), ("P07", "participant", "The calls."),
        ("Interviewer", "interviewer", "Anything else?"), ("P07", "participant", "No."),
        ("Interviewer", "interviewer", "Thanks."),
    ]


def test_numbered_and_short_labels_are_never_merged_as_typos():
    text = ("Speaker 1: What changed?\nSpeaker 2: The forms.\nSpeaker 1: And then?\nSpeaker 3: The calls.\n"
            "Maria: Yes.\nMario: No.\nMaria: Maybe.\nMario: Never.\nMaria: Fine.\nMario: Good.\n")
    assert [t[0] for t in turns_of(text)] == ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 3",
                                             "Maria", "Mario", "Maria", "Mario", "Maria", "Mario"]


def test_names_in_other_scripts_stay_apart(tmp_path):
    # the full-width colon of Chinese and Japanese text
    text = "李明：你觉得新系统怎么样？\n王芳：一开始很难。\n李明: 后来呢？\n王芳: 后来习惯了。\n"
    got = read(tmp_path, "C1.txt", text)
    assert [(s, r) for s, r, _, _ in got] == [("李明", "interviewer"), ("王芳", "participant"),
                                             ("李明", "interviewer"), ("王芳", "participant")]


@pytest.mark.parametrize("text", [
    "[00:00:05] - Speaker 1\nWhat changed?\n\n[00:00:12] - Speaker 2\nThe forms.\n",
    "Speaker 1: [00:00:05]\nWhat changed?\n\nSpeaker 2: [00:00:12]\nThe forms.\n",
    "### Speaker 1 (00:05)\nWhat changed?\n\n### Speaker 2 (00:12)\nThe forms.\n",
    "- Speaker 1 [00:00:05]: What changed?\n- Speaker 2 [00:00:12]: The forms.\n",
])
def test_more_label_shapes_of_export_tools_and_notes(text):
    assert turns_of(text) == [("Speaker 1", "interviewer", "What changed?", 5.0),
                              ("Speaker 2", "participant", "The forms.", 12.0)]


def test_a_dash_after_a_role_word_but_not_after_a_word_of_speech():
    text = ("Interviewer - What changed for you?\nParticipant – The forms came first.\n"
            "I - I mean, the calls too.\nInterviewer - And then?\n")
    assert [t[:3] for t in turns_of(text)] == [
        ("Interviewer", "interviewer", "What changed for you?"),
        ("Participant", "participant", "The forms came first.\nI - I mean, the calls too."),
        ("Interviewer", "interviewer", "And then?"),
    ]


def test_speech_about_transcription_stays_speech():
    text = "I: What did you do then?\nR: Then we stopped transcription.\nI: And then?\nR: Nothing.\n"
    assert [t[2] for t in turns_of(text)] == ["What did you do then?", "Then we stopped transcription.",
                                             "And then?", "Nothing."]


def test_markdown_transcripts_in_a_transcripts_folder_are_read(tmp_path, caplog):
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "P17.md").write_text("**Interviewer:** What changed?\n\n**P17:** The forms.\n")
    assert [(u.speaker, u.text) for u in themekit.read_transcripts(tmp_path)] == [
        ("Interviewer", "What changed?"), ("P17", "The forms.")]
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "P18.txt").write_text("Interviewer: What changed?\nP18: The forms.\n")
    (flat / "notes.md").write_text("# Notes\nP18 was tired.\n")
    with caplog.at_level("WARNING", logger="themekit"):
        corpus = themekit.read_transcripts(flat)
    assert list(corpus.transcripts) == ["P18"]
    assert any("1 Markdown file(s) not read as transcripts (notes.md)" in r.getMessage() for r in caplog.records)


def test_vtt_without_the_blank_line_after_its_header(tmp_path):
    vtt = "WEBVTT\n00:00:01.000 --> 00:00:04.000\nInterviewer: Is it easy?\n\n00:00:05.000 --> 00:00:07.000\nP19: Mostly.\n"
    assert [u[:3] for u in read(tmp_path, "P19.vtt", vtt)] == [("Interviewer", "interviewer", "Is it easy?"),
                                                              ("P19", "participant", "Mostly.")]


def test_whisper_tsv_times_in_milliseconds(tmp_path, caplog):
    tsv = ("start\tend\ttext\n0\t4200\tWhat changed for you?\n4600\t9100\tThe forms came first, then the calls.\n"
           "9500\t11000\tAnd then?\n")
    with caplog.at_level("WARNING", logger="themekit"):
        corpus = themekit.read_transcripts(_write(tmp_path, "P20.tsv", tsv))
    assert [(u.text, u.start_time, u.end_time) for u in corpus] == [
        ("What changed for you?", 0.0, 4.2), ("The forms came first, then the calls.", 4.6, 9.1),
        ("And then?", 9.5, 11.0)]
    assert any("read as milliseconds" in r.getMessage() for r in caplog.records)
    # a column named in milliseconds
    csv_text = "speaker,start_ms,text\nInterviewer,5,What changed?\nP20,12,The forms.\n"
    assert [u.start_time for u in themekit.read_transcripts(_write(tmp_path, "P24.csv", csv_text))] == [0.005, 0.012]
    # whole seconds a few apart stay seconds
    csv_text = "speaker,start,text\nInterviewer,5,What changed?\nP20,12,The forms.\nInterviewer,25,And then?\n"
    assert [u.start_time for u in themekit.read_transcripts(_write(tmp_path, "P21.csv", csv_text))] == [5.0, 12.0, 25.0]


def test_whisperx_and_assemblyai_json(tmp_path):
    import json

    whisperx = {"segments": [
        {"start": 0.0, "end": 4.2, "text": " What changed for you?", "speaker": "SPEAKER_00", "words": []},
        {"start": 4.6, "end": 9.1, "text": " The forms came first, then the calls.", "speaker": "SPEAKER_01"}],
        "word_segments": []}
    corpus = themekit.read_transcripts(_write(tmp_path, "P22.json", json.dumps(whisperx)))
    assert [(u.speaker, u.role, u.text, u.start_time, u.end_time) for u in corpus] == [
        ("SPEAKER_00", "interviewer", "What changed for you?", 0.0, 4.2),
        ("SPEAKER_01", "participant", "The forms came first, then the calls.", 4.6, 9.1)]
    assembly = {"text": "...", "utterances": [
        {"speaker": "A", "start": 250, "end": 4200, "text": "What changed for you?", "confidence": 0.9},
        {"speaker": "B", "start": 4600, "end": 9100, "text": "The forms came first, then the calls."},
        {"speaker": "A", "start": 9500, "end": 11000, "text": "And then?"}]}
    corpus = themekit.read_transcripts(_write(tmp_path, "P23.json", json.dumps(assembly)))
    assert [(u.speaker, u.text, u.start_time) for u in corpus] == [
        ("A", "What changed for you?", 0.25), ("B", "The forms came first, then the calls.", 4.6),
        ("A", "And then?", 9.5)]
    with pytest.raises(InputError, match="'segments' or 'utterances'"):
        themekit.read_transcripts(_write(tmp_path, "x.json", json.dumps({"results": {}})))


def test_a_transcript_column_of_sentences_is_the_text(tmp_path):
    rows = "Speaker,Start Time,Transcript\nInterviewer,00:00:03,What changed for you?\nP25,00:00:09,The forms came first.\n"
    corpus = themekit.read_transcripts(_write(tmp_path, "P25.csv", rows))
    assert [(u.transcript_id, u.speaker, u.text, u.start_time) for u in corpus] == [
        ("P25", "Interviewer", "What changed for you?", 3.0), ("P25", "P25", "The forms came first.", 9.0)]
    ids = "transcript,speaker,text\nT1,Interviewer,What changed?\nT2,P2,The forms.\n"
    assert sorted(themekit.read_transcripts(_write(tmp_path, "t.csv", ids)).transcripts) == ["T1", "T2"]


def test_word_transcript_with_the_questions_in_bold_and_no_labels(tmp_path):
    import docx

    d = docx.Document()
    for text, bold in [("What changed for you when the forms came in?", True),
                       ("The forms came first, and the calls changed after that.", False),
                       ("(The participant shows the form)", True),
                       ("And how did patients take it?", True),
                       ("Some rang us instead. Most got used to it.", False),
                       ("It took a few months.", False)]:
        d.add_paragraph().add_run(text).bold = bold
    d.save(tmp_path / "P26.docx")
    assert read(tmp_path, "P26.docx", (tmp_path / "P26.docx").read_bytes()) == [
        (None, "interviewer", "What changed for you when the forms came in?", None),
        (None, "participant", "The forms came first, and the calls changed after that.", None),
        (None, "other", "(The participant shows the form)", None),
        (None, "interviewer", "And how did patients take it?", None),
        (None, "participant", "Some rang us instead. Most got used to it.", None),
        (None, "participant", "It took a few months.", None),
    ]


def test_bold_statements_are_not_taken_for_questions(tmp_path):
    import docx

    d = docx.Document()
    for text, bold in [("Interview notes", True), ("The forms came first.", False),
                       ("Key point: patients rang instead.", True), ("It took a few months.", False)]:
        d.add_paragraph().add_run(text).bold = bold
    d.save(tmp_path / "P27.docx")
    assert {r for _, r, _, _ in read(tmp_path, "P27.docx", (tmp_path / "P27.docx").read_bytes())} == {"participant"}


def test_listed_speakers_are_speakers_even_when_they_speak_once():
    text = ("Focus group 2\nParticipants: Jane Doe (Moderator), Sam, Ali and Bea\n\n"
            "Jane Doe: Welcome everyone.\nSam: Thanks.\nAli: Hi.\nJane Doe: Let's start.\n")
    assert [t[0] for t in turns_of(text)] == ["Jane Doe", "Sam", "Ali", "Jane Doe"]
    otter = ("SPEAKERS\nJane Doe, Sam Patel, Ali\n\nJane Doe  0:03\nWelcome.\n\nSam Patel  0:05\nThanks.\n\n"
             "Ali  0:07\nHi there.\n\nJane Doe  0:09\nLet's start.\n")
    assert [(t[0], t[2], t[3]) for t in turns_of(otter)] == [
        ("Jane Doe", "Welcome.", 3.0), ("Sam Patel", "Thanks.", 5.0), ("Ali", "Hi there.", 7.0),
        ("Jane Doe", "Let's start.", 9.0)]


def test_a_header_label_said_only_there_is_not_speech():
    text = "Date: 12/03/2024\nInterviewer: JD\nI: Thanks for taking part. What is your role?\nP: A nurse.\nI: OK.\n"
    assert [t[:3] for t in turns_of(text)] == [
        ("I", "interviewer", "Thanks for taking part. What is your role?"), ("P", "participant", "A nurse."),
        ("I", "interviewer", "OK.")]


def test_speech_that_starts_like_a_header_key_is_speech():
    # an unlabelled transcript whose first words are "Time: ..." / "Date: ..." loses no speech;
    # a real header (values, not sentences) is still left out
    text = "Time: I never have enough of it.\nThe ward is always full.\n\nDate: next Tuesday would suit me.\n"
    assert [t[2] for t in turns_of(text)] == ["Time: I never have enough of it.", "The ward is always full.",
                                             "Date: next Tuesday would suit me."]
    text = "Date: 12/03/2024\nDuration: 45 min.\n\nThe ward is always full.\nWe never stop.\n"
    assert [t[2] for t in turns_of(text)] == ["The ward is always full.", "We never stop."]


def test_a_name_said_once_is_not_merged_into_a_similar_name_of_another_person():
    # Mario is listed as a speaker: his one turn is his, not Maria's
    text = ("Participants: Maria, Mario, Ana\n\nModerator: Hello all.\nMaria: Hi.\nAna: Hello.\n"
            "Moderator: Thoughts?\nMaria: Good.\nMario: I disagree with all of you.\nMaria: Fine.\n")
    assert [t[0] for t in turns_of(text)] == ["Moderator", "Maria", "Ana", "Moderator", "Maria", "Mario",
                                             "Maria"]
    # names that differ only in their last letter are different names (Maria/Mario, Daniel/Daniela);
    # not listed and said once, Daniela's line is not a label: it stays in the text, not given to Daniel
    text = ("Moderator: Hello all.\nDaniel: Hi.\nAna: Hello.\nModerator: Thoughts?\nDaniel: Good.\n"
            "Ana: Bad.\nDaniel: Fine.\nDaniela: I disagree.\nModerator: Why?\n")
    assert [t[:3] for t in turns_of(text)][-3:] == [
        ("Ana", "participant", "Bad."), ("Daniel", "participant", "Fine.\nDaniela: I disagree."),
        ("Moderator", "interviewer", "Why?")]


def test_whole_seconds_minutes_apart_stay_seconds(tmp_path, caplog):
    # long answers, one a row: steps of a few minutes in seconds are not steps of a tenth of a
    # second in milliseconds
    csv_text = ("speaker,start,text\nInterviewer,0,What changed?\nP28,130,The forms came first.\n"
                "Interviewer,410,And then?\nP28,545,The calls.\n")
    with caplog.at_level("WARNING", logger="themekit"):
        corpus = themekit.read_transcripts(_write(tmp_path, "P28.csv", csv_text))
    assert [u.start_time for u in corpus] == [0.0, 130.0, 410.0, 545.0]
    assert not any("milliseconds" in r.getMessage() for r in caplog.records)


def test_quotes_highlighted_in_bold_are_not_taken_for_the_questions(tmp_path):
    import docx

    # the researcher set striking answers in bold; the questions are plain
    d = docx.Document()
    for text, bold in [("What changed for you when the forms came in?", False), ("The forms came first.", False),
                       ("Why do we even do this? That is what I kept asking.", True),
                       ("And how did patients take it?", False), ("Some rang us instead.", False),
                       ("Who would want that?", True), ("Did it get better?", False), ("Not really.", False)]:
        d.add_paragraph().add_run(text).bold = bold
    d.save(tmp_path / "P29.docx")
    got = read(tmp_path, "P29.docx", (tmp_path / "P29.docx").read_bytes())
    assert [r for _, r, t, _ in got if t in ("Why do we even do this? That is what I kept asking.",
                                             "Who would want that?")] == ["participant", "participant"]


def test_a_list_in_speech_is_not_a_list_of_speakers():
    # "Present: me, my mum and Sam." is an answer; "Me" alone on a line stays speech
    text = ("INTERVIEWER\nWho was there?\nPARTICIPANT\nPresent: me, my mum and Sam.\nINTERVIEWER\n"
            "Who did it?\nPARTICIPANT\nIt was\nMe\nreally.\n")
    assert [t[:3] for t in turns_of(text)][-1] == ("PARTICIPANT", "participant", "It was\nMe\nreally.")


def test_speech_that_reads_like_an_end_mark_stays_speech():
    text = ("I: Who wrote the notes?\nP: We did it all by hand.\nTranscribed by the nurses themselves, every form.\n"
            "That took hours.\nI: Wow.\n")
    assert [t[2] for t in turns_of(text)] == [
        "Who wrote the notes?",
        "We did it all by hand.\nTranscribed by the nurses themselves, every form.\nThat took hours.", "Wow."]
    # a hard-wrapped line that goes on with a sentence
    text = "I: When do you fill in the forms?\nP: Usually right at the\nend of the session.\nThen I file them.\nI: I see.\n"
    assert [t[2] for t in turns_of(text)] == ["When do you fill in the forms?",
                                             "Usually right at the\nend of the session.\nThen I file them.", "I see."]
    # the marks and credits themselves still end the transcript
    text = "I: What changed?\nR: The forms.\nEnd of the session\nTranscribed by Rev.com\nP3 was tired.\n"
    assert [t[2] for t in turns_of(text)] == ["What changed?", "The forms."]


def test_a_one_letter_line_in_wrapped_speech_is_not_a_label():
    text = "Interviewer: What did you do?\nParticipant: Well, after that\nI\nwent home and slept.\nInterviewer: OK.\n"
    assert [t[:3] for t in turns_of(text)] == [
        ("Interviewer", "interviewer", "What did you do?"),
        ("Participant", "participant", "Well, after that\nI\nwent home and slept."),
        ("Interviewer", "interviewer", "OK.")]
    # one-letter labels on their own line, said more than once, are labels
    text = "I\nWhat did you do?\nP\nI went home.\nI\nAnd then?\nP\nI slept.\n"
    assert [t[0] for t in turns_of(text)] == ["I", "P", "I", "P"]


def test_transcriber_notes_labelled_like_speakers_are_not_speech(tmp_path):
    text = "I: Hello.\nP: Hi.\nNote: P laughs.\nI: Why?\nP: Because.\nTranscriber's note: long pause.\nI: OK.\n"
    assert [t[:3] for t in turns_of(text)] == [
        ("I", "interviewer", "Hello."), ("P", "participant", "Hi."), ("Note", "other", "P laughs."),
        ("I", "interviewer", "Why?"), ("P", "participant", "Because."),
        ("Transcriber's note", "other", "long pause."), ("I", "interviewer", "OK.")]
    assert [(u.speaker, u.role) for u in themekit.read_transcripts(_write(tmp_path, "P31.txt", text))
            if u.speaker in ("Note", "Transcriber's note")] == [("Note", "other"), ("Transcriber's note", "other")]


def test_a_word_and_a_colon_in_unnamed_captions_is_not_a_speaker(tmp_path):
    # captions without speaker names: "Basically: ..." once is speech, and does not name every
    # cue after it
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nSo what changed for you?\n\n"
           "00:00:04.000 --> 00:00:08.000\nBasically: it was the forms.\n\n"
           "00:00:09.000 --> 00:00:10.000\nAnd then?\n")
    assert [(s, t) for s, _, t, _ in read(tmp_path, "P32.vtt", vtt)] == [
        (None, "So what changed for you? Basically: it was the forms. And then?")]


def test_a_transcript_column_of_long_ids_is_not_taken_for_the_text(tmp_path):
    # ids of several words repeat row after row; sentences do not: the text column must be named
    rows = ("Transcript,Speaker,Dialogue\nFocus group north site,Moderator,What changed?\n"
            "Focus group north site,Ann,The forms.\nFocus group north site,Moderator,And then?\n")
    with pytest.raises(InputError, match="--column text=NAME"):
        themekit.read_transcripts(_write(tmp_path, "groups.csv", rows))
