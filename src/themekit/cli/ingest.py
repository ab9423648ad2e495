"""themekit ingest: read and segment transcripts into a corpus file."""

from __future__ import annotations

import argparse
from pathlib import Path

import sys

from ..io import ReaderOptions
from ..io import read_role_overrides, read_transcripts, write_roles
from ..io import Segmenter
from ..types import InputError, atomic_write
from .engine import add_engine_options, client_from_args, mapper_from_client


def add_reading_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that reads transcripts."""
    g = p.add_argument_group("reading transcripts")
    g.add_argument("--metadata", metavar="CSV",
                   help="per-transcript metadata (default: metadata.csv in the study folder)")
    g.add_argument("--interviewer", action="append", default=[], metavar="LABEL",
                   help="speaker label of the research team in every transcript (repeatable; "
                        "default: decided over the study, see roles.csv)")
    g.add_argument("--roles", metavar="CSV",
                   help="speaker roles to use: a CSV with columns label,role[,transcript_id] "
                        "(role: interviewer, participant or other; without transcript_id a row "
                        "holds in every transcript). A metadata.csv column 'interviewer' naming "
                        "each transcript's research-team label(s) (separated by ;) works too")
    g.add_argument("--prompt-pattern", default=ReaderOptions.prompt_pattern, metavar="REGEX",
                   help="in unlabelled transcripts, lines matching this are interviewer prompts "
                        "(default: numbered questions such as '3.a ...')")
    g.add_argument("--column", action="append", default=[], metavar="KEY=NAME",
                   help="for CSV/JSONL input: which column holds transcript, speaker, text, "
                        "start_time, end_time or role")
    g.add_argument("--min-chars", type=int, default=Segmenter.min_chars,
                   help="join sentences shorter than this to a neighbour (default: %(default)s)")
    g.add_argument("--max-chars", type=int, default=Segmenter.max_chars,
                   help="split units longer than this at clause boundaries (default: %(default)s)")
    g.add_argument("--spacy-model", default=None, metavar="NAME",
                   help="installed spaCy pipeline for sentence boundaries (default: the built-in "
                        "rule sentencizer, no model needed)")


def corpus_from_args(args: argparse.Namespace, paths=None, mapper=None):
    columns = {}
    for item in args.column:
        if "=" not in item:
            raise InputError(None, f"--column expects KEY=NAME, got {item!r}")
        k, v = item.split("=", 1)
        columns[k.strip()] = v.strip()
    try:
        segmenter = Segmenter(min_chars=args.min_chars, max_chars=args.max_chars,
                              spacy_model=args.spacy_model)
    except ValueError as e:
        raise InputError(None, str(e)) from None
    reader = reader_from_args(args, columns)
    # a codebook or coding given from among the interviews is not a transcript
    not_read = [p for p in (getattr(args, "codebook", None), getattr(args, "coded", None)) if p]
    return read_transcripts(paths if paths is not None else args.inputs, metadata=args.metadata,
                            reader=reader, segmenter=segmenter, progress=True, mapper=mapper,
                            exclude=not_read)


def reader_from_args(args: argparse.Namespace, columns: dict | None = None) -> ReaderOptions:
    """ReaderOptions from the shared reading options (``--interviewer``, ``--roles``, ...)."""
    if columns is None:
        columns = dict(item.split("=", 1) for item in args.column if "=" in item)
    roles = tuple(read_role_overrides(args.roles)) if getattr(args, "roles", None) else ()
    return ReaderOptions(interviewer=tuple(args.interviewer), prompt_pattern=args.prompt_pattern,
                         table_columns=columns, roles=roles)


def print_roles(corpus, path: Path, stream=None) -> None:
    """Write roles.csv and print the labels to check (uncertain, or a role that differs
    between transcripts), if any."""
    _, lines = write_roles(corpus, path)
    for line in lines:
        print(line, file=stream or sys.stdout)


def register(sub) -> None:
    p = sub.add_parser(
        "ingest", help="read and segment transcripts into a corpus (Parquet or CSV)",
        description="Read transcripts (txt, vtt, srt, docx, csv, jsonl; a file, a folder or a "
                    "study folder with transcripts/ and metadata.csv) and cut them into "
                    "utterances with exact character offsets.")
    p.add_argument("inputs", nargs="+", metavar="PATH", help="transcript files or folders")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="corpus file to write: .parquet (lossless) or .csv (one row per utterance)")
    add_reading_options(p)
    add_engine_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(out, "output must end in .parquet or .csv")
    with client_from_args(args) as client:
        corpus = corpus_from_args(args, mapper=mapper_from_client(client))
    if out.suffix.lower() == ".csv":
        df = corpus.to_pandas()
        atomic_write(out, lambda tmp: df.to_csv(tmp, index=False))
    else:
        corpus.save(out)
    roles = corpus.to_pandas(with_metadata=False)
    n_part = int(((roles.role == "participant") & ~roles.backchannel).sum())
    print(f"{len(corpus.transcripts)} transcripts, {len(corpus)} utterances "
          f"({n_part} participant, {int((roles.role == 'interviewer').sum())} interviewer, "
          f"{int(roles.backchannel.sum())} back-channels) -> {out}")
    roles_path = out.parent / "roles.csv"
    print_roles(corpus, roles_path)
    print(f"speaker roles and the evidence for them -> {roles_path}")
    return 0
