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
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from ..common.tables import is_missing
from .code_names import code_matcher, split_codes
from .segment import DEFAULT_CODER, CodedSegment
from .quotes import find_quote, plain_quote
from ..types import Corpus, InputError, Utterance, atomic_write

__all__ = ["CodedSegment", "read_coded_segments", "write_coded_segments", "segments_to_pandas",
           "align_to_utterances", "DEFAULT_CODER", "coded_speech", "coded_speech_line"]

log = logging.getLogger("themekit")

_COLUMNS = {  # header names as tables.header_key writes them; first match wins
    "transcript_id": ("transcript_id", "transcript", "document", "document_id", "document_name", "doc",
                      "file", "filename", "file_name", "files", "source", "source_name", "interview",
                      "interview_id", "media_title", "media", "document_title"),
    "start": ("start", "start_offset", "start_char", "start_position", "startposition", "begin", "begin_offset",
              "char_start", "start_index", "excerpt_start"),
    "end": ("end", "end_offset", "end_char", "end_position", "endposition", "stop", "char_end", "end_index",
            "excerpt_end"),
    "range": ("excerpt_range", "range", "character_range", "char_range", "offsets"),
    "code": ("code", "codes", "tag", "tags", "code_name", "label", "labels", "node", "nodes", "codes_applied",
             "applied_codes", "code_path", "theme"),
    "coder": ("coder", "coder_id", "annotator", "annotator_id", "rater", "user", "analyst", "author",
              "excerpt_creator", "created_by", "creator", "coded_by", "coded_by_initials", "coder_initials",
              "user_initials", "owner"),
    "text": ("text", "quote", "extract", "excerpt", "segment_text", "highlight", "selection", "content",
             "quotation_content", "quotation", "segment", "excerpt_copy", "coded_text", "reference_text",
             "coded_segment", "coded_content", "passage", "snippet", "highlighted_text", "quote_text"),
    "order": ("coded_at", "timestamp", "date", "order", "sequence", "created_at", "created", "time",
              "excerpt_date", "creation_date", "created_on", "date_created"),
}
_MULTI_CODE_COLUMNS = ("codes", "tags", "labels", "nodes", "codes_applied", "applied_codes")  # may be ','-joined
_RANGE = re.compile(r"\s*(\d+)\s*(?:-|–|:|to)\s*(\d+)\s*")
_TRUE = {"1", "true", "yes", "y", "x", "✓", "✔", "☑"}
_FALSE = {"", "0", "false", "no", "n", "-"}
# numbers CAQDAS exports add to a segment, which are not codes applied as columns
_NOT_CODE_WORDS = {"coverage", "weight", "score", "number", "no", "nr", "count", "length", "page", "paragraph",
                   "position", "duration", "index", "id", "age", "area", "word", "character", "reference", "n"}
_NOT_CODE_ENDINGS = ("count", "length", "coverage", "number", "position", "duration", "index")  # 'WordCount'
_OUTPUT_COLUMNS = ["transcript_id", "start", "end", "code", "coder", "text", "order"]


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


_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def dotted_datetime(value: Any):
    """``'12.03.2024 10:15'`` -> 12 March 2024 10:15, or None: dates written with dots are day
    first (the European locales in which MAXQDA and NVivo write their 'Created' columns)."""
    from datetime import datetime

    m = _DOTTED.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if m is None:
        return None
    d, mo, y, h, mi, sec = (int(g) if g else 0 for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, sec)
    except ValueError:  # 31.02.2024
        return None


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


def _is_coding_header(cells: list[str]) -> bool:
    from .tables import header_key

    keys = {header_key(c) for c in cells}
    return any(k in keys for k in _COLUMNS["transcript_id"])


def _records(path: Path):
    from .tables import read_table

    if path.suffix.lower() in (".csv", ".tsv") and not path.read_bytes().strip():
        raise InputError(path, "the coded-segments file is empty; add a header row and one row per "
                         "coded segment")
    return read_table(path, _is_coding_header, "transcript_id column ('transcript_id', 'Document', "
                      "'Document name', 'File', 'Media Title')")


def _transcript_resolver(path, corpus: Corpus | None):
    from ..io.readers import SUPPORTED_EXTENSIONS

    folded = {} if corpus is None else {t.casefold(): t for t in corpus.transcripts}
    loose_ids: dict[str, list[str]] = {}  # several transcripts under one key: no loose match
    for t in (corpus.transcripts if corpus is not None else ()):
        loose_ids.setdefault(_loose_id(t), []).append(t)

    known: dict[str, str] = {}   # a document's name repeats on every row of its segments

    def resolve(raw: str, line: int | None) -> str:
        if raw not in known:
            known[raw] = _resolve(raw, line)
        return known[raw]

    def _resolve(raw: str, line: int | None) -> str:
        p = Path(raw.replace("\\", "/"))
        candidates = [raw, p.name, _stem(p.name)]
        # ATLAS.ti numbers its documents: 'D3: P03.docx', '3: P03'
        bare = re.sub(r"^D?\s*\d+\s*:\s*", "", p.name)
        if bare != p.name:
            candidates += [bare, _stem(bare)]
        if corpus is None:
            return p.stem if p.suffix.lower() in SUPPORTED_EXTENSIONS else raw
        for c in candidates:
            if c in corpus.transcripts:
                return c
        for c in candidates:
            if c.strip().casefold() in folded:
                return folded[c.strip().casefold()]
        for c in candidates:  # 'Interview 1' for interview_01: one transcript only
            fits = loose_ids.get(_loose_id(c), [])
            if len(fits) == 1:
                resolve.loose[raw] = fits[0]  # type: ignore[attr-defined]
                return fits[0]
            if fits:
                raise InputError(path, f"document {raw!r} fits several transcripts ({', '.join(map(repr, fits))}) "
                                 "when case, spacing and leading zeros are ignored; write the transcript's id "
                                 "exactly", line=line)
        known = sorted(corpus.transcripts)
        shown = ", ".join(known[:30]) + (f", ... ({len(known)} in all)" if len(known) > 30 else "")
        raise InputError(path, f"unknown transcript {raw!r}; known transcript ids: {shown} (write the document "
                         "as its transcript's id, or add its transcript to the study)", line=line)

    resolve.loose = {}  # type: ignore[attr-defined]
    return resolve


def _stem(name: str) -> str:
    """A file name without its extension; an extension starts with a letter ('P1.2' is interview 2
    of P1, not a file P1)."""
    p = Path(name)
    return p.stem if re.fullmatch(r"\.[A-Za-z]\w{0,4}", p.suffix) else name


def _loose_id(name: str) -> str:
    """A transcript name without case, spaces, punctuation or leading zeros: 'Interview 01' ->
    'interview 1'. Numbers stay apart ('P1-2' is not 'P12')."""
    return " ".join(str(int(t)) if t.isdigit() else t for t in re.findall(r"[a-z]+|[0-9]+", name.casefold()))


def _code_columns(table, cols: dict[str, int], keys: list[str]) -> list[int]:
    """Codes applied as columns (Dedoose: one column per code, 1/0 or True/False or a weight)."""
    from .tables import header_key

    used = set(cols.values())
    out = []
    for i, h in enumerate(table.header):
        k = header_key(h)
        # a word of the header names a number ('Participant age', 'Word count'; not 'Management')
        if i in used or not k or any(w.removesuffix("s") in _NOT_CODE_WORDS or w.endswith(_NOT_CODE_ENDINGS)
                                     for w in k.split("_")):
            continue
        vals = {r[1][i].strip().lower() for r in table.rows if i < len(r[1])}
        if vals and vals <= (_TRUE | _FALSE | {v for v in vals if re.fullmatch(r"\d+(?:\.\d+)?", v)}) \
                and vals - _FALSE:
            out.append(i)
    return out


def read_coded_segments(path: str | os.PathLike, corpus: Corpus | None = None, *,
                        default_coder: str = DEFAULT_CODER, codebook=None) -> list[CodedSegment]:
    """Read coded segments from a table (CSV/TSV, Excel ``.xlsx``), one :class:`CodedSegment`
    per (segment, code).

    Columns (case, spaces and punctuation ignored; first match wins): the transcript
    (``transcript_id``, ``transcript``, ``document``, ``document name``, ``file``, ``media title``;
    a file name such as ``P2.txt``, a path ``Files\\P2`` or ATLAS.ti's ``D2: P2.docx`` is matched to
    transcript ``P2``, ignoring case), ``start``/``end`` (or ``begin``/``end``, or a ``range``
    ``12-80``: character offsets into the transcript text), the code (``code``, ``codes``,
    ``tags``, ``node``: several codes in a cell one a line or joined by ``;`` or ``|``, or by ``,``
    in a plural column; Dedoose's one column per code with 1/0 or True/False is read too),
    ``coder`` (``author``, ``created by``, ``excerpt creator``; default ``default_coder``), the
    quote (``text``, ``quote``, ``segment``, ``content``, ``quotation content``, ``excerpt
    copy``, ``coded text``) and ``order`` (``coded_at``, ``timestamp``, ``date``, ``created``...,
    kept as given). Title rows above the header are skipped. NVivo's coded-reference reports
    (``.txt``/``.docx``, one per code: ``<Files\\P01> - § 2 references coded``, ``Reference 1 -
    2.10% Coverage``, the text) are read too, and ``path`` may be a folder of such files. A REFI-QDA
    project (``.qdpx``) gives its codings, placed on the corpus's transcripts. The serdif/Taguette export
    ``segment_id,transcript,participant,start,end,text,codes`` reads as is, and so do MAXQDA's
    retrieved segments, ATLAS.ti's quotation and Dedoose's excerpt exports.

    When ``start``/``end`` are empty, the quote is located in the transcript text (``corpus``
    needed): the first occurrence at or after the previous segment of the same transcript and
    coder (of the same code, when the rows are sorted by code), so a passage given two codes on two
    rows resolves to the same place, and one quote given the same code twice to two places; else the
    first. A quote found only when spacing, typographic quotes and dashes, an ellipsis or HTML markup are
    ignored, or across a speaker label the export left out, is used with a warning. Offsets that
    do not point at the row's quote (MAXQDA's paragraph numbers, another version of the file) are
    replaced by where the quote is, said in one summary line.

    With a ``corpus`` every segment is checked: known transcript, offsets within the text,
    and ``text`` equal to ``transcript[start:end]`` (whitespace-only differences warn). The
    segment's ``text`` is then always the transcript's own text. With a ``codebook``, code
    names are matched to it ignoring case and spacing, paths and numbers (see
    :func:`code_matcher`), said in one line. Errors are :class:`InputError` naming the file and
    line. Rows without a code are skipped with a warning.
    """
    from .tables import header_key

    path = Path(path)
    if path.is_dir():  # a folder of exports (NVivo writes one reference report per code)
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))
                       and p.suffix.lower() in (".csv", ".tsv", ".xlsx", ".txt", ".docx"))
        if not files:
            raise InputError(path, "no coded-segment files (.csv, .tsv, .xlsx, or NVivo reference reports "
                             ".txt/.docx) in this folder")
        return [s for f in files for s in read_coded_segments(f, corpus, default_coder=default_coder,
                                                             codebook=codebook)]
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.suffix.lower() == ".qdpx":
        return _project_segments(path, corpus, codebook)
    from .nvivo_refs import is_reference_report, reference_table

    table = reference_table(path) if is_reference_report(path) else _records(path)
    where, header = table.where, table.header
    lower = [header_key(h) for h in header]
    cols: dict[str, int] = {}
    for key, guesses in _COLUMNS.items():
        for g in guesses:
            if g in lower and lower.index(g) not in cols.values():
                cols[key] = lower.index(g)
                break
    if "range" in cols and ("start" in cols or "end" in cols):
        cols.pop("range")
    wide = _code_columns(table, cols, lower) if "code" not in cols and "transcript_id" in cols else []
    missing = [k for k in ("transcript_id", "code") if k not in cols and not (k == "code" and wide)]
    if missing:
        raise InputError(where, f"no {' or '.join(missing)} column; expected columns transcript_id, start, "
                         f"end, code, coder, quote (found: {', '.join(header)})", line=table.header_line)
    has_offsets = ("start" in cols and "end" in cols) or "range" in cols
    if not has_offsets and "text" not in cols:
        raise InputError(where, "give start and end offsets, or a quote column with the exact coded text "
                         f"(found: {', '.join(header)})", line=table.header_line)
    multi = "code" in cols and lower[cols["code"]] in _MULTI_CODE_COLUMNS
    match = code_matcher(codebook) if codebook is not None else None
    resolve_tid = _transcript_resolver(where, corpus)
    spaced: list[tuple[int, str, int, int]] = []  # lines whose quote differs from the transcript in whitespace only
    relocated: list[int] = []
    loose: dict[str, list[tuple[int, str]]] = {}  # how a quote was found -> (line, transcript)
    uncoded: list[int] = []
    repeated: list[int] = []  # quotes without offsets that occur more than once
    renamed: Counter = Counter()
    # where the coder's previous quote was, to place a quote that occurs more than once: rows
    # sorted by code (MAXQDA, ATLAS.ti, NVivo) are in transcript order within each code only
    code_cells = [r[1][cols["code"]].strip() if "code" in cols and cols["code"] < len(r[1]) else ""
                  for r in table.rows]
    runs = [c for n, c in enumerate(code_cells) if c and (n == 0 or c != code_cells[n - 1])]
    by_code = len(set(runs)) > 1 and len(runs) == len(set(runs))
    last_start: dict[tuple, int] = {}
    taken: set[tuple[str, str, str, int]] = set()  # (transcript, coder, code, start) placed so far
    out: list[CodedSegment] = []

    for (line, row, _), code_cell in zip(table.rows, code_cells):
        def get(key: str) -> str:
            i = cols.get(key)
            return row[i] if i is not None and i < len(row) else ""

        raw_tid = get("transcript_id").strip()
        if not raw_tid:
            raise InputError(where, "empty transcript id", line=line)
        tid = resolve_tid(raw_tid, line)
        if wide:
            codes = [header[i].strip() for i in wide if row[i].strip().lower() not in _FALSE]
        else:
            codes = split_codes(get("code"), multi, match)
        if match is not None:
            for n, c in enumerate(codes):
                m = match(c)
                if m is not None and m != c:
                    renamed[(c, m)] += 1
                    codes[n] = m
        codes = list(dict.fromkeys(c for c in codes if c))
        if not codes:
            uncoded.append(line)
            continue
        coder = get("coder").strip() or default_coder
        place = (tid, coder, code_cell) if by_code else (tid, coder)
        given_text = get("text") if "text" in cols else ""
        if "range" in cols:
            rng = get("range").strip()
            m = _RANGE.fullmatch(rng)
            if rng and m is None:
                raise InputError(where, f"range {rng!r} is not two character offsets such as '120-245'",
                                 line=line)
            s_raw, e_raw = (m.group(1), m.group(2)) if m else ("", "")
        else:
            s_raw, e_raw = get("start").strip(), get("end").strip()
        transcript = corpus.transcripts[tid].text if corpus is not None else None
        quote = plain_quote(given_text).strip()
        start = end = None
        if s_raw and e_raw:
            start, end = _int(s_raw, "start", where, line), _int(e_raw, "end", where, line)
            bad = None
            if start >= end:
                bad = f"start {start} is not before end {end}"
            elif start < 0:
                bad = f"start {start} is negative"
            elif transcript is not None and end > len(transcript):
                bad = (f"offsets {start}-{end} are beyond the end of transcript {tid!r} ({len(transcript)} "
                       "characters); were they computed on another version of the file?")
            elif transcript is not None and given_text and given_text != transcript[start:end]:
                actual = transcript[start:end]
                if _squash(given_text) == _squash(actual):
                    spaced.append((line, tid, start, end))
                else:
                    bad = (f"text {_short(given_text)} does not match transcript {tid!r} [{start}:{end}] "
                           f"which reads {_short(actual)}; fix the offsets or the text")
            if bad is not None:
                # offsets a little off (another version of the file) still say which occurrence;
                # paragraph numbers (MAXQDA) span no quote's length, so they say nothing
                near = start if 0.5 * len(quote) <= end - start <= 2 * len(quote) else None
                found = (find_quote(transcript, quote, last_start.get(place, 0), near)
                         if transcript is not None and quote else None)
                if found is None:
                    raise InputError(where, bad, line=line)
                start, end, how = found
                relocated.append(line)
                if how != "exact":
                    loose.setdefault(how, []).append((line, tid))
        elif s_raw or e_raw:
            raise InputError(where, "give both start and end, or neither (then the quote is located "
                             "in the transcript)", line=line)
        else:
            if not quote:
                raise InputError(where, "no start/end offsets and no quote: give one or the other", line=line)
            if transcript is None:
                raise InputError(where, "no start/end offsets: pass the transcripts (corpus) so the quote "
                                 "can be located", line=line)
            found = find_quote(transcript, quote, last_start.get(place, 0))
            if found is not None and all((tid, coder, c, found[0]) in taken for c in codes):
                again = find_quote(transcript, quote, found[0] + 1)  # the same code twice: the next one
                if again is not None and again[0] > found[0]:
                    found = again
            if found is None:
                raise InputError(where, f"quote {_short(quote)} not found in transcript {tid!r}; it must be "
                                 "copied exactly from the transcript text", line=line)
            start, end, how = found
            if how != "exact":
                loose.setdefault(how, []).append((line, tid))
            elif transcript.find(quote, transcript.find(quote) + 1) >= 0:
                repeated.append(line)
        text = transcript[start:end] if transcript is not None else (given_text or None)
        order = _order(get("order")) if "order" in cols else None
        last_start[place] = start
        taken.update((tid, coder, c, start) for c in codes)
        out.extend(CodedSegment(tid, start, end, code, coder, text, order) for code in codes)

    for how, rows in loose.items():  # one line per kind, not one per row
        if len(rows) == 1:
            log.warning("%s, line %d: quote found in transcript %r only when ignoring %s", where, rows[0][0],
                        rows[0][1], how)
        else:
            log.warning("%s: %d quotes found in their transcript only when ignoring %s (lines %s)", where,
                        len(rows), how, _lines(r[0] for r in rows))
    if relocated:
        names = "range" if "range" in cols else f"{header[cols['start']]!r}/{header[cols['end']]!r}"
        log.warning("%s: in %d rows (%s) the offsets in %s do not point at the row's quote (paragraph "
                    "numbers, as MAXQDA writes, or another version of the transcript); the quote was located in "
                    "the transcript instead", where, len(relocated),
                    ("line " if len(relocated) == 1 else "lines ") + _lines(relocated), names)
    if repeated:
        log.warning("%s: %d quote%s more than once in %s transcript and %s no offsets (line%s %s); placed at "
                    "the first occurrence after the coder's previous quote — give start/end to place "
                    "%s", where, len(repeated), *(("s occur", "their", "have", "s", _lines(repeated), "them")
                                                   if len(repeated) > 1 else
                                                   (" occurs", "its", "has", "", _lines(repeated), "it")))
    if resolve_tid.loose:
        shown = ", ".join(f"{a!r} -> {b!r}" for a, b in list(resolve_tid.loose.items())[:5])
        more = f" and {len(resolve_tid.loose) - 5} more" if len(resolve_tid.loose) > 5 else ""
        log.warning("%s: %d document names matched to transcripts ignoring case, spacing, punctuation and "
                    "leading zeros: %s%s", where, len(resolve_tid.loose), shown, more)
    if renamed:
        shown = ", ".join(f"{a!r} -> {b!r}" for (a, b), _ in renamed.most_common(5))
        more = f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""
        log.warning("%s: %d code names matched to the codebook ignoring case, spacing, path or number: %s%s",
                    where, len(renamed), shown, more)
    if wide:
        log.info("%s: codes read from %d columns of 1/0 or true/false (one column per code): %s", where,
                 len(wide), ", ".join(header[i] for i in wide))
    if len(uncoded) == 1:
        log.warning("%s, line %d: no code; row skipped", where, uncoded[0])
    elif uncoded:
        log.warning("%s: %d rows without a code skipped (lines %s)", where, len(uncoded), _lines(uncoded))
    if len(spaced) == 1:
        log.warning("%s, line %d: text differs from transcript %r [%d:%d] in whitespace only", where, *spaced[0])
    elif spaced:
        log.warning("%s: %d quotes differ from their transcript in whitespace only (lines %s); the transcript's "
                    "text is used", where, len(spaced), _lines(s[0] for s in spaced))
    if not out:
        raise InputError(where, "no coded segments in the file")
    return out


def _lines(lines: Iterable[int], n: int = 5) -> str:
    lines = list(lines)
    return ", ".join(map(str, lines[:n])) + (", ..." if len(lines) > n else "")


def _project_segments(path: Path, corpus: Corpus | None, codebook) -> list[CodedSegment]:
    """The codings of a REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, QualCoder...) placed on the
    study's transcripts: a source matched to its transcript by name, a coding kept where the
    transcript reads the same text, else its text located there (the program's copy of a
    transcript can differ in line ends, spacing or typography)."""
    from .refi_import import import_qdpx

    from .refi_common import SUGGESTION_USER

    project = import_qdpx(path)
    # a project themekit wrote (project.qdpx), coded on and read back: its user 'themekit' holds
    # the machine's suggestions (a human coder cannot have that name there)
    segments = [s for s in project.segments if s.coder != SUGGESTION_USER]
    if len(segments) < len(project.segments):
        log.warning("%s: %d codings by %r are themekit's suggestions (a project it wrote), not human "
                    "coding; left out", path, len(project.segments) - len(segments), SUGGESTION_USER)
    if corpus is None:
        return segments
    resolve = _transcript_resolver(path, corpus)
    match = code_matcher(codebook) if codebook is not None else None
    out, moved, loose = [], 0, 0
    for seg in segments:
        tid = resolve(seg.transcript_id, None)
        text = corpus.transcripts[tid].text
        code = (match(seg.code) or seg.code) if match is not None else seg.code
        if text[seg.start:seg.end] == seg.text:
            out.append(replace(seg, transcript_id=tid, code=code))
            continue
        found = find_quote(text, seg.text or "", seg.start, near=seg.start)
        if found is None:
            raise InputError(path, f"coding of {seg.code!r} in source {seg.transcript_id!r} reads "
                             f"{_short(seg.text or '')}, which is not in transcript {tid!r}; is the transcript "
                             "the same interview as the project's source?")
        moved += 1
        loose += found[2] != "exact"
        out.append(replace(seg, transcript_id=tid, code=code, start=found[0], end=found[1],
                           text=text[found[0]:found[1]]))
    if moved:
        log.warning("%s: %d codings placed on the transcripts by their text (the project's copy of the "
                    "transcripts differs%s)", path, moved, f"; {loose} only when ignoring spacing or typography"
                    if loose else "")
    return out


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
