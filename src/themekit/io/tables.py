"""Tables of utterances, one a row: CSV/TSV (NVivo, Whisper ``.tsv``, hand-made), JSONL, and
JSON (a list of utterances; Whisper/WhisperX ``segments``, AssemblyAI ``utterances``). Columns
guessed by name (or given); a transcript per transcript id; times in seconds, ``hh:mm:ss`` or
spans (``0:00.0 - 0:07.4``), milliseconds when the column name or the values say so."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path
from typing import Mapping, Sequence

from ..types import InputError, Transcript
from .decoding import decode_bytes
from .lines import _TS, _parse_ts
from .turns import ReaderOptions, Turn, resolve_alone

__all__ = ["read_table"]

log = logging.getLogger("themekit")

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
        # (mostly different row to row: ids of several words repeat)
        values = [str(r.get(mapping["transcript"]) or "") for _, r in rows[:200]]
        if (values and sum(len(v.split()) >= 3 for v in values) >= 0.5 * len(values)
                and len(set(values)) > 0.5 * len(values)):
            mapping["text"] = mapping.pop("transcript")
    if "text" not in mapping:
        raise InputError(path, "cannot tell which column holds the utterance text; name it with "
                         f"--column text=NAME (columns: {', '.join(columns)})")
    return mapping


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
    whole numbers that grow by 1000 or more from row to row, typically (Whisper's .tsv,
    AssemblyAI's JSON: utterances a second or more apart; in seconds that would be a quarter of an
    hour, while rows of long answers in whole seconds are one to a few hundred apart)."""
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
    return len(steps) >= 2 and steps[len(steps) // 2] >= 1000


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
