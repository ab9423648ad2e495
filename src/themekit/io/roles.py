"""Who is speaking: speaker roles decided over the whole study, with the evidence in words.

Readers find speaker labels; this module decides, for every label of every transcript, whether
it is the research team (role ``interviewer``: lead, second interviewer, note-taker, moderator)
or a ``participant`` (interviewee, focus-group member, a relative who joins in). The rule, in
order; the first step that settles a label wins:

1. **What the user said**: ``--roles FILE`` rows (per transcript before study-wide), the
   ``interviewer`` column of ``metadata.csv`` (the research-team label(s) of that transcript,
   separated by ``;``; every other named label there is a participant) and ``--interviewer``
   labels.
2. **Role words in the label**: ``Interviewer``, ``I``, ``IV``, ``Q``, ``INT1``, ``Moderator``,
   ``Facilitator``, ``Researcher``, ``Note-taker`` are the team; ``Participant``,
   ``Interviewee``, ``IE``, ``Befragte(r)``, ``Respondent``, ``R``, ``A`` (of Q/A), ``P3`` are
   participants. A qualifier in brackets is set aside: ``Interviewer (JD)`` is the team.
3. **The participant's id**: a label (or its bracketed qualifier, ``Sam (P03)``) equal to the
   transcript id or to the transcript's participant id in the metadata (``participant_id`` column; ``P7`` matches ``P07``) is that
   participant.
4. **Recurrence across the study**: a (non-placeholder) label speaking in at least half of the
   transcripts (two or more) is the research team (researchers run most interviews; a
   participant is interviewed once or a few times: a longitudinal study, a class seen in several
   lessons), unless it is some transcript's participant id, and
   only in a transcript where some speaker does not recur (else -- a participant seen in every
   wave, generic labels like ``T``/``S`` -- recurrence says nothing there).
5. **The shape of an interview**, for labels still open. Each open label gets one vote per cue
   that marks the interviewer: it speaks first; it asks the largest share of questions; it says
   the fewest words; it says most of the research protocol (recording, consent, anonymising,
   taking notes, "anything else you'd like to add", "thank you for your time"). In a
   one-participant interview (the metadata names one participant, or fewer than four speakers)
   without a known participant, the open label with the fewest votes (ties: most words) is the
   participant; without a known interviewer, the one with the most votes leads. Any other open
   label is the research team when a team member introduces it as team ("this is Dev, who's
   taking notes"), when it speaks the protocol or when most of its turns are questions (a
   second interviewer, a note-taker); otherwise it is a participant (a focus-group member, a
   relative who joins in). A single open label is the participant when only the interviewer is
   known, the interviewer when only the participant is.
6. **Placeholders** (``Unknown Speaker``; ``Speaker N`` once the transcript has a participant):
   each turn takes the side it looks like: a question is the interviewer's, a back-channel
   (``Mm-hmm.``) is the listener's, a statement is the participant's (interviewers ask and
   acknowledge; participants tell). Always marked ``low`` confidence. In a focus group a
   ``Speaker N`` is decided as a whole, like a named speaker.

Confidence: ``high`` for steps 1-4, ``medium`` for step 5 with a clear margin, ``low`` for a
margin of one vote or less and for placeholders. Nothing here is fitted to a data set.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import pandas as pd

from ..types import InputError, strip_directions

__all__ = ["RoleDecision", "decide_roles", "roles_table", "read_role_overrides", "is_backchannel",
           "INTERVIEWER_LABELS", "PARTICIPANT_LABELS", "is_placeholder", "ROLES_COLUMNS", "needs_attention",
           "summary_lines", "decisions_from_settings", "corpus_roles", "write_roles", "NO_LABEL"]

#: labels that name the research team (full match, case-insensitive)
INTERVIEWER_LABELS = (
    r"(?:interviewer|interviewerin|int|iv|i|q|moderator|mod|co-?moderator|facilitator|co-?facilitator|researcher|"
    r"fieldworker|host|note[- ]?taker|notetaker|observer|scribe)(?:[ _-]?\d{1,2})?"
)
#: labels that name a participant. ``R``/``A`` alone only: ``R1``/``A1`` are often team ids.
PARTICIPANT_LABELS = (
    r"(?:participant|interviewee|respondent|informant|pt|p|ie|befragte[rn]?|client|patient|student|pupil|customer|"
    r"caller|user|service[ _-]?user)(?:[ _-]?\d{1,4})?s?|r|a|s|ss|resp"
)
# Unresolved voices from automatic transcription. "Speaker N" is a real speaker whose name is
# unknown; "Unknown Speaker" may be anyone, turn by turn.
_NUMBERED = re.compile(r"^speaker[ _-]?\d{1,3}$", re.IGNORECASE)
_UNKNOWN = re.compile(r"^(?:unknown|unidentified)(?:[ _-]?speaker)?(?:[ _-]?\d{1,3})?$|^speaker\s*\??$",
                      re.IGNORECASE)

_BACKCHANNEL_WORDS = set(
    "mm mmm mhm hm hmm mmhmm mm-hmm uh-huh uhhuh uh huh um er erm ah oh ooh yeah yea yes yep yup "
    "no nope okay ok right sure alright exactly great cool fine good lovely wow absolutely "
    "definitely true indeed really thanks thank you see i of course totally".split()
)

# The research protocol: what interviewers say and participants rarely do (recording, consent,
# anonymity, note-taking, the closing question and thanks). Common to interview studies; not
# taken from any one data set.
_PROTOCOL = re.compile(
    r"\b(?:we|i)(?:'re|’re| are|'m|’m| am)\s+(?:now\s+|just\s+)?recording\b"
    r"|\b(?:stop|pause|end|turn\s+off)\s+(?:the\s+|it\s+)?record(?:ing|er)\b|\brecorder\s+off\b"
    r"|\bthat'?s\s+recording\b|\bit'?s\s+recording\b"
    r"|\bconsent\b|\binformation\s+sheet\b|\banonymi[sz]\w*|\bstop\s+(?:at\s+)?any\s*(?:time|point)\b"
    r"|\bwithdraw\b|\b(?:taking|take|keep|keeping)\s+(?:some\s+)?notes\b|\bnote[- ]?tak\w*|\bresearch\s+team\b"
    r"|\bour\s+team\b|\btime\s+check\b"
    r"|\bthank(?:s| you)\b[^.?!]{0,30}\bfor\s+(?:your\s+time|taking\s+part|agreeing|joining|coming"
    r"|seeing\s+us|talking\s+(?:to|with)\s+(?:me|us))"
    r"|\banything\s+else\b[^.?!]{0,30}\b(?:add|say|tell|share|mention)\b",
    re.IGNORECASE,
)
# "this is Dev, who's taking notes", "Liam from our team is here too"
_TEAM_WORDS = re.compile(r"\b(?:team|notes|note[- ]?taker|colleague|research\w*|university|assist\w*|"
                         r"co-?facilitat\w*|observ\w*)\b", re.IGNORECASE)
_TITLES = {"dr", "dr.", "prof", "prof.", "professor", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss"}

#: how roles.csv names text without a speaker label
NO_LABEL = "(no label)"
NO_LABEL_EVIDENCE = ("text without speaker labels: lines matching the prompt pattern are the "
                     "interviewer's, observations such as '(reads the task)' are 'other', the rest "
                     "participant speech")

ROLES_COLUMNS = ["label", "role", "transcripts", "n_transcripts", "turns", "utterances", "confidence",
                 "evidence"]


def is_backchannel(text: str, max_words: int = 4) -> bool:
    """True for a whole turn like ``Mm-hmm.``, ``Yeah, yeah.`` or ``Okay, right.``."""
    words = re.findall(r"[a-z][a-z'\-]*", strip_directions(text).lower())
    return 0 < len(words) <= max_words and all(w.strip("-'") in _BACKCHANNEL_WORDS for w in words)


def is_placeholder(label: str | None) -> bool:
    """``Speaker 2``, ``Unknown Speaker``: a voice the transcription did not name."""
    return label is not None and bool(_NUMBERED.match(label.strip()) or _UNKNOWN.match(label.strip()))


def _head(label: str) -> str:
    """A label without a bracketed qualifier: ``Interviewer (JD)`` -> ``Interviewer``."""
    return re.sub(r"\s*\([^()]*\)$", "", label.strip()).strip() or label.strip()


def _qualifier(label: str) -> str:
    """The bracketed qualifier of a label: ``Sam (P03)`` -> ``P03``; else ''."""
    m = re.search(r"\(([^()]*)\)$", label.strip())
    return m.group(1).strip() if m else ""


def _norm(label: str) -> str:
    """``P07`` == ``p 7`` == ``P-7``: casefolded, letters (of any script: 李明, Émilie) and digits
    only, no leading zeros."""
    s = re.sub(r"[\W_]", "", str(label).casefold())
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", s)


@dataclass(frozen=True)
class RoleDecision:
    """The role of one speaker label in one transcript and why.

    ``role`` is ``interviewer``, ``participant`` or ``mixed`` (a placeholder whose turns fell on
    both sides); ``turn_roles`` the role of each of the label's turns, in order.
    """

    transcript_id: str
    label: str
    role: str
    confidence: str
    evidence: str
    turn_roles: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """What ``corpus.settings['roles']`` and the run manifest keep (turns counted per role)."""
        return {"transcript_id": self.transcript_id, "label": self.label, "role": self.role,
                "confidence": self.confidence, "evidence": self.evidence,
                "turns": dict(sorted(Counter(self.turn_roles).items()))}


@dataclass
class _Label:
    name: str
    turns: list[int]
    words: int = 0
    questions: int = 0
    protocol: int = 0
    role: str | None = None
    confidence: str = ""
    evidence: str = ""

    @property
    def question_share(self) -> float:
        return self.questions / len(self.turns) if self.turns else 0.0


def read_role_overrides(path) -> list[tuple[str, str, str | None]]:
    """``--roles FILE``: a CSV with ``label,role[,transcript_id]`` → ``(label, role, tid|None)``."""
    from pathlib import Path
    import io as _io

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such roles file; give a CSV with columns label,role[,transcript_id]")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    try:
        df = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(path, f"malformed CSV ({e})") from None
    cols = {c.strip().lower(): c for c in df.columns}
    if "label" not in cols or "role" not in cols:
        raise InputError(path, f"needs columns label and role (and optionally transcript_id); "
                         f"found: {', '.join(df.columns)}", line=1)
    tcol = cols.get("transcript_id") or cols.get("transcript")
    out = []
    for i, row in df.iterrows():
        label, role = row[cols["label"]].strip(), row[cols["role"]].strip().lower()
        if not label:
            raise InputError(path, "empty label", line=int(i) + 2)
        role = {"interviewer": "interviewer", "team": "interviewer", "researcher": "interviewer",
                "moderator": "interviewer", "participant": "participant", "other": "other"}.get(role)
        if role is None:
            raise InputError(path, f"role {row[cols['role']]!r} of label {label!r}: use interviewer, "
                             "participant or other", line=int(i) + 2)
        tid = row[tcol].strip() if tcol else ""
        out.append((label, role, tid or None))
    return out


def _split_labels(value) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [v.strip() for v in re.split(r"[;|]", str(value)) if v.strip()]


#: metadata columns naming the research-team label(s) of each transcript
INTERVIEWER_COLUMNS = ("interviewer", "interviewers", "interviewer_label", "interviewer_labels")


def decide_roles(
    parsed: Sequence[tuple],
    metadata: pd.DataFrame | None = None,
    *,
    interviewer_labels: str = INTERVIEWER_LABELS,
    participant_labels: str = PARTICIPANT_LABELS,
    interviewer: Sequence[str] = (),
    overrides: Sequence[tuple[str, str, str | None]] = (),
    participant_id_column: str | None = None,
) -> tuple[list[tuple], list[RoleDecision]]:
    """Decide the role of every speaker label over a study (the rule is in the module docstring).

    ``parsed`` is ``[(Transcript, [Turn, ...]), ...]`` as readers give them (a turn's role set
    only where the file says it: a table's role column, an unlabelled prompt, an observation).
    Returns the same list with every turn's role filled in, and one :class:`RoleDecision` per
    (transcript, label).
    """
    int_re = re.compile(interviewer_labels, re.IGNORECASE)
    part_re = re.compile(participant_labels, re.IGNORECASE)
    meta = metadata if metadata is not None else pd.DataFrame()
    pid_col = participant_id_column
    if pid_col is None and len(meta.columns):
        lower = {str(c).strip().lower(): c for c in meta.columns}
        pid_col = next((lower[c] for c in ("participant_id", "participant", "case_id", "case")
                        if c in lower), None)
    int_col = next((c for c in meta.columns if str(c).strip().lower() in INTERVIEWER_COLUMNS), None)

    def meta_value(tid, col):
        if col is None or tid not in meta.index:
            return None
        v = meta.at[tid, col]
        return None if v is None or (isinstance(v, float) and v != v) or not str(v).strip() else str(v).strip()

    pids = {t.id: meta_value(t.id, pid_col) for t, _ in parsed}
    all_pids = {_norm(p) for p in pids.values() if p} | {_norm(t.id) for t, _ in parsed}
    # in how many transcripts each named label speaks
    seen: Counter[str] = Counter()
    for t, turns in parsed:
        for name in {tu.speaker.strip() for tu in turns if tu.speaker and not is_placeholder(tu.speaker)}:
            seen[_norm(name)] += 1
    n_transcripts = len(parsed)
    given = {_norm(x) for x in interviewer}
    file_any = {_norm(lb): r for lb, r, tid in overrides if tid is None}
    file_tid = {(tid, _norm(lb)): r for lb, r, tid in overrides if tid is not None}

    out, decisions = [], []
    for transcript, turns in parsed:
        tid, text = transcript.id, transcript.text
        labels: dict[str, _Label] = {}
        for k, tu in enumerate(turns):
            if tu.speaker is None or tu.role is not None:
                continue
            lb = labels.setdefault(tu.speaker, _Label(tu.speaker, []))
            body = strip_directions(text[tu.start:tu.end])
            lb.turns.append(k)
            lb.words += len(body.split())
            lb.questions += "?" in body
            lb.protocol += bool(_PROTOCOL.search(body))
        meta_team = {_norm(x) for x in _split_labels(meta_value(tid, int_col))}
        pid = pids.get(tid)
        own_ids = {_norm(tid)} | ({_norm(pid)} if pid else set())

        def settle(lb, role, conf, why):
            lb.role, lb.confidence, lb.evidence = role, conf, why

        # Recurrence tells the team apart only where someone does not recur: when every speaker
        # of a transcript recurs (a participant seen in several waves, generic labels such as
        # "T"/"S" in classroom data), it says nothing there and the shape of the talk decides.
        others_new = any(is_placeholder(x) or seen[_norm(x)] < 2 or _norm(x) in all_pids
                         or part_re.fullmatch(x.strip()) for x in labels) or \
            any(tu.role == "participant" or tu.speaker is None for tu in turns if tu.speaker not in labels)

        for lb in labels.values():
            key = _norm(lb.name)
            ph = is_placeholder(lb.name)
            if (tid, key) in file_tid:
                settle(lb, file_tid[(tid, key)], "high", "set for this transcript in the roles file")
            elif key in file_any:
                settle(lb, file_any[key], "high", "set in the roles file")
            elif meta_team and key in meta_team:
                settle(lb, "interviewer", "high", f"named in metadata column {int_col!r}")
            elif meta_team and not ph:
                settle(lb, "participant", "high", f"not named in metadata column {int_col!r}")
            elif key in given:
                settle(lb, "interviewer", "high", "named with --interviewer")
            elif ph:
                continue
            elif int_re.fullmatch(_head(lb.name)):
                settle(lb, "interviewer", "high", f"the label {lb.name!r} names the research team")
            elif part_re.fullmatch(_head(lb.name)):
                settle(lb, "participant", "high", f"the label {lb.name!r} names a participant")
            elif key in own_ids or _norm(_qualifier(lb.name)) in own_ids:  # "P03", "Sam (P03)"
                settle(lb, "participant", "high", "the label is this transcript's "
                       + ("participant id in the metadata" if pid and key == _norm(pid) else "id"))
            elif seen[key] >= 2 and seen[key] * 2 >= n_transcripts and key not in all_pids and others_new:
                settle(lb, "interviewer", "high",
                       f"speaks in {seen[key]} of {n_transcripts} transcripts (the research team "
                       "runs most interviews; a participant is interviewed once or a few times)")
        # a focus group: no single participant in the metadata and four or more speakers
        n_speakers = sum(not _UNKNOWN.match(x.strip()) for x in labels)
        _decide_open(labels, turns, text, individual=bool(pid) or n_speakers < 4)
        roles_of_turns = _turn_roles(labels, turns, text)
        new_turns = [replace(tu, role=roles_of_turns.get(k) or tu.role or "participant")
                     for k, tu in enumerate(turns)]
        for lb in labels.values():
            rs = tuple(roles_of_turns[k] for k in lb.turns)
            role = rs[0] if len(set(rs)) == 1 else "mixed"
            decisions.append(RoleDecision(tid, lb.name, role, lb.confidence, lb.evidence, rs))
        # turns whose role the file itself gave, and text without any speaker label
        given: dict[str | None, list[str]] = {}
        for k, tu in enumerate(turns):
            if tu.speaker is None or (tu.role is not None and tu.speaker not in labels):
                given.setdefault(tu.speaker, []).append(new_turns[k].role)
        for name, rs in given.items():
            role = rs[0] if len(set(rs)) == 1 else "mixed"
            why = (NO_LABEL_EVIDENCE if name is None else
                   "role given by the file (a role column, or a professional label such as Therapist)")
            decisions.append(RoleDecision(tid, NO_LABEL if name is None else name, role, "high", why, tuple(rs)))
        out.append((transcript, new_turns))
    return out, decisions


def _votes(cands: list[_Label], turns, first_speaker: str | None) -> dict[str, tuple[int, list[str]]]:
    """Interviewer cues of each candidate: opens, asks most, says least, speaks the protocol."""
    votes = {c.name: [0, []] for c in cands}

    def award(key, why, higher=True):
        vals = {c.name: key(c) for c in cands}
        best = max(vals.values()) if higher else min(vals.values())
        winners = [n for n, v in vals.items() if v == best]
        if len(winners) == 1 and (not higher or best > 0):
            votes[winners[0]][0] += 1
            votes[winners[0]][1].append(why)

    if first_speaker in votes:
        votes[first_speaker][0] += 1
        votes[first_speaker][1].append("speaks first")
    award(lambda c: c.question_share, "asks the largest share of questions")
    award(lambda c: c.words, "says the fewest words", higher=False)
    award(lambda c: c.protocol, "speaks the research protocol (recording, consent, closing)")
    return {k: (v[0], v[1]) for k, v in votes.items()}


def _decide_open(labels: dict[str, _Label], turns, text: str, individual: bool) -> None:
    """Step 5 of the rule: labels no earlier step settled."""
    has_part = any(lb.role == "participant" for lb in labels.values())
    has_team = any(lb.role == "interviewer" for lb in labels.values())
    cands = [lb for lb in labels.values() if lb.role is None and
             (not is_placeholder(lb.name) or (_NUMBERED.match(lb.name.strip()) and not has_part))]
    if not cands:
        return
    if len(cands) == 1 and not (has_team and has_part):
        c = cands[0]
        c.confidence = "medium"
        if has_team:
            c.role, c.evidence = "participant", "the only other speaker; the interviewer is known"
        elif has_part:
            c.role, c.evidence = "interviewer", "the only speaker not known as a participant"
        else:
            c.role, c.evidence = "participant", "the only speaker"
        return
    first = next((tu.speaker for tu in turns if tu.speaker is not None), None)  # who opens
    v = _votes(cands, turns, first)

    def why(c):
        cues = v[c.name][1]
        return f"{v[c.name][0]} of 4 interviewer cues" + (f" ({'; '.join(cues)})" if cues else "")

    def margin(c, others):
        return abs(v[c.name][0] - max((v[o.name][0] for o in others if o is not c), default=0))

    rest = list(cands)
    if individual and not has_part:   # the interviewee: fewest interviewer cues, then most words
        part = min(rest, key=lambda c: (v[c.name][0], -c.words, c.turns[0]))
        others = [c for c in rest if c is not part]
        gap = min(v[o.name][0] for o in others) - v[part.name][0]
        part.role, part.confidence = "participant", "medium" if gap >= 2 else "low"
        part.evidence = f"the interviewee: fewest interviewer cues among the speakers, {why(part)}"
        rest = others
    if not has_team and rest:         # the lead: most interviewer cues, then who spoke first
        lead = max(rest, key=lambda c: (v[c.name][0], -c.turns[0]))
        lead.role = "interviewer"
        lead.confidence = "medium" if margin(lead, rest) >= 2 or len(rest) == 1 else "low"
        if individual and not has_part and lead.confidence == "medium":
            lead.confidence = part.confidence
        lead.evidence = f"leads the interview: {why(lead)}"
        rest = [c for c in rest if c is not lead]
    # Anyone else: a second interviewer or note-taker shows it by speaking the protocol, by
    # being introduced as team, or by mostly asking questions; otherwise a participant (a
    # focus-group member, a relative who joins in).
    team = [lb.name for lb in labels.values() if lb.role == "interviewer"]
    for c in rest:
        if individual and is_placeholder(c.name):
            continue  # decided turn by turn
        intro = _introduced_as_team(c.name, team, labels, turns, text)
        c.confidence = "medium"
        if intro:
            c.role, c.evidence = "interviewer", f"introduced as part of the team by {intro}"
        elif c.protocol:
            c.role, c.evidence = "interviewer", f"speaks the research protocol in {c.protocol} turn(s)"
        elif c.question_share > 0.5:
            c.role, c.evidence = "interviewer", (f"most of its turns are questions "
                                                 f"({c.questions} of {len(c.turns)})")
        else:
            c.role, c.evidence = "participant", ("neither leads, speaks the research protocol, is "
                                                 "introduced as team, nor mostly asks questions")


def _introduced_as_team(name: str, team: list[str], labels, turns, text: str) -> str:
    words = [w for w in re.findall(r"[\w’'-]+", name) if w.lower() not in _TITLES]
    if not words:
        return ""
    first = re.compile(rf"\b{re.escape(words[0])}\b")
    for who in team:
        for k in labels[who].turns:
            for sent in re.split(r"(?<=[.!?])\s+", text[turns[k].start:turns[k].end]):
                if first.search(sent) and _TEAM_WORDS.search(sent):
                    return who
    return ""


def _turn_roles(labels: dict[str, _Label], turns, text: str) -> dict[int, str]:
    """Role of every turn; placeholders' turns one by one (step 6)."""
    out: dict[int, str] = {}
    for lb in labels.values():
        if lb.role is not None:
            for k in lb.turns:
                out[k] = lb.role
    prev_role: str | None = None
    for k, tu in enumerate(turns):
        if k in out:
            pass
        elif tu.role is not None:
            out[k] = tu.role
        elif tu.speaker is None:
            out[k] = "participant"
        else:  # a placeholder not settled
            body = strip_directions(text[tu.start:tu.end])
            if "?" in body:
                out[k] = "interviewer"
            elif is_backchannel(body) and prev_role in ("interviewer", "participant"):
                out[k] = "participant" if prev_role == "interviewer" else "interviewer"
            else:  # interviewers ask and acknowledge; participants tell
                out[k] = "participant"
            lb = labels[tu.speaker]
            lb.confidence = "low"
            lb.evidence = ("an unresolved speaker: each turn takes the side it looks like (a question: "
                           "interviewer; a back-channel: the listener of the turn before; a statement: "
                           "participant)")
        if tu.speaker is None or not is_placeholder(tu.speaker) or labels.get(tu.speaker, _Label("", [])).role:
            prev_role = out[k]
    return out


def roles_table(decisions: Sequence[RoleDecision], utterances: Sequence = ()) -> pd.DataFrame:
    """One row per (label, role) over the study: in which transcripts, how many turns and
    utterances, the lowest confidence and the evidence (``roles.csv``)."""
    n_utt: Counter = Counter()
    for u in utterances:
        n_utt[(u.transcript_id, NO_LABEL if u.speaker is None else u.speaker, u.role)] += 1
    rows: dict[tuple[str, str], dict] = {}
    rank = {"high": 0, "medium": 1, "low": 2, "": 3}
    for d in decisions:
        for role in sorted(set(d.turn_roles)) or [d.role]:
            r = rows.setdefault((d.label, role), {"label": d.label, "role": role, "transcripts": [],
                                                 "turns": 0, "utterances": 0, "confidence": "high",
                                                 "evidence": []})
            r["transcripts"].append(d.transcript_id)
            r["turns"] += sum(x == role for x in d.turn_roles)
            r["utterances"] += n_utt[(d.transcript_id, d.label, role)]
            if rank[d.confidence] > rank[r["confidence"]]:
                r["confidence"] = d.confidence
            r["evidence"].append((d.transcript_id, d.evidence))
    table = []
    for r in rows.values():
        distinct = list(dict.fromkeys(e for _, e in r["evidence"]))
        evidence = distinct[0] if len(distinct) == 1 else " | ".join(f"{t}: {e}" for t, e in r["evidence"])
        table.append({**r, "transcripts": ";".join(r["transcripts"]), "n_transcripts": len(r["transcripts"]),
                      "evidence": evidence})
    df = pd.DataFrame(table, columns=ROLES_COLUMNS)
    return df.sort_values(["label", "role"], kind="stable").reset_index(drop=True)


def needs_attention(table: pd.DataFrame) -> pd.DataFrame:
    """Rows a user should look at: uncertain, or a label whose role differs between transcripts."""
    if table.empty:
        return table
    split = (table.groupby("label")["role"].transform("nunique") > 1) & (table["label"] != NO_LABEL)
    return table[(table["confidence"] == "low") | split]


def summary_lines(table: pd.DataFrame, max_rows: int = 12) -> list[str]:
    """A short table of the labels to check, or nothing when every label is clear."""
    rows = needs_attention(table)
    if rows.empty:
        return []
    lines = [f"Speaker roles to check ({len(rows)} of {len(table)} label/role rows; all in roles.csv; "
             "fix with --roles FILE):"]
    lines.append(f"  {'label':<22} {'role':<12} {'transcripts':>11} {'turns':>6}  confidence")
    for r in rows.head(max_rows).itertuples():
        lines.append(f"  {str(r.label)[:22]:<22} {r.role:<12} {r.n_transcripts:>11} {r.turns:>6}  {r.confidence}")
    if len(rows) > max_rows:
        lines.append(f"  ... and {len(rows) - max_rows} more")
    return lines


def decisions_from_settings(settings: Mapping) -> list[RoleDecision]:
    """The decisions a corpus keeps in ``corpus.settings['roles']``."""
    return [RoleDecision(d["transcript_id"], d["label"], d["role"], d["confidence"], d["evidence"],
                         tuple(r for r, n in d.get("turns", {}).items() for _ in range(n)))
            for d in settings.get("roles", [])]


def corpus_roles(corpus) -> pd.DataFrame:
    """``roles.csv`` of a corpus read by :func:`~themekit.io.read_transcripts`."""
    return roles_table(decisions_from_settings(corpus.settings), corpus.utterances)


def write_roles(corpus, path) -> tuple[pd.DataFrame, list[str]]:
    """Write ``roles.csv`` atomically; returns the table and the lines to print (if any)."""
    from ..types import atomic_write

    table = corpus_roles(corpus)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table, summary_lines(table)
