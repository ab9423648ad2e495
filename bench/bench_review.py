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
   codebook alone; each round the reviewer takes the suggestions of the top ``--batch``
   segments of the queue (:func:`themekit.report.review.review_order`: most likely right
   first; for comparison also smallest margin first) and accepts those whose code is one of
   the segment's human codes, rejects the others when one of the segment's suggested codes was
   right, else recodes them to its first human code (the suggested code then is "not this
   code"); the mapper is refitted with the decisions
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
    from themekit.embed import Embeddings, embed_texts, load_embedder

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

    def review(queue) -> list[tuple]:
        """Rounds of: take the suggestions of the first ``batch`` segments of ``queue(mapper)``
        not yet reviewed, accept, reject or correct them from the human codes, refit. Per round:
        (segments reviewed, suggestions accepted, the refitted mapper, {segment: a code decided})."""
        decisions: list[Decision] = []
        m, out = fit(None), []
        for r in range(1, rounds + 1):
            done = {d.utterance_id for d in decisions}
            q = queue(m)
            q = q[~q["utterance_id"].isin(done)]
            take = list(dict.fromkeys(q["utterance_id"]))[:batch]    # the first `batch` segments
            q = q[q["utterance_id"].isin(set(take))]
            hit = {u for u, c in zip(q["utterance_id"], q["code"]) if c in gold[u]}
            for u, c, sc in zip(q["utterance_id"], q["code"], q["score"]):
                uu, g = by_id[u], gold[u]
                # right: accept; wrong: reject when another suggested code is right, else correct it
                kind = "accept" if c in g else ("reject" if u in hit else "recode")
                decisions.append(Decision(u, uu.transcript_id, uu.start, uu.end, c, kind,
                                          g[0] if kind == "recode" else "", "sim", f"r{r:02d}", float(sc)))
            m = fit(review_seed_table(decisions, None, seg_corpus, units), rejected_codes(decisions))
            decided: dict[str, str] = {}
            for d in decisions:
                if d.final_code:
                    decided.setdefault(d.utterance_id, d.final_code)
            out.append((len(decided), sum(d.decision == "accept" for d in decisions), m, decided))
        return out

    def most_likely(m):    # the review view's order
        return review_order(m.suggestions())

    def least_certain(m):  # for comparison: smallest margin first
        s = m.suggestions("uncertain")
        return s[s["suggested"] & ~s["seeded"]]

    zero = fit(None).predict(abstain=False)
    k0 = evaluate(zero, gold, codes=codes).kappa
    arms = {"most likely right first": review(most_likely), "least certain first": review(least_certain)}
    print(f"\nSERDIF review loop ({len(units):,} coded segments, {len(codes)} codes, {emb.model_id}; "
          f"{batch} segments a round; zero-shot kappa {k0:.3f}; {time.perf_counter() - t0:.0f} s)")
    print("kappa (a) on the segments no arm has seen, (b) of the study's coding (decisions + model elsewhere), "
          "all segments")
    print(f"{'round':>5} {'queue':<24} {'coded':>6} {'accepted':>9} {'(a) review':>11} {'(a) in order':>13} "
          f"{'(b) review':>11} {'(b) in order':>13}")
    for r in range(1, rounds + 1):
        if r not in (1, 3, 5) and r != rounds:
            continue
        for name, res in arms.items():
            n, n_acc, m, decided = res[r - 1]
            first = {u.id: gold[u.id] for u in order[:n]}   # the same number coded in transcript order
            mt = fit(first)
            seen = set(decided) | set(first)
            unseen = [u.id for u in units if u.id not in seen]
            pr, pt = m.predict(abstain=False), mt.predict(abstain=False)
            study_r, study_t = pr.copy(), pt.copy()
            for u, c in decided.items():
                study_r[u] = c
            for u in first:
                study_t[u] = gold[u][0]
            ks = [evaluate(p, gold, codes=codes).kappa for p in (pr[unseen], pt[unseen], study_r, study_t)]
            print(f"{r:>5} {name:<24} {n:>6} {n_acc:>9} {ks[0]:>11.3f} {ks[1]:>13.3f} {ks[2]:>11.3f} {ks[3]:>13.3f}",
                  flush=True)


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
