"""The HTML report of a :class:`themekit.pipeline.StudyRun`: figures and tables for review."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from . import plots
from ..common.output import Section, figure_html, table_html, write_report

__all__ = ["study_report", "map_points", "report_points", "MAP_MAX_POINTS"]

#: the utterance maps show at most this many points (a sample stratified by transcript above it)
MAP_MAX_POINTS = 10_000


def map_points(utterances, vectors: np.ndarray, random_state: int = 0) -> pd.DataFrame:
    """2-D UMAP layout (cosine) of utterance embeddings, one row per utterance with its quote."""
    n = len(utterances)
    if n >= 10:
        from ..common.compiled import precomputed_neighbours_quietly, umap_module
        from ..discover.neighbours import cosine_knn
        from ..embed import normalize_rows

        x = normalize_rows(vectors)
        k = min(15, n - 1)
        # neighbours computed here (a few matrix products) rather than by UMAP, whose cosine
        # distance matrix below 4,096 points runs a Python callable per pair (10-20 s on 3,000)
        idx, dist = cosine_knn(x, k, np.random.RandomState(random_state))
        with precomputed_neighbours_quietly("report map"):
            xy = umap_module().UMAP(n_components=2, metric="cosine", n_neighbors=k, min_dist=0.1,
                                    random_state=random_state, n_jobs=1,
                                    precomputed_knn=(idx, dist, None)).fit_transform(x)
    else:  # too few points for a neighbour graph: the first two principal axes
        centred = vectors - vectors.mean(0)
        xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T if n > 1 else np.zeros((n, 2))
    return pd.DataFrame({"utterance_id": [u.id for u in utterances], "x": xy[:, 0], "y": xy[:, 1],
                         "text": [u.text for u in utterances], "speaker": [u.speaker for u in utterances],
                         "transcript_id": [u.transcript_id for u in utterances],
                         "start": [u.start for u in utterances], "end": [u.end for u in utterances]})


def _overview(run) -> Section:
    c = run.corpus
    df = c.to_pandas(with_metadata=False)
    per = df.groupby("transcript_id", sort=False).agg(
        utterances=("id", "size"), participant=("role", lambda r: int((r == "participant").sum())),
        interviewer=("role", lambda r: int((r == "interviewer").sum())),
        backchannels=("backchannel", "sum")).reset_index()
    per.insert(1, "format", [c.transcripts[t].format for t in per["transcript_id"]])
    if len(c.metadata.columns):
        per = per.merge(c.metadata.reset_index(), on="transcript_id", how="left")
    t = run.timings
    intro = (f"{len(c.transcripts)} transcripts, {len(c)} utterances, "
             f"{len(run.embeddings)} participant utterances analysed with model "
             f"<code>{html.escape(str(run.embeddings.model_id))}</code>. "
             "Step times: " + ", ".join(f"{html.escape(k.lower())} {v:.1f} s" for k, v in t.items()) + ".")
    return Section("Study", intro, [table_html(per, caption="Transcripts"), *_roles_blocks(run)])


def _roles_blocks(run) -> list[str]:
    """Who was read as speaking, with the evidence (roles.csv); labels to check first."""
    from ..io import corpus_roles
    from ..io.roles import needs_attention

    table = corpus_roles(run.corpus)
    if table.empty:
        return []
    check = needs_attention(table)
    note = (f"<p>{len(check)} label/role row(s) to check: uncertain, or a label whose role differs "
            "between transcripts (they come first below). Set roles with <code>--roles FILE</code> "
            "(label,role[,transcript_id]).</p>" if len(check) else
            "<p>Every speaker label's role was clear.</p>")
    order = pd.concat([check, table.drop(check.index)])
    return [note, table_html(order, max_rows=60,
                             caption="Speaker roles (roles.csv)")]


def _discovery(run, points: pd.DataFrame) -> Section:
    res = run.discovery
    codes = res.codes.copy()
    exemplars = {}
    for cid in codes["id"]:
        ex = res.code(cid).exemplars()
        if len(ex):
            r = ex.iloc[0]
            exemplars[cid] = f"“{r.text}” ({r.speaker or r.transcript_id}, {r.transcript_id} {r.start}–{r.end})"
    codes["exemplar"] = codes["id"].map(exemplars).fillna("")
    a = res.assignments.set_index("utterance_id")
    pts = points.copy()
    pts["code"] = pts["utterance_id"].map(a["code"]).astype(str)
    label = dict(zip(codes["id"], codes["label"]))
    pts["label"] = pts["code"].map(label).fillna("outlier")
    pts.loc[~pts["code"].isin(label), "code"] = "outlier"
    n_part = int(codes["n_participants"].max()) if len(codes) else 0
    blocks = [
        figure_html(plots.code_overview(codes, n_participants_total=getattr(res, "n_participants", None) or n_part)),
        figure_html(plots.utterance_map(pts, color_by="code", title="Participant utterances by candidate code")),
        figure_html(plots.theme_tree(codes)),
        table_html(codes[["id", "label", "theme_label", "size", "n_participants", "n_transcripts",
                          "stability", "key_terms", "exemplar"]], caption="Candidate codes"),
        f"<pre>{html.escape(res.tree())}</pre>",
    ]
    intro = (f"{len(codes)} candidate codes in {len(res.themes)} themes; "
             f"{100 * res.outlier_share():.0f}% of utterances are outliers (no code fits well). "
             "Stability is the share of repeated clusterings that keep a code's utterances together: "
             "below 0.7 a code may be an artefact. Spread is how many participants voice a code. "
             "This is a draft to edit, not a verdict: the draft codebook is in discovery/codebook.yaml.")
    fit = getattr(res, "fit_mask", None)
    if fit is not None:
        intro += (f" The codes were fitted on a sample of {int(fit.sum()):,} of {len(fit):,} utterances "
                  "(stratified by transcript); every other utterance joined the code with the nearest "
                  "centroid if it was at least as similar as the outlier threshold, else it is an outlier "
                  "(discovery/assignments.csv: column in_fit, assignment 'assigned').")
    if len(points) < len(res.utterances):
        intro += (f" The map shows a sample of {len(points):,} of {len(res.utterances):,} utterances "
                  "(stratified by transcript).")
    return Section("Candidate codes", intro, blocks)


def _mapping(run, points: pd.DataFrame) -> Section:
    m = run.mapper
    sugg = m.suggestions()
    top = sugg[sugg["rank"] == 1].set_index("utterance_id")
    pts = points.copy()
    abst = top["abstained"] if "abstained" in top else pd.Series(False, index=top.index)
    pts["code"] = [("no code" if abst.get(u, True) else top["code"].get(u, "no code")) for u in pts["utterance_id"]]
    pts["label"] = pts["code"]
    blocks = [figure_html(plots.utterance_map(pts, color_by="code", outlier_values=("no code",),
                                              title="Participant utterances by suggested codebook code"))]
    cm = run.candidate_mapping
    if cm is not None and len(cm):
        matrix = cm.attrs.get("matrix")
        status = cm.drop_duplicates("candidate").set_index("candidate")["status"]
        if matrix is not None:
            labels = dict(zip(run.discovery.codes["id"], run.discovery.codes["label"]))
            mat = matrix.copy()
            mat.index = [f"{i} {labels.get(i, '')}" for i in mat.index]
            status.index = [f"{i} {labels.get(i, '')}" for i in status.index]
            blocks.append(figure_html(plots.similarity_heatmap(
                mat, status, value_name="z-score",
                title="Candidate codes × codebook codes (how much more like the code than a typical utterance)")))
        best = cm[cm["rank"] == 1][["candidate", "label", "code", "score", "status", "n_members"]]
        blocks.append(table_html(best, caption="Best codebook code for each candidate code"))
    if run.coverage is not None:
        blocks.append(table_html(run.coverage, caption="Codebook coverage (codes with no support are findings too)"))
    review = sugg[sugg["rank"] == 1].sort_values("margin" if "margin" in sugg else "score")
    cols = [c for c in ("utterance_id", "speaker", "transcript_id", "start", "end", "text", "code", "score",
                        "margin", "abstained") if c in review.columns]
    blocks.append(table_html(review[cols], max_rows=60, caption="Suggestions to review first (least certain)"))
    intro = ("Each utterance is scored against every codebook code (name, definition, inclusion and "
             "exclusion criteria, examples; coded segments as training data when given). Status: "
             "<b>matched</b> (one code fits), <b>ambiguous</b> (two fit), <b>emergent</b> (none fits: a "
             "candidate new code).")
    return Section("Codebook mapping", intro, blocks)


def _trust(run) -> Section:
    """How far to trust the suggestions: learned weights, calibration, the review queue."""
    m = run.mapper
    d = m.decisions()
    esc = html.escape
    w = ", ".join(f"{esc(k)} {v:.1f}" for k, v in d["weights"].items() if v > 0)
    parts = []
    if d.get("weak_codebook"):
        parts.append(f"<p><b>{esc(d['weak_codebook'])}</b></p>")
    if d.get("learned"):
        parts.append(f"<p>Weights of the sources (learned from the {d['n_seeds']} coded utterances by "
                     f"{d['n_folds']}-fold cross-fitting): {w}. Cross-fitted κ on the coded utterances "
                     f"{d['cross_fitted_kappa']:.3f}, with the zero-shot weights {d['cross_fitted_kappa_zero_shot_weights']:.3f}.</p>")
    else:
        parts.append(f"<p>Weights of the sources: {w} ({esc(d['reason'])}).</p>")
    parts.append(f"<p>Scores are {esc(d['scores'])}.</p>")
    blocks = ["".join(parts)]
    cf = m.crossfit_
    if cf is not None and len(cf.reliability):
        blocks.append(figure_html(plots.reliability_plot(
            cf.reliability, title="Top suggestion on the coded utterances (cross-fitted): score vs share right")))
    queue = m.review_queue()
    if len(queue):
        if m.calibrated_:
            from ..mapping import queue_precision

            blocks.append(table_html(queue_precision(queue), caption="Review queue: expected share right "
                                     "among the first N suggestions (from the calibration)"))
        cols = ["queue", "utterance_id", "speaker", "transcript_id", "start", "end", "text", "code", "score",
                "expected_right"]
        blocks.append(table_html(queue[cols], max_rows=50, caption="Review queue (mapping/review_queue.csv): "
                                 "most likely right first"))
    else:
        blocks.append("<p>Review queue: nothing left to review (every utterance is coded or no code is "
                      "suggested).</p>")
    intro = ("How far to trust the suggestions: how much the codebook and the coded utterances count, "
             "whether a score is a probability, and the order to review suggestions in so that the first "
             "ones reviewed are the most likely right.")
    return Section("Trusting the suggestions", intro, blocks)


def _review(run) -> Section:
    """Act on the suggestions: the review view (see :mod:`themekit.report.review`)."""
    from .review import review_section

    queue = run.mapper.review_queue() if getattr(run, "mapper", None) is not None else None
    return review_section(run, queue=queue)


def _framework(run) -> Section | None:
    fm = run.framework
    if fm is None:
        return None
    counts = fm.summary()
    best = pd.DataFrame("", index=counts.index, columns=counts.columns)
    for theme, table in fm.tables.items():
        for row, cells in zip(counts.index, table.itertuples(index=False)):
            quotes = [q for cell in cells for q in cell]
            if quotes:
                best.loc[row, theme] = str(max(quotes, key=lambda q: len(q.text)))
    return Section("Framework matrix", f"Participants × themes from {html.escape(run.framework_source)}: "
                   "how many coded extracts each participant contributes to each theme (hover for a "
                   "quote). The full matrix, one sheet per theme with every quote and its position, is "
                   "framework.xlsx.", [figure_html(plots.framework_heatmap(counts, best))])


def _audit(run) -> Section | None:
    a = run.audit
    if a is None:
        return None
    blocks = []
    figs = a.figures() if hasattr(a, "figures") else []
    blocks.extend(figure_html(f) for f in figs)
    for name, caption in (("agreement", "Intercoder agreement per code (κ, α with 95% bootstrap CIs)"),
                          ("drift", "Drift per code and window"),
                          ("miscodings", "Suspected mis-codings (most suspicious first)"),
                          ("model_agreement", "Human vs model agreement per interview")):
        df = getattr(a, name, None)
        if isinstance(df, pd.DataFrame) and len(df):
            if name == "drift" and "flagged" in df:
                df = df.sort_values("flagged", ascending=False)
            blocks.append(table_html(df, max_rows=40, caption=caption))
    summary = a.summary() if hasattr(a, "summary") else ""
    intro = ("Agreement between coders, drift across interviews, and segments whose code fits worse "
             "than another." + (f"<pre>{html.escape(summary)}</pre>" if summary else ""))
    return Section("Coding audit", intro, blocks)


def report_points(run, manifest: dict | None = None) -> pd.DataFrame:
    """The report map's 2-D layout: every analysed unit, or above ``MAP_MAX_POINTS`` a sample
    stratified by transcript (a readable map and a report that opens)."""
    vectors = run.embeddings.vectors
    units = [run.corpus[i] for i in run.embeddings.ids]
    # the pipeline passes the manifest before it sets run.manifest: read the seed from it first
    seed = (manifest or run.manifest or {}).get("random_state", 0)
    if len(units) > MAP_MAX_POINTS:
        from ..discover.sample import stratified_sample

        keep = stratified_sample([u.transcript_id for u in units], MAP_MAX_POINTS, seed)
        units, vectors = [units[i] for i in keep], vectors[keep]
    return map_points(units, vectors, random_state=seed)


def study_report(run, path: str | Path, manifest: dict | None = None, points: pd.DataFrame | None = None,
                 sections=None) -> Path:
    """Write the study's HTML report (one self-contained file). ``points``: the 2-D layout
    (:func:`map_points`) when already made (the pipeline caches it). ``sections``: a callable
    ``sections(name, build)`` returning the section ``build()`` makes, e.g. read from a cache
    (the pipeline keys each section by the steps it shows: "discovery", "mapping", "trust",
    "review", "framework", "audit"); the overview, with this run's step times, is always built."""
    def part(name, build):
        return build() if sections is None else sections(name, build)

    if points is None:
        points = report_points(run, manifest)
    out = [_overview(run), part("discovery", lambda: _discovery(run, points))]
    if run.mapper is not None:
        out.append(part("mapping", lambda: _mapping(run, points)))
        out.append(part("trust", lambda: _trust(run)))
        out.append(part("review", lambda: _review(run)))
    for name, build in (("framework", lambda: _framework(run)), ("audit", lambda: _audit(run))):
        extra = part(name, build)
        if extra is not None:
            out.append(extra)
    sections = out
    return write_report(path, "themekit report", sections, manifest,
                        subtitle="Candidate codes, codebook mapping and coding audit — every point traces "
                                 "to a verbatim quote.")
