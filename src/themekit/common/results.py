"""Results of pipeline steps on disk, keyed by what they depend on, so a rerun recomputes only
what changed.

Location: ``<cache root>/results/<store>/``, where the cache root is the ``cache_dir``
argument, else ``$THEMEKIT_CACHE_DIR``, else the user cache folder (``~/.cache/themekit`` on
Linux, via platformdirs) — beside the embedding cache (:mod:`themekit.embed.cache`). One store
per kind of result (``corpus``, ``discovery``, ``mapping``, ``audit``, ``audit-parts``,
``audit-model``, ``layout``, ``report``, ``exports``); one file per result::

    key = SHA-256(format version, themekit version, a hash of themekit's source code,
                  versions of numpy/scipy/scikit-learn/umap/hdbscan/pandas,
                  store, the step's inputs in canonical form)

The inputs are hashed by :func:`input_hash` (texts, offsets, speakers, vectors, settings and
``random_state``, codebook content, coded segments — by value, never by identity), so a
stale result is never returned: another version of themekit or of a library the result comes
from, an edited module, another setting or seed, or different data is a different key.

Each file is ``MAGIC + SHA-256(payload) + payload`` (a pickle), written to a temporary file in
the same folder and renamed onto its name: readers see a whole result or none, two processes
computing the same result both write the same bytes and the last rename wins. A file whose
checksum does not match (a crash mid-copy, a flipped byte) is deleted and recomputed, never
returned. Nothing is evicted automatically: ``themekit cache info`` shows the size of each
store, ``themekit cache clear`` empties them. Pickles run code when loaded: the cache folder
must be as private as the Python environment (it is, under the user's cache folder).

Why this rather than ``joblib.Memory``: joblib keys a result by the decorated function's own
source and its pickled arguments, so a change in a function it calls (all of themekit's
method lives in callees) or in a library would return a stale result; and the arguments here
(utterances, fitted estimators, embedders holding a model) are not what a result depends on.
Explicit keys, written out next to each call, say exactly what a result depends on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["ResultCache", "input_hash", "default_cache_root", "code_fingerprint"]

log = logging.getLogger("themekit")

_FORMAT = "1"
_MAGIC = b"THEMEKIT-RESULT-1\n"
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "umap-learn", "hdbscan", "pandas", "pynndescent", "numba")


def default_cache_root() -> Path:
    """``$THEMEKIT_CACHE_DIR`` if set, else the platform's user cache folder + themekit."""
    env = os.environ.get("THEMEKIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("themekit", appauthor=False))


_CODE: str | None = None


def code_fingerprint() -> str:
    """SHA-256 of themekit's version, its source files and the versions of the libraries its
    results come from: any change to one of them is a new key (computed once per process)."""
    global _CODE
    if _CODE is None:
        from .._version import __version__

        h = hashlib.sha256(f"themekit {__version__}\0format {_FORMAT}\0".encode())
        pkg = Path(__file__).resolve().parents[1]
        for p in sorted(pkg.rglob("*.py")):
            h.update(str(p.relative_to(pkg)).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
        for lib in _LIBRARIES:
            try:
                v = metadata.version(lib)
            except metadata.PackageNotFoundError:
                v = "-"
            h.update(f"{lib} {v}\0".encode())
        _CODE = h.hexdigest()
    return _CODE


# -- canonical hashing of inputs -------------------------------------------------------------
def input_hash(*parts: Any) -> str:
    """SHA-256 (hex) of ``parts`` by value: None, bool, int, float, str, bytes, lists, tuples,
    sets, dicts, numpy arrays, pandas Series/DataFrames, dataclasses (e.g. Utterances, coded
    segments, codes), Paths (their name, not their content) and objects with ``get_params``
    (their class and settings). Anything else raises TypeError: a key that silently ignores
    part of an input could return a stale result."""
    h = hashlib.sha256()
    for p in parts:
        _feed(h, p)
    return h.hexdigest()


_FIELDS: dict[type, tuple[bytes, tuple[tuple[str, bytes], ...]]] = {}   # dataclass -> its tags, fields


def _dc_fields(cls: type) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    """A dataclass's tag and (field name, the name's bytes as _feed writes them), once per class."""
    got = _FIELDS.get(cls)
    if got is None:
        got = _FIELDS[cls] = (b"\x00dc" + cls.__qualname__.encode() + b"\x01",
                              tuple((f.name, b"\x00str\x01" + f.name.encode("utf-8", "surrogatepass"))
                                    for f in dataclasses.fields(cls)))
    return got


def _feed_plain(h, v: Any) -> bool:
    """Feed ``v`` the way :func:`_feed` does when it is a str, int, float, bool or None (the
    bulk of utterances and coded segments, hashed field by field); False for anything else."""
    t = type(v)
    if t is str:
        h.update(b"\x00str\x01" + v.encode("utf-8", "surrogatepass"))
    elif t is int:
        h.update(b"\x00int\x01" + str(v).encode())
    elif t is float:
        h.update(b"\x00float\x01" + repr(v).encode())
    elif v is None:
        h.update(b"\x00none\x01")
    elif t is bool:
        h.update(b"\x00bool" + str(v).encode() + b"\x01")
    else:
        return False
    return True


def _feed(h, obj: Any) -> None:
    def tag(t: str) -> None:
        h.update(b"\x00" + t.encode() + b"\x01")

    if _feed_plain(h, obj):
        return
    if obj is None:
        tag("none")
    elif isinstance(obj, (bool, np.bool_)):
        tag("bool" + str(bool(obj)))
    elif isinstance(obj, (int, np.integer)):
        tag("int"), h.update(str(int(obj)).encode())
    elif isinstance(obj, (float, np.floating)):
        tag("float"), h.update(repr(float(obj)).encode())
    elif isinstance(obj, str):
        tag("str"), h.update(obj.encode("utf-8", "surrogatepass"))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        tag("bytes"), h.update(bytes(obj))
    elif isinstance(obj, os.PathLike):
        tag("path"), h.update(os.fspath(obj).encode("utf-8", "surrogatepass"))
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            tag(f"objarray{obj.shape}")
            for v in obj.ravel():
                _feed(h, v)
        else:
            a = np.ascontiguousarray(obj)
            tag(f"array{a.dtype.str}{a.shape}"), h.update(a.tobytes())
    elif isinstance(obj, pd.DataFrame):
        tag(f"frame{obj.shape}")
        _feed(h, [str(c) for c in obj.columns])
        _feed(h, [str(t) for t in obj.dtypes])
        _feed(h, obj.index)
        for c in obj.columns:
            _feed(h, obj[c].to_numpy())
    elif isinstance(obj, pd.Series):
        tag("series"), _feed(h, obj.name), _feed(h, str(obj.dtype)), _feed(h, obj.index), _feed(h, obj.to_numpy())
    elif isinstance(obj, pd.Index):
        tag("index"), _feed(h, obj.names), _feed(h, np.asarray(obj.to_list(), dtype=object))
    elif isinstance(obj, dict):
        tag(f"dict{len(obj)}")
        for k in sorted(obj, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, (set, frozenset)):
        tag(f"set{len(obj)}")
        for d in sorted(input_hash(v) for v in obj):
            h.update(d.encode())
    elif isinstance(obj, (list, tuple)):
        tag(f"seq{len(obj)}")
        for v in obj:
            if not _feed_plain(h, v):
                _feed(h, v)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        head, fields = _dc_fields(type(obj))
        h.update(head)
        for name, name_bytes in fields:
            h.update(name_bytes)
            v = getattr(obj, name)
            if not _feed_plain(h, v):
                _feed(h, v)
    elif hasattr(obj, "get_params") and not isinstance(obj, type):
        tag("est" + type(obj).__qualname__)
        _feed(h, obj.get_params())
    else:
        raise TypeError(f"cannot fingerprint a {type(obj).__name__}: pass its content or settings instead")


# -- the store ------------------------------------------------------------------------------------
class ResultCache:
    """Pipeline results on disk, one store per kind of result (see module docstring).

    ``get_or_compute(store, key_parts, compute)`` returns ``(value, "cache")`` when a result
    for these inputs is on disk, else ``compute()`` and stores it: ``(value, "computed")``.
    ``enabled=False`` computes every time (and says so) but writes nothing.
    """

    STORES = ("corpus", "discovery", "mapping", "candidates", "audit", "audit-parts", "audit-model", "layout", "report", "exports")

    def __init__(self, cache_dir: str | os.PathLike | None = None, *, enabled: bool = True):
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
        self.dir = root / "results"
        self.enabled = enabled
        self.stats: dict[str, str] = {}     # step name -> "cache" | "computed" | "computed (no cache)"

    def __repr__(self) -> str:
        return f"ResultCache({str(self.dir)!r})"

    def key(self, store: str, *parts: Any) -> str:
        return input_hash(code_fingerprint(), store, *parts)

    def path_for(self, store: str, key: str) -> Path:
        return self.dir / store / f"{key}.pkl"

    def get(self, store: str, key: str) -> tuple[bool, Any]:
        """``(True, value)`` for an intact entry, else ``(False, None)`` (damaged ones deleted)."""
        path = self.path_for(store, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return False, None
        except OSError as e:
            log.warning("result cache %s not read: %s", path, e)
            return False, None
        head = len(_MAGIC)
        payload = data[head + 32:]
        if data[:head] != _MAGIC or hashlib.sha256(payload).digest() != data[head:head + 32]:
            log.warning("result cache: %s is damaged; removed, the result is computed again", path.name)
            path.unlink(missing_ok=True)
            return False, None
        try:
            return True, pickle.loads(payload)
        except Exception as e:   # a class that moved or changed: recompute
            log.warning("result cache: %s could not be loaded (%s); computed again", path.name, e)
            path.unlink(missing_ok=True)
            return False, None

    def put(self, store: str, key: str, value: Any) -> None:
        """Write one result atomically; a full disk or a read-only folder costs only the caching."""
        path = self.path_for(store, key)
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as e:   # a custom component
            log.warning("result cache: this %s result cannot be stored (%s); it is computed on "
                        "every run", store, e)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            log.warning("result cache %s not written: %s", self.dir, e)

    def get_or_compute(self, store: str, parts: tuple, compute: Callable[[], Any], *,
                       step: str | None = None, key: str | None = None) -> tuple[Any, str]:
        """The cached result of ``compute`` for inputs ``parts`` (or an already computed
        ``key``: :meth:`key`); records in ``stats[step]`` (default: the store) whether it was
        read or computed."""
        name = step or store
        if not self.enabled:
            self.stats[name] = "computed (cache off)"
            return compute(), "computed"
        key = key if key is not None else self.key(store, *parts)
        found, value = self.get(store, key)
        if found:
            self.stats[name] = "cache"
            return value, "cache"
        value = compute()
        self.put(store, key, value)
        self.stats[name] = "computed"
        return value, "computed"

    # -- housekeeping -------------------------------------------------------------------------
    def info(self) -> list[dict[str, Any]]:
        """One row per store: name, entries, bytes on disk, folder, last written."""
        rows = []
        for store in self.STORES:
            d = self.dir / store
            files = [p for p in d.glob("*.pkl")] if d.is_dir() else []
            stamps = [p.stat().st_mtime for p in files]
            rows.append({"store": store, "entries": len(files), "bytes": sum(p.stat().st_size for p in files),
                         "dir": str(d), "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(max(stamps)))
                         if stamps else "-"})
        return rows

    def clear(self, store: str | None = None) -> int:
        """Delete every result (of one store, or all); returns how many files were removed."""
        if store is not None and store not in self.STORES:
            raise ValueError(f"store must be one of {', '.join(self.STORES)}; got {store!r}")
        removed = 0
        for s in (self.STORES if store is None else (store,)):
            d = self.dir / s
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if p.is_file() and (p.suffix == ".pkl" or p.name.endswith(".tmp")):
                    p.unlink(missing_ok=True)
                    removed += p.suffix == ".pkl"
        return removed
