"""Step results cached by what they depend on: keys by value, damaged entries recomputed, the
same outputs whether computed or read back, and only what an edit touches recomputed."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from themekit.cli import main
from themekit.common.results import ResultCache, input_hash
from themekit.discover import CodeDiscoverer
from themekit.embed import HashingEmbedder
from themekit import pipeline
from themekit.pipeline import run_study
from themekit.types import Utterance

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"
sys.path.insert(0, str(ROOT / "bench"))
from compare_outputs import differences  # noqa: E402  (the bench's comparison, shared)


def _utt(i: int, text: str = "hello there", start: int = 0) -> Utterance:
    return Utterance(f"T1:{i}", "T1", "P1", "participant", i, start, start + len(text), text)


# -- keys -------------------------------------------------------------------------------------
def test_input_hash_is_by_value():
    a = [_utt(0), _utt(1, "another one", 12)]
    b = [_utt(0), _utt(1, "another one", 12)]
    assert input_hash(a) == input_hash(b)
    assert input_hash(a) != input_hash([_utt(0), _utt(1, "another one", 13)])   # an offset
    assert input_hash(a) != input_hash([_utt(0), _utt(1, "another One", 12)])   # a letter
    assert input_hash({"x": 1, "y": [1, 2]}) == input_hash({"y": [1, 2], "x": 1})
    assert input_hash({"x": 1}) != input_hash({"x": 1.0}) != input_hash({"x": "1"})
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert input_hash(v) == input_hash(v.copy()) != input_hash(v.astype(np.float64))
    assert input_hash(v) != input_hash(v.reshape(3, 2))
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert input_hash(df) == input_hash(df.copy()) != input_hash(df.assign(b=["x", "z"]))
    assert input_hash(CodeDiscoverer(random_state=1)) != input_hash(CodeDiscoverer(random_state=2))
    with pytest.raises(TypeError, match="cannot fingerprint"):
        input_hash(object())


def test_key_holds_code_and_library_versions(tmp_path):
    cache = ResultCache(tmp_path)
    k = cache.key("discovery", "same inputs")
    import themekit.common.results as results

    saved = results._CODE
    try:
        results._CODE = "another themekit"
        assert cache.key("discovery", "same inputs") != k
    finally:
        results._CODE = saved
    assert cache.key("discovery", "same inputs") == k
    assert cache.key("mapping", "same inputs") != k


# -- the store ---------------------------------------------------------------------------------
def test_computed_once_then_read_and_damage_is_recomputed(tmp_path):
    cache = ResultCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"labels": np.array([0, 1, -1]), "n": len(calls)}

    v1, how1 = cache.get_or_compute("discovery", ("units", 0), compute)
    v2, how2 = cache.get_or_compute("discovery", ("units", 0), compute)
    assert (how1, how2) == ("computed", "cache") and len(calls) == 1
    assert np.array_equal(v1["labels"], v2["labels"]) and v2["n"] == 1
    _, how3 = cache.get_or_compute("discovery", ("units", 1), compute)     # another seed
    assert how3 == "computed" and len(calls) == 2

    # a flipped byte: never returned, recomputed and rewritten
    path = cache.path_for("discovery", cache.key("discovery", "units", 0))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    v4, how4 = cache.get_or_compute("discovery", ("units", 0), compute)
    assert how4 == "computed" and v4["n"] == 3
    assert cache.get_or_compute("discovery", ("units", 0), compute)[1] == "cache"

    info = {r["store"]: r for r in cache.info()}
    assert info["discovery"]["entries"] == 2 and info["discovery"]["bytes"] > 0
    assert info["mapping"]["entries"] == 0
    assert not list(tmp_path.rglob("*.tmp"))
    assert cache.clear() == 2
    assert {r["entries"] for r in cache.info()} == {0}


def test_disabled_cache_computes_and_writes_nothing(tmp_path):
    cache = ResultCache(tmp_path, enabled=False)
    for _ in range(2):
        assert cache.get_or_compute("layout", (1,), lambda: 5, step="layout") == (5, "computed")
    assert cache.stats == {"layout": "computed (cache off)"}
    assert not (tmp_path / "results").exists()


def test_cli_cache_info_and_clear(tmp_path, capsys):
    cache = ResultCache(tmp_path)
    cache.get_or_compute("audit", ("x",), lambda: list(range(1000)))
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.strip().startswith("audit "))
    assert line.split()[1] == "1"
    for store in ResultCache.STORES:
        assert f"  {store} " in out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path), "--store", "audit"]) == 0
    assert "1 result(s) removed" in capsys.readouterr().out
    assert cache.info()[ResultCache.STORES.index("audit")]["entries"] == 0


# -- parallel discovery --------------------------------------------------------------------------
def test_consensus_runs_give_the_same_codes_on_any_number_of_processes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    x = np.vstack([c + 0.25 * rng.normal(size=(40, 16)) for c in centres]).astype(np.float32)
    utts = [_utt(i, f"u{i}", i * 10) for i in range(len(x))]
    one = CodeDiscoverer(random_state=7, n_stability_runs=4, n_jobs=1).fit(utts, x)
    two = CodeDiscoverer(random_state=7, n_stability_runs=4, n_jobs=2).fit(utts, x)
    assert np.array_equal(one.run_labels_, two.run_labels_)
    assert np.array_equal(one.labels_, two.labels_)
    assert one.result_.params == two.result_.params and "n_jobs" not in one.result_.params
    assert len(set(one.labels_) - {-1}) >= 3


def test_n_jobs_is_checked():
    with pytest.raises(ValueError, match="n_jobs"):
        CodeDiscoverer(n_jobs=0).fit([_utt(i, f"u{i}", i * 10) for i in range(20)],
                                     np.eye(20, dtype=np.float32))


# -- the pipeline --------------------------------------------------------------------------------
def _steps(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["steps"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The example study with its codebook copied, so a test can edit it."""
    d = tmp_path_factory.mktemp("study")
    shutil.copytree(EXAMPLE, d / "example")
    return d / "example"


def test_rerun_reads_every_step_and_writes_the_same_outputs(study, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    kw = dict(embedder=HashingEmbedder(), random_state=2, quiet=True, cache=cache)
    run_study(study, tmp_path / "cold", **kw)
    cold = _steps(tmp_path / "cold")
    assert cold["read"] == cold["map"] == cold["audit"] == cold["report layout"] == "computed"
    # on two cores discovery ran in a second process while this one mapped and audited
    assert cold["discover"] == ("computed (alongside the mapping and the audit)" if pipeline._cores() >= 2
                                else "computed")
    assert list(cold).index("discover") == 2           # listed in its place: read, embed, discover
    assert cold["audit: cross-fitted model"] == "computed"
    parts = ("audit: agreement", "audit: drift", "audit: miscodings", "audit: coder drift")
    assert {cold[p] for p in parts} == {"computed"}
    warm_run = run_study(study, tmp_path / "warm", **kw)
    warm = _steps(tmp_path / "warm")
    assert {warm[s] for s in ("read", "discover", "map", "audit", "report layout")} == {"cache"}
    assert warm["embed"] == "computed (not cacheable)"   # the hashing embedder: cheaper than a lookup
    assert "audit: cross-fitted model" not in warm      # the whole audit was read
    assert not set(parts) & set(warm)
    assert differences(tmp_path / "cold", tmp_path / "warm") == []
    # the mapper read back works as a fitted one
    assert list(warm_run.mapper.suggestions(only_suggested=True).columns)
    assert warm_run.mapper.embedder_ is kw["embedder"]

    # an edited definition: mapping and the audit again, nothing else
    cb = study / "codebook.csv"
    text = cb.read_text(encoding="utf-8")
    table = pd.read_csv(cb, dtype=str, keep_default_na=False)
    table.loc[0, "definition"] = "Talk about waiting rooms and queues. " + table.loc[0, "definition"]
    table.to_csv(cb, index=False)
    try:
        run_study(study, tmp_path / "edited", **kw)
        edited = _steps(tmp_path / "edited")
        assert edited["read"] == edited["discover"] == edited["report layout"] == "cache"
        assert edited["map"] == edited["audit"] == edited["audit: cross-fitted model"] == "computed"
        # the parts of the audit that do not read definitions are read back
        assert {edited[p] for p in parts} == {"cache"}
        # ... and the same outputs as computing the edited study from scratch, in one process
        monkeypatch.setattr(pipeline, "DISCOVER_ALONGSIDE", False)
        run_study(study, tmp_path / "fresh", **{**kw, "cache": False})
        assert set(_steps(tmp_path / "fresh").values()) <= {"computed", "computed (cache off)",
                                                             "computed (not cacheable)"}
        assert differences(tmp_path / "edited", tmp_path / "fresh") == []
        assert differences(tmp_path / "edited", tmp_path / "cold")      # the edit shows
    finally:
        cb.write_text(text, encoding="utf-8")


# -- reuse inside a process ----------------------------------------------------------------------
def test_mapper_fits_reusing_word_features_and_codebook_classifier_are_identical(study):
    """The audit's fold mappers reuse the word features and the codebook's self-trained
    classifier of an earlier fit on the same utterances: the same suggestions as fitting alone."""
    import themekit.mapping.model as model
    from themekit.codebook import Codebook, read_coded_segments
    from themekit.io import read_transcripts
    from themekit.mapping import CodeMapper

    corpus = read_transcripts(study)
    units = corpus.select()
    cb = Codebook.load(study / "codebook.csv")
    segments = read_coded_segments(study / "coded_segments.csv", corpus)
    emb = HashingEmbedder()

    def fit(seeds):
        return CodeMapper(random_state=0).fit(cb, units, embedder=emb, corpus=corpus, seeds=seeds)

    model._MEMO.clear()
    alone = fit(segments[: len(segments) // 2]).suggestions()
    fit(segments)                                   # fills the memo
    assert len(model._MEMO) == 2
    again = fit(segments[: len(segments) // 2]).suggestions()     # reads it
    assert len(model._MEMO) == 2
    pd.testing.assert_frame_equal(alone, again)
    model._MEMO.clear()


def test_discovery_alongside_falls_back_to_this_process_when_its_process_dies(tmp_path, caplog):
    """A second process killed (out of memory, say) costs time, not the run: discovery is
    computed here, with the same result, and the manifest says so."""
    from concurrent.futures import BrokenExecutor

    from themekit.common.results import ResultCache
    from themekit.discover import discover

    class Gone:
        def result(self):
            raise BrokenExecutor("worker killed")

    class Executor:
        closed = False

        def shutdown(self, wait=True):
            Executor.closed = True

    rng = np.random.default_rng(1)
    x = np.vstack([c + 0.2 * rng.normal(size=(30, 8)) for c in rng.normal(size=(3, 8))]).astype(np.float32)
    utts = [_utt(i, f"u{i}", i * 10) for i in range(len(x))]
    cache = ResultCache(tmp_path)
    with caplog.at_level("WARNING", logger="themekit"):
        result, seconds = pipeline._finish_discovery((Executor(), Gone(), 0.0), utts, x, 3, cache, "k" * 64)
    assert "second process stopped" in caplog.text and Executor.closed and seconds > 0
    assert cache.stats["discover"] == "computed (here, after its second process stopped)"
    expected = discover(utts, embeddings=x, random_state=3, progress=False)
    pd.testing.assert_frame_equal(result.assignments, expected.assignments)
    assert cache.get("discovery", "k" * 64)[0]


@pytest.mark.skipif(pipeline._cores() < 2, reason="discovery runs alongside only on two or more cores")
def test_a_failed_run_stops_its_discovery_process(tmp_path, monkeypatch):
    """A run that fails after discovery started beside it (here: a codebook with one code, which
    the mapping refuses) kills that process instead of waiting for it, and writes nothing."""
    study = tmp_path / "study"
    shutil.copytree(EXAMPLE, study)
    table = pd.read_csv(study / "codebook.csv", dtype=str, keep_default_na=False)
    table.head(1).to_csv(study / "codebook.csv", index=False)
    stops = []
    start = pipeline._start_discovery

    def recording(*args):
        pending = start(*args)
        shutdown = pending[0].shutdown
        pending[0].shutdown = lambda wait=True, kill_workers=False: (stops.append(kill_workers),
                                                                     shutdown(wait=wait, kill_workers=kill_workers))
        return pending

    monkeypatch.setattr(pipeline, "_start_discovery", recording)
    with pytest.raises(ValueError, match="at least 2 codable codes"):
        run_study(study, tmp_path / "out", embedder=HashingEmbedder(), quiet=True, cache=False)
    assert stops == [True] and not pipeline._ALONGSIDE.get(threading.get_ident())
    assert not (tmp_path / "out").exists()


def test_an_interrupted_wait_for_discovery_kills_its_process():
    """Ctrl-C while the run waits for the second process (it sits idle there) stops that
    process too, instead of leaving it to finish."""
    class Interrupted:
        def result(self):
            raise KeyboardInterrupt

    class Executor:
        calls: list = []

        def shutdown(self, wait=True, kill_workers=False):
            Executor.calls.append(kill_workers)

    ex = Executor()
    pipeline._ALONGSIDE.setdefault(threading.get_ident(), []).append(ex)
    with pytest.raises(KeyboardInterrupt):
        pipeline._finish_discovery((ex, Interrupted(), 0.0), [], None, 0, ResultCache(enabled=False), None)
    assert Executor.calls == [True] and ex not in pipeline._ALONGSIDE.get(threading.get_ident(), [])


def test_discovery_alongside_repeats_its_log_lines_and_warnings_here(caplog):
    from themekit.common.results import ResultCache as RC

    class Done:
        def result(self):
            return "RESULT", [(30, "a discovery warning line")], [("a library warning", UserWarning)], 4.5

    class Executor:
        def shutdown(self, wait=True, kill_workers=False):
            pass

    cache = RC(enabled=False)
    with caplog.at_level("INFO", logger="themekit"), pytest.warns(UserWarning, match="a library warning"):
        result, seconds = pipeline._finish_discovery((Executor(), Done(), 0.0), [], None, 0, cache, None)
    assert (result, seconds) == ("RESULT", 4.5)
    assert "a discovery warning line" in caplog.text
    assert cache.stats["discover"] == "computed (cache off)"
