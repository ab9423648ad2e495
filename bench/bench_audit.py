"""Audit benchmark on real coding: mis-coding detection, coder drift, the audit's time.

Usage:  python bench/bench_audit.py [--data ../shared/data] [--draws 10] [--skip SECTION ...]
Sections: miscoding, drift (the old marginal test; skipped by default), coder-drift, annomi,
variants (the coder-drift test's p-value and correction options side by side), audit-time. The figures of issue 14: ``python bench/bench_audit.py --skip miscoding``.

Data: the serdif think-aloud study (Navarro-Gallinad, Orlandi, O'Sullivan 2022, Semantic Web
Journal; ../shared/data/serdif, GPL-3.0): 1,791 coded spans with 22 codes by the study's
analyst, participants P1..P17 in order; and AnnoMI (../shared/data/annomi): the conversations
each of 3 annotators coded alone, every utterance of 4+ words a span coded with its therapist
behaviour or client talk type (7 codes). Texts embedded once with all-MiniLM-L6-v2 (cached).

Mis-coding: in each of ``--draws`` draws, 5% of the coded spans (seeded) get a random other code.
AUROC and precision@50 of a centroid-margin baseline and :func:`themekit.audit.miscoding.find_miscodings`.

Coder drift (:func:`themekit.audit.coder_drift.coder_drift`), SERDIF: the unmodified coding
(flags listed with their evidence; the codes the old marginal test flags, with what the
conditional test says about them), then a *sliding boundary*: for 5 codes X (seeded, 30+ spans
from P9 on) x ``--draws`` draws, ``size`` (10..50, at most all) of X's spans from P9 on are
recoded to X's nearest code Y (centroid cosine). The test runs with the study's codebook history
(``codebook_versions/``, ``coding_log.jsonl``), as a user runs it and as the unmodified coding is
tested; a change reported as following a codebook change is not coder drift and counts as
neither. A *hit*: a flagged drift involving X or Y whose change point is within one interview
of P9; *extra*: flagged drifts involving neither.

Coder drift, AnnoMI, the other direction. A coder is one annotator: the 3 annotators with the
most utterances each coded 11-13 conversations alone (AnnoMI-full); the conversations of
several annotators pooled would make differences between annotators look like differences
between conversations. From an annotator's middle conversation on, they use code B
*more broadly*: ``size`` late spans not coded B but of B's speaker role (AnnoMI codes client
talk and therapist talk apart: a client code is never put on therapist talk) are recoded B,
spread evenly over the late conversations, in each drawn from its 3 x share most B-like spans
(whatever their code). Hit
and extra as above (touched: B); a hit counts only flags the unmodified coding does not have,
extra counts them all. Sizes
10..50 as for SERDIF, and 100..300 to show where the power comes.

Audit time: :func:`themekit.audit.audit` on SERDIF with the embeddings given (time after embedding).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data",
                         Path("/work/shared/data")) if p.is_dir()), ROOT.parent / "shared" / "data")


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    n1, n0 = positive.sum(), (~positive).sum()
    return float((r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def precision_at(score: np.ndarray, positive: np.ndarray, k: int = 50) -> float:
    top = np.argsort(-score, kind="stable")[:k]
    return float(positive[top].mean())


def relabel(units: pd.DataFrame, codes: list[str], share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(units)
    idx = rng.choice(n, size=round(share * n), replace=False)
    new = list(units["codes"])
    for i in idx:
        others = [c for c in codes if c not in new[i]]
        new[i] = (others[rng.integers(len(others))],)
    out = units.copy()
    out["codes"] = new
    positive = np.zeros(n, dtype=bool)
    positive[idx] = True
    return out, positive


def centroid_margin(units: pd.DataFrame, x: np.ndarray, codes: list[str]) -> np.ndarray:
    from themekit.audit.coded import code_matrix

    y = code_matrix(units, codes)
    c = y.T.astype(float) @ x
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    f = x @ c.T
    return np.where(~y, f, -np.inf).max(axis=1) - np.where(y, f, -np.inf).max(axis=1)


def bench_miscoding(units, x, codes, draws: int) -> None:
    from themekit.audit.miscoding import find_miscodings

    res = {"baseline (centroid margin)": [], "themekit find_miscodings": []}
    secs = []
    for d in range(draws):
        u, pos = relabel(units, codes, 0.05, seed=d)
        base = centroid_margin(u, x, codes)
        t = time.perf_counter()
        m = find_miscodings(u, x, codes, random_state=0)
        secs.append(time.perf_counter() - t)
        ours = m.set_index("unit_id")["score"].reindex(u["unit_id"]).to_numpy()
        for name, s in (("baseline (centroid margin)", base), ("themekit find_miscodings", ours)):
            res[name].append((auroc(s, pos), precision_at(s, pos, 50)))
    n_pos = round(0.05 * len(units))
    print(f"\nMis-coding detection: {draws} draws, {n_pos} of {len(units)} spans relabelled (5%)")
    print(f"  {'method':<30} {'AUROC':>15} {'precision@50':>15}")
    for name, v in res.items():
        v = np.array(v)
        print(f"  {name:<30} {v[:, 0].mean():.3f} ± {v[:, 0].std(ddof=1):.3f}   "
              f"{v[:, 1].mean():.3f} ± {v[:, 1].std(ddof=1):.3f}")
    print(f"  find_miscodings: {np.mean(secs):.1f} s per run ({len(units)} spans, 2 CPU cores)")


def bench_drift(units, x, codes, n_codes: int, permutations: int) -> None:
    from themekit.audit.coded import code_matrix, natural_key
    from themekit.audit.drift import NULLS, drift_table

    parts = sorted(units["transcript_id"].unique(), key=natural_key)
    order = {c: parts for c in units["coder"].unique()}
    change = parts.index("P9")
    near = {parts[i] for i in (change - 1, change, change + 1)}
    y = code_matrix(units, codes)
    cent = y.T.astype(float) @ x
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    chosen = [codes[i] for i in rng.choice(len(codes), size=n_codes, replace=False)]
    late = units["transcript_id"].map(parts.index).to_numpy() >= change
    print(f"\nDrift detection: participants {parts[0]}..{parts[-1]}, change at P9; "
          f"{permutations} permutations, alpha 0.05")
    for null in NULLS:
        t = time.perf_counter()
        base = drift_table(units, x, order, codes, null=null, n_permutations=permutations, random_state=0)
        el = time.perf_counter() - t
        real = base[base.flagged].groupby("code")["window"].apply(list).to_dict()
        print(f"\n  null={null!r} ({el:.1f} s per run)")
        print(f"    unmodified data: {len(real)} codes flagged" +
              "".join(f"\n      {c}: {', '.join(w)}" for c, w in real.items()))
        hits = alarms = new_alarms = 0
        for k, xc in enumerate(chosen):
            j = codes.index(xc)
            yc, cos = _nearest_code(cent, codes, j)
            cand = np.flatnonzero(y[:, j] & late)
            pick = np.random.default_rng(100 + k).choice(cand, size=len(cand) // 2, replace=False)
            d = drift_table(_moved(units, pick, xc, yc), x, order, codes, null=null, n_permutations=permutations, random_state=0)
            f = d[d.flagged]
            on_xy = f[f.code.isin([xc, yc])]
            hit = bool(on_xy["window"].isin(near).any())
            fa = sorted(set(f.code) - {xc, yc})
            hits += hit
            alarms += len(fa)
            new_alarms += len(set(fa) - set(real))
            where = "; ".join(f"{c}@{','.join(g.window)}" for c, g in on_xy.groupby("code")) or "-"
            print(f"    X={xc!r} -> Y={yc!r} (cos {cos:.2f}), {len(pick)} spans moved: "
                  f"{'HIT' if hit else 'miss'}; flags on X/Y: {where}; false alarms: {len(fa)}"
                  + (f" ({', '.join(fa)})" if fa else ""))
        print(f"    => hits {hits}/{n_codes}; false alarms {alarms} flagged untouched codes over {n_codes} runs "
              f"({len(codes) - 2} untouched codes per run; {new_alarms} of them not flagged in the unmodified data)")


SIZES = (10, 20, 30, 40, 50)
DATA_USED = [DATA]


def _nearest_code(cent: np.ndarray, codes: list[str], j: int) -> tuple[str, float]:
    """The code whose centroid is nearest code ``j``'s (the neighbour a sliding boundary moves
    spans to), and their cosine."""
    sims = cent @ cent[j]
    sims[j] = -np.inf
    k = int(np.argmax(sims))
    return codes[k], float(sims[k])


def _moved(units: pd.DataFrame, picks: np.ndarray, drop: str | None, add: str) -> pd.DataFrame:
    u = units.copy()
    new = list(u["codes"])
    for i in picks:
        new[i] = tuple(sorted((set(new[i]) - {drop}) | {add}))
    u["codes"] = new
    return u


def _outcome(table: pd.DataFrame, touched: set, near: set) -> tuple[bool, list[str], str]:
    """Hit (a flagged drift on a touched code starting within one interview of the planted
    change), the extra flags (drifts on untouched codes), and where the touched flags are."""
    f = table[table.flagged]
    inv = [({r.code, r.from_code, r.to_code} - {None, np.nan}, r) for r in f.itertuples()]
    on = [(c, r) for c, r in inv if c & touched]
    hit = any(r.change_at in near for _, r in on)
    extra = [f"{r.code}@{r.change_at}" for c, r in inv if not c & touched]
    where = "; ".join(f"{r.kind} {r.from_code}->{r.to_code}@{r.change_at}" for _, r in on) or "-"
    return hit, extra, where


def _power_table(runs: list[dict], label: str) -> None:
    df = pd.DataFrame(runs)
    print(f"\n  {label}: detection by drift size (hit = flagged drift on a touched code, change point "
          "within one interview of the planted one; q <= 0.05)")
    print(f"    {'spans moved':>12} {'runs':>5} {'detected':>9} {'power':>6} {'extra flags/run':>16} {'max extra':>10}")
    for size, g in df.groupby("size_bin"):
        print(f"    {size:>12} {len(g):>5} {int(g.hit.sum()):>9} {g.hit.mean():>6.0%} {g.extra.mean():>16.2f} "
              f"{int(g.extra.max()):>10}")
    big = df[df["size"] >= 30]
    print(f"    {'all':>12} {len(df):>5} {int(df.hit.sum()):>9} {df.hit.mean():>6.0%} {df.extra.mean():>16.2f} "
          f"{int(df.extra.max()):>10}")
    print(f"    => detection at 30+ spans {big.hit.mean():.0%} (target >= 80%), overall {df.hit.mean():.0%} "
          f"(target >= 60%); runs with more than 1 extra flag: {int((df.extra > 1).sum())} (target 0)")


def _size_bin(n: int) -> str:
    return "10-19" if n < 20 else "20-29" if n < 30 else "30-39" if n < 40 else "40-49" if n < 50 else "50"


def bench_coder_drift(units, x, codes, n_codes: int, draws: int, permutations: int, change: str = "P9") -> None:
    """Coder drift (themekit.audit.coder_drift) on SERDIF: the unmodified coding, then a
    sliding boundary planted (``size`` of X's spans from ``change`` on recoded to X's nearest
    code Y) for ``n_codes`` codes x ``draws`` draws."""
    from themekit.audit.coded import code_matrix
    from themekit.audit.coder_drift import coder_drift
    from themekit.audit.drift import drift_table

    parts, order, history, chosen = _serdif_setup(units, x, codes, n_codes, change)
    y = code_matrix(units, codes)
    cent = y.T.astype(float) @ x
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    print(f"\nCoder drift (conditional test): participants {parts[0]}..{parts[-1]}, alpha 0.05")
    t = time.perf_counter()
    base = coder_drift(units, x, order, codes, history=history, random_state=0)
    el = time.perf_counter() - t
    print(f"  codebook history: {history.describe()}")
    f = base.flagged
    n_drift = int((f["status"] == "drift").sum())
    print(f"  unmodified data: {n_drift} code{'s' if n_drift != 1 else ''} flagged as coder drift, "
          f"{len(f) - n_drift} change{'s' if len(f) - n_drift != 1 else ''} following a codebook change ({el:.2f} s)")
    for r in f.itertuples():
        print(f"    {r.drift_id} [{r.status}{': ' + r.codebook_event if r.codebook_event else ''}] "
              f"{r.kind} {r.from_code!r}->{r.to_code!r} from {r.change_at}: share "
              f"{r.share_before:.1%} -> {r.share_after:.1%} (change {r.change:+.1%} [{r.change_low:+.1%}, "
              f"{r.change_high:+.1%}]), q={r.q_value:.3f}")
        ev = base.evidence[base.evidence.drift_id == r.drift_id]
        for u, g in list(ev.groupby("unit_id", sort=False))[:2]:
            g0 = g.iloc[0]
            print(f"      {g0.transcript_id}:{g0.start}-{g0.end} coded {g0.coded!r}, earlier coding says "
                  f"{g0.predicted!r} ({g0.vote_share:.0%}): \"{_short(g0.text)}\"")
            for n in g.itertuples():
                if isinstance(n.neighbour_unit_id, str):
                    print(f"        ~{n.similarity:.2f} {n.neighbour_transcript_id}:{int(n.neighbour_start)}-"
                          f"{int(n.neighbour_end)} {n.neighbour_codes!r}: \"{_short(n.neighbour_text)}\"")
    old = drift_table(units, x, order, codes, n_permutations=permutations, random_state=0)
    flagged_old = old[old.flagged].groupby("code")["window"].apply(list).to_dict()
    print(f"  codes flagged by the marginal test (drift_table, null='segment'): {len(flagged_old)}; "
          "what the conditional test says:")
    tab = base.table.set_index(["coder", "code"])
    for code, w in flagged_old.items():
        r = tab.xs(code, level="code").iloc[0] if code in tab.index.get_level_values("code") else None
        prev = old[(old.code == code)].set_index("window")["prevalence"]
        ag = base.predictions.merge(units[["unit_id", "codes"]], on="unit_id")
        ag = ag[ag.codes.map(lambda c: code in c) & ag.agrees.notna()]
        cons = ag.groupby(ag.position)["agrees"].mean()
        if r is None:
            print(f"    {code} (old: {', '.join(w)}): not tested (too few departures)")
            continue
        pos_old = [parts.index(v) for v in w]
        cb = history.event_near(next(iter(order)), [code], pos_old[0])
        print(f"    {code} (old flag at {', '.join(w)}; prevalence {prev.min():.1%}..{prev.max():.1%} across "
              f"interviews): new p={r.p_value:.3f} q={r.q_value:.3f}; strongest series {r.kind} "
              f"{r.from_code}->{r.to_code} from {r.change_at} (share {r.share_before:.1%} -> {r.share_after:.1%}); "
              f"its spans agree with the earlier coding {cons.mean():.0%} on average"
              + (f"; codebook event at the old flag: {cb}" if cb else "; no codebook event at the old flag"))
    # the noise a planted change must exceed: each chosen X's unmodified series (into X, X<->Y)
    from themekit.audit.content_scan import coder_series
    pos = units["transcript_id"].map(parts.index).to_numpy()
    ser = {(s.kind, frozenset({codes[s.b]} | ({codes[s.a]} if s.a is not None else set()))): s
           for s in coder_series((x, pos, y, len(parts)), n_pairs=3, ridge=1.0, min_units=5, min_before=2,
                                 min_after=2)}
    print("  unmodified series of the planted codes (dispersion phi, CUSUM sd sqrt(phi V) in spans): " + "; ".join(
        f"{kind} {'<->'.join(sorted(key))}: phi {s.phi:.1f}, sd {np.sqrt(s.phi * s.v.sum()):.1f}"
        for xc in chosen for kind, key in (("into", frozenset({xc})),
                                           ("pair", frozenset({xc, _nearest_code(cent, codes, codes.index(xc))[0]})))
        if (s := ser.get((kind, key))) is not None))
    t_all = time.perf_counter()
    runs = _sliding_runs(units, x, codes, order, history, chosen, draws, change)
    print(f"  {len(runs)} runs in {time.perf_counter() - t_all:.1f} s")
    _power_table(runs, "SERDIF, sliding boundary X -> nearest Y")


def _serdif_setup(units, x, codes, n_codes: int, change: str = "P9"):
    """SERDIF's order (P1..P17 for its one analyst), its codebook history, and the codes X a
    sliding boundary is planted on: ``n_codes`` drawn (seeded) from those with 30+ spans from
    ``change`` on."""
    from themekit.audit.codebook_history import read_codebook_history
    from themekit.audit.coded import code_matrix, natural_key

    parts = sorted(units["transcript_id"].unique(), key=natural_key)
    order = {c: parts for c in units["coder"].unique()}
    serdif = DATA_USED[0] / "serdif"
    history = read_codebook_history([serdif / "codebook_versions", serdif / "coding_log.jsonl"], parts)
    y = code_matrix(units, codes)
    late = units["transcript_id"].map(parts.index).to_numpy() >= parts.index(change)
    rng = np.random.default_rng(0)
    eligible = [c for c in codes if (y[:, codes.index(c)] & late).sum() >= 30]
    chosen = [eligible[i] for i in rng.choice(len(eligible), size=min(n_codes, len(eligible)), replace=False)]
    return parts, order, history, chosen


def _sliding_runs(units, x, codes, order, history, chosen, draws: int, change: str = "P9", verbose: bool = True,
                  **options) -> list[dict]:
    """For each code X in ``chosen`` x ``draws``: ``size`` of X's spans from ``change`` on recoded
    to X's nearest code Y; the coder-drift test (with the study's codebook history, as a user
    runs it; ``options`` passed on) and its outcome. Only flags reported as drift count: a change
    that follows a codebook change is reported as such, not as coder drift."""
    from themekit.audit.coded import code_matrix
    from themekit.audit.coder_drift import coder_drift

    parts = next(iter(order.values()))
    k = parts.index(change)
    near = {parts[i] for i in (k - 1, k, k + 1)}
    y = code_matrix(units, codes)
    cent = y.T.astype(float) @ x
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    late = units["transcript_id"].map(parts.index).to_numpy() >= k
    runs = []
    for ci, xc in enumerate(chosen):
        j = codes.index(xc)
        yc, _ = _nearest_code(cent, codes, j)
        cand = np.flatnonzero(y[:, j] & late)
        for d in range(draws):
            size = min(SIZES[d % len(SIZES)], len(cand))
            pick = np.random.default_rng(1000 * ci + d).choice(cand, size=size, replace=False)
            res = coder_drift(_moved(units, pick, xc, yc), x, order, codes, history=history, n_boot=0,
                              random_state=0, **options)
            hit, extra, where = _outcome(_as_drift(res.table), {xc, yc}, near)
            runs.append({"size": size, "size_bin": _size_bin(size), "hit": hit, "extra": len(extra)})
            if verbose:
                print(f"    X={xc!r} -> Y={yc!r}, {size} spans: {'HIT ' if hit else 'miss'} flags on X/Y: {where}"
                      + (f"; extra: {', '.join(extra)}" if extra else ""))
    return runs


def _as_drift(table: pd.DataFrame) -> pd.DataFrame:
    """The table with only flags reported as coder drift left flagged (not those following a
    codebook change)."""
    t = table.copy()
    t["flagged"] = t["flagged"] & (t["status"] == "drift")
    return t


def _short(s, n: int = 90) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n - 1] + "…"


def annomi_units(data: Path, annotator: int, min_words: int = 4):
    """One AnnoMI annotator as one coder: the conversations only ``annotator`` coded (in id
    order) are the interviews; each utterance of 4+ words is a span coded with its therapist
    behaviour or client talk type (7 codes); ``role``: who speaks ("therapist" or "client":
    AnnoMI's codes are per speaker role)."""
    from themekit.audit.coded import coded_units
    from themekit.codebook.coding import CodedSegment

    d = _annomi_single(data, min_words)
    d = d[d["annotator_id"] == annotator].sort_values(["transcript_id", "utterance_id"])
    segs, pos = [], {}
    for r in d.itertuples():
        tid = f"C{r.transcript_id:03d}"
        code = ("therapist " + r.main_therapist_behaviour) if r.interlocutor == "therapist" \
            else ("client " + r.client_talk_type)
        start = pos.get(tid, 0)
        text = str(r.utterance_text)
        segs.append(CodedSegment(tid, start, start + len(text), code, f"annotator {annotator}", text))
        pos[tid] = start + len(text) + 1
    units = coded_units(segs)
    units["role"] = [cs[0].split()[0] for cs in units["codes"]]   # every code names its speaker role
    return units


def _annomi_single(data: Path, min_words: int = 4) -> pd.DataFrame:
    """AnnoMI-full's utterances of ``min_words``+ words in the conversations one annotator coded."""
    d = pd.read_csv(data / "annomi" / "AnnoMI-full.csv")
    d = d[d["utterance_text"].astype(str).str.split().str.len() >= min_words]
    n_ann = d.groupby("transcript_id")["annotator_id"].nunique()
    return d[d["transcript_id"].isin(n_ann[n_ann == 1].index)]


def annomi_annotators(data: Path, n: int) -> list[int]:
    """The ``n`` annotators with the most utterances coded alone (ties by id)."""
    sizes = _annomi_single(data).groupby("annotator_id").size()
    return sorted(sizes.index, key=lambda a: (-sizes[a], a))[:n]


def _broaden(units: pd.DataFrame, x: np.ndarray, late_pos: np.ndarray, cand: np.ndarray, centroid: np.ndarray,
             b: str, size: int, rng) -> tuple[pd.DataFrame, np.ndarray]:
    """Recode ``size`` of the candidate spans to ``b``, spread evenly over the late interviews
    (``late_pos``: each candidate's interview), in each drawn from its 3 x share most B-like."""
    groups = sorted(set(late_pos))
    share = np.diff(np.round(np.linspace(0, size, len(groups) + 1)).astype(int))
    pick = []
    for t, m in zip(groups, share):
        c = cand[late_pos == t]
        pool = c[np.argsort(-(x[c] @ centroid), kind="stable")[:3 * m]]
        pick.extend(rng.choice(pool, size=min(m, len(pool)), replace=False))
    pick = np.array(pick, dtype=np.int64)
    u = units.copy()
    new = list(u["codes"])
    for i in pick:
        new[i] = (b,)
    u["codes"] = new
    return u, pick


@functools.lru_cache(maxsize=None)
def _annomi_coder(data: Path, annotator: int):
    """One annotator's (units, codes, span embeddings), read and embedded once per run of the
    bench (the variants section tests the same coders four times)."""
    from themekit.audit.coded import unit_embeddings
    from themekit.embed import load_embedder

    units = annomi_units(data, annotator)
    return units, sorted({c for cs in units["codes"] for c in cs}), unit_embeddings(units, embedder=load_embedder())


def bench_broadening(data: Path, n_codes: int, draws: int, sizes=SIZES, big_sizes=(100, 200, 300),
                     big_draws: int = 1, n_annotators: int = 3, verbose: bool = True, **options) -> dict:
    """Second data set, other direction: each of ``n_annotators`` AnnoMI annotators is a coder
    who, from their middle conversation on, applies code B more broadly (see :func:`_broaden`).
    ``options`` go to the coder-drift test; returns the runs by size group."""
    say = print if verbose else (lambda *a, **k: None)
    from themekit.audit.coded import code_matrix, natural_key
    from themekit.audit.coder_drift import coder_drift
    from themekit.audit.content_scan import coder_series

    runs: dict[str, list] = {"sizes 10-50": [], "larger sizes": []}
    late_spans = []
    for ann in annomi_annotators(data, n_annotators):
        units, codes, x = _annomi_coder(data, ann)
        coder = units["coder"].iloc[0]
        parts = sorted(units["transcript_id"].unique(), key=natural_key)
        order = {coder: parts}
        k = len(parts) // 2
        near = {parts[i] for i in (k - 1, k, k + 1)}
        pos = units["transcript_id"].map(parts.index).to_numpy()
        late = pos >= k
        late_spans.append(int(late.sum()))
        base = coder_drift(units, x, order, codes, n_boot=0, random_state=0, **options)
        before = {(r.kind, r.from_code, r.to_code, r.change_at) for r in base.flagged.itertuples()}
        runs.setdefault("unmodified", []).append(len(base.flagged))
        say(f"\nAnnoMI {coder}: {len(units)} utterances, {len(parts)} conversations ({parts[0]}..{parts[-1]}), "
              f"{len(codes)} codes; broadening planted from {parts[k]} ({int(late.sum())} late spans)")
        say(f"  unmodified: {len(base.flagged)} drifts flagged"
              + "".join(f"\n    {r.kind} {r.from_code}->{r.to_code} from {r.change_at} (q={r.q_value:.3f}, change "
                        f"{r.change:+.1%} beyond the content)" for r in base.flagged.itertuples()))
        y = code_matrix(units, codes)
        cent = y.T.astype(float) @ x
        cent /= np.linalg.norm(cent, axis=1, keepdims=True)
        rng = np.random.default_rng(1)
        chosen = [codes[i] for i in rng.choice(len(codes), size=min(n_codes, len(codes)), replace=False)]
        # how much a conversation's use of B varies beyond the content (the test's noise): a
        # broadening of m spans adds about m (1 - p) to the CUSUM, to be set against sqrt(phi V)
        noise = {codes[s.b]: s for s in coder_series((x, pos, y, len(parts)), n_pairs=3, ridge=1.0, min_units=5,
                                                      min_before=2, min_after=2) if s.kind == "into"}
        say("  unmodified 'into B' series (the noise a broadening must exceed): " + "; ".join(
            f"{b}: dispersion phi {noise[b].phi:.1f}, CUSUM sd sqrt(phi V) {np.sqrt(noise[b].phi * noise[b].v.sum()):.1f} "
            f"spans" for b in chosen if b in noise))
        for label, sz, nd in (("sizes 10-50", sizes, draws), ("larger sizes", big_sizes, big_draws * len(big_sizes)))[
            :2 if big_draws else 1]:
            for ci, b in enumerate(chosen):
                j = codes.index(b)
                # a coder who broadens B applies it to talk B can code: the same speaker role
                cand = np.flatnonzero(late & ~y[:, j] & (units["role"] == b.split()[0]).to_numpy())
                for d in range(nd):
                    size = sz[d % len(sz)]
                    u, pick = _broaden(units, x, pos[cand], cand, cent[j], b, size,
                                       np.random.default_rng(1000 * ci + d))
                    res = coder_drift(u, x, order, codes, n_boot=0, random_state=0, **options)
                    # a flag the unmodified coding already has is not a detection of the planted change
                    new = res.table[[(r.kind, r.from_code, r.to_code, r.change_at) not in before
                                     for r in res.table.itertuples()]]
                    hit, _, where = _outcome(new, {b}, near)
                    extra = _outcome(res.table, {b}, near)[1]    # extra: every flag off B, old ones too
                    sources = pd.Series([c for i in pick for c in units.at[i, "codes"]]).value_counts()
                    runs[label].append({"size": size, "size_bin": _size_bin(size) if size <= 50 else str(size),
                                        "hit": hit, "extra": len(extra)})
                    say(f"    B={b!r}, {size} spans from {dict(sources)}: {'HIT ' if hit else 'miss'} new flags on "
                          f"B: {where}" + (f"; extra: {', '.join(extra)}" if extra else ""))
    if verbose:
        for label in ("sizes 10-50", "larger sizes"):
            _power_table(runs[label], f"AnnoMI, broadening of B ({label}; {n_annotators} annotators, "
                                      f"{'/'.join(map(str, late_spans))} late spans)")
    return runs


VARIANTS = (("bound", "bh"), ("exact", "bh"), ("bound", "holm"), ("exact", "holm"))


def bench_variants(units, x, codes, data: Path, n_codes: int, draws: int) -> None:
    """The coder-drift test's p-value (``p_value``: the bridge bound or the exact discrete
    bridge) and its correction across codes (``correction``: BH or Holm), side by side on the
    same planted runs: what more power costs in extra flags."""
    parts, order, history, chosen = _serdif_setup(units, x, codes, n_codes)
    from themekit.audit.coder_drift import coder_drift

    print("\nCoder drift, variants of the test on the same planted runs (SERDIF sliding boundary, "
          f"{n_codes} codes x {draws} draws; AnnoMI broadening, 3 annotators x {n_codes} codes x {draws} draws)")
    print(f"  {'p_value':<8} {'correction':<10} | {'SERDIF unmod.':>13} {'power':>6} {'30+':>5} {'extra/run':>9} "
          f"{'max':>4} {'runs >1':>7} | {'AnnoMI unmod.':>13} {'power':>6} {'30+':>5} {'extra/run':>9} {'max':>4}")
    for p_value, correction in VARIANTS:
        opts = {"p_value": p_value, "correction": correction}
        t = time.perf_counter()
        base = coder_drift(units, x, order, codes, history=history, n_boot=0, random_state=0, **opts)
        unmod = int((base.flagged["status"] == "drift").sum())
        s = pd.DataFrame(_sliding_runs(units, x, codes, order, history, chosen, draws, verbose=False, **opts))
        a_runs = bench_broadening(data, n_codes, draws, big_draws=0, verbose=False, **opts)
        a = pd.DataFrame(a_runs["sizes 10-50"])
        print(f"  {p_value:<8} {correction:<10} | {unmod:>13} {s.hit.mean():>6.0%} {s[s['size'] >= 30].hit.mean():>5.0%} "
              f"{s.extra.mean():>9.2f} {int(s.extra.max()):>4} {int((s.extra > 1).sum()):>7} | "
              f"{'/'.join(map(str, a_runs['unmodified'])):>13} {a.hit.mean():>6.0%} {a[a['size'] >= 30].hit.mean():>5.0%} "
              f"{a.extra.mean():>9.2f} {int(a.extra.max()):>4}   ({time.perf_counter() - t:.0f} s)", flush=True)


def bench_audit_time(data: Path, x: np.ndarray, units: pd.DataFrame) -> None:
    """The whole audit() on SERDIF with the spans' embeddings given (time after embedding),
    and its coder-drift step alone."""
    import themekit
    from themekit.audit import audit
    from themekit.codebook.coding import read_coded_segments
    from themekit.embed import Embeddings

    corpus = themekit.read_transcripts(data / "serdif" / "transcripts")
    segments = read_coded_segments(data / "serdif" / "coded_segments.csv", corpus)
    first = units.drop_duplicates("segment_id")
    emb = Embeddings.from_arrays(first["segment_id"], x[first.index.to_numpy()], "all-MiniLM-L6-v2")
    for mapper in (None, "auto"):
        t = time.perf_counter()
        res = audit(corpus, segments, embeddings=emb, mapper=mapper, order="transcript", random_state=0)
        el = time.perf_counter() - t
        print(f"\naudit() on SERDIF after embedding, mapper={mapper!r}: {el:.1f} s "
              f"(coder drift step {res.settings.get('coder_drift_seconds', float('nan')):.2f} s; "
              f"{int(res.coder_drift['flagged'].sum())} coder drifts flagged); seconds per step: "
              + ", ".join(f"{k} {v:.1f}" for k, v in res.settings.get("seconds", {}).items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--drift-codes", type=int, default=5)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--skip", choices=("miscoding", "drift", "coder-drift", "annomi", "variants", "audit-time"),
                    action="append", default=["drift"], help="sections to skip (default: the old marginal drift bench)")
    args = ap.parse_args(argv)
    DATA_USED[0] = args.data
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from themekit.audit.coded import coded_units, unit_embeddings
    from themekit.codebook.coding import read_coded_segments
    from themekit.embed import load_embedder

    path = args.data / "serdif" / "coded_segments.csv"
    if not path.is_file():
        print(f"no serdif data at {path}; pass --data", file=sys.stderr)
        return 2
    import logging

    logging.getLogger("themekit").setLevel(logging.ERROR)
    segments = read_coded_segments(path)
    units = coded_units(segments)
    codes = sorted({c for cs in units["codes"] for c in cs})
    t = time.perf_counter()
    embedder = load_embedder()
    x = unit_embeddings(units, embedder=embedder)
    print(f"serdif: {len(segments)} (segment, code) rows -> {len(units)} coded spans, {len(codes)} codes, "
          f"{units.transcript_id.nunique()} transcripts; embedded with {embedder.model_id} "
          f"in {time.perf_counter() - t:.1f} s (cache)")
    if "miscoding" not in args.skip:
        bench_miscoding(units, x, codes, args.draws)
    if "drift" not in args.skip:
        bench_drift(units, x, codes, args.drift_codes, args.permutations)
    if "coder-drift" not in args.skip:
        bench_coder_drift(units, x, codes, args.drift_codes, args.draws, args.permutations)
    if "annomi" not in args.skip:
        bench_broadening(args.data, args.drift_codes, args.draws)
    if "variants" not in args.skip:
        bench_variants(units, x, codes, args.data, args.drift_codes, args.draws)
    if "audit-time" not in args.skip:
        bench_audit_time(args.data, x, units)
    return 0


if __name__ == "__main__":
    sys.exit(main())
