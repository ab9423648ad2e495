"""Human coding: coded segments read from CSV, checked against the transcripts, and aligned to
utterances (the common unit for comparing coders with each other and with the model).

A :class:`CodedSegment` is a view into a transcript: ``transcript.text[start:end] == text``.
"""

from __future__ import annotations

import bisect
from collections import Counter
import logging
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..common.tables import is_missing
from ..types import Corpus, InputError, Utterance, atomic_write

__all__ = ["CodedSegment", "read_coded_segments", "write_coded_segments", "segments_to_pandas",
           "align_to_utterances", "DEFAULT_CODER", "coded_speech", "coded_speech_line"]

log = logging.getLogger("themekit")

DEFAULT_CODER = "coder1"
_MAX_LOGGED = 5

_COLUMNS = {
    "transcript_id": ("transcript_id", "transcript", "document", "document_id", "document_name", "doc",
                      "file", "filename", "file_name", "source", "interview", "interview_id"),
    "start": ("start", "start_offset", "start_char", "start_position", "startposition", "begin"),
    "end": ("end", "end_offset", "end_char", "end_position", "endposition", "stop"),
    "code": ("code", "codes", "tag", "tags", "code_name", "label", "labels"),
    "coder": ("coder", "coder_id", "annotator", "annotator_id", "rater", "user", "analyst"),
    "text": ("text", "quote", "extract", "excerpt", "segment_text", "highlight", "selection"),
    "order": ("coded_at", "timestamp", "date", "order", "sequence", "created_at", "created", "time"),
}
_MULTI_CODE_COLUMNS = ("codes", "tags", "labels")  # '|'-joined code lists
_OUTPUT_COLUMNS = ["transcript_id", "start", "end", "code", "coder", "text", "order"]


@dataclass(frozen=True)
class CodedSegment:
    """A span of a transcript that a coder tagged with one code.

    ``order`` is when (or in which sequence) it was coded, as given in the file: a timestamp
    string such as ``"2025-07-07T09:44:55"`` or a number; ``None`` when unknown.
    """

    transcript_id: str
    start: int
    end: int
    code: str
    coder: str = DEFAULT_CODER
    text: str | None = None
    order: str | int | float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"segment offsets must satisfy 0 <= start < end (got {self.start}, {self.end})")


def _int(value: str, what: str, path, line: int) -> int:
    s = value.strip()
    try:
        f = float(s)
    except ValueError:
        raise InputError(path, f"{what} {s!r} is not a character offset (a whole number)",
                         line=line) from None
    if f != int(f):
        raise InputError(path, f"{what} {s!r} is not a whole number", line=line)
    return int(f)


def _order(value: str) -> str | int | float | None:
    s = value.strip()
    if not s:
        return None
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    if re.fullmatch(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?", s):
        return float(s)
    return s


def _squash(s: str) -> str:
    return " ".join(s.split())


def _short(s: str, n: int = 60) -> str:
    s = _squash(s)
    return repr(s if len(s) <= n else s[: n - 1] + "…")


def _records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from ..io.readers import csv_records, decode_bytes

    data = path.read_bytes()
    if not data.strip():
        raise InputError(path, "the coded-segments file is empty; add a header row and one row per "
                         "coded segment")
    text = decode_bytes(data, path)
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    return csv_records(text, path, dialect=dialect, empty="the coded-segments file is empty")


def _transcript_resolver(path: Path, corpus: Corpus | None):
    from ..io.readers import SUPPORTED_EXTENSIONS

    def resolve(raw: str, line: int) -> str:
        candidates = [raw]
        p = Path(raw.replace("\\", "/"))
        candidates += [p.name, p.stem] if p.suffix else [p.name]
        if corpus is None:
            return p.stem if p.suffix.lower() in SUPPORTED_EXTENSIONS else raw
        for c in candidates:
            if c in corpus.transcripts:
                return c
        known = sorted(corpus.transcripts)
        shown = ", ".join(known[:30]) + (f", ... ({len(known)} in all)" if len(known) > 30 else "")
        raise InputError(path, f"unknown transcript {raw!r}; known transcript ids: {shown}", line=line)

    return resolve


def read_coded_segments(path: str | os.PathLike, corpus: Corpus | None = None, *,
                        default_coder: str = DEFAULT_CODER) -> list[CodedSegment]:
    """Read coded segments from a CSV/TSV file, one :class:`CodedSegment` per (segment, code).

    Columns (case-insensitive; first match wins): ``transcript_id`` (or ``transcript``,
    ``document``; a file name such as ``P2.txt`` is matched to transcript ``P2``), ``start``,
    ``end`` (character offsets into the transcript text), ``code`` (or ``codes``/``tags``:
    ``|``-joined, one segment per code), ``coder`` (default ``default_coder``), ``text`` or
    ``quote``, and ``order`` from ``coded_at``/``timestamp``/``date``/``order``/``sequence``
    (kept as given: number or text). The serdif/Taguette export
    ``segment_id,transcript,participant,start,end,text,codes`` reads as is.

    When ``start``/``end`` are empty, the quote is located in the transcript text (``corpus``
    needed): the first occurrence at or after the previous segment of the same transcript and
    coder (so a passage coded twice in a row resolves to the same place), else the first.
    A quote found only when whitespace is ignored is used with a warning.

    With a ``corpus`` every segment is checked: known transcript, offsets within the text,
    and ``text`` equal to ``transcript[start:end]`` (whitespace-only differences warn). The
    segment's ``text`` is then always the transcript's own text. Errors are
    :class:`InputError` naming the file and line. Rows without a code are skipped with a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    header, records = _records(path)
    lower = [h.strip().lower().replace(" ", "_") for h in header]
    cols: dict[str, int] = {}
    for key, guesses in _COLUMNS.items():
        for g in guesses:
            if g in lower and lower.index(g) not in cols.values():
                cols[key] = lower.index(g)
                break
    missing = [k for k in ("transcript_id", "code") if k not in cols]
    if missing:
        raise InputError(path, f"no {' or '.join(missing)} column; expected columns transcript_id, start, "
                         f"end, code, coder, quote (found: {', '.join(header)})", line=1)
    if ("start" not in cols or "end" not in cols) and "text" not in cols:
        raise InputError(path, "give start and end offsets, or a quote column with the exact coded text "
                         f"(found: {', '.join(header)})", line=1)
    multi = lower[cols["code"]] in _MULTI_CODE_COLUMNS
    resolve_tid = _transcript_resolver(path, corpus)
    warnings: list[str] = []
    last_start: dict[tuple[str, str], int] = {}
    out: list[CodedSegment] = []

    def warn(line: int, msg: str) -> None:
        warnings.append(f"{path}, line {line}: {msg}")

    for line, row in records:
        def get(key: str) -> str:
            i = cols.get(key)
            return row[i] if i is not None and i < len(row) else ""

        raw_tid = get("transcript_id").strip()
        if not raw_tid:
            raise InputError(path, "empty transcript id", line=line)
        tid = resolve_tid(raw_tid, line)
        raw_code = get("code")
        codes = [c.strip() for c in (raw_code.split("|") if multi else [raw_code])]
        codes = list(dict.fromkeys(c for c in codes if c))
        if not codes:
            warn(line, "no code; row skipped")
            continue
        coder = get("coder").strip() or default_coder
        given_text = get("text") if "text" in cols else ""
        s_raw, e_raw = get("start").strip(), get("end").strip()
        transcript = corpus.transcripts[tid].text if corpus is not None else None
        if s_raw and e_raw:
            start, end = _int(s_raw, "start", path, line), _int(e_raw, "end", path, line)
            if start >= end:
                raise InputError(path, f"start {start} is not before end {end}", line=line)
            if start < 0:
                raise InputError(path, f"start {start} is negative", line=line)
            if transcript is not None:
                if end > len(transcript):
                    raise InputError(path, f"offsets {start}-{end} are beyond the end of transcript {tid!r} "
                                     f"({len(transcript)} characters); were they computed on another "
                                     "version of the file?", line=line)
                actual = transcript[start:end]
                if given_text and given_text != actual:
                    if _squash(given_text) == _squash(actual):
                        warn(line, f"text differs from transcript {tid!r} [{start}:{end}] in whitespace only")
                    else:
                        raise InputError(path, f"text {_short(given_text)} does not match transcript {tid!r} "
                                         f"[{start}:{end}] which reads {_short(actual)}; fix the offsets or "
                                         "the text", line=line)
        elif s_raw or e_raw:
            raise InputError(path, "give both start and end, or neither (then the quote is located "
                             "in the transcript)", line=line)
        else:
            quote = given_text.strip()
            if not quote:
                raise InputError(path, "no start/end offsets and no quote: give one or the other", line=line)
            if transcript is None:
                raise InputError(path, "no start/end offsets: pass the transcripts (corpus) so the quote "
                                 "can be located", line=line)
            found = _find_quote(transcript, quote, last_start.get((tid, coder), 0))
            if found is None:
                raise InputError(path, f"quote {_short(quote)} not found in transcript {tid!r}; it must be "
                                 "copied exactly from the transcript text", line=line)
            start, end, exact = found
            if not exact:
                warn(line, f"quote found in transcript {tid!r} only when ignoring whitespace")
        text = transcript[start:end] if transcript is not None else (given_text or None)
        order = _order(get("order")) if "order" in cols else None
        last_start[(tid, coder)] = start
        out.extend(CodedSegment(tid, start, end, code, coder, text, order) for code in codes)

    for w in warnings[:_MAX_LOGGED]:
        log.warning("%s", w)
    if len(warnings) > _MAX_LOGGED:
        log.warning("%s: ... and %d more warnings like these", path, len(warnings) - _MAX_LOGGED)
    if not out:
        raise InputError(path, "no coded segments in the file")
    return out


def _find_quote(text: str, quote: str, after: int) -> tuple[int, int, bool] | None:
    """(start, end, exact) of the quote: first match at/after ``after``, else the first."""
    i = text.find(quote, after)
    if i < 0:
        i = text.find(quote)
    if i >= 0:
        return i, i + len(quote), True
    pattern = re.compile(r"\s+".join(re.escape(w) for w in quote.split()))
    m = pattern.search(text, after) or pattern.search(text)
    return None if m is None else (m.start(), m.end(), False)


def write_coded_segments(segments: Iterable[CodedSegment], path: str | os.PathLike) -> Path:
    """Write segments as CSV (``transcript_id,start,end,code,coder,text,order``), atomically."""
    df = segments_to_pandas(segments)
    df["text"] = df["text"].fillna("")
    df["order"] = df["order"].map(lambda v: "" if is_missing(v) else v)

    def write(tmp: Path) -> None:
        df.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")

    return atomic_write(path, write)


def segments_to_pandas(segments: Iterable[CodedSegment]) -> pd.DataFrame:
    """One row per segment with columns ``transcript_id,start,end,code,coder,text,order``."""
    rows = [{f.name: getattr(s, f.name) for f in fields(CodedSegment)} for s in segments]
    df = pd.DataFrame(rows, columns=_OUTPUT_COLUMNS)
    df = df.astype({"start": "int64", "end": "int64"})
    df["order"] = df["order"].astype(object)
    return df


def align_to_utterances(segments: Iterable[CodedSegment], corpus: Corpus, min_overlap: float = 0.5, *,
                        utterances: Sequence[Utterance] | None = None) -> pd.DataFrame:
    """Codes per (utterance, coder): the common unit for comparing coders and the model.

    Assignment rule: a segment codes an utterance of its transcript when it covers at least
    ``min_overlap`` of the utterance's characters, or when it lies wholly inside the utterance
    (a short highlighted phrase in a long answer still codes that answer). A segment that
    qualifies for no utterance by either rule (it straddles two, covering a little of each)
    codes the one it overlaps most (most characters; the first on a tie), so no coding is lost.
    Segments that touch none of the ``utterances`` (e.g. only interviewer speech when only
    participant utterances are given) are listed in ``result.attrs["unassigned"]``.

    Rows: for each coder and each transcript that coder coded (has at least one segment in),
    one row per utterance of that transcript — ``codes`` is a frozenset, empty when the coder
    applied no code there (a real "no code" judgement). Transcripts a coder did not code have
    no rows for that coder, so ``df.pivot(index="utterance_id", columns="coder",
    values="codes")`` gives NaN (missing) there, as Krippendorff's α expects.

    Columns: ``utterance_id, transcript_id, coder, codes, n_segments``; rows in corpus order
    of transcripts and utterances, coders sorted. ``utterances`` defaults to every utterance
    of the corpus (pass ``corpus.select()`` to compare on participant speech only).
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap!r}")
    segments = list(segments)
    units = list(corpus.utterances if utterances is None else utterances)
    by_transcript: dict[str, list[Utterance]] = {}
    for u in units:
        if u.end > u.start:
            by_transcript.setdefault(u.transcript_id, []).append(u)
    for us in by_transcript.values():
        us.sort(key=lambda u: (u.start, u.end))
    ends = {t: [u.end for u in us] for t, us in by_transcript.items()}

    codes: dict[tuple[str, str], set[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    coded: dict[str, set[str]] = {}  # coder -> transcripts coded
    unassigned: list[CodedSegment] = []
    for s in segments:
        if s.transcript_id not in corpus.transcripts:
            raise ValueError(f"segment refers to unknown transcript {s.transcript_id!r}; known: "
                             f"{', '.join(sorted(corpus.transcripts))}")
        coded.setdefault(s.coder, set()).add(s.transcript_id)
        us = by_transcript.get(s.transcript_id, [])
        i = bisect.bisect_right(ends.get(s.transcript_id, []), s.start)
        hits, best, best_overlap = [], None, 0
        while i < len(us) and us[i].start < s.end:
            u = us[i]
            overlap = min(s.end, u.end) - max(s.start, u.start)
            if overlap > 0:
                if overlap >= min_overlap * (u.end - u.start) or (u.start <= s.start and s.end <= u.end):
                    hits.append(u)
                if overlap > best_overlap:
                    best, best_overlap = u, overlap
            i += 1
        if not hits and best is not None:
            hits = [best]
        if not hits:
            unassigned.append(s)
        for u in hits:
            codes.setdefault((u.id, s.coder), set()).add(s.code)
            counts[(u.id, s.coder)] = counts.get((u.id, s.coder), 0) + 1

    coders = sorted(coded)
    in_order = {t: i for i, t in enumerate(corpus.transcripts)}
    rows = []
    for tid in sorted(by_transcript, key=lambda t: in_order.get(t, len(in_order))):
        who = [c for c in coders if tid in coded[c]]
        if not who:
            continue
        for u in by_transcript[tid]:
            for c in who:
                rows.append((u.id, tid, c, frozenset(codes.get((u.id, c), ())), counts.get((u.id, c), 0)))
    df = pd.DataFrame(rows, columns=["utterance_id", "transcript_id", "coder", "codes", "n_segments"])
    df = df.astype({"n_segments": "int64"})
    df.attrs["unassigned"] = unassigned
    df.attrs["min_overlap"] = min_overlap
    if unassigned:  # callers say it once, with why (see coded_speech / the audit's notes)
        log.debug("%d coded segments overlap none of the utterances compared", len(unassigned))
    return df


def coded_speech(corpus: Corpus, segments: Iterable[CodedSegment], units: Sequence[Utterance],
                 min_overlap: float = 0.5) -> tuple[list[Utterance], dict]:
    """``units`` plus every other utterance the human coding covers, in corpus order.

    Analysts code what matters whoever says it: a moderator's prompt coded "Moderator assist",
    an observation "(reads the task again)". Those utterances are mapped and used as seeds too,
    instead of their segments being dropped. Returns the units and what was done:
    ``added`` (utterances added, per role), ``segments_added`` (segments on them) and
    ``left_out`` (segments covering no utterance at all: text outside every utterance, such as
    a transcriber's note at the edge of a turn, a speaker label or a heading).
    """
    segments = list(segments)
    have = {u.id for u in units}
    aligned = align_to_utterances(segments, corpus, min_overlap)
    coded_ids = set(aligned.loc[aligned["codes"].map(len) > 0, "utterance_id"])
    extra = {uid for uid in coded_ids if uid not in have}
    out = [u for u in corpus.utterances if u.id in have or u.id in extra]
    added = Counter(("back-channel" if u.backchannel else u.role) for u in corpus.utterances if u.id in extra)
    spans: dict[str, list[tuple[int, int]]] = {}
    for u in corpus.utterances:
        if u.id in extra:
            spans.setdefault(u.transcript_id, []).append((u.start, u.end))
    n_added = sum(any(min(sg.end, e) > max(sg.start, b) for b, e in spans.get(sg.transcript_id, ()))
                  for sg in segments)
    info = {"added": dict(added), "segments_added": n_added,
            "left_out": len(aligned.attrs.get("unassigned", []))}
    return out, info


def coded_speech_line(info: dict) -> str:
    """One line saying what :func:`coded_speech` added and what it left out, and why."""
    parts = []
    if info.get("added"):
        what = ", ".join(f"{n} {role}" for role, n in sorted(info["added"].items()))
        parts.append(f"coded speech outside participant turns is mapped and used as seeds too "
                     f"({what} utterances, {info['segments_added']} coded segments)")
    if info.get("left_out"):
        parts.append(f"{info['left_out']} coded segments are left out: they cover no utterance "
                     "(a transcriber's note at the edge of a turn, a speaker label or a heading)")
    return "; ".join(parts)
