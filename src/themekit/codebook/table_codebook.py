"""Codebooks laid out as tables — CSV/TSV, Excel, Word, Markdown — as teams and CAQDAS programs
write them: one row per code, columns named as codebooks name them (MacQueen et al.'s fields,
NVivo, ATLAS.ti, MAXQDA, Dedoose exports), the hierarchy in theme/sub-theme columns (written
once, as merged cells), a parent column, paths, indentation or numbers; Word files with one
table per theme or per code, and Markdown/Word outlines (:mod:`themekit.codebook.outline`).
Readers return the keyword arguments of ``Codebook(...)``; every decision taken is said in one
warning line per file.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..types import InputError
from .code import _GUID, Code, _clean
from .tables import Table, _dialect, header_key
from .tables import read_table as read_table_file

__all__ = ["read_table", "read_csv"]

log = logging.getLogger("themekit")


def _as_bool(value: Any, path, line, what: str) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("true", "yes", "y", "1"):
        return True
    if s in ("false", "no", "n", "0"):
        return False
    raise InputError(path, f"{what}: {value!r} is not true or false", line=line)



# hierarchy columns, outermost first; the deepest one present holds the code
_LEVEL_COLUMNS = (
    ("theme", "themes", "main_theme", "overarching_theme", "global_theme", "category", "categories",
     "code_category", "code_group", "code_groups", "group", "groups", "domain", "level_1", "tier_1"),
    ("sub_theme", "subtheme", "sub_themes", "subthemes", "subcategory", "sub_category", "subcategories",
     "organising_theme", "organizing_theme", "level_2", "tier_2"),
    ("code_name", "code_label", "node_name", "code", "codes", "name", "tag", "label", "node", "title",
     "level_3", "tier_3"),
    ("sub_code", "subcode", "sub_codes", "subcodes", "child_code", "level_4", "tier_4"),
)
_TABLE_COLUMNS = {
    "parent": ("parent", "parent_code", "parent_node", "parent_name", "parent_title", "parent_theme",
               "parent_category"),
    "definition": ("brief_definition", "short_definition", "definition", "full_definition", "code_definition",
                   "operational_definition", "description", "code_description", "meaning", "explanation"),
    "memo": ("memo", "memos", "code_memo", "comment", "comments", "note", "notes"),
    "include": ("include", "inclusion", "inclusion_criteria", "inclusion_criterion", "when_to_use", "use_when",
                "include_when", "apply_when", "when_to_apply", "criteria_for_inclusion", "coding_rule",
                "coding_rules"),
    "exclude": ("exclude", "exclusion", "exclusion_criteria", "exclusion_criterion", "when_not_to_use",
                "do_not_use_when", "don_t_use_when", "dont_use_when", "exclude_when", "when_not_to_apply",
                "criteria_for_exclusion"),
    "close_but_no": ("close_but_no", "counter_example", "counter_examples", "counterexample", "non_example",
                     "non_examples", "negative_example", "negative_examples"),
    "examples": ("examples", "example", "example_quote", "example_quotes", "exemplar", "exemplars",
                 "typical_exemplar", "typical_exemplars", "atypical_exemplar", "atypical_exemplars",
                 "typical_example", "atypical_example", "illustrative_quote", "illustrative_quotes",
                 "sample_quote", "sample_quotes", "quote", "quotes", "example_extract", "example_extracts",
                 "anchor_example", "anchor_examples", "key_quote", "key_quotes", "examples_of_use"),
    "id": ("id", "guid", "uuid"),
    "number": ("no", "nr", "number", "num", "code_number", "code_no", "code_id", "id"),
    "color": ("color", "colour"),
    "codable": ("codable", "is_codable", "iscodable"),
}
# what CAQDAS exports add about a code (counts, dates, people): ignored without a warning
_METADATA = re.compile(r"(files|references|sources|cases|grounded|density|frequency|count|n|coverage|weight|"
                       r"aggregate|created(_.*)?|modified(_.*)?|date|author|owner|user|level|hierarchy|"
                       r"n_.*|number_of_.*|.*_count|count_of_.*|nickname|shortcut|.*_id)")
_NVIVO_FOLDER = re.compile(r"^.*\\\\")  # NVivo writes 'Nodes\\Parent\Child': the folder is no code
_PATH_SEP = re.compile(r"\\+|::|\s+>\s+|\s*→\s*")
_NUMBERED = re.compile(r"(\d+(?:\.\d+)*)\.?(?=\s+\S)")
_DOTTED = re.compile(r"\d+(?:\.\d+)*\.?")
# the fields the writer uses, for the from_csv/round-trip readers and error messages
_CSV_COLUMNS = ("code", "theme", "definition", "include", "exclude", "examples")


def _escape_bar(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|")


def _split_bar(s: str) -> tuple[str, ...]:
    out, cur, i = [], [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "\\|":
            cur.append(s[i + 1])
            i += 2
            continue
        if ch == "|":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return tuple(x.strip() for x in out if x.strip())


def _lines(lines: list[int], n: int = 5) -> str:
    return (("line " if len(lines) == 1 else "lines ") + ", ".join(map(str, lines[:n]))
            + (", ..." if len(lines) > n else ""))


def _code_path(name: str) -> list[str]:
    r"""Names from the root down in a code written as a path: 'Parent\Child', 'Parent > Child',
    'Parent::Child', NVivo's 'Nodes\\Parent\Child' (the folder dropped)."""
    return [p.strip() for p in _PATH_SEP.split(_NVIVO_FOLDER.sub("", name.strip())) if p.strip()]


def _is_codebook_header(cells: list[str]) -> bool:
    keys = {header_key(c) for c in cells}
    return any(k in keys for level in _LEVEL_COLUMNS for k in level)


def read_table(path: Path) -> dict:
    """A codebook laid out as a table (.csv, .tsv, .xlsx, .docx, .md): one row per code; a Word
    file may also hold one table per theme or one two-column table per code (see _word_tables)."""
    what = "code column ('Code', 'Code name', 'Name', 'Theme'...)"
    ext = path.suffix.lower()
    if ext == ".docx":
        table = _word_tables(path)
        if table is not None:
            return _read_codebook_table(table, path)
    try:
        return _read_codebook_table(read_table_file(path, _is_codebook_header, what), path)
    except InputError as e:
        if ext not in (".md", ".docx") or not (e.problem.startswith("no code column")
                                                 or e.problem == "the file has no table"):
            raise
        from .outline import markdown_lines, outline_table, word_lines

        if ext == ".md":
            from ..io.readers import decode_bytes
            lines = markdown_lines(decode_bytes(path.read_bytes(), path))
        else:
            lines = word_lines(path)
        table = outline_table(lines, str(path), _outline_field)
        if table is None:
            raise InputError(e.path, f"{e.problem}; nor headings or bullets naming codes: write one code per "
                             "table row, or a heading or bullet per code with 'Definition:' lines",
                             line=e.line) from None
        return _read_codebook_table(table, path)


def _outline_field(label: str) -> str | None:
    f = _field_of(label)
    return "definition" if f == "memo" else f if f in ("code", "definition", "include", "exclude",
                                                           "close_but_no", "examples") else None


def _field_of(label: str) -> str | None:
    """The codebook field a row label names ('Brief definition:' -> definition), or None."""
    k = header_key(label)
    if any(k in level for level in _LEVEL_COLUMNS):
        return "code" if k in _LEVEL_COLUMNS[2] else k
    return next((role for role, aliases in _TABLE_COLUMNS.items() if k in aliases), None)


def _word_tables(path: Path) -> Table | None:
    """Codebook tables of a Word file, in document order, as one table (None when it has only
    one table with a header row, which the plain reader takes):

    * several tables with a header row — one per theme: a heading just above each names its
      theme when the tables have no theme column;
    * two-column tables whose first column names the fields (``Code``, ``Brief definition``,
      ``When to use``, ``Example``...) — one code per table, as MacQueen et al. lay them out.
    Rows are numbered through the whole document."""
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    from ..io.word import open_docx

    doc = open_docx(path)
    heading = None
    blocks = []  # (heading above, [rows of cell texts])
    for el in doc.element.body.iterchildren():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(el, doc)
            style = (p.style.name if p.style is not None else "") or ""
            if p.text.strip() and (style.startswith("Heading") or style == "Title"):
                heading = p.text.strip()
        elif tag == "tbl":
            rows = [[c.text for c in r.cells] for r in DocxTable(el, doc).rows]
            rows = [r for r in rows if any(c.strip() for c in r)]
            if rows:
                blocks.append((heading, rows))
                heading = None
    def is_vertical(rows) -> bool:
        labels = [_field_of(r[0]) for r in rows]
        return (len(rows) >= 2 and all(len(r) >= 2 and len({c for c in r[1:] if c.strip()}) <= 1 for r in rows)
                and "code" in labels and sum(x is not None for x in labels) >= 2)

    vertical = [rows for _, rows in blocks if is_vertical(rows)]
    horizontal = [(h, rows) for h, rows in blocks if not is_vertical(rows) and _is_codebook_header(rows[0])]
    if vertical and not horizontal:
        header: list[str] = []
        records = []
        for n, rows in enumerate(vertical, start=1):
            rec: dict[str, str] = {}
            for r in rows:
                label, value = r[0].strip().rstrip(":"), next((c for c in r[1:] if c.strip()), "")
                if label and label not in rec:
                    rec[label] = value
                    if label not in header:
                        header.append(label)
            records.append((n, rec))
        return Table(header, [(n, [rec.get(h, "") for h in header], [0] * len(header)) for n, rec in records],
                     str(path))
    if len(horizontal) < 2:
        return None
    first = [h.strip() for h in horizontal[0][1][0]]
    header = list(first)
    for _, rows in horizontal[1:]:
        header += [h.strip() for h in rows[0] if h.strip() and h.strip() not in header]
    themed = (all(h for h, _ in horizontal) and len({h for h, _ in horizontal}) == len(horizontal)
              and not any(k in _LEVEL_COLUMNS[0] for k in map(header_key, header)))
    if themed:
        header = ["Theme"] + header
    out, line = [], 0
    for h, rows in horizontal:
        cols = [c.strip() for c in rows[0]]
        for r in rows[1:]:
            line += 1
            rec = dict(zip(cols, r))
            cells = ([h] if themed else []) + [rec.get(c, "") for c in header[1 if themed else 0:]]
            out.append((line, cells, [0] * len(cells)))
    return Table(header, out, str(path))


def read_csv(text: str, path: Path | None) -> dict:
    from ..io.readers import csv_records

    header, records = csv_records(text, path, dialect=_dialect(text, ".csv"),
                                  empty="the codebook file is empty; add a header row and one row per code")
    rows = [(line, cells, [len(c) - len(c.lstrip(" \t")) for c in cells]) for line, cells in records]
    return _read_codebook_table(Table([h.strip() for h in header], rows, str(path)), path)


def _read_codebook_table(table: Table, path: Path | None) -> dict:
    where = table.where if path is not None else None
    keys = [header_key(h) for h in table.header]
    taken: set[int] = set()

    def find(aliases) -> int | None:
        for a in aliases:
            for i, k in enumerate(keys):
                if k == a and i not in taken:
                    return i
        return None

    levels: list[int] = []
    for aliases in _LEVEL_COLUMNS:
        i = find(aliases)
        if i is not None:
            levels.append(i)
            taken.add(i)
    if not levels:
        raise InputError(where, "no code column; name the column with code names 'code' "
                         f"(columns: {', '.join(table.header)})", line=table.header_line)
    cols: dict[str, list[int]] = {}
    for role, aliases in _TABLE_COLUMNS.items():
        multi = role in ("definition", "examples", "close_but_no")
        found = [i for a in aliases for i, k in enumerate(keys) if k == a and i not in taken]
        found = list(dict.fromkeys(found))[: None if multi else 1]
        if found:
            cols[role] = found
            taken.update(found)
    rows = table.rows
    if not rows:
        raise InputError(where, "the codebook has no codes (only a header row)")
    notes: list[str] = []

    def cells(row, role: str) -> list[str]:
        return [row[i] if i < len(row) else "" for i in cols.get(role, ())]

    # a guid column of other ids (1, C01) is no guid: it may number the codes instead
    if "id" in cols and any(not _GUID.fullmatch(i) for i in (_clean(x) for r in rows for x in cells(r[1], "id")) if i):
        if keys[cols["id"][0]] in _TABLE_COLUMNS["number"] and "number" not in cols:
            notes.append(f"column {table.header[cols['id'][0]]!r} holds no REFI-QDA guids; read as code "
                         "numbers (1, 1.2 nest)")
            cols["number"] = cols.pop("id")
        else:
            line, bad = next((r[0], i) for r in rows for i in (_clean(x) for x in cells(r[1], "id"))
                             if i and not _GUID.fullmatch(i))
            raise InputError(where, f"id {bad!r} is not a UUID (REFI-QDA guids look like "
                             "'1b4e28ba-2fa1-11d2-883f-0016d3cca427'); leave it out to have one generated",
                             line=line)
    if "memo" in cols and "definition" in cols:
        cols.pop("memo")  # a memo is the definition only when there is no definition column
    elif "memo" in cols:
        cols["definition"] = cols.pop("memo")
        notes.append(f"column {table.header[cols['definition'][0]]!r} read as the definition (there is no "
                     "definition column)")
    used = set(levels) | {i for v in cols.values() for i in v}
    ignored = [h for i, (h, k) in enumerate(zip(table.header, keys)) if i not in used and h.strip()
               and not _METADATA.fullmatch(k) and any(i < len(r[1]) and r[1][i].strip() for r in rows)]
    if ignored:
        notes.append(f"columns {', '.join(repr(h) for h in ignored)} ignored (not a code field; name them "
                     "definition, include, exclude or examples to use them)")

    # a theme written once above its codes (merged cells, or a theme row) holds for the rows below:
    # a level column left of the code column whose names are each written once
    filled: set[int] = set()
    level_values = [[r[1][i].strip() if i < len(r[1]) else "" for r in rows] for i in levels]
    several = 0  # a code in several groups (ATLAS.ti lists them one a line) goes under the first
    for j in range(len(levels) - 1):
        for n, v in enumerate(level_values[j]):
            parts = [p.strip() for p in v.split("\n") if p.strip()]  # one a line; a name may hold ";"
            if len(parts) > 1:
                level_values[j][n] = parts[0]
                several += 1
    if several:
        notes.append(f"{several} codes in several {table.header[levels[0]]!r} placed under the first")
    for j in range(len(levels) - 1):
        vals = [v for v in level_values[j] if v]
        if (not vals or len(set(vals)) != len(vals) or len(vals) == len(rows)
                or levels[j] > levels[j + 1]):
            continue
        current = ""
        for n in range(len(rows)):
            v = level_values[j][n]
            deeper = any(level_values[k][n] for k in range(j + 1, len(levels)))
            if v:
                current = v
            elif current and deeper:
                level_values[j][n] = current
                filled.add(n)
    if filled:
        notes.append(f"{len(filled)} rows with a blank {table.header[levels[0]]!r} cell read as under the one above "
                     "(each written once, as merged cells export)")

    parent_col = cols.get("parent", [None])[0]
    leaf_indents = [r[2][levels[-1]] if levels[-1] < len(r[2]) else 0 for r in rows]
    # a lone code column may carry the hierarchy itself: paths, indents or numbers (themekit's own
    # code,theme layout never does, so its names are read as written)
    flat = parent_col is None and len(levels) == 1
    by_indent = flat and len(set(leaf_indents)) > 1
    widths = sorted(set(leaf_indents))
    stack: list[str] = []  # names by depth, for indented names

    # in a lone code column 'Barriers > Waits' is a path when another row names its parent too
    # (a sibling path, or the parent's own row), or when most names are paths (ATLAS.ti's
    # 'Prefix::Code'); alone among plain names, 'Access > cost' is the code's name
    split: dict[int, list[str]] = {}
    whole: list[int] = []
    if flat:
        split = {n: _code_path(v) for n, v in enumerate(level_values[0]) if v}
        named = {tuple(p) for p in split.values()}
        shared = Counter(tuple(p[:-1]) for p in split.values() if len(p) > 1)
        mostly_paths = 2 * sum(len(p) > 1 for p in split.values()) > len(split)
        for n, parts in split.items():
            v = level_values[0][n]
            head = tuple(parts[:-1])
            if (head and not mostly_paths and not _NVIVO_FOLDER.match(v.strip()) and shared[head] < 2
                    and head not in named):
                split[n] = [v.strip()]
                whole.append(rows[n][0])
    leaf_names = {v for v in level_values[-1] if v}
    entries: list[tuple[list[str], dict, int, bool]] = []  # (path, fields, line, leaf row?)
    no_code: list[int] = []
    indented: list[int] = []  # lines of codes nested by the indent of their name
    for n, (line, row, _) in enumerate(rows):
        path_names: list[str] = []
        for j in range(len(levels)):
            v = level_values[j][n]
            if not v:
                continue
            if flat:
                path_names += split[n]
                continue
            # a code written as the path of the theme columns left of it (themekit's own code,theme
            # layout, theme on the right, is read as written)
            parts = _code_path(v) if j == len(levels) - 1 and levels == sorted(levels) else [v]
            k = len(parts) - 1
            if k and k <= len(path_names) and parts[:-1] == path_names[len(path_names) - k:]:
                parts = parts[-1:]
            else:
                parts = [v]
            path_names += parts
        if not path_names:
            if any(i < len(row) and row[i].strip() for k in ("definition", "include", "exclude", "examples")
                   for i in cols.get(k, ())):
                raise InputError(where, "empty code name (the row has a definition, criteria or examples but "
                                 "no code); name the code or delete the row", line=line)
            if any(c.strip() for c in row):
                no_code.append(line)  # a totals row, counts without a code
            continue
        leaf_row = bool(level_values[-1][n])
        if parent_col is not None and parent_col < len(row) and row[parent_col].strip():
            pv = row[parent_col].strip()  # MAXQDA writes the parent's path; a code's own name stays whole
            path_names = ([pv] if pv in leaf_names else _code_path(pv)) + path_names
        if by_indent:
            depth = widths.index(leaf_indents[n])
            del stack[depth:]
            path_names = stack[:depth] + path_names
            if stack[:depth]:
                indented.append(line)
            stack.append(path_names[-1])
        entries.append((path_names, {"row": row}, line, leaf_row))

    codes: dict[str, Code] = {}
    order: list[str] = []
    lines: dict[str, int] = {}
    implicit: set[str] = set()
    numbers: dict[str, str] = {}
    for path_names, f, line, leaf_row in entries:
        row = f["row"]
        name = path_names[-1]
        for k, anc in enumerate(path_names[:-1]):
            if anc not in codes:
                try:
                    codes[anc] = Code(None, anc, parent=path_names[k - 1] if k else None, is_codable=False)
                except ValueError as e:
                    raise InputError(where, str(e), line=line) from None
                order.append(anc)
                lines[anc] = line
                implicit.add(anc)
        parent = path_names[-2] if len(path_names) > 1 else None
        raw_codable = (cells(row, "codable") or [""])[0]
        codable = (leaf_row or len(levels) == 1) if not raw_codable.strip() else _as_bool(
            raw_codable, where, line, f"code {name!r}, codable")
        definition = "\n".join(t.strip() for t in cells(row, "definition") if t.strip())
        exclude = "\n".join(t.strip() for t in cells(row, "exclude") if t.strip())
        close = [t.strip() for t in cells(row, "close_but_no") if t.strip()]
        if close:
            exclude = "\n".join([exclude] * bool(exclude) + [f"Close but no: {c}" for c in close])
        examples = tuple(e for t in cells(row, "examples") for e in _split_bar(t))
        number = (cells(row, "number") or [""])[0].strip()
        if not flat:
            number = ""
        elif not _DOTTED.fullmatch(number):
            m = _NUMBERED.match(name)
            number = m.group(1) if m else ""
        try:
            code = Code((cells(row, "id") or [""])[0], name, definition, (cells(row, "include") or [""])[0],
                        exclude, examples, parent, (cells(row, "color") or [""])[0], codable)
        except ValueError as e:
            raise InputError(where, str(e), line=line) from None
        if name in codes and name in implicit:
            implicit.discard(name)
            if code.parent is None:
                code = replace(code, parent=codes[name].parent)
            codes[name] = code
            lines[name] = line
            order.remove(name)  # its own row places it
            order.append(name)
        elif name in codes:
            raise InputError(where, f"duplicate code name {name!r} (first defined on line {lines[name]}); code "
                             "names must be unique — rename or merge one", line=line)
        else:
            codes[name] = code
            order.append(name)
            lines[name] = line
        if number:
            numbers[number.rstrip(".")] = name
    # numbered codes (1, 1.2, 1.2.3) nest by their numbers when nothing else places them
    nested = 0
    for num, name in numbers.items():
        head = num.rpartition(".")[0]
        if head and head in numbers and codes[name].parent is None and numbers[head] != name:
            codes[name] = replace(codes[name], parent=numbers[head])
            nested += 1
    if nested:
        notes.append(f"{nested} numbered codes placed under the code their number extends (1.2 under 1)")
    if indented:
        notes.append(f"{len(indented)} codes placed under the code above by the indent of their name "
                     f"({_lines(indented)}); remove the leading spaces if they are not sub-codes")
    if whole:
        notes.append(f"{len(whole)} names with a path separator read whole ({_lines(whole)}: no other row "
                     "names their parent)")
    if no_code:
        notes.append(f"{len(no_code)} rows without a code skipped ({_lines(no_code)}: only counts or notes)")
    if implicit and (flat or parent_col is not None):  # themes named in a theme column are expected
        notes.append(f"{len(implicit)} parent codes named only in a path or a parent column added as "
                     "non-codable themes")
    if notes and path is not None:
        log.warning("%s: %s", table.where, "; ".join(notes))
    # parents first, in order of first mention (Codebook orders the hierarchy)
    return dict(codes=[codes[n] for n in order], source=table.where if path is not None else None,
                lines=[lines[n] for n in order])
