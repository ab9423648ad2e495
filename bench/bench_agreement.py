"""Intercoder agreement on AnnoMI's multi-annotator part: exactness against the reference
implementations, and timing.

Usage:  python bench/bench_agreement.py [--data ../shared/data] [--n-boot 1000] [--repeat 5]

Data: AnnoMI (Wu et al., ICASSP 2022; Future Internet 15(3):110, 2023; public domain),
../shared/data/annomi/AnnoMI-full.csv. An utterance is (transcript_id, utterance_id), a coder is
annotator_id. The multi-annotator part is every utterance coded by >= 2 annotators (428 in 7
transcripts, each coded by all 10). main_therapist_behaviour is coded on therapist utterances
only (client rows are NaN for every annotator: not pairable), so the units are the therapist
utterances of that part; client_talk_type on its client utterances is reported as a second
variable.

Figures: our nominal Krippendorff's alpha vs the krippendorff package's (absolute difference);
our Cohen's kappa vs scikit-learn's cohen_kappa_score for every annotator pair with >= 20 shared
units (max absolute difference); time per call (median of --repeat runs); the per-behaviour
agreement table (one-vs-rest binary alpha, overall = nominal alpha on the behaviour) with
bootstrap CIs, and its time.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import krippendorff
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from themekit.audit.agreement import agreement_table, cohen_kappa, krippendorff_alpha, pairwise_kappa, reliability_matrix

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KEY = ["transcript_id", "utterance_id"]


def timed(fn, repeat: int):
    """(result, median seconds) over ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


def compare(name: str, rows: pd.DataFrame, value: str, repeat: int) -> None:
    data = reliability_matrix(rows, unit=KEY, coder="annotator_id", value=value)
    n_codings = int(data.notna().to_numpy().sum())
    print(f"\n== {name}: {value} ==")
    print(f"units {data.shape[1]}, coders {data.shape[0]}, codings {n_codings}, "
          f"categories {sorted(rows[value].dropna().unique())}")
    as_text = data.to_numpy(dtype=str)  # both read the string "nan" as missing
    ours, t_ours = timed(lambda: krippendorff_alpha(as_text), repeat)
    ref, t_ref = timed(lambda: float(krippendorff.alpha(reliability_data=as_text, level_of_measurement="nominal")),
                       repeat)
    print(f"alpha (nominal)  ours {ours:.15f}  krippendorff {ref:.15f}  |diff| {abs(ours - ref):.1e}")
    print(f"  time per call  ours {t_ours * 1e3:.2f} ms  krippendorff {t_ref * 1e3:.2f} ms")
    pairs = []
    for i, j in itertools.combinations(data.index, 2):
        both = data.loc[i].notna() & data.loc[j].notna()
        if both.sum() >= 20:
            pairs.append((data.loc[i, both].to_numpy(), data.loc[j, both].to_numpy()))
    ours_k, t_ours = timed(lambda: [cohen_kappa(a, b) for a, b in pairs], repeat)
    ref_k, t_ref = timed(lambda: [cohen_kappa_score(a, b) for a, b in pairs], repeat)
    diff = max(abs(x - y) for x, y in zip(ours_k, ref_k))
    print(f"kappa  {len(pairs)} annotator pairs with >= 20 shared units: range {min(ours_k):.4f} .. "
          f"{max(ours_k):.4f}, max |ours - sklearn| {diff:.1e}")
    print(f"  time, all pairs  ours {t_ours * 1e3:.1f} ms  sklearn {t_ref * 1e3:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    path = args.data / "annomi" / "AnnoMI-full.csv"
    if not path.exists():
        print(f"AnnoMI not found at {path}", file=sys.stderr)
        return 1
    df = pd.read_csv(path)
    multi = df[df.groupby(KEY)["annotator_id"].transform("nunique") >= 2]
    print(f"AnnoMI-full.csv: {len(df)} rows; multi-annotator part: {multi.drop_duplicates(KEY).shape[0]} "
          f"utterances in {multi['transcript_id'].nunique()} transcripts, "
          f"{multi['annotator_id'].nunique()} annotators, {len(multi)} rows")
    therapist = multi[multi["interlocutor"] == "therapist"]
    compare("therapist utterances", therapist, "main_therapist_behaviour", args.repeat)
    compare("client utterances", multi[multi["interlocutor"] == "client"], "client_talk_type", args.repeat)

    tidy = therapist.rename(columns={"annotator_id": "coder", "main_therapist_behaviour": "code"})
    print(f"\n== agreement_table(overall='set', n_boot={args.n_boot}) on main_therapist_behaviour ==")
    table, t_table = timed(lambda: agreement_table(tidy, unit=KEY, n_boot=args.n_boot, overall="set"), 1)
    cols = ["code", "n_units", "n_coders", "percent_agreement", "alpha", "alpha_low", "alpha_high"]
    with pd.option_context("display.width", 200, "display.precision", 4):
        print(table[cols].to_string(index=False))
    print(f"time {t_table:.2f} s")
    pooled = agreement_table(tidy, unit=KEY, n_boot=args.n_boot).iloc[-1]
    print(f"(for comparison, overall='pooled' over the one-vs-rest codes: alpha {pooled['alpha']:.4f} "
          f"[{pooled['alpha_low']:.4f}, {pooled['alpha_high']:.4f}])")
    pk, t_pairs = timed(lambda: pairwise_kappa(tidy, unit=KEY, n_boot=args.n_boot, overall="set"), 1)
    overall = pk[pk["code"] == "(all codes)"]
    print(f"pairwise_kappa(overall='set', n_boot={args.n_boot}): {len(overall)} pairs, kappa median "
          f"{overall['kappa'].median():.4f} (range {overall['kappa'].min():.4f} .. {overall['kappa'].max():.4f}); "
          f"time {t_pairs:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
