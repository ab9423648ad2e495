"""Deductive mapping: utterances and candidate codes -> codebook codes, with reviewable scores.

:class:`CodeMapper` suggests codebook codes for utterances, zero-shot (codebook only) or
seeded with human coding (few-shot), and says which utterances to code next.
:func:`map_candidates` relates candidate codes (from discovery) to codebook codes: matched,
ambiguous or emergent; :func:`unsupported_codes` lists codebook codes without data.

How the scores are made (every step label-free unless seeds are given):

0. **Fine-tuning** (opt-in, ``fine_tune=True``, seeded only): the sentence embedder is first
   fine-tuned on the seed utterances (and each code's description, as one more example of
   it): same code close, different codes apart (SetFit-style, see :mod:`themekit.finetune`);
   everything below then uses the fine-tuned embeddings.

1. **Facets.** A code is more than its name: each code is embedded as several texts — the whole
   description, ``name: definition``, each sentence of a multi-sentence definition, each
   inclusion criterion and each example ("positive" facets) and each exclusion criterion.
2. **Context.** An answer is read in the light of the question: with a corpus, each utterance
   vector gets the vector of the interviewer prompts that precede it in its transcript added
   (the last ``n_prompts``, halving weight per step back; ``context_weight``). Nothing
   changes where there are no interviewer utterances.
3. **Centring.** The mean vector of the utterances being mapped is subtracted from utterance
   and facet vectors (then re-normalised): it removes what all utterances share (the register
   of spoken answers), so cosines measure what distinguishes them.
4. **Prior.** ``fit(u, c)`` = the mean of the cosine of ``u`` to the whole description of ``c``
   and its best cosine to any single positive facet (the best of many facets alone would favour
   codes with many facets); ``prior(u, c)`` = ``fit`` lowered by how much the best exclusion
   facet beats it, if it does. A softmax with temperature equal to the spread (standard
   deviation) of these scores turns them into probabilities.
5. **Classifier.** A logistic regression on utterance vectors plus TF-IDF word features
   (``lexical_weight``; reduced to ``lexical_dims`` by LSA), trained on the facets
   (``prior_weight`` per code, so the codebook always counts), on the seeds if any (coded
   utterances; utterances coders saw and left uncoded train a "no code" class, ``no_code``),
   and — self-training, ``self_training`` rounds — on
   the most confident half of the utterances the current model assigns to each code
   (``pseudo_fraction``, weight ``pseudo_weight``): the model learns the corpus's own words
   for each code. Seeds are weighted so that each code's seeds weigh the same in total.
6. **Mixing.** The final probability mixes prior and classifier: half and half zero-shot;
   seeded, the prior's share is ``prior_weight / (prior_weight + seeds per code)`` — the
   codebook counts as ``prior_weight`` examples of each code, and yields as coding grows.

Suggestions: the ``top_k`` most probable codes per utterance; a code is *suggested* when its
probability is at least ``multilabel_threshold`` times the top one; the mapper *abstains*
when the top probability is below ``abstain_threshold`` ("auto": twice what a code would get
if all codes fitted equally, 2 / number of codes), or — seeded with coding that left some
utterances uncoded (``no_code``) — when "no code" is more probable than the top code.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .codebook import Code, Codebook
from .seeding import as_seed_labels, density, select_next

__all__ = ["CodeMapper", "Facet", "code_facets", "map_candidates", "unsupported_codes",
           "STATUSES", "NotFittedError"]

log = logging.getLogger("themekit")

STATUSES = ("matched", "ambiguous", "emergent")

try:  # the sklearn habit: one exception type for "used before fit"
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - scikit-learn is a dependency
    class NotFittedError(ValueError, AttributeError):
        pass


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
    """The texts a code is embedded as (see the module docstring); cross-references such as
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


# -- small helpers -------------------------------------------------------------------------------
def _norm(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def _softmax(s: np.ndarray, t: float) -> np.ndarray:
    a = s / t
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ness", "ies", "ied", "ed", "es", "ly", "s")


def _stem(w: str) -> str:
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[:-len(suf)] + ("y" if suf in ("ies", "ied") else "")
    return w


def _analyzer():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    def analyze(text: str) -> list[str]:
        return [_stem(w) for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]
    return analyze


def _one_blas_thread():
    """BLAS limited to one thread: the matrices here are small, and on a busy machine extra BLAS
    threads only contend (logistic regression ran 10x slower with them on 2 shared cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}; got {value!r}")


def _unit_text(u, which: str = "content") -> str:
    if which == "content":
        content = getattr(u, "content", None)
        if isinstance(content, str):
            return content
    return str(getattr(u, "text", ""))


# -- the mapper ---------------------------------------------------------------------------------
class CodeMapper:
    """Suggest codebook codes for utterances, with scores to sort and review.

    Parameters (checked in ``fit``; see the module docstring for the method):

    - ``top_k`` (int >= 1): codes listed per utterance in ``suggestions_``;
    - ``abstain_threshold`` ("auto" or float in [0, 1]): below this top probability the mapper
      abstains; "auto" = 2 / number of codes;
    - ``multilabel_threshold`` (float in (0, 1]): further codes are suggested when their
      probability is at least this share of the top one (1.0: one code per utterance);
    - ``context`` ("auto", "prompt" or None): add preceding interviewer prompts ("auto": when
      a corpus is given); ``context_weight`` (>= 0), ``n_prompts`` (>= 1);
    - ``center`` (bool): subtract the mean utterance vector;
    - ``lexical_weight`` (>= 0): weight of TF-IDF word features in the classifier (0: none),
      reduced to ``lexical_dims`` latent dimensions (LSA);
    - ``prior_weight`` (> 0): how many coded examples the codebook is worth, per code: the total
      training weight of each code's facets, and the prior's share of the final probability
      (``prior_weight / (prior_weight + seeds per code)``);
    - ``self_training`` (int >= 0 rounds), ``pseudo_fraction`` (in (0, 1]), ``pseudo_weight`` (>= 0);
    - ``C`` (> 0): inverse regularisation of the logistic regression;
    - ``text`` ("content" or "text"): what of an utterance is scored — its ``content``
      (without bracketed transcriber notes, the default) or its verbatim ``text`` (keeps notes
      such as "(The participant reads the task again)": in think-aloud and observation
      studies those record what the participant did, and coders code them). Applies to what
      the mapper embeds itself and to the word features; precomputed embeddings are used as
      given, so make them from the same text;
    - ``no_code`` (bool): learn a "no code" class from seed utterances that coders saw and left
      uncoded (utterances of transcripts they coded); the mapper then also abstains where
      "no code" is more probable than any code;
    - ``fine_tune`` (bool): with seeds, first fine-tune the embedder on the coded utterances
      (:func:`themekit.finetune.fine_tune_embedder`; a minute or two on a CPU) and map with the
      fine-tuned embeddings; precomputed ``embeddings`` of the base model are then not used.
      Without seeds it does nothing; ``fine_tune_steps`` (int >= 1): its optimiser steps;
    - ``random_state`` (int): for ``suggest_next``'s clustering and the fine-tuning.

    Fitted attributes: ``codes_`` (code names), ``scores_`` (utterance x code probabilities),
    ``prior_`` (utterance x code prior scores), ``suggestions_``, ``seeds_`` (utterance id ->
    human codes used), ``uncoded_`` (seed utterances left uncoded: the "no code" class),
    ``no_code_`` (probability of "no code" per utterance; 0 without such seeds), ``context_``
    (whether prompts were used), ``abstain_threshold_``, ``embedder_`` (the embedder used: with
    ``fine_tune``, the fine-tuned one), ``fine_tuned_`` (whether fine-tuning happened).
    """

    def __init__(self, *, top_k: int = 3, abstain_threshold: float | str = "auto",
                 multilabel_threshold: float = 0.5, context: str | None = "auto",
                 context_weight: float = 0.5, n_prompts: int = 3, center: bool = True,
                 lexical_weight: float = 0.5, prior_weight: float = 5.0, self_training: int = 2,
                 pseudo_fraction: float = 0.5, pseudo_weight: float = 0.5, C: float = 10.0,
                 lexical_dims: int = 256, text: str = "content", no_code: bool = True,
                 fine_tune: bool = False, fine_tune_steps: int = 30, random_state: int = 0):
        self.top_k = top_k
        self.abstain_threshold = abstain_threshold
        self.multilabel_threshold = multilabel_threshold
        self.context = context
        self.context_weight = context_weight
        self.n_prompts = n_prompts
        self.center = center
        self.lexical_weight = lexical_weight
        self.prior_weight = prior_weight
        self.self_training = self_training
        self.pseudo_fraction = pseudo_fraction
        self.pseudo_weight = pseudo_weight
        self.C = C
        self.lexical_dims = lexical_dims
        self.text = text
        self.no_code = no_code
        self.fine_tune = fine_tune
        self.fine_tune_steps = fine_tune_steps
        self.random_state = random_state

    def __repr__(self) -> str:
        defaults = CodeMapper.__init__.__kwdefaults__
        changed = [f"{k}={getattr(self, k)!r}" for k, v in defaults.items() if getattr(self, k) != v]
        return f"CodeMapper({', '.join(changed)})"

    # -- parameter checks ------------------------------------------------------------------
    def _validate(self) -> None:
        num = (int, float, np.integer, np.floating)
        _check("top_k", self.top_k, isinstance(self.top_k, (int, np.integer)) and self.top_k >= 1,
               "an integer >= 1")
        a = self.abstain_threshold
        _check("abstain_threshold", a, a == "auto" or (isinstance(a, num) and 0 <= a <= 1),
               '"auto" or a number in [0, 1]')
        m = self.multilabel_threshold
        _check("multilabel_threshold", m, isinstance(m, num) and 0 < m <= 1, "a number in (0, 1]")
        _check("context", self.context, self.context in ("auto", "prompt", None),
               '"auto", "prompt" or None')
        _check("text", self.text, self.text in ("content", "text"), '"content" or "text"')
        for name in ("context_weight", "lexical_weight", "pseudo_weight"):
            v = getattr(self, name)
            _check(name, v, isinstance(v, num) and v >= 0, "a number >= 0")
        for name in ("prior_weight", "C"):
            v = getattr(self, name)
            _check(name, v, isinstance(v, num) and v > 0, "a number > 0")
        _check("n_prompts", self.n_prompts, isinstance(self.n_prompts, (int, np.integer))
               and self.n_prompts >= 1, "an integer >= 1")
        _check("lexical_dims", self.lexical_dims, isinstance(self.lexical_dims, (int, np.integer))
               and self.lexical_dims >= 1, "an integer >= 1")
        _check("self_training", self.self_training, isinstance(self.self_training, (int, np.integer))
               and self.self_training >= 0, "an integer >= 0")
        f = self.pseudo_fraction
        _check("pseudo_fraction", f, isinstance(f, num) and 0 < f <= 1, "a number in (0, 1]")
        _check("fine_tune", self.fine_tune, isinstance(self.fine_tune, (bool, np.bool_)), "True or False")
        _check("fine_tune_steps", self.fine_tune_steps, isinstance(self.fine_tune_steps, (int, np.integer))
               and not isinstance(self.fine_tune_steps, bool) and self.fine_tune_steps >= 1, "an integer >= 1")

    def _check_fitted(self) -> None:
        if not hasattr(self, "scores_"):
            raise NotFittedError("this CodeMapper is not fitted yet: call fit(codebook, utterances, ...) first")

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, codebook: Codebook, utterances, *, embeddings=None, embedder=None, corpus=None,
            seeds=None) -> "CodeMapper":
        """Learn code scores for ``utterances`` (a list of Utterances, or a Corpus: its
        ``select()``-ed participant speech).

        ``embeddings``: precomputed :class:`~themekit.embed.Embeddings` covering the utterances
        (and, for context, the corpus's interviewer utterances; missing ones are embedded);
        ``embedder``: embeds codes and anything not precomputed (default: the default model;
        must be the model the embeddings came from). ``corpus``: for prompt context and for
        aligning coded segments. ``seeds``: human coding (see
        :func:`themekit.seeding.as_seed_labels`), or None for zero-shot.
        """
        from .embed import Embeddings, load_embedder
        from .types import Corpus

        self._validate()
        if isinstance(utterances, Corpus):
            corpus = utterances if corpus is None else corpus
            utterances = utterances.select()
        units = list(utterances)
        if not units:
            raise ValueError("no utterances to map")
        ids = [u.id for u in units]
        if len(set(ids)) != len(ids):
            raise ValueError("utterance ids must be unique")
        codes = list(codebook.codable())
        if len(codes) < 2:
            raise ValueError(f"the codebook needs at least 2 codable codes to choose between; it has {len(codes)}")
        if embedder is None:
            embedder = load_embedder()
        if isinstance(embeddings, Embeddings) and embeddings.model_id != embedder.model_id:
            raise ValueError(f"embeddings were made with {embeddings.model_id!r} but the embedder is "
                             f"{embedder.model_id!r}: codes and utterances must be embedded by the same model")
        self.codes_ = tuple(c.name for c in codes)
        self._code_index = {c: j for j, c in enumerate(self.codes_)}
        self._precomputed = embeddings if isinstance(embeddings, Embeddings) else None

        # seeds; utterances coders saw and left uncoded form a "no code" class
        seed_labels = as_seed_labels(seeds, ids, self.codes_, corpus=corpus, utterances=units,
                                     keep_uncoded=self.no_code)
        self.seeds_ = {u: cs for u, cs in seed_labels.items() if cs}
        self.uncoded_ = tuple(u for u, cs in seed_labels.items() if not cs)
        self.fine_tuned_ = False
        if self.fine_tune and self.seeds_:
            embedder = self._fine_tuned(embedder, units, codes)
            self._precomputed = None     # base-model vectors do not apply to the fine-tuned model
            self.fine_tuned_ = True
        elif self.fine_tune:
            log.info("fine_tune=True but no seeds: zero-shot mapping with the base model")
        self.embedder_ = embedder
        use_context = self.context == "prompt" or (self.context == "auto" and corpus is not None)
        if self.context == "prompt" and corpus is None:
            raise ValueError('context="prompt" needs the corpus (interviewer prompts): pass corpus=')
        self.context_ = bool(use_context and self.context_weight > 0)
        self._corpus = corpus if self.context_ else None

        # facets
        facets = [f for c in codes for f in code_facets(c)]
        self.facets_ = facets
        self._facet_code = np.array([self._code_index[f.code] for f in facets])
        self._facet_pos = np.array([f.positive for f in facets])
        fvec = self._embed_texts([f.text for f in facets])

        # utterances
        xu = self._unit_vectors(units)
        self._mean = _norm(xu).mean(axis=0) if self.center else np.zeros(xu.shape[1])
        x = self._finish(xu)
        self._facet_x = _norm(fvec - self._mean)
        self._x = x

        # prior
        prior, evidence = self._prior(x)
        spread = float(prior.std())
        self._temperature = spread if spread > 1e-6 else 1.0
        p0 = _softmax(prior, self._temperature)

        # lexical features
        texts = [_unit_text(u, self.text) for u in units]
        self._vectorizer = None
        if self.lexical_weight > 0:
            from sklearn.feature_extraction.text import TfidfVectorizer

            vec = TfidfVectorizer(analyzer=_analyzer(), sublinear_tf=True,
                                  min_df=2 if len(units) >= 50 else 1, max_features=50000)
            try:
                tf = vec.fit_transform(texts)
            except ValueError:   # no words at all (e.g. only numbers): dense features only
                tf = None
            if tf is not None and tf.shape[1] > 2:
                from sklearn.decomposition import TruncatedSVD

                # latent semantic analysis: a few hundred word dimensions instead of the whole
                # vocabulary keeps the classifier small and fast on large corpora
                n_comp = min(self.lexical_dims, tf.shape[1] - 1, len(texts) - 1)
                if n_comp >= 1:
                    with _one_blas_thread():
                        svd = TruncatedSVD(n_components=n_comp, random_state=0).fit(tf)
                    self._vectorizer = (vec, svd)
        z = self._features(x, texts)
        zf = self._features(self._facet_x, [f.text for f in facets])

        k = len(codes)
        n_classes = k + (1 if self.uncoded_ else 0)
        row = {u: i for i, u in enumerate(ids)}
        s_rows, s_y, s_w = [], [], []
        for uid, cs in seed_labels.items():
            for c in cs:
                s_rows.append(row[uid])
                s_y.append(self._code_index[c])
                s_w.append(1.0 / len(cs))
            if not cs:
                s_rows.append(row[uid])
                s_y.append(k)
                s_w.append(1.0)
        seeded = np.zeros(len(units), bool)
        seeded[s_rows] = True

        # facet training rows: prior_weight per code, shared among its positive facets
        pos = np.nonzero(self._facet_pos)[0]
        counts = np.bincount(self._facet_code[pos], minlength=len(codes))
        f_y = self._facet_code[pos]
        f_w = self.prior_weight / counts[f_y]

        # seeds balanced across codes: which codes the coded part of a study happens to contain
        # should not become the model's belief about how common each code is
        sw = np.array(s_w)
        if s_rows:
            sy = np.array(s_y)
            tot = np.bincount(sy, weights=sw, minlength=n_classes)
            sw = sw * (tot[tot > 0].mean() / tot[sy])

        def train(p_cur: np.ndarray | None):
            parts_x, parts_y, parts_w = [zf[pos]], [f_y], [f_w]
            if s_rows:
                parts_x.append(z[s_rows]); parts_y.append(np.array(s_y)); parts_w.append(sw)
            if p_cur is not None and self.pseudo_weight > 0:
                pl, conf = p_cur.argmax(1), p_cur.max(1)
                chosen = []
                for j in range(p_cur.shape[1]):
                    idx = np.nonzero((pl == j) & ~seeded)[0]
                    if len(idx):
                        keep = max(1, int(np.ceil(self.pseudo_fraction * len(idx))))
                        chosen.extend(idx[np.argsort(-conf[idx], kind="stable")[:keep]])
                if chosen:
                    chosen = np.array(sorted(chosen))
                    parts_x.append(z[chosen]); parts_y.append(pl[chosen])
                    parts_w.append(np.full(len(chosen), self.pseudo_weight))
            return self._fit_lr(parts_x, parts_y, parts_w, len(codes))

        model = train(None) if s_rows else None
        p_cur = self._proba(model, z, n_classes) if s_rows else p0
        for _ in range(self.self_training):
            model = train(p_cur)
            p_cur = self._proba(model, z, n_classes)
        self._n_classes = n_classes
        self._model = model
        self._zero_shot = not s_rows
        # the prior keeps a say: zero-shot half (pseudo-labels can drift; without self-training
        # the prior is all there is); seeded, as much as prior_weight examples per code weigh
        # against the coded utterances per code (shrinks as coding grows)
        if self._zero_shot:
            self._blend = 0.5 if self.self_training > 0 else 1.0
        else:
            self._blend = self.prior_weight / (self.prior_weight + len(self.seeds_) / k)
        final = self._combine(p0, p_cur)
        self._p_full = final

        self._units = units
        index = pd.Index(ids, name="utterance_id")
        self.prior_ = pd.DataFrame(prior, index=index, columns=list(self.codes_))
        self.scores_ = pd.DataFrame(final[:, :k], index=index, columns=list(self.codes_))
        self.no_code_ = pd.Series(final[:, k] if n_classes > k else np.zeros(len(ids)), index=index,
                                  name="no_code")
        self.abstain_threshold_ = (2.0 / len(codes) if self.abstain_threshold == "auto"
                                   else float(self.abstain_threshold))
        self._evidence = evidence
        self._seeded = seeded
        self.suggestions_ = self._suggestions(units, final[:, :k], evidence, seeded, self.no_code_.to_numpy())
        return self

    # -- pieces ------------------------------------------------------------------------------
    def _fine_tuned(self, embedder, units: list, codes: list[Code]):
        """The embedder fine-tuned on the seed utterances (each with all its seed codes), with
        each code's description (its first facet) as one more example of the code."""
        from .finetune import fine_tune_embedder

        by_id = {u.id: u for u in units}
        seeds = sorted(self.seeds_.items())
        texts = [_unit_text(by_id[u], self.text) for u, _ in seeds]
        labels = [cs for _, cs in seeds]
        for c in codes:
            texts.append(code_facets(c)[0].text)
            labels.append([c.name])
        return fine_tune_embedder(embedder, texts, labels, steps=self.fine_tune_steps,
                                  random_state=self.random_state)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        from .embed import embed_texts

        if not texts:
            return np.zeros((0, 0))
        return np.asarray(embed_texts(texts, self.embedder_, progress=False), dtype=np.float64)

    def _vectors_for(self, units: list) -> np.ndarray:
        pre = self._precomputed
        out = np.zeros((len(units), 0))
        missing = [i for i, u in enumerate(units) if pre is None or u.id not in pre]
        if pre is not None and len(missing) < len(units):
            out = np.zeros((len(units), pre.dim))
            miss = set(missing)
            have = [i for i in range(len(units)) if i not in miss]
            out[have] = pre.subset([units[i].id for i in have]).vectors
        if missing:
            v = self._embed_texts([_unit_text(units[i], self.text) for i in missing])
            if out.shape[1] == 0:
                out = np.zeros((len(units), v.shape[1]))
            out[missing] = v
        return out

    def _unit_vectors(self, units: list) -> np.ndarray:
        x = self._vectors_for(units)
        if self.context_:
            x = x + self.context_weight * self._prompt_vectors(units, x.shape[1])
        return x

    def _prompt_vectors(self, units: list, dim: int) -> np.ndarray:
        """Decayed mean of the interviewer utterances preceding each unit in its transcript."""
        corpus = self._corpus
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
            chosen = [p for p in lst[max(0, k - self.n_prompts):k] if p.id != u.id]
            plan.append(chosen)
            for p in chosen:
                need.setdefault(p.id, len(need))
        q = np.zeros((len(units), dim))
        if not need:
            return q
        by_id = {p.id: p for lst in prompts.values() for p in lst}
        pv = self._vectors_for([by_id[i] for i in need])
        for r, chosen in enumerate(plan):
            if chosen:
                w = 0.5 ** np.arange(len(chosen))[::-1]
                v = (w[:, None] * pv[[need[p.id] for p in chosen]]).sum(0)
                q[r] = v / (np.linalg.norm(v) or 1.0)
        return q

    def _finish(self, xu: np.ndarray) -> np.ndarray:
        return _norm(_norm(xu) - self._mean) if self.center else _norm(xu)

    def _prior(self, x: np.ndarray, chunk: int = 20000) -> tuple[np.ndarray, np.ndarray]:
        if len(x) > chunk:   # bounded memory on large corpora
            parts = [self._prior(x[s:s + chunk], chunk) for s in range(0, len(x), chunk)]
            return np.vstack([p for p, _ in parts]), np.vstack([e for _, e in parts])
        sim = x @ self._facet_x.T
        k = len(self.codes_)
        pos_best = np.full((len(x), k), -np.inf)
        pos_arg = np.zeros((len(x), k), dtype=int)
        excl_best = np.full((len(x), k), -np.inf)
        for j in range(k):
            cols = np.nonzero((self._facet_code == j) & self._facet_pos)[0]
            a = sim[:, cols].argmax(axis=1)
            # holistic (the whole description, always the first facet) and best single facet,
            # averaged: the best of many facets alone favours codes that have many of them
            pos_best[:, j] = 0.5 * (sim[:, cols[0]] + sim[np.arange(len(x)), cols[a]])
            pos_arg[:, j] = cols[a]
            ex = np.nonzero((self._facet_code == j) & ~self._facet_pos)[0]
            if len(ex):
                excl_best[:, j] = sim[:, ex].max(axis=1)
        prior = pos_best - np.maximum(0.0, excl_best - pos_best)
        return prior, pos_arg

    def _features(self, x: np.ndarray, texts: list[str]):
        if self._vectorizer is None:
            return x
        vec, svd = self._vectorizer
        with _one_blas_thread():
            lex = _norm(svd.transform(vec.transform(texts)))
        return np.hstack([x, self.lexical_weight * lex])

    def _fit_lr(self, xs, ys, ws, n_codes: int):
        from sklearn.linear_model import LogisticRegression
        X = np.vstack(xs)
        with _one_blas_thread():
            return LogisticRegression(C=self.C, max_iter=2000).fit(X, np.concatenate(ys),
                                                                   sample_weight=np.concatenate(ws))

    @staticmethod
    def _proba(model, z, n_codes: int) -> np.ndarray:
        p = np.zeros((z.shape[0], n_codes))
        p[:, model.classes_] = model.predict_proba(z)
        return p

    def _abstains(self, proba: np.ndarray, p_none: np.ndarray) -> np.ndarray:
        top = proba.max(axis=1)
        return (top < self.abstain_threshold_) | (p_none > top)

    def _suggestions(self, units, proba: np.ndarray, evidence: np.ndarray, seeded: np.ndarray,
                     p_none: np.ndarray) -> pd.DataFrame:
        k = min(self.top_k, proba.shape[1])
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(proba, order, axis=1)
        second = np.sort(proba, axis=1)[:, -2]
        margin = proba.max(axis=1) - second
        abstained = self._abstains(proba, p_none)
        rows = []
        for i, u in enumerate(units):
            for r in range(k):
                j = order[i, r]
                f = self.facets_[evidence[i, j]]
                suggested = (not abstained[i]) and (r == 0 or top[i, r] >= self.multilabel_threshold * top[i, 0])
                rows.append((u.id, u.transcript_id, u.speaker, u.start, u.end, u.text, self.codes_[j],
                             float(top[i, r]), r + 1, float(margin[i]), bool(abstained[i]), suggested,
                             bool(seeded[i]), f"{f.kind}: {f.text}"))
        cols = ["utterance_id", "transcript_id", "speaker", "start", "end", "text", "code", "score", "rank",
                "margin", "abstained", "suggested", "seeded", "evidence"]
        df = pd.DataFrame(rows, columns=cols)
        return df.astype({"start": "int64", "end": "int64", "rank": "int64", "score": "float64",
                          "margin": "float64"})

    # -- use -----------------------------------------------------------------------------------
    def suggestions(self, order: str = "position", *, only_suggested: bool = False) -> pd.DataFrame:
        """The suggestions table, ``order`` = "position" (transcript order), "uncertain" (smallest
        margin first: review these first) or "confident"; ``only_suggested`` keeps the rows
        whose code is suggested (multi-label rule, no abstentions)."""
        self._check_fitted()
        df = self.suggestions_
        if only_suggested:
            df = df[df["suggested"]]
        if order == "position":
            return df.reset_index(drop=True)
        if order not in ("uncertain", "confident"):
            raise ValueError(f'order must be "position", "uncertain" or "confident"; got {order!r}')
        asc = order == "uncertain"
        return df.sort_values(["margin", "utterance_id", "rank"], ascending=[asc, True, True],
                              kind="stable").reset_index(drop=True)

    def predict_proba(self, utterances=None, *, embeddings=None, corpus=None) -> pd.DataFrame:
        """Utterance x code probabilities; None: those of the fitted utterances (``scores_``).

        New utterances are scored with what ``fit`` learned (the same centring, vocabulary and
        classifier); pass ``corpus`` for their prompt context when the mapper used context."""
        self._check_fitted()
        if utterances is None:
            return self.scores_.copy()
        from .embed import Embeddings
        from .types import Corpus

        if isinstance(utterances, Corpus):
            corpus = utterances if corpus is None else corpus
            utterances = utterances.select()
        units = list(utterances)
        if isinstance(embeddings, Embeddings) and embeddings.model_id != self.embedder_.model_id:
            raise ValueError(f"embeddings were made with {embeddings.model_id!r} but this mapper scores with "
                             f"{self.embedder_.model_id!r}" + (" (fine-tuned on the seeds): pass no embeddings"
                                                                if self.fine_tuned_ else ""))
        saved = (self._precomputed, self._corpus)
        try:
            if isinstance(embeddings, Embeddings):
                self._precomputed = embeddings
            if self.context_:
                if corpus is None and saved[1] is None:
                    raise ValueError("this mapper uses prompt context: pass the corpus of the new utterances")
                self._corpus = corpus if corpus is not None else saved[1]
            p, _ = self._score(units)
        finally:
            self._precomputed, self._corpus = saved
        k = len(self.codes_)
        out = pd.DataFrame(p[:, :k], index=pd.Index([u.id for u in units], name="utterance_id"),
                           columns=list(self.codes_))
        out.attrs["no_code"] = p[:, k] if p.shape[1] > k else np.zeros(len(units))
        return out

    def _score(self, units) -> tuple[np.ndarray, np.ndarray]:
        x = self._finish(self._unit_vectors(units))
        prior, evidence = self._prior(x)
        z = self._features(x, [_unit_text(u, self.text) for u in units])
        if self._model is None:
            return _softmax(prior, self._temperature), evidence
        p = self._proba(self._model, z, self._n_classes)
        return self._combine(_softmax(prior, self._temperature), p), evidence

    def _combine(self, p0: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Mix prior probabilities (codes only) into the classifier's; "no code" keeps its mass."""
        if self._blend <= 0:
            return p
        k = len(self.codes_)
        if p.shape[1] > k:
            none = p[:, k:]
            p0 = np.hstack([p0 * (1 - none.sum(axis=1, keepdims=True)), none])
        return self._blend * p0 + (1 - self._blend) * p

    def predict(self, utterances=None, *, embeddings=None, corpus=None, abstain: bool = True) -> pd.Series:
        """The top code per utterance (None where the mapper abstains, unless ``abstain=False``)."""
        p = self.predict_proba(utterances, embeddings=embeddings, corpus=corpus)
        if utterances is None:
            p.attrs["no_code"] = self.no_code_.to_numpy()
        top = p.to_numpy().argmax(axis=1)
        out = pd.Series([self.codes_[j] for j in top], index=p.index, dtype=object, name="code")
        if abstain:
            out[self._abstains(p.to_numpy(), p.attrs["no_code"])] = None
        return out

    def suggest_next(self, n: int = 20, among: Iterable[str] | None = None) -> pd.DataFrame:
        """The ``n`` not-yet-coded utterances whose human codes should improve the suggestions
        most (see :func:`themekit.seeding.select_next`): uncertain, typical, and different from
        each other; ``among``: only from these utterance ids (e.g. one transcript at a time).
        Columns: utterance_id, transcript_id, speaker, start, end, text, priority, margin, and
        the two codes the model hesitates between."""
        self._check_fitted()
        p = self._p_full
        if not hasattr(self, "_density"):
            self._density = density(self._x, random_state=self.random_state)
        excluded = self._seeded.copy()
        if among is not None:
            allowed = set(map(str, among))
            excluded |= ~np.array([u.id in allowed for u in self._units])
        idx, prio = select_next(p, self._x, excluded, n, dens=self._density,
                                random_state=self.random_state)
        rows = []
        for i, pr in zip(idx, prio):
            u = self._units[i]
            o = np.argsort(-p[i])[:2]
            name = lambda j: self.codes_[j] if j < len(self.codes_) else "(no code)"  # noqa: E731
            rows.append((u.id, u.transcript_id, u.speaker, u.start, u.end, u.text, float(pr),
                         float(p[i, o[0]] - p[i, o[1]]), name(o[0]), name(o[1])))
        return pd.DataFrame(rows, columns=["utterance_id", "transcript_id", "speaker", "start", "end", "text",
                                           "priority", "margin", "code_1", "code_2"])

    def support(self) -> pd.DataFrame:
        """Per code: utterances where it is the top (non-abstained) suggestion, where it is
        suggested at all, its highest probability, and its seeds."""
        self._check_fitted()
        df = self.suggestions_
        top = df[(df["rank"] == 1) & ~df["abstained"]]
        n_top = top["code"].value_counts()
        n_sug = df[df["suggested"]]["code"].value_counts()
        n_seed = pd.Series([c for cs in self.seeds_.values() for c in cs], dtype=object).value_counts()
        out = pd.DataFrame({"code": list(self.codes_)})
        out["n_top"] = out["code"].map(n_top).fillna(0).astype("int64")
        out["n_suggested"] = out["code"].map(n_sug).fillna(0).astype("int64")
        out["max_score"] = [float(self.scores_[c].max()) for c in self.codes_]
        out["n_seeds"] = out["code"].map(n_seed).fillna(0).astype("int64")
        return out


# -- candidate codes -> codebook codes ------------------------------------------------------
def _candidate_members(candidates) -> tuple[list[str], dict[str, list[str]] | None, dict[str, np.ndarray] | None,
                                            dict[str, str]]:
    """(candidate ids, members by id or None, centroids by id or None, labels by id)."""
    from .embed import Embeddings

    labels: dict[str, str] = {}
    if isinstance(candidates, Embeddings):
        return list(candidates.ids), None, {i: candidates.vectors[k] for k, i in enumerate(candidates.ids)}, {}
    if isinstance(candidates, Mapping):
        members = {str(k): [str(u) for u in v] for k, v in candidates.items()}
        return list(members), members, None, {}
    members = getattr(candidates, "members", None)
    centroids = getattr(candidates, "centroids", None)
    table = getattr(candidates, "codes", None)
    assignments = getattr(candidates, "assignments", None)
    if members is None and isinstance(assignments, pd.DataFrame):   # themekit.themes.DiscoveryResult
        members = assignments[assignments["code"].notna() & (assignments["code"] != "")]
    if members is None and centroids is None:
        raise TypeError("candidates must be a discovery result (with members and/or centroids), a mapping "
                        "candidate id -> utterance ids, or Embeddings of candidate centroids; got "
                        f"{type(candidates).__name__}")
    if callable(members):
        members = members()
    if isinstance(members, pd.DataFrame):   # long form: candidate/code id + utterance_id
        key = next((c for c in ("code_id", "candidate_id", "code", "topic", "cluster") if c in members.columns), None)
        if key is None or "utterance_id" not in members.columns:
            raise ValueError("a members table needs utterance_id and code_id (or candidate_id) columns")
        members = {str(k): list(map(str, g["utterance_id"])) for k, g in members.groupby(key, sort=False)}
    elif members is not None:
        members = {str(k): [str(u) for u in v] for k, v in dict(members).items()}
    if isinstance(centroids, Embeddings):
        centroids = {i: centroids.vectors[k] for k, i in enumerate(centroids.ids)}
    elif centroids is not None:
        centroids = {str(k): np.asarray(v, dtype=np.float64) for k, v in dict(centroids).items()}
    if isinstance(table, pd.DataFrame):
        key = next((c for c in ("code_id", "candidate_id", "id") if c in table.columns), None)
        lab = next((c for c in ("label", "name", "title") if c in table.columns), None)
        if key is not None and lab is not None:
            labels = {str(k): str(v) for k, v in zip(table[key], table[lab])}
    ids = list(members) if members is not None else list(centroids)
    return ids, members, centroids, labels


def map_candidates(candidates, mapper: CodeMapper, *, tau: float = 1.0, delta: float = 0.25,
                   exclude: Iterable[str] = ("-1", "outliers"),
                   labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Relate candidate codes to the codebook codes of a fitted ``mapper``.

    ``candidates``: a :class:`themekit.themes.DiscoveryResult` (its ``assignments`` and
    ``codes`` tables), any object with ``members`` (candidate id -> utterance ids) and/or
    ``centroids``, a mapping candidate id -> utterance ids, or :class:`Embeddings` of
    centroids. Candidate ids in ``exclude`` (the outlier group) are skipped; ``labels``
    (candidate id -> label) fills the ``label`` column where the candidates carry none.

    Score of candidate ``k`` for code ``c``: how many standard deviations its utterances'
    prior scores for ``c`` lie above the corpus average for ``c`` (mean member z-score; with
    centroids only: the centroid's score, standardised the same way). The calibration is the
    corpus itself, so ``tau`` reads "a typical member is one SD more like this code than a
    typical utterance". Status: *matched* — best ≥ ``tau`` and the runner-up is more than
    ``delta`` below it or under ``tau``; *ambiguous* — two or more codes ≥ ``tau`` within
    ``delta`` of the best; *emergent* — no code reaches ``tau`` (a candidate new code).

    Returns one row per (candidate, code): ``candidate, label, code, score, rank, status,
    n_members`` (``status`` on every row of the candidate), sorted by candidate then rank;
    ``result.attrs["matrix"]`` is the candidate x code score matrix.
    """
    mapper._check_fitted()
    _check("tau", tau, isinstance(tau, (int, float)), "a number")
    _check("delta", delta, isinstance(delta, (int, float)) and delta >= 0, "a number >= 0")
    ids, members, centroids, found = _candidate_members(candidates)
    labels = {**{str(k): str(v) for k, v in (labels or {}).items()}, **found}
    skip = {str(e) for e in exclude}
    ids = [i for i in ids if i not in skip]
    prior = mapper.prior_
    mu, sd = prior.mean(axis=0).to_numpy(), prior.std(axis=0).to_numpy()
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (prior.to_numpy() - mu) / sd
    pos = {u: i for i, u in enumerate(prior.index)}
    rows_m, n_members = [], []
    for cid in ids:
        if members is not None:
            rows = [pos[u] for u in members.get(cid, []) if u in pos]
            n_members.append(len(rows))
            if rows:
                rows_m.append(z[rows].mean(axis=0))
                continue
            if centroids is None or cid not in centroids:
                rows_m.append(np.full(len(mapper.codes_), np.nan))
                continue
        else:
            n_members.append(0)
        c = np.asarray(centroids[cid], dtype=np.float64)[None, :]
        x = mapper._finish(c)
        pr, _ = mapper._prior(x)
        rows_m.append((pr[0] - mu) / sd)
    m = np.vstack(rows_m) if rows_m else np.zeros((0, len(mapper.codes_)))
    matrix = pd.DataFrame(m, index=pd.Index(ids, name="candidate"), columns=list(mapper.codes_))
    out = []
    for r, cid in enumerate(ids):
        s = m[r]
        order = np.argsort(-np.nan_to_num(s, nan=-np.inf), kind="stable")
        best = s[order[0]]
        close = [j for j in order if not np.isnan(s[j]) and s[j] >= tau and best - s[j] <= delta]
        if np.isnan(best) or best < tau:
            status = "emergent"
        elif len(close) >= 2:
            status = "ambiguous"
        else:
            status = "matched"
        for rank, j in enumerate(order, 1):
            out.append((cid, labels.get(cid, ""), mapper.codes_[j], float(s[j]), rank, status, n_members[r]))
    df = pd.DataFrame(out, columns=["candidate", "label", "code", "score", "rank", "status", "n_members"])
    df.attrs["matrix"] = matrix
    df.attrs["tau"], df.attrs["delta"] = tau, delta
    return df


def unsupported_codes(mapper: CodeMapper, candidate_mapping: pd.DataFrame | None = None, *,
                      min_support: int = 1) -> pd.DataFrame:
    """Codebook coverage: per code, its support in the data, and whether it has any.

    A code is *supported* when at least ``min_support`` utterances have it as their top,
    non-abstained suggestion, or it has seeds, or (with ``candidate_mapping`` from
    :func:`map_candidates`) a matched or ambiguous candidate code ranks it first or within
    ``delta`` of the first. Codes with no support are a finding in themselves (a construct with
    no data). Columns: the :meth:`CodeMapper.support` columns, ``candidates`` (the candidate
    codes pointing at it) and ``supported``.
    """
    out = mapper.support()
    pointing: dict[str, list[str]] = {c: [] for c in mapper.codes_}
    if candidate_mapping is not None and len(candidate_mapping):
        delta = candidate_mapping.attrs.get("delta", 0.25)
        tau = candidate_mapping.attrs.get("tau", 1.0)
        for cid, g in candidate_mapping.groupby("candidate", sort=False):
            if g["status"].iloc[0] == "emergent":
                continue
            best = g["score"].max()
            for code, s in zip(g["code"], g["score"]):
                if s >= tau and best - s <= delta:
                    pointing[code].append(str(cid))
    out["candidates"] = out["code"].map(lambda c: "|".join(pointing.get(c, [])))
    out["supported"] = (out["n_top"] >= min_support) | (out["n_seeds"] > 0) | (out["candidates"] != "")
    return out
