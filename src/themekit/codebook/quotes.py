"""Finding a coded quote in its transcript when the export changed it: spacing, typographic
quotes and dashes, '…', HTML markup (Taguette), or a speaker label left out between two turns.
Offsets map back to the transcript's own characters, so a segment stays a view of its text.
"""

from __future__ import annotations

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


def _normal_view(text: str, lines: bool = False) -> tuple[str, list[int]]:
    """Text with spacing collapsed (to one space, or to a line break where the run has one when
    ``lines``), typographic quotes and dashes plain, '…' as '...'; and for each of its characters
    the offset in ``text`` it came from."""
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
            if lines and ch in "\n\r":
                out[-1] = "\n"
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


# between two words of a quote: a space or line break, or a turn boundary whose speaker label (and
# time stamp) the export left out — only at a line break, so no words inside a turn are skipped
_STAMP = r"[\[(]?[\d:.,]+[\])]?"
_LABEL_GAP = (rf"(?:[ \n]|\n(?:{_STAMP} )?(?:[A-Z][\w.'\-]*(?: [\w.'\-]+){{0,3}}(?: {_STAMP})?:)?[ \n])")


def find_quote(text: str, quote: str, after: int, near: int | None = None) -> tuple[int, int, str] | None:
    """(start, end, how) of the quote: the occurrence starting nearest ``near`` when given (the
    row's own offsets, a little off), else the first at/after ``after``, else the first. ``how``
    is 'exact', or what had to be ignored to find it."""
    def pick(hits: list[tuple[int, int]]) -> tuple[int, int] | None:
        if not hits:
            return None
        if near is not None:
            return min(hits, key=lambda h: abs(h[0] - near))
        return next((h for h in hits if h[0] >= after), hits[0])

    hits, i = [], text.find(quote)
    while quote and i >= 0:
        hits.append((i, i + len(quote)))
        i = text.find(quote, i + 1)
    found = pick(hits)
    if found is not None:
        return (*found, "exact")
    words = quote.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
    found = pick([m.span() for m in pattern.finditer(text)])
    if found is not None:
        return (*found, "whitespace")
    norm, idx = _normal_view(text, lines=True)
    q = _normal_view(quote)[0].split()
    if not q:
        return None
    for how, gap in (("typography (quotes, dashes, '…')", "[ \n]"), ("a speaker label between turns", _LABEL_GAP)):
        rx = re.compile(gap.join(re.escape(w) for w in q))
        found = pick([(idx[s], idx[e - 1] + 1) for s, e in _whole_matches(rx, norm, idx)])
        if found is not None:
            return (*found, how)
    return None


def _whole_matches(rx, norm: str, idx: list[int]) -> list[tuple[int, int]]:
    """The matches that neither start nor end inside one character's expansion (a '…' read as
    '...'), one per start."""
    out, pos = [], 0
    while pos <= len(norm):
        m = rx.search(norm, pos)
        if m is None:
            break
        s, e = m.start(), m.end()
        if e > s and (s == 0 or idx[s - 1] != idx[s]) and (e == len(norm) or idx[e] != idx[e - 1]):
            out.append((s, e))
        pos = s + 1
    return out
