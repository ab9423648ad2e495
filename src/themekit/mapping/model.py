"""The :class:`CodeMapper` estimator: suggest codebook codes for utterances, with scores.

The method is described in :mod:`themekit.mapping`. ``fit`` runs its steps in order: facets,
context and centring from :mod:`themekit.mapping.features`, prior, classifier and mixing from
:mod:`themekit.mapping.scores`; this module holds the parameters, the fitted state, the
suggestions table with its abstention rule, and what the mapper offers after fitting
(``predict``, ``suggest_next``, ``support``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..codebook import Code, Codebook
from .features import (_norm, _unit_text, centred, code_facets, fit_lexical, lexical_features,
                               prompt_vectors)
from .advice import weak_codebook
from .calibration import (COMPONENTS, cross_fit, mix_components, queue_precision, review_queue,
                          zero_shot_weights)
from .scores import (SCORE_CHUNK, _softmax, class_proba, prior_scores, score_in_chunks, seed_rows,
                     self_trained_classifier)
from .seeding import as_seed_labels, density, select_next

__all__ = ["CodeMapper"]   # and NotFittedError, sklearn's (module __getattr__)

log = logging.getLogger("themekit")

#: the fitted state that scores new utterances (see ``CodeMapper._scorer``)
_SCORING_STATE = ("codes_", "_mean", "_facet_x", "_facet_code", "_facet_pos", "_temperature", "_vectorizer",
                  "_models", "weights_", "_n_classes", "_none_source")

#: fitted state holding scikit-learn objects: pickled as one inner blob, unpickled on first use
#: (a rerun that reads a mapper from the cache and only reports on it need not import sklearn)
_DEFERRED = ("_models", "_vectorizer")
_UNPICKLING = threading.Lock()


def __getattr__(name: str):
    # the sklearn habit: one exception type for "used before fit" (imported on use: sklearn
    # takes a second to import)
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}; got {value!r}")


# -- reuse within a process ----------------------------------------------------------------------
_MEMO: dict[str, Any] = {}
_MEMO_SIZE = 4


def _memo(parts: tuple, compute):
    """``compute()``, or its result for the same ``parts`` (by value) computed earlier in this
    process: the audit fits a mapper per fold of interviews on the same utterances and codebook,
    and the word features (TF-IDF + LSA on the utterances) and the codebook's self-trained
    classifier (no seeds) are the same in each; only the seeded classifiers differ. Results are
    the same objects, never changed after fitting; the last few are kept."""
    from ..common.results import input_hash

    key = input_hash(*parts)
    if key in _MEMO:
        _MEMO[key] = _MEMO.pop(key)     # most recently used last
        return _MEMO[key]
    value = compute()
    _MEMO[key] = value
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    return value


# -- the mapper ---------------------------------------------------------------------------------
def _valid_weights(w) -> bool:
    if isinstance(w, str):
        return w in ("learned", "fixed")
    if not isinstance(w, Mapping) or not w or set(w) - set(COMPONENTS):
        return False
    try:
        v = np.array([float(x) for x in w.values()])
    except (TypeError, ValueError):
        return False
    return bool(np.all(np.isfinite(v)) and np.all(v >= 0) and abs(v.sum() - 1) < 1e-6)


class CodeMapper:
    """Suggest codebook codes for utterances, with scores to sort and review.

    Parameters (checked in ``fit``; the method is described in :mod:`themekit.mapping`):

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
    - ``prior_weight`` (> 0): how many coded examples the codebook is worth, per code, in the
      classifier's training (the total weight of each code's facets); with ``weights="fixed"``
      also the prior's share of the final probability (``prior_weight / (prior_weight + seeds
      per code)``);
    - ``weights`` ("learned", "fixed" or a mapping): with seeds, how much the prior, the seeds and
      self-training count — learned by cross-fitting over the seeds (``n_folds`` folds, int >= 2;
      zero-shot weights when the seeds are too few to tell), the fixed rule above, or given as
      ``{component: weight}`` (components of :data:`~themekit.mapping.calibration.COMPONENTS`,
      weights >= 0 summing to 1; e.g. another mapper's ``weights_``: the seeded classifiers are
      then fitted once, on all seeds, and scores are not calibrated);
    - ``calibrate`` (bool): with learned weights, calibrate the scores on the cross-fitted seeds;
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
      (:func:`themekit.embed.finetune.fine_tune_embedder`; a minute or two on a CPU) and map with the
      fine-tuned embeddings; precomputed ``embeddings`` of the base model are then not used.
      Without seeds it does nothing; ``fine_tune_steps`` (int >= 1): its optimiser steps;
    - ``random_state`` (int): for ``suggest_next``'s clustering and the fine-tuning.

    Fitted attributes: ``codes_`` (code names), ``scores_`` (utterance x code probabilities),
    ``prior_`` (utterance x code prior scores), ``suggestions_``, ``seeds_`` (utterance id ->
    human codes used), ``uncoded_`` (seed utterances left uncoded: the "no code" class),
    ``no_code_`` (probability of "no code" per utterance; 0 without such seeds), ``context_``
    (whether prompts were used), ``abstain_threshold_``, ``embedder_`` (the embedder used: with
    ``fine_tune``, the fine-tuned one), ``fine_tuned_`` (whether fine-tuning happened),
    ``rejected_`` (utterance id -> codes a reviewer
    rejected there: never suggested there), ``weights_`` (source -> weight), ``crossfit_`` (:class:`~themekit.mapping.calibration.CrossFit`:
    the chosen weights, why, cross-fitted kappa, calibration; None zero-shot), ``calibrated_``
    (whether ``score`` in the suggestions is a calibrated probability), ``calibrated_scores_``
    (utterance x code calibrated probabilities, or None), ``weak_codebook_`` (the warning when
    most codes are bare names, else None). With ``fine_tune``, weights and calibration are
    cross-fitted on the fine-tuned embeddings, which saw every seed: expect them optimistic.
    """

    def __init__(self, *, top_k: int = 3, abstain_threshold: float | str = "auto",
                 multilabel_threshold: float = 0.5, context: str | None = "auto",
                 context_weight: float = 0.5, n_prompts: int = 3, center: bool = True,
                 lexical_weight: float = 0.5, prior_weight: float = 5.0, self_training: int = 2,
                 pseudo_fraction: float = 0.5, pseudo_weight: float = 0.5, C: float = 10.0,
                 lexical_dims: int = 256, text: str = "content", no_code: bool = True,
                 fine_tune: bool = False, fine_tune_steps: int = 30, weights: str = "learned",
                 n_folds: int = 5, calibrate: bool = True, random_state: int = 0):
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
        self.weights = weights
        self.n_folds = n_folds
        self.calibrate = calibrate
        self.random_state = random_state

    # -- pickling: the scikit-learn parts deferred -------------------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if state.get("_eager"):     # a scorer copy: its workers use the parts at once
            return state
        parts = {k: state.pop(k) for k in _DEFERRED if k in state}
        if parts:
            import pickle
            state["_deferred"] = pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str):
        # only reached when the attribute is missing: the deferred parts of an unpickled mapper
        d = self.__dict__
        if name in _DEFERRED and "_deferred" in d:
            import pickle
            with _UNPICKLING:       # threads of one worker may all ask at once
                if "_deferred" in d:
                    d.update(pickle.loads(d["_deferred"]))   # the parts first, then drop the blob
                    d.pop("_deferred", None)
            return d[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor's settings (the scikit-learn contract; what caches and manifests key on)."""
        return {k: getattr(self, k) for k in CodeMapper.__init__.__kwdefaults__}

    def set_params(self, **params) -> "CodeMapper":
        for k, v in params.items():
            if k not in CodeMapper.__init__.__kwdefaults__:
                raise ValueError(f"CodeMapper has no parameter {k!r}; its parameters: "
                                 f"{', '.join(CodeMapper.__init__.__kwdefaults__)}")
            setattr(self, k, v)
        return self

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
        _check("weights", self.weights, _valid_weights(self.weights),
               '"learned", "fixed", or a mapping {component: weight >= 0} over '
               f"{', '.join(COMPONENTS)} summing to 1")
        _check("n_folds", self.n_folds, isinstance(self.n_folds, (int, np.integer))
               and not isinstance(self.n_folds, bool) and self.n_folds >= 2, "an integer >= 2")
        _check("calibrate", self.calibrate, isinstance(self.calibrate, (bool, np.bool_)), "True or False")
        _check("fine_tune", self.fine_tune, isinstance(self.fine_tune, (bool, np.bool_)), "True or False")
        _check("fine_tune_steps", self.fine_tune_steps, isinstance(self.fine_tune_steps, (int, np.integer))
               and not isinstance(self.fine_tune_steps, bool) and self.fine_tune_steps >= 1, "an integer >= 1")

    def _check_fitted(self) -> None:
        if not hasattr(self, "scores_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this CodeMapper is not fitted yet: call fit(codebook, utterances, ...) first")

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, codebook: Codebook, utterances, *, embeddings=None, embedder=None, corpus=None,
            seeds=None, rejected=None) -> "CodeMapper":
        """Learn code scores for ``utterances`` (a list of Utterances, or a Corpus: its
        ``select()``-ed participant speech).

        ``embeddings``: precomputed :class:`~themekit.embed.Embeddings` covering the utterances
        (and, for context, the corpus's interviewer utterances; missing ones are embedded);
        ``embedder``: embeds codes and anything not precomputed (default: the default model;
        must be the model the embeddings came from). ``corpus``: for prompt context and for
        aligning coded segments. ``seeds``: human coding (see
        :func:`themekit.mapping.seeding.as_seed_labels`), or None for zero-shot. ``rejected``:
        ``{utterance_id: codes}`` a reviewer said are not that utterance's
        (:func:`themekit.codebook.decisions.rejected_codes`): their probability there is set
        to 0, so they are never suggested there again.
        """
        from ..embed import Embeddings, load_embedder
        from ..types import Corpus

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
        self._vectorizer = (_memo(("fit_lexical", texts, self.lexical_dims),
                                  lambda: fit_lexical(texts, self.lexical_dims))
                            if self.lexical_weight > 0 else None)
        z = self._features(x, texts)
        zf = self._features(self._facet_x, [f.text for f in facets])

        # classifiers: facets, seeds (utterances coders saw and left uncoded: class k) and
        # self-training rounds; how much each source counts is learned from the seeds
        k = len(codes)
        n_classes = k + (1 if self.uncoded_ else 0)
        row = {u: i for i, u in enumerate(ids)}
        s_rows, _, _ = seed_rows(seed_labels, row, self._code_index, k)
        seeded = np.zeros(len(units), bool)
        seeded[s_rows] = True
        self._seeded = seeded
        self._n_classes = n_classes
        sources = self._fit_sources(z, zf, p0, seed_labels, row)
        final = self._combine(sources)
        self.rejected_ = self._reject(final, ids, rejected)
        self._p_full = final
        cal = self.crossfit_.calibrator if self.crossfit_ is not None else None
        self.calibrated_ = cal is not None
        self._calibrator = cal
        calibrated = cal.transform(final[:, :k]) if cal is not None else None

        self._units = units
        index = pd.Index(ids, name="utterance_id")
        self.prior_ = pd.DataFrame(prior, index=index, columns=list(self.codes_))
        self.scores_ = pd.DataFrame(final[:, :k], index=index, columns=list(self.codes_))
        self.no_code_ = pd.Series(final[:, k] if n_classes > k else np.zeros(len(ids)), index=index,
                                  name="no_code")
        self.abstain_threshold_ = (2.0 / len(codes) if self.abstain_threshold == "auto"
                                   else float(self.abstain_threshold))
        self.calibrated_scores_ = (pd.DataFrame(calibrated, index=index, columns=list(self.codes_))
                                   if calibrated is not None else None)
        self.weak_codebook_ = weak_codebook(codes)
        if self.weak_codebook_ is not None:
            log.warning("%s", self.weak_codebook_)
        self.suggestions_ = self._suggestions(units, final[:, :k], evidence, seeded, self.no_code_.to_numpy(),
                                              calibrated)
        return self

    def _fit_sources(self, z: np.ndarray, zf: np.ndarray, p0: np.ndarray, seed_labels: dict,
                     row: dict) -> dict:
        """The sources' probabilities for the fitted utterances; sets ``weights_``,
        ``crossfit_`` and the models that score new utterances."""
        k, n_classes, n = len(self.codes_), self._n_classes, len(z)
        kw = dict(facet_code=self._facet_code, facet_pos=self._facet_pos, n_codes=k,
                  prior_weight=self.prior_weight, self_training=self.self_training,
                  pseudo_fraction=self.pseudo_fraction, pseudo_weight=self.pseudo_weight, C=self.C,
                  return_rounds=True)
        has_seeds = bool(self._seeded.any())
        models: dict[str, Any] = {}
        sources: dict[str, np.ndarray | None] = dict.fromkeys(COMPONENTS)
        sources["codebook"] = p0
        if self.self_training > 0:   # the codebook self-trained on the corpus, no seeds
            zs = _memo(("codebook+self-training", z, zf, p0, k, kw),
                       lambda: self_trained_classifier(z, zf, p0, s_rows=[], s_y=[], s_w=[],
                                                       seeded=np.zeros(n, bool), n_classes=k, **kw)[-1])
            models["codebook+self-training"], sources["codebook+self-training"] = zs

        def seeded_sources(labels: dict) -> list:
            rows, ys, ws = seed_rows(labels, row, self._code_index, k)
            mask = np.zeros(n, bool)
            mask[rows] = True
            return self_trained_classifier(z, zf, p0, s_rows=rows, s_y=ys, s_w=ws, seeded=mask,
                                           n_classes=n_classes, **kw)

        zero = zero_shot_weights(self.self_training > 0)
        self.crossfit_ = None
        self._none_source = "seeds+self-training" if self.self_training > 0 else "seeds"
        if not has_seeds:
            w = zero
        else:
            items = list(seed_labels.items())
            fold_models: list = []

            def fold_sources(train: np.ndarray):
                r = seeded_sources({u: cs for (u, cs), t in zip(items, train) if t})
                fold_models.append((r[0][0], r[-1][0]))
                return r[0][1], r[-1][1]

            if self.weights == "learned":
                self.crossfit_ = cross_fit(
                    [row[u] for u, _ in items], [[self._code_index[c] for c in cs] for _, cs in items],
                    [sources["codebook"], sources["codebook+self-training"]], fold_sources, n_codes=k,
                    zero_shot=zero, n_folds=self.n_folds, random_state=self.random_state,
                    calibrate=self.calibrate, self_trained=self.self_training > 0)
                w = np.array([self.crossfit_.weights[c] for c in COMPONENTS])
            if self.crossfit_ is not None and self.crossfit_.sources is not None:
                # the fold models, averaged: the models the weights and calibration were learned on
                sources["seeds"], p_st = self.crossfit_.sources
                models["seeds"] = [m for m, _ in fold_models]
                if self.self_training > 0:
                    sources["seeds+self-training"] = p_st
                    models["seeds+self-training"] = [m for _, m in fold_models]
            else:
                rounds = seeded_sources(seed_labels)
                models["seeds"], sources["seeds"] = rounds[0]
                if self.self_training > 0:
                    models["seeds+self-training"], sources["seeds+self-training"] = rounds[-1]
            if self.weights == "fixed":   # the codebook counts as prior_weight seeds per code
                blend = self.prior_weight / (self.prior_weight + len(self.seeds_) / k)
                w = np.array([blend, 0.0, 0.0, 0.0])
                w[COMPONENTS.index(self._none_source)] = 1 - blend
            elif isinstance(self.weights, Mapping):   # given (e.g. learned by another mapper)
                w = np.array([float(self.weights.get(c, 0.0)) for c in COMPONENTS])
        self.weights_ = {c: float(x) for c, x in zip(COMPONENTS, w)}
        self._models = {c: m for c, m in models.items() if self.weights_[c] > 0
                        or (has_seeds and c == self._none_source)}
        return sources

    # -- pieces ------------------------------------------------------------------------------
    def _fine_tuned(self, embedder, units: list, codes: list[Code]):
        """The embedder fine-tuned on the seed utterances (each with all its seed codes), with
        each code's description (its first facet) as one more example of the code."""
        from ..embed.finetune import fine_tune_embedder

        by_id = {u.id: u for u in units}
        seeds = sorted(self.seeds_.items())
        texts = [_unit_text(by_id[u], self.text) for u, _ in seeds]
        labels = [cs for _, cs in seeds]
        for c in codes:
            texts.append(code_facets(c)[0].text)
            labels.append([c.name])
        return fine_tune_embedder(embedder, texts, labels, steps=self.fine_tune_steps,
                                  random_state=self.random_state)

    def _reject(self, p: np.ndarray, ids: list[str], rejected) -> dict[str, frozenset[str]]:
        """Zero (in place) the probability of each code a reviewer rejected for an utterance;
        the rejections that apply (utterances and codes being mapped)."""
        row = {u: i for i, u in enumerate(ids)}
        out = {}
        for uid, codes in (rejected or {}).items():
            i = row.get(str(uid))
            js = [self._code_index[c] for c in codes if c in self._code_index]
            if i is None or not js:
                continue
            p[i, js] = 0.0
            out[str(uid)] = frozenset(self.codes_[j] for j in js)
        return out

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        from ..embed import embed_texts

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
            x = x + self.context_weight * prompt_vectors(self._corpus, units, x.shape[1], self.n_prompts,
                                                         self._vectors_for)
        return x

    def _finish(self, xu: np.ndarray) -> np.ndarray:
        return centred(xu, self._mean, self.center)

    def _prior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return prior_scores(x, self._facet_x, self._facet_code, self._facet_pos, len(self.codes_))

    def _features(self, x: np.ndarray, texts: list[str]):
        return lexical_features(x, texts, self._vectorizer, self.lexical_weight)

    def _abstains(self, proba: np.ndarray, p_none: np.ndarray) -> np.ndarray:
        top = proba.max(axis=1)
        return (top < self.abstain_threshold_) | (p_none > top)

    def _suggestions(self, units, proba: np.ndarray, evidence: np.ndarray, seeded: np.ndarray,
                     p_none: np.ndarray, calibrated: np.ndarray | None = None) -> pd.DataFrame:
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
                score = float(calibrated[i, j]) if calibrated is not None else float(top[i, r])
                rows.append((u.id, u.transcript_id, u.speaker, u.start, u.end, u.text, self.codes_[j],
                             score, r + 1, float(margin[i]), bool(abstained[i]), suggested,
                             bool(seeded[i]), f"{f.kind}: {f.text}", float(top[i, r])))
        cols = ["utterance_id", "transcript_id", "speaker", "start", "end", "text", "code", "score", "rank",
                "margin", "abstained", "suggested", "seeded", "evidence", "model_score"]
        df = pd.DataFrame(rows, columns=cols)
        # score: with seeds, the calibrated probability that a coder of this study applies the
        # code; without, the model's probability, which ranks but is not calibrated
        df["calibrated"] = calibrated is not None
        return df.astype({"start": "int64", "end": "int64", "rank": "int64", "score": "float64",
                          "margin": "float64", "model_score": "float64"})

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

    def predict_proba(self, utterances=None, *, embeddings=None, corpus=None, mapper=None,
                      chunk_size: int = SCORE_CHUNK) -> pd.DataFrame:
        """Utterance x code probabilities; None: those of the fitted utterances (``scores_``).

        New utterances are scored with what ``fit`` learned (the same centring, vocabulary and
        classifier); pass ``corpus`` for their prompt context when the mapper used context.
        They are scored ``chunk_size`` at a time, the chunks run by ``mapper`` (the engine:
        :mod:`themekit.common.parallel`, e.g. a :class:`themekit.scale.DaskMapper`; the fitted
        model travels once to each worker); the scores are the same whatever runs them."""
        self._check_fitted()
        if utterances is None:
            out = self.scores_.copy()
            out.attrs["no_code"] = self.no_code_.to_numpy()
            return out
        from ..embed import Embeddings
        from ..types import Corpus

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
            p, _ = self._score(units, mapper, chunk_size)
        finally:
            self._precomputed, self._corpus = saved
        k = len(self.codes_)
        out = pd.DataFrame(p[:, :k], index=pd.Index([u.id for u in units], name="utterance_id"),
                           columns=list(self.codes_))
        out.attrs["no_code"] = p[:, k] if p.shape[1] > k else np.zeros(len(units))
        return out

    def _score(self, units, mapper=None, chunk_size: int = SCORE_CHUNK) -> tuple[np.ndarray, np.ndarray]:
        # vectors and prompt context here (they need the embeddings and the corpus); the rest
        # chunk by chunk, by the fitted state alone
        return score_in_chunks(self._scorer(), self._unit_vectors(units),
                               [_unit_text(u, self.text) for u in units], mapper, chunk_size)

    def _scorer(self) -> "CodeMapper":
        """A copy holding only the settings and the fitted state that score utterances (no
        embedder, corpus or training data): what is shipped to the workers."""
        m = object.__new__(type(self))
        for name in _DEFERRED:      # unpickled once here, not in every copy
            getattr(self, name, None)
        keep = set(self.get_params()) | set(_SCORING_STATE)
        m.__dict__.update({k: v for k, v in self.__dict__.items() if k in keep})
        m._eager = True             # pickled whole when shipped: nothing left to unpickle there
        return m

    def _score_vectors(self, xu: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        x = self._finish(xu)
        prior, evidence = self._prior(x)
        sources = {"codebook": _softmax(prior, self._temperature)}
        if self._models:
            z = self._features(x, texts)
            for name, model in self._models.items():
                n_cls = len(self.codes_) if name == "codebook+self-training" else self._n_classes
                if isinstance(model, list):   # fold models: their mean
                    sources[name] = sum(class_proba(m, z, n_cls) for m in model) / len(model)
                else:
                    sources[name] = class_proba(model, z, n_cls)
        return self._combine(sources), evidence

    def _combine(self, sources: dict) -> np.ndarray:
        """The learned mix of the sources' code probabilities; "no code" (when learned from
        uncoded seeds) keeps the mass the seeded classifier gives it."""
        k = len(self.codes_)
        w = np.array([self.weights_[c] for c in COMPONENTS])
        codes = mix_components([sources.get(c) for c in COMPONENTS], w, k)
        if self._n_classes == k:
            return codes
        none = sources[self._none_source][:, k:k + 1]
        return np.hstack([codes * (1 - none), none])

    def decisions(self) -> dict[str, Any]:
        """What the mapper decided on the user's behalf, for the run manifest and the report:
        weights (learned or fixed, why), cross-fitted kappa, whether scores are calibrated, the
        expected share right of the review queue's top 50/100/200, the weak-codebook warning."""
        self._check_fitted()
        cf = self.crossfit_
        out: dict[str, Any] = {"seeds": len(self.seeds_), "uncoded_seeds": len(self.uncoded_),
                               "weights": {k: round(v, 3) for k, v in self.weights_.items()}}
        if cf is not None:
            out.update({k: v for k, v in cf.to_dict().items() if k != "weights"})
        else:
            out["learned"] = False
            out["reason"] = ("zero-shot: no seeds" if not self.seeds_ else
                             "weights given: " + ", ".join(f"{c} {float(v):.3f}" for c, v in self.weights.items())
                             if isinstance(self.weights, Mapping) else
                             f"weights={self.weights!r}: fixed rule, prior share prior_weight / "
                             "(prior_weight + seeds per code)")
        out["calibrated"] = bool(self.calibrated_)
        out["scores"] = ("calibrated: a score estimates the probability that a coder of this study applies "
                         "the code" if self.calibrated_ else
                         "not calibrated: scores rank suggestions but are not probabilities of being right "
                         "(code some utterances to calibrate them)")
        q = queue_precision(self.review_queue()) if self.calibrated_ else None
        out["review_queue_expected_share_right"] = (
            {int(r.top): round(r.expected_share_right, 4) for r in q.itertuples()} if q is not None else None)
        out["weak_codebook"] = self.weak_codebook_
        return out

    def review_queue(self) -> pd.DataFrame:
        """Suggestions for utterances not yet coded, most likely right first, with the expected
        share right among the first N (from the calibration; empty when not calibrated): see
        :func:`themekit.mapping.calibration.review_queue`."""
        self._check_fitted()
        return review_queue(self.suggestions_, self.calibrated_)

    def predict(self, utterances=None, *, embeddings=None, corpus=None, abstain: bool = True, mapper=None,
                chunk_size: int = SCORE_CHUNK) -> pd.Series:
        """The top code per utterance (None where the mapper abstains, unless ``abstain=False``);
        ``mapper``, ``chunk_size``: see :meth:`predict_proba`."""
        p = self.predict_proba(utterances, embeddings=embeddings, corpus=corpus, mapper=mapper,
                               chunk_size=chunk_size)
        top = p.to_numpy().argmax(axis=1)
        out = pd.Series([self.codes_[j] for j in top], index=p.index, dtype=object, name="code")
        if abstain:
            out[self._abstains(p.to_numpy(), p.attrs["no_code"])] = None
        return out

    def suggest_next(self, n: int = 20, among: Iterable[str] | None = None) -> pd.DataFrame:
        """The ``n`` not-yet-coded utterances whose human codes should improve the suggestions
        most (see :func:`themekit.mapping.seeding.select_next`): uncertain, typical, and different from
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
