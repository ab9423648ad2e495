"""Fast mode: distil a sentence-transformers model into a static (model2vec-format) model, and
check how well the static model keeps its source's ranking of similarities.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

from ..types import ThemekitError, atomic_write
from .backends import SentenceTransformerEmbedder, StaticEmbedder, pick_device
from .models import FAST_MODEL, MANIFEST, ModelNotFoundError, _load_sentence_transformer, models_dir, resolve_model

__all__ = ["distill", "fidelity", "PROBE_SENTENCES"]

log = logging.getLogger("themekit")


# -- distillation ------------------------------------------------------------------------------
#: Sentences in the style of interview answers on a few themes, used to check a distilled model
#: against its source: how well it keeps the ranking of pairwise similarities (Spearman).
PROBE_SENTENCES = (
    "I couldn't find the button to download the data.",
    "The export worked and the file opened straight away in Excel.",
    "It took ages to load and then the page just crashed.",
    "The system froze twice while I was searching.",
    "The instructions on the home page were really clear.",
    "I wasn't sure what the diagram was trying to show me.",
    "My manager never listens when we raise concerns about staffing.",
    "We are always short of staff on the night shift.",
    "The team supports each other when things get hard.",
    "I feel burnt out most weeks and I dread going in.",
    "Talking to my colleagues after a bad day really helps.",
    "The training they gave us was too short to be useful.",
    "I learned more from shadowing a senior nurse than from the course.",
    "Money is tight, so I skip meals to pay the rent.",
    "Since I lost my job we rely on the food bank.",
    "My mum looks after the kids so I can work.",
    "Childcare costs more than I earn some months.",
    "The doctor explained the side effects very patiently.",
    "I waited three months for an appointment with a specialist.",
    "The medication made me tired all the time so I stopped taking it.",
    "Exercise helps my mood more than the tablets do.",
    "I started walking every morning and I sleep better now.",
    "The bus is unreliable, so getting to the clinic is hard.",
    "Without a car it takes me two hours to reach work.",
    "Living in the countryside means everything is far away.",
    "My neighbours check on me since my husband died.",
    "I feel lonely most evenings now the children have left.",
    "Volunteering at the library gave me a reason to get up.",
    "Honestly I don't trust the government to fix any of this.",
    "The council ignored our complaints about the damp flat.",
    "The mould in the bedroom makes my son's asthma worse.",
    "Our landlord finally repaired the heating after months.",
    "I use my phone for everything, banking, shopping, appointments.",
    "My grandmother can't use the app, so I book things for her.",
    "The online form kept rejecting my password.",
    "I prefer speaking to a real person on the phone.",
    "At school the teachers expected less from kids like me.",
    "My teacher encouraged me to apply to university.",
    "Exams made me so anxious I couldn't sleep.",
    "Learning to code opened up a new career for me.",
)


def fidelity(static_model_path: str | os.PathLike, source: str | os.PathLike | None = None) -> float:
    """Spearman correlation between the pairwise cosine similarities of ``PROBE_SENTENCES``
    under a static model and under its source model (1.0: same ranking of all pairs)."""
    import numpy as np


    a = StaticEmbedder(resolve_model(static_model_path)).encode(list(PROBE_SENTENCES))
    b = SentenceTransformerEmbedder(resolve_model(source), device="cpu").encode(list(PROBE_SENTENCES))
    iu = np.triu_indices(len(PROBE_SENTENCES), 1)
    sa, sb = (a @ a.T)[iu], (b @ b.T)[iu]
    ra, rb = sa.argsort().argsort().astype(float), sb.argsort().argsort().astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def distill(
    source: str | os.PathLike | None = None,
    *,
    name: str = FAST_MODEL,
    pca_dims: int | None = 256,
    sif_coefficient: float = 1e-4,
    output_dir: str | os.PathLike | None = None,
    device: str | None = None,
    batch_size: int = 512,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Distil a static (model2vec) model from a sentence-transformers model, offline.

    The recipe is model2vec's: pass every token of the model's vocabulary through the
    transformer on its own (``[CLS] token [SEP]``), mean-pool, reduce with PCA to ``pca_dims``,
    and weight each token by SIF, ``a / (a + p(token))`` with a Zipf estimate of ``p`` from the
    token's rank. The result is saved in model2vec's format (loadable with
    ``model2vec.StaticModel.from_pretrained``) plus a ``themekit.json`` manifest.

    model2vec's own ``distill`` needs the ``skeletoken`` package and transformers < 5.4; this
    implementation needs neither and runs with what themekit already installs.
    """
    import numpy as np

    if pca_dims is not None and pca_dims < 2:
        raise ValueError(f"pca_dims must be at least 2 or None, got {pca_dims}")
    if not 0 < sif_coefficient < 1:
        raise ValueError(f"sif_coefficient must be in (0, 1), got {sif_coefficient}")
    spec = resolve_model(source)
    if spec.kind != "sentence-transformers":
        raise ModelNotFoundError(f"can only distil a sentence-transformers model; {spec.name} is {spec.kind}")
    out = Path(output_dir) if output_dir is not None else models_dir() / name
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ThemekitError(f"{out} already exists; pass overwrite=True (CLI: --force) to replace it")

    import torch
    from model2vec import StaticModel
    from tokenizers import Tokenizer


    started = time.time()
    st = _load_sentence_transformer(spec, pick_device(device))
    transformer = st[0]
    hf_tokenizer = transformer.tokenizer
    auto_model = transformer.auto_model
    vocab = hf_tokenizer.get_vocab()              # token -> id
    id_to_token = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in id_to_token] != list(range(len(vocab))):
        raise ThemekitError(f"{spec.name}: token ids are not 0..{len(vocab) - 1}; cannot distil")
    unused = re.compile(r"\[unused\d+\]")
    special = set(hf_tokenizer.all_special_ids)
    keep_ids = [i for t, i in id_to_token if not unused.fullmatch(t) and i not in special]
    cls_id, sep_id = hf_tokenizer.cls_token_id, hf_tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise ThemekitError(f"{spec.name}: distillation supports BERT-style tokenizers ([CLS]/[SEP])")

    dev = next(auto_model.parameters()).device
    auto_model.eval()
    rows = []
    it = range(0, len(keep_ids), batch_size)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="distilling", unit="batch", total=len(it))
    with torch.inference_mode():
        for start in it:
            ids = torch.tensor(keep_ids[start:start + batch_size], dtype=torch.long)
            inp = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], 1).to(dev)
            hidden = auto_model(input_ids=inp, attention_mask=torch.ones_like(inp)).last_hidden_state
            rows.append(hidden.mean(dim=1).float().cpu().numpy())
    emb = np.concatenate(rows).astype(np.float64)

    if pca_dims is not None and pca_dims < emb.shape[1]:
        centred = emb - emb.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        emb = centred @ vt[:pca_dims].T
    rank = np.arange(len(keep_ids)) + 2          # vocab id order as a frequency proxy (Zipf)
    proba = (1.0 / rank) / np.sum(1.0 / rank)
    emb = emb * (sif_coefficient / (sif_coefficient + proba))[:, None]

    # Full vocabulary table: removed tokens (specials, [unusedN]) get zero vectors, so the model
    # ignores them when pooling (model2vec skips padding/unknown ids it cannot map).
    table = np.zeros((len(vocab), emb.shape[1]), dtype=np.float32)
    table[np.asarray(keep_ids)] = emb.astype(np.float32)
    tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    static = StaticModel(vectors=table, tokenizer=tokenizer, normalize=True,
                         config={"model_type": "model2vec", "architectures": ["StaticModel"],
                                 "normalize": True, "hidden_dim": int(table.shape[1]),
                                 "apply_pca": pca_dims, "sif_coefficient": sif_coefficient,
                                 "tokenizer_name": spec.name, "seq_length": 1000000})
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)       # a replaced model's manifest must not linger
    static.save_pretrained(str(out))
    manifest = {
        "source_model": spec.name, "source_model_id": spec.model_id, "method": "themekit distill "
        "(model2vec recipe: token forward pass, mean pool, PCA, SIF/Zipf weights)",
        "pca_dims": pca_dims, "sif_coefficient": sif_coefficient, "vocab_size": len(vocab),
        "tokens_embedded": len(keep_ids), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": round(time.time() - started, 1),
    }
    manifest["fidelity_spearman"] = round(fidelity(out, spec.path), 3)
    manifest["fidelity_note"] = ("Spearman correlation of pairwise similarities of 40 probe "
                                 "sentences, static vs source model (1 = same ranking)")
    # written last, and whole: a folder with a manifest is a finished model
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(out / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    log.info("distilled %s -> %s (%d tokens, %d dims) in %.0f s; similarity ranking agrees with "
             "the source model at Spearman %.2f", spec.name, out, len(keep_ids), table.shape[1],
             manifest["seconds"], manifest["fidelity_spearman"])
    return out
