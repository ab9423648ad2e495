"""Table cells and rows: what counts as an empty cell, and where a row's unit is in a corpus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from ..types import Corpus

__all__ = ["is_missing", "record_span"]


def is_missing(v) -> bool:
    """True for an empty table cell: None, NA, NaN, NaT or a blank string."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and v != v:
        return True
    return isinstance(v, str) and not v.strip()


def record_span(rec: dict, corpus: Corpus, what: str = "row") -> tuple[str, int, int]:
    """(transcript_id, start, end) of a table row that locates a unit either by
    ``transcript_id``/``start``/``end`` or by an ``utterance_id`` of ``corpus``."""
    if all(not is_missing(rec.get(k)) for k in ("transcript_id", "start", "end")):
        return str(rec["transcript_id"]), int(rec["start"]), int(rec["end"])
    uid = rec.get("utterance_id")
    try:
        u = corpus[uid]
    except KeyError:
        raise ValueError(f"{what} refers to unknown utterance {uid!r}") from None
    return u.transcript_id, u.start, u.end
