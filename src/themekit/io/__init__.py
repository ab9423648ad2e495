"""Stage 1, io: transcript files in, utterances out.

Takes a study folder, a folder or files (plain text, Word, Teams/Zoom/Otter ``.vtt``/``.srt``,
CSV/TSV/JSONL; UTF-8/UTF-16/cp1252) and ``metadata.csv``; gives a :class:`~themekit.types.Corpus`
of transcripts and utterances, each utterance a view by exact character offsets into its
transcript, with speaker, role and metadata. Bad input stops with an ``InputError`` naming the
file and line. Modules: ``readers`` (reads any transcript file by choosing one of the
readers: ``plain_text``, ``subtitles``, ``word``, ``tables``; with what they share: ``turns``,
``decoding``, ``lines``, ``labels``), ``roles`` (who is speaking, decided over the whole study,
with evidence), ``segment`` (turns -> utterances with spaCy's sentencizer), ``load`` (study
folders, metadata).
Imports only :mod:`themekit.types` and :mod:`themekit.common`.
"""

from __future__ import annotations

from .load import PARTICIPANT_COLUMNS, STUDY_FILES, participant_column, read_metadata, read_transcripts, study_file
from .readers import (SUPPORTED_EXTENSIONS, ReaderOptions, Turn, decode_bytes, guess_role, parse_labelled_text,
                      read_file)
from .roles import RoleDecision, corpus_roles, decide_roles, read_role_overrides, write_roles
from .segment import Segmenter, is_backchannel, load_spacy

__all__ = ["read_transcripts", "read_metadata", "STUDY_FILES", "participant_column", "PARTICIPANT_COLUMNS",
           "ReaderOptions", "Turn", "read_file", "parse_labelled_text", "decode_bytes", "guess_role",
           "SUPPORTED_EXTENSIONS", "Segmenter", "is_backchannel", "load_spacy", "study_file",
           "RoleDecision", "decide_roles", "corpus_roles", "write_roles", "read_role_overrides"]
