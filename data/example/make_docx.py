"""Regenerate transcripts/P08.docx from source/P08.txt.

The example study's P08 interview is distributed as a Word file, the way transcription
services usually deliver transcripts. This script rebuilds it from the plain-text source so
the .docx can be reproduced exactly (same paragraphs, same text).

Usage:  python data/example/make_docx.py      (needs python-docx: pip install python-docx)

source/P08.txt holds one turn per paragraph, "Interviewer: ..." or "P08: ...", with blank
lines between turns.  The Word file gets a title paragraph, a header line (date, site, role),
and one paragraph per turn whose speaker label is a bold run.
"""
from pathlib import Path

from docx import Document
from docx.shared import Pt

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source" / "P08.txt"
TARGET = HERE / "transcripts" / "P08.docx"

TITLE = "Interview P08 \u2013 transcript"
HEADER = "Interview date 10 June 2025 | Site B (coastal town) | Psychological Wellbeing Practitioner | Wave 2"


def read_turns(path: Path) -> list[tuple[str, str]]:
    turns = []
    for para in path.read_text(encoding="utf-8").split("\n\n"):
        para = " ".join(line.strip() for line in para.splitlines() if line.strip())
        if not para:
            continue
        label, text = para.split(": ", 1)
        turns.append((label, text))
    return turns


def build(source: Path = SOURCE, target: Path = TARGET) -> Path:
    doc = Document()
    # fixed core properties so that regenerating gives the same metadata
    doc.core_properties.author = "themekit example study"
    doc.core_properties.title = TITLE
    style = doc.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)

    doc.add_paragraph(TITLE, style="Title")
    header = doc.add_paragraph(HEADER)
    header.runs[0].italic = True

    for label, text in read_turns(source):
        p = doc.add_paragraph()
        run = p.add_run(label + ":")
        run.bold = True
        p.add_run(" " + text)
        p.paragraph_format.space_after = Pt(6)

    target.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(target))
    return target


if __name__ == "__main__":
    print(build())
