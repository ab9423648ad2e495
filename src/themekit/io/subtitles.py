"""Subtitle transcripts: WebVTT (Teams, Zoom, Otter; voice tags ``<v Name>``, several voices
in a cue, NOTE/STYLE blocks, a header without its blank line) and SRT; ``Name: text`` and
``[SPEAKER_00]: text`` cue prefixes; a cue without a name goes on with the speaker before it."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

from ..types import InputError, Transcript
from .decoding import decode_bytes
from .labels import _KNOWN_LABEL, _NAME, _head, _label_of, _plausible_label
from .lines import _parse_ts
from .turns import ReaderOptions, Turn, resolve_alone

__all__ = ["read_subtitles"]

# A small parser of our own rather than webvtt-py: we need the line number of every fault for
# our error messages, and Teams/Zoom/Otter quirks (voice tags, "Name:" prefixes, cue ids).

_CUE_TIME = re.compile(
    r"^\s*(?P<a>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<b>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_VOICE = re.compile(r"<v(?:\.[\w.]+)?\s+([^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_PREFIX = re.compile(rf"^\s*(?:\[(?P<blabel>{_NAME})\]|(?P<label>{_NAME}))\s*:\s+(?=\S)")  # [SPEAKER_00]: WhisperX


def read_subtitles(path: Path, options: ReaderOptions, transcript_id: str | None = None, *,
                   resolve: bool = True) -> tuple[Transcript, list[Turn]]:
    """WebVTT or SRT → a transcript of ``Speaker: words`` paragraphs, one per speaker turn.

    Consecutive cues of one speaker merge into a turn; each cue's start/end time is kept.
    """
    raw = decode_bytes(path.read_bytes(), path)
    is_vtt = path.suffix.lower() == ".vtt"
    lines = raw.split("\n")
    if is_vtt and not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise InputError(path, "a WebVTT file must start with 'WEBVTT'; is this an SRT file "
                         "with the wrong extension?", line=1)
    cues: list[tuple[int, float, float, str | None, str]] = []  # line, t0, t1, speaker, text
    prefixed: dict[int, str] = {}   # cues named by a "Name: " prefix -> the cue's text with it
    n = len(lines)
    i = 0
    if is_vtt:  # the header runs to the first blank line ("Kind: captions", "Language: en")
        i = 1
        while (i < n and lines[i].strip() and not _CUE_TIME.match(lines[i])
               and not (i + 1 < n and _CUE_TIME.match(lines[i + 1]))):
            i += 1
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if is_vtt and line.startswith(("NOTE", "STYLE", "REGION")):
            while i < n and lines[i].strip():
                i += 1
            continue
        m = _CUE_TIME.match(line)
        if not m:
            if i + 1 < n and _CUE_TIME.match(lines[i + 1]):
                i += 1  # a cue id / SRT number
                continue
            raise InputError(path, f"expected a cue timing like '00:00:01.000 --> 00:00:04.000', "
                             f"found {line.strip()[:60]!r}", line=i + 1)
        t0, t1 = _parse_ts(m["a"]), _parse_ts(m["b"])
        if t1 < t0:
            raise InputError(path, f"cue ends ({m['b']}) before it starts ({m['a']})", line=i + 1)
        j = i + 1
        body = []
        while j < n and lines[j].strip():
            body.append(lines[j].strip())
            j += 1
        content = " ".join(body)
        # a cue may hold several voices: "<v Roger>Hi\n<v Neil>Hello" (the WebVTT spec's example)
        voices = list(_VOICE.finditer(content))
        pieces = ([(v.group(1).strip(), content[v.start():voices[k + 1].start() if k + 1 < len(voices) else None])
                   for k, v in enumerate(voices)] if voices else [(None, content)])
        if voices and content[:voices[0].start()].strip():
            pieces.insert(0, (None, content[:voices[0].start()]))
        for speaker, piece in pieces:
            piece = _TAG.sub("", piece).strip()
            if is_vtt:  # WebVTT escapes & < > as &amp; &lt; &gt; (R&amp;D)
                piece = html.unescape(piece)
            whole = piece
            if speaker is None:
                p = _PREFIX.match(piece)
                if p and _plausible_label(_label_of(p)):
                    speaker = _label_of(p)
                    piece = piece[p.end():]
                    prefixed[len(cues)] = whole
            if piece:
                cues.append((i + 1, t0, t1, speaker, piece))
        i = j
    if not cues:
        raise InputError(path, "no cues with text found; is the file a complete export?")
    cues = _check_prefixes(cues, prefixed)
    if any(c[3] for c in cues):
        # Otter and others name the speaker on the first cue of a turn only: an unnamed cue
        # goes on with the speaker before it
        named: list[tuple[int, float, float, str | None, str]] = []
        for c in cues:
            named.append(c if c[3] or not named else (*c[:3], named[-1][3], c[4]))
        cues = named

    # Render: one paragraph per merged turn, "Speaker: cue text cue text ...".
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    k = 0
    while k < len(cues):
        speaker = cues[k][3]
        label = f"{speaker}: " if speaker else ""
        parts.append(label)
        pos += len(label)
        start = pos
        times = []
        while k < len(cues) and cues[k][3] == speaker:
            if pos > start:
                parts.append(" ")
                pos += 1
            times.append((pos, cues[k][1], cues[k][2]))
            parts.append(cues[k][4])
            pos += len(cues[k][4])
            k += 1
        turns.append(Turn(speaker, start, pos, None, tuple(times)))
        parts.append("\n\n")
        pos += 2
    text = "".join(parts)
    tid = transcript_id or path.stem
    fmt = "vtt" if is_vtt else "srt"
    transcript = Transcript(tid, text, str(path), fmt)
    return transcript, (resolve_alone(transcript, turns, options) if resolve else turns)


def _check_prefixes(cues: list[tuple], prefixed: dict[int, str]) -> list[tuple]:
    """Cues whose "Name: " prefix is speech, given back their text and no speaker. Exports that
    name speakers by prefix name the first cue; otherwise a prefix counts when it has a label's
    known shape (``Interviewer``, ``P03``, ``Speaker 2``) or recurs: "Basically: it was the
    forms." once in unnamed captions is speech (and would name every cue after it)."""
    if not prefixed or 0 in prefixed:
        return cues
    counts = Counter(cues[k][3] for k in prefixed)
    out = list(cues)
    for k, whole in prefixed.items():
        name = cues[k][3]
        if counts[name] < 2 and not _KNOWN_LABEL.match(_head(name)):
            out[k] = (*cues[k][:3], None, whole)
    return out
