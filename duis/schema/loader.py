"""Find and compile schema sets: the bundled ``xsd/`` or the official DUIS files.

The official files are used exactly as published: their names contain
spaces, which libxml2 cannot resolve as relative import URIs, so the import
locations are percent-encoded in memory before compiling (the files on disk
are untouched).  Compiled schemas are cached per directory.
"""

from __future__ import annotations

import _thread  # threading's Lock itself, without importing threading at start-up
import os
import urllib.parse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lxml import etree

from ..errors import SchemaUnavailable
from ..xmlparse import schema_document_parser

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
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "xsd", here.parent / "xsd"):
        if (candidate / "duis.xsd").is_file():
            return candidate
    raise SchemaUnavailable("bundled schemas not found", expected="xsd/duis.xsd",
                            found=str(here.parent / "xsd"))


def _main_file(directory: Path) -> Path:
    if (directory / "duis.xsd").is_file():
        return directory / "duis.xsd"
    matches = sorted(directory.glob("DUIS Schema*.xsd")) or sorted(directory.glob("DUIS*.xsd"))
    if not matches:
        raise SchemaUnavailable("no DUIS schema in directory", source=str(directory),
                                expected="a file named like 'DUIS Schema V5.4.xsd'",
                                found=", ".join(p.name for p in directory.glob("*.xsd"))
                                or "no .xsd files")
    return matches[-1]


@dataclass
class SchemaSet:
    """A compiled DUIS schema (with the MMC and xmldsig schemas it imports)."""

    name: str
    """``bundled`` or the official schema directory."""
    main_file: Path
    covered: frozenset[str] | None
    """Service reference variants whose request bodies this schema covers;
    ``None`` for the official schema, which covers everything."""
    known: frozenset[str] = frozenset()
    """Every service reference variant DUIS defines (the schema's enumeration)."""
    _lock: _thread.LockType = field(default_factory=_thread.allocate_lock, repr=False)

    @cached_property
    def lxml_schema(self) -> etree.XMLSchema:
        """The fast validator (libxml2)."""
        try:
            return etree.XMLSchema(_load_with_encoded_imports(self.main_file))
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
            raise SchemaUnavailable(f"schema does not compile: {exc}",
                                    source=str(self.main_file)) from None

    @cached_property
    def detailed_schema(self):
        """The reporting validator (xmlschema), built only when a report is needed."""
        import xmlschema
        with self._lock:
            return xmlschema.XMLSchema(str(self.main_file))

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
        return _attribute_bound(self.main_file)

    @property
    def is_bundled(self) -> bool:
        return self.name == BUNDLED


def _load_with_encoded_imports(path: Path) -> etree._ElementTree:
    doc = etree.parse(str(path), schema_document_parser())
    for tag in (f"{{{XS}}}import", f"{{{XS}}}include"):
        for node in doc.getroot().iter(tag):
            location = node.get("schemaLocation")
            if location and not urllib.parse.urlparse(location).scheme:
                node.set("schemaLocation", urllib.parse.quote(location))
    return doc


def _attribute_bound(main_file: Path) -> int | None:
    directory = main_file.parent.resolve()
    seen: set[Path] = set()
    pending = [main_file.resolve()]
    declared = 0
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.parent != directory or not path.is_file():
            return None  # a schema file we do not read: no bound
        try:
            root = etree.parse(str(path), schema_document_parser()).getroot()
        except (etree.XMLSyntaxError, OSError):
            return None
        if root.find(f".//{{{XS}}}anyAttribute") is not None:
            return None
        declared += sum(1 for _ in root.iter(f"{{{XS}}}attribute"))
        for tag in (f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine"):
            for node in root.iter(tag):
                location = node.get("schemaLocation")
                if location:
                    if urllib.parse.urlparse(location).scheme:
                        return None
                    pending.append((path.parent / urllib.parse.unquote(location)).resolve())
    return declared + XSI_ATTRIBUTES


def _coverage(main_file: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(variants the request bodies cover, every variant the enumeration knows)."""
    doc = etree.parse(str(main_file), schema_document_parser())
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
    key = BUNDLED if chosen is None else str(Path(chosen).resolve())
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            if chosen is None:
                main = _main_file(bundled_dir())
                covered, known = _coverage(main)
                cached = SchemaSet(BUNDLED, main, covered, known)
            else:
                directory = Path(chosen)
                if not directory.is_dir():
                    raise SchemaUnavailable("schema directory not found", source=str(directory),
                                            expected="a directory with the DUIS .xsd files",
                                            found="no such directory")
                cached = SchemaSet(key, _main_file(directory), None)
            _CACHE[key] = cached
    return cached
