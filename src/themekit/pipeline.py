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


def run_study(
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
    client=None,
) -> StudyRun:
    """Run the whole pipeline on a study and write everything to ``output``.

    ``codebook`` and ``coded`` default to ``codebook.*`` and ``coded_segments.csv`` in a study
    folder; without a codebook the mapping steps are skipped, without coded segments the audit.

    ``client``: a ``dask.distributed.Client`` (see :mod:`themekit.scale`): reading and
    segmenting, embedding and the assignment of a large corpus run on its workers; the results
    are the same as without it.
    """
    from .codebook import Codebook
    from .codebook import read_coded_segments
    from .discover import discover
    from .embed import embed_utterances, load_embedder
    from .io import read_transcripts, study_file

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    folder = Path(paths[0]) if len(paths) == 1 and Path(paths[0]).is_dir() else None
    if codebook is None and folder is not None:
        codebook = study_file(folder, ("codebook.yaml", "codebook.yml", "codebook.csv", "codebook.qdc"))
    if coded is None and folder is not None:
        coded = study_file(folder, ("coded_segments.csv",))
    steps = _Steps(5 + (codebook is not None) + (coded is not None), quiet)
    mapper = None
    if client is not None:
        from .scale import DaskMapper

        mapper = DaskMapper(client)
    files: dict[str, Path] = {}

    with steps("Reading and segmenting transcripts"):
        corpus = read_transcripts(paths, metadata, reader=reader, segmenter=segmenter, progress=not quiet,
                                  mapper=mapper)
        files["corpus"] = corpus.save(out / "corpus.parquet")
        files["utterances"] = _csv(out / "utterances.csv", corpus.to_pandas())
        units = corpus.select(roles=None if all_speakers else ("participant",))
        log.info("    %d transcripts, %d utterances, %d utterances for analysis",
                 len(corpus.transcripts), len(corpus), len(units))

    with steps("Embedding utterances"):
        embedder = embedder or load_embedder(model, fast=fast)
        emb = embed_utterances(units, embedder, progress=not quiet, mapper=mapper)

    with steps("Discovering candidate codes and themes"):
        result = discover(units, embeddings=emb, random_state=random_state, progress=not quiet,
                          mapper=mapper)
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
            mapper = CodeMapper(random_state=random_state)
            mapper.fit(cb, units, embeddings=emb, embedder=embedder, corpus=corpus, seeds=run.segments)
            run.mapper = mapper
            run.candidate_mapping = map_candidates(result, mapper)
            run.coverage = unsupported_codes(mapper, run.candidate_mapping)
            files["mapping/suggestions"] = _csv(out / "mapping" / "suggestions.csv", mapper.suggestions())
            files["mapping/candidates"] = _csv(out / "mapping" / "candidate_mapping.csv", run.candidate_mapping)
            files["mapping/coverage"] = _csv(out / "mapping" / "codebook_coverage.csv", run.coverage)
            files["mapping/next"] = _csv(out / "mapping" / "code_next.csv", mapper.suggest_next(20))

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
        # Chart human coding where there is some, else themekit's suggestions, else candidate codes.
        if run.segments:
            coded_for_matrix, run.framework_source = run.segments, "human coding"
        elif suggestions is not None:
            coded_for_matrix, run.framework_source = suggestions, "themekit's suggestions"
        else:
            coded_for_matrix = _discovered_coding(result, draft or result.to_codebook())
            run.framework_source = "candidate codes"
        run.framework = framework_matrix(coded_for_matrix, corpus, cb)
        files["framework"] = export_framework_excel(out / "framework.xlsx", run.framework)
        files["refi"] = export_qdpx(out / "project.qdpx", corpus, cb, segments=run.segments,
                                    suggestions=suggestions, project_name="themekit run")

    with steps("Writing the report and manifest"):
        from .common.output import build_manifest, write_manifest

        settings = {"codebook": str(codebook) if codebook else None, "coded": str(coded) if coded else None,
                    "model": model, "fast": fast, "all_speakers": all_speakers, "corpus": corpus.settings,
                    "discovery": getattr(result, "params", None),
                    "mapper": run.mapper.get_params() if hasattr(run.mapper, "get_params") else
                    (repr(run.mapper) if run.mapper is not None else None)}
        if client is not None:     # only then: a run without Dask keeps its manifest as it was
            from .scale import describe

            settings["engine"] = describe(client)
        inputs_fp = [p for p in paths] + [x for x in (codebook, coded, metadata) if x is not None]
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
