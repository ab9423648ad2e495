"""Writing REFI-QDA projects (``.qdpx``) and checking them against ``Project.xsd``.

What is written (users, codebook, cases and variables, sources and codings) and how positions
and guids are chosen is described in :mod:`themekit.codebook.refi`; reading is in
:mod:`themekit.codebook.refi_import`.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import os
import re
import uuid
import zipfile
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..common.tables import is_missing, record_span
from ..io.load import participant_column as find_participant_column
from .code import Code
from .coding import CodedSegment, dotted_datetime
from .model import Codebook
from .refi_common import PROJECT_NAMESPACE, SETTINGS_PI_TARGET, SUGGESTION_USER, find_qde, local_name
from ..types import Corpus, atomic_write

__all__ = ["export_qdpx", "project_xml", "validate_project", "SUGGESTION_USER"]

log = logging.getLogger("themekit")

_NS = "{%s}" % PROJECT_NAMESPACE
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://themekit.invalid/refi")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XSD_DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# -- small helpers ---------------------------------------------------------------------------------

def _guid(kind: str, *parts: Any) -> str:
    return str(uuid.uuid5(_GUID_NAMESPACE, json.dumps([kind, *parts], ensure_ascii=False)))


def _safe_text(s: str) -> str:
    """Free text for XML: characters XML 1.0 cannot hold are dropped."""
    return _XML_INVALID.sub("", s)


def _xml_name(s: str, what: str) -> str:
    """An identifier that must survive the round trip exactly."""
    if _XML_INVALID.search(s):
        raise ValueError(f"{what} {s!r} contains a control character that XML cannot hold; rename it")
    return s


def _excerpt(text: str, n: int = 80) -> str:
    s = " ".join(_safe_text(text).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _xsd_datetime(order: Any) -> str | None:
    """``order`` as an ``xsd:dateTime`` string, or None when it is not a date and time."""
    if isinstance(order, datetime):
        return order.isoformat()
    if not isinstance(order, str) or not order.strip():
        return None
    s = order.strip()
    if _XSD_DATETIME.fullmatch(s):
        # The pattern checks the shape only: 2024-13-45T10:00:00 matches it but fails the schema.
        try:
            datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
        except ValueError:
            return None
        return s
    try:
        return datetime.fromisoformat(s).isoformat()
    except ValueError:
        dotted = dotted_datetime(s)
        return dotted.isoformat() if dotted is not None else None


# -- export ----------------------------------------------------------------------------------------

def _check_segment(s: CodedSegment, corpus: Corpus, what: str) -> None:
    if not isinstance(s, CodedSegment):
        raise TypeError(f"{what} must be CodedSegment objects, got {type(s).__name__}")
    t = corpus.transcripts.get(s.transcript_id)
    if t is None:
        raise ValueError(f"{what}: transcript {s.transcript_id!r} is not in the corpus")
    if s.end > len(t.text):
        raise ValueError(f"{what}: offsets {s.start}-{s.end} are beyond the end of transcript "
                         f"{s.transcript_id!r} ({len(t.text)} characters)")
    if s.text is not None and s.text != t.text[s.start:s.end]:
        raise ValueError(f"{what}: the text of segment {s.transcript_id} [{s.start}:{s.end}] differs "
                         "from the transcript there; were the offsets computed on another version?")


def _suggestion_segments(suggestions: Any, corpus: Corpus,
                         user: str) -> list[tuple[CodedSegment, float | None]]:
    """Suggested codings as (segment coded by ``user``, score)."""
    if suggestions is None:
        return []
    out: list[tuple[CodedSegment, float | None]] = []
    if isinstance(suggestions, pd.DataFrame):
        cols = set(suggestions.columns)
        if "code" not in cols:
            raise ValueError("suggestions need a 'code' column")
        if not ({"transcript_id", "start", "end"} <= cols or "utterance_id" in cols):
            raise ValueError("suggestions need transcript_id/start/end columns or an utterance_id column "
                             f"(found: {', '.join(map(str, suggestions.columns))})")
        for rec in suggestions.to_dict("records"):
            code = rec.get("code")
            if is_missing(code):
                continue
            tid, start, end = record_span(rec, corpus, "suggestion")
            score = rec.get("score")
            score = None if is_missing(score) else float(score)
            out.append((CodedSegment(tid, start, end, str(code), user), score))
        return out
    for s in suggestions:
        if not isinstance(s, CodedSegment):
            raise TypeError("suggestions must be a DataFrame (transcript_id, start, end, code, score) or "
                            f"CodedSegment objects, got {type(s).__name__}")
        out.append((replace(s, coder=user), None))
    return out


def _codebook_elements(codebook: Codebook) -> tuple[Any, list[Any]]:
    """``<CodeBook>`` in the project namespace, built from ``Codebook.to_qdc()``, and the
    processing instructions that go before it (codebook name/version)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    qdc_root = etree.fromstring(codebook.to_qdc(), parser)

    def copy(el, parent):
        tag = _NS + local_name(el)
        new = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
        for k, v in el.attrib.items():
            if k != "origin":  # CodeBookType in a project has no attributes
                new.set(k, v)
        new.text = el.text if len(el) == 0 else None
        for ch in el:
            if isinstance(ch.tag, str):
                copy(ch, new)
        return new

    pis = []
    prev = qdc_root.getprevious()
    while prev is not None:
        if isinstance(prev, etree._ProcessingInstruction):
            pis.insert(0, etree.ProcessingInstruction(prev.target, prev.text))
        prev = prev.getprevious()
    return copy(qdc_root, None), pis


def _build(corpus: Corpus, codebook: Codebook | None, segments: Iterable[CodedSegment] | None,
           suggestions: Any, project_name: str | None, participant_column: str | None | bool,
           suggestion_user: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    from lxml import etree

    from .._version import __version__

    human = list(segments or ())
    for s in human:
        _check_segment(s, corpus, "segments")
    sugg = _suggestion_segments(suggestions, corpus, suggestion_user)
    for s, _ in sugg:
        _check_segment(s, corpus, "suggestions")
    coders = sorted({s.coder for s in human})
    if sugg and suggestion_user in coders:
        raise ValueError(f"a human coder is named {suggestion_user!r}, the user that holds themekit's "
                         "suggestions; pass another suggestion_user")
    for c in coders:
        _xml_name(c, "coder name")
    users = coders + ([suggestion_user] if sugg else [])
    user_guid = {u: _guid("user", u) for u in users}

    if codebook is None:
        names = list(dict.fromkeys([s.code for s in human] + [s.code for s, _ in sugg]))
        codebook = Codebook([Code(None, n) for n in names])
    code_rank = {c.name: i for i, c in enumerate(codebook.codes)}
    for s in human + [s for s, _ in sugg]:
        if s.code not in code_rank:
            try:
                codebook.get(s.code)
            except KeyError as e:
                raise ValueError(f"code {s.code!r} (coder {s.coder!r}, transcript {s.transcript_id!r}) is "
                                 f"not in the codebook: {e.args[0]}") from None
    used = {s.code for s in human} | {s.code for s, _ in sugg}
    not_codable = sorted(c for c in used if not codebook.get(c).is_codable)
    if not_codable:
        log.warning("codings use codes marked not codable: %s", ", ".join(not_codable))

    # -- selections: (transcript) -> (start, end, coder) -> [(code, order, score)]
    spans: dict[str, dict[tuple[int, int, str], dict[str, tuple[str | None, float | None]]]] = {}
    dup = 0
    for s, score in [(s, None) for s in human] + sugg:
        codes = spans.setdefault(s.transcript_id, {}).setdefault((s.start, s.end, s.coder), {})
        if s.code in codes:
            dup += 1
            continue
        codes[s.code] = (_xsd_datetime(s.order), score)
    if dup:
        log.info("%d duplicate codings (same span, code and coder) written once", dup)
    dropped = sum(1 for s in human if s.order is not None and _xsd_datetime(s.order) is None)
    if dropped:
        log.info("%d segments have an order that is not a date and time; REFI-QDA keeps only "
                 "creation times, so it is not written", dropped)

    # -- metadata: cases and variables
    meta = corpus.metadata
    tids = list(corpus.transcripts)
    pcol = find_participant_column(meta) if participant_column in (None, True) else (participant_column or None)
    if pcol is not None and pcol not in meta.columns:
        raise ValueError(f"participant_column {pcol!r} is not a metadata column "
                         f"(columns: {', '.join(map(str, meta.columns)) or 'none'})")

    def value(tid: str, col: Any) -> str | None:
        if tid not in meta.index:
            return None
        v = meta.at[tid, col]
        return None if is_missing(v) else str(v)

    cases: dict[str, list[str]] = {}
    for tid in tids:
        name = (value(tid, pcol) if pcol else None) or tid
        cases.setdefault(name, []).append(tid)
    var_cols = [c for c in meta.columns if c != pcol]
    case_level = {c: all(len({value(t, c) for t in ts}) == 1 for ts in cases.values()) for c in var_cols}
    var_guid = {c: _guid("variable", str(c)) for c in var_cols}

    def add_value(parent, col: Any, v: str) -> None:
        vv = etree.SubElement(parent, _NS + "VariableValue")
        etree.SubElement(vv, _NS + "VariableRef", targetGUID=var_guid[col])
        etree.SubElement(vv, _NS + "TextValue").text = _safe_text(v)

    # -- the document, in the element order of Project.xsd
    name = project_name or corpus.settings.get("refi", {}).get("project") or "themekit project"
    root = etree.Element(_NS + "Project", nsmap={None: PROJECT_NAMESPACE})
    root.set("name", _safe_text(str(name)))
    root.set("origin", f"themekit {__version__}")
    if users:
        users_el = etree.SubElement(root, _NS + "Users")
        for u in users:
            etree.SubElement(users_el, _NS + "User", guid=user_guid[u], name=u)
    if len(codebook):
        cb_el, pis = _codebook_elements(codebook)
        for pi in pis:
            root.append(pi)
        root.append(cb_el)
    if var_cols:
        vars_el = etree.SubElement(root, _NS + "Variables")
        for c in var_cols:
            etree.SubElement(vars_el, _NS + "Variable", guid=var_guid[c],
                             name=_xml_name(str(c), "metadata column"), typeOfVariable="Text")
    if cases:
        cases_el = etree.SubElement(root, _NS + "Cases")
        for cname, ts in cases.items():
            case = etree.SubElement(cases_el, _NS + "Case", guid=_guid("case", cname),
                                    name=_xml_name(cname, "participant id"))
            for c in var_cols:
                v = value(ts[0], c)
                if case_level[c] and v is not None:
                    add_value(case, c, v)
            for t in ts:
                etree.SubElement(case, _NS + "SourceRef", targetGUID=_guid("source", t))
    files: list[tuple[str, bytes]] = []
    if tids:
        sources_el = etree.SubElement(root, _NS + "Sources")
        rank_user = {u: i for i, u in enumerate(users)}
        for tid in tids:
            t = corpus.transcripts[tid]
            sguid = _guid("source", tid)
            try:
                data = t.text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValueError(f"transcript {tid!r} cannot be written as UTF-8 "
                                 f"({e.reason} at {e.start})") from None
            if t.text.startswith("\ufeff"):  # readers drop one BOM: keep the text's own U+FEFF
                data = b"\xef\xbb\xbf" + data
            files.append((f"sources/{sguid}.txt", data))
            src = etree.SubElement(sources_el, _NS + "TextSource", guid=sguid,
                                   name=_xml_name(tid, "transcript id"),
                                   plainTextPath=f"internal://{sguid}.txt")
            for (start, end, coder) in sorted(spans.get(tid, {}),
                                              key=lambda k: (k[0], k[1], rank_user[k[2]])):
                codes = spans[tid][(start, end, coder)]
                sel = etree.SubElement(src, _NS + "PlainTextSelection",
                                       guid=_guid("selection", tid, start, end, coder),
                                       name=_excerpt(t.text[start:end]), startPosition=str(start),
                                       endPosition=str(end), creatingUser=user_guid[coder])
                times = sorted(o for o, _ in codes.values() if o)
                if times:
                    sel.set("creationDateTime", times[0])
                if coder == suggestion_user and sugg:
                    scored = [c if sc is None else f"{c} (score {sc:.2f})" for c, (_, sc) in codes.items()]
                    etree.SubElement(sel, _NS + "Description").text = _safe_text(
                        "Suggested by themekit: " + "; ".join(scored))
                for code in sorted(codes, key=lambda c: code_rank.get(c, len(code_rank))):
                    order, _ = codes[code]
                    coding = etree.SubElement(sel, _NS + "Coding",
                                              guid=_guid("coding", tid, start, end, coder, code),
                                              creatingUser=user_guid[coder])
                    if order:
                        coding.set("creationDateTime", order)
                    etree.SubElement(coding, _NS + "CodeRef", targetGUID=codebook.get(code).id)
            for c in var_cols:
                v = value(tid, c)
                if not case_level[c] and v is not None:
                    add_value(src, c, v)

    tree = etree.ElementTree(root)
    extra = {"participant_column": None if pcol is None else str(pcol),
             "metadata_columns": [str(c) for c in var_cols],
             "settings": {k: corpus.settings[k] for k in ("reader", "segmenter", "roles") if k in corpus.settings}}
    payload = json.dumps(extra, ensure_ascii=True, sort_keys=True, default=str).replace("?>", "?\\u003e")
    root.addprevious(etree.ProcessingInstruction(SETTINGS_PI_TARGET, payload))
    qde = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    errors = validate_project(qde)
    if errors:  # a bug in themekit, not in the user's data
        raise RuntimeError("themekit built a project.qde that fails the REFI-QDA schema; please report: "
                           + "; ".join(errors[:3]))
    return qde, files


def project_xml(corpus: Corpus, codebook: Codebook | None = None,
                segments: Iterable[CodedSegment] | None = None, suggestions: Any = None, *,
                project_name: str | None = None, participant_column: str | None | bool = None,
                suggestion_user: str = SUGGESTION_USER) -> bytes:
    """The ``project.qde`` document :func:`export_qdpx` writes (UTF-8 bytes), for inspection."""
    qde, _ = _build(corpus, codebook, segments, suggestions, project_name, participant_column,
                    suggestion_user)
    return qde


def export_qdpx(path: str | os.PathLike, corpus: Corpus, codebook: Codebook | None = None,
                segments: Iterable[CodedSegment] | None = None, suggestions: Any = None, *,
                project_name: str | None = None, participant_column: str | None | bool = None,
                suggestion_user: str = SUGGESTION_USER) -> Path:
    """Write a REFI-QDA project (``.qdpx``) for NVivo, ATLAS.ti, MAXQDA, QualCoder.

    Parameters
    ----------
    corpus : the transcripts (each becomes a text source) and their metadata (cases, variables).
    codebook : written as the project's codebook; by default a flat list of the codes used.
        Every code used by ``segments``/``suggestions`` must be in it.
    segments : human :class:`~themekit.codebook.coding.CodedSegment` objects; one REFI user per coder.
    suggestions : themekit's suggested codings, written as codings of user ``suggestion_user``
        (``"themekit"``), each selection with a ``Description`` giving the score(s). A DataFrame
        with ``code`` and either ``transcript_id``/``start``/``end`` or ``utterance_id`` (plus an
        optional ``score``), as :mod:`themekit.mapping` returns — pass only the rows to export —
        or CodedSegment objects.
    project_name : the project's name (default ``"themekit project"``).
    participant_column : metadata column naming participants (cases); default the first of
        ``participant_id``, ``participant``, ``case_id``, ``case``; ``False`` for one case per
        transcript.

    The archive is built in a temporary file and renamed into place. Guids derive from ids,
    so exporting the same data again gives an identical file.
    """
    qde, files = _build(corpus, codebook, segments, suggestions, project_name, participant_column,
                        suggestion_user)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as z:
            for member, data in [("project.qde", qde), *files]:
                info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, data)

    return atomic_write(path, write)


# -- validation ------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _schema():
    from lxml import etree

    ref = importlib.resources.files("themekit").joinpath("schemas/Project.xsd")
    return etree.XMLSchema(etree.fromstring(ref.read_bytes()))


def validate_project(source: bytes | str | os.PathLike) -> list[str]:
    """Errors of a ``project.qde`` against the REFI-QDA Project.xsd (v1.0); ``[]`` when valid.

    ``source``: the XML as bytes, or the path of a ``.qde`` file or of a ``.qdpx`` archive.
    """
    from lxml import etree

    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        p = Path(source)
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                data = z.read(find_qde(z, p))
        else:
            data = p.read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        doc = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        return [f"line {e.lineno}: not well-formed XML ({e.msg})"]
    schema = _schema()
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]

