"""themekit map: suggest codebook codes for utterances, with scores to review."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from ..types import InputError, atomic_write
from .ingest import add_reading_options, corpus_from_args
from .engine import add_engine_options, client_from_args, mapper_from_client
from .models import add_embedding_options, embedder_from_args

log = logging.getLogger("themekit")

def _study_folder(paths) -> Path | None:
    p = Path(paths[0])
    return p if len(paths) == 1 and p.is_dir() else None


def load_corpus(args: argparse.Namespace, mapper=None):
    """A corpus from ``args.inputs``: one ``.parquet`` corpus file, or transcripts to read."""
    from ..types import Corpus

    if len(args.inputs) == 1 and Path(args.inputs[0]).suffix.lower() == ".parquet":
        return Corpus.load(args.inputs[0])
    return corpus_from_args(args, mapper=mapper)


def find_codebook(args: argparse.Namespace, required: bool = True):
    """(Codebook, path) from --codebook or the study folder; (None, None) when there is none and
    it is not ``required``."""
    from ..codebook import Codebook
    from ..codebook.code import CODEBOOK_FILE_NAMES as CODEBOOK_NAMES, study_folder_file

    path = args.codebook
    if path is None:
        found = study_folder_file(_study_folder(args.inputs), CODEBOOK_NAMES)
        if found is None and not required:
            return None, None
        if found is None:
            raise InputError(args.inputs[0], "no codebook given and none in the study folder; pass "
                             "--codebook FILE (.yaml, .csv, .xlsx, .docx, .md or .qdc)")
        path = found
    return Codebook.load(path), Path(path)


def find_coded(args: argparse.Namespace) -> Path | None:
    from ..codebook.code import CODED_FILE_NAMES, study_folder_file

    if getattr(args, "coded", None):
        return Path(args.coded)
    return study_folder_file(_study_folder(args.inputs), CODED_FILE_NAMES)


def add_mapper_options(p: argparse.ArgumentParser) -> None:
    add_embedding_options(p, fast=False)
    g = p.add_argument_group("mapping")
    g.add_argument("--top-k", type=int, default=3, help="codes listed per utterance (default: %(default)s)")
    g.add_argument("--threshold", default="auto", metavar="P",
                   help="abstain when the top probability is below P (default: auto = 2 / number of codes)")
    g.add_argument("--multilabel", type=float, default=0.5, metavar="R",
                   help="also suggest codes with at least R times the top probability (default: %(default)s)")
    g.add_argument("--no-context", action="store_true",
                   help="score utterances without the interviewer prompts that precede them")
    g.add_argument("--verbatim", action="store_true",
                   help="score the verbatim text, bracketed notes included (think-aloud/observation "
                        "notes such as '(reads the task again)'); default: the words spoken")
    g.add_argument("--all-speakers", action="store_true",
                   help="map every utterance, not only participants' speech")
    g.add_argument("--fine-tune", action="store_true",
                   help="with coded segments: first fine-tune the embedding model on them (SetFit-style; "
                        "a few minutes on a CPU), then map with the fine-tuned embeddings")
    g.add_argument("--random-state", type=int, default=0)


def make_mapper(args: argparse.Namespace):
    from ..mapping import CodeMapper

    threshold = args.threshold
    if threshold != "auto":
        try:
            threshold = float(threshold)
        except ValueError:
            raise InputError(None, f"--threshold must be 'auto' or a number in [0, 1]; got {threshold!r}") from None
    try:
        m = CodeMapper(top_k=args.top_k, abstain_threshold=threshold, multilabel_threshold=args.multilabel,
                       context=None if args.no_context else "auto",
                       text="text" if args.verbatim else "content",
                       fine_tune=bool(getattr(args, "fine_tune", False)), random_state=args.random_state)
        m._validate()
    except ValueError as e:
        raise InputError(None, str(e)) from None
    return m


def units_of(corpus, args):
    return list(corpus.utterances) if args.all_speakers else corpus.select()


def read_candidates(path: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(members, labels) from a `themekit discover` output folder (assignments.csv, codes.csv)
    or a CSV with utterance_id and candidate (or code) columns, one row per member."""
    labels: dict[str, str] = {}
    if path.is_dir():
        if (path / "codes.csv").is_file():
            codes = pd.read_csv(path / "codes.csv", dtype=str, keep_default_na=False)
            if {"id", "label"} <= set(codes.columns):
                labels = dict(zip(codes["id"], codes["label"]))
        path = path / "assignments.csv"
        if not path.is_file():
            raise InputError(path, "no assignments.csv in this folder; point --candidates at the folder "
                             "`themekit discover` wrote, or at a CSV of utterance_id, candidate")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as e:
        raise InputError(path, f"cannot read candidate codes ({e})") from None
    key = next((c for c in ("candidate", "code_id", "candidate_id", "code", "cluster", "topic")
                if c in df.columns), None)
    if key is None or "utterance_id" not in df.columns:
        raise InputError(path, "candidate file needs utterance_id and candidate (or code) columns, one "
                         f"row per member utterance (found: {', '.join(df.columns)})", line=1)
    df = df[df[key].str.strip() != ""]
    return {k: list(g["utterance_id"]) for k, g in df.groupby(key, sort=False)}, labels


def register(sub) -> None:
    p = sub.add_parser(
        "map", help="suggest codebook codes for utterances (deductive coding), with scores",
        description="Score every utterance against every code of a codebook (name, definition, "
                    "inclusion/exclusion criteria, examples), learn from coded segments if given, "
                    "and write suggestions to review, codebook coverage and what to code next.")
    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="study folder, transcript files/folders, or a corpus .parquet from `themekit ingest`")
    p.add_argument("--codebook", metavar="FILE", help="codebook (.yaml, .qdc, or a table: .csv, .tsv, .xlsx, .docx, .md); default: the study folder's")
    p.add_argument("--coded", metavar="FILE",
                   help="coded segments CSV to learn from; default: the study folder's coded_segments.csv")
    p.add_argument("--review", metavar="DECISIONS",
                   help="decisions.csv exported from the report's review view: accepted/recoded suggestions "
                        "become the reviewer's coding (seeds), rejected ones are not suggested again")
    p.add_argument("--zero-shot", action="store_true", help="ignore coded segments: codebook only")
    p.add_argument("--candidates", metavar="PATH",
                   help="candidate codes to map to the codebook too: the folder `themekit discover` "
                        "wrote, or a CSV of utterance_id, candidate")
    p.add_argument("--next", type=int, default=20, metavar="N",
                   help="utterances to suggest coding next (default: %(default)s; 0: none)")
    p.add_argument("-o", "--output", default="mapping", metavar="DIR",
                   help="output folder (default: %(default)s)")
    add_mapper_options(p)
    add_reading_options(p)
    add_engine_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..codebook import read_coded_segments
    from ..mapping import map_candidates, unsupported_codes

    mapper = make_mapper(args)
    with client_from_args(args) as client:
        engine = mapper_from_client(client)
        corpus = load_corpus(args, engine)
        codebook, cb_path = find_codebook(args)
        coded = None if args.zero_shot else find_coded(args)
        seeds = read_coded_segments(coded, corpus, codebook=codebook) if coded is not None else None
        units = units_of(corpus, args)
        if seeds:  # coded interviewer turns and observations are mapped and used as seeds too
            from ..codebook.coding import coded_speech, coded_speech_line

            units, info = coded_speech(corpus, seeds, units)
            if coded_speech_line(info):
                print(coded_speech_line(info))
        review, rejected = None, None
        if args.review:
            from ..codebook.decisions import read_review

            review, seeds, rejected = read_review(args.review, corpus, codebook, seeds, units)
        embedder = embedder_from_args(args)
        emb = None
        if engine is not None and not mapper.fine_tune:   # fine-tuning embeds with its own model
            from ..embed import embed_utterances
            emb = embed_utterances(units, embedder, mapper=engine)
        mapper.fit(codebook, units, embeddings=emb, embedder=embedder, corpus=corpus, seeds=seeds,
                   rejected=rejected)

    out = Path(args.output)
    sugg = mapper.suggestions()
    atomic_write(out / "suggestions.csv", lambda t: sugg.to_csv(t, index=False))
    scores = mapper.scores_.reset_index()
    atomic_write(out / "code_scores.parquet", lambda t: scores.to_parquet(t, index=False))
    cand = None
    if args.candidates:
        members, labels = read_candidates(Path(args.candidates))
        cand = map_candidates(members, mapper, labels=labels)
        atomic_write(out / "candidate_mapping.csv", lambda t: cand.to_csv(t, index=False))
    if review is not None:
        from ..codebook.decisions import review_log

        log_df = review_log(review, sugg)
        atomic_write(out / "review_log.csv", lambda t: log_df.to_csv(t, index=False))
    cov = unsupported_codes(mapper, cand)
    atomic_write(out / "codebook_coverage.csv", lambda t: cov.to_csv(t, index=False))
    queue = mapper.review_queue()
    atomic_write(out / "review_queue.csv", lambda t: queue.to_csv(t, index=False))
    uncoded_left = len(units) - len(mapper.seeds_) - len(mapper.uncoded_)
    if args.next > 0 and uncoded_left > 0:
        nxt = mapper.suggest_next(args.next)
        atomic_write(out / "code_next.csv", lambda t: nxt.to_csv(t, index=False))

    top = sugg[sugg["rank"] == 1]
    n_abs = int(top["abstained"].sum())
    mode = (f"seeded with {len(mapper.seeds_)} coded utterances from "
            f"{' and '.join(str(x) for x in (coded, args.review) if x)}"
            + (f" (+{len(mapper.uncoded_)} left uncoded: 'no code')" if mapper.uncoded_ else "")
            if mapper.seeds_ else "zero-shot")
    if review is not None:
        n = {k: sum(d.decision == k for d in review) for k in ("accept", "recode", "reject")}
        mode += (f"; review {args.review}: {n['accept']} accepted, {n['recode']} recoded (seeds), "
                 f"{n['reject']} rejected (not suggested again)")
    if mapper.fine_tuned_:
        e = mapper.embedder_
        mode += f"; embedder fine-tuned on them in {e.seconds:.0f}s ({e.model_id})"
    elif mapper.fine_tune:
        mode += "; --fine-tune ignored: no coded segments"
    print(f"{len(units)} utterances x {len(mapper.codes_)} codes ({cb_path.name}), {mode}; "
          f"context: {'interviewer prompts' if mapper.context_ else 'none'}")
    print(f"abstained on {n_abs} ({n_abs / max(1, len(top)):.0%}; threshold {mapper.abstain_threshold_:.3f}); "
          f"{int(sugg['suggested'].sum())} code suggestions")
    counts = top[~top["abstained"]]["code"].value_counts()
    print("top codes: " + ", ".join(f"{c} {n}" for c, n in counts.head(8).items()))
    none = cov[~cov["supported"]]["code"].tolist()
    print(f"codes with no supporting data: {', '.join(none) if none else 'none'}")
    if cand is not None:
        st = cand[cand["rank"] == 1]["status"].value_counts()
        print("candidate codes: " + ", ".join(f"{s} {int(st.get(s, 0))}" for s in ("matched", "ambiguous", "emergent")))
    print(trust_lines(mapper))
    write_map_manifest(args, mapper, out, [x for x in (cb_path, coded) if x is not None])
    print(f"-> {out}/ (suggestions.csv, review_queue.csv, code_scores.parquet, codebook_coverage.csv"
          + (", code_next.csv" if args.next > 0 and uncoded_left > 0 else "") + (", candidate_mapping.csv" if cand is not None else "")
        + (", review_log.csv" if review is not None else "") + ", manifest.json)")
    return 0


def trust_lines(mapper) -> str:
    """How far to trust the scores, in two lines: the weights and why, and what the review
    queue's top 50/100/200 are expected to hold (or that scores are not calibrated)."""
    d = mapper.decisions()
    w = ", ".join(f"{k} {v:.1f}" for k, v in d["weights"].items() if v > 0)
    line = f"weights: {w} ({'learned from the seeds' if d.get('learned') else d['reason']})"
    if d.get("learned"):
        line += (f"; cross-fitted kappa {d['cross_fitted_kappa']:.3f} (zero-shot weights "
                 f"{d['cross_fitted_kappa_zero_shot_weights']:.3f})")
    if d["calibrated"]:
        share = d["review_queue_expected_share_right"] or {}
        line += ("\nscores are calibrated on the coded utterances; review queue (review_queue.csv), expected share right: "
                 + (", ".join(f"top {n} {v:.0%}" for n, v in share.items()) or "nothing left to review"))
    else:
        line += ("\nscores rank suggestions but are not calibrated probabilities ("
                 + ("too few coded utterances to calibrate on" if d["seeds"] else "no coded utterances to calibrate on")
                 + ")")
    return line


def write_map_manifest(args, mapper, out: Path, inputs) -> Path:
    from ..common.output import build_manifest, write_manifest

    settings = {"mapper": mapper.get_params(), "mapping": mapper.decisions(),
                "zero_shot": bool(getattr(args, "zero_shot", False))}
    m = build_manifest(command="themekit map", settings=settings, random_state=mapper.random_state,
                       inputs=[*args.inputs, *inputs], model_id=getattr(mapper.embedder_, "model_id", None),
                       outputs=[])
    return write_manifest(out / "manifest.json", m)
