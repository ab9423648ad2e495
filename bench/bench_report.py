"""`themekit run` wall time (cold and warm cache), report size and time to first render.

Usage:  python bench/bench_report.py [--data ../shared/data] [--skip-large] [--n-large 50000]

1. `themekit run data/example/ -o ...` twice with a fresh embedding cache: cold, then warm.
2. The whole pipeline on the 17 serdif transcripts with their codebook and coded segments
   (Navarro-Gallinad et al. 2022, GPL-3.0).
3. 50,000 sentences of TalkMoves (Suresh et al. 2022, CC BY-NC-SA 4.0) in fast mode (the
   distilled static model; `themekit models distill` first), no codebook.
For each report: file size, and the time from navigation start until every figure has drawn in
headless Chromium (Debian's chromium via Playwright).
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "tests"))


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


def run_cli(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "themekit", "-q", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--skip-large", action="store_true", help="skip the 50,000-sentence report")
    ap.add_argument("--n-large", type=int, default=50_000)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="themekit-bench-report-"))
    env = dict(os.environ, THEMEKIT_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1")
    rows = []

    cold = run_cli(["run", str(ROOT / "data" / "example"), "-o", str(tmp / "example")], env)
    warm = run_cli(["run", str(ROOT / "data" / "example"), "-o", str(tmp / "example2")], env)
    rep = tmp / "example" / "report.html"
    secs, n = render_seconds(rep)
    print(f"themekit run data/example/: cold {cold:.1f} s, warm {warm:.1f} s "
          f"(cold/warm {cold / warm:.1f}x); report {rep.stat().st_size / 1e6:.1f} MB")
    rows.append(("data/example (8 interviews)", rep.stat().st_size, secs, n))

    serdif = args.data / "serdif"
    if serdif.is_dir():
        t = run_cli(["run", str(serdif / "transcripts"), "--codebook", str(serdif / "codebook.csv"),
                     "--coded", str(serdif / "coded_segments.csv"), "-o", str(tmp / "serdif")], env)
        rep = tmp / "serdif" / "report.html"
        secs, n = render_seconds(rep)
        print(f"serdif 17 transcripts + codebook + coded segments: themekit run {t:.1f} s (cold cache)")
        rows.append(("serdif (17 transcripts)", rep.stat().st_size, secs, n))

    talk = args.data / "talkmoves" / "sentences.csv.gz"
    if talk.is_file() and not args.skip_large:
        with gzip.open(talk, "rt", encoding="utf-8") as fh:
            df = pd.read_csv(fh, nrows=args.n_large, usecols=["transcript", "speaker", "sentence"])
        src = tmp / "talkmoves.csv"
        df.to_csv(src, index=False)
        t = run_cli(["run", str(src), "--fast", "--all-speakers", "--column", "transcript=transcript", "--column",
                     "speaker=speaker", "--column", "text=sentence", "-o", str(tmp / "talkmoves")], env)
        rep = tmp / "talkmoves" / "report.html"
        secs, n = render_seconds(rep, repeats=1)
        print(f"talkmoves {len(df):,} sentences (fast mode): themekit run {t:.1f} s")
        rows.append((f"talkmoves ({len(df):,} sentences)", rep.stat().st_size, secs, n))

    print()
    print(f"{'report':<32} {'size MB':>8} {'figures':>8} {'first render s':>15}")
    for name, size, secs, n in rows:
        print(f"{name:<32} {size / 1e6:>8.1f} {n:>8} {secs:>15.2f}")
    print(f"(outputs in {tmp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
