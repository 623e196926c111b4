"""Signing and verifying in the DUIS profile, with the project's own test PKI."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from duis.clock import FixedClock
from duis.errors import InputError, WrongRoot
from duis.signatures import (
    CounterStore,
    MillisecondCounter,
    sign,
    sign_with_store,
    verify,
)
from duis.signatures import errors as E
from duis.signatures.profile import DS, SR

PKI = Path(__file__).resolve().parents[1] / "samples" / "pki"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
IS_USER = "90-B3-D5-1F-30-01-00-00"
GS_USER = "90-B3-D5-1F-30-02-00-00"


def request(originator: str = IS_USER, counter: int = 1000, srv: str = "11.2",
            body: str = "<sr:ReadFirmwareVersion/>") -> bytes:
    service = srv.rsplit('.', 1)[0] if srv.count('.') > 1 else srv
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="{SR}" schemaVersion="5.4">
  <sr:Header>
    <sr:RequestID>{originator}:00-DB-12-34-56-78-90-A0:{counter}</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant>
    <sr:ServiceReference>{service}</sr:ServiceReference>
    <sr:ServiceReferenceVariant>{srv}</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body>
    {body}
  </sr:Body>
</sr:Request>
""".encode()


RESPONSE = f"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Response xmlns:sr="{SR}" schemaVersion="5.4">
  <sr:Header>
    <sr:RequestID>{IS_USER}:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>
    <sr:ResponseID>00-DB-12-34-56-78-90-A0:{IS_USER}:1000</sr:ResponseID>
    <sr:ResponseCode>I0</sr:ResponseCode>
    <sr:ResponseDateTime>2030-01-01T00:00:00.000Z</sr:ResponseDateTime>
  </sr:Header>
  <sr:Body>
    <sr:ResponseMessage>
      <sr:ServiceReference>11.2</sr:ServiceReference>
      <sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>
      <sr:GBCSPayload>3QAAAAAAAFURAAAAAN8J</sr:GBCSPayload>
    </sr:ResponseMessage>
  </sr:Body>
</sr:Response>
""".encode()


def signed_request(store, **kw) -> bytes:
    return sign_with_store(request(**kw), store, preserve_counter=True, now=NOW)


def test_round_trip_returns_the_signed_bytes(store):
    signed = signed_request(store)
    verified = verify(signed, store, now=NOW)
    assert str(verified.signer_eui) == IS_USER
    assert verified.kind == "Request" and verified.message_id.counter == 1000
    assert verified.roles == frozenset({"IS"})
    assert verified.root.tag == f"{{{SR}}}Request"
    assert verified.root.find(f"{{{DS}}}Signature") is None
    assert etree.tostring(verified.tree, method="c14n") == verified.signed_bytes
    assert b"ReadFirmwareVersion" in verified.signed_bytes


def test_signature_is_the_profile(store):
    root = etree.fromstring(signed_request(store))
    signature = root[-1]
    assert signature.tag == f"{{{DS}}}Signature"
    ns = {"ds": DS}
    assert signature.xpath("ds:SignedInfo/ds:CanonicalizationMethod/@Algorithm", namespaces=ns) \
        == ["http://www.w3.org/2001/10/xml-exc-c14n#"]
    assert signature.xpath("ds:SignedInfo/ds:SignatureMethod/@Algorithm", namespaces=ns) \
        == ["http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"]
    assert signature.xpath("ds:SignedInfo/ds:Reference/@URI", namespaces=ns) == [""]
    assert signature.xpath("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform/@Algorithm",
                           namespaces=ns) == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature"]
    assert signature.xpath("ds:KeyInfo/ds:X509Data/ds:X509IssuerSerial/ds:X509IssuerName/text()",
                           namespaces=ns) == ["CN=DT1,OU=07"]
    assert not signature.xpath(".//ds:X509Certificate", namespaces=ns)
    value = base64.b64decode(signature.findtext(f"{{{DS}}}SignatureValue"))
    assert len(value) == 64  # raw r || s, not DER


def test_signing_is_deterministic(store):
    assert signed_request(store) == signed_request(store)
    credential = store.signing_credential(IS_USER, now=NOW)
    once = sign(request(), credential.private_key, credential.certificate)
    assert once == sign(request(), credential.private_key, credential.certificate)
    assert once == signed_request(store)


def test_resigning_replaces_the_old_signature(store):
    first = signed_request(store)
    again = sign_with_store(first, store, counter=lambda: 2000, now=NOW)
    root = etree.fromstring(again)
    assert len(root.findall(f".//{{{DS}}}Signature")) == 1
    assert verify(again, store, now=NOW).message_id.counter == 2000


def test_fresh_counter_comes_from_the_clock(store):
    clock = FixedClock(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    counter = MillisecondCounter(clock)
    one = verify(sign_with_store(request(), store, counter=counter, now=NOW), store, now=NOW)
    two = verify(sign_with_store(request(), store, counter=counter, now=NOW), store, now=NOW)
    assert one.message_id.counter == 1893456000000
    assert two.message_id.counter == 1893456000001  # same millisecond, still increasing


def test_whitespace_between_elements_is_removed_by_default(store):
    signed = signed_request(store)
    assert b"<sr:Header><sr:RequestID>" in signed
    kept = sign_with_store(request(), store, preserve_counter=True, now=NOW,
                           strip_whitespace=False)
    assert b"<sr:Header>\n    <sr:RequestID>" in kept
    assert verify(kept, store, now=NOW).signed_bytes.count(b"\n") > 5


def test_leaf_text_is_data_and_kept(store):
    body = "<sr:ReadFirmwareVersion>  </sr:ReadFirmwareVersion>"
    verified = verify(signed_request(store, body=body), store, now=NOW)
    assert b"<sr:ReadFirmwareVersion>  </sr:ReadFirmwareVersion>" in verified.signed_bytes


def test_tree_input_is_not_changed(store):
    tree = etree.ElementTree(etree.fromstring(request()))
    before = etree.tostring(tree)
    credential = store.signing_credential(IS_USER, now=NOW)
    sign(tree, credential.private_key, credential.certificate, counter=5)
    assert etree.tostring(tree) == before


def test_response_is_signed_by_the_dsp(store):
    signed = sign_with_store(RESPONSE, store, now=NOW)
    verified = verify(signed, store, now=NOW)
    assert verified.kind == "Response" and verified.message_id is None
    assert str(verified.signer_eui) == "90-B3-D5-1F-30-00-00-02"
    assert b"<sr:RequestID>" + IS_USER.encode() + b":00-DB-12-34-56-78-90-A0:1000" in signed


def test_comments_and_processing_instructions_survive(store):
    data = request().replace(b"<sr:Body>", b"<sr:Body><!-- a note --><?pi data?>")
    signed = sign_with_store(data, store, preserve_counter=True, now=NOW)
    verified = verify(signed, store, now=NOW)
    assert b"<?pi data?>" in verified.signed_bytes
    assert b"a note" not in verified.signed_bytes  # C14N without comments


def test_text_after_the_signature_is_signed(store):
    signed = signed_request(store).replace(b"</ds:Signature></sr:Request>",
                                           b"</ds:Signature>\n</sr:Request>")
    with pytest.raises(E.DigestMismatch):  # the newline was not there when signed
        verify(signed, store, now=NOW)


def test_counters_refuse_a_replay(store, tmp_path):
    counters = CounterStore(tmp_path / "counters.db")
    signed = signed_request(store, counter=10)
    verify(signed, store, now=NOW, counters=counters)
    with pytest.raises(E.ReplayedCounter):
        verify(signed, store, now=NOW, counters=counters)
    with pytest.raises(E.ReplayedCounter):
        verify(signed_request(store, counter=9), store, now=NOW, counters=counters)
    verify(signed_request(store, counter=11), store, now=NOW, counters=counters)
    counters.close()
    with CounterStore(tmp_path / "counters.db") as reopened:
        with pytest.raises(E.ReplayedCounter):
            verify(signed_request(store, counter=11), store, now=NOW, counters=reopened)


def test_a_forgery_does_not_burn_a_counter(store):
    counters = CounterStore()
    forged = signed_request(store, counter=50).replace(b"ReadFirmwareVersion",
                                                       b"ReadFirmwareVersiox")
    with pytest.raises(E.DigestMismatch):
        verify(forged, store, now=NOW, counters=counters)
    assert counters.last(IS_USER) is None


def test_roles_are_checked_when_asked(store):
    allowed = {"11.2": {"IS", "ES"}, "6.21": {"ED"}}.__getitem__
    verify(signed_request(store), store, now=NOW, allowed_roles=allowed)
    with pytest.raises(E.RoleNotAllowed) as caught:
        verify(signed_request(store, originator=GS_USER), store, now=NOW, allowed_roles=allowed)
    assert caught.value.found == "GS" and "IS" in caught.value.expected


def test_signing_needs_a_credential(store):
    with pytest.raises(E.NoSigningCredential):
        sign_with_store(request(originator="90-B3-D5-1F-30-0A-00-00"), store)
    other = store.signing_credential(GS_USER, now=NOW)
    mine = store.signing_credential(IS_USER, now=NOW)
    with pytest.raises(E.CredentialError):
        sign(request(), mine.private_key, other.certificate)


def test_not_a_duis_message(store):
    with pytest.raises(WrongRoot):
        sign_with_store(b"<a/>", store)
    with pytest.raises(WrongRoot):
        verify(b"<a/>", store)
    with pytest.raises(InputError):
        verify(b"<sr:Request", store)


def test_errors_say_where_and_what(store):
    signed = signed_request(store).replace(b"ReadFirmwareVersion", b"ReadFirmwareVersiox")
    with pytest.raises(E.DigestMismatch) as caught:
        verify(signed, store, now=NOW, source="msg.xml")
    error = caught.value
    assert error.source == "msg.xml" and error.exit_code == 1
    assert error.path == "/sr:Request/ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue"
    assert error.expected and error.found and error.line == 2  # line 1 is the declaration


# --- the DSP's fast path for messages it has just built ---------------------------------

def _built(data: bytes) -> etree._Element:
    from duis.messages import build_element, parse_message
    return build_element(parse_message(data))


@pytest.mark.parametrize("data", [request(), RESPONSE], ids=["request", "response"])
def test_sign_built_gives_the_bytes_sign_gives(store, data):
    from duis.signatures import sign_built
    credential = (store.signing_credential(IS_USER, now=NOW) if b"<sr:Response" not in data
                  else store.dsp_signing_credential(now=NOW))
    element = _built(data)
    before = etree.tostring(element)
    fast = sign_built(element, credential)
    assert etree.tostring(element) == before  # the element is left as it was
    assert fast == sign(element, credential.private_key, credential.certificate)
    assert verify(fast, store, now=NOW).signed_bytes == etree.tostring(element, method="c14n")


@pytest.mark.parametrize("data", [request(), RESPONSE], ids=["request", "response"])
def test_sign_prepared_gives_the_bytes_sign_built_gives(store, data):
    """From a message's bytes and its signable form alone, the same signed bytes."""
    from duis.signatures import sign_built
    from duis.signatures.sign import sign_prepared, signable_form
    credential = (store.signing_credential(IS_USER, now=NOW) if b"<sr:Response" not in data
                  else store.dsp_signing_credential(now=NOW))
    element = _built(data)
    serialized = etree.tostring(element, encoding="UTF-8")
    canonical = signable_form(serialized)
    assert canonical == etree.tostring(element, method="c14n")
    assert signable_form(b'<?xml version="1.0" encoding="UTF-8"?>\n' + serialized) == canonical
    signed = sign_prepared(serialized, canonical, credential)
    assert signed == sign_built(element, credential)
    assert verify(signed, store, now=NOW).signed_bytes == canonical


def test_signable_form_is_none_where_the_signature_cannot_go_in_as_text(store):
    """What sign_built signs by appending an element to a copy has no signable form."""
    from duis.signatures.sign import signable_form
    decorated = request().replace(b'schemaVersion="5.4"',
                                  f'schemaVersion="5.4" xmlns:ds="{DS}"'.encode())
    signed = signed_request(store)
    for data in (decorated, signed, b"<root><child/></root>", b"<sr:x xmlns:sr='urn:x'/>"):
        assert signable_form(data) is None, data


def test_sign_built_escapes_the_issuer_as_lxml_does(store):
    import dataclasses

    from duis.signatures import sign_built
    credential = store.dsp_signing_credential(now=NOW)
    odd = dataclasses.replace(credential)
    odd.__dict__["issuer"] = "CN=A&B <x>,OU=07\r"  # the cached RFC 4514 text
    element = _built(RESPONSE)
    fast = sign_built(element, odd)
    general = sign(element, credential.private_key, credential.certificate)
    assert etree.fromstring(fast).findtext(f".//{{{DS}}}X509IssuerName") == "CN=A&B <x>,OU=07\r"
    assert fast.replace(b"CN=A&amp;B &lt;x&gt;,OU=07&#13;", b"CN=DT1,OU=07") == general


def test_signed_info_octets_do_not_depend_on_context(store):
    """The precomputed SignedInfo octets equal exclusive C14N of the SignedInfo
    in the signed document, whatever namespaces the document declares."""
    from duis.signatures.c14n import signed_info_octets
    from duis.signatures.template import TEMPLATE
    decorated = request().replace(b'schemaVersion="5.4"',
                                  f'schemaVersion="5.4" xmlns:ds="{DS}" xmlns:x="urn:x" '
                                  'xml:lang="en"'.encode())
    for data in (signed_request(store), sign_with_store(decorated, store, preserve_counter=True,
                                                          now=NOW)):
        signed_info = etree.fromstring(data).find(f".//{{{DS}}}SignedInfo")
        digest = signed_info.findtext(f".//{{{DS}}}DigestValue").encode()
        assert signed_info_octets(signed_info) == TEMPLATE.signed_info_octets(digest)
        verify(data, store, now=NOW)


def test_sign_built_with_the_xmldsig_namespace_on_the_root(store):
    """A root that declares xmldsig itself is signed by appending the element
    (to a copy): the same bytes as sign, the caller's element untouched."""
    from duis.signatures import sign_built
    credential = store.signing_credential(IS_USER, now=NOW)
    decorated = request().replace(b'schemaVersion="5.4"',
                                  f'schemaVersion="5.4" xmlns:ds="{DS}"'.encode())
    element = etree.fromstring(sign_with_store(decorated, store, preserve_counter=True, now=NOW))
    before = etree.tostring(element)
    signed = sign_built(element, credential)
    assert etree.tostring(element) == before
    assert signed == sign(element, credential.private_key, credential.certificate,
                          strip_whitespace=False)
    assert b"<ds:Signature>" in signed  # the root's declaration serves
    verify(signed, store, now=NOW)
