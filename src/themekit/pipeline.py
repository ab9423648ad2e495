"""The whole study in one call: read, embed, discover, map, audit, chart, report.

:func:`run_study` is what ``themekit run`` calls; every step is an ordinary library call, so
a notebook can do the same steps one at a time. Outputs go to one folder, each file written
atomically, with a run manifest that records settings, versions, the model and input hashes.

Rerunning is cheap: each step's result is cached by what it depends on
(:class:`themekit.common.results.ResultCache`; embeddings have their own cache), and the
manifest's ``steps`` says which were computed and which read from the cache:

- the corpus by (the transcript files' paths and bytes, metadata, reading and segmenting settings);
- discovery by (utterances, their vectors and model, discovery settings, random_state);
- mapping by (corpus, utterances, vectors, codebook content, coded segments, mapper settings),
  and its comparison with the candidate codes (``candidates``) by (mapping, discovery);
- the audit by (corpus, coding, codebook, settings); inside it, each part by what it reads
  (store ``audit-parts``): intercoder agreement by (codes per utterance and coder, code names
  in order, settings), marginal drift, mis-codings and coder drift by (coded spans, their
  vectors, transcript order, code names in order, settings) — none reads a definition — and
  the cross-fitted model coder (``audit-model``) by (utterances, coding, codebook content,
  mapper settings);
- the framework matrix, ``framework.xlsx`` and ``project.qdpx`` (``exports``) by (corpus,
  codebook, coding, review decisions, the mapping and discovery steps' keys);
- the report's 2-D layout by (utterances, vectors, random_state), and each report section
  (``report``) by the keys of the steps it shows (the overview, with this run's step times, is
  always built).

The audit's entry holds its saved files too (its charts take seconds to build). Every key also
holds themekit's version and source and the versions of the libraries results come from.

Discovery reads only the utterances and their vectors, and nothing reads it until the candidate
codes are compared with the codebook: when it has to be computed (and there are two cores, a
codebook or a coding, and fewer than 10,000 utterances) it runs in a second process while this
one maps and audits; the results are the same as running it first (``DISCOVER_ALONGSIDE``).

So an edited definition reruns the mapping, the audit's model coder (and the audit's files),
the exports and the report sections that show them; agreement, drift, mis-codings, discovery,
the layout and its section are read back. Both refits are the floor after such an edit: the
edited code's facets move every utterance's prior, hence every classifier. Inside one process the
audit's fold mappers reuse the word features and the codebook's self-trained classifier of the
pipeline's mapper (:func:`themekit.mapping.model._memo`); only the seeded classifiers are fitted
per fold. A new interview reuses the embeddings of the others; discovery, the layout, mapping
and the audit are fitted on the whole study at once (a density clustering, a UMAP layout, a
centred, self-trained classifier and cross-fitting over interviews all change when any
utterance is added), so they are recomputed.
"""

from __future__ import annotations

import logging
import os
import threading
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
        _stop_alongside()        # a failed run does not wait for its discovery process
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
    cache: bool | str | os.PathLike | Any = True,
    client=None,
) -> StudyRun:
    """Run the whole pipeline on a study and write everything to ``output``.

    ``codebook`` and ``coded`` default to ``codebook.*`` and ``coded_segments.csv`` in a study
    folder; without a codebook the mapping steps are skipped, without coded segments the audit.
    ``review``: a ``decisions.csv`` exported from the report's review view: accepted and
    recoded suggestions become the reviewer's coding (seeds, ``.qdpx`` codings, framework),
    rejected ones are not suggested again there; the trail is ``mapping/review_log.csv`` and
    the manifest's ``review``.
    ``cache``: True for the default result cache (``themekit cache info``), a folder, a
    :class:`~themekit.common.results.ResultCache`, or False to compute every step (the outputs
    are the same either way).
    ``client``: a ``dask.distributed.Client`` (see :mod:`themekit.scale`): reading and
    segmenting, embedding, the assignment of a large corpus and the audit's drift permutations run
    on its workers; the results are the same as without it.
    """
    from .codebook import Codebook, read_coded_segments
    from .codebook.code import CODEBOOK_FILE_NAMES, CODED_FILE_NAMES, study_folder_file
    from .common.results import input_hash
    from .discover import discover
    from .embed import load_embedder
    from .io import read_transcripts

    results = _result_cache(cache)
    keys: dict[str, str | None] = {}     # each step's cache key: the report's sections are keyed by them

    def cached(store: str, parts: tuple, compute, step: str):
        key = keys[store] = results.key(store, *parts) if results.enabled else None
        return results.get_or_compute(store, parts, compute, step=step, key=key)

    out = Path(output)
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    folder = Path(paths[0]) if len(paths) == 1 and Path(paths[0]).is_dir() else None
    if codebook is None and folder is not None:
        codebook = study_folder_file(folder, CODEBOOK_FILE_NAMES)
    if coded is None and folder is not None:
        coded = study_folder_file(folder, CODED_FILE_NAMES)
    if review is not None:  # fail before the long steps
        from .types import InputError
        if codebook is None:
            raise InputError(review, "a review needs the codebook its codes come from: pass --codebook")
        if not Path(review).is_file():
            raise InputError(review, "no such decisions file; export it from the report's review view")
    steps = _Steps(5 + (codebook is not None) + (coded is not None), quiet)
    engine = None   # the Dask side, when a client is given
    if client is not None:
        from .scale import DaskMapper

        engine = DaskMapper(client)
    files: dict[str, Path] = {}

    with steps("Reading and segmenting transcripts"):
        # the codebook and coding may be kept among the interviews: not transcripts
        not_read = [p for p in (codebook, coded) if isinstance(p, (str, os.PathLike))]
        corpus, _ = results.get_or_compute(
            "corpus", _read_key(paths, metadata, reader, segmenter, not_read),
            lambda: read_transcripts(paths, metadata, reader=reader, segmenter=segmenter, progress=not quiet,
                                     mapper=engine, exclude=not_read),
            step="read")
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
        emb, results.stats["embed"] = _embedded(units, embedder, progress=not quiet, mapper=engine)
        corpus_key = input_hash(_corpus_key(corpus))      # hashed once, reused by every key
        # what discovery and the layout see: the utterances analysed and their vectors
        units_key = input_hash(units, emb.ids, emb.vectors, emb.model_id, getattr(embedder, "settings", None))

    discovery_step = "Discovering candidate codes and themes"
    pending = None    # discovery running alongside the mapping and the audit
    with steps(discovery_step):
        disc_parts = (units_key, "discover()", random_state)
        keys["discovery"] = results.key("discovery", *disc_parts) if results.enabled else None
        found, result = results.get("discovery", keys["discovery"]) if results.enabled else (False, None)
        if found:
            results.stats["discover"] = "cache"
        elif _alongside(len(units), engine, codebook, coded):
            pending = _start_discovery(units, emb, random_state)
            results.stats["discover"] = "running"    # its place in the manifest's step list
        if not found and pending is None:
            result, _ = cached("discovery", disc_parts,
                               lambda: discover(units, embeddings=emb, random_state=random_state,
                                                progress=not quiet, mapper=engine),
                               step="discover")
        if pending is None:
            _save_discovery(result, out, files)
        elif not quiet:
            log.info("    running alongside the mapping and the audit (a second process)")

    run = StudyRun(corpus=corpus, embeddings=emb, discovery=result, files=files)

    if codebook is not None:
        with steps("Mapping utterances and candidate codes to the codebook"):
            from .mapping import CodeMapper

            cb = run.codebook = Codebook.load(codebook)
            run.segments = read_coded_segments(coded, corpus, codebook=cb) if coded is not None else None
            seeds, rejected = run.segments, None
            if review is not None:
                seeds, rejected = _read_review(run, review, units)
            map_units = _with_coded_speech(units, corpus, run.segments)   # by corpus and coding: in the key

            def mapping():
                mapper = CodeMapper(random_state=random_state)
                mapper.fit(cb, map_units, embeddings=emb, embedder=embedder, corpus=corpus, seeds=seeds,
                           rejected=rejected)
                return _detached(mapper), mapper.suggestions(), mapper.suggest_next(20), mapper.review_queue()

            rejected_key = sorted((k, sorted(v)) for k, v in (rejected or {}).items())
            # the mapper does not read discovery: its key leaves the candidate codes out (they
            # are compared with the codebook below, once discovery is done)
            (mapper, sugg, nxt, queue), _ = cached(
                "mapping", (corpus_key, units_key, _codebook_key(cb), _segments_key(run.segments),
                            seeds if seeds is not run.segments else None, rejected_key,
                            _mapper_key(CodeMapper(random_state=random_state))),
                mapping, step="map")
            run.mapper = _attached(mapper, embedder, corpus, emb)
            files["mapping/suggestions"] = _csv(out / "mapping" / "suggestions.csv", sugg)
            files["mapping/next"] = _csv(out / "mapping" / "code_next.csv", nxt)
            files["mapping/review_queue"] = _csv(out / "mapping" / "review_queue.csv", queue)
            if run.review is not None:
                from .codebook.decisions import review_log

                files["mapping/review_log"] = _csv(out / "mapping" / "review_log.csv", review_log(run.review, sugg))

    if coded is not None:
        with steps("Auditing human coding"):
            from .audit import audit

            if run.segments is None:
                run.segments = read_coded_segments(coded, corpus, codebook=run.codebook)

            def audited():
                res = audit(corpus, run.segments, codebook=run.codebook, embedder=embedder, mapper=run.mapper,
                            random_state=random_state, cache=results if results.enabled else None,
                            engine=engine)
                return res, _saved_bytes(res)    # its files too: building its charts takes seconds

            (run.audit, saved), _ = cached(
                "audit", (corpus_key, _segments_key(run.segments), _codebook_key(run.codebook), emb.model_id,
                          getattr(embedder, "settings", None), _mapper_key(run.mapper), random_state),
                audited, step="audit")
            for name, data in saved.items():
                files[f"audit/{name}"] = atomic_write(out / "audit" / name, lambda tmp, d=data: tmp.write_bytes(d))

    if pending is not None:
        result, steps.timings[discovery_step] = _finish_discovery(pending, units, emb, random_state, results,
                                                                  keys["discovery"])
        _save_discovery(result, out, files)
        run.discovery = result
    if run.mapper is not None:
        t0 = time.perf_counter()
        from .mapping import map_candidates, unsupported_codes

        def candidates():
            cm = map_candidates(result, run.mapper)
            return cm, unsupported_codes(run.mapper, cm)

        (run.candidate_mapping, run.coverage), _ = cached(
            "candidates", (keys["mapping"], keys["discovery"], result.assignments, result.codes), candidates,
            step="map: candidate codes")
        files["mapping/candidates"] = _csv(out / "mapping" / "candidate_mapping.csv", run.candidate_mapping)
        files["mapping/coverage"] = _csv(out / "mapping" / "codebook_coverage.csv", run.coverage)
        steps.timings["Mapping utterances and candidate codes to the codebook"] += time.perf_counter() - t0

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

        def exports():
            fm = framework_matrix(coded_for_matrix, corpus, cb)
            xlsx = export_framework_excel(out / "framework.xlsx", fm)
            qdpx = export_qdpx(out / "project.qdpx", corpus, cb, segments=human or None,
                               suggestions=suggestions, project_name="themekit run")
            return fm, xlsx.read_bytes(), qdpx.read_bytes()

        # by what they show: the corpus, the codebook (or the draft: discovery), the human coding
        # and review decisions, the suggestions (mapping)
        (run.framework, xlsx, qdpx), how = cached(
            "exports", (corpus_key, keys.get("discovery"), keys.get("mapping"), _codebook_key(run.codebook),
                        _segments_key(run.segments), _file_bytes(review), run.framework_source),
            exports, step="exports")
        for name, key, data in (("framework.xlsx", "framework", xlsx), ("project.qdpx", "refi", qdpx)):
            files[key] = out / name
            if how == "cache":
                atomic_write(out / name, lambda tmp, d=data: tmp.write_bytes(d))

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
        if client is not None:     # only then: a run without Dask keeps its manifest as it was
            from .scale import describe

            settings["engine"] = describe(client)
        inputs_fp = [p for p in paths] + [x for x in (codebook, coded, metadata, review) if x is not None]
        run.timings = dict(steps.timings)
        manifest = build_manifest(command="themekit run", settings=settings, random_state=random_state,
                                  inputs=inputs_fp, model_id=getattr(embedder, "model_id", None),
                                  outputs=[str(p) for p in files.values()], timings=run.timings)
        if report:
            from .report import study_report
            from .report.study import report_points

            points, _ = cached(
                "layout", (units_key, "map_points(exact knn)", random_state),
                lambda: report_points(run, manifest), step="report layout")
            sections = _report_sections(results, keys, corpus_key, units_key, run, review)
            manifest["steps"] = dict(results.stats)   # before the report: it shows them
            files["report"] = study_report(run, out / "report.html", manifest, points=points, sections=sections)
        manifest["steps"] = dict(results.stats)
        manifest["outputs"] = sorted(str(p) for p in files.values())
        files["manifest"] = write_manifest(out / "manifest.json", manifest)
        run.manifest = manifest
    run.timings = dict(steps.timings)
    return run


# -- discovery alongside the mapping and the audit -------------------------------------------------
#: set to False to run discovery in this process, before the mapping (the results are the same)
DISCOVER_ALONGSIDE = True


def _cores() -> int:
    """The cores this process may use, counted as joblib counts them for discovery's runs."""
    from joblib import cpu_count

    return cpu_count()


def _alongside(n_units: int, engine, codebook, coded) -> bool:
    """Whether discovery runs in a second process while this one maps and audits: it reads
    only the utterances and their vectors, and nothing after it reads it until the candidate
    codes are compared with the codebook. Not on one core, not with a Dask engine (its workers
    already share the work), not when discovery spreads its own runs over the cores (large
    corpora), and not when there is nothing to run beside it."""
    from .discover.cluster import _PARALLEL_MIN

    return (DISCOVER_ALONGSIDE and engine is None and (codebook is not None or coded is not None)
            and n_units < _PARALLEL_MIN and _cores() >= 2)


def _start_discovery(units, emb, random_state: int):
    """Submit discovery to a second process: (executor, future, when submitted), or None when
    none can start. loky's executor (joblib's): a fresh interpreter, so nothing of this
    process's threads is inherited. Its own executor, not joblib's shared one, which
    discovery's parallel runs use."""
    executor = None
    try:
        from joblib.externals.loky import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=1)
        level = logging.getLogger("themekit").getEffectiveLevel()
        submitted = time.time()
        future = executor.submit(_discover_quietly, units, emb, random_state, level, submitted)
    except Exception as e:   # pragma: no cover - no process could be started
        log.debug("discovery alongside: cannot start a process (%s); it runs here", e)
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)
        return None
    _ALONGSIDE.setdefault(threading.get_ident(), []).append(executor)
    return executor, future, submitted


#: executors of discoveries running alongside, by the thread whose run started them
_ALONGSIDE: dict[int, list] = {}


def _stop_alongside() -> None:
    """Stop this thread's discoveries still running alongside (its run failed or was interrupted)."""
    for executor in _ALONGSIDE.pop(threading.get_ident(), []):
        try:
            executor.shutdown(wait=False, kill_workers=True)
        except Exception:   # pragma: no cover - already gone
            pass


def _discover_quietly(units, emb, random_state: int, level: int, submitted: float):
    """Discovery in the second process: (result, its log lines, its warnings, seconds since it
    was submitted: the process's start-up included)."""
    import warnings

    from .discover import discover

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__()
            self.lines: list = []

        def emit(self, record):
            self.lines.append((record.levelno, record.getMessage()))

    keep = Keep()
    logger = logging.getLogger("themekit")
    logger.setLevel(level)
    logger.addHandler(keep)
    logger.propagate = False     # the lines are repeated by the main process, not printed here
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            result = discover(units, embeddings=emb, random_state=random_state, progress=False)
        said = [(str(w.message), w.category) for w in caught]
        return result, keep.lines, said, time.time() - submitted
    finally:
        logger.removeHandler(keep)
        logger.propagate = True


def _finish_discovery(pending, units, emb, random_state: int, results, key):
    """(result, seconds) of the discovery started by :func:`_start_discovery` (its log lines
    and warnings repeated here, the result cached); run here if the second process was lost.
    The seconds run from submitting it to its end (its process's start-up included), while this
    process mapped and audited."""
    import warnings
    from concurrent.futures import BrokenExecutor

    from .discover import discover

    executor, future, submitted = pending
    where = "alongside the mapping and the audit"
    try:
        result, lines, said, seconds = future.result()
    except BrokenExecutor as e:   # the process died (e.g. out of memory); an error in discovery is raised
        log.warning("discovery's second process stopped (%s); discovering here instead", e)
        t0 = time.perf_counter()
        result, lines, said = discover(units, embeddings=emb, random_state=random_state, progress=False), [], []
        seconds, where = time.perf_counter() - t0, "here, after its second process stopped"
    except BaseException:         # interrupted, or discovery failed: do not leave the process running
        executor.shutdown(wait=False, kill_workers=True)
        raise
    finally:
        mine = _ALONGSIDE.get(threading.get_ident(), [])
        if executor in mine:
            mine.remove(executor)
    executor.shutdown(wait=False)
    for level, message in lines:
        log.log(level, "%s", message)
    for message, category in said:
        warnings.warn(message, category, stacklevel=2)
    if results.enabled:
        results.put("discovery", key, result)
    results.stats["discover"] = f"computed ({where})" if results.enabled else "computed (cache off)"
    return result, seconds


def _save_discovery(result, out: Path, files: dict) -> None:
    for name, p in result.save(out / "discovery").items():
        files[f"discovery/{name}"] = p
    log.info("    %d candidate codes in %d themes; %.0f%% of utterances left as outliers",
             len(result.codes), len(result.themes), 100 * result.outlier_share())


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


# -- result caching (see the module docstring) -------------------------------------------------
def _result_cache(cache):
    from .common.results import ResultCache

    if isinstance(cache, ResultCache):
        return cache
    if cache is False or cache is None:
        return ResultCache(enabled=False)
    return ResultCache(None if cache is True else cache)


def _embedded(units, embedder, progress: bool, mapper=None):
    """The units' embeddings (the embedding cache decides per text), and whether any text was
    embedded: "cache" or "computed (N of M texts new)"."""
    from .embed import embed_utterances
    from .embed.embedding import _resolve_cache

    store = _resolve_cache(True, embedder)
    misses = store.stats["misses"] if store is not None else 0
    emb = embed_utterances(units, embedder, progress=progress, mapper=mapper)
    if store is None:
        return emb, "computed (not cacheable)"
    misses = store.stats["misses"] - misses
    return emb, "cache" if misses == 0 else f"computed ({misses} of {len(units)} texts new)"


def _report_sections(results, keys: dict, corpus_key: str, units_key: str, run: StudyRun, review):
    """The report's sections read from the cache (store ``report``) when the steps each shows
    are unchanged: keyed by those steps' keys (each already holds what its step depends on), so
    after a codebook edit only the sections showing mapping or the audit are built again."""
    if not results.enabled:
        return None
    review_bytes = _file_bytes(review)
    mapping = (keys.get("mapping"), keys.get("discovery"), units_key)
    depends = {"discovery": (keys.get("discovery"), keys.get("layout")),
               "mapping": (*mapping, keys.get("layout")),
               "trust": mapping,
               "review": mapping,
               # the matrix charts human coding (and review decisions), else suggestions, else candidates
               "framework": (*mapping, corpus_key, _codebook_key(run.codebook), _segments_key(run.segments),
                             review_bytes, run.framework_source),
               "audit": (keys.get("audit"),)}

    def section(name: str, build):
        value, _ = results.get_or_compute("report", (name, *depends[name]), build, step=f"report: {name}")
        return value

    return section


def _file_bytes(path) -> bytes | None:
    return Path(path).read_bytes() if path is not None else None


def _saved_bytes(result) -> dict[str, bytes]:
    """``result.save(folder)``'s files as {name: bytes} (saved to a temporary folder)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="themekit-") as d:
        return {name: Path(p).read_bytes() for name, p in result.save(Path(d)).items()}


def _read_key(paths, metadata, reader, segmenter, exclude=()) -> tuple:
    """What reading depends on: the files read (absolute path and bytes; in a study folder the
    transcripts and metadata.csv, not the codebook), the metadata, and the reading and
    segmenting settings."""
    from .io import ReaderOptions, Segmenter
    from .io.load import _transcript_files

    files = []
    for p in map(Path, paths):
        try:
            found, meta = _transcript_files(p, exclude)
        except Exception:           # let reading itself report bad input
            found, meta = [p], None
        files.extend((str(f.resolve()), f.read_bytes() if f.is_file() else None) for f in [*found, meta] if f)
    if isinstance(metadata, (str, os.PathLike)):
        metadata = (str(Path(metadata).resolve()), Path(metadata).read_bytes() if Path(metadata).is_file() else None)
    return (files, metadata, reader if reader is not None else ReaderOptions(),
            segmenter if segmenter is not None else Segmenter())


def _corpus_key(corpus) -> tuple:
    """What every step's key starts from: the corpus by value (transcripts, utterances with
    offsets, speakers and roles, metadata, reading settings)."""
    return (list(corpus.transcripts.values()), corpus.utterances, corpus.metadata, corpus.settings)


def _codebook_key(cb) -> tuple | None:
    return None if cb is None else (cb.name, cb.version, list(cb.codes))


def _segments_key(segments) -> list | None:
    return None if segments is None else list(segments)    # in file order: it can matter


def _mapper_key(mapper):
    """The audit's model coder: the pipeline's mapper by its settings (the audit refits it
    cross-fitted), or None (no model coder)."""
    if mapper is None:
        return None
    return (type(mapper).__name__, {k: getattr(mapper, k) for k in type(mapper).__init__.__kwdefaults__},
            bool(getattr(mapper, "seeds_", None)), hasattr(mapper, "scores_"))


_HEAVY = ("embedder_", "_corpus", "_precomputed")   # a model, and what the run already holds


def _detached(mapper):
    """A shallow copy of a fitted mapper without its embedder, corpus and precomputed vectors:
    what the cache stores (the run re-attaches its own, the same by the key)."""
    import copy

    if getattr(mapper, "fine_tuned_", False):   # its embedder is not the run's: keep it
        return mapper
    m = copy.copy(mapper)
    for a in _HEAVY:
        if a in m.__dict__:
            m.__dict__[a] = None
    return m


def _attached(mapper, embedder, corpus, emb):
    if getattr(mapper, "fine_tuned_", False):
        return mapper
    if "embedder_" in mapper.__dict__:
        mapper.embedder_ = embedder
    if "_corpus" in mapper.__dict__:
        mapper._corpus = corpus if mapper.context_ else None
    if "_precomputed" in mapper.__dict__:
        mapper._precomputed = emb
    return mapper


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
