"""Render the hand-written role-detection corpus from bench/roles/source/*.dlg.

Every dialogue in source/ was written by hand for this benchmark (invented people, invented
studies).  This script only lays the turns out in the export format named in each header
(Otter txt, Teams WebVTT, Zoom/Otter SRT, inline labels, ...), adds plausible timings, and
writes the truth files.  Run:  python bench/roles/build.py   (stdlib only, deterministic).

Source format (one file per study folder, several transcripts each):

    ### <transcript_id>
    format: otter | inline | inline_ts_bracket | inline_ts_paren | ownline | vtt | srt
    meta: participant_id=P1; site=...            (optional, -> metadata.csv)
    roles: A1=interviewer; P1=participant        (default role of each label)
    options: compact; footer                     (optional: no blank lines between turns; Otter footer)
    header: Interview 15 - transcribed by JM     (optional title line above an inline transcript)
    Label: turn text
    + another paragraph of the same turn
    Unknown Speaker [participant]: a turn whose role is given per turn
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROLES = {"interviewer", "participant"}


def parse_source(path: Path) -> list[dict]:
    items: list[dict] = []
    cur = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or line.startswith("//"):
            continue
        if line.startswith("### "):
            cur = {"id": line[4:].strip(), "format": None, "meta": {}, "roles": {},
                   "options": set(), "turns": [], "src": f"{path.name}:{n}"}
            items.append(cur)
            continue
        assert cur is not None, f"{path}:{n}: text before the first ### header"
        head = re.match(r"^(format|meta|roles|options|header):\s*(.*)$", line)
        if head and not cur["turns"]:
            key, val = head.groups()
            if key in ("format", "header"):
                cur[key] = val.strip()
            elif key == "options":
                cur["options"] = {v.strip() for v in val.split(";") if v.strip()}
            else:
                for part in val.split(";"):
                    if part.strip():
                        k, v = part.split("=", 1)
                        cur[key][k.strip()] = v.strip()
            continue
        if line.startswith("+ "):
            assert cur["turns"], f"{path}:{n}: continuation before any turn"
            cur["turns"][-1]["paras"].append(line[2:].strip())
            continue
        m = re.match(r"^(?P<label>[^:\[]+?)\s*(?:\[(?P<role>\w+)\])?:\s+(?P<text>\S.*)$", line)
        assert m, f"{path}:{n}: cannot parse turn line {line[:60]!r}"
        label = m["label"].strip()
        role = m["role"] or cur["roles"].get(label)
        assert role in ROLES, f"{path}:{n}: no role for label {label!r}"
        if cur["turns"]:
            assert cur["turns"][-1]["label"] != label, \
                f"{path}:{n}: two consecutive turns by {label!r} would merge into one"
        cur["turns"].append({"label": label, "role": role, "paras": [m["text"].strip()]})
    for it in items:
        assert it["format"], f"{it['src']}: no format"
    return items


# -- timing ----------------------------------------------------------------------------------

def timings(item: dict) -> list[tuple[float, float]]:
    rng = random.Random(int(hashlib.md5(item["id"].encode()).hexdigest()[:8], 16))
    t = rng.uniform(0.4, 3.0)
    out = []
    for turn in item["turns"]:
        words = sum(len(p.split()) for p in turn["paras"])
        dur = max(0.8, words / rng.uniform(2.2, 3.0))
        out.append((t, t + dur))
        t += dur + rng.uniform(0.3, 1.6)
    return out


def hms(t: float, sep: str = ".") -> str:
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{int(s):02d}{sep}{int(round((s % 1) * 1000)) % 1000:03d}"


def otter_ts(t: float) -> str:
    h, rem = divmod(int(t), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def cue_chunks(text: str, max_words: int = 18) -> list[str]:
    sents = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    chunks, cur = [], []
    for s in sents:
        if cur and len(" ".join(cur + [s]).split()) > max_words:
            chunks.append(" ".join(cur))
            cur = []
        cur.append(s)
    if cur:
        chunks.append(" ".join(cur))
    return chunks


# -- renderers ---------------------------------------------------------------------------------

def render(item: dict) -> tuple[str, str]:
    fmt, turns, opts = item["format"], item["turns"], item["options"]
    times = timings(item)
    sep = "\n" if "compact" in opts else "\n\n"
    if fmt == "otter":
        out = [f"{t['label']}  {otter_ts(t0)}\n{' '.join(t['paras'])}\n" for t, (t0, _) in zip(turns, times)]
        text = "\n".join(out)
        if "footer" in opts:
            text += "\n\nTranscribed by https://otter.ai\n"
        return text, ".txt"
    if fmt in ("inline", "inline_ts_bracket", "inline_ts_paren"):
        out = []
        for t, (t0, _) in zip(turns, times):
            body = "\n".join(t["paras"])
            if fmt == "inline":
                out.append(f"{t['label']}: {body}")
            elif fmt == "inline_ts_bracket":
                out.append(f"[{hms(t0)[:8]}] {t['label']}: {body}")
            else:
                out.append(f"{t['label']} ({hms(t0)[:8]}): {body}")
        header = item.get("header")
        text = (header + "\n\n" if header else "") + sep.join(out) + "\n"
        return text, ".txt"
    if fmt == "ownline":
        out = [f"{t['label']}\n" + "\n".join(t["paras"]) for t in turns]
        return "\n\n".join(out) + "\n", ".txt"
    if fmt in ("vtt", "srt"):
        rng = random.Random(item["id"])
        lines = ["WEBVTT", ""] if fmt == "vtt" else []
        n = 0
        for ti, (t, (t0, t1)) in enumerate(zip(turns, times)):
            chunks = cue_chunks(" ".join(t["paras"]))
            total = sum(len(c.split()) for c in chunks)
            a = t0
            guid = "%08x-%04x-%04x-%04x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 16, 16, 48))
            for k, c in enumerate(chunks):
                b = a + (t1 - t0) * len(c.split()) / total
                n += 1
                if fmt == "vtt":
                    lines += [f"{guid}/{ti * 3 + 1}-{k}", f"{hms(a)} --> {hms(b)}",
                              f"<v {t['label']}>{c}</v>", ""]
                else:
                    lines += [str(n), f"{hms(a, ',')} --> {hms(b, ',')}", f"{t['label']}: {c}", ""]
                a = b + 0.05
        return "\n".join(lines), f".{fmt}"
    raise ValueError(f"{item['src']}: unknown format {fmt}")


def first_words(item_turn: dict, n: int = 8) -> str:
    return " ".join(" ".join(item_turn["paras"]).split()[:n])


def build(study: str, items: list[dict]) -> tuple[int, int]:
    folder = HERE / study
    tdir = folder / "transcripts"
    tdir.mkdir(parents=True, exist_ok=True)
    for old in tdir.iterdir():
        old.unlink()
    turn_rows, label_rows, meta_rows = [], [], []
    for it in items:
        text, ext = render(it)
        (tdir / f"{it['id']}{ext}").write_text(text, encoding="utf-8", newline="\n")
        by_label: dict[str, set[str]] = {}
        for i, t in enumerate(it["turns"]):
            turn_rows.append([it["id"], i, t["label"], t["role"], first_words(t)])
            by_label.setdefault(t["label"], set()).add(t["role"])
        for label, roles in by_label.items():
            if len(roles) == 1:
                label_rows.append([it["id"], label, next(iter(roles))])
        meta = dict(it["meta"])
        if meta:
            meta_rows.append({"transcript_id": it["id"], **meta})
    with open(folder / "turn_truth.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["transcript_id", "turn_index", "label", "role", "first_words"])
        w.writerows(turn_rows)
    with open(folder / "truth.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["transcript_id", "label", "role"])
        w.writerows(label_rows)
    meta_path = folder / "metadata.csv"
    if meta_rows:
        cols = ["transcript_id"] + sorted({k for r in meta_rows for k in r} - {"transcript_id"},
                                          key=lambda k: (k != "participant_id", k))
        with open(meta_path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, cols, lineterminator="\n")
            w.writeheader()
            w.writerows(meta_rows)
    elif meta_path.exists():
        meta_path.unlink()
    return len(items), len(turn_rows)


def main() -> int:
    for src in sorted((HERE / "source").glob("*.dlg")):
        n_t, n_turns = build(src.stem, parse_source(src))
        print(f"{src.stem:26s} {n_t:3d} transcripts {n_turns:5d} turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
