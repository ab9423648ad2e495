"""Audit benchmark on real coding: mis-coding detection and drift detection.

Usage:  python bench/bench_audit.py [--data ../shared/data] [--draws 10] [--permutations 1000]

Data: the serdif think-aloud study (Navarro-Gallinad, Orlandi, O'Sullivan 2022, Semantic Web
Journal; ../shared/data/serdif, GPL-3.0): 1,794 segments coded with 22 codes by the study's
analyst. The segment texts are embedded once with all-MiniLM-L6-v2 (themekit.embed, cached).

Mis-coding: in each of ``--draws`` draws, 5% of the coded spans (seeded) get a random other code
(the span's codes are replaced by one code it did not carry). Scores rank spans by suspicion;
AUROC over all spans (relabelled = positive) and precision among the 50 top-ranked, for
- baseline: centroid margin — best cosine to another code's centroid minus the best cosine to
  an own code's centroid (centroids from all spans, the span included);
- themekit: :func:`themekit.audit.miscoding.find_miscodings` (leave-one-out neighbours and
  centroids, cross-fitted classifiers on embeddings and words; mean probability of the own code).

Drift: participants in order P1..P17. For 5 codes X drawn at random (seeded), half of X's
spans from P9 on (seeded) are relabelled to its neighbouring code Y (the nearest centroid).
:func:`themekit.audit.drift.drift_table` runs with whole-transcript permutations (the default null)
and with segment permutations. A *hit*: a flagged window on X or Y at P8, P9 or P10 (change
point within one participant of P9). *False alarms*: untouched codes flagged anywhere in the
same runs. The unmodified data are run too: what they flag is either real drift in the
analyst's coding or a false alarm — we cannot tell, so it is listed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    n1, n0 = positive.sum(), (~positive).sum()
    return float((r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def precision_at(score: np.ndarray, positive: np.ndarray, k: int = 50) -> float:
    top = np.argsort(-score, kind="stable")[:k]
    return float(positive[top].mean())


def relabel(units: pd.DataFrame, codes: list[str], share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(units)
    idx = rng.choice(n, size=round(share * n), replace=False)
    new = list(units["codes"])
    for i in idx:
        others = [c for c in codes if c not in new[i]]
        new[i] = (others[rng.integers(len(others))],)
    out = units.copy()
    out["codes"] = new
    positive = np.zeros(n, dtype=bool)
    positive[idx] = True
    return out, positive


def centroid_margin(units: pd.DataFrame, x: np.ndarray, codes: list[str]) -> np.ndarray:
    from themekit.audit.coded import code_matrix

    y = code_matrix(units, codes)
    c = y.T.astype(float) @ x
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    f = x @ c.T
    return np.where(~y, f, -np.inf).max(axis=1) - np.where(y, f, -np.inf).max(axis=1)


def bench_miscoding(units, x, codes, draws: int) -> None:
    from themekit.audit.miscoding import find_miscodings

    res = {"baseline (centroid margin)": [], "themekit find_miscodings": []}
    secs = []
    for d in range(draws):
        u, pos = relabel(units, codes, 0.05, seed=d)
        base = centroid_margin(u, x, codes)
        t = time.perf_counter()
        m = find_miscodings(u, x, codes, random_state=0)
        secs.append(time.perf_counter() - t)
        ours = m.set_index("unit_id")["score"].reindex(u["unit_id"]).to_numpy()
        for name, s in (("baseline (centroid margin)", base), ("themekit find_miscodings", ours)):
            res[name].append((auroc(s, pos), precision_at(s, pos, 50)))
    n_pos = round(0.05 * len(units))
    print(f"\nMis-coding detection: {draws} draws, {n_pos} of {len(units)} spans relabelled (5%)")
    print(f"  {'method':<30} {'AUROC':>15} {'precision@50':>15}")
    for name, v in res.items():
        v = np.array(v)
        print(f"  {name:<30} {v[:, 0].mean():.3f} ± {v[:, 0].std(ddof=1):.3f}   "
              f"{v[:, 1].mean():.3f} ± {v[:, 1].std(ddof=1):.3f}")
    print(f"  find_miscodings: {np.mean(secs):.1f} s per run ({len(units)} spans, 2 CPU cores)")


def bench_drift(units, x, codes, n_codes: int, permutations: int) -> None:
    from themekit.audit.coded import code_matrix, natural_key
    from themekit.audit.drift import NULLS, drift_table

    parts = sorted(units["transcript_id"].unique(), key=natural_key)
    order = {c: parts for c in units["coder"].unique()}
    change = parts.index("P9")
    near = {parts[i] for i in (change - 1, change, change + 1)}
    y = code_matrix(units, codes)
    cent = y.T.astype(float) @ x
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    chosen = [codes[i] for i in rng.choice(len(codes), size=n_codes, replace=False)]
    late = units["transcript_id"].map(parts.index).to_numpy() >= change
    print(f"\nDrift detection: participants {parts[0]}..{parts[-1]}, change at P9; "
          f"{permutations} permutations, alpha 0.05")
    for null in NULLS:
        t = time.perf_counter()
        base = drift_table(units, x, order, codes, null=null, n_permutations=permutations, random_state=0)
        el = time.perf_counter() - t
        real = base[base.flagged].groupby("code")["window"].apply(list).to_dict()
        print(f"\n  null={null!r} ({el:.1f} s per run)")
        print(f"    unmodified data: {len(real)} codes flagged" +
              "".join(f"\n      {c}: {', '.join(w)}" for c, w in real.items()))
        hits = alarms = new_alarms = 0
        for k, xc in enumerate(chosen):
            j = codes.index(xc)
            sims = cent @ cent[j]
            sims[j] = -np.inf
            yc = codes[int(np.argmax(sims))]
            cand = np.flatnonzero(y[:, j] & late)
            pick = np.random.default_rng(100 + k).choice(cand, size=len(cand) // 2, replace=False)
            u = units.copy()
            new = list(u["codes"])
            for i in pick:
                new[i] = tuple(sorted((set(new[i]) - {xc}) | {yc}))
            u["codes"] = new
            d = drift_table(u, x, order, codes, null=null, n_permutations=permutations, random_state=0)
            f = d[d.flagged]
            on_xy = f[f.code.isin([xc, yc])]
            hit = bool(on_xy["window"].isin(near).any())
            fa = sorted(set(f.code) - {xc, yc})
            hits += hit
            alarms += len(fa)
            new_alarms += len(set(fa) - set(real))
            where = "; ".join(f"{c}@{','.join(g.window)}" for c, g in on_xy.groupby("code")) or "-"
            print(f"    X={xc!r} -> Y={yc!r} (cos {sims[codes.index(yc)]:.2f}), {len(pick)} spans moved: "
                  f"{'HIT' if hit else 'miss'}; flags on X/Y: {where}; false alarms: {len(fa)}"
                  + (f" ({', '.join(fa)})" if fa else ""))
        print(f"    => hits {hits}/{n_codes}; false alarms {alarms} flagged untouched codes over {n_codes} runs "
              f"({len(codes) - 2} untouched codes per run; {new_alarms} of them not flagged in the unmodified data)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--drift-codes", type=int, default=5)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--skip", choices=("miscoding", "drift"), action="append", default=[])
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from themekit.audit.coded import coded_units, unit_embeddings
    from themekit.codebook.coding import read_coded_segments
    from themekit.embed import load_embedder

    path = args.data / "serdif" / "coded_segments.csv"
    if not path.is_file():
        print(f"no serdif data at {path}; pass --data", file=sys.stderr)
        return 2
    import logging

    logging.getLogger("themekit").setLevel(logging.ERROR)
    segments = read_coded_segments(path)
    units = coded_units(segments)
    codes = sorted({c for cs in units["codes"] for c in cs})
    t = time.perf_counter()
    embedder = load_embedder()
    x = unit_embeddings(units, embedder=embedder)
    print(f"serdif: {len(segments)} (segment, code) rows -> {len(units)} coded spans, {len(codes)} codes, "
          f"{units.transcript_id.nunique()} transcripts; embedded with {embedder.model_id} "
          f"in {time.perf_counter() - t:.1f} s (cache)")
    if "miscoding" not in args.skip:
        bench_miscoding(units, x, codes, args.draws)
    if "drift" not in args.skip:
        bench_drift(units, x, codes, args.drift_codes, args.permutations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
