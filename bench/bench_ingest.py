"""Read and segment the serdif think-aloud transcripts; compare with the analyst's coded segments.

Usage:  python bench/bench_ingest.py [--data ../shared/data] [--min-chars N] [--max-chars N]

Figures (Navarro-Gallinad et al. 2022, ../shared/data/serdif, GPL-3.0):
- utterances and seconds for reading + segmenting the 17 transcripts;
- coverage: share of human-coded segments whose letters and digits (speaker labels and transcriber
  directions such as "(laughs)" aside: they are not speech) lie >= 90% inside our
  utterances, and share lying inside a single utterance;
- boundary F1: human boundaries are the coded segments' starts and ends; ours are utterance
  starts and ends. A predicted boundary within 3 characters of a human one is a hit (one-to-one
  matching). Precision counts only our boundaries inside coded stretches (the analyst did not
  code every line, so boundaries in uncoded text are neither right nor wrong).
"""

from __future__ import annotations

import argparse
import bisect
import re
import sys
import time
from pathlib import Path

import pandas as pd

import themekit
from themekit.io.segment import Segmenter
from themekit.types import _DIRECTION

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _label_len(segment: str) -> int:
    """Length of a leading speaker label ("MODERATOR: "): a label is not utterance text."""
    m = re.match(r"\s*[A-Z][A-Za-z0-9 ]{0,30}:\s", segment)
    return m.end() if m else 0


def boundary_scores(pred: list[int], gold: list[int], spans: list[tuple[int, int]], tol: int = 3):
    """(hits, n_pred_in_coded, n_gold) with one-to-one matching within ``tol`` characters."""
    spans = sorted(spans)
    starts = [s for s, _ in spans]

    def in_coded(b: int) -> bool:
        i = bisect.bisect_right(starts, b + tol) - 1
        return any(spans[j][0] - tol <= b <= spans[j][1] + tol for j in range(max(0, i - 3), i + 1))

    pred = sorted(b for b in set(pred) if in_coded(b))
    gold = sorted(set(gold))
    used = [False] * len(pred)
    hits = 0
    for g in gold:
        i = bisect.bisect_left(pred, g - tol)
        best = None
        while i < len(pred) and pred[i] <= g + tol:
            if not used[i] and (best is None or abs(pred[i] - g) < abs(pred[best] - g)):
                best = i
            i += 1
        if best is not None:
            used[best] = True
            hits += 1
    return hits, len(pred), len(gold)


def evaluate(corpus: themekit.Corpus, segments: pd.DataFrame) -> dict:
    by_t: dict[str, list] = {}
    for u in corpus:
        by_t.setdefault(u.transcript_id, []).append(u)
    covered = inside_one = 0
    hits = npred = ngold = 0
    for tid, segs in segments.groupby("tid"):
        utts = by_t.get(tid, [])
        text = corpus.transcripts[tid].text
        mask = bytearray(len(text))
        for u in utts:
            mask[u.start:u.end] = b"\x01" * (u.end - u.start)
        for m in _DIRECTION.finditer(text):  # "(laughs)", "(The participant reads...)": not speech
            mask[m.start():m.end()] = b"\x01" * (m.end() - m.start())
        starts = [u.start for u in utts]
        for s, e in zip(segs.start, segs.end):
            chars = [k for k in range(s + _label_len(text[s:e]), e) if text[k].isalnum()]
            if chars and sum(mask[k] for k in chars) >= 0.9 * len(chars):
                covered += 1
            i = bisect.bisect_right(starts, s) - 1
            if i >= 0 and utts[i].start <= s and e <= utts[i].end + 1:
                inside_one += 1
        pred = [b for u in utts for b in (u.start, u.end)]
        gold = [b for s, e in zip(segs.start, segs.end) for b in (s, e)]
        h, p, g = boundary_scores(pred, gold, list(zip(segs.start, segs.end)))
        hits, npred, ngold = hits + h, npred + p, ngold + g
    precision = hits / npred if npred else 0.0
    recall = hits / ngold if ngold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(segments)
    return {"segments": n, "covered": covered / n, "inside_one": inside_one / n,
            "precision": precision, "recall": recall, "f1": f1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--min-chars", type=int, default=Segmenter.min_chars)
    ap.add_argument("--max-chars", type=int, default=Segmenter.max_chars)
    ap.add_argument("--sweep", action="store_true", help="also try other min/max settings")
    args = ap.parse_args(argv)
    serdif = args.data / "serdif"
    if not serdif.is_dir():
        print(f"no data at {serdif}; pass --data", file=sys.stderr)
        return 2
    segments = pd.read_csv(serdif / "coded_segments.csv")
    segments["tid"] = segments.transcript.str.replace(r"\.txt$", "", regex=True)

    settings = [(args.min_chars, args.max_chars)]
    if args.sweep:
        settings += [(0, 400), (10, 400), (30, 400), (40, 400), (20, 250), (20, 600)]
    print("serdif: 17 think-aloud transcripts, 1,794 human-coded segments "
          "(Navarro-Gallinad et al. 2022)")
    print(f"{'min':>4} {'max':>4} {'utts':>6} {'secs':>6} {'covered':>8} {'in one':>7} "
          f"{'b-prec':>7} {'b-rec':>6} {'b-F1':>6}")
    for mn, mx in settings:
        themekit.io.segment.load_spacy(None)  # pipeline load is a one-off cost, not per corpus
        t0 = time.perf_counter()
        corpus = themekit.read_transcripts(serdif / "transcripts",
                                           segmenter=Segmenter(min_chars=mn, max_chars=mx))
        secs = time.perf_counter() - t0
        corpus.check_offsets()
        r = evaluate(corpus, segments)
        print(f"{mn:>4} {mx:>4} {len(corpus):>6} {secs:>6.2f} {r['covered']:>8.3f} "
              f"{r['inside_one']:>7.3f} {r['precision']:>7.3f} {r['recall']:>6.3f} {r['f1']:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
