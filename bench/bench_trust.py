"""Suggestions a researcher can trust (issue 13): seeding never hurts, scores mean what they say.

Imported by ``bench_mapping.py`` (``--only trust`` runs just this part). For every data set:
zero-shot, the old fixed weights (``weights="fixed"``) and the learned weights (the default)
at 1, 3 and 10 seeds per code (stratified draws, mean of ``draws``), all evaluated on the same
utterances (coded, not seeds, not used to write the codebook); also with a *strong* codebook:
each code given 5 example extracts drawn from a held-out pool of its coded segments (never
seeds, never evaluated). Then, on SERDIF at 10 per code: the ECE of the calibrated top score on
the held-out segments (10 bins), the precision of the review queue's top 50/100/200 next to
its calibrated estimate; and a names-only codebook: its zero-shot kappa and how many labels
chosen by ``suggest_next`` it takes to reach the kappa the definitions give zero-shot.

AnnoMI (client talk type: change / sustain / neutral, therapist turns as the prompts; and the
therapist's main behaviour: question / reflection / therapist input / other, client turns as
the prompts): the definitions are written from the motivational-interviewing literature
(Miller & Rollnick; MISC 2.5), not from the data.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from themekit.audit.evaluate import evaluate
from themekit.codebook import Code, Codebook
from themekit.embed import Embeddings, embed_texts
from themekit.mapping import CodeMapper, expected_calibration_error, queue_precision
from themekit.types import Corpus, Transcript, Utterance

ANNOMI_CODES = [
    ("Change talk", "The client speaks in favour of changing the target behaviour: desire, ability, reasons or "
     "need to change, commitment to change, or steps already taken towards it."),
    ("Sustain talk", "The client speaks in favour of the status quo: reasons not to change, doubts about being "
     "able to, attachment to or benefits of the current behaviour, reluctance or resistance."),
    ("Neutral talk", "The client's talk is neither for nor against change: giving information, answering "
     "questions, describing circumstances, small talk or talk unrelated to the target behaviour."),
]
ANNOMI_LABELS = {"change": "Change talk", "sustain": "Sustain talk", "neutral": "Neutral talk"}
THERAPIST_CODES = [
    ("Question", "The therapist asks the client a question, open or closed, to gather information or to "
     "invite the client to explore their experience, views or plans."),
    ("Reflection", "The therapist reflects back what the client said: repeats, rephrases or summarises the "
     "client's words, or voices a guess at their meaning or feeling, to show understanding."),
    ("Therapist input", "The therapist gives information, advice, options, feedback or their own view: "
     "explains, educates, suggests or sets out what could be done."),
    ("Other", "Anything else the therapist says: greetings, thanks, small talk, affirming the client, "
     "structuring the session or short facilitating remarks."),
]
THERAPIST_LABELS = {"question": "Question", "reflection": "Reflection", "therapist_input": "Therapist input",
                    "other": "Other"}


def annomi(data: Path, n_conversations: int = 40, target: str = "client"):
    """A corpus of the first ``n_conversations`` AnnoMI conversations and its units with gold:
    ``target="client"``: client utterances, their talk type, the therapist's turns as the
    prompts; ``"therapist"``: therapist utterances, their main behaviour, the client's turns
    as the prompts (roles swapped so that the mapper reads the client's preceding turn)."""
    df = pd.read_csv(data / "annomi" / "AnnoMI-simple.csv")
    keep = sorted(df["transcript_id"].unique())[:n_conversations]
    df = df[df["transcript_id"].isin(keep)].sort_values(["transcript_id", "utterance_id"])
    transcripts, utts, gold = [], [], {}
    for tid, g in df.groupby("transcript_id", sort=True):
        tid = f"mi{tid}"
        text = ""
        for turn, r in enumerate(g.itertuples(index=False)):
            who = "Therapist" if r.interlocutor == "therapist" else "Client"
            t = " ".join(str(r.utterance_text).split())
            if not t:
                continue
            prefix = f"{who}: "
            start = len(text) + len(prefix)
            text += prefix + t + "\n"
            uid = f"{tid}#{r.utterance_id}"
            unit = (who == "Client") == (target == "client")
            role = "participant" if unit else "interviewer"
            utts.append(Utterance(uid, tid, who, role, turn, start, start + len(t), t))
            label = r.client_talk_type if target == "client" else r.main_therapist_behaviour
            if unit and isinstance(label, str):
                gold[uid] = [(ANNOMI_LABELS if target == "client" else THERAPIST_LABELS)[label]]
        transcripts.append(Transcript(tid, text))
    corpus = Corpus(transcripts, utts)
    units = [u for u in utts if u.role == "participant" and u.id in gold]
    codebook = Codebook([Code(None, n, d) for n, d in (ANNOMI_CODES if target == "client" else THERAPIST_CODES)])
    return corpus, codebook, units, gold


def stratified(gold: dict, codes, k: int, rng, exclude=()) -> dict:
    seeds, ex = {}, set(exclude)
    for c in codes:
        cand = sorted(u for u, g in gold.items() if c in g and u not in seeds and u not in ex)
        for u in rng.choice(cand, min(k, len(cand)), replace=False):
            seeds[str(u)] = gold[str(u)]
    return seeds


def strengthen(codebook: Codebook, gold: dict, texts: dict, n: int = 5, seed: int = 99):
    """(codebook with ``n`` example extracts per code from a held-out pool, the pool's ids)."""
    rng = np.random.default_rng(seed)
    pool: dict[str, list[str]] = {}
    used: set[str] = set()
    for c in codebook.codable():
        cand = sorted(u for u, g in gold.items() if g[0] == c.name and u not in used)
        pick = [str(u) for u in rng.choice(cand, min(n, len(cand)), replace=False)]
        used.update(pick)
        pool[c.name] = pick
    codes = [dataclasses.replace(c, examples=tuple(c.examples) + tuple(texts[u] for u in pool.get(c.name, [])))
             for c in codebook.codes]
    return Codebook(codes), used


class Study:
    def __init__(self, name, corpus, codebook, units, gold, emb, text="content"):
        self.name, self.corpus, self.codebook, self.units, self.gold = name, corpus, codebook, units, gold
        self.emb, self.text = emb, text
        self.codes = [c.name for c in codebook.codable()]
        vec = embed_texts([u.text if text == "text" else u.content for u in units], emb, progress=False)
        self.E = Embeddings(tuple(u.id for u in units), vec, emb.model_id)

    def fit(self, codebook=None, seeds=None, **kw):
        return CodeMapper(text=self.text, **kw).fit(codebook or self.codebook, self.units, embeddings=self.E,
                                                    embedder=self.emb, corpus=self.corpus, seeds=seeds)

    def kappa(self, mapper, on) -> float:
        p = mapper.predict(abstain=False)
        on = set(on)
        return evaluate(p[p.index.isin(on)], {u: self.gold[u] for u in on}, codes=self.codes).kappa


def never_worse(study: Study, ks, draws: int, strong: bool) -> list[tuple]:
    """Rows (variant, k, zero-shot, fixed, learned, share of draws with learned weights)."""
    cb, pool = study.codebook, set()
    if strong:
        cb, pool = strengthen(study.codebook, study.gold, {u.id: u.text for u in study.units})
    zs = study.fit(cb)
    rows = []
    for k in ks:
        z, f, l, learned = [], [], [], []
        for d in range(draws):
            seeds = stratified(study.gold, study.codes, k, np.random.default_rng(1000 * k + d), exclude=pool)
            test = [u for u in study.gold if u not in seeds and u not in pool]
            z.append(study.kappa(zs, test))
            f.append(study.kappa(study.fit(cb, seeds, weights="fixed"), test))
            m = study.fit(cb, seeds)
            l.append(study.kappa(m, test))
            learned.append(bool(m.crossfit_ and m.crossfit_.learned))
        rows.append(("strong" if strong else "as given", k, np.mean(z), np.mean(f), np.mean(l), np.mean(learned)))
    return rows


def print_never_worse(study: Study, ks, draws: int) -> None:
    t = time.time()
    print(f"\n{study.name}: {len(study.units)} units, {len(study.gold)} coded, {len(study.codes)} codes "
          f"(kappa on coded units that are neither seeds nor codebook examples; mean of {draws} draws)")
    print(f"  {'codebook':9s} {'k/code':>6s} {'zero-shot':>9s} {'fixed':>7s} {'learned':>8s} {'learned-zs':>10s} "
          f"{'learned draws':>13s}  ok(>= zs-0.01)")
    for strong in (False, True):
        for v, k, z, f, l, share in never_worse(study, ks, draws, strong):
            print(f"  {v:9s} {k:6d} {z:9.3f} {f:7.3f} {l:8.3f} {l - z:+10.3f} {share:13.0%}  "
                  f"{'yes' if l >= z - 0.01 else 'NO'}")
    print(f"  ({time.time() - t:.0f}s)")


def calibration_check(study: Study, draws: int, k: int = 10) -> None:
    print(f"\nCALIBRATION on {study.name}, {k} seeds per code (held-out coded units; mean of {draws} draws)")
    eces, eces_raw, rows = [], [], []
    for d in range(draws):
        seeds = stratified(study.gold, study.codes, k, np.random.default_rng(1000 * k + d))
        m = study.fit(seeds=seeds)
        s = m.suggestions_
        top = s[(s["rank"] == 1) & ~s["seeded"]]
        right = np.array([c in study.gold[u] for u, c in zip(top["utterance_id"], top["code"])])
        eces.append(expected_calibration_error(top["score"].to_numpy(), right))
        eces_raw.append(expected_calibration_error(top["model_score"].to_numpy(), right))
        q = m.review_queue()
        ok = np.array([c in study.gold.get(u, ()) for u, c in zip(q["utterance_id"], q["code"])])
        est = queue_precision(q)
        rows.append([(n, ok[:n].mean(), e) for n, e in zip(est["top"], est["expected_share_right"])])
        w = m.weights_
    print(f"  ECE of the top score (10 bins): calibrated {np.mean(eces):.3f} (draws: "
          + ", ".join(f"{e:.3f}" for e in eces) + f"); uncalibrated mixed probability {np.mean(eces_raw):.3f}")
    print("  review queue: " + "; ".join(
        f"top {n}: precision {np.mean([r[i][1] for r in rows]):.2f}, calibrated estimate {np.mean([r[i][2] for r in rows]):.2f}"
        for i, (n, _, _) in enumerate(rows[0])))
    print("  weights (last draw): " + ", ".join(f"{k_} {v:.1f}" for k_, v in w.items()))


def names_only(study: Study) -> None:
    """Zero-shot kappa of a names-only codebook and how many code-next labels reach the kappa that
    definitions give zero-shot (fixed test set of 30% of the coded units)."""
    rng = np.random.default_rng(42)
    ids = sorted(study.gold)
    test = set(rng.choice(ids, int(0.3 * len(ids)), replace=False).tolist())
    pool = [u for u in ids if u not in test]
    bare = Codebook([Code(None, c.name) for c in study.codebook.codable()])
    target = study.kappa(study.fit(), test)
    m = study.fit(bare)
    print(f"\nNAMES-ONLY CODEBOOK on {study.name} (fixed test set of {len(test)} coded units)")
    print(f"  warning given: {m.weak_codebook_ is not None}")
    k0 = study.kappa(m, test)
    print(f"  zero-shot kappa: names only {k0:.3f}, with definitions {target:.3f}")
    seeds: dict = {}
    curve = [(0, k0)]
    while len(seeds) < 10 * len(study.codes) and curve[-1][1] < target:
        nxt = m.suggest_next(len(study.codes), among=pool)
        for u in nxt["utterance_id"]:
            seeds[u] = study.gold[u]
        m = study.fit(bare, seeds)
        curve.append((len(seeds), study.kappa(m, test)))
    print("  code-next labels -> kappa: " + ", ".join(f"{n}: {k:.3f}" for n, k in curve))
    reached = [n for n, k in curve if k >= target]
    print("  labels to reach the zero-shot kappa of the definitions: "
          + (f"{reached[0]}" if reached else f"not reached within {curve[-1][0]}"))


def run(data: Path, emb, serdif, quick: bool = False, draws: int = 5) -> None:
    corpus, codebook, units, gold = serdif
    ks = (1, 3, 10)
    draws = min(2, draws) if quick else draws
    print("\n== TRUST: seeding never hurts, scores mean what they say ==")
    s = Study("SERDIF", corpus, codebook, units, gold, emb, text="text")
    print_never_worse(s, ks, draws)
    calibration_check(s, draws)
    names_only(s)
    from themekit import read_transcripts
    from themekit.audit.evaluate import gold_from_aligned
    from themekit.codebook.coding import align_to_utterances, read_coded_segments

    study = Path(__file__).resolve().parents[1] / "data" / "example"
    ec = read_transcripts(study)
    eu = ec.select()
    segs = read_coded_segments(study / "coded_segments.csv", ec)
    eg = {u: c for u, c in gold_from_aligned(align_to_utterances(segs, ec, utterances=eu)).items() if c}
    ex = Study("EXAMPLE (data/example)", ec, Codebook.load(study / "codebook.csv"), [u for u in eu if u.id in eg],
               eg, emb)
    print_never_worse(ex, ks, draws)
    n = 20 if quick else 40
    a = Study(f"ANNOMI client talk type ({n} conversations)", *annomi(data, n), emb)
    print_never_worse(a, ks, draws)
    calibration_check(a, draws)
    t = Study(f"ANNOMI therapist behaviour ({n} conversations)", *annomi(data, n, "therapist"), emb)
    print_never_worse(t, ks, draws)
    calibration_check(t, draws)
