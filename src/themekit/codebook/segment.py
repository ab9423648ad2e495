"""One coded segment: a span of a transcript a coder tagged with one code (a view by offsets)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CodedSegment", "DEFAULT_CODER"]

DEFAULT_CODER = "coder1"


@dataclass(frozen=True)
class CodedSegment:
    """A span of a transcript that a coder tagged with one code.

    ``order`` is when (or in which sequence) it was coded, as given in the file: a timestamp
    string such as ``"2025-07-07T09:44:55"`` or a number; ``None`` when unknown.
    """

    transcript_id: str
    start: int
    end: int
    code: str
    coder: str = DEFAULT_CODER
    text: str | None = None
    order: str | int | float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"segment offsets must satisfy 0 <= start < end (got {self.start}, {self.end})")
