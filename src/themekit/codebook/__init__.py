"""Stage 3, codebook: the study's instrument and the human coding that applies it.

Takes codebook files (YAML, REFI-QDA ``.qdc``, tables and documents: CSV/TSV, Excel, Word,
Markdown, as teams and CAQDAS programs write them), coded-segment exports (offsets or verbatim
quotes; CSV/TSV, Excel, NVivo reference reports) and REFI-QDA projects (``.qdpx``); gives :class:`Codebook`
(codes with definitions, criteria, examples, themes; ``diff`` between versions),
:class:`CodedSegment` lists aligned to utterances, and ``.qdc``/``.qdpx`` files for NVivo,
ATLAS.ti, MAXQDA and QualCoder. Modules: ``code`` (one code), ``model`` (the codebook),
``formats`` (file formats; ``table_codebook``, ``outline`` and ``tables`` for codebooks as tables
and documents), ``coding`` (coded segments; ``quotes``, ``code_names`` and ``nvivo_refs`` for
exports from CAQDAS programs), ``decisions`` (review decisions as human coding), ``refi_*``
(project exchange).
Imports :mod:`themekit.io` (file decoding, segmentation of imported sources).
"""

from __future__ import annotations

from .code import CODEBOOK_EXTENSIONS, QDC_NAMESPACE, Code, derived_id
from .coding import (DEFAULT_CODER, CodedSegment, align_to_utterances, read_coded_segments, segments_to_pandas,
                     write_coded_segments)
from .decisions import Decision, read_decisions
from .model import Codebook, CodebookDiff, _read_qdc
from .refi import (PROJECT_NAMESPACE, SUGGESTION_USER, RefiProject, export_qdpx, import_qdpx, project_xml,
                   validate_project)

__all__ = ["Code", "Codebook", "CodebookDiff", "derived_id", "QDC_NAMESPACE", "CODEBOOK_EXTENSIONS",
           "CodedSegment", "read_coded_segments", "write_coded_segments", "segments_to_pandas",
           "align_to_utterances", "DEFAULT_CODER", "export_qdpx", "import_qdpx", "project_xml",
           "validate_project", "RefiProject", "PROJECT_NAMESPACE", "SUGGESTION_USER",
           "Decision", "read_decisions"]
