"""Few-shot fine-tuning of the embedder (themekit.embed.finetune) and CodeMapper(fine_tune=True).

Tests marked ``model`` run the real all-MiniLM-L6-v2 (installed package) on a handful of texts
for a few steps: a few seconds each on a CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from themekit.codebook import Code, Codebook
from themekit.embed import HashingEmbedder
from themekit.embed.finetune import FineTunedEmbedder, _PKSampler, fine_tune_embedder
from themekit.mapping import CodeMapper
from themekit.types import Utterance

TEXTS = ["The queue at the clinic took hours.", "I waited weeks for an appointment.",
         "Nobody saw us until late in the evening.", "The delay before the scan was awful.",
         "The nurse was so kind to my mother.", "The doctor listened and was gentle.",
         "Staff treated me with real respect.", "The receptionist smiled and helped us.",
         "The parking fee was twenty pounds.", "Prescriptions cost more every year.",
         "We paid for the private scan ourselves.", "The bill for the dental work shocked me."]
LABELS = ["wait"] * 4 + ["staff"] * 4 + ["cost"] * 4
SMALL = dict(steps=4, codes_per_batch=3, per_code=4, learning_rate=1e-4)


@pytest.fixture(scope="module")
def base():
    from themekit.embed import load_embedder

    return load_embedder()


def separation(v: np.ndarray, labels) -> float:
    """Mean cosine between same-label texts minus mean cosine between different-label texts."""
    lab = np.asarray(labels)
    sim = v @ v.T
    same = (lab[:, None] == lab[None, :]) & ~np.eye(len(lab), dtype=bool)
    diff = lab[:, None] != lab[None, :]
    return float(sim[same].mean() - sim[diff].mean())


@pytest.mark.model
def test_fine_tuning_brings_same_code_texts_closer_and_leaves_the_base_alone(base):
    before = base.encode(TEXTS)
    ft = fine_tune_embedder(base, TEXTS, LABELS, **SMALL)
    after = ft.encode(TEXTS)
    assert after.shape == before.shape and after.dtype == np.float32
    assert np.allclose(np.linalg.norm(after, axis=1), 1, atol=1e-5)
    assert separation(after, LABELS) > separation(before, LABELS) + 0.05
    assert np.array_equal(base.encode(TEXTS), before)          # the base model is not changed
    assert isinstance(ft, FineTunedEmbedder) and ft.base_model_id == base.model_id
    assert ft.model_id.startswith(base.model_id + "+ft") and ft.n_codes == 3 and ft.n_texts == 12


@pytest.mark.model
def test_deterministic_for_a_random_state_and_the_id_follows_data_and_settings(base):
    import torch

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = fine_tune_embedder(base, TEXTS, LABELS, random_state=7, **SMALL)
    assert torch.rand(1) == expected_next                      # the caller's torch RNG is untouched
    b = fine_tune_embedder(base, TEXTS, LABELS, random_state=7, **SMALL)
    assert a.model_id == b.model_id
    assert np.array_equal(a.encode(TEXTS[:3]), b.encode(TEXTS[:3]))
    other_labels = fine_tune_embedder(base, TEXTS, LABELS[4:] + LABELS[:4], random_state=7, **SMALL)
    other_seed = fine_tune_embedder(base, TEXTS, LABELS, random_state=8, **SMALL)
    assert len({a.model_id, other_labels.model_id, other_seed.model_id}) == 3
    assert not np.allclose(a.encode(TEXTS[:3]), other_seed.encode(TEXTS[:3]))


def test_inputs_are_checked():
    emb = HashingEmbedder()
    with pytest.raises(ValueError, match="at least 2 codes"):
        fine_tune_embedder(emb, TEXTS[:4], LABELS[:4])
    with pytest.raises(ValueError, match="12 texts but 11 labels"):
        fine_tune_embedder(emb, TEXTS, LABELS[:-1])
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        fine_tune_embedder(emb, TEXTS, LABELS, steps=0)
    with pytest.raises(ValueError, match="no label"):
        fine_tune_embedder(emb, TEXTS[:2], ["wait", []])
    with pytest.raises(TypeError, match="sentence-transformers embedder"):
        fine_tune_embedder(emb, TEXTS, LABELS)


def test_pk_batches_cover_codes_and_texts_evenly_and_keep_multi_coded_texts_apart():
    labels = [("a",), ("a",), ("a", "b"), ("b",), ("b",), ("c",), ("c",), ("c",)]
    s = _PKSampler(labels, P=2, K=2, rng=np.random.default_rng(0))
    seen = np.zeros(len(labels), int)
    for _ in range(30):
        batch = s.batch()
        idx = [i for i, _ in batch]
        codes = {c for _, c in batch}
        assert len(codes) == 2 and len(set(idx)) == len(idx)
        for i, c in batch:
            assert c in labels[i] and not (set(labels[i]) - {c}) & codes   # never its own negative
        seen[idx] += 1
    assert seen.min() >= 0.5 * seen.mean()                     # every text takes its turn


# -- CodeMapper(fine_tune=True) ----------------------------------------------------------------
CB = Codebook([Code(None, "Waiting", "Delays before being seen or treated."),
               Code(None, "Staff", "How caring the nurses and doctors were."),
               Code(None, "Costs", "Money: fees and prices.")])


def _units(texts):
    return [Utterance(f"u{i}", "T1", "P1", "participant", i, 100 * i, 100 * i + 50, t) for i, t in enumerate(texts)]


@pytest.mark.model
def test_code_mapper_fine_tunes_on_its_seeds(base):
    from themekit.embed import Embeddings

    extra = ["We sat in the corridor for six hours.", "The doctor was really caring.", "The fees went up again."]
    us = _units(TEXTS + extra)
    seeds = {f"u{i}": {"wait": "Waiting", "staff": "Staff", "cost": "Costs"}[lab] for i, lab in enumerate(LABELS)
             if i % 4 < 2}
    kw = dict(context=None, fine_tune=True, fine_tune_steps=3)
    m = CodeMapper(**kw).fit(CB, us, embedder=base, seeds=seeds)
    assert m.fine_tuned_ and m.embedder_.model_id.startswith(base.model_id + "+ft")
    assert m.predict(abstain=False)[["u12", "u13", "u14"]].tolist() == ["Waiting", "Staff", "Costs"]
    m2 = CodeMapper(**kw).fit(CB, us, embedder=base, seeds=seeds)
    assert m2.embedder_.model_id == m.embedder_.model_id
    assert np.allclose(m2.scores_.to_numpy(), m.scores_.to_numpy(), atol=1e-6)
    # vectors of the base model are not mixed with the fine-tuned ones
    pre = Embeddings(tuple(u.id for u in us), base.encode([u.content for u in us]), base.model_id)
    m3 = CodeMapper(**kw).fit(CB, us, embeddings=pre, embedder=base, seeds=seeds)
    assert np.allclose(m3.scores_.to_numpy(), m.scores_.to_numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="fine-tuned"):
        m.predict_proba(us[:2], embeddings=pre)
    assert m.predict_proba(us[12:]).idxmax(axis=1).tolist() == ["Waiting", "Staff", "Costs"]


def test_code_mapper_fine_tune_needs_seeds_and_a_trainable_embedder():
    us = _units(TEXTS)
    m = CodeMapper(context=None, fine_tune=True).fit(CB, us, embedder=HashingEmbedder())   # zero-shot: no-op
    assert not m.fine_tuned_ and m.embedder_.model_id == "hashing-256"
    with pytest.raises(TypeError, match="sentence-transformers"):
        CodeMapper(context=None, fine_tune=True).fit(CB, us, embedder=HashingEmbedder(),
                                                     seeds={"u0": "Waiting", "u4": "Staff"})
    for bad in (dict(fine_tune="yes"), dict(fine_tune_steps=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CodeMapper(**bad).fit(CB, us, embedder=HashingEmbedder())


def test_cli_fine_tune_option_reaches_the_mapper():
    import argparse

    from themekit.cli.map import add_mapper_options, make_mapper

    p = argparse.ArgumentParser()
    add_mapper_options(p)
    assert make_mapper(p.parse_args(["--fine-tune"])).fine_tune is True
    assert make_mapper(p.parse_args([])).fine_tune is False
