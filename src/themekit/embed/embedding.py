"""Embedding with the cache in front: :func:`load_embedder` finds a model on this machine,
:func:`embed_texts` / :func:`embed_utterances` embed only what the cache has not seen.

Any object with a ``model_id`` string and ``encode(texts, *, progress=False)`` returning an
(n, d) float32 matrix of L2-normalised rows is an embedder (see :mod:`.backends`). Precomputed
vectors can be wrapped with ``Embeddings.from_arrays`` and passed to any downstream step instead.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..common.parallel import local_map
from ..types import ThemekitError
from .backends import CHUNK_SIZE, Embedder, SentenceTransformerEmbedder, StaticEmbedder
from .models import resolve_model
from .vectors import Embeddings, normalize_rows

if TYPE_CHECKING:
    from ..common.parallel import Mapper
    from ..types import Utterance
    from .cache import EmbeddingCache

__all__ = ["load_embedder", "embed_texts", "embed_utterances", "as_embeddings"]

log = logging.getLogger("themekit")

#: jobs with more texts than this show a progress bar (when ``progress=True``)
PROGRESS_MIN = 500


_EMBEDDERS: dict[tuple, Embedder] = {}


def load_embedder(model: str | os.PathLike | None = None, *, fast: bool = False,
                  device: str | None = None, **kwargs) -> Embedder:
    """Find a model on this machine and return an embedder for it (weights load on first use).

    ``model``: None for the default all-MiniLM-L6-v2, a folder path, a folder name under
    ``models/`` (or ``$THEMEKIT_MODELS``), or a hub name when the hub is allowed.
    ``fast=True`` with no ``model``: the static model made by ``themekit models distill``.
    Extra keyword arguments (``batch_size``, ``max_seq_length``, ``quantize="int8"``) go to
    ``SentenceTransformerEmbedder``. Embedders are reused within a process.
    """
    spec = resolve_model(model, fast=fast)
    key = (spec, device, tuple(sorted(kwargs.items())))
    if key in _EMBEDDERS:
        return _EMBEDDERS[key]
    if spec.kind == "model2vec":
        if kwargs:
            raise ValueError(f"options {sorted(kwargs)} do not apply to static model {spec.name}")
        embedder: Embedder = StaticEmbedder(spec)
    else:
        embedder = SentenceTransformerEmbedder(spec, device=device, **kwargs)
    _EMBEDDERS[key] = embedder
    return embedder


# -- embedding with the cache -----------------------------------------------------------------
_DEFAULT_CACHES: dict = {}


def _resolve_cache(cache, embedder) -> "EmbeddingCache | None":
    from .cache import EmbeddingCache, default_cache_dir

    if cache is None or cache is False:
        return None
    if cache is True:
        if not getattr(embedder, "cacheable", True):
            return None
        where = default_cache_dir()
        if where not in _DEFAULT_CACHES:    # one per process: keeps its index warm between calls
            _DEFAULT_CACHES[where] = EmbeddingCache(where)
        return _DEFAULT_CACHES[where]
    if isinstance(cache, EmbeddingCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return EmbeddingCache(cache)
    raise TypeError(f"cache must be an EmbeddingCache, a folder, True or False; got {cache!r}")


def _check_output(v: np.ndarray, n: int, embedder) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 2 or v.shape[0] != n:
        raise ThemekitError(f"embedder {embedder!r} returned shape {v.shape} for {n} texts")
    if v.dtype != np.float32:
        v = v.astype(np.float32)
    if not np.all(np.isfinite(v)):
        raise ThemekitError(f"embedder {embedder!r} returned NaN or infinite values")
    norms = np.linalg.norm(v, axis=1)
    off = (np.abs(norms - 1) > 1e-3) & (norms > 0)    # a static model gives 0 for unknown-only text
    if off.any():
        log.warning("embedder %r returned rows that are not unit length; normalising them "
                    "(the Embedder contract asks for L2-normalised rows)", embedder)
        v = normalize_rows(v)
    return v


def embed_texts(texts: Sequence[str], embedder: Embedder | None = None, *, cache=True,
                progress: bool = False, mapper: "Mapper | None" = None) -> np.ndarray:
    """(n, d) float32 matrix for ``texts`` in order; cached texts are not embedded again.

    ``cache``: True for the default cache (``themekit cache info`` shows where), False or None
    for none, a folder, or an ``EmbeddingCache``. Duplicate texts are embedded once. Texts the
    cache lacks are sorted by length and sent to the model in chunks (written to the cache as
    they finish, so an interrupted run keeps its work); long jobs show a progress bar.

    ``mapper`` (see :mod:`themekit.common.parallel`) encodes the chunks, e.g. on the workers
    of a Dask cluster (``themekit.scale``): the same chunks either way, and only this process
    writes to the cache.
    """
    if isinstance(texts, str):
        raise TypeError("embed_texts expects a sequence of texts, not one string")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {i} is {type(t).__name__}, not str")
    embedder = embedder if embedder is not None else load_embedder()
    store = _resolve_cache(cache, embedder)
    position: dict[str, int] = {}
    inverse = np.fromiter((position.setdefault(t, len(position)) for t in texts), dtype=np.int64,
                          count=len(texts))
    unique = list(position)
    matrix: np.ndarray | None = None
    have = np.zeros(len(unique), dtype=bool)
    keys: list[bytes] = []
    if store is not None and unique:
        keys = store.keys(embedder, unique)
        have, matrix = store.lookup(embedder.model_id, keys)
    todo = sorted(np.flatnonzero(~have).tolist(), key=lambda i: len(unique[i]), reverse=True)
    if todo:
        chunk = max(1, int(getattr(embedder, "chunk_size", CHUNK_SIZE)))
        bar = None
        if progress and len(todo) > PROGRESS_MIN:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=f"embedding ({len(unique) - len(todo)} cached)",
                       unit="text", dynamic_ncols=True)
        parts = [todo[s:s + chunk] for s in range(0, len(todo), chunk)]
        encoded = (mapper or local_map)(functools.partial(_encode_chunk, embedder=embedder),
                                        ([unique[i] for i in part] for part in parts))
        try:
            for part, vecs in zip(parts, encoded):
                vecs = _check_output(vecs, len(part), embedder)
                if matrix is None:
                    matrix = np.zeros((len(unique), vecs.shape[1]), dtype=np.float32)
                elif vecs.shape[1] != matrix.shape[1]:
                    raise ThemekitError(f"embedder {embedder!r} returned {vecs.shape[1]} dimensions; "
                                        f"its cached vectors have {matrix.shape[1]}")
                matrix[part] = vecs
                if store is not None:
                    store.put_many(embedder.model_id, [keys[i] for i in part], vecs)
                if bar is not None:
                    bar.update(len(part))
        finally:
            if bar is not None:
                bar.close()
        log.debug("embedded %d texts, %d from cache", len(todo), len(unique) - len(todo))
    if matrix is None:      # no texts at all
        dim = getattr(embedder, "dim", 0)
        return np.zeros((0, dim if isinstance(dim, int) else 0), dtype=np.float32)
    return matrix if len(unique) == len(texts) and np.array_equal(inverse, np.arange(len(texts))) \
        else matrix[inverse]


def _encode_chunk(texts: list[str], embedder) -> np.ndarray:
    return embedder.encode(texts, progress=False)


def embed_utterances(utterances: Iterable["Utterance"], embedder: Embedder | None = None, *,
                     cache=True, progress: bool = True, mapper: "Mapper | None" = None) -> Embeddings:
    """Embeddings of each utterance's ``content`` (text without transcriber directions),
    with the utterance ids. ``mapper``: see :func:`embed_texts`."""
    utterances = list(utterances)
    embedder = embedder if embedder is not None else load_embedder()
    vectors = embed_texts([u.content for u in utterances], embedder, cache=cache, progress=progress,
                          mapper=mapper)
    return Embeddings(tuple(u.id for u in utterances), vectors, embedder.model_id)


def as_embeddings(utterances: Iterable["Utterance"], embeddings: Embeddings | Embedder | None = None,
                  *, cache=True, progress: bool = True) -> Embeddings:
    """For downstream steps that accept either precomputed ``Embeddings`` or an embedder:
    the rows for ``utterances`` in their order (precomputed must cover them all), else embed."""
    utterances = list(utterances)
    if isinstance(embeddings, Embeddings):
        return embeddings.subset([u.id for u in utterances])
    return embed_utterances(utterances, embeddings, cache=cache, progress=progress)
