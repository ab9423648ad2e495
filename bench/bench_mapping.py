"""Benchmark: codebook -> utterance suggestions on serdif (22 codes, 1,794 human-coded segments).

    .venv/bin/python bench/bench_mapping.py [--data ../shared/data] [--quick] [--only trust]

Units are the coded segments themselves (their text; interviewer prompts of the transcripts
as context). A top-1 suggestion is correct when it is one of the segment's human codes;
kappa: see ``themekit.audit.evaluate`` (gold = the suggestion if among the human codes, else the
first human code; Cohen's kappa over the 22 codes). Seeded runs are evaluated on the
segments not used as seeds. Random seeds: k segments per code drawn among the segments
carrying that code (mean of 5 draws); active: start from the codebook alone and add batches of
segments chosen by ``CodeMapper.suggest_next`` (22 at a time up to 66, then half the labels so
far), each labelled with all its human codes. Fine-tuned: the same random draws (k=10: all
draws; k=3 and k=30: the first two) with ``CodeMapper(fine_tune=True)`` — the embedder is
fine-tuned on the seeds first (``themekit.embed.finetune``, library defaults), a few minutes per fit
on a CPU; ``--no-fine-tune`` skips these rows (``--quick`` skips them unless ``--fine-tune``).
``--only trust``: only the trust part (:mod:`bench_trust`: seeded never below zero-shot at
1/3/10 seeds per code on SERDIF, the example study and AnnoMI, codebooks as given and with
strong definitions; calibration; review-queue precision; names-only codebook); it also runs
at the end of a full run. Nothing here reads the data set's wording into the method: all settings are the library
defaults, except that the verbatim segment text is scored (``text="text"``, see MAPPER).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd

from themekit import read_transcripts
from themekit.codebook import Codebook
from themekit.embed import Embeddings, embed_texts, embed_utterances, load_embedder
from themekit.audit.evaluate import GOLD_RULE, evaluate
from themekit.mapping import CodeMapper, map_candidates
from themekit.types import Utterance

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


#: the segments are embedded verbatim (the issue's reference figures embed the ``text`` column;
#: serdif's bracketed notes such as "(The participant reads the task again)" record what the
#: participant did, and the analyst coded them), so the mapper scores the verbatim text too.
MAPPER = dict(text="text")


def mk(**kw) -> CodeMapper:
    return CodeMapper(**{**MAPPER, **kw})


def load(data: Path):
    d = data / "serdif"
    corpus = read_transcripts(d / "transcripts")
    codebook = Codebook.load(d / "codebook.csv")
    seg = pd.read_csv(d / "coded_segments.csv", dtype={"codes": str})
    units, gold = [], {}
    for r in seg.itertuples(index=False):
        codes = [c for c in str(r.codes).split("|") if c and c != "nan"]
        if not codes:
            continue
        tid = Path(r.transcript).stem
        text = corpus.transcripts[tid].text[r.start:r.end]
        assert text == r.text, f"segment {r.segment_id}: offsets do not match the transcript"
        uid = f"seg{r.segment_id}"
        units.append(Utterance(uid, tid, r.participant, "participant", 0, int(r.start), int(r.end), text))
        gold[uid] = codes
    return corpus, codebook, units, gold


def fmt(rep) -> str:
    return f"acc {rep.accuracy:.3f}  macro-F1 {rep.macro_f1:.3f}  kappa {rep.kappa:.3f}"


def stratified(gold: dict, codes, k: int, rng) -> dict:
    seeds = {}
    for c in codes:
        cand = sorted(u for u, g in gold.items() if c in g and u not in seeds)
        for u in rng.choice(cand, min(k, len(cand)), replace=False):
            seeds[str(u)] = [c]
    return seeds


def rest_eval(mapper: CodeMapper, gold: dict, seeds: dict, codes):
    pred = mapper.predict(abstain=False)
    pred = pred[~pred.index.isin(list(seeds))]
    return evaluate(pred, gold, codes=codes)


def example_study(emb, draws: int) -> None:
    """The repository's example study: a codebook with inclusion/exclusion criteria and examples,
    interview transcripts with interviewer questions. Library defaults throughout."""
    from themekit.codebook.coding import align_to_utterances, read_coded_segments
    from themekit.audit.evaluate import gold_from_aligned

    study = Path(__file__).resolve().parents[1] / "data" / "example"
    corpus = read_transcripts(study)
    codebook = Codebook.load(study / "codebook.csv")
    codes = [c.name for c in codebook.codable()]
    units = corpus.select()
    segs = read_coded_segments(study / "coded_segments.csv", corpus)
    gold = {u: c for u, c in gold_from_aligned(align_to_utterances(segs, corpus, utterances=units)).items() if c}
    E = embed_utterances(units, emb, progress=False)
    print(f"\nEXAMPLE STUDY (data/example: {len(units)} participant utterances, {len(gold)} coded, {len(codes)} codes "
          "with inclusion/exclusion criteria and examples; library defaults)")
    desc = embed_texts([f"{c.name}: {c.definition}" for c in codebook.codable()], emb)
    base = pd.Series([codes[j] for j in (E.vectors @ desc.T).argmax(1)], index=list(E.ids), dtype=object)
    print(f"  baseline  cosine to 'name: definition'       {fmt(evaluate(base[base.index.isin(list(gold))], gold, codes=codes))}")
    m = CodeMapper().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus)
    p = m.predict(abstain=False)
    print(f"  themekit  zero-shot                          {fmt(evaluate(p[p.index.isin(list(gold))], gold, codes=codes))}")
    m = CodeMapper(context=None).fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus)
    p = m.predict(abstain=False)
    print(f"    - without prompt context                   {fmt(evaluate(p[p.index.isin(list(gold))], gold, codes=codes))}")
    reps = []
    for d in range(draws):
        seeds = stratified(gold, codes, 3, np.random.default_rng(d))
        m = CodeMapper().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus, seeds=seeds)
        p = m.predict(abstain=False)
        rest = {u: g for u, g in gold.items() if u not in seeds}
        reps.append(evaluate(p[p.index.isin(list(rest))], rest, codes=codes))
    print(f"  themekit  3 seeds/code (mean of {draws} draws)     acc {np.mean([r.accuracy for r in reps]):.3f}  "
          f"macro-F1 {np.mean([r.macro_f1 for r in reps]):.3f}  kappa {np.mean([r.kappa for r in reps]):.3f}")
    # seeded with the full coding of half the transcripts (coded and uncoded utterances): the
    # other half is evaluated, and abstention is compared on utterances humans coded or left uncoded
    tids = sorted(corpus.transcripts)
    seed_t = set(tids[::2])
    m = CodeMapper().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus,
                         seeds=[s for s in segs if s.transcript_id in seed_t])
    held = [u for u in units if u.transcript_id not in seed_t]
    coded = [u.id for u in held if u.id in gold]
    uncoded = [u.id for u in held if u.id not in gold]
    p = m.predict(abstain=False)
    rep = evaluate(p[p.index.isin(coded)], gold, codes=codes)
    pa = m.predict()
    print(f"  themekit  seeded with the coding of {len(seed_t)} transcripts ({len(m.seeds_)} coded + "
          f"{len(m.uncoded_)} uncoded utterances), evaluated on the other {len(tids) - len(seed_t)}: {fmt(rep)}")
    ab_c, ab_u = pa[coded].isna().mean(), pa[uncoded].isna().mean()
    rep_a = evaluate(pa[pa.index.isin(coded)], gold, codes=codes)
    print(f"    abstains on {ab_u:.0%} of the {len(uncoded)} utterances humans left uncoded and on {ab_c:.0%} of the "
          f"{len(coded)} they coded; accuracy on the coded ones answered {rep_a.accuracy:.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="zero-shot and 10-shot only, at most 2 draws (--draws 1: one)")
    ap.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                    help="embedding model (default: all-MiniLM-L6-v2), e.g. a sentence-transformers folder")
    ap.add_argument("--fine-tune", dest="fine_tune", action="store_true", default=None,
                    help="also the fine-tuned seeded rows (default: yes, except with --quick)")
    ap.add_argument("--no-fine-tune", dest="fine_tune", action="store_false",
                    help="skip the fine-tuned seeded rows (a few minutes per fit)")
    ap.add_argument("--only", choices=("trust",), default=None,
                    help="trust: only the issue-13 part (never worse than zero-shot, calibration, review queue, "
                         "names-only codebook; see bench_trust.py)")
    args = ap.parse_args(argv)
    if not (args.data / "serdif").is_dir() and (Path("/work/shared/data") / "serdif").is_dir():
        args.data = Path("/work/shared/data")
    if not (args.data / "serdif").is_dir():
        print(f"no serdif data under {args.data}; pass --data", file=sys.stderr)
        return 2
    t0 = time.time()
    corpus, codebook, units, gold = load(args.data)
    codes = [c.name for c in codebook.codable()]
    emb = load_embedder(args.model)
    E = Embeddings(tuple(u.id for u in units), embed_texts([u.text for u in units], emb, progress=True),
                   emb.model_id)
    print(f"serdif: {len(units)} coded segments, {len(codes)} codes, {len(corpus.transcripts)} transcripts; "
          f"model {emb.model_id}; loaded+embedded in {time.time() - t0:.0f}s")
    print(f"rule: {GOLD_RULE}\n")
    if args.only == "trust":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_trust

        bench_trust.run(args.data, emb, (corpus, codebook, units, gold), quick=args.quick, draws=args.draws)
        print(f"\ntotal {time.time() - t0:.0f}s")
        return 0

    # -- zero-shot ---------------------------------------------------------------------------
    desc = embed_texts([f"{c.name}: {c.definition}" for c in codebook.codable()], emb)
    base = pd.Series([codes[j] for j in (E.vectors @ desc.T).argmax(1)], index=list(E.ids), dtype=object)
    rep_base = evaluate(base, gold, codes=codes)
    print("ZERO-SHOT (codebook only)")
    print(f"  baseline  cosine to 'name: definition'       {fmt(rep_base)}")
    variants = [("themekit  CodeMapper(text='text')", {}),
                ("  - without prompt context", {"context": None}),
                ("  - without centring", {"center": False}),
                ("  - without TF-IDF word features", {"lexical_weight": 0.0}),
                ("  - without self-training (prior only)", {"self_training": 0}),
                ("  - scoring content (bracketed notes removed)*", {"text": "content"})]
    if args.quick:
        variants = variants[:1]
    zs = None
    for name, kw in variants:
        t = time.time()
        emb_kw = E if kw.get("text") != "content" else embed_utterances(units, emb, progress=False)
        m = mk(**kw).fit(codebook, units, embeddings=emb_kw, embedder=emb, corpus=corpus)
        rep = evaluate(m.predict(abstain=False), gold, codes=codes)
        print(f"  {name:43s} {fmt(rep)}  ({time.time() - t:.1f}s)")
        if zs is None:
            zs, zs_mapper = rep, m
    if not args.quick:
        print("    * embeddings and word features of Utterance.content, the library default")
    ab = evaluate(zs_mapper.suggestions_, gold, codes=codes)
    print(f"  with abstention (auto threshold {zs_mapper.abstain_threshold_:.3f}): coverage "
          f"{ab.coverage:.0%}, accuracy on answered {ab.accuracy:.3f}, kappa {ab.kappa:.3f}")

    # -- seeded ------------------------------------------------------------------------------
    ks = (10,) if args.quick else (3, 10, 30)
    draws = min(2, args.draws) if args.quick else args.draws
    print(f"\nSEEDED, k human-coded segments per code drawn at random (mean of {draws} draws; "
          "evaluated on the other segments)")
    per_code_10 = []
    results = {}
    from sklearn.linear_model import LogisticRegression
    for k in ks:
        reps, reps_lr = [], []
        for d in range(draws):
            rng = np.random.default_rng(1000 * k + d)
            seeds = stratified(gold, codes, k, rng)
            m = mk().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus, seeds=seeds)
            rep = rest_eval(m, gold, seeds, codes)
            reps.append(rep)
            if k == 10:
                per_code_10.append(rep.per_code["f1"])
            # reference: logistic regression on the raw embeddings of the seeds
            ids = list(seeds)
            lr = LogisticRegression(max_iter=2000).fit(E.subset(ids).vectors, [seeds[u][0] for u in ids])
            rest = [u for u in E.ids if u not in seeds]
            reps_lr.append(evaluate(pd.Series(lr.predict(E.subset(rest).vectors), index=rest, dtype=object),
                                    gold, codes=codes))
        results[k] = reps
        mean = lambda rs, a: float(np.mean([getattr(r, a) for r in rs]))  # noqa: E731
        sd = float(np.std([r.kappa for r in reps]))
        print(f"  k={k:2d} ({k * len(codes):3d} labels)  themekit: acc {mean(reps, 'accuracy'):.3f}  macro-F1 "
              f"{mean(reps, 'macro_f1'):.3f}  kappa {mean(reps, 'kappa'):.3f} (sd {sd:.3f})   |  plain LR on "
              f"embeddings: kappa {mean(reps_lr, 'kappa'):.3f}")

    # -- seeded, with the embedder fine-tuned on the seeds ------------------------------------
    per_code_ft = []
    fine_tune = (not args.quick) if args.fine_tune is None else args.fine_tune
    if fine_tune:
        print("\nSEEDED + FINE-TUNED embedder (CodeMapper(fine_tune=True): SetFit-style contrastive "
              "fine-tuning on the seeds, then the same mapper; same draws as above)")
        for k in ks:
            n_draws = draws if k == 10 else min(2, draws)
            reps, secs, fits = [], [], []
            for d in range(n_draws):
                rng = np.random.default_rng(1000 * k + d)
                seeds = stratified(gold, codes, k, rng)
                t = time.time()
                m = mk(fine_tune=True).fit(codebook, units, embedder=emb, corpus=corpus, seeds=seeds)
                fits.append(time.time() - t)
                secs.append(m.embedder_.seconds)
                rep = rest_eval(m, gold, seeds, codes)
                reps.append(rep)
                if k == 10:
                    per_code_ft.append(rep.per_code["f1"])
            mean = lambda rs, a: float(np.mean([getattr(r, a) for r in rs]))  # noqa: E731
            base_k = float(np.mean([r.kappa for r in results[k][:n_draws]]))
            print(f"  k={k:2d} ({k * len(codes):3d} labels)  fine-tuned: acc {mean(reps, 'accuracy'):.3f}  macro-F1 "
                  f"{mean(reps, 'macro_f1'):.3f}  kappa {mean(reps, 'kappa'):.3f} (sd {np.std([r.kappa for r in reps]):.3f}; "
                  f"{n_draws} draws; without fine-tuning on the same draws {base_k:.3f})  |  fine-tuning "
                  f"{np.mean(secs):.0f}s, whole fit {np.mean(fits):.0f}s")

    # -- active learning ---------------------------------------------------------------------
    if not args.quick:
        rng = np.random.default_rng(42)
        ids_all = sorted(gold)
        test = set(rng.choice(ids_all, int(0.3 * len(ids_all)), replace=False).tolist())
        pool = [u for u in ids_all if u not in test]
        pool_gold = {u: gold[u] for u in pool}
        test_gold = {u: gold[u] for u in test}

        def on_test(mm):
            p = mm.predict(abstain=False)
            return evaluate(p[p.index.isin(list(test))], test_gold, codes=codes)

        print(f"\nLEARNING CURVE on a fixed test set ({len(test)} random segments never labelled); labels drawn "
              f"from the other {len(pool)}: random k/code (stratified: knows the codes in advance), random "
              "(unstratified), or chosen by suggest_next starting from the codebook alone (batches of 22, "
              "later half the labels so far); kappa, mean of %d draws for random" % draws)
        targets = [k * len(codes) for k in ks]
        seeds: dict = {}
        active = {}
        m = zs_mapper   # the default zero-shot mapper fitted above (deterministic)
        t = time.time()
        rounds = 0
        while len(seeds) < max(targets):
            # batches of 22 up to 3/code, then half the labels so far (geometric), never past a target
            n_next = min(t_ for t_ in targets if t_ > len(seeds))
            step = min(max(len(codes), len(seeds) // 2), n_next - len(seeds))
            nxt = m.suggest_next(step, among=pool)
            rounds += 1
            for u in nxt["utterance_id"]:
                seeds[u] = gold[u]
            m = mk().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus, seeds=seeds)
            if len(seeds) in targets:
                active[len(seeds)] = on_test(m)
        t_active = time.time() - t
        print(f"  {'labels':>12s}  {'stratified':>10s}  {'random':>8s}  {'suggest_next':>12s}")
        for k in ks:
            n = k * len(codes)
            strat, unstrat = [], []
            for d in range(draws):
                r = np.random.default_rng(7000 + 100 * k + d)
                s1 = stratified(pool_gold, codes, k, r)
                strat.append(on_test(mk().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus,
                                              seeds=s1)).kappa)
                pick = r.choice(pool, n, replace=False)
                s2 = {str(u): gold[str(u)] for u in pick}
                unstrat.append(on_test(mk().fit(codebook, units, embeddings=E, embedder=emb, corpus=corpus,
                                                seeds=s2)).kappa)
            print(f"  {n:4d} ({k:2d}/code)  {np.mean(strat):10.3f}  {np.mean(unstrat):8.3f}  {active[n].kappa:12.3f}")
        print(f"  (active loop: {rounds} rounds in {t_active:.0f}s; zero labels: kappa "
              f"{on_test(zs_mapper).kappa:.3f})")

    # -- per-code F1 ---------------------------------------------------------------------------
    print("\nPER-CODE F1 (zero-shot; 10-shot mean over draws, fine-tuned too where run) and support (segments whose gold label is the code)")
    f10 = pd.concat(per_code_10, axis=1).mean(axis=1)
    table = pd.DataFrame({"zero-shot F1": zs.per_code["f1"], "kappa": zs.per_code["kappa"],
                          "10-shot F1": f10, "support": zs.per_code["support"]})
    if per_code_ft:
        table.insert(3, "10-shot fine-tuned F1", pd.concat(per_code_ft, axis=1).mean(axis=1))
    with pd.option_context("display.width", 140, "display.max_colwidth", 45):
        print(table.sort_values("10-shot F1").round(3).to_string())

    # -- candidate mapping sanity check --------------------------------------------------------
    print("\nCANDIDATE MAPPING (candidates = the human codes' own segment sets, zero-shot mapper)")
    by_code = {c: [u for u, g in gold.items() if g[0] == c] for c in codes}
    cm = map_candidates(by_code, zs_mapper)
    top = cm[cm["rank"] == 1]
    right = (top["candidate"] == top["code"]).mean()
    print(f"  candidate's best code is its own: {right:.0%}; statuses: "
          + ", ".join(f"{s} {n}" for s, n in top["status"].value_counts().items()))
    if not args.quick:
        held = []
        for c in codes:
            cb = Codebook([x for x in codebook.codes if x.name != c])
            mm = mk(self_training=0).fit(cb, units, embeddings=E, embedder=emb, corpus=corpus)
            r = map_candidates({c: by_code[c]}, mm)
            held.append(r["status"].iloc[0])
        print("  leave-one-code-out (code removed from the codebook; its segments as a candidate): "
              + ", ".join(f"{s} {held.count(s)}" for s in ("emergent", "ambiguous", "matched")))
    if not args.quick:
        example_study(emb, draws)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_trust

        bench_trust.run(args.data, emb, (corpus, codebook, units, gold), draws=draws)
    print(f"\ntotal {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
