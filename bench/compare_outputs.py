"""Compare two themekit output folders, ignoring what legitimately varies run to run:
plotly div ids, timestamps, step timings, whether a step was computed or read from the cache,
absolute paths, zip member dates.

Usage:  python bench/compare_outputs.py OUT_A OUT_B     (exit 1 when they differ)

``differences(a, b)`` is the same check as a function (tests/test_result_cache.py uses it).
"""
from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def norm_text(t: str, root: Path) -> str:
    t = UUID.sub("UUID", t).replace(str(root), "ROOT")
    t = re.sub(r"Step times:[^<]*", "STEPTIMES", t)
    t = re.sub(r"&quot;timings_s&quot;: \{[^}]*\}", "TIMINGS", t)
    t = re.sub(r"&quot;steps&quot;: \{[^}]*\}", "STEPS", t)
    t = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "TIME", t)
    t = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?", "TIME", t)
    return t


def _without_timings(obj):
    """JSON without run timings (``seconds``, ``*_seconds``, ``timings_s``): they differ every run."""
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items()
                if not (k == "seconds" or k.endswith("_seconds") or k == "timings_s")}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def content(p: Path, root: Path):
    if p.suffix in (".xlsx", ".qdpx"):
        with zipfile.ZipFile(p) as z:
            return {n: norm_text(z.read(n).decode("utf-8", "replace"), root) for n in sorted(z.namelist())
                    if not n.endswith("core.xml")}
    if p.name == "manifest.json":
        d = json.loads(p.read_text())
        for k in ("created", "timings_s", "outputs", "inputs", "cache", "steps"):
            d.pop(k, None)
        return norm_text(json.dumps(_without_timings(d), sort_keys=True), root)
    if p.name == "settings.json":
        return norm_text(json.dumps(_without_timings(json.loads(p.read_text())), sort_keys=True), root)
    try:
        return norm_text(p.read_text(encoding="utf-8"), root)
    except UnicodeDecodeError:
        return p.read_bytes()


def differences(a: str | Path, b: str | Path) -> list[str]:
    """What differs between output folders ``a`` and ``b`` (empty: the same outputs)."""
    a, b = Path(a), Path(b)
    fa = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    fb = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    out = []
    if fa != fb:
        out.append(f"file lists differ: {sorted(set(fa) ^ set(fb))}")
    for f in fa:
        if f in fb and content(a / f, a) != content(b / f, b):
            out.append(f"DIFF {f}")
    return out


def main(argv=None) -> int:
    a, b = (argv or sys.argv[1:])[:2]
    bad = differences(a, b)
    for line in bad:
        print(line)
    n = sum(1 for p in Path(a).rglob("*") if p.is_file())
    print(f"{n} files compared, {len(bad)} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
