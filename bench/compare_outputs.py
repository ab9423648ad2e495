"""Compare two themekit output folders, ignoring what legitimately varies run to run:
plotly div ids, timestamps, step timings, absolute paths, zip member dates."""
import json, re, sys, zipfile
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
def norm_text(t, root):
    t = UUID.sub("UUID", t).replace(str(root), "ROOT")
    t = re.sub(r"Step times:[^<]*", "STEPTIMES", t)
    t = re.sub(r"&quot;timings_s&quot;: \{[^}]*\}", "TIMINGS", t)
    t = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "TIME", t)
    t = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?", "TIME", t)
    return t
def content(p, root):
    if p.suffix in (".xlsx", ".qdpx"):
        with zipfile.ZipFile(p) as z:
            return {n: norm_text(z.read(n).decode("utf-8", "replace"), root) for n in sorted(z.namelist())
                    if not n.endswith("core.xml")}
    if p.name == "manifest.json":
        d = json.loads(p.read_text())
        for k in ("created", "timings_s", "outputs", "inputs", "cache", "steps"):
            d.pop(k, None)
        return norm_text(json.dumps(d, sort_keys=True), root)
    try:
        return norm_text(p.read_text(encoding="utf-8"), root)
    except UnicodeDecodeError:
        return p.read_bytes()
fa = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
fb = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
bad = 0
if fa != fb:
    print("file lists differ:", set(fa) ^ set(fb)); bad += 1
for f in fa:
    if f in fb and content(a / f, a) != content(b / f, b):
        print("DIFF", f); bad += 1
print(f"{len(fa)} files compared, {bad} differ")
sys.exit(1 if bad else 0)
