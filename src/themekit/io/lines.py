"""Kinds of line in a transcript that are not speech, shared by the readers: a time alone
(``00:01:23``, ``0:0:3.120 --> 0:0:7.450``), an end mark (``END OF TRANSCRIPT``, ``Transcribed by
https://otter.ai``, Teams' ``Jane Doe started transcription``), a header key (``Date: ...``,
``Duration: ...``), a stage direction on its own (``(laughs)``); timestamps and their seconds."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__: list[str] = []   # package-internal helpers of the readers

_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
# Spaces in labels: word processors put non-breaking and other Unicode spaces after "Name:".
_SP = r"[^\S\n]"
# Markdown emphasis around a label: **Interviewer:**, **Interviewer**:, __P04__:
_EM = r"(?:\*{1,2}|_{1,2})?"


def _parse_ts(ts: str | None) -> float | None:
    if not ts:
        return None
    parts = ts.replace(",", ".").split(":")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return seconds


# A line that is only a time or a time range ("0:0:3.120 --> 0:0:7.450" in Teams' older .docx,
# "00:00:05" above a name): it dates the next turn and is not speech.
_LOOSE_TS = r"\d{1,2}:\d{1,2}(?::\d{1,2})?(?:[.,]\d{1,3})?"
_TIME_LINE = re.compile(
    rf"^{_SP}*[\[(#]?(?P<a>{_LOOSE_TS})(?:-\d)?[\])#]?"
    rf"(?:{_SP}*(?:-->|[-–—]|to){_SP}*[\[(]?{_LOOSE_TS}[\])]?)?{_SP}*$")
# Lines that close a transcript or come from the tool, not from a speaker.
_END_MARK = re.compile(
    r"^\W*(?:end of (?:the )?(?:transcript(?:ion)?|interview|recording|audio|tape|session|file|document)"
    r"|(?:transcript|interview|recording|audio) (?:ends|ended|stopped|finished)"
    # a credit names a tool, a service or a person ("Transcribed by https://otter.ai", "... by
    # Rev.com"), not "the nurses themselves"
    r"|transcri(?:bed|ption) by\W+(?=(?-i:[A-Z\d])|\S+\.\w).{0,60})\W*$"
    # Teams: "Jane Doe started transcription" (no full stop: "we stopped transcription." is speech)
    r"|^[^\W\d_][^:.!?\n]{0,60}\b(?:started|stopped) transcription\s*$", re.IGNORECASE)
# Keys of a header block ("Date: 12/03/2024", "Duration: 45 min") before the first turn.
_META_LINE = re.compile(rf"^{_SP}*{_EM}(?P<key>[A-Za-z][A-Za-z ./'’-]{{0,30}}?){_SP}*{_EM}:{_EM}(?:{_SP}|$)")
_META_KEYS = {
    "date", "time", "duration", "length", "location", "place", "venue", "site", "setting", "title",
    "project", "study", "file", "filename", "file name", "audio", "audio file", "recording",
    "recording date", "recorded", "recorded on", "transcriber", "transcribed by", "transcription",
    "transcript", "transcript id", "participants", "attendees", "speakers", "present", "mode",
    "language", "wave", "pseudonym", "gender", "age", "occupation", "job title", "organisation",
    "organization", "start time", "end time", "meeting title", "subject", "topic", "datum",
    "dauer", "ort", "interview", "interviewdatum", "transkription",
}


def _end_mark(line: str) -> bool:
    """Whether a line closes the transcript or comes from the tool (:data:`_END_MARK`); one that
    starts in lower case goes on with a sentence ("... right at the / end of the session.")."""
    return bool(_END_MARK.match(line)) and not line.lstrip()[:1].islower()


def _meta_key(line: str) -> bool:
    """Whether a line is a header field: a header key and a value. A value that reads as a
    sentence ("Time: I never have enough of it.") is speech that starts with the same word."""
    m = _META_LINE.match(line)
    if not m:
        return False
    key = " ".join(m["key"].lower().split()).strip(" .")
    if not (key in _META_KEYS or key.startswith(("interview ", "date of ", "name of "))):
        return False
    value = line[m.end():].strip().rstrip("*_").strip()
    return not (len(value.split()) >= 3 and value.endswith((".", "!", "?", "…")))


@dataclass
class _Line:
    number: int  # 1-based
    start: int
    end: int  # without the newline


def _lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for i, raw in enumerate(text.split("\n"), start=1):
        out.append(_Line(i, pos, pos + len(raw)))
        pos += len(raw) + 1
    return out


_FULL_LINE_DIRECTION = re.compile(r"^\s*(?:\([^()]*\)|\[[^\[\]]*\])\s*$")
