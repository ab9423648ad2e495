"""Speaker roles decided over the whole study (themekit.io.roles), what is said about them
(roles.csv, the printed table, the manifest) and how users override them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import themekit
from themekit.cli import main
from themekit.io import ReaderOptions, corpus_roles, read_role_overrides
from themekit.io.readers import parse_labelled_text, read_file
from themekit.io.roles import is_placeholder, needs_attention
from themekit.types import InputError


def study(tmp_path: Path, files: dict[str, str], metadata: str | None = None) -> Path:
    (tmp_path / "transcripts").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / "transcripts" / name).write_text(text, encoding="utf-8")
    if metadata is not None:
        (tmp_path / "metadata.csv").write_text(metadata, encoding="utf-8")
    return tmp_path


def roles_of(corpus) -> dict[str, dict[str, str]]:
    """{transcript: {label: role}} from the utterances."""
    out: dict[str, dict[str, set]] = {}
    for u in corpus:
        out.setdefault(u.transcript_id, {}).setdefault(u.speaker, set()).add(u.role)
    return {t: {s: "/".join(sorted(r)) for s, r in d.items()} for t, d in out.items()}


def otter(*turns: tuple[str, str]) -> str:
    return "\n".join(f"{label}  0:{10 + 3 * i:02d}\n{text}\n" for i, (label, text) in enumerate(turns))


# A lead researcher "A1" in every interview, experts labelled by name; in ex3 A1 talks more than
# the expert and the expert asks the questions, so a per-transcript guess would flip the roles.
EX1 = otter(("A1", "Thanks for joining. Could you tell me about your role?"),
            ("Mina Patel", "I lead the virtual ward team, twelve nurses and two doctors, across two sites."),
            ("A1", "How did the rollout go?"),
            ("Mina Patel", "Slowly at first, the devices arrived late and the training was rushed."))
EX2 = otter(("A1", "Thanks for joining. What does your week look like?"),
            ("Tom Reyes", "Mostly triage of the readings, then calls to the patients who flag."),
            ("A1", "And the alerts?"),
            ("Tom Reyes", "Too many of them, honestly, most are false alarms from cuffs put on wrongly."))
EX3 = otter(("A1", "So we have been hearing a lot about alerts from other sites, and the teams there have "
                   "tried different thresholds, some of them quite high, and that seems to help a lot."),
            ("Jo Kim", "Which thresholds? Who set them?"),
            ("A1", "Mostly the clinical leads at each site, after a few weeks of running the service and "
                   "looking at how many of the alerts turned out to be real ones."),
            ("Jo Kim", "Did that work? Were patients safe?"))


def test_a_label_recurring_across_the_study_is_the_research_team(tmp_path):
    corpus = themekit.read_transcripts(study(tmp_path, {"ex1.txt": EX1, "ex2.txt": EX2, "ex3.txt": EX3}))
    assert roles_of(corpus) == {
        "ex1": {"A1": "interviewer", "Mina Patel": "participant"},
        "ex2": {"A1": "interviewer", "Tom Reyes": "participant"},
        "ex3": {"A1": "interviewer", "Jo Kim": "participant"},
    }
    # alone, ex3 is read by the shape of the interview: Jo Kim asks the questions and says less
    [(_, turns)] = read_file(tmp_path / "transcripts" / "ex3.txt")
    assert {t.speaker: t.role for t in turns} == {"A1": "participant", "Jo Kim": "interviewer"}
    table = corpus_roles(corpus).set_index(["label", "role"])
    assert table.loc[("A1", "interviewer"), "n_transcripts"] == 3
    assert table.loc[("A1", "interviewer"), "evidence"].startswith("speaks in 3 of 3 transcripts")
    assert table.loc[("A1", "interviewer"), "confidence"] == "high"


def test_the_participant_id_in_metadata_names_the_participant(tmp_path):
    text = otter(("P3", "Before we start, is this recorded? Who will read it?"),
                 ("R1", "Yes, it's recorded and anonymised; only the research team reads it."),
                 ("P3", "Okay, fine."),
                 ("R1", "Could you tell me about the service and how you came to use it?"))
    corpus = themekit.read_transcripts(study(tmp_path, {"int_07.txt": text},
                                             "transcript_id,participant_id\nint_07,P03\n"))
    assert roles_of(corpus) == {"int_07": {"P3": "participant", "R1": "interviewer"}}
    ev = corpus_roles(corpus).set_index("label")["evidence"]
    assert ev["P3"] == "the label 'P3' names a participant"
    assert ev["R1"] == "the only speaker not known as a participant"


def test_transcript_id_as_label_and_a_named_note_taker(tmp_path):
    text = ("Dr Lee: Thanks for seeing us. Sam is here too, taking notes for the research team.\n"
            "Sam Ortiz: Hello.\n"
            "S07: Hello both. Where do you want me to start?\n"
            "Dr Lee: With your role, please.\n"
            "S07: I coordinate discharges for two wards, mostly older people going home with care.\n"
            "Sam Ortiz: Sorry, how many wards was that?\n"
            "S07: Two wards, about sixty beds.\n")
    corpus = themekit.read_transcripts(study(tmp_path, {"S07.txt": text}))
    assert roles_of(corpus) == {"S07": {"Dr Lee": "interviewer", "Sam Ortiz": "interviewer",
                                        "S07": "participant"}}


def test_focus_group_moderator_and_introduced_note_taker(tmp_path):
    text = ("Ruth: Thanks for coming, everyone. We're recording, and this is Ali, who is taking notes. "
            "What brought you to the group?\n"
            "Ali: Hello all.\n"
            "Maya: My doctor suggested it.\n"
            "Owen: A leaflet in the library.\n"
            "Ines: My daughter found it online and drove me here.\n"
            "Ruth: What has been most useful so far?\n"
            "Owen: Meeting people in the same boat, to be honest.\n"
            "Maya: The exercises, I do them every morning now.\n"
            "Ines: Same for me, the exercises.\n"
            "Ali: Thank you all, that was really helpful.\n")
    corpus = themekit.read_transcripts(study(tmp_path, {"fg1.txt": text}))
    assert roles_of(corpus)["fg1"] == {"Ruth": "interviewer", "Ali": "interviewer", "Maya": "participant",
                                       "Owen": "participant", "Ines": "participant"}


def test_placeholders_take_the_side_their_turns_look_like():
    text = ("Interviewer: How was the pharmacy visit?\n"
            "P2: Quick, she looked at my throat and gave me the tablets straight away.\n"
            "Unknown Speaker: Mm-hmm.\n"
            "P2: And it was free, which surprised me.\n"
            "Unknown Speaker: Which was a relief, honestly.\n"
            "Unknown Speaker: Would you go back?\n"
            "P2: Yes.\n")
    turns = parse_labelled_text(text)
    assert [(t.speaker, t.role) for t in turns] == [
        ("Interviewer", "interviewer"), ("P2", "participant"),
        ("Unknown Speaker", "interviewer"),            # a back-channel: the listener
        ("P2", "participant"),
        ("Unknown Speaker", "participant"),            # a statement
        ("Unknown Speaker", "interviewer"),            # a question
        ("P2", "participant")]


def test_unknown_speaker_and_device_names_are_labels():
    inline_once = "Speaker 1: How was it?\nSpeaker 2: Fine, thanks, quite quick.\nUnknown Speaker: And cheap.\n"
    assert [t.speaker for t in parse_labelled_text(inline_once)] == ["Speaker 1", "Speaker 2", "Unknown Speaker"]
    own_line = ("A1  0:01\nHow was it?\n\nP1  0:04\nFine, thanks.\n\nUnknown Speaker  0:09\n"
                "It was quick.\n\nA1  0:12\nGood.\n")
    assert [t.speaker for t in parse_labelled_text(own_line)] == ["A1", "P1", "Unknown Speaker", "A1"]
    # a name with a lower-case word (a device) is a label; a sentence with a colon is not
    text = ("Usability Lab: Is that Sam?\nSam’s iPhone: Yes, my laptop died.\nUsability Lab: No problem.\n"
            "Sam’s iPhone: Great.\n")
    assert [t.speaker for t in parse_labelled_text(text)] == ["Usability Lab", "Sam’s iPhone"] * 2
    assert parse_labelled_text("P1: Well the thing is: nobody read it.\n")[0].speaker == "P1"
    assert is_placeholder("Speaker 3") and is_placeholder("Unknown Speaker") and not is_placeholder("Speakman")


def test_srt_device_label(tmp_path):
    srt = ("1\n00:00:01,000 --> 00:00:03,000\nUsability Lab: Is that Sam?\n\n"
           "2\n00:00:03,500 --> 00:00:06,000\nSam’s iPhone: Yes, sorry, my laptop died this morning.\n")
    (tmp_path / "u03.srt").write_text(srt, encoding="utf-8")
    [(t, turns)] = read_file(tmp_path / "u03.srt")
    assert [(x.speaker, x.role) for x in turns] == [("Usability Lab", "interviewer"), ("Sam’s iPhone", "participant")]
    assert t.text.startswith("Usability Lab: Is that Sam?")


def test_roles_file_and_metadata_column_override(tmp_path):
    folder = study(tmp_path, {"ex1.txt": EX1, "ex2.txt": EX2, "ex3.txt": EX3},
                   "transcript_id,interviewer\nex1,Mina Patel\nex2,\nex3,\n")
    corpus = themekit.read_transcripts(folder)
    assert roles_of(corpus)["ex1"] == {"A1": "participant", "Mina Patel": "interviewer"}
    assert roles_of(corpus)["ex2"] == {"A1": "interviewer", "Tom Reyes": "participant"}
    roles = tmp_path / "roles_in.csv"
    roles.write_text("label,role,transcript_id\nJo Kim,interviewer,ex3\nA1,participant,ex3\n"
                     "Tom Reyes,participant,\n", encoding="utf-8")
    opts = ReaderOptions(roles=tuple(read_role_overrides(roles)))
    corpus = themekit.read_transcripts(folder, reader=opts)
    assert roles_of(corpus)["ex3"] == {"A1": "participant", "Jo Kim": "interviewer"}
    assert roles_of(corpus)["ex2"] == {"A1": "interviewer", "Tom Reyes": "participant"}
    ev = corpus_roles(corpus).set_index(["label", "role"])["evidence"]
    assert ev[("Jo Kim", "interviewer")] == "set for this transcript in the roles file"
    assert ev[("Tom Reyes", "participant")] == "set in the roles file"


@pytest.mark.parametrize("content, message, line", [
    ("speaker,role\nA1,interviewer\n", "needs columns label and role", 1),
    ("label,role\nA1,interviewer\nP1,boss\n", "role 'boss' of label 'P1'", 3),
])
def test_bad_roles_file_names_the_line(tmp_path, content, message, line):
    p = tmp_path / "roles.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as e:
        read_role_overrides(p)
    assert e.value.line == line and "roles.csv" in str(e.value)


def test_roles_file_for_unknown_transcript(tmp_path):
    folder = study(tmp_path, {"ex1.txt": EX1})
    opts = ReaderOptions(roles=(("A1", "interviewer", "ex9"),))
    with pytest.raises(InputError, match="transcript 'ex9'"):
        themekit.read_transcripts(folder, reader=opts)


def test_ingest_writes_roles_csv_and_prints_labels_to_check(tmp_path, capsys):
    a = "Speaker 1: How was it?\nSpeaker 2: It was fine, the nurse was kind and quick.\nSpeaker 1: Thanks.\n"
    b = ("Speaker 1: Hello, can you hear me? I'm on the bus.\nSpeaker 2: Yes. We're recording now. "
         "How did the visit go?\nSpeaker 1: Long wait, two hours, then ten minutes with the doctor.\n")
    folder = study(tmp_path / "s", {"a.txt": a, "b.txt": b})
    out = tmp_path / "o" / "corpus.parquet"
    assert main(["ingest", str(folder), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Speaker roles to check" in printed and "roles.csv" in printed
    table = pd.read_csv(tmp_path / "o" / "roles.csv")
    assert list(table.columns) == ["label", "role", "transcripts", "n_transcripts", "turns", "utterances",
                                   "confidence", "evidence"]
    assert table[["label", "role", "transcripts"]].values.tolist() == [
        ["Speaker 1", "interviewer", "a"], ["Speaker 1", "participant", "b"],
        ["Speaker 2", "interviewer", "b"], ["Speaker 2", "participant", "a"]]
    assert len(needs_attention(table)) == 4           # each label's role differs between transcripts
    corpus = themekit.Corpus.load(out)
    assert {d["label"] for d in corpus.settings["roles"]} == {"Speaker 1", "Speaker 2"}


def test_ingest_prints_nothing_about_roles_when_all_are_clear(tmp_path, capsys):
    folder = study(tmp_path / "s", {"ex1.txt": EX1, "ex2.txt": EX2})
    assert main(["ingest", str(folder), "-o", str(tmp_path / "c.csv")]) == 0
    assert "to check" not in capsys.readouterr().out
    assert (tmp_path / "roles.csv").is_file()


def test_run_with_one_participant_utterance_stops_cleanly(tmp_path, capsys):
    folder = study(tmp_path / "s", {"P01.txt": "Interviewer: How was it?\nP01: It was fine, nothing to add.\n"})
    out = tmp_path / "out"
    assert main(["run", str(folder), "-o", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "only 1 participant utterance(s)" in err[0] and "--roles" in err[0]
    assert not out.exists()


def test_a_participant_interviewed_in_two_waves_is_still_the_participant(tmp_path):
    w = ("Sarah Okafor: Thanks for talking to me again. How have things changed since last time?\n"
         "Rachel Whitmore: A lot, we moved to the new system in March and the first weeks were chaos.\n"
         "Sarah Okafor: What kind of chaos?\n"
         "Rachel Whitmore: Lost referrals mostly, and nobody knew who was meant to chase them up.\n")
    corpus = themekit.read_transcripts(study(tmp_path, {"wave1.txt": w, "wave2.txt": w}))
    assert roles_of(corpus)["wave2"] == {"Sarah Okafor": "interviewer", "Rachel Whitmore": "participant"}
    ev = corpus_roles(corpus).set_index("label")["evidence"]
    assert ev["Rachel Whitmore"].startswith("the interviewee")


def test_roles_survive_a_refi_qda_round_trip(tmp_path):
    from themekit.codebook import Code, Codebook, export_qdpx, import_qdpx

    corpus = themekit.read_transcripts(study(tmp_path / "s", {"ex1.txt": EX1, "ex2.txt": EX2, "ex3.txt": EX3}))
    export_qdpx(tmp_path / "p.qdpx", corpus, Codebook([Code(None, "Alerts"), Code(None, "Rollout")]))
    corpus2, _, _ = import_qdpx(tmp_path / "p.qdpx")
    # ex3 read alone would make A1 the participant; the roles chosen over the study come back
    assert roles_of(corpus2) == roles_of(corpus)
    assert roles_of(corpus2)["ex3"] == {"A1": "interviewer", "Jo Kim": "participant"}


def test_an_unnamed_focus_group():
    text = ("Speaker 1: Thanks for coming, everyone. We're recording. What do you think of the new clinic hours?\n"
            "Speaker 2: Better than before, I can come after work now.\n"
            "Speaker 3: I still can't, I work until eight most days.\n"
            "Speaker 4: Same here, weekends would help me more than late evenings.\n"
            "Speaker 5: I'm retired, so it makes no difference to me.\n"
            "Speaker 1: And booking, how has that been?\n"
            "Speaker 3: The phone line is always busy in the morning.\n"
            "Speaker 5: I use the app now, my grandson set it up for me.\n"
            "Speaker 2: The app is fine once you are in, but the login is a pain.\n"
            "Speaker 4: I've never managed to log in at all.\n")
    turns = parse_labelled_text(text)
    assert {t.speaker: t.role for t in turns} == {"Speaker 1": "interviewer", "Speaker 2": "participant",
                                                  "Speaker 3": "participant", "Speaker 4": "participant",
                                                  "Speaker 5": "participant"}


def test_a_participant_seen_in_a_few_transcripts_is_not_the_team(tmp_path):
    def talk(who):
        return (f"Dr Lee: Thanks for coming in. How has the new rota worked for you?\n"
                f"{who}: Mostly fine, but the weekend shifts are still short of staff most weeks.\n"
                f"Dr Lee: What would help?\n"
                f"{who}: Another healthcare assistant on Saturdays, and fewer agency staff.\n")
    files = {"w1_a.txt": talk("Ana Silva"), "w2_a.txt": talk("Ana Silva"), "w1_b.txt": talk("Ben Cole"),
             "w1_c.txt": talk("Cy Diaz"), "w1_d.txt": talk("Di Egan")}
    corpus = themekit.read_transcripts(study(tmp_path, files))
    assert {t: r["Ana Silva"] for t, r in roles_of(corpus).items() if "Ana Silva" in r} == {
        "w1_a": "participant", "w2_a": "participant"}
    assert all(r["Dr Lee"] == "interviewer" for r in roles_of(corpus).values())
