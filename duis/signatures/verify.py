"""Verifying a DUIS signature: only the profile, in a fixed order, one error each.

The checks, in order (the first failure wins):

1. exactly one ``ds:Signature`` (:class:`SignatureMissing`,
   :class:`MultipleSignatures`); the root holds exactly Header and Body
   besides it and the signature holds only xmldsig elements
   (:class:`SignatureWrapping`); it is the root's last child
   (:class:`SignatureMisplaced`);
2. the Signature is exactly the profile's, :data:`~duis.signatures.profile.STRUCTURE`
   — :class:`AlgorithmNotAllowed`, :class:`TransformNotAllowed`,
   :class:`ReferenceNotAllowed`, :class:`KeyInfoNotAllowed`, :class:`ProfileViolation`.
   The check is the element-by-element one (``_Checker._walk``); the
   template's shortcuts (:mod:`duis.signatures.template`) answer first
   for the usual shapes and accept nothing it refuses.  The first reads the
   Signature duis writes from the message's bytes and only the rest is
   parsed; when a later check fails that must point into the Signature, or
   the rest is not exactly Header and Body, verification starts again on the
   whole message, which decides and reports.  A caller's tree (parsed whole)
   has its Signature's values read from the bytes the same way, and is checked
   for placement as the whole message is;
3. the certificate named by issuer and serial is in the store — :class:`UnknownCertificate`;
4. it is valid at ``now`` — :class:`CertificateExpired`, :class:`CertificateNotYetValid`;
5. it belongs to the originator: a Request's RequestID originator holds it
   as its user xml-sign certificate; a Response is signed by the DSP — :class:`WrongSigner`;
6. the signer holds a role allowed to send the request — :class:`RoleNotAllowed`;
7. the digest — :class:`DigestMismatch`;
8. the signature value — :class:`BadSignatureValue`;
9. with a counter store, the RequestID counter strictly increases — :class:`ReplayedCounter`
   (only once the message is known to be authentic, so forgeries cannot burn counters).

The caller gets the document that canonicalises to exactly the digested
bytes -- the checked tree itself, the signature detached, when it holds
nothing Canonical XML drops or that splits text (comments; to be safe also
processing instructions and CDATA sections), else those bytes re-parsed --
so nothing outside what was signed (a smuggled element, a comment-split
text, the signature itself) can reach it.

Every value read here (the RequestID, the service reference variant) is the
whole text of its element, comments and processing instructions inside it
left out (:func:`duis.messages.values.element_value`), as the codec reads the
verified tree: what the replay check records is what was signed.  The KeyInfo
values are bounded before they are used (:data:`~duis.signatures.profile.MAX_ISSUER_NAME_CHARS`,
:data:`~duis.signatures.profile.MAX_SERIAL_DIGITS`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from ..clock import UTC
from ..errors import DuisError, MessageError, WrongRoot
from ..messages.ids import EUI64, MessageID, quoted
from ..messages.values import element_value, first_child
from ..xmlparse import parse_bytes, parse_canonical
from . import errors as E
from . import profile as P
from .c14n import XML_SPACE, document_octets, signed_info_octets
from .credentials import DSP_XML_SIGN, USER_XML_SIGN, Credential, CredentialStore
from .replay import CounterStore
from .template import TEMPLATE, SignatureValues

_ECDSA = ec.ECDSA(hashes.SHA256())
_WHITESPACE = b" \t\r\n"
_REQUEST_ID = P.sr("RequestID")
_SRV = P.sr("ServiceReferenceVariant")
_HEADER, _BODY = P.ENVELOPE[:2]
_RESPONSE = P.sr("Response")
_KIND = {P.sr("Request"): "Request", _RESPONSE: "Response"}
_CDATA = b"<![CDATA["
_KEYINFO = frozenset(node.name for part in P.STRUCTURE.children if part.name == P.ds("KeyInfo")
                     for node in P.preorder(part))
#: the error for a difference at an element, by tag (else ProfileViolation)
_CLASS_BY_TAG = {P.ds("Reference"): E.ReferenceNotAllowed,
                 P.ds("Transforms"): E.TransformNotAllowed,
                 P.ds("Transform"): E.TransformNotAllowed,
                 **{tag: E.KeyInfoNotAllowed for tag in _KEYINFO}}


@dataclass(frozen=True)
class VerifiedMessage:
    """A message whose signature verified, as the signer signed it."""

    signed_bytes: bytes
    """The canonical bytes that were digested (the document without its signature)."""
    tree: etree._ElementTree
    """The document without its signature, whose Canonical XML is exactly
    ``signed_bytes``: the only document a caller should act on.  It is the
    checked tree itself when that holds nothing C14N leaves out or splits text
    at (no comment, processing instruction or CDATA section), else
    ``signed_bytes`` re-parsed; either way the same elements, attributes and
    text (attribute order, line numbers and the XML declaration are the
    input's in the first case, C14N's in the second)."""
    certificate: x509.Certificate
    signer_eui: EUI64 | None
    """The EUI-64 the signer's certificate names (a Request's originator; ``None``
    for a DSP certificate that names none)."""
    roles: frozenset[str]
    """The signer's DUIS user roles on record in the store."""
    kind: str
    """``Request`` or ``Response``."""
    message_id: MessageID | None
    """A Request's RequestID (``None`` for a Response)."""
    credential: Credential

    @property
    def root(self) -> etree._Element:
        return self.tree.getroot()


def verify(data: bytes, store: CredentialStore, *, now: _dt.datetime | None = None,
           counters: CounterStore | None = None,
           allowed_roles: Callable[[str], Collection[str]] | None = None,
           source: str = "<bytes>", tree: etree._ElementTree | None = None) -> VerifiedMessage:
    """Verify a signed DUIS message; return what was signed or raise a :class:`SignatureError`.

    ``now=None`` means the current time.  ``allowed_roles(variant)`` gives the
    user roles allowed for a service reference variant; ``None`` skips the role check.
    ``tree``, when the caller already parsed ``data`` (with :mod:`duis.xmlparse`),
    saves parsing it again; it is consumed (verification detaches the signature)
    and may come back as :attr:`VerifiedMessage.tree`.
    """
    # the usual message, signed as duis signs: the Signature read from the bytes
    # (TEMPLATE.read_enveloped says why that is sound)
    found = TEMPLATE.read_enveloped(data)
    if tree is None:
        # the rest parsed alone; anything else, and any failure that must say where
        # in the Signature it is, goes the long way below, which decides and reports
        if found is not None:
            start, end, values = found
            try:
                unsigned = parse_bytes(data, source, leave_out=(start, end))
            except DuisError:
                pass  # the whole message's parse says what is wrong with it
            else:
                try:
                    return _verify(data, store, unsigned, values, False, now, counters,
                                   allowed_roles, source)
                except _Elsewhere:
                    pass  # the long way below decides, and names where it fails
        tree = parse_bytes(data, source)
        found = None
    # the whole message's tree: the caller's, its Signature's values read from the
    # bytes if they can be (not serialized again to be checked), or the long way's
    return _verify(data, store, tree, found[2] if found is not None else None, True, now,
                   counters, allowed_roles, source)


class _Elsewhere(Exception):
    """The Signature was read from the bytes and a check failed that must point
    into it, or the rest of the message is not as usual: the long way decides."""


def _verify(data: bytes, store: CredentialStore, tree: etree._ElementTree,
            values: SignatureValues | None, whole: bool, now: _dt.datetime | None,
            counters: CounterStore | None,
            allowed_roles: Callable[[str], Collection[str]] | None,
            source: str) -> VerifiedMessage:
    """The checks in order on ``tree``: the whole message (``whole``), or the
    message without its Signature; ``values``, when given, are the Signature's
    as :meth:`~duis.signatures.template.SignatureTemplate.read_enveloped` read
    them from ``data`` (else the tree's Signature is checked and read)."""
    check = _Checker(tree, source)
    signature: etree._Element | None = None
    if whole:
        signature = check.placement()
        if values is None:
            values = check.profile(signature)
    else:
        assert values is not None  # read from the bytes, where the tree has no Signature
        check.envelope()
    credential = check.certificate(store, signature, values)
    check.validity(credential, now)
    message_id = check.signer(credential)
    roles = store.roles_of(credential.eui) if credential.eui else frozenset()
    if allowed_roles is not None and message_id is not None:
        check.roles(roles, allowed_roles)
    signed_info = values.signed_info or signed_info_octets(check.located(signature,
                                                                         P.SIGNED_INFO))
    octets = document_octets(tree, signature)  # detaches the signature
    check.digest(octets, signature, values)
    check.signature_value(credential, signed_info, signature, values)
    if counters is not None and message_id is not None:
        counters.check_and_record(message_id.originator, message_id.counter, source=source)
    signed = tree if check.plain and _CDATA not in data else parse_canonical(octets, source)
    return VerifiedMessage(octets, signed, credential.certificate, credential.eui, roles,
                           _KIND[cast(str, check.root.tag)], message_id, credential)


def signature_values(signature: etree._Element, *, shortcuts: bool = True,
                     source: str = "<bytes>") -> SignatureValues:
    """Check 2 on its own: the values of ``signature``, a ``ds:Signature`` in a
    DUIS Request or Response, if it is exactly the profile's; else the error
    naming the first difference (as :func:`verify` raises it).

    ``shortcuts=False`` reads it element by element only, the way that
    defines what is accepted (:mod:`duis.signatures.template` says why there
    are shortcuts); tests compare the two.  ``signed_info`` is always given.
    """
    check = _Checker(signature.getroottree(), source)
    values = check.profile(signature, shortcuts=shortcuts)
    if values.signed_info is None:
        values = values._replace(signed_info=signed_info_octets(_part(signature, P.SIGNED_INFO)))
    return values


def _part(signature: etree._Element, tag: str) -> etree._Element:
    """The element ``tag`` of a Signature that passed check 2: the only one
    with its tag (comments and processing instructions may sit among them)."""
    return next(signature.iter(tag))


class _Checker:
    """The checks of :func:`verify`, each raising its own error with where and what."""

    def __init__(self, tree: etree._ElementTree, source: str) -> None:
        self.tree, self.source, self.root = tree, source, tree.getroot()
        if self.root.tag not in P.ROOTS:
            raise WrongRoot("not a DUIS Request or Response", source=source,
                            line=self.root.sourceline, expected="root sr:Request or sr:Response",
                            found=cast(str, self.root.tag))

    def fail(self, cls: type[E.SignatureError], message: str, element: etree._Element,
             expected: str, found: str, path: str | None = None) -> E.SignatureError:
        return cls(message, source=self.source, line=element.sourceline,
                   path=path or self.tree.getpath(element), expected=expected, found=found)

    # 1 ---------------------------------------------------------------------
    def _signatures(self) -> list[etree._Element]:
        """The Signature elements, in document order; notes whether the document
        is plain: nothing in it that C14N drops or that splits text for lxml."""
        root = self.root
        signatures = []
        plain = root.getprevious() is None and root.getnext() is None
        for node in root.iter(P.SIGNATURE, etree.Comment, etree.ProcessingInstruction,
                              etree.Entity):
            if node.tag == P.SIGNATURE:  # a comment's tag is a function, never equal
                signatures.append(node)
            else:
                plain = False
        self.plain = plain
        return signatures

    def envelope(self) -> None:
        """Check 1 when the Signature was read from the bytes, the root's last
        child (:meth:`~duis.signatures.template.SignatureTemplate.read_enveloped`):
        the rest is exactly Header and Body, with no other Signature; anything
        else, the long way checks and reports."""
        root = self.root
        if self._signatures() or len(root) != 2 or root[0].tag != _HEADER \
                or root[1].tag != _BODY:
            raise _Elsewhere
        self.header = root[0]

    def placement(self) -> etree._Element:
        root = self.root
        signatures = self._signatures()
        if not signatures:
            raise self.fail(E.SignatureMissing, "message is not signed", root,
                            "one ds:Signature as the last child of the root", "none")
        if len(signatures) > 1:
            raise self.fail(E.MultipleSignatures, "more than one signature", signatures[1],
                            "exactly one ds:Signature", f"{len(signatures)}")
        signature = signatures[0]
        # len() counts comments and processing instructions too: three children
        # that are Header, Body and the signature are the envelope, nothing else
        if len(root) == 3 and root[2] is signature and root[0].tag == _HEADER \
                and root[1].tag == _BODY:
            self.header = root[0]
        else:
            children = [c for c in root if isinstance(c.tag, str)]
            content = [c for c in children if c is not signature]
            if tuple(c.tag for c in content) != P.ENVELOPE[:-1]:
                raise self.fail(E.SignatureWrapping, "unexpected envelope around the signature",
                                root, "sr:Header, sr:Body, ds:Signature",
                                ", ".join(_short(c) for c in children))
            if children[-1] is not signature:
                raise self.fail(E.SignatureMisplaced, "signature in the wrong place", signature,
                                "ds:Signature as the last child of the root",
                                self.tree.getpath(signature))
            self.header = content[0]
        self.signature_path = self.tree.getpath(signature)
        return signature

    def foreign_content(self, signature: etree._Element) -> None:
        for element in signature.iter(etree.Element):
            # an element's tag is a str (the stubs allow what a program may assign)
            tag: str = element.tag  # type: ignore[assignment]
            if not tag.startswith("{" + P.DS + "}"):
                raise self.fail(E.SignatureWrapping, "foreign content inside the signature",
                                element, "only xmldsig elements", _short(element))

    # 2 ---------------------------------------------------------------------
    def profile(self, signature: etree._Element, shortcuts: bool = True) -> SignatureValues:
        """The Signature's values if it is exactly the profile's (``STRUCTURE``,
        comments and processing instructions between elements allowed, white
        space around them and around the values), each value well formed and
        within its bound; else the error naming the first difference."""
        octets = None
        if shortcuts:
            # the usual case, duis's own compact form: read and checked in one pass
            values = TEMPLATE.read_compact(signature)
            if values is not None:
                return values
            # the profile's shape with white space between elements: one C14N and a pattern
            octets = TEMPLATE.canonical_signed_info(signature)
        if octets is None:  # anything else: the check itself, naming the first difference
            self.foreign_content(signature)
            self._walk(P.STRUCTURE, signature)
        issuer = self._issuer(_part(signature, P.ISSUER_NAME))
        serial = self._serial(_part(signature, P.SERIAL_NUMBER))
        digest = self._base64(_part(signature, P.DIGEST_VALUE), P.DIGEST_BYTES)
        value = self._base64(_part(signature, P.SIGNATURE_VALUE), P.SIGNATURE_BYTES)
        return SignatureValues(issuer, serial, digest, value, octets)

    def _walk(self, spec: P.Node, element: etree._Element) -> None:
        """``element`` and its subtree are exactly ``spec``'s, element by
        element; else the error naming the first difference, where it is."""
        self._attributes(spec, element)
        if spec.text:
            if len(element):
                raise self.fail(_class_for(spec.name), "unexpected child nodes", element,
                                "text only", _short(element[0]))
            return
        self._no_text(element)
        children = [c for c in element if isinstance(c.tag, str)]
        wanted = [c.name for c in spec.children]
        if [c.tag for c in children] != wanted:
            cls = _class_for(spec.name)
            if spec.name == P.ds("SignedInfo") and \
                    sum(c.tag == P.ds("Reference") for c in children) != 1:
                cls = E.ReferenceNotAllowed
            raise self.fail(cls, f"unexpected content in {_short(element)}", element,
                            ", ".join(_short_tag(t) for t in wanted) or "no elements",
                            ", ".join(_short(c) for c in children) or "no elements")
        for child_spec, child in zip(spec.children, children, strict=True):  # checked above
            self._walk(child_spec, child)

    def _attributes(self, spec: P.Node, element: etree._Element) -> None:
        attributes = element.attrib
        for name, value in spec.attributes:
            actual = attributes.get(name)
            if actual is None or (value is not None and actual != value):
                cls = E.AlgorithmNotAllowed if element.tag in P.ALGORITHMS \
                    else _class_for(cast(str, element.tag))
                raise self.fail(cls, f"{name} not allowed by the DUIS profile", element,
                                f'{name}="{value}"', "absent" if actual is None else repr(actual))
        if len(attributes) != len(spec.attributes):
            extra = sorted(set(attributes.keys()) - {name for name, _ in spec.attributes})
            raise self.fail(_class_for(cast(str, element.tag)), "unexpected attribute", element,
                            ", ".join(n for n, _ in spec.attributes) or "no attributes",
                            ", ".join(extra))

    def _no_text(self, element: etree._Element) -> None:
        for text in (element.text, *(c.tail for c in element)):
            if text and text.strip(XML_SPACE):
                raise self.fail(E.ProfileViolation, "unexpected text", element,
                                "only elements", repr(text.strip()[:40]))

    def _base64(self, element: etree._Element, size: int) -> bytes:
        text = (element.text or "").encode("ascii", "replace").translate(None, _WHITESPACE)
        try:
            value = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            value = None
        if value is None or len(value) != size:
            raise self.fail(E.ProfileViolation, "malformed value", element,
                            f"base64 of {size} bytes", repr((element.text or "")[:60]))
        return value

    def _issuer(self, element: etree._Element) -> str:
        """The issuer name, refused unread when longer than any real one (it
        is looked up, and normalised, before the message is authenticated)."""
        text = element.text or ""  # the shape checks allow no child node in a value
        if len(text) > P.MAX_ISSUER_NAME_CHARS:
            raise self.fail(E.KeyInfoNotAllowed, "issuer name too long", element,
                            f"a distinguished name of at most {P.MAX_ISSUER_NAME_CHARS} "
                            "characters", f"{len(text)} characters")
        text = text.strip()
        if not text:
            raise self.fail(E.KeyInfoNotAllowed, "empty issuer name", element,
                            "the issuer's distinguished name", "nothing")
        return text

    def _serial(self, element: etree._Element) -> int:
        text = (element.text or "").strip()
        if not text.isdigit() or not text.isascii():
            raise self.fail(E.KeyInfoNotAllowed, "malformed serial number", element,
                            "a decimal integer", quoted(text))
        if len(text) > P.MAX_SERIAL_DIGITS:  # before int(): bounded work, no ValueError
            raise self.fail(E.KeyInfoNotAllowed, "serial number too long", element,
                            f"a decimal integer of at most {P.MAX_SERIAL_DIGITS} digits "
                            "(an X.509 serial is at most 20 octets)", f"{len(text)} digits")
        return int(text)

    # 3, 4 -------------------------------------------------------------------
    def located(self, signature: etree._Element | None, tag: str) -> etree._Element:
        """The part ``tag`` of the Signature (that an error points into); one
        read from the bytes has no elements: the long way decides and reports."""
        if signature is None:
            raise _Elsewhere
        return _part(signature, tag)

    def certificate(self, store: CredentialStore, signature: etree._Element | None,
                    values: SignatureValues) -> Credential:
        credential = store.by_issuer_serial(values.issuer, values.serial)
        if credential is None:
            raise self.fail(E.UnknownCertificate, "signer's certificate not in the store",
                            self.located(signature, P.ds("KeyInfo")),
                            f"a certificate in {store.directory}",
                            f"issuer {values.issuer!r}, serial {values.serial}")
        return credential

    def validity(self, credential: Credential, now: _dt.datetime | None) -> None:
        when = now or _dt.datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        cls: type[E.CertificateNotValidNow]
        if when < credential.not_before:
            cls, message = E.CertificateNotYetValid, "signer's certificate not yet valid"
        elif when > credential.not_after:
            cls, message = E.CertificateExpired, "signer's certificate expired"
        else:
            return
        span = f"valid {credential.not_before.isoformat()} to {credential.not_after.isoformat()}"
        raise cls(message, source=self.source, path=str(credential.path),
                  expected=f"a certificate valid at {when.isoformat()}", found=span)

    # 5, 6 -------------------------------------------------------------------
    def signer(self, credential: Credential) -> MessageID | None:
        if self.root.tag == _RESPONSE:
            if credential.function != DSP_XML_SIGN:
                raise self._wrong_signer(credential, "the DSP's xml-sign certificate (OU=89)")
            return None
        element = first_child(self.header, _REQUEST_ID)
        if element is None:
            raise MessageError("no RequestID", source=self.source,
                               path="/sr:Request/sr:Header/sr:RequestID",
                               expected="originator:target:counter", found="none")
        try:  # the whole value: a comment or PI may split the text (see element_value)
            message_id = MessageID.parse(element_value(element))
        except MessageError as exc:
            exc.source, exc.line, exc.path = self.source, element.sourceline, \
                self.tree.getpath(element)
            raise
        if credential.function != USER_XML_SIGN or credential.eui != message_id.originator:
            raise self._wrong_signer(
                credential, f"the user xml-sign certificate (OU=87) of {message_id.originator}")
        return message_id

    def _wrong_signer(self, credential: Credential, expected: str) -> E.WrongSigner:
        return E.WrongSigner("certificate does not belong to the message's originator",
                             source=self.source, path=self.tree.getpath(self.root[0]),
                             expected=expected,
                             found=f"{credential.function} certificate of {credential.eui} "
                                   f"(serial {credential.serial})")

    def roles(self, roles: frozenset[str], allowed_roles: Callable) -> None:
        element = first_child(self.header, _SRV)
        variant = element_value(element).strip() if element is not None else ""
        allowed = frozenset(allowed_roles(variant))
        if not roles & allowed:
            raise E.RoleNotAllowed(
                f"signer's roles may not send service request {variant}", source=self.source,
                path="/sr:Request/sr:Header/sr:ServiceReferenceVariant",
                expected="one of " + ", ".join(sorted(allowed)),
                found=", ".join(sorted(roles)) or "no roles on record")

    # 7, 8 -------------------------------------------------------------------
    # the signature is detached by now: its paths are the ones taken before
    def digest(self, octets: bytes, signature: etree._Element | None,
               values: SignatureValues) -> None:
        actual = hashlib.sha256(octets).digest()
        if not hmac.compare_digest(actual, values.digest):
            raise self.fail(E.DigestMismatch, "signed content changed after signing",
                            self.located(signature, P.DIGEST_VALUE),
                            base64.b64encode(values.digest).decode(),
                            base64.b64encode(actual).decode(),
                            path=self.signature_path + TEMPLATE.paths[P.DIGEST_VALUE])

    def signature_value(self, credential: Credential, signed_info: bytes,
                        signature: etree._Element | None, values: SignatureValues) -> None:
        half = P.COORDINATE_BYTES
        der = encode_dss_signature(int.from_bytes(values.value[:half], "big"),
                                   int.from_bytes(values.value[half:], "big"))
        try:
            credential.public_key.verify(der, signed_info, _ECDSA)
        except InvalidSignature:
            raise self.fail(E.BadSignatureValue, "signature value does not verify",
                            self.located(signature, P.SIGNATURE_VALUE),
                            f"an ECDSA P-256 signature by serial {credential.serial}",
                            "a value that does not verify",
                            path=self.signature_path + TEMPLATE.paths[P.SIGNATURE_VALUE]) from None


def _class_for(tag: str) -> type[E.ProfileViolation]:
    return _CLASS_BY_TAG.get(tag, E.ProfileViolation)


def _short_tag(tag: str) -> str:
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    prefix = {P.DS: "ds:", P.SR: "sr:"}.get(namespace, f"{{{namespace}}}" if namespace else "")
    return prefix + local


def _short(element: etree._Element) -> str:
    if not isinstance(element.tag, str):
        return "a comment" if isinstance(element, etree._Comment) else "a processing instruction"
    return _short_tag(element.tag)
