"""Score themekit's speaker-role detection against the hand-made truth in bench/roles/.

    HF_HUB_OFFLINE=1 python bench/roles/score_roles.py [-v] [study ...]

For each study folder: reads it with ``themekit.read_transcripts`` (default options), aligns
every true turn (turn_truth.csv) to the reader's turn by its first words, and counts
  * label errors: (transcript, label) rows of truth.csv whose turns the reader gives another
    role (majority over the label's turns; a label the reader never splits off counts wrong),
  * turn errors: true turns whose aligned reader turn has the wrong role,
  * split errors: true turns whose aligned reader turn carries another speaker label or that
    share one reader turn with the previous true turn (a label the reader did not recognise).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def reader_turns(corpus):
    turns = defaultdict(dict)  # tid -> turn index -> dict
    for u in corpus.utterances:
        t = turns[u.transcript_id].setdefault(u.turn, {"speaker": u.speaker, "role": u.role,
                                                        "start": u.start, "end": u.end})
        t["start"], t["end"] = min(t["start"], u.start), max(t["end"], u.end)
    return {tid: [d[k] for k in sorted(d)] for tid, d in turns.items()}


def load_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def aligned_turns(text: str, rows: list[dict], rts: list[dict]):
    """Each truth turn (in reading order) with the match of its first words in ``text`` (None when
    not found) and the index of the reader turn it starts in (None when there is none)."""
    cursor = 0
    for r in rows:
        pat = r"\s+".join(re.escape(w) for w in r["first_words"].split())
        m = re.compile(pat).search(text, cursor)
        if not m:
            yield r, None, None
            continue
        cursor = m.end()
        k = next((i for i, t in enumerate(rts) if t["start"] <= m.start() < t["end"] + 1), None)
        if k is None:  # the match starts with a direction such as "(laughs)" left out of units
            k = next((i for i, t in enumerate(rts) if m.start() <= t["start"] < m.end()), None)
        yield r, m, k


def read_with_truth(folder: Path):
    """(corpus as themekit reads it, its turns per transcript, the true turns per transcript
    from ``turn_truth.csv``)."""
    import themekit
    corpus = themekit.read_transcripts(folder)
    truth_turns = defaultdict(list)
    for r in load_csv(folder / "turn_truth.csv"):
        truth_turns[r["transcript_id"]].append(r)
    return corpus, reader_turns(corpus), truth_turns


def majority_role(roles: list) -> str | None:
    """The role most of a label's aligned turns got, or None without a strict majority."""
    got = Counter(roles).most_common()
    return got[0][0] if got and (len(got) == 1 or got[0][1] > got[1][1]) else None


def score_study(folder: Path, verbose: bool) -> dict:
    corpus, rturns, truth_turns = read_with_truth(folder)
    res = Counter()
    aligned_roles = defaultdict(list)  # (tid, label) -> reader roles
    notes = []
    for tid, rows in truth_turns.items():
        text = corpus.transcript(tid).text
        rts = rturns.get(tid, [])
        res["transcripts"] += 1
        res["turns"] += len(rows)
        res["reader_turns"] += len(rts)
        prev = None
        for r, m, k in aligned_turns(text, rows, rts):
            if not m:
                res["unaligned"] += 1
                aligned_roles[(tid, r["label"])].append(None)
                notes.append(f"  {tid} turn {r['turn_index']}: not found in the reader's text")
                continue
            if k is None:
                res["unaligned"] += 1
                aligned_roles[(tid, r["label"])].append(None)
                continue
            t = rts[k]
            if t["speaker"] != r["label"] or k == prev:
                res["split_errors"] += 1
            prev = k
            aligned_roles[(tid, r["label"])].append(t["role"])
            if t["role"] != r["role"]:
                res["turn_errors"] += 1
    wrong_tids = set()
    for r in load_csv(folder / "truth.csv"):
        res["labels"] += 1
        if majority_role(aligned_roles[(r["transcript_id"], r["label"])]) != r["role"]:
            res["label_errors"] += 1
            wrong_tids.add(r["transcript_id"])
            notes.append(f"  {r['transcript_id']}: {r['label']!r} is {r['role']}, reader says "
                         f"{dict(Counter(aligned_roles[(r['transcript_id'], r['label'])]))}")
    res["transcripts_wrong"] = len(wrong_tids)
    if verbose:
        print("\n".join(notes))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("studies", nargs="*")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    studies = a.studies or sorted(p.name for p in HERE.iterdir() if (p / "turn_truth.csv").exists())
    cols = ["transcripts", "turns", "reader_turns", "split_errors", "unaligned", "labels",
            "label_errors", "transcripts_wrong", "turn_errors"]
    print(f"{'study':26s} " + " ".join(f"{c[:12]:>12s}" for c in cols))
    tot = Counter()
    for s in studies:
        res = score_study(HERE / s, a.verbose)
        tot.update(res)
        print(f"{s:26s} " + " ".join(f"{res[c]:12d}" for c in cols))
    print(f"{'total':26s} " + " ".join(f"{tot[c]:12d}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
