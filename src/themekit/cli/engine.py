"""``--dask``: the option every command that reads, embeds or assigns many utterances shares."""

from __future__ import annotations

import argparse
import contextlib

from ..types import ThemekitError


def add_engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("running on a cluster (needs the scale extra: pip install \"themekit[scale]\")")
    g.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="spread reading, embedding, assignment and the audit's permutations over a Dask "
                        "cluster: a scheduler address (tcp://host:8786; dask-jobqueue starts one on "
                        "SLURM/PBS) or 'local' "
                        "for worker processes on this machine (127.0.0.1 only). Same results as without")
    g.add_argument("--dask-workers", type=int, default=None, metavar="N",
                   help="worker processes of --dask local (default: one per CPU core)")


@contextlib.contextmanager
def client_from_args(args: argparse.Namespace):
    """A Dask client for ``--dask`` (closed, with a local cluster, on exit); None without it."""
    address = getattr(args, "dask", None)
    if not address:
        yield None
        return
    workers = getattr(args, "dask_workers", None)
    if workers is not None and workers < 1:
        raise ThemekitError(f"--dask-workers must be at least 1; got {workers}")
    from ..scale import dask_client, require_dask

    try:
        require_dask()
    except ImportError as e:
        raise ThemekitError(f"--dask: {e}") from None
    try:
        cm = dask_client(address, n_workers=workers)
        client = cm.__enter__()
    except (ConnectionError, ValueError) as e:
        raise ThemekitError(f"--dask {address}: {e}") from None
    try:
        yield client
    finally:
        cm.__exit__(None, None, None)


def mapper_from_client(client):
    if client is None:
        return None
    from ..scale import DaskMapper

    return DaskMapper(client)
