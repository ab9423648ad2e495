"""Codebooks as other teams and CAQDAS programs write them: MacQueen-style columns, theme /
sub-theme / code columns with merged cells, code paths, numbered and indented codes, NVivo,
ATLAS.ti, MAXQDA and Dedoose code lists; Excel, Word and Markdown tables; YAML with the same
field names."""

from __future__ import annotations

import logging
import textwrap

import pytest

from themekit.codebook import Code, Codebook
from themekit.types import InputError


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def tree(cb: Codebook) -> list[tuple[str, str | None, bool]]:
    return [(c.name, c.parent, c.is_codable) for c in cb.codes]


def test_macqueen_columns_land_in_their_fields(tmp_path):
    p = write(tmp_path, "cb.csv", """\
        Code,Brief definition,Full definition,When to use,When not to use,Typical exemplar,Atypical exemplar,Close but no
        Access barriers,Trouble getting care,Any obstacle to care.,Waits; cost,Clinic waits,I waited six weeks,Even the bus,The room was cold
        """)
    [c] = Codebook.load(p).codes
    assert c.definition == "Trouble getting care\nAny obstacle to care."
    assert (c.include, c.exclude) == ("Waits; cost", "Clinic waits\nClose but no: The room was cold")
    assert c.examples == ("I waited six weeks", "Even the bus")


def test_theme_subtheme_code_columns_written_once_per_group(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", """\
        Theme,Sub-theme,Code,Definition,Example quote
        Access,,,How people get in,
        ,Waiting,Waiting times,Referral to contact,I waited six weeks
        ,,Chasing,Chasing the service,
        Relationships,Staff,Kind staff,Warmth,She was lovely
        """)
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert tree(cb) == [("Access", None, False), ("Waiting", "Access", False), ("Waiting times", "Waiting", True),
                        ("Chasing", "Waiting", True), ("Relationships", None, False), ("Staff", "Relationships", False),
                        ("Kind staff", "Staff", True)]
    assert cb.get("Access").definition == "How people get in"
    assert cb.get("Waiting times").examples == ("I waited six weeks",)
    assert "2 rows with a blank 'Theme' cell read as under the one above" in caplog.text


def test_a_theme_column_right_of_the_code_keeps_blank_as_root(tmp_path):
    # themekit's own layout (code,theme): a blank theme is a root code, not the theme above
    p = write(tmp_path, "cb.csv", "code,theme\nA,T\nB,\n")
    assert tree(Codebook.load(p)) == [("T", None, False), ("A", "T", True), ("B", None, True)]


@pytest.mark.parametrize("names", [
    ["Barriers\\Access", "Barriers\\Cost"],
    ["Barriers > Access", "Barriers > Cost"],
    ["Barriers::Access", "Barriers::Cost"],
    ["Nodes\\\\Barriers\\Access", "Nodes\\\\Barriers\\Cost"],   # NVivo: folder\\parent\child
])
def test_code_paths(tmp_path, names, caplog):
    p = write(tmp_path, "cb.csv", "Code,Description\n" + "".join(f'"{n}",d{i}\n' for i, n in enumerate(names)))
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert "1 parent codes named only in a path or a parent column added as non-codable themes" in caplog.text
    assert tree(cb) == [("Barriers", None, False), ("Access", "Barriers", True), ("Cost", "Barriers", True)]
    assert cb.get("Cost").definition == "d1"


def test_numbered_codes_nest_by_number(tmp_path):
    p = write(tmp_path, "cb.csv", "Code,Definition\n1 Access,t\n1.1 Waiting times,w\n1.2 Access barriers,b\n"
                                  "2 Support,s\n2.1 Family,f\n")
    assert tree(Codebook.load(p)) == [("1 Access", None, True), ("1.1 Waiting times", "1 Access", True),
                                      ("1.2 Access barriers", "1 Access", True), ("2 Support", None, True),
                                      ("2.1 Family", "2 Support", True)]
    p = write(tmp_path, "cb2.csv", "No.,Code\n1,Access\n1.1,Waiting times\n")
    assert tree(Codebook.load(p)) == [("Access", None, True), ("Waiting times", "Access", True)]


def test_indented_names_nest(tmp_path):
    p = write(tmp_path, "cb.csv", "Name,Description\nAccess,a\n  Waiting times,w\n    Long waits,l\n  Chasing,c\n"
                                  "Support,s\n")
    assert tree(Codebook.load(p)) == [("Access", None, True), ("Waiting times", "Access", True),
                                      ("Long waits", "Waiting times", True), ("Chasing", "Access", True),
                                      ("Support", None, True)]


def test_caqdas_code_lists(tmp_path, caplog):
    # ATLAS.ti: Code, Comment, Groups, Grounded, Density (counts ignored without a word)
    p = write(tmp_path, "atlas.csv", "Code,Comment,Groups,Grounded,Density\nAccess barriers,Any obstacle,Barriers,12,2\n"
                                     "Family,Family help,Support,7,1\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert tree(cb) == [("Barriers", None, False), ("Access barriers", "Barriers", True), ("Support", None, False),
                        ("Family", "Support", True)]
    assert cb.get("Access barriers").definition == "Any obstacle"
    assert "ignored" not in caplog.text
    # MAXQDA: Parent code, Code, Memo
    p = write(tmp_path, "maxqda.csv", "Parent code,Code,Memo\n,Barriers,\nBarriers,Access,Any obstacle\n"
                                      "Barriers\\Access,Long waits,\n")
    cb = Codebook.load(p)
    assert tree(cb) == [("Barriers", None, True), ("Access", "Barriers", True), ("Long waits", "Access", True)]
    assert cb.get("Access").definition == "Any obstacle"
    # NVivo: Name, Description, Files, References with paths
    p = write(tmp_path, "nvivo.csv", 'Name,Description,Files,References\n"Nodes\\\\Barriers",,5,12\n'
                                     '"Nodes\\\\Barriers\\Access",Getting in,3,4\n')
    assert tree(Codebook.load(p)) == [("Barriers", None, True), ("Access", "Barriers", True)]
    # Dedoose: Title, Description, Parent Title
    p = write(tmp_path, "dedoose.csv", "Title,Description,Parent Title\nBarriers,,\nAccess,Getting in,Barriers\n")
    assert tree(Codebook.load(p)) == [("Barriers", None, True), ("Access", "Barriers", True)]


def test_unknown_columns_with_content_are_named_once(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", "Code,Definition,Rationale,Files\nA,alpha,because,3\nB,beta,,4\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert cb.names == ("A", "B")
    assert caplog.text.count("ignored") == 1
    assert "columns 'Rationale' ignored (not a code field" in caplog.text


def test_a_memo_is_the_definition_only_without_a_definition_column(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", "Code,Definition,Memo\nA,alpha,my note\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert Codebook.load(p).get("A").definition == "alpha"
    assert "columns 'Memo' ignored" in caplog.text
    caplog.clear()
    p = write(tmp_path, "cb2.csv", "Code,Notes\nA,my definition\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert Codebook.load(p).get("A").definition == "my definition"
    assert [r.getMessage() for r in caplog.records] == [f"{p}: column 'Notes' read as the definition (there is "
                                                         "no definition column)"]


def test_numeric_id_column_is_no_guid(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", "ID,Code\n1,A\n2,B\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert Codebook.load(p).names == ("A", "B")
    assert "column 'ID' holds no REFI-QDA guids" in caplog.text


def test_excel_codebook_with_title_rows_merged_themes_and_indent(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    from openpyxl.styles import Alignment

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Codebook"
    ws.append(["Study codebook v3"])
    ws.append([])
    ws.append(["Theme", "Code", "Definition", "Inclusion criteria", "Exclusion criteria", "Example"])
    ws.append(["Access", "Waiting times", "Time waiting", "weeks", "clinic waits", "I waited six weeks"])
    ws.append([None, "Chasing", "Having to chase", None, None, None])
    ws.merge_cells("A4:A5")
    ws.append(["Support", "Family", "Family help", None, None, 12])
    wb.save(tmp_path / "cb.xlsx")
    cb = Codebook.load(tmp_path / "cb.xlsx")
    assert tree(cb) == [("Access", None, False), ("Waiting times", "Access", True), ("Chasing", "Access", True),
                        ("Support", None, False), ("Family", "Support", True)]
    c = cb.get("Waiting times")
    assert (c.definition, c.include, c.exclude, c.examples) == ("Time waiting", "weeks", "clinic waits",
                                                                ("I waited six weeks",))
    assert cb.get("Family").examples == ("12",)

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "Description", "Files", "References"])
    for name, indent in (("Access", 0), ("Waiting times", 1), ("Support", 0), ("Family", 1)):
        ws.append([name, name.lower(), 1, 2])
        ws.cell(ws.max_row, 1).alignment = Alignment(indent=indent)
    wb.save(tmp_path / "nvivo.xlsx")
    assert tree(Codebook.load(tmp_path / "nvivo.xlsx")) == [
        ("Access", None, True), ("Waiting times", "Access", True), ("Support", None, True), ("Family", "Support", True)]


def test_word_and_markdown_tables(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Codebook", 1)
    t = d.add_table(rows=1, cols=3)
    for i, h in enumerate(("Code", "Definition", "Example")):
        t.rows[0].cells[i].text = h
    for row in (("Access", "Getting in", "I waited"), ("Cost", "Paying", "It cost me")):
        for i, v in enumerate(t.add_row().cells):
            v.text = row[i]
    d.save(tmp_path / "cb.docx")
    cb = Codebook.load(tmp_path / "cb.docx")
    assert [(c.name, c.definition, c.examples) for c in cb.codes] == [("Access", "Getting in", ("I waited",)),
                                                                       ("Cost", "Paying", ("It cost me",))]
    p = write(tmp_path, "cb.md", """\
        # Codebook

        | Code | Theme | Definition | When to use |
        |------|-------|------------|-------------|
        | Waiting times | Access | Time waiting | weeks |
        | Family | Support | Family help \\| kin | |
        """)
    cb = Codebook.load(p)
    assert tree(cb) == [("Access", None, False), ("Waiting times", "Access", True), ("Support", None, False),
                        ("Family", "Support", True)]
    assert cb.get("Family").definition == "Family help | kin" and cb.get("Waiting times").include == "weeks"


def test_a_table_without_a_code_column_names_the_file_and_its_first_row(tmp_path):
    p = write(tmp_path, "cb.md", "| Label text | Meaning |\n|---|---|\n| A | x |\n")
    with pytest.raises(InputError, match=r"cb.md, line 1: no code column \('Code', 'Code name', 'Name', "
                                         r"'Theme'...\) \(first row: Label text, Meaning\)"):
        Codebook.load(p)
    with pytest.raises(InputError, match="cb.docx: the file has no table"):
        import docx
        docx.Document().save(tmp_path / "cb.docx")
        Codebook.load(tmp_path / "cb.docx")


def test_yaml_takes_the_same_field_names(tmp_path):
    p = write(tmp_path, "cb.yaml", """\
        themes:
          - name: Access
            Definition: getting in
            codes:
              - Code name: Waiting times
                Brief definition: waits
                Inclusion criteria: weeks
                When not to use: clinic
                Typical exemplar: I waited
                Atypical exemplar: [Even the bus]
        """)
    cb = Codebook.load(p)
    c = cb.get("Waiting times")
    assert (c.parent, c.definition, c.include, c.exclude, c.examples) == (
        "Access", "waits", "weeks", "clinic", ("I waited", "Even the bus"))


QDC_FROM_ATLAS = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="ATLAS.ti 23">
  <Codes>
    <Code guid="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa1" name="Access" isCodable="true" color="#ff0000">
      <Description>Definition: Any obstacle to getting care.
When to use: waits, distance
When not to use: the clinic waiting room
Typical exemplar: I waited six weeks
Atypical exemplar: Even the bus</Description>
    </Code>
    <Code guid="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa2" name="Family" isCodable="true"/>
    <Code guid="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa3" name="Cost" isCodable="true"/>
  </Codes>
  <Sets>
    <Set guid="6f1e2b8a-0001-4c3d-9e1f-bbbbbbbbbbb1" name="Barriers">
      <MemberCode targetGUID="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa1"/>
      <MemberCode targetGUID="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa3"/>
    </Set>
    <Set guid="6f1e2b8a-0001-4c3d-9e1f-bbbbbbbbbbb2" name="Support">
      <MemberCode targetGUID="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa2"/>
      <MemberCode targetGUID="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa3"/>
    </Set>
  </Sets>
</CodeBook>
"""


def test_qdc_memo_sections_and_code_sets_as_themes(tmp_path, caplog):
    p = tmp_path / "cb.qdc"
    p.write_text(QDC_FROM_ATLAS, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert tree(cb) == [("Barriers", None, False), ("Access", "Barriers", True), ("Cost", "Barriers", True),
                        ("Support", None, False), ("Family", "Support", True)]
    c = cb.get("Access")
    assert (c.definition, c.include, c.exclude, c.examples, c.color) == (
        "Any obstacle to getting care.", "waits, distance", "the clinic waiting room",
        ("I waited six weeks", "Even the bus"), "#FF0000")
    assert c.id == "6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa1"
    assert ("2 code sets read as themes of the codes in them (the codebook has no nesting); 1 codes in more "
            "than one set placed under the first") in caplog.text
    # a nested codebook keeps its hierarchy; its sets are left as they are
    nested = QDC_FROM_ATLAS.replace('isCodable="true"/>\n    <Code guid="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa3" '
                                    'name="Cost" isCodable="true"/>',
                                    'isCodable="true"><Code guid="6f1e2b8a-0001-4c3d-9e1f-aaaaaaaaaaa3" name="Cost" '
                                    'isCodable="true"/></Code>')
    p.write_text(nested, encoding="utf-8")
    assert tree(Codebook.load(p)) == [("Access", None, True), ("Family", None, True), ("Cost", "Family", True)]


def test_semicolon_and_tab_separated_csv(tmp_path):
    # Excel writes ';' where the decimal mark is a comma; some exports write tabs into a .csv
    p = write(tmp_path, "cb.csv", 'Code;Definition;Example\nAccess;"Getting in; or not";I waited\nCost;Paying, or not;\n')
    cb = Codebook.load(p)
    assert [(c.name, c.definition, c.examples) for c in cb.codes] == [
        ("Access", "Getting in; or not", ("I waited",)), ("Cost", "Paying, or not", ())]
    assert Codebook.from_csv("Code;Definition\nA;x, y\n").get("A").definition == "x, y"
    p = write(tmp_path, "tab.csv", "\ufeffCode\tDefinition\nAccess\tGetting in, or not\n")
    assert Codebook.load(p).get("Access").definition == "Getting in, or not"


def test_word_one_table_per_code_and_one_table_per_theme(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Study codebook", 0)
    for code, theme, fields in (("Access barriers", "Barriers", [("Brief definition", "Trouble getting care"),
                                                                 ("Full definition", "Any obstacle."),
                                                                 ("When to use", "Waits"),
                                                                 ("When not to use:", "Clinic waits"),
                                                                 ("Example", "I waited six weeks")]),
                                ("Family support", None, [("Brief definition", "Help from kin")])):
        d.add_heading(code, 2)
        t = d.add_table(rows=0, cols=2)
        for k, v in [("Code", code)] + ([("Theme", theme)] if theme else []) + fields:
            cells = t.add_row().cells
            cells[0].text, cells[1].text = k, v
    d.save(tmp_path / "macqueen.docx")
    cb = Codebook.load(tmp_path / "macqueen.docx")
    assert tree(cb) == [("Barriers", None, False), ("Access barriers", "Barriers", True), ("Family support", None, True)]
    c = cb.get("Access barriers")
    assert (c.definition, c.include, c.exclude, c.examples) == ("Trouble getting care\nAny obstacle.", "Waits",
                                                                "Clinic waits", ("I waited six weeks",))

    d = docx.Document()
    d.add_heading("Codebook", 0)
    for theme, rows in (("Access", [("Waiting times", "How long"), ("Chasing", "Calls")]), ("Support", [("Family", "Kin")])):
        d.add_heading(theme, 1)
        t = d.add_table(rows=1, cols=2)
        t.rows[0].cells[0].text, t.rows[0].cells[1].text = "Code", "Definition"
        for a, b in rows:
            cells = t.add_row().cells
            cells[0].text, cells[1].text = a, b
    d.save(tmp_path / "themes.docx")
    cb = Codebook.load(tmp_path / "themes.docx")
    assert tree(cb) == [("Access", None, False), ("Waiting times", "Access", True), ("Chasing", "Access", True),
                        ("Support", None, False), ("Family", "Support", True)]
    assert cb.get("Chasing").definition == "Calls"


def test_markdown_outline_codebook(tmp_path):
    p = write(tmp_path, "cb.md", """\
        # NPT codebook v2

        ## Theme 1: Access
        How people get into the service.

        ### Waiting times
        **Definition:** Time from referral to first contact.
        **When to use:** weeks or months of waiting
        **When not to use:** waits in the clinic
        - Example: I waited six weeks
        - Example: Nobody called back

        ### Chasing
        Having to chase the service.

        ## Support
        - **Family**: help from relatives
          - Inclusion criteria: partners, parents
        - Peers — help from others with the condition
          - Friends at group
        """)
    cb = Codebook.load(p)
    assert tree(cb) == [("Access", None, False), ("Waiting times", "Access", True), ("Chasing", "Access", True),
                        ("Support", None, False), ("Family", "Support", True), ("Peers", "Support", False),
                        ("Friends at group", "Peers", True)]
    c = cb.get("Waiting times")
    assert (c.definition, c.include, c.exclude, c.examples) == (
        "Time from referral to first contact.", "weeks or months of waiting", "waits in the clinic",
        ("I waited six weeks", "Nobody called back"))
    assert cb.get("Access").definition == "How people get into the service."
    assert (cb.get("Family").definition, cb.get("Family").include) == ("help from relatives", "partners, parents")
    assert cb.get("Peers").definition == "help from others with the condition"


def test_word_outline_codebook(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Codebook", 0)
    d.add_heading("Access", 1)
    d.add_paragraph("How people get into the service.")
    d.add_heading("Waiting times", 2)
    p = d.add_paragraph()
    p.add_run("Definition:").bold = True
    p.add_run(" Time from referral.")
    d.add_paragraph("Example: I waited six weeks", style="List Bullet")
    d.add_paragraph("Code: Chasing")
    d.add_paragraph("Brief definition: Having to chase")
    d.add_heading("Support", 1)
    p = d.add_paragraph(style="List Bullet")
    p.add_run("Family").bold = True
    p.add_run(": help from relatives")
    d.add_paragraph("When to use: partners, parents", style="List Bullet 2")
    d.save(tmp_path / "cb.docx")
    cb = Codebook.load(tmp_path / "cb.docx")
    assert tree(cb) == [("Access", None, False), ("Waiting times", "Access", True), ("Chasing", "Access", True),
                        ("Support", None, False), ("Family", "Support", True)]
    assert [(c.name, c.definition, c.include, c.examples) for c in cb.codable()] == [
        ("Waiting times", "Time from referral.", "", ("I waited six weeks",)), ("Chasing", "Having to chase", "", ()),
        ("Family", "help from relatives", "partners, parents", ())]


def test_a_document_without_codes_says_how_to_write_them(tmp_path):
    p = write(tmp_path, "cb.md", "Some notes about the study.\nNothing else.\n")
    with pytest.raises(InputError, match="cb.md: the file has no table; nor headings or bullets naming codes"):
        Codebook.load(p)


def test_rows_without_a_code(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", "Name,Description,Files,References\nAccess,a,3,4\n,,3,4\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert Codebook.load(p).names == ("Access",)
    assert "1 rows without a code skipped (line 3: only counts or notes)" in caplog.text
    p = write(tmp_path, "cb2.csv", "Code,Definition\nAccess,a\n,orphan definition\n")
    with pytest.raises(InputError, match="cb2.csv, line 3: empty code name \\(the row has a definition"):
        Codebook.load(p)


def test_a_code_in_several_groups_goes_under_the_first(tmp_path, caplog):
    p = write(tmp_path, "atlas.csv", 'Code,Comment,Groups\nAccess,a,"Barriers\nSupport"\nFamily,f,Support\n')
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert tree(cb) == [("Barriers", None, False), ("Access", "Barriers", True), ("Support", None, False),
                        ("Family", "Support", True)]
    assert "1 codes in several 'Groups' placed under the first" in caplog.text
    assert Codebook.from_csv("code,id\nA\n").names == ("A",)   # a short row has no id


def test_a_name_with_a_path_separator_is_a_path_only_when_its_parent_is_named_elsewhere(tmp_path, caplog):
    # 'Access > cost' alone is a code name; 'Barriers > Waits' shares its parent with another row
    p = write(tmp_path, "cb.csv", """\
        Code,Definition
        Access > cost,a
        Yes\\No answers,y
        Covid-19 impact,c
        2-step verification,v
        Barriers > Waits,w
        Barriers > Travel,t
        Trust,r
        Stigma,s
        """)
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb = Codebook.load(p)
    assert tree(cb) == [("Access > cost", None, True), ("Yes\\No answers", None, True),
                        ("Covid-19 impact", None, True), ("2-step verification", None, True),
                        ("Barriers", None, False), ("Waits", "Barriers", True), ("Travel", "Barriers", True),
                        ("Trust", None, True), ("Stigma", None, True)]
    assert caplog.text.count("cb.csv") == 1
    assert "2 names with a path separator read whole (lines 2, 3: no other row names their parent)" in caplog.text
    # a list written mostly as paths (ATLAS.ti's 'Prefix::Code') is read as paths, each parent once too
    p = write(tmp_path, "atlas.csv", "Code,Comment\nBarriers::Access,a\nSupport::Family,f\nTrust,t\n")
    assert tree(Codebook.load(p)) == [("Barriers", None, False), ("Access", "Barriers", True),
                                      ("Support", None, False), ("Family", "Support", True), ("Trust", None, True)]


def test_a_code_path_that_repeats_its_theme_column_is_named_by_its_last_part(tmp_path):
    p = write(tmp_path, "cb.csv", "Theme,Code,Definition\nBarriers,Barriers > Waits,w\n,Barriers > Travel,t\n"
                                  "Support,Access > cost,a\n")
    assert tree(Codebook.load(p)) == [("Barriers", None, False), ("Waits", "Barriers", True),
                                      ("Travel", "Barriers", True), ("Support", None, False),
                                      ("Access > cost", "Support", True)]


def test_nesting_by_indent_is_said(tmp_path, caplog):
    p = write(tmp_path, "cb.csv", "Code,Definition\nTrust,x\n Trust in staff,y\nCost,z\n")  # a stray space nests
    with caplog.at_level(logging.WARNING, logger="themekit"):
        assert tree(Codebook.load(p)) == [("Trust", None, True), ("Trust in staff", "Trust", True),
                                          ("Cost", None, True)]
    assert [r.getMessage() for r in caplog.records] == [
        f"{p}: 1 codes placed under the code above by the indent of their name (line 3); remove the "
        "leading spaces if they are not sub-codes"]


def test_a_parent_named_with_a_path_separator_is_the_code_of_that_name(tmp_path):
    p = write(tmp_path, "cb.csv", "Title,Description,Parent Title\nAccess > cost,a,\nBus fares,b,Access > cost\n"
                                  "Long waits,w,Barriers\\Access\n")
    assert tree(Codebook.load(p)) == [("Access > cost", None, True), ("Bus fares", "Access > cost", True),
                                      ("Barriers", None, False), ("Access", "Barriers", False),
                                      ("Long waits", "Access", True)]
    p = write(tmp_path, "cb.md", "# Access > cost\n- Bus fares: b\n# Yes\\No\n- Undecided: u\n")
    assert tree(Codebook.load(p)) == [("Access > cost", None, False), ("Bus fares", "Access > cost", True),
                                      ("Yes\\No", None, False), ("Undecided", "Yes\\No", True)]


def test_themekit_csv_round_trips_a_code_named_like_its_theme_path(tmp_path):
    cb = Codebook([Code(None, "Barriers", is_codable=False), Code(None, "Barriers > Waits", parent="Barriers"),
                   Code(None, "Access > cost")])
    assert Codebook.load(cb.save(tmp_path / "cb.csv")).codes == cb.codes


def test_a_study_folder_with_two_codebooks_says_which_is_used(tmp_path, caplog):
    import argparse

    from themekit.cli.map import find_codebook

    write(tmp_path, "codebook.csv", "code,definition\nA,a\n")
    write(tmp_path, "codebook.md", "- B: b\n")
    with caplog.at_level(logging.WARNING, logger="themekit"):
        cb, path = find_codebook(argparse.Namespace(codebook=None, inputs=[str(tmp_path)]))
    assert (cb.names, path.name) == (("A",), "codebook.csv")
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: codebook.csv, codebook.md are all there; using codebook.csv (pass it explicitly to choose "
        "another)"]


def test_a_study_folder_codebook_and_coding_found_by_the_words_in_their_names(tmp_path, caplog):
    # researchers keep the names their tools and versions give: 'Telehealth codebook v3.xlsx'
    from themekit.codebook.code import CODEBOOK_FILE_NAMES, CODED_FILE_NAMES, study_folder_file

    write(tmp_path, "Telehealth Codebook v3.csv", "code,definition\nA,a\n")
    write(tmp_path, "MAXQDA2022 Coded segments.csv", "Document name,Code,Segment\nP01,A,hi\n")
    write(tmp_path, "metadata.csv", "transcript_id\nP01\n")
    with caplog.at_level(logging.INFO, logger="themekit"):
        cb = study_folder_file(tmp_path, CODEBOOK_FILE_NAMES)
        coded = study_folder_file(tmp_path, CODED_FILE_NAMES)
    assert (cb.name, coded.name) == ("Telehealth Codebook v3.csv", "MAXQDA2022 Coded segments.csv")
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: using 'Telehealth Codebook v3.csv' as codebook.* (its name says so)",
        f"{tmp_path}: using 'MAXQDA2022 Coded segments.csv' as coded_segments.* (its name says so)"]


def test_a_study_folder_with_two_named_codebooks_uses_neither_and_says_so(tmp_path, caplog):
    from themekit.codebook.code import CODEBOOK_FILE_NAMES, study_folder_file

    write(tmp_path, "codebook v2.csv", "code\nA\n")
    write(tmp_path, "codebook_v3.md", "- B: b\n")
    write(tmp_path, "notes.csv", "code\nC\n")
    with caplog.at_level(logging.INFO, logger="themekit"):
        assert study_folder_file(tmp_path, CODEBOOK_FILE_NAMES) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: codebook v2.csv, codebook_v3.md may each be codebook.*; none used (pass the one "
        "to use explicitly)"]
