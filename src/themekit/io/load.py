"""Files and folders → a segmented :class:`Corpus` (the first stage of every workflow).

A *study folder* may hold ``transcripts/`` (or transcript files directly), ``metadata.csv``
(one row per transcript: participant attributes, site, date, wave), a codebook and coded
segments; only transcripts and metadata are read here.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from ..common.parallel import Mapper, batches_by_weight, local_map
from .readers import (SUPPORTED_EXTENSIONS, ReaderOptions, decode_bytes, iter_transcript_files, read_file,
                      role_settings)
from .roles import decide_roles
from .segment import Segmenter
from ..types import Corpus, InputError, Transcript

__all__ = ["read_transcripts", "read_metadata", "study_file", "study_folder_file", "STUDY_FILES",
           "CODEBOOK_FILE_NAMES", "CODED_FILE_NAMES", "participant_column",
           "PARTICIPANT_COLUMNS"]

log = logging.getLogger("themekit")

# The codebook and the coding a study folder may hold (codebook.CODEBOOK_EXTENSIONS derives from
# these), and with the metadata: the files of a study folder that are not transcripts.
CODEBOOK_FILE_NAMES = tuple("codebook" + e for e in (".yaml", ".yml", ".csv", ".qdc", ".tsv", ".xlsx", ".docx",
                                                     ".md", ".qdpx"))
CODED_FILE_NAMES = ("coded_segments.csv", "coded_segments.tsv", "coded_segments.xlsx")
STUDY_FILES = ("metadata.csv",) + CODEBOOK_FILE_NAMES + CODED_FILE_NAMES
# words that name a study file in what researchers call it ('Telehealth codebook v3.xlsx',
# 'MAXQDA2022 Coded segments.xlsx')
STUDY_FILE_WORDS = {"codebook": ("codebook", "code book", "coding frame", "coding scheme"),
                    "coded_segments": ("coded", "segments", "codings", "excerpts", "quotations", "highlights")}


def study_file_role(stem: str) -> str | None:
    """'codebook', 'coded_segments' or None: what a file's name (its stem) says it is. Codebook
    words may run together ('TelehealthCodebook'); coding words are whole words."""
    spaced = " " + re.sub(r"[\W_]+", " ", stem.lower()) + " "
    if any(w.replace(" ", "") in spaced.replace(" ", "") for w in STUDY_FILE_WORDS["codebook"]):
        return "codebook"
    if any(f" {w} " in spaced for w in STUDY_FILE_WORDS["coded_segments"]):
        return "coded_segments"
    return None
#: transcripts are segmented in batches of whole transcripts of about this many characters
_SEGMENT_BATCH_CHARS = 2_000_000
_ID_COLUMNS = ("transcript_id", "transcript", "id", "interview_id", "document")


def _transcript_files(path: Path, exclude: Iterable[str | os.PathLike] = ()) -> tuple[list[Path], Path | None]:
    """(transcript files, metadata file found beside them); ``exclude``: files or folders that
    are not transcripts (the codebook and coding given beside them)."""
    if path.is_file():
        return [path], None
    if not path.is_dir():
        raise InputError(path, "no such file or folder")
    folder = path / "transcripts" if (path / "transcripts").is_dir() else path
    meta = path / "metadata.csv" if (path / "metadata.csv").is_file() else None
    skip = [Path(e).resolve() for e in exclude]
    files = [p for p in iter_transcript_files(folder)
             if p.name.lower() not in STUDY_FILES and not p.name.upper().startswith(("README", "LICENSE"))
             and p.suffix.lower() != ".py"
             and not any(p.resolve() == e or e in p.resolve().parents for e in skip)]
    if folder == path:
        # beside the interviews: the codebook and coding the study-folder lookup would take
        files = [p for p in files if p.parent != path or study_file_role(p.stem) is None]
        # Markdown beside the transcripts is more often notes or a codebook; in transcripts/ it is
        # a transcript (notes apps, MacWhisper)
        notes = [p for p in files if p.suffix.lower() == ".md"]
        if notes:
            files = [p for p in files if p.suffix.lower() != ".md"]
            log.warning("%s: %d Markdown file(s) not read as transcripts (%s); put transcripts in a "
                        "transcripts/ folder to read Markdown ones", path, len(notes),
                        ", ".join(p.name for p in notes[:3]) + (", ..." if len(notes) > 3 else ""))
    else:
        files = [p for p in files if p.parent == folder or folder in p.parents]
    if not files:
        raise InputError(path, f"no transcript files found (looked for {', '.join(SUPPORTED_EXTENSIONS)})")
    return files, meta


def _name_key(value: str) -> str:
    """'P02.txt' / ' p02 ' -> 'p02': a file name written in a table, case and extension aside."""
    v = value.strip().lower()
    stem, dot, ext = v.rpartition(".")
    return stem if dot and stem and ext in _TRANSCRIPT_SUFFIXES else v


_TRANSCRIPT_SUFFIXES = {e.lstrip(".").lower() for e in SUPPORTED_EXTENSIONS}


def _id_column_by_values(df: pd.DataFrame, transcript_ids: Iterable[str]) -> str | None:
    """The column (unnamed as an id) whose every value names a transcript, rewritten to the ids;
    None when no column or several do."""
    known = {_name_key(t): t for t in transcript_ids}
    fits = [c for c in df.columns if len(df) and df[c].map(lambda v: _name_key(v) in known).all()]
    if len(fits) != 1:
        return None
    df[fits[0]] = df[fits[0]].map(lambda v: known[_name_key(v)])
    return fits[0]


def read_metadata(path: str | os.PathLike, transcript_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Per-transcript metadata CSV → DataFrame indexed by ``transcript_id``; values kept as text."""
    path = Path(path)
    text = decode_bytes(path.read_bytes(), path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as e:
        raise InputError(path, f"malformed CSV ({e})") from None
    col = next((c for c in df.columns if c.strip().lower() in _ID_COLUMNS), None)
    if col is None and transcript_ids is not None:
        col = _id_column_by_values(df, transcript_ids)
        if col is not None:
            log.warning("%s: column %r read as the transcript id (its values are the transcript "
                        "names); name it 'transcript_id' to say so", path, col)
    if col is None:
        raise InputError(path, "no transcript id column; name the first column 'transcript_id' "
                         "with values matching the transcript file names (without extension)")
    df[col] = df[col].str.strip()
    dup = df[col][df[col].duplicated()]
    if len(dup):
        line = int(dup.index[0]) + 2
        raise InputError(path, f"transcript id {dup.iloc[0]!r} has more than one row", line=line)
    if transcript_ids is not None:
        known = set(transcript_ids)
        for i, tid in df[col].items():
            if tid not in known:
                raise InputError(path, f"metadata row for unknown transcript {tid!r}; known ids: "
                                 f"{', '.join(sorted(known))}", line=int(i) + 2)
        missing = sorted(known - set(df[col]))
        if missing:
            log.warning("%s: no metadata row for %s", path, ", ".join(missing))
    df = df.rename(columns={col: "transcript_id"}).set_index("transcript_id")
    return df


def read_transcripts(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    *,
    reader: ReaderOptions | None = None,
    segmenter: Segmenter | None = None,
    progress: bool = False,
    mapper: Mapper | None = None,
    exclude: Iterable[str | os.PathLike] = (),
) -> Corpus:
    """Read transcripts (files, a folder, or a study folder) into a segmented :class:`Corpus`.

    ``metadata`` defaults to ``metadata.csv`` in a study folder. Transcript ids are file
    stems (or the id column of a table); duplicates are an error. Speaker roles are decided
    over the whole study (:mod:`themekit.io.roles`); the decisions, with their evidence, are
    kept in ``corpus.settings["roles"]`` (see :func:`themekit.io.roles.roles_table`).
    ``mapper`` (see
    :mod:`themekit.common.parallel`) runs the reading, one file per item, and the segmenting,
    batches of whole transcripts, e.g. on a Dask cluster (``themekit.scale``); the result is
    the same as without it. ``exclude``: files or folders under ``paths`` that are not
    transcripts (a codebook or coding kept among the interviews).
    """
    reader = reader or ReaderOptions()
    segmenter = segmenter or Segmenter()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    found_meta = None
    for p in paths:
        fs, meta = _transcript_files(Path(p), exclude)
        files.extend(fs)
        found_meta = found_meta or meta
    metadata = found_meta if metadata is None else metadata

    parsed: list[tuple[Transcript, list]] = []
    seen: dict[str, Transcript] = {}
    mapper = mapper or local_map
    read = mapper(functools.partial(_read_one, options=reader), files)
    if progress:
        from tqdm.auto import tqdm
        read = tqdm(read, total=len(files), desc="Reading transcripts", unit="file", leave=False, disable=None)
    for f, found in zip(files, read):
        for transcript, turns in found:
            if transcript.id in seen:
                raise InputError(f, f"duplicate transcript id {transcript.id!r}: also read from "
                                 f"{seen[transcript.id].source}; rename one of the files")
            seen[transcript.id] = transcript
            parsed.append((transcript, turns))

    ids = [t.id for t, _ in parsed]
    if isinstance(metadata, pd.DataFrame):
        meta_df = metadata
        unknown = sorted(set(map(str, meta_df.index)) - set(ids))
        if unknown:
            raise InputError(None, f"metadata rows for unknown transcripts: {', '.join(unknown)}")
    elif metadata is not None:
        meta_df = read_metadata(metadata, ids)
    else:
        meta_df = pd.DataFrame(index=pd.Index(ids, name="transcript_id"))
    meta_df = meta_df.reindex(ids)
    meta_df.index.name = "transcript_id"
    _check_overrides(reader, parsed)
    parsed, decisions = decide_roles(parsed, meta_df, participant_id_column=participant_column(meta_df),
                                     **role_settings(reader))
    utterances = []
    batches = batches_by_weight([len(t.text) for t, _ in parsed], _SEGMENT_BATCH_CHARS)
    for part in mapper(functools.partial(_segment_batch, segmenter=segmenter),
                       ([parsed[i] for i in b] for b in batches)):
        utterances.extend(part)
    settings = {"reader": {"prompt_pattern": reader.prompt_pattern,
                           "interviewer_labels": reader.interviewer_labels,
                           "participant_labels": reader.participant_labels,
                           "interviewer": list(reader.interviewer),
                           "roles": [list(r) for r in reader.roles]},
                "segmenter": segmenter.get_params(),
                "roles": [d.as_dict() for d in decisions]}
    return Corpus([t for t, _ in parsed], utterances, meta_df, settings)


def _check_overrides(reader: ReaderOptions, parsed) -> None:
    """A --roles row for a transcript that does not exist is a typo: say so."""
    ids = {t.id for t, _ in parsed}
    for label, role, tid in reader.roles:
        if tid is not None and tid not in ids:
            raise InputError(None, f"roles file: transcript {tid!r} (label {label!r}) is not in the "
                             f"study; known ids: {', '.join(sorted(ids)[:10])}")


def _read_one(path: Path, options: ReaderOptions):
    return read_file(path, options, resolve=False)


def _segment_batch(batch, segmenter: Segmenter) -> list:
    return [u for transcript, turns in batch for u in segmenter.segment(transcript, turns)]


def study_file(path: str | os.PathLike, names: Mapping[str, tuple[str, ...]] | tuple[str, ...]) -> Path | None:
    """The first of ``names`` present in a study folder, or None."""
    path = Path(path)
    if not path.is_dir():
        return None
    for n in names:
        if (path / n).is_file():
            return path / n
    return None


def study_folder_file(folder, names: Sequence[str]) -> Path | None:
    """The first of ``names`` in a study folder, or None; when several are there, which one is
    used is said (a team may keep codebook.docx beside an exported codebook.csv); when none is,
    the one file whose name says it is one (:func:`study_file_role`)."""
    if folder is None or not Path(folder).is_dir():
        return None
    found = [Path(folder) / n for n in names if (Path(folder) / n).is_file()]
    if not found:
        return _named_like(Path(folder), names)
    if len(found) > 1:
        log.warning("%s: %s are all there; using %s (pass it explicitly to choose another)", folder,
                    ", ".join(f.name for f in found), found[0].name)
    return found[0]


def _named_like(folder: Path, names: Sequence[str]) -> Path | None:
    """The one file of ``folder`` with an extension of ``names`` whose name holds a word of their
    stem's (a codebook's words rule out coded segments); None, said, when several do."""
    stem = names[0].rsplit(".", 1)[0]
    exts = {"." + n.rsplit(".", 1)[1] for n in names}
    if stem not in STUDY_FILE_WORDS:
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts
                   and study_file_role(p.stem) == stem)
    if len(found) > 1:
        log.warning("%s: %s may each be %s.*; none used (pass the one to use explicitly)", folder,
                    ", ".join(p.name for p in found), stem)
        return None
    if found:
        log.info("%s: using %r as %s.* (its name says so)", folder, found[0].name, stem)
    return found[0] if found else None


#: metadata columns that name participants, in order of preference (case-insensitive)
PARTICIPANT_COLUMNS = ("participant_id", "participant", "case_id", "case")


def participant_column(metadata: pd.DataFrame) -> str | None:
    """The metadata column naming participants: the first of ``participant_id``, ``participant``,
    ``case_id``, ``case`` (case-insensitive) present, else None."""
    lower = {str(c).strip().lower(): c for c in metadata.columns}
    for name in PARTICIPANT_COLUMNS:
        if name in lower:
            return lower[name]
    return None
