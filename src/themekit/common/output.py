"""Self-contained HTML report and the run manifest.

The report works offline: plotly.js is inlined once, figures are plain divs, tables are HTML.
The manifest records what is needed to reproduce a run: versions, settings, random_state, the
embedding model's id (with its weights hash) and fingerprints of every input file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata as _md
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..types import atomic_write

__all__ = ["Section", "figure_html", "table_html", "write_report", "build_manifest",
           "write_manifest", "fingerprint"]

_PACKAGES = ("themekit", "numpy", "pandas", "scikit-learn", "spacy", "sentence-transformers",
             "torch", "transformers", "umap-learn", "hdbscan", "plotly", "model2vec", "pyarrow")


@dataclass
class Section:
    """One part of the report: a heading, an introduction and blocks of HTML."""

    title: str
    intro: str = ""
    blocks: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def figure_html(fig) -> str:
    """A plotly figure as a div (plotly.js is inlined once by :func:`write_report`)."""
    return fig.to_html(full_html=False, include_plotlyjs=False,
                       config={"displaylogo": False, "responsive": True,
                               "toImageButtonOptions": {"format": "svg"}})


def table_html(df: pd.DataFrame, max_rows: int = 200, caption: str | None = None) -> str:
    """A table with escaped cells; long tables are cut with a note (the CSV has every row)."""
    note = ""
    if len(df) > max_rows:
        note = f"<p class='note'>First {max_rows} of {len(df)} rows; the CSV has all of them.</p>"
        df = df.head(max_rows)
    body = df.to_html(index=False, escape=True, border=0, classes="tbl", na_rep="")
    if caption:
        head_end = body.index(">") + 1  # after the opening <table ...> tag
        body = f"{body[:head_end]}<caption>{html.escape(caption)}</caption>{body[head_end:]}"
    return body + note


_CSS = """
body{font-family:Inter,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:18px 32px}header h1{margin:0;font-size:24px}
header p{margin:4px 0 0;opacity:.85}nav{padding:10px 32px;background:#eef2f7;position:sticky;top:0;z-index:5}
nav a{margin-right:16px;color:#1f3a5f;text-decoration:none;font-weight:600}
main{padding:10px 32px 40px;max-width:1400px}section{background:#fff;margin:18px 0;padding:16px 22px;
border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{color:#1f3a5f;margin-top:4px}
table.tbl{border-collapse:collapse;font-size:13px;margin:8px 0;width:100%}
table.tbl th{background:#eef2f7;text-align:left;padding:5px 8px;position:sticky;top:40px}
table.tbl td{border-top:1px solid #e3e3e3;padding:5px 8px;vertical-align:top;max-width:520px}
.note{color:#666;font-size:12px}caption{text-align:left;font-weight:600;padding:4px 0}
pre{background:#f4f4f4;padding:10px;overflow:auto;font-size:12px;white-space:pre-wrap}
"""


def write_report(path: str | os.PathLike, title: str, sections: Sequence[Section],
                 manifest: Mapping[str, Any] | None = None, subtitle: str = "") -> Path:
    """Write one HTML file with plotly.js inlined: opens offline, in any browser."""
    from plotly.offline import get_plotlyjs

    nav = "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
             f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
             f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>",
             f"<nav>{nav}</nav><main>"]
    for s in sections:
        parts.append(f"<section id='{s.anchor}'><h2>{html.escape(s.title)}</h2>")
        if s.intro:
            parts.append(f"<p>{s.intro}</p>")
        parts.extend(s.blocks)
        parts.append("</section>")
    if manifest is not None:
        parts.append("<section id='manifest'><h2>Run manifest</h2><pre>"
                     f"{html.escape(json.dumps(manifest, indent=2, default=str))}</pre></section>")
    parts.append("</main></body></html>")
    doc = "".join(parts)
    return atomic_write(path, lambda tmp: tmp.write_text(doc, encoding="utf-8"))


def fingerprint(path: str | os.PathLike) -> dict:
    """sha256 and size of a file (every file, recursively, for a folder)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out = {}
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out[str(f)] = {"sha256": h.hexdigest(), "bytes": f.stat().st_size}
    return out


def _version(name: str) -> str | None:
    try:
        return _md.version(name)
    except _md.PackageNotFoundError:
        return None


def build_manifest(*, command: str, settings: Mapping[str, Any], random_state: int | None,
                   inputs: Iterable[str | os.PathLike] = (), model_id: str | None = None,
                   outputs: Iterable[str] = (), timings: Mapping[str, float] | None = None) -> dict:
    """Everything needed to reproduce a run (and check that inputs have not changed)."""
    prints: dict[str, Any] = {}
    for p in inputs:
        if p is not None and Path(p).exists():
            prints.update(fingerprint(p))
    return {
        "themekit_manifest": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "random_state": random_state,
        "model_id": model_id,
        "settings": dict(settings),
        "inputs": prints,
        "outputs": sorted(outputs),
        "timings_s": {k: round(v, 3) for k, v in (timings or {}).items()},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {p: _version(p) for p in _PACKAGES},
    }


def write_manifest(path: str | os.PathLike, manifest: Mapping[str, Any]) -> Path:
    text = json.dumps(manifest, indent=2, default=str, sort_keys=False)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
