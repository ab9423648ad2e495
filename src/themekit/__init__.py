"""themekit: offline, reproducible NLP-assisted theme discovery for qualitative interviews."""

from __future__ import annotations

__version__ = "0.1.0"

from .audit import AuditResult, audit
from .agreement import agreement_table, cohen_kappa, krippendorff_alpha, pairwise_kappa
from .codebook import Code, Codebook
from .coding import CodedSegment, align_to_utterances, read_coded_segments
from .discover import CodeDiscoverer, discover
from .framework import FrameworkMatrix, export_framework_excel, framework_matrix
from .ingest import ReaderOptions, Turn
from .cache import EmbeddingCache
from .embed import Embedder, Embeddings, HashingEmbedder, embed_texts, embed_utterances, load_embedder
from .evaluate import EvaluationReport, evaluate
from .finetune import fine_tune_embedder
from .load import read_metadata, read_transcripts
from .mapping import CodeMapper, map_candidates, unsupported_codes
from .refi import export_qdpx, import_qdpx, validate_project
from .segment import Segmenter
from .themes import CandidateCode, DiscoveryResult
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
