"""The result of discovery: candidate codes grouped into themes, editable and exportable.

A :class:`DiscoveryResult` is **immutable**: ``merge``, ``split``, ``rename`` and ``delete``
return a new result (``result = result.merge("C03", "C07")``) with key terms, labels,
exemplars, spread, stability, scores and themes recomputed, and the edit appended to ``edits``.

Themes: code centroids are clustered by average linkage on cosine distance; walking the tree
from the top, the first group of at most ``max_theme_size`` codes (6) becomes a theme, so themes
are the broadest groups small enough to read (a code far from all others is a theme alone).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .consensus import centroids_of, coassociation
from .label import (default_lemmatizer, key_terms, make_label, participant_key, select_exemplars,
                    spread)
from ..types import Utterance, atomic_write

__all__ = ["DiscoveryResult", "CandidateCode"]

MAX_THEME_SIZE = 6
N_KEY_TERMS = 10
N_EXEMPLARS = 5


@dataclass(frozen=True)
class CandidateCode:
    """One candidate code of a :class:`DiscoveryResult` (a view; tables hold the same values)."""

    id: str
    label: str
    key_terms: tuple[str, ...]
    size: int
    n_transcripts: int
    n_participants: int
    participant_share: float
    stability: float
    theme: str
    _result: "DiscoveryResult"

    def quotes(self) -> pd.DataFrame:
        """Every member utterance, most central (highest ``score``) first."""
        a = self._result.assignments
        return a[a.code == self.id].sort_values(["score", "utterance_id"], ascending=[False, True]) \
            .reset_index(drop=True)

    def exemplars(self) -> pd.DataFrame:
        """The 3-5 exemplar quotes (central and diverse), in order of choice."""
        return self._result._exemplar_table(self.id)

    def __repr__(self) -> str:
        return (f"CandidateCode({self.id} {self.label!r}: {self.size} utterances, "
                f"{self.n_participants} participants, stability {self.stability:.2f})")


class DiscoveryResult:
    """Candidate codes and themes for a set of utterances (see module docstring)."""

    def __init__(self, utterances: Sequence[Utterance], vectors: np.ndarray, codes: Sequence,
                 assignment: Sequence[str], run_labels: np.ndarray | None = None,
                 names: dict | None = None, params: dict | None = None, edits: Sequence = (),
                 _terms: list | None = None, fit_mask: np.ndarray | None = None):
        self.utterances: tuple[Utterance, ...] = tuple(utterances)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self._code = np.array([c if c else None for c in codes], dtype=object)
        self._assignment = np.asarray(assignment, dtype=object)
        self.run_labels = None if run_labels is None else np.asarray(run_labels)
        self._names = dict(names or {})
        self.params = dict(params or {})
        self.edits: tuple[dict, ...] = tuple(edits)
        # which utterances the codes were fitted on (None: all; see discover.sample)
        self.fit_mask = None if fit_mask is None else np.asarray(fit_mask, dtype=bool)
        if _terms is None:
            lem = default_lemmatizer()
            _terms = [lem.terms(u.content) for u in self.utterances]
        self._terms = _terms
        self._compute()

    @classmethod
    def from_partition(cls, utterances, vectors, labels, assignment, run_labels=None, params=None,
                       fit_mask=None):
        """From integer labels (-1: outlier): code ``i`` gets id ``C{i+1:02d}``."""
        labels = np.asarray(labels)
        k = int(labels.max()) + 1 if (labels >= 0).any() else 0
        width = max(2, len(str(k)))
        codes = [f"C{int(g) + 1:0{width}d}" if g >= 0 else None for g in labels]
        return cls(utterances, vectors, codes, assignment, run_labels, params=params, fit_mask=fit_mask)

    # -- derived values ----------------------------------------------------------------------
    def _compute(self) -> None:
        present = {c for c in self._code if c is not None}
        self.code_ids: tuple[str, ...] = tuple(sorted(present, key=_id_key))
        index = {c: i for i, c in enumerate(self.code_ids)}
        group = np.array([index[c] if c is not None else -1 for c in self._code], dtype=np.int64)
        self._group = group
        k = len(self.code_ids)
        self._centroids = centroids_of(self.vectors, group, k) if k else np.zeros((0, self.vectors.shape[1]))
        sims = self.vectors @ self._centroids.T if k else np.zeros((len(group), 0))
        if k:
            self._score = np.where(group >= 0, sims[np.arange(len(group)), np.maximum(group, 0)],
                                   sims.max(1)).astype(np.float32)
        else:
            self._score = np.zeros(len(group), dtype=np.float32)
        terms = key_terms(self._terms, group, N_KEY_TERMS)
        n_content = [sum(1 for t in ts if " " not in t) for ts in self._terms]
        speakers = [participant_key(u) for u in self.utterances]
        self._n_participants_total = len(set(speakers))
        self._info: dict[str, dict] = {}
        for g, cid in enumerate(self.code_ids):
            members = np.flatnonzero(group == g)
            words = [t for t, _ in terms.get(g, [])]
            core = members[self._assignment[members] == "core"]
            # units placed after a sampled fit count too: stability on all units (discover.sample)
            stable = members[np.isin(self._assignment[members], ("core", "assigned"))]
            stab = coassociation(self.run_labels, stable if len(stable) else members) \
                if self.run_labels is not None else float("nan")
            ex = select_exemplars(self.vectors[members], self._centroids[g],
                                  [speakers[i] for i in members], [n_content[i] for i in members],
                                  n=N_EXEMPLARS)
            self._info[cid] = {
                "label": self._names.get(cid) or make_label(words),
                "key_terms": tuple(words), "size": len(members), "n_core": int(len(core)),
                "stability": stab, "exemplars": [int(members[i]) for i in ex],
                **spread([self.utterances[i] for i in members], self._n_participants_total),
            }
        self._compute_themes(sims)

    def _compute_themes(self, sims) -> None:
        k = len(self.code_ids)
        theme_of = _theme_groups(self._centroids, MAX_THEME_SIZE) if k else np.zeros(0, dtype=int)
        # number themes by size (utterances), largest first
        sizes = {t: sum(self._info[c]["size"] for c, tt in zip(self.code_ids, theme_of) if tt == t)
                 for t in set(theme_of.tolist())}
        order = sorted(sizes, key=lambda t: (-sizes[t], min(i for i, tt in enumerate(theme_of) if tt == t)))
        tid = {t: f"T{i + 1:02d}" for i, t in enumerate(order)}
        self._theme_of = {c: tid[t] for c, t in zip(self.code_ids, theme_of)}
        tgroup = np.array([order.index(theme_of[g]) if g >= 0 else -1 for g in self._group], dtype=np.int64)
        tterms = key_terms(self._terms, tgroup, N_KEY_TERMS) if k else {}
        self._themes: dict[str, dict] = {}
        for i, t in enumerate(order):
            codes = [c for c in self.code_ids if self._theme_of[c] == tid[t]]
            members = np.flatnonzero(tgroup == i)
            words = [w for w, _ in tterms.get(i, [])]
            self._themes[tid[t]] = {
                "label": make_label(words, n=2), "codes": codes, "size": len(members),
                **spread([self.utterances[j] for j in members], self._n_participants_total)}
        for c in self.code_ids:
            self._info[c]["theme"] = self._theme_of[c]

    # -- access ------------------------------------------------------------------------------
    @property
    def n_participants(self) -> int:
        """Participants (speaker within transcript) among the analysed utterances."""
        return self._n_participants_total

    def __len__(self) -> int:
        return len(self.code_ids)

    def __repr__(self) -> str:
        out = int((self._group < 0).sum())
        return (f"DiscoveryResult({len(self.code_ids)} codes in {len(self._themes)} themes, "
                f"{len(self.utterances)} utterances, {out} outliers)")

    def code(self, code_id: str) -> CandidateCode:
        self._check(code_id)
        i = self._info[code_id]
        return CandidateCode(code_id, i["label"], i["key_terms"], i["size"], i["n_transcripts"],
                             i["n_participants"], i["participant_share"], i["stability"], i["theme"], self)

    def _check(self, code_id: str) -> None:
        if code_id not in self._info:
            raise KeyError(f"no candidate code {code_id!r}; codes are {', '.join(self.code_ids) or '(none)'}")

    @property
    def codes(self) -> pd.DataFrame:
        """One row per candidate code."""
        rows = [{"id": c, "label": i["label"], "size": i["size"], "n_core": i["n_core"],
                 "n_transcripts": i["n_transcripts"], "n_participants": i["n_participants"],
                 "participant_share": i["participant_share"],
                 "stability": round(i["stability"], 4) if not math.isnan(i["stability"]) else np.nan,
                 "key_terms": "; ".join(i["key_terms"]), "theme": i["theme"],
                 "theme_label": self._themes[i["theme"]]["label"]}
                for c, i in self._info.items()]
        cols = ["id", "label", "size", "n_core", "n_transcripts", "n_participants",
                "participant_share", "stability", "key_terms", "theme", "theme_label"]
        return pd.DataFrame(rows, columns=cols)

    @property
    def themes(self) -> pd.DataFrame:
        """One row per theme."""
        rows = [{"id": t, "label": i["label"], "codes": ", ".join(i["codes"]), "n_codes": len(i["codes"]),
                 "size": i["size"], "n_transcripts": i["n_transcripts"],
                 "n_participants": i["n_participants"], "participant_share": i["participant_share"]}
                for t, i in self._themes.items()]
        return pd.DataFrame(rows, columns=["id", "label", "codes", "n_codes", "size", "n_transcripts",
                                           "n_participants", "participant_share"])

    @property
    def assignments(self) -> pd.DataFrame:
        """One row per utterance: its code (or none), how it got there and its score."""
        u = self.utterances
        df = pd.DataFrame({
            "utterance_id": [x.id for x in u], "transcript_id": [x.transcript_id for x in u],
            "speaker": [x.speaker for x in u],
            "start": np.array([x.start for x in u], dtype=np.int64),
            "end": np.array([x.end for x in u], dtype=np.int64),
            "code": list(self._code), "assignment": list(self._assignment),
            "score": np.round(self._score.astype(np.float64), 4), "text": [x.text for x in u]})
        if self.fit_mask is not None:   # only after a sampled fit: which units the codes came from
            df.insert(df.columns.get_loc("score"), "in_fit", self.fit_mask)
        return df

    def outlier_share(self) -> float:
        return float((self._group < 0).mean()) if len(self._group) else 0.0

    def _exemplar_table(self, code_id: str) -> pd.DataFrame:
        self._check(code_id)
        rows = []
        for i in self._info[code_id]["exemplars"]:
            u = self.utterances[i]
            rows.append({"utterance_id": u.id, "transcript_id": u.transcript_id, "speaker": u.speaker,
                         "start": u.start, "end": u.end, "score": round(float(self._score[i]), 4),
                         "text": u.text})
        return pd.DataFrame(rows, columns=["utterance_id", "transcript_id", "speaker", "start", "end",
                                           "score", "text"])

    def tree(self) -> str:
        """Themes and their codes as an indented tree (print it)."""
        lines = []
        n_tot = self._n_participants_total
        for t, info in self._themes.items():
            n_codes = f"{len(info['codes'])} code" + ("s" if len(info["codes"]) != 1 else "")
            lines.append(f"{t} {info['label']}  ({n_codes}, {info['size']} utterances, "
                         f"{info['n_participants']}/{n_tot} participants)")
            for j, c in enumerate(info["codes"]):
                i = self._info[c]
                stab = "n/a" if math.isnan(i["stability"]) else f"{i['stability']:.2f}"
                branch = "└─" if j == len(info["codes"]) - 1 else "├─"
                lines.append(f"  {branch} {c} {i['label']}  ({i['size']} utt., "
                             f"{i['n_participants']}/{n_tot} participants, stability {stab})")
        out = int((self._group < 0).sum())
        lines.append(f"outliers: {out} of {len(self.utterances)} utterances")
        return "\n".join(lines)

    # -- editing (each returns a new result) -------------------------------------------------
    def _new(self, codes, assignment, names, edit) -> "DiscoveryResult":
        return DiscoveryResult(self.utterances, self.vectors, codes, assignment, self.run_labels,
                               names, self.params, self.edits + (edit,), _terms=self._terms,
                               fit_mask=self.fit_mask)

    def merge(self, *code_ids: str, label: str | None = None) -> "DiscoveryResult":
        """One code from several: it keeps the first id (and its name unless ``label`` is given)."""
        if len(code_ids) < 2:
            raise ValueError("merge needs at least two code ids, e.g. merge('C03', 'C07')")
        for c in code_ids:
            self._check(c)
        if len(set(code_ids)) != len(code_ids):
            raise ValueError(f"merge got the same code twice: {code_ids}")
        into = code_ids[0]
        codes = np.where(np.isin(self._code.astype(str), code_ids), into, self._code)
        names = {k: v for k, v in self._names.items() if k not in code_ids[1:]}
        if label is not None:
            names[into] = label
        return self._new(codes, self._assignment, names,
                         {"op": "merge", "codes": list(code_ids), "into": into})

    def split(self, code_id: str, n: int = 2, random_state: int | None = None) -> "DiscoveryResult":
        """Re-cluster one code's members into ``n`` (k-means on the embeddings); the largest part
        keeps the id, the others get the next free ids."""
        self._check(code_id)
        members = np.flatnonzero(self._code == code_id)
        if not isinstance(n, int) or n < 2 or n > len(members):
            raise ValueError(f"split: n must be an int from 2 to the code's size ({len(members)}); got {n!r}")
        from sklearn.cluster import KMeans
        seed = self.params.get("random_state", 0) if random_state is None else random_state
        parts = KMeans(n_clusters=n, n_init=10, random_state=seed).fit_predict(self.vectors[members])
        order = sorted(range(n), key=lambda p: (-(parts == p).sum(), np.flatnonzero(parts == p)[0]))
        nxt = self._max_id_number() + 1
        width = max(len(self.code_ids[0]) - 1, len(str(nxt + n)))
        new_ids = [code_id] + [f"C{nxt + i:0{width}d}" for i in range(n - 1)]
        codes = self._code.copy()
        for rank, p in enumerate(order):
            codes[members[parts == p]] = new_ids[rank]
        names = {k: v for k, v in self._names.items() if k != code_id}
        return self._new(codes, self._assignment, names, {"op": "split", "code": code_id, "into": new_ids})

    def _max_id_number(self) -> int:
        """Largest code number ever used here (ids of merged or deleted codes are not reused)."""
        seen = list(self.code_ids)
        for e in self.edits:
            for key in ("codes", "into", "code"):
                v = e.get(key)
                seen += v if isinstance(v, list) else [v] if isinstance(v, str) else []
        return max((int(c[1:]) for c in seen if c[1:].isdigit()), default=0)

    def rename(self, code_id: str, label: str) -> "DiscoveryResult":
        """Give a code a researcher's name (kept through later edits)."""
        self._check(code_id)
        if not isinstance(label, str) or not label.strip() or "\n" in label:
            raise ValueError(f"rename: label must be a non-empty one-line string; got {label!r}")
        return self._new(self._code, self._assignment, {**self._names, code_id: label.strip()},
                         {"op": "rename", "code": code_id, "label": label.strip()})

    def delete(self, code_id: str) -> "DiscoveryResult":
        """Remove a code: its utterances become outliers."""
        self._check(code_id)
        hit = self._code == code_id
        codes = np.where(hit, None, self._code)
        assignment = np.where(hit, "outlier", self._assignment)
        names = {k: v for k, v in self._names.items() if k != code_id}
        return self._new(codes, assignment, names, {"op": "delete", "code": code_id})

    def reassign_outliers(self, min_similarity: float | None = None) -> "DiscoveryResult":
        """Put outliers into codes by a stated rule: each outlier joins the code whose centroid
        (mean embedding of its current members) is most cosine-similar, if that similarity is at
        least ``min_similarity``; None: every outlier joins its nearest code. Centroids are not
        updated while outliers join, so the order of utterances does not matter. Reassigned
        utterances are marked ``assignment == "reassigned"``; the edit is recorded."""
        if min_similarity is not None and (isinstance(min_similarity, bool) or
                                           not isinstance(min_similarity, (int, float)) or
                                           not -1.0 <= min_similarity <= 1.0):
            raise ValueError("reassign_outliers: min_similarity must be None or a number from -1 to 1; "
                             f"got {min_similarity!r}")
        out = np.flatnonzero(self._group < 0)
        if not len(self.code_ids) or not len(out):
            return self
        sims = self.vectors[out] @ self._centroids.T
        best = sims.argmax(1)
        ok = np.ones(len(out), bool) if min_similarity is None else \
            sims[np.arange(len(out)), best] >= min_similarity
        codes, assignment = self._code.copy(), self._assignment.copy()
        codes[out[ok]] = [self.code_ids[g] for g in best[ok]]
        assignment[out[ok]] = "reassigned"
        return self._new(codes, assignment, self._names,
                         {"op": "reassign_outliers", "min_similarity": min_similarity,
                          "n": int(ok.sum())})

    # -- export ------------------------------------------------------------------------------
    def to_codebook(self, name: str | None = "Draft codebook (themekit discover)"):
        """A :class:`themekit.codebook.Codebook`: themes as parents, codes with a drafted
        definition (from key terms and exemplars), inclusion hints and example quotes."""
        from ..codebook import Code, Codebook

        used: set[str] = set()

        def unique(label: str, ident: str) -> str:
            nm = label if label not in used else f"{label} ({ident})"
            used.add(nm)
            return nm

        out = []
        code_names = {}
        for t, info in self._themes.items():
            tname = unique(f"{info['label']}", t)
            out.append(Code(None, tname, definition=(
                f"Theme {t} (draft): groups codes {', '.join(info['codes'])}; voiced by "
                f"{info['n_participants']} of {self._n_participants_total} participants."),
                is_codable=False))
            for c in info["codes"]:
                i = self._info[c]
                code_names[c] = unique(i["label"], c)
                out.append(Code(None, code_names[c], definition=self._definition(c), include=(
                    "Talk about " + ", ".join(i["key_terms"][:6]) + "." if i["key_terms"] else ""),
                    exclude=self._exclude(c), examples=tuple(
                        self.utterances[j].content for j in i["exemplars"][:3]), parent=tname))
        return Codebook(out, name=name)

    def _definition(self, c: str) -> str:
        i = self._info[c]
        terms = list(i["key_terms"][:4])
        about = (", ".join(terms[:-1]) + " and " + terms[-1]) if len(terms) > 1 else (terms[0] if terms else "")
        head = f"Participants talk about {about}." if about else "Participants' talk grouped by similarity."
        return (f"{head} Draft from candidate code {c}: {i['size']} utterances from "
                f"{i['n_participants']} of {self._n_participants_total} participants "
                f"(stability {i['stability']:.2f}); review against the quotes.")

    def _exclude(self, c: str) -> str:
        g = self.code_ids.index(c)
        if len(self.code_ids) < 2:
            return ""
        sims = self._centroids @ self._centroids[g]
        sims[g] = -np.inf
        other = self.code_ids[int(np.argmax(sims))]
        return f"Talk closer to '{self._info[other]['label']}' ({other})."

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write codes.csv, themes.csv, assignments.csv/.parquet, manifest.json and the draft
        codebook (codebook.yaml, codebook.qdc); each file atomically. Returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, df in (("codes", self.codes), ("themes", self.themes), ("assignments", self.assignments)):
            written[f"{name}.csv"] = atomic_write(folder / f"{name}.csv",
                                                  lambda tmp, df=df: df.to_csv(tmp, index=False))
        a = self.assignments
        written["assignments.parquet"] = atomic_write(folder / "assignments.parquet",
                                                      lambda tmp: a.to_parquet(tmp, index=False))
        cb = self.to_codebook()
        for ext in ("yaml", "qdc"):
            written[f"codebook.{ext}"] = cb.save(folder / f"codebook.{ext}")
        manifest = {"params": self.params, "edits": list(self.edits), "n_utterances": len(self.utterances),
                    "n_codes": len(self.code_ids), "n_themes": len(self._themes),
                    "outlier_share": round(self.outlier_share(), 4)}
        text = json.dumps(manifest, indent=2, default=str)
        written["manifest.json"] = atomic_write(folder / "manifest.json",
                                                lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return written


def _id_key(cid: str):
    return (int(cid[1:]) if cid[1:].isdigit() else math.inf, cid)


def _theme_groups(centroids: np.ndarray, max_size: int) -> np.ndarray:
    """Theme index per code: top-down through the average-linkage tree of the centroids."""
    k = len(centroids)
    if k <= max_size:
        return np.zeros(k, dtype=int)
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import pdist

    tree = to_tree(linkage(np.clip(pdist(centroids, "cosine"), 0, None), method="average"))
    out = np.zeros(k, dtype=int)
    stack, n_groups = [tree], 0
    while stack:
        node = stack.pop()
        leaves = node.pre_order()
        if len(leaves) <= max_size:
            out[leaves] = n_groups
            n_groups += 1
        else:
            stack.extend([node.get_right(), node.get_left()])
    return out
