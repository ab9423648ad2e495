"""Framework analysis: chart coded data into matrices.

After indexing every transcript against the thematic framework, the data are *charted*: one
table per theme (each top-level code of the codebook), one row per participant, one column per
subtheme (the theme's child codes; codes deeper down roll up into their subtheme's column), each
cell the supporting quotes with their transcript and position, ``“quote” (P03, 1204–1290)``.

:func:`framework_matrix` builds the tables from human :class:`~themekit.codebook.coding.CodedSegment`
objects or from themekit's suggested codings (a table with utterance ids or offsets);
:func:`export_framework_excel` writes them as a workbook — a ``Summary`` sheet (quotes per
participant and theme; how many participants voice each code, the spread) and a sheet per theme.
Rows list every participant of the corpus, also those with nothing coded: an empty cell is a
finding too.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..codebook import Codebook
from ..codebook.coding import CodedSegment
from ..common.tables import is_missing, record_span
from ..io.load import PARTICIPANT_COLUMNS, participant_column
from ..types import Corpus, atomic_write

__all__ = ["Quote", "FrameworkMatrix", "framework_matrix", "export_framework_excel",
           "participant_column", "row_labels", "PARTICIPANT_COLUMNS"]

log = logging.getLogger("themekit")

_EXCEL_CELL_LIMIT = 32767
_SHEET_INVALID = re.compile(r"[\[\]:*?/\\]")
_RESERVED_SHEETS = ("summary", "history")


def row_labels(corpus: Corpus, by: str = "participant") -> dict[str, str]:
    """Transcript id → row label of the framework matrix.

    ``by="participant"``: the participant column of the metadata (see :func:`participant_column`),
    the transcript id where it is absent or empty; ``"transcript"``: the transcript id; any other
    value names a metadata column (``"site"``, ``"role"``) — rows are then groups, and a
    transcript without a value is ``"(missing)"``.
    """
    meta = corpus.metadata
    if by == "transcript":
        col = None
    elif by == "participant":
        col = participant_column(meta)
    elif by in meta.columns:
        col = by
    else:
        raise ValueError(f"by must be 'participant', 'transcript' or a metadata column "
                         f"({', '.join(map(str, meta.columns)) or 'none'}), got {by!r}")
    out = {}
    for tid in corpus.transcripts:
        v = meta.at[tid, col] if col is not None and tid in meta.index else None
        if is_missing(v):
            out[tid] = "(missing)" if by not in ("participant", "transcript") else tid
        else:
            out[tid] = str(v).strip()
    return out


@dataclass(frozen=True)
class Quote:
    """A coded extract in a framework cell: ``transcript.text[start:end] == text``."""

    transcript_id: str
    start: int
    end: int
    text: str
    codes: tuple[str, ...]
    coders: tuple[str, ...] = ()
    score: float | None = None

    def format(self, column: str | None = None) -> str:
        """``“text” (P03, 1204–1290)``; the codes are added when they differ from ``column``."""
        where = f"{self.transcript_id}, {self.start}–{self.end}"
        if column is not None and self.codes != (column,):
            where += "; " + ", ".join(self.codes)
        return f"“{self.text}” ({where})"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class FrameworkMatrix:
    """Charted data: ``tables[theme]`` is a DataFrame (rows: participants, columns: subthemes)
    whose cells are tuples of :class:`Quote` in transcript order.

    ``matrix[theme]`` gives the same table as cell text; ``counts(theme)`` the number of
    quotes per cell; ``summary()`` quotes per row and theme; ``spread()`` how many rows
    (participants) voice each subtheme. ``attributes`` holds the requested metadata columns per row.
    """

    tables: Mapping[str, pd.DataFrame]
    by: str = "participant"
    attributes: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def themes(self) -> tuple[str, ...]:
        return tuple(self.tables)

    @property
    def rows(self) -> tuple[str, ...]:
        first = next(iter(self.tables.values()), None)
        return () if first is None else tuple(first.index)

    def __getitem__(self, theme: str) -> pd.DataFrame:
        return self.text(theme)

    def __repr__(self) -> str:
        return f"FrameworkMatrix({len(self.tables)} themes, {len(self.rows)} rows by {self.by})"

    def text(self, theme: str, sep: str = "\n\n") -> pd.DataFrame:
        """Cells as text: the quotes, ``sep``-joined (``""`` for an empty cell)."""
        table = self.tables[theme]
        return pd.DataFrame({col: [sep.join(q.format(col) for q in cell) for cell in table[col]]
                             for col in table.columns}, index=table.index, columns=table.columns)

    def counts(self, theme: str) -> pd.DataFrame:
        """Number of quotes per cell."""
        table = self.tables[theme]
        return table.apply(lambda s: s.map(len)).astype("int64")

    def summary(self) -> pd.DataFrame:
        """Rows × themes: distinct coded extracts per row under each theme."""
        data = {}
        for theme, table in self.tables.items():
            data[theme] = [len({(q.transcript_id, q.start, q.end) for cell in row for q in cell})
                           for row in table.itertuples(index=False)]
        return pd.DataFrame(data, index=pd.Index(self.rows, name=self.by), columns=list(self.tables),
                            dtype="int64")

    def spread(self) -> pd.DataFrame:
        """One line per theme column: how many rows (participants) voice it and who.

        Columns ``theme, code, participants, share, quotes, who`` (``share`` of all rows).
        """
        n_rows = len(self.rows)
        out = []
        for theme, table in self.tables.items():
            for col in table.columns:
                who = [r for r, cell in table[col].items() if cell]
                out.append({"theme": theme, "code": col, "participants": len(who),
                            "share": (len(who) / n_rows) if n_rows else 0.0,
                            "quotes": int(sum(len(cell) for cell in table[col])), "who": ", ".join(who)})
        return pd.DataFrame(out, columns=["theme", "code", "participants", "share", "quotes", "who"]).astype(
            {"participants": "int64", "quotes": "int64", "share": "float64"})


def _records(coded: Any, corpus: Corpus) -> list[dict]:
    """Coded units as dicts with transcript_id, start, end, code, coder, score."""
    if isinstance(coded, pd.DataFrame):
        df = coded
        if "code" not in df.columns and "codes" in df.columns:
            df = df.explode("codes").rename(columns={"codes": "code"})
        if "code" not in df.columns:
            raise ValueError("coded units need a 'code' (or 'codes') column "
                             f"(found: {', '.join(map(str, df.columns))})")
        if not ({"transcript_id", "start", "end"} <= set(df.columns) or "utterance_id" in df.columns):
            raise ValueError("coded units need transcript_id/start/end or utterance_id columns")
        out = []
        for rec in df.to_dict("records"):
            if is_missing(rec.get("code")):
                continue
            tid, s, e = record_span(rec, corpus, "coded unit")
            score = rec.get("score")
            out.append({"transcript_id": tid, "start": s, "end": e, "code": str(rec["code"]),
                        "coder": None if is_missing(rec.get("coder")) else str(rec["coder"]),
                        "score": None if is_missing(score) else float(score)})
        return out
    out = []
    for seg in coded:
        if not isinstance(seg, CodedSegment):
            raise TypeError("coded must be CodedSegment objects or a DataFrame of coded units, "
                            f"got {type(seg).__name__}")
        out.append({"transcript_id": seg.transcript_id, "start": seg.start, "end": seg.end,
                    "code": seg.code, "coder": seg.coder, "score": None})
    return out


def framework_matrix(coded: Iterable[CodedSegment] | pd.DataFrame, corpus: Corpus, codebook: Codebook, *,
                     by: str = "participant", coders: str | Sequence[str] | None = None,
                     attributes: Sequence[str] = ()) -> FrameworkMatrix:
    """Chart coded units into one table per theme.

    Parameters
    ----------
    coded : human :class:`~themekit.codebook.coding.CodedSegment` objects, or a DataFrame of coded units
        with ``code`` (or a ``codes`` collection per row, as from
        :func:`~themekit.codebook.coding.align_to_utterances`) and ``transcript_id``/``start``/``end`` or
        ``utterance_id`` (themekit's suggestions), optionally ``coder`` and ``score``.
    corpus : the transcripts the offsets point into; gives the rows and the quote text.
    codebook : themes are its top-level codes, in codebook order; columns are each theme's child
        codes (deeper codes roll up into them; a quote's own code is then shown after its
        position). A theme without children is one column; a theme coded directly gets a column
        of its own, first.
    by : rows — ``"participant"`` (participant column of the metadata, else transcript id),
        ``"transcript"``, or a metadata column such as ``"site"``.
    coders : keep only these coders' units (default: all; one extract coded by several coders is
        one quote listing them).
    attributes : metadata columns to show beside each row (values of a row's transcripts joined
        by ``"; "``).

    Raises ``ValueError`` for a code that is not in the codebook or offsets outside a transcript.
    """
    labels = row_labels(corpus, by)
    rows = list(dict.fromkeys(labels.values()))
    records = _records(coded, corpus)
    if coders is not None:
        keep = {coders} if isinstance(coders, str) else set(coders)
        records = [r for r in records if r["coder"] in keep]
    unknown = sorted({r["code"] for r in records if r["code"] not in codebook})
    if unknown:
        hints = []
        for name in unknown[:5]:
            try:
                codebook.get(name)
            except KeyError as e:
                hints.append(str(e.args[0]))
        raise ValueError(f"codes not in the codebook: {', '.join(map(repr, unknown))}; "
                         + "; ".join(hints))

    # (theme, column, row) -> {(tid, start, end): [codes, coders, score]}
    cells: dict[tuple[str, str, str], dict[tuple[str, int, int], list]] = {}
    direct: set[str] = set()
    for r in records:
        tid = r["transcript_id"]
        t = corpus.transcripts.get(tid)
        if t is None:
            raise ValueError(f"coded unit refers to transcript {tid!r}, which is not in the corpus")
        if not 0 <= r["start"] < r["end"] <= len(t.text):
            raise ValueError(f"offsets {r['start']}-{r['end']} are outside transcript {tid!r} "
                             f"({len(t.text)} characters)")
        path = codebook.path(r["code"])
        theme, column = path[0], path[1] if len(path) > 1 else path[0]
        if len(path) == 1:
            direct.add(theme)
        cell = cells.setdefault((theme, column, labels[tid]), {})
        entry = cell.setdefault((tid, r["start"], r["end"]), [[], [], None])
        if r["code"] not in entry[0]:
            entry[0].append(r["code"])
        if r["coder"] is not None and r["coder"] not in entry[1]:
            entry[1].append(r["coder"])
        if r["score"] is not None:
            entry[2] = r["score"] if entry[2] is None else max(entry[2], r["score"])

    t_order = {tid: i for i, tid in enumerate(corpus.transcripts)}
    tables: dict[str, pd.DataFrame] = {}
    for theme in codebook.roots():
        kids = [c.name for c in codebook.children(theme.name)]
        columns = ([theme.name] if theme.name in direct or not kids else []) + kids
        data = {}
        for col in columns:
            col_cells = []
            for row in rows:
                found = cells.get((theme.name, col, row), {})
                spans = sorted(found, key=lambda k: (t_order[k[0]], k[1], k[2]))
                col_cells.append(tuple(
                    Quote(tid, s, e, corpus.transcripts[tid].text[s:e], tuple(found[(tid, s, e)][0]),
                          tuple(sorted(found[(tid, s, e)][1])), found[(tid, s, e)][2])
                    for tid, s, e in spans))
            data[col] = col_cells
        tables[theme.name] = pd.DataFrame(data, index=pd.Index(rows, name=by), columns=columns, dtype=object)

    meta = corpus.metadata
    attrs = {}
    for a in attributes:
        if a not in meta.columns:
            raise ValueError(f"attribute {a!r} is not a metadata column "
                             f"({', '.join(map(str, meta.columns)) or 'none'})")
        vals: dict[str, list[str]] = {row: [] for row in rows}
        for tid, row in labels.items():
            v = meta.at[tid, a] if tid in meta.index else None
            if not is_missing(v) and str(v) not in vals[row]:
                vals[row].append(str(v))
        attrs[a] = ["; ".join(vals[row]) for row in rows]
    attributes_df = pd.DataFrame(attrs, index=pd.Index(rows, name=by), columns=list(attributes), dtype=object)
    return FrameworkMatrix(tables, by, attributes_df)


# -- Excel --------------------------------------------------------------------------------------

def _sheet_names(themes: Sequence[str]) -> list[str]:
    """Valid, unique (case-insensitively) Excel sheet names of at most 31 characters."""
    used = set(_RESERVED_SHEETS)
    out = []
    for theme in themes:
        base = _SHEET_INVALID.sub("-", theme).strip().strip("'").strip() or "Theme"
        base = base[:31].rstrip()
        name, k = base, 2
        while name.lower() in used:
            suffix = f" ({k})"
            name = base[: 31 - len(suffix)].rstrip() + suffix
            k += 1
        used.add(name.lower())
        out.append(name)
    return out


def export_framework_excel(path: str | os.PathLike,
                           coded: FrameworkMatrix | Iterable[CodedSegment] | pd.DataFrame,
                           corpus: Corpus | None = None, codebook: Codebook | None = None, *,
                           by: str = "participant", coders: str | Sequence[str] | None = None,
                           attributes: Sequence[str] = ()) -> Path:
    """Write framework matrices as an Excel workbook (atomically).

    ``coded`` is a :class:`FrameworkMatrix`, or coded units charted with
    :func:`framework_matrix` (then ``corpus`` and ``codebook`` are needed; ``by``, ``coders``,
    ``attributes`` are passed on).

    Sheets: ``Summary`` — quotes per row (participant) and theme, a ``Participants voicing``
    line, then the spread of every subtheme (participants voicing it, share, quotes, who); then
    one sheet per theme (name shortened to Excel's 31 characters and made unique) with a row per
    participant, the attribute columns, a column per subtheme holding the quotes, and
    ``Quotes``/``Participants`` count lines at the bottom. Header rows are bold and frozen, text
    wraps, and columns are sized for reading.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    if isinstance(coded, FrameworkMatrix):
        matrix = coded
    else:
        if corpus is None or codebook is None:
            raise ValueError("pass corpus and codebook to chart coded units (or pass a FrameworkMatrix)")
        matrix = framework_matrix(coded, corpus, codebook, by=by, coders=coders, attributes=attributes)
    attrs = list(matrix.attributes.columns)
    label = {"participant": "Participant", "transcript": "Transcript"}.get(matrix.by, str(matrix.by))
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    truncated = 0

    def put(ws, row: int, col: int, value: Any, *, header: bool = False):
        nonlocal truncated
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if len(value) > _EXCEL_CELL_LIMIT:
                note = " … [cut: Excel holds at most 32,767 characters in a cell]"
                value = value[: _EXCEL_CELL_LIMIT - len(note)] + note
                truncated += 1
        cell = ws.cell(row=row, column=col, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # text, never a formula
        cell.alignment = wrap
        if header:
            cell.font = bold
        return cell

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    summary = matrix.summary()
    head = [label, *attrs, *matrix.themes]
    for j, h in enumerate(head, 1):
        put(ws, 1, j, h, header=True)
    for i, row in enumerate(matrix.rows, 2):
        put(ws, i, 1, row, header=True)
        for j, a in enumerate(attrs, 2):
            put(ws, i, j, matrix.attributes.at[row, a])
        for j, theme in enumerate(matrix.themes, 2 + len(attrs)):
            put(ws, i, j, int(summary.at[row, theme]))
    r = len(matrix.rows) + 2
    put(ws, r, 1, "Participants voicing" if matrix.by == "participant" else f"{label}s voicing", header=True)
    for j, theme in enumerate(matrix.themes, 2 + len(attrs)):
        put(ws, r, j, int((summary[theme] > 0).sum()))
    r += 2
    spread = matrix.spread()
    spread_head = ["Theme", "Code", "Participants" if matrix.by == "participant" else f"{label}s",
                   "Share", "Quotes", "Who"]
    for j, h in enumerate(spread_head, 1):
        put(ws, r, j, h, header=True)
    for rec in spread.itertuples(index=False):
        r += 1
        values = [rec.theme, rec.code, int(rec.participants), float(rec.share), int(rec.quotes), rec.who]
        for j, v in enumerate(values, 1):
            c = put(ws, r, j, v)
            if j == 4:
                c.number_format = "0%"
    ws.freeze_panes = "B2"
    top = [18] + [18] * len(attrs) + [min(30, max(12, len(t) + 2)) for t in matrix.themes]
    below = [28, 32, 14, 10, 10, 40]  # the spread table
    for j in range(1, max(len(top), len(below)) + 1):
        w = max(top[j - 1] if j <= len(top) else 0, below[j - 1] if j <= len(below) else 0)
        ws.column_dimensions[get_column_letter(j)].width = w

    for theme, sheet in zip(matrix.themes, _sheet_names(matrix.themes)):
        ws = wb.create_sheet(sheet)
        table = matrix.tables[theme]
        text = matrix.text(theme)
        counts = matrix.counts(theme)
        cols = list(table.columns)
        first = 2 + len(attrs)
        for j, h in enumerate([label, *attrs, *cols], 1):
            put(ws, 1, j, h, header=True)
        for i, row in enumerate(matrix.rows, 2):
            put(ws, i, 1, row, header=True)
            for j, a in enumerate(attrs, 2):
                put(ws, i, j, matrix.attributes.at[row, a])
            for j, col in enumerate(cols, first):
                put(ws, i, j, text.at[row, col])
        r = len(matrix.rows) + 2
        put(ws, r, 1, "Quotes", header=True)
        put(ws, r + 1, 1, "Participants" if matrix.by == "participant" else f"{label}s", header=True)
        for j, col in enumerate(cols, first):
            put(ws, r, j, int(counts[col].sum()))
            put(ws, r + 1, j, int((counts[col] > 0).sum()))
        ws.freeze_panes = ws.cell(row=2, column=first).coordinate
        ws.column_dimensions["A"].width = 16
        for j in range(2, first):
            ws.column_dimensions[get_column_letter(j)].width = 20
        for j, col in enumerate(cols, first):
            longest = max((len(s) for s in text[col]), default=0)
            width = 60 if longest > 60 else max(18, len(col) + 4, longest + 2)
            ws.column_dimensions[get_column_letter(j)].width = width
    if truncated:
        log.warning("%d framework cells were longer than Excel allows and were cut", truncated)
    wb.properties.creator = "themekit"
    return atomic_write(path, lambda tmp: wb.save(tmp))
