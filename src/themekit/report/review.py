"""The review view of the report: act on suggestions in the browser, offline, from a file.

One suggestion at a time (or a list): the utterance in its context, the suggested code with
its score, the codebook's evidence and the nearest human-coded example of that code; accept
(``a``), reject (``r``), recode to code *n* (``1``-``9``, ``0``) or to any code (``c``). Candidate
codes from discovery can be renamed, merged, and accepted into the codebook with a definition.
Decisions are kept in the browser's localStorage under a key of the study (transcripts and
codebook), so they survive a reload, and leave it as ``decisions.csv`` (read back with
``themekit map/run --review``, see :mod:`themekit.codebook.decisions`) and the edited codebook
as YAML (``--codebook``).

The page needs no server and no network: the data are one JSON blob in a
``<script type="application/json">``, the code is plain JavaScript (``review.js``) inlined.
:func:`review_order` decides what comes first: the suggestions most likely right (a
calibrated score or a review queue when the mapper provides one, else the score), so a
reviewer confirms quickly and the corrections that remain are the informative ones.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..common.output import Section

__all__ = ["review_order", "review_data", "review_html", "review_section", "study_key"]

#: columns of a suggestions table the view reads (``score``, or ``calibrated`` when present)
_NEEDED = ("utterance_id", "code", "score")


def review_order(suggestions: pd.DataFrame, queue: pd.DataFrame | None = None) -> pd.DataFrame:
    """The suggestions to review, most likely right first.

    Rows whose code is suggested (``suggested``, when the column is there) for utterances
    without human coding (``seeded``). Order: ``queue`` (a review-queue table with
    ``utterance_id`` and ``code``, e.g. ``mapping/review_queue.csv``) when given — its order is
    kept, rows not in it follow —, else the ``calibrated`` score when the table has one, else
    ``score``; ties by utterance id and rank. The column ``shown_score`` is the score shown.
    """
    missing = [c for c in _NEEDED if c not in suggestions.columns]
    if missing:
        raise ValueError(f"the suggestions table needs the column(s) {', '.join(missing)}")
    df = suggestions
    if "suggested" in df.columns:
        df = df[df["suggested"].astype(bool)]
    if "seeded" in df.columns:
        df = df[~df["seeded"].astype(bool)]
    score = "calibrated" if "calibrated" in df.columns else "score"
    df = df.assign(shown_score=df[score].astype(float))
    if queue is not None:
        if not {"utterance_id", "code"} <= set(queue.columns):
            raise ValueError("a review queue needs utterance_id and code columns")
        pos = {k: i for i, k in enumerate(zip(queue["utterance_id"].astype(str), queue["code"].astype(str)))}
        df = df.assign(_q=[pos.get(k, len(pos)) for k in zip(df["utterance_id"].astype(str), df["code"])])
        keys, asc = ["_q", "shown_score", "utterance_id"], [True, False, True]
    else:
        keys, asc = ["shown_score", "utterance_id"], [False, True]
    if "rank" in df.columns:
        keys, asc = keys + ["rank"], asc + [True]
    out = df.sort_values(keys, ascending=asc, kind="stable").reset_index(drop=True)
    return out.drop(columns=["_q"], errors="ignore")


def study_key(corpus) -> str:
    """A short key of the study (its transcript ids and texts): where the browser keeps this
    study's decisions, so two studies never share them, while reports of later runs on the same
    transcripts (another codebook version, a run with ``--review``) find them again."""
    h = hashlib.sha256()
    for tid, t in sorted(corpus.transcripts.items()):
        h.update(tid.encode("utf-8") + b"\0" + t.text.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def _nearest_examples(items: pd.DataFrame, seeds: Mapping[str, Sequence[str]], embeddings) -> list[str | None]:
    """Per suggestion row: the human-coded utterance of the same code most similar to it
    (cosine of the embeddings), or None when the code has no coded example."""
    out: list[str | None] = [None] * len(items)
    if embeddings is None or not seeds or not len(items):
        return out
    have = set(embeddings.ids)
    by_code: dict[str, list[str]] = {}
    for uid, codes in seeds.items():
        if uid in have:
            for c in codes:
                by_code.setdefault(c, []).append(uid)

    def unit(ids):
        v = np.asarray(embeddings.subset(ids).vectors, dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    pos = np.arange(len(items))
    for code, rows in items.groupby("code", sort=False).indices.items():
        ex = by_code.get(code)
        rows = pos[rows]
        ids = [items["utterance_id"].iat[i] for i in rows]
        ok = [i for i, u in zip(rows, ids) if u in have]
        if not ex or not ok:
            continue
        sim = unit([items["utterance_id"].iat[i] for i in ok]) @ unit(sorted(ex)).T
        best = sim.argmax(axis=1)
        ex = sorted(ex)
        for i, b in zip(ok, best):
            out[i] = ex[b]
    return out


def _codebook_nodes(codebook) -> list[dict]:
    """Every code of the codebook (parents before children), for the exported YAML."""
    nodes, seen = [], set()

    def visit(c):
        if c.name in seen:
            return
        seen.add(c.name)
        nodes.append({"name": c.name, "parent": c.parent, "definition": c.definition, "include": c.include,
                      "exclude": c.exclude, "examples": list(c.examples), "codable": bool(c.is_codable)})
        for k in codebook.children(c.name):
            visit(k)

    for r in codebook.roots():
        visit(r)
    return nodes


def _candidates(discovery, candidate_mapping: pd.DataFrame | None) -> list[dict]:
    if discovery is None:
        return []
    codes = discovery.codes
    best = {}
    if candidate_mapping is not None and len(candidate_mapping):
        top = candidate_mapping[candidate_mapping["rank"] == 1]
        best = {r.candidate: (r.code, r.status) for r in top.itertuples()}
    out = []
    for r in codes.itertuples():
        try:
            ex = discovery.code(r.id).exemplars()
            quotes = [f"{q.text}" for q in ex.head(3).itertuples()]
            where = [f"{q.transcript_id} {q.start}-{q.end}" for q in ex.head(3).itertuples()]
        except (KeyError, AttributeError, ValueError):
            quotes, where = [], []
        code, status = best.get(r.id, ("", ""))
        out.append({"id": str(r.id), "label": str(r.label), "size": int(getattr(r, "size", 0)),
                    "participants": int(getattr(r, "n_participants", 0)),
                    "terms": str(getattr(r, "key_terms", "") or ""), "quotes": quotes, "where": where,
                    "theme": str(getattr(r, "theme_label", "") or ""), "best": str(code or ""),
                    "status": str(status or "")})
    return out


def review_data(suggestions: pd.DataFrame, corpus, codebook, *, seeds: Mapping[str, Sequence[str]] | None = None,
                embeddings=None, discovery=None, candidate_mapping: pd.DataFrame | None = None,
                queue: pd.DataFrame | None = None, context: int = 2, title: str = "") -> dict[str, Any]:
    """The review view's data (one JSON object): the queue in :func:`review_order`, each item
    with ``context`` utterances before and after, the nearest human-coded example of its code
    (``seeds``: utterance id -> codes, with ``embeddings`` to find it), the codebook, and the
    candidate codes of ``discovery`` with their best codebook code (``candidate_mapping``).

    ``items`` rows: ``[utterance, code, score shown, rank, evidence, nearest example or -1,
    context before, context after, other suggested codes, margin or None]`` (the margin between
    the utterance's two most probable codes, for the view's "least certain first" order) — utterances and codes as indexes
    into ``utterances`` (``[id, transcript_id, speaker, role, start, end, text]``) and ``codes``.
    """
    q = review_order(suggestions, queue)
    codes = [c.name for c in codebook.codable()]
    code_ix = {c: i for i, c in enumerate(codes)}
    q = q[q["code"].isin(code_ix)]
    units = list(corpus.utterances)
    where = {u.id: i for i, u in enumerate(units)}
    q = q[q["utterance_id"].isin(where)].reset_index(drop=True)
    near = _nearest_examples(q, seeds or {}, embeddings)
    others: dict[str, list[tuple[str, float]]] = {}
    for uid, code, sc in zip(q["utterance_id"], q["code"], q["shown_score"]):
        others.setdefault(uid, []).append((code, float(sc)))
    used: dict[int, int] = {}

    def ref(i: int) -> int:
        if i not in used:
            used[i] = len(used)
        return used[i]

    items = []
    evidence = q["evidence"] if "evidence" in q.columns else [""] * len(q)
    ranks = q["rank"] if "rank" in q.columns else [1] * len(q)
    margins = q["margin"] if "margin" in q.columns else [None] * len(q)
    for k, (uid, code, sc, rk, ev, mg) in enumerate(zip(q["utterance_id"], q["code"], q["shown_score"], ranks,
                                                         evidence, margins)):
        i = where[uid]
        tid = units[i].transcript_id
        before = [ref(j) for j in range(max(0, i - context), i) if units[j].transcript_id == tid]
        after = [ref(j) for j in range(i + 1, min(len(units), i + 1 + context)) if units[j].transcript_id == tid]
        n = near[k]
        alt = "|".join(f"{c}:{s:.3f}" for c, s in others[uid] if c != code)
        items.append([ref(i), code_ix[code], round(float(sc), 3), int(rk), str(ev or ""),
                      ref(where[n]) if n in where else -1, before, after, alt,
                      None if mg is None or mg != mg else round(float(mg), 4)])
    utt = [None] * len(used)
    for i, r in used.items():
        u = units[i]
        utt[r] = [u.id, u.transcript_id, u.speaker if isinstance(u.speaker, str) else "", u.role, u.start, u.end,
                  u.text]
    return {"key": f"themekit-review:{study_key(corpus)}", "title": title,
            "score": "calibrated" if "calibrated" in suggestions.columns else "score",
            "codes": codes, "codebook": _codebook_nodes(codebook), "utterances": utt, "items": items,
            "candidates": _candidates(discovery, candidate_mapping),
            "transcripts": sorted({u[1] for u in utt if u is not None})}


def _asset(name: str) -> str:
    return resources.files("themekit.report").joinpath(name).read_text(encoding="utf-8")


def review_html(data: Mapping[str, Any]) -> str:
    """The review view as one HTML block: its styles, the data as one JSON blob, the script."""
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # inside <script> only "</" can end the element early and "<!--" open a comment state; both
    # are rewritten with JSON escapes, so the text parses back the same
    blob = blob.replace("</", "<\\/").replace("<!--", "\\u003c!--")
    return (f"<style>{_asset('review.css')}</style>"
            "<div id='tk-review' class='tk-review' tabindex='-1'><p class='note'>The review view needs "
            "JavaScript.</p></div>"
            f"<script type='application/json' id='tk-review-data'>{blob}</script>"
            f"<script>{_asset('review.js')}</script>")


def review_section(run, queue: pd.DataFrame | None = None) -> Section:
    """The report's review section for a :class:`~themekit.pipeline.StudyRun` with a mapper."""
    m = run.mapper
    data = review_data(m.suggestions(), run.corpus, run.codebook, seeds=getattr(m, "seeds_", None),
                       embeddings=run.embeddings, discovery=run.discovery, candidate_mapping=run.candidate_mapping,
                       queue=queue, title="themekit review")
    n = len(data["items"])
    intro = (f"{n} suggestions to review, the most likely right first (or the least certain first: "
             "<b>Order</b>; utterances with human coding are not asked again). Keys: <b>a</b> accept, <b>r</b> reject, "
             "<b>1</b>–<b>9</b>, <b>0</b> recode to that code, <b>c</b> choose any code, <b>j</b>/<b>k</b> next/previous, "
             "<b>u</b> undo, <b>l</b> list. Decisions stay in this browser (they survive a reload); "
             "<b>Export decisions</b> writes <code>decisions.csv</code> for "
             "<code>themekit run … --review decisions.csv</code>; <b>Export codebook</b> writes the codebook "
             "with your edits to candidate codes (pass it with <code>--codebook</code>).")
    return Section("Review", intro, [review_html(data)])

