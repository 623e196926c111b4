"""Signing a DUIS Request or Response in the DUIS profile.

The result is the message with one enveloped ``ds:Signature`` as the root's
last child (any earlier signature is replaced).  ECDSA is deterministic
(RFC 6979) by default, so the same message, key and counter always give the
same bytes.

By default whitespace-only text between elements is removed before signing,
because the DCC's signing tool drops it when it parses (its parser is
schema-aware) and would otherwise compute a different digest; the output is
therefore compact, as the tool's is.  ``strip_whitespace=False`` signs the
document as it is (still valid XML-DSig, but the DCC tool will refuse it).
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import functools
import hashlib
from collections.abc import Callable
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from ..errors import MessageError, WrongRoot
from ..messages.ids import MAX_COUNTER, MessageID
from ..messages.values import element_value, first_child
from ..xmlparse import parse_bytes, parse_own
from . import profile as P
from .c14n import document_octets, strip_ignorable_whitespace
from .credentials import Credential, CredentialStore, issuer_text
from .ecdsa import sign_raw
from .errors import CredentialError
from .replay import MillisecondCounter
from .template import TEMPLATE

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_HEADER, _REQUEST_ID, _REQUEST = P.sr("Header"), P.sr("RequestID"), P.sr("Request")

Message = bytes | etree._ElementTree | etree._Element


def sign(message: Message, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, *,
         counter: int | None = None, strip_whitespace: bool = True, deterministic: bool = True,
         source: str = "<bytes>") -> bytes:
    """Sign ``message`` (bytes, or a tree that is copied, never changed) with
    ``key``, naming ``certificate`` by issuer and serial; return the signed bytes.

    ``counter``, when given, replaces a Request's RequestID counter first.
    """
    _check_key(key, certificate)
    tree = _own_tree(message, source)
    if counter is not None and tree.getroot().tag == _REQUEST:
        _set_counter(*_request_id(tree.getroot(), source), counter)
    return _sign_tree(tree, key, certificate, strip_whitespace, deterministic)


def sign_with_store(message: Message, store: CredentialStore, *,
                    preserve_counter: bool = False,
                    counter: Callable[[], int] | None = None,
                    now: _dt.datetime | None = None, strip_whitespace: bool = True,
                    deterministic: bool = True, source: str = "<bytes>") -> bytes:
    """Sign with the credential the store holds for the message's originator.

    A Request is signed with the xml-sign key of its RequestID originator and,
    unless ``preserve_counter``, gets a fresh counter from ``counter``
    (default: milliseconds since the epoch, like the DCC tool).  A Response
    is signed by the DSP; its IDs are never changed.
    """
    tree = _own_tree(message, source)
    root = tree.getroot()
    if root.tag == _REQUEST:
        element, message_id = _request_id(root, source)
        credential = store.signing_credential(message_id.originator, now=now)
        if not preserve_counter:
            _set_counter(element, message_id, (counter or MillisecondCounter())())
    else:
        credential = store.dsp_signing_credential(now=now)
    return _sign_tree(tree, credential.private_key, credential.certificate,
                      strip_whitespace, deterministic, credential)


def sign_built(root: etree._Element, credential: Credential, *,
               deterministic: bool = True, serialized: bytes | None = None) -> bytes:
    """Sign a message the caller has built (:func:`duis.messages.build_element`)
    with ``credential``; return the bytes :func:`sign` gives for it with
    ``strip_whitespace=False`` (a built element has no whitespace to strip).

    ``root`` is left as it was.  ``serialized``, when the caller has it
    (:func:`duis.messages.build_serialized`), must be
    ``etree.tostring(root, encoding="UTF-8")``.
    """
    # the usual message is neither copied nor re-parsed: the Signature's markup
    # goes into its serialization (``serialized`` spares writing that again)
    if not _spliceable(root) or next(root.iterchildren(P.SIGNATURE), None) is not None:
        root = copy.deepcopy(root)  # signed by appending the Signature: to a copy
        return _sign_tree(root.getroottree(), credential.private_key, credential.certificate,
                          False, deterministic, credential)
    return _spliced_tree(root, root.getroottree(), credential.private_key,
                         credential.certificate.serial_number, credential.issuer,
                         deterministic, serialized)


def signable_form(document: bytes) -> bytes | None:
    """The octets a signature of ``document`` digests (its Canonical XML), if
    :func:`sign_prepared` can sign it from its bytes: an unsigned message duis
    wrote, with or without its XML declaration, its root as :func:`sign_built`
    signs it without a copy; else ``None`` (sign it with :func:`sign_built`)."""
    root = parse_own(document)
    if not _spliceable(root) or next(root.iterchildren(P.SIGNATURE), None) is not None:
        return None
    return document_octets(root.getroottree(), None)


def sign_prepared(serialized: bytes, canonical: bytes, credential: Credential, *,
                  deterministic: bool = True) -> bytes:
    """:func:`sign_built`'s bytes for the message that ``serialized`` is (the root
    element as lxml writes it, no XML declaration) and whose :func:`signable_form`
    is ``canonical``, from those bytes alone: nothing is parsed."""
    closing = serialized[serialized.rindex(b"</"):]  # the root's end tag: it has element content
    return _spliced(serialized, closing, canonical, credential.private_key,
                    credential.certificate.serial_number, credential.issuer, deterministic)


def _sign_tree(tree: etree._ElementTree, key, certificate, strip_whitespace: bool,
               deterministic: bool, credential: Credential | None = None) -> bytes:
    """Sign ``tree`` (which the caller owns) and return the signed bytes."""
    root = tree.getroot()
    for old in list(root.iterchildren(P.SIGNATURE)):
        root.remove(old)
    if strip_whitespace:
        strip_ignorable_whitespace(root)
    issuer = credential.issuer if credential else issuer_text(certificate)
    if _spliceable(root):
        return _spliced_tree(root, tree, key, certificate.serial_number, issuer, deterministic)
    digest, value = _digest_and_value(document_octets(tree, None), key, deterministic)
    root.append(TEMPLATE.element(digest.decode("ascii"), value.decode("ascii"), issuer,
                                 str(certificate.serial_number)))
    return XML_DECLARATION + etree.tostring(tree, encoding="UTF-8")


def _digest_and_value(octets: bytes, key, deterministic: bool) -> tuple[bytes, bytes]:
    """The base64 texts (ASCII bytes) of the digest of ``octets`` (the document's
    Canonical XML) and of the signature value over the SignedInfo naming it."""
    digest = base64.b64encode(hashlib.sha256(octets).digest())
    return digest, _signature_value_octets(key, digest, deterministic)


def _spliced_tree(root: etree._Element, tree: etree._ElementTree, key, serial: int,
                  issuer: str, deterministic: bool, serialized: bytes | None = None) -> bytes:
    """The signed bytes of the usual message (see :func:`_spliceable`): the
    bytes appending the Signature to ``root`` and serializing would give.
    ``root`` stays unsigned."""
    body = serialized if serialized is not None else etree.tostring(root, encoding="UTF-8")
    closing = _closing_tag(root.prefix, cast(str, root.tag))  # a parsed tag is a str
    return _spliced(body, closing, document_octets(tree, None), key, serial, issuer,
                    deterministic)


def _spliced(body: bytes, closing: bytes, octets: bytes, key, serial: int, issuer: str,
             deterministic: bool) -> bytes:
    """``body`` (the usual message's serialization, ending with ``closing``, its
    root's end tag) signed over ``octets``, its Canonical XML."""
    digest, value = _digest_and_value(octets, key, deterministic)
    # the Signature is not built: its markup goes in as text before the root's end tag
    markup = TEMPLATE.markup
    return b"".join((XML_DECLARATION, body[:-len(closing)], markup[0], digest, markup[1],
                     value, _key_info_markup(issuer, serial), closing))


@functools.lru_cache(maxsize=64)
def _closing_tag(prefix: str, tag: str) -> bytes:
    """The end tag of an element named ``tag`` (Clark) written with ``prefix``."""
    return f"</{prefix}:{etree.QName(tag).localname}>".encode()


def _spliceable(root: etree._Element) -> bool:
    """Whether the Signature's markup can go in before ``root``'s end tag as text:
    a prefixed root with element content and nothing around it, where the
    xmldsig namespace is not declared (so the Signature declares it itself)."""
    nsmap = root.nsmap
    return root.prefix is not None and len(root) > 0 and "ds" not in nsmap \
        and P.DS not in nsmap.values() and root.getnext() is None \
        and root.getprevious() is None


_ECDSA = {flag: ec.ECDSA(hashes.SHA256(), deterministic_signing=flag) for flag in (True, False)}
#: how lxml escapes element text
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _signature_value_octets(key: ec.EllipticCurvePrivateKey, digest: bytes,
                            deterministic: bool) -> bytes:
    """Base64 (ASCII bytes) of the raw r || s signature over the SignedInfo
    that names ``digest`` (the base64 of the document's digest); low-S
    (:mod:`duis.signatures.ecdsa`)."""
    return base64.b64encode(sign_raw(key, TEMPLATE.signed_info_octets(digest),
                                     _ECDSA[deterministic]))


@functools.lru_cache(maxsize=256)
def _key_info_markup(issuer: str, serial: int) -> bytes:
    """The Signature's bytes after the signature value, naming the certificate."""
    # the same for every signature by one certificate: cached
    markup = TEMPLATE.markup
    return b"".join((markup[2], issuer.translate(_TEXT_ESCAPES).encode("utf-8"), markup[3],
                     str(serial).encode("ascii"), markup[4]))


def _own_tree(message: Message, source: str) -> etree._ElementTree:
    """A tree this module may change: parsed from bytes, or a copy."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        tree = parse_bytes(bytes(message), source)
    else:
        root = message.getroot() if isinstance(message, etree._ElementTree) else message
        tree = etree.ElementTree(copy.deepcopy(root))
    root = tree.getroot()
    if root.tag not in P.ROOTS:
        raise WrongRoot("not a DUIS Request or Response", source=source, line=root.sourceline,
                        expected="root sr:Request or sr:Response", found=cast(str, root.tag))
    return tree


def _set_counter(element: etree._Element, message_id: MessageID, counter: int) -> None:
    if not 0 <= counter <= MAX_COUNTER:
        raise MessageError("counter out of range", expected=f"0 to {MAX_COUNTER}",
                           found=str(counter))
    for node in list(element):  # comments or PIs splitting the old value: it goes whole
        element.remove(node)
    element.text = str(message_id.with_counter(counter))


def _request_id(root: etree._Element, source: str) -> tuple[etree._Element, MessageID]:
    header = first_child(root, _HEADER)
    element = first_child(header, _REQUEST_ID) if header is not None else None
    if element is None:
        raise MessageError("no RequestID to find the signer from", source=source,
                           path="/sr:Request/sr:Header/sr:RequestID",
                           expected="originator:target:counter", found="none")
    return element, MessageID.parse(element_value(element))


def _check_key(key, certificate: x509.Certificate) -> None:
    """Refuse a key that is not P-256 or not the certificate's.  Keys and
    certificates are immutable: a pair that passed is remembered (a failure is
    not, and raises each time)."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(certificate, x509.Certificate):
        _checked_pair(key, certificate)
    else:
        _check_pair(key, certificate)


def _check_pair(key, certificate: x509.Certificate) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialError("signing key outside the DUIS profile",
                              expected="an EC P-256 private key", found=type(key).__name__)
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or \
            public.public_numbers() != key.public_key().public_numbers():
        raise CredentialError("private key does not match the certificate",
                              expected=f"the key of certificate serial {certificate.serial_number}",
                              found="a different key")


_checked_pair = functools.lru_cache(maxsize=64)(_check_pair)
