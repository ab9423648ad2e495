"""NVivo's coded-reference reports: a code's coding exported as text or Word (one file per code)::

    Name: Codes\\\\Barriers\\Access                     (optional; else the file name is the code)

    <Files\\\\P01> - § 2 references coded  [4.52% Coverage]

    Reference 1 - 2.10% Coverage

    I waited six weeks before anyone called.

    Reference 2 - 2.42% Coverage
    ...

read as a table (``Document``, ``Code``, ``Reference``, ``Coded Text``) that
:func:`themekit.codebook.coding.read_coded_segments` locates in the transcripts like any export
with quotes.
"""

from __future__ import annotations

import re
from pathlib import Path

from .tables import Table

__all__ = ["is_reference_report", "reference_table"]

_SOURCE = re.compile(r"^\s*<(?P<doc>[^<>]+)>\s*-\s*§\s*\d+\s+references?\s+coded", re.IGNORECASE)
_REFERENCE = re.compile(r"^\s*Reference\s+(?P<n>\d+)\s*-\s*[\d.,]+\s*%\s*Coverage\s*$", re.IGNORECASE)
_NAME = re.compile(r"^\s*(?:Name|Node|Code)\s*:\s*(?P<name>.+?)\s*$", re.IGNORECASE)


def _lines(path: Path) -> list[str]:
    if path.suffix.lower() == ".docx":
        from ..io.word import open_docx

        return [p.text for p in open_docx(path).paragraphs]
    from ..io.readers import decode_bytes

    return decode_bytes(path.read_bytes(), path).split("\n")


def is_reference_report(path: Path) -> bool:
    """Whether a .txt/.docx file is an NVivo coded-reference report."""
    if path.suffix.lower() not in (".txt", ".docx"):
        return False
    try:
        return any(_SOURCE.match(ln) for ln in _lines(path)[:200])
    except Exception:  # unreadable: the table reader says why
        return False


def reference_table(path: Path) -> Table:
    """The references of the report, one row each, with the line where each starts."""
    lines = _lines(path)
    code = path.stem
    doc = None
    rows: list[tuple[int, list[str], list[int]]] = []
    current: list[str] | None = None
    for n, ln in enumerate(lines, start=1):
        m = _NAME.match(ln)
        if m and doc is None and not rows:
            code = m.group("name")
            continue
        m = _SOURCE.match(ln)
        if m:
            doc, current = m.group("doc"), None
            continue
        m = _REFERENCE.match(ln)
        if m and doc is not None:
            current = [doc, code, m.group("n"), ""]
            rows.append((n, current, [0, 0, 0, 0]))
            continue
        if current is not None and ln.strip():
            current[3] = (current[3] + "\n" + ln.strip()) if current[3] else ln.strip()
    return Table(["Document", "Code", "Reference", "Coded Text"], rows, str(path))
