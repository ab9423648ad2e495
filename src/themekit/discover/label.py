"""What a group of utterances is about: key terms, a short label, exemplar quotes, spread.

- **Key terms**: class-based TF-IDF (c-TF-IDF, as in BERTopic) over lemmatised words: each
  group's utterances are one document; a term scores ``tf(term, group) * log(1 + A / f(term))``
  with ``tf`` the term's share of the group's words, ``A`` the mean number of words per group
  and ``f`` the term's count over all groups. Terms are lower-cased lemmas (spaCy's English
  lookup tables from ``spacy-lookups-data``) and adjacent-lemma bigrams; English stop words and
  the fillers of transcribed speech (``um``, ``yeah``, ``kind of``, ``I mean`` ...) are dropped,
  ties go to bigrams,
  and a term must occur in at least two of a group's utterances (one in a group of one).
- **Label**: the top 2-3 key terms joined with `` / `` (a term already contained in a chosen
  bigram is skipped).
- **Exemplars**: 3-5 verbatim quotes chosen by maximal marginal relevance: the utterance
  nearest the group's centroid first, then each next one trading closeness to the centroid
  against similarity to the quotes already chosen, with a bonus for a participant not yet
  quoted. Utterances with fewer than 3 content words are used only when there are too few others.
- **Spread**: how many transcripts and participants voice the group, and the participants'
  share of all participants in the analysed data.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from ..types import Utterance

__all__ = ["FILLERS", "LEMMA_OVERRIDES", "Lemmatizer", "participant_key", "key_terms", "make_label",
           "select_exemplars", "spread"]

#: Words of spoken interaction that carry no topic (added to spaCy's English stop words).
FILLERS = frozenset("""
um umm uh uhh uhm erm er ah ahh eh oh ooh hmm hm mm mmm mhm huh
yeah yes yep yup nope ok okay alright right sure
like know mean thing things stuff lot lots bit really just actually basically
literally totally definitely probably maybe perhaps pretty quite gonna wanna gotta dunno
think guess suppose say said get got go going anyway obviously
""".split())

#: Lookup-table lemmas that read wrongly in interview talk ("data" -> "datum", "number" -> "numb",
#: "matter" -> "matt").
LEMMA_OVERRIDES = {"data": "data", "datum": "data", "number": "number", "matter": "matter",
                   "better": "better", "best": "best", "media": "media", "criteria": "criteria", "does": "do",
                   "less": "less", "left": "left", "evening": "evening", "wo": "", "ca": "", "sha": ""}
#: Words that are fillers only before "of" ("kind of", "sort of"): "a kind nurse" keeps "kind".
_HEDGES = frozenset({"kind", "sort"})

_TOKEN = re.compile(r"[a-z][a-z'\u2019\-]*|[^\sa-z]+")


class Lemmatizer:
    """Lower-cased English lemmas without stop words and fillers, via spaCy's lookup table.

    Needs the ``spacy-lookups-data`` package (a themekit dependency); no model download.
    Words with an apostrophe (``don't``, ``it's``) are function words and dropped.
    """

    def __init__(self, extra_stop_words: Iterable[str] = ()):
        try:
            import spacy
            nlp = spacy.blank("en")
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
            nlp.initialize()
            table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        except Exception as e:  # spaCy raises its own error types for missing tables
            raise RuntimeError(
                "key terms need spaCy's English lemma tables: pip install spacy-lookups-data "
                f"({type(e).__name__}: {e})") from None
        self._table = table
        self._cache: dict[str, str] = {}
        self.stop_words = frozenset(nlp.Defaults.stop_words) | FILLERS | frozenset(extra_stop_words)

    def lemma(self, word: str) -> str:
        """The word's lemma, or ``""`` if it is a stop word, a filler or too short."""
        got = self._cache.get(word)
        if got is None:
            w = word.strip("'\u2019-").replace("\u2019", "'")
            if w.endswith("'s"):           # possessive: "table's" -> "table" ("it's" -> stop word)
                w = w[:-2]
            lemma = LEMMA_OVERRIDES.get(w)
            if lemma is None:
                lemma = str(self._table.get(w, w)).lower()
            if len(lemma) < 2 or "'" in w or w in self.stop_words \
                    or lemma in self.stop_words:
                lemma = ""
            got = self._cache[word] = lemma
        return got

    def tokens(self, text: str) -> list[str]:
        """Content lemmas of ``text`` in order; ``""`` marks a removed word (breaks bigrams)."""
        out: list[str] = []
        toks = _TOKEN.findall(text.lower())
        for i, tok in enumerate(toks):
            if tok in _HEDGES and i + 1 < len(toks) and toks[i + 1] == "of":
                lemma = ""
            else:
                lemma = self.lemma(tok) if tok[0].isalpha() else ""
            if lemma or (out and out[-1]):
                out.append(lemma)
        return out

    def terms(self, text: str) -> list[str]:
        """Unigram and adjacent-bigram terms of ``text`` (with repeats, for counting)."""
        toks = self.tokens(text)
        terms = [t for t in toks if t]
        terms += [f"{a} {b}" for a, b in zip(toks, toks[1:]) if a and b and a != b]
        return terms


@lru_cache(maxsize=2)
def default_lemmatizer() -> Lemmatizer:
    return Lemmatizer()


def participant_key(u: Utterance) -> str:
    """Who speaks: the speaker label within its transcript (the transcript when unlabelled)."""
    return f"{u.transcript_id}\x1f{u.speaker or ''}"


def key_terms(term_lists: Sequence[Sequence[str]], groups: np.ndarray, n_terms: int = 10
              ) -> dict[int, list[tuple[str, float]]]:
    """c-TF-IDF key terms per group (``groups[i] < 0``: utterance ``i`` belongs to none).

    Returns ``{group: [(term, score), ...]}``, best first; ties broken alphabetically.
    """
    groups = np.asarray(groups)
    ids = sorted(int(g) for g in np.unique(groups) if g >= 0)
    counts: dict[int, Counter] = {g: Counter() for g in ids}
    doc_freq: dict[int, Counter] = {g: Counter() for g in ids}
    for terms, g in zip(term_lists, groups):
        if g < 0:
            continue
        counts[int(g)].update(terms)
        doc_freq[int(g)].update(set(terms))
    total = Counter()
    for c in counts.values():
        total.update({t: n for t, n in c.items() if " " not in t})
    words = {g: sum(n for t, n in counts[g].items() if " " not in t) for g in ids}
    mean_words = (sum(words.values()) / len(ids)) if ids else 0.0
    out: dict[int, list[tuple[str, float]]] = {}
    for g in ids:
        size = int((groups == g).sum())
        min_df = 2 if size >= 2 else 1
        scored = []
        for t, n in counts[g].items():
            if doc_freq[g][t] < min_df:
                continue
            if " " in t:
                f = sum(counts[h][t] for h in ids)
            else:
                f = total[t]
            tf = n / max(words[g], 1)
            scored.append((t, tf * math.log(1.0 + mean_words / max(f, 1))))
        scored.sort(key=lambda x: (-x[1], -x[0].count(" "), x[0]))   # ties: bigram first
        out[g] = [(t, round(s, 6)) for t, s in scored[:n_terms]]
    return out


def make_label(terms: Sequence[str], n: int = 3, fallback: str = "(no key terms)") -> str:
    """``"waiting list / referral"``: the first ``n`` terms, skipping words already shown."""
    chosen: list[str] = []
    for t in terms:
        words = set(t.split())
        if any(words <= set(c.split()) or set(c.split()) <= words for c in chosen):
            continue
        chosen.append(t)
        if len(chosen) == n:
            break
    return " / ".join(chosen) if chosen else fallback


def select_exemplars(vectors: np.ndarray, centroid: np.ndarray, speakers: Sequence[str],
                     n_content: Sequence[int], n: int = 5, diversity: float = 0.3,
                     min_content: int = 3) -> list[int]:
    """Row positions of ``n`` exemplar quotes (see module docstring), best first."""
    m = len(vectors)
    if m == 0 or n <= 0:
        return []
    sims = vectors @ centroid
    eligible = [i for i in range(m) if n_content[i] >= min_content]
    if len(eligible) < min(n, m):
        eligible = list(range(m))
    chosen: list[int] = []
    seen_speakers: set[str] = set()
    max_sim = np.full(m, -1.0)
    while len(chosen) < min(n, len(eligible)):
        best, best_score = -1, -np.inf
        for i in eligible:
            if i in chosen:
                continue
            score = (1 - diversity) * sims[i] - diversity * (max_sim[i] if chosen else 0.0)
            if chosen and speakers[i] not in seen_speakers:
                score += 0.1
            if score > best_score + 1e-12:
                best, best_score = i, score
        chosen.append(best)
        seen_speakers.add(speakers[best])
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return chosen


def spread(utterances: Sequence[Utterance], n_participants_total: int) -> dict:
    """``n_transcripts``, ``n_participants`` and ``participant_share`` of a group."""
    parts = {participant_key(u) for u in utterances}
    return {
        "n_transcripts": len({u.transcript_id for u in utterances}),
        "n_participants": len(parts),
        "participant_share": round(len(parts) / n_participants_total, 4) if n_participants_total else 0.0,
    }
