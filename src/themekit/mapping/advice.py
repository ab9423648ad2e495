"""What helps a weak codebook: the warning a mapper gives when most codes are bare names.

A code described by its name alone ("Trust", "Barriers") gives the mapper little to go on:
on real interviews a names-only codebook gives near-chance suggestions. What helps most, in
order of effort: a one-sentence definition per code, two or three example extracts, or coding
the utterances ``code_next.csv`` proposes (they teach the mapper most per label).
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["bare_codes", "weak_codebook", "WEAK_SHARE"]

#: a codebook is weak when more than this share of its codes has no description at all
WEAK_SHARE = 0.5


def bare_codes(codes: Sequence) -> list[str]:
    """Names of the codes with no definition, no inclusion/exclusion criteria and no examples."""
    return [c.name for c in codes
            if not (c.definition or c.include or c.exclude or c.examples)]


def weak_codebook(codes: Sequence) -> str | None:
    """One line saying the codebook is weak and what helps, or None when most codes are described."""
    codes = list(codes)
    bare = bare_codes(codes)
    if not codes or len(bare) / len(codes) <= WEAK_SHARE:
        return None
    return (f"weak codebook: {len(bare)} of {len(codes)} codes have only a name (no definition, criteria "
            "or examples), so suggestions are close to guessing. What helps most: a one-sentence "
            "definition per code, 2-3 example extracts per code, or coding the utterances in "
            "code_next.csv (they teach the mapper most per label).")
