"""Benchmark: embedding throughput, cache speed-up, fast-mode cost and memory.

    .venv/bin/python bench/bench_embed.py [--data ../shared/data] [--reps 3] [--skip-int8]

Figures (printed as one table, all measured in this run):
1. cold throughput of ``themekit.embed_texts`` (empty cache) vs plain
   ``SentenceTransformer.encode(texts, batch_size=32, normalize_embeddings=True)`` on the 1,794
   coded segments of serdif, same model; the two sides alternate ``--reps`` times, medians;
2. warm rerun (everything cached) vs cold;
3. fast mode (static model distilled from the default; made first if missing) and int8 dynamic
   quantisation: throughput against the default model and accuracy of nearest-code-definition
   matching (each segment against the 22 "name: definition" texts of codebook.csv; a hit when
   the nearest code is among the segment's codes);
4. 100,000 talkmoves sentences in fast mode, in a separate process: utterances/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_serdif(data: Path):
    seg = pd.read_csv(data / "serdif" / "coded_segments.csv")
    cb = pd.read_csv(data / "serdif" / "codebook.csv")
    texts = seg["text"].astype(str).tolist()
    codes = [set(str(c).split("|")) for c in seg["codes"]]
    definitions = [f"{r.code}: {r.definition}" for r in cb.itertuples()]
    return texts, codes, cb["code"].tolist(), definitions


def accuracy(seg_vecs: np.ndarray, def_vecs: np.ndarray, codes, names) -> float:
    pred = (seg_vecs @ def_vecs.T).argmax(axis=1)
    return float(np.mean([names[p] in c for p, c in zip(pred, codes)]))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# -- the 100k run, in its own process so its memory is its own --------------------------------
def child_100k(data: Path, n: int, model: str | None) -> None:
    from themekit.embed.cache import EmbeddingCache
    from themekit.embed import embed_texts, load_embedder

    def rss() -> float:
        """Peak resident memory of this process in MiB. VmHWM, because ru_maxrss survives exec
        and would report the parent's peak."""
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    df = pd.read_csv(data / "talkmoves" / "sentences.csv.gz", usecols=["sentence"])
    texts = df["sentence"].dropna().astype(str).tolist()[:n]
    del df
    emb = load_embedder(model, fast=model is None)
    base = rss()
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp)
        cold, v = timed(lambda: embed_texts(texts, emb, cache=cache))
        peak = rss()
        warm, v2 = timed(lambda: embed_texts(texts, emb, cache=EmbeddingCache(tmp)))
        assert np.array_equal(v, v2)
        cache.close()
    print(json.dumps({"n": len(texts), "unique": len(set(texts)), "dim": int(v.shape[1]),
                      "cold_s": cold, "warm_s": warm, "rss_before_mib": base, "peak_rss_mib": peak,
                      "model_id": emb.model_id, "peak_rss_total_mib": rss()}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="shared data folder (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=3, help="alternating repetitions (default: 3)")
    ap.add_argument("--n-large", type=int, default=100_000, help="talkmoves sentences for the memory run")
    ap.add_argument("--skip-int8", action="store_true", help="do not measure int8 quantisation")
    ap.add_argument("--child-100k", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-model", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_100k:
        child_100k(args.data, args.n_large, args.child_model)
        return 0

    import torch
    from sentence_transformers import SentenceTransformer

    from themekit.embed.cache import EmbeddingCache
    from themekit.embed import embed_texts, load_embedder, pick_device
    from themekit.embed.models import ModelNotFoundError, distill, resolve_model

    device = pick_device()
    texts, codes, names, definitions = load_serdif(args.data)
    load0 = os.getloadavg()[0]
    rows: list[tuple[str, str]] = []
    note = lambda k, v: (rows.append((k, v)), print(f"  {k}: {v}", file=sys.stderr, flush=True))

    # -- 1. cold: themekit vs plain sentence-transformers ------------------------------------
    spec = resolve_model(None)
    plain = SentenceTransformer(str(spec.path), device=device)
    emb = load_embedder(device=device)
    emb.model.encode(["warm up"]); plain.encode(["warm up"])
    t_plain, t_cold, t_warm = [], [], []
    c_plain, c_cold = [], []          # CPU seconds of this process: less sensitive to other load
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    for r in range(args.reps):
        cache_dir = tmp / f"rep{r}"
        for side in ("ours", "plain") if r % 2 else ("plain", "ours"):   # alternate who goes first
            c0 = time.process_time()
            if side == "plain":
                dt, ref = timed(lambda: plain.encode(texts, batch_size=32, normalize_embeddings=True))
                t_plain.append(dt)
                c_plain.append(time.process_time() - c0)
            else:
                dt, ours = timed(lambda: embed_texts(texts, emb, cache=EmbeddingCache(cache_dir)))
                t_cold.append(dt)
                c_cold.append(time.process_time() - c0)
        print(f"rep {r + 1}: plain {t_plain[-1]:.1f} s, themekit cold {t_cold[-1]:.1f} s",
              file=sys.stderr, flush=True)
    max_diff = float(np.abs(ours - ref).max())
    # the same comparison interleaved finely (blocks of 150 texts, sides alternating which goes
    # first), so load from other processes hits both sides alike
    il_plain = il_ours = cpu_plain = cpu_ours = 0.0
    for r in range(args.reps):
        for j, s in enumerate(range(0, len(texts), 150)):
            block = texts[s:s + 150]
            c = EmbeddingCache(tmp / f"il-{r}-{j}")
            run_plain = lambda: plain.encode(block, batch_size=32, normalize_embeddings=True)
            run_ours = lambda: embed_texts(block, emb, cache=c)
            for side in ((run_ours, run_plain) if (r + j) % 2 else (run_plain, run_ours)):
                c0 = time.process_time()
                dt = timed(side)[0]
                cpu = time.process_time() - c0
                if side is run_plain:
                    il_plain, cpu_plain = il_plain + dt, cpu_plain + cpu
                else:
                    il_ours, cpu_ours = il_ours + dt, cpu_ours + cpu
            c.close()
    for _ in range(args.reps):
        dt, warm = timed(lambda: embed_texts(texts, emb, cache=EmbeddingCache(cache_dir)))
        t_warm.append(dt)
    assert np.array_equal(warm, ours)
    # a fresh session: new embedder object (model not loaded: all texts cached) + lookup
    import themekit.embed as tk_embed

    tk_embed._EMBEDDERS.clear()
    t_fresh, _ = timed(lambda: embed_texts(texts, load_embedder(device=device),
                                           cache=EmbeddingCache(cache_dir)))
    mp, mc, mw = (statistics.median(x) for x in (t_plain, t_cold, t_warm))
    n = len(texts)
    note("texts", f"{n} coded segments (serdif), {len(set(texts))} unique, "
                  f"mean {np.mean([len(t) for t in texts]):.0f} chars")
    note("plain SentenceTransformer.encode", f"{mp:.2f} s  ({n / mp:.1f} texts/s)")
    note("themekit embed_texts, cold cache", f"{mc:.2f} s  ({n / mc:.1f} texts/s)")
    note("cold throughput ratio themekit/plain", f"{mp / mc:.3f}  (target >= 0.95; whole runs "
                                                  f"{', '.join(f'{a:.0f}/{b:.0f} s' for a, b in zip(t_plain, t_cold))})")
    note("  same, by CPU time of this process", f"{statistics.median(c_plain) / statistics.median(c_cold):.3f}  "
                                              f"(medians {statistics.median(c_plain):.0f} s plain, "
                                              f"{statistics.median(c_cold):.0f} s themekit)")
    note("  same, interleaved in blocks of 150", f"{il_plain / il_ours:.3f}  ({il_plain:.0f} s plain, "
                                                 f"{il_ours:.0f} s themekit over {args.reps} reps)")
    note("  interleaved, by CPU time", f"{cpu_plain / cpu_ours:.3f}  ({cpu_plain:.0f} s plain, "
                                              f"{cpu_ours:.0f} s themekit)")
    note("max |themekit - plain| per coordinate", f"{max_diff:.1e}")
    note("themekit warm rerun (all cached)", f"{mw * 1000:.1f} ms  -> {mc / mw:,.0f}x faster than cold (target >= 50x)")
    note("warm rerun in a fresh session (incl. load_embedder)", f"{t_fresh * 1000:.1f} ms  -> {mc / t_fresh:,.0f}x")

    # -- 2. fast mode and int8: speed and quality ------------------------------------------
    try:
        fast = load_embedder(fast=True)
        distilled = ""
    except ModelNotFoundError:
        dt, _ = timed(lambda: distill(progress=False))
        fast = load_embedder(fast=True)
        distilled = f" (distilled now in {dt:.0f} s)"
    fast.encode(["warm up"])
    t_fast = []
    for _ in range(args.reps):
        dt, fast_vecs = timed(lambda: embed_texts(texts, fast, cache=False))
        t_fast.append(dt)
    mf = statistics.median(t_fast)
    acc_default = accuracy(ours, embed_texts(definitions, emb, cache=False), codes, names)
    acc_fast = accuracy(fast_vecs, embed_texts(definitions, fast, cache=False), codes, names)
    majority = max(names, key=lambda c: sum(c in s for s in codes))
    acc_major = float(np.mean([majority in s for s in codes]))
    note("fast mode model", f"{fast.model_id}{distilled}")
    note("fast mode (static), no cache", f"{mf:.3f} s  ({n / mf:,.0f} texts/s)  -> {mc / mf:,.0f}x the default model's throughput")
    note("nearest-definition accuracy, default model", f"{acc_default:.3f}")
    note("nearest-definition accuracy, fast mode", f"{acc_fast:.3f}  (cost {acc_fast - acc_default:+.3f})")
    if not args.skip_int8 and device == "cpu":
        q = load_embedder(device="cpu", quantize="int8")
        q.model.encode(["warm up"])
        t_q = []
        for _ in range(args.reps):
            dt, q_vecs = timed(lambda: embed_texts(texts, q, cache=False))
            t_q.append(dt)
        mq = statistics.median(t_q)
        acc_q = accuracy(q_vecs, embed_texts(definitions, q, cache=False), codes, names)
        note("int8 dynamic quantisation, no cache", f"{mq:.2f} s  ({n / mq:.1f} texts/s)  -> {mc / mq:.2f}x the default model's throughput")
        note("nearest-definition accuracy, int8", f"{acc_q:.3f}  (cost {acc_q - acc_default:+.3f})")
    note("(reference) always the most frequent code", f"{acc_major:.3f}  ({majority})")

    # -- 3. 100k utterances in fast mode, own process ----------------------------------------
    proc = subprocess.run([sys.executable, __file__, "--child-100k", "--data", str(args.data),
                           "--n-large", str(args.n_large)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit("100k run failed")
    big = json.loads(proc.stdout.strip().splitlines()[-1])
    note(f"fast mode, {big['n']:,} talkmoves sentences ({big['unique']:,} unique), cold cache",
         f"{big['cold_s']:.1f} s  ({big['n'] / big['cold_s']:,.0f} utterances/s)")
    note("  same, warm rerun", f"{big['warm_s']:.2f} s  ({big['n'] / big['warm_s']:,.0f} utterances/s)")
    note("  peak RSS of that process", f"{big['peak_rss_mib']:.0f} MiB  (after loading data and model: "
                                       f"{big['rss_before_mib']:.0f} MiB)")

    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    env = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
           f"{torch.__version__}, {torch.get_num_threads()} threads, device {device}"
           + ("" if torch.cuda.is_available() else " (no GPU here; CUDA is picked when present)"))
    width = max(len(k) for k, _ in rows)
    print(f"\nthemekit embedding benchmark ({env})")
    print(f"reps={args.reps} alternating, medians; load average {load0:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")
    print("-" * (width + 50))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
