"""Candidate-code discovery on tiny hand-made data with exact expected results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from themekit.discover import CodeDiscoverer, auto_min_code_size, auto_stability_runs, coassociation, discover
from themekit.discover.cluster import _drop_small_and_order, _reassign
from themekit.discover.consensus import _consensus, _upgma_cut
from themekit.types import Corpus, Transcript, Utterance

TOPICS = {
    0: ["the waiting list for the referral was long", "my referral sat on a waiting list",
        "waiting list again, the referral took months", "nobody explained the waiting list referral"],
    1: ["evening appointments suit my shifts", "flexible appointments in the evening help",
        "I need evening appointments after work", "appointments should be flexible for parents"],
    2: ["the nurse was kind and calm", "a kind nurse listened to me",
        "the nurse on the ward was kind", "every nurse there was calm and kind"],
}


def make_data(per_topic=12, n_transcripts=4, dim=10, seed=0, extra=()):
    """Three well-separated blobs; utterance i of topic t is spoken in transcript i % n_transcripts."""
    rng = np.random.RandomState(seed)
    transcripts, utts, vecs = {}, [], []
    texts_by_t: dict[str, list[str]] = {}
    rows = []
    for t, sents in TOPICS.items():
        for i in range(per_topic):
            rows.append((f"P{i % n_transcripts + 1}", sents[i % len(sents)], t))
    rows += list(extra)
    for tid, text, t in rows:
        texts_by_t.setdefault(tid, []).append(text)
    offsets = {}
    for tid, texts in texts_by_t.items():
        body, pos = "", []
        for text in texts:
            pos.append((len(body), len(body) + len(text)))
            body += text + "\n"
        transcripts[tid] = Transcript(tid, body)
        offsets[tid] = iter(pos)
    counters: dict[str, int] = {}
    for tid, text, t in rows:
        start, end = next(offsets[tid])
        counters[tid] = counters.get(tid, 0) + 1
        utts.append(Utterance(f"{tid}#{counters[tid]}", tid, "P", "participant", counters[tid], start, end, text))
        v = rng.normal(0, 0.05, dim)
        if t >= 0:
            v[t] += 1.0
        else:
            v[dim - 1] += 1.0       # off-topic direction
        vecs.append(v)
    corpus = Corpus(transcripts.values(), utts)
    corpus.check_offsets()
    return corpus, np.array(vecs, dtype=np.float32)


def fit(corpus, x, **kw):
    kw.setdefault("reducer", "none")
    return CodeDiscoverer(**kw).fit(corpus, x)


def test_three_blobs_give_three_codes_with_exact_terms_and_spread():
    corpus, x = make_data()
    d = fit(corpus, x, min_code_size=5)
    r = d.result_
    assert len(r) == 3 and r.outlier_share() == 0.0
    codes = r.codes.set_index("id")
    assert list(codes.index) == ["C01", "C02", "C03"]
    assert (codes["size"] == 12).all()
    assert (codes.n_transcripts == 4).all() and (codes.n_participants == 4).all()
    assert (codes.participant_share == 1.0).all()
    labels = set(codes.label)
    # ties go to bigrams, then alphabetical
    assert labels == {"wait list / referral / explain", "appointment / evening / flexible",
                      "kind / nurse / calm"}
    # each blob is exactly one code
    a = r.assignments
    a["topic"] = [next(t for t, s in TOPICS.items() if u.text in s) for u in corpus.utterances]
    assert a.groupby("code").topic.nunique().eq(1).all()
    assert set(a.assignment) == {"core"}
    assert codes.loc["C01", "stability"] == 1.0


def test_same_random_state_same_output_with_default_umap():
    corpus, x = make_data(per_topic=10)
    a = CodeDiscoverer(random_state=3, n_stability_runs=2, min_code_size=5).fit(corpus, x).result_
    b = CodeDiscoverer(random_state=3, n_stability_runs=2, min_code_size=5).fit(corpus, x).result_
    pd.testing.assert_frame_equal(a.codes, b.codes)
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    assert len(a) == 3


def test_spread_counts_transcripts_and_participants():
    corpus, x = make_data(per_topic=10, n_transcripts=5)
    r = fit(corpus, x, min_code_size=5).result_
    c = r.code("C01")
    assert (c.n_transcripts, c.n_participants) == (5, 5)
    assert len(c.quotes()) == 10
    assert c.quotes().score.is_monotonic_decreasing
    ex = c.exemplars()
    assert 3 <= len(ex) <= 5
    assert len(set(ex.transcript_id)) == len(ex)          # different participants preferred
    for row in ex.itertuples():
        assert corpus.transcripts[row.transcript_id].text[row.start:row.end] == row.text


def test_outlier_rule_reassigns_close_and_keeps_far():
    x = np.array([[1, 0, 0], [1, .1, 0], [.9, 0, .1], [0, 1, 0], [.1, 1, 0], [0, .9, .1],
                  [.8, .3, 0],      # noise but close to code 0
                  [0, 0, 1]],       # off-topic
                 dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    core = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    labels, assignment, scores, cents, thr = _reassign(x, core, "nearest-centroid", 0.5)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 0, -1]
    assert assignment.tolist()[-2:] == ["reassigned", "outlier"]
    assert thr == 0.5
    assert scores[-1] == pytest.approx(float((x[-1] @ cents.T).max()))
    labels, assignment, *_ = _reassign(x, core, "none", 0.5)
    assert labels.tolist() == core.tolist()
    # "auto": the 5th percentile of core members' similarity to their own centroid
    _, _, _, cents, thr = _reassign(x, core, "nearest-centroid", "auto")
    own = np.concatenate([x[core == k] @ cents[k] for k in (0, 1)])
    assert thr == pytest.approx(np.quantile(own, 0.05))


def test_off_topic_utterances_stay_outliers():
    extra = [("P1", "the car park was flooded", -1), ("P2", "the weather that day", -1)]
    corpus, x = make_data(extra=extra)
    r = fit(corpus, x, min_code_size=5).result_
    a = r.assignments.set_index("text")
    assert a.loc["the car park was flooded", "assignment"] == "outlier"
    assert pd.isna(a.loc["the car park was flooded", "code"])
    assert len(r) == 3


def test_reassign_outliers_by_stated_similarity():
    extra = [("P1", "the car park was flooded", -1), ("P2", "the weather that day", -1)]
    corpus, x = make_data(extra=extra)
    x[-2] = 0.35 * x[0] + 0.94 * np.eye(10)[9]   # off-topic, but leaning towards the first topic
    from themekit.discover.themes import DiscoveryResult
    labels = np.array([t for t in range(3) for _ in range(12)] + [-1, -1])
    r = DiscoveryResult.from_partition(corpus.utterances, x, labels,
                                       np.where(labels >= 0, "core", "outlier"))
    assert (r.assignments.assignment == "outlier").sum() == 2
    sims = r.vectors[-2:] @ np.stack([r.vectors[r.assignments.code == c].mean(0) /
                                      np.linalg.norm(r.vectors[r.assignments.code == c].mean(0))
                                      for c in r.code_ids]).T
    cut = float(sims[0].max() + sims[1].max()) / 2     # between the two outliers' best similarities
    partial = r.reassign_outliers(cut)
    a = partial.assignments.set_index("text")
    waiting = a.loc["the waiting list for the referral was long", "code"].iloc[0]
    assert a.loc["the car park was flooded", "code"] == waiting
    assert a.loc["the car park was flooded", "assignment"] == "reassigned"
    assert a.loc["the weather that day", "assignment"] == "outlier"
    assert partial.edits[-1] == {"op": "reassign_outliers", "min_similarity": cut, "n": 1}
    everyone = r.reassign_outliers(None)
    assert everyone.outlier_share() == 0.0 and r.outlier_share() == pytest.approx(2 / 38)
    assert everyone.code(waiting).size == r.code(waiting).size + 1 + (sims[1].argmax() == 0)
    assert r.reassign_outliers(1.0).outlier_share() == r.outlier_share()
    with pytest.raises(ValueError, match="min_similarity must be None or a number"):
        r.reassign_outliers("all")


def test_consensus_majority_and_coassociation():
    runs = np.array([[0, 0, 0, 1, 1, 1],
                     [0, 0, 1, 1, 1, -1],
                     [0, 0, 0, 1, 1, 1]])
    labels = _consensus(runs)
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4] == labels[5] != labels[0]
    # pairs of {3,4,5}: (3,4) 3/3, (3,5) 2/3, (4,5) 2/3 -> mean 7/9
    assert coassociation(runs, np.array([3, 4, 5])) == pytest.approx(7 / 9)
    assert coassociation(runs[:1], np.array([0, 1])) != coassociation(runs[:1], np.array([0, 1]))  # NaN
    # noise is never "together": two points noise in every run are not grouped
    runs = np.array([[0, 0, -1, -1], [0, 0, -1, -1]])
    labels = _consensus(runs)
    assert labels[0] == labels[1] >= 0 and labels[2] == labels[3] == -1


def test_upgma_cut_matches_scipy_average_linkage():
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    rng = np.random.RandomState(1)
    pts = rng.rand(30, 3)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    ours = _upgma_cut(d, np.ones(30), 0.4)
    ref = fcluster(linkage(squareform(d, checks=False), "average"), t=0.4, criterion="distance")
    assert pd.crosstab(ours, ref).gt(0).sum(axis=1).eq(1).all()
    assert len(set(ours)) == len(set(ref))


def test_small_groups_dropped_and_codes_numbered_by_size():
    out = _drop_small_and_order(np.array([5, 5, 2, 2, 2, 9, -1]), 2)
    assert out.tolist() == [1, 1, 0, 0, 0, -1, -1]


def test_auto_min_code_size():
    assert [auto_min_code_size(n) for n in (10, 400, 1794, 10000)] == [5, 5, 11, 25]


def test_auto_stability_runs_more_for_small_studies_and_recorded():
    assert [auto_stability_runs(n) for n in (36, 526, 900, 1000, 1794, 100_000)] == [12, 12, 10, 9, 6, 6]
    corpus, x = make_data()
    d = fit(corpus, x, min_code_size=5)
    assert d.n_stability_runs_ == 12 and d.run_labels_.shape == (12, 36)
    assert d.result_.params["n_stability_runs_"] == 12
    assert fit(corpus, x, min_code_size=5, n_stability_runs=3).run_labels_.shape == (3, 36)


def test_edits_merge_split_rename_delete_recompute():
    corpus, x = make_data()
    r = fit(corpus, x, min_code_size=5).result_
    nurse = r.codes.set_index("label").loc["kind / nurse / calm", "id"]
    appt = r.codes.set_index("label").loc["appointment / evening / flexible", "id"]
    r2 = r.rename(nurse, "Kind staff")
    assert r2.code(nurse).label == "Kind staff" and r.code(nurse).label == "kind / nurse / calm"
    m = r2.merge(appt, nurse)
    assert len(m) == 2 and m.code(appt).size == 24
    assert nurse not in m.code_ids
    assert m.edits[-1] == {"op": "merge", "codes": [appt, nurse], "into": appt}
    assert "nurse" in m.code(appt).key_terms and "appointment" in m.code(appt).key_terms
    assert m.code(appt).stability < 1.0     # never grouped by the runs
    s = m.split(appt, 2)
    assert len(s) == 3 and sorted(s.codes["size"]) == [12, 12, 12]
    new = [c for c in s.code_ids if c not in m.code_ids]
    assert new == ["C04"]
    assert {s.code(appt).label, s.code("C04").label} == {"appointment / evening / flexible",
                                                          "kind / nurse / calm"}
    dl = s.delete("C04")
    assert len(dl) == 2 and dl.outlier_share() == pytest.approx(12 / 36)
    assert (dl.assignments.assignment == "outlier").sum() == 12
    assert [e["op"] for e in dl.edits] == ["rename", "merge", "split", "delete"]
    with pytest.raises(KeyError, match="no candidate code 'C99'"):
        r.merge("C01", "C99")
    with pytest.raises(ValueError, match="at least two"):
        r.merge("C01")


def test_themes_tree_and_codebook_export(tmp_path):
    corpus, x = make_data()
    r = fit(corpus, x, min_code_size=5).result_
    assert list(r.themes.columns[:4]) == ["id", "label", "codes", "n_codes"]
    assert r.themes.n_codes.sum() == 3
    tree = r.tree()
    assert tree.startswith("T01 ") and "C01" in tree and "outliers: 0 of 36" in tree
    one = r.delete("C02").delete("C03").tree().splitlines()
    assert one[0].endswith("(1 code, 12 utterances, 4/4 participants)")
    assert one[-1] == "outliers: 24 of 36 utterances"
    cb = r.to_codebook()
    kids = [c for c in cb.codes if c.parent]
    assert len(kids) == 3 and all(c.examples and c.definition for c in kids)
    paths = r.save(tmp_path / "out")
    assert sorted(paths) == ["assignments.csv", "assignments.parquet", "codebook.qdc", "codebook.yaml",
                             "codes.csv", "manifest.json", "themes.csv"]
    from themekit.codebook import Codebook
    back = Codebook.load(tmp_path / "out" / "codebook.yaml")
    assert {c.name for c in back.codable()} == {c.name for c in kids}
    assert len(pd.read_csv(tmp_path / "out" / "assignments.csv")) == 36


def test_themes_group_codes_at_most_six():
    from themekit.discover.themes import _theme_groups
    rng = np.random.RandomState(0)
    cents = np.repeat(np.eye(3), 5, axis=0) + rng.normal(0, .05, (15, 3))
    groups = _theme_groups(cents, 6)
    assert np.bincount(groups).max() <= 6
    assert pd.crosstab(groups, np.repeat([0, 1, 2], 5)).gt(0).sum(axis=1).eq(1).all()


@pytest.mark.parametrize("kw, msg", [
    ({"min_code_size": 1}, "min_code_size must be None or an int >= 2; got 1"),
    ({"n_stability_runs": 0}, "n_stability_runs must be 'auto' or an int from 1 to 100; got 0"),
    ({"outlier_threshold": 2.0}, "outlier_threshold must be 'auto' or a cosine"),
    ({"outlier_rule": "knn"}, "outlier_rule must be 'nearest-centroid' or 'none'"),
    ({"reducer": 3}, "reducer must be None, 'none' or an object with fit_transform"),
])
def test_parameters_validated_with_names(kw, msg):
    corpus, x = make_data(per_topic=4)
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        CodeDiscoverer(**kw).fit(corpus, x)


def test_not_fitted_and_wrong_shapes():
    d = CodeDiscoverer()
    with pytest.raises(RuntimeError, match="not fitted"):
        d._check_fitted()
    corpus, x = make_data(per_topic=4)
    with pytest.raises(ValueError, match="one row per utterance"):
        d.fit(corpus, x[:5])
    with pytest.raises(ValueError, match="no parameter 'k'"):
        d.set_params(k=3)


def test_swappable_clusterer_and_embeddings_object():
    from sklearn.cluster import KMeans
    from themekit.embed import Embeddings
    corpus, x = make_data()
    emb = Embeddings.from_arrays([u.id for u in corpus.select()][::-1], x[::-1])
    d = CodeDiscoverer(reducer="none", clusterer=KMeans(3, n_init=3), min_code_size=3,
                       n_stability_runs=2).fit(corpus, emb)
    assert len(d.result_) == 3 and d.result_.codes["size"].tolist() == [12, 12, 12]


def test_discover_embeds_corpus_with_given_embedder():
    from themekit.embed import HashingEmbedder
    corpus, _ = make_data()
    r = discover(corpus, embedder=HashingEmbedder(), reducer="none", min_code_size=5,
                 n_stability_runs=1, progress=False)
    assert r.params["model_id"] == "hashing-256"
    assert len(r.assignments) == 36 and len(r) >= 1


@pytest.mark.model
def test_cli_discover_end_to_end_with_real_model(tmp_path, capsys):
    from themekit.cli import main
    folder = tmp_path / "study" / "transcripts"
    folder.mkdir(parents=True)
    lines = {0: "The waiting list for my referral was months long.",
             1: "Evening appointments would fit around my shifts.",
             2: "The nurse was kind and took time to listen."}
    for p in range(1, 7):
        body = []
        for k in range(4):
            for t, s in lines.items():
                body.append(f"Interviewer: Tell me more about that ({p}.{k}.{t})?")
                body.append(f"P{p}: {s} " + ["Honestly.", "Really.", "Every time.", "I remember."][k])
        (folder / f"P{p}.txt").write_text("\n".join(body) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["discover", str(folder), "-o", str(out), "--min-code-size", "5",
                 "--stability-runs", "2", "--outlier-threshold", "-1"]) == 0
    printed = capsys.readouterr().out
    assert "candidate codes" in printed and "codes.csv" in printed
    codes = pd.read_csv(out / "codes.csv")
    assert len(codes) >= 3 and codes.n_participants.max() == 6
    assert (out / "codebook.qdc").is_file()
    assignments = pd.read_csv(out / "assignments.csv")
    assert assignments.code.notna().all()          # -1: every utterance placed in a code
    with pytest.raises(SystemExit):
        main(["discover", str(folder), "-o", str(out), "--outlier-threshold", "close"])
    assert "expected 'auto' or a number from -1 to 1" in capsys.readouterr().err


def test_consensus_drops_mostly_noise_exactly():
    runs = np.array([[0, 0, 0, -1], [0, 0, -1, -1], [0, 0, 0, 0], [0, 0, -1, 0]])
    labels = _consensus(runs)
    # point 2 is noise in half the runs: never grouped at a strict majority
    assert labels[0] == labels[1] >= 0 and labels[2] == -1 and labels[3] == -1


def test_refinement_moves_members_to_the_nearer_code_and_keeps_none_rule_as_is():
    # a consensus member of code 0 ([.2, 1, 0]) is far nearer code 1's centroid
    x = np.array([[1, 0, 0], [1, .1, 0], [.9, 0, .1], [.2, 1, 0],
                  [0, 1, 0], [.1, 1, 0], [0, .9, .1], [0, 1, .1]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    core = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    labels, assignment, scores, cents, _ = _reassign(x, core, "nearest-centroid", "auto")
    assert labels.tolist() == [1, 1, 1, 0, 0, 0, 0, 0]      # renumbered by size: 5 then 3
    assert assignment.tolist() == ["core"] * 3 + ["reassigned"] + ["core"] * 4
    assert scores == pytest.approx(np.einsum("ij,ij->i", x, cents[labels]))
    labels, assignment, *_ = _reassign(x, core, "none", "auto")
    assert labels.tolist() == core.tolist() and set(assignment) == {"core"}


def test_code_left_too_small_by_refinement_is_dissolved():
    # code 1 (2 consensus members) loses one member to code 0 and falls below min_size 2
    x = np.array([[1, 0, 0], [1, .1, 0], [.9, 0, .1], [1, 0, .05],
                  [.8, .45, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    core = np.array([0, 0, 0, 0, 1, 1, -1])
    labels, assignment, _, cents, _ = _reassign(x, core, "nearest-centroid", 0.5, min_size=2)
    assert len(cents) == 1
    assert labels.tolist() == [0, 0, 0, 0, 0, -1, -1]     # [0, 1, 0] is not similar enough to join
    assert assignment.tolist() == ["core"] * 4 + ["reassigned", "outlier", "outlier"]


def test_runs_share_one_neighbour_graph_and_spectral_start(monkeypatch):
    import importlib
    d = importlib.import_module("themekit.discover.cluster")
    calls = {"knn": 0, "init": 0}
    knn, init = d._exact_knn, d._spectral_init

    def count(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped
    monkeypatch.setattr(d, "_exact_knn", count("knn", knn))
    monkeypatch.setattr(d, "_spectral_init", count("init", init))
    corpus, x = make_data(per_topic=10)
    a = CodeDiscoverer(random_state=1, n_stability_runs=3, min_code_size=5).fit(corpus, x)
    assert calls == {"knn": 1, "init": 1}
    assert len(a.result_) == 3 and a.run_labels_.shape == (3, 30)
    shared = a._shared_layout(a.vectors_)
    again = CodeDiscoverer(random_state=1)._shared_layout(a.vectors_)
    assert shared["init"].shape == (30, 5) and np.array_equal(shared["init"], again["init"])


def test_large_corpora_use_approximate_neighbours_once(monkeypatch):
    import importlib
    d = importlib.import_module("themekit.discover.cluster")
    seen = []

    def fake_approximate(x, k, rs):      # NN-descent itself is umap's; here only the wiring
        seen.append((len(x), k))
        return d._exact_knn(x, k)
    monkeypatch.setattr(d, "_EXACT_KNN_MAX", 10)
    monkeypatch.setattr(d, "_approximate_knn", fake_approximate)
    corpus, x = make_data(per_topic=10)
    r = CodeDiscoverer(random_state=0, n_stability_runs=2, min_code_size=5).fit(corpus, x).result_
    assert seen == [(30, 10)] and len(r) == 3
