"""Generated attacks on signed DUIS messages: each refused with its own error."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from duis.signatures import CounterStore, CredentialStore, generate_test_pki, sign, verify
from duis.signatures import errors as E
from duis.signatures.profile import DS, SR

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
IS_USER = "90-B3-D5-1F-30-01-00-00"
GS_USER = "90-B3-D5-1F-30-02-00-00"
EXPIRED_USER = "90-B3-D5-1F-30-09-00-00"


def ds(name: str) -> str:
    return f"{{{DS}}}{name}"


def sr(name: str) -> str:
    return f"{{{SR}}}{name}"


def request(originator: str = IS_USER, counter: int = 77) -> bytes:
    return (f'<sr:Request xmlns:sr="{SR}" schemaVersion="5.4"><sr:Header>'
            f"<sr:RequestID>{originator}:00-DB-12-34-56-78-90-A0:{counter}</sr:RequestID>"
            "<sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>11.2"
            "</sr:ServiceReference><sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>"
            "</sr:Header><sr:Body><sr:ReadFirmwareVersion/></sr:Body></sr:Request>").encode()


@pytest.fixture(scope="module")
def signed(store) -> bytes:
    credential = store.signing_credential(IS_USER, now=NOW)
    return sign(request(), credential.private_key, credential.certificate)


def mutate(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root)


def body_digest(root: etree._Element) -> str:
    """The digest an attacker would put after changing the body."""
    clone = copy.deepcopy(root)
    clone.remove(clone.find(ds("Signature")))
    return base64.b64encode(hashlib.sha256(etree.tostring(clone, method="c14n")).digest()).decode()


def change_body(root):
    root.find(sr("Body"))[0].tag = sr("ReadInventory")


def change_body_and_digest(root):
    change_body(root)
    root.find(f"{ds('Signature')}/{ds('SignedInfo')}/{ds('Reference')}/{ds('DigestValue')}") \
        .text = body_digest(root)


def whitespace_in_signed_info(root):
    root.find(f"{ds('Signature')}/{ds('SignedInfo')}").text = "\n"


def second_body(root):
    evil = copy.deepcopy(root.find(sr("Body")))
    evil[0].tag = sr("ReadInventory")
    root.find(sr("Body")).addprevious(evil)


def request_inside_object(root):
    """The XSW classic: keep the signed original inside ds:Object, change the visible one."""
    original = copy.deepcopy(root)
    original.remove(original.find(ds("Signature")))
    obj = etree.SubElement(root.find(ds("Signature")), ds("Object"))
    obj.append(original)
    change_body(root)


def wrapped_in_a_new_request(root):
    outer = copy.deepcopy(root)
    outer.remove(outer.find(ds("Signature")))
    change_body(outer)
    inner = copy.deepcopy(root)
    for child in list(root):
        root.remove(child)
    for child in outer:
        root.append(child)
    root.append(inner)


def signature_into_body(root):
    root.find(sr("Body")).append(root.find(ds("Signature")))


def signature_before_body(root):
    root.find(sr("Body")).addprevious(root.find(ds("Signature")))


def second_signature(root):
    root.find(sr("Header")).append(copy.deepcopy(root.find(ds("Signature"))))


def no_signature(root):
    root.remove(root.find(ds("Signature")))


def _signed_info(root):
    return root.find(f"{ds('Signature')}/{ds('SignedInfo')}")


def second_reference(root):
    signed_info = _signed_info(root)
    signed_info.append(copy.deepcopy(signed_info.find(ds("Reference"))))


def reference_to_id(root):
    root.find(sr("Body")).set("Id", "body")
    _signed_info(root).find(ds("Reference")).set("URI", "#body")


def _algorithm(element: str, value: str):
    def change(root):
        _signed_info(root).find(f".//{ds(element)}").set("Algorithm", value)
    return change


def extra_transform(root):
    transforms = _signed_info(root).find(f".//{ds('Transforms')}")
    etree.SubElement(transforms, ds("Transform"),
                     Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")


def xpath_transform(root):
    _signed_info(root).find(f".//{ds('Transform')}").set(
        "Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")


def embedded_certificate(root):
    data = root.find(f"{ds('Signature')}/{ds('KeyInfo')}/{ds('X509Data')}")
    etree.SubElement(data, ds("X509Certificate")).text = "MIIB"


def unknown_serial(root):
    root.find(f".//{ds('X509SerialNumber')}").text = "12345"


def unknown_issuer(root):
    root.find(f".//{ds('X509IssuerName')}").text = "CN=Z9,OU=07"


def malformed_signature_value(root):
    root.find(f".//{ds('SignatureValue')}").text = "AAAA"


def flipped_signature_value(root):
    element = root.find(f".//{ds('SignatureValue')}")
    value = bytearray(base64.b64decode(element.text))
    value[10] ^= 1
    element.text = base64.b64encode(bytes(value)).decode()


def text_smuggled_into_signature(root):
    root.find(ds("Signature")).text = "hello"


def text_inside_an_empty_element(root):
    root.find(f".//{ds('Transform')}").text = "hello"


def comment_inside_signed_info(root):
    root.find(f".//{ds('SignedInfo')}").insert(0, etree.Comment("hello"))


def another_prefix_for_xmldsig(root):
    signature = root.find(ds("Signature"))
    renamed = etree.fromstring(etree.tostring(signature).replace(b"ds:", b"dsig:")
                               .replace(b"xmlns:ds=", b"xmlns:dsig="))
    root.replace(signature, renamed)


ATTACKS = {
    "body changed after signing": (change_body, E.DigestMismatch),
    "SignedInfo changed (digest updated)": (change_body_and_digest, E.BadSignatureValue),
    "SignedInfo changed (whitespace)": (whitespace_in_signed_info, E.BadSignatureValue),
    "signature value altered": (flipped_signature_value, E.BadSignatureValue),
    "second Body smuggled in": (second_body, E.SignatureWrapping),
    "original Request hidden in ds:Object": (request_inside_object, E.SignatureWrapping),
    "signed Request wrapped in a new one": (wrapped_in_a_new_request, E.SignatureWrapping),
    "signature moved into the Body": (signature_into_body, E.SignatureMisplaced),
    "signature moved before the Body": (signature_before_body, E.SignatureMisplaced),
    "second signature": (second_signature, E.MultipleSignatures),
    "signature removed": (no_signature, E.SignatureMissing),
    "second Reference": (second_reference, E.ReferenceNotAllowed),
    'Reference URI="#id"': (reference_to_id, E.ReferenceNotAllowed),
    "RSA signature method": (_algorithm("SignatureMethod",
                                        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
                             E.AlgorithmNotAllowed),
    "ECDSA with SHA-1": (_algorithm("SignatureMethod",
                                    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"),
                         E.AlgorithmNotAllowed),
    "SHA-1 digest": (_algorithm("DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
                     E.AlgorithmNotAllowed),
    "inclusive c14n for SignedInfo": (_algorithm(
        "CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        E.AlgorithmNotAllowed),
    "extra transform": (extra_transform, E.TransformNotAllowed),
    "XPath transform": (xpath_transform, E.TransformNotAllowed),
    "embedded certificate": (embedded_certificate, E.KeyInfoNotAllowed),
    "unknown serial": (unknown_serial, E.UnknownCertificate),
    "unknown issuer": (unknown_issuer, E.UnknownCertificate),
    "malformed signature value": (malformed_signature_value, E.ProfileViolation),
    "text inside the signature": (text_smuggled_into_signature, E.ProfileViolation),
    "text inside an empty element": (text_inside_an_empty_element, E.ProfileViolation),
}


def test_a_comment_inside_signed_info_is_not_signed_content(signed, store):
    """Exclusive C14N without comments drops it, as every XML-DSig verifier does;
    the element-by-element check takes over from the one-pass one and agrees."""
    verified = verify(mutate(signed, comment_inside_signed_info), store, now=NOW)
    assert verified.signed_bytes == verify(signed, store, now=NOW).signed_bytes


def test_another_prefix_for_xmldsig_is_still_the_profile(signed, store):
    """The one-pass shape check reads C14N with the ``ds`` prefix; any other
    prefix takes the element-by-element check, with the same verdict (the
    SignedInfo octets change with the prefix, so the value no longer verifies)."""
    with pytest.raises(E.BadSignatureValue):
        verify(mutate(signed, another_prefix_for_xmldsig), store, now=NOW)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused_with_its_error(name, signed, store):
    change, error = ATTACKS[name]
    attacked = mutate(signed, change)
    with pytest.raises(error) as caught:
        verify(attacked, store, now=NOW)
    assert type(caught.value) is error  # the narrow class, not a sibling or parent
    assert caught.value.exit_code == 1
    assert caught.value.expected is not None and caught.value.found is not None


def test_untouched_message_verifies(signed, store):
    assert mutate(signed, lambda root: None) != b""
    verify(mutate(signed, lambda root: None), store, now=NOW)


def test_signature_by_another_originators_key(store):
    other = store.signing_credential(GS_USER, now=NOW)
    forged = sign(request(originator=IS_USER), other.private_key, other.certificate)
    with pytest.raises(E.WrongSigner) as caught:
        verify(forged, store, now=NOW)
    assert GS_USER in caught.value.found and IS_USER in caught.value.expected


def test_a_ds_certificate_is_not_an_xml_signing_one(store):
    ds_credential = store.signing_credential(IS_USER, function="ds", now=NOW)
    forged = sign(request(), ds_credential.private_key, ds_credential.certificate)
    with pytest.raises(E.WrongSigner):
        verify(forged, store, now=NOW)


def test_a_request_signed_by_the_dsp_is_refused(store):
    dsp = store.dsp_signing_credential(now=NOW)
    with pytest.raises(E.WrongSigner):
        verify(sign(request(), dsp.private_key, dsp.certificate), store, now=NOW)


def test_a_response_signed_by_a_user_is_refused(store):
    user = store.signing_credential(IS_USER, now=NOW)
    response = (f'<sr:Response xmlns:sr="{SR}" schemaVersion="5.4"><sr:Header>'
                f"<sr:RequestID>{IS_USER}:00-DB-12-34-56-78-90-A0:1</sr:RequestID>"
                "</sr:Header><sr:Body/></sr:Response>").encode()
    with pytest.raises(E.WrongSigner):
        verify(sign(response, user.private_key, user.certificate), store, now=NOW)


def test_a_certificate_outside_the_store(store, tmp_path):
    generate_test_pki(tmp_path, seed=99)  # same names, other keys and serials
    stranger = CredentialStore(tmp_path).signing_credential(IS_USER, now=NOW)
    with pytest.raises(E.UnknownCertificate):
        verify(sign(request(), stranger.private_key, stranger.certificate), store, now=NOW)


def test_a_key_that_is_not_the_certificates(store):
    credential = store.signing_credential(IS_USER, now=NOW)
    stolen_cert_own_key = ec.generate_private_key(ec.SECP256R1())
    data = sign(request(), credential.private_key, credential.certificate)
    impostor = sign(request(), stolen_cert_own_key, _same_key_cert(stolen_cert_own_key),
                    strip_whitespace=True)
    # splice the impostor's signature value under the real certificate's name
    root, fake = etree.fromstring(data), etree.fromstring(impostor)
    root.find(f".//{ds('SignatureValue')}").text = fake.find(f".//{ds('SignatureValue')}").text
    with pytest.raises(E.BadSignatureValue):
        verify(etree.tostring(root), store, now=NOW)


def _same_key_cert(key):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2100, 1, 1))
            .sign(key, hashes.SHA256()))


def test_expired_certificate_without_an_explicit_now(store):
    credential = store.signing_credential(EXPIRED_USER, now=NOW)
    data = sign(request(originator=EXPIRED_USER), credential.private_key, credential.certificate)
    with pytest.raises(E.CertificateExpired):
        verify(data, store)
    with pytest.raises(E.CertificateNotValidNow):
        verify(data, store, now=NOW)
    when = dt.datetime(2020, 6, 1, tzinfo=dt.UTC)
    assert str(verify(data, store, now=when).signer_eui) == EXPIRED_USER


def test_certificate_not_yet_valid(signed, store):
    with pytest.raises(E.CertificateNotYetValid):
        verify(signed, store, now=dt.datetime(2019, 1, 1, tzinfo=dt.UTC))


def test_replayed_counter(signed, store):
    counters = CounterStore()
    verify(signed, store, now=NOW, counters=counters)
    with pytest.raises(E.ReplayedCounter):
        verify(signed, store, now=NOW, counters=counters)


def test_the_verified_document_is_what_was_signed(signed, store):
    """Whatever else was in the file, the caller gets the signed bytes only."""
    decorated = signed.replace(b"<ds:SignedInfo>", b"<!-- ignored --><ds:SignedInfo>")
    verified = verify(decorated, store, now=NOW)
    assert verified.root.find(f".//{ds('Signature')}") is None
    assert b"ignored" not in verified.signed_bytes
    assert etree.tostring(verified.tree, method="c14n") == verified.signed_bytes
