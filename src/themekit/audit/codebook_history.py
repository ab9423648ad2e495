"""When the codebook changed, and when each transcript was coded: so that a change in coding
that starts where a code's definition changed is read as following the codebook, not as drift.

Accepted inputs (:func:`read_codebook_history`, any mix of them):

- **A folder of codebook versions**: files (``.csv``, ``.tsv``, ``.yaml``/``.yml``, ``.qdc``) whose
  names carry their date, ``codebook_2022-02-23.csv``, ``v3_20220223.yaml``; several on one day
  are ordered by a trailing number (``codebook_20220223_2.csv``) or, failing that, by name.
  Consecutive versions are compared: a code added, removed, or whose definition changed is an
  event dated by the later version. CSV columns: the code's name (``name``, ``code``, ``tag``,
  ``label``) and definition (``definition``, ``description``); YAML and ``.qdc`` are read with
  :class:`themekit.codebook.Codebook`.
- **A coding log**, CSV or JSONL, one row per event with a ``date`` (or ``timestamp``,
  ``time``) column. Rows with a ``code`` are codebook events; ``event`` (or ``action``) says what
  happened (``added``, ``renamed``, ``merged``, ``definition changed``, ``deleted``; free text is
  kept), ``new_code`` (or ``into``) the code it became. Rows with a ``transcript_id`` (or
  ``document``) and no code are coding actions: they date when each transcript was coded
  (its first action; per ``coder`` when that column is present).
- **Taguette's command log** (JSONL whose rows have ``payload.type``): tag added, renamed,
  merged and deleted become events under the tag's final name; highlights date the documents;
  a document's name matches a transcript id when it is the id or starts with the id and a
  separator (``P1_Recording.txt`` is ``P1``).

Codebook events are placed in each coder's interview order at the first transcript coded on or
after the event's date. Transcripts' coding times come from the log, or else from the segments'
``coded_at`` values.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from ..types import InputError

__all__ = ["CodebookHistory", "read_codebook_history", "EVENT_COLUMNS"]

EVENT_COLUMNS = ["date", "code", "event", "detail", "source"]
_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")
_SUFFIXES = (".csv", ".tsv", ".yaml", ".yml", ".qdc")


@dataclass
class CodebookHistory:
    """``events``: one row per codebook change (``date``, ``code``: the name it ends up with,
    ``event``, ``detail``, ``source``); ``coding_times``: first coding action per transcript
    (``transcript_id``, ``coder`` or None, ``date``); ``sources``: the files read."""

    events: pd.DataFrame
    coding_times: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["transcript_id", "coder", "date"]))
    sources: list = field(default_factory=list)
    placed_: dict = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        return (f"{len(self.events)} codebook events from {', '.join(map(str, self.sources)) or 'given tables'}; "
                f"coding times for {self.coding_times['transcript_id'].nunique()} transcripts")

    def place(self, order: Mapping[str, Sequence[str]], coded_at: pd.DataFrame | None = None) -> dict:
        """``{coder: {code: [(position, "date: event detail"), ...]}}`` (0-based positions in the
        coder's order): each event at the first transcript coded on or after its date. Coding
        times: this history's, else ``coded_at`` (``transcript_id``, ``coder``, ``date``)."""
        times = self.coding_times
        if (times is None or not len(times)) and coded_at is not None:
            times = coded_at
        placed: dict = {}
        if times is None or not len(times) or not len(self.events):
            self.placed_ = placed
            return placed
        times = times.assign(date=pd.to_datetime(times["date"], errors="coerce", format="mixed")).dropna(subset=["date"])
        for coder, seq in order.items():
            mine = times[times["coder"].isna() | (times["coder"] == coder)] if "coder" in times else times
            first = mine.groupby("transcript_id")["date"].min()
            when = [first.get(t) for t in seq]
            out: dict = {}
            for r in self.events.itertuples():
                text = f"{r.date:%Y-%m-%d}: {r.code} {r.event}" + (f" ({r.detail})" if r.detail else "")
                # where the order crosses the date: coded before it, then on or after it (an
                # event before or after all coding touches every transcript alike)
                for i in range(1, len(when)):
                    if when[i] is not None and when[i - 1] is not None and when[i - 1] < r.date <= when[i]:
                        out.setdefault(r.code, []).append((i, text))
            placed[coder] = out
        self.placed_ = placed
        return placed

    def event_near(self, coder: str, codes: Iterable[str], position: int, seq=None, within: int = 1) -> str | None:
        """The codebook event on one of ``codes`` placed within ``within`` interviews of
        ``position`` (0-based) for ``coder`` (after :meth:`place`), or None."""
        hits = [e for c in codes for p, e in self.placed_.get(coder, {}).get(c, []) if abs(p - position) <= within]
        return "; ".join(dict.fromkeys(hits)) or None


def _date_of(name: str) -> tuple:
    m = _DATE.search(name)
    if not m:
        return None, None
    tail = re.search(r"[_-](\d+)$", Path(name).stem[m.end():] or "")
    return pd.Timestamp(int(m[1]), int(m[2]), int(m[3])), int(tail[1]) if tail else -1


def _read_version(path: Path) -> dict[str, str]:
    """{code name: definition} of one codebook version."""
    if path.suffix.lower() in (".csv", ".tsv"):
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
        cols = {c.strip().lower(): c for c in (rows[0].keys() if rows else [])}
        name = next((cols[c] for c in ("name", "code", "tag", "label") if c in cols), None)
        if name is None:
            raise InputError(path, "a codebook version needs a column naming the code (name, code, tag or label)")
        defn = next((cols[c] for c in ("definition", "description") if c in cols), None)
        return {r[name].strip(): (r.get(defn) or "").strip() if defn else "" for r in rows if (r.get(name) or "").strip()}
    from ..codebook import Codebook

    book = Codebook.load(path)
    return {c.name: (getattr(c, "definition", "") or "") for c in book.codes}


def _versions(folder: Path) -> pd.DataFrame:
    files = [p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES]
    dated = [(d, k, p) for p in files for d, k in [_date_of(p.name)] if d is not None]
    if not dated:
        raise InputError(folder, "no dated codebook versions: name the files with their date, e.g. "
                         "codebook_2022-02-23.csv or codebook_20220223_1.csv")
    dated.sort(key=lambda t: (t[0], t[1], t[2].name))
    rows, prev = [], None
    for d, _, p in dated:
        cur = _read_version(p)
        if prev is not None:
            for c in cur.keys() - prev.keys():
                rows.append((d, c, "added", "", p.name))
            for c in prev.keys() - cur.keys():
                rows.append((d, c, "removed", "", p.name))
            for c in cur.keys() & prev.keys():
                if " ".join(cur[c].split()) != " ".join(prev[c].split()):
                    rows.append((d, c, "definition changed", "", p.name))
        prev = cur
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def _col(cols: dict, *names: str) -> str | None:
    return next((cols[n] for n in names if n in cols), None)


def _read_log(path: Path, transcript_ids: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        recs = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InputError(path, f"line {i} is not JSON ({e.msg})") from None
        if recs and isinstance(recs[0].get("payload"), dict) and "type" in recs[0]["payload"]:
            return _taguette(recs, transcript_ids, path)
        df = pd.DataFrame(recs)
    else:
        df = pd.read_csv(io.StringIO(text), dtype=str)
    cols = {c.strip().lower(): c for c in df.columns}
    date = _col(cols, "date", "timestamp", "time", "coded_at")
    if date is None:
        raise InputError(path, "a coding log needs a date column (date, timestamp or time)")
    dates = pd.to_datetime(df[date], errors="coerce", format="mixed")
    code, event = _col(cols, "code", "tag"), _col(cols, "event", "action", "type")
    new, tid, coder = _col(cols, "new_code", "into", "to"), _col(cols, "transcript_id", "document", "transcript"), _col(cols, "coder")
    ev, ct = [], []
    for i in range(len(df)):
        if pd.isna(dates.iloc[i]):
            continue
        c = df[code].iloc[i] if code else None
        if isinstance(c, str) and c.strip():
            what = str(df[event].iloc[i]) if event and isinstance(df[event].iloc[i], str) else "changed"
            into = df[new].iloc[i] if new and isinstance(df[new].iloc[i], str) else ""
            ev.append((dates.iloc[i], (into or c).strip(), what, f"from {c.strip()}" if into else "", path.name))
        elif tid and isinstance(df[tid].iloc[i], str):
            ct.append((_match(df[tid].iloc[i], transcript_ids), df[coder].iloc[i] if coder else None, dates.iloc[i]))
    return (pd.DataFrame(ev, columns=EVENT_COLUMNS),
            pd.DataFrame(ct, columns=["transcript_id", "coder", "date"]).dropna(subset=["transcript_id"]))


def _match(name: str, ids: Sequence[str]) -> str | None:
    name = str(name).strip()
    stem = Path(name).stem
    if name in ids or stem in ids:
        return name if name in ids else stem
    best = [t for t in ids if re.match(re.escape(t) + r"(?![A-Za-z0-9])", stem)]
    return max(best, key=len) if best else (stem if not ids else None)


def _taguette(recs: list, transcript_ids: Sequence[str], path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    names: dict = {}      # tag id -> current name
    merged: dict = {}     # tag id -> tag it was merged into
    raw, docs, deleted, hl = [], {}, set(), []
    for r in recs:
        p, d = r["payload"], pd.to_datetime(r.get("date"), errors="coerce")
        t = p.get("type")
        if t == "tag_add":
            tid, name = p.get("tag_id"), p.get("tag_path")
            if tid in names and names[tid] != name:
                raw.append((d, tid, "renamed", f"from {names[tid]}"))
            elif tid not in names:
                raw.append((d, tid, "added", ""))
            elif p.get("description"):
                raw.append((d, tid, "definition changed", ""))
            names[tid] = name
        elif t == "tag_merge":
            merged[p.get("src_tag_id")] = p.get("dest_tag_id")
            raw.append((d, p.get("dest_tag_id"), "merged", f"{names.get(p.get('src_tag_id'), p.get('src_tag_id'))} merged in"))
        elif t == "tag_delete":
            raw.append((d, p.get("tag_id"), "deleted", ""))
        elif t == "document_add":
            docs[r.get("document_id")] = p.get("document_name")
        elif t == "document_delete":
            deleted.add(r.get("document_id"))
        elif t == "highlight_add" and r.get("document_id") is not None:
            hl.append((r.get("document_id"), d))

    def final(tid):
        seen = set()
        while tid in merged and tid not in seen:
            seen.add(tid)
            tid = merged[tid]
        return names.get(tid, str(tid))

    known = [(d, final(t), e, det) for d, t, e, det in raw]
    ev = pd.DataFrame([(d, n, e, det, path.name) for d, n, e, det in known if not re.fullmatch(r"-?\d+", n)],
                      columns=EVENT_COLUMNS)  # tags the log never names are left out
    ct = pd.DataFrame([(_match(docs.get(doc, ""), transcript_ids), None, d) for doc, d in hl if doc not in deleted],
                      columns=["transcript_id", "coder", "date"]).dropna(subset=["transcript_id"])
    return ev, ct


def read_codebook_history(paths: str | os.PathLike | Iterable, transcript_ids: Sequence[str] = ()) -> CodebookHistory:
    """Read codebook versions (a folder) and/or coding logs (files); see the module docstring.
    ``transcript_ids``: the study's transcripts, to match log document names to them."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    events, times, sources = [], [], []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(p, "no such file or folder (codebook versions folder or coding log)")
        if p.is_dir():
            events.append(_versions(p))
        else:
            e, t = _read_log(p, list(transcript_ids))
            events.append(e)
            times.append(t)
        sources.append(p)
    ev = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=EVENT_COLUMNS)
    ev = ev.dropna(subset=["date"]).sort_values("date", kind="stable").reset_index(drop=True)
    ct = pd.concat(times, ignore_index=True) if times else pd.DataFrame(columns=["transcript_id", "coder", "date"])
    return CodebookHistory(ev, ct, sources)
