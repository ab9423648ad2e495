"""Speaker labels in transcript lines, as real exports type them: inline (``Interviewer:``,
``**P04:**``, ``[00:01:23] Jane Doe:``, ``Name (00:01:23):``, ``[SPEAKER_00]:``, ``李明：``,
``Interviewer - text``) or alone on a line (``INTERVIEWER``, ``Speaker 1  00:01:23``, ``### P03``,
``[Name] 10:02:15``); which are plausible names, which known shapes; one speaker however the
label is typed (:func:`_spellings`); names listed near the top (``SPEAKERS``, ``Participants:``)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Mapping

from .lines import _EM, _META_LINE, _SP, _TS, _Line, _parse_ts
from .roles import _norm

__all__: list[str] = []   # package-internal helpers of the readers

# A qualifier after the name: "Interviewer (JD):", "Participant (P03, nurse):"
_QUAL = r"(?:[^\S\n]*\((?![\d:.,]+\))[^()\n]{1,30}\))?"
# a name starts with a letter of any script (Émilie, Łukasz); "Doe, Jane" is how Teams shows
# directory names
_NAME = rf"[^\W\d_][\w.,'’\- \u00a0]{{0,38}}?{_QUAL}"
# a list bullet before a label (notes apps, Markdown): "- Interviewer: ..."
_BUL = rf"(?:[-*•]{_SP}+)?"
# [00:01:23] Name:   |   Name (00:01:23):   |   Name [00:01:23]:   |   Name 00:01:23:  |  Name:
# | Name: [00:01:23] text (Sonix) | **Name:** text | 00:01:23<TAB>Name<TAB>text (tab-separated)
# | [SPEAKER_00]: text (WhisperX) | 李明：text
_INLINE_LABEL = re.compile(
    rf"^{_SP}*{_BUL}{_EM}(?:[\[(]?(?P<ts1>{_TS})[\])]?{_SP}*[-–]?{_SP}*)?{_EM}"
    rf"(?:\[(?P<ilabel>{_NAME})\]|(?P<label>{_NAME}))"
    rf"{_SP}*(?:[\[(](?P<ts2>{_TS})[\])]|(?P<ts3>{_TS}))?(?:{_SP}*{_EM}:{_EM}{_SP}+|{_SP}*{_EM}：{_EM}{_SP}*|\t+)"
    rf"(?![\[(]?{_TS}[\])]?{_SP}*$)"  # "Name: [00:00:05]" alone: a label on its own line
    rf"(?:[\[(](?P<ts4>{_TS})[\])]{_SP}+)?(?=\S)"
)
# "Interviewer - text", "INT – text": a dash after a label, for role words and ids of two
# letters or more only (a dash after a word is common in speech: "I - I mean")
_DASH_LABEL = re.compile(rf"^{_SP}*{_BUL}{_EM}(?P<label>{_NAME}){_EM}{_SP}+[-–—]{_SP}+(?=\S)")
# a label alone on its line:  INTERVIEWER  |  P04:  |  Speaker 1  00:01:23  |  Name (00:01)
# | [Name] 10:02:15 (Zoom's saved transcript) | **Interviewer** | ### P03 | [00:00:05] - Speaker 1
# | Name: [00:00:05]
_OWN_LINE_LABEL = re.compile(
    rf"^{_SP}*(?:#{{1,6}}{_SP}+)?{_BUL}{_EM}(?:[\[(]?(?P<ts1>{_TS})[\])]?{_SP}*(?:[-–]{_SP}*)?)?{_EM}(?P<label>{_NAME})"
    rf"{_SP}*(?:[\[(]?(?P<ts2>{_TS})[\])]?)?{_SP}*{_EM}:?{_EM}{_SP}*(?:[\[(]?(?P<ts4>{_TS})[\])]?{_SP}*)?$"
    rf"|^{_SP}*\[(?P<blabel>{_NAME})\]{_SP}+(?P<bts>{_TS}){_SP}*$"
)
# labels trusted even when they occur once: role words, ids, and the placeholders that
# transcription tools write for voices they could not name ("Speaker 3", "Unknown Speaker")
_KNOWN_LABEL = re.compile(
    r"^(?:interviewer|interviewee|respondent|participant|moderator|facilitator|researcher|"
    r"speaker|int|i|r|q|a|p|pt|resp)[ _-]?\d{0,3}$|^[A-Z]{1,3}\d{1,3}$"
    r"|^(?:unknown|unidentified)(?:[ _-]?speaker)?(?:[ _-]?\d{1,3})?$",
    re.IGNORECASE,
)
# labels of the transcriber's own notes, not of a speaker: "Note: phone rings",
# "Transcriber's note: long pause" (their turns are role "other", like "(laughs)")
_NOTE_LABEL = re.compile(r"^(?:transcri(?:ber|ptionist)(?:['’]s)?\s+)?(?:notes?|comments?|annotation|memo)$",
                         re.IGNORECASE)
# lower-case words inside names: "Ana de Souza", "Ludwig van Beethoven"
_NAME_PARTICLES = {"de", "van", "von", "der", "den", "da", "del", "della", "di", "du", "la", "le", "bin",
                   "bint", "al", "el", "ter", "ten", "y"}


def _head(label: str) -> str:
    """A label without its qualifier: ``Interviewer (JD)`` -> ``Interviewer``."""
    return re.sub(r"\s*\([^()]*\)$", "", label).strip() or label.strip()


def _plausible_label(label: str) -> bool:
    label = _head(label)
    words = label.split()
    if _NOTE_LABEL.match(label):
        return True
    if not words or len(words) > 4 or label.endswith(",") or label.count(",") > 1:
        return False
    # Sentences that happen to contain a colon ("So the thing is: ...") are not labels; names
    # are: each word has a capital ("Sam’s iPhone", "McDonald") or a digit, or is a particle.
    if len(words) > 1 and not all(any(ch.isupper() or ch.isdigit() for ch in w) or w in _NAME_PARTICLES
                                  for w in words):
        return False
    return True


def _label_of(m: re.Match) -> str:
    """The speaker label a match found, its spaces normalised (a no-break space is a space)."""
    g = m.groupdict()
    return " ".join((g.get("label") or g.get("blabel") or g.get("ilabel") or "").split())


def _time_of(m: re.Match) -> float | None:
    g = m.groupdict()
    return _parse_ts(next((g[k] for k in ("ts1", "ts2", "ts3", "ts4", "bts") if g.get(k)), None))


def _spellings(counts: Mapping[str, int], listed: set[str] = frozenset()) -> dict[str, str]:
    """Each label's spelling in the transcript: the most frequent of those that differ only in
    case, spaces, punctuation or leading zeros; a label said once that is one typo away from a
    frequent name (five letters or more, no digits: ``P01``/``P02`` are different people) is
    that name -- unless it is a listed speaker (``listed``, label keys) or differs only in its
    last letter (``Maria``/``Mario``, ``Daniel``/``Daniela``: another person's name)."""
    by_key: dict[str, list[str]] = {}
    for label in counts:
        by_key.setdefault(_norm(label), []).append(label)
    spelling = {}
    total = Counter()
    for labels in by_key.values():
        best = max(labels, key=lambda x: counts[x])   # ties: the first seen
        for label in labels:
            spelling[label] = best
        total[best] = sum(counts[x] for x in labels)
    frequent = [x for x, n in total.items() if n >= 3 and len(x) >= 5 and not any(c.isdigit() for c in x)]
    for label, best in list(spelling.items()):
        if total[best] != 1 or len(label) < 5 or any(c.isdigit() for c in label) or _norm(_head(label)) in listed:
            continue
        near = [f for f in frequent if _edits(label.casefold(), f.casefold(), 1 if len(f) < 9 else 2)
                and not _other_ending(label.casefold(), f.casefold())]
        if len(near) == 1:
            spelling[label] = near[0]
    return spelling


def _other_ending(a: str, b: str) -> bool:
    """Whether two names differ only in their last letter (one changed, added or dropped)."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    return len(a) - p <= 1 and len(b) - p <= 1


def _edits(a: str, b: str, limit: int) -> bool:
    """Whether ``a`` is at most ``limit`` edits (insert, delete, substitute) from ``b``."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return False
        prev = cur
    return prev[-1] <= limit


_SPEAKER_LIST_KEYS = {"speakers", "participants", "attendees", "present", "interviewees", "teilnehmende",
                      "sprecher"}


def _listed_speakers(text: str, lines: list[_Line], labels: set[str]) -> set[str]:
    """Names listed near the top ("SPEAKERS" then "Jane Doe, Sam Patel" in Otter's exports;
    "Participants: Jane Doe (Moderator), Sam, Ali"), as label keys: a listed name is a speaker
    even when it speaks once. A list counts when at least half of its names are among
    ``labels`` (the keys of the lines that look like labels): "Present: me, my mum and Sam." in
    an answer names no speakers."""
    out: set[str] = set()
    top = [text[ln.start:ln.end].strip() for ln in lines[:40]]
    for k, s in enumerate(top):
        m = _META_LINE.match(s)
        if m and " ".join(m["key"].lower().split()) in _SPEAKER_LIST_KEYS:
            items = s[m.end():]
        elif s.strip("*_#: ").lower() in _SPEAKER_LIST_KEYS:
            items = next((x for x in top[k + 1:] if x), "")
        else:
            continue
        keys = {_norm(_head(part.strip().strip("*_"))) for part in re.split(r"[,;&]|\band\b|\bund\b", items)}
        keys.discard("")
        if keys and 2 * len(keys & labels) >= len(keys):
            out |= keys
    return out
