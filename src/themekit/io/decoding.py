"""Bytes to text for every reader of files (transcripts, codebooks, metadata): UTF-8 with or
without BOM, UTF-16 with BOM, else Windows-1252, newlines made ``\\n``; and CSV text to records
that keep the file's line numbers, for error messages."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from ..types import InputError

__all__ = ["decode_bytes", "csv_records"]


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
