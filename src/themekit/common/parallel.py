"""How stages hand independent pieces of work to an engine: the *mapper* contract.

A mapper is any callable ``mapper(fn, items)`` that returns ``fn(item)`` for every item, in the
items' order — the builtin :func:`map` is one (the default everywhere: work runs here).
:class:`themekit.scale.DaskMapper` is another: it spreads the items over the workers of a Dask
cluster. Stages cut their work into the same pieces whichever mapper runs them, so the results
do not depend on where the work ran.

``fn`` must be picklable (a module-level function, or a :func:`functools.partial` of one) and
must not depend on anything but its arguments.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence, TypeVar

__all__ = ["Mapper", "local_map", "row_chunks", "batches_by_weight", "one_blas_thread"]

T = TypeVar("T")
R = TypeVar("R")

Mapper = Callable[[Callable[[T], R], Iterable[T]], Iterable[R]]


def local_map(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """The default mapper: one item after another, in this process."""
    return map(fn, items)


def one_blas_thread():
    """A context with BLAS limited to one thread. The products where it is used are small, and
    on a busy machine extra BLAS threads only contend (logistic regression ran 10x slower with
    them on 2 shared cores); and one thread gives the same bits wherever the work runs (here or
    on a worker), whatever the number of cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def row_chunks(n: int, size: int) -> list[slice]:
    """``n`` rows as consecutive slices of at most ``size`` rows."""
    if size < 1:
        raise ValueError(f"size must be >= 1; got {size!r}")
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def batches_by_weight(weights: Sequence[float], max_weight: float) -> list[list[int]]:
    """Consecutive indices grouped so that each batch weighs at most ``max_weight`` (an item
    heavier than that is a batch of its own): e.g. transcripts by characters."""
    out: list[list[int]] = []
    cur: list[int] = []
    w = 0.0
    for i, x in enumerate(weights):
        if cur and w + x > max_weight:
            out.append(cur)
            cur, w = [], 0.0
        cur.append(i)
        w += x
    if cur:
        out.append(cur)
    return out
