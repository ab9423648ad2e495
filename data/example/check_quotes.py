"""Check that every quote in coded_segments.csv occurs verbatim in its transcript.

Run from anywhere:  python data/example/check_quotes.py
(reading P08.docx needs python-docx; without it P08 is skipped with a warning)

A quote must lie inside ONE participant unit of its transcript:
  .txt   one line of a participant turn (UTF-8 with or without BOM; cp1252 as fallback),
         after the speaker label; CRLF is normalised to LF
  .vtt   one cue's text with <v Name>...</v> tags or a leading "Name: " removed
  .srt   one cue's text with a leading "Name: " removed
  .docx  one paragraph's text after the "Name: " label
It also checks that every code used is defined in codebook.csv and that every
transcript_id in coded_segments.csv and metadata.csv has a transcript file.
"""
from __future__ import annotations

import csv
import re
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRANSCRIPTS = HERE / "transcripts"
INTERVIEWER = {"interviewer", "i"}

INLINE = re.compile(r"^(?:\[\d{2}:\d{2}:\d{2}\]\s*)?([A-Za-z][A-Za-z0-9]{0,15}):\s+(.*)$")
OWN_LINE = re.compile(r"^(INTERVIEWER|P\d{2})$")
TIMING = re.compile(r"^\d{2}:\d{2}:\d{2}[.,]\d{3} --> \d{2}:\d{2}:\d{2}[.,]\d{3}")
VOICE = re.compile(r"^<v ([^>]+)>(.*?)(?:</v>)?$")


def decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return text.replace("\r\n", "\n")


def units_txt(path: Path) -> list[tuple[str, str]]:
    units, speaker = [], None
    for line in decode(path.read_bytes()).split("\n"):
        line = line.strip()
        if not line:
            continue
        if OWN_LINE.match(line):
            speaker = line
            continue
        m = INLINE.match(line)
        if m:
            speaker, line = m.group(1), m.group(2)
        units.append((speaker, line))
    return units


def units_cues(path: Path) -> list[tuple[str, str]]:
    units = []
    blocks = re.split(r"\n\s*\n", decode(path.read_bytes()).strip())
    for block in blocks:
        lines = block.split("\n")
        for i, line in enumerate(lines):
            if TIMING.match(line):
                text = " ".join(lines[i + 1:]).strip()
                m = VOICE.match(text)
                if m:
                    units.append((m.group(1), m.group(2)))
                else:
                    m = INLINE.match(text)
                    units.append((m.group(1), m.group(2)) if m else (None, text))
                break
    return units


def units_docx(path: Path) -> list[tuple[str, str]]:
    from docx import Document  # python-docx

    units = []
    for p in Document(str(path)).paragraphs:
        m = INLINE.match(p.text)
        if m:
            units.append((m.group(1), m.group(2)))
    return units


def load_units(tid: str) -> list[tuple[str, str]] | None:
    for ext, reader in ((".txt", units_txt), (".vtt", units_cues), (".srt", units_cues), (".docx", units_docx)):
        path = TRANSCRIPTS / f"{tid}{ext}"
        if path.exists():
            try:
                return reader(path)
            except ImportError:
                print(f"warning: python-docx not installed, skipping {path.name}")
                return None
    raise FileNotFoundError(f"no transcript for {tid}")


def main() -> int:
    codes = {r["code"] for r in csv.DictReader(open(HERE / "codebook.csv", encoding="utf-8"))}
    meta = list(csv.DictReader(open(HERE / "metadata.csv", encoding="utf-8")))
    segments = list(csv.DictReader(open(HERE / "coded_segments.csv", encoding="utf-8")))
    problems = 0
    cache: dict[str, list[tuple[str, str]] | None] = {}
    for row in meta:
        cache[row["transcript_id"]] = load_units(row["transcript_id"])
    for n, row in enumerate(segments, start=2):
        tid, quote = row["transcript_id"], row["quote"]
        if row["code"] not in codes:
            print(f"line {n}: code {row['code']!r} not in codebook.csv"); problems += 1
        datetime.fromisoformat(row["coded_at"])
        if tid not in cache:
            cache[tid] = load_units(tid)
        units = cache[tid]
        if units is None:
            continue
        hits = [s for s, text in units if quote in text]
        if not hits:
            print(f"line {n}: quote not found in {tid}: {quote[:70]!r}"); problems += 1
        elif all((s or "").lower() in INTERVIEWER for s in hits):
            print(f"line {n}: quote only in interviewer speech in {tid}: {quote[:70]!r}"); problems += 1
    print(f"{len(segments)} coded segments, {len(codes)} codes, {len(meta)} transcripts: "
          f"{'OK' if not problems else f'{problems} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
