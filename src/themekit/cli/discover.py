"""themekit discover: candidate codes and themes from transcripts, and a draft codebook."""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

from ..types import InputError
from .ingest import add_reading_options, corpus_from_args
from .engine import add_engine_options, client_from_args, mapper_from_client
from .models import add_embedding_options, embedder_from_args

log = logging.getLogger("themekit")


def register(sub) -> None:
    p = sub.add_parser(
        "discover", help="propose candidate codes and themes (a draft codebook)",
        description="Cluster participants' utterances into candidate codes (UMAP + HDBSCAN, agreed "
                    "over several seeds), group them into themes, and write tables and a draft "
                    "codebook to review and edit.")
    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="transcript files or folders, or one corpus .parquet from `themekit ingest`")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for codes.csv, themes.csv, assignments.csv/.parquet, codebook.yaml/.qdc")
    g = p.add_argument_group("discovery")
    g.add_argument("--min-code-size", type=int, default=None, metavar="N",
                   help="fewest utterances of a candidate code (default: max(5, sqrt(n)/4))")
    g.add_argument("--random-state", type=int, default=0, metavar="N",
                   help="seed; the same seed gives the same codes (default: %(default)s)")
    g.add_argument("--stability-runs", type=_runs, default="auto", metavar="N",
                   help="clustering runs with different seeds agreed on: a number, or 'auto' "
                        "(6 to 12, more for small studies; default: %(default)s)")
    g.add_argument("--outlier-threshold", type=_threshold, default="auto", metavar="SIM",
                   help="cosine similarity an unclustered utterance needs to its nearest code's "
                        "centroid to join it: 'auto' (as close as the least typical 5%% of the "
                        "code members found by clustering) or a number; -1 places every "
                        "utterance in a code (default: %(default)s)")
    add_embedding_options(p)
    add_engine_options(p)
    add_reading_options(p)
    p.set_defaults(func=run)


def _runs(text: str):
    if text == "auto":
        return text
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number from 1 to 100, got {text!r}")
    return int(text)


def _threshold(text: str):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number from -1 to 1, got {text!r}")
    return value


def _load_corpus(args, mapper=None):
    from ..types import Corpus

    if len(args.inputs) == 1 and Path(args.inputs[0]).suffix.lower() == ".parquet":
        return Corpus.load(args.inputs[0])
    return corpus_from_args(args, mapper=mapper)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    with client_from_args(args) as client:
        return _run(args, t0, mapper_from_client(client))


def _run(args: argparse.Namespace, t0: float, mapper) -> int:
    from ..discover import discover
    from ..embed import embed_utterances

    corpus = _load_corpus(args, mapper)
    utts = corpus.select()
    if len(utts) < 2:
        raise InputError(args.inputs[0], f"only {len(utts)} participant utterances found; discovery "
                         "needs more (check --interviewer if everyone was read as interviewer)")
    embedder = embedder_from_args(args)
    emb = embed_utterances(utts, embedder, mapper=mapper) if mapper is not None else None
    try:
        result = discover(utts, emb, embedder=embedder, mapper=mapper, min_code_size=args.min_code_size,
                          random_state=args.random_state, n_stability_runs=args.stability_runs,
                          outlier_threshold=args.outlier_threshold)
    except ValueError as e:
        raise InputError(None, str(e)) from None
    written = result.save(args.output)
    secs = time.perf_counter() - t0
    print(summary(result))
    print(f"{len(result)} candidate codes in {len(result.themes)} themes from {len(utts)} participant "
          f"utterances in {len(corpus.transcripts)} transcripts ({secs:.1f} s) -> {args.output}/")
    print("  " + ", ".join(sorted(p.name for p in written.values())))
    return 0


def summary(result, width: int = 44) -> str:
    """The codes as a short table: id, label, size, spread, stability."""
    codes = result.codes
    n_tot = result.n_participants
    lines = [f"{'code':<5} {'label':<{width}} {'size':>5} {'participants':>12} {'stability':>9}  theme"]
    for r in codes.itertuples():
        label = r.label if len(r.label) <= width else r.label[:width - 1] + "…"
        stab = "n/a" if isinstance(r.stability, float) and math.isnan(r.stability) else f"{r.stability:.2f}"
        lines.append(f"{r.id:<5} {label:<{width}} {r.size:>5} {f'{r.n_participants}/{n_tot}':>12} "
                     f"{stab:>9}  {r.theme}")
    lines.append(f"outliers: {int(round(result.outlier_share() * len(result.utterances)))} "
                 f"({result.outlier_share():.1%})")
    return "\n".join(lines)
