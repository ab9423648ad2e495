"""Content-addressed on-disk cache of embeddings.

Location: the ``cache_dir`` argument, else ``$THEMEKIT_CACHE_DIR``, else the user cache folder
(``~/.cache/themekit/embeddings`` on Linux, via platformdirs). Each vector is found by

    key = SHA-256(model_id, settings as canonical JSON, text)

so the same text under another model, model version (the weights hash is in the model id) or
setting is a different entry. Texts themselves are not stored, only their hashes and vectors.

Storage: one SQLite file per model id. Each write appends one *block* row holding a batch of
keys, their vectors (float32) and a CRC-32 of every (key, vector); a block is one transaction,
so a crash leaves the previous state, never half a block. Readers keep an in-memory index
key -> (block, position), refreshed with the blocks added since (by this or any other process),
and check each vector's CRC as they read it: a damaged vector is never returned, its text is
embedded again and the new copy (a later block) supersedes the old. A file SQLite itself
cannot read is moved aside (``*.corrupt-<time>``) and the cache starts afresh.

Why this shape: SQLite is in the standard library, transactional, and lets several processes
read and write at once (WAL mode; writers take turns). Storing one row per vector made writes
of 100,000 vectors take seconds (B-tree inserts of random keys); a block per batch costs
milliseconds, and a warm lookup reads whole blocks sequentially. Keep the cache on a local
disk: SQLite's locking is unreliable on network file systems.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["EmbeddingCache", "default_cache_dir"]

log = logging.getLogger("themekit")

_SCHEMA_VERSION = "2"
_WHOLE_BLOCK = 16       # read a whole block when this many of its vectors are wanted
_BUSY_MS = 120_000      # how long a writer waits for another process's write to finish


def default_cache_dir() -> Path:
    """``$THEMEKIT_CACHE_DIR`` if set, else the platform's user cache dir + themekit/embeddings."""
    env = os.environ.get("THEMEKIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("themekit", appauthor=False)) / "embeddings"


def _file_stem(model_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", model_id)[:80]
    return f"{safe}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"


def _checksum(key: bytes, blob: bytes) -> int:
    return zlib.crc32(blob, zlib.crc32(key))


class _Index:
    """What one process knows of one model's cache file: key -> (block id, position)."""

    def __init__(self, generation: str):
        self.generation = generation
        self.last_block = 0
        self.where: dict[bytes, tuple[int, int]] = {}
        self.blocks: dict[int, tuple[int, int, np.ndarray]] = {}   # id -> (n, dim, crcs)


class EmbeddingCache:
    """Embeddings on disk, keyed by model id, settings and text (see module docstring)."""

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self.dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self._conns: dict[str, sqlite3.Connection] = {}
        self._index: dict[str, _Index] = {}
        self._inode: dict[str, tuple[int, int]] = {}
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self.stats = {"hits": 0, "misses": 0, "writes": 0, "corrupt": 0}

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.dir)!r})"

    # -- keys ---------------------------------------------------------------------------------
    @staticmethod
    def keys(embedder_or_model_id: Any, texts: Sequence[str], settings: dict | None = None) -> list[bytes]:
        """The cache key of each text for an embedder (or a model id plus settings)."""
        if isinstance(embedder_or_model_id, str):
            model_id = embedder_or_model_id
        else:
            model_id = embedder_or_model_id.model_id
            if settings is None:
                settings = getattr(embedder_or_model_id, "settings", None)
        prefix = hashlib.sha256()
        prefix.update(model_id.encode() + b"\0")
        prefix.update(json.dumps(settings or {}, sort_keys=True, default=str).encode() + b"\0")
        out = []
        for t in texts:
            h = prefix.copy()
            h.update(t.encode("utf-8", "surrogatepass"))
            out.append(h.digest())
        return out

    # -- connections --------------------------------------------------------------------------
    def path_for(self, model_id: str) -> Path:
        return self.dir / f"{_file_stem(model_id)}.sqlite"

    def _connect(self, model_id: str) -> sqlite3.Connection:
        if os.getpid() != self._pid:      # forked: connections must not cross processes
            self._conns, self._index = {}, {}
            self._pid = os.getpid()
        path = self.path_for(model_id)
        conn = self._conns.get(model_id)
        if conn is not None:
            try:   # still the file at this path? (`cache clear` elsewhere removes it)
                st = path.stat()
                if (st.st_ino, st.st_dev) == self._inode.get(model_id):
                    return conn
            except OSError:
                pass
            self._conns.pop(model_id).close()
            self._index.pop(model_id, None)
        self.dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=_BUSY_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS blocks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                         " n INTEGER NOT NULL, dim INTEGER NOT NULL, keys BLOB NOT NULL,"
                         " crcs BLOB NOT NULL, head_crc INTEGER NOT NULL, vecs BLOB NOT NULL)")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('model_id', ?)", (model_id,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', ?)", (os.urandom(8).hex(),))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)",
                         (time.strftime("%Y-%m-%dT%H:%M:%S"),))
            conn.execute("COMMIT")
            schema = conn.execute("SELECT v FROM meta WHERE k='schema'").fetchone()[0]
            # a byte flipped on disk can turn a BLOB into TEXT: fetch text as bytes, never fail
            # decoding, and let the checksums judge the content
            conn.text_factory = bytes
        except BaseException:
            conn.close()
            raise
        if schema != _SCHEMA_VERSION:
            conn.close()
            raise sqlite3.DatabaseError(f"cache schema {schema}, expected {_SCHEMA_VERSION}")
        st = path.stat()
        self._inode[model_id] = (st.st_ino, st.st_dev)
        self._conns[model_id] = conn
        return conn

    def _quarantine(self, model_id: str, err: Exception) -> None:
        self._index.pop(model_id, None)
        conn = self._conns.pop(model_id, None)
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        path = self.path_for(model_id)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                try:
                    os.replace(p, p.with_name(f"{p.name}.corrupt-{stamp}-{os.getpid()}"))
                except OSError:
                    pass
        log.warning("embedding cache %s was unreadable (%s); moved it aside, its texts will be "
                    "embedded again", path, err)

    def _run(self, model_id: str, fn, default):
        """Run ``fn(conn)``; a damaged file is moved aside and retried once on a fresh one; other
        failures (disk full, permissions) cost only the caching, with a warning."""
        with self._lock:
            for attempt in (0, 1):
                try:
                    return fn(self._connect(model_id))
                except sqlite3.OperationalError as e:
                    msg = str(e).lower()
                    if attempt == 0 and ("malformed" in msg or "not a database" in msg
                                         or "no such table" in msg):
                        self._quarantine(model_id, e)
                        continue
                    log.warning("embedding cache %s not used: %s", self.dir, e)
                    return default
                except sqlite3.DatabaseError as e:   # "file is not a database", "malformed"
                    if attempt == 0:
                        self._quarantine(model_id, e)
                        continue
                    log.warning("embedding cache %s not used: %s", self.dir, e)
                    return default
                except OSError as e:
                    log.warning("embedding cache %s not used: %s", self.dir, e)
                    return default
        return default

    # -- reading and writing --------------------------------------------------------------
    def _refresh(self, conn: sqlite3.Connection, model_id: str) -> _Index:
        """Bring the in-memory index up to date with blocks written since (by anyone)."""
        gen = conn.execute("SELECT v FROM meta WHERE k='generation'").fetchone()[0]
        idx = self._index.get(model_id)
        if idx is None or idx.generation != gen:      # new, or the file was cleared/recreated
            idx = self._index[model_id] = _Index(gen)
        bad = 0
        for bid, n, dim, keys, crcs, head in conn.execute(
                "SELECT id, n, dim, keys, crcs, head_crc FROM blocks WHERE id > ? ORDER BY id",
                (idx.last_block,)):
            idx.last_block = bid
            if (not isinstance(keys, bytes) or not isinstance(crcs, bytes) or n <= 0 or dim <= 0
                    or len(keys) != 32 * n or len(crcs) != 4 * n
                    or zlib.crc32(crcs, zlib.crc32(keys)) != head):
                bad += max(int(n), 1) if isinstance(n, int) else 1
                continue
            idx.blocks[bid] = (n, dim, np.frombuffer(crcs, dtype="<u4"))
            where = idx.where
            for pos in range(n):
                where[keys[32 * pos:32 * pos + 32]] = (bid, pos)
        if bad:
            self.stats["corrupt"] += bad
            log.warning("embedding cache: %d damaged entries ignored; they are embedded again", bad)
        return idx

    def get_many(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Vectors for the keys found intact (each checked against its CRC)."""
        found, vectors = self.lookup(model_id, keys)
        return {k: vectors[i] for i, k in enumerate(keys) if found[i]}

    def lookup(self, model_id: str, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(found, vectors)``: a boolean mask over ``keys`` and an (n, d) float32 matrix whose
        rows are valid where ``found`` (None when nothing was found). Each vector is checked
        against its CRC; damaged ones count as not found."""
        found = np.zeros(len(keys), dtype=bool)
        if not len(keys):
            return found, None

        def read(conn):
            idx = self._refresh(conn, model_id)
            where = idx.where
            by_block: dict[int, tuple[list[int], list[int]]] = {}
            for i, k in enumerate(keys):
                loc = where.get(k)
                if loc is not None:
                    rows, poss = by_block.setdefault(loc[0], ([], []))
                    rows.append(i)
                    poss.append(loc[1])
            out, bad = None, 0
            for bid, (rows, poss) in by_block.items():
                n, dim, crcs = idx.blocks[bid]
                if out is None:
                    out = np.zeros((len(keys), dim), dtype=np.float32)
                if dim != out.shape[1]:
                    continue
                size = 4 * dim
                if len(rows) >= _WHOLE_BLOCK:
                    row = conn.execute("SELECT vecs FROM blocks WHERE id = ?", (bid,)).fetchone()
                    blob = row[0] if row and isinstance(row[0], bytes) else b""
                    pieces = [blob[p * size:(p + 1) * size] for p in poss]
                else:
                    pieces = []
                    for p in poss:
                        row = conn.execute("SELECT substr(vecs, ?, ?) FROM blocks WHERE id = ?",
                                           (p * size + 1, size, bid)).fetchone()
                        pieces.append(row[0] if row and isinstance(row[0], bytes) else b"")
                ok_rows, ok_pieces = [], []
                for i, p, vec in zip(rows, poss, pieces):
                    if len(vec) == size and _checksum(keys[i], vec) == crcs[p]:
                        ok_rows.append(i)
                        ok_pieces.append(vec)
                    else:                       # damaged, or the block vanished (cleared)
                        bad += len(vec) > 0
                        where.pop(keys[i], None)
                if ok_rows:
                    out[ok_rows] = np.frombuffer(b"".join(ok_pieces), dtype="<f4").reshape(-1, dim)
                    found[ok_rows] = True
            if bad:
                log.warning("embedding cache: %d damaged entries dropped; they are embedded again", bad)
            return out, bad

        out, nbad = self._run(model_id, read, (None, 0))
        if out is None:
            found[:] = False
        nfound = int(found.sum())
        self.stats["hits"] += nfound
        self.stats["misses"] += len(keys) - nfound
        self.stats["corrupt"] += nbad
        return found, out

    def put_many(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Append one block with these keys and vectors (one transaction)."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError(f"{len(keys)} keys but vectors of shape {vectors.shape}")
        if not keys:
            return
        if any(len(k) != 32 for k in keys):
            raise ValueError("cache keys are 32-byte SHA-256 digests (see EmbeddingCache.keys)")
        n, dim = vectors.shape
        keys_blob = b"".join(keys)
        vecs_blob = vectors.tobytes()
        size = 4 * dim
        crcs = np.fromiter((_checksum(k, vecs_blob[i * size:(i + 1) * size]) for i, k in enumerate(keys)),
                           dtype="<u4", count=n).tobytes()
        head = zlib.crc32(crcs, zlib.crc32(keys_blob))

        def write(conn):
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT INTO blocks (n, dim, keys, crcs, head_crc, vecs) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (n, dim, keys_blob, crcs, head, vecs_blob))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return n

        self.stats["writes"] += self._run(model_id, write, 0)

    # -- housekeeping -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            for conn in self._conns.values():
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conns = {}

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def _files(self) -> Iterable[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("*.sqlite"))

    def info(self) -> list[dict[str, Any]]:
        """One row per model: model id, number of entries, bytes on disk, file, last written."""
        rows = []
        for f in self._files():
            size = sum(p.stat().st_size for p in f.parent.glob(f.name + "*")
                       if ".corrupt-" not in p.name)
            row: dict[str, Any] = {"file": str(f), "bytes": size, "model_id": None, "entries": None,
                                   "modified": time.strftime("%Y-%m-%d %H:%M",
                                                             time.localtime(f.stat().st_mtime))}
            try:
                conn = sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=5)
                try:
                    conn.text_factory = lambda b: b.decode("utf-8", "replace")
                    row["model_id"] = conn.execute("SELECT v FROM meta WHERE k='model_id'").fetchone()[0]
                    keys = set()
                    for (blob,) in conn.execute("SELECT keys FROM blocks"):
                        keys.update(blob[i:i + 32] for i in range(0, len(blob), 32))
                    row["entries"] = len(keys)
                finally:
                    conn.close()
            except sqlite3.Error as e:
                row["error"] = str(e)
            rows.append(row)
        return rows

    def clear(self, model_id: str | None = None) -> int:
        """Delete the cache of one model (its full id, or its name before the ``@``: every
        version), or of all models; returns how many model caches were removed. Files moved
        aside after damage go too."""
        self.close()
        if not self.dir.is_dir():
            return 0
        stems = []
        for row in self.info():
            mid = row["model_id"]
            if model_id is None or (mid is not None and model_id in (mid, mid.split("@")[0])):
                stems.append(Path(row["file"]).name)
        removed = 0
        for f in list(self.dir.iterdir()):
            hit = any(f.name == st or f.name.startswith(st + "-") or f.name.startswith(st + ".corrupt-")
                      for st in stems)
            if hit or (model_id is None and ".sqlite" in f.name):
                f.unlink(missing_ok=True)
                removed += f.name.endswith(".sqlite")
        return removed
