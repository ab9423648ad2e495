"""Codebooks: codes with definitions, criteria and examples, grouped into themes.

A :class:`Codebook` is the shared instrument of a study: an ordered hierarchy of :class:`Code`
objects, checked on construction (unique names and guids, known parents, no cycles), with
:meth:`Codebook.validate` for warnings and :meth:`Codebook.diff` to compare versions.

It is read and written as YAML (``.yaml``/``.yml``), CSV (``.csv``, including the serdif/Taguette
variants) and REFI-QDA Codebook Exchange (``.qdc``) for NVivo, ATLAS.ti, MAXQDA, QualCoder;
:meth:`Codebook.load`/:meth:`Codebook.save` pick the format by extension, and the layouts are
described in :mod:`themekit.codebook.formats`, which does the reading and writing;
:class:`Code` lives in :mod:`themekit.codebook.code`.

Codes are identified by their name (unique in a codebook) and by a guid (``Code.id``): guids read
from files are kept; codes without one get a deterministic UUID5 from their path of names.
"""
from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from ..types import InputError
from .code import Code, derived_id
from .formats import read_codebook, read_csv, read_qdc, read_yaml, to_csv, to_qdc, to_yaml, write_codebook

__all__ = ["Codebook", "CodebookDiff"]

log = logging.getLogger("themekit")

_MAX_LOGGED = 5


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

    # -- files (formats in themekit.codebook.formats) ---------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Codebook":
        """Read a codebook by extension (.yaml/.yml, .csv, .qdc); warnings are logged."""

        path = Path(path)
        book = cls(**read_codebook(path))
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

        return cls(**read_yaml(text, source))

    @classmethod
    def from_csv(cls, text: str, source: str | os.PathLike | None = None) -> "Codebook":
        """Parse CSV text (``source`` names it in error messages)."""

        return cls(**read_csv(text, source))

    @classmethod
    def from_qdc(cls, data: bytes | str, source: str | os.PathLike | None = None) -> "Codebook":
        """Parse REFI-QDA codebook XML (also the ``<CodeBook>`` of a ``<Project>`` document)."""

        return cls(**read_qdc(data.encode("utf-8") if isinstance(data, str) else data, source))

    def save(self, path: str | os.PathLike) -> Path:
        """Write by extension (.yaml/.yml, .csv, .qdc), atomically."""

        return write_codebook(self, Path(path))

    def to_yaml(self) -> str:
        """The nested YAML form (see :mod:`themekit.codebook.formats`)."""

        return to_yaml(self)

    def to_csv(self) -> str:
        """``code,theme,definition,include,exclude,examples`` (+ ``id,color,codable`` if needed)."""

        return to_csv(self)

    def to_qdc(self) -> bytes:
        """REFI-QDA Codebook Exchange XML (``.qdc``) as UTF-8 bytes."""

        return to_qdc(self)


def _read_qdc(data: bytes, path: Path) -> Codebook:
    """A codebook from REFI-QDA codebook XML (``path`` names it in error messages)."""
    return Codebook(**read_qdc(data, path))
