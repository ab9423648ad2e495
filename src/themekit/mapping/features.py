"""How a code and an utterance become vectors for :class:`themekit.mapping.CodeMapper`.

Steps 1-3 of the method in :mod:`themekit.mapping`, and the word features of step 5:

- :func:`code_facets`: the texts a code is embedded as (description, definition sentences,
  inclusion criteria, examples; exclusion criteria scored against);
- :func:`prompt_vectors`: the interviewer prompts that precede each utterance (context);
- :func:`centred`: utterance and facet vectors with the mean utterance removed;
- :func:`fit_lexical` / :func:`lexical_features`: TF-IDF word features reduced by LSA.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..codebook import Code
from ..common.parallel import one_blas_thread


# -- facets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Facet:
    """One text that says something about a code; ``kind`` in description, name, definition,
    include, example (positive) or exclude."""

    code: str
    kind: str
    text: str

    @property
    def positive(self) -> bool:
        return self.kind != "exclude"


_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\s*\n+\s*")
_CROSSREF = re.compile(r"\(\s*(?:use|see|code(?:d)? (?:as|under)|instead use)\b[^()]*\)", re.I)


def _sentences(text: str) -> list[str]:
    out = []
    for s in _SENTENCE.split(text or ""):
        s = s.strip(" -•*\t")
        if len(s) > 3 and s not in out:
            out.append(s)
    return out


def code_facets(code: Code) -> list[Facet]:
    """The texts a code is embedded as (see :mod:`themekit.mapping`); cross-references such as
    "(use Other code)" are dropped from exclusion criteria: they name another code, not what
    is excluded."""
    name, out = code.name, []

    def add(kind: str, text: str) -> None:
        text = text.strip()
        if text and all(f.text != text for f in out):
            out.append(Facet(name, kind, text))

    # the whole description without its exclusion criteria (those are scored against)
    add("description", replace(code, exclude="").description_text())
    if code.definition:
        add("definition", f"{name}: {code.definition}")
        sents = _sentences(code.definition)
        if len(sents) > 1:
            for s in sents:
                add("definition", f"{name}: {s}")
    else:
        add("name", name)
    for s in _sentences(code.include):
        add("include", f"{name}: {s}")
    for e in code.examples:
        add("example", e)
    for s in _sentences(_CROSSREF.sub(" ", code.exclude)):
        s = re.sub(r"\s{2,}", " ", s).strip(" ;,.")
        if len(s) > 3:
            add("exclude", s)
    return out


# -- utterance text and vectors ----------------------------------------------------------------
def _unit_text(u, which: str = "content") -> str:
    if which == "content":
        content = getattr(u, "content", None)
        if isinstance(content, str):
            return content
    return str(getattr(u, "text", ""))


def _norm(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def centred(x: np.ndarray, mean: np.ndarray, center: bool) -> np.ndarray:
    """Rows normalised, ``mean`` (the mean utterance) subtracted, normalised again; with
    ``center`` False only normalised."""
    return _norm(_norm(x) - mean) if center else _norm(x)


def prompt_vectors(corpus, units: list, dim: int, n_prompts: int,
                   vectors_for: Callable[[list], np.ndarray]) -> np.ndarray:
    """Decayed mean of the interviewer utterances preceding each unit in its transcript: the
    last ``n_prompts``, halving weight per step back; ``vectors_for`` embeds the prompts."""
    prompts: dict[str, list] = {}
    for u in corpus.utterances:
        if u.role == "interviewer" and not u.backchannel and u.end > u.start:
            prompts.setdefault(u.transcript_id, []).append(u)
    for lst in prompts.values():
        lst.sort(key=lambda u: (u.end, u.start))
    ends = {t: [u.end for u in lst] for t, lst in prompts.items()}
    need: dict[str, int] = {}
    plan = []
    for u in units:
        lst = prompts.get(u.transcript_id, [])
        k = bisect_right(ends.get(u.transcript_id, []), u.start)
        chosen = [p for p in lst[max(0, k - n_prompts):k] if p.id != u.id]
        plan.append(chosen)
        for p in chosen:
            need.setdefault(p.id, len(need))
    q = np.zeros((len(units), dim))
    if not need:
        return q
    by_id = {p.id: p for lst in prompts.values() for p in lst}
    pv = vectors_for([by_id[i] for i in need])
    for r, chosen in enumerate(plan):
        if chosen:
            w = 0.5 ** np.arange(len(chosen))[::-1]
            v = (w[:, None] * pv[[need[p.id] for p in chosen]]).sum(0)
            q[r] = v / (np.linalg.norm(v) or 1.0)
    return q


# -- word features -------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ness", "ies", "ied", "ed", "es", "ly", "s")


def _stem(w: str) -> str:
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[:-len(suf)] + ("y" if suf in ("ies", "ied") else "")
    return w


_STOP_WORDS: frozenset = frozenset()


def _analyze(text: str) -> list[str]:
    global _STOP_WORDS
    if not _STOP_WORDS:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
        _STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS]


def _analyzer():
    # a module-level function, not a closure: a fitted mapper pickles (the result cache)
    return _analyze


def fit_lexical(texts: list[str], lexical_dims: int):
    """(TF-IDF vectoriser, LSA) fitted on ``texts``, or None where there are too few words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=_analyzer(), sublinear_tf=True,
                          min_df=2 if len(texts) >= 50 else 1, max_features=50000)
    try:
        tf = vec.fit_transform(texts)
    except ValueError:   # no words at all (e.g. only numbers): dense features only
        return None
    if tf.shape[1] <= 2:
        return None
    from sklearn.decomposition import TruncatedSVD

    # latent semantic analysis: a few hundred word dimensions instead of the whole
    # vocabulary keeps the classifier small and fast on large corpora
    n_comp = min(lexical_dims, tf.shape[1] - 1, len(texts) - 1)
    if n_comp < 1:
        return None
    with one_blas_thread():
        svd = TruncatedSVD(n_components=n_comp, random_state=0).fit(tf)
    return vec, svd


def lexical_features(x: np.ndarray, texts: list[str], lexical, weight: float) -> np.ndarray:
    """Vectors ``x`` with the word features of ``texts`` (from :func:`fit_lexical`, weighted
    by ``weight``) appended; ``x`` itself where ``lexical`` is None."""
    if lexical is None:
        return x
    vec, svd = lexical
    with one_blas_thread():
        lex = _norm(svd.transform(vec.transform(texts)))
    return np.hstack([x, weight * lex])
