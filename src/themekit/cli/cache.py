"""themekit cache: where embeddings are cached, how much, and clearing it."""

from __future__ import annotations

import argparse

from ..embed import EmbeddingCache


def register(sub) -> None:
    p = sub.add_parser(
        "cache", help="show or clear the embedding cache",
        description="Embeddings are cached on disk, keyed by model (with a hash of its weights), "
                    "settings and text, so a rerun only embeds new utterances. The cache holds "
                    "vectors and hashes, not the texts. Location: --cache-dir, else "
                    "$THEMEKIT_CACHE_DIR, else the user cache folder.")
    p.add_argument("action", choices=("info", "clear"), help="info: list per model; clear: delete")
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: see above)")
    p.add_argument("--model", metavar="MODEL_ID",
                   help="clear only this model id or name prefix (e.g. all-MiniLM-L6-v2)")
    p.set_defaults(func=run)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def run(args: argparse.Namespace) -> int:
    cache = EmbeddingCache(args.cache_dir)
    if args.action == "clear":
        n = cache.clear(args.model)
        what = f"model {args.model}" if args.model else "all models"
        print(f"cleared {what}: {n} model cache(s) removed from {cache.dir}")
        return 0
    rows = cache.info()
    print(f"embedding cache: {cache.dir}")
    if not rows:
        print("  (empty)")
        return 0
    width = max(len(str(r["model_id"] or "?")) for r in rows)
    print(f"  {'model id':<{width}}  {'entries':>9}  {'size':>9}  last written")
    for r in rows:
        entries = "unreadable" if r.get("error") else f"{r['entries']:,}"
        print(f"  {str(r['model_id'] or '?'):<{width}}  {entries:>9}  {_size(r['bytes']):>9}  {r['modified']}")
    total = sum(r["bytes"] for r in rows)
    print(f"  total {_size(total)} in {len(rows)} file(s); `themekit cache clear` deletes them")
    return 0
