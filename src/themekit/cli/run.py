"""themekit run: the whole pipeline on a study, one folder of results and an HTML report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..io import Segmenter
from ..types import InputError
from .engine import add_engine_options, client_from_args
from .ingest import add_reading_options, reader_from_args
from .models import add_embedding_options, embedder_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="the whole pipeline: transcripts -> codes, themes, mapping, audit, report",
        description="Read and segment transcripts, embed participant utterances (cached), propose "
                    "candidate codes and themes, map them and every utterance to your codebook, audit "
                    "human coding, and write tables, a framework matrix (Excel), a REFI-QDA project "
                    "(.qdpx), a run manifest and one self-contained HTML report.",
        epilog="example: themekit run data/example/ -o out/")
    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="a study folder (transcripts/, metadata.csv, codebook.*, coded_segments.csv) "
                        "or transcript files/folders")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the results")
    p.add_argument("--codebook", metavar="FILE",
                   help="codebook (.yaml, .qdc, or a table: .csv, .tsv, .xlsx, .docx, .md); default: codebook.* in the study folder")
    p.add_argument("--coded", metavar="FILE",
                   help="human-coded segments: CSV/TSV, Excel, NVivo reference reports, or a folder of them; default: coded_segments.csv in the study folder")
    p.add_argument("--review", metavar="DECISIONS",
                   help="decisions.csv exported from the report's review view: accepted/recoded suggestions "
                        "become the reviewer's coding, rejected ones are not suggested again")
    p.add_argument("--random-state", type=int, default=0, help="seed for every random step (default: 0)")
    p.add_argument("--all-speakers", action="store_true",
                   help="analyse every speaker's utterances, not only participants' speech")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    add_embedding_options(p)
    add_reading_options(p)
    add_engine_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import run_study

    try:
        segmenter = Segmenter(min_chars=args.min_chars, max_chars=args.max_chars, spacy_model=args.spacy_model)
    except ValueError as e:
        raise InputError(None, str(e)) from None
    reader = reader_from_args(args)
    t0 = time.perf_counter()
    with client_from_args(args) as client:
        result = run_study(args.inputs, args.output, codebook=args.codebook, coded=args.coded,
                           metadata=args.metadata, reader=reader, segmenter=segmenter, model=args.model,
                           fast=args.fast, embedder=embedder_from_args(args), random_state=args.random_state,
                           all_speakers=args.all_speakers, report=not args.no_report, quiet=args.quiet,
                           review=args.review, client=client)
    out = Path(args.output)
    print(f"{len(result.corpus.transcripts)} transcripts, {len(result.corpus)} utterances, "
          f"{len(result.discovery.codes)} candidate codes in {len(result.discovery.themes)} themes "
          f"({time.perf_counter() - t0:.1f} s)")
    for key in ("report", "roles", "discovery/codebook.yaml", "mapping/suggestions", "mapping/review_log", "audit/agreement.csv",
                "framework", "refi", "manifest"):
        if key in result.files:
            print(f"  {key:<24} {result.files[key]}")
    print(f"all results in {out}/")
    return 0
