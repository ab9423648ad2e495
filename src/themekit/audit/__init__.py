"""Stage 6, audit: human coding checked against itself, other coders and the model.

Takes a corpus, coded segments (one or more coders, in interview order) and a codebook; gives an
:class:`AuditResult`: agreement (Cohen's κ, Krippendorff's α with bootstrap intervals, per code
and pairwise), drift of each code across interviews (permutation tests, control charts),
suspected mis-codings, human-vs-model agreement per interview, and :func:`evaluate` of model
suggestions against human codes. Modules: ``agreement``, ``coded`` (coded spans as units),
``drift`` (marginal, description), ``coder_drift`` (conditional test; its statistics in
``content_scan``), ``codebook_history``,
``miscoding``, ``evaluate``, ``core`` (:func:`audit`).
Imports :mod:`themekit.embed`, :mod:`themekit.codebook` and :mod:`themekit.mapping`.
"""

from __future__ import annotations

from .agreement import (agreement_table, bootstrap_ci, cohen_kappa, krippendorff_alpha, pairwise_kappa,
                        percent_agreement, reliability_matrix)
from .coded import coded_units, segment_id, transcript_order
from .codebook_history import CodebookHistory, read_codebook_history
from .coder_drift import CoderDrift, coder_chart, coder_drift
from .core import MODEL_AGREEMENT_COLUMNS, AuditResult, agreement_chart, audit, model_agreement
from .drift import DRIFT_COLUMNS, NULLS, benjamini_hochberg, control_chart, drift_table
from .evaluate import EvaluationReport, evaluate, gold_from_aligned, resolve_gold
from .miscoding import MISCODING_COLUMNS, code_fit, find_miscodings

__all__ = ["audit", "AuditResult", "model_agreement", "agreement_chart", "MODEL_AGREEMENT_COLUMNS",
           "coded_units", "segment_id", "transcript_order", "cohen_kappa", "krippendorff_alpha",
           "agreement_table", "pairwise_kappa", "percent_agreement", "bootstrap_ci", "reliability_matrix",
           "drift_table", "control_chart", "coder_drift", "CoderDrift", "coder_chart", "CodebookHistory",
           "read_codebook_history", "benjamini_hochberg", "DRIFT_COLUMNS", "NULLS",
           "find_miscodings", "code_fit", "MISCODING_COLUMNS",
           "evaluate", "EvaluationReport", "resolve_gold", "gold_from_aligned"]
