"""Code names as coding exports write them, matched to the codebook: case and spacing, paths
(``Barriers\\Access``, NVivo's ``Codes\\\\Barriers\\Access``), numbers (``1.2 Access barriers``); and
code lists in one cell (one a line, ``;``, ``|``, ``,``).
"""

from __future__ import annotations

import re

__all__ = ["code_matcher", "split_codes"]

_CODE_SEP = re.compile(r"\s*[;|]\s*")  # code lists joined by ';' or '|' (or ',' when no other)


def code_matcher(codebook):
    """A function from a code name as a coding export writes it to the codebook's name, or None.

    Matches, in order: the exact name; the name ignoring case and spacing (unless two codes
    differ only so); a path
    ('Barriers\\Access', 'Barriers > Access', NVivo's 'Codes\\\\Barriers\\Access') by its last
    part; a numbered name ('1.2 Access barriers') without its number, either side."""
    from .table_codebook import _code_path

    names = [c.name for c in codebook.codes]
    exact = set(names)

    def key(s: str) -> str:
        return " ".join(s.casefold().split())

    def bare(s: str) -> str:
        return re.sub(r"^\d+(?:\.\d+)*\.?\s+", "", s)

    by_key: dict[str, str | None] = {}
    by_bare: dict[str, str | None] = {}
    for n in names:
        k = key(n)
        by_key[k] = n if k not in by_key else None  # two codes that differ only in case: no guess
        b = key(bare(n))
        by_bare[b] = n if b not in by_bare else None  # ambiguous without the number

    def match(raw: str) -> str | None:
        raw = raw.strip()
        if raw in exact:
            return raw
        tries = [raw]
        parts = _code_path(raw)
        if len(parts) > 1:
            tries.append(parts[-1])
        for t in tries:
            if t in exact:
                return t
            k = key(t)
            if k in by_key:
                if by_key[k] is None:
                    continue
                return by_key[k]
            if by_bare.get(key(bare(t))):
                return by_bare[key(bare(t))]
        return None

    return match


def split_codes(cell: str, plural: bool, match) -> list[str]:
    """The codes in one cell: one a line (a code name is one line), or joined by ';' or '|'; by ','
    only when the codebook knows every part, or in a codes/tags column read without a codebook.
    A cell (or line) that is a code of the codebook stays whole."""
    cell = cell.strip()
    if not cell:
        return []
    out = []
    for part in (p.strip() for p in cell.split("\n")):
        if not part:
            continue
        if match is not None and match(part):
            out.append(part)
            continue
        pieces = [c for c in _CODE_SEP.split(part) if c]
        if not pieces:  # only separators
            continue
        strong = len(pieces) > 1
        if not strong:
            pieces = [c.strip() for c in part.split(",") if c.strip()]
            if not pieces:
                continue
        known = match is not None and all(match(c) for c in pieces)
        if not strong and not known and match is not None and len(pieces) > 2:
            groups = _known_groups(pieces, match)  # 'Cost, time and travel, Trust': codes with commas
            if groups is not None:
                pieces, known = groups, True
        if len(pieces) > 1 and (strong or known or (plural and match is None)):
            out += pieces
        else:
            out.append(part)
    return out


def _known_groups(pieces: list[str], match) -> list[str] | None:
    """The comma-separated pieces joined into runs that are each a code of the codebook (fewest
    codes), or None when they cannot all be."""
    best: list[list[str] | None] = [[]] + [None] * len(pieces)  # best[i]: codes covering pieces[:i]
    for i in range(1, len(pieces) + 1):
        for j in range(i):
            name = ", ".join(pieces[j:i])
            if best[j] is not None and match(name) and (best[i] is None or len(best[j]) + 1 < len(best[i])):
                best[i] = best[j] + [name]
    return best[-1]
