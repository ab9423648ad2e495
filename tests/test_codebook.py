"""Codebook model, YAML/CSV/REFI-QDA .qdc formats, validation, versions."""

from __future__ import annotations

import logging
import textwrap
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from themekit.codebook import QDC_NAMESPACE, Code, Codebook, derived_id
from themekit.types import InputError

NS = {"q": QDC_NAMESPACE}

# The REFI-QDA Codebook.xsd (v1.0) structure, written out for validation in tests.
CODEBOOK_XSD = b"""<?xml version="1.0" encoding="UTF-8"?>
<xsd:schema xmlns="urn:QDA-XML:codebook:1.0" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
  targetNamespace="urn:QDA-XML:codebook:1.0" elementFormDefault="qualified" version="1.0">
 <xsd:element name="CodeBook" type="CodeBookType"/>
 <xsd:complexType name="CodeBookType"><xsd:sequence>
  <xsd:element name="Codes" type="CodesType"/>
  <xsd:element name="Sets" type="SetsType" minOccurs="0"/>
 </xsd:sequence><xsd:attribute name="origin" type="xsd:string"/></xsd:complexType>
 <xsd:complexType name="CodesType"><xsd:sequence>
  <xsd:element name="Code" type="CodeType" maxOccurs="unbounded"/></xsd:sequence></xsd:complexType>
 <xsd:complexType name="SetsType"><xsd:sequence>
  <xsd:element name="Set" type="SetType" maxOccurs="unbounded"/></xsd:sequence></xsd:complexType>
 <xsd:complexType name="CodeType"><xsd:sequence>
  <xsd:element name="Description" type="xsd:string" minOccurs="0"/>
  <xsd:element name="Code" type="CodeType" minOccurs="0" maxOccurs="unbounded"/>
 </xsd:sequence>
  <xsd:attribute name="guid" type="GUIDType" use="required"/>
  <xsd:attribute name="name" type="xsd:string" use="required"/>
  <xsd:attribute name="isCodable" type="xsd:boolean" use="required"/>
  <xsd:attribute name="color" type="RGBType"/>
 </xsd:complexType>
 <xsd:complexType name="SetType"><xsd:sequence>
  <xsd:element name="Description" type="xsd:string" minOccurs="0"/>
  <xsd:element name="MemberCode" type="MemberCodeType" minOccurs="0" maxOccurs="unbounded"/>
 </xsd:sequence>
  <xsd:attribute name="guid" type="GUIDType" use="required"/>
  <xsd:attribute name="name" type="xsd:string" use="required"/>
 </xsd:complexType>
 <xsd:complexType name="MemberCodeType"><xsd:attribute name="guid" type="GUIDType" use="required"/></xsd:complexType>
 <xsd:simpleType name="GUIDType"><xsd:restriction base="xsd:token">
  <xsd:pattern value="([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})|(\\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\})"/>
 </xsd:restriction></xsd:simpleType>
 <xsd:simpleType name="RGBType"><xsd:restriction base="xsd:token">
  <xsd:pattern value="#([A-Fa-f0-9]{6}|[A-Fa-f0-9]{3})"/></xsd:restriction></xsd:simpleType>
</xsd:schema>"""
SCHEMA = etree.XMLSchema(etree.fromstring(CODEBOOK_XSD))

CSV = """\
code,theme,definition,include,exclude,examples
Waiting times,Access,Time from referral to first contact.,Weeks or months of waiting.,Waits in the clinic,I waited six weeks. | Nobody called back.
Self-referral,Access,Referring oneself without a GP.,,,
Access,,How people get into the service.,,,
Kind staff,Relationships,Warmth of staff.,,,
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


@pytest.fixture
def book(tmp_path):
    return Codebook.load(write(tmp_path, "codebook.csv", CSV))


# -- model ----------------------------------------------------------------------------------------

def test_csv_reads_hierarchy_in_order(book):
    assert book.names == ("Access", "Waiting times", "Self-referral", "Relationships", "Kind staff")
    assert [c.name for c in book.roots()] == ["Access", "Relationships"]
    wt = book.get("Waiting times")
    assert wt == Code(derived_id(["Access", "Waiting times"]), "Waiting times",
                      "Time from referral to first contact.", "Weeks or months of waiting.",
                      "Waits in the clinic", ("I waited six weeks.", "Nobody called back."), "Access")
    # a theme with its own row is codable; a theme named only in the theme column is not
    assert book.get("Access").is_codable and book.get("Access").definition
    rel = book.get("Relationships")
    assert not rel.is_codable and rel.definition == "" and rel.parent is None
    assert [c.name for c in book.codable()] == ["Access", "Waiting times", "Self-referral", "Kind staff"]
    assert [c.name for c in book.children("Access")] == ["Waiting times", "Self-referral"]
    assert book.path("Kind staff") == ("Relationships", "Kind staff")
    assert book.theme_of("Kind staff").name == "Relationships"
    assert book.parent("Access") is None and book.depth("Kind staff") == 1


def test_ids_are_deterministic_uuid5_and_get_by_id(book):
    wt = book.get("Waiting times")
    assert uuid.UUID(wt.id).version == 5
    assert book.get(wt.id) is wt and wt.id in book and "Waiting times" in book
    assert Codebook.load(book.source).get("Waiting times").id == wt.id


def test_get_unknown_suggests(book):
    with pytest.raises(KeyError, match="did you mean 'Waiting times'"):
        book.get("Waiting time")


def test_description_text():
    c = Code(None, "Waiting times", "Time from referral to first contact", "Weeks of waiting.",
             "Clinic waits", ("I waited six weeks.", "Nobody called back"))
    assert c.description_text() == (
        "Waiting times: Time from referral to first contact. Include: Weeks of waiting. "
        "Exclude: Clinic waits. Examples: I waited six weeks; Nobody called back.")
    assert Code(None, "Bare").description_text() == "Bare."


def test_code_normalises_fields():
    c = Code(" {6F9619FF-8B86-D011-B42D-00CF4FC964FF} ", "  Name ", " def\r\nmore ", examples="one",
             color="#abc", parent="")
    assert c.id == "{6F9619FF-8B86-D011-B42D-00CF4FC964FF}"
    assert (c.name, c.definition, c.examples, c.color, c.parent) == ("Name", "def\nmore", ("one",), "#AABBCC", None)
    with pytest.raises(ValueError, match="not a UUID"):
        Code("C01", "X")
    with pytest.raises(ValueError, match="colour 'red'"):
        Code(None, "X", color="red")
    with pytest.raises(ValueError, match="one line"):
        Code(None, "two\nlines")


def test_to_pandas(book):
    df = book.to_pandas()
    assert list(df.columns) == ["id", "name", "parent", "path", "depth", "definition", "include", "exclude",
                                "examples", "color", "is_codable", "n_children"]
    assert df["name"].tolist() == list(book.names)
    assert df.loc[1, "path"] == ("Access", "Waiting times") and df.loc[1, "depth"] == 1
    assert df["n_children"].tolist() == [2, 0, 0, 1, 0]


def test_validate_warns_and_load_logs(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", "code,theme,definition\nA,T,\nB,,has one\nEmpty group,,\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert cb.validate() == [
        f"{p}, line 2: code 'A' has no definition; codes without a definition map badly — add one "
        "(and include/exclude criteria if you can)",
        f"{p}, line 4: code 'Empty group' has no definition; codes without a definition map badly — "
        "add one (and include/exclude criteria if you can)",
    ]
    assert "code 'A' has no definition" in caplog.text
    nc = Codebook([Code(None, "Lonely", "d", is_codable=False)])
    assert nc.validate() == ["codebook: code 'Lonely' is not codable and has no child codes, so nothing "
                             "can be coded with it; make it codable or add codes under it"]


# -- CSV variants -------------------------------------------------------------------------------------

def test_csv_variant_columns(tmp_path):
    p = write(tmp_path, "cb.csv", "Name,Parent,Description\nA,T,alpha\nT,,the theme\n")
    cb = Codebook.load(p)
    assert cb.names == ("T", "A") and cb.get("A").definition == "alpha" and cb.get("T").is_codable


def test_csv_serdif_formats(tmp_path):
    p = write(tmp_path, "cb.csv", 'tag_id,code,definition,n_highlights\n1,Moderator assist,"The moderator\n'
              'intervenes.",174\n2,System issue,Crashes. ,45\n')
    cb = Codebook.load(p)
    assert cb.names == ("Moderator assist", "System issue")
    assert cb.get("Moderator assist").definition == "The moderator\nintervenes."
    assert cb.get("System issue").definition == "Crashes."
    p2 = write(tmp_path, "v0.csv", "tag,description,number of highlights\nPositive comment,,49\n")
    assert Codebook.load(p2).get("Positive comment").definition == ""


def test_csv_examples_escape_bar(tmp_path):
    cb = Codebook([Code(None, "A", "d", examples=("a | b", "c\\|d", "plain"))])
    text = cb.to_csv()
    assert text.splitlines()[1] == "A,,d,,,a \\| b | c\\\\\\|d | plain"
    p = write(tmp_path, "cb.csv", text)
    assert Codebook.load(p) == cb


def test_csv_writes_optional_columns_only_when_needed(tmp_path, book):
    assert book.to_csv().splitlines()[0] == "code,theme,definition,include,exclude,examples"
    guid = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    cb = Codebook([Code(guid, "T", "theme", is_codable=False, color="#FF0000"), Code(None, "A", "a", parent="T")])
    lines = cb.to_csv().splitlines()
    assert lines == ["code,theme,definition,include,exclude,examples,id,color,codable",
                     f"T,,theme,,,,{guid},#FF0000,false", "A,T,a,,,,,,true"]
    assert Codebook.load(write(tmp_path, "x.csv", cb.to_csv())) == cb


# -- YAML ---------------------------------------------------------------------------------------------

YAML = """\
name: Example study
version: 1.10
themes:
  - name: Access
    definition: How people get into the service.
    codes:
      - name: Waiting times
        definition: Time from referral to first contact.
        include: Weeks or months of waiting.
        exclude: Waits in the clinic
        examples:
          - I waited six weeks.
          - Nobody called back.
      - Self-referral
  - name: Relationships
    codable: true
    colour: "#00ff00"
"""


def test_yaml_nested(tmp_path):
    cb = Codebook.load(write(tmp_path, "cb.yaml", YAML))
    assert (cb.name, cb.version) == ("Example study", "1.10")
    assert cb.names == ("Access", "Waiting times", "Self-referral", "Relationships")
    assert not cb.get("Access").is_codable  # items under themes: are groupings by default
    assert cb.get("Self-referral").is_codable and cb.get("Self-referral").parent == "Access"
    assert cb.get("Relationships").is_codable and cb.get("Relationships").color == "#00FF00"
    assert cb.get("Waiting times").examples == ("I waited six weeks.", "Nobody called back.")


def test_yaml_flat_list_with_parent(tmp_path):
    p = write(tmp_path, "cb.yml", """\
        - name: B
          parent: A
          definition: bee
        - name: A
          definition: ay
        """)
    cb = Codebook.load(p)
    assert cb.names == ("A", "B") and cb.get("B").parent == "A" and cb.get("A").is_codable


def test_yaml_written_form(book):
    text = book.to_yaml()
    assert text.startswith("themes:\n- name: Access\n  definition: How people get into the service.\n"
                           "  codable: true\n  codes:\n  - name: Waiting times\n")
    assert "- name: Relationships\n  codes:\n  - name: Kind staff\n" in text


# -- REFI-QDA .qdc -----------------------------------------------------------------------------------

def test_qdc_written_is_valid_and_nested(book, tmp_path):
    p = book.save(tmp_path / "cb.qdc")
    doc = etree.parse(str(p))
    SCHEMA.assertValid(doc)
    root = doc.getroot()
    assert root.tag == f"{{{QDC_NAMESPACE}}}CodeBook" and root.get("origin").startswith("themekit ")
    top = root.findall("q:Codes/q:Code", NS)
    assert [(c.get("name"), c.get("isCodable")) for c in top] == [("Access", "true"), ("Relationships", "false")]
    wt = top[0].find("q:Code[@name='Waiting times']", NS)
    assert wt.get("guid") == book.get("Waiting times").id
    assert wt.findtext("q:Description", namespaces=NS) == (
        "Time from referral to first contact.\n\nInclude: Weeks or months of waiting.\n"
        "Exclude: Waits in the clinic\nExample: I waited six weeks.\nExample: Nobody called back.")
    assert top[1].find("q:Description", NS) is None
    assert Codebook.load(p).codes == book.codes


def test_qdc_foreign_file_keeps_guids_and_ignores_sets(tmp_path):
    g1, g2, g3 = (str(uuid.uuid4()) for _ in range(3))
    p = write(tmp_path, "nvivo.qdc", f"""\
        <?xml version="1.0" encoding="utf-8"?>
        <CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="NVivo 14">
          <Codes>
            <Code guid="{{{g1.upper()}}}" name="Barriers &amp; &lt;facilitators&gt;" isCodable="false" color="#ff8000">
              <Description>Things in the way.
        Inclusion criteria: anything practical</Description>
              <Code guid="{g2}" name="Cost" isCodable="true"/>
            </Code>
            <Code name="No guid" isCodable="1"><Description>plain</Description></Code>
          </Codes>
          <Sets><Set guid="{g3}" name="A set"><MemberCode guid="{g2}"/></Set></Sets>
        </CodeBook>
        """)
    cb = Codebook.load(p)
    top = cb.get("Barriers & <facilitators>")
    assert top.id == "{" + g1.upper() + "}" and top.color == "#FF8000" and not top.is_codable
    assert (top.definition, top.include) == ("Things in the way.", "anything practical")
    assert cb.get("Cost").id == g2 and cb.get("Cost").parent == top.name
    assert cb.get("No guid").id == derived_id(["No guid"]) and cb.get("No guid").definition == "plain"
    assert "A set" not in cb


def test_qdc_description_markers_are_escaped():
    c = Code(None, "A", "Include: this line is part of the definition\nsecond",
             include="x\nExclude: still include", examples=("\\Example: literal", "multi\nline"))
    cb = Codebook([c])
    root = etree.fromstring(cb.to_qdc())
    desc = root.findtext("q:Codes/q:Code/q:Description", namespaces=NS)
    assert desc.splitlines()[0] == "\\Include: this line is part of the definition"
    from themekit.codebook import _read_qdc
    assert _read_qdc(cb.to_qdc(), "x.qdc").codes == cb.codes


def test_qdc_keeps_name_and_version(tmp_path):
    cb = Codebook([Code(None, "A", "d")], version="v?>2", name="Study \"X\" & co")
    p = cb.save(tmp_path / "a.qdc")
    SCHEMA.assertValid(etree.parse(str(p)))
    assert Codebook.load(p) == cb


# -- round trips ----------------------------------------------------------------------------------------

def test_round_trip_yaml_qdc_yaml(tmp_path):
    cb = Codebook.load(write(tmp_path, "cb.yaml", YAML))
    back = Codebook.load(cb.save(tmp_path / "cb.qdc"))
    assert back == cb
    again = Codebook.load(back.save(tmp_path / "again.yaml"))
    assert again == cb and (tmp_path / "again.yaml").read_text() == cb.to_yaml()


def test_round_trip_csv_yaml_csv(tmp_path, book):
    y = Codebook.load(book.save(tmp_path / "cb.yaml"))
    assert y.codes == book.codes
    out = y.save(tmp_path / "out.csv")
    assert Codebook.load(out).codes == book.codes
    assert out.read_text() == book.to_csv()


_TEXT = st.characters(blacklist_categories=("Cs", "Cc"))
names = st.text(_TEXT, min_size=1, max_size=12).map(str.strip).filter(bool) | st.sampled_from(
    ["<&>\"'", "a & b", "Include: x", "null", "1.0", "- dash", "#tag", "ü∂ 中文", "yes"])
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(["\n", "\t", "|", "\\"]),
                max_size=40) | st.sampled_from(["", "Include: y\nExample: z", "a\n\nb", "x | y"])
colors = st.none() | st.from_regex(r"#[0-9A-F]{6}", fullmatch=True)


@st.composite
def codebooks(draw):
    ns = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    codes = []
    for i, n in enumerate(ns):
        parent = draw(st.none() | st.sampled_from(ns[:i])) if i else None
        codes.append(Code(draw(st.none() | st.uuids().map(str)), n, draw(texts), draw(texts), draw(texts),
                          tuple(draw(st.lists(texts, max_size=3))), parent, draw(colors), draw(st.booleans())))
    return Codebook(codes, version=draw(st.none() | names), name=draw(st.none() | names))


_FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FAST
@given(cb=codebooks())
@pytest.mark.parametrize("ext", [".yaml", ".qdc"])
def test_property_round_trip_full(tmp_path, ext, cb):
    p = cb.save(tmp_path / f"cb{ext}")
    assert Codebook.load(p) == cb
    if ext == ".qdc":
        SCHEMA.assertValid(etree.parse(str(p)))


@_FAST
@given(cb=codebooks())
def test_property_round_trip_csv(tmp_path, cb):
    p = cb.save(tmp_path / "cb.csv")
    assert Codebook.load(p).codes == cb.codes  # CSV holds no codebook name/version


@_FAST
@given(cb=codebooks())
def test_property_round_trip_yaml_qdc_yaml(tmp_path, cb):
    back = Codebook.load(Codebook.load(cb.save(tmp_path / "a.yaml")).save(tmp_path / "b.qdc"))
    assert Codebook.load(back.save(tmp_path / "c.yaml")) == cb


# -- errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,text,match,line", [
    ("dup.csv", "code,theme,definition\nA,,x\nB,,y\nA,,z\n",
     "duplicate code name 'A' \\(first defined on line 2\\)", 4),
    ("cycle.csv", "code,theme,definition\nA,B,x\nB,A,y\n", "cycle of parents: A -> B -> A", 2),
    ("self.csv", "code,theme,definition\nA,A,x\n", "cycle of parents: A -> A", 2),
    ("unknown.yaml", "codes:\n  - name: A\n    parent: Acess\n  - name: Access\n",
     "unknown parent 'Acess' \\(did you mean 'Access'\\?\\)", 2),
    ("cycle.yaml", "- {name: A, parent: B}\n- {name: B, parent: A}\n", "cycle of parents", 1),
    ("typo.yaml", "codes:\n  - name: A\n    defintion: x\n", "unknown field 'defintion' \\(did you mean "
     "'definition'\\?\\) in code 'A'", 2),
    ("bad.yaml", "codes: [a, b\n", "invalid YAML", None),
    ("dup.yaml", "themes:\n  - name: T\n    codes:\n      - name: T\n", "duplicate code name 'T'", 4),
    ("guid.csv", "code,guid\nA,C01\n", "id 'C01' is not a UUID", 2),
    ("color.csv", "code,color\nA,red\n", "colour 'red'", 2),
    ("nocol.csv", "label_text,definition\nA,x\n", "no code column", 1),
    ("header.csv", "code,definition\n", "no codes \\(only a header row\\)", None),
    ("empty.csv", "  \n", "the codebook file is empty", None),
    ("empty.yaml", "# nothing\n", "the codebook file is empty", None),
    ("empty.qdc", "", "the codebook file is empty", None),
    ("broken.qdc", "<CodeBook><Codes>", "not well-formed XML", None),
    ("other.qdc", "<Project/>", "project has no CodeBook", None),
    ("nocodes.qdc", '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>', "no <Code> elements", None),
    ("noname.qdc", '<CodeBook>\n<Codes>\n<Code guid="6f9619ff-8b86-d011-b42d-00cf4fc964ff"/></Codes></CodeBook>',
     "has no name attribute", 3),
])
def test_errors_name_file_and_line(tmp_path, name, text, match, line):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match) as e:
        Codebook.load(p)
    assert e.value.path == str(p) and str(e.value).startswith(str(p))
    if line is not None:
        assert e.value.line == line


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown codebook format '.txt'; use one of .yaml, .yml, .csv, .qdc, .tsv, .xlsx, .docx, .md, .qdpx"):
        Codebook.load(write(tmp_path, "cb.txt", "A"))
    with pytest.raises(InputError, match="no such codebook file"):
        Codebook.load(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="cannot write codebook format '.json'"):
        Codebook([Code(None, "A")]).save(tmp_path / "x.json")


def test_duplicate_guid_is_an_error():
    g = str(uuid.uuid4())
    with pytest.raises(InputError, match="codes 'A' and 'B' have the same guid"):
        Codebook([Code(g, "A"), Code(g, "B")])


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, book):
    for ext in (".yaml", ".csv", ".qdc"):
        book.save(tmp_path / f"out{ext}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codebook.csv", "out.csv", "out.qdc", "out.yaml"]


# -- versions -------------------------------------------------------------------------------------------

def test_diff_versions():
    g = str(uuid.uuid4())
    old = Codebook([Code(None, "Access", "getting in", is_codable=False),
                    Code(None, "Waiting", "time to first contact", parent="Access"),
                    Code(g, "Staff kind", "warmth"),
                    Code(None, "Moderator comment", "The moderator intervenes."),
                    Code(None, "Obsolete", "gone")], version="1")
    new = Codebook([Code(None, "Access", "getting in", is_codable=False),
                    Code(None, "Waiting", "time from referral to first contact", parent="Access"),
                    Code(g, "Kind staff", "warmth"),
                    Code(None, "Moderator assist", "The  moderator intervenes. "),
                    Code(None, "New code", "fresh", parent="Access")], version="2")
    d = old.diff(new)
    assert [c.name for c in d.added] == ["New code"]
    assert [c.name for c in d.removed] == ["Obsolete"]
    assert [(a.name, b.name) for a, b in d.renamed] == [("Staff kind", "Kind staff"),
                                                         ("Moderator comment", "Moderator assist")]
    assert [(a.name, f) for a, b, f in d.changed] == [("Waiting", ("definition",))]
    assert [b.definition for a, b in d.changed_definition] == ["time from referral to first contact"]
    assert d.summary().splitlines()[0] == "1 added, 1 removed, 2 renamed, 1 changed"
    assert d.to_pandas()["change"].tolist() == ["added", "removed", "renamed", "renamed", "changed"]
    assert not old.diff(old) and bool(d)


def test_diff_move_and_renamed_parent():
    old = Codebook([Code(None, "T1", "a"), Code(None, "T2", "b"), Code(None, "C", "c", parent="T1")])
    new = Codebook([Code(None, "Theme one", "a"), Code(None, "T2", "b"), Code(None, "C", "c", parent="Theme one")])
    d = old.diff(new)
    assert [(a.name, b.name) for a, b in d.renamed] == [("T1", "Theme one")] and not d.changed
    moved = Codebook([Code(None, "T1", "a"), Code(None, "T2", "b"), Code(None, "C", "c", parent="T2")])
    assert [(a.name, f) for a, b, f in old.diff(moved).changed] == [("C", ("parent",))]
