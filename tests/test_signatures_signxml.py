"""Cross-check: duis's verdicts equal signxml's, configured for the DUIS profile.

signxml is the reference XML-DSig implementation in Python; configured with
the profile's one signature method, one digest, one reference, a signature
that is a child of the root and inclusive C14N 1.0 for the reference, and
given the certificate the store holds for the issuer and serial, it must
accept exactly what duis accepts.  Where duis is deliberately stricter
(signature position, envelope, extra transforms), the last test says so.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput, SignXMLException

from duis.signatures import CredentialStore, sign, verify
from duis.signatures.errors import SignatureError
from duis.signatures.profile import DS, SR

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
USERS = ("90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00", "90-B3-D5-1F-30-05-00-00")
PROFILE = SignatureConfiguration(
    location="./", expect_references=1,
    signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    verification_time=NOW)


def signxml_accepts(data: bytes, store: CredentialStore) -> bool:
    root = etree.fromstring(data)
    issuer = root.findtext(f".//{{{DS}}}X509IssuerName")
    serial = root.findtext(f".//{{{DS}}}X509SerialNumber")
    credential = store.by_issuer_serial(issuer or "", int(serial)) \
        if serial and serial.strip().isdigit() else None
    if credential is None:
        return False
    try:
        XMLVerifier().verify(data, x509_cert=credential.certificate, expect_config=PROFILE)
        return True
    except (SignXMLException, InvalidInput, ValueError):
        return False


def duis_accepts(data: bytes, store: CredentialStore) -> bool:
    try:
        verify(data, store, now=NOW)
        return True
    except SignatureError:
        return False


BODIES = [
    "<sr:ReadFirmwareVersion/>",
    "<sr:ActivateFirmware><sr:FirmwareHash>AA758690730934FF0685AA758690730934FF0685657788990011"
    "223344556677</sr:FirmwareHash></sr:ActivateFirmware>",
    '<sr:Note xml:lang="en" b="2" a="1 &amp; &lt;&quot;&#9;&#10;">caf\u00e9 &amp; &lt;tea&gt;'
    "\r\n<![CDATA[<raw> & ]]></sr:Note>",
    '<x:Extra xmlns:x="urn:example:x" xmlns:unused="urn:unused"><x:Deep x:attr="v"/></x:Extra>',
    "<!-- a comment --><?pi with data?><sr:ReadInventory/>",
]


def message(originator: str, body: str, default_namespace: bool = False) -> bytes:
    text = (f'<sr:Request xmlns:sr="{SR}" schemaVersion="5.4">\n  <sr:Header>'
            f"<sr:RequestID>{originator}:00-DB-12-34-56-78-90-A0:1</sr:RequestID>"
            "<sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant></sr:Header>\n"
            f"  <sr:Body>{body}</sr:Body>\n</sr:Request>\n")
    if default_namespace:
        text = text.replace("sr:", "").replace("xmlns:sr=", "xmlns=")
    return text.encode()


def good_messages(store) -> list[bytes]:
    found = []
    for index, body in enumerate(BODIES):
        user = store.signing_credential(USERS[index % len(USERS)], now=NOW)
        for strip in (True, False):
            found.append(sign(message(str(user.eui), body), user.private_key, user.certificate,
                              strip_whitespace=strip))
    user = store.signing_credential(USERS[0], now=NOW)
    found.append(sign(message(USERS[0], "<ReadFirmwareVersion/>", default_namespace=True),
                      user.private_key, user.certificate))
    return found


def _tamper(data: bytes, how: str) -> bytes:
    root = etree.fromstring(data)
    signature = root.find(f"{{{DS}}}Signature")
    signed_info = signature[0]
    if how == "body":
        root.find(f"{{{SR}}}Body").append(etree.Element(f"{{{SR}}}Injected"))
    elif how == "header":
        root.find(f"{{{SR}}}Header")[0].text += "0"
    elif how == "digest":
        signed_info.find(f".//{{{DS}}}DigestValue").text = base64.b64encode(bytes(32)).decode()
    elif how == "value":
        element = signature.find(f"{{{DS}}}SignatureValue")
        raw = bytearray(base64.b64decode(element.text))
        raw[40] ^= 0x80
        element.text = base64.b64encode(bytes(raw)).decode()
    elif how == "sha1-digest":
        signed_info.find(f".//{{{DS}}}DigestMethod").set(
            "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
    elif how == "rsa-method":
        signed_info.find(f"{{{DS}}}SignatureMethod").set(
            "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    elif how == "two-references":
        signed_info.append(copy.deepcopy(signed_info.find(f"{{{DS}}}Reference")))
    elif how == "signature-in-body":
        root.find(f"{{{SR}}}Body").append(signature)
    elif how == "unsigned":
        root.remove(signature)
    elif how == "serial":
        signature.find(f".//{{{DS}}}X509SerialNumber").text = "1"
    return etree.tostring(root)


TAMPERING = ("body", "header", "digest", "value", "sha1-digest", "rsa-method",
             "two-references", "signature-in-body", "unsigned", "serial")


def signxml_signed(store, method: SignatureMethod, key) -> bytes:
    """A signature made by signxml itself (its own transforms and KeyInfo)."""
    user = store.signing_credential(USERS[0], now=NOW)
    signer = XMLSigner(signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    root = signer.sign(etree.fromstring(message(USERS[0], BODIES[0])), key=key,
                       cert=[user.certificate] if isinstance(key, ec.EllipticCurvePrivateKey)
                       else None)
    return etree.tostring(root)


def test_verdicts_equal_signxml(store):
    corpus = []
    for data in good_messages(store):
        corpus.append(("good", data))
        corpus += [(how, _tamper(data, how)) for how in TAMPERING]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    corpus.append(("signxml RSA", signxml_signed(store, SignatureMethod.RSA_SHA256, rsa_key)))
    other_key = ec.generate_private_key(ec.SECP256R1())
    corpus.append(("signxml ECDSA, other key",
                   _relabel(signxml_signed(store, SignatureMethod.ECDSA_SHA256, other_key),
                            store)))
    verdicts = [(name, duis_accepts(data, store), signxml_accepts(data, store))
                for name, data in corpus]
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert sum(1 for v in verdicts if v[1]) == len(good_messages(store))
    assert all(v[1] == (v[0] == "good") for v in verdicts)


def _relabel(data: bytes, store) -> bytes:
    """Point a foreign signature's KeyInfo at a certificate in the store."""
    root = etree.fromstring(data)
    signature = root.find(f"{{{DS}}}Signature")
    signature.remove(signature.find(f"{{{DS}}}KeyInfo"))
    user = store.signing_credential(USERS[0], now=NOW)
    key_info = etree.SubElement(signature, f"{{{DS}}}KeyInfo")
    serial = etree.SubElement(etree.SubElement(key_info, f"{{{DS}}}X509Data"),
                              f"{{{DS}}}X509IssuerSerial")
    etree.SubElement(serial, f"{{{DS}}}X509IssuerName").text = user.issuer
    etree.SubElement(serial, f"{{{DS}}}X509SerialNumber").text = str(user.serial)
    return etree.tostring(root)


def test_duis_is_stricter_than_signxml_where_the_profile_says_so(store):
    """Valid XML-DSig that the DUIS profile still refuses (signxml accepts it)."""
    good = good_messages(store)[0]

    def before_body(root):
        root.find(f"{{{SR}}}Body").addprevious(root.find(f"{{{DS}}}Signature"))

    root = etree.fromstring(good)
    before_body(root)
    moved = etree.tostring(root)
    assert signxml_accepts(moved, store) and not duis_accepts(moved, store)

    user = store.signing_credential(USERS[0], now=NOW)
    with_transform = signxml_signed(store, SignatureMethod.ECDSA_SHA256, user.private_key)
    with_transform = _relabel(with_transform, store)  # signxml adds an exc-c14n transform
    assert signxml_accepts(with_transform, store) and not duis_accepts(with_transform, store)
