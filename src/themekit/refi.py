"""REFI-QDA Project Exchange (``.qdpx``): hand a study to NVivo, ATLAS.ti, MAXQDA or QualCoder
and read their projects back.

A ``.qdpx`` file is a zip archive with ``project.qde`` (XML in namespace
``urn:QDA-XML:project:1.0``, schema in ``themekit/schemas/Project.xsd``) and the sources under
``sources/``. themekit writes:

* one ``<User>`` per human coder and a separate user ``"themekit"`` for the model's suggested
  codings, so they can be reviewed (and deleted) apart from human coding in the CAQDAS program;
* the codebook as ``<CodeBook>`` (built by :meth:`themekit.codebook.Codebook.to_qdc`, so names,
  hierarchy, definitions, criteria, examples and colours read exactly as in a ``.qdc``);
* ``<Variables>``/``<Cases>``: one case per participant (``participant_id`` column of the corpus
  metadata; one per transcript without it) with ``<SourceRef>`` to its transcripts; the other
  metadata columns become text variables — on the case when a participant's transcripts agree,
  else on each source;
* one ``<TextSource>`` per transcript: its ``text`` as ``sources/<guid>.txt`` (UTF-8, no BOM), and
  a ``<PlainTextSelection>`` per coded span and coder, holding one ``<Coding>`` per code.

Positions. ``startPosition``/``endPosition`` count characters of the plain-text source: Unicode
code points, 0-based, end exclusive — Python string indices (QualCoder, the reference open
implementation, slices its text with them: ``fulltext[pos0:pos1]``). As the source file *is*
``transcript.text``, positions equal themekit offsets. On import a BOM is dropped; in sources with
Windows line ends, ``\\r\\n`` counts as two characters (as NVivo, MAXQDA and QualCoder count it)
except in projects whose ``origin`` names ATLAS.ti (which counts it as one); either way the
transcript text is normalised to ``\\n`` and positions are mapped onto it, like every themekit
transcript.

Guids are UUID5 of the ids (transcript, coder, span, code, ...), so exporting the same data twice
gives the same bytes. ``creationDateTime`` comes from a segment's ``order`` when that is a date
and time; sequence numbers have no place in REFI and are not written.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import math
import os
import re
import uuid
import zipfile
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, NamedTuple

import pandas as pd

from .codebook import Code, Codebook
from .coding import CodedSegment
from .ingest import SUPPORTED_EXTENSIONS, ReaderOptions, parse_labelled_text
from .segment import Segmenter
from .types import Corpus, InputError, Transcript, atomic_write

__all__ = ["export_qdpx", "import_qdpx", "project_xml", "validate_project", "RefiProject",
           "PROJECT_NAMESPACE", "SUGGESTION_USER"]

log = logging.getLogger("themekit")

PROJECT_NAMESPACE = "urn:QDA-XML:project:1.0"
SUGGESTION_USER = "themekit"
_NS = "{%s}" % PROJECT_NAMESPACE
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://themekit.invalid/refi")
_PI_TARGET = "themekit-project"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XSD_DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
_DOC_EXTENSIONS = tuple(SUPPORTED_EXTENSIONS) + (".rtf", ".doc", ".odt", ".pdf", ".html", ".htm")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")
_MAX_LOGGED = 5
_REEXPORT = "; the project is inconsistent — export it again from the program that made it"


class RefiProject(NamedTuple):
    """What :func:`import_qdpx` returns (unpacks as ``corpus, codebook, segments``)."""

    corpus: Corpus
    codebook: Codebook
    segments: list[CodedSegment]


# -- small helpers ---------------------------------------------------------------------------------

def _guid(kind: str, *parts: Any) -> str:
    return str(uuid.uuid5(_GUID_NAMESPACE, json.dumps([kind, *parts], ensure_ascii=False)))


def _norm_guid(g: str | None) -> str:
    return (g or "").strip().strip("{}").lower()


def _local(el) -> str:
    from lxml import etree

    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el, name: str) -> list:
    return [] if el is None else [c for c in el if _local(c) == name]


def _child(el, name: str):
    return next(iter(_children(el, name)), None)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v == ""


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
        return s
    try:
        return datetime.fromisoformat(s).isoformat()
    except ValueError:
        return None


def _participant_column(metadata: pd.DataFrame) -> str | None:
    from .framework import participant_column

    return participant_column(metadata)


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
            if _missing(code):
                continue
            if all(not _missing(rec.get(k)) for k in ("transcript_id", "start", "end")):
                tid, start, end = str(rec["transcript_id"]), int(rec["start"]), int(rec["end"])
            else:
                uid = rec.get("utterance_id")
                try:
                    u = corpus[uid]
                except KeyError:
                    raise ValueError(f"suggestion for unknown utterance {uid!r}") from None
                tid, start, end = u.transcript_id, u.start, u.end
            score = rec.get("score")
            score = None if _missing(score) else float(score)
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
        tag = _NS + _local(el)
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

    from . import __version__

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
    pcol = _participant_column(meta) if participant_column in (None, True) else (participant_column or None)
    if pcol is not None and pcol not in meta.columns:
        raise ValueError(f"participant_column {pcol!r} is not a metadata column "
                         f"(columns: {', '.join(map(str, meta.columns)) or 'none'})")

    def value(tid: str, col: Any) -> str | None:
        if tid not in meta.index:
            return None
        v = meta.at[tid, col]
        return None if _missing(v) else str(v)

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
             "settings": {k: corpus.settings[k] for k in ("reader", "segmenter") if k in corpus.settings}}
    payload = json.dumps(extra, ensure_ascii=True, sort_keys=True, default=str).replace("?>", "?\\u003e")
    root.addprevious(etree.ProcessingInstruction(_PI_TARGET, payload))
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
    segments : human :class:`~themekit.coding.CodedSegment` objects; one REFI user per coder.
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
                data = z.read(_find_qde(z, p))
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


# -- import ----------------------------------------------------------------------------------------

def _find_qde(z: zipfile.ZipFile, path: Path) -> str:
    names = [n for n in z.namelist() if not n.endswith("/")]
    if "project.qde" in names:
        return "project.qde"
    qde = [n for n in names if n.lower().endswith(".qde")]
    if len(qde) == 1:
        return qde[0]
    if not qde:
        raise InputError(path, "no project.qde in the archive; is this a REFI-QDA project (.qdpx) "
                         "exported by a QDA program?")
    raise InputError(path, f"several .qde files in the archive ({', '.join(qde)}) and none named project.qde")


def _crlf_map(raw: str, crlf_is_one: bool) -> tuple[str, list[int] | None, int]:
    """(text with ``\\n`` line ends, raw position -> text position map or None, position range)."""
    if "\r" not in raw:
        return raw, None, len(raw)
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if crlf_is_one:
        return text, None, len(text)
    m, j = [], 0
    for i, ch in enumerate(raw):
        m.append(j)
        if not (ch == "\r" and raw[i + 1:i + 2] == "\n"):
            j += 1
    m.append(j)
    return text, m, len(raw)


def _decode_source(data: bytes, where: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(where, f"the plain-text source is not UTF-8 (byte {e.start}); REFI-QDA sources "
                         "must be UTF-8 — re-export the project") from None


def _transcript_id(name: str) -> str:
    p = PurePosixPath(name.replace("\\", "/")).name if name else name
    stem, ext = os.path.splitext(p)
    return stem if ext.lower() in _DOC_EXTENSIONS and stem else name


def _dedupe_code_names(codebook_el) -> None:
    """CAQDAS programs allow the same code name under different parents; themekit needs unique
    names, so later duplicates become ``"name (parent)"``."""
    seen: set[str] = set()
    renamed = []

    def walk(el, parent: str | None) -> None:
        for c in _children(el, "Code"):
            name = (c.get("name") or "").strip()
            if name and name in seen:
                new = f"{name} ({parent})" if parent else f"{name} (2)"
                k = 2
                while new in seen:
                    k += 1
                    new = f"{name} ({k})"
                c.set("name", new)
                renamed.append((name, new))
                name = new
            seen.add(name)
            walk(c, name)

    walk(_child(codebook_el, "Codes"), None)
    for old, new in renamed[:_MAX_LOGGED]:
        log.warning("code name %r occurs more than once in the project; read as %r", old, new)
    if len(renamed) > _MAX_LOGGED:
        log.warning("... and %d more duplicate code names renamed", len(renamed) - _MAX_LOGGED)


def import_qdpx(path: str | os.PathLike, *, reader: ReaderOptions | None = None,
                segmenter: Segmenter | None = None) -> RefiProject:
    """Read a REFI-QDA project (``.qdpx``) written by themekit or by NVivo, ATLAS.ti, MAXQDA,
    QualCoder, ... into ``(corpus, codebook, segments)``.

    * **corpus** — one :class:`~themekit.types.Transcript` per text source (``<TextSource>``
      with ``plainTextPath="internal://..."`` or inline ``<PlainTextContent>``; the text
      representation of a ``<PDFSource>``), id = source name without a document extension
      (``P01.docx`` → ``P01``), text with ``\\n`` line ends. Utterances are cut from the text as
      for a ``.txt`` transcript (speaker labels by :func:`~themekit.ingest.parse_labelled_text`,
      then :class:`~themekit.segment.Segmenter`), with the reader/segmenter settings stored by
      themekit's export unless ``reader``/``segmenter`` are given; timestamps are not kept.
      Metadata (index ``transcript_id``): ``participant_id`` from the ``<Case>`` naming each
      source, plus one column per ``<Variable>`` (case values, overridden by source values), as
      text; missing values are ``""``. ``corpus.settings["refi"]`` holds the project name and origin.
    * **codebook** — the ``<CodeBook>`` read by :mod:`themekit.codebook` (names, hierarchy,
      definitions and criteria, colours, guids). Names used twice get their parent's name added.
    * **segments** — one :class:`~themekit.coding.CodedSegment` per ``<Coding>`` of a
      ``<PlainTextSelection>``: coder = the user's name (the ``creatingUser`` of the coding, else
      of the selection; ``"themekit"`` for suggestions exported by themekit), text = the
      transcript slice, order = ``creationDateTime`` as written. Selections without codings
      (annotations), empty selections and codings of whole sources are skipped with a warning.

    Audio, video and picture sources, and sources stored outside the archive, are skipped with a
    warning. Raises :class:`InputError` for a file that is not a zip, has no ``project.qde``, is
    not in namespace ``urn:QDA-XML:project:1.0``, refers to a code, source, variable or file that
    is not there, or has positions outside its source.
    """
    from lxml import etree

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(path, "not a REFI-QDA project: a .qdpx file is a zip archive and this is not one "
                         "(for a codebook use a .qdc file with Codebook.load)") from None
    with z:
        qde_name = _find_qde(z, path)
        where = f"{path} [{qde_name}]"
        data = z.read(qde_name)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        try:
            tree = etree.ElementTree(etree.fromstring(data, parser))
        except etree.XMLSyntaxError as e:
            raise InputError(where, f"not well-formed XML ({e.msg})", line=e.lineno) from None
        root = tree.getroot()
        ns = etree.QName(root).namespace
        if _local(root) != "Project" or ns != PROJECT_NAMESPACE:
            found = f"<{_local(root)}> in namespace {ns!r}" if ns else f"<{_local(root)}> without a namespace"
            raise InputError(where, f"not a REFI-QDA project: the root element is {found}; expected "
                             f"<Project> in namespace {PROJECT_NAMESPACE!r}", line=root.sourceline)
        members = {n.lower(): n for n in z.namelist() if not n.endswith("/")}
        by_base: dict[str, list[str]] = {}
        for n in members.values():
            by_base.setdefault(PurePosixPath(n).name.lower(), []).append(n)

        def read_member(ref: str, el) -> bytes:
            rel = ref[len("internal://"):].lstrip("/")
            for cand in (f"sources/{rel}".lower(), rel.lower()):
                if cand in members:
                    return z.read(members[cand])
            hits = by_base.get(PurePosixPath(rel).name.lower(), [])
            if len(hits) == 1:
                return z.read(hits[0])
            raise InputError(where, f"<{_local(el)} name={el.get('name')!r}> refers to {ref!r}, which is not "
                             "in the archive", line=el.sourceline)

        return _read_project(root, tree, where, path, read_member, reader, segmenter)


def _read_project(root, tree, where: str, path: Path, read_member, reader, segmenter) -> RefiProject:
    from lxml import etree

    def fail(el, problem: str):
        return InputError(where, problem, line=getattr(el, "sourceline", None))

    extra: dict[str, Any] = {}
    prev = root.getprevious()
    while prev is not None:
        if isinstance(prev, etree._ProcessingInstruction) and prev.target == _PI_TARGET:
            try:
                extra = json.loads(prev.text or "{}")
            except json.JSONDecodeError:
                log.warning("%s: unreadable themekit settings in the project; ignored", where)
        prev = prev.getprevious()
    origin = root.get("origin") or ""
    crlf_is_one = "atlas" in origin.lower()

    users = {_norm_guid(u.get("guid")): (u.get("name") or u.get("id") or u.get("guid"))
             for u in _children(_child(root, "Users"), "User")}
    unknown_users: set[str] = set()

    def user_name(g: str | None) -> str:
        if not g:
            return "unknown"
        name = users.get(_norm_guid(g))
        if name is None:
            unknown_users.add(g)
            return g
        return name

    cb_el = _child(root, "CodeBook")
    if cb_el is not None and _children(_child(cb_el, "Codes"), "Code"):
        _dedupe_code_names(cb_el)
        codebook = Codebook.from_qdc(etree.tostring(tree, encoding="UTF-8", xml_declaration=True), where)
    else:
        codebook = Codebook([], source=where)
    code_by_guid = {_norm_guid(c.id): c.name for c in codebook.codes}

    variables = {_norm_guid(v.get("guid")): (v.get("name") or v.get("guid"))
                 for v in _children(_child(root, "Variables"), "Variable")}

    def values_of(el) -> dict[str, str]:
        out = {}
        for vv in _children(el, "VariableValue"):
            ref = _child(vv, "VariableRef")
            target = None if ref is None else ref.get("targetGUID")
            if _norm_guid(target) not in variables:
                raise fail(vv, f"<VariableValue> refers to variable {target!r}, which is not in <Variables>"
                           f"{_REEXPORT}")
            val = next((c for c in vv if _local(c) in _VALUE_TAGS), None)
            out[variables[_norm_guid(target)]] = "" if val is None or val.text is None else val.text
        return out

    transcripts: list[Transcript] = []
    tid_by_guid: dict[str, str] = {}
    skipped_guids: set[str] = set()
    source_values: dict[str, dict[str, str]] = {}
    segments: list[CodedSegment] = []
    skipped = {"media": 0, "external": 0, "annotation": 0, "empty": 0, "whole": 0}
    for el in list(_child(root, "Sources") if _child(root, "Sources") is not None else ()):
        kind = _local(el)
        if kind == "TextSource":
            text_el = el
        elif kind == "PDFSource" and _child(el, "Representation") is not None:
            text_el = _child(el, "Representation")
        else:
            if kind:
                skipped["media"] += 1
                skipped_guids.add(_norm_guid(el.get("guid")))
            continue
        sguid = _norm_guid(el.get("guid"))
        name = el.get("name") or text_el.get("name") or el.get("guid") or f"source{len(transcripts) + 1}"
        content = _child(text_el, "PlainTextContent")
        ptp = text_el.get("plainTextPath")
        if content is not None:
            raw = content.text or ""
        elif ptp and ptp.startswith("internal://"):
            raw = _decode_source(read_member(ptp, text_el), f"{path} [{ptp[len('internal://'):]}]")
        elif ptp:
            skipped["external"] += 1
            skipped_guids.add(sguid)
            log.warning("%s: source %r is stored outside the archive (%s); skipped", where, name, ptp)
            continue
        else:
            raise fail(text_el, f"<{_local(text_el)} name={name!r}> has neither <PlainTextContent> nor a "
                       "plainTextPath")
        tid = _transcript_id(name)
        if tid in {t.id for t in transcripts}:
            k = 2
            while f"{tid}_{k}" in {t.id for t in transcripts}:
                k += 1
            log.warning("%s: two sources are named %r; the second is read as %r", where, tid, f"{tid}_{k}")
            tid = f"{tid}_{k}"
        text, pos_map, n = _crlf_map(raw, crlf_is_one)
        transcripts.append(Transcript(tid, text, f"{path} [{name}]", "txt"))
        tid_by_guid[sguid] = tid
        source_values[tid] = values_of(el)
        skipped["whole"] += len(_children(text_el, "Coding"))
        for sel in _children(text_el, "PlainTextSelection"):
            try:
                s, e = int(sel.get("startPosition")), int(sel.get("endPosition"))
            except (TypeError, ValueError):
                raise fail(sel, f"<PlainTextSelection> in source {name!r} has no whole-number startPosition/"
                           f"endPosition (got {sel.get('startPosition')!r}, "
                           f"{sel.get('endPosition')!r})") from None
            if s > e:
                raise fail(sel, f"<PlainTextSelection> in source {name!r} starts after it ends "
                           f"(startPosition {s}, endPosition {e})")
            if s < 0 or e > n:
                raise fail(sel, f"<PlainTextSelection> positions {s}-{e} are outside source {name!r} "
                           f"({n} characters)")
            codings = _children(sel, "Coding")
            if not codings:
                skipped["annotation"] += 1
                continue
            ms, me = (s, e) if pos_map is None else (pos_map[s], pos_map[e])
            if ms >= me:
                skipped["empty"] += len(codings)
                continue
            # a coding's own time; the selection's only when no coding of it has one (NVivo style)
            own_times = any(c.get("creationDateTime") for c in codings)
            sel_time = None if own_times else sel.get("creationDateTime")
            for c in codings:
                ref = _child(c, "CodeRef")
                target = None if ref is None else ref.get("targetGUID")
                code = code_by_guid.get(_norm_guid(target))
                if code is None:
                    raise fail(ref if ref is not None else c,
                               f"<CodeRef> refers to code {target!r}, which is not in the <CodeBook>"
                               f"{_REEXPORT}")
                who = c.get("creatingUser") or sel.get("creatingUser") or sel.get("modifyingUser")
                coder = user_name(who)
                order = c.get("creationDateTime") or sel_time
                segments.append(CodedSegment(tid, ms, me, code, coder, text[ms:me], order))

    participants: dict[str, str] = {}
    case_values: dict[str, dict[str, str]] = {}
    cases = _children(_child(root, "Cases"), "Case")
    for case in cases:
        cname = case.get("name") or case.get("guid")
        vals = values_of(case)
        for sr in _children(case, "SourceRef"):
            g = _norm_guid(sr.get("targetGUID"))
            if g in skipped_guids:
                continue
            if g not in tid_by_guid:
                raise fail(sr, f"<SourceRef> of case {cname!r} refers to source {sr.get('targetGUID')!r}, "
                           f"which is not in <Sources>{_REEXPORT}")
            tid = tid_by_guid[g]
            if tid in participants and participants[tid] != cname:
                log.warning("%s: source %r belongs to cases %r and %r; using the first", where, tid,
                            participants[tid], cname)
                continue
            participants[tid] = cname
            case_values[tid] = vals

    for key, what, level in (("media", "audio, video or picture sources", logging.WARNING),
                             ("annotation", "selections without a coding (annotations)", logging.INFO),
                             ("empty", "codings of empty selections", logging.WARNING),
                             ("whole", "codings of whole sources", logging.WARNING)):
        if skipped[key]:
            log.log(level, "%s: %d %s skipped", where, skipped[key], what)
    if unknown_users:
        log.warning("%s: codings by users not listed in <Users> (%s); their guid is used as coder name",
                    where, ", ".join(sorted(unknown_users)))

    # -- metadata
    ids = [t.id for t in transcripts]
    # themekit's export records the participant column (None: cases were transcripts)
    pcol = extra["participant_column"] if "participant_column" in extra else (
        "participant_id" if cases else None)
    columns: list[str] = []
    if pcol:
        columns.append(pcol)
    for c in list(extra.get("metadata_columns") or []) + list(variables.values()):
        if c not in columns:
            columns.append(c)
    rows = []
    for tid in ids:
        row = {c: "" for c in columns}
        row.update(case_values.get(tid, {}))
        row.update(source_values.get(tid, {}))
        if pcol:
            row[pcol] = participants.get(tid, "")
        rows.append(row)
    metadata = pd.DataFrame(rows, index=pd.Index(ids, name="transcript_id"), columns=columns, dtype=str)

    # -- utterances
    stored = extra.get("settings") or {}
    if reader is None:
        r = stored.get("reader") or {}
        try:
            reader = ReaderOptions(**{k: (tuple(v) if k == "interviewer" else v) for k, v in r.items()
                                      if k in ("interviewer_labels", "interviewer", "prompt_pattern")})
        except TypeError:
            reader = ReaderOptions()
    if segmenter is None:
        try:
            segmenter = Segmenter(**(stored.get("segmenter") or {}))
        except (TypeError, ValueError):
            log.warning("%s: stored segmenter settings are not usable; using the defaults", where)
            segmenter = Segmenter()
    utterances = []
    for t in transcripts:
        if not t.text.strip():
            continue
        try:
            turns = parse_labelled_text(t.text, reader, f"{where} (source {t.id})")
        except InputError as e:
            log.warning("%s", e)
            continue
        utterances.extend(segmenter.segment(t, turns))

    order = {tid: i for i, tid in enumerate(ids)}
    segments.sort(key=lambda s: (order[s.transcript_id], s.start, s.end, s.coder, s.code))
    settings = {"reader": {"prompt_pattern": reader.prompt_pattern,
                           "interviewer_labels": reader.interviewer_labels,
                           "interviewer": list(reader.interviewer)},
                "segmenter": segmenter.get_params(),
                "refi": {"project": root.get("name"), "origin": origin or None, "path": str(path)}}
    corpus = Corpus(transcripts, utterances, metadata, settings)
    return RefiProject(corpus, codebook, segments)
