"""CodeMapper, facets, candidate mapping and coverage on tiny hand-made inputs.

A keyword embedder puts each known word on its own axis, so every cosine is known exactly.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from themekit.codebook import Code, Codebook
from themekit.embed import Embeddings, HashingEmbedder
from themekit.mapping import CodeMapper, NotFittedError, code_facets, map_candidates, unsupported_codes
from themekit.types import Corpus, Transcript, Utterance

WORDS = ("alpha", "beta", "gamma", "delta", "zeta", "eta", "theta")


class KeywordEmbedder:
    """Each word of WORDS is one axis (counts); texts without them point along a last axis."""

    model_id = "keywords-test"
    cacheable = False
    dim = len(WORDS) + 1

    def encode(self, texts, *, progress=False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                if w in WORDS:
                    out[i, WORDS.index(w)] += 1
            if not out[i].any():
                out[i, -1] = 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


EMB = KeywordEmbedder()
PURE = dict(context=None, center=False, lexical_weight=0.0, self_training=0)   # prior only


def units(texts, tid="T1"):
    return [Utterance(f"u{i}", tid, "P1", "participant", i, 10 * i, 10 * i + 5, t) for i, t in enumerate(texts)]


def book(*codes):
    return Codebook([Code(None, n, d, **kw) for n, d, kw in codes])


ABC = book(("Alpha", "alpha", {}), ("Beta", "beta", {}), ("Gamma", "gamma", {}))


def test_zero_shot_picks_the_matching_code():
    us = units(["alpha alpha", "beta", "gamma thing", "alpha"])
    m = CodeMapper(**PURE).fit(ABC, us, embedder=EMB)
    assert m.predict().tolist() == ["Alpha", "Beta", "Gamma", "Alpha"]
    assert list(m.scores_.columns) == ["Alpha", "Beta", "Gamma"]
    assert np.allclose(m.scores_.sum(axis=1), 1)
    # prior = cosine to the best positive facet
    assert m.prior_.loc["u0", "Alpha"] == pytest.approx(1.0)
    assert m.prior_.loc["u0", "Beta"] == pytest.approx(0.0)


def test_abstains_when_nothing_fits_better_than_chance():
    us = units(["alpha", "beta", "gamma", "alpha beta gamma", "theta"])
    m = CodeMapper(**PURE).fit(ABC, us, embedder=EMB)
    assert m.abstain_threshold_ == pytest.approx(2 / 3)
    top = m.suggestions_[m.suggestions_["rank"] == 1].set_index("utterance_id")
    # equal scores for all three codes -> probability 1/3 < 2/3: abstain
    assert top.loc["u3", "abstained"] and top.loc["u4", "abstained"]
    assert not top.loc[["u0", "u1", "u2"], "abstained"].any()
    assert m.predict().tolist()[3:] == [None, None]
    assert m.predict(abstain=False).iloc[3] in {"Alpha", "Beta", "Gamma"}
    assert not m.suggestions_.set_index("utterance_id").loc["u3", "suggested"].any()


def test_multilabel_threshold_is_relative_to_the_top_score():
    us = units(["alpha alpha beta", "gamma", "beta", "alpha"])
    p = CodeMapper(**PURE, abstain_threshold=0).fit(ABC, us, embedder=EMB).scores_.loc["u0"]
    ratio = p["Beta"] / p["Alpha"]
    assert 0 < ratio < 1
    for thr, expected in ((ratio - 1e-6, {"Alpha", "Beta"}), (ratio + 1e-6, {"Alpha"})):
        m = CodeMapper(**PURE, abstain_threshold=0, multilabel_threshold=thr).fit(ABC, us, embedder=EMB)
        s = m.suggestions_
        assert set(s[(s.utterance_id == "u0") & s.suggested]["code"]) == expected


def test_exclusion_lowers_the_score_only_when_it_fits_better():
    cb = book(("Alpha", "alpha", {"exclude": "delta (use Beta)"}), ("Beta", "beta", {}))
    facets = code_facets(cb.get("Alpha"))
    assert [(f.kind, f.text) for f in facets if not f.positive] == [("exclude", "delta")]
    assert all("delta" not in f.text for f in facets if f.positive)
    us = units(["alpha delta delta", "alpha alpha delta", "beta"])
    m = CodeMapper(**PURE).fit(cb, us, embedder=EMB)
    pos0, ex0 = 1 / np.sqrt(5), 2 / np.sqrt(5)
    assert m.prior_.loc["u0", "Alpha"] == pytest.approx(pos0 - (ex0 - pos0))
    assert m.prior_.loc["u1", "Alpha"] == pytest.approx(2 / np.sqrt(5))     # exclusion weaker: no penalty


def test_facets_use_everything_the_code_says():
    c = Code(None, "Benefits", "Value of the tool. Shorter waits.", include="Gains for staff",
             exclude="Costs", examples=("It saves an hour.",))
    kinds = [f.kind for f in code_facets(c)]
    assert kinds == ["description", "definition", "definition", "definition", "include", "example", "exclude"]
    assert code_facets(Code(None, "Bare"))[1].kind == "name"


def test_suggestions_table_columns_and_orders():
    us = units(["alpha", "beta", "gamma", "alpha beta"])
    m = CodeMapper(**PURE, top_k=2).fit(ABC, us, embedder=EMB)
    s = m.suggestions_
    assert list(s.columns) == ["utterance_id", "transcript_id", "speaker", "start", "end", "text", "code",
                               "score", "rank", "margin", "abstained", "suggested", "seeded", "evidence",
                               "model_score", "calibrated"]
    assert len(s) == 8 and s["rank"].tolist() == [1, 2] * 4
    assert m.suggestions("uncertain")["utterance_id"].iloc[0] == "u3"
    assert m.suggestions("confident")["utterance_id"].iloc[-1] == "u3"
    assert s.loc[0, "evidence"].startswith("description: Alpha")


def test_seeding_fixes_a_misleading_codebook():
    # the data talk about Alpha with the word "zeta" and about Beta with "eta": the codebook alone
    # cannot know; five coded utterances per code teach it (cross-fitting over them shows it)
    cb = book(("Alpha", "alpha", {}), ("Beta", "beta", {}))
    texts = ["zeta"] * 8 + ["eta"] * 8 + ["alpha", "beta"]
    us = units(texts)
    truth = ["Alpha"] * 8 + ["Beta"] * 8 + ["Alpha", "Beta"]
    kw = dict(context=None, lexical_weight=0.0, random_state=0)
    zero = CodeMapper(**kw).fit(cb, us, embedder=EMB).predict(abstain=False)
    seeds = {f"u{i}": "Alpha" for i in range(5)} | {f"u{i}": "Beta" for i in range(8, 13)}
    m = CodeMapper(**kw).fit(cb, us, embedder=EMB, seeds=seeds)
    acc = lambda p: np.mean([a == b for a, b in zip(p, truth)])  # noqa: E731
    assert acc(zero) < 0.75
    assert acc(m.predict(abstain=False)) == 1.0
    assert m.crossfit_.learned and m.weights_["seeds"] + m.weights_["seeds+self-training"] > 0.5
    # four seeds are too few to tell: the zero-shot weights, said so
    few = CodeMapper(**kw).fit(cb, us, embedder=EMB, seeds={"u0": "Alpha", "u1": "Alpha", "u8": "Beta", "u9": "Beta"})
    assert few.weights_ == {"codebook": 0.5, "codebook+self-training": 0.5, "seeds": 0.0, "seeds+self-training": 0.0}
    assert not few.crossfit_.learned and "too few" in few.crossfit_.reason
    pd.testing.assert_frame_equal(few.scores_.drop(index=list(seeds)), CodeMapper(**kw).fit(cb, us, embedder=EMB)
                                  .scores_.drop(index=list(seeds)))


def test_seeds_from_a_table_and_unknown_codes_warn(caplog):
    us = units(["alpha", "beta", "gamma", "zeta"])
    seeds = pd.DataFrame({"utterance_id": ["u3", "u3", "u9"], "code": ["Alpha", "Nope", "Beta"]})
    m = CodeMapper(context=None).fit(ABC, us, embedder=EMB, seeds=seeds)
    assert m.seeds_ == {"u3": ["Alpha"]}
    assert "Nope" in caplog.text
    assert bool(m.suggestions_.set_index("utterance_id").loc["u3", "seeded"].all())


def test_seeds_from_coded_segments_need_and_use_the_corpus():
    from themekit.codebook.coding import CodedSegment

    text = "alpha talk here. beta talk here."
    t = Transcript("T1", text)
    us = [Utterance("a", "T1", "P", "participant", 0, 0, 16, text[0:16]),
          Utterance("b", "T1", "P", "participant", 1, 17, 32, text[17:32])]
    corpus = Corpus([t], us)
    segs = [CodedSegment("T1", 17, 32, "Beta", "c1", text[17:32])]
    m = CodeMapper(**PURE).fit(ABC, corpus, embedder=EMB, seeds=segs)
    assert m.seeds_ == {"b": ["Beta"]}
    with pytest.raises(ValueError, match="corpus"):
        CodeMapper(**PURE).fit(ABC, us, embedder=EMB, seeds=segs)


def test_prompt_context_is_added_from_preceding_interviewer_turns():
    text = "Q: tell me about alpha?\nit was ok.\nQ: and beta?\nit was ok."
    t = Transcript("T1", text)
    spans = [(0, 23, "interviewer"), (24, 34, "participant"), (35, 47, "interviewer"), (48, 58, "participant")]
    us = [Utterance(f"x{i}", "T1", None, r, i, s, e, text[s:e]) for i, (s, e, r) in enumerate(spans)]
    corpus = Corpus([t], us)
    kw = dict(center=False, lexical_weight=0.0, self_training=0)
    m = CodeMapper(**kw).fit(ABC, corpus, embedder=EMB)
    assert m.context_ and m.predict().tolist() == ["Alpha", "Beta"]
    m2 = CodeMapper(**kw, context=None).fit(ABC, corpus, embedder=EMB)
    assert not m2.context_
    assert m2.scores_.iloc[0, 0] == pytest.approx(1 / 3)     # "it was ok." fits nothing


def test_predict_on_new_utterances_matches_fit_and_precomputed_embeddings():
    us = units(["alpha", "beta", "gamma zeta", "alpha eta", "beta theta"])
    m = CodeMapper(context=None).fit(ABC, us, embedder=EMB)
    again = m.predict_proba(us)
    assert np.allclose(again.to_numpy(), m.scores_.to_numpy())
    pre = Embeddings(tuple(u.id for u in us), EMB.encode([u.text for u in us]), EMB.model_id)
    m2 = CodeMapper(context=None).fit(ABC, us, embedder=EMB, embeddings=pre)
    assert np.allclose(m2.scores_.to_numpy(), m.scores_.to_numpy())
    with pytest.raises(ValueError, match="same model"):
        CodeMapper().fit(ABC, us, embedder=HashingEmbedder(), embeddings=pre)


def _seeded_mapper():
    """A fitted mapper with every part that scores: word features, self-training, fold models."""
    words = ["zeta", "eta", "alpha beta", "gamma zeta", "theta eta", "alpha", "beta"]
    us = units([f"{words[i % len(words)]} and {words[(3 * i) % len(words)]}" for i in range(40)])
    seeds = {f"u{i}": ("Alpha", "Beta", "Gamma")[i % 3] for i in range(0, 40, 2)}
    m = CodeMapper(context=None, random_state=0).fit(ABC, us, embedder=HashingEmbedder(), seeds=seeds)
    return m, units([f"{w} again {i}" for i, w in enumerate(words * 3)], tid="T2")


def test_scores_in_chunks_on_any_engine_equal_one_pass():
    m, new = _seeded_mapper()
    assert m._models and m._vectorizer is not None
    whole = m.predict_proba(new, chunk_size=10_000)
    seen = []

    def engine(fn, items):      # another order of work, results in the items' order
        items = list(items)
        seen.append(len(items))
        return [fn(it) for it in items[::-1]][::-1]

    # each row by itself: the same up to the last bit BLAS may round differently for another
    # number of rows; the same chunks on another engine: bit for bit
    for size in (1, 4):
        part = m.predict_proba(new, chunk_size=size)
        np.testing.assert_allclose(part.to_numpy(), whole.to_numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(part.attrs["no_code"], whole.attrs["no_code"], rtol=1e-12, atol=1e-15)
        assert m.predict(new, chunk_size=size).equals(m.predict(new))
    local = m.predict_proba(new, chunk_size=4)
    on_engine = m.predict_proba(new, chunk_size=4, mapper=engine)
    assert seen == [6]                                   # 21 utterances in chunks of 4
    pd.testing.assert_frame_equal(on_engine, local)
    np.testing.assert_array_equal(on_engine.attrs["no_code"], local.attrs["no_code"])
    # what travels to the workers: the fitted state, not the embedder or the training data
    lean = m._scorer()
    assert not {"embedder_", "_x", "_units", "scores_", "suggestions_", "_precomputed"} & set(vars(lean))
    with pytest.raises(ValueError, match="chunk_size"):
        m.predict_proba(new, chunk_size=0)


def test_works_with_the_hashing_embedder_and_is_deterministic():
    cb = Codebook.load_text if False else book(
        ("Waiting", "long waits for an appointment", {"examples": ("I waited weeks to be seen",)}),
        ("Staff", "kind and helpful nurses and doctors", {}),
        ("Cost", "money, fees and prices", {}))
    texts = ["we waited three weeks for an appointment", "the nurses were so kind", "the fees are high",
             "doctors were helpful", "it was a long wait", "prices keep rising"] * 3
    us = units(texts)
    a = CodeMapper(context=None).fit(cb, us, embedder=HashingEmbedder(512))
    b = CodeMapper(context=None).fit(cb, us, embedder=HashingEmbedder(512))
    assert a.suggestions_.equals(b.suggestions_)
    assert a.predict(abstain=False).iloc[:3].tolist() == ["Waiting", "Staff", "Cost"]


def test_parameters_are_checked_and_fit_is_required():
    with pytest.raises(NotFittedError, match="fit"):
        CodeMapper().predict()
    for kw, msg in [({"top_k": 0}, "top_k must be an integer >= 1; got 0"),
                    ({"abstain_threshold": 1.5}, "abstain_threshold"),
                    ({"multilabel_threshold": 0}, "multilabel_threshold"),
                    ({"context": "question"}, "context"),
                    ({"C": -1}, "C must be a number > 0")]:
        with pytest.raises(ValueError, match=re.escape(msg)):
            CodeMapper(**kw).fit(ABC, units(["alpha"]), embedder=EMB)
    with pytest.raises(ValueError, match="at least 2 codable"):
        CodeMapper().fit(book(("Only", "alpha", {})), units(["alpha"]), embedder=EMB)
    assert repr(CodeMapper(top_k=5)) == "CodeMapper(top_k=5)"


# -- candidate codes ------------------------------------------------------------------------
def _candidate_setup():
    # mixed members: z = 1.16 for Alpha and for Beta (>= tau = 1, within delta): ambiguous
    texts = (["alpha"] * 4 + ["beta"] * 4 + ["gamma"] * 4 + ["alpha beta"] * 4 + ["theta"] * 12)
    us = units(texts)
    m = CodeMapper(**PURE).fit(ABC, us, embedder=EMB)
    ids = [u.id for u in us]
    cands = {"k_alpha": ids[0:4], "k_mixed": ids[12:16], "k_new": ids[16:28], "-1": ids[4:6]}
    return m, cands


def test_map_candidates_statuses():
    m, cands = _candidate_setup()
    df = map_candidates(cands, m)
    top = df[df["rank"] == 1].set_index("candidate")
    assert set(top.index) == {"k_alpha", "k_mixed", "k_new"}           # outlier group skipped
    assert top.loc["k_alpha", ["code", "status"]].tolist() == ["Alpha", "matched"]
    assert top.loc["k_mixed", "status"] == "ambiguous"
    assert top.loc["k_new", "status"] == "emergent"
    assert df.attrs["matrix"].shape == (3, 3)
    # z-scores against the corpus: the alpha candidate's members are all maximally like Alpha
    z = m.prior_["Alpha"]
    assert top.loc["k_alpha", "score"] == pytest.approx((1 - z.mean()) / z.std())
    # a stricter tau makes every candidate emergent; an exact tie stays ambiguous even with delta 0
    assert map_candidates(cands, m, tau=10).query("rank == 1")["status"].eq("emergent").all()
    assert map_candidates({"k": cands["k_mixed"]}, m, delta=0).loc[0, "status"] == "ambiguous"


def test_map_candidates_rows_are_the_codes_a_candidate_resembles():
    m, cands = _candidate_setup()
    df = map_candidates(cands, m)
    z = df.attrs["matrix"]
    for cid, g in df.groupby("candidate", sort=False):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        assert g["status"].iloc[1:].eq("").all()        # the status stands on the first row only
        if g["status"].iloc[0] == "emergent":
            assert g["fit"].tolist() == ["nearest (below tau)"] and z.loc[cid].max() < 1.0
        else:                                            # every code at or above tau, no other
            assert set(g["code"]) == set(z.columns[z.loc[cid] >= 1.0])
            assert g["fit"].iloc[0] == "best match"
    mixed = df[df["candidate"] == "k_mixed"]
    assert mixed["fit"].tolist()[:2] == ["best match", "as close as the best"]


def test_map_candidates_from_centroids():
    m, _ = _candidate_setup()
    cents = Embeddings(("c1", "c2"), EMB.encode(["gamma", "theta"]), EMB.model_id)
    top = map_candidates(cents, m).query("rank == 1").set_index("candidate")
    assert top.loc["c1", ["code", "status"]].tolist() == ["Gamma", "matched"]
    assert top.loc["c2", "status"] == "emergent"


def test_unsupported_codes():
    cb = book(("Alpha", "alpha", {}), ("Beta", "beta", {}), ("Delta", "delta", {}))
    us = units(["alpha", "alpha", "beta", "beta gamma", "alpha zeta"])
    m = CodeMapper(**PURE, abstain_threshold=0.4).fit(cb, us, embedder=EMB)
    cov = unsupported_codes(m).set_index("code")
    assert cov.loc["Delta", "supported"] == False  # noqa: E712
    assert cov.loc[["Alpha", "Beta"], "supported"].all()
    assert cov.loc["Alpha", "n_top"] == 3
    cand = map_candidates({"k": ["u0", "u1"]}, m, tau=0.5)   # z = 0.9 here
    assert unsupported_codes(m, cand).set_index("code").loc["Alpha", "candidates"] == "k"


@pytest.mark.model
def test_real_model_zero_shot_on_obvious_utterances():
    from themekit.embed import load_embedder

    cb = Codebook([
        Code(None, "Waiting times", "Delays before being seen or treated.", examples=("I waited months.",)),
        Code(None, "Staff kindness", "How caring and respectful the nurses and doctors were."),
        Code(None, "Costs", "Money: fees, prices, paying for care.", exclude="Time spent waiting"),
    ])
    texts = ["It took eleven weeks to get an appointment.", "The nurse held my hand and was so gentle.",
             "I had to pay two hundred pounds for the scan.", "We sat in the corridor for six hours.",
             "The doctor really listened to me.", "The prescription charges keep going up."]
    m = CodeMapper(context=None).fit(cb, units(texts), embedder=load_embedder())
    assert m.predict(abstain=False).tolist() == ["Waiting times", "Staff kindness", "Costs"] * 2


def test_map_candidates_from_a_discovery_result():
    from themekit.discover.themes import DiscoveryResult

    m, _ = _candidate_setup()
    us = m._units
    labels = np.array([0] * 4 + [-1] * 8 + [1] * 4 + [-1] * 12)      # C01: alpha, C02: "alpha beta"
    vecs = EMB.encode([u.text for u in us])
    ids = [f"C{g + 1:02d}" if g >= 0 else None for g in labels]
    res = DiscoveryResult(us, vecs, ids, ["core" if g >= 0 else "outlier" for g in labels],
                          _terms=[[u.text.split()[0]] for u in us])      # no lemmatiser: fast
    df = map_candidates(res, m)
    top = df[df["rank"] == 1].set_index("candidate")
    assert top.loc["C01", ["code", "status", "n_members"]].tolist() == ["Alpha", "matched", 4]
    assert top.loc["C02", "status"] == "ambiguous"
    assert top.loc["C01", "label"] == res.codes.set_index("id").loc["C01", "label"]


def test_uncoded_seed_utterances_teach_no_code():
    from themekit.codebook.coding import CodedSegment

    words = ["alpha one", "beta two", "theta three", "alpha four", "theta five", "beta six", "theta seven"]
    text, spans = "", []
    for w in words:
        spans.append((len(text), len(text) + len(w)))
        text += w + ". "
    t = Transcript("T1", text)
    us = [Utterance(f"v{i}", "T1", "P", "participant", i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]
    corpus = Corpus([t], us)
    segs = [CodedSegment("T1", *spans[0], "Alpha", "c1"), CodedSegment("T1", *spans[1], "Beta", "c1")]
    kw = dict(context=None, lexical_weight=0.0)
    m = CodeMapper(**kw).fit(ABC, corpus, embedder=EMB, seeds=segs)
    assert m.seeds_ == {"v0": ["Alpha"], "v1": ["Beta"]}
    assert set(m.uncoded_) == {"v2", "v3", "v4", "v5", "v6"}        # seen by the coder, left uncoded
    pred = m.predict()
    assert pred["v4"] is None and pred["v6"] is None               # "theta" talk: no code
    assert m.no_code_["v4"] > m.scores_.loc["v4"].max()
    off = CodeMapper(**kw, no_code=False).fit(ABC, corpus, embedder=EMB, seeds=segs)
    assert off.uncoded_ == () and off.no_code_.eq(0).all()
    new = units(["theta again", "alpha again"], tid="T9")
    assert CodeMapper(**kw).fit(ABC, corpus, embedder=EMB, seeds=segs).predict(new).tolist() == [None, "Alpha"]


def test_a_pickled_mapper_unpickles_its_sklearn_parts_only_when_scoring(tmp_path):
    """The result cache stores mappers; a rerun that only reports on one need not import
    scikit-learn (a second of start-up). The deferred parts come back on first use, scoring
    exactly as before."""
    import pickle
    import subprocess
    import sys

    us = units(["alpha", "beta words", "gamma", "alpha again", "beta", "gamma gamma"] * 3)
    m = CodeMapper(context=None).fit(ABC, us, embedder=EMB, seeds={"u0": "Alpha", "u1": "Beta", "u2": "Gamma"})
    assert m._models and m._vectorizer is not None
    back = pickle.loads(pickle.dumps(m))
    assert "_deferred" in back.__dict__ and "_models" not in back.__dict__
    pd.testing.assert_frame_equal(back.suggestions(), m.suggestions())
    new = units(["alpha beta", "gamma"], tid="T2")
    pd.testing.assert_frame_equal(back.predict_proba(new), m.predict_proba(new))
    assert "_deferred" not in back.__dict__ and set(back._models) == set(m._models)
    # pickled again once used: the same object graph
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(back)).predict_proba(new), m.predict_proba(new))

    path = tmp_path / "mapper.pkl"
    plain = pickle.loads(pickle.dumps(m))
    plain.embedder_ = None        # the test's embedder class lives in this test module
    path.write_bytes(pickle.dumps(plain))
    code = ("import pickle, sys\n"
            f"m = pickle.loads(open({str(path)!r}, 'rb').read())\n"
            "print('sklearn' in sys.modules, len(m.suggestions()))\n"
            "m._models\n"
            "print('sklearn' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(tmp_path)).stdout.split()
    assert out == ["False", str(len(m.suggestions())), "True"]


def test_an_unpickled_mapper_serves_threads_that_all_score_at_once():
    """The threads of one Dask worker share one unpickled scorer and all start at once: each
    must find the deferred parts (none may see them half restored). A scorer copy is pickled
    whole, so nothing is left to unpickle on a worker."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    us = units(["alpha", "beta words", "gamma", "alpha again", "beta", "gamma gamma"] * 3)
    m = CodeMapper(context=None).fit(ABC, us, embedder=EMB, seeds={"u0": "Alpha", "u1": "Beta", "u2": "Gamma"})
    for _ in range(5):
        back = pickle.loads(pickle.dumps(m))
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda _: back._models, range(8)))
        assert all(g is got[0] for g in got) and set(got[0]) == set(m._models)
    shipped = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(m))._scorer()))
    assert "_models" in shipped.__dict__ and "_deferred" not in shipped.__dict__
