"""Benchmark: the report's review view — responsiveness at 10,000 suggestions, and what a
review loop buys on SERDIF.

    python bench/bench_review.py [--data ../shared/data] [--n 10000] [--rounds 5] [--batch 50]
                                 [--skip-browser] [--skip-loop]

1. **Responsiveness** (TalkMoves, Suresh et al. 2022, CC BY-NC-SA 4.0): the first sentences
   of the lessons (speaker T or S) are mapped zero-shot, with the hashing embedder (speed, not
   quality, is measured), to the ten talk moves of the coding manual; the first ``--n``
   suggestions of the review queue go into a page built like the report (plotly.js inlined, the
   review view). In headless Chromium (Debian's chromium via Playwright): the first render
   (navigation start to the first suggestion on screen, and the view's own start-up), and the
   time from a key press to the next suggestion painted (the key event's time stamp to the
   next animation frame), for ``j`` (next), ``a``/``r`` (decide and go to the next undecided),
   ``l`` (switch to the list of 100 rows); then a reload with those decisions stored.
2. **Review loop** (SERDIF, Navarro-Gallinad et al. 2022, GPL-3.0; 1,794 coded segments, 22
   codes; library defaults, verbatim text as in bench_mapping.py): the mapper starts from the
   codebook alone; each round the reviewer takes the top ``--batch`` suggestions of the queue
   (:func:`themekit.report.review.review_order`: most likely right first) and accepts those
   whose code is one of the segment's human codes, else recodes them to its first human code
   (the suggested code then is "not this code"); the mapper is refitted with the decisions
   (``review_seed_table``/``rejected_codes``, as ``--review`` does). Against: coding the same
   number of segments in transcript order (each with all its human codes). Cohen's κ (the rule
   of ``themekit.audit.evaluate``) of (a) the model on the segments neither arm has seen yet,
   (b) the study's coding — the human decisions where made, the model's top code elsewhere —
   on all segments, after 1, 3 and 5 rounds.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))   # conftest: the chromium launch settings

from themekit.codebook import Code, Codebook
from themekit.codebook.decisions import Decision, rejected_codes, review_seed_table
from themekit.common.output import Section, write_report
from themekit.embed import HashingEmbedder
from themekit.mapping import CodeMapper
from themekit.report.review import review_data, review_html, review_order
from themekit.types import Corpus, Transcript, Utterance


def data_dir(arg: str | None) -> Path:
    for p in ([Path(arg)] if arg else []) + [HERE.parent / ".." / "shared" / "data", Path("/work/shared/data")]:
        if p.is_dir():
            return p.resolve()
    raise SystemExit("no data folder: pass --data PATH (the shared data with talkmoves/ and serdif/)")


# -- 1. responsiveness ---------------------------------------------------------------------------
TALK_MOVES = {  # the coding manual's ten talk moves, in a sentence each
    "Keeping everyone together": "The teacher prompts students to listen to each other, take turns, stay with the class.",
    "Getting students to relate": "The teacher asks students to respond to or build on another student's idea.",
    "Restating": "The teacher repeats what a student said, word for word, to make it public.",
    "Revoicing": "The teacher repeats a student's idea in other words and checks it with the student.",
    "Pressing for accuracy": "The teacher asks for a mathematical answer, a number, a term or a step.",
    "Pressing for reasoning": "The teacher asks students to explain why, justify, or show how they know.",
    "Relating to another student": "A student agrees, disagrees or builds on what another student said.",
    "Asking for more information": "A student asks a question or says they do not understand.",
    "Making a claim": "A student gives an answer, a number, or states a mathematical idea.",
    "Providing evidence or reasoning": "A student explains their thinking: because, so, the reason is.",
}


def talkmoves_corpus(data: Path, n_sentences: int) -> Corpus:
    with gzip.open(data / "talkmoves" / "sentences.csv.gz", "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh, nrows=n_sentences, usecols=["transcript", "speaker", "sentence"])
    df = df.fillna({"speaker": "", "sentence": ""})
    df = df[df["sentence"].astype(str).str.strip() != ""]
    ts, us = [], []
    for tid, g in df.groupby("transcript", sort=False):
        text, rows = "", []
        for k, (spk, s) in enumerate(zip(g["speaker"].astype(str), g["sentence"].astype(str).str.strip())):
            rows.append(Utterance(f"{tid}#{k}", str(tid), spk, "participant", k, len(text), len(text) + len(s), s))
            text += s + "\n"
        ts.append(Transcript(str(tid), text))
        us += rows
    return Corpus(ts, us)


def responsiveness(data: Path, n: int, tmp: Path) -> None:
    t0 = time.perf_counter()
    corpus = talkmoves_corpus(data, int(n * 1.6))
    book = Codebook([Code(None, name, d) for name, d in TALK_MOVES.items()])
    m = CodeMapper(context=None, abstain_threshold=0.0, self_training=0, lexical_weight=0.0)
    m.fit(book, list(corpus.utterances), embedder=HashingEmbedder(256))
    q = review_order(m.suggestions()).head(n)
    d = review_data(q, corpus, book, title="bench")
    page = write_report(tmp / "review_bench.html", "review bench", [Section("Review", "", [review_html(d)])])
    build = time.perf_counter() - t0
    size = page.stat().st_size / 1e6
    print(f"TalkMoves: {len(corpus):,} sentences, {len(d['items']):,} suggestions in the queue; page {size:.1f} MB "
          f"(plotly.js inlined); built in {build:.1f} s")

    from conftest import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
        pg = ctx.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        firsts, inits = [], []
        for _ in range(3):
            pg.goto(page.as_uri())
            pg.wait_for_function("window.tkReview && window.tkReview.ready", timeout=120000)
            firsts.append(pg.evaluate("window.tkReview.firstRenderMs"))
            inits.append(pg.evaluate("window.tkReview.initMs"))
            pg.evaluate("localStorage.clear()")
        pg.reload()
        pg.wait_for_function("window.tkReview && window.tkReview.ready", timeout=120000)
        pg.evaluate("document.getElementById('review').scrollIntoView()")

        def presses(keys: str) -> list[float]:
            pg.evaluate("window.tkReview.keyMs = []")
            for k in keys:
                pg.keyboard.press(k)
            pg.wait_for_function(f"window.tkReview.keyMs.length >= {len(keys)}", timeout=60000)
            return pg.evaluate("window.tkReview.keyMs")

        nxt = presses("j" * 50)
        dec = presses("ar" * 50)
        lst = presses("l" * 10)
        pg.reload()
        pg.wait_for_function("window.tkReview && window.tkReview.ready", timeout=120000)
        reload_ms = pg.evaluate("window.tkReview.firstRenderMs")
        kept = pg.inner_text(".tk-counts")
        browser.close()

    def stats(xs):
        xs = sorted(xs)
        return f"median {statistics.median(xs):6.1f} ms  p95 {xs[int(0.95 * (len(xs) - 1))]:6.1f} ms  max {xs[-1]:6.1f} ms"

    print(f"  first render (navigation start -> first suggestion): median of 3 {statistics.median(firsts):7.0f} ms; "
          f"the view's own start-up (JSON parse, queue, first card) {statistics.median(inits):6.0f} ms")
    print(f"  key press -> next suggestion painted, j (next)      x50:  {stats(nxt)}")
    print(f"  key press -> next suggestion painted, a/r (decide)  x100: {stats(dec)}")
    print(f"  key press -> list of 100 rows / card painted, l     x10:  {stats(lst)}")
    print(f"  reload with 100 decisions stored: first render {reload_ms:.0f} ms; counter reads: {kept.split(' · ')[0]}")
    if errors:
        print(f"  page errors: {errors}")


# -- 2. the review loop on SERDIF -----------------------------------------------------------------
def review_loop(data: Path, rounds: int, batch: int) -> None:
    from bench_mapping import MAPPER, load

    from themekit.audit.evaluate import evaluate
    from themekit.embed import embed_texts, load_embedder, Embeddings

    t0 = time.perf_counter()
    corpus, codebook, units, gold = load(data)
    codes = [c.name for c in codebook.codable()]
    emb = load_embedder()
    E = Embeddings([u.id for u in units], embed_texts([u.text for u in units], emb, progress=False), emb.model_id)
    # a corpus of the coded segments as utterances (bench_mapping's units), for the seed table
    seg_corpus = Corpus(list(corpus.transcripts.values()), units)
    by_id = {u.id: u for u in units}
    order = sorted(units, key=lambda u: (int(u.transcript_id.lstrip("P")), u.start, u.end))

    def fit(seeds, rejected=None) -> CodeMapper:
        return CodeMapper(**MAPPER).fit(codebook, units, embeddings=E, embedder=emb, corpus=seg_corpus,
                                        seeds=seeds, rejected=rejected)

    decisions: list[Decision] = []
    reviewed: set[str] = set()
    rows = []
    m = fit(None)
    for r in range(1, rounds + 1):
        q = review_order(m.suggestions())
        q = q[~q["utterance_id"].isin(reviewed)].head(batch)
        for u, c, sc in zip(q["utterance_id"], q["code"], q["shown_score"]):
            uu, g = by_id[u], gold[u]
            kind = "accept" if c in g else "recode"
            decisions.append(Decision(u, uu.transcript_id, uu.start, uu.end, c, kind, "" if kind == "accept" else g[0],
                                      "sim", f"r{r:02d}", float(sc)))
            reviewed.add(u)
        seeds = review_seed_table(decisions, None, seg_corpus, units)
        m = fit(seeds, rejected_codes(decisions))
        n_acc = sum(d.decision == "accept" for d in decisions)
        # the other arm: the same number of segments, in transcript order, with all their codes
        first = {u.id: gold[u.id] for u in order[:len(reviewed)]}
        mt = fit(first)
        rows.append((r, len(reviewed), n_acc, m, mt, set(reviewed), set(first)))
        print(f"  round {r}: {len(reviewed)} segments reviewed ({n_acc} of {len(decisions)} suggestions accepted)",
              flush=True)

    print(f"\nSERDIF review loop ({len(units):,} coded segments, {len(codes)} codes, {emb.model_id}; "
          f"{batch} suggestions a round; {time.perf_counter() - t0:.0f} s)")
    print(f"{'round':>5} {'coded':>6} {'accepted':>9} | {'kappa unseen: review':>21} {'transcript order':>17} | "
          f"{'kappa study coding: review':>27} {'transcript order':>17}")
    for r, n, n_acc, m, mt, seen_r, seen_t in rows:
        if r not in (1, 3, 5) and r != rounds:
            continue
        unseen = [u.id for u in units if u.id not in seen_r and u.id not in seen_t]
        pr, pt = m.predict(abstain=False), mt.predict(abstain=False)
        k_r = evaluate(pr[unseen], gold, codes=codes).kappa
        k_t = evaluate(pt[unseen], gold, codes=codes).kappa
        study_r = pr.copy()
        for d in decisions:
            if d.decided_at <= f"r{r:02d}":
                study_r[d.utterance_id] = d.final_code
        study_t = pt.copy()
        for u in seen_t:
            study_t[u] = gold[u][0]
        s_r = evaluate(study_r, gold, codes=codes).kappa
        s_t = evaluate(study_t, gold, codes=codes).kappa
        print(f"{r:>5} {n:>6} {n_acc:>9} | {k_r:>21.3f} {k_t:>17.3f} | {s_r:>27.3f} {s_t:>17.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--n", type=int, default=10_000, help="suggestions in the review page (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-loop", action="store_true")
    args = ap.parse_args(argv)
    data = data_dir(args.data)
    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory(prefix="bench_review_") as tmp:
        if not args.skip_browser:
            responsiveness(data, args.n, Path(tmp))
        if not args.skip_loop:
            review_loop(data, args.rounds, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
