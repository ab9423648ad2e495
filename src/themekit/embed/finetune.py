"""Few-shot fine-tuning of the sentence embedder on coded segments (SetFit-style).

SetFit (Tunstall et al. 2022) adapts a sentence-transformer to a labelling task with a
handful of examples per class: a short *contrastive* fine-tuning pulls same-class texts
together and pushes different-class texts apart, then a plain classifier is trained on the
new embeddings. :func:`fine_tune_embedder` does the first step on coded utterances (the seeds);
:class:`~themekit.mapping.CodeMapper` does the second with ``fine_tune=True``.

How (sentence-transformers' own loss; a small explicit training loop, no extra dependency):

- **Loss**: ``BatchHardSoftMarginTripletLoss`` — in each batch, every text's farthest
  same-code text and nearest other-code text form a triplet (batch-hard mining, Hermans et
  al. 2017); no margin to tune.
- **Batches** of ``codes_per_batch`` codes x ``per_code`` texts each ("PK" sampling), codes
  and texts cycled in a seeded random order, so every code and every seed is seen evenly.
  A text with several codes joins each code's pool but is never put in a batch beside another
  of its own codes (it would be its own negative).
- **Budget**: ``steps`` optimiser steps (AdamW, ``learning_rate`` with linear warm-up over the
  first tenth and linear decay, gradient norm clipped at 1, weight decay 0.01 — the
  sentence-transformers defaults), texts cut at ``max_seq_length`` tokens. On a laptop CPU
  the default budget takes a minute or two.
- **Determinism**: ``random_state`` seeds the sampling and torch (dropout) inside a forked
  RNG, so the caller's random state is untouched; training uses ``threads`` torch threads
  (default 1: reproducible, and on a busy shared machine faster than more).

The result is a :class:`FineTunedEmbedder` whose ``model_id`` is the base model's id plus a
hash of the training texts, labels and settings: the embedding cache never mixes its vectors
with the base model's or another fine-tuning's.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .backends import sentence_transformer_encode

__all__ = ["fine_tune_embedder", "FineTunedEmbedder", "FineTuneSettings"]

log = logging.getLogger("themekit")


@dataclass(frozen=True)
class FineTuneSettings:
    """Everything besides the data that changes the fine-tuned model (part of its id)."""

    steps: int = 30
    codes_per_batch: int = 11
    per_code: int = 4
    learning_rate: float = 5e-5
    max_seq_length: int = 128
    random_state: int = 0
    loss: str = "batch_hard_soft_margin_triplet"

    def validate(self) -> None:
        for name in ("steps", "codes_per_batch", "per_code", "max_seq_length"):
            v = getattr(self, name)
            lo = 2 if name in ("codes_per_batch", "per_code") else 1
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
        lr = self.learning_rate
        if not isinstance(lr, (int, float)) or not 0 < lr < 1:
            raise ValueError(f"learning_rate must be a number in (0, 1); got {lr!r}")
        if not isinstance(self.random_state, (int, np.integer)):
            raise ValueError(f"random_state must be an integer; got {self.random_state!r}")


class FineTunedEmbedder:
    """An :class:`~themekit.embed.Embedder` over a fine-tuned sentence-transformers model.

    ``model_id`` = ``<base model id>+ft<hash>`` (hash of training texts, labels and settings);
    ``settings`` (part of the cache key) records the base id and the fine-tuning settings;
    ``base_model_id``, ``n_texts``, ``n_codes``, ``seconds`` (training time) describe the run.
    """

    chunk_size = 1024

    def __init__(self, model, model_id: str, *, base_model_id: str, settings: FineTuneSettings,
                 n_texts: int, n_codes: int, seconds: float, batch_size: int = 32, threads: int | None = 1):
        self.model = model
        self.model_id = model_id
        self.base_model_id = base_model_id
        self.fine_tune_settings = settings
        self.n_texts, self.n_codes, self.seconds = n_texts, n_codes, seconds
        self.batch_size = batch_size
        self.threads = threads
        self.settings = {"max_seq_length": settings.max_seq_length, "normalize": True,
                         "base": base_model_id, "fine_tune": asdict(settings)}

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        with _torch_threads(self.threads):
            return sentence_transformer_encode(self, texts, progress=progress)

    def __repr__(self) -> str:
        return (f"FineTunedEmbedder({self.model_id!r}: {self.base_model_id} fine-tuned on {self.n_texts} "
                f"texts, {self.n_codes} codes, {self.fine_tune_settings.steps} steps)")


@contextlib.contextmanager
def _torch_threads(n: int | None):
    import torch

    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_label_sets(labels) -> list[tuple[str, ...]]:
    out = []
    for i, lab in enumerate(labels):
        if isinstance(lab, str):
            codes = (lab,) if lab else ()
        elif lab is None:
            codes = ()
        else:
            codes = tuple(dict.fromkeys(str(c) for c in lab))
        if not codes:
            raise ValueError(f"text {i} has no label; fine-tuning needs at least one code per text")
        out.append(codes)
    return out


def _data_hash(base_id: str, texts: Sequence[str], labels: list[tuple[str, ...]], s: FineTuneSettings) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"base": base_id, "settings": asdict(s)}, sort_keys=True).encode())
    for t, lab in zip(texts, labels):
        h.update(json.dumps([t, list(lab)]).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


class _PKSampler:
    """Batches of P codes x K texts, codes and each code's texts cycled in seeded random order."""

    def __init__(self, labels: list[tuple[str, ...]], P: int, K: int, rng: np.random.Generator):
        self.codes = sorted({c for lab in labels for c in lab})
        self.labels = labels
        self.pool = {c: [i for i, lab in enumerate(labels) if c in lab] for c in self.codes}
        self.P, self.K, self.rng = min(P, len(self.codes)), K, rng
        self._code_queue: list[str] = []
        self._text_queue: dict[str, list[int]] = {c: [] for c in self.codes}

    def _next_code(self, taken: set[str]) -> str | None:
        for _ in range(2):
            for j, c in enumerate(self._code_queue):
                if c not in taken:
                    return self._code_queue.pop(j)
            self._code_queue.extend(self.rng.permutation(self.codes).tolist())
        return None

    def _next_texts(self, c: str, k: int, forbidden: set[str], used: set[int]) -> list[int]:
        ok = [i for i in self.pool[c] if i not in used and not (set(self.labels[i]) - {c}) & forbidden]
        k = min(k, len(ok))
        out: list[int] = []
        for _ in range(3):           # refill the queue at most twice
            q = self._text_queue[c]
            rest = []
            for i in q:
                if len(out) < k and i in ok and i not in out:
                    out.append(i)
                else:
                    rest.append(i)
            self._text_queue[c] = rest
            if len(out) >= k:
                break
            self._text_queue[c].extend(self.rng.permutation(self.pool[c]).tolist())
        return out

    def batch(self) -> list[tuple[int, str]]:
        """(text index, the code it stands for in this batch) pairs."""
        codes: list[str] = []
        while len(codes) < self.P:
            c = self._next_code(set(codes))
            if c is None:
                break
            codes.append(c)
        out: list[tuple[int, str]] = []
        used: set[int] = set()
        for c in codes:
            picked = self._next_texts(c, self.K, set(codes) - {c}, used)
            used.update(picked)
            out.extend((i, c) for i in picked)
        return out


def fine_tune_embedder(embedder, texts: Sequence[str], labels, *, steps: int = 30,
                       codes_per_batch: int = 11, per_code: int = 4, learning_rate: float = 5e-5,
                       max_seq_length: int = 128, random_state: int = 0, threads: int | None = 1,
                       progress: bool = False) -> FineTunedEmbedder:
    """A copy of ``embedder``'s sentence-transformers model, fine-tuned so that texts with the
    same code lie close together (see the module docstring); ``embedder`` is left unchanged.

    ``texts``: the training texts (coded utterances; the codebook's descriptions may be added
    as extra examples of their codes); ``labels``: one code per text, or a list of codes for a
    text with several. At least two codes are needed. ``steps``: optimiser steps of
    ``codes_per_batch x per_code`` texts; ``threads``: torch threads while training and
    encoding (None: leave torch's setting).
    """
    settings = FineTuneSettings(steps=steps, codes_per_batch=codes_per_batch, per_code=per_code,
                                learning_rate=learning_rate, max_seq_length=max_seq_length,
                                random_state=random_state)
    settings.validate()
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be None or an integer >= 1; got {threads!r}")
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of texts, not one string")
    texts = [str(t) for t in texts]
    label_sets = _as_label_sets(labels)
    if len(label_sets) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(label_sets)} labels")
    n_codes = len({c for lab in label_sets for c in lab})
    if n_codes < 2:
        raise ValueError(f"fine-tuning needs texts of at least 2 codes; got {n_codes}")
    if getattr(embedder, "quantize", None):
        raise TypeError(f"fine-tuning needs full-precision weights; {embedder!r} is quantised: load the "
                        "embedder without quantize=")
    base_model = getattr(embedder, "model", None)
    if isinstance(embedder, FineTunedEmbedder) or base_model is None or not hasattr(base_model, "preprocess"):
        raise TypeError(f"fine-tuning needs a sentence-transformers embedder (load_embedder() with a "
                        f"sentence-transformers model); got {embedder!r}")

    import torch
    from sentence_transformers.sentence_transformer.losses import BatchHardSoftMarginTripletLoss

    base_id = str(embedder.model_id)
    model_id = f"{base_id}+ft{_data_hash(base_id, texts, label_sets, settings)}"
    t0 = time.perf_counter()
    device = next(base_model.parameters()).device
    rng_devices = [device.index or 0] if device.type == "cuda" else []   # dropout's RNG, restored after
    with torch.random.fork_rng(devices=rng_devices), _torch_threads(threads):
        torch.manual_seed(int(random_state))
        rng = np.random.default_rng(int(random_state))
        model = copy.deepcopy(base_model)
        model.max_seq_length = max_seq_length
        model.train()
        loss_fn = BatchHardSoftMarginTripletLoss(model)
        params = [p for p in model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]     # biases and LayerNorm: no weight decay
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate)
        warm = max(1, math.ceil(0.1 * steps))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
        sampler = _PKSampler(label_sets, codes_per_batch, per_code, rng)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="fine-tuning", unit="step", dynamic_ncols=True)
        try:
            for _ in range(steps):
                batch = sampler.batch()
                code_no = {c: j for j, c in enumerate(dict.fromkeys(c for _, c in batch))}
                lab = [code_no[c] for _, c in batch]
                feats = model.preprocess([texts[i] for i, _ in batch])
                feats = {k: v.to(device) if hasattr(v, "to") else v for k, v in feats.items()}
                loss = loss_fn([feats], torch.tensor(lab, device=device))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
        finally:
            if bar is not None:
                bar.close()
        model.eval()
    seconds = time.perf_counter() - t0
    log.info("fine-tuned %s on %d texts of %d codes: %d steps in %.0fs -> %s", base_id, len(texts), n_codes,
             steps, seconds, model_id)
    return FineTunedEmbedder(model, model_id, base_model_id=base_id, settings=settings, n_texts=len(texts),
                             n_codes=n_codes, seconds=seconds,
                             batch_size=getattr(embedder, "batch_size", 32), threads=threads)
