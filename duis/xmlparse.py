"""The one entry point for untrusted XML.

Nothing else in duis parses XML that came from outside.  The parser refuses
document type declarations (so no entities: no XXE, no billion laughs),
never touches the file system or the network, caps the input size and the
element nesting depth, and names what it refused.

Only UTF-8 is accepted (with or without a byte order mark, the declaration
spelled ``UTF-8`` or ``UTF8`` in any case, or no declaration): DUIS messages
are UTF-8, and every other encoding is refused by name
(:class:`~duis.errors.EncodingNotAllowed`).  The refusals are decided on what
libxml2 parsed (the encoding it decoded with, the document type declaration
it saw, the tree's depth), never on a scan of the raw bytes, which another
encoding (UTF-7, UTF-16) can hide markup from.

It is also the one home of lxml parser settings: :func:`parse_own` reads back
markup duis wrote itself, :func:`schema_document_parser` reads schema files and
:func:`validating_parser` validates while it parses; every parser here shares
the same refusals (no network, no entity expansion, no DTD loaded).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, BinaryIO, NamedTuple, Protocol, TypedDict, cast

from lxml import etree

from .errors import (
    DTDForbidden,
    EncodingNotAllowed,
    EntitiesForbidden,
    ExternalReferenceForbidden,
    InputTooLarge,
    MalformedXML,
    NestingTooDeep,
    TooManyNodes,
    UnreadableInput,
)

#: an 11.1 request carries up to 10,240,000 base64 characters of image;
#: the default leaves room for the envelope and a signature
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: DUIS messages nest a few dozen levels at most
DEFAULT_MAX_DEPTH = 100
#: the largest DUIS request, an 11.1 for 50,000 devices, has about 100,000 elements;
#: a parsed node costs libxml2 some 150-250 bytes, so this keeps any tree under ~150 MB
DEFAULT_MAX_NODES = 500_000
#: above this size libxml2's "huge" mode is needed for long text nodes
_HUGE_THRESHOLD = 8 * 1024 * 1024
#: the encodings accepted, as libxml2 reports the declared one (upper case, no "-")
_UTF8_NAMES = frozenset({"UTF8"})


class ParseLimits(NamedTuple):
    """Caps applied to every untrusted document."""

    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest input accepted, in bytes; larger input is refused unread."""
    max_depth: int = DEFAULT_MAX_DEPTH
    """Deepest element nesting accepted (the root is depth 1)."""
    max_nodes: int = DEFAULT_MAX_NODES
    """Most elements and attributes accepted, counted before parsing as the ``<``
    and ``=`` characters of the input (each element starts with a ``<``, each
    attribute or namespace declaration holds an ``=``): an upper bound that costs
    a scan of the bytes and bounds the memory a tree can take.  Text counts too,
    but DUIS text (base64, numbers, identifiers) holds a handful at most."""

    @classmethod
    def from_env(cls) -> ParseLimits:
        """Limits from ``DUIS_MAX_BYTES`` / ``DUIS_MAX_DEPTH`` / ``DUIS_MAX_NODES`` when
        set; a value that is not a positive integer is refused, naming the variable."""
        return cls(_env_int("DUIS_MAX_BYTES", DEFAULT_MAX_BYTES),
                   _env_int("DUIS_MAX_DEPTH", DEFAULT_MAX_DEPTH),
                   _env_int("DUIS_MAX_NODES", DEFAULT_MAX_NODES))


def _env_int(variable: str, default: int) -> int:
    text = os.environ.get(variable)
    if text is None:
        return default
    if not (text.strip().isdigit() and text.strip().isascii()) or int(text) < 1:
        raise UnreadableInput(f"bad {variable}", source=f"${variable}",
                              expected="a positive integer", found=repr(text[:40]))
    return int(text)


DEFAULT_LIMITS = ParseLimits()


class _NoResolver(etree.Resolver):
    """Refuses every external resource libxml2 might ask for."""

    def resolve(self, url, pubid, context):  # noqa: D401 - lxml API
        raise ExternalReferenceForbidden(
            "external resource refused", expected="no external references",
            found=str(url))


class _Refusals(TypedDict):
    resolve_entities: bool
    no_network: bool
    load_dtd: bool


#: what every parser in duis refuses: nothing fetched, no entity expanded, no DTD loaded
_SAFE: _Refusals = {"resolve_entities": False, "no_network": True, "load_dtd": False}


def _make_parser(huge: bool) -> etree.XMLParser:
    parser = etree.XMLParser(
        **_SAFE, dtd_validation=False, attribute_defaults=False, huge_tree=huge,
        remove_comments=False, remove_pis=False, collect_ids=False)
    parser.resolvers.add(_NoResolver())
    return parser


def schema_document_parser() -> etree.XMLParser:
    """A parser for reading XSD files (comments dropped; includes are left to the
    schema compiler)."""
    return etree.XMLParser(**_SAFE, remove_comments=True)


class FeedParser(Protocol):
    """What :func:`validating_parser` gives: a parser fed bytes, with its error log."""

    def feed(self, data: bytes) -> None: ...

    @property
    def feed_error_log(self) -> etree._ListErrorLog: ...

    def close(self) -> object: ...


def validating_parser(schema: etree.XMLSchema, target: Any) -> FeedParser:
    """A feed parser that validates against ``schema`` as it parses, handing the
    events to ``target`` (no tree is built)."""
    # Any: lxml calls only the target methods that exist (a sink may have close()
    # alone), which the stubs' ParserTarget protocol, wanting them all, cannot say
    return etree.XMLParser(**_SAFE, schema=schema, target=target, huge_tree=True)


_PARSERS = {False: _make_parser(False), True: _make_parser(True)}


def read_source(source: str | os.PathLike | BinaryIO | bytes,
                limits: ParseLimits = DEFAULT_LIMITS) -> tuple[bytes, str]:
    """Read at most ``limits.max_bytes`` from a path, ``-`` (stdin), a binary
    stream or bytes; return the bytes and a name for error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    elif isinstance(source, (str, os.PathLike)) and str(source) == "-":
        data, name = _read_capped(sys.stdin.buffer, limits, "<stdin>"), "<stdin>"
    elif isinstance(source, (str, os.PathLike)):
        name = str(source)
        try:
            size = os.stat(source).st_size
            if size > limits.max_bytes:
                raise _too_large(name, limits, size)
            with open(source, "rb") as handle:
                data = _read_capped(handle, limits, name)
        except OSError as exc:
            raise UnreadableInput(f"cannot read file: {exc.strerror}", source=name,
                                  expected="a readable file",
                                  found=type(exc).__name__) from None
    else:
        name = getattr(source, "name", "<stream>")
        data = _read_capped(source, limits, str(name))
    if len(data) > limits.max_bytes:
        raise _too_large(name, limits, len(data))
    return data, str(name)


def _read_capped(handle: BinaryIO, limits: ParseLimits, name: str) -> bytes:
    data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise _too_large(name, limits, None)
    return data


def _too_large(name: str, limits: ParseLimits, size: int | None) -> InputTooLarge:
    found = f"{size} bytes" if size is not None else f"more than {limits.max_bytes} bytes"
    return InputTooLarge("input too large", source=name,
                         expected=f"at most {limits.max_bytes} bytes", found=found)


def parse_bytes(data: bytes, name: str = "<bytes>",
                limits: ParseLimits = DEFAULT_LIMITS, *,
                leave_out: tuple[int, int] | None = None) -> etree._ElementTree:
    """Parse bytes already in memory under the safety rules; return the tree.

    ``leave_out=(start, end)``: the tree of ``data[:start] + data[end:]``,
    ``data[start:end]`` being an element the caller read from the bytes itself
    (the signature :func:`duis.signatures.verify` reads so).  The size and node
    caps apply to all of ``data``; the depth cap to the tree built (the caller's
    element must not be what exceeds it); the errors are the shorter
    document's.
    """
    if len(data) > limits.max_bytes:
        raise _too_large(name, limits, len(data))
    _refuse_other_encodings(data, name)
    elements = data.count(b"<")
    nodes = elements + data.count(b"=")
    if nodes > limits.max_nodes:
        raise TooManyNodes("too many elements and attributes", source=name,
                           expected=f"at most {limits.max_nodes} '<' and '=' characters "
                                    f"(elements and attributes)", found=f"{nodes}")
    if leave_out is not None:
        data = data[:leave_out[0]] + data[leave_out[1]:]
    huge = len(data) > _HUGE_THRESHOLD
    try:
        root = etree.fromstring(data, _PARSERS[huge])
    except ExternalReferenceForbidden as exc:
        exc.source = name
        raise
    except etree.XMLSyntaxError as exc:
        raise _classify_syntax_error(exc, data, name, limits) from None
    except ValueError as exc:  # e.g. str with an encoding declaration
        raise MalformedXML(f"not XML: {exc}", source=name) from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.encoding.upper().replace("-", "") not in _UTF8_NAMES:
        raise EncodingNotAllowed("character encoding not allowed (DUIS messages are UTF-8)",
                                 source=name, line=1, expected="UTF-8",
                                 found=docinfo.encoding[:40])
    # libxml2 decoded UTF-8 (just checked), where a document type declaration is
    # the bytes "<!DOCTYPE": without "<!" there is none to look for
    if b"<!" in data and (docinfo.internalDTD is not None or docinfo.externalDTD is not None
                          or docinfo.system_url is not None or docinfo.public_id is not None):
        _refuse_dtd(tree, name)
    if elements > limits.max_depth:
        _check_depth(root, name, limits)
    return tree


#: an XML declaration naming its encoding (in its first bytes, ASCII in every
#: encoding that could pass for UTF-8 up to there)
_DECLARED = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([^\"']{0,40})")


#: how UTF-16 and UTF-32 documents start (a byte order mark, or "<" in two or four bytes)
_WIDE_STARTS = ((b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\x00\x00\xfe\xff", "UTF-32BE"),
                (b"<\x00\x00\x00", "UTF-32LE"), (b"\x00\x00\x00<", "UTF-32BE"),
                (b"\xff\xfe", "UTF-16LE"), (b"\xfe\xff", "UTF-16BE"),
                (b"<\x00", "UTF-16LE"), (b"\x00<", "UTF-16BE"))
_WIDE_PREFIXES = tuple(start for start, _ in _WIDE_STARTS)
_UTF8_DECLARED = (b'encoding="UTF-8"', b"encoding='UTF-8'")


def _refuse_other_encodings(data: bytes, name: str) -> None:
    """Refuse, before any parsing, input that names or plainly is in another encoding
    than UTF-8 (a byte order mark of UTF-16 or UTF-32, a first "<" written in two or
    four bytes, an XML declaration naming another encoding).  What libxml2 decoded with
    is checked again after parsing, so this only spares the parse."""
    found = None
    if data.startswith(_WIDE_PREFIXES):  # one C call for the common case: none of them
        found = next(encoding for start, encoding in _WIDE_STARTS if data.startswith(start))
    else:
        # the common case, found with two C-level searches: no declaration, or one
        # without an encoding, or one naming UTF-8 exactly so
        end = data.find(b">", 0, 256)
        at = data.find(b"encoding", 0, end if end > 0 else 256)
        if at < 0 or data.startswith(_UTF8_DECLARED, at):
            return
        declared = _DECLARED.match(data, 0, 256)
        if declared is None or declared.group(1).upper().replace(b"-", b"") in (b"UTF8",):
            return
        found = declared.group(1).decode("ascii", "replace")
    raise EncodingNotAllowed("character encoding not allowed (DUIS messages are UTF-8)",
                             source=name, line=1, expected="UTF-8", found=found)


# The depth walk is skipped when it cannot fail: the input is UTF-8 (checked
# above), where every element starts with a "<" byte, so a document with no
# more "<" bytes than the depth cap has no more elements than that, and a tree
# of n elements is at most n deep.


def parse_canonical(data: bytes, name: str = "<bytes>") -> etree._ElementTree:
    """Parse Canonical XML that was written from a tree :func:`parse_bytes` gave.

    Such bytes hold no DTD and nest no deeper than that tree (canonicalising
    adds no element), so only the parse itself is left; the same parser, the
    same refusals.
    """
    return parse_own(data).getroottree()


def parse_own(data: bytes) -> etree._Element:
    """Parse markup duis wrote itself (a message it built, Canonical XML of a tree
    it parsed): the same parser, without the checks only outside input needs."""
    return etree.fromstring(data, _PARSERS[len(data) > _HUGE_THRESHOLD])


def parse_xml(source: str | os.PathLike | BinaryIO | bytes,
              limits: ParseLimits = DEFAULT_LIMITS) -> etree._ElementTree:
    """Read and safely parse a path, ``-``, a stream or bytes."""
    data, name = read_source(source, limits)
    return parse_bytes(data, name, limits)


def _refuse_dtd(tree: etree._ElementTree, name: str) -> None:
    docinfo = tree.docinfo
    dtd = docinfo.internalDTD
    entities = [entity.name or "" for entity in dtd.iterentities()] if dtd is not None else []
    cls = EntitiesForbidden if entities else DTDForbidden
    what = "entity declarations" if entities else "a document type declaration"
    # the declaration as written: its own name (not the root's) and identifiers
    # (a parsed element's tag is a str; the stubs allow what a program may assign)
    root_tag = cast(str, tree.getroot().tag)
    declared = f"<!DOCTYPE {dtd.name if dtd is not None and dtd.name else root_tag}"
    if docinfo.public_id:
        declared += f' PUBLIC "{docinfo.public_id}"'
    if docinfo.system_url:
        declared += f' SYSTEM "{docinfo.system_url}"'
    if entities:
        declared += f" [{len(entities)} entity declaration(s): {', '.join(entities[:5])}]"
    raise cls(f"{what} refused (DTDs and entities are not allowed in DUIS messages)",
              source=name, line=1, expected="no <!DOCTYPE>", found=(declared + ">")[:200])


def _check_depth(root: etree._Element, name: str, limits: ParseLimits) -> None:
    # Cheap bound first: a tree of n elements cannot be deeper than n.
    count = 0
    for _ in root.iter():
        count += 1
        if count > limits.max_depth:
            break
    else:
        return
    # The first element one level below the cap, in document order, found by
    # libxml2 level by level (no Python object per element: a dict of depths
    # took 1.5 s and 200 MB for 2,000,000 siblings).
    deeper = root.xpath("(/*" + "/*" * limits.max_depth + ")[1]")
    if deeper:
        element = deeper[0]
        raise NestingTooDeep("element nesting too deep", source=name,
                             line=element.sourceline,
                             path=element.getroottree().getpath(element)[:200],
                             expected=f"at most {limits.max_depth} levels",
                             found=f"more than {limits.max_depth}")


def _classify_syntax_error(exc: etree.XMLSyntaxError, data: bytes, name: str,
                           limits: ParseLimits):
    message = str(exc.msg or exc)
    line = exc.lineno or None
    lowered = message.lower()
    if "depth" in lowered or "nesting" in lowered:
        return NestingTooDeep("element nesting too deep", source=name, line=line,
                              expected=f"at most {limits.max_depth} levels",
                              found=f"libxml2 refused: {message}")
    if "entity" in lowered and b"<!DOCTYPE" in data[:4096].upper():
        return EntitiesForbidden("entity use refused", source=name, line=line,
                                 expected="no entities", found=message)
    if b"\x00" in data[:512] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return MalformedXML("not XML (binary data)", source=name, line=line,
                            expected="a well-formed XML document", found=message)
    if not data.strip():
        return MalformedXML("empty input", source=name,
                            expected="a well-formed XML document", found="no bytes")
    return MalformedXML(f"not well-formed XML: {message}", source=name, line=line,
                        expected="a well-formed XML document", found=message)


__all__ = ["DEFAULT_LIMITS", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_NODES",
           "ParseLimits", "parse_bytes", "parse_canonical", "parse_own", "parse_xml",
           "read_source", "schema_document_parser", "validating_parser"]
