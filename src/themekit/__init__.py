"""themekit: offline, reproducible NLP-assisted theme discovery for qualitative interviews.

The stages, in the order data flows (each imports only the ones above it):
``io`` (transcripts -> utterances) -> ``embed`` (vectors, cached) -> ``codebook`` (codebook and
human coding, REFI-QDA) -> ``discover`` (candidate codes and themes) -> ``mapping`` (codebook
suggestions) -> ``audit`` (agreement, drift, mis-codings) -> ``report`` (figures, HTML,
framework matrices); ``pipeline`` runs them all, ``cli`` is the command line over the same calls.
"""

from __future__ import annotations

from ._compat import install as _install_old_module_paths
from ._version import __version__
from .audit import (AuditResult, EvaluationReport, agreement_table, audit, cohen_kappa, evaluate,
                    krippendorff_alpha, pairwise_kappa)
from .codebook import (Code, Codebook, CodedSegment, align_to_utterances, export_qdpx, import_qdpx,
                       read_coded_segments, validate_project)
from .discover import CandidateCode, CodeDiscoverer, DiscoveryResult, discover
from .embed import (Embedder, EmbeddingCache, Embeddings, HashingEmbedder, embed_texts, embed_utterances,
                    fine_tune_embedder, load_embedder)
from .io import ReaderOptions, Segmenter, Turn, read_metadata, read_transcripts
from .mapping import CodeMapper, map_candidates, unsupported_codes
from .report import FrameworkMatrix, export_framework_excel, framework_matrix
from .types import Corpus, InputError, ThemekitError, Transcript, Utterance

__all__ = [
    "__version__", "Corpus", "Transcript", "Utterance", "Turn", "ReaderOptions", "Segmenter",
    "read_transcripts", "read_metadata", "InputError", "ThemekitError",
    "Code", "Codebook", "CodedSegment", "read_coded_segments", "align_to_utterances",
    "cohen_kappa", "krippendorff_alpha", "agreement_table", "pairwise_kappa",
    "export_qdpx", "import_qdpx", "validate_project",
    "framework_matrix", "export_framework_excel", "FrameworkMatrix",
    "discover", "CodeDiscoverer", "DiscoveryResult", "CandidateCode",
    "CodeMapper", "map_candidates", "unsupported_codes", "evaluate", "EvaluationReport",
    "audit", "AuditResult",
    "Embedder", "Embeddings", "HashingEmbedder", "load_embedder", "embed_texts", "embed_utterances",
    "EmbeddingCache", "fine_tune_embedder",
]

_install_old_module_paths()
