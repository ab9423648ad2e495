"""Speaker roles: how often themekit's default reading gets who-is-speaking right.

    HF_HUB_OFFLINE=1 python bench/bench_roles.py [--real]

On the hand-written role corpus in bench/roles/ (one folder per export convention, true role
of every turn; see bench/roles/README.md), with the default options, per convention:
labels right (transcript x label, from truth.csv), turns right, utterances right (each
utterance takes the true role of the turn it starts in) and the labels marked low confidence.
``heldout*`` folders were written after the rule was fixed and are listed apart.
With ``--real``: the roles chosen on data/example and on SERDIF (../shared/data), utterances
per role and the labels to check, to compare before/after a change.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench" / "roles"))

import themekit  # noqa: E402
from score_roles import aligned_turns, load_csv, majority_role, read_with_truth  # noqa: E402
from themekit.io.roles import decisions_from_settings, roles_table, needs_attention  # noqa: E402


def shared_data() -> Path:
    for p in (ROOT / ".." / "shared" / "data", ROOT / ".." / ".." / "shared" / "data", Path("/work/shared/data")):
        if p.is_dir():
            return p.resolve()
    raise SystemExit("no shared data folder found (../shared/data or /work/shared/data)")


def score(folder: Path) -> Counter:
    corpus, rturns, truth = read_with_truth(folder)
    res = Counter()
    label_roles = defaultdict(list)
    for tid, rows in truth.items():
        text = corpus.transcript(tid).text
        rts = rturns.get(tid, [])
        true_of_turn: dict[int, str] = {}
        for r, m, k in aligned_turns(text, rows, rts):
            res["turns"] += 1
            if k is None:
                res["turns_wrong"] += 1
                continue
            true_of_turn.setdefault(k, r["role"])
            label_roles[(tid, r["label"])].append(rts[k]["role"])
            res["turns_wrong"] += rts[k]["role"] != r["role"] or rts[k]["speaker"] != r["label"]
        for u in corpus.utterances:
            if u.transcript_id != tid:
                continue
            res["utterances"] += 1
            res["utterances_wrong"] += true_of_turn.get(u.turn) != u.role
    for r in load_csv(folder / "truth.csv"):
        res["labels"] += 1
        res["labels_wrong"] += majority_role(label_roles[(r["transcript_id"], r["label"])]) != r["role"]
    table = roles_table(decisions_from_settings(corpus.settings), corpus.utterances)
    res["low_confidence"] = int((table["confidence"] == "low").sum())
    res["transcripts"] = len(corpus.transcripts)
    return res


def pct(right: int, total: int) -> str:
    return f"{100 * right / total:6.1f}%" if total else "     -"


def print_rows(title: str, studies: list[str]) -> Counter:
    cols = f"{'convention':24s} {'files':>5s} {'labels right':>16s} {'turns right':>18s} {'utterances right':>20s} {'low conf.':>9s}"
    print(title)
    print(cols)
    tot = Counter()
    for s in studies:
        r = score(ROOT / "bench" / "roles" / s)
        tot.update(r)
        print_row(s, r)
    print_row("total", tot)
    print()
    return tot


def print_row(name: str, r: Counter) -> None:
    lab = f"{r['labels'] - r['labels_wrong']}/{r['labels']} {pct(r['labels'] - r['labels_wrong'], r['labels'])}"
    tur = f"{r['turns'] - r['turns_wrong']}/{r['turns']} {pct(r['turns'] - r['turns_wrong'], r['turns'])}"
    utt = f"{r['utterances'] - r['utterances_wrong']}/{r['utterances']} {pct(r['utterances'] - r['utterances_wrong'], r['utterances'])}"
    print(f"{name:24s} {r['transcripts']:5d} {lab:>16s} {tur:>18s} {utt:>20s} {r['low_confidence']:9d}")


def real_studies() -> None:
    data = shared_data()
    for name, path in (("data/example", ROOT / "data" / "example"), ("serdif", data / "serdif" / "transcripts")):
        corpus = themekit.read_transcripts(path)
        roles = Counter(u.role for u in corpus.utterances)
        table = roles_table(decisions_from_settings(corpus.settings), corpus.utterances)
        print(f"{name}: {len(corpus.transcripts)} transcripts, utterances by role: "
              + ", ".join(f"{k} {v}" for k, v in sorted(roles.items())))
        print(table[["label", "role", "n_transcripts", "turns", "utterances", "confidence"]]
              .to_string(index=False) if len(table) else "  (no speaker labels)")
        flagged = needs_attention(table)
        print(f"  labels to check: {len(flagged)}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", action="store_true", help="also show roles on data/example and SERDIF")
    a = ap.parse_args(argv)
    folders = sorted(p.name for p in (ROOT / "bench" / "roles").iterdir() if (p / "turn_truth.csv").exists())
    print_rows("Conventions (bench/roles, default options):", [s for s in folders if not s.startswith("heldout")])
    held = [s for s in folders if s.startswith("heldout")]
    if held:
        print_rows("Held out (written after the rule was fixed):", held)
    if a.real:
        real_studies()
    return 0


if __name__ == "__main__":
    sys.exit(main())
