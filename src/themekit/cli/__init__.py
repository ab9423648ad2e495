"""``themekit`` command line: a thin layer over the library calls.

Each subcommand lives in its own module here with a ``register(subparsers)`` function;
add new ones to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .._version import __version__
from ..types import ThemekitError

COMMANDS = ("run", "ingest", "discover", "map", "evaluate", "audit", "cache", "models")

_EPILOG = """\
typical use:
  themekit run data/example/ -o out/                  everything, with an HTML report
  themekit ingest data/example/ -o corpus.parquet     read and segment transcripts
  themekit <command> --help                           options of one command

Everything runs offline; nothing leaves this machine."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="themekit",
        description="NLP-assisted theme discovery for qualitative interview data.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"themekit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="themekit: %(message)s", stream=sys.stderr)
    logging.getLogger("themekit").setLevel(level if verbose or quiet else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network implicitly
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except ThemekitError as e:
        print(f"themekit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("themekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
