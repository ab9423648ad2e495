"""A Dask client and the mapper that runs stage work on its workers."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable, Iterable, Iterator

__all__ = ["connect", "dask_client", "DaskMapper", "describe", "mapper_for", "require_dask"]

log = logging.getLogger("themekit")

#: how long to wait for a remote scheduler before giving up
CONNECT_TIMEOUT = "30s"
_EXTRA = 'install the scale extra: pip install "themekit[scale]" (dask[distributed])'


def require_dask():
    """``distributed``, or an ImportError that says which extra to install."""
    try:
        import distributed
    except ImportError:
        raise ImportError(f"running on Dask needs dask.distributed; {_EXTRA}") from None
    return distributed


def connect(address: str = "local", *, n_workers: int | None = None, threads_per_worker: int = 1,
            processes: bool = True, memory_limit: str | None = "auto"):
    """A ``distributed.Client``: ``address`` of a running scheduler (``tcp://host:8786``), or
    ``"local"`` for a ``LocalCluster`` on this machine listening on 127.0.0.1 only (no
    dashboard), ``n_workers`` processes (default: one per CPU core) of ``threads_per_worker``
    threads. Close it with ``client.close()`` (a local cluster closes with it), or use
    :func:`dask_client`."""
    distributed = require_dask()
    # Dask's own INFO lines (scheduler start, comms closing) are not the user's business
    for name in ("distributed", "distributed.scheduler", "distributed.core", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be a scheduler address or 'local'; got {address!r}")
    if address.strip().lower() != "local":
        try:
            return distributed.Client(address.strip(), timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    n = n_workers or max(1, os.cpu_count() or 1)
    # Dask's nanny sets one BLAS/OpenMP thread for its worker processes in *this* process's
    # environment too; restored after the start, so the work done here keeps its threads.
    import dask
    keys = set(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    saved = {k: os.environ.get(k) for k in keys}
    try:
        cluster = _local_cluster(distributed, n, threads_per_worker, processes, memory_limit)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    client = distributed.Client(cluster)
    client._themekit_cluster = cluster     # closed with the client (see dask_client)
    return client


def _local_cluster(distributed, n, threads_per_worker, processes, memory_limit):
    # everything listens on 127.0.0.1 only: the scheduler and workers (in-process ones talk
    # through memory), and their small HTTP servers (health, metrics; no dashboard)
    return distributed.LocalCluster(
        n_workers=n, threads_per_worker=threads_per_worker, processes=processes,
        host="127.0.0.1" if processes else None, dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        worker_dashboard_address="127.0.0.1:0", memory_limit=memory_limit if processes else None)


@contextlib.contextmanager
def dask_client(address: str = "local", **kwargs):
    """:func:`connect` as a context manager: a local cluster is shut down on exit."""
    client = connect(address, **kwargs)
    try:
        yield client
    finally:
        cluster = getattr(client, "_themekit_cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()


def describe(client) -> dict:
    """What a run manifest records about the engine: scheduler, workers, threads."""
    info = client.scheduler_info()
    workers = info.get("workers", {})
    return {"engine": "dask", "scheduler": "local" if getattr(client, "_themekit_cluster", None) is not None
            else str(client.scheduler.address), "workers": len(workers),
            "threads": int(sum(w.get("nthreads", 0) for w in workers.values()))}


def mapper_for(client) -> "DaskMapper | None":
    """A :class:`DaskMapper` for ``client`` (None: None)."""
    return None if client is None else DaskMapper(client)


def _apply(item, fn):
    return fn(item)


class DaskMapper:
    """``mapper(fn, items)`` on a Dask cluster (contract: :mod:`themekit.common.parallel`).

    ``fn`` is sent once to every worker (``scatter(broadcast=True)``), so whatever it carries
    — an embedder, which then loads its model once per worker — is unpickled once per worker,
    not once per item. Items are scattered across the workers; results come back in the items'
    order, each released once read.
    """

    def __init__(self, client):
        require_dask()
        self.client = client

    def __repr__(self) -> str:
        return f"DaskMapper({self.client!r})"

    def __call__(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        items = list(items)
        if not items:
            return iter(())
        client = self.client
        [fn_f] = client.scatter([fn], broadcast=True, hash=False)
        item_fs = client.scatter(items, hash=False)
        futures = client.map(_apply, item_fs, fn=fn_f, pure=False)
        del items

        def results():
            try:
                for f, item_f in zip(futures, item_fs):
                    yield f.result()
                    f.release()
                    item_f.release()
            finally:
                for f in (*futures, *item_fs, fn_f):
                    f.release()
        return results()
