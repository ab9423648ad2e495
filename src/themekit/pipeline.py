"""The whole study in one call: read, embed, discover, map, audit, chart, report.

:func:`run_study` is what ``themekit run`` calls; every step is an ordinary library call, so
a notebook can do the same steps one at a time. Outputs go to one folder, each file written
atomically, with a run manifest that records settings, versions, the model and input hashes.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .types import Corpus, atomic_write

__all__ = ["run_study", "StudyRun"]

log = logging.getLogger("themekit")


@dataclass
class StudyRun:
    """What ``run_study`` produced: the objects (for notebooks) and the files written."""

    corpus: Corpus
    embeddings: Any
    discovery: Any
    mapper: Any = None
    candidate_mapping: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    segments: list | None = None
    audit: Any = None
    codebook: Any = None
    framework: Any = None
    framework_source: str = ""
    review: list | None = None
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


class _Steps:
    """Numbered progress lines on stderr, with the time each step took."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.n, self.quiet = total, 0, quiet
        self.timings: dict[str, float] = {}

    def __call__(self, name: str):
        self.n += 1
        steps = self

        class _Ctx:
            def __enter__(self):
                if not steps.quiet:
                    log.info("[%d/%d] %s ...", steps.n, steps.total, name)
                self.t0 = time.perf_counter()
                return self

            def __exit__(self, *exc):
                steps.timings[name] = time.perf_counter() - self.t0
                return False

        return _Ctx()


def _csv(path: Path, df: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def run_study(inputs, output, **kwargs) -> StudyRun:
    """Run the whole pipeline on a study and write everything to ``output``.

    Keyword arguments: those of :func:`_run_study` (``codebook``, ``coded``, ``metadata``,
    ``reader``, ``segmenter``, ``model``, ``fast``, ``embedder``, ``random_state``,
    ``all_speakers``, ``report``, ``quiet``). When it fails, an output folder it created is
    removed again: never a half-written result.
    """
    out = Path(output)
    created = not out.exists()
    try:
        return _run_study(inputs, output, **kwargs)
    except BaseException:
        if created and out.exists():
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _run_study(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    codebook: str | os.PathLike | None = None,
    coded: str | os.PathLike | None = None,
    metadata: str | os.PathLike | None = None,
    reader=None,
    segmenter=None,
    model: str | None = None,
    fast: bool = False,
    embedder=None,
    random_state: int = 0,
    all_speakers: bool = False,
    report: bool = True,
    quiet: bool = False,
    review: str | os.PathLike | None = None,
) -> StudyRun:
    """Run the whole pipeline on a study and write everything to ``output``.

    ``codebook`` and ``coded`` default to ``codebook.*`` and ``coded_segments.csv`` in a study
    folder; without a codebook the mapping steps are skipped, without coded segments the audit.
    ``review``: a ``decisions.csv`` exported from the report's review view: accepted and
    recoded suggestions become the reviewer's coding (seeds, ``.qdpx`` codings, framework),
    rejected ones are not suggested again there; the trail is ``mapping/review_log.csv`` and
    the manifest's ``review``.
    """
    from .codebook import Codebook
    from .codebook import read_coded_segments
    from .discover import discover
    from .embed import embed_utterances, load_embedder
    from .io import read_transcripts, study_file

    out = Path(output)
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    folder = Path(paths[0]) if len(paths) == 1 and Path(paths[0]).is_dir() else None
    if codebook is None and folder is not None:
        codebook = study_file(folder, ("codebook.yaml", "codebook.yml", "codebook.csv", "codebook.qdc"))
    if coded is None and folder is not None:
        coded = study_file(folder, ("coded_segments.csv",))
    if review is not None:  # fail before the long steps
        from .types import InputError
        if codebook is None:
            raise InputError(review, "a review needs the codebook its codes come from: pass --codebook")
        if not Path(review).is_file():
            raise InputError(review, "no such decisions file; export it from the report's review view")
    steps = _Steps(5 + (codebook is not None) + (coded is not None), quiet)
    files: dict[str, Path] = {}

    with steps("Reading and segmenting transcripts"):
        corpus = read_transcripts(paths, metadata, reader=reader, segmenter=segmenter, progress=not quiet)
        units = corpus.select(roles=None if all_speakers else ("participant",))
        _check_enough(units, corpus, all_speakers, paths[0] if len(paths) == 1 else None)
        out.mkdir(parents=True, exist_ok=True)
        files["corpus"] = corpus.save(out / "corpus.parquet")
        files["utterances"] = _csv(out / "utterances.csv", corpus.to_pandas())
        files["roles"] = _write_roles(corpus, out / "roles.csv")
        log.info("    %d transcripts, %d utterances, %d utterances for analysis",
                 len(corpus.transcripts), len(corpus), len(units))

    with steps("Embedding utterances"):
        embedder = embedder or load_embedder(model, fast=fast)
        emb = embed_utterances(units, embedder, progress=not quiet)

    with steps("Discovering candidate codes and themes"):
        result = discover(units, embeddings=emb, random_state=random_state, progress=not quiet)
        for name, p in result.save(out / "discovery").items():
            files[f"discovery/{name}"] = p
        log.info("    %d candidate codes in %d themes; %.0f%% of utterances left as outliers",
                 len(result.codes), len(result.themes), 100 * result.outlier_share())

    run = StudyRun(corpus=corpus, embeddings=emb, discovery=result, files=files)

    if codebook is not None:
        with steps("Mapping utterances and candidate codes to the codebook"):
            from .mapping import CodeMapper, map_candidates, unsupported_codes

            cb = run.codebook = Codebook.load(codebook)
            run.segments = read_coded_segments(coded, corpus) if coded is not None else None
            seeds, rejected = run.segments, None
            if review is not None:
                seeds, rejected = _read_review(run, review, units)
            mapper = CodeMapper(random_state=random_state)
            map_units = _with_coded_speech(units, corpus, run.segments)
            mapper.fit(cb, map_units, embeddings=emb, embedder=embedder, corpus=corpus, seeds=seeds,
                       rejected=rejected)
            run.mapper = mapper
            run.candidate_mapping = map_candidates(result, mapper)
            run.coverage = unsupported_codes(mapper, run.candidate_mapping)
            files["mapping/suggestions"] = _csv(out / "mapping" / "suggestions.csv", mapper.suggestions())
            files["mapping/candidates"] = _csv(out / "mapping" / "candidate_mapping.csv", run.candidate_mapping)
            files["mapping/coverage"] = _csv(out / "mapping" / "codebook_coverage.csv", run.coverage)
            files["mapping/next"] = _csv(out / "mapping" / "code_next.csv", mapper.suggest_next(20))
            files["mapping/review_queue"] = _csv(out / "mapping" / "review_queue.csv", mapper.review_queue())
            if run.review is not None:
                from .codebook.decisions import review_log

                files["mapping/review_log"] = _csv(out / "mapping" / "review_log.csv",
                                                   review_log(run.review, mapper.suggestions()))

    if coded is not None:
        with steps("Auditing human coding"):
            from .audit import audit

            if run.segments is None:
                run.segments = read_coded_segments(coded, corpus)
            run.audit = audit(corpus, run.segments, codebook=run.codebook, embedder=embedder,
                              mapper=run.mapper, random_state=random_state)
            for name, p in run.audit.save(out / "audit").items():
                files[f"audit/{name}"] = p

    with steps("Framework matrix and REFI-QDA project"):
        from .report import export_framework_excel
        from .codebook import export_qdpx

        from .report import framework_matrix

        draft = None if run.codebook else result.to_codebook()
        cb = run.codebook or draft
        suggestions = None
        if run.mapper is not None:
            suggestions = run.mapper.suggestions(only_suggested=True)
        human = (run.segments or []) + _reviewer_segments(run)
        # Chart human coding where there is some, else themekit's suggestions, else candidate codes.
        if human:
            coded_for_matrix = human
            run.framework_source = "human coding" + (" and review decisions" if run.review else "")
        elif suggestions is not None:
            coded_for_matrix, run.framework_source = suggestions, "themekit's suggestions"
        else:
            coded_for_matrix = _discovered_coding(result, draft or result.to_codebook())
            run.framework_source = "candidate codes"
        run.framework = framework_matrix(coded_for_matrix, corpus, cb)
        files["framework"] = export_framework_excel(out / "framework.xlsx", run.framework)
        files["refi"] = export_qdpx(out / "project.qdpx", corpus, cb, segments=human or None,
                                    suggestions=suggestions, project_name="themekit run")

    with steps("Writing the report and manifest"):
        from .common.output import build_manifest, write_manifest

        settings = {"codebook": str(codebook) if codebook else None, "coded": str(coded) if coded else None,
                    "model": model, "fast": fast, "all_speakers": all_speakers, "corpus": corpus.settings,
                    "discovery": getattr(result, "params", None),
                    "mapper": run.mapper.get_params() if hasattr(run.mapper, "get_params") else
                    (repr(run.mapper) if run.mapper is not None else None),
                    # weights, calibration, review-queue expectations, weak-codebook warning
                    "mapping": run.mapper.decisions() if run.mapper is not None else None}
        if run.review is not None:
            from .codebook.decisions import review_summary

            settings["review"] = review_summary(run.review, review)
        inputs_fp = [p for p in paths] + [x for x in (codebook, coded, metadata, review) if x is not None]
        run.timings = dict(steps.timings)
        manifest = build_manifest(command="themekit run", settings=settings, random_state=random_state,
                                  inputs=inputs_fp, model_id=getattr(embedder, "model_id", None),
                                  outputs=[str(p) for p in files.values()], timings=run.timings)
        if report:
            from .report import study_report

            files["report"] = study_report(run, out / "report.html", manifest)
        manifest["outputs"] = sorted(str(p) for p in files.values())
        files["manifest"] = write_manifest(out / "manifest.json", manifest)
        run.manifest = manifest
    run.timings = dict(steps.timings)
    return run


def _check_enough(units, corpus, all_speakers: bool, where=None) -> None:
    """Stop before writing anything when there is too little speech to discover codes in."""
    from .types import InputError

    if len(units) < 2:
        who = "utterance(s)" if all_speakers else "participant utterance(s)"
        raise InputError(where, f"only {len(units)} {who} to analyse in {len(corpus.transcripts)} "
                         "transcript(s); discovery needs at least 2. Check the speaker roles "
                         "(themekit ingest writes roles.csv; set them with --roles FILE) or use --all-speakers")


def _with_coded_speech(units, corpus, segments) -> list:
    """The units to map: participant speech plus whatever else the human coding covers
    (interviewer prompts coded "Moderator assist", observations), said in one line."""
    if not segments:
        return units
    from .codebook.coding import coded_speech, coded_speech_line

    out, info = coded_speech(corpus, segments, units)
    line = coded_speech_line(info)
    if line:
        log.info("    %s", line)
    return out


def _write_roles(corpus, path: Path) -> Path:
    """roles.csv, and the labels to check in the log (uncertain, or differing between transcripts)."""
    from .io import write_roles

    _, lines = write_roles(corpus, path)
    for line in lines:
        log.warning("%s", line)
    return path


def _read_review(run: StudyRun, path, units) -> tuple[pd.DataFrame, dict]:
    """(seeds, rejected codes) for the mapper from a review's decisions plus the human coding;
    sets ``run.review``."""
    from .codebook.decisions import read_review

    run.review, seeds, rejected = read_review(path, run.corpus, run.codebook, run.segments, units)
    n = {k: sum(d.decision == k for d in run.review) for k in ("accept", "recode", "reject")}
    log.info("    review %s: %d accepted, %d recoded, %d rejected", path, n["accept"], n["recode"], n["reject"])
    return seeds, rejected


def _reviewer_segments(run: StudyRun) -> list:
    """The review's accepted and recoded decisions as the reviewer's coded segments."""
    if not run.review:
        return []
    from .codebook.decisions import review_segments

    return review_segments(run.review)


def _discovered_coding(result, draft) -> pd.DataFrame:
    """Candidate-code assignments as a coding table whose codes are the names in ``draft``
    (``result.to_codebook()``)."""
    # to_codebook() lists themes in order, each followed by its codes: the same order as here.
    order = [c for codes in result.themes["codes"] for c in codes.split(", ")]
    names = dict(zip(order, [c.name for c in draft.codable()]))
    a = result.assignments
    a = a[a["code"].isin(names)].copy()
    a["code"] = a["code"].map(names)
    return a
