"""Codebook files: YAML, CSV and REFI-QDA Codebook Exchange (``.qdc``), read and written.

* **YAML** (``.yaml``/``.yml``) — readable nested form: ``themes:`` with ``codes:`` beneath,
  each with ``definition``, ``include``, ``exclude``, ``examples``; a flat list of codes with
  ``parent:`` is accepted too. Items under ``themes:`` are not codable unless ``codable: true``;
  items under ``codes:`` are codable unless ``codable: false``.
* **CSV** (``.csv``) — ``code,theme,definition,include,exclude,examples`` (examples
  ``|``-separated, ``\\|`` for a literal bar). A theme named in ``theme`` without its own row
  becomes a non-codable parent. Optional columns ``id``, ``color``, ``codable`` are written
  only when needed. Read: any codebook table (.csv/.tsv/.xlsx/.docx/.md) with the columns
  teams and CAQDAS programs use (:mod:`themekit.codebook.table_codebook`).
* **REFI-QDA Codebook Exchange** (``.qdc``, namespace ``urn:QDA-XML:codebook:1.0``), for NVivo,
  ATLAS.ti, MAXQDA, QualCoder. The ``<Description>`` holds the definition followed by
  ``Include: ...``, ``Exclude: ...`` and ``Example: ...`` lines, so criteria survive a round
  trip and still read well in those programs (``Definition:``, ``When to use:``, ``When not to
  use:``, ``Typical exemplar:`` lines from other programs are read into their fields too; code
  sets become themes of a flat code list).

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
from .code import CODEBOOK_EXTENSIONS, QDC_NAMESPACE, Code, _clean, derived_id
from .table_codebook import _TABLE_COLUMNS, _as_bool, _escape_bar, read_csv, read_table
from .tables import TABLE_EXTENSIONS, header_key

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
    if ext == ".qdpx":  # a REFI-QDA project: its codebook
        import zipfile

        from .refi_common import find_qde

        try:
            with zipfile.ZipFile(path) as z:
                return read_qdc(z.read(find_qde(z, path)), path)
        except zipfile.BadZipFile:
            raise InputError(path, "not a REFI-QDA project: a .qdpx file is a zip archive and this is not "
                             "one") from None
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


# -- CSV (written) ----------------------------------------------------------------------------

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
