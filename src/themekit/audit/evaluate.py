"""Suggested codes against human codes: accuracy, macro-F1, Cohen's kappa, per code and overall.

The unit is an utterance (or any id'd span). A suggestion is one code per unit (the top
suggestion), or nothing when the mapper abstained. A unit may carry several human codes.

**The rule for multi-coded units.** A suggestion is correct when it is one of the unit's
human codes. For the label-level statistics (kappa, F1, confusion) each unit needs one gold
label: the suggested code when it is among the human codes, else the unit's *first* human code
(in the order the coder gave them, or sorted when no order is known). Cohen's kappa is then
computed between suggested and gold labels over the codebook's codes, exactly as
``sklearn.metrics.cohen_kappa_score(gold, predicted, labels=codes)``.

Abstained units count towards ``coverage``; the statistics are computed on the answered units
(``accuracy_all`` counts an abstention as wrong). Units without any human code are skipped:
there is nothing to be right about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .agreement import cohen_kappa

__all__ = ["EvaluationReport", "evaluate", "resolve_gold", "gold_from_aligned"]

GOLD_RULE = ("a suggestion is correct when it is one of the unit's human codes; gold label = the "
             "suggested code if it is among the human codes, else the first human code; Cohen's "
             "kappa between suggested and gold labels over the codebook's codes")


@dataclass(frozen=True)
class EvaluationReport:
    """Agreement between suggestions and human codes (see the module docstring for the rule).

    ``per_code``: one row per code — ``precision, recall, f1, kappa`` (one code against the
    rest), ``support`` (units whose gold label is the code), ``predicted`` (units suggested it).
    ``confusion``: gold codes (rows) x suggested codes (columns), counts.
    """

    n_units: int
    n_answered: int
    accuracy: float
    accuracy_all: float
    macro_f1: float
    kappa: float
    per_code: pd.DataFrame = field(repr=False)
    confusion: pd.DataFrame = field(repr=False)
    rule: str = GOLD_RULE

    @property
    def coverage(self) -> float:
        return self.n_answered / self.n_units if self.n_units else float("nan")

    def summary(self) -> str:
        return (f"{self.n_units} units, {self.n_answered} answered ({self.coverage:.0%}): "
                f"accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f}, kappa {self.kappa:.3f}")

    def to_dict(self) -> dict[str, Any]:
        return {"n_units": self.n_units, "n_answered": self.n_answered, "coverage": self.coverage,
                "accuracy": self.accuracy, "accuracy_all": self.accuracy_all,
                "macro_f1": self.macro_f1, "kappa": self.kappa}

    def __repr__(self) -> str:
        return f"EvaluationReport({self.summary()})"


# -- inputs ----------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _as_code_list(v: Any) -> list[str]:
    if _is_missing(v):
        return []
    if isinstance(v, str):
        return [v] if v else []
    if isinstance(v, (frozenset, set)):
        return sorted(str(c) for c in v)
    return [str(c) for c in v]


def gold_from_aligned(aligned: pd.DataFrame, coder: str | None = None) -> dict[str, list[str]]:
    """``{utterance_id: [codes]}`` from :func:`themekit.codebook.coding.align_to_utterances` output:
    one coder's codes, or with ``coder=None`` the union over coders (sorted)."""
    df = aligned if coder is None else aligned[aligned["coder"] == coder]
    if coder is not None and df.empty:
        raise ValueError(f"coder {coder!r} not in the aligned coding; coders: "
                         f"{', '.join(sorted(aligned['coder'].unique()))}")
    out: dict[str, set[str]] = {}
    for uid, codes in zip(df["utterance_id"], df["codes"]):
        out.setdefault(str(uid), set()).update(codes)
    return {u: sorted(c) for u, c in out.items()}


def _suggestions_to_series(suggestions: Any) -> pd.Series:
    """utterance_id -> top code (None when abstained)."""
    if isinstance(suggestions, pd.DataFrame):
        df = suggestions
        if "utterance_id" not in df.columns or "code" not in df.columns:
            raise ValueError("suggestions must have utterance_id and code columns "
                             f"(got {', '.join(map(str, df.columns))})")
        if "rank" in df.columns:
            df = df[df["rank"] == 1]
        df = df.drop_duplicates("utterance_id", keep="first")
        codes = df["code"].astype(object)
        if "abstained" in df.columns:
            codes = codes.where(~df["abstained"].astype(bool), None)
        return pd.Series(codes.to_numpy(), index=df["utterance_id"].astype(str).to_numpy(), dtype=object)
    if isinstance(suggestions, pd.Series):
        return suggestions.astype(object).rename(index=str)
    if isinstance(suggestions, Mapping):
        return pd.Series(dict(suggestions), dtype=object).rename(index=str)
    raise TypeError("suggestions must be a DataFrame (utterance_id, code[, rank, abstained]), a Series "
                    f"or a mapping utterance_id -> code; got {type(suggestions).__name__}")


def _gold_to_dict(gold: Any) -> dict[str, list[str]]:
    if isinstance(gold, pd.DataFrame):
        if {"utterance_id", "codes"} <= set(gold.columns):
            return gold_from_aligned(gold)
        if {"utterance_id", "code"} <= set(gold.columns):
            out: dict[str, list[str]] = {}
            for u, c in zip(gold["utterance_id"], gold["code"]):
                if not _is_missing(c) and c not in out.setdefault(str(u), []):
                    out[str(u)].append(str(c))
            return out
        raise ValueError("gold table needs utterance_id and codes (from align_to_utterances) or "
                         f"utterance_id and code columns (got {', '.join(map(str, gold.columns))})")
    if isinstance(gold, pd.Series):
        gold = gold.to_dict()
    if isinstance(gold, Mapping):
        return {str(k): _as_code_list(v) for k, v in gold.items()}
    raise TypeError("gold must be align_to_utterances output, a DataFrame (utterance_id, code) or a "
                    f"mapping utterance_id -> codes; got {type(gold).__name__}")


def resolve_gold(predicted: Sequence, gold_sets: Sequence[Sequence[str]]) -> list[str | None]:
    """One gold label per unit: the prediction when it is among the unit's codes, else the
    unit's first code (None for units without codes)."""
    out = []
    for p, g in zip(predicted, gold_sets):
        g = list(g)
        out.append(None if not g else (p if p in g else g[0]))
    return out


# -- the metrics --------------------------------------------------------------------------------
def _per_code(gold: np.ndarray, pred: np.ndarray, codes: Sequence[str]) -> pd.DataFrame:
    rows = []
    for c in codes:
        g, p = gold == c, pred == c
        tp = int((g & p).sum())
        n_p, n_g = int(p.sum()), int(g.sum())
        precision = tp / n_p if n_p else 0.0
        recall = tp / n_g if n_g else 0.0
        f1 = 2 * tp / (n_p + n_g) if n_p + n_g else 0.0
        kappa = cohen_kappa(g, p, labels=[False, True]) if len(g) else float("nan")
        rows.append((c, precision, recall, f1, kappa, n_g, n_p))
    return pd.DataFrame(rows, columns=["code", "precision", "recall", "f1", "kappa", "support",
                                       "predicted"]).set_index("code")


def evaluate(suggestions: Any, gold: Any, codes: Iterable[str] | None = None) -> EvaluationReport:
    """Compare suggestions with human codes.

    ``suggestions``: the ``suggestions_`` table of a fitted :class:`~themekit.mapping.CodeMapper`
    (rank-1 rows are used; ``abstained`` rows count as no answer), a Series or a mapping
    ``utterance_id -> code`` (``None`` = abstained). ``gold``: :func:`align_to_utterances`
    output (codes of all coders pooled), a DataFrame ``utterance_id, code`` (one row per code,
    first row = first code), or a mapping ``utterance_id -> code or list of codes``.
    ``codes``: the label set (a codebook's code names; default: every code seen). Units present
    in ``suggestions`` and with at least one gold code are evaluated.

    Macro-F1 averages the per-code F1 over codes that occur in the gold labels or the
    suggestions (as ``sklearn.metrics.f1_score(average="macro")`` with ``labels`` left out).
    """
    pred = _suggestions_to_series(suggestions)
    gold_d = _gold_to_dict(gold)
    ids = [u for u in pred.index if gold_d.get(u)]
    if not ids:
        raise ValueError("no unit has both a suggestion and a human code: are the utterance ids of "
                         "the suggestions and the coding the same?")
    p_all = np.array([pred[u] for u in ids], dtype=object)
    g_sets = [gold_d[u] for u in ids]
    answered = np.array([not _is_missing(p) for p in p_all])
    p = p_all[answered]
    g = np.array(resolve_gold(p, [s for s, a in zip(g_sets, answered) if a]), dtype=object)
    if codes is None:
        label_set = sorted({c for s in g_sets for c in s} | {c for c in p})
    else:
        label_set = list(dict.fromkeys(str(c) for c in codes))
        unknown = sorted({c for c in p if c not in label_set})
        if unknown:
            raise ValueError(f"suggested codes not in the code list: {', '.join(unknown[:5])}")
    n_ans = int(answered.sum())
    correct = (p == g) if n_ans else np.zeros(0, bool)
    accuracy = float(correct.mean()) if n_ans else float("nan")
    per_code = _per_code(g, p, label_set)
    used = per_code[(per_code["support"] > 0) | (per_code["predicted"] > 0)]
    macro_f1 = float(used["f1"].mean()) if len(used) else float("nan")
    keep = np.isin(g, label_set)
    kappa = cohen_kappa(g[keep], p[keep], labels=label_set) if n_ans else float("nan")
    conf = pd.crosstab(pd.Categorical(g, categories=label_set), pd.Categorical(p, categories=label_set),
                       dropna=False)
    conf.index.name, conf.columns.name = "gold", "suggested"
    return EvaluationReport(
        n_units=len(ids), n_answered=n_ans, accuracy=accuracy,
        accuracy_all=float(correct.sum() / len(ids)), macro_f1=macro_f1, kappa=float(kappa),
        per_code=per_code, confusion=conf.astype("int64"))
