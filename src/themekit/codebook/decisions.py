"""Review decisions: what a researcher decided about themekit's suggestions, as human coding.

The report's review view exports ``decisions.csv``, one row per decision on one suggestion::

    utterance_id, transcript_id, start, end, code, decision, new_code, reviewer, decided_at, score

``decision`` is ``accept`` (the suggested ``code`` is right), ``reject`` (it is not) or
``recode`` (``new_code`` is right instead); ``score`` is the score the reviewer was shown.
:func:`read_decisions` checks every row (a bad one stops with the file, the line and what to
do) and keeps the latest decision per (utterance, suggested code).

What the next run does with them (``themekit map/run --review decisions.csv``):

- accepted and recoded ones are human coding: :func:`review_segments` makes them coded
  segments with the reviewer as coder (seeds for the mapper, codings in the ``.qdpx``);
- rejected ones (and the code a recode replaced) are "not this code" for that utterance:
  :func:`rejected_codes` lists them, and the mapper never suggests them there again; an
  utterance whose every decision is a rejection is a "no code" example
  (:func:`review_seed_table`);
- :func:`review_log` is the audit trail: what was suggested and shown, what was decided, by
  whom, when, and what the model suggests now.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..types import Corpus, InputError, atomic_write
from .coding import CodedSegment

__all__ = ["Decision", "DECISION_COLUMNS", "DECISIONS", "read_decisions", "write_decisions",
           "decisions_to_pandas", "review_segments", "rejected_codes", "review_seed_table",
           "review_log", "review_summary", "read_review", "DEFAULT_REVIEWER"]

log = logging.getLogger("themekit")

DECISION_COLUMNS = ("utterance_id", "transcript_id", "start", "end", "code", "decision", "new_code",
                    "reviewer", "decided_at", "score")
DECISIONS = ("accept", "reject", "recode")
DEFAULT_REVIEWER = "reviewer"
_REQUIRED = ("utterance_id", "transcript_id", "start", "end", "code", "decision")


@dataclass(frozen=True)
class Decision:
    """One reviewer decision on one suggested code for one utterance (a view into a transcript
    by ``transcript_id``, ``start``, ``end``). ``line``: where it is in its file (0: not from one)."""

    utterance_id: str
    transcript_id: str
    start: int
    end: int
    code: str
    decision: str
    new_code: str = ""
    reviewer: str = DEFAULT_REVIEWER
    decided_at: str = ""
    score: float | None = None
    line: int = 0

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}; got {self.decision!r}")
        if (self.decision == "recode") != bool(self.new_code):
            raise ValueError("new_code is needed for a recode, and only for a recode")
        if not 0 <= self.start < self.end:
            raise ValueError(f"offsets must satisfy 0 <= start < end (got {self.start}, {self.end})")

    @property
    def final_code(self) -> str | None:
        """The code the utterance carries after the decision (None for a rejection)."""
        return {"accept": self.code, "recode": self.new_code}.get(self.decision)


def _int(s: str, what: str, path, line: int) -> int:
    try:
        f = float(s)
    except ValueError:
        raise InputError(path, f"{what} {s!r} is not a character offset (a whole number)", line=line) from None
    if f != int(f):
        raise InputError(path, f"{what} {s!r} is not a whole number", line=line)
    return int(f)


def read_decisions(path: str | os.PathLike, corpus: Corpus | None = None,
                   codes: Iterable[str] | None = None) -> list[Decision]:
    """Read and check a ``decisions.csv`` (see the module docstring for its columns).

    With ``corpus``: each ``utterance_id`` must be an utterance of it at the same
    ``transcript_id``/``start``/``end`` (a study segmented differently since the review stops
    here, not silently). With ``codes`` (the codebook's codable names): every ``code`` and
    ``new_code`` must be one of them. When an (utterance, code) pair was decided more than once,
    the latest ``decided_at`` (then the later row) wins; one summary line says how many.
    """
    from ..io.readers import csv_records, decode_bytes

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such decisions file; export it from the report's review view (Export decisions)")
    data = p.read_bytes()
    if not data.strip():
        raise InputError(p, "the decisions file is empty; export it from the report's review view")
    header, records = csv_records(decode_bytes(data, p), p, empty="the decisions file is empty")
    cols = [h.strip().lower() for h in header]
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise InputError(p, f"missing column(s) {', '.join(missing)}; a decisions file has the columns "
                         f"{', '.join(DECISION_COLUMNS)}", line=1)
    at = {c: cols.index(c) for c in DECISION_COLUMNS if c in cols}
    known = None if codes is None else set(codes)
    units = {u.id: u for u in corpus.utterances} if corpus is not None else None
    out: list[Decision] = []
    for line, row in records:
        def get(c: str) -> str:
            i = at.get(c)
            return row[i].strip() if i is not None and i < len(row) else ""

        if len(row) > len(header):
            raise InputError(p, f"{len(row)} fields but the header has {len(header)}; quote fields that "
                             "contain commas", line=line)
        for c in _REQUIRED:
            if not get(c):
                raise InputError(p, f"empty {c}; every decision needs {', '.join(_REQUIRED)}", line=line)
        kind = get("decision").lower()
        if kind not in DECISIONS:
            raise InputError(p, f"decision {get('decision')!r} must be accept, reject or recode", line=line)
        new_code = get("new_code")
        if kind == "recode" and not new_code:
            raise InputError(p, "a recode needs new_code (the code that fits instead)", line=line)
        if kind != "recode" and new_code and new_code != get("code"):
            raise InputError(p, f"new_code {new_code!r} given for a {kind}; use decision 'recode' to "
                             "change the code", line=line)
        if kind == "recode" and new_code == get("code"):
            raise InputError(p, f"recode to the same code {new_code!r}; use decision 'accept'", line=line)
        start, end = _int(get("start"), "start", p, line), _int(get("end"), "end", p, line)
        if not 0 <= start < end:
            raise InputError(p, f"offsets must satisfy 0 <= start < end (got {start}, {end})", line=line)
        score = None
        if get("score"):
            try:
                score = float(get("score"))
            except ValueError:
                raise InputError(p, f"score {get('score')!r} is not a number", line=line) from None
            if math.isnan(score):
                score = None
        when = get("decided_at")
        if when:
            try:
                _dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                raise InputError(p, f"decided_at {when!r} is not a date and time; write ISO 8601, e.g. "
                                 "2026-01-31T14:05:00Z (as the review view exports)", line=line) from None
        uid, tid = get("utterance_id"), get("transcript_id")
        if units is not None:
            u = units.get(uid)
            if u is None:
                raise InputError(p, f"utterance {uid!r} is not in this study; review the report of a run "
                                 "on the same transcripts and segmentation settings", line=line)
            if (u.transcript_id, u.start, u.end) != (tid, start, end):
                raise InputError(p, f"utterance {uid!r} is {u.transcript_id} {u.start}-{u.end} in this study, "
                                 f"not {tid} {start}-{end}: the transcripts or the segmentation changed "
                                 "since the review", line=line)
        if known is not None:
            for what, c in (("code", get("code")), ("new_code", new_code)):
                if c and c not in known:
                    raise InputError(p, f"{what} {c!r} is not a code of the codebook; if the review "
                                     "accepted it as a new code, pass the codebook the review exported "
                                     "(--codebook codebook_reviewed.yaml)", line=line)
        out.append(Decision(uid, tid, start, end, get("code"), kind, new_code if kind == "recode" else "",
                            get("reviewer") or DEFAULT_REVIEWER, when, score, line))
    if not out:
        raise InputError(p, "no decisions in the file (only a header)")
    return _latest(out, p)


def _latest(decisions: Sequence[Decision], path=None) -> list[Decision]:
    """The latest decision per (utterance, suggested code), in the order they were made."""
    order = sorted(range(len(decisions)), key=lambda i: (decisions[i].decided_at, i))
    last: dict[tuple[str, str], int] = {}
    for i in order:
        last[(decisions[i].utterance_id, decisions[i].code)] = i
    rank = {i: r for r, i in enumerate(order)}
    keep = sorted(last.values(), key=rank.__getitem__)
    if len(keep) < len(decisions):
        log.info("%s: %d decision(s) replaced by later decisions on the same utterance and code",
                 path or "decisions", len(decisions) - len(keep))
    return [decisions[i] for i in keep]


def decisions_to_pandas(decisions: Iterable[Decision]) -> pd.DataFrame:
    """The decisions as a table with the columns of ``decisions.csv``."""
    rows = [(d.utterance_id, d.transcript_id, d.start, d.end, d.code, d.decision, d.new_code, d.reviewer,
             d.decided_at, d.score) for d in decisions]
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS)).astype({"start": "int64", "end": "int64",
                                                                       "score": "float64"})


def write_decisions(decisions: Iterable[Decision], path: str | os.PathLike) -> Path:
    df = decisions_to_pandas(decisions)
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def review_segments(decisions: Iterable[Decision]) -> list[CodedSegment]:
    """Accepted and recoded decisions as coded segments of the reviewer (the utterance's span,
    the final code, ``order`` = when it was decided)."""
    return [CodedSegment(d.transcript_id, d.start, d.end, d.final_code, coder=d.reviewer,
                         order=d.decided_at or None) for d in decisions if d.final_code]


def rejected_codes(decisions: Iterable[Decision]) -> dict[str, frozenset[str]]:
    """``{utterance_id: codes}`` the reviewer said are not this utterance's: rejected ones and
    the codes recodes replaced, less any code the same review gave the utterance."""
    decisions = list(decisions)
    given: dict[str, set[str]] = {}
    for d in decisions:
        if d.final_code:
            given.setdefault(d.utterance_id, set()).add(d.final_code)
    out: dict[str, set[str]] = {}
    for d in decisions:
        if d.decision in ("reject", "recode") and d.code not in given.get(d.utterance_id, ()):
            out.setdefault(d.utterance_id, set()).add(d.code)
    return {u: frozenset(cs) for u, cs in out.items()}


def review_seed_table(decisions: Iterable[Decision], segments: Sequence[CodedSegment] | None = None,
                      corpus: Corpus | None = None, utterances=None) -> pd.DataFrame:
    """Seeds for :class:`~themekit.mapping.CodeMapper` from human coding plus a review:
    ``utterance_id, codes`` (frozensets; empty = "no code").

    Human ``segments`` are aligned to ``utterances`` as usual (each coder's uncoded utterances
    of a transcript they coded are "no code"); the review adds its final codes to exactly the
    utterances decided — it does not make the rest of their transcripts "no code", since a
    reviewer saw only those — and an utterance whose every decision was a rejection is "no
    code" unless human coding gives it a code.
    """
    from .coding import align_to_utterances

    decisions = list(decisions)
    codes: dict[str, set[str]] = {}
    if segments:
        if corpus is None:
            raise ValueError("coded segments need the corpus to be aligned to utterances: pass corpus=")
        aligned = align_to_utterances(segments, corpus, utterances=utterances)
        for uid, cs in zip(aligned["utterance_id"], aligned["codes"]):
            codes.setdefault(uid, set()).update(cs)
    for d in decisions:
        s = codes.setdefault(d.utterance_id, set())
        if d.final_code:
            s.add(d.final_code)
    return pd.DataFrame({"utterance_id": list(codes), "codes": [frozenset(c) for c in codes.values()]})


def review_log(decisions: Iterable[Decision], suggestions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The audit trail: each decision (what was suggested, the score shown, what the reviewer
    decided, who, when), how the run used it (``applied_as``: ``seed`` or ``not this code``)
    and, given the new run's ``suggestions`` table, the codes it suggests now for the utterance
    (``now_suggested``, ``|``-joined; the utterance is ``seeded`` when coding is known)."""
    df = decisions_to_pandas(decisions)
    df["applied_as"] = ["not this code" if d == "reject" else "seed" for d in df["decision"]]
    if suggestions is not None and len(df):
        s = suggestions[suggestions["utterance_id"].isin(set(df["utterance_id"]))]
        now = s[s["suggested"]].groupby("utterance_id", sort=False)["code"].agg(lambda c: "|".join(c))
        seeded = s.groupby("utterance_id", sort=False)["seeded"].any() if "seeded" in s else pd.Series(dtype=bool)
        df["now_suggested"] = df["utterance_id"].map(now).fillna("")
        df["seeded"] = df["utterance_id"].map(seeded).fillna(False).astype(bool)
    return df


def review_summary(decisions: Sequence[Decision], path: str | os.PathLike | None = None) -> dict:
    """What the manifest records about a review: the file, counts per decision, the reviewers
    and the time span of the decisions."""
    times = sorted(d.decided_at for d in decisions if d.decided_at)
    return {"file": None if path is None else str(path), "decisions": len(decisions),
            **{k: sum(d.decision == k for d in decisions) for k in DECISIONS},
            "reviewers": sorted({d.reviewer for d in decisions}),
            "first_decided_at": times[0] if times else None, "last_decided_at": times[-1] if times else None}



def read_review(path: str | os.PathLike, corpus: Corpus, codebook, segments: Sequence[CodedSegment] | None = None,
                utterances=None) -> tuple[list[Decision], pd.DataFrame, dict[str, frozenset[str]]]:
    """What ``--review`` feeds the mapper: (decisions checked against ``corpus`` and the
    ``codebook``'s codable codes, seeds = human ``segments`` plus the review (see
    :func:`review_seed_table`), rejected codes per utterance)."""
    decisions = read_decisions(path, corpus, [c.name for c in codebook.codable()])
    seeds = review_seed_table(decisions, segments, corpus, utterances)
    return decisions, seeds, rejected_codes(decisions)
