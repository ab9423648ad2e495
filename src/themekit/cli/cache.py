"""themekit cache: where embeddings and step results are cached, how much, and clearing them."""

from __future__ import annotations

import argparse

from ..common.results import ResultCache
from ..embed import EmbeddingCache


def register(sub) -> None:
    p = sub.add_parser(
        "cache", help="show or clear the caches (embeddings and step results)",
        description="Embeddings are cached keyed by model (with a hash of its weights), settings and "
                    "text, so a rerun only embeds new utterances; the cache holds vectors and hashes, "
                    "not the texts. The results of `themekit run`'s steps (discovery, mapping, the "
                    "audit and its cross-fitted model, the report's layout) are cached keyed by "
                    "everything they depend on (data, codebook, coding, settings, random_state, "
                    "themekit and library versions), so a rerun recomputes only what changed. "
                    "Location: --cache-dir, else $THEMEKIT_CACHE_DIR, else the user cache folder "
                    "(results in its results/ folder).")
    p.add_argument("action", choices=("info", "clear"), help="info: list each store; clear: delete")
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: see above)")
    p.add_argument("--model", metavar="MODEL_ID",
                   help="clear only the embeddings of this model id or name prefix (e.g. all-MiniLM-L6-v2)")
    p.add_argument("--store", choices=ResultCache.STORES,
                   help="clear only this store of step results")
    p.set_defaults(func=run)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _stores(args) -> tuple[EmbeddingCache, ResultCache]:
    if args.cache_dir:
        return EmbeddingCache(args.cache_dir), ResultCache(args.cache_dir)
    # the embedding cache's own default: $THEMEKIT_CACHE_DIR, else <user cache>/themekit/embeddings
    emb = EmbeddingCache()
    return emb, ResultCache()


def run(args: argparse.Namespace) -> int:
    cache, results = _stores(args)
    if args.action == "clear":
        if args.model and args.store:
            print("themekit cache clear: give --model (embeddings) or --store (results), not both")
            return 2
        if not args.store:
            n = cache.clear(args.model)
            what = f"model {args.model}" if args.model else "all models"
            print(f"cleared embeddings of {what}: {n} model cache(s) removed from {cache.dir}")
        if not args.model:
            n = results.clear(args.store)
            what = f"the {args.store} store" if args.store else "every store"
            print(f"cleared step results of {what}: {n} result(s) removed from {results.dir}")
        return 0
    rows = cache.info()
    print(f"embedding cache: {cache.dir}")
    total = 0
    if not rows:
        print("  (empty)")
    else:
        width = max(len(str(r["model_id"] or "?")) for r in rows)
        print(f"  {'model id':<{width}}  {'entries':>9}  {'size':>9}  last written")
        for r in rows:
            entries = "unreadable" if r.get("error") else f"{r['entries']:,}"
            print(f"  {str(r['model_id'] or '?'):<{width}}  {entries:>9}  {_size(r['bytes']):>9}  {r['modified']}")
        total += sum(r["bytes"] for r in rows)
    print(f"step results: {results.dir}")
    width = max(len(s) for s in ResultCache.STORES)
    print(f"  {'store':<{width}}  {'entries':>9}  {'size':>9}  last written")
    for r in results.info():
        print(f"  {r['store']:<{width}}  {r['entries']:>9,}  {_size(r['bytes']):>9}  {r['modified']}")
        total += r["bytes"]
    print(f"  total {_size(total)}; `themekit cache clear` deletes them")
    return 0
