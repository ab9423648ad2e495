"""REFI-QDA project exchange (.qdpx): export, import, round trip, schema, errors."""

from __future__ import annotations

import logging
import zipfile

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from themekit.codebook import Code, Codebook
from themekit.codebook.coding import CodedSegment
from themekit.io.readers import ReaderOptions, parse_labelled_text
from themekit.codebook.refi import (PROJECT_NAMESPACE, SUGGESTION_USER, export_qdpx, import_qdpx, project_xml,
                           validate_project)
from themekit.io.segment import Segmenter
from themekit.types import Corpus, InputError, Transcript

NS = {"p": PROJECT_NAMESPACE}

P01 = ("Interviewer: How did you first hear about the tool?\n"
       "P01: At a team meeting — honestly I didn't get it at first 🙂. It seemed like the old form.\n"
       "Interviewer: And now?\n"
       "P01: Now it sorts people into queues, which saves time for the naïve among us.\n")
P02 = ("Interviewer: What worried you?\n"
       "P02: Risk. The 日本語 notes aside, the flags were too cautious (laughs) and we overrode them.\n"
       "Interviewer: Anything else?\n"
       "P02: Waiting lists, mostly. Six weeks is a long time when you're struggling.\n")


def make_corpus(texts: dict[str, str], metadata: pd.DataFrame | None = None) -> Corpus:
    seg = Segmenter()
    transcripts, utterances = [], []
    for tid, text in texts.items():
        t = Transcript(tid, text, f"{tid}.txt", "txt")
        transcripts.append(t)
        utterances.extend(seg.segment(t, parse_labelled_text(text, ReaderOptions())))
    settings = {"reader": {"prompt_pattern": ReaderOptions().prompt_pattern,
                           "interviewer_labels": ReaderOptions().interviewer_labels, "interviewer": []},
                "segmenter": seg.get_params()}
    return Corpus(transcripts, utterances, metadata, settings)


def span(corpus: Corpus, tid: str, quote: str) -> tuple[int, int]:
    s = corpus.transcripts[tid].text.index(quote)
    return s, s + len(quote)


def seg(corpus, tid, quote, code, coder, order=None) -> CodedSegment:
    s, e = span(corpus, tid, quote)
    return CodedSegment(tid, s, e, code, coder, quote, order)


@pytest.fixture(scope="module")
def study():
    meta = pd.DataFrame({"participant_id": ["P01", "P02"], "site": ["Site A", "Site B"],
                         "wave": ["1", "2"]}, index=pd.Index(["P01", "P02"], name="transcript_id"), dtype=str)
    corpus = make_corpus({"P01": P01, "P02": P02}, meta)
    codebook = Codebook([
        Code(None, "Coherence", definition="Sense-making.", is_codable=False, color="#1F77B4"),
        Code(None, "Purpose", definition="What the tool is for.", include="Descriptions of purpose.",
             exclude="Evaluations of the tool.", examples=("It sorts people.",), parent="Coherence",
             color="#FF7F0E"),
        Code(None, "Benefits", definition="Perceived value.", parent="Coherence"),
        Code(None, "Risk", definition="Safety concerns.", color="#D62728"),
    ], version="2", name="NPT codebook")
    segments = [
        seg(corpus, "P01", "honestly I didn't get it at first 🙂", "Purpose", "AH", "2025-07-07T09:44:55"),
        seg(corpus, "P01", "honestly I didn't get it at first 🙂", "Benefits", "AH", "2025-07-07T09:45:00"),
        seg(corpus, "P01", "honestly I didn't get it at first 🙂", "Purpose", "MK"),
        seg(corpus, "P01", "saves time for the naïve among us", "Benefits", "MK", "2025-07-08T10:00:00+01:00"),
        seg(corpus, "P02", "The 日本語 notes aside, the flags were too cautious", "Risk", "AH", "2025-07-09T11:00:00Z"),
        seg(corpus, "P02", "the flags were too cautious (laughs) and we overrode them", "Risk", "MK"),
    ]
    risk_u = next(u for u in corpus.utterances if "flags" in u.text)
    wait_s, wait_e = span(corpus, "P02", "Six weeks is a long time")
    suggestions = pd.DataFrame([
        {"utterance_id": risk_u.id, "transcript_id": None, "start": None, "end": None, "code": "Risk", "score": 0.91},
        {"utterance_id": None, "transcript_id": "P02", "start": wait_s, "end": wait_e, "code": "Benefits",
         "score": 0.42},
    ])
    return corpus, codebook, segments, suggestions


@pytest.fixture(scope="module")
def exported(study, tmp_path_factory):
    corpus, codebook, segments, suggestions = study
    path = tmp_path_factory.mktemp("refi") / "study.qdpx"
    export_qdpx(path, corpus, codebook, segments, suggestions, project_name="Pilot study")
    return path


def qde_of(path) -> etree._Element:
    with zipfile.ZipFile(path) as z:
        return etree.fromstring(z.read("project.qde"))


def rewrite(src, dst, edit=None, drop=()):
    """Copy a .qdpx, editing project.qde text with ``edit`` and leaving out members in ``drop``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "project.qde" and edit is not None:
                data = edit(data.decode("utf-8")).encode("utf-8")
            zout.writestr(name, data)
    return dst


# -- round trip --------------------------------------------------------------------------------------

def test_round_trip_is_exact(study, exported):
    corpus, codebook, segments, suggestions = study
    corpus2, codebook2, segments2 = import_qdpx(exported)
    assert {t: x.text for t, x in corpus2.transcripts.items()} == {t: x.text for t, x in corpus.transcripts.items()}
    assert codebook2 == codebook
    assert [c.color for c in codebook2] == ["#1F77B4", "#FF7F0E", None, "#D62728"]
    human = [s for s in segments2 if s.coder != SUGGESTION_USER]
    key = lambda s: (s.transcript_id, s.start, s.end, s.code, s.coder)  # noqa: E731
    assert sorted(human, key=key) == sorted(segments, key=key)
    for s in segments2:
        assert corpus2.transcripts[s.transcript_id].text[s.start:s.end] == s.text
    pd.testing.assert_frame_equal(corpus2.metadata, corpus.metadata)
    assert [(u.id, u.start, u.end, u.role) for u in corpus2.utterances] == \
        [(u.id, u.start, u.end, u.role) for u in corpus.utterances]
    assert corpus2.settings["refi"]["project"] == "Pilot study"


def test_suggestions_come_back_as_user_themekit(study, exported):
    corpus, *_ = study
    _, _, segments2 = import_qdpx(exported)
    sugg = [(s.transcript_id, s.start, s.end, s.code) for s in segments2 if s.coder == SUGGESTION_USER]
    risk_u = next(u for u in corpus.utterances if "flags" in u.text)
    assert sugg == sorted([("P02", risk_u.start, risk_u.end, "Risk"),
                           ("P02", *span(corpus, "P02", "Six weeks is a long time"), "Benefits")])


def test_export_is_deterministic(study, exported, tmp_path):
    corpus, codebook, segments, suggestions = study
    again = export_qdpx(tmp_path / "again.qdpx", corpus, codebook, list(reversed(segments)), suggestions,
                        project_name="Pilot study")
    assert again.read_bytes() == exported.read_bytes()


def test_project_validates_against_the_refi_xsd(exported):
    assert validate_project(exported) == []
    # the check has teeth: elements out of the schema's order are reported
    root = qde_of(exported)
    users = root.find("p:Users", NS)
    root.remove(users)
    root.append(users)
    errors = validate_project(etree.tostring(root))
    assert errors and "Users" in " ".join(errors)


def test_structure_of_the_project(study, exported):
    corpus, codebook, segments, _ = study
    root = qde_of(exported)
    assert root.tag == f"{{{PROJECT_NAMESPACE}}}Project" and root.get("name") == "Pilot study"
    assert [u.get("name") for u in root.iterfind("p:Users/p:User", NS)] == ["AH", "MK", "themekit"]
    assert [c.get("name") for c in root.iterfind("p:Cases/p:Case", NS)] == ["P01", "P02"]
    # site is constant per participant: a case variable; so is wave here (one transcript each)
    assert [v.get("name") for v in root.iterfind("p:Variables/p:Variable", NS)] == ["site", "wave"]
    case = root.find("p:Cases/p:Case", NS)
    assert [el.tag.split("}")[1] for el in case] == ["VariableValue", "VariableValue", "SourceRef"]
    with zipfile.ZipFile(exported) as z:
        for src in root.iterfind("p:Sources/p:TextSource", NS):
            path = src.get("plainTextPath")
            assert path == f"internal://{src.get('guid')}.txt"
            data = z.read("sources/" + path[len("internal://"):])
            text = corpus.transcripts[src.get("name")].text
            assert data == text.encode("utf-8")
            for sel in src.iterfind("p:PlainTextSelection", NS):
                s, e = int(sel.get("startPosition")), int(sel.get("endPosition"))
                assert 0 <= s < e <= len(text)
    # the span coded twice by AH is one selection with two codings, in codebook order
    sel = next(el for el in root.iter(f"{{{PROJECT_NAMESPACE}}}PlainTextSelection")
               if el.get("name", "").startswith("honestly") and len(el.findall("p:Coding", NS)) == 2)
    refs = [c.find("p:CodeRef", NS).get("targetGUID") for c in sel.findall("p:Coding", NS)]
    assert refs == [codebook.get("Purpose").id, codebook.get("Benefits").id]
    assert sel.get("creationDateTime") == "2025-07-07T09:44:55"
    # suggestions carry their score for the reviewer
    desc = [d.text for d in root.iter(f"{{{PROJECT_NAMESPACE}}}Description") if d.text.startswith("Suggested")]
    assert sorted(desc) == ["Suggested by themekit: Benefits (score 0.42)", "Suggested by themekit: Risk (score 0.91)"]


def test_positions_count_code_points(study, exported):
    corpus, *_ = study
    root = qde_of(exported)
    text = corpus.transcripts["P01"].text
    start = text.index("saves time")
    assert len("🙂".encode("utf-16-le")) == 4  # an astral character: one code point, two UTF-16 units
    sel = next(el for el in root.iter(f"{{{PROJECT_NAMESPACE}}}PlainTextSelection")
               if el.get("name", "").startswith("saves time"))
    assert int(sel.get("startPosition")) == start


def test_suggestions_as_segments_and_no_codebook(study, tmp_path):
    corpus, _, segments, _ = study
    sugg = [CodedSegment("P01", 0, 5, "Purpose", "whoever")]
    path = export_qdpx(tmp_path / "x.qdpx", corpus, None, segments[:2], sugg)
    _, codebook2, segments2 = import_qdpx(path)
    assert codebook2.names == ("Purpose", "Benefits")
    assert ("P01", 0, 5, "Purpose", SUGGESTION_USER) in [(s.transcript_id, s.start, s.end, s.code, s.coder)
                                                          for s in segments2]


def test_impossible_coding_time_is_left_out_not_a_schema_failure(study, tmp_path, caplog):
    # date-shaped but not a date (month 13, 30 February): the schema would reject it, so it is dropped
    corpus, codebook, _, _ = study
    segs = [CodedSegment("P01", 0, 5, "Purpose", "AH", order="2024-13-45T10:00:00"),
            CodedSegment("P01", 6, 10, "Risk", "AH", order="2024-02-30T10:00:00Z"),
            CodedSegment("P02", 0, 5, "Risk", "AH", order="2024-02-29T10:00:00Z")]
    with caplog.at_level(logging.INFO, logger="themekit"):
        root = qde_of(export_qdpx(tmp_path / "x.qdpx", corpus, codebook, segs))
    times = [el.get("creationDateTime") for el in root.iter(f"{{{PROJECT_NAMESPACE}}}Coding")]
    assert sorted(t for t in times if t) == ["2024-02-29T10:00:00Z"]
    assert "2 segments have an order that is not a date and time" in caplog.text


def test_no_participant_column_gives_a_case_per_transcript(tmp_path):
    corpus = make_corpus({"A": P01, "B": P02})
    path = export_qdpx(tmp_path / "x.qdpx", corpus)
    root = qde_of(path)
    assert [c.get("name") for c in root.iterfind("p:Cases/p:Case", NS)] == ["A", "B"]
    assert root.find("p:Users", NS) is None and root.find("p:CodeBook", NS) is None
    assert validate_project(path) == []
    corpus2, codebook2, segments2 = import_qdpx(path)
    assert list(corpus2.metadata.columns) == [] and len(codebook2) == 0 and segments2 == []


def test_variables_go_on_the_case_or_on_each_source(tmp_path):
    meta = pd.DataFrame({"participant_id": ["P01", "P01", "P02"], "site": ["A", "A", "B"],
                         "wave": ["1", "2", "1"]}, index=pd.Index(["P01a", "P01b", "P02"], name="transcript_id"),
                        dtype=str)
    corpus = make_corpus({"P01a": P01, "P01b": P01, "P02": P02}, meta)
    path = export_qdpx(tmp_path / "x.qdpx", corpus)
    root = qde_of(path)
    guid = {v.get("name"): v.get("guid") for v in root.iterfind("p:Variables/p:Variable", NS)}
    case = root.find("p:Cases/p:Case", NS)
    assert case.get("name") == "P01" and len(case.findall("p:SourceRef", NS)) == 2
    refs = lambda el: [v.find("p:VariableRef", NS).get("targetGUID") for v in el.findall("p:VariableValue", NS)]  # noqa: E731
    assert refs(case) == [guid["site"]]  # the same for both of P01's interviews
    assert all(refs(src) == [guid["wave"]] for src in root.iterfind("p:Sources/p:TextSource", NS))
    assert validate_project(path) == []
    pd.testing.assert_frame_equal(import_qdpx(path).corpus.metadata, meta)


@pytest.mark.parametrize("bad, message", [
    (lambda c, cb, s: [CodedSegment("P09", 0, 4, "Risk", "AH")], "not in the corpus"),
    (lambda c, cb, s: [CodedSegment("P01", 0, 9999, "Risk", "AH")], "beyond the end"),
    (lambda c, cb, s: [CodedSegment("P01", 0, 4, "Rsk", "AH")], "did you mean 'Risk'"),
    (lambda c, cb, s: [CodedSegment("P01", 0, 4, "Risk", "AH", "Nope")], "differs from the transcript"),
])
def test_export_rejects_bad_segments(study, tmp_path, bad, message):
    corpus, codebook, segments, _ = study
    with pytest.raises(ValueError, match=message):
        export_qdpx(tmp_path / "x.qdpx", corpus, codebook, bad(corpus, codebook, segments))
    assert not (tmp_path / "x.qdpx").exists()


def test_human_coder_named_like_the_suggestion_user(study, tmp_path):
    corpus, codebook, segments, suggestions = study
    clash = [CodedSegment("P01", 0, 4, "Risk", SUGGESTION_USER)]
    with pytest.raises(ValueError, match="suggestion_user"):
        project_xml(corpus, codebook, clash, suggestions)
    assert project_xml(corpus, codebook, clash, suggestions, suggestion_user="model")


def test_awkward_texts_and_ids(tmp_path):
    texts = {"P01.v2": "\ufeffstarts with a BOM character", "Q 7.docx": "e\u0301 combining, 🙂 emoji\n\tand tabs"}
    corpus = Corpus([Transcript(t, x) for t, x in texts.items()], [])
    segs = [CodedSegment("P01.v2", 0, 6, "c", "ann"), CodedSegment("Q 7.docx", 0, 2, "c", "ann"),
            CodedSegment("Q 7.docx", 14, 15, "c", "ann")]
    corpus2, _, segs2 = import_qdpx(export_qdpx(tmp_path / "x.qdpx", corpus, None, segs))
    # ids are kept as written (an id that looks like a file name keeps its extension on export, so
    # the import strips it: "Q 7.docx" becomes "Q 7")
    assert {t: x.text for t, x in corpus2.transcripts.items()} == {"P01.v2": texts["P01.v2"], "Q 7": texts["Q 7.docx"]}
    assert [(s.start, s.end, s.text) for s in segs2] == [(0, 6, "\ufeffstart"), (0, 2, "e\u0301"), (14, 15, "🙂")]


# -- property: positions survive any text -----------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), min_size=1, max_size=60)


@st.composite
def corpora_with_segments(draw):
    texts = draw(st.lists(_TEXT, min_size=1, max_size=3))
    texts = {f"T{i}": t for i, t in enumerate(texts)}
    segs = []
    for tid, text in texts.items():
        for _ in range(draw(st.integers(0, 4))):
            if len(text) < 1:
                continue
            s = draw(st.integers(0, len(text) - 1))
            e = draw(st.integers(s + 1, len(text)))
            segs.append(CodedSegment(tid, s, e, draw(st.sampled_from(["Ä code", "b/c", "日本"])),
                                     draw(st.sampled_from(["ann", "Bø"])), text[s:e],
                                     draw(st.sampled_from([None, "2024-02-29T23:59:59", "2024-03-01T00:00:00Z"]))))
    return texts, segs


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpora_with_segments())
def test_round_trip_preserves_positions(tmp_path, data):
    texts, segs = data
    corpus = Corpus([Transcript(t, x) for t, x in texts.items()], [])
    path = export_qdpx(tmp_path / "prop.qdpx", corpus, None, segs)
    corpus2, _, segs2 = import_qdpx(path)
    assert {t: x.text for t, x in corpus2.transcripts.items()} == texts
    # the same code on the same span by the same coder is one coding (the first one's time)
    expected: dict[tuple, CodedSegment] = {}
    for s in segs:
        expected.setdefault((s.transcript_id, s.start, s.end, s.code, s.coder), s)
    key = lambda s: (s.transcript_id, s.start, s.end, s.code, s.coder, s.text, s.order or "")  # noqa: E731
    assert sorted(map(key, segs2)) == sorted(map(key, expected.values()))


# -- projects from other programs ----------------------------------------------------------------------

G = "{{{}-0000-4000-8000-{:012d}}}"

FOREIGN_TEXT = "Interviewer: How was it?\r\nAnn: I waited six weeks for a call.\r\nInterviewer: And then?\r\nAnn: They rang twice.\r\n"


def foreign_project(origin: str, start: int, end: int, source_name: str = "Interview 1.docx") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Pilot" origin="{origin}">
  <Users>
    <User guid="{G.format('AAAAAAAA', 1)}" name="Ann Coder"/>
    <User guid="{G.format('AAAAAAAA', 2)}" name="Ben Coder"/>
  </Users>
  <CodeBook><Codes>
    <Code guid="{G.format('CCCCCCCC', 1)}" name="Access" isCodable="true" color="#00ff00">
      <Description>Getting help.</Description>
      <Code guid="{G.format('CCCCCCCC', 2)}" name="Waiting" isCodable="true"/>
    </Code>
    <Code guid="{G.format('CCCCCCCC', 3)}" name="Trust" isCodable="true">
      <Code guid="{G.format('CCCCCCCC', 4)}" name="Waiting" isCodable="true"/>
    </Code>
  </Codes></CodeBook>
  <Variables>
    <Variable guid="{G.format('DDDDDDDD', 1)}" name="Age group" typeOfVariable="Text"/>
    <Variable guid="{G.format('DDDDDDDD', 2)}" name="Sessions" typeOfVariable="Integer"/>
  </Variables>
  <Cases>
    <Case guid="{G.format('EEEEEEEE', 1)}" name="Participant 1">
      <VariableValue><VariableRef targetGUID="{G.format('DDDDDDDD', 1)}"/><TextValue>30-39</TextValue></VariableValue>
      <SourceRef targetGUID="{G.format('BBBBBBBB', 1)}"/>
    </Case>
  </Cases>
  <Sources>
    <TextSource guid="{G.format('BBBBBBBB', 1)}" name="{source_name}" richTextPath="internal://S1.docx"
                plainTextPath="internal://S1.txt" creatingUser="{G.format('AAAAAAAA', 1)}">
      <PlainTextSelection guid="{G.format('FFFFFFFF', 1)}" name="waited" startPosition="{start}" endPosition="{end}"
                          creatingUser="{G.format('AAAAAAAA', 1)}" creationDateTime="2024-01-02T10:00:00Z">
        <Coding guid="{G.format('FFFFFFFF', 2)}" creatingUser="{G.format('AAAAAAAA', 1)}">
          <CodeRef targetGUID="{G.format('CCCCCCCC', 2)}"/></Coding>
        <Coding guid="{G.format('FFFFFFFF', 3)}" creatingUser="{G.format('AAAAAAAA', 2)}">
          <CodeRef targetGUID="{G.format('CCCCCCCC', 1)}"/></Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="{G.format('FFFFFFFF', 4)}" startPosition="0" endPosition="5">
        <Description>a memo, not a coding</Description>
      </PlainTextSelection>
      <VariableValue><VariableRef targetGUID="{G.format('DDDDDDDD', 2)}"/><IntegerValue>3</IntegerValue></VariableValue>
    </TextSource>
    <TextSource guid="{G.format('BBBBBBBB', 2)}" name="Field notes">
      <PlainTextContent>Inline notes: trust is low.</PlainTextContent>
      <PlainTextSelection guid="{G.format('FFFFFFFF', 5)}" startPosition="14" endPosition="26"
                          creatingUser="{G.format('AAAAAAAA', 2)}">
        <Coding guid="{G.format('FFFFFFFF', 6)}"><CodeRef targetGUID="{G.format('CCCCCCCC', 4)}"/></Coding>
      </PlainTextSelection>
    </TextSource>
    <AudioSource guid="{G.format('BBBBBBBB', 3)}" name="call.m4a" path="internal://call.m4a"/>
  </Sources>
</Project>"""


def write_foreign(path, xml: str, text: str = FOREIGN_TEXT, folder: str = "Sources"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("project.qde", xml.encode("utf-8"))
        z.writestr(f"{folder}/S1.txt", b"\xef\xbb\xbf" + text.encode("utf-8"))
        z.writestr(f"{folder}/S1.docx", b"not read")
    return path


@pytest.mark.parametrize("origin, crlf_counts", [("NVivo 14", 2), ("ATLAS.ti 23", 1)])
def test_import_project_from_another_program(tmp_path, caplog, origin, crlf_counts):
    counted = FOREIGN_TEXT if crlf_counts == 2 else FOREIGN_TEXT.replace("\r\n", "\n")
    s = counted.index("waited six weeks")
    xml = foreign_project(origin, s, s + len("waited six weeks"))
    assert validate_project(xml.encode()) == []
    with caplog.at_level(logging.INFO, logger="themekit"):
        corpus, codebook, segments = import_qdpx(write_foreign(tmp_path / "nvivo.qdpx", xml))
    assert list(corpus.transcripts) == ["Interview 1", "Field notes"]
    text = corpus.transcripts["Interview 1"].text
    assert text == FOREIGN_TEXT.replace("\r\n", "\n")  # BOM dropped, line ends normalised
    assert codebook.names == ("Access", "Waiting", "Trust", "Waiting (Trust)")
    assert codebook.get("Access").color == "#00FF00" and codebook.get("Access").definition == "Getting help."
    got = [(x.transcript_id, x.text, x.code, x.coder, x.order) for x in segments]
    assert got == [
        ("Interview 1", "waited six weeks", "Waiting", "Ann Coder", "2024-01-02T10:00:00Z"),
        ("Interview 1", "waited six weeks", "Access", "Ben Coder", "2024-01-02T10:00:00Z"),
        ("Field notes", "trust is low", "Waiting (Trust)", "Ben Coder", None),
    ]
    meta = corpus.metadata
    assert list(meta.columns) == ["participant_id", "Age group", "Sessions"]
    assert meta.loc["Interview 1"].tolist() == ["Participant 1", "30-39", "3"]
    assert meta.loc["Field notes"].tolist() == ["", "", ""]
    assert any(u.speaker == "Ann" and "waited" in u.text for u in corpus.utterances)
    assert "1 audio, video or picture sources skipped" in caplog.text
    assert "read as 'Waiting (Trust)'" in caplog.text


def test_import_finds_sources_folder_in_any_case(tmp_path):
    s = FOREIGN_TEXT.index("waited")
    xml = foreign_project("MAXQDA 2022", s, s + 6)
    corpus, _, segments = import_qdpx(write_foreign(tmp_path / "m.qdpx", xml, folder="sources"))
    assert segments[0].text == "waited"


# -- errors ------------------------------------------------------------------------------------------

def test_not_a_zip(tmp_path):
    p = tmp_path / "codes.qdpx"
    p.write_text("<CodeBook/>")
    with pytest.raises(InputError, match="codes.qdpx: not a REFI-QDA project: a .qdpx file is a zip"):
        import_qdpx(p)
    with pytest.raises(InputError, match="no such file"):
        import_qdpx(tmp_path / "missing.qdpx")


def test_missing_project_qde(exported, tmp_path):
    bad = rewrite(exported, tmp_path / "bad.qdpx", drop=("project.qde",))
    with pytest.raises(InputError, match=r"bad.qdpx: no project.qde in the archive"):
        import_qdpx(bad)


def test_wrong_namespace(exported, tmp_path):
    bad = rewrite(exported, tmp_path / "bad.qdpx",
                  lambda x: x.replace(PROJECT_NAMESPACE, "urn:QDA-XML:codebook:1.0"))
    with pytest.raises(InputError, match=r"\[project.qde\], line 3: not a REFI-QDA project: the root element "
                                         r"is <Project> in namespace 'urn:QDA-XML:codebook:1.0'"):
        import_qdpx(bad)


def test_dangling_code_ref(study, exported, tmp_path):
    _, codebook, _, _ = study
    gone = codebook.get("Risk").id
    bad = rewrite(exported, tmp_path / "bad.qdpx",
                  lambda x: x.replace(f'<Code guid="{gone}"', '<Code guid="00000000-0000-4000-8000-000000000000"'))
    with pytest.raises(InputError, match=rf"line \d+: <CodeRef> refers to code '{gone}', which is not in the <CodeBook>"):
        import_qdpx(bad)


def test_dangling_source_ref(exported, tmp_path):
    root = qde_of(exported)
    ref = root.find("p:Cases/p:Case/p:SourceRef", NS).get("targetGUID")
    bad = rewrite(exported, tmp_path / "bad.qdpx",
                  lambda x: x.replace(f'<SourceRef targetGUID="{ref}"', '<SourceRef targetGUID="{12345678-0000-4000-8000-000000000000}"', 1))
    with pytest.raises(InputError, match=r"<SourceRef> of case 'P01' refers to source '\{12345678"):
        import_qdpx(bad)


def test_positions_out_of_range(exported, tmp_path):
    bad = rewrite(exported, tmp_path / "bad.qdpx",
                  lambda x: x.replace('endPosition="', 'endPosition="9', 1))
    with pytest.raises(InputError, match=r"bad.qdpx \[project.qde\], line \d+: <PlainTextSelection> positions "
                                         r"\d+-9\d+ are outside source 'P01' \(\d+ characters\)"):
        import_qdpx(bad)


def test_selection_that_ends_before_it_starts(exported, tmp_path):
    bad = rewrite(exported, tmp_path / "bad.qdpx", lambda x: x.replace('endPosition="', 'endPosition="-', 1))
    with pytest.raises(InputError, match=r"line \d+: <PlainTextSelection> in source 'P01' starts after it ends"):
        import_qdpx(bad)


def test_missing_source_file(exported, tmp_path):
    with zipfile.ZipFile(exported) as z:
        member = next(n for n in z.namelist() if n.startswith("sources/"))
    bad = rewrite(exported, tmp_path / "bad.qdpx", drop=(member,))
    with pytest.raises(InputError, match=r"<TextSource name='P01'> refers to 'internal://.*\.txt', which is not in the archive"):
        import_qdpx(bad)


def test_malformed_xml(exported, tmp_path):
    bad = rewrite(exported, tmp_path / "bad.qdpx", lambda x: x.replace("</Project>", "</Projekt>"))
    with pytest.raises(InputError, match=r"\[project.qde\], line \d+: not well-formed XML"):
        import_qdpx(bad)


def test_day_first_dotted_coding_times_as_maxqda_writes_them_are_kept(study, tmp_path, caplog):
    # MAXQDA's 'Created' column in a European locale: 12.03.2024 10:15 is 12 March
    corpus, codebook, _, _ = study
    segs = [CodedSegment("P01", 0, 5, "Purpose", "AH", order="12.03.2024 10:15"),
            CodedSegment("P01", 6, 10, "Risk", "AH", order="1.4.2024 09:05:30"),
            CodedSegment("P02", 0, 5, "Risk", "AH", order="31.02.2024 10:00")]
    with caplog.at_level(logging.INFO, logger="themekit"):
        root = qde_of(export_qdpx(tmp_path / "x.qdpx", corpus, codebook, segs))
    times = [el.get("creationDateTime") for el in root.iter(f"{{{PROJECT_NAMESPACE}}}Coding")]
    assert sorted(t for t in times if t) == ["2024-03-12T10:15:00", "2024-04-01T09:05:30"]
    assert "1 segments have an order that is not a date and time" in caplog.text


def test_themekits_own_suggestions_in_a_project_read_back_are_not_a_coder(study, tmp_path, caplog):
    # project.qdpx from `themekit run`, coded on in NVivo and read back: the user 'themekit'
    # holds the machine's suggestions, not human coding
    from themekit.codebook import read_coded_segments

    corpus, codebook, segments, _ = study
    sugg = [CodedSegment("P01", 0, 5, "Purpose", "whoever")]
    path = export_qdpx(tmp_path / "x.qdpx", corpus, codebook, segments[:2], sugg)
    with caplog.at_level(logging.WARNING, logger="themekit"):
        read = read_coded_segments(path, corpus)
    assert sorted((s.transcript_id, s.start, s.end, s.code, s.coder) for s in read) == sorted(
        (s.transcript_id, s.start, s.end, s.code, s.coder) for s in segments[:2])
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: 1 codings by {SUGGESTION_USER!r} are themekit's suggestions (a project it wrote), "
        "not human coding; left out"]
