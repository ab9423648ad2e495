"""Plain-text transcripts (``.txt``, ``.md``; also Word text once extracted): speaker labels
inline or on their own line (Otter, Zoom, Teams, Rev, Sonix, Happy Scribe, hand-typed
``I:``/``P:``), time lines, header blocks (``Date:``, ``Interviewer: JD``) and end marks left
out; without labels, each line or paragraph a block, numbered questions the interviewer's."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Mapping

from ..types import InputError, Transcript, strip_directions
from .decoding import decode_bytes
from .labels import (_DASH_LABEL, _INLINE_LABEL, _KNOWN_LABEL, _NOTE_LABEL, _OWN_LINE_LABEL, _head,
                     _label_of, _listed_speakers, _plausible_label, _spellings, _time_of)
from .lines import _FULL_LINE_DIRECTION, _TIME_LINE, _Line, _end_mark, _lines, _meta_key, _parse_ts
from .roles import _norm
from .turns import ReaderOptions, Turn, _trim, resolve_alone

__all__ = ["parse_labelled_text", "parse_turns", "read_text_file"]


def parse_labelled_text(text: str, options: ReaderOptions = ReaderOptions(),
                        path: str | Path | None = None) -> list[Turn]:
    """Speaker turns of a plain-text transcript (labels inline or on their own line, or none),
    with roles decided for this transcript alone (see :mod:`themekit.io.roles`).

    A label is trusted when it has a known shape (``Interviewer``, ``I``, ``P01``,
    ``Speaker 2``, ``Unknown Speaker``) or recurs at least twice. With labels, unlabelled lines
    continue the current turn; without any, each line (or paragraph) is a block of its own, and
    lines matching ``options.prompt_pattern`` are interviewer prompts.
    """
    turns = _parse_labelled(text, options, path)
    return resolve_alone(Transcript(str(path or "transcript"), text, str(path or ""), "txt"), turns, options)


def parse_turns(text: str, options: ReaderOptions = ReaderOptions(), path: str | Path | None = None
                ) -> list[Turn]:
    """Speaker turns of a plain-text transcript with roles only where the text itself says
    (prompt lines, observations): for :func:`~themekit.io.roles.decide_roles` over a study."""
    return _parse_labelled(text, options, path)


def _parse_labelled(text: str, options: ReaderOptions, path: str | Path | None = None,
                    asked: set[int] = frozenset()) -> list[Turn]:
    """Speaker turns, roles only where the text itself says (prompts, observations).

    ``asked``: line numbers (0-based) that are the interviewer's in a transcript without labels
    (a Word layout: questions in bold)."""
    lines = _lines(text)
    inline: dict[int, re.Match] = {}
    own: dict[int, re.Match] = {}
    times: dict[int, float | None] = {}   # lines that are only a time
    ends: set[int] = set()                # "END OF TRANSCRIPT", "Transcribed by https://otter.ai"
    counts: Counter[str] = Counter()
    for i, ln in enumerate(lines):
        s = text[ln.start:ln.end]
        if not s.strip():
            continue
        t = _TIME_LINE.match(s)
        if t:
            times[i] = _parse_ts(t["a"])
            continue
        if _end_mark(s):
            ends.add(i)
            continue
        # the label patterns backtrack a lot on lines that cannot match: a cheap test first
        # (an inline label ends in ':', '：' or a tab; a dash label has a dash)
        m = _INLINE_LABEL.match(s) if (":" in s or "：" in s or "\t" in s) else None
        if not (m and _plausible_label(_label_of(m))):
            m = _DASH_LABEL.match(s) if ("-" in s or "–" in s or "—" in s) else None
            # not one letter: "I - I mean" is speech
            m = m if m and len(_head(_label_of(m))) > 1 and _KNOWN_LABEL.match(_head(_label_of(m))) else None
        if m and _plausible_label(_label_of(m)):
            inline[i] = m
            counts[_label_of(m)] += 1
            continue
        m = _OWN_LINE_LABEL.match(s) if len(s.strip()) <= 40 else None   # longer: speech
        nxt = next((j for j in range(i + 1, len(lines)) if lines[j].end > lines[j].start
                    and text[lines[j].start:lines[j].end].strip()), None)
        if (m and nxt is not None and _plausible_label(_label_of(m)) and len(s.strip()) <= 40
                and not _label_of(m).endswith((".", "!", "?", ","))):
            own[i] = m
            counts[_label_of(m)] += 1

    # one speaker however the label is typed: "INTERVIEWER"/"Interviewer", "P7"/"P07", and a
    # one-off typo of a frequent name ("Interviwer")
    listed = _listed_speakers(text, lines, {_norm(_head(label)) for label in counts})
    spelling = _spellings(counts, listed)
    group: Counter[str] = Counter()
    for label, n in counts.items():
        group[spelling[label]] += n

    def trusted(label: str) -> bool:
        return (bool(_KNOWN_LABEL.match(_head(label)) or _NOTE_LABEL.match(_head(label)))
                or group[spelling[label]] >= 2
                or _norm(_head(label)) in listed)

    def dated(i: int, m: re.Match) -> bool:  # a time on the label's line or on the line above
        prev = next((j for j in range(i - 1, -1, -1) if text[lines[j].start:lines[j].end].strip()), None)
        return _time_of(m) is not None or prev in times

    inline = {i: m for i, m in inline.items() if trusted(_label_of(m))}
    # On its own line a word is more often a heading, so a plain name needs three occurrences;
    # two when a timestamp goes with it (Otter's "Name  0:05", Teams' time line above a name).
    # A letter alone ("I") said once is a hard-wrapped line of speech more often than a label.
    own = {i: m for i, m in own.items() if trusted(_label_of(m))
           and (_label_of(m).isupper() or _KNOWN_LABEL.match(_head(_label_of(m)))
                or _norm(_head(_label_of(m))) in listed
                or group[spelling[_label_of(m)]] >= (2 if dated(i, m) else 3))
           and (len(_head(_label_of(m))) > 1 or group[spelling[_label_of(m)]] >= 2 or dated(i, m))}
    header = _header_lines(text, lines, inline, own, once={i for i, m in inline.items()
                                                           if group[spelling[_label_of(m)]] == 1})
    inline = {i: m for i, m in inline.items() if i not in header}
    own = {i: m for i, m in own.items() if i not in header}
    nonblank = sum(1 for ln in lines if text[ln.start:ln.end].strip())
    labelled = (len(inline) + 2 * len(own)) >= max(2, 0.2 * nonblank)
    prompt = re.compile(options.prompt_pattern) if options.prompt_pattern else None

    turns: list[Turn] = []
    cur: dict | None = None
    resume: dict | None = None   # the speaker a time line interrupted, and the time
    when: float | None = None     # a time line's time, for the next label

    def close():
        nonlocal cur
        if cur is not None:
            s, e = _trim(text, cur["start"], cur["end"])
            if e > s and (strip_directions(text[s:e]) or cur.get("role") == "other"):
                role = cur.get("role")
                times = ((s, cur["time"], None),) if cur["time"] is not None else ()
                turns.append(Turn(cur["speaker"], s, e, role, times))
        cur = None

    for i, ln in enumerate(lines):
        s = text[ln.start:ln.end]
        if i in header or i in ends:
            close()
            resume = when = None
            continue
        if i in times:
            if cur is not None and cur.get("pending") and cur["time"] is None:
                cur["time"] = times[i]      # "Speaker 1" then "00:00:05" on the next line
            elif labelled:
                # a time inside a turn: the turn goes on after it, dated from here
                resume = {"speaker": cur["speaker"], "time": times[i]} if cur is not None else None
                close()
                when = times[i]
            else:
                close()
            continue
        if i in inline or i in own:
            m = inline.get(i) or own[i]
            close()
            resume = None
            t = _time_of(m)
            cur = {"speaker": spelling[_label_of(m)], "time": when if t is None else t}
            if _NOTE_LABEL.match(_head(cur["speaker"])):
                cur["role"] = "other"
            when = None
            if i in inline:
                cur.update(start=ln.start + m.end(), end=ln.end)
            else:
                cur.update(start=ln.end, end=ln.end, pending=True)
        elif not s.strip():
            if not labelled:
                close()
        elif labelled and cur is not None:
            if cur.pop("pending", False):
                cur["start"] = ln.start
            cur["end"] = ln.end
        elif labelled and resume is not None:
            cur = {"speaker": resume["speaker"], "start": ln.start, "end": ln.end, "time": resume["time"]}
            resume = when = None
        elif labelled:  # text before the first label (a title, a header): not speech
            continue
        else:
            close()
            is_prompt = bool(prompt and prompt.match(s)) or i in asked
            cur = {"speaker": None, "start": ln.start, "end": ln.end, "time": None,
                   "role": "interviewer" if is_prompt else None}
            if not is_prompt and _FULL_LINE_DIRECTION.match(s):
                cur["role"] = "other"  # an observation such as "(The participant reads the task)"
    close()
    if not turns:
        raise InputError(path, "no transcript text found (only labels, headers or stage directions)")
    return turns


def _header_lines(text: str, lines: list[_Line], inline: Mapping[int, re.Match],
                  own: Mapping[int, re.Match], once: set[int] = frozenset()) -> set[int]:
    """Lines of a header block before the first turn: a title, ``Date: ...``, ``Duration: ...``,
    ``Interviewer: JD``, ``Participant: P03`` -- not speech, though some look like labels.

    A header needs at least one line with a header key (date, duration, location...). It runs
    from the top over short lines that do not end a sentence, up to the last line with a header
    key, on over lines whose label is said nowhere else (``once``), and to the end of that
    paragraph when the whole paragraph is header-like.
    """
    def headerish(i: int) -> bool:
        raw = text[lines[i].start:lines[i].end]
        s = raw.strip()
        if i in own or len(s) > 100:
            return False
        if _meta_key(s):
            return True
        body = (raw[inline[i].end():] if i in inline else s).strip().rstrip("*_").strip()
        return len(body.split()) <= 8 and not body.endswith((".", "?", "!", "…"))

    run: list[int] = []
    for i, ln in enumerate(lines):
        s = text[ln.start:ln.end]
        if not s.strip():
            continue
        if not headerish(i):
            break
        run.append(i)
    keyed = [i for i in run if _meta_key(text[lines[i].start:lines[i].end].strip())]
    if not keyed:
        return set()
    last = keyed[-1]
    # on over labels said only here ("Interviewer: JD" above turns labelled "I:")
    while last + 1 in run and last + 1 in once:
        last += 1
    para_end = next((j for j in range(last + 1, len(lines)) if not text[lines[j].start:lines[j].end].strip()),
                    len(lines))
    if all(j in run for j in range(last + 1, para_end)):
        last = para_end - 1
    return set(range(0, last + 1))


def read_text_file(path: Path, options: ReaderOptions, transcript_id: str | None = None, *,
                   resolve: bool = True) -> tuple[Transcript, list[Turn]]:
    text = decode_bytes(path.read_bytes(), path)
    tid = transcript_id or path.stem
    transcript = Transcript(tid, text, str(path), "txt")
    turns = _parse_labelled(text, options, path)
    return transcript, (resolve_alone(transcript, turns, options) if resolve else turns)
