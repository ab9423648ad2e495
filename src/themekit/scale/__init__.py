"""The Dask side: the same study on many workers, with the same results as on one machine.

Stages cut their work into independent pieces and hand them to a *mapper*
(:mod:`themekit.common.parallel`); here is the mapper that sends them to a Dask cluster
(``dask.distributed``; a university cluster provides workers through ``dask-jobqueue``):

- :func:`connect` / :func:`dask_client` — a client for a scheduler address, or ``"local"`` for a
  ``LocalCluster`` on this machine (bound to 127.0.0.1 only);
- :class:`DaskMapper` — ``mapper(fn, items)`` over the workers: ``fn`` (with its settings: the
  embedder, the segmenter, the code centroids) goes to each worker once, the items are spread,
  the results come back in order. An embedder sent this way loads its model once per worker,
  on the worker's GPU when it has one;
- :func:`read_transcripts`, :func:`embed_utterances`, :func:`discover` — the library calls with
  a ``client``: reading and segmenting by transcript, embedding by chunks of texts (the
  workers return vectors; only the caller writes the embedding cache), assigning a large
  corpus to its codes by chunks of units;
- :func:`predict_proba` (a fitted CodeMapper's scores by chunks of utterances) and
  :func:`audit` (the drift test's permutations by chunks, each block of them from its own seed).

Needs the ``scale`` extra: ``pip install "themekit[scale]"``.
"""

from __future__ import annotations

from .engine import DaskMapper, connect, dask_client, describe, mapper_for, require_dask
from .run import audit, discover, embed_utterances, predict_proba, read_transcripts

__all__ = ["connect", "dask_client", "DaskMapper", "describe", "mapper_for", "require_dask", "read_transcripts",
           "embed_utterances", "discover", "predict_proba", "audit"]
