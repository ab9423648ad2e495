"""Stage 4, discover: utterance embeddings in, candidate codes and themes out (inductive).

Takes utterances and their embeddings (or an embedder); gives a :class:`DiscoveryResult`:
candidate codes with labels, key terms, verbatim exemplar quotes, how many participants voice
each, per-code stability over seeds, a grouping into themes, and recorded edits (merge, split,
rename, delete, reassign outliers) that end in a draft :class:`~themekit.codebook.Codebook`.
Modules: ``cluster`` (:class:`CodeDiscoverer`: UMAP + HDBSCAN over several seeds), ``consensus``
(agreement of the runs), ``label`` (labels, key terms, exemplars), ``themes`` (the result).
Imports :mod:`themekit.embed` and :mod:`themekit.codebook`.
"""

from __future__ import annotations

from .cluster import CodeDiscoverer, auto_min_code_size, auto_stability_runs, discover
from .consensus import centroids_of, coassociation
from .themes import CandidateCode, DiscoveryResult

__all__ = ["CodeDiscoverer", "discover", "auto_min_code_size", "auto_stability_runs", "coassociation",
           "centroids_of", "DiscoveryResult", "CandidateCode"]
