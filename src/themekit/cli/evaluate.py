"""themekit evaluate: suggested codes against human codes (accuracy, macro-F1, Cohen's kappa)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ..types import InputError, atomic_write
from .ingest import add_reading_options
from .map import add_mapper_options, find_codebook, find_coded, load_corpus, make_mapper, trust_lines, units_of
from .models import embedder_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="compare code suggestions with human coding (accuracy, macro-F1, kappa)",
        description="Either score an existing suggestions.csv (from `themekit map`) against coded "
                    "segments, or map a study with part of its coding as seeds and evaluate on the "
                    "rest (held-out split). A suggestion is correct when it is one of the "
                    "utterance's human codes.")
    p.add_argument("inputs", nargs="*", metavar="PATH",
                   help="study folder, transcripts or corpus .parquet (needed unless --suggestions is given)")
    p.add_argument("--suggestions", metavar="CSV", help="suggestions.csv written by `themekit map`")
    p.add_argument("--coded", metavar="FILE", help="coded segments CSV (default: the study folder's)")
    p.add_argument("--codebook", metavar="FILE", help="codebook (default: the study folder's)")
    p.add_argument("--seed-fraction", type=float, default=0.5, metavar="F",
                   help="share of the coded utterances used as seeds; the rest is evaluated "
                        "(default: %(default)s; 0: zero-shot on all)")
    p.add_argument("-o", "--output", metavar="DIR", help="also write per_code.csv and confusion.csv here")
    add_mapper_options(p)
    add_reading_options(p)
    p.set_defaults(func=run)


def _units_from_suggestions(df: pd.DataFrame):
    from ..types import Utterance

    need = {"utterance_id", "transcript_id", "start", "end"}
    if not need <= set(df.columns):
        return None
    first = df.drop_duplicates("utterance_id")
    return [Utterance(str(r.utterance_id), str(r.transcript_id), None, "participant", 0, int(r.start), int(r.end),
                      str(getattr(r, "text", "")))
            for r in first.itertuples(index=False)]


def _offsets_only(coded: Path, units):
    """A stand-in corpus (transcript ids only) and the coded segments, transcript ids matched to
    the suggestions' (``P2.txt`` -> ``P2``)."""
    from dataclasses import replace

    from ..codebook import read_coded_segments
    from ..types import Corpus, Transcript

    tids = {u.transcript_id for u in units}
    segments = []
    for seg in read_coded_segments(coded):
        tid = seg.transcript_id
        if tid not in tids and Path(tid).stem in tids:
            seg = replace(seg, transcript_id=Path(tid).stem)
        if seg.transcript_id in tids:
            segments.append(seg)
    if not segments:
        raise InputError(coded, "no coded segment is in a transcript of the suggestions; pass the "
                         "transcripts (PATH) or check the transcript ids")
    return Corpus([Transcript(t, "") for t in sorted(tids)], []), segments


def _gold_for(units, segments, corpus):
    from ..codebook import align_to_utterances

    return align_to_utterances(segments, corpus, utterances=units)


def print_report(rep, out: Path | None) -> None:
    print(rep.summary())
    print(f"rule: {rep.rule}")
    table = rep.per_code.copy()
    with pd.option_context("display.width", 160, "display.max_colwidth", 40, "display.max_rows", 500):
        print(table.round(3).to_string())
    if out is not None:
        atomic_write(out / "per_code.csv", lambda t: rep.per_code.to_csv(t))
        atomic_write(out / "confusion.csv", lambda t: rep.confusion.to_csv(t))
        print(f"-> {out}/ (per_code.csv, confusion.csv)")


def run(args: argparse.Namespace) -> int:
    from ..codebook import read_coded_segments
    from ..audit import evaluate, gold_from_aligned

    out = Path(args.output) if args.output else None
    if args.suggestions:
        path = Path(args.suggestions)
        try:
            sugg = pd.read_csv(path, dtype={"utterance_id": str, "transcript_id": str})
        except (OSError, pd.errors.ParserError) as e:
            raise InputError(path, f"cannot read suggestions ({e})") from None
        coded = find_coded(args) if args.inputs else (Path(args.coded) if args.coded else None)
        if coded is None:
            raise InputError(None, "give --coded FILE (the human coding to compare with)")
        units = _units_from_suggestions(sugg)
        if units is None:
            raise InputError(path, "suggestions need utterance_id, transcript_id, start and end columns")
        if args.inputs:
            corpus = load_corpus(args)
            segments = read_coded_segments(coded, corpus)
        else:
            # no transcripts: align by the offsets as given (they are not checked against the text)
            corpus, segments = _offsets_only(coded, units)
        gold = gold_from_aligned(_gold_for(units, segments, corpus))
        codes = None
        if args.codebook:
            codes = [c.name for c in find_codebook(args)[0].codable()]
        print_report(evaluate(sugg, gold, codes=codes), out)
        return 0

    if not args.inputs:
        raise InputError(None, "give a study folder (PATH) with --codebook and --coded, or --suggestions FILE")
    if not 0 <= args.seed_fraction < 1:
        raise InputError(None, f"--seed-fraction must be in [0, 1); got {args.seed_fraction}")
    mapper = make_mapper(args)
    corpus = load_corpus(args)
    codebook, _ = find_codebook(args)
    coded = find_coded(args)
    if coded is None:
        raise InputError(args.inputs[0], "no coded segments to evaluate against: pass --coded FILE")
    segments = read_coded_segments(coded, corpus, codebook=codebook)
    units = units_of(corpus, args)
    gold = {u: cs for u, cs in gold_from_aligned(_gold_for(units, segments, corpus)).items() if cs}
    names = {c.name for c in codebook.codable()}
    gold = {u: [c for c in cs if c in names] for u, cs in gold.items()}
    gold = {u: cs for u, cs in gold.items() if cs}
    if not gold:
        raise InputError(coded, "no coded utterance carries a code of the codebook")
    rng = np.random.default_rng(args.random_state)
    ids = sorted(gold)
    n_seed = int(round(args.seed_fraction * len(ids)))
    seed_ids = set(rng.choice(ids, n_seed, replace=False).tolist()) if n_seed else set()
    seeds = {u: gold[u] for u in seed_ids}
    mapper.fit(codebook, units, embedder=embedder_from_args(args), corpus=corpus, seeds=seeds or None)
    pred = mapper.predict(abstain=False)
    test = {u: g for u, g in gold.items() if u not in seed_ids}
    print(f"{len(gold)} coded utterances: {len(seeds)} used as seeds, {len(test)} evaluated "
          f"({'zero-shot' if not seeds else 'seeded'}; top suggestion, no abstention)")
    rep = evaluate(pred[pred.index.isin(list(test))], test, codes=list(mapper.codes_))
    print(trust_lines(mapper))
    if mapper.calibrated_:
        print(calibration_line(mapper, test))
    print_report(rep, out)
    return 0


def calibration_line(mapper, test: dict) -> str:
    """How well the calibrated top scores match the evaluated utterances: ECE (10 bins) and
    the precision of the review queue's top 50/100/200 next to what the calibration expects."""
    from ..mapping import expected_calibration_error, queue_precision

    s = mapper.suggestions_
    top = s[(s["rank"] == 1) & s["utterance_id"].isin(list(test))]
    right = [c in test[u] for u, c in zip(top["utterance_id"], top["code"])]
    ece = expected_calibration_error(top["score"].to_numpy(), right)
    q = mapper.review_queue()
    q = q[q["utterance_id"].isin(list(test))].reset_index(drop=True)
    q["queue"] = range(1, len(q) + 1)
    q["expected_right"] = q["score"].cumsum() / q["queue"]
    ok = [c in test[u] for u, c in zip(q["utterance_id"], q["code"])]
    parts = [f"top {int(r.top)}: {sum(ok[:r.suggestions]) / r.suggestions:.0%} right, expected "
             f"{r.expected_share_right:.0%}" for r in queue_precision(q).itertuples()]
    return (f"calibration on the evaluated utterances: ECE of the top score {ece:.3f} (10 bins); review queue "
            + ("; ".join(parts) if parts else "empty"))
