"""Coded segments as audit units: one row per (span, coder) with its set of codes, the span's
embedding, and the order of transcripts (interview date, sequence, coding time).

Shared by :mod:`themekit.audit.drift`, :mod:`themekit.audit.miscoding` and :mod:`themekit.audit`.
Segments are audited on the coder's own boundaries (a segment is what the coder judged), so the
unit here is the coded span, not an utterance; agreement between coders uses utterances instead
(see :func:`themekit.codebook.coding.align_to_utterances`).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..codebook.coding import dotted_datetime
from ..types import Corpus, InputError, strip_directions

__all__ = ["segment_id", "coded_units", "unit_embeddings", "transcript_order", "natural_key",
           "ORDER_SOURCES"]

ORDER_SOURCES = ("auto", "transcript", "coded_at")
_UNIT_COLUMNS = ["unit_id", "segment_id", "transcript_id", "start", "end", "coder", "codes", "text",
                 "order"]


def segment_id(transcript_id: str, start: int, end: int) -> str:
    """Stable id of a coded span: ``"P01:593-925"`` (the same for every coder who coded it)."""
    return f"{transcript_id}:{int(start)}-{int(end)}"


def natural_key(s: Any) -> tuple:
    """Sort key that orders ``P2`` before ``P10``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", str(s)) if p)


def coded_units(segments: Iterable) -> pd.DataFrame:
    """One row per coded span and coder: ``unit_id`` (``segment_id@coder``), ``segment_id``,
    ``transcript_id``, ``start``, ``end``, ``coder``, ``codes`` (sorted tuple: a span coded with
    several codes by the same coder is one unit), ``text``, ``order`` (the earliest ``order``
    value given for it, or None). Rows sorted by transcript (natural order), start, end, coder."""
    groups: dict[tuple, dict] = {}
    for s in segments:
        key = (s.transcript_id, int(s.start), int(s.end), s.coder)
        g = groups.get(key)
        if g is None:
            groups[key] = g = {"codes": set(), "text": s.text, "order": []}
        g["codes"].add(s.code)
        if s.order is not None and not (isinstance(s.order, float) and np.isnan(s.order)):
            g["order"].append(s.order)
        if g["text"] is None and s.text is not None:
            g["text"] = s.text
    rows = []
    for (tid, start, end, coder), g in sorted(groups.items(),
                                                key=lambda kv: (natural_key(kv[0][0]),) + kv[0][1:]):
        sid = segment_id(tid, start, end)
        order = _earliest(g["order"])
        rows.append((f"{sid}@{coder}", sid, tid, start, end, coder, tuple(sorted(g["codes"])),
                     g["text"], order))
    df = pd.DataFrame(rows, columns=_UNIT_COLUMNS)
    return df.astype({"start": "int64", "end": "int64"})


def _earliest(values: list) -> Any:
    if not values:
        return None
    try:
        return min(values)
    except TypeError:  # mixed numbers and text
        return min(values, key=str)


def _unit_text(text: str | None, which: str) -> str:
    text = text or ""
    if which == "text":
        return text
    return strip_directions(text) or text.strip() or text


def unit_embeddings(units: pd.DataFrame, embeddings=None, embedder=None, *, text: str = "content",
                    cache=True) -> np.ndarray:
    """(n_units, d) matrix of unit-length rows, one per unit (copies of a span share a row).

    ``embeddings``: precomputed :class:`~themekit.embed.Embeddings` whose ids are segment ids
    (:func:`segment_id`, e.g. ``"P01:593-925"``); otherwise the spans' texts are embedded with
    ``embedder`` (default: the default model) through the embedding cache. ``text``: "content"
    (the words, without bracketed transcriber notes; the verbatim text when nothing else is
    left) or "text" (verbatim).
    """
    from ..embed import Embeddings, embed_texts, normalize_rows

    if text not in ("content", "text"):
        raise ValueError(f'text must be "content" or "text"; got {text!r}')
    sids = list(dict.fromkeys(units["segment_id"]))
    if embeddings is not None:
        if not isinstance(embeddings, Embeddings):
            raise TypeError("embeddings must be a themekit.embed.Embeddings keyed by segment id "
                            f"(e.g. {sids[0] if sids else 'P01:0-10'!r}); got {type(embeddings).__name__}")
        missing = [s for s in sids if s not in embeddings]
        if missing:
            raise ValueError(f"{len(missing)} coded segments have no embedding (first: {missing[0]!r}); "
                             "embeddings for the audit are keyed by segment id "
                             "'<transcript_id>:<start>-<end>' (themekit.audit.segment_id)")
        vecs = embeddings.subset(sids).vectors
    else:
        first = units.drop_duplicates("segment_id").set_index("segment_id")["text"]
        texts = [_unit_text(first[s], text) for s in sids]
        if any(not t.strip() for t in texts):
            bad = sids[next(i for i, t in enumerate(texts) if not t.strip())]
            raise InputError(None, f"coded segment {bad} has no text; read the coded segments with "
                             "the corpus (read_coded_segments(path, corpus)) so texts are filled in")
        vecs = embed_texts(texts, embedder, cache=cache)
    row = {s: i for i, s in enumerate(sids)}
    return normalize_rows(np.asarray(vecs, dtype=np.float32)[[row[s] for s in units["segment_id"]]])


def _sortable(values: pd.Series, what: str) -> pd.Series:
    """Values as something that sorts meaningfully: dates, else numbers, else natural text."""
    s = values.astype(object)
    text = s.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    if text.map(lambda v: v is not None and re.fullmatch(r"[+-]?\d+(\.\d*)?", v) is not None).all():
        return text.astype(float)
    dotted = text.map(dotted_datetime)
    if dotted.notna().all():
        return pd.to_datetime(dotted)
    try:
        return pd.to_datetime(text, errors="raise", format="mixed")
    except (ValueError, TypeError):
        return text.map(natural_key)


#: metadata column names read as the interview date, compared without case or punctuation
_DATE_COLUMNS = ("interview_date", "date", "date_of_interview", "interview_day")


def _date_column(meta: pd.DataFrame, ids: Sequence[str]) -> str | None:
    """The metadata column holding the interview date (``interview_date``, or 'Date', 'Interview
    date' as researchers name it), when filled for every transcript in ``ids``."""
    named = {re.sub(r"[\W_]+", "_", str(c).strip().lower()).strip("_"): c for c in meta.columns}
    for key in _DATE_COLUMNS:
        col = named.get(key)
        if col is not None:
            values = meta.reindex(ids)[col]
            if values.notna().all() and not (values.astype(str).str.strip() == "").any():
                return col
    return None


def transcript_order(units: pd.DataFrame, order: Any = "auto", corpus: Corpus | None = None
                     ) -> tuple[dict[str, list[str]], str]:
    """The order of each coder's transcripts, and a description of where it came from.

    ``order``: a sequence of transcript ids (that order); ``"transcript"`` (ids in natural
    order: P2 before P10); ``"coded_at"`` (each coder's transcripts by when that coder first
    coded in them: the segments' ``order`` values); the name of a metadata column of the corpus
    (``"interview_date"``, ``"wave"``, ``"sequence"``: dates, numbers or text; ties keep natural
    id order); or ``"auto"``: ``interview_date`` (or a column 'Date', 'Interview date') when the
    metadata has it for every transcript,
    else ``coded_at`` when every segment has an order value, else ``transcript``.
    Returns ``({coder: [transcript ids in order]}, source)``.
    """
    coders = sorted(units["coder"].unique(), key=natural_key)
    by_coder = {c: sorted(units.loc[units.coder == c, "transcript_id"].unique(), key=natural_key)
                for c in coders}
    all_ids = sorted(units["transcript_id"].unique(), key=natural_key)
    meta = corpus.metadata if corpus is not None else None
    if isinstance(order, str) and order == "auto":
        dated = _date_column(meta, all_ids) if meta is not None else None
        if dated is not None:
            order = dated
        elif len(units) and units["order"].notna().all():
            order = "coded_at"
        else:
            order = "transcript"
    if not isinstance(order, str):
        seq = [str(t) for t in order]
        if len(set(seq)) != len(seq):
            raise ValueError("order lists a transcript more than once")
        missing = [t for t in all_ids if t not in seq]
        if missing:
            raise ValueError(f"order does not list transcripts {', '.join(missing[:10])}; give every coded "
                             "transcript once")
        pos = {t: i for i, t in enumerate(seq)}
        return {c: sorted(ts, key=pos.__getitem__) for c, ts in by_coder.items()}, "as given"
    if order == "transcript":
        return by_coder, "transcript id (natural order)"
    if order in ("coded_at", "order"):
        if units["order"].isna().any():
            n = int(units["order"].isna().sum())
            raise InputError(None, f"order='coded_at' needs a coding time or sequence for every segment; "
                             f"{n} segments have none (add a coded_at/order column, or order by "
                             "'transcript' or a metadata column such as interview_date)")
        key = _sortable(units["order"], "coded_at")
        out = {}
        for c, ts in by_coder.items():
            m = units.coder == c
            first = pd.Series(key[m].to_numpy(), index=units.loc[m, "transcript_id"]).groupby(level=0).min()
            out[c] = sorted(ts, key=lambda t: (first[t], natural_key(t)))
        return out, "coding time (each coder's first segment in a transcript)"
    if meta is None:
        raise InputError(None, f"order={order!r} is a metadata column, but no corpus with metadata was "
                         f"given; use one of {ORDER_SOURCES} or a list of transcript ids")
    if order not in meta.columns:
        raise InputError(None, f"order={order!r}: the metadata has no such column (columns: "
                         f"{', '.join(map(str, meta.columns)) or 'none'}); use one of them, "
                         f"{', '.join(repr(o) for o in ORDER_SOURCES)}, or a list of transcript ids")
    col = meta.reindex(all_ids)[order]
    if col.isna().any() or (col.astype(str).str.strip() == "").any():
        bad = [t for t, v in col.items() if pd.isna(v) or str(v).strip() == ""]
        raise InputError(None, f"order={order!r}: no value for transcripts {', '.join(bad[:10])}; fill "
                         "them in metadata.csv or choose another order")
    key = _sortable(col, order)
    return {c: sorted(ts, key=lambda t: (key[t], natural_key(t))) for c, ts in by_coder.items()}, \
        f"metadata column {order!r}"


def units_and_codes(units: pd.DataFrame, vectors, codes: Sequence[str] | None):
    """What the drift tests start from: ``units`` renumbered 0..n-1, their vectors as float64
    (one row per unit, checked), the codes (all codes used, sorted, when None) and the
    (n_units, n_codes) code matrix."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(units):
        raise ValueError(f"vectors must have one row per unit: got shape {x.shape} for {len(units)} units")
    units = units.reset_index(drop=True)
    codes = list(sorted({c for cs in units["codes"] for c in cs}) if codes is None else codes)
    return units, x, codes, code_matrix(units, codes)


def code_matrix(units: pd.DataFrame, codes: Sequence[str]) -> np.ndarray:
    """(n_units, n_codes) boolean matrix: unit carries code."""
    index = {c: j for j, c in enumerate(codes)}
    y = np.zeros((len(units), len(codes)), dtype=bool)
    for i, cs in enumerate(units["codes"]):
        for c in cs:
            j = index.get(c)
            if j is not None:
                y[i, j] = True
    return y
