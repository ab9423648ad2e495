"""Reading REFI-QDA projects (``.qdpx``) written by themekit or by NVivo, ATLAS.ti, MAXQDA,
QualCoder, ... into a corpus, a codebook and coded segments.

Sources are normalised to ``\\n`` line ends and selection positions mapped onto them:
``\\r\\n`` counts as two characters except in projects whose ``origin`` names ATLAS.ti (see
:mod:`themekit.codebook.refi` for the position rules). Writing is in :mod:`themekit.codebook.refi_export`.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pandas as pd

from .model import Codebook
from .segment import CodedSegment
from ..io.readers import SUPPORTED_EXTENSIONS, ReaderOptions, parse_turns, role_settings
from ..io.roles import NO_LABEL, decide_roles
from .refi_common import PROJECT_NAMESPACE, SETTINGS_PI_TARGET, find_qde, local_name
from ..io.segment import Segmenter
from ..types import Corpus, InputError, Transcript

__all__ = ["import_qdpx", "RefiProject"]

log = logging.getLogger("themekit")

_DOC_EXTENSIONS = tuple(SUPPORTED_EXTENSIONS) + (".rtf", ".doc", ".odt", ".pdf", ".html", ".htm")
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")
_MAX_LOGGED = 5
_REEXPORT = "; the project is inconsistent — export it again from the program that made it"


class RefiProject(NamedTuple):
    """What :func:`import_qdpx` returns (unpacks as ``corpus, codebook, segments``)."""

    corpus: Corpus
    codebook: Codebook
    segments: list[CodedSegment]


# -- small helpers ---------------------------------------------------------------------------------

def _norm_guid(g: str | None) -> str:
    return (g or "").strip().strip("{}").lower()


def _children(el, name: str) -> list:
    return [] if el is None else [c for c in el if local_name(c) == name]


def _child(el, name: str):
    return next(iter(_children(el, name)), None)


# -- import ----------------------------------------------------------------------------------------

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
      for a ``.txt`` transcript (speaker labels by :func:`~themekit.io.readers.parse_labelled_text`,
      then :class:`~themekit.io.segment.Segmenter`), with the reader/segmenter settings stored by
      themekit's export unless ``reader``/``segmenter`` are given; timestamps are not kept.
      Metadata (index ``transcript_id``): ``participant_id`` from the ``<Case>`` naming each
      source, plus one column per ``<Variable>`` (case values, overridden by source values), as
      text; missing values are ``""``. ``corpus.settings["refi"]`` holds the project name and origin.
    * **codebook** — the ``<CodeBook>`` read by :mod:`themekit.codebook` (names, hierarchy,
      definitions and criteria, colours, guids). Names used twice get their parent's name added.
    * **segments** — one :class:`~themekit.codebook.coding.CodedSegment` per ``<Coding>`` of a
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
        qde_name = find_qde(z, path)
        where = f"{path} [{qde_name}]"
        data = z.read(qde_name)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        try:
            tree = etree.ElementTree(etree.fromstring(data, parser))
        except etree.XMLSyntaxError as e:
            raise InputError(where, f"not well-formed XML ({e.msg})", line=e.lineno) from None
        root = tree.getroot()
        ns = etree.QName(root).namespace
        if local_name(root) != "Project" or ns != PROJECT_NAMESPACE:
            tag = local_name(root)
            found = f"<{tag}> in namespace {ns!r}" if ns else f"<{tag}> without a namespace"
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
            raise InputError(where, f"<{local_name(el)} name={el.get('name')!r}> refers to {ref!r}, which is "
                             "not in the archive", line=el.sourceline)

        return _read_project(root, tree, where, path, read_member, reader, segmenter)


def _read_project(root, tree, where: str, path: Path, read_member, reader, segmenter) -> RefiProject:
    from lxml import etree

    def fail(el, problem: str):
        return InputError(where, problem, line=getattr(el, "sourceline", None))

    extra: dict[str, Any] = {}
    prev = root.getprevious()
    while prev is not None:
        if isinstance(prev, etree._ProcessingInstruction) and prev.target == SETTINGS_PI_TARGET:
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
            val = next((c for c in vv if local_name(c) in _VALUE_TAGS), None)
            out[variables[_norm_guid(target)]] = "" if val is None or val.text is None else val.text
        return out

    transcripts: list[Transcript] = []
    tid_by_guid: dict[str, str] = {}
    skipped_guids: set[str] = set()
    source_values: dict[str, dict[str, str]] = {}
    segments: list[CodedSegment] = []
    skipped = {"media": 0, "external": 0, "annotation": 0, "empty": 0, "whole": 0}
    for el in list(_child(root, "Sources") if _child(root, "Sources") is not None else ()):
        kind = local_name(el)
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
            raise fail(text_el, f"<{local_name(text_el)} name={name!r}> has neither <PlainTextContent> nor a "
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
                                      if k in ("interviewer_labels", "participant_labels", "interviewer", "prompt_pattern")})
        except TypeError:
            reader = ReaderOptions()
    if segmenter is None:
        try:
            segmenter = Segmenter(**(stored.get("segmenter") or {}))
        except (TypeError, ValueError):
            log.warning("%s: stored segmenter settings are not usable; using the defaults", where)
            segmenter = Segmenter()
    parsed = []
    for t in transcripts:
        if not t.text.strip():
            continue
        try:
            parsed.append((t, parse_turns(t.text, reader, f"{where} (source {t.id})")))
        except InputError as e:
            log.warning("%s", e)
    # the roles themekit chose when it exported the project hold again (then the usual rule)
    kept = tuple((d["label"], d["role"], d["transcript_id"]) for d in stored.get("roles") or []
                 if d.get("label") != NO_LABEL and d.get("role") in ("interviewer", "participant", "other"))
    opts = role_settings(reader)
    opts["overrides"] = tuple(opts["overrides"]) + kept
    parsed, decisions = decide_roles(parsed, metadata, **opts)
    utterances = []
    for t, turns in parsed:
        utterances.extend(segmenter.segment(t, turns))

    order = {tid: i for i, tid in enumerate(ids)}
    segments.sort(key=lambda s: (order[s.transcript_id], s.start, s.end, s.coder, s.code))
    settings = {"reader": {"prompt_pattern": reader.prompt_pattern,
                           "interviewer_labels": reader.interviewer_labels,
                           "interviewer": list(reader.interviewer)},
                "segmenter": segmenter.get_params(),
                "roles": [d.as_dict() for d in decisions],
                "refi": {"project": root.get("name"), "origin": origin or None, "path": str(path)}}
    corpus = Corpus(transcripts, utterances, metadata, settings)
    return RefiProject(corpus, codebook, segments)
