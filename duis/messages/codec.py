"""Typed messages to XML and back.

Building is canonical: the same object always gives the same bytes (UTF-8,
XML declaration, two-space indentation, only the namespace declarations that
are used, fixed prefixes ``sr``, ``ra``, ``ds``).  ``build`` validates what it
built, so a message duis writes is always schema-valid.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO, overload

from lxml import etree

from ..errors import MessageError
from ..namespaces import DS, PREFIXES, SR
from ..schema import SchemaSet, check_tree, ensure_valid, load_schema
from ..schema.validate import check_root
from ..xmlparse import DEFAULT_LIMITS, ParseLimits, parse_bytes, parse_own, read_source
from .ids import MessageID, quoted
from .model import (
    Message,
    MMCDocument,
    Node,
    Request,
    RequestHeader,
    Response,
    ResponseHeader,
)
from .values import element_value, first_child

NSMAP = {prefix: ns for ns, prefix in PREFIXES.items()}
_SIG = f"{{{DS}}}Signature"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


# --- XML -> objects ------------------------------------------------------------

def to_node(element: etree._Element) -> Node:
    """An lxml element as an immutable :class:`Node` (comments and processing
    instructions dropped; a leaf's text is its whole value, :func:`element_value`)."""
    # a parsed element's tag is a str (the stubs allow what a program may assign; no
    # cast here, a per-element call)
    tag: str = element.tag  # type: ignore[assignment]
    split = _SPLIT_TAGS.get(tag)
    if split is None:
        qname = etree.QName(tag)
        split = (qname.localname, qname.namespace or "")
        if len(_SPLIT_TAGS) < _SPLIT_TAGS_MAX and len(tag) <= _SPLIT_TAG_CHARS:
            _SPLIT_TAGS[tag] = split
    children = tuple(to_node(c) for c in element if isinstance(c.tag, str))
    text = None if children else element_value(element)
    if text is not None and not text.strip():
        text = None
    attrib = element.attrib
    attrs = tuple(sorted(attrib.items())) if attrib else ()
    return Node(split[0], text, children, split[1], attrs)


#: Clark tag -> (local name, namespace), for the tags met so far (bounded: tags
#: come from untrusted documents)
_SPLIT_TAGS: dict[str, tuple[str, str]] = {}
_SPLIT_TAGS_MAX = 4096
_SPLIT_TAG_CHARS = 256


class _Fields:
    """The children of one element by tag, looked up once (the header is small); the
    first of a tag, as find() gives it and the signature checks read it."""

    def __init__(self, parent: etree._Element, source: str) -> None:
        self.parent, self.source = parent, source
        self.by_tag = {c.tag: c for c in reversed(parent) if isinstance(c.tag, str)}

    def required(self, name: str) -> str:
        found = self.by_tag.get(f"{{{SR}}}{name}")
        if found is None:
            parent = self.parent
            raise MessageError(f"missing sr:{name}", source=self.source, line=parent.sourceline,
                               path=parent.getroottree().getpath(parent),
                               expected=f"an sr:{name} element", found="none")
        return element_value(found).strip()

    def optional(self, name: str) -> str | None:
        found = self.by_tag.get(f"{{{SR}}}{name}")
        return None if found is None else element_value(found).strip()


def _part(root: etree._Element, name: str, source: str) -> _Fields:
    found = first_child(root, f"{{{SR}}}{name}")
    if found is None:
        raise MessageError(f"missing sr:{name}", source=source, line=root.sourceline,
                           path=root.getroottree().getpath(root),
                           expected=f"an sr:{name} element", found="none")
    return _Fields(found, source)


def _body_child(root: etree._Element, source: str) -> etree._Element:
    body = _part(root, "Body", source).parent
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise MessageError("sr:Body must hold exactly one element", source=source,
                           line=body.sourceline, path="/".join(["", root.prefix or "sr", "Body"]),
                           expected="one element", found=f"{len(children)} elements")
    return children[0]


@overload
def _message_id(text: str, source: str, what: str) -> MessageID: ...
@overload
def _message_id(text: str | None, source: str, what: str) -> MessageID | None: ...
def _message_id(text: str | None, source: str, what: str) -> MessageID | None:
    if text is None:
        return None
    try:
        return MessageID.parse(text)
    except MessageError as exc:
        exc.source, exc.path = source, f"/sr:*/sr:Header/sr:{what}"
        raise


def from_tree(tree: etree._ElementTree | etree._Element, source: str = "<document>") -> Message:
    """A typed message from a parsed (and ideally validated) document."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    check_root(root.getroottree(), source)
    if root.tag == f"{{{SR}}}Request":
        return _request(root, source)
    if root.tag == f"{{{SR}}}Response":
        return _response(root, source)
    return MMCDocument(to_node(root))


def _signed(root: etree._Element) -> bool:
    last = root[-1] if len(root) else None
    return last is not None and last.tag == _SIG


def _request(root: etree._Element, source: str) -> Request:
    head = _part(root, "Header", source)
    text = head.required("CommandVariant")
    # ASCII digits only: int() would also take "1_0", "+1" or non-ASCII digits
    if not (text.isdigit() and text.isascii() and len(text) <= 2):
        raise MessageError("CommandVariant is not an integer", source=source,
                           path="/sr:Request/sr:Header/sr:CommandVariant",
                           expected="1-9", found=repr(text[:40])
                           + (f" ({len(text)} characters)" if len(text) > 40 else ""))
    variant = int(text)
    first = head.optional("FirstInSequence")
    header = RequestHeader(
        request_id=_message_id(head.required("RequestID"), source, "RequestID"),
        command_variant=variant,
        service_reference=head.required("ServiceReference"),
        service_reference_variant=head.required("ServiceReferenceVariant"),
        first_in_sequence=None if first is None else first in ("true", "1"),
        preceding_request_id=_message_id(head.optional("PrecedingServiceRequestID"),
                                         source, "PrecedingServiceRequestID"))
    return Request(header, to_node(_body_child(root, source)),
                   root.get("schemaVersion", ""), _signed(root))


def _response(root: etree._Element, source: str) -> Response:
    head = _part(root, "Header", source)
    header = ResponseHeader(
        response_code=head.required("ResponseCode"),
        response_datetime=head.required("ResponseDateTime"),
        request_id=_message_id(head.optional("RequestID"), source, "RequestID"),
        response_id=_message_id(head.optional("ResponseID"), source, "ResponseID"))
    return Response(header, to_node(_body_child(root, source)),
                    root.get("schemaVersion", ""), _signed(root))


def parse_message(source: str | os.PathLike | BinaryIO | bytes, *, validate: bool = True,
                  schema: SchemaSet | None = None,
                  limits: ParseLimits = DEFAULT_LIMITS) -> Message:
    """Read, safely parse, validate (by default) and type one message."""
    data, name = read_source(source, limits)
    tree = parse_bytes(data, name, limits)
    if validate:
        ensure_valid(tree, schema, name)
    return from_tree(tree, name)


# --- objects -> XML ------------------------------------------------------------

def _declared(root: etree._Element) -> etree._Element:
    """Drop namespace declarations nothing uses (the root declares every known prefix)."""
    etree.cleanup_namespaces(root)
    return root


def _append(parent: etree._Element, item: Node) -> None:
    element = etree.SubElement(parent, f"{{{item.ns}}}{item.name}" if item.ns else item.name)
    _fill(element, item)


def _fill(element: etree._Element, item: Node) -> None:
    for key, value in item.attrs:
        element.set(key, value)
    if item.children:
        for child in item.children:
            _append(element, child)
    elif item.text is not None:
        element.text = item.text


def _header_fields(message: Request | Response) -> list[tuple[str, str]]:
    """The header's elements, in schema order, as (local name, text)."""
    if isinstance(message, Request):
        h = message.header
        fields = [("RequestID", str(h.request_id))]
        if h.first_in_sequence is not None:
            fields.append(("FirstInSequence", "true" if h.first_in_sequence else "false"))
        if h.preceding_request_id is not None:
            fields.append(("PrecedingServiceRequestID", str(h.preceding_request_id)))
        fields += [("CommandVariant", str(h.command_variant)),
                   ("ServiceReference", h.service_reference),
                   ("ServiceReferenceVariant", h.service_reference_variant)]
    else:
        r = message.header
        fields = [("RequestID", str(r.request_id))] if r.request_id is not None else []
        if r.response_id is not None:
            fields.append(("ResponseID", str(r.response_id)))
        fields += [("ResponseCode", r.response_code),
                   ("ResponseDateTime", r.response_datetime)]
    return fields


def _header_nodes(message: Request | Response) -> Node:
    return Node("Header", None, tuple(Node(name, text) for name, text in _header_fields(message)))


def to_element(message: Message) -> etree._Element:
    """The message as a fresh lxml element (unsigned), with the fixed prefixes of
    :data:`duis.namespaces.PREFIXES`."""
    # The Node tree is written out as markup and parsed once by libxml2, several
    # times faster than creating the elements one by one from Python; a namespace
    # without a known prefix takes the element-by-element path.
    return _element_and_markup(message)[0]


def _element_and_markup(message: Message) -> tuple[etree._Element, bytes | None]:
    """The fresh element, and the markup it was parsed from (``None`` when it was
    built element by element)."""
    try:
        if isinstance(message, MMCDocument):
            return _from_markup(message.root)
        return _from_markup(Node("Body", None, (message.body,)), _envelope(message))
    except _UnknownNamespace:
        return _element_by_element(message), None


def _envelope(message: Request | Response) -> tuple[str, str]:
    """The markup around a DUIS message's Body: root start tag and Header; root end tag."""
    tag = "sr:Request" if isinstance(message, Request) else "sr:Response"
    header = "".join(f"<sr:{name}>{text.translate(_TEXT_ESCAPES)}</sr:{name}>"
                     for name, text in _header_fields(message))
    version = message.schema_version.translate(_ATTR_ESCAPES)
    return (f'<{tag} schemaVersion="{version}"><sr:Header>{header}</sr:Header>', f"</{tag}>")


class _UnknownNamespace(Exception):
    """A namespace without one of the fixed prefixes."""


_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def _from_markup(root: Node, envelope: tuple[str, str] | None = None
                 ) -> tuple[etree._Element, bytes]:
    """Parse the markup of ``root`` (inside ``envelope``'s start and end, if given)
    with the namespace declarations it uses on its first element; the element, and
    that markup (UTF-8), which is what lxml serializes the element as: the same
    namespace declarations in the same place, ``<x/>`` for an empty element, the
    same characters escaped (tested)."""
    markup = _markup_bytes(root, envelope)
    try:
        return parse_own(markup), markup
    except etree.XMLSyntaxError as exc:  # text XML cannot carry (control characters)
        raise MessageError("cannot be written as XML", expected="text XML can carry (no "
                           "control characters, no lone surrogates)", found=str(exc)) from None


def _markup_bytes(root: Node, envelope: tuple[str, str] | None) -> bytes:
    used: set[str] = {SR} if envelope else set()
    parts: list[str] = [envelope[0]] if envelope else []
    _markup(root, parts, used)
    if envelope:
        parts.append(envelope[1])
    declarations = "".join(f' xmlns:{prefix}="{ns}"' for ns, prefix in PREFIXES.items()
                           if ns in used)
    first = parts[0]
    cut = first.index(" ") if " " in first else len(first) - (2 if first.endswith("/>") else 1)
    parts[0] = first[:cut] + declarations + first[cut:]
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 for it
        raise MessageError("cannot be written as XML", expected="text XML can carry (no "
                           "control characters, no lone surrogates)",
                           found=f"{exc.object[exc.start:exc.end]!r}") from None


#: (namespace, local name) -> the prefixed tag the markup uses (names checked once)
_TAGS: dict[tuple[str, str], str] = {}
#: the most names remembered (a name from a parsed document may be anything)
_TAGS_MAX = 4096
#: an XML name without a colon (an NCName), as a Node's name or attribute is written
_NCNAME = re.compile(r"[^\W\d][\w.-]*")


def _qualified(ns: str, name: str, used: set[str]) -> str:
    tag = _TAGS.get((ns, name))
    if tag is None:
        if not isinstance(name, str) or _NCNAME.fullmatch(name) is None:
            # pasted into markup as it is: "a/><b" would write two elements
            raise MessageError("not an XML name", expected="a name of letters, digits, '.', "
                               "'-' and '_' (no colon: the namespace is given apart)",
                               found=quoted(repr(name)) if not isinstance(name, str)
                               else quoted(name))
        prefix = PREFIXES.get(ns) if ns else None
        if ns and prefix is None:
            raise _UnknownNamespace(ns)
        tag = f"{prefix}:{name}" if ns else name
        if len(_TAGS) < _TAGS_MAX:
            _TAGS[(ns, name)] = tag
    if ns:
        used.add(ns)
    return tag


def _markup(item: Node, parts: list[str], used: set[str]) -> None:
    tag = _qualified(item.ns, item.name, used)
    attrs = ""
    for key, value in item.attrs:
        ns, local = key[1:].split("}", 1) if key.startswith("{") and "}" in key else ("", key)
        attrs += f' {_qualified(ns, local, used)}="{value.translate(_ATTR_ESCAPES)}"'
    if item.children:
        parts.append(f"<{tag}{attrs}>")
        for child in item.children:
            _markup(child, parts, used)
        parts.append(f"</{tag}>")
    elif item.text:  # empty text is an empty element, written as lxml writes it
        parts.append(f"<{tag}{attrs}>{item.text.translate(_TEXT_ESCAPES)}</{tag}>")
    else:
        parts.append(f"<{tag}{attrs}/>")


def _element_by_element(message: Message) -> etree._Element:
    if isinstance(message, MMCDocument):
        root_node = message.root
        root = etree.Element(f"{{{root_node.ns}}}{root_node.name}", nsmap=NSMAP)
        _fill(root, root_node)
        return _declared(root)
    tag = "Request" if isinstance(message, Request) else "Response"
    root = etree.Element(f"{{{SR}}}{tag}", nsmap=NSMAP)
    root.set("schemaVersion", message.schema_version)
    _append(root, _header_nodes(message))
    _append(root, Node("Body", None, (message.body,)))
    return _declared(root)


def serialize(root: etree._Element) -> bytes:
    """Canonical bytes: UTF-8, declaration, two-space indentation."""
    etree.indent(root, space="  ")
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def build_element(message: Message, *, validate: bool = True,
                  schema: SchemaSet | None = None) -> etree._Element:
    """``message`` as a fresh element, checked against the schema (unless told not to)."""
    root = to_element(message)
    if validate:
        ensure_valid(root.getroottree(), schema or load_schema(), "<built message>")
    return root


def build_serialized(message: Message, *, validate: bool = True,
                     schema: SchemaSet | None = None) -> tuple[etree._Element, bytes]:
    """As :func:`build_element`, with the element's compact serialization (what
    ``etree.tostring(element, encoding="UTF-8")`` gives, without the XML
    declaration), written once rather than serialized again."""
    root, markup = _element_and_markup(message)
    if validate:
        ensure_valid(root.getroottree(), schema or load_schema(), "<built message>")
    return root, markup if markup is not None else etree.tostring(root, encoding="UTF-8")


def serialized(message: Message) -> bytes:
    """``build_serialized(message, validate=False)[1]``, without building the element:
    for a message that goes on as bytes alone (checked by whoever receives it)."""
    try:
        if isinstance(message, MMCDocument):
            return _markup_bytes(message.root, None)
        return _markup_bytes(Node("Body", None, (message.body,)), _envelope(message))
    except _UnknownNamespace:
        return etree.tostring(_element_by_element(message), encoding="UTF-8")


def build(message: Message, *, validate: bool = True, schema: SchemaSet | None = None) -> bytes:
    """Canonical XML for ``message``; raises :class:`SchemaInvalid` if it would not validate."""
    return serialize(build_element(message, validate=validate, schema=schema))


__all__ = ["build", "build_element", "build_serialized", "from_tree", "parse_message",
           "serialize", "serialized", "to_element", "to_node", "check_tree"]
