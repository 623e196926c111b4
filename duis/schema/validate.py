"""Schema validation: a fast libxml2 verdict, and a full report when it fails.

The fast path asks the cached lxml schema for a yes/no.  Only an invalid
document pays for the detailed report, which xmlschema builds by walking the
document and listing every error (not just the first).
"""

from __future__ import annotations

import os
from typing import BinaryIO

from lxml import etree

from ..errors import InputError, NotCovered, SchemaInvalid, WrongRoot
from ..xmlparse import DEFAULT_LIMITS, ParseLimits, parse_bytes, read_source
from .loader import RA, SCHEMA_DIR_ENV, SR, SchemaSet, load_schema
from .report import INVALID, NOT_COVERED, UNUSABLE, VALID, SchemaIssue, ValidationReport

_SRV_PATH = etree.XPath("string(sr:Header/sr:ServiceReferenceVariant)", namespaces={"sr": SR})
_REQUEST, _RESPONSE = f"{{{SR}}}Request", f"{{{SR}}}Response"
_DUIS_ROOTS = {_REQUEST, _RESPONSE}


def check_root(tree: etree._ElementTree, source: str) -> etree._Element:
    """Refuse a document that is not a DUIS (sr) or MMC (ra) message."""
    root = tree.getroot()
    if root.tag in _DUIS_ROOTS or etree.QName(root).namespace == RA:
        return root
    raise WrongRoot("not a DUIS or MMC message", source=source, line=root.sourceline,
                    path="/" + (root.prefix + ":" if root.prefix else "") + etree.QName(root).localname,
                    expected=f"root sr:Request or sr:Response ({{{SR}}}), or an MMC document ({{{RA}}})",
                    found=root.tag)


def not_covered_issue(srv: str) -> SchemaIssue:
    return SchemaIssue(
        reason=(f"service reference variant {srv} is not covered by the bundled schema; "
                f"validate it against the official DUIS schema with --schema-dir DIR "
                f"or {SCHEMA_DIR_ENV}=DIR"),
        path="/sr:Request/sr:Header/sr:ServiceReferenceVariant",
        expected="a variant the bundled schema covers", found=srv)


def check_tree(tree: etree._ElementTree, schema: SchemaSet | None = None,
               source: str = "<document>") -> ValidationReport:
    """Validate a parsed document; never raises for an invalid one."""
    schema = schema or load_schema()
    try:
        root = check_root(tree, source)
    except WrongRoot as exc:
        return _unusable(source, exc, schema)
    srv = _SRV_PATH(root) or None if root.tag == f"{{{SR}}}Request" else None
    if srv and schema.covered is not None and srv not in schema.covered and srv in schema.known:
        return ValidationReport(source, NOT_COVERED, schema.name, root.tag, srv,
                                (not_covered_issue(srv),))
    if schema.lxml_schema.validate(tree):
        return ValidationReport(source, VALID, schema.name, root.tag, srv)
    return ValidationReport(source, INVALID, schema.name, root.tag, srv,
                            tuple(detailed_issues(tree, schema)))


def _plainly_valid(tree: etree._ElementTree, schema: SchemaSet) -> bool:
    """The verdict :func:`check_tree` gives as VALID, without building its report:
    a DUIS Response, or a Request whose variant the schema covers, that the
    schema accepts.  False means "ask :func:`check_tree`", not "invalid"."""
    tag = tree.getroot().tag
    if tag == _REQUEST:
        if schema.covered is not None:
            srv = _SRV_PATH(tree.getroot())
            if srv and srv not in schema.covered and srv in schema.known:
                return False
    elif tag != _RESPONSE:
        return False
    return bool(schema.lxml_schema.validate(tree))


def validate(source: str | os.PathLike | BinaryIO | bytes, schema: SchemaSet | None = None,
             limits: ParseLimits = DEFAULT_LIMITS) -> ValidationReport:
    """Read, safely parse and validate one document; unusable input becomes
    a report with verdict ``unusable`` rather than an exception."""
    schema = schema or load_schema()
    name = source if isinstance(source, str) else getattr(source, "name", "<bytes>")
    try:
        data, name = read_source(source, limits)
        tree = parse_bytes(data, name, limits)
    except InputError as exc:
        return _unusable(str(name), exc, schema)
    return check_tree(tree, schema, name)


def ensure_valid(tree: etree._ElementTree, schema: SchemaSet | None = None,
                 source: str = "<document>") -> etree._ElementTree:
    """Return ``tree`` if valid; raise :class:`SchemaInvalid` / :class:`NotCovered`."""
    schema = schema or load_schema()
    if _plainly_valid(tree, schema):
        return tree
    report = check_tree(tree, schema, source)
    if report.verdict == VALID:
        return tree
    first = report.issues[0] if report.issues else SchemaIssue("invalid")
    kwargs = dict(source=source, line=first.line, path=first.path,
                  expected=first.expected, found=first.found)
    if report.verdict == NOT_COVERED:
        raise NotCovered(first.reason, **kwargs)
    if report.verdict == UNUSABLE:
        raise WrongRoot(first.reason, **kwargs)
    raise SchemaInvalid(f"{len(report.issues)} schema error(s); first: {first.reason}",
                        report=report, **kwargs)


def _unusable(source: str, exc: InputError, schema: SchemaSet) -> ValidationReport:
    issue = SchemaIssue(reason=f"{type(exc).__name__}: {exc.message}", line=exc.line,
                        path=exc.path, expected=exc.expected, found=exc.found)
    return ValidationReport(source, UNUSABLE, schema.name, issues=(issue,))


# --- the detailed report -----------------------------------------------------

def detailed_issues(tree: etree._ElementTree, schema: SchemaSet) -> list[SchemaIssue]:
    """Every schema error in ``tree``, as xmlschema reports them."""
    issues = [_issue_from(error, tree) for error in
              schema.detailed_schema.iter_errors(tree)]
    if not issues:  # libxml2 and xmlschema disagree: report libxml2's own log
        schema.lxml_schema.validate(tree)
        issues = [SchemaIssue(reason=entry.message, line=entry.line, path=entry.path)
                  for entry in schema.lxml_schema.error_log]
    return issues


def _issue_from(error, tree) -> SchemaIssue:
    elem = getattr(error, "elem", None)
    line = getattr(error, "sourceline", None) or getattr(elem, "sourceline", None)
    path = _prefixed_path(elem, tree) if isinstance(elem, etree._Element) else error.path
    return SchemaIssue(reason=_reason(error), line=line, path=path,
                       expected=_expected(error), found=_found(error))


def _prefixed_path(elem: etree._Element, tree: etree._ElementTree) -> str:
    steps = []
    node = elem
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
        return repr(text[:80]) if text else f"<{_short(obj)}>"
    if obj is not None:
        return repr(str(obj)[:80])
    return None


def _short(elem) -> str:
    return (elem.prefix + ":" if getattr(elem, "prefix", None) else "") + etree.QName(elem).localname
