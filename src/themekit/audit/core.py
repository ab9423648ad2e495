"""Audit of a coded project: intercoder agreement, coding drift, suspected mis-codings, and
agreement between the human coders and a model, per interview.

Units, and why:

- **Agreement** between coders is computed on *utterances* (:func:`themekit.codebook.coding.align_to_utterances`):
  coders' segments rarely share boundaries, so a segment codes the utterances it covers by at
  least ``min_overlap`` (or the one containing it). Units are participants' utterances
  (back-channels aside) plus any other utterance a coder coded; a coder's units are those of the
  transcripts they coded (elsewhere their coding is missing, as Krippendorff's α expects).
  Statistics come from :mod:`themekit.audit.agreement` (κ, α, percent agreement, bootstrap CIs).
- **Drift** and **mis-codings** use the *coded spans* themselves, on each coder's own boundaries
  (a segment is what the coder judged): the span text is embedded (:func:`segment_id` keys).
  See :mod:`themekit.audit.drift` and :mod:`themekit.audit.miscoding`.
- **Human vs model**: on utterances each coder coded, the model's top code is compared with
  the coder's codes (it agrees when it is one of them); Cohen's κ per interview with a
  bootstrap CI, flagged when the CI lies wholly below the coder's overall κ.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .coded import coded_units, natural_key, segment_id, transcript_order, unit_embeddings
from .coder_drift import CODER_AGREEMENT_COLUMNS, CODER_DRIFT_COLUMNS, EVIDENCE_COLUMNS, coder_chart, coder_drift
from .drift import NULLS, control_chart, drift_table
from .miscoding import find_miscodings
from ..types import Corpus, InputError, atomic_write

__all__ = ["audit", "AuditResult", "model_agreement", "agreement_chart", "model_agreement_chart",
           "control_chart", "coded_units", "segment_id", "transcript_order", "MODEL_AGREEMENT_COLUMNS"]

log = logging.getLogger("themekit")

MODEL_AGREEMENT_COLUMNS = ["coder", "transcript_id", "position", "n_units", "percent_agreement", "kappa",
                           "kappa_low", "kappa_high", "overall_kappa", "flagged", "note"]
ALL = "(all)"
N_FOLDS = 5   # folds of interviews for the cross-fitted model coder


# -- result ------------------------------------------------------------------------------------
@dataclass
class AuditResult:
    """Tables of an audit (pandas DataFrames; every row traces back to transcript positions).

    ``agreement``: per code and ``"(all codes)"`` (n_units, prevalence per coder, percent
    agreement, κ, α with bootstrap CIs; empty with fewer than two coders); ``pairwise``: κ per
    pair of coders and code; ``drift``: code x window per coder (:func:`themekit.audit.drift.drift_table`);
    ``miscodings``: coded spans ranked by suspicion (:func:`themekit.audit.miscoding.find_miscodings`);
    ``model_agreement``: human vs model κ per coder and interview (:func:`model_agreement`);
    ``units``: the coded spans audited; ``aligned``: codes per (utterance, coder);
    ``settings``: what was done (order used, null, model, ...); ``notes``: what was skipped and why.
    ``coder_drift``: the conditional drift test per coder and code (the same kind of passage,
    a different code; :func:`themekit.audit.coder_drift.coder_drift`), ``coder_evidence``: the
    spans behind each flagged drift with their nearest earlier neighbours, ``coder_agreement``:
    per coder and interview, agreement with the coder's own earlier coding with control limits.
    The marginal ``drift`` table describes; ``coder_drift`` is the test.
    """

    agreement: pd.DataFrame
    pairwise: pd.DataFrame
    drift: pd.DataFrame
    miscodings: pd.DataFrame
    model_agreement: pd.DataFrame
    units: pd.DataFrame
    aligned: pd.DataFrame
    settings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    coder_drift: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CODER_DRIFT_COLUMNS))
    coder_evidence: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVIDENCE_COLUMNS))
    coder_agreement: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CODER_AGREEMENT_COLUMNS))

    def __repr__(self) -> str:
        n_flag = int(self.coder_drift["flagged"].sum()) if len(self.coder_drift) else 0
        n_sus = int(self.miscodings["suspected"].fillna(False).astype(bool).sum()) if len(self.miscodings) else 0
        return (f"AuditResult({len(self.units)} coded spans, {self.units['coder'].nunique()} coders; "
                f"{n_flag} coder drifts flagged; {n_sus} suspected mis-codings)")

    # figures ------------------------------------------------------------------------------
    def _chart_keys(self) -> list[tuple]:
        """(coder, code) pairs, flagged codes first, then by smallest adjusted p."""
        if not len(self.drift):
            return []
        key = self.drift.groupby(["coder", "code"], sort=False).agg(flag=("flagged", "any"), p=("p_value", "min"))
        key = key.assign(p=key["p"].fillna(2.0)).sort_values(["flag", "p"], ascending=[False, True], kind="stable")
        return list(key.index)

    def control_charts(self, max_charts: int | None = None) -> list:
        """Control charts (plotly) per coder and code: flagged codes first, then by smallest p."""
        return [control_chart(self.drift, code, coder) for coder, code in self._chart_keys()[:max_charts]]

    def coder_charts(self) -> list:
        """One figure per coder: agreement with their own earlier coding (and with other coders'
        coding and the model) interview by interview, with control limits; drift starts marked."""
        return [coder_chart(self.coder_agreement, c, self.model_agreement, self.coder_drift)
                for c in dict.fromkeys(self.coder_agreement["coder"])]

    def figures(self, max_control_charts: int = 4) -> list:
        """Figures for a report: agreement per code, human vs model per interview, coding
        consistency per coder, and the control charts of the flagged (or most nearly flagged) codes."""
        figs = []
        if len(self.agreement):
            figs.append(agreement_chart(self.agreement))
        if len(self.model_agreement):
            figs.append(model_agreement_chart(self.model_agreement))
        figs.extend(self.coder_charts())
        figs.extend(self.control_charts(max_control_charts))
        return figs

    # output -------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write ``agreement.csv``, ``agreement_pairwise.csv``, ``drift.csv``, ``coder_drift.csv``,
        ``coder_drift_evidence.csv``, ``coder_agreement.csv``, ``miscodings.csv``,
        ``model_agreement.csv``, ``settings.json``, ``figures.html`` (every chart, offline) and
        ``figures/<name>.json`` (plotly JSON). Returns ``{file name: path}``."""
        from ..common.output import Section, figure_html, write_report

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for name, df in (("agreement", self.agreement), ("agreement_pairwise", self.pairwise),
                         ("drift", self.drift), ("coder_drift", self.coder_drift),
                         ("coder_drift_evidence", self.coder_evidence), ("coder_agreement", self.coder_agreement),
                         ("miscodings", self.miscodings),
                         ("model_agreement", self.model_agreement)):
            out[f"{name}.csv"] = atomic_write(folder / f"{name}.csv",
                                              lambda tmp, df=df: df.to_csv(tmp, index=False, encoding="utf-8"))
        info = {"settings": self.settings, "notes": self.notes}
        out["settings.json"] = atomic_write(folder / "settings.json", lambda tmp: tmp.write_text(
            json.dumps(info, indent=2, default=str), encoding="utf-8"))
        named = []
        if len(self.agreement):
            named.append(("agreement", agreement_chart(self.agreement)))
        if len(self.model_agreement):
            named.append(("model_agreement", model_agreement_chart(self.model_agreement)))
        for coder, fig in zip(dict.fromkeys(self.coder_agreement["coder"]), self.coder_charts()):
            named.append((f"coder_{_slug(coder)}", fig))
        for coder, code in self._chart_keys():
            named.append((f"control_{_slug(coder)}_{_slug(code)}", control_chart(self.drift, code, coder)))
        for name, fig in named:
            out[f"figures/{name}.json"] = atomic_write(
                folder / "figures" / f"{name}.json", lambda tmp, fig=fig: tmp.write_text(fig.to_json(), encoding="utf-8"))
        sections = [Section("Summary", "<pre style='white-space:pre-wrap'>" + _escape(self.summary()) + "</pre>")]
        if named:
            sections.append(Section("Figures", "Agreement per code, human vs model per interview, coding "
                                    "consistency per coder (agreement with their own earlier coding), and a "
                                    "control chart per coder and code (flagged codes first).",
                                    [figure_html(f) for _, f in named]))
        out["figures.html"] = write_report(folder / "figures.html", "themekit audit", sections)
        return out

    def summary(self, n_miscodings: int = 5) -> str:
        """A few lines for the terminal: agreement overall, flagged drift, top mis-codings."""
        lines = []
        a = self.agreement
        if len(a):
            row = a[a["code"] == "(all codes)"].iloc[0]
            coders = [c[len("prevalence_"):] for c in a.columns if c.startswith("prevalence_")]
            lines.append(f"Agreement ({len(coders)} coders: {', '.join(coders)}; {int(row.n_units)} utterances coded "
                         f"by two or more): percent agreement {row.percent_agreement:.1%}, "
                         + (f"pooled κ {row.kappa:.3f} [{row.kappa_low:.3f}, {row.kappa_high:.3f}], "
                            if np.isfinite(row.kappa) else "")
                         + f"α {row.alpha:.3f} [{row.alpha_low:.3f}, {row.alpha_high:.3f}]")
            per = a[(a["code"] != "(all codes)") & a["alpha"].notna()].sort_values("alpha").head(3)
            if len(per):
                lines.append("  lowest per code: " + "; ".join(f"{r.code} α {r.alpha:.2f}" for r in per.itertuples()))
        else:
            lines.append("Agreement: not computed (" + next((n for n in self.notes if "agreement" in n.lower()),
                                                         "needs two coders") + ")")
        lines.extend(_coder_drift_lines(self.coder_drift, self.coder_evidence, self.settings))
        d = self.drift
        s = self.settings
        head = f"Marginal drift, description (order: {s.get('order')}; null: {s.get('null')}; window: {s.get('window')})"
        if len(d) and d["flagged"].any():
            f = d[d["flagged"]]
            n = f.groupby(["coder", "code"]).ngroups
            lines.append(f"{head}: {n} code{'s' if n != 1 else ''} flagged (a change beyond chance placement "
                         "of the segments: the coder's or the participants' — read the quotes)")
            for (coder, code), g in f.groupby(["coder", "code"], sort=False):
                first = g.sort_values("q_value").iloc[0]
                lines.append(f"  {coder}  {code}: change from {', '.join(g['window'].astype(str))} "
                             f"({first.flag_reason}; q={first.q_value:.3f})")
        else:
            best = d["q_value"].min() if len(d) else float("nan")
            lines.append(f"{head}: nothing flagged" + (f" (smallest q {best:.2f})" if np.isfinite(best) else ""))
        m = self.miscodings
        if len(m):
            sus = m[m["suspected"].fillna(False).astype(bool)]
            lines.append(f"Suspected mis-codings: {len(sus)} of {m['score'].notna().sum()} coded spans fit another "
                         f"code better; most suspicious:")
            for r in m.head(n_miscodings).itertuples():
                if not np.isfinite(r.score):
                    break
                q = " ".join(str(r.text).split())
                q = q if len(q) <= 70 else q[:69] + "…"
                lines.append(f"  {r.rank}. {r.unit_id} {r.code!r} -> {r.alternative!r} "
                             f"(fit {r.fit:.2f} vs {r.alternative_fit:.2f}): \"{q}\"")
        ma = self.model_agreement
        if len(ma):
            per = ma[ma["transcript_id"] != ALL]
            fl = per[per["flagged"]]
            lines.append(f"Human vs model ({s.get('model')}): " + "; ".join(
                f"{r.coder} κ {r.kappa:.2f}" for r in ma[ma["transcript_id"] == ALL].itertuples())
                + ("; below the coder's overall level: " + ", ".join(
                    f"{r.transcript_id} ({r.coder}, κ {r.kappa:.2f})" for r in fl.itertuples()) if len(fl)
                   else "; no interview below the overall level"))
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


def _coder_drift_lines(table: pd.DataFrame, evidence: pd.DataFrame, settings: dict) -> list[str]:
    """Summary lines of the conditional (coder) drift test."""
    if not len(table):
        return ["Coder drift: not tested (" + str(settings.get("coder_drift_note", "too few interviews")) + ")"]
    f = table[table["flagged"]]
    head = (f"Coder drift (same kind of passage, a different code; content held fixed by a model of the "
            f"coder's other interviews; order: {settings.get('order')})")
    if not len(f):
        return [f"{head}: nothing flagged (smallest q {table['q_value'].min():.2f})"]
    out = [f"{head}: {len(f)} flagged"]
    for r in f.itertuples():
        what = (f"{r.to_code!r} where {r.from_code!r} was coded before" if r.kind == "pair" else
                f"{r.to_code!r} used more broadly" if r.kind == "into" else f"{r.from_code!r} used less")
        out.append(f"  {r.drift_id} {r.coder}: {what}, from {r.change_at}: {r.share_before:.1%} -> "
                   f"{r.share_after:.1%} ({r.change:+.1%} beyond the content [{r.change_low:+.1%}, {r.change_high:+.1%}]); "
                   f"q={r.q_value:.3f}" + (f"; follows codebook change: {r.codebook_event}"
                                           if r.status == "follows codebook change" else ""))
        ev = evidence[evidence["drift_id"] == r.drift_id].drop_duplicates("unit_id").head(2)
        for e in ev.itertuples():
            q = " ".join(str(e.text).split())
            out.append(f"      {e.transcript_id}:{e.start}-{e.end} \"{q[:70] + ('…' if len(q) > 70 else '')}\"")
    return out


def _read_history(history: Any, units: pd.DataFrame):
    """``codebook_history`` as a CodebookHistory (read first, so a bad path fails before any work)."""
    from .codebook_history import CodebookHistory, read_codebook_history

    if history is None or isinstance(history, CodebookHistory):
        return history
    return read_codebook_history(history, sorted(units["transcript_id"].unique(), key=natural_key))


def _run_coder_drift(units: pd.DataFrame, x: np.ndarray, order_map: dict, codes: list, history: Any,
                     corpus: Corpus, n_permutations: int, n_boot: int, alpha: float, random_state: int,
                     notes: list, settings: dict, p_value: str = "bound", correction: str = "bh"):
    """The conditional drift test inside :func:`audit` (kept apart so the audit stays readable)."""
    import time

    t0 = time.perf_counter()
    res = coder_drift(units, x, order_map, codes, n_boot=n_boot, alpha=alpha, history=history,
                      p_value=p_value, correction=correction, random_state=random_state)
    settings["coder_drift"] = res.settings
    settings["coder_drift_seconds"] = round(time.perf_counter() - t0, 3)
    if history is not None:
        n_cb = int((res.table["status"] == "follows codebook change").sum())
        if n_cb:
            notes.append(f"{n_cb} coding change(s) start where the codebook changed: reported as following the "
                         "codebook, not as drift")
    return res


def _slug(s: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(s)).strip("-").lower()[:60] or "x"


def _escape(s: str) -> str:
    import html

    return html.escape(s)


# -- human vs model ------------------------------------------------------------------------------
def model_agreement(aligned: pd.DataFrame, suggestions: pd.Series | pd.DataFrame, *,
                    order: dict[str, list[str]] | None = None, codes: Sequence[str] | None = None,
                    n_boot: int = 1000, ci: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """Cohen's κ between each coder and a model, per interview and overall.

    ``aligned``: codes per (utterance, coder) (:func:`themekit.codebook.coding.align_to_utterances`);
    ``suggestions``: the model's top code per utterance (a Series indexed by utterance id, or a
    DataFrame with ``utterance_id`` and ``code``, the first row per utterance counting, or the
    one with ``rank`` 1). Units: utterances the coder coded (with a code in ``codes``) and the
    model scored. The model agrees when its code is one of the coder's; the coder's category is
    then that code, else their first code (sorted). Per (coder, transcript): ``n_units``,
    ``percent_agreement``, ``kappa`` with a percentile bootstrap CI over utterances
    (:func:`themekit.audit.agreement.bootstrap_ci`), ``overall_kappa`` (all of the coder's
    transcripts), ``flagged`` when the interview's CI lies wholly below the overall κ;
    one ``"(all)"`` row per coder with the overall figures. ``position``: the transcript's place
    in ``order`` (1-based).
    """
    from .agreement import cohen_kappa

    if isinstance(suggestions, pd.DataFrame):
        s = suggestions
        if "rank" in s.columns:
            s = s[s["rank"] == 1]
        s = s.drop_duplicates("utterance_id")
        suggestions = pd.Series(s["code"].to_numpy(), index=s["utterance_id"].astype(str))
    model = suggestions.dropna()
    wanted = None if codes is None else set(codes)
    rows = []
    for coder, g in aligned.groupby("coder", sort=False):
        pairs = []
        for uid, tid, cs in zip(g["utterance_id"], g["transcript_id"], g["codes"]):
            cs = frozenset(cs) if wanted is None else frozenset(cs) & wanted
            if not cs or uid not in model.index:
                continue
            m = model[uid]
            pairs.append((tid, m if m in cs else sorted(cs)[0], m))
        if not pairs:
            continue
        df = pd.DataFrame(pairs, columns=["transcript_id", "human", "model"])
        seq = (order or {}).get(coder) or sorted(df["transcript_id"].unique(), key=natural_key)
        pos = {t: i + 1 for i, t in enumerate(seq)}

        def stats(sub: pd.DataFrame) -> tuple:
            pa = float((sub["human"] == sub["model"]).mean())
            k = cohen_kappa(sub["human"].tolist(), sub["model"].tolist())
            lo, hi = _kappa_ci(sub["human"].to_numpy(dtype=object), sub["model"].to_numpy(dtype=object),
                               n_boot, ci, random_state) if n_boot else (np.nan, np.nan)
            return pa, k, lo, hi

        overall = stats(df)
        for tid in sorted(df["transcript_id"].unique(), key=lambda t: (pos.get(t, 10**9), natural_key(t))):
            sub = df[df["transcript_id"] == tid]
            pa, k, lo, hi = stats(sub)
            note = "" if len(sub) >= 10 else "fewer than 10 utterances: wide interval"
            if not np.isfinite(k):
                note = "κ undefined (one category only)"
            rows.append({"coder": coder, "transcript_id": tid, "position": pos.get(tid, np.nan),
                         "n_units": len(sub), "percent_agreement": pa, "kappa": k, "kappa_low": lo,
                         "kappa_high": hi, "overall_kappa": overall[1],
                         "flagged": bool(np.isfinite(hi) and np.isfinite(overall[1]) and hi < overall[1]),
                         "note": note})
        rows.append({"coder": coder, "transcript_id": ALL, "position": np.nan, "n_units": len(df),
                     "percent_agreement": overall[0], "kappa": overall[1], "kappa_low": overall[2],
                     "kappa_high": overall[3], "overall_kappa": overall[1], "flagged": False, "note": ""})
    out = pd.DataFrame(rows, columns=MODEL_AGREEMENT_COLUMNS)
    return out.astype({"n_units": "int64", "flagged": bool})


def _kappa_ci(a: np.ndarray, b: np.ndarray, n_boot: int, ci: float, random_state) -> tuple[float, float]:
    """Percentile bootstrap CI of Cohen's kappa, vectorised; the same resamples and result as
    ``themekit.audit.agreement.bootstrap_ci(lambda d: cohen_kappa(d[0], d[1]), [a, b], ...)``: resample
    ``r`` is the ``r``-th draw of ``default_rng(random_state).integers(0, n, n)``."""
    n = len(a)
    cats, inv = np.unique(np.concatenate([a, b]).astype(str), return_inverse=True)
    ia, ib = inv[:n], inv[n:]
    rng = np.random.default_rng(random_state)
    stats = np.empty(n_boot)
    same = (ia == ib).astype(float)
    for s in range(0, n_boot, 256):
        m = min(256, n_boot - s)
        idx = np.stack([rng.integers(0, n, size=n) for _ in range(m)])
        w = np.zeros((m, n))
        np.add.at(w, (np.repeat(np.arange(m), n), idx.ravel()), 1.0)
        ca = np.stack([np.bincount(ia, weights=row, minlength=len(cats)) for row in w])
        cb = np.stack([np.bincount(ib, weights=row, minlength=len(cats)) for row in w])
        po = w @ same / n
        pe = (ca * cb).sum(axis=1) / (n * n)
        with np.errstate(divide="ignore", invalid="ignore"):
            stats[s:s + m] = np.where(pe < 1 - 1e-12, (po - pe) / (1 - pe), np.nan)
    valid = stats[np.isfinite(stats)]
    if not valid.size:
        return float("nan"), float("nan")
    lo, hi = np.quantile(valid, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def _note_left_out(aligned: pd.DataFrame, notes: list) -> None:
    """One line for the coded segments that cover no utterance (not one per interview)."""
    left = aligned.attrs.get("unassigned") or []
    if left:
        notes.append(f"{len(left)} coded segments cover no utterance, so no coder or model comparison "
                     "uses them (a transcriber's note at the edge of a turn, a speaker label or a heading)")


def _model_suggestions(mapper, corpus: Corpus, codebook, segments: list, units_for_model: list,
                       embedder, random_state: int, notes: list, cache=None) -> tuple[pd.Series | None, str]:
    """The model's top code per utterance, and a description of the model."""
    if mapper is None:
        return None, "none"
    if isinstance(mapper, pd.Series):
        return mapper, "given suggestions"
    if isinstance(mapper, pd.DataFrame):
        return mapper, "given suggestions"
    from ..mapping import CodeMapper

    if isinstance(mapper, str):
        if mapper not in ("auto", "zero-shot", "seeded"):
            raise ValueError(f'mapper must be "auto", "zero-shot", "seeded", a CodeMapper, suggestions or None; '
                             f"got {mapper!r}")
        template = CodeMapper(random_state=random_state)
        seeded = mapper in ("auto", "seeded")
    elif isinstance(mapper, CodeMapper):
        template = mapper
        seeded = bool(getattr(mapper, "seeds_", None)) if hasattr(mapper, "scores_") else False
        if hasattr(mapper, "scores_") and not seeded:
            pred = mapper.predict(abstain=False)
            return pred, "the given mapper (zero-shot)"
    else:
        raise TypeError(f"mapper must be a CodeMapper, a Series/DataFrame of suggestions, a mode string or None; "
                        f"got {type(mapper).__name__}")
    if codebook is None:
        from ..codebook import Code, Codebook

        names = sorted({s.code for s in segments})
        codebook = Codebook([Code(None, n) for n in names])
        notes.append("no codebook: the model knows the codes by name and from the coding only")
    params = {k: getattr(template, k) for k in CodeMapper.__init__.__kwdefaults__}
    from ..embed import embed_utterances

    emb = embed_utterances(units_for_model, embedder, progress=False)
    if not seeded:
        m = CodeMapper(**params).fit(codebook, units_for_model, embeddings=emb, embedder=embedder, corpus=corpus)
        return m.predict(abstain=False), "mapper, zero-shot (codebook only)"
    tids = sorted({u.transcript_id for u in units_for_model}, key=natural_key)
    n_folds = min(N_FOLDS, len(tids))
    label = (f"mapper seeded with the other interviews' coding (cross-fitted: {n_folds} folds of "
             "interviews)")
    learned = params["weights"] == "learned"
    if learned:
        label += "; the mixing weights learned once on all the coding"
    # a seeded mapper given to the audit has learned them already: the folds take its weights
    given_weights = getattr(template, "weights_", None) if getattr(template, "crossfit_", None) else None

    def cross_fit() -> pd.Series:
        # seeded with the human coding, cross-fitted over folds of interviews: each interview is
        # scored by classifiers that never saw its coding. Folds, not one fit per interview: the
        # same guarantee at a fixed cost (a mapper fit is seconds; studies have dozens of interviews).
        # Learned weights are learned once, on all the coding (four numbers, itself cross-fitted
        # over the seeds), and given to the folds: learning them again in every fold would cost
        # five inner fits per fold. Calibration is left out: only the top code is compared.
        fold_params = dict(params)
        if learned:
            weights = given_weights
            if weights is None:
                weights = CodeMapper(**params).fit(codebook, units_for_model, embeddings=emb, embedder=embedder,
                                                   corpus=corpus, seeds=segments).weights_
            fold_params.update(weights=dict(weights), calibrate=False)
        fold_of = {t: i % n_folds for i, t in enumerate(tids)}
        preds = []
        for f in range(n_folds):
            held = {t for t in tids if fold_of[t] == f}
            seeds = [s for s in segments if s.transcript_id not in held]
            m = CodeMapper(**(fold_params if seeds else params)).fit(
                codebook, units_for_model, embeddings=emb, embedder=embedder, corpus=corpus, seeds=seeds or None)
            p = m.predict(abstain=False)
            preds.append(p[[u.id for u in units_for_model if u.transcript_id in held]])
        return pd.concat(preds)

    if cache is None:
        return cross_fit(), label
    # cached by what the folds' mappers depend on: the utterances scored (with their prompts'
    # context: the corpus), their vectors, the coding, the codebook and the mapper's settings
    parts = ("cross-fitted suggestions", _corpus_parts(corpus), [u.id for u in units_for_model], emb.ids,
             emb.vectors, emb.model_id, getattr(embedder, "settings", None), list(segments),
             codebook.name, codebook.version, list(codebook.codes), params, n_folds,
             given_weights)
    sugg, _ = cache.get_or_compute("audit-model", parts, cross_fit, step="audit: cross-fitted model")
    return sugg, label


class _PartCache:
    """One part of the audit read from the result cache (store ``audit-parts``) or computed;
    the manifest's ``steps`` says which (``audit: drift``, ...). Without a cache, or with an
    input that cannot be keyed by value (a custom codebook history object), it computes."""

    def __init__(self, cache):
        self.cache = cache

    def __call__(self, name: str, parts: tuple, compute):
        if self.cache is None:
            return compute()
        if self.cache.enabled:
            try:
                key = self.cache.key("audit-parts", *parts)
            except TypeError:
                self.cache.stats[f"audit: {name}"] = "computed (inputs not cacheable)"
                return compute()
        else:
            key = None
        value, _ = self.cache.get_or_compute("audit-parts", parts, compute, step=f"audit: {name}", key=key)
        return value


def _corpus_parts(corpus: Corpus) -> tuple:
    return (list(corpus.transcripts.values()), corpus.utterances, corpus.metadata)


# -- figures -------------------------------------------------------------------------------------
def agreement_chart(agreement: pd.DataFrame, stat: str = "alpha"):
    """Per-code agreement (Krippendorff's α or Cohen's κ with ``stat="kappa"``) with its CI,
    lowest first, the pooled value as a line."""
    import plotly.graph_objects as go

    d = agreement[agreement["code"] != "(all codes)"].copy()
    d = d[d[stat].notna()].sort_values(stat)
    allrow = agreement[agreement["code"] == "(all codes)"]
    name = {"alpha": "Krippendorff's α", "kappa": "Cohen's κ"}[stat]
    fig = go.Figure(go.Scatter(
        x=d[stat], y=d["code"], mode="markers", marker=dict(size=9, color="#1f3a5f"),
        error_x=dict(type="data", symmetric=False, array=d[f"{stat}_high"] - d[stat],
                     arrayminus=d[stat] - d[f"{stat}_low"], color="#7a8ca5"),
        customdata=np.stack([d["n_units"], d["percent_agreement"]], axis=1),
        hovertemplate="%{y}<br>" + name + " %{x:.3f}<br>units %{customdata[0]}<br>"
                      "agreement %{customdata[1]:.1%}<extra></extra>", name=name))
    if len(allrow) and np.isfinite(allrow[stat].iloc[0]):
        fig.add_vline(x=float(allrow[stat].iloc[0]), line=dict(color="firebrick", dash="dash"),
                      annotation_text=f"all codes {allrow[stat].iloc[0]:.2f}")
    fig.add_vline(x=0.667, line=dict(color="grey", dash="dot"), annotation_text="0.667",
                  annotation_position="bottom right")
    fig.update_layout(title=f"Intercoder agreement per code ({name}, 95% bootstrap CI)",
                      height=max(360, 26 * len(d) + 160), template="plotly_white",
                      margin=dict(l=60, r=30, t=70, b=50), xaxis_title=name)
    fig.update_yaxes(automargin=True)
    return fig


def model_agreement_chart(table: pd.DataFrame):
    """Human vs model κ per interview (in interview order) with CIs; one line per coder."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for coder, g in table[table["transcript_id"] != ALL].groupby("coder", sort=False):
        g = g.sort_values("position")
        fig.add_trace(go.Scatter(
            x=g["transcript_id"], y=g["kappa"], mode="lines+markers", name=str(coder),
            error_y=dict(type="data", symmetric=False, array=g["kappa_high"] - g["kappa"],
                         arrayminus=g["kappa"] - g["kappa_low"]),
            marker=dict(symbol=np.where(g["flagged"], "x", "circle"), size=np.where(g["flagged"], 13, 8)),
            customdata=np.stack([g["n_units"], g["percent_agreement"]], axis=1),
            hovertemplate="%{x}<br>κ %{y:.3f}<br>utterances %{customdata[0]}<br>agreement "
                          "%{customdata[1]:.1%}<extra>" + str(coder) + "</extra>"))
        overall = g["overall_kappa"].iloc[0]
        if np.isfinite(overall):
            fig.add_hline(y=float(overall), line=dict(dash="dash", color="grey"),
                          annotation_text=f"{coder} overall {overall:.2f}")
    fig.update_layout(title="Human vs model agreement per interview (Cohen's κ, 95% bootstrap CI)",
                      height=420, template="plotly_white", xaxis_title="interview (in order)",
                      yaxis_title="κ", margin=dict(l=60, r=30, t=70, b=50))
    return fig


# -- the audit -----------------------------------------------------------------------------------
def _codes_in_order(segments: list, codebook) -> list[str]:
    used = {s.code for s in segments}
    if codebook is None:
        return sorted(used)
    names = [c.name for c in codebook.codes]
    return [n for n in names if n in used] + sorted(used - set(names))


def audit(corpus: Corpus, segments: Iterable, codebook=None, *, embeddings=None, embedder=None,
          mapper: Any = "auto", order: Any = "auto", window: int = 1, null: str = "segment",
          n_permutations: int = 1000, n_boot: int = 1000, alpha: float = 0.05, min_overlap: float = 0.5,
          text: str = "content", codebook_history: Any = None, drift_p_value: str = "bound",
          drift_correction: str = "bh", random_state: int = 0, cache=None, engine=None) -> AuditResult:
    """Audit a coded project: agreement, drift, suspected mis-codings, human vs model.

    ``segments``: :class:`~themekit.codebook.coding.CodedSegment` list (``read_coded_segments(path,
    corpus)``); ``codebook``: orders the codes, names codes unknown to it (a note), and is the
    model's codebook. ``embeddings``: precomputed :class:`~themekit.embed.Embeddings` of the
    coded spans, keyed by :func:`segment_id`; else the spans are embedded with ``embedder``
    (default model, cached). ``mapper``: the model coder for human-vs-model agreement —
    ``"auto"``/``"seeded"`` (a :class:`~themekit.mapping.CodeMapper` seeded with the human
    coding, cross-fitted over ``N_FOLDS`` (5) folds of interviews: each interview is scored by
    a mapper that did not see its coding), ``"zero-shot"`` (codebook only), a CodeMapper
    (fitted with seeds: refitted the cross-fitted way with its settings; fitted without: used
    as is), the model's top code per
    utterance (Series or DataFrame), or None (skip). ``order``: how transcripts are ordered
    (:func:`transcript_order`: ``"auto"``, a metadata column such as ``"interview_date"``,
    ``"coded_at"``, ``"transcript"``, or a list of ids). ``window``, ``null``,
    ``n_permutations``, ``alpha``: see :func:`themekit.audit.drift.drift_table`; ``n_boot``: bootstrap
    resamples for CIs; ``min_overlap``: alignment of segments to utterances; ``text``: embed
    spans' "content" (without bracketed transcriber notes) or verbatim "text".
    ``codebook_history``: codebook versions (a folder of dated codebook files) and/or coding logs
    (CSV/JSONL with dates; Taguette's log), a list of them, or a
    :class:`~themekit.audit.codebook_history.CodebookHistory`: a coding change that starts where
    a code's definition changed is reported as following the codebook, not as drift.
    The conditional drift test (``coder_drift``) uses ``alpha`` and ``n_boot`` too (its null is
    analytic: no permutations); ``drift_p_value`` ("bound" or "exact") and ``drift_correction``
    ("bh" or "holm") are its ``p_value`` and ``correction``
    (:func:`themekit.audit.coder_drift.coder_drift`).
    ``cache``: a
    :class:`themekit.common.results.ResultCache`: each part is read from it when its inputs were
    seen before — agreement, marginal drift, mis-codings and coder drift (store ``audit-parts``)
    by the coding, the spans' vectors, the order and the code names (not their definitions), the
    cross-fitted model coder's suggestions (``audit-model``) by the utterances, coding, codebook
    and mapper settings; the cache's ``stats`` say which (``audit: drift``, ...).
    ``engine``: runs the drift test's chunks of permutations (a mapper,
    :mod:`themekit.common.parallel`, e.g. :class:`themekit.scale.DaskMapper`); same results.
    """
    from .agreement import agreement_table, pairwise_kappa
    from ..codebook.coding import align_to_utterances

    if not isinstance(corpus, Corpus):
        raise TypeError(f"corpus must be a themekit Corpus; got {type(corpus).__name__}")
    if null not in NULLS:
        raise ValueError(f"null must be one of {NULLS}; got {null!r}")
    segments = list(segments)
    if not segments:
        raise InputError(None, "no coded segments to audit")
    notes: list[str] = []
    codes = _codes_in_order(segments, codebook)
    if codebook is not None:
        unknown = sorted({s.code for s in segments} - {c.name for c in codebook.codes})
        if unknown:
            notes.append(f"{len(unknown)} codes are not in the codebook (older codebook version or typo?): "
                         + ", ".join(unknown[:10]))
    units = coded_units(segments)
    codebook_history = _read_history(codebook_history, units)
    if embeddings is None and embedder is None:
        from ..embed import load_embedder

        embedder = load_embedder()
    order_map, order_source = transcript_order(units, order, corpus)

    # agreement on utterances
    import time

    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:  # seconds per step, recorded in the settings
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 2)
        clock[0] = now

    aligned = align_to_utterances(segments, corpus, min_overlap)
    _note_left_out(aligned, notes)
    role = {u.id: (u.role == "participant" and not u.backchannel) for u in corpus.utterances}
    # utterances any coder coded (vectorised: a python agg per group copies the frame's attrs each time)
    coded_ids = set(aligned.loc[aligned["codes"].map(len).to_numpy() > 0, "utterance_id"])
    keep_ids = {uid for uid, ok in role.items() if ok} | coded_ids
    aligned = aligned[aligned["utterance_id"].isin(keep_ids)].reset_index(drop=True)
    coders = sorted(units["coder"].unique(), key=natural_key)
    # each part below is cached by what it reads (``cache``): none reads the codes'
    # definitions, only their names in order, so a definition edit recomputes none of them
    part = _PartCache(cache)
    if len(coders) >= 2:
        agreement, pairwise = part("agreement", ("agreement", aligned, codes, n_boot, random_state), lambda: (
            agreement_table(aligned, codes=codes, n_boot=n_boot, random_state=random_state),
            pairwise_kappa(aligned, codes=codes, n_boot=n_boot, random_state=random_state)))
    else:
        agreement, pairwise = pd.DataFrame(), pd.DataFrame()
        notes.append(f"agreement needs two coders; the coding has one ({coders[0]})")

    # drift and mis-codings on coded spans
    lap("agreement")
    x = unit_embeddings(units, embeddings, embedder, text=text)
    lap("embedding")
    # the engine is not in the key: the same table whichever engine ran it
    drift = part("drift", ("drift", units, x, order_map, codes, window, null, n_permutations, alpha, random_state),
                 lambda: drift_table(units, x, order_map, codes, window=window, null=null,
                                     n_permutations=n_permutations, alpha=alpha, random_state=random_state,
                                     mapper=engine))
    lap("drift (marginal)")
    miscodings = part("miscodings", ("miscodings", units, x, codes, random_state),
                      lambda: find_miscodings(units, x, codes, random_state=random_state))
    lap("miscodings")

    def run_coder_drift():
        cd_notes: list[str] = []
        cd_settings: dict = {}
        res = _run_coder_drift(units, x, order_map, codes, codebook_history, corpus, n_permutations, n_boot,
                               alpha, random_state, cd_notes, cd_settings, p_value=drift_p_value,
                               correction=drift_correction)
        return res, cd_settings, cd_notes

    cd, cd_settings, cd_notes = part(
        "coder drift", ("coder drift", units, x, order_map, codes, codebook_history, n_boot, alpha, random_state,
                        drift_p_value, drift_correction),
        run_coder_drift)
    notes.extend(cd_notes)

    # human vs model
    lap("coder drift")
    model_units = [u for u in corpus.utterances if u.id in keep_ids]
    model_desc = "none"
    try:
        sugg, model_desc = _model_suggestions(mapper, corpus, codebook, segments, model_units, embedder,
                                              random_state, notes, cache=cache)
    except ImportError as e:  # pragma: no cover - mapping ships with themekit
        raise InputError(None, f"the model coder needs themekit.mapping ({e})") from None
    if sugg is not None:
        ma = model_agreement(aligned, sugg, order=order_map, codes=codes, n_boot=n_boot, random_state=random_state)
    else:
        ma = pd.DataFrame(columns=MODEL_AGREEMENT_COLUMNS)
        notes.append("human vs model agreement skipped (mapper=None)")
    settings = {"order": order_source, "null": null, "window": window, "n_permutations": n_permutations,
                "n_boot": n_boot, "alpha": alpha, "min_overlap": min_overlap, "text": text,
                "random_state": random_state, "model": model_desc, "codes": codes, "coders": coders,
                "transcript_order": order_map,
                "embedding_model": getattr(embeddings, "model_id", None) or getattr(embedder, "model_id", None)
                or "default"}
    lap("human vs model")
    settings.update(cd_settings)
    settings["seconds"] = timings
    return AuditResult(agreement, pairwise, drift, miscodings, ma, units, aligned, settings, notes,
                       cd.table, cd.evidence, cd.agreement)
