"""Files → Transcripts with speaker turns: one reader per kind of file, chosen here.

Each reader returns a :class:`Transcript` (one string) and its :class:`Turn` spans (offsets
into that string). Segmentation into utterances happens in :mod:`themekit.io.segment`.

The readers, by kind of input: :mod:`~themekit.io.plain_text` (labelled or unlabelled text),
:mod:`~themekit.io.subtitles` (WebVTT/SRT), :mod:`~themekit.io.word` (``.docx``),
:mod:`~themekit.io.tables` (CSV/TSV/JSONL/JSON); what they share: :mod:`~themekit.io.turns`
(Turn, ReaderOptions), :mod:`~themekit.io.decoding` (encodings, CSV records),
:mod:`~themekit.io.lines` and :mod:`~themekit.io.labels` (time lines, headers, speaker labels).
Every public name of those modules is importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..types import InputError, Transcript
from .decoding import csv_records, decode_bytes
from .plain_text import parse_labelled_text, parse_turns, read_text_file
from .subtitles import read_subtitles
from .tables import read_table
from .turns import ReaderOptions, Turn, guess_role, resolve_alone, role_settings
from .word import read_docx

__all__ = [
    "Turn", "ReaderOptions", "decode_bytes", "read_text_file", "parse_labelled_text",
    "read_subtitles", "read_docx", "read_table", "read_file", "TEXT_EXTENSIONS",
    "SUBTITLE_EXTENSIONS", "TABLE_EXTENSIONS", "SUPPORTED_EXTENSIONS", "guess_role", "parse_turns",
    "role_settings", "resolve_alone", "csv_records", "iter_transcript_files",
]

TEXT_EXTENSIONS = (".txt", ".text", ".md")
SUBTITLE_EXTENSIONS = (".vtt", ".srt")
TABLE_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS + SUBTITLE_EXTENSIONS + (".docx",) + TABLE_EXTENSIONS


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
