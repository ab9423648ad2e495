"""What every transcript reader gives and takes: :class:`Turn` (a speaker's span of a
transcript, by character offsets), :class:`ReaderOptions`, and roles decided for one transcript
alone (:func:`resolve_alone`) with the settings :func:`~themekit.io.roles.decide_roles` takes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from ..types import Transcript
from .roles import INTERVIEWER_LABELS, PARTICIPANT_LABELS, decide_roles

__all__ = ["Turn", "ReaderOptions", "guess_role", "resolve_alone", "role_settings"]


@dataclass(frozen=True)
class Turn:
    """One speaker's uninterrupted contribution: ``text[start:end]`` without the label.

    ``times`` maps offsets to timestamps: ``(offset, start_time, end_time)`` for each cue or
    timestamp inside the turn, so utterances cut from it can keep their times.
    """

    speaker: str | None
    start: int
    end: int
    role: str | None = None
    times: tuple[tuple[int, float | None, float | None], ...] = ()


@dataclass(frozen=True)
class ReaderOptions:
    """Settings for reading transcripts.

    interviewer_labels: regex matching speaker labels of the research team (case-insensitive).
    participant_labels: regex matching speaker labels of participants (case-insensitive).
    interviewer: explicit interviewer label(s), in every transcript where they speak.
    roles: explicit roles, ``(label, role, transcript_id or None)`` (what ``--roles FILE`` gives);
        they come first. How the other labels are decided: :mod:`themekit.io.roles`.
    prompt_pattern: in transcripts without speaker labels, lines matching this regex are the
        interviewer's prompts (e.g. numbered questions ``3.a Please explain ...``).
    table_columns: for CSV/JSONL, mapping of ``transcript``, ``speaker``, ``text``, ``start_time``,
        ``end_time``, ``role`` to the file's column names (guessed when not given).
    """

    interviewer_labels: str = INTERVIEWER_LABELS
    participant_labels: str = PARTICIPANT_LABELS
    interviewer: tuple[str, ...] = ()
    roles: tuple[tuple[str, str, str | None], ...] = ()
    prompt_pattern: str = r"^\s*\d+(?:\.\w+)*[.)]?\s+\S"
    table_columns: Mapping[str, str] = field(default_factory=dict)


def guess_role(label: str | None, options: ReaderOptions) -> str | None:
    """The role a label's words alone say (``Interviewer``...), else None. Kept for callers of
    the old API; readers leave roles to :func:`themekit.io.roles.decide_roles`."""
    if label is None:
        return None
    if options.interviewer:
        return "interviewer" if label in options.interviewer else "participant"
    if re.fullmatch(options.interviewer_labels, label.strip(), re.IGNORECASE):
        return "interviewer"
    return None


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def resolve_alone(transcript: Transcript, turns: list[Turn], options: ReaderOptions) -> list[Turn]:
    """Roles of one transcript decided on its own (no study around it)."""
    [(_, turns)], _ = decide_roles([(transcript, turns)], None, **role_settings(options))
    return turns


def role_settings(options: ReaderOptions) -> dict:
    """The keyword arguments of :func:`~themekit.io.roles.decide_roles` that ``options`` sets."""
    return {"interviewer_labels": options.interviewer_labels,
            "participant_labels": options.participant_labels,
            "interviewer": tuple(options.interviewer), "overrides": tuple(options.roles)}
