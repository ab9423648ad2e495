"""REFI-QDA project basics shared by :mod:`themekit.codebook.refi_export` and :mod:`themekit.codebook.refi_import`."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..types import InputError

#: the REFI-QDA user that holds themekit's suggestions in a project it writes
SUGGESTION_USER = "themekit"

__all__ = ["PROJECT_NAMESPACE", "SETTINGS_PI_TARGET", "local_name", "find_qde"]

PROJECT_NAMESPACE = "urn:QDA-XML:project:1.0"
# processing instruction before <Project> holding themekit's own settings (REFI has no place)
SETTINGS_PI_TARGET = "themekit-project"


def local_name(el) -> str:
    """Tag without namespace; ``""`` for comments and processing instructions."""
    from lxml import etree

    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def find_qde(z: zipfile.ZipFile, path: Path) -> str:
    """Name of the project document in a ``.qdpx`` archive (``project.qde``, else the one ``.qde``)."""
    names = [n for n in z.namelist() if not n.endswith("/")]
    if "project.qde" in names:
        return "project.qde"
    qde = [n for n in names if n.lower().endswith(".qde")]
    if len(qde) == 1:
        return qde[0]
    if not qde:
        raise InputError(path, "no project.qde in the archive; is this a REFI-QDA project (.qdpx) "
                         "exported by a QDA program?")
    raise InputError(path, f"several .qde files in the archive ({', '.join(qde)}) and none named project.qde")
