"""Word ``.docx`` transcripts: paragraphs as lines (tracked changes as Word shows them,
content controls, hyperlinks), tables of ``speaker | text`` rows or with a header row naming the
columns (NVivo's ``Timespan | Content | Speaker``); then read as plain text. Without labels,
questions set in bold or italics are the interviewer's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from ..types import InputError, Transcript
from .lines import _FULL_LINE_DIRECTION, _TS
from .plain_text import _parse_labelled
from .tables import _COLUMN_GUESSES
from .turns import ReaderOptions, Turn, resolve_alone

__all__ = ["read_docx", "open_docx"]


def open_docx(path: Path):
    """The python-docx Document of a Word file (transcript, codebook or coding report), or an
    InputError naming the file and what to do."""
    try:
        import docx  # python-docx
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise InputError(path, "reading .docx needs python-docx: pip install python-docx") from e
    try:
        return docx.Document(str(path))
    except Exception as e:  # python-docx raises many kinds for a damaged package
        raise InputError(path, f"not a readable Word .docx file ({e.__class__.__name__}); "
                         "open it in Word and save it again as .docx") from None


def read_docx(path: Path, options: ReaderOptions, transcript_id: str | None = None, *,
              resolve: bool = True) -> tuple[Transcript, list[Turn]]:
    """Word transcript: paragraphs as lines (tables of speaker | text rows too), then as plain text."""

    from docx.table import Table as DocxTable

    document = open_docx(path)
    lines: list[str] = []
    bold: set[int] = set()   # entries of ``lines`` that are paragraphs wholly in bold or italics
    for block in _docx_blocks(document.element.body):
        if block.tag == _W + "p":
            if _docx_emphasised(block):
                bold.add(len(lines))
            lines.append(_docx_text(block))
            continue
        table = DocxTable(block, document)
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
    seven tenths of the lines are emphasised, most of those ask something, and most of the lines
    that ask are emphasised (bold quotes in plain answers are highlights, not the questions)."""
    lines = text.split("\n")
    nonblank = [i for i, s in enumerate(lines) if s.strip()]
    marked = [i for i in nonblank if i in emphasised and not _FULL_LINE_DIRECTION.match(lines[i])]
    if not (0.1 * len(nonblank) <= len(marked) <= 0.7 * len(nonblank)):
        return set()
    if sum("?" in lines[i] for i in marked) < 0.6 * len(marked):
        return set()
    if sum("?" in lines[i] for i in marked) < 0.5 * sum("?" in lines[i] for i in nonblank):
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
