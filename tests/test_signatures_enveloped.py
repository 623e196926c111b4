"""verify() reads a Signature signed as duis signs it from the message's bytes
(TEMPLATE.read_enveloped) and parses only the rest.  Whatever the input, the
outcome must be the long way's (the whole message parsed, the Signature
checked element by element): the same VerifiedMessage, or the same error
with the same place, line, expectation and finding.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path
from unittest import mock

import pytest
from lxml import etree

from duis.errors import DuisError, InputTooLarge
from duis.signatures import CounterStore, CredentialStore, sign_with_store, verify
from duis.signatures import errors as E
from duis.signatures.profile import DS, SR
from duis.signatures.template import TEMPLATE
from duis.xmlparse import DEFAULT_MAX_BYTES, parse_bytes

PKI = Path(__file__).resolve().parents[1] / "samples" / "pki"
V = importlib.import_module("duis.signatures.verify")  # the package exports the function

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
IS_USER = "90-B3-D5-1F-30-01-00-00"
SIGNATURE_START = b'<ds:Signature xmlns:ds="' + DS.encode() + b'">'


def request(body: str = "<sr:ReadFirmwareVersion/>") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sr:Request xmlns:sr="{SR}" '
            f'schemaVersion="5.4"><sr:Header><sr:RequestID>{IS_USER}:00-DB-12-34-56-78-90-A0:'
            f"1000</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>"
            f"11.2</sr:ServiceReference><sr:ServiceReferenceVariant>11.2"
            f"</sr:ServiceReferenceVariant></sr:Header><sr:Body>{body}</sr:Body></sr:Request>"
            ).encode()


RESPONSE = (f'<sr:Response xmlns:sr="{SR}" schemaVersion="5.4"><sr:Header><sr:RequestID>'
            f"{IS_USER}:00-DB-12-34-56-78-90-A0:1000</sr:RequestID><sr:ResponseID>"
            f"00-DB-12-34-56-78-90-A0:{IS_USER}:1000</sr:ResponseID><sr:ResponseCode>I0"
            f"</sr:ResponseCode><sr:ResponseDateTime>2030-01-01T00:00:00.000Z"
            f"</sr:ResponseDateTime></sr:Header><sr:Body><sr:ResponseMessage>"
            f"<sr:ServiceReference>11.2</sr:ServiceReference><sr:ServiceReferenceVariant>11.2"
            f"</sr:ServiceReferenceVariant><sr:GBCSPayload>3QAAAAAAAFURAAAAAN8J</sr:GBCSPayload>"
            f"</sr:ResponseMessage></sr:Body></sr:Response>").encode()


def _sign(store, data: bytes) -> bytes:
    return sign_with_store(data, store, preserve_counter=True, now=NOW)


def _signature(signed: bytes) -> bytes:
    start = signed.index(SIGNATURE_START)
    return signed[start:signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")]


def _unsigned(signed: bytes) -> bytes:
    signature = _signature(signed)
    return signed.replace(signature, b"")


def _text(signed: bytes, tag: str, text: bytes) -> bytes:
    return re.sub(rb"(<ds:" + tag.encode() + rb">)[^<]*(<)", lambda m: m[1] + text + m[2],
                  signed, count=1)


def _cases(store) -> dict[str, bytes]:
    signed = _sign(store, request())
    signature = _signature(signed)
    unsigned = _unsigned(signed)
    response = _sign(store, RESPONSE)
    value = re.search(rb"<ds:SignatureValue>([^<]*)<", signed)[1]
    wrapped = b"\n".join(value[i:i + 20] for i in range(0, len(value), 20))
    other = _sign(store, request("<sr:ReadFirmwareVersion/><sr:X/>"))
    return {
        "as duis signs it": signed,
        "a signed Response": response,
        "white space after the root": signed + b"\n \t\r\n",
        "CRLF line ends": signed.replace(b"?>\n", b"?>\r\n") + b"\r\n",
        "value wrapped over lines": signed.replace(value, wrapped),
        "issuer with spaces around": _text(signed, "X509IssuerName", b"  CN=DT1,OU=07 \n"),
        "digest changed": _text(signed, "DigestValue", re.search(
            rb"<ds:DigestValue>([^<]*)<", other)[1]),
        "value changed": signed.replace(value, re.search(
            rb"<ds:SignatureValue>([^<]*)<", other)[1]),
        "body changed": signed.replace(b"ReadFirmwareVersion", b"ReadFirmwareVersiox"),
        "unknown serial": _text(signed, "X509SerialNumber", b"12345"),
        "serial with a letter": _text(signed, "X509SerialNumber", b"123a"),
        "issuer empty": _text(signed, "X509IssuerName", b"  "),
        "issuer with an ampersand reference": _text(signed, "X509IssuerName", b"CN=A&amp;B"),
        "issuer with a control character": _text(signed, "X509IssuerName", b"CN=\x01"),
        "issuer ending a CDATA section": _text(signed, "X509IssuerName", b"CN=]]>"),
        "issuer closing a comment": _text(signed, "X509IssuerName", b"CN=-->"),
        "issuer beyond ASCII": _text(signed, "X509IssuerName", "CN=\u00c9".encode()),
        "end tag with a space": signed[:-len(b"</sr:Request>")] + b"</sr:Request >",
        "text after the root": signed + b"x",
        "comment after the root": signed + b"<!-- c -->",
        "the Signature in a comment after the root":
            unsigned + b"<!--" + signature + b"</sr:Request>-->",
        "the Signature in a comment in the Body":
            unsigned.replace(b"</sr:Body>", b"<!--" + signature + b"--></sr:Body>"),
        "a comment opened before the Signature":
            signed.replace(SIGNATURE_START, b"<!--" + SIGNATURE_START),
        "a CDATA section opened before the Signature":
            signed.replace(SIGNATURE_START, b"<sr:X><![CDATA[" + SIGNATURE_START),
        "an attribute value opened before it":
            signed.replace(SIGNATURE_START, b'<sr:X a="' + SIGNATURE_START),
        "the Signature in a comment before the end tag":
            unsigned.replace(b"</sr:Request>", b"<!--" + signature + b"--></sr:Request>"),
        "the Signature in a CDATA section at the end":
            unsigned.replace(b"</sr:Request>", b"<sr:X><![CDATA[" + signature
                             + b"]]></sr:X></sr:Request>"),
        "the Signature as the Body's last child":
            unsigned.replace(b"</sr:Body>", signature + b"</sr:Body>"),
        "a second Signature in the Body":
            signed.replace(b"</sr:Body>", signature + b"</sr:Body>"),
        "a comment before the Signature":
            signed.replace(b"</sr:Body>", b"</sr:Body><!-- c -->"),
        "text before the Signature": signed.replace(b"</sr:Body>", b"</sr:Body>\n  "),
        "a processing instruction in the Body":
            signed.replace(b"<sr:Body>", b"<sr:Body><?pi x?>"),
        "no Body": signed.replace(b"<sr:Body><sr:ReadFirmwareVersion/></sr:Body>", b""),
        "the Header twice": signed.replace(b"<sr:Body>", re.search(
            rb"<sr:Header>.*</sr:Header>", signed)[0] + b"<sr:Body>"),
        "a Body not closed": signed.replace(b"</sr:Body>", b""),
        "a document type declaration": signed.replace(
            b"?>\n", b'?>\n<!DOCTYPE sr:Request [<!ATTLIST ds:Signature Id CDATA "x">]>\n'),
        "ds declared for another namespace on the root": _sign(store, request().replace(
            b'schemaVersion="5.4"', b'xmlns:ds="urn:other" schemaVersion="5.4"')),
        "another namespace on the Signature": signed.replace(
            SIGNATURE_START, SIGNATURE_START.replace(DS.encode(), b"urn:other")),
        "not a DUIS root": signed.replace(b"sr:Request", b"sr:Requesx"),
        "no RequestID": signed.replace(b"sr:RequestID", b"sr:RequestIX"),
    }


def _outcome(call):
    try:
        verified = call()
    except DuisError as exc:
        return type(exc), exc.message, exc.source, exc.line, exc.path, exc.expected, exc.found
    return (verified.signed_bytes, etree.tostring(verified.tree, method="c14n"),
            verified.certificate.serial_number, verified.signer_eui, verified.roles,
            verified.kind, verified.message_id)


def _with_tree(data: bytes, store, **kw):
    return verify(data, store, now=NOW, source="<in>", tree=parse_bytes(data, "<in>"), **kw)


def _long_way(data: bytes, store, **kw):
    """The element-by-element way: the caller's tree, nothing read from the bytes."""
    with mock.patch.object(TEMPLATE, "read_enveloped", lambda data: None):
        return _with_tree(data, store, **kw)


@pytest.fixture(scope="module")
def cases(store) -> dict[str, bytes]:
    return _cases(store)


#: the cases whose Signature read_enveloped takes (the rest go the long way at once)
READ_FROM_THE_BYTES = {
    "as duis signs it", "a signed Response", "white space after the root", "CRLF line ends",
    "value wrapped over lines", "issuer with spaces around", "digest changed", "value changed",
    "body changed", "unknown serial", "a second Signature in the Body",
    "a comment before the Signature", "text before the Signature",
    "a processing instruction in the Body", "no Body", "the Header twice", "a Body not closed",
    "a document type declaration", "ds declared for another namespace on the root",
    "not a DUIS root", "no RequestID", "a comment opened before the Signature",
    "a CDATA section opened before the Signature", "an attribute value opened before it",
}


def test_the_table_is_what_it_says(cases):
    assert READ_FROM_THE_BYTES <= set(cases)
    for name, data in cases.items():
        assert (TEMPLATE.read_enveloped(data) is not None) == (name in READ_FROM_THE_BYTES), name


@pytest.mark.parametrize("name", list(_cases(CredentialStore(PKI))))
def test_each_case_has_the_long_ways_outcome(store, cases, name):
    data = cases[name]
    fast = _outcome(lambda: verify(data, store, now=NOW, source="<in>"))
    slow = _outcome(lambda: _long_way(data, store))
    assert fast == slow
    # a caller's tree with the Signature in it, its values read from the bytes
    assert _outcome(lambda: _with_tree(data, store)) == slow


def test_the_usual_messages_are_verified_from_the_bytes(store, cases, monkeypatch):
    """The Signature is not parsed: the one parse leaves it out."""
    calls = []
    real = V.parse_bytes

    def parse(data, source="<bytes>", **kw):
        calls.append(kw.get("leave_out"))
        return real(data, source, **kw)

    monkeypatch.setattr(V, "parse_bytes", parse)
    monkeypatch.setattr(TEMPLATE, "read_compact", None)  # not used: it would fail
    for name in ("as duis signs it", "a signed Response", "CRLF line ends",
                 "value wrapped over lines"):
        calls.clear()
        data = cases[name]
        verified = verify(data, store, now=NOW)
        start, end, _ = TEMPLATE.read_enveloped(data)
        assert calls == [(start, end)], name
        assert data[start:end] == _signature(data)
        assert verified.signed_bytes == etree.tostring(
            parse_bytes(data[:start] + data[end:]), method="c14n")


def test_the_values_read_from_the_bytes_are_the_walks(cases):
    for name in ("as duis signs it", "a signed Response", "value wrapped over lines",
                 "issuer with spaces around", "unknown serial", "digest changed"):
        data = cases[name]
        _, _, values = TEMPLATE.read_enveloped(data)
        signature = parse_bytes(data).getroot().find(f"{{{DS}}}Signature")
        assert values == V.signature_values(signature, shortcuts=False), name


def test_a_failure_pointing_into_the_signature_is_reported_as_the_long_way_does(store, cases):
    with pytest.raises(E.BadSignatureValue) as caught:
        verify(cases["value changed"], store, now=NOW)
    assert caught.value.path == "/sr:Request/ds:Signature/ds:SignatureValue"
    assert caught.value.line == 2
    with pytest.raises(E.UnknownCertificate) as caught:
        verify(cases["unknown serial"], store, now=NOW)
    assert caught.value.path == "/sr:Request/ds:Signature/ds:KeyInfo"


def test_counters_are_recorded_once_and_replays_refused(store, cases):
    counters = CounterStore()
    verify(cases["as duis signs it"], store, now=NOW, counters=counters)
    with pytest.raises(E.ReplayedCounter):
        verify(cases["as duis signs it"], store, now=NOW, counters=counters)
    # a forgery read from the bytes burns no counter
    fresh = CounterStore()
    with pytest.raises(E.BadSignatureValue):
        verify(cases["value changed"], store, now=NOW, counters=fresh)
    verify(cases["as duis signs it"], store, now=NOW, counters=fresh)


def test_the_size_cap_counts_the_signature(store, cases):
    """Input over the cap only because of its Signature is refused as before."""
    signed = cases["as duis signs it"]
    start, end, _ = TEMPLATE.read_enveloped(signed)
    padded = signed + b" " * (DEFAULT_MAX_BYTES - len(signed) + 1)
    assert len(padded) - (end - start) <= DEFAULT_MAX_BYTES < len(padded)
    assert TEMPLATE.read_enveloped(padded) is not None
    with pytest.raises(InputTooLarge):
        verify(padded, store, now=NOW)


def test_a_callers_tree_has_its_signature_read_from_the_bytes(store, cases, monkeypatch):
    """With the caller's tree (the DSP parsed it to validate), the usual Signature's
    values come from the bytes: it is not serialized again to be checked."""
    names = ("as duis signs it", "a signed Response", "CRLF line ends")
    expected = {name: _long_way(cases[name], store).signed_bytes for name in names}
    monkeypatch.setattr(TEMPLATE, "read_compact", None)  # not used: it would fail
    for name in names:
        assert _with_tree(cases[name], store).signed_bytes == expected[name], name
