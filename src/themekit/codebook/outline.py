"""Codebooks written as documents rather than tables: Markdown or Word with headings for themes
and codes, bullets for codes, and ``Label: text`` lines for their fields.

    ## Access                                  a heading: a theme (or a code, when it has none below)
    How people get into the service.           text under a heading: its definition
    ### Waiting times                          a deeper heading: a code under it
    **When to use:** weeks or months           a field line: label as in a codebook table
    - **Chasing**: having to chase             a bullet: a code (text after ':' or a dash: definition)
      - Example: I rang them every day         a field of the bullet above

The result is a table (one row per code with ``Code``, ``Parent``, the field columns and
``Codable``) that :mod:`themekit.codebook.formats` reads like any codebook table. A document
title (a single top heading above the others) is no code. Codes with codes below them are
themes (not codable).
"""

from __future__ import annotations

import re
from pathlib import Path

from .tables import Table

__all__ = ["outline_table", "markdown_lines", "word_lines"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+•]|\d+[.)])\s+(.*)$")
_LABEL = re.compile(r"^(?:\*\*|__)?([A-Za-z][\w \-/']{0,40}?)(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(.*)$")
_NAME_TEXT = re.compile(r"^(?:\*\*|__)(.+?)(?:\*\*|__)\s*(?:[:\-–—]\s*)?(.*)$|^(.+?)\s*(?::|\s[-–—])\s+(.*)$")
_PREFIX = re.compile(r"^(?:(?:main |sub-?|overarching )?theme|sub-?code|code|category|node)\s*\d*(?:\.\d+)*\s*[:.\-–—]\s+",
                     re.IGNORECASE)


def markdown_lines(text: str) -> list[tuple[int, str, int, str]]:
    """(line, kind, level, text) with kind 'heading' (level 1-6), 'bullet' (level = indent) or 'text'."""
    out = []
    for n, ln in enumerate(text.split("\n"), start=1):
        if not ln.strip():
            continue
        m = _HEADING.match(ln)
        if m:
            out.append((n, "heading", len(m.group(1)), m.group(2)))
            continue
        m = _BULLET.match(ln)
        if m:
            out.append((n, "bullet", len(m.group(1).replace("\t", "    ")), m.group(2).strip()))
            continue
        out.append((n, "text", 0, ln.strip()))
    return out


def word_lines(path: Path) -> list[tuple[int, str, int, str]]:
    """The paragraphs of a Word file as :func:`markdown_lines` gives them (numbered in order);
    headings by their style, list items by their numbering level; a bold start is a name."""
    from ..io.word import open_docx

    doc = open_docx(path)
    out = []
    for n, p in enumerate(doc.paragraphs, start=1):
        text = p.text.strip()
        if not text:
            continue
        style = (p.style.name if p.style is not None else "") or ""
        m = re.match(r"Heading (\d)", style)
        if m or style == "Title":
            out.append((n, "heading", int(m.group(1)) if m else 0, text))
            continue
        bold = next((r.text for r in p.runs if r.text.strip()), "") if p.runs and p.runs[0].bold else ""
        if bold and text.startswith(bold.strip()) and not bold.strip().endswith(":"):
            text = f"**{bold.strip()}**{text[len(bold.strip()):]}"
        ppr = p._p.pPr
        num = ppr.numPr if ppr is not None else None
        if num is not None or "List" in style:
            level = int(num.ilvl.val) if num is not None and num.ilvl is not None else 0
            out.append((n, "bullet", level * 4, text))
        else:
            out.append((n, "text", 0, text))
    return out


def outline_table(lines: list[tuple[int, str, int, str]], where: str, field_of) -> Table | None:
    """The codes of an outline as a codebook table; None when it has no codes (no headings or
    bullets). ``field_of(label)`` names the codebook field a ``Label:`` line gives, or None."""
    headings = [lv for _, kind, lv, _ in lines if kind == "heading"]
    title = None
    if headings:
        top = min(headings)
        first = next(i for i, x in enumerate(lines) if x[1] == "heading")
        if headings.count(top) == 1 and len(headings) > 1 and lines[first][2] == top:
            title = first  # the document's title
    entries: list[dict] = []
    stack: list[tuple[float, int, bool]] = []  # (depth key, entry index, a heading?) of open entries
    levels = sorted(set(headings))
    current: int | None = None
    last_field: str | None = None
    for i, (line, kind, level, text) in enumerate(lines):
        if i == title:
            continue
        if kind in ("bullet", "text"):
            body = re.sub(r"^(?:\*\*|__)(.+?):(?:\*\*|__)", r"\1:", text)
            m = _LABEL.match(body)
            field = field_of(m.group(1)) if m else None
            if field == "code":  # 'Code: Access barriers' starts a code, as a bullet would: beside
                kind, level, text = "bullet", 0, m.group(2).strip()  # a code heading, not under it
                named = {e["parent"] for e in entries}
                while (stack and stack[-1][2] and entries[stack[-1][1]]["fields"]
                       and entries[stack[-1][1]]["name"] not in named):
                    stack.pop()
            elif field is not None and current is not None:
                entries[current]["fields"].setdefault(field, []).append(m.group(2).strip().strip("*_ "))
                last_field = field
                continue
            elif kind == "text":
                if current is not None:
                    f = last_field or "definition"
                    vals = entries[current]["fields"].setdefault(f, [])
                    if vals and f != "examples":
                        vals[-1] = (vals[-1] + " " + text).strip()
                    else:
                        vals.append(text)
                continue
        if kind == "heading":
            depth: float = levels.index(level)
            name, definition = text, ""
        else:
            head = max((d for d, _, h in stack if h), default=-1)  # the heading it is under
            depth = head + 1 + level / 1000  # nested bullets sort by indent below their heading
            m = _NAME_TEXT.match(text)
            if m:
                name, definition = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            else:
                name, definition = text, ""
        name = _PREFIX.sub("", name.strip().strip("*_ ")).strip()
        if not name:
            continue
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = entries[stack[-1][1]]["name"] if stack else None
        entries.append({"name": name, "parent": parent, "line": line,
                        "fields": {"definition": [definition.strip()]} if definition.strip() else {}})
        current = len(entries) - 1
        stack.append((depth, current, kind == "heading"))
        last_field = None
    if not entries:
        return None
    with_kids = {e["parent"] for e in entries if e["parent"]}
    fields = ["definition", "include", "exclude", "close_but_no", "examples"]
    header = ["Code", "Parent", "Definition", "Include", "Exclude", "Close but no", "Examples", "Codable"]
    rows = []
    for e in entries:
        f = e["fields"]
        cells = [e["name"], e["parent"] or ""]
        for k in fields:
            vals = [v for v in f.get(k, []) if v]
            cells.append(" | ".join(v.replace("\\", "\\\\").replace("|", "\\|") for v in vals) if k == "examples"
                         else "\n".join(vals))
        cells.append("false" if e["name"] in with_kids else "true")
        rows.append((e["line"], cells, [0] * len(cells)))
    return Table(header, rows, where)
