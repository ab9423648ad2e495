"""The content-addressed embedding cache: reuse, damage detection, concurrent writers, CLI."""

from __future__ import annotations

import logging
import multiprocessing as mp
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from themekit.embed.cache import EmbeddingCache, default_cache_dir
from themekit.embed import HashingEmbedder, embed_texts


class Counting:
    """Wraps an embedder and records every text it is asked to embed."""

    cacheable = True

    def __init__(self, inner=None):
        self.inner = inner or HashingEmbedder(32)
        self.model_id = self.inner.model_id
        self.settings = {"k": 1}
        self.seen: list[str] = []
        self.calls = 0

    def encode(self, texts, *, progress=False):
        self.calls += 1
        self.seen.extend(texts)
        return self.inner.encode(texts)


TEXTS = [f"utterance number {i} about topic{i * 7} of the home tab" for i in range(40)]


@pytest.fixture
def cache(tmp_path):
    with EmbeddingCache(tmp_path / "c") as c:
        yield c


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("THEMEKIT_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" and EmbeddingCache().dir == tmp_path / "x"
    monkeypatch.delenv("THEMEKIT_CACHE_DIR")
    assert default_cache_dir().parts[-2:] == ("themekit", "embeddings")


def test_keys_depend_on_model_settings_and_text():
    k = EmbeddingCache.keys
    assert k("m", ["a"], {"s": 1}) == k("m", ["a"], {"s": 1})
    assert len({k("m", ["a"])[0], k("m2", ["a"])[0], k("m", ["b"])[0], k("m", ["a"], {"s": 2})[0]}) == 4
    assert all(len(x) == 32 for x in k("m", ["a", "b"]))


def test_round_trip_is_exact(cache):
    keys = cache.keys("m", ["a", "b"])
    v = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    cache.put_many("m", keys, v)
    got = cache.get_many("m", keys + cache.keys("m", ["c"]))
    assert set(got) == set(keys)
    assert np.array_equal(got[keys[0]], v[0]) and np.array_equal(got[keys[1]], v[1])
    assert cache.get_many("other", keys) == {}
    with pytest.raises(ValueError):
        cache.put_many("m", keys, v[:1])


def test_rerun_embeds_only_unseen_texts(cache):
    emb = Counting()
    first = embed_texts(TEXTS[:30], emb, cache=cache)
    assert emb.seen == sorted(TEXTS[:30], key=len, reverse=True) or sorted(emb.seen) == sorted(TEXTS[:30])
    emb.seen.clear()
    second = embed_texts(TEXTS, emb, cache=cache)
    assert sorted(emb.seen) == sorted(TEXTS[30:])
    assert np.array_equal(second[:30], first)
    assert np.array_equal(second, HashingEmbedder(32).encode(TEXTS))
    emb.seen.clear()
    embed_texts(list(reversed(TEXTS)), emb, cache=cache)
    assert emb.seen == [] and emb.calls == 2
    # a new process/session (fresh cache object) sees the same entries
    with EmbeddingCache(cache.dir) as again:
        emb2 = Counting()
        embed_texts(TEXTS, emb2, cache=again)
        assert emb2.seen == []
    # other settings are other entries
    emb3 = Counting()
    emb3.settings = {"k": 2}
    embed_texts(TEXTS[:3], emb3, cache=cache)
    assert len(emb3.seen) == 3


def test_cache_path_argument_and_chunking(tmp_path):
    emb = Counting()
    emb.chunk_size = 7
    embed_texts(TEXTS, emb, cache=tmp_path / "p", progress=True)
    assert emb.calls == 6                                        # 40 texts in chunks of 7
    assert EmbeddingCache(tmp_path / "p").info()[0]["entries"] == 40


def _db_file(cache: EmbeddingCache) -> Path:
    (f,) = cache.dir.glob("*.sqlite")
    return f


def test_corrupt_bytes_on_disk_are_detected_and_recomputed(cache, caplog):
    emb = Counting()
    good = embed_texts(TEXTS, emb, cache=cache)
    cache.close()                                  # checkpoint WAL into the main file
    f = _db_file(cache)
    data = bytearray(f.read_bytes())
    victim = next(i for i in range(len(TEXTS)) if data.count(good[i].tobytes()) == 1
                  and sum(np.array_equal(good[i], g) for g in good) == 1)
    at = data.find(good[victim].tobytes())
    data[at + 9] ^= 0xFF                           # flip bits inside one stored vector
    f.write_bytes(bytes(data))

    fresh = EmbeddingCache(cache.dir)
    emb.seen.clear()
    with caplog.at_level(logging.WARNING, logger="themekit"):
        again = embed_texts(TEXTS, emb, cache=fresh)
    assert emb.seen == [TEXTS[victim]]                 # only the damaged entry is recomputed
    assert np.array_equal(again, good)              # and the damaged bytes were never returned
    assert fresh.stats["corrupt"] == 1 and "damaged" in caplog.text
    emb.seen.clear()
    embed_texts(TEXTS, emb, cache=fresh)            # repaired on disk
    assert emb.seen == []
    fresh.close()


def test_truncated_entry_is_recomputed(cache):
    emb = Counting()
    good = embed_texts(TEXTS[:5], emb, cache=cache)
    cache.close()
    con = sqlite3.connect(_db_file(cache))
    con.execute("UPDATE blocks SET vecs = substr(vecs, 1, length(vecs) - 20)")   # cut the last one
    con.commit()
    con.close()
    emb.seen.clear()
    assert np.array_equal(embed_texts(TEXTS[:5], emb, cache=EmbeddingCache(cache.dir)), good)
    assert len(emb.seen) == 1


def test_damaged_block_header_is_ignored(cache):
    emb = Counting()
    good = embed_texts(TEXTS[:5], emb, cache=cache)
    cache.close()
    con = sqlite3.connect(_db_file(cache))
    con.execute("UPDATE blocks SET keys = substr(keys, 1, 64) || zeroblob(length(keys) - 64)")
    con.commit()
    con.close()
    emb.seen.clear()
    fresh = EmbeddingCache(cache.dir)
    assert np.array_equal(embed_texts(TEXTS[:5], emb, cache=fresh), good)
    assert sorted(emb.seen) == sorted(TEXTS[:5]) and fresh.stats["corrupt"] == 5
    fresh.close()


def test_sees_blocks_written_by_another_cache_object(tmp_path):
    a, b = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    emb = Counting()
    embed_texts(TEXTS[:3], emb, cache=a)
    embed_texts(TEXTS[:3], emb, cache=b)               # b loads its index: all hits
    embed_texts(TEXTS[3:6], emb, cache=a)              # a appends a block
    emb.seen.clear()
    embed_texts(TEXTS[:6], emb, cache=b)               # b picks up the new block
    assert emb.seen == []
    a.clear()                                          # cleared and recreated under b's feet
    embed_texts(TEXTS[:1], Counting(), cache=a)
    emb.seen.clear()
    embed_texts(TEXTS[:2], emb, cache=b)
    assert emb.seen == [TEXTS[1]]
    a.close(), b.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_unreadable_cache_file_is_moved_aside(cache, damage, caplog):
    emb = Counting()
    good = embed_texts(TEXTS, emb, cache=cache)
    cache.close()
    f = _db_file(cache)
    if damage == "truncate":
        with open(f, "r+b") as fh:
            fh.truncate(f.stat().st_size // 3)
    else:
        f.write_bytes(b"this is not a database" * 100)
    emb.seen.clear()
    fresh = EmbeddingCache(cache.dir)
    with caplog.at_level(logging.WARNING, logger="themekit"):
        again = embed_texts(TEXTS, emb, cache=fresh)
    assert np.array_equal(again, good)
    assert sorted(emb.seen) == sorted(TEXTS)          # all recomputed, none returned from damage
    assert list(cache.dir.glob("*.corrupt-*")) and "moved it aside" in caplog.text
    emb.seen.clear()
    embed_texts(TEXTS, emb, cache=fresh)              # and cached again on a fresh file
    assert emb.seen == []
    fresh.close()


def test_unusable_cache_dir_still_embeds(tmp_path, caplog):
    (tmp_path / "file").write_text("x")
    c = EmbeddingCache(tmp_path / "file" / "sub")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        v = embed_texts(TEXTS[:3], Counting(), cache=c)
    assert v.shape == (3, 32) and "not used" in caplog.text


def _writer(cache_dir, offset, n, barrier, results):
    emb = Counting()
    emb.chunk_size = 10                                # many small transactions, interleaved
    texts = [f"shared text {i}" for i in range(offset, offset + n)]
    with EmbeddingCache(cache_dir) as c:
        barrier.wait(timeout=60)                       # both start writing at the same moment
        v = embed_texts(texts, emb, cache=c)
        results.put((offset, v.shape[0], c.stats["writes"] + c.stats["hits"], c.stats["writes"]))


def test_two_processes_writing_at_once(tmp_path):
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), off, 1500, barrier, results))
             for off in (0, 750)]
    for p in procs:
        p.start()
    got = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [g[:3] for g in got] == [(0, 1500, 1500), (750, 1500, 1500)]
    assert sum(g[3] for g in got) >= 2250          # each text written by one of them at least
    texts = [f"shared text {i}" for i in range(2250)]
    emb = Counting()
    with EmbeddingCache(tmp_path) as c:
        v = embed_texts(texts, emb, cache=c)
        assert c.info()[0]["entries"] == 2250
    assert emb.seen == []                              # everything both wrote is there, intact
    assert np.array_equal(v, HashingEmbedder(32).encode(texts))


def test_info_and_clear(cache, capsys):
    from themekit.cli import main

    embed_texts(TEXTS, Counting(), cache=cache)
    embed_texts(TEXTS[:3], Counting(HashingEmbedder(8)), cache=cache)
    info = {r["model_id"]: r for r in cache.info()}
    assert info["hashing-32"]["entries"] == 40 and info["hashing-8"]["entries"] == 3
    assert main(["cache", "info", "--cache-dir", str(cache.dir)]) == 0
    out = capsys.readouterr().out
    assert "hashing-32" in out and str(cache.dir) in out
    assert main(["cache", "clear", "--cache-dir", str(cache.dir), "--model", "hashing-8"]) == 0
    assert [r["model_id"] for r in cache.info()] == ["hashing-32"]
    assert cache.clear() == 1 and cache.info() == []
    assert main(["cache", "info", "--cache-dir", str(cache.dir)]) == 0
    assert "(empty)" in capsys.readouterr().out
