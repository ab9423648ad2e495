"""Codebook files: YAML, CSV and REFI-QDA Codebook Exchange (``.qdc``), read and written.

* **YAML** (``.yaml``/``.yml``) — readable nested form: ``themes:`` with ``codes:`` beneath,
  each with ``definition``, ``include``, ``exclude``, ``examples``; a flat list of codes with
  ``parent:`` is accepted too. Items under ``themes:`` are not codable unless ``codable: true``;
  items under ``codes:`` are codable unless ``codable: false``.
* **CSV** (``.csv``) — ``code,theme,definition,include,exclude,examples`` (examples
  ``|``-separated, ``\\|`` for a literal bar). A theme named in ``theme`` without its own row
  becomes a non-codable parent. Variants: ``name``/``tag`` for code, ``parent`` for theme,
  ``description`` for definition (this reads the serdif/Taguette exports). Optional columns
  ``id``, ``color``, ``codable`` are written only when needed.
* **REFI-QDA Codebook Exchange** (``.qdc``, namespace ``urn:QDA-XML:codebook:1.0``), for NVivo,
  ATLAS.ti, MAXQDA, QualCoder. The ``<Description>`` holds the definition followed by
  ``Include: ...``, ``Exclude: ...`` and ``Example: ...`` lines, so criteria survive a round
  trip and still read well in those programs.

Guids are written only where they came from a file (derived ones are recomputed on reading).
Use these through :class:`~themekit.codebook.Codebook` (``load``/``save``, ``from_*``/``to_*``);
readers return the keyword arguments of ``Codebook(...)``, so this module never imports the model,
which delegates here.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..types import InputError, atomic_write
from .code import _GUID, CODEBOOK_EXTENSIONS, QDC_NAMESPACE, Code, _clean, derived_id
from .tables import TABLE_EXTENSIONS, Table, _dialect, header_key
from .tables import read_table as read_table_file

if TYPE_CHECKING:
    from .model import Codebook

__all__ = ["read_codebook", "write_codebook", "read_yaml", "read_csv", "read_qdc", "to_yaml", "to_csv",
           "to_qdc"]

log = logging.getLogger("themekit")


def read_codebook(path: Path) -> dict:
    """Read a codebook file by extension: .yaml/.yml, .qdc, or a table (.csv, .tsv, .xlsx, .docx, .md)."""
    ext = path.suffix.lower()
    if ext not in CODEBOOK_EXTENSIONS:
        raise InputError(path, f"unknown codebook format {path.suffix or '(no extension)'!r}; "
                         f"use one of {', '.join(CODEBOOK_EXTENSIONS)}")
    if not path.is_file():
        raise InputError(path, "no such codebook file")
    data = path.read_bytes()
    if not data.strip():
        raise InputError(path, "the codebook file is empty; add codes (one per row or entry)")
    if ext == ".qdc":
        return read_qdc(data, path)
    if ext in TABLE_EXTENSIONS:
        return read_table(path)
    from ..io.readers import decode_bytes
    return read_yaml(decode_bytes(data, path), path)


def write_codebook(book: Codebook, path: Path) -> Path:
    """Write by extension (.yaml/.yml, .csv, .qdc), atomically."""
    ext = path.suffix.lower()
    if ext in (".yaml", ".yml"):
        text = to_yaml(book)
        return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if ext == ".csv":
        text = to_csv(book)
        return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))
    if ext == ".qdc":
        data = to_qdc(book)
        return atomic_write(path, lambda tmp: tmp.write_bytes(data))
    raise InputError(path, f"cannot write codebook format {path.suffix or '(no extension)'!r}; "
                     "use one of .yaml, .yml, .csv, .qdc")


def _explicit_id(book: Codebook, c: Code) -> str | None:
    """The guid as written to files: None when it is derived from the path of names."""
    return None if c.id == derived_id(book.path(c.name)) else c.id


# -- YAML ---------------------------------------------------------------------------------------

def _yaml_classes():
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def str_repr(dumper, s: str):
        style = "|" if "\n" in s else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)

    Dumper.add_representer(str, str_repr)

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            self.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if key == "version" and isinstance(value_node, yaml.ScalarNode):
                    value = value_node.value  # keep "1.10" as written
                else:
                    value = self.construct_object(value_node, deep=True)
                out[key] = value
            out["__line__"] = node.start_mark.line + 1
            return out

    return Dumper, Loader


_Dumper, _Loader = _yaml_classes()

_ITEM_KEYS = {
    "name": ("name", "code", "title", "label"),
    "id": ("id", "guid", "uuid"),
    "definition": ("definition", "description", "desc"),
    "include": ("include", "inclusion", "inclusion_criteria", "when_to_use"),
    "exclude": ("exclude", "exclusion", "exclusion_criteria", "when_not_to_use"),
    "examples": ("examples", "example"),
    "parent": ("parent", "theme"),
    "color": ("color", "colour"),
    "codable": ("codable", "is_codable", "iscodable"),
    "codes": ("codes", "subcodes", "children"),
    "themes": ("themes", "subthemes"),
}
_ITEM_ALIAS = {alias: key for key, aliases in _ITEM_KEYS.items() for alias in aliases}


def _yaml_key(k: Any) -> str | None:
    """The field a YAML key names: the keys above, or a codebook table's column names
    ('Inclusion criteria', 'When not to use', 'Typical exemplar', 'Memo')."""
    k = header_key(k)
    if k in _ITEM_ALIAS:
        return _ITEM_ALIAS[k]
    if k in ("code_name", "code_label", "node_name"):
        return "name"
    for role in ("definition", "memo", "include", "exclude", "close_but_no", "examples", "parent"):
        if k in _TABLE_COLUMNS[role]:
            return {"memo": "definition", "close_but_no": "exclude"}.get(role, role)
    return None


def _as_bool(value: Any, path, line, what: str) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("true", "yes", "y", "1"):
        return True
    if s in ("false", "no", "n", "0"):
        return False
    raise InputError(path, f"{what}: {value!r} is not true or false", line=line)


def read_yaml(text: str, path: Path) -> dict:
    import yaml

    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(path, f"invalid YAML ({getattr(e, 'problem', None) or e})",
                         line=None if mark is None else mark.line + 1) from None
    name = version = None
    if doc is None:
        raise InputError(path, "the codebook file is empty; add codes")
    if isinstance(doc, list):
        top = [("codes", doc, True)]
    elif isinstance(doc, dict):
        unknown = [k for k in doc if k not in ("name", "version", "description", "themes", "codes",
                                               "__line__")]
        if unknown:
            raise InputError(path, f"unknown top-level key {unknown[0]!r}; expected name, version, "
                             "themes and/or codes", line=doc["__line__"])
        name, version = doc.get("name"), doc.get("version")
        top = [(k, doc[k], k == "codes") for k in ("themes", "codes") if doc.get(k) is not None]
    else:
        raise InputError(path, "a YAML codebook is a mapping with 'themes:' or 'codes:', or a list of codes")
    codes: list[Code] = []
    lines: list[int | None] = []

    def add(entry: Any, parent: str | None, default_codable: bool, line_hint: int | None) -> None:
        if isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
            entry = {"name": str(entry), "__line__": line_hint}
        if not isinstance(entry, dict):
            raise InputError(path, f"each code must be a mapping with a name (got {entry!r})", line=line_hint)
        line = entry.get("__line__", line_hint)
        d: dict[str, Any] = {}
        for k, v in entry.items():
            if k == "__line__":
                continue
            key = _yaml_key(k)
            if key is None:
                close = difflib.get_close_matches(str(k), list(_ITEM_ALIAS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(path, f"unknown field {k!r}{hint} in code {entry.get('name', '?')!r}; "
                                 f"fields are {', '.join(_ITEM_KEYS)}", line=line)
            if key in ("examples", "definition", "exclude") and key in d and v is not None:
                # typical + atypical exemplar, brief + full definition, exclusion + close-but-no
                prev = d[key] if isinstance(d[key], list) else [d[key]]
                d[key] = [x for x in prev + (v if isinstance(v, list) else [v]) if x is not None]
                continue
            if key in d:
                raise InputError(path, f"field {key!r} given twice in code {entry.get('name', '?')!r}",
                                 line=line)
            d[key] = v
        cname = _clean(d.get("name"))
        if not cname:
            raise InputError(path, "a code has no name", line=line)
        given_parent = _clean(d.get("parent")) or None
        if parent is not None and given_parent is not None and given_parent != parent:
            raise InputError(path, f"code {cname!r} is nested under {parent!r} but says parent: "
                             f"{given_parent!r}; remove one", line=line)
        examples = d.get("examples") or ()
        if isinstance(examples, str):
            examples = (examples,)
        elif isinstance(examples, (list, tuple)):
            examples = tuple("" if e is None else str(e) for e in examples)
        else:
            examples = (str(examples),)
        texts = {}
        for f in ("definition", "include", "exclude"):
            v = d.get(f)
            texts[f] = "\n".join(map(str, v)) if isinstance(v, list) else v
        codable = default_codable if d.get("codable") is None else _as_bool(
            d["codable"], path, line, f"code {cname!r}, codable")
        try:
            code = Code(d.get("id"), cname, texts["definition"], texts["include"], texts["exclude"],
                        examples, parent if parent is not None else given_parent, d.get("color"), codable)
        except ValueError as e:
            raise InputError(path, str(e), line=line) from None
        lines.append(line)
        codes.append(code)
        for key, default in (("themes", False), ("codes", True)):
            kids = d.get(key)
            if kids is None:
                continue
            if not isinstance(kids, list):
                raise InputError(path, f"{key!r} of code {cname!r} must be a list", line=line)
            for k in kids:
                add(k, code.name, default, line)

    for key, items, default in top:
        if not isinstance(items, list):
            raise InputError(path, f"{key!r} must be a list of codes", line=doc.get("__line__"))
        for entry in items:
            add(entry, None, default, None)
    if not codes:
        raise InputError(path, "the codebook has no codes")
    return dict(codes=codes, version=version, name=name, source=path, lines=lines)


def to_yaml(book: Codebook) -> str:
    """The nested YAML form (see module docstring)."""
    import yaml

    roots = book.roots()
    as_themes = bool(roots) and all(book.children(c.name) for c in roots)

    def item(c: Code, default_codable: bool) -> dict:
        d: dict[str, Any] = {"name": c.name}
        if _explicit_id(book, c):
            d["id"] = c.id
        for f in ("definition", "include", "exclude"):
            if getattr(c, f):
                d[f] = getattr(c, f)
        if c.examples:
            d["examples"] = list(c.examples)
        if c.color:
            d["color"] = c.color
        if c.is_codable != default_codable:
            d["codable"] = c.is_codable
        kids = book.children(c.name)
        if kids:
            d["codes"] = [item(k, True) for k in kids]
        return d

    doc: dict[str, Any] = {}
    if book.name:
        doc["name"] = book.name
    if book.version:
        doc["version"] = book.version
    doc["themes" if as_themes else "codes"] = [item(c, not as_themes) for c in roots]
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100,
                     default_flow_style=False)


# -- tables: CSV, TSV, Excel, Word, Markdown ------------------------------------------------------

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
    import docx
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(str(path))
    except Exception as e:
        raise InputError(path, f"cannot read this Word file ({type(e).__name__}: {e}); save it again as "
                         ".docx") from None
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
    if "id" in cols and any(_clean(r[1][cols["id"][0]]) and not _GUID.fullmatch(_clean(r[1][cols["id"][0]]))
                            for r in rows):
        if keys[cols["id"][0]] in _TABLE_COLUMNS["number"] and "number" not in cols:
            notes.append(f"column {table.header[cols['id'][0]]!r} holds no REFI-QDA guids; read as code "
                         "numbers (1, 1.2 nest)")
            cols["number"] = cols.pop("id")
        else:
            bad = next(_clean(r[1][cols["id"][0]]) for r in rows
                       if _clean(r[1][cols["id"][0]]) and not _GUID.fullmatch(_clean(r[1][cols["id"][0]])))
            line = next(r[0] for r in rows if _clean(r[1][cols["id"][0]]) == bad)
            raise InputError(where, f"id {bad!r} is not a UUID (REFI-QDA guids look like "
                             "'1b4e28ba-2fa1-11d2-883f-0016d3cca427'); leave it out to have one generated",
                             line=line)
    if "memo" in cols and "definition" in cols:
        cols.pop("memo")  # a memo is the definition only when there is no definition column
    elif "memo" in cols:
        cols["definition"] = cols.pop("memo")
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

    entries: list[tuple[list[str], dict, int, bool]] = []  # (path, fields, line, leaf row?)
    no_code: list[int] = []
    for n, (line, row, _) in enumerate(rows):
        path_names: list[str] = []
        for j in range(len(levels)):
            v = level_values[j][n]
            if v:
                path_names += _code_path(v) if flat else [v]
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
            path_names = _code_path(row[parent_col]) + path_names  # MAXQDA writes the parent's path
        if by_indent:
            depth = widths.index(leaf_indents[n])
            del stack[depth:]
            path_names = stack[:depth] + path_names
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
                codes[anc] = Code(None, anc, parent=path_names[k - 1] if k else None, is_codable=False)
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
    if no_code:
        notes.append(f"{len(no_code)} rows without a code skipped (line {', '.join(map(str, no_code[:5]))}"
                     f"{', ...' if len(no_code) > 5 else ''}: only counts or notes)")
    if implicit:
        notes.append(f"{len(implicit)} parent codes named only in a path or a theme column added as "
                     "non-codable themes")
    if notes and path is not None:
        log.warning("%s: %s", table.where, "; ".join(notes))
    # parents first, in order of first mention (Codebook orders the hierarchy)
    return dict(codes=[codes[n] for n in order], source=table.where if path is not None else None,
                lines=[lines[n] for n in order])


def to_csv(book: Codebook) -> str:
    """``code,theme,definition,include,exclude,examples`` (+ ``id,color,codable`` if needed)."""
    rows = []
    for c in book.codes:
        implicit = (c.parent is None and not c.is_codable and not c.has_content and not c.color
                    and book.children(c.name) and not _explicit_id(book, c))
        if not implicit:
            rows.append(c)
    cols = ["code", "theme", "definition", "include", "exclude", "examples"]
    if any(_explicit_id(book, c) for c in rows):
        cols.append("id")
    if any(c.color for c in rows):
        cols.append("color")
    if any(not c.is_codable for c in rows):
        cols.append("codable")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for c in rows:
        rec = {"code": c.name, "theme": c.parent or "", "definition": c.definition, "include": c.include,
               "exclude": c.exclude, "examples": " | ".join(_escape_bar(e) for e in c.examples),
               "id": _explicit_id(book, c) or "", "color": c.color or "",
               "codable": "true" if c.is_codable else "false"}
        w.writerow([rec[k] for k in cols])
    return buf.getvalue()


# -- REFI-QDA .qdc --------------------------------------------------------------------------------

# section markers in a code's description: themekit's own, and those codebook templates use
# (MacQueen et al.'s definition / when to use / when not to use / exemplars) in CAQDAS code memos
_MARKER = (r"(?:include|inclusion(?: criteria)?|when to use|use when|exclude|exclusion(?: criteria)?|when not to use|"
           r"do not use when|close but no|examples?|example quotes?|(?:a?typical )?exemplars?|anchor examples?|"
           r"(?:brief |full )?definition)[ \t]*:")
_SECTION = re.compile(rf"^(\\*)({_MARKER})[ \t]?(.*)$", re.IGNORECASE)


def _escape_lines(text: str, first: bool = True) -> str:
    """Prefix lines that would read as a section marker with a backslash (not the first line
    when it follows a marker on the same line)."""
    lines = text.split("\n")
    return "\n".join("\\" + ln if (i or first) and _SECTION.match(ln) else ln for i, ln in enumerate(lines))


def _description(c: Code) -> str:
    parts = []
    if c.definition:
        parts.append(_escape_lines(c.definition))
    sections = []
    if c.include:
        sections.append("Include: " + _escape_lines(c.include, first=False))
    if c.exclude:
        sections.append("Exclude: " + _escape_lines(c.exclude, first=False))
    sections += ["Example: " + _escape_lines(e, first=False) for e in c.examples]
    if sections:
        parts.append("\n".join(sections))
    return "\n\n".join(parts)


def _parse_description(text: str) -> dict[str, Any]:
    """Inverse of :func:`_description`; plain descriptions from other tools become the definition."""
    out: dict[str, list[str]] = {"definition": [], "include": [], "exclude": []}
    examples: list[list[str]] = []
    current = out["definition"]
    for ln in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        m = _SECTION.match(ln)
        if m and not m.group(1):
            kind = m.group(2).lower()
            if "definition" in kind:
                current = out["definition"]
                if current and any(x.strip() for x in current):
                    current.append("")
            elif kind.startswith(("incl", "when to", "use when")):
                current = out["include"]
                if current:
                    current.append("")
            elif kind.startswith(("excl", "when not", "do not", "close")):
                current = out["exclude"]
                if current:
                    current.append("")
            else:
                examples.append([])
                current = examples[-1]
            current.append(m.group(3))
            continue
        current.append(ln[1:] if m else ln)
    return {"definition": "\n".join(out["definition"]), "include": "\n".join(out["include"]),
            "exclude": "\n".join(out["exclude"]), "examples": tuple("\n".join(e) for e in examples)}


def read_qdc(data: bytes, path: Path) -> dict:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                              huge_tree=True)  # REFI projects may inline long sources
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise InputError(path, f"not well-formed XML ({e.msg})", line=e.lineno) from None

    def local(el) -> str:
        return etree.QName(el).localname if isinstance(el.tag, str) else ""

    project = None
    if local(root) == "Project":  # a REFI project file: use its codebook
        project = root
        root = next((el for el in root if local(el) == "CodeBook"), None)
        if root is None:
            raise InputError(path, "this REFI-QDA project has no CodeBook")
    if local(root) != "CodeBook":
        raise InputError(path, f"not a REFI-QDA codebook: the root element is <{local(root)}>, "
                         "expected <CodeBook>", line=root.sourceline)
    if root.nsmap.get(None) not in (None, QDC_NAMESPACE, "urn:QDA-XML:project:1.0"):
        log.warning("%s: unexpected XML namespace %r; reading it as %s", path, root.nsmap.get(None),
                    QDC_NAMESPACE)
    name = version = None
    prev = root.getprevious()
    while prev is not None:
        if isinstance(prev, etree._ProcessingInstruction) and prev.target == "themekit":
            try:
                meta = json.loads(prev.text or "{}")
                name, version = meta.get("name"), meta.get("version")
            except (json.JSONDecodeError, AttributeError):
                pass
        prev = prev.getprevious()
    codes_el = next((el for el in root if local(el) == "Codes"), None)
    codes: list[Code] = []
    lines: list[int | None] = []

    def walk(el, parent: str | None) -> None:
        cname = el.get("name")
        if cname is None or not cname.strip():
            raise InputError(path, "a <Code> has no name attribute", line=el.sourceline)
        desc_el = next((ch for ch in el if local(ch) == "Description"), None)
        fields_ = _parse_description(desc_el.text if desc_el is not None else "")
        codable = el.get("isCodable")
        codable = True if codable is None else _as_bool(codable, path, el.sourceline,
                                                        f"code {cname!r}, isCodable")
        try:
            code = Code(el.get("guid"), cname, fields_["definition"], fields_["include"], fields_["exclude"],
                        fields_["examples"], parent, el.get("color"), codable)
        except ValueError as e:
            raise InputError(path, str(e), line=el.sourceline) from None
        lines.append(el.sourceline)
        codes.append(code)
        for ch in el:
            if local(ch) == "Code":
                walk(ch, code.name)

    if codes_el is not None:
        for el in codes_el:
            if local(el) == "Code":
                walk(el, None)
    if not codes:
        raise InputError(path, "the codebook has no <Code> elements")
    _sets_as_themes(codes, lines, [el for top in (root, project) if top is not None for el in top
                                   if local(el) == "Sets"], local, path)
    return dict(codes=codes, version=version, name=name, source=path, lines=lines)


def _sets_as_themes(codes: list[Code], lines: list, sets_elements: list, local, path) -> None:
    """Code sets (ATLAS.ti's code groups, MAXQDA's code sets) group a flat code list into themes:
    each code goes under the first set it belongs to, as a non-codable parent. A nested codebook
    keeps its own hierarchy."""
    if any(c.parent for c in codes):
        return
    norm = lambda g: (g or "").strip().strip("{}").lower()  # noqa: E731
    by_guid = {norm(c.id): i for i, c in enumerate(codes) if c.id}
    names = {c.name for c in codes}
    first: dict[int, str] = {}
    several = 0
    themes: list[tuple[str, int | None]] = []
    for sets_el in sets_elements:
        for st in sets_el:
            sname = _clean(st.get("name")) if local(st) == "Set" else ""
            if not sname or sname in names:
                continue
            members = [by_guid[norm(m.get("targetGUID") or m.get("guidTargetRef"))] for m in st
                       if local(m) == "MemberCode" and norm(m.get("targetGUID") or m.get("guidTargetRef")) in by_guid]
            for i in members:
                if i in first:
                    several += 1
                else:
                    first[i] = sname
            if members and sname not in {t for t, _ in themes}:
                themes.append((sname, st.sourceline))
    if not first:
        return
    for i, sname in first.items():
        codes[i] = replace(codes[i], parent=sname)
    for sname, line in themes:
        codes.append(Code(None, sname, is_codable=False))
        lines.append(line)
    more = f"; {several} codes in more than one set placed under the first" if several else ""
    log.warning("%s: %d code sets read as themes of the codes in them (the codebook has no nesting)%s",
                path, len(themes), more)


def to_qdc(book: Codebook) -> bytes:
    """REFI-QDA Codebook Exchange XML (``.qdc``) as UTF-8 bytes."""
    from lxml import etree

    from .._version import __version__

    ns = "{%s}" % QDC_NAMESPACE
    root = etree.Element(ns + "CodeBook", nsmap={None: QDC_NAMESPACE})
    root.set("origin", f"themekit {__version__}")
    codes_el = etree.SubElement(root, ns + "Codes")

    def add(parent_el, c: Code) -> None:
        el = etree.SubElement(parent_el, ns + "Code")
        try:
            el.set("guid", c.id)
            el.set("name", c.name)
            el.set("isCodable", "true" if c.is_codable else "false")
            if c.color:
                el.set("color", c.color)
            desc = _description(c)
            if desc:
                etree.SubElement(el, ns + "Description").text = desc
        except ValueError as e:  # characters XML cannot hold
            raise ValueError(f"code {c.name!r} cannot be written as XML: {e}") from None
        for k in book.children(c.name):
            add(el, k)

    for c in book.roots():
        add(codes_el, c)
    meta = {k: v for k, v in (("name", book.name), ("version", book.version)) if v}
    tree = etree.ElementTree(root)
    if meta:  # REFI has no place for these; a processing instruction other tools ignore
        payload = json.dumps(meta, ensure_ascii=True).replace("?>", "?\\u003e")
        root.addprevious(etree.ProcessingInstruction("themekit", payload))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
