"""Vectors that travel with their ids: :class:`Embeddings`, and row normalisation.

Row ``i`` of ``Embeddings.vectors`` belongs to ``Embeddings.ids[i]``; every downstream stage
takes these (or an embedder that makes them), never a bare matrix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..types import InputError, atomic_write

__all__ = ["Embeddings", "normalize_rows"]


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
