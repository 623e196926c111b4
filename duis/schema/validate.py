"""Schema validation: a fast libxml2 verdict, and a bounded report when it fails.

The verdict always comes from libxml2 (the cached lxml schema), in time and
memory linear in the document, whatever its shape:

* a small document (at most :data:`TREE_MAX_NODES` elements and attributes)
  is validated as a tree;
* a larger one is validated as a stream (its serialization fed to a parser
  that validates and builds nothing), stopping once it has the errors a
  report lists; libxml2 validating a tree logs every error with an XPath
  that costs time in the number of preceding siblings, so a million wrong
  siblings would take hours, and every error costs about 1 KB of log;
* in a document of more than :data:`GUARDED_ATTRIBUTES` attributes, an
  element with more attributes than any element of the schema accepts
  (:attr:`SchemaSet.max_attributes`) makes the document invalid without
  asking libxml2, which would log one error per attribute.

Only an invalid document pays for the detailed report, which xmlschema
builds (line, XPath, reason, expected, found), lazily, stopping after
``max_errors`` errors or ``seconds``.  xmlschema is handed only documents of
bounded shape (:data:`DETAILED_MAX_NODES`, :data:`DETAILED_MAX_ATTRIBUTES`,
:data:`DETAILED_MAX_BYTES`): each error it reports copies ``repr()`` of the
element's attributes, and lxml's attribute mapping costs time quadratic in
their number, so n unknown attributes cost n^3 (2,000 took 17 s).  Other
documents get libxml2's own messages (line, reason, and the XPath when it
was validated as a tree), at most ``max_errors`` of them.
"""

from __future__ import annotations

import os
import time
from typing import Any, BinaryIO, NamedTuple, cast

from lxml import etree

from ..errors import InputError, NotCovered, SchemaInvalid, WrongRoot
from ..namespaces import RA, SR
from ..xmlparse import (
    DEFAULT_LIMITS,
    ParseLimits,
    parse_bytes,
    read_source,
    validating_parser,
)
from .loader import SCHEMA_DIR_ENV, SchemaSet, load_schema
from .report import (
    DEFAULT_REPORT_LIMITS,
    INVALID,
    NOT_COVERED,
    UNUSABLE,
    VALID,
    ReportLimits,
    SchemaIssue,
    ValidationReport,
)

_SRV_PATH = etree.XPath("string(sr:Header/sr:ServiceReferenceVariant)", namespaces={"sr": SR})
_REQUEST, _RESPONSE = f"{{{SR}}}Request", f"{{{SR}}}Response"
_HEADER, _SRV = f"{{{SR}}}Header", f"{{{SR}}}ServiceReferenceVariant"
_DUIS_ROOTS = {_REQUEST, _RESPONSE}

#: above this many elements and attributes, libxml2 validates a stream, not the tree
TREE_MAX_NODES = 5_000
#: the detailed (xmlschema) report is built only for documents within these
DETAILED_MAX_NODES = 5_000
DETAILED_MAX_ATTRIBUTES = 64
GUARDED_ATTRIBUTES = 64
"""A document with more attributes than this (in all) is checked against the
schema's attribute bound before libxml2 sees it; fewer cost libxml2 nothing
worth guarding, whatever their verdict."""
DETAILED_MAX_BYTES = 256 * 1024
_STREAM_CHUNK = 64 * 1024

_COUNT_ELEMENTS = etree.XPath("count(//*)")
_COUNT_ATTRIBUTES = etree.XPath("count(//@*)")
#: the first $m elements with a $k-th attribute, in document order
_CROWDED = etree.XPath("(//*[@*[$k]])[position() <= $m]")


def check_root(tree: etree._ElementTree, source: str) -> etree._Element:
    """Refuse a document that is not a DUIS (sr) or MMC (ra) message."""
    root = tree.getroot()
    if root.tag in _DUIS_ROOTS or etree.QName(root).namespace == RA:
        return root
    prefix = root.prefix + ":" if root.prefix else ""
    raise WrongRoot("not a DUIS or MMC message", source=source, line=root.sourceline,
                    path="/" + prefix + etree.QName(root).localname,
                    expected=f"root sr:Request or sr:Response ({{{SR}}}), "
                             f"or an MMC document ({{{RA}}})",
                    found=cast(str, root.tag))


def not_covered_issue(srv: str) -> SchemaIssue:
    return SchemaIssue(
        reason=(f"service reference variant {srv} is not covered by the bundled schema; "
                f"validate it against the official DUIS schema with --schema-dir DIR "
                f"or {SCHEMA_DIR_ENV}=DIR"),
        path="/sr:Request/sr:Header/sr:ServiceReferenceVariant",
        expected="a variant the bundled schema covers", found=srv)


def check_tree(tree: etree._ElementTree, schema: SchemaSet | None = None,
               source: str = "<document>",
               report_limits: ReportLimits = DEFAULT_REPORT_LIMITS) -> ValidationReport:
    """Validate a parsed document; never raises for an invalid one.  The
    report of an invalid one is bounded by ``report_limits``."""
    return _check(tree, schema or load_schema(), source, report_limits)


def _check(tree: etree._ElementTree, schema: SchemaSet, source: str, limits: ReportLimits,
           verdict: _Verdict | None = None) -> ValidationReport:
    try:
        root = check_root(tree, source)
    except WrongRoot as exc:
        return _unusable(source, exc, schema)
    tag = cast(str, root.tag)  # a parsed element's tag is a str
    srv = _variant(root) or None if tag == f"{{{SR}}}Request" else None
    if srv and schema.covered is not None and srv not in schema.covered and srv in schema.known:
        return ValidationReport(source, NOT_COVERED, schema.name, tag, srv,
                                (not_covered_issue(srv),))
    verdict = verdict or fast_verdict(tree, schema, limits.max_errors)
    if verdict.valid:
        return ValidationReport(source, VALID, schema.name, tag, srv)
    issues, truncated = _report(tree, schema, verdict, limits)
    return ValidationReport(source, INVALID, schema.name, tag, srv, tuple(issues), truncated)


def _variant(root: etree._Element) -> str:
    """What :data:`_SRV_PATH` gives for ``root``: the usual element (the first
    Header's first ServiceReferenceVariant, text alone) read without XPath."""
    header = next(root.iterchildren(_HEADER), None)
    element = next(header.iterchildren(_SRV), None) if header is not None else None
    if element is None or len(element):  # a later Header's, or text split by child nodes
        return cast(str, _SRV_PATH(root))
    return element.text or ""


def _plainly_valid(tree: etree._ElementTree, schema: SchemaSet,
                   max_errors: int = DEFAULT_REPORT_LIMITS.max_errors) -> _Verdict | None:
    """The verdict :func:`check_tree` gives as VALID, without building its report:
    a DUIS Response, or a Request whose variant the schema covers, that the
    schema accepts.  ``None`` means "ask :func:`check_tree`"; an invalid
    verdict is returned for it to reuse."""
    tag = tree.getroot().tag
    if tag == _REQUEST:
        if schema.covered is not None:
            srv = _variant(tree.getroot())
            if srv and srv not in schema.covered and srv in schema.known:
                return None
    elif tag != _RESPONSE:
        return None
    return fast_verdict(tree, schema, max_errors)


def validate(source: str | os.PathLike | BinaryIO | bytes, schema: SchemaSet | None = None,
             limits: ParseLimits = DEFAULT_LIMITS,
             report_limits: ReportLimits = DEFAULT_REPORT_LIMITS) -> ValidationReport:
    """Read, safely parse and validate one document; unusable input becomes
    a report with verdict ``unusable`` rather than an exception.  The report
    of an invalid document is bounded by ``report_limits``."""
    schema = schema or load_schema()
    name = source if isinstance(source, str) else getattr(source, "name", "<bytes>")
    try:
        data, name = read_source(source, limits)
        tree = parse_bytes(data, name, limits)
    except InputError as exc:
        return _unusable(str(name), exc, schema)
    return _check(tree, schema, name, report_limits)


def ensure_valid(tree: etree._ElementTree, schema: SchemaSet | None = None,
                 source: str = "<document>",
                 report_limits: ReportLimits = DEFAULT_REPORT_LIMITS) -> etree._ElementTree:
    """Return ``tree`` if valid; raise :class:`SchemaInvalid` / :class:`NotCovered`
    (whose report is bounded by ``report_limits``)."""
    schema = schema or load_schema()
    verdict = _plainly_valid(tree, schema, report_limits.max_errors)
    if verdict is not None and verdict.valid:
        return tree
    report = _check(tree, schema, source, report_limits, verdict)
    if report.verdict == VALID:
        return tree
    first = report.issues[0] if report.issues else SchemaIssue("invalid")
    kwargs: dict[str, Any] = dict(source=source, line=first.line, path=first.path,
                                  expected=first.expected, found=first.found)
    if report.verdict == NOT_COVERED:
        raise NotCovered(first.reason, **kwargs)
    if report.verdict == UNUSABLE:
        raise WrongRoot(first.reason, **kwargs)
    count = f"{len(report.issues)}{'+' if report.truncated else ''}"
    raise SchemaInvalid(f"{count} schema error(s); first: {first.reason}",
                        report=report, **kwargs)


def _unusable(source: str, exc: InputError, schema: SchemaSet) -> ValidationReport:
    issue = SchemaIssue(reason=f"{type(exc).__name__}: {exc.message}", line=exc.line,
                        path=exc.path, expected=exc.expected, found=exc.found)
    return ValidationReport(source, UNUSABLE, schema.name, issues=(issue,))


# --- the verdict -------------------------------------------------------------

class _Verdict(NamedTuple):
    """libxml2's verdict, and its own messages (at most ``max_errors``)."""

    valid: bool
    entries: tuple[SchemaIssue, ...] = ()
    more: str | None = None
    """Why ``entries`` may not be every error (``None``: they are)."""
    elements: int = 0
    attributes: int = 0


def fast_verdict(tree: etree._ElementTree, schema: SchemaSet,
                 max_errors: int = DEFAULT_REPORT_LIMITS.max_errors) -> _Verdict:
    """libxml2's verdict on ``tree``, in time and memory linear in its size."""
    elements, attributes = int(_COUNT_ELEMENTS(tree)), int(_COUNT_ATTRIBUTES(tree))
    # the bound guards libxml2 from logging an error per attribute; a document
    # with few attributes in all needs no guard, nor the schema files read for it
    bound = schema.max_attributes if attributes > GUARDED_ATTRIBUTES else None
    if bound is not None and attributes > bound:
        crowded = _CROWDED(tree, k=bound + 1, m=max_errors + 1)
        if crowded:
            entries = tuple(SchemaIssue(
                reason=f"element has {_count_attributes(elem)} attributes; no element "
                       f"of the schema accepts more than {bound}",
                line=elem.sourceline, path=_libxml2_path(elem),
                expected=f"at most {bound} attributes",
                found=f"{_count_attributes(elem)} attributes")
                for elem in crowded[:max_errors])
            return _Verdict(False, entries, _CROWDED_NOTE, elements, attributes)
    if elements + attributes <= TREE_MAX_NODES:
        lxml_schema = schema.lxml_schema
        if lxml_schema.validate(tree):
            return _Verdict(True, elements=elements, attributes=attributes)
        log = [e for e in lxml_schema.error_log if e.level >= etree.ErrorLevels.ERROR]
        entries = tuple(SchemaIssue(reason=e.message, line=e.line or None, path=e.path or None)
                        for e in log[:max_errors])
        return _Verdict(False, entries, _cap(max_errors) if len(log) > max_errors else None,
                        elements, attributes)
    return _stream_verdict(tree, schema, max_errors, elements, attributes)


class _Sink:
    """A parser target that builds nothing."""

    def close(self) -> None:
        return None


def _stream_verdict(tree: etree._ElementTree, schema: SchemaSet, max_errors: int,
                    elements: int, attributes: int) -> _Verdict:
    """libxml2 validating the serialized document as it parses it, with no tree,
    stopping once it has logged more than ``max_errors`` errors.  (libxml2 gives
    no line numbers for errors found this way.)"""
    root = tree.getroot()
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=False, with_tail=False)
    offset = (root.sourceline or 1) - 1
    parser = validating_parser(schema.lxml_schema, _Sink())
    view = memoryview(data)
    errors: list = []
    finished = False
    for start in range(0, len(data), _STREAM_CHUNK):
        parser.feed(bytes(view[start:start + _STREAM_CHUNK]))
        errors = [e for e in parser.feed_error_log if e.level >= etree.ErrorLevels.ERROR]
        if len(errors) > max_errors:
            break
    else:
        parser.close()
        errors = [e for e in parser.feed_error_log if e.level >= etree.ErrorLevels.ERROR]
        finished = True
    del view
    if not errors:
        return _Verdict(True, elements=elements, attributes=attributes)
    entries = tuple(SchemaIssue(reason=e.message, line=(e.line + offset) if e.line else None)
                    for e in errors[:max_errors])
    return _Verdict(False, entries,
                    _cap(max_errors) if len(errors) > max_errors or not finished else None,
                    elements, attributes)


_CROWDED_NOTE = ("not validated further: an element has more attributes than any element "
                 "of the schema accepts")


def _cap(max_errors: int) -> str:
    return f"stopped after {max_errors} errors"


def _count_attributes(elem: etree._Element) -> int:
    return int(elem.xpath("count(@*)"))


def _libxml2_path(elem: etree._Element) -> str:
    path = elem.getroottree().getpath(elem)
    return path if len(path) <= 200 else path[:197] + "..."


# --- the detailed report -----------------------------------------------------

def _report(tree: etree._ElementTree, schema: SchemaSet, verdict: _Verdict,
            limits: ReportLimits) -> tuple[list[SchemaIssue], str | None]:
    """The issues of an invalid document, and why the list stops early, if it does."""
    if _detailed_fits(tree, verdict):
        issues, stopped = _detailed(tree, schema, limits)
        if issues:
            return issues, stopped
    # libxml2's own messages: the document is too big or odd for xmlschema,
    # or the two disagree
    return list(verdict.entries) or [SchemaIssue("invalid")], verdict.more


def _detailed_fits(tree: etree._ElementTree, verdict: _Verdict) -> bool:
    """Whether xmlschema can report on ``tree`` in bounded time and memory."""
    if verdict.more == _CROWDED_NOTE:
        return False
    if verdict.elements + verdict.attributes > DETAILED_MAX_NODES:
        return False
    if verdict.attributes > DETAILED_MAX_ATTRIBUTES and \
            _CROWDED(tree, k=DETAILED_MAX_ATTRIBUTES + 1, m=1):
        return False
    # long text, many namespace declarations: the serialization shows them
    return len(etree.tostring(tree.getroot(), with_tail=False)) <= DETAILED_MAX_BYTES


def _detailed(tree: etree._ElementTree, schema: SchemaSet,
              limits: ReportLimits) -> tuple[list[SchemaIssue], str | None]:
    """xmlschema's errors, lazily: at most ``max_errors``, for at most ``seconds``."""
    detailed = schema.detailed_schema  # built once per process, not counted
    deadline = time.monotonic() + limits.seconds
    issues: list[SchemaIssue] = []
    errors = detailed.iter_errors(tree)
    try:
        for error in errors:
            if len(issues) == limits.max_errors:
                return issues, _cap(limits.max_errors)
            issues.append(_issue_from(error, tree))
            if time.monotonic() > deadline:
                return issues, f"time limit {float(limits.seconds)} s reached"
    finally:
        errors.close()
    return issues, None


def detailed_issues(tree: etree._ElementTree, schema: SchemaSet,
                    limits: ReportLimits = DEFAULT_REPORT_LIMITS) -> list[SchemaIssue]:
    """The schema errors in ``tree`` (at most ``limits.max_errors``), as
    xmlschema reports them when the document is small enough, else as libxml2 does."""
    verdict = fast_verdict(tree, schema, limits.max_errors)
    return [] if verdict.valid else _report(tree, schema, verdict, limits)[0]


def _issue_from(error, tree) -> SchemaIssue:
    elem = getattr(error, "elem", None)
    line = getattr(error, "sourceline", None) or getattr(elem, "sourceline", None)
    path = _prefixed_path(elem, tree) if isinstance(elem, etree._Element) else error.path
    return SchemaIssue(reason=_reason(error), line=line, path=path,
                       expected=_expected(error), found=_found(error))


def _prefixed_path(elem: etree._Element, tree: etree._ElementTree) -> str:
    steps = []
    node: etree._Element | None = elem
    while node is not None:
        qname = etree.QName(node)
        prefix = node.prefix
        name = f"{prefix}:{qname.localname}" if prefix else qname.localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def _reason(error) -> str:
    reason = " ".join(str(getattr(error, "reason", None) or error.message).split())
    type_name = _owning_type(error)
    if reason.startswith("value doesn't match any pattern"):
        return f"value does not match the pattern of {type_name or 'its type'}"
    if reason.startswith("value must be one of"):
        return f"value is not in the enumeration of {type_name or 'its type'}"
    return reason


def _owning_type(error) -> str | None:
    validator = getattr(error, "validator", None)
    parent = getattr(validator, "parent", None)
    name = getattr(parent, "prefixed_name", None) or getattr(validator, "prefixed_name", None)
    return str(name) if name else None


def _expected(error) -> str | None:
    expected = getattr(error, "expected", None)
    if expected:
        names = []
        for particle in expected:
            name = getattr(particle, "prefixed_name", None) or getattr(particle, "name", None)
            names.append(str(name or particle))
        return " or ".join(dict.fromkeys(names))
    validator = getattr(error, "validator", None)
    for attr in ("regexps", "enumeration"):
        values = getattr(validator, attr, None)
        if values:
            shown = ", ".join(map(str, values[:12])) + (", ..." if len(values) > 12 else "")
            if len(shown) > 160:
                shown = shown[:157] + "..."
            return ("a value matching " if attr == "regexps" else "one of ") + shown
    for attr in ("prefixed_name", "name"):
        value = getattr(validator, attr, None)
        if value:
            return f"a valid {value}"
    return None


def _found(error) -> str | None:
    child = getattr(error, "invalid_child", None)
    if child is not None:
        return f"<{_short(child)}>"
    if getattr(error, "index", None) is not None and getattr(error, "invalid_child", None) is None \
            and getattr(error, "expected", None):
        return "end of element"
    obj = getattr(error, "obj", None)
    if isinstance(obj, etree._Element):
        text = (obj.text or "").strip()
        return text[:80] if text else f"<{_short(obj)}>"  # the value itself, never a repr
    if obj is not None and not isinstance(obj, dict):  # a dict: the attributes, none named
        return str(obj)[:80]
    return None


def _short(elem) -> str:
    prefix = elem.prefix + ":" if getattr(elem, "prefix", None) else ""
    return prefix + etree.QName(elem).localname
