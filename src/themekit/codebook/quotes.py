"""Finding a coded quote in its transcript when the export changed it: spacing, typographic
quotes and dashes, '…', HTML markup (Taguette), or a speaker label left out between two turns.
Offsets map back to the transcript's own characters, so a segment stays a view of its text.
"""

from __future__ import annotations

import bisect
import re

__all__ = ["find_quote", "plain_quote"]

_TYPO = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'", "“": '"',
                       "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"', "–": "-", "—": "-",
                       "‒": "-", "―": "-", "−": "-", "‐": "-", "‑": "-"})
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u2060"}
_HTML = re.compile(r"</?(?:p|span|br|b|i|u|em|strong|div|mark|a|font)\b[^>]*>", re.IGNORECASE)


def plain_quote(s: str) -> str:
    """A quote as exported, without HTML markup (Taguette exports highlights as HTML)."""
    if _HTML.search(s):
        import html

        s = html.unescape(_HTML.sub(" ", re.sub(r"<br\s*/?>|</p>", "\n", s, flags=re.IGNORECASE)))
    return s


def _normal_view(text: str) -> tuple[str, list[int]]:
    """Text with spacing collapsed, typographic quotes and dashes plain, '…' as '...'; and for
    each of its characters the offset in ``text`` it came from."""
    out: list[str] = []
    idx: list[int] = []
    space = False
    for i, ch in enumerate(text):
        if ch in _INVISIBLE:
            continue
        if ch.isspace():
            if not space:
                out.append(" ")
                idx.append(i)
            space = True
            continue
        space = False
        if ch == "…":
            out += "..."
            idx += [i, i, i]
        else:
            out.append(ch.translate(_TYPO))
            idx.append(i)
    return "".join(out), idx


# a speaker label at the start of a turn, as an export may leave it out of a quote that spans turns
_LABEL_GAP = r"(?: [\[(]?[\d:.,]*[\])]?)?(?: [A-Z][\w.'\-]*(?: [\w.'\-]+){0,3}(?: [\[(]?[\d:.,]+[\])]?)?:)? "


def find_quote(text: str, quote: str, after: int) -> tuple[int, int, str] | None:
    """(start, end, how) of the quote: first match at/after ``after``, else the first. ``how`` is
    'exact', or what had to be ignored to find it."""
    i = text.find(quote, after)
    if i < 0:
        i = text.find(quote)
    if i >= 0:
        return i, i + len(quote), "exact"
    pattern = re.compile(r"\s+".join(re.escape(w) for w in quote.split()))
    m = pattern.search(text, after) or pattern.search(text)
    if m is not None:
        return m.start(), m.end(), "whitespace"
    norm, idx = _normal_view(text)
    q = _normal_view(quote)[0].strip()
    if not q:
        return None
    n_after = bisect.bisect_left(idx, after)
    for how, pat in (("typography (quotes, dashes, '…')", re.escape(q)),
                     ("a speaker label between turns", _LABEL_GAP.join(re.escape(w) for w in q.split(" ")))):
        rx = re.compile(pat)
        for begin in (n_after, 0):
            m = _whole_search(rx, norm, idx, begin)
            if m is not None:
                return idx[m[0]], idx[m[1] - 1] + 1, how
    return None


def _whole_search(rx, norm: str, idx: list[int], pos: int) -> tuple[int, int] | None:
    """The first match at/after ``pos`` that neither starts nor ends inside one character's
    expansion (a '…' read as '...')."""
    while pos <= len(norm):
        m = rx.search(norm, pos)
        if m is None:
            return None
        s, e = m.start(), m.end()
        if e > s and (s == 0 or idx[s - 1] != idx[s]) and (e == len(norm) or idx[e] != idx[e - 1]):
            return s, e
        pos = s + 1
    return None
