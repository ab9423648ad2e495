"""themekit audit: intercoder agreement, coding drift, suspected mis-codings, human vs model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..types import InputError
from .engine import add_engine_options, client_from_args, mapper_from_client
from .ingest import add_reading_options
from .map import find_codebook, find_coded, load_corpus
from .models import add_embedding_options, embedder_from_args

log = logging.getLogger("themekit")


def register(sub) -> None:
    p = sub.add_parser(
        "audit", help="audit human coding: agreement, drift across interviews, suspected mis-codings",
        description="Audit a coded project: intercoder agreement (Cohen's kappa, Krippendorff's alpha, "
                    "bootstrap CIs) on utterances; coder drift: per coder, a rise in coding the same kind of "
                    "passage with a different code than their own earlier coding did (permutation test over "
                    "interview order, with the quotes behind it); per code and window, prevalence and "
                    "centroid shift as control charts (description); coded segments whose code fits "
                    "worse than another (with the nearest segments carrying that code as evidence); and "
                    "human vs model agreement per interview. Writes CSV tables and figures.html.",
        epilog="example: themekit audit data/example/ -o audit/")
    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="a study folder (transcripts/, metadata.csv, codebook.csv, coded_segments.csv), "
                        "transcript files or folders, or a corpus .parquet")
    p.add_argument("--coded", metavar="FILE",
                   help="coded segments: CSV/TSV, Excel, NVivo reference reports, or a folder of them (default: coded_segments.csv in the study folder)")
    p.add_argument("--codebook", metavar="FILE",
                   help="codebook (.yaml, .qdc, or a table: .csv, .tsv, .xlsx, .docx, .md; default: codebook.* in the study folder, if any)")
    p.add_argument("-o", "--output", default="audit", metavar="OUTDIR",
                   help="folder for the tables and figures (default: %(default)s)")
    g = p.add_argument_group("audit")
    g.add_argument("--order", default="auto", metavar="COLUMN",
                   help="order of interviews: a metadata column (interview_date, wave, ...), 'coded_at' "
                        "(coding time), 'transcript' (ids, P2 before P10), or 'auto' (interview_date or a 'Date' column if "
                        "present, else coding time, else transcript ids; default)")
    g.add_argument("--window", type=int, default=1, metavar="K",
                   help="interviews per drift window (default: %(default)s)")
    g.add_argument("--null", choices=("segment", "overdispersed"), default="segment",
                   help="null for the drift test: shuffled segments (default), or shuffled segments "
                        "allowing for the spread between interviews seen in the data (stricter)")
    g.add_argument("--permutations", type=int, default=1000, metavar="N",
                   help="permutations for the drift test (default: %(default)s)")
    g.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples for confidence intervals (default: %(default)s)")
    g.add_argument("--alpha", type=float, default=0.05, help="false discovery rate for drift flags "
                   "(default: %(default)s)")
    g.add_argument("--codebook-history", action="append", default=None, metavar="PATH",
                   help="codebook versions (a folder of dated codebook files, e.g. codebook_2022-02-23.csv) "
                        "or a coding log (CSV/JSONL with a date column; Taguette's log): a coding change that "
                        "starts where a code's definition changed is reported as following the codebook, not "
                        "as drift; repeat for several")
    g.add_argument("--drift-correction", choices=("bh", "holm"), default="bh",
                   help="coder drift, across codes: 'bh' (Benjamini-Hochberg, the share of false flags; "
                        "default) or 'holm' (the chance of any false flag: fewer flags)")
    g.add_argument("--drift-p-value", choices=("bound", "exact"), default="bound",
                   help="coder drift, each change point: 'bound' (conservative; default) or 'exact' (for "
                        "the interviews scanned: more flags)")
    g.add_argument("--model-coder", choices=("auto", "seeded", "zero-shot", "none"), default="auto",
                   help="the model compared with the coders per interview: 'seeded' (auto; learns from "
                        "the other interviews' coding), 'zero-shot' (codebook only) or none")
    g.add_argument("--verbatim", action="store_true",
                   help="embed segments verbatim, bracketed notes included (default: the words spoken)")
    g.add_argument("--show", type=int, default=5, metavar="N",
                   help="suspected mis-codings to print (default: %(default)s)")
    g.add_argument("--random-state", type=int, default=0)
    add_embedding_options(p)
    add_reading_options(p)
    add_engine_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..audit import audit
    from ..codebook import read_coded_segments

    for name, v, lo in (("--window", args.window, 1), ("--permutations", args.permutations, 19),
                        ("--bootstrap", args.bootstrap, 0)):
        if v < lo:
            raise InputError(None, f"{name} must be at least {lo}; got {v}")
    if not 0 < args.alpha < 1:
        raise InputError(None, f"--alpha must be between 0 and 1; got {args.alpha}")
    coded = find_coded(args)
    if coded is None:
        raise InputError(args.inputs[0], "no coded segments: pass --coded FILE (CSV with transcript_id, "
                         "start, end or quote, code, coder) or put coded_segments.csv in the study folder")
    with client_from_args(args) as client:   # --dask: reading and the drift permutations on its workers
        engine = mapper_from_client(client)
        corpus = load_corpus(args, engine)
        codebook, cb_path = find_codebook(args, required=False)
        segments = read_coded_segments(coded, corpus, codebook=codebook)
        embedder = embedder_from_args(args)
        mapper = None if args.model_coder == "none" else args.model_coder
        order: object = args.order
        result = audit(corpus, segments, codebook, embedder=embedder, mapper=mapper, order=order,
                       window=args.window, null=args.null, n_permutations=args.permutations,
                       n_boot=args.bootstrap, alpha=float(args.alpha), text="text" if args.verbatim else "content",
                       codebook_history=args.codebook_history, drift_p_value=args.drift_p_value,
                       drift_correction=args.drift_correction, random_state=args.random_state, engine=engine)
    files = result.save(args.output)
    n_coders = result.units["coder"].nunique()
    print(f"{len(segments)} coded segments ({len(result.units)} spans) by {n_coders} coder"
          f"{'s' if n_coders != 1 else ''} in {result.units['transcript_id'].nunique()} transcripts"
          + (f"; codebook {cb_path}" if cb_path else "; no codebook"))
    print(result.summary(n_miscodings=args.show))
    print(f"tables and figures in {Path(args.output)}/ ({len(files)} files; open figures.html)")
    return 0
