"""REFI-QDA Project Exchange (``.qdpx``): hand a study to NVivo, ATLAS.ti, MAXQDA or QualCoder
and read their projects back.

A ``.qdpx`` file is a zip archive with ``project.qde`` (XML in namespace
``urn:QDA-XML:project:1.0``, schema in ``themekit/schemas/Project.xsd``) and the sources under
``sources/``. themekit writes:

* one ``<User>`` per human coder and a separate user ``"themekit"`` for the model's suggested
  codings, so they can be reviewed (and deleted) apart from human coding in the CAQDAS program;
* the codebook as ``<CodeBook>`` (built by :meth:`themekit.codebook.Codebook.to_qdc`, so names,
  hierarchy, definitions, criteria, examples and colours read exactly as in a ``.qdc``);
* ``<Variables>``/``<Cases>``: one case per participant (``participant_id`` column of the corpus
  metadata; one per transcript without it) with ``<SourceRef>`` to its transcripts; the other
  metadata columns become text variables — on the case when a participant's transcripts agree,
  else on each source;
* one ``<TextSource>`` per transcript: its ``text`` as ``sources/<guid>.txt`` (UTF-8, no BOM), and
  a ``<PlainTextSelection>`` per coded span and coder, holding one ``<Coding>`` per code.

Positions. ``startPosition``/``endPosition`` count characters of the plain-text source: Unicode
code points, 0-based, end exclusive — Python string indices (QualCoder, the reference open
implementation, slices its text with them: ``fulltext[pos0:pos1]``). As the source file *is*
``transcript.text``, positions equal themekit offsets. On import a BOM is dropped; in sources with
Windows line ends, ``\\r\\n`` counts as two characters (as NVivo, MAXQDA and QualCoder count it)
except in projects whose ``origin`` names ATLAS.ti (which counts it as one); either way the
transcript text is normalised to ``\\n`` and positions are mapped onto it, like every themekit
transcript.

Guids are UUID5 of the ids (transcript, coder, span, code, ...), so exporting the same data twice
gives the same bytes. ``creationDateTime`` comes from a segment's ``order`` when that is a date
and time; sequence numbers have no place in REFI and are not written.

Writing and schema checks are in :mod:`themekit.codebook.refi_export`, reading in
:mod:`themekit.codebook.refi_import`, and what both need in :mod:`themekit.codebook.refi_common`; this module
gathers their public names.
"""

from __future__ import annotations

from .refi_common import PROJECT_NAMESPACE
from .refi_export import SUGGESTION_USER, export_qdpx, project_xml, validate_project
from .refi_import import RefiProject, import_qdpx

__all__ = ["export_qdpx", "import_qdpx", "project_xml", "validate_project", "RefiProject",
           "PROJECT_NAMESPACE", "SUGGESTION_USER"]
