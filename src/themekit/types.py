"""Core data objects: Transcript, Utterance and Corpus.

An utterance is a *view* into its transcript: ``transcript.text[u.start:u.end] == u.text``
always holds, so every figure computed later can be traced back to verbatim text.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pandas as pd

__all__ = ["Transcript", "Utterance", "Corpus", "ROLES", "ThemekitError", "InputError", "atomic_write",
           "strip_directions"]

ROLES = ("interviewer", "participant", "other")

# Non-speech inserted by transcribers: (laughs), [inaudible], [00:01:23], (The participant reads
# the task) ... Nobody speaks in brackets, so any short bracketed aside is the transcriber's.
# f4/f5 transcript (German qualitative research, read by MAXQDA/ATLAS.ti) times: #00:01:23-4#
_DIRECTION = re.compile(r"\[[^\[\]\n]{0,100}\]|\([^()\n]{1,100}\)|#\d{1,2}:\d{2}:\d{2}(?:[-.,]\d{1,3})?#")


class ThemekitError(Exception):
    """Base class for errors themekit reports to users (no traceback in the CLI)."""


class InputError(ThemekitError):
    """Bad input: names the file, the line or field, and what to do."""

    def __init__(self, path: str | os.PathLike | None, problem: str, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.problem = problem
        where = self.path or "<input>"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {problem}")


def strip_directions(text: str) -> str:
    """Text without transcriber directions such as ``(laughs)`` or ``[inaudible]``."""
    return re.sub(r"\s{2,}", " ", _DIRECTION.sub(" ", text)).strip()


@dataclass(frozen=True)
class Transcript:
    """One interview as a single string; utterances point into ``text`` by offsets."""

    id: str
    text: str
    source: str | None = None
    format: str = "txt"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Transcript(id={self.id!r}, format={self.format!r}, chars={len(self.text)})"


@dataclass(frozen=True)
class Utterance:
    """A span of a transcript spoken by one speaker (a sentence or a few)."""

    id: str
    transcript_id: str
    speaker: str | None
    role: str
    turn: int
    start: int
    end: int
    text: str
    start_time: float | None = None
    end_time: float | None = None
    backchannel: bool = False

    @property
    def content(self) -> str:
        """The words spoken, without transcriber directions: what gets embedded."""
        return strip_directions(self.text)

    def citation(self) -> str:
        """``P03 (P03.txt:120-188)``-style reference used in reports."""
        who = self.speaker or self.transcript_id
        return f"{who}, {self.transcript_id} [{self.start}:{self.end}]"


_UTTERANCE_COLUMNS = [f.name for f in fields(Utterance)]


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``: never a half-written output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class Corpus:
    """Utterances of a study plus its transcripts and per-transcript metadata.

    ``metadata`` is a DataFrame indexed by ``transcript_id`` (participant attributes, site,
    interview date, wave, ...), values kept as text exactly as given.
    """

    def __init__(
        self,
        transcripts: Iterable[Transcript],
        utterances: Iterable[Utterance],
        metadata: pd.DataFrame | None = None,
        settings: Mapping[str, Any] | None = None,
    ):
        self.transcripts: dict[str, Transcript] = {}
        for t in transcripts:
            if t.id in self.transcripts:
                raise InputError(t.source, f"duplicate transcript id {t.id!r} (also from "
                                 f"{self.transcripts[t.id].source}); rename one of the files")
            self.transcripts[t.id] = t
        self.utterances: tuple[Utterance, ...] = tuple(utterances)
        for u in self.utterances:
            if u.transcript_id not in self.transcripts:
                raise ValueError(f"utterance {u.id} refers to unknown transcript {u.transcript_id!r}")
        if metadata is None:
            metadata = pd.DataFrame(index=pd.Index(list(self.transcripts), name="transcript_id"))
        self.metadata = metadata
        self.settings = dict(settings or {})
        self._by_id = {u.id: u for u in self.utterances}

    # -- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __getitem__(self, utterance_id: str) -> Utterance:
        return self._by_id[utterance_id]

    def __repr__(self) -> str:
        return f"Corpus({len(self.transcripts)} transcripts, {len(self.utterances)} utterances)"

    def transcript(self, transcript_id: str) -> Transcript:
        return self.transcripts[transcript_id]

    def select(
        self,
        roles: Sequence[str] | None = ("participant",),
        include_backchannels: bool = False,
        transcripts: Sequence[str] | None = None,
    ) -> list[Utterance]:
        """Utterances for analysis: by default participants' speech without back-channels."""
        keep = set(transcripts) if transcripts is not None else None
        return [
            u for u in self.utterances
            if (roles is None or u.role in roles)
            and (include_backchannels or not u.backchannel)
            and (keep is None or u.transcript_id in keep)
        ]

    def check_offsets(self) -> None:
        """Raise if any utterance is not an exact view into its transcript."""
        for u in self.utterances:
            if self.transcripts[u.transcript_id].text[u.start:u.end] != u.text:
                raise AssertionError(f"utterance {u.id} does not match its transcript offsets")

    # -- tables ---------------------------------------------------------------------------
    def to_pandas(self, with_metadata: bool = True) -> pd.DataFrame:
        """One row per utterance; per-transcript metadata joined as extra columns."""
        df = pd.DataFrame([{c: getattr(u, c) for c in _UTTERANCE_COLUMNS} for u in self.utterances],
                          columns=_UTTERANCE_COLUMNS)
        df = df.astype({"start": "int64", "end": "int64", "turn": "int64", "backchannel": bool,
                        "start_time": "float64", "end_time": "float64"})
        if with_metadata and len(self.metadata.columns):
            meta = self.metadata.drop(columns=[c for c in self.metadata.columns if c in df.columns],
                                      errors="ignore")
            df = df.join(meta, on="transcript_id")
        return df

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write one Parquet file: utterance rows, transcripts and metadata in its key-value store."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.to_pandas(with_metadata=False), preserve_index=False)
        extra = {
            b"themekit.version": b"1",
            b"themekit.transcripts": json.dumps(
                [{"id": t.id, "text": t.text, "source": t.source, "format": t.format,
                  "metadata": dict(t.metadata)} for t in self.transcripts.values()]).encode(),
            b"themekit.metadata": self.metadata.to_json(orient="split", date_format="iso").encode(),
            b"themekit.metadata_index": json.dumps(self.metadata.index.name).encode(),
            b"themekit.settings": json.dumps(self.settings, default=str).encode(),
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Corpus":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as e:
            raise InputError(path, f"not a readable Parquet file ({e})") from None
        meta = table.schema.metadata or {}
        if b"themekit.transcripts" not in meta:
            raise InputError(path, "not a themekit corpus (no transcripts stored); "
                             "create one with `themekit ingest`")
        transcripts = [Transcript(**t) for t in json.loads(meta[b"themekit.transcripts"])]
        df = table.to_pandas()
        utterances = []
        for row in df.itertuples(index=False):
            d = row._asdict()
            for k in ("start_time", "end_time"):
                d[k] = None if pd.isna(d[k]) else float(d[k])
            for k in ("start", "end", "turn"):
                d[k] = int(d[k])
            d["backchannel"] = bool(d["backchannel"])
            d["speaker"] = None if d["speaker"] is None or (isinstance(d["speaker"], float)) else d["speaker"]
            utterances.append(Utterance(**d))
        import io
        metadata = pd.read_json(io.StringIO(meta[b"themekit.metadata"].decode()), orient="split",
                                dtype=False)
        metadata.index.name = json.loads(meta.get(b"themekit.metadata_index", b'"transcript_id"'))
        settings = json.loads(meta.get(b"themekit.settings", b"{}"))
        return cls(transcripts, utterances, metadata, settings)
