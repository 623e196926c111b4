"""Hostile inputs, generated on demand: the adversarial corpus.

Every input an adaptor under test (or an attacker on the same network) could
send that duis must refuse cleanly, or accept only as what was signed, is
built here from a small legitimate request, never stored as a file.  The test
suite runs each case through the library, the command line and ``duis
serve`` and asserts the outcome named here; ``make bench`` times the worst
of them.

Each :class:`Case` names the error class every surface refuses it with
(``refusal``), or ``None`` for an input that is accepted, and the ``stage``
that decides: ``parse`` (the safe parser: unsafe or unusable XML), ``schema``
(the DUIS schema), or ``signature`` (the DUIS signature profile).  A case
refused at the parse or schema stage is refused whether or not it is signed,
so those cases are unsigned; signature cases are signed with the given
credential store, then tampered with.

The cases stay within the default size cap (16 MiB) unless their point is to
exceed it (``oversize``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .namespaces import SR
from .signatures.profile import ECDSA_SHA256, SHA256
from .xmlparse import DEFAULT_MAX_BYTES

#: the responsible supplier of the default world's ESME, and the ESME
ORIGINATOR, TARGET = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
#: a time at which the project's test PKI is valid
SIGNING_TIME = _dt.datetime(2026, 3, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True)
class Case:
    """One hostile input and how duis must answer it."""

    name: str
    data: bytes
    stage: str
    """``parse``, ``schema`` or ``signature``: the step that refuses it."""
    refusal: str | None
    """The :class:`~duis.errors.DuisError` subclass every surface refuses it with,
    by name; ``None``: accepted (what is acted on must be what was signed)."""
    what: str
    """One line on the attack."""


def request(counter: int = 3000, *, body: str = "<sr:ReadFirmwareVersion/>",
            request_id: str | None = None, root_extra: str = "",
            declaration: bool = True) -> str:
    """A legitimate 11.2 Read Firmware Version request, as text, with hooks to break it."""
    request_id = request_id or f"{ORIGINATOR}:{TARGET}:{counter}"
    head = '<?xml version="1.0" encoding="UTF-8"?>' if declaration else ""
    return (f'{head}<sr:Request xmlns:sr="{SR}" schemaVersion="5.4"{root_extra}><sr:Header>'
            f"<sr:RequestID>{request_id}</sr:RequestID>"
            "<sr:CommandVariant>1</sr:CommandVariant>"
            "<sr:ServiceReference>11.2</sr:ServiceReference>"
            "<sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>"
            f"</sr:Header><sr:Body>{body}</sr:Body></sr:Request>")


def _without_declaration(text: str) -> str:
    return text.split("?>", 1)[1]


def _with_doctype(doctype: str, text: str = "") -> bytes:
    return (doctype + _without_declaration(text or request())).encode()


def _utf7(text: str) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-7"?>' + text.encode("utf-7")


def parse_cases() -> Iterator[Case]:
    """Inputs the safe parser refuses before anything else looks at them."""
    yield Case("xxe-file", _with_doctype(
        '<!DOCTYPE sr:Request [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        request(body="<sr:ReadFirmwareVersion/>").replace("11.2</sr:ServiceReference>",
                                                          "&x;</sr:ServiceReference>")),
        "parse", "EntitiesForbidden", "an external entity reading a local file")
    yield Case("xxe-network", _with_doctype(
        '<!DOCTYPE sr:Request [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'),
        "parse", "EntitiesForbidden", "an external entity fetching a URL")
    yield Case("xxe-parameter-entity", _with_doctype(
        '<!DOCTYPE sr:Request [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'),
        "parse", "ExternalReferenceForbidden", "a parameter entity loading an external DTD")
    yield Case("external-dtd", _with_doctype(
        '<!DOCTYPE sr:Request SYSTEM "http://127.0.0.1:9/r.dtd">'),
        "parse", "ExternalReferenceForbidden", "an external DTD subset")
    yield Case("doctype-only", _with_doctype("<!DOCTYPE sr:Request>"),
               "parse", "DTDForbidden", "a bare document type declaration")
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    yield Case("billion-laughs", _with_doctype(
        f'<!DOCTYPE sr:Request [<!ENTITY l0 "lol">{laughs}]>',
        request().replace("11.2</sr:ServiceReference>", "&l9;</sr:ServiceReference>")),
        "parse", "EntitiesForbidden", "exponential entity expansion")
    yield Case("quadratic-blowup", _with_doctype(
        f'<!DOCTYPE sr:Request [<!ENTITY a "{"x" * 50_000}">]>',
        request().replace("11.2</sr:ServiceReference>",
                          "&a;" * 2_000 + "</sr:ServiceReference>")),
        "parse", "EntitiesForbidden", "one large entity referenced many times")
    yield Case("utf7-doctype", _utf7(_without_declaration(request()).replace(
        "<sr:Request", '<!DOCTYPE sr:Request [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<sr:Request", 1)), "parse", "EncodingNotAllowed",
        "a DTD hidden from byte scans by UTF-7")
    yield Case("utf7-deep", _utf7(_without_declaration(request(
        body="<sr:X>" * 200 + "</sr:X>" * 200))), "parse", "EncodingNotAllowed",
        "a deep tree hidden from byte scans by UTF-7")
    yield Case("utf16", request().replace("UTF-8", "UTF-16").encode("utf-16"),
               "parse", "EncodingNotAllowed", "UTF-16 with a byte order mark")
    yield Case("utf16le-no-bom", request().replace("UTF-8", "UTF-16LE").encode("utf-16-le"),
               "parse", "EncodingNotAllowed", "UTF-16 without a byte order mark")
    yield Case("latin1", request(body="<sr:ReadFirmwareVersion/>").replace(
        "UTF-8", "ISO-8859-1").encode("latin-1"), "parse", "EncodingNotAllowed",
        "a single-byte encoding")
    yield Case("utf32", request().replace("UTF-8", "UTF-32").encode("utf-32"),
               "parse", "EncodingNotAllowed", "UTF-32")
    yield Case("deep-2000", request(body="<sr:X>" * 2_000 + "</sr:X>" * 2_000).encode(),
               "parse", "NestingTooDeep", "2,000 nested elements")
    yield Case("deep-200000", request(body="<a>" * 200_000 + "</a>" * 200_000).encode(),
               "parse", "NestingTooDeep", "200,000 nested elements")
    yield Case("deep-huge", request(body="<a>" * 1_500_000 + "</a>" * 1_500_000).encode(),
               "parse", "TooManyNodes", "1,500,000 nested elements (over 8 MB)")
    yield Case("siblings-2000000", request(body="<x/>" * 2_000_000).encode(),
               "parse", "TooManyNodes", "2,000,000 sibling elements in 8 MB")
    yield Case("attributes-800000", request(
        root_extra="".join(f" a{i}='{i}'" for i in range(800_000))).encode(),
        "parse", "TooManyNodes", "800,000 attributes on the root (14 MB)")
    yield Case("oversize", request(body="<sr:X>" + "A" * (DEFAULT_MAX_BYTES + 1)
                                   + "</sr:X>").encode(),
               "parse", "InputTooLarge", "one byte over the size cap")
    yield Case("binary", bytes(range(256)) * 64, "parse", "MalformedXML", "binary junk")
    yield Case("empty", b"", "parse", "MalformedXML", "no bytes at all")
    yield Case("truncated", request().encode()[:-40], "parse", "MalformedXML",
               "a request cut short")
    yield Case("nul-in-text", request().replace("11.2</sr:ServiceReference>",
                                                "11.\x002</sr:ServiceReference>").encode(),
               "parse", "MalformedXML", "a NUL character")
    yield Case("undeclared-entity", request().replace(
        "11.2</sr:ServiceReference>", "&x;</sr:ServiceReference>").encode(),
        "parse", "MalformedXML", "an entity reference with no declaration")


def schema_cases() -> Iterator[Case]:
    """Well-formed, safe XML that breaks the DUIS schema, shaped to make error
    reporting expensive."""
    attributes = "".join(f' a{i}="{i}"' for i in range(5_000))
    yield Case("root-attributes-5000", request(root_extra=attributes).encode(),
               "schema", "SchemaInvalid", "5,000 unknown attributes on the root")
    namespaced = "".join(f' xmlns:p{i}="urn:p{i}" p{i}:a="{i}"' for i in range(3_000))
    yield Case("namespaced-attributes-3000", request(root_extra=namespaced).encode(),
               "schema", "SchemaInvalid", "3,000 unknown attributes, each in its own namespace")
    yield Case("body-attributes-5000", request(
        body=f"<sr:ReadFirmwareVersion{attributes}/>").encode(),
        "schema", "SchemaInvalid", "5,000 unknown attributes on a Body element")
    yield Case("siblings-450000", request(body="<x/>" * 450_000).encode(),
               "schema", "SchemaInvalid", "450,000 sibling elements, just under the node cap")
    yield Case("wrong-elements-100000", request(
        body="".join(f"<sr:W{i % 97}>{i}</sr:W{i % 97}>" for i in range(100_000))).encode(),
        "schema", "SchemaInvalid", "100,000 unknown elements, each its own error")
    yield Case("long-request-id", request(request_id="9" * 10_000_000).encode(),
               "schema", "SchemaInvalid", "a RequestID of 10,000,000 characters")
    yield Case("huge-counter", request(request_id=f"{ORIGINATOR}:{TARGET}:{'9' * 5_000}")
               .encode(), "schema", "SchemaInvalid", "a RequestID counter of 5,000 digits")
    declarations = "".join(f' xmlns:n{i}="urn:n{i}"' for i in range(20_000))
    yield Case("namespace-declarations-20000", request(root_extra=declarations).encode(),
               "signature", "SignatureMissing",
               "20,000 namespace declarations (schema-valid, unsigned)")


def signature_cases(sign: Callable[[bytes], bytes]) -> Iterator[Case]:
    """Signed requests, tampered with; ``sign`` signs a request's bytes (keeping its counter)."""
    def signed(counter: int, **parts) -> str:
        return sign(request(counter, **parts).encode()).decode()

    base = signed(3100)
    yield Case("unsigned", request(3101).encode(), "signature", "SignatureMissing",
               "no signature at all")
    issuer_start = base.index("<ds:X509IssuerName>") + len("<ds:X509IssuerName>")
    issuer_end = base.index("</ds:X509IssuerName>")
    yield Case("issuer-name-8mb", (base[:issuer_start] + "CN=" + "A" * 8_000_000
                                   + base[issuer_end:]).encode(),
               "signature", "KeyInfoNotAllowed", "an 8 MB X509IssuerName")
    serial_start = base.index("<ds:X509SerialNumber>") + len("<ds:X509SerialNumber>")
    serial_end = base.index("</ds:X509SerialNumber>")
    yield Case("serial-5000-digits", (base[:serial_start] + "7" * 5_000
                                      + base[serial_end:]).encode(),
               "signature", "KeyInfoNotAllowed", "an X509SerialNumber of 5,000 digits")
    yield Case("algorithm-rsa", base.replace(
        ECDSA_SHA256,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256").encode(),
        "signature", "AlgorithmNotAllowed", "another signature algorithm")
    yield Case("algorithm-hmac", base.replace(
        ECDSA_SHA256, "http://www.w3.org/2000/09/xmldsig#hmac-sha1").encode(),
        "signature", "AlgorithmNotAllowed", "an HMAC 'signature' keyed by anything")
    yield Case("digest-sha1", base.replace(
        SHA256, "http://www.w3.org/2000/09/xmldsig#sha1").encode(),
        "signature", "AlgorithmNotAllowed", "a weaker digest")
    yield Case("second-body", base.replace(
        "</sr:Body>", "</sr:Body><sr:Body><sr:ReadFirmwareVersion/></sr:Body>", 1).encode(),
        "schema", "SchemaInvalid", "a second Body beside the signed one")
    yield Case("changed-counter", base.replace(f"{TARGET}:3100", f"{TARGET}:3199").encode(),
               "signature", "DigestMismatch", "the counter changed after signing")
    yield Case("comment-split-counter", base.replace(f"{TARGET}:3100",
                                                     f"{TARGET}:31<!---->00").encode(),
               "signature", None, "a comment inside the signed counter (C14N drops it): "
               "accepted, acted on as counter 3100")
    yield Case("pi-in-counter", base.replace(f"{TARGET}:3100", f"{TARGET}:31<?x y?>00").encode(),
               "signature", "DigestMismatch",
               "a processing instruction inside the counter (C14N keeps it)")
    yield Case("cdata-counter", base.replace(f"{TARGET}:3100",
                                             f"{TARGET}:31<![CDATA[0]]>0").encode(),
               "signature", None, "a CDATA section inside the counter: the same text")
    yield Case("character-reference-counter", base.replace(
        f"{TARGET}:3100", f"{TARGET}:31&#x30;0").encode(),
        "signature", None, "a character reference inside the counter: the same text")
