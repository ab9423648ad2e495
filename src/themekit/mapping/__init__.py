"""Stage 5, mapping: utterances and candidate codes -> codebook codes, with reviewable scores.

Takes a :class:`~themekit.codebook.Codebook`, utterances with embeddings, optionally human coding
as seeds and candidate codes from discovery; gives suggestions per utterance, codebook coverage,
what to code next, and how candidate codes relate to the codebook. Imports
:mod:`themekit.embed` and :mod:`themekit.codebook`.

:class:`CodeMapper` suggests codebook codes for utterances, zero-shot (codebook only) or
seeded with human coding (few-shot), and says which utterances to code next.
:func:`map_candidates` relates candidate codes (from discovery) to codebook codes: matched,
ambiguous or emergent; :func:`unsupported_codes` lists codebook codes without data.

How the scores are made (every step label-free unless seeds are given):

0. **Fine-tuning** (opt-in, ``fine_tune=True``, seeded only): the sentence embedder is first
   fine-tuned on the seed utterances (and each code's description, as one more example of
   it): same code close, different codes apart (SetFit-style, see :mod:`themekit.embed.finetune`);
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
   Fitted on float32 features (far coarser than float32's 7 digits anyway); each
   self-training round starts from the previous round's model (it converges in a few steps).
6. **Mixing, learned from the seeds.** Four sources of probabilities: the prior, the
   classifier self-trained without seeds, the classifier trained with the seeds, and that one
   self-trained. Zero-shot: prior and self-trained classifier half and half. Seeded, the mix
   is chosen by cross-fitting over the seeds (``n_folds`` folds of coded utterances; the
   cross-fitted log-likelihood of the human codes), kept only when it beats the zero-shot mix
   by more than one standard error, else the zero-shot weights stay (too few seeds to tell);
   the seeded classifiers are the fold models, averaged. ``weights="fixed"`` restores the
   old rule (prior share ``prior_weight / (prior_weight + seeds per code)``). See
   :mod:`.calibration`.
7. **Calibration** (seeded): temperature scaling on the cross-fitted seed predictions, so a
   suggestion's ``score`` estimates the probability that a coder of this study applies the
   code (``calibrated`` column); without seeds scores rank but are not calibrated.

Suggestions: the ``top_k`` most probable codes per utterance; a code is *suggested* when its
probability is at least ``multilabel_threshold`` times the top one; the mapper *abstains*
when the top probability is below ``abstain_threshold`` ("auto": twice what a code would get
if all codes fitted equally, 2 / number of codes), or — seeded with coding that left some
utterances uncoded (``no_code``) — when "no code" is more probable than the top code.

Where each step lives: fine-tuning (0) in :mod:`themekit.embed.finetune`, started by ``fit``;
facets (1), context (2), centring (3) and the classifier's word features in
:mod:`.features`; prior (4), classifier (5) and mixing (6) in
:mod:`.scores`, learned weights and calibration (6, 7) in :mod:`.calibration`, the weak-codebook
warning in :mod:`.advice`; the :class:`CodeMapper` estimator (parameters, ``fit``,
``predict``, suggestions and abstention, ``suggest_next``, ``support``) in
:mod:`.model`; :func:`map_candidates` and :func:`unsupported_codes` in
:mod:`.candidates`. Seeds and what to code next: :mod:`.seeding`. This
module gathers their names.
"""

from __future__ import annotations

from .advice import bare_codes, weak_codebook
from .calibration import CrossFit, expected_calibration_error, queue_precision, reliability_table, review_queue
from .candidates import STATUSES, map_candidates, unsupported_codes
from .features import Facet, code_facets
from .model import CodeMapper
from .seeding import as_seed_labels, density, select_next

__all__ = ["CodeMapper", "Facet", "code_facets", "map_candidates", "unsupported_codes",
           "STATUSES", "NotFittedError", "as_seed_labels", "density", "select_next", "CrossFit",
           "expected_calibration_error", "reliability_table", "review_queue", "queue_precision",
           "bare_codes", "weak_codebook"]


def __getattr__(name: str):
    if name == "NotFittedError":   # sklearn's, imported on use
        from sklearn.exceptions import NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
