"""`themekit run` cold, warm and after a codebook edit, beside the base version; report size
and time to first render.

Usage:  python bench/bench_report.py [--data ../shared/data] [--base-rev e44cd55 | --base DIR]
                                     [--no-base] [--no-render] [--large] [--n-large 50000]

1. SERDIF (17 transcripts, codebook, two coders' coded segments; Navarro-Gallinad et al. 2022,
   GPL-3.0), side by side in this one run, each cold run with an empty cache of its own:
   - the base version (a git worktree of ``--base-rev``, run with its own ``src``), cold;
   - this version cold, then warm (nothing changed), then after editing one code's definition,
     then with the definition as it was (every step read back);
   wall time, peak memory, the manifest's step times and which steps were read from the
   cache; cold and warm outputs compared (``bench/compare_outputs.py``); human vs model κ of
   both versions (the audit's cross-fitting changed).
2. ``themekit run data/example/ -o out/`` (the README's command) cold and warm: seconds of steps.
3. With ``--large``: 50,000 sentences of TalkMoves (Suresh et al. 2022, CC BY-NC-SA 4.0) in fast
   mode (``themekit models distill`` first), no codebook.
Each report of this version: file size and the time from navigation start until every figure
has drawn in headless Chromium (Debian's chromium via Playwright).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from compare_outputs import differences  # noqa: E402


def data_dir() -> Path:
    for d in (ROOT.parent / "shared" / "data", ROOT / ".." / "shared" / "data", Path("/work/shared/data")):
        if d.is_dir():
            return d.resolve()
    return ROOT.parent / "shared" / "data"


def render_seconds(report: Path, repeats: int = 3) -> tuple[float, int]:
    """Median seconds to first full render of ``report`` in headless Chromium, and figure count."""
    from conftest import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    times, n_figs = [], 0
    html = report.read_text(encoding="utf-8")
    n_figs = html.count('class="plotly-graph-div"')
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri(), wait_until="commit", timeout=600_000)
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_figs}",
                timeout=600_000, polling=50)
            times.append(page.evaluate("performance.now()") / 1000)
            if errors:
                raise RuntimeError(f"JavaScript errors in {report}: {errors[:3]}")
            page.close()
        browser.close()
    return sorted(times)[len(times) // 2], n_figs


class Timing:
    """Wall seconds, CPU seconds (user + system, its worker processes included) and peak
    memory (GB) of one command. CPU time is what to compare on a shared, busy machine."""

    def __init__(self, wall: float, cpu: float, mem: float):
        self.wall, self.cpu, self.mem = wall, cpu, mem

    def __str__(self) -> str:
        return f"{self.wall:6.1f} s wall, {self.cpu:6.1f} s CPU, peak {self.mem:.2f} GB"

    def ratio(self, other: "Timing") -> str:
        return f"{100 * self.wall / other.wall:.1f}% wall, {100 * self.cpu / other.cpu:.1f}% CPU"


def _timed(python_args: list[str], env: dict, src: Path) -> Timing:
    """Timing of ``python PYTHON_ARGS`` with ``src`` first on the path, offline."""
    env = dict(env, PYTHONPATH=str(src), HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, *python_args], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"python {' '.join(python_args)} failed ({code}):\n{err[-3000:]}")
    return Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024 ** 2)


def run_cli(args: list[str], env: dict, src: Path = ROOT / "src") -> Timing:
    """Timing of ``themekit -q ARGS`` run from ``src``."""
    return _timed(["-m", "themekit", "-q", *args], env, src)


def model_start(env: dict, src: Path = ROOT / "src") -> Timing:
    """Timing of starting the default embedder and embedding one new text: a fresh process that
    does it, less one that only imports themekit (a run has already paid for that)."""
    load = ("from themekit.embed import load_embedder, embed_texts\n"
            "embed_texts(['a definition nobody wrote before %f' % __import__('time').time()], load_embedder(), "
            "cache=False)\n")
    with_model = _timed(["-c", load], env, src)
    bare = _timed(["-c", "import themekit.embed\n"], env, src)
    return Timing(with_model.wall - bare.wall, with_model.cpu - bare.cpu, with_model.mem)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def steps_line(out: Path) -> str:
    m = manifest(out)
    t = m.get("timings_s", {})
    short = {"Reading and segmenting transcripts": "read", "Embedding utterances": "embed",
             "Discovering candidate codes and themes": "discover",
             "Mapping utterances and candidate codes to the codebook": "map", "Auditing human coding": "audit",
             "Framework matrix and REFI-QDA project": "exports"}
    line = ", ".join(f"{short.get(k, k)} {v:.1f}" for k, v in t.items())
    return f"steps {sum(t.values()):.1f} s ({line})"


def cache_line(out: Path) -> str:
    steps = manifest(out).get("steps")
    if not steps:
        return "(no step record)"
    return "; ".join(f"{k}: {v}" for k, v in steps.items())


def kappas(out: Path) -> str:
    f = out / "audit" / "model_agreement.csv"
    if not f.is_file():
        return "-"
    d = pd.read_csv(f)
    d = d[d["transcript_id"] == "(all)"]
    return ", ".join(f"{r.coder} κ {r.kappa:.3f} [{r.kappa_low:.3f}, {r.kappa_high:.3f}] "
                     f"({int(r.n_units)} utt.)" for r in d.itertuples())


def base_worktree(rev: str, tmp: Path) -> Path:
    path = tmp / f"base-{rev}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def edited_codebook(codebook: Path, dest: Path) -> tuple[Path, str]:
    """A copy of ``codebook`` (CSV) with one code's definition extended by a sentence."""
    table = pd.read_csv(codebook, dtype=str, keep_default_na=False)
    col = next(c for c in table.columns if c.strip().lower() in ("definition", "description"))
    name_col = next((c for c in table.columns if c.strip().lower() in ("code", "name")), table.columns[0])
    row = int((table[col].str.len() > 0).idxmax())
    table.loc[row, col] = table.loc[row, col] + " Includes talk about waiting for a call back."
    table.to_csv(dest, index=False)
    return dest, str(table.loc[row, name_col])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data_dir())
    ap.add_argument("--base-rev", default="e44cd55", help="git revision of the version to compare with")
    ap.add_argument("--base", type=Path, help="an existing checkout of the base version (its root)")
    ap.add_argument("--no-base", action="store_true", help="skip the base version")
    ap.add_argument("--no-render", action="store_true", help="skip the browser render timings")
    ap.add_argument("--large", action="store_true", help="also the 50,000-sentence TalkMoves report")
    ap.add_argument("--n-large", type=int, default=50_000)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="themekit-bench-report-"))
    caches = iter(range(100))

    def fresh_env() -> dict:
        return dict(os.environ, THEMEKIT_CACHE_DIR=str(tmp / f"cache{next(caches)}"))

    rows = []
    made_base = None
    serdif = args.data / "serdif"
    if serdif.is_dir():
        env = fresh_env()
        cmd = ["run", str(serdif)]
        print(f"SERDIF: themekit run {serdif} -o OUT   (17 transcripts, codebook, 2 coders)")
        base_wall = None
        if not args.no_base:
            base = args.base or (made_base := base_worktree(args.base_rev, tmp))
            base_wall = run_cli(cmd + ["-o", str(tmp / "serdif-base")], fresh_env(), base / "src")
            print(f"  base {args.base_rev} cold : {base_wall}; {steps_line(tmp / 'serdif-base')}")
        cold = run_cli(cmd + ["-o", str(tmp / "serdif-cold")], env)
        print(f"  this version cold: {cold}; {steps_line(tmp / 'serdif-cold')}")
        warm = run_cli(cmd + ["-o", str(tmp / "serdif-warm")], env)
        print(f"  warm, unchanged  : {warm}; {steps_line(tmp / 'serdif-warm')}")
        print(f"      {cache_line(tmp / 'serdif-warm')}")
        cb, code = edited_codebook(serdif / "codebook.csv", tmp / "codebook-edited.csv")
        edit = run_cli(["run", str(serdif), "--codebook", str(cb), "-o", str(tmp / "serdif-edit")], env)
        print(f"  one definition edited ({code!r}): {edit}; {steps_line(tmp / 'serdif-edit')}")
        print(f"      {cache_line(tmp / 'serdif-edit')}")
        back = run_cli(cmd + ["-o", str(tmp / "serdif-reverted")], env)
        print(f"  edit reverted    : {back}; {steps_line(tmp / 'serdif-reverted')}")
        for name in ("warm", "reverted"):
            diff = differences(tmp / "serdif-cold", tmp / f"serdif-{name}")
            print(f"  outputs cold vs {name}: {'identical' if not diff else 'DIFFER: ' + '; '.join(diff[:5])}")
        print(f"  warm / cold = {warm.ratio(cold)} (target <= 5%)")
        print(f"  edited / cold = {edit.ratio(cold)} (target <= 10%)")
        # what any edit costs before refitting anything: the warm run, and starting the model to
        # embed the new definition (import torch and sentence-transformers, load the weights)
        model = model_start(env)
        floor = Timing(warm.wall + model.wall, warm.cpu + model.cpu, max(warm.mem, model.mem))
        print(f"  starting the model to embed one new text (beyond importing themekit): {model}")
        print(f"  floor of an edit (warm + model start) / cold = {floor.ratio(cold)}")
        if base_wall:
            print(f"  cold / base cold = {cold.ratio(base_wall)} (target <= 60%)")
        if base_wall:
            print(f"  human vs model, base (one fold per interview): {kappas(tmp / 'serdif-base')}")
        print(f"  human vs model, this version (5 folds): {kappas(tmp / 'serdif-cold')}")
        if not args.no_render:
            rep = tmp / "serdif-cold" / "report.html"
            secs, n = render_seconds(rep)
            rows.append(("serdif (17 transcripts)", rep.stat().st_size, secs, n))

    env = fresh_env()
    ex = ROOT / "data" / "example"
    cold = run_cli(["run", str(ex), "-o", str(tmp / "example")], env)
    warm = run_cli(["run", str(ex), "-o", str(tmp / "example2")], env)
    print("data/example (README: themekit run data/example/ -o out/):")
    print(f"  cold {cold}; {steps_line(tmp / 'example')}")
    print(f"  warm {warm}; {steps_line(tmp / 'example2')} (target: <= 20 s of steps)")
    diff = differences(tmp / "example", tmp / "example2")
    print(f"  outputs cold vs warm: {'identical' if not diff else 'DIFFER: ' + '; '.join(diff[:5])}")
    if not args.no_render:
        rep = tmp / "example" / "report.html"
        secs, n = render_seconds(rep)
        rows.append(("data/example (8 interviews)", rep.stat().st_size, secs, n))

    talk = args.data / "talkmoves" / "sentences.csv.gz"
    if args.large and talk.is_file():
        with gzip.open(talk, "rt", encoding="utf-8") as fh:
            df = pd.read_csv(fh, nrows=args.n_large, usecols=["transcript", "speaker", "sentence"])
        src = tmp / "talkmoves.csv"
        df.to_csv(src, index=False)
        t = run_cli(["run", str(src), "--fast", "--all-speakers", "--column", "transcript=transcript", "--column",
                        "speaker=speaker", "--column", "text=sentence", "-o", str(tmp / "talkmoves")], fresh_env())
        rep = tmp / "talkmoves" / "report.html"
        print(f"talkmoves {len(df):,} sentences (fast mode): themekit run {t}")
        if not args.no_render:
            secs, n = render_seconds(rep, repeats=1)
            rows.append((f"talkmoves ({len(df):,} sentences)", rep.stat().st_size, secs, n))

    if rows:
        print()
        print(f"{'report':<32} {'size MB':>8} {'figures':>8} {'first render s':>15}")
        for name, size, secs, n in rows:
            print(f"{name:<32} {size / 1e6:>8.1f} {n:>8} {secs:>15.2f}")
    if made_base is not None:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(made_base)], check=False)
    print(f"(outputs in {tmp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
