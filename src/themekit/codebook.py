"""Codebooks: codes with definitions, criteria and examples, grouped into themes.

A :class:`Codebook` is the shared instrument of a study. It is read and written as

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

Codes are identified by their name (unique in a codebook) and by a guid (``Code.id``): guids read
from files are kept; codes without one get a deterministic UUID5 from their path of names.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from .types import InputError, atomic_write

__all__ = ["Code", "Codebook", "CodebookDiff", "derived_id", "QDC_NAMESPACE", "CODEBOOK_EXTENSIONS"]

log = logging.getLogger("themekit")

QDC_NAMESPACE = "urn:QDA-XML:codebook:1.0"
CODEBOOK_EXTENSIONS = (".yaml", ".yml", ".csv", ".qdc")
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://themekit.invalid/codebook/code")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(rf"{_UUID}|\{{{_UUID}\}}")
_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})")
_MAX_LOGGED = 5
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffe\uffff]")


def _clean(text: Any) -> str:
    """Text field: newlines normalised, invisible control characters dropped, stripped."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
    return _CONTROL.sub("", s).strip()


def _sentence(s: str) -> str:
    s = " ".join(s.split())
    return s if not s or s[-1] in ".!?…:;" else s + "."


@dataclass(frozen=True)
class Code:
    """One code of a codebook.

    ``id`` is a REFI-QDA guid (UUID); ``None`` lets the :class:`Codebook` derive a stable one
    from the code's path. ``parent`` is the *name* of the parent code (theme) or ``None``.
    Fields are normalised on creation (stripped; ``examples`` a tuple; colour ``#RRGGBB``).
    """

    id: str | None
    name: str
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: tuple[str, ...] = ()
    parent: str | None = None
    color: str | None = None
    is_codable: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        name = _clean(self.name)
        if not name:
            raise ValueError("a code needs a non-empty name")
        if "\n" in name:
            raise ValueError(f"code name {name!r} spans several lines; a name must be one line")
        set_(self, "name", name)
        ident = _clean(self.id) or None
        if ident is not None and not _GUID.fullmatch(ident):
            raise ValueError(f"code {name!r}: id {ident!r} is not a UUID (REFI-QDA guids look like "
                             "'1b4e28ba-2fa1-11d2-883f-0016d3cca427'); leave it out to have one generated")
        set_(self, "id", ident)
        for f in ("definition", "include", "exclude"):
            set_(self, f, _clean(getattr(self, f)))
        examples = self.examples
        if examples is None:
            examples = ()
        elif isinstance(examples, str):
            examples = (examples,)
        set_(self, "examples", tuple(e for e in (_clean(x) for x in examples) if e))
        parent = _clean(self.parent) or None
        set_(self, "parent", parent)
        color = _clean(self.color) or None
        if color is not None:
            if not _COLOR.fullmatch(color):
                raise ValueError(f"code {name!r}: colour {color!r} is not '#RRGGBB' (e.g. '#1F77B4')")
            if len(color) == 4:
                color = "#" + "".join(c * 2 for c in color[1:])
            color = color.upper()
        set_(self, "color", color)
        set_(self, "is_codable", bool(self.is_codable))

    def description_text(self) -> str:
        """Everything the code says, as one text for embedding.

        ``"name: definition. Include: ... Exclude: ... Examples: ...; ..."`` on one line
        (line breaks inside fields become spaces).
        """
        head = f"{self.name}: {_sentence(self.definition)}" if self.definition else _sentence(self.name)
        parts = [head]
        if self.include:
            parts.append(f"Include: {_sentence(self.include)}")
        if self.exclude:
            parts.append(f"Exclude: {_sentence(self.exclude)}")
        if self.examples:
            trimmed = [e[:-1] if e.endswith(".") and not e.endswith("..") else e for e in self.examples]
            parts.append("Examples: " + _sentence("; ".join(trimmed)))
        return " ".join(parts)

    @property
    def has_content(self) -> bool:
        """Whether the code says anything beyond its name and place."""
        return bool(self.definition or self.include or self.exclude or self.examples)


def derived_id(path: Sequence[str]) -> str:
    """Deterministic guid of a code from its path of names (root first)."""
    return str(uuid.uuid5(_GUID_NAMESPACE, json.dumps(list(path), ensure_ascii=False)))


@dataclass(frozen=True)
class CodebookDiff:
    """What changed from an old codebook to a new one (``old.diff(new)``).

    Codes are matched by guid, then by name, then by an identical definition (a rename).
    ``renamed`` and ``changed`` hold ``(old, new)`` pairs; ``changed`` lists matched codes whose
    definition, criteria, examples, parent, colour or codability differ, with the field names.
    """

    added: tuple[Code, ...] = ()
    removed: tuple[Code, ...] = ()
    renamed: tuple[tuple[Code, Code], ...] = ()
    changed: tuple[tuple[Code, Code, tuple[str, ...]], ...] = ()

    @property
    def changed_definition(self) -> tuple[tuple[Code, Code], ...]:
        return tuple((a, b) for a, b, fields_ in self.changed if "definition" in fields_)

    @property
    def moved(self) -> tuple[tuple[Code, Code], ...]:
        return tuple((a, b) for a, b, fields_ in self.changed if "parent" in fields_)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.changed)

    def to_pandas(self) -> pd.DataFrame:
        """One row per change: ``change`` (added/removed/renamed/changed), old/new name, fields."""
        rows = [{"change": "added", "old_name": None, "new_name": c.name, "fields": ""} for c in self.added]
        rows += [{"change": "removed", "old_name": c.name, "new_name": None, "fields": ""}
                 for c in self.removed]
        rows += [{"change": "renamed", "old_name": a.name, "new_name": b.name, "fields": ""}
                 for a, b in self.renamed]
        rows += [{"change": "changed", "old_name": a.name, "new_name": b.name, "fields": ", ".join(f)}
                 for a, b, f in self.changed]
        return pd.DataFrame(rows, columns=["change", "old_name", "new_name", "fields"])

    def summary(self) -> str:
        """Readable multi-line summary."""
        lines = [f"{len(self.added)} added, {len(self.removed)} removed, {len(self.renamed)} renamed, "
                 f"{len(self.changed)} changed"]
        lines += [f"+ {c.name}" for c in self.added]
        lines += [f"- {c.name}" for c in self.removed]
        lines += [f"~ {a.name} -> {b.name}" for a, b in self.renamed]
        lines += [f"* {b.name}: {', '.join(f)}" for a, b, f in self.changed]
        return "\n".join(lines)


_DIFF_FIELDS = ("definition", "include", "exclude", "examples", "parent", "color", "is_codable")


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


class Codebook:
    """An ordered hierarchy of :class:`Code` objects (themes are codes with children).

    Raises :class:`InputError` for duplicate names or guids, unknown parents and cycles. Codes are
    kept in hierarchical order (each parent before its children, siblings in the given order).
    """

    def __init__(self, codes: Iterable[Code], version: str | None = None, name: str | None = None,
                 *, source: str | os.PathLike | None = None, lines: Sequence[int | None] | None = None):
        self.source = None if source is None else str(source)
        self.version = None if version is None or str(version).strip() == "" else str(version).strip()
        self.name = None if name is None or str(name).strip() == "" else str(name).strip()
        codes = list(codes)
        lines = list(lines) if lines is not None else [None] * len(codes)
        if len(lines) != len(codes):
            raise ValueError("lines must give one line number (or None) per code")
        self._lines: dict[str, int] = {}
        by_name: dict[str, Code] = {}
        for c, line in zip(codes, lines):
            if not isinstance(c, Code):
                raise TypeError(f"Codebook takes Code objects, got {type(c).__name__}")
            if c.name in by_name:
                first = self._lines.get(c.name)
                also = f" (first defined on line {first})" if first else ""
                raise InputError(self.source, f"duplicate code name {c.name!r}{also}; code names must be "
                                 "unique — rename or merge one", line=line)
            by_name[c.name] = c
            if line is not None:
                self._lines[c.name] = line
        for c in codes:
            if c.parent is not None and c.parent not in by_name:
                raise InputError(self.source, f"code {c.name!r} has unknown parent {c.parent!r}"
                                 f"{self._suggest(c.parent, by_name)}; add the parent or fix its name",
                                 line=self._lines.get(c.name))
        for c in codes:
            chain, p = [c.name], c.parent
            while p is not None:
                if p in chain:
                    cycle = chain[chain.index(p):] + [p]
                    raise InputError(self.source, "codes form a cycle of parents: " + " -> ".join(cycle)
                                     + "; a code cannot be its own ancestor", line=self._lines.get(c.name))
                chain.append(p)
                p = by_name[p].parent
        kids: dict[str | None, list[Code]] = {}
        for c in codes:
            kids.setdefault(c.parent, []).append(c)
        ordered: list[Code] = []

        def visit(c: Code, path: tuple[str, ...]) -> None:
            path = path + (c.name,)
            ordered.append(c if c.id else replace(c, id=derived_id(path)))
            for k in kids.get(c.name, ()):
                visit(k, path)

        for c in kids.get(None, ()):
            visit(c, ())
        seen: dict[str, str] = {}
        for c in ordered:
            key = c.id.strip("{}").lower()
            if key in seen:
                raise InputError(self.source, f"codes {seen[key]!r} and {c.name!r} have the same guid "
                                 f"{c.id}; guids must be unique", line=self._lines.get(c.name))
            seen[key] = c.name
        self.codes: tuple[Code, ...] = tuple(ordered)
        self._by_name = {c.name: c for c in self.codes}
        self._by_id = {c.id: c for c in self.codes}
        self._children: dict[str | None, tuple[Code, ...]] = {}
        for c in self.codes:
            self._children[c.parent] = self._children.get(c.parent, ()) + (c,)

    @staticmethod
    def _suggest(name: str, names: Iterable[str]) -> str:
        close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.75)
        return f" (did you mean {close[0]!r}?)" if close else ""

    # -- access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def __contains__(self, name_or_id: object) -> bool:
        return name_or_id in self._by_name or name_or_id in self._by_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Codebook):
            return NotImplemented
        return (self.codes, self.version, self.name) == (other.codes, other.version, other.name)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(f"{k}={v!r}" for k, v in (("name", self.name), ("version", self.version)) if v)
        return (f"Codebook({head + ', ' if head else ''}{len(self.codes)} codes, "
                f"{len(self.codable())} codable, {len(self.roots())} roots)")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.codes)

    def get(self, name_or_id: str | Code) -> Code:
        """The code with this name or guid; ``KeyError`` naming close matches otherwise."""
        if isinstance(name_or_id, Code):
            name_or_id = name_or_id.name
        c = self._by_name.get(name_or_id) or self._by_id.get(name_or_id)
        if c is None:
            hint = self._suggest(str(name_or_id), self._by_name)
            raise KeyError(f"no code {name_or_id!r} in the codebook{hint}")
        return c

    def children(self, name_or_id: str | Code | None = None) -> tuple[Code, ...]:
        """Direct children of a code (of the root level when ``None``)."""
        key = None if name_or_id is None else self.get(name_or_id).name
        return self._children.get(key, ())

    def roots(self) -> tuple[Code, ...]:
        return self._children.get(None, ())

    def codable(self) -> tuple[Code, ...]:
        """Codes that can be applied to text (``is_codable``), in hierarchical order."""
        return tuple(c for c in self.codes if c.is_codable)

    def parent(self, name_or_id: str | Code) -> Code | None:
        c = self.get(name_or_id)
        return None if c.parent is None else self._by_name[c.parent]

    def path(self, name_or_id: str | Code) -> tuple[str, ...]:
        """Names from the root down to this code."""
        c = self.get(name_or_id)
        out = [c.name]
        while c.parent is not None:
            c = self._by_name[c.parent]
            out.append(c.name)
        return tuple(reversed(out))

    def depth(self, name_or_id: str | Code) -> int:
        return len(self.path(name_or_id)) - 1

    def descendants(self, name_or_id: str | Code) -> tuple[Code, ...]:
        out: list[Code] = []
        stack = list(reversed(self.children(name_or_id)))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self.children(c.name)))
        return tuple(out)

    def theme_of(self, name_or_id: str | Code) -> Code:
        """The root ancestor of a code (the code itself when it is a root)."""
        return self.get(self.path(name_or_id)[0])

    # -- checks -------------------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Warnings (errors are raised on construction): codable codes without a definition,
        non-codable codes without children."""
        where = self.source or "codebook"
        out = []
        for c in self.codes:
            line = self._lines.get(c.name)
            at = f"{where}" + (f", line {line}" if line else "")
            if c.is_codable and not c.definition:
                out.append(f"{at}: code {c.name!r} has no definition; codes without a definition map "
                           "badly — add one (and include/exclude criteria if you can)")
            if not c.is_codable and not self.children(c.name):
                out.append(f"{at}: code {c.name!r} is not codable and has no child codes, so nothing "
                           "can be coded with it; make it codable or add codes under it")
        return out

    # -- tables ---------------------------------------------------------------------------------
    def to_pandas(self) -> pd.DataFrame:
        """One row per code in hierarchical order, with ``path`` (tuple of names) and ``depth``."""
        cols = ["id", "name", "parent", "path", "depth", "definition", "include", "exclude", "examples",
                "color", "is_codable", "n_children"]
        rows = []
        for c in self.codes:
            path = self.path(c.name)
            rows.append({"id": c.id, "name": c.name, "parent": c.parent, "path": path, "depth": len(path) - 1,
                         "definition": c.definition, "include": c.include, "exclude": c.exclude,
                         "examples": c.examples, "color": c.color, "is_codable": c.is_codable,
                         "n_children": len(self.children(c.name))})
        return pd.DataFrame(rows, columns=cols).astype({"depth": "int64", "n_children": "int64",
                                                         "is_codable": bool})

    # -- versions -------------------------------------------------------------------------------
    def diff(self, other: "Codebook") -> CodebookDiff:
        """Changes from this codebook (old) to ``other`` (new).

        Matching, in order: same guid (only guids that are not derived from the name path, i.e.
        guids that came from a file), same name, then a unique identical definition
        (whitespace and case ignored) — a matched pair with different names is a rename.
        """
        old_left = list(self.codes)
        new_left = list(other.codes)
        pairs: list[tuple[Code, Code]] = []

        def take(key_old, key_new) -> None:
            index: dict[Any, list[Code]] = {}
            for c in new_left:
                k = key_new(c)
                if k is not None:
                    index.setdefault(k, []).append(c)
            counts_old: dict[Any, int] = {}
            for c in old_left:
                k = key_old(c)
                if k is not None:
                    counts_old[k] = counts_old.get(k, 0) + 1
            for c in list(old_left):
                k = key_old(c)
                if k is None or counts_old[k] != 1 or len(index.get(k, ())) != 1:
                    continue
                n = index[k][0]
                pairs.append((c, n))
                old_left.remove(c)
                new_left.remove(n)

        self_derived = {c.name for c in self.codes if c.id == derived_id(self.path(c.name))}
        other_derived = {c.name for c in other.codes if c.id == derived_id(other.path(c.name))}
        take(lambda c: None if c.name in self_derived else c.id.strip("{}").lower(),
             lambda c: None if c.name in other_derived else c.id.strip("{}").lower())
        take(lambda c: c.name, lambda c: c.name)
        take(lambda c: _norm(c.definition) or None, lambda c: _norm(c.definition) or None)

        renamed = []
        changed = []
        renames = {a.name: b.name for a, b in pairs if a.name != b.name}
        for a, b in pairs:
            if a.name != b.name:
                renamed.append((a, b))
            diffs = []
            for f in _DIFF_FIELDS:
                va, vb = getattr(a, f), getattr(b, f)
                if f == "parent" and va is not None:
                    va = renames.get(va, va)  # a renamed parent is not a move
                elif f in ("definition", "include", "exclude"):
                    va, vb = " ".join(va.split()), " ".join(vb.split())  # whitespace is no change
                if va != vb:
                    diffs.append(f)
            if diffs:
                changed.append((a, b, tuple(diffs)))
        order = {c.name: i for i, c in enumerate(other.codes)}
        renamed.sort(key=lambda p: order[p[1].name])
        changed.sort(key=lambda p: order[p[1].name])
        return CodebookDiff(added=tuple(new_left), removed=tuple(old_left), renamed=tuple(renamed),
                            changed=tuple(changed))

    # -- files ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Codebook":
        """Read a codebook by extension (.yaml/.yml, .csv, .qdc); warnings are logged."""
        path = Path(path)
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
            book = _read_qdc(data, path)
        else:
            from .ingest import decode_bytes
            text = decode_bytes(data, path)
            book = _read_csv(text, path) if ext == ".csv" else _read_yaml(text, path)
        warnings = book.validate()
        for w in warnings[:_MAX_LOGGED]:
            log.warning("%s", w)
        if len(warnings) > _MAX_LOGGED:
            log.warning("%s: ... and %d more warnings (see Codebook.validate())", path,
                        len(warnings) - _MAX_LOGGED)
        return book

    @classmethod
    def from_yaml(cls, text: str, source: str | os.PathLike | None = None) -> "Codebook":
        """Parse YAML text (``source`` names it in error messages)."""
        return _read_yaml(text, source)

    @classmethod
    def from_csv(cls, text: str, source: str | os.PathLike | None = None) -> "Codebook":
        """Parse CSV text (``source`` names it in error messages)."""
        return _read_csv(text, source)

    @classmethod
    def from_qdc(cls, data: bytes | str, source: str | os.PathLike | None = None) -> "Codebook":
        """Parse REFI-QDA codebook XML (also the ``<CodeBook>`` of a ``<Project>`` document)."""
        return _read_qdc(data.encode("utf-8") if isinstance(data, str) else data, source)

    def save(self, path: str | os.PathLike) -> Path:
        """Write by extension (.yaml/.yml, .csv, .qdc), atomically."""
        path = Path(path)
        ext = path.suffix.lower()
        if ext in (".yaml", ".yml"):
            text = self.to_yaml()
            return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        if ext == ".csv":
            text = self.to_csv()
            return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))
        if ext == ".qdc":
            data = self.to_qdc()
            return atomic_write(path, lambda tmp: tmp.write_bytes(data))
        raise InputError(path, f"unknown codebook format {path.suffix or '(no extension)'!r}; "
                         f"use one of {', '.join(CODEBOOK_EXTENSIONS)}")

    def _explicit_id(self, c: Code) -> str | None:
        return None if c.id == derived_id(self.path(c.name)) else c.id

    def to_yaml(self) -> str:
        """The nested YAML form (see module docstring)."""
        import yaml

        roots = self.roots()
        as_themes = bool(roots) and all(self.children(c.name) for c in roots)

        def item(c: Code, default_codable: bool) -> dict:
            d: dict[str, Any] = {"name": c.name}
            if self._explicit_id(c):
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
            kids = self.children(c.name)
            if kids:
                d["codes"] = [item(k, True) for k in kids]
            return d

        doc: dict[str, Any] = {}
        if self.name:
            doc["name"] = self.name
        if self.version:
            doc["version"] = self.version
        doc["themes" if as_themes else "codes"] = [item(c, not as_themes) for c in roots]
        return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100,
                         default_flow_style=False)

    def to_csv(self) -> str:
        """``code,theme,definition,include,exclude,examples`` (+ ``id,color,codable`` if needed)."""
        rows = []
        for c in self.codes:
            implicit = (c.parent is None and not c.is_codable and not c.has_content and not c.color
                        and self.children(c.name) and not self._explicit_id(c))
            if not implicit:
                rows.append(c)
        cols = ["code", "theme", "definition", "include", "exclude", "examples"]
        if any(self._explicit_id(c) for c in rows):
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
                   "id": self._explicit_id(c) or "", "color": c.color or "",
                   "codable": "true" if c.is_codable else "false"}
            w.writerow([rec[k] for k in cols])
        return buf.getvalue()

    def to_qdc(self) -> bytes:
        """REFI-QDA Codebook Exchange XML (``.qdc``) as UTF-8 bytes."""
        from lxml import etree

        from . import __version__

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
            for k in self.children(c.name):
                add(el, k)

        for c in self.roots():
            add(codes_el, c)
        meta = {k: v for k, v in (("name", self.name), ("version", self.version)) if v}
        tree = etree.ElementTree(root)
        if meta:  # REFI has no place for these; a processing instruction other tools ignore
            payload = json.dumps(meta, ensure_ascii=True).replace("?>", "?\\u003e")
            root.addprevious(etree.ProcessingInstruction("themekit", payload))
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


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


def _as_bool(value: Any, path, line, what: str) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("true", "yes", "y", "1"):
        return True
    if s in ("false", "no", "n", "0"):
        return False
    raise InputError(path, f"{what}: {value!r} is not true or false", line=line)


def _read_yaml(text: str, path: Path) -> Codebook:
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
            key = _ITEM_ALIAS.get(str(k).strip().lower())
            if key is None:
                close = difflib.get_close_matches(str(k), list(_ITEM_ALIAS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(path, f"unknown field {k!r}{hint} in code {entry.get('name', '?')!r}; "
                                 f"fields are {', '.join(_ITEM_KEYS)}", line=line)
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
    return Codebook(codes, version=version, name=name, source=path, lines=lines)


# -- CSV ----------------------------------------------------------------------------------------

_CSV_COLUMNS = {
    "code": ("code", "name", "tag", "code_name", "label"),
    "theme": ("theme", "parent", "category", "parent_code", "group"),
    "definition": ("definition", "description"),
    "include": ("include", "inclusion", "inclusion_criteria", "when_to_use"),
    "exclude": ("exclude", "exclusion", "exclusion_criteria", "when_not_to_use"),
    "examples": ("examples", "example"),
    "id": ("id", "guid", "uuid"),
    "color": ("color", "colour"),
    "codable": ("codable", "is_codable", "iscodable"),
}


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


def _csv_records(text: str, path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number where the record starts, fields)]) skipping blank records."""
    from .ingest import csv_records

    return csv_records(text, path, empty="the codebook file is empty; add a header row and one row per code")


def _read_csv(text: str, path: Path) -> Codebook:
    header, records = _csv_records(text, path)
    lower = [h.strip().lower().replace(" ", "_") for h in header]
    cols: dict[str, int] = {}
    for key, guesses in _CSV_COLUMNS.items():
        for g in guesses:
            if g in lower:
                cols[key] = lower.index(g)
                break
    if "code" not in cols:
        raise InputError(path, "no code column; name the column with code names 'code' "
                         f"(columns: {', '.join(header)})", line=1)
    used = set(cols.values())
    ignored = [h for i, h in enumerate(header) if i not in used]
    if ignored:
        log.debug("%s: ignored columns %s", path, ", ".join(ignored))
    if not records:
        raise InputError(path, "the codebook has no codes (only a header row)")
    codes: list[Code] = []
    lines: list[int | None] = []
    themes: dict[str, int] = {}
    for line, row in records:
        def get(key: str) -> str:
            i = cols.get(key)
            return row[i] if i is not None and i < len(row) else ""
        name = _clean(get("code"))
        if not name:
            raise InputError(path, "empty code name", line=line)
        codable = True if not get("codable").strip() else _as_bool(get("codable"), path, line,
                                                                    f"code {name!r}, codable")
        try:
            code = Code(get("id"), name, get("definition"), get("include"), get("exclude"),
                        _split_bar(get("examples")), get("theme"), get("color"), codable)
        except ValueError as e:
            raise InputError(path, str(e), line=line) from None
        lines.append(line)
        if code.parent is not None:
            themes.setdefault(code.parent, line)
        codes.append(code)
    # a theme without its own row becomes a non-codable parent, placed where it is first named
    own = {c.name for c in codes}
    implicit = {t: Code(None, t, is_codable=False) for t in themes if t not in own}
    ordered: list[Code] = []
    ordered_lines: list[int | None] = []
    for c, line in zip(codes, lines):
        if c.parent in implicit:
            ordered.append(implicit.pop(c.parent))
            ordered_lines.append(line)
        ordered.append(c)
        ordered_lines.append(line)
    return Codebook(ordered, source=path, lines=ordered_lines)


# -- REFI-QDA .qdc --------------------------------------------------------------------------------

_MARKER = r"(?:include|inclusion(?: criteria)?|exclude|exclusion(?: criteria)?|examples?)[ \t]*:"
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
            if kind.startswith("incl"):
                current = out["include"]
                if current:
                    current.append("")
            elif kind.startswith("excl"):
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


def _read_qdc(data: bytes, path: Path) -> Codebook:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                              huge_tree=True)  # REFI projects may inline long sources
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise InputError(path, f"not well-formed XML ({e.msg})", line=e.lineno) from None

    def local(el) -> str:
        return etree.QName(el).localname if isinstance(el.tag, str) else ""

    if local(root) == "Project":  # a REFI project file: use its codebook
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
    return Codebook(codes, version=version, name=name, source=path, lines=lines)
