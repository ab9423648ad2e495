"""umap-learn with numba's on-disk cache of compiled code turned on.

UMAP's layout, graph and spectral functions are numba functions compiled on first use in
every process: about 5 s of a cold run, and again in each worker process of discovery's
parallel consensus runs. numba can keep compiled code on disk (``cache=True``, the ``.pyc`` of
compiled code: keyed by the function's source file and argument types, and recompiled when
umap-learn changes), but umap-learn does not ask for it. :func:`umap_module` turns it on for
umap's functions before they are first compiled; the cache lives where numba puts it (beside
umap's sources, or the user's cache folder when those are read-only). The compiled code and
the results are the same as without it.
"""

from __future__ import annotations

import contextlib

__all__ = ["umap_module", "precomputed_neighbours_quietly"]

_CACHED = False
_MODULES = ("umap.umap_", "umap.layouts", "umap.spectral", "umap.distances", "umap.sparse", "umap.utils")


def umap_module():
    """The ``umap`` package, its compiled functions cached on disk (once per process)."""
    global _CACHED
    import umap

    if not _CACHED:
        _CACHED = True
        import importlib

        try:
            from numba.core.dispatcher import Dispatcher
        except ImportError:  # pragma: no cover - numba is a dependency of umap-learn
            return umap
        for name in _MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:  # pragma: no cover - a umap-learn without that module
                continue
            for fn in list(vars(module).values()):
                if isinstance(fn, Dispatcher):
                    try:
                        fn.enable_caching()
                    except Exception:   # no writable cache location: compile as before
                        pass
    return umap



@contextlib.contextmanager
def precomputed_neighbours_quietly(what: str = "UMAP"):
    """A context for fitting UMAP with ``precomputed_knn``, ``random_state`` and ``n_jobs=1``:
    its warnings about exactly these (no search index kept, seeded runs single-threaded) are
    expected, so they are not shown. UMAP's multi-line "Spectral initialisation failed" (its
    eigenvector solver did not converge; it starts from a seeded random layout instead) becomes
    one log line naming ``what``; any other warning is shown as usual."""
    import logging
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*", category=UserWarning)
        try:
            yield
        finally:
            spectral = [w for w in caught if str(w.message).startswith("Spectral initialisation failed")]
    if spectral:
        logging.getLogger("themekit").info(
            "%s: UMAP's spectral start did not converge (neighbour graph with too small an eigengap); "
            "it started from a seeded random layout instead", what)
    for w in caught:
        if w not in spectral:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
