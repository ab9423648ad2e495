"""Files → Transcripts with speaker turns.

Each reader returns a :class:`Transcript` (one string) and its :class:`Turn` spans (offsets
into that string). Segmentation into utterances happens in :mod:`themekit.io.segment`.

Formats: plain text (speaker labels in the usual shapes, or none), WebVTT/SRT (Teams, Zoom,
Otter), Word ``.docx`` and CSV/JSONL tables of utterances.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..types import InputError, Transcript, strip_directions
from .roles import INTERVIEWER_LABELS, PARTICIPANT_LABELS, _norm, decide_roles

__all__ = [
    "Turn", "ReaderOptions", "decode_bytes", "read_text_file", "parse_labelled_text",
    "read_subtitles", "read_docx", "read_table", "read_file", "TEXT_EXTENSIONS",
    "SUBTITLE_EXTENSIONS", "TABLE_EXTENSIONS", "SUPPORTED_EXTENSIONS", "guess_role", "parse_turns",
    "role_settings",
]

log = logging.getLogger("themekit")

TEXT_EXTENSIONS = (".txt", ".text", ".md")
SUBTITLE_EXTENSIONS = (".vtt", ".srt")
TABLE_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS + SUBTITLE_EXTENSIONS + (".docx",) + TABLE_EXTENSIONS


@dataclass(frozen=True)
class Turn:
    """One speaker's uninterrupted contribution: ``text[start:end]`` without the label.

    ``times`` maps offsets to timestamps: ``(offset, start_time, end_time)`` for each cue or
    timestamp inside the turn, so utterances cut from it can keep their times.
    """

    speaker: str | None
    start: int
    end: int
    role: str | None = None
    times: tuple[tuple[int, float | None, float | None], ...] = ()


@dataclass(frozen=True)
class ReaderOptions:
    """Settings for reading transcripts.

    interviewer_labels: regex matching speaker labels of the research team (case-insensitive).
    participant_labels: regex matching speaker labels of participants (case-insensitive).
    interviewer: explicit interviewer label(s), in every transcript where they speak.
    roles: explicit roles, ``(label, role, transcript_id or None)`` (what ``--roles FILE`` gives);
        they come first. How the other labels are decided: :mod:`themekit.io.roles`.
    prompt_pattern: in transcripts without speaker labels, lines matching this regex are the
        interviewer's prompts (e.g. numbered questions ``3.a Please explain ...``).
    table_columns: for CSV/JSONL, mapping of ``transcript``, ``speaker``, ``text``, ``start_time``,
        ``end_time``, ``role`` to the file's column names (guessed when not given).
    """

    interviewer_labels: str = INTERVIEWER_LABELS
    participant_labels: str = PARTICIPANT_LABELS
    interviewer: tuple[str, ...] = ()
    roles: tuple[tuple[str, str, str | None], ...] = ()
    prompt_pattern: str = r"^\s*\d+(?:\.\w+)*[.)]?\s+\S"
    table_columns: Mapping[str, str] = field(default_factory=dict)


# -- encodings ---------------------------------------------------------------------------------

def decode_bytes(data: bytes, path: str | Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252; newlines normalised to ``\\n``."""
    if not data.strip():
        raise InputError(path, "the file is empty; remove it or add the transcript text")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        if b"\x00" in data[:4096]:
            raise InputError(path, "this looks like a binary file, not a text transcript; "
                             "export it as .txt, .docx, .vtt or .srt")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                line = data[: e.start].count(b"\n") + 1
                raise InputError(path, "the text is neither UTF-8 nor Windows-1252 (cp1252); "
                                 "re-save it as UTF-8", line=line) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError(path, "the file is empty; remove it or add the transcript text")
    return text


# -- speaker labels --------------------------------------------------------------------------

_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
# Spaces in labels: word processors put non-breaking and other Unicode spaces after "Name:".
_SP = r"[^\S\n]"
# Markdown emphasis around a label: **Interviewer:**, **Interviewer**:, __P04__:
_EM = r"(?:\*{1,2}|_{1,2})?"
# A qualifier after the name: "Interviewer (JD):", "Participant (P03, nurse):"
_QUAL = r"(?:[^\S\n]*\((?![\d:.,]+\))[^()\n]{1,30}\))?"
# a name starts with a letter of any script (Émilie, Łukasz); "Doe, Jane" is how Teams shows
# directory names
_NAME = rf"[^\W\d_][\w.,'’\- \u00a0]{{0,38}}?{_QUAL}"
# a list bullet before a label (notes apps, Markdown): "- Interviewer: ..."
_BUL = rf"(?:[-*•]{_SP}+)?"
# [00:01:23] Name:   |   Name (00:01:23):   |   Name [00:01:23]:   |   Name 00:01:23:  |  Name:
# | Name: [00:01:23] text (Sonix) | **Name:** text | 00:01:23<TAB>Name<TAB>text (tab-separated)
# | [SPEAKER_00]: text (WhisperX) | 李明：text
_INLINE_LABEL = re.compile(
    rf"^{_SP}*{_BUL}{_EM}(?:[\[(]?(?P<ts1>{_TS})[\])]?{_SP}*[-–]?{_SP}*)?{_EM}"
    rf"(?:\[(?P<ilabel>{_NAME})\]|(?P<label>{_NAME}))"
    rf"{_SP}*(?:[\[(](?P<ts2>{_TS})[\])]|(?P<ts3>{_TS}))?(?:{_SP}*{_EM}:{_EM}{_SP}+|{_SP}*{_EM}：{_EM}{_SP}*|\t+)"
    rf"(?![\[(]?{_TS}[\])]?{_SP}*$)"  # "Name: [00:00:05]" alone: a label on its own line
    rf"(?:[\[(](?P<ts4>{_TS})[\])]{_SP}+)?(?=\S)"
)
# "Interviewer - text", "INT – text": a dash after a label, for role words and ids of two
# letters or more only (a dash after a word is common in speech: "I - I mean")
_DASH_LABEL = re.compile(rf"^{_SP}*{_BUL}{_EM}(?P<label>{_NAME}){_EM}{_SP}+[-–—]{_SP}+(?=\S)")
# a label alone on its line:  INTERVIEWER  |  P04:  |  Speaker 1  00:01:23  |  Name (00:01)
# | [Name] 10:02:15 (Zoom's saved transcript) | **Interviewer** | ### P03 | [00:00:05] - Speaker 1
# | Name: [00:00:05]
_OWN_LINE_LABEL = re.compile(
    rf"^{_SP}*(?:#{{1,6}}{_SP}+)?{_BUL}{_EM}(?:[\[(]?(?P<ts1>{_TS})[\])]?{_SP}*(?:[-–]{_SP}*)?)?{_EM}(?P<label>{_NAME})"
    rf"{_SP}*(?:[\[(]?(?P<ts2>{_TS})[\])]?)?{_SP}*{_EM}:?{_EM}{_SP}*(?:[\[(]?(?P<ts4>{_TS})[\])]?{_SP}*)?$"
    rf"|^{_SP}*\[(?P<blabel>{_NAME})\]{_SP}+(?P<bts>{_TS}){_SP}*$"
)
# labels trusted even when they occur once: role words, ids, and the placeholders that
# transcription tools write for voices they could not name ("Speaker 3", "Unknown Speaker")
_KNOWN_LABEL = re.compile(
    r"^(?:interviewer|interviewee|respondent|participant|moderator|facilitator|researcher|"
    r"speaker|int|i|r|q|a|p|pt|resp)[ _-]?\d{0,3}$|^[A-Z]{1,3}\d{1,3}$"
    r"|^(?:unknown|unidentified)(?:[ _-]?speaker)?(?:[ _-]?\d{1,3})?$",
    re.IGNORECASE,
)
# lower-case words inside names: "Ana de Souza", "Ludwig van Beethoven"
_NAME_PARTICLES = {"de", "van", "von", "der", "den", "da", "del", "della", "di", "du", "la", "le", "bin",
                   "bint", "al", "el", "ter", "ten", "y"}


def _parse_ts(ts: str | None) -> float | None:
    if not ts:
        return None
    parts = ts.replace(",", ".").split(":")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return seconds


def _head(label: str) -> str:
    """A label without its qualifier: ``Interviewer (JD)`` -> ``Interviewer``."""
    return re.sub(r"\s*\([^()]*\)$", "", label).strip() or label.strip()


def _plausible_label(label: str) -> bool:
    label = _head(label)
    words = label.split()
    if not words or len(words) > 4 or label.endswith(",") or label.count(",") > 1:
        return False
    # Sentences that happen to contain a colon ("So the thing is: ...") are not labels; names
    # are: each word has a capital ("Sam’s iPhone", "McDonald") or a digit, or is a particle.
    if len(words) > 1 and not all(any(ch.isupper() or ch.isdigit() for ch in w) or w in _NAME_PARTICLES
                                  for w in words):
        return False
    return True


def _label_of(m: re.Match) -> str:
    """The speaker label a match found, its spaces normalised (a no-break space is a space)."""
    g = m.groupdict()
    return " ".join((g.get("label") or g.get("blabel") or g.get("ilabel") or "").split())


def _time_of(m: re.Match) -> float | None:
    g = m.groupdict()
    return _parse_ts(next((g[k] for k in ("ts1", "ts2", "ts3", "ts4", "bts") if g.get(k)), None))


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
    r"|transcribed by\W.{0,60}|transcription by\W.{0,60})\W*$"
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


def _meta_key(line: str) -> bool:
    m = _META_LINE.match(line)
    if not m:
        return False
    key = " ".join(m["key"].lower().split()).strip(" .")
    return key in _META_KEYS or key.startswith(("interview ", "date of ", "name of "))


def guess_role(label: str | None, options: ReaderOptions) -> str | None:
    """The role a label's words alone say (``Interviewer``...), else None. Kept for callers of
    the old API; readers leave roles to :func:`themekit.io.roles.decide_roles`."""
    if label is None:
        return None
    if options.interviewer:
        return "interviewer" if label in options.interviewer else "participant"
    if re.fullmatch(options.interviewer_labels, label.strip(), re.IGNORECASE):
        return "interviewer"
    return None


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


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_FULL_LINE_DIRECTION = re.compile(r"^\s*(?:\([^()]*\)|\[[^\[\]]*\])\s*$")


def resolve_alone(transcript: Transcript, turns: list[Turn], options: ReaderOptions) -> list[Turn]:
    """Roles of one transcript decided on its own (no study around it)."""
    [(_, turns)], _ = decide_roles([(transcript, turns)], None, **role_settings(options))
    return turns


def role_settings(options: ReaderOptions) -> dict:
    """The keyword arguments of :func:`~themekit.io.roles.decide_roles` that ``options`` sets."""
    return {"interviewer_labels": options.interviewer_labels,
            "participant_labels": options.participant_labels,
            "interviewer": tuple(options.interviewer), "overrides": tuple(options.roles)}


def parse_labelled_text(text: str, options: ReaderOptions = ReaderOptions(),
                        path: str | Path | None = None) -> list[Turn]:
    """Speaker turns of a plain-text transcript (labels inline or on their own line, or none),
    with roles decided for this transcript alone (see :mod:`themekit.io.roles`).

    A label is trusted when it has a known shape (``Interviewer``, ``I``, ``P01``,
    ``Speaker 2``, ``Unknown Speaker``) or recurs at least twice. With labels, unlabelled lines
    continue the current turn; without any, each line (or paragraph) is a block of its own, and
    lines matching ``options.prompt_pattern`` are interviewer prompts.
    """
    turns = _parse_labelled(text, options, path)
    return resolve_alone(Transcript(str(path or "transcript"), text, str(path or ""), "txt"), turns, options)


def parse_turns(text: str, options: ReaderOptions = ReaderOptions(), path: str | Path | None = None
                ) -> list[Turn]:
    """Speaker turns of a plain-text transcript with roles only where the text itself says
    (prompt lines, observations): for :func:`~themekit.io.roles.decide_roles` over a study."""
    return _parse_labelled(text, options, path)


def _parse_labelled(text: str, options: ReaderOptions, path: str | Path | None = None,
                    asked: set[int] = frozenset()) -> list[Turn]:
    """Speaker turns, roles only where the text itself says (prompts, observations).

    ``asked``: line numbers (0-based) that are the interviewer's in a transcript without labels
    (a Word layout: questions in bold)."""
    lines = _lines(text)
    inline: dict[int, re.Match] = {}
    own: dict[int, re.Match] = {}
    times: dict[int, float | None] = {}   # lines that are only a time
    ends: set[int] = set()                # "END OF TRANSCRIPT", "Transcribed by https://otter.ai"
    counts: Counter[str] = Counter()
    for i, ln in enumerate(lines):
        s = text[ln.start:ln.end]
        if not s.strip():
            continue
        t = _TIME_LINE.match(s)
        if t:
            times[i] = _parse_ts(t["a"])
            continue
        if _END_MARK.match(s):
            ends.add(i)
            continue
        m = _INLINE_LABEL.match(s)
        if not (m and _plausible_label(_label_of(m))):
            m = _DASH_LABEL.match(s)
            # not one letter: "I - I mean" is speech
            m = m if m and len(_head(_label_of(m))) > 1 and _KNOWN_LABEL.match(_head(_label_of(m))) else None
        if m and _plausible_label(_label_of(m)):
            inline[i] = m
            counts[_label_of(m)] += 1
            continue
        m = _OWN_LINE_LABEL.match(s)
        nxt = next((j for j in range(i + 1, len(lines)) if lines[j].end > lines[j].start
                    and text[lines[j].start:lines[j].end].strip()), None)
        if (m and nxt is not None and _plausible_label(_label_of(m)) and len(s.strip()) <= 40
                and not _label_of(m).endswith((".", "!", "?", ","))):
            own[i] = m
            counts[_label_of(m)] += 1

    # one speaker however the label is typed: "INTERVIEWER"/"Interviewer", "P7"/"P07", and a
    # one-off typo of a frequent name ("Interviwer")
    spelling = _spellings(counts)
    group: Counter[str] = Counter()
    for label, n in counts.items():
        group[spelling[label]] += n

    listed = _listed_speakers(text, lines)

    def trusted(label: str) -> bool:
        return (bool(_KNOWN_LABEL.match(_head(label))) or group[spelling[label]] >= 2
                or _norm(_head(label)) in listed)

    def dated(i: int, m: re.Match) -> bool:  # a time on the label's line or on the line above
        prev = next((j for j in range(i - 1, -1, -1) if text[lines[j].start:lines[j].end].strip()), None)
        return _time_of(m) is not None or prev in times

    inline = {i: m for i, m in inline.items() if trusted(_label_of(m))}
    # On its own line a word is more often a heading, so a plain name needs three occurrences;
    # two when a timestamp goes with it (Otter's "Name  0:05", Teams' time line above a name).
    own = {i: m for i, m in own.items() if trusted(_label_of(m))
           and (_label_of(m).isupper() or _KNOWN_LABEL.match(_head(_label_of(m)))
                or _norm(_head(_label_of(m))) in listed
                or group[spelling[_label_of(m)]] >= (2 if dated(i, m) else 3))}
    header = _header_lines(text, lines, inline, own, once={i for i, m in inline.items()
                                                           if group[spelling[_label_of(m)]] == 1})
    inline = {i: m for i, m in inline.items() if i not in header}
    own = {i: m for i, m in own.items() if i not in header}
    nonblank = sum(1 for ln in lines if text[ln.start:ln.end].strip())
    labelled = (len(inline) + 2 * len(own)) >= max(2, 0.2 * nonblank)
    prompt = re.compile(options.prompt_pattern) if options.prompt_pattern else None

    turns: list[Turn] = []
    cur: dict | None = None
    resume: dict | None = None   # the speaker a time line interrupted, and the time
    when: float | None = None     # a time line's time, for the next label

    def close():
        nonlocal cur
        if cur is not None:
            s, e = _trim(text, cur["start"], cur["end"])
            if e > s and (strip_directions(text[s:e]) or cur.get("role") == "other"):
                role = cur.get("role")
                times = ((s, cur["time"], None),) if cur["time"] is not None else ()
                turns.append(Turn(cur["speaker"], s, e, role, times))
        cur = None

    for i, ln in enumerate(lines):
        s = text[ln.start:ln.end]
        if i in header or i in ends:
            close()
            resume = when = None
            continue
        if i in times:
            if cur is not None and cur.get("pending") and cur["time"] is None:
                cur["time"] = times[i]      # "Speaker 1" then "00:00:05" on the next line
            elif labelled:
                # a time inside a turn: the turn goes on after it, dated from here
                resume = {"speaker": cur["speaker"], "time": times[i]} if cur is not None else None
                close()
                when = times[i]
            else:
                close()
            continue
        if i in inline or i in own:
            m = inline.get(i) or own[i]
            close()
            resume = None
            t = _time_of(m)
            cur = {"speaker": spelling[_label_of(m)], "time": when if t is None else t}
            when = None
            if i in inline:
                cur.update(start=ln.start + m.end(), end=ln.end)
            else:
                cur.update(start=ln.end, end=ln.end, pending=True)
        elif not s.strip():
            if not labelled:
                close()
        elif labelled and cur is not None:
            if cur.pop("pending", False):
                cur["start"] = ln.start
            cur["end"] = ln.end
        elif labelled and resume is not None:
            cur = {"speaker": resume["speaker"], "start": ln.start, "end": ln.end, "time": resume["time"]}
            resume = when = None
        elif labelled:  # text before the first label (a title, a header): not speech
            continue
        else:
            close()
            is_prompt = bool(prompt and prompt.match(s)) or i in asked
            cur = {"speaker": None, "start": ln.start, "end": ln.end, "time": None,
                   "role": "interviewer" if is_prompt else None}
            if not is_prompt and _FULL_LINE_DIRECTION.match(s):
                cur["role"] = "other"  # an observation such as "(The participant reads the task)"
    close()
    if not turns:
        raise InputError(path, "no transcript text found (only labels, headers or stage directions)")
    return turns


def _spellings(counts: Mapping[str, int]) -> dict[str, str]:
    """Each label's spelling in the transcript: the most frequent of those that differ only in
    case, spaces, punctuation or leading zeros; a label said once that is one typo away from a
    frequent name (five letters or more, no digits: ``P01``/``P02`` are different people) is
    that name."""
    by_key: dict[str, list[str]] = {}
    for label in counts:
        by_key.setdefault(_norm(label), []).append(label)
    spelling = {}
    total = Counter()
    for labels in by_key.values():
        best = max(labels, key=lambda x: counts[x])   # ties: the first seen
        for label in labels:
            spelling[label] = best
        total[best] = sum(counts[x] for x in labels)
    frequent = [x for x, n in total.items() if n >= 3 and len(x) >= 5 and not any(c.isdigit() for c in x)]
    for label, best in list(spelling.items()):
        if total[best] != 1 or len(label) < 5 or any(c.isdigit() for c in label):
            continue
        near = [f for f in frequent if _edits(label.casefold(), f.casefold(), 1 if len(f) < 9 else 2)]
        if len(near) == 1:
            spelling[label] = near[0]
    return spelling


def _edits(a: str, b: str, limit: int) -> bool:
    """Whether ``a`` is at most ``limit`` edits (insert, delete, substitute) from ``b``."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return False
        prev = cur
    return prev[-1] <= limit


_SPEAKER_LIST_KEYS = {"speakers", "participants", "attendees", "present", "interviewees", "teilnehmende",
                      "sprecher"}


def _listed_speakers(text: str, lines: list[_Line]) -> set[str]:
    """Names listed near the top ("SPEAKERS" then "Jane Doe, Sam Patel" in Otter's exports;
    "Participants: Jane Doe (Moderator), Sam, Ali"), as label keys: a listed name is a speaker
    even when it speaks once."""
    out: set[str] = set()
    top = [text[ln.start:ln.end].strip() for ln in lines[:40]]
    for k, s in enumerate(top):
        m = _META_LINE.match(s)
        if m and " ".join(m["key"].lower().split()) in _SPEAKER_LIST_KEYS:
            items = s[m.end():]
        elif s.strip("*_#: ").lower() in _SPEAKER_LIST_KEYS:
            items = next((x for x in top[k + 1:] if x), "")
        else:
            continue
        for part in re.split(r"[,;&]|\band\b|\bund\b", items):
            key = _norm(_head(part.strip().strip("*_")))
            if key:
                out.add(key)
    return out


def _header_lines(text: str, lines: list[_Line], inline: Mapping[int, re.Match],
                  own: Mapping[int, re.Match], once: set[int] = frozenset()) -> set[int]:
    """Lines of a header block before the first turn: a title, ``Date: ...``, ``Duration: ...``,
    ``Interviewer: JD``, ``Participant: P03`` -- not speech, though some look like labels.

    A header needs at least one line with a header key (date, duration, location...). It runs
    from the top over short lines that do not end a sentence, up to the last line with a header
    key, on over lines whose label is said nowhere else (``once``), and to the end of that
    paragraph when the whole paragraph is header-like.
    """
    def headerish(i: int) -> bool:
        raw = text[lines[i].start:lines[i].end]
        s = raw.strip()
        if i in own or len(s) > 100:
            return False
        if _meta_key(s):
            return True
        body = (raw[inline[i].end():] if i in inline else s).strip().rstrip("*_").strip()
        return len(body.split()) <= 8 and not body.endswith((".", "?", "!", "…"))

    run: list[int] = []
    for i, ln in enumerate(lines):
        s = text[ln.start:ln.end]
        if not s.strip():
            continue
        if not headerish(i):
            break
        run.append(i)
    keyed = [i for i in run if _meta_key(text[lines[i].start:lines[i].end].strip())]
    if not keyed:
        return set()
    last = keyed[-1]
    # on over labels said only here ("Interviewer: JD" above turns labelled "I:")
    while last + 1 in run and last + 1 in once:
        last += 1
    para_end = next((j for j in range(last + 1, len(lines)) if not text[lines[j].start:lines[j].end].strip()),
                    len(lines))
    if all(j in run for j in range(last + 1, para_end)):
        last = para_end - 1
    return set(range(0, last + 1))


def read_text_file(path: Path, options: ReaderOptions, transcript_id: str | None = None, *,
                   resolve: bool = True) -> tuple[Transcript, list[Turn]]:
    text = decode_bytes(path.read_bytes(), path)
    tid = transcript_id or path.stem
    transcript = Transcript(tid, text, str(path), "txt")
    turns = _parse_labelled(text, options, path)
    return transcript, (resolve_alone(transcript, turns, options) if resolve else turns)


# -- WebVTT / SRT -------------------------------------------------------------------------------
# A small parser of our own rather than webvtt-py: we need the line number of every fault for
# our error messages, and Teams/Zoom/Otter quirks (voice tags, "Name:" prefixes, cue ids).

_CUE_TIME = re.compile(
    r"^\s*(?P<a>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<b>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_VOICE = re.compile(r"<v(?:\.[\w.]+)?\s+([^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_PREFIX = re.compile(rf"^\s*(?:\[(?P<blabel>{_NAME})\]|(?P<label>{_NAME}))\s*:\s+(?=\S)")  # [SPEAKER_00]: WhisperX


def read_subtitles(path: Path, options: ReaderOptions, transcript_id: str | None = None, *,
                   resolve: bool = True) -> tuple[Transcript, list[Turn]]:
    """WebVTT or SRT → a transcript of ``Speaker: words`` paragraphs, one per speaker turn.

    Consecutive cues of one speaker merge into a turn; each cue's start/end time is kept.
    """
    raw = decode_bytes(path.read_bytes(), path)
    is_vtt = path.suffix.lower() == ".vtt"
    lines = raw.split("\n")
    if is_vtt and not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise InputError(path, "a WebVTT file must start with 'WEBVTT'; is this an SRT file "
                         "with the wrong extension?", line=1)
    cues: list[tuple[int, float, float, str | None, str]] = []  # line, t0, t1, speaker, text
    n = len(lines)
    i = 0
    if is_vtt:  # the header runs to the first blank line ("Kind: captions", "Language: en")
        i = 1
        while (i < n and lines[i].strip() and not _CUE_TIME.match(lines[i])
               and not (i + 1 < n and _CUE_TIME.match(lines[i + 1]))):
            i += 1
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if is_vtt and line.startswith(("NOTE", "STYLE", "REGION")):
            while i < n and lines[i].strip():
                i += 1
            continue
        m = _CUE_TIME.match(line)
        if not m:
            if i + 1 < n and _CUE_TIME.match(lines[i + 1]):
                i += 1  # a cue id / SRT number
                continue
            raise InputError(path, f"expected a cue timing like '00:00:01.000 --> 00:00:04.000', "
                             f"found {line.strip()[:60]!r}", line=i + 1)
        t0, t1 = _parse_ts(m["a"]), _parse_ts(m["b"])
        if t1 < t0:
            raise InputError(path, f"cue ends ({m['b']}) before it starts ({m['a']})", line=i + 1)
        j = i + 1
        body = []
        while j < n and lines[j].strip():
            body.append(lines[j].strip())
            j += 1
        content = " ".join(body)
        # a cue may hold several voices: "<v Roger>Hi\n<v Neil>Hello" (the WebVTT spec's example)
        voices = list(_VOICE.finditer(content))
        pieces = ([(v.group(1).strip(), content[v.start():voices[k + 1].start() if k + 1 < len(voices) else None])
                   for k, v in enumerate(voices)] if voices else [(None, content)])
        if voices and content[:voices[0].start()].strip():
            pieces.insert(0, (None, content[:voices[0].start()]))
        for speaker, piece in pieces:
            piece = _TAG.sub("", piece).strip()
            if is_vtt:  # WebVTT escapes & < > as &amp; &lt; &gt; (R&amp;D)
                piece = html.unescape(piece)
            if speaker is None:
                p = _PREFIX.match(piece)
                if p and _plausible_label(_label_of(p)):
                    speaker = _label_of(p)
                    piece = piece[p.end():]
            if piece:
                cues.append((i + 1, t0, t1, speaker, piece))
        i = j
    if not cues:
        raise InputError(path, "no cues with text found; is the file a complete export?")
    if any(c[3] for c in cues):
        # Otter and others name the speaker on the first cue of a turn only: an unnamed cue
        # goes on with the speaker before it
        named: list[tuple[int, float, float, str | None, str]] = []
        for c in cues:
            named.append(c if c[3] or not named else (*c[:3], named[-1][3], c[4]))
        cues = named

    # Render: one paragraph per merged turn, "Speaker: cue text cue text ...".
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    k = 0
    while k < len(cues):
        speaker = cues[k][3]
        label = f"{speaker}: " if speaker else ""
        parts.append(label)
        pos += len(label)
        start = pos
        times = []
        while k < len(cues) and cues[k][3] == speaker:
            if pos > start:
                parts.append(" ")
                pos += 1
            times.append((pos, cues[k][1], cues[k][2]))
            parts.append(cues[k][4])
            pos += len(cues[k][4])
            k += 1
        turns.append(Turn(speaker, start, pos, None, tuple(times)))
        parts.append("\n\n")
        pos += 2
    text = "".join(parts)
    tid = transcript_id or path.stem
    fmt = "vtt" if is_vtt else "srt"
    transcript = Transcript(tid, text, str(path), fmt)
    return transcript, (resolve_alone(transcript, turns, options) if resolve else turns)


# -- Word ---------------------------------------------------------------------------------------

def read_docx(path: Path, options: ReaderOptions, transcript_id: str | None = None, *,
              resolve: bool = True) -> tuple[Transcript, list[Turn]]:
    """Word transcript: paragraphs as lines (tables of speaker | text rows too), then as plain text."""

    try:
        import docx  # python-docx
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise InputError(path, "reading .docx needs python-docx: pip install python-docx") from e
    try:
        document = docx.Document(str(path))
    except Exception as e:  # python-docx raises many kinds for a damaged package
        raise InputError(path, f"not a readable Word .docx file ({e.__class__.__name__}); "
                         "open it in Word and save it again as .docx") from None
    lines: list[str] = []
    bold: set[int] = set()   # entries of ``lines`` that are paragraphs wholly in bold or italics
    for block in _docx_blocks(document.element.body):
        if block.tag == _W + "p":
            if _docx_emphasised(block):
                bold.add(len(lines))
            lines.append(_docx_text(block))
            continue
        table = docx.table.Table(block, document)
        rows = [[_docx_cell_text(c) for c in row.cells] for row in table.rows]
        columns = _docx_table_columns(rows[0]) if rows else None
        if columns is not None:  # a header row names the columns: NVivo's Timespan | Content | Speaker
            lines.extend(_docx_table_line(row, columns) for row in rows[1:])
            continue
        for cells in rows:
            cells = [c for k, c in enumerate(cells) if c and c not in cells[:k]]
            if len(cells) >= 2:
                lines.append(f"{' '.join(cells[:-1])}: {cells[-1]}")
            elif cells:
                lines.append(cells[0])
    text = "\n".join(line.replace("\r", " ").replace("\x0b", " ") for line in lines)
    if not text.strip():
        raise InputError(path, "the Word document has no text")
    emphasised, n = set(), 0   # line numbers (0-based) of the emphasised paragraphs
    for k, line in enumerate(lines):
        if k in bold:
            emphasised.update(range(n, n + line.count("\n") + 1))
        n += line.count("\n") + 1
    tid = transcript_id or path.stem
    transcript = Transcript(tid, text, str(path), "docx")
    turns = _parse_labelled(text, options, path, asked=_emphasised_questions(text, emphasised))
    return transcript, (resolve_alone(transcript, turns, options) if resolve else turns)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Word XML that holds no visible text of the paragraph: deleted or moved-away text (tracked
# changes), text boxes (paragraphs of their own), the fallback copy of drawings, properties.
_DOCX_SKIP = {_W + "del", _W + "moveFrom", _W + "txbxContent", _W + "pPr", _W + "rPr",
              "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"}


def _docx_blocks(element):
    """Paragraphs and tables of the body in order, also inside content controls (w:sdt)."""
    for child in element.iterchildren():
        if child.tag in (_W + "p", _W + "tbl"):
            yield child
        elif child.tag in (_W + "sdt", _W + "sdtContent", _W + "customXml"):
            yield from _docx_blocks(child)


def _docx_text(p) -> str:
    """A paragraph's text as Word shows it: tracked insertions, hyperlinks, smart tags and
    content controls included (python-docx's ``Paragraph.text`` reads direct runs only), tracked
    deletions left out."""
    out: list[str] = []

    def walk(el):
        for child in el.iterchildren():
            tag = child.tag
            if tag in _DOCX_SKIP:
                continue
            if tag == _W + "t":
                out.append(child.text or "")
            elif tag == _W + "tab":
                out.append("\t")
            elif tag in (_W + "br", _W + "cr"):
                out.append("\n")
            elif tag == _W + "noBreakHyphen":
                out.append("-")
            else:
                walk(child)
    walk(p)
    return "".join(out)


def _docx_emphasised(p) -> bool:
    """Whether all the text of a paragraph is in bold or italics (direct formatting)."""
    seen = False
    for r in p.iter(_W + "r"):
        if not "".join(t.text or "" for t in r.iter(_W + "t")).strip():
            continue
        props = r.find(_W + "rPr")
        on = [e for e in (props.find(_W + "b"), props.find(_W + "i")) if e is not None] if props is not None else []
        if not any(e.get(_W + "val", "true").lower() not in ("0", "false", "off") for e in on):
            return False
        seen = True
    return seen


def _emphasised_questions(text: str, emphasised: set[int]) -> set[int]:
    """Lines of an unlabelled Word transcript that are the interviewer's: a common layout sets
    the questions in bold (or italics) and the answers plain. Taken so when between a tenth and
    seven tenths of the lines are emphasised and most of those ask something."""
    lines = text.split("\n")
    nonblank = [i for i, s in enumerate(lines) if s.strip()]
    marked = [i for i in nonblank if i in emphasised and not _FULL_LINE_DIRECTION.match(lines[i])]
    if not (0.1 * len(nonblank) <= len(marked) <= 0.7 * len(nonblank)):
        return set()
    if sum("?" in lines[i] for i in marked) < 0.6 * len(marked):
        return set()
    return set(marked)


def _docx_cell_text(cell) -> str:
    return "\n".join(_docx_text(p) for p in _docx_blocks(cell._tc) if p.tag == _W + "p").strip()


# a Word table's header row names its text column in words a table file would not use for it
_DOCX_COLUMN_GUESSES = {"text": ("transcript", "transcription", "dialogue", "speech", "words", "verbatim"),
                        "start_time": ("timecode", "time_code", "tc")}


def _docx_table_columns(header: list[str]) -> dict[str, int] | None:
    """Column positions when a Word table's first row names its columns, else None."""
    if not header or any(len(h) > 30 for h in header):
        return None
    names = [re.sub(r"[^0-9a-z]+", "_", h.lower()).strip("_") for h in header]
    columns = {}
    for key in ("text", "speaker", "start_time"):
        for g in _COLUMN_GUESSES[key] + _DOCX_COLUMN_GUESSES.get(key, ()):
            if g in names:
                columns[key] = names.index(g)
                break
    return columns if "text" in columns and len(columns) >= 2 else None


def _docx_table_line(cells: list[str], columns: Mapping[str, int]) -> str:
    """One row as a transcript line: ``[0:05.3] Speaker: text``."""
    def cell(key):
        k = columns.get(key)
        return " ".join(cells[k].split()) if k is not None and k < len(cells) else ""
    body = cell("text").strip()
    if not body:
        return ""
    t = re.match(_TS, cell("start_time"))
    speaker = cell("speaker")
    return (f"[{t.group()}] " if t else "") + (f"{speaker}: " if speaker else "") + body


# -- tables of utterances ------------------------------------------------------------------------

_COLUMN_GUESSES = {
    "transcript": ("transcript_id", "transcript", "interview_id", "interview", "document",
                   "doc_id", "file", "conversation_id", "session"),
    "speaker": ("speaker", "speaker_id", "speaker_name", "speaker_label", "interlocutor", "participant",
                "participant_id", "respondent", "respondent_id", "name"),
    "text": ("text", "utterance", "utterance_text", "sentence", "response", "content", "answer",
             "transcription", "caption"),
    "start_time": ("start_time", "start", "timestamp", "time", "begin", "timespan", "time_span", "time_range",
                   "start_ms"),
    "end_time": ("end_time", "end", "stop", "timespan", "time_span", "time_range", "end_ms"),
    "role": ("role",),
}


def _map_columns(columns: Sequence[str], given: Mapping[str, str], path: Path,
                 rows: Sequence[tuple[int, Mapping]] = ()) -> dict[str, str]:
    # exports name columns "Start Time", "speaker-name", "TEXT": compare them in one spelling
    lower = {}
    for c in columns:
        lower.setdefault(re.sub(r"[^0-9a-z]+", "_", c.lower()).strip("_"), c)
    mapping = {}
    for key, guesses in _COLUMN_GUESSES.items():
        if key in given:
            if given[key] not in columns:
                raise InputError(path, f"column {given[key]!r} (given for {key}) is not in the file; "
                                 f"columns are: {', '.join(columns)}")
            mapping[key] = given[key]
            continue
        for g in guesses:
            if g in lower:
                mapping[key] = lower[g]
                break
    if "text" not in mapping and "transcript" in mapping and "transcript" not in given:
        # "Speaker | Transcript": a column named "Transcript" that holds sentences is the text
        values = [str(r.get(mapping["transcript"]) or "") for _, r in rows[:200]]
        if values and sum(len(v.split()) >= 3 for v in values) >= 0.5 * len(values):
            mapping["text"] = mapping.pop("transcript")
    if "text" not in mapping:
        raise InputError(path, "cannot tell which column holds the utterance text; name it with "
                         f"--column text=NAME (columns: {', '.join(columns)})")
    return mapping


def csv_records(text: str, path: str | Path, *, dialect: str = "excel", empty: str = "the file is empty"
                ) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line where the record starts, fields)]) of CSV text, skipping blank records.

    Line numbers are the file's (a quoted field may span lines), for error messages."""
    reader = csv.reader(io.StringIO(text), dialect=dialect)
    header, records = None, []
    try:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
            else:
                records.append((start, row))
    except csv.Error as e:
        raise InputError(path, f"malformed CSV ({e})", line=reader.line_num) from None
    if header is None:
        raise InputError(path, empty)
    return header, records


def _table_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    text = decode_bytes(path.read_bytes(), path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows, columns = [], []
        for n, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"invalid JSON ({e.msg})", line=n) from None
            if not isinstance(obj, dict):
                raise InputError(path, "each line must be a JSON object", line=n)
            for k in obj:
                if k not in columns:
                    columns.append(k)
            rows.append((n, obj))
        return columns, rows
    if path.suffix.lower() == ".json":
        return _json_rows(text, path)
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise InputError(path, "the table has no header row")
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise InputError(path, f"malformed CSV ({e})", line=reader.line_num) from None
    return list(reader.fieldnames), rows


def _json_rows(text: str, path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """A JSON transcript: a list of utterance objects, or an object holding one under
    ``segments`` (Whisper, WhisperX) or ``utterances`` (AssemblyAI)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"invalid JSON ({e.msg})", line=e.lineno) from None
    if isinstance(obj, dict):
        obj = next((obj[k] for k in ("segments", "utterances") if isinstance(obj.get(k), list)), None)
    if not isinstance(obj, list) or not all(isinstance(x, dict) for x in obj):
        raise InputError(path, "expected a list of utterance objects, or an object with a "
                         "'segments' or 'utterances' list (Whisper, WhisperX, AssemblyAI)")
    columns: list[str] = []
    for row in obj:
        columns.extend(k for k in row if k not in columns)
    # rows are numbered from 1 (there are no useful line numbers in a JSON document)
    return columns, [(k, row) for k, row in enumerate(obj, start=1)]


def read_table(path: Path, options: ReaderOptions, *, resolve: bool = True
               ) -> list[tuple[Transcript, list[Turn]]]:
    """CSV/TSV/JSONL with one utterance per row → one transcript per transcript id.

    Transcript text is rendered as ``Speaker: text`` lines, so it reads like a transcript.
    """
    columns, rows = _table_rows(path)
    if not rows:
        raise InputError(path, "the table has no rows")
    cols = _map_columns(columns, options.table_columns, path, rows)
    grouped: dict[str, list[tuple[int, dict]]] = {}
    for n, row in rows:
        tid = str(row.get(cols["transcript"], "") if "transcript" in cols else path.stem).strip()
        if not tid:
            raise InputError(path, f"empty transcript id in column {cols['transcript']!r}", line=n)
        grouped.setdefault(tid, []).append((n, row))
    out = []
    times = _TimeCells(path, cols, rows)
    for tid, items in grouped.items():
        parts, turns, pos = [], [], 0
        for n, row in items:
            body = row.get(cols["text"])
            body = "" if body is None else str(body).strip()
            if not body:
                continue
            speaker = str(row.get(cols["speaker"], "")).strip() if "speaker" in cols else ""
            speaker = speaker or None
            label = f"{speaker}: " if speaker else ""
            start = pos + len(label)
            end = start + len(body)
            t0 = times.read(row, "start_time", n)
            t1 = times.read(row, "end_time", n)
            role = None
            if "role" in cols and row.get(cols["role"]):
                role = str(row[cols["role"]]).strip().lower()
                role = role if role in ("interviewer", "participant", "other") else None
            # the professional leading a recorded conversation (counselling, classroom data)
            if role is None and speaker and re.fullmatch(r"therapist|counsellor|counselor|teacher",
                                                         speaker, re.IGNORECASE):
                role = "interviewer"
            turns.append(Turn(speaker, start, end, role, ((start, t0, t1),) if t0 is not None else ()))
            parts.append(label + body + "\n")
            pos = end + 1
        if not turns:
            raise InputError(path, f"transcript {tid!r} has no utterance text")
        text = "".join(parts)
        out.append((Transcript(tid, text, str(path), "table"), turns))
    times.check()
    if resolve:
        out = [(t, resolve_alone(t, turns, options)) for t, turns in out]
    return out


class _TimeCells:
    """Times of a table's rows. A few unreadable cells in a long export (a typo such as
    ``00:09:025``) leave those times empty, said once; a column mostly unreadable is not a time
    column: an error naming it."""

    def __init__(self, path: Path, cols: Mapping[str, str], rows: Sequence[tuple[int, Mapping]] = ()):
        self.path, self.cols = path, cols
        self.read_ok = 0
        self.bad: list[tuple[int, InputError]] = []
        self.scale = {key: 1000.0 if _in_milliseconds(cols[key], [r.get(cols[key]) for _, r in rows]) else 1.0
                      for key in ("start_time", "end_time") if key in cols}
        ms = sorted({cols[k] for k, v in self.scale.items() if v == 1000.0})
        if ms:
            log.warning("%s: times in column(s) %s read as milliseconds", path, ", ".join(map(repr, ms)))

    def read(self, row: Mapping, key: str, line: int) -> float | None:
        if key not in self.cols:
            return None
        try:
            t = _time_value(row.get(self.cols[key]), self.path, line, end=key == "end_time")
        except InputError as e:
            self.bad.append((line, e))
            return None
        self.read_ok += t is not None
        return None if t is None else t / self.scale[key]

    def check(self) -> None:
        if not self.bad:
            return
        if len(self.bad) > self.read_ok:
            raise self.bad[0][1]
        line, e = self.bad[0]
        log.warning("%s: %d time cell(s) could not be read (first: line %d, %s); those utterances "
                    "have no time", self.path, len(self.bad), line, e.problem.split(";")[0])


def _in_milliseconds(column: str, values: Sequence) -> bool:
    """Whether a time column counts milliseconds: its name says so (``start_ms``), or it holds
    whole numbers that grow by 100 or more from row to row (Whisper's .tsv, AssemblyAI's JSON;
    in seconds, utterances are a few apart)."""
    if re.search(r"(?:^|[^a-z])(?:ms|msec|millis|milliseconds)(?:[^a-z]|$)", column.lower()):
        return True
    nums = []
    for v in values:
        if v is None or str(v).strip() == "":
            continue
        if not re.fullmatch(r"\d+", str(v).strip()):
            return False
        nums.append(int(str(v).strip()))
    steps = sorted(b - a for a, b in zip(nums, nums[1:]) if b > a)
    return len(steps) >= 2 and steps[len(steps) // 2] >= 100


def _time_value(value, path: Path, line: int, end: bool = False) -> float | None:
    """Seconds of a time cell; of a span such as NVivo's ``0:00.0 - 0:07.4``, its start (or end)."""
    if value is None or str(value).strip() == "":
        return None
    s = str(value).strip()
    span = re.fullmatch(rf"({_TS})\s*(?:-|–|-->|to)\s*({_TS})", s)
    if span:
        return _parse_ts(span[2] if end else span[1])
    try:
        return float(s)
    except ValueError:
        pass
    if re.fullmatch(_TS, s):
        return _parse_ts(s)
    raise InputError(path, f"cannot read time {s!r}; use seconds or hh:mm:ss", line=line)


# -- dispatch ---------------------------------------------------------------------------------

def _sniff(path: Path) -> str:
    """Format by extension, checked against the content where extensions lie."""
    ext = path.suffix.lower()
    with open(path, "rb") as f:   # the header only; the reader reads the file itself
        head = f.read(512)
    if head.startswith(b"PK\x03\x04"):
        return ".docx" if ext in (".docx", "") else "zip"
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
        return ".vtt"
    return ext


def read_file(path: str | Path, options: ReaderOptions = ReaderOptions(), *, resolve: bool = True
              ) -> list[tuple[Transcript, list[Turn]]]:
    """Read one transcript file (a table may hold several transcripts).

    Roles are decided for each transcript alone; ``resolve=False`` leaves them to the caller
    (:func:`~themekit.io.read_transcripts` decides them over the whole study)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty; remove it or add the transcript text")
    kind = _sniff(path)
    if kind in TEXT_EXTENSIONS:
        return [read_text_file(path, options, resolve=resolve)]
    if kind in SUBTITLE_EXTENSIONS:
        return [read_subtitles(path, options, resolve=resolve)]
    if kind == ".docx":
        return [read_docx(path, options, resolve=resolve)]
    if kind in TABLE_EXTENSIONS:
        return read_table(path, options, resolve=resolve)
    if kind == ".doc":
        raise InputError(path, "old Word .doc files cannot be read; save the file as .docx")
    raise InputError(path, f"unknown transcript format {path.suffix or '(no extension)'!r}; "
                     f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")


def iter_transcript_files(folder: Path, exclude: Iterable[Path] = ()) -> list[Path]:
    """Transcript files of a folder (recursively), sorted, skipping hidden files and ``exclude``."""
    skip = {p.resolve() for p in exclude}
    files = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if p.resolve() in skip:
            continue
        files.append(p)
    return files
