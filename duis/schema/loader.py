"""Find and compile schema sets: the bundled ``xsd/`` or the official DUIS files.

The official files are used exactly as published: their names contain
spaces, which libxml2 cannot resolve as relative import URIs, so the import
locations are percent-encoded in memory before compiling (the files on disk
are untouched).  Compiled schemas are cached per directory.
"""

from __future__ import annotations

import _thread  # threading's Lock itself, without importing threading at start-up
import os
import re
from functools import cached_property
from typing import TYPE_CHECKING

from lxml import etree

from ..errors import SchemaUnavailable
from ..xmlparse import schema_document_parser

if TYPE_CHECKING:
    from pathlib import Path

XS = "http://www.w3.org/2001/XMLSchema"
COVERAGE_SOURCE = "urn:duis:coverage"
#: the attributes any element may carry: xsi:type, xsi:nil, xsi:schemaLocation,
#: xsi:noNamespaceSchemaLocation (so no schema's attribute bound is below this)
XSI_ATTRIBUTES = 4
SCHEMA_DIR_ENV = "DUIS_SCHEMA_DIR"
BUNDLED = "bundled"

_CACHE: dict[str, SchemaSet] = {}
_LOCK = _thread.allocate_lock()


def bundled_dir() -> Path:
    """The bundled schemas: ``duis/xsd`` in an installed wheel, ``xsd/`` in a checkout."""
    from pathlib import Path
    return Path(_bundled_dir())


def _bundled_dir() -> str:
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for candidate in (os.path.join(here, "xsd"), os.path.join(os.path.dirname(here), "xsd")):
        if os.path.isfile(os.path.join(candidate, "duis.xsd")):
            return candidate
    raise SchemaUnavailable("bundled schemas not found", expected="xsd/duis.xsd",
                            found=os.path.join(os.path.dirname(here), "xsd"))


def _main_file(directory: str) -> str:
    if os.path.isfile(os.path.join(directory, "duis.xsd")):
        return os.path.join(directory, "duis.xsd")
    schemas = sorted(name for name in os.listdir(directory)
                     if name.endswith(".xsd") and not name.startswith("."))
    matches = ([name for name in schemas if name.startswith("DUIS Schema")]
               or [name for name in schemas if name.startswith("DUIS")])
    if not matches:
        raise SchemaUnavailable("no DUIS schema in directory", source=_shown(directory),
                                expected="a file named like 'DUIS Schema V5.4.xsd'",
                                found=", ".join(schemas) or "no .xsd files")
    return os.path.join(directory, matches[-1])


def _shown(path: str) -> str:
    """A path as error messages name it: the user's spelling, normalised as
    :mod:`pathlib` does (``./a//b/`` is ``a/b``), imported for the message only."""
    from pathlib import Path
    return str(Path(path))


class SchemaSet:
    """A compiled DUIS schema (with the MMC and xmldsig schemas it imports)."""

    def __init__(self, name: str, main_path: str, covered: frozenset[str] | None,
                 known: frozenset[str] = frozenset(),
                 document: etree._ElementTree | None = None) -> None:
        self.name = name
        """``bundled`` or the official schema directory."""
        self.main_path = main_path
        """The main schema file (``duis.xsd``, ``DUIS Schema V5.4.xsd``)."""
        self.covered = covered
        """Service reference variants whose request bodies this schema covers;
        ``None`` for the official schema, which covers everything."""
        self.known = known
        """Every service reference variant DUIS defines (the schema's enumeration)."""
        self._lock = _thread.allocate_lock()
        self._files_checked = False
        self._document = document
        """The main file as :func:`_load_with_encoded_imports` gives it, when it
        was read already (the bundled one's coverage is read from it, so it is
        parsed once); dropped once compiled."""

    def __repr__(self) -> str:
        return f"SchemaSet(name={self.name!r}, main_path={self.main_path!r})"

    @property
    def main_file(self) -> Path:
        """:attr:`main_path` as a :class:`~pathlib.Path`."""
        from pathlib import Path
        return Path(self.main_path)

    @cached_property
    def lxml_schema(self) -> etree.XMLSchema:
        """The fast validator (libxml2)."""
        self._check_files()
        document, self._document = self._document, None
        try:
            return etree.XMLSchema(document if document is not None
                                   else _load_with_encoded_imports(self.main_path))
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
            raise SchemaUnavailable(f"schema does not compile: {exc}",
                                    source=_shown(self.main_path)) from None

    def _check_files(self) -> None:
        """A user's folder checked (:func:`_check_schema_files`) before libxml2 or
        xmlschema reads it, once for both (a refusal is checked again if asked again)."""
        if not self.is_bundled and not self._files_checked:
            _check_schema_files(self.main_path)
            self._files_checked = True

    @cached_property
    def detailed_schema(self):
        """The reporting validator (xmlschema), built only when a report is needed."""
        import xmlschema
        self._check_files()
        with self._lock:
            try:  # nothing outside the folder (external entities refused above; the
                # official xmldsig schema declares internal ones, so DTDs stay allowed)
                return xmlschema.XMLSchema(
                    self.main_path, allow="sandbox",
                    base_url=os.path.dirname(os.path.realpath(self.main_path)))
            except (xmlschema.XMLSchemaException, OSError, ValueError) as exc:
                raise SchemaUnavailable("schema does not compile for the detailed report",
                                        source=_shown(self.main_path),
                                        expected="a schema xmlschema reads",
                                        found=str(exc).splitlines()[0][:200]) from None

    @cached_property
    def max_attributes(self) -> int | None:
        """No element this schema accepts carries more attributes than this
        (``None``: no such bound, e.g. an ``xs:anyAttribute``).

        Every attribute an element may carry is declared by an ``xs:attribute``
        (a declaration or a reference) somewhere in the schema files, or is one
        of the four ``xsi:`` attributes every element may carry; so the count of
        those declarations, plus four, bounds the attributes of any valid
        element.  A document with an element above it is invalid, and is known
        to be without asking libxml2 (which would log one error per attribute).
        """
        return _attribute_bound(self.main_path)

    @property
    def is_bundled(self) -> bool:
        return self.name == BUNDLED


#: a URI reference with a scheme (``http:``, ``file:``), which is not a relative location
_SCHEME = re.compile(r"[\x00-\x20]*[A-Za-z][A-Za-z0-9+.-]*:")
#: the characters a percent-encoded location keeps as they are (RFC 3986's
#: unreserved ones, and ``/``)
_LOCATION_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")


def _encoded(location: str) -> str:
    """``location`` percent-encoded as a relative URI: every UTF-8 byte of a
    character outside :data:`_LOCATION_SAFE` as ``%XX`` (``urllib.parse.quote``,
    without importing it and ipaddress, which ``duis validate`` would pay for
    one call)."""
    return "".join(char if char in _LOCATION_SAFE
                   else "".join(f"%{byte:02X}" for byte in char.encode())
                   for char in location)


def _decoded(location: str) -> str:
    """``location`` with its ``%XX`` escapes decoded as UTF-8 (``urllib.parse.unquote``,
    without importing it: see :func:`_encoded`)."""
    if "%" not in location:
        return location
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes((int(m.group(1), 16),)),
                  location.encode("utf-8")).decode("utf-8", "replace")


def _load_with_encoded_imports(path: str) -> etree._ElementTree:
    doc = etree.parse(path, schema_document_parser())
    for tag in (f"{{{XS}}}import", f"{{{XS}}}include"):
        for node in doc.getroot().iter(tag):
            location = node.get("schemaLocation")
            if location and not _SCHEME.match(location):
                node.set("schemaLocation", _encoded(location))
    return doc


#: the largest schema file read from a user's folder (the official DUIS schema is far
#: smaller)
MAX_SCHEMA_FILE_BYTES = 32 * 1024 * 1024


def _check_schema_files(main_file: str) -> None:
    """Refuse (:class:`SchemaUnavailable`) a schema folder that is not self-contained
    and plain before libxml2 or xmlschema read it (both follow imports themselves,
    libxml2 with entities on): every file the main one imports or includes, and the
    main one, a regular file of at most :data:`MAX_SCHEMA_FILE_BYTES` in the folder,
    with no external entity, importing by relative location only."""
    directory = os.path.dirname(os.path.realpath(main_file))
    seen: set[str] = set()
    pending = [(os.path.realpath(main_file), main_file)]
    while pending:
        path, named = pending.pop()
        if path in seen:
            continue
        seen.add(path)

        def refuse(message: str, expected: str, found: str, at: str = named) -> None:
            raise SchemaUnavailable(message, source=_shown(at), expected=expected, found=found)
        if os.path.dirname(path) != directory:
            refuse("schema file outside the schema folder", f"a file in {_shown(directory)}",
                   path)
        if not os.path.isfile(path):
            refuse("schema file not a regular file", "a readable .xsd file",
                   "no such file" if not os.path.exists(path) else "a special file")
        size = os.path.getsize(path)
        if size > MAX_SCHEMA_FILE_BYTES:
            refuse("schema file too large", f"at most {MAX_SCHEMA_FILE_BYTES} bytes",
                   f"{size} bytes")
        try:
            tree = etree.parse(path, schema_document_parser())
        except (etree.XMLSyntaxError, OSError) as exc:
            refuse("schema file not readable XML", "a well-formed .xsd file", str(exc)[:200])
        # an internal entity is text (the official xmldsig schema declares some); an
        # external one is a file or URL libxml2 would read while it compiles
        dtd = tree.docinfo.internalDTD
        for entity in dtd.iterentities() if dtd is not None else ():
            if entity.system_url:
                refuse("external entity in a schema file", "entities that are text only "
                       "(nothing read from elsewhere)",
                       f"<!ENTITY {entity.name} SYSTEM {entity.system_url[:120]!r}>")
        for tag in (f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine"):
            for node in tree.getroot().iter(tag):
                location = node.get("schemaLocation")
                if not location:
                    continue
                if _SCHEME.match(location):
                    refuse("schema import from elsewhere", "a location relative to the "
                           "schema folder (nothing is fetched)", location[:200], named)
                target = os.path.join(os.path.dirname(path), _decoded(location))
                pending.append((os.path.realpath(target), target))


def _attribute_bound(main_file: str) -> int | None:
    from urllib.parse import unquote  # only for documents of many attributes
    directory = os.path.dirname(os.path.realpath(main_file))
    seen: set[str] = set()
    pending = [os.path.realpath(main_file)]
    declared = 0
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        if os.path.dirname(path) != directory or not os.path.isfile(path):
            return None  # a schema file we do not read: no bound
        try:
            root = etree.parse(path, schema_document_parser()).getroot()
        except (etree.XMLSyntaxError, OSError):
            return None
        if root.find(f".//{{{XS}}}anyAttribute") is not None:
            return None
        declared += sum(1 for _ in root.iter(f"{{{XS}}}attribute"))
        for tag in (f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine"):
            for node in root.iter(tag):
                location = node.get("schemaLocation")
                if location:
                    if _SCHEME.match(location):
                        return None
                    pending.append(os.path.realpath(
                        os.path.join(os.path.dirname(path), unquote(location))))
    return declared + XSI_ATTRIBUTES


def _coverage(doc: etree._ElementTree) -> tuple[frozenset[str], frozenset[str]]:
    """(variants the request bodies cover, every variant the enumeration knows),
    read from the main schema file."""
    texts = doc.getroot().xpath(
        "//xs:appinfo[@source=$src]/text()", namespaces={"xs": XS}, src=COVERAGE_SOURCE)
    known = doc.getroot().xpath(
        "//xs:simpleType[@name='ServiceReferenceVariant']//xs:enumeration/@value",
        namespaces={"xs": XS})
    return (frozenset(v for text in texts for v in text.split() if v != "*"),
            frozenset(known))


def load_schema(schema_dir: str | os.PathLike | None = None) -> SchemaSet:
    """The schema set to validate with.

    ``schema_dir`` (or the ``DUIS_SCHEMA_DIR`` environment variable) names a
    directory holding the official DUIS schema files; without either, the
    bundled schemas are used.
    """
    chosen = schema_dir or os.environ.get(SCHEMA_DIR_ENV) or None
    key = BUNDLED if chosen is None else os.path.realpath(chosen)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            if chosen is None:
                main = _main_file(_bundled_dir())
                document = _load_with_encoded_imports(main)
                covered, known = _coverage(document)
                cached = SchemaSet(BUNDLED, main, covered, known, document)
            else:
                directory = os.fspath(chosen)
                if not os.path.isdir(directory):
                    raise SchemaUnavailable("schema directory not found",
                                            source=_shown(directory),
                                            expected="a directory with the DUIS .xsd files",
                                            found="no such directory")
                cached = SchemaSet(key, _main_file(directory), None)
            _CACHE[key] = cached
    return cached
