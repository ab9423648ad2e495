"""Large corpora: the stratified sample, assignment by a stated rule, and the same results on a
Dask cluster (a 2-worker LocalCluster in this process) as without one."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from themekit.common.parallel import batches_by_weight, local_map, row_chunks
from themekit.discover import CodeDiscoverer
from themekit.discover.cluster import _pca_init, _spectral_init, _exact_knn
from themekit.discover.sample import assign_all, assign_chunk, run_centroids, stratified_sample
from themekit.embed import HashingEmbedder, embed_texts
from themekit.types import Corpus, Transcript, Utterance

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "example"


# -- sample and assignment: exact on hand-made inputs --------------------------------------------
def test_stratified_sample_is_proportional_to_transcripts_and_seeded():
    groups = ["a"] * 10 + ["b"] * 30 + ["c"] * 60
    idx = stratified_sample(groups, 10, random_state=0)
    assert Counter(groups[i] for i in idx) == {"a": 1, "b": 3, "c": 6}
    assert list(idx) == sorted(idx) and len(set(idx)) == 10
    assert np.array_equal(idx, stratified_sample(groups, 10, random_state=0))
    assert not np.array_equal(idx, stratified_sample(groups, 10, random_state=1))
    assert np.array_equal(stratified_sample(groups, 100, 0), np.arange(100))
    assert np.array_equal(stratified_sample(groups, 500, 0), np.arange(100))
    with pytest.raises(ValueError, match="size"):
        stratified_sample(groups, 0)


@pytest.mark.parametrize("seed", range(5))
def test_stratified_sample_quota_within_one_of_proportional(seed):
    rng = np.random.RandomState(seed)
    groups = np.repeat([f"T{i}" for i in range(40)], rng.randint(1, 200, 40))
    size = int(rng.randint(1, len(groups)))
    idx = stratified_sample(groups, size, seed)
    assert len(idx) == size
    got = Counter(groups[idx])
    for g, n_g in Counter(groups).items():
        assert abs(got.get(g, 0) - n_g * size / len(groups)) < 1


def test_one_unit_transcripts_are_drawn_at_random_not_by_name():
    groups = [f"R{i:04d}" for i in range(1000)]   # a survey: every answer its own transcript
    idx = stratified_sample(groups, 100, 0)
    assert len(idx) == 100 and idx.max() > 500 and idx.min() < 500


def test_assign_chunk_nearest_centroid_with_threshold():
    c = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    x = np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.45, 0.55, 0.7], [0, 0, 1]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, score, runs = assign_chunk(x, c, 0.6)
    assert labels.tolist() == [0, 1, -1, -1]
    assert np.allclose(score, [x[0, 0], x[1, 1], x[2, 1], 0.0])
    assert runs.shape == (0, 4)
    labels, _, runs = assign_chunk(x, c, 0.6, [(c[::-1], 0.0), (np.zeros((0, 3), np.float32), None)])
    assert runs.tolist() == [[1, 0, 0, 0], [-1, -1, -1, -1]]   # ties: the first
    assert assign_chunk(x, np.zeros((0, 3), np.float32), None)[0].tolist() == [-1] * 4


def test_assign_all_in_chunks_equals_one_chunk():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(101, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = x[:5] / np.linalg.norm(x[:5], axis=1, keepdims=True)
    runs = run_centroids(x[:50], np.stack([np.arange(50) % 3, np.where(np.arange(50) < 10, -1, 1)]))
    whole = assign_chunk(x, c, 0.1, runs)
    parts = assign_all(x, c, 0.1, runs, chunk=7)
    for a, b in zip(whole, parts):
        assert np.array_equal(a, b)


def test_run_centroids_threshold_is_members_5th_percentile():
    x = np.eye(4, dtype=np.float32)[[0, 0, 1, 1, 2]]
    (c, t), = run_centroids(x, np.array([[0, 0, 1, 1, -1]]))
    assert np.allclose(c, np.eye(4)[:2]) and t == pytest.approx(1.0)


def test_parallel_helpers():
    assert row_chunks(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert batches_by_weight([5, 5, 20, 1, 1], 10) == [[0, 1], [2], [3, 4]]
    assert list(local_map(abs, [-1, 2])) == [1, 2]


# -- discovery on a sample ------------------------------------------------------------------------
def blobs(n_per=80, n_transcripts=10, dim=12, seed=0):
    """Four blobs plus scattered noise; unit i spoken in transcript i % n_transcripts."""
    rng = np.random.RandomState(seed)
    vecs, texts = [], []
    words = ["waiting list referral", "evening appointments", "kind nurse ward", "parking fees car"]
    for t in range(4):
        for i in range(n_per):
            v = rng.normal(0, 0.12, dim)
            v[t] += 1.0
            vecs.append(v)
            texts.append(f"{words[t]} {i}")
    for i in range(20):
        vecs.append(rng.normal(0, 1, dim))
        texts.append(f"something else {i}")
    order = rng.permutation(len(vecs))
    vecs = np.array(vecs, np.float32)[order]
    texts = [texts[i] for i in order]
    by_t: dict[str, list[int]] = {}
    for i in range(len(texts)):
        by_t.setdefault(f"T{i % n_transcripts}", []).append(i)
    transcripts, utts = [], [None] * len(texts)
    for tid, members in by_t.items():
        body, k = "", 0
        for i in members:
            utts[i] = Utterance(f"{tid}#{k}", tid, "P", "participant", k, len(body), len(body) + len(texts[i]),
                                texts[i])
            body += texts[i] + "\n"
            k += 1
        transcripts.append(Transcript(tid, body))
    corpus = Corpus(transcripts, utts)
    corpus.check_offsets()
    return corpus, vecs


def test_sampled_fit_assigns_the_rest_by_the_stated_rule():
    corpus, x = blobs()
    d = CodeDiscoverer(reducer="none", n_stability_runs=3, min_code_size=10, random_state=0,
                       fit_sample_size=150).fit(corpus, x)
    n = len(x)
    assert d.fit_mask_.sum() == 150 and len(d.fit_mask_) == n
    # stratified: each of the 10 transcripts (34 units) gives 15
    tids = np.array([u.transcript_id for u in d.utterances_])
    assert set(Counter(tids[d.fit_mask_]).values()) == {15}
    rest = ~d.fit_mask_
    assert set(d.assignment_[rest]) <= {"assigned", "outlier"}
    assert set(d.assignment_[~rest]) <= {"core", "reassigned", "outlier"}
    sims = d.vectors_[rest] @ d.centroids_.T
    expect = np.where(sims.max(1) >= d.outlier_threshold_, sims.argmax(1), -1)
    assert np.array_equal(d.labels_[rest], expect)
    assert np.allclose(d.scores_[rest], sims.max(1), atol=1e-6)
    assert len(d.result_) == 4 and np.all(np.isfinite(d.stability_))
    assert d.run_labels_.shape == (3, n)
    # codes are numbered by size over all units, and the result says which units were fitted
    sizes = np.bincount(d.labels_[d.labels_ >= 0])
    assert list(sizes) == sorted(sizes, reverse=True)
    a = d.result_.assignments
    assert a["in_fit"].sum() == 150 and a["assignment"].tolist() == list(d.assignment_)
    fit = d.result_.params["fit_sample"]
    assert fit["n_fit"] == 150 and fit["n_utterances"] == n
    merged = d.result_.merge("C01", "C02")
    assert merged.assignments["in_fit"].sum() == 150


def test_below_the_sample_size_nothing_changes():
    corpus, x = blobs(n_per=30)
    kw = dict(reducer="none", n_stability_runs=3, min_code_size=8, random_state=0)
    a = CodeDiscoverer(**kw).fit(corpus, x)
    b = CodeDiscoverer(**kw, fit_sample_size=None).fit(corpus, x)
    assert np.array_equal(a.labels_, b.labels_) and a.fit_mask_.all()
    assert "in_fit" not in a.result_.assignments and "fit_sample_size" not in a.result_.params
    assert a.result_.codes.equals(b.result_.codes)


def test_fit_sample_size_validated():
    corpus, x = blobs(n_per=30)
    with pytest.raises(ValueError, match="fit_sample_size"):
        CodeDiscoverer(fit_sample_size=10).fit(corpus, x)


def test_a_run_works_on_read_only_inputs_and_leaves_the_shared_layout_alone():
    # the parallel runs get x and the shared layout as read-only memory maps (joblib)
    _, x = blobs(n_per=40)
    d = CodeDiscoverer(n_stability_runs=2, random_state=0, fit_sample_size=None)
    shared = d._shared_layout(x)
    knn = [a.copy() for a in shared["knn"]]
    for a in (x, shared["init"], *shared["knn"]):
        a.setflags(write=False)
    first = d._one_run(x, 10, 1, 0, shared)
    assert np.array_equal(first, d._one_run(x, 10, 1, 0, shared))
    assert all(np.array_equal(a, b) for a, b in zip(knn, shared["knn"]))


def test_many_component_graph_starts_from_principal_components():
    # 120 far-apart pairs: the neighbour graph falls into many separate components
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(120, 16))
    x = np.repeat(centres, 2, axis=0) + rng.normal(0, 1e-3, (240, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    knn = _exact_knn(x, 2)
    init = _spectral_init(x, knn, 2, 3, np.random.RandomState(0))
    pca = _pca_init(x, 3)
    assert init.shape == (240, 3)
    assert np.allclose(init, pca * (10.0 / np.abs(pca).max()), atol=1e-3)


# -- the same results on Dask ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from themekit.scale import dask_client
    with dask_client("local", n_workers=2, processes=False) as c:
        yield c


def test_sampled_discovery_on_dask_equals_local(client):
    from themekit.scale import DaskMapper
    corpus, x = blobs()
    kw = dict(reducer="none", n_stability_runs=3, min_code_size=10, random_state=0, fit_sample_size=150)
    a = CodeDiscoverer(**kw).fit(corpus, x)
    b = CodeDiscoverer(**kw).fit(corpus, x, mapper=DaskMapper(client))
    for attr in ("labels_", "scores_", "run_labels_", "fit_mask_", "assignment_", "stability_"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr


def test_embedding_on_dask_equals_local_and_one_writer_fills_the_cache(client, tmp_path):
    from themekit.embed.cache import EmbeddingCache
    from themekit.scale import DaskMapper

    class Cached(HashingEmbedder):
        cacheable = True
        chunk_size = 3
    texts = [f"text number {i} about {w}" for i, w in enumerate(["waiting", "nurse", "evening"] * 4)]
    local = embed_texts(texts, Cached(), cache=False)
    cache = EmbeddingCache(tmp_path / "c")
    on_dask = embed_texts(texts + texts[:2], Cached(), cache=cache, mapper=DaskMapper(client))
    assert np.array_equal(on_dask[:12], local) and np.array_equal(on_dask[12:], local[:2])
    assert cache.info()[0]["entries"] == 12
    again = embed_texts(texts, Cached(), cache=cache, mapper=DaskMapper(client))
    assert np.array_equal(again, local)


def test_worker_copy_of_a_model_embedder_carries_no_weights():
    import pickle
    from themekit.embed import load_embedder
    e = load_embedder()
    e._model = object()       # as if loaded: a copy for a worker must not carry it
    copy = pickle.loads(pickle.dumps(e))
    assert copy._model is None and copy.model_id == e.model_id and copy.device == "cpu"


def test_drift_permutations_on_dask_equal_local(client):
    from themekit.audit import coded_units, drift_table
    from themekit.codebook.coding import CodedSegment
    from themekit.scale import DaskMapper
    rng = np.random.RandomState(0)
    segs = [CodedSegment(f"T{t}", 10 * i, 10 * i + 5, ("A", "B", "C")[(i + t) % 3], coder, "x")
            for coder in ("c1", "c2") for t in range(6) for i in range(8)]
    units = coded_units(segs)
    x = rng.normal(size=(len(units), 24))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    order = {c: [f"T{t}" for t in range(6)] for c in ("c1", "c2")}
    a = drift_table(units, x, order, n_permutations=50, random_state=2)
    b = drift_table(units, x, order, n_permutations=50, random_state=2, mapper=DaskMapper(client))
    pd.testing.assert_frame_equal(a, b)


def test_mapping_scores_on_dask_equal_local(client):
    from themekit.codebook import Code, Codebook
    from themekit.mapping import CodeMapper
    from themekit.scale import predict_proba
    corpus, _ = blobs(n_per=10)
    utts = corpus.select()
    cb = Codebook([Code(None, "Waiting", "waiting list and referral"), Code(None, "Staff", "kind nurse on the ward"),
                   Code(None, "Cost", "parking fees for the car")])
    seeds = {u.id: ("Waiting", "Staff", "Cost")[i % 3] for i, u in enumerate(utts[:30])}
    m = CodeMapper(context=None, random_state=0).fit(cb, utts[:40], embedder=HashingEmbedder(), seeds=seeds)
    local = m.predict_proba(utts, chunk_size=7)
    on_dask = predict_proba(m, utts, client=client, chunk_size=7)
    pd.testing.assert_frame_equal(local, on_dask)
    assert np.array_equal(local.attrs["no_code"], on_dask.attrs["no_code"])


def test_example_study_same_outputs_with_and_without_dask(client, tmp_path):
    """The whole pipeline on the example study with and without Dask: the same CSV outputs.
    The steps that hand work to the engine on a study this size (reading, embedding, the audit's
    drift permutations) run again on Dask; those that run in this process either way (discovery
    below its fit sample size, the mapper's fits) are read from the first run's result cache:
    that keeps the test cheap. Discovery on Dask: test_sampled_discovery_on_dask_equals_local."""
    from themekit.common.results import ResultCache
    from themekit.pipeline import run_study
    cache = ResultCache(tmp_path / "cache")
    kw = dict(embedder=HashingEmbedder(), random_state=3, quiet=True, report=False, cache=cache)
    a = run_study(EXAMPLE, tmp_path / "a", **kw)
    for store in ("corpus", "audit"):
        assert cache.clear(store) == 1
    assert cache.clear("audit-parts") == 4   # agreement, drift, mis-codings, coder drift: all again
    b = run_study(EXAMPLE, tmp_path / "b", client=client, **kw)
    assert b.manifest["settings"]["engine"]["workers"] == 2
    assert "engine" not in a.manifest["settings"]
    assert b.manifest["steps"]["audit: drift"] == "computed" and b.manifest["steps"]["discover"] == "cache"
    assert len(a.corpus.transcripts) == 9 and [u.id for u in a.corpus] == [u.id for u in b.corpus]
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.csv"))
    assert len(files) > 8 and any(f.parts[0] == "audit" for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


# -- the command line -----------------------------------------------------------------------------
def test_dask_option_without_dask_names_the_extra(monkeypatch, tmp_path, capsys):
    from themekit.cli import main
    monkeypatch.setitem(sys.modules, "distributed", None)     # as if dask were not installed
    rc = main(["ingest", str(EXAMPLE), "-o", str(tmp_path / "c.parquet"), "--dask", "local"])
    err = capsys.readouterr().err
    assert rc == 2 and 'themekit[scale]' in err and "Traceback" not in err
    assert not (tmp_path / "c.parquet").exists()
    # without --dask the same command needs no dask
    assert main(["ingest", str(EXAMPLE), "-o", str(tmp_path / "c.parquet")]) == 0


def test_unreachable_scheduler_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    from themekit.cli import main
    from themekit.scale import engine
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "2s")
    rc = main(["ingest", str(EXAMPLE), "-o", str(tmp_path / "c.parquet"), "--dask", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Dask scheduler" in err


def test_local_cluster_listens_on_loopback_only(client):
    import psutil
    listening = {c.laddr.ip for c in psutil.Process().net_connections("inet") if c.status == "LISTEN"}
    assert listening and listening <= {"127.0.0.1"}


def test_local_cluster_leaves_this_process_threads_alone():
    pytest.importorskip("distributed")
    import os
    from themekit.scale import dask_client
    before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with dask_client("local", n_workers=1) as c:
        assert {k: os.environ.get(k) for k in before} == before
        assert c.run(lambda: os.environ.get("OMP_NUM_THREADS")) and len(c.scheduler_info()["workers"]) == 1
