"""Tables that codebooks and coding exports come as: CSV/TSV, Excel (``.xlsx``), a table in a Word
file (``.docx``) or a Markdown pipe table (``.md``), read as one header and its rows.

CAQDAS programs and teams write title lines above the header (``Code System``, a project name),
so the header is the first of the first few non-blank rows that the caller recognises; in a
workbook or Word file, the first sheet or table that has one. Each cell keeps its indentation
(leading spaces, or Excel's indent) since nested codes are often shown only that way.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..types import InputError

__all__ = ["Table", "TABLE_EXTENSIONS", "read_table", "header_key"]

TABLE_EXTENSIONS = (".csv", ".tsv", ".xlsx", ".docx", ".md")
_HEADER_SCAN = 10  # rows looked at for the header


def header_key(h: str) -> str:
    """``'Inclusion criteria'``, ``'Sub-theme'``, ``'Code name:'`` -> ``inclusion_criteria``,
    ``sub_theme``, ``code_name``."""
    return re.sub(r"[^0-9a-z]+", "_", str(h).strip().lower()).strip("_")


@dataclass
class Table:
    """``rows``: ``(line, cells, indents)`` — the line (row number in a sheet) where the row starts,
    its cells as text, and each cell's indent width (leading spaces; Excel's indent counts 4)."""

    header: list[str]
    rows: list[tuple[int, list[str], list[int]]]
    where: str  # the file, and its sheet or table when there are several
    header_line: int = 1


def _cell_text(v) -> str:
    import datetime

    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    return str(v)


def _indent(s: str) -> int:
    s = s.replace("\t", "    ").replace("\u00a0", " ")
    return len(s) - len(s.lstrip(" "))


def _grids(path: Path) -> list[tuple[str, list[tuple[int, list[str], list[int]]]]]:
    """(where, rows) for each sheet/table of the file, rows with their lines and indents."""
    ext = path.suffix.lower()
    if ext in (".xls", ".ods", ".numbers"):
        raise InputError(path, f"{ext} workbooks are not read; save the sheet as .xlsx or .csv")
    if ext in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, data_only=True)
        except Exception as e:  # zip/XML errors of a broken or mislabelled file
            raise InputError(path, f"cannot read this Excel file ({type(e).__name__}: {e}); save it again "
                             "as .xlsx or export the sheet as CSV") from None
        out = []
        for ws in wb.worksheets:
            rows = []
            for r in ws.iter_rows():
                cells = [_cell_text(c.value) for c in r]
                indents = [int(getattr(c.alignment, "indent", 0) or 0) if c.value is not None else 0 for c in r]
                rows.append((r[0].row if r else 0, cells, [4 * i + _indent(t) for i, t in zip(indents, cells)]))
            where = f"{path}, sheet {ws.title!r}" if len(wb.worksheets) > 1 else str(path)
            out.append((where, rows))
        return out
    if ext == ".docx":
        from ..io.word import open_docx

        doc = open_docx(path)
        out = []
        for n, t in enumerate(doc.tables, start=1):
            rows = []
            for i, r in enumerate(t.rows, start=1):
                cells = [c.text for c in r.cells]
                rows.append((i, cells, [_indent(c) for c in cells]))
            out.append((f"{path}, table {n}" if len(doc.tables) > 1 else str(path), rows))
        return out
    from ..io.readers import csv_records, decode_bytes

    text = decode_bytes(path.read_bytes(), path)
    if ext == ".md":
        rows = []
        for i, ln in enumerate(text.split("\n"), start=1):
            s = ln.strip()
            if not s.startswith("|"):
                continue
            cells = [c.replace("\\|", "|") for c in re.split(r"(?<!\\)\|", s.strip("|"))]
            if all(re.fullmatch(r"\s*:?-{2,}:?\s*", c) for c in cells):
                continue  # the |---|---| line under the header
            cells = [re.sub(r"<br\s*/?>", "\n", c, flags=re.I) for c in cells]
            rows.append((i, [c.strip() for c in cells], [_indent(c) for c in cells]))
        return [(str(path), rows)]
    header, records = csv_records(text, path, dialect=_dialect(text, ext))
    rows = [(1, header, [_indent(c) for c in header])]
    rows += [(line, cells, [_indent(c) for c in cells]) for line, cells in records]
    return [(str(path), rows)]


class _Semicolon(csv.excel):
    delimiter = ";"


def _dialect(text: str, ext: str):
    """Tab for .tsv; for .csv the separator of the first line outside quotes: ',' or, as Excel
    writes CSV where the decimal mark is a comma, ';' (or a tab in a mislabelled export)."""
    if ext == ".tsv":
        return "excel-tab"
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    outside = re.sub(r'"[^"]*"', "", first)
    counts = {sep: outside.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda k: counts[k])
    if counts[best] == 0 or counts[best] == counts[","]:
        return "excel"
    return _Semicolon if best == ";" else "excel-tab"


def read_table(path: Path, is_header: Callable[[list[str]], bool], what: str) -> Table:
    """The first table of ``path`` with a row that ``is_header`` accepts among its first rows.

    Raises :class:`InputError` naming the file when none has one (``what`` says what was looked
    for, e.g. ``"a code column ('Code', 'Name')"``)."""
    grids = _grids(path)
    first_header = None
    for where, rows in grids:
        rows = [r for r in rows if any(c.strip() for c in r[1])]
        for k, (line, cells, _) in enumerate(rows[:_HEADER_SCAN]):
            if first_header is None:
                first_header = (where, line, cells)
            if is_header(cells):
                width = len(cells)
                body = [(ln, (c + [""] * width)[:max(width, len(c))], (ind + [0] * width)[:max(width, len(ind))])
                        for ln, c, ind in rows[k + 1:]]
                return Table([c.strip() for c in cells], body, where, line)
    if first_header is None:
        raise InputError(path, "the file has no table" if path.suffix.lower() in (".docx", ".md")
                         else "the file is empty")
    where, line, cells = first_header
    shown = ", ".join(c.strip() for c in cells if c.strip())
    raise InputError(where, f"no {what} (first row: {shown})", line=line)
