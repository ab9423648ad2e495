"""One code of a codebook: :class:`Code` (name, definition, criteria, examples, parent, colour),
its deterministic guid (:func:`derived_id`), and the format constants both the model and the
file formats need.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from ..io.load import CODEBOOK_FILE_NAMES, CODED_FILE_NAMES, study_folder_file

__all__ = ["Code", "derived_id", "QDC_NAMESPACE", "CODEBOOK_EXTENSIONS", "CODEBOOK_FILE_NAMES", "CODED_FILE_NAMES",
           "study_folder_file"]

# format constants live here, not in codebook_formats, so that module can import this one; the
# study-folder names (and their finder) are io's, which skips them when reading transcripts
QDC_NAMESPACE = "urn:QDA-XML:codebook:1.0"
CODEBOOK_EXTENSIONS = tuple(n[len("codebook"):] for n in CODEBOOK_FILE_NAMES)


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
