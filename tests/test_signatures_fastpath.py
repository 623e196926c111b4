"""verify()'s shortcuts give what the long way gives.

* The verified tree: when the document holds no comment, processing
  instruction or CDATA section, verify hands back the tree it checked (the
  signature detached) instead of re-parsing the signed bytes; element by
  element it must be what the re-parse gives.
* The Signature's shape: the template's recognisers
  (:mod:`duis.signatures.template`) read the compact form from lxml's
  serialization and match the profile's shape in exclusive C14N; whatever
  they accept, the element-by-element check accepts with the same values and
  SignedInfo octets.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib
from pathlib import Path

import pytest
from lxml import etree

from duis.signatures import CredentialStore, sign, sign_with_store, verify
from duis.signatures import errors as E
from duis.signatures.profile import DS, SR
from duis.signatures.template import TEMPLATE
from duis.xmlparse import parse_bytes, parse_canonical

V = importlib.import_module("duis.signatures.verify")  # the package exports the function

PKI = Path(__file__).resolve().parents[1] / "samples" / "pki"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
IS_USER = "90-B3-D5-1F-30-01-00-00"


def request(body: str = "<sr:ReadFirmwareVersion/>", srv: str = "11.2", root_extra: str = "",
            header_extra: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="{SR}" schemaVersion="5.4"{root_extra}>
  <sr:Header>
    <sr:RequestID>{IS_USER}:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant>{header_extra}
    <sr:ServiceReference>{srv}</sr:ServiceReference>
    <sr:ServiceReferenceVariant>{srv}</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body>
    {body}
  </sr:Body>
</sr:Request>
""".encode()


def _sign(store, data: bytes, strip: bool = True) -> bytes:
    return sign_with_store(data, store, preserve_counter=True, now=NOW, strip_whitespace=strip)


def _move_body_tail_after_signature(signed: bytes) -> bytes:
    """The text between Body and the end tag, moved after the Signature: the
    same document once the Signature is taken out (the digest still holds)."""
    head, _, rest = signed.partition(b"</sr:Body>")
    tail, _, rest = rest.partition(b"<ds:Signature")
    signature, _, end = rest.partition(b"</ds:Signature>")
    return head + b"</sr:Body><ds:Signature" + signature + b"</ds:Signature>" + tail + end


def _split_body_tail(signed: bytes) -> bytes:
    """Half of the text after Body before the Signature, half after it."""
    head, _, rest = signed.partition(b"</sr:Body>")
    tail, _, rest = rest.partition(b"<ds:Signature")
    signature, _, end = rest.partition(b"</ds:Signature>")
    assert len(tail) >= 2
    half = len(tail) // 2
    return (head + b"</sr:Body>" + tail[:half] + b"<ds:Signature" + signature
            + b"</ds:Signature>" + tail[half:] + end)


def _documents(store) -> dict[str, tuple[bytes, bool]]:
    """name -> (signed bytes, whether the checked tree can be handed back)."""
    compact = _sign(store, request())
    pretty = _sign(store, request(), strip=False)
    two_newlines = _sign(store, request().replace(b"</sr:Body>\n", b"</sr:Body>\n\n"), strip=False)
    references = _sign(store, request(body="<sr:X>&#233;&amp;&lt;&gt;&#x41;\u00e9</sr:X>"))
    # signing serializes CDATA as text; put it back afterwards (C14N is the same)
    cdata = _sign(store, request(body="<sr:GBCSPayload>3QAA&lt;AAAA</sr:GBCSPayload>")).replace(
        b">3QAA&lt;AAAA<", b"><![CDATA[3QAA<]]>AA<![CDATA[]]>AA<")
    return {
        "compact, as duis signs": (compact, True),
        "whitespace between elements kept": (pretty, True),
        "text after the signature": (_move_body_tail_after_signature(pretty), True),
        "text on both sides of the signature": (_split_body_tail(two_newlines), True),
        "carriage returns in text and attribute":
            (_sign(store, request(body='<sr:X a="1&#xD;2">x&#xD;y&#13;</sr:X>'), strip=False),
             True),
        "character references and escapes": (references, True),
        "default namespace in the body":
            (_sign(store, request(body=f'<X xmlns="{SR}"><Y>1</Y></X>')), True),
        "redundant and unused declarations":
            (_sign(store, request(body=f'<sr:X xmlns:sr="{SR}" xmlns:u="urn:u"><u:Y/></sr:X>',
                                  root_extra=' xmlns:z="urn:z"')), True),
        "attributes out of C14N order":
            (_sign(store, request(body='<sr:X zz="1" aa="2" xml:lang="en" mm="3"/>')), True),
        "namespaced attributes":
            (_sign(store, request(body='<sr:X xmlns:u="urn:u" u:b="1" a="2" sr:c="3"/>')), True),
        "UTF-8 with a byte order mark": (b"\xef\xbb\xbf" + references, True),
        # re-parsed: comments, processing instructions, CDATA sections
        "comment inside a text node":
            (_sign(store, request(srv="11<!-- a note -->.2")), False),
        "comment between Header and Body":
            (_sign(store, request(body="<sr:ReadFirmwareVersion/>").replace(
                b"</sr:Header>", b"</sr:Header><!-- c -->")), False),
        "comment inside the signature": (
            _sign(store, request()).replace(b"<ds:SignedInfo>", b"<!-- s --><ds:SignedInfo>"),
            False),
        "comment before the root":
            (_sign(store, request()).replace(b"?>\n<sr:Request", b"?>\n<!-- c --><sr:Request"),
             False),
        "processing instruction in the body":
            (_sign(store, request(body="<sr:X>a<?pi data?>b</sr:X>")), False),
        "processing instruction before the root":  # signed content: C14N keeps it
            (_sign(store, request().replace(b"?>\n<sr:Request", b"?>\n<?pi x?>\n<sr:Request")),
             False),
        "CDATA sections": (cdata, False),
    }


def _same_tree(fast: etree._ElementTree, slow: etree._ElementTree) -> None:
    fast_nodes, slow_nodes = list(fast.getroot().iter()), list(slow.getroot().iter())
    assert len(fast_nodes) == len(slow_nodes)
    for a, b in zip(fast_nodes, slow_nodes, strict=True):
        assert a.tag == b.tag
        assert dict(a.attrib) == dict(b.attrib)
        assert a.text == b.text
        assert a.tail == b.tail
        if isinstance(a.tag, str):
            assert a.prefix == b.prefix
            assert a.nsmap == b.nsmap


def test_the_documents_are_what_they_say(store):
    documents = _documents(store)
    assert b"<![CDATA[" in documents["CDATA sections"][0]
    assert b"<!-- a note -->" in documents["comment inside a text node"][0]
    assert b"<?pi data?>" in documents["processing instruction in the body"][0]
    assert b"<?pi x?>" in documents["processing instruction before the root"][0]
    assert documents["UTF-8 with a byte order mark"][0].startswith(b"\xef\xbb\xbf")
    assert "\r" in etree.fromstring(
        documents["carriage returns in text and attribute"][0]).find(f".//{{{SR}}}X").text


@pytest.mark.parametrize("name", list(_documents(CredentialStore(PKI))))
def test_the_verified_tree_is_what_the_signed_bytes_parse_to(store, name):
    data, fast = _documents(store)[name]
    verified = verify(data, store, now=NOW)
    reparsed = parse_canonical(verified.signed_bytes)
    _same_tree(verified.tree, reparsed)
    assert etree.tostring(verified.tree, method="c14n") == verified.signed_bytes
    assert verified.root.find(f".//{{{DS}}}Signature") is None
    # with the caller's tree: handed back exactly when nothing can differ
    given = parse_bytes(data)
    with_tree = verify(data, store, now=NOW, tree=given)
    assert (with_tree.tree is given) == fast
    assert with_tree.signed_bytes == verified.signed_bytes
    _same_tree(with_tree.tree, reparsed)


def test_a_comment_splitting_a_text_gives_the_joined_text(store):
    """lxml's text stops at the comment; the signed bytes hold the whole text,
    and so does the verified tree."""
    data = _documents(store)["comment inside a text node"][0]
    srv = f"{{{SR}}}Header/{{{SR}}}ServiceReferenceVariant"
    assert parse_bytes(data).getroot().findtext(srv) == "11"
    verified = verify(data, store, now=NOW, tree=parse_bytes(data))
    assert verified.root.findtext(srv) == "11.2"
    assert not list(verified.root.iter(etree.Comment))


def test_the_verified_tree_keeps_the_inputs_attribute_order(store):
    data = _documents(store)["attributes out of C14N order"][0]
    verified = verify(data, store, now=NOW)
    x = verified.root.find(f".//{{{SR}}}X")
    assert list(x.attrib) == ["zz", "aa", "{http://www.w3.org/XML/1998/namespace}lang", "mm"]
    assert dict(x.attrib) == dict(parse_canonical(verified.signed_bytes)
                                  .getroot().find(f".//{{{SR}}}X").attrib)


# --- the Signature's shape --------------------------------------------------------------

def _signature(data: bytes) -> etree._Element:
    return parse_bytes(data).getroot().find(f"{{{DS}}}Signature")


def _walked(signature: etree._Element):
    """Issuer, serial, digest, value and SignedInfo octets the long way."""
    return V.signature_values(signature, shortcuts=False, source="<test>")


def _text(tag: str, text: str):
    def change(signature):
        signature.find(f".//{{{DS}}}{tag}").text = text
    return change


def _attribute(tag: str, name: str, value: str):
    def change(signature):
        signature.find(f".//{{{DS}}}{tag}").set(name, value)
    return change


def _insert(tag: str, node_factory):
    def change(signature):
        signature.find(f".//{{{DS}}}{tag}").insert(0, node_factory())
    return change


def _tail(tag: str, text: str):
    def change(signature):
        signature.find(f".//{{{DS}}}{tag}").tail = text
    return change


#: name -> (change to the signed Signature, whether the compact reading takes it)
SHAPES = {
    "untouched": (lambda s: None, True),
    "issuer with spaces around": (_text("X509IssuerName", "  CN=DT1,OU=07 \n"), True),
    "serial with spaces and zeros": (lambda s: _text("X509SerialNumber", " 00" + s.findtext(
        f".//{{{DS}}}X509SerialNumber") + "\n")(s), True),
    "value wrapped with newlines": (lambda s: _text("SignatureValue", "\n".join(
        s.findtext(f".//{{{DS}}}SignatureValue")[i:i + 20] for i in range(0, 88, 20)))(s),
        True),
    "digest with a space and tab": (lambda s: _text("DigestValue", " " + s.findtext(
        f".//{{{DS}}}DigestValue") + "\t")(s), True),
    "value with a carriage return": (lambda s: _text("SignatureValue", s.findtext(
        f".//{{{DS}}}SignatureValue") + "\r")(s), False),
    "issuer with an ampersand": (_text("X509IssuerName", "CN=A&B,OU=07"), False),
    "issuer beyond ASCII": (_text("X509IssuerName", "CN=\u00c9,OU=07"), False),
    "issuer with a quote and >": (_text("X509IssuerName", 'CN="x">,OU=07'), False),
    "comment in SignedInfo": (_insert("SignedInfo", lambda: etree.Comment("c")), False),
    "processing instruction in KeyInfo":
        (_insert("KeyInfo", lambda: etree.ProcessingInstruction("pi", "x")), False),
    "white space between elements": (_tail("SignedInfo", "\n  "), False),
    "an extra attribute": (_attribute("Reference", "Id", "r1"), False),
    "xml:lang on the Signature": (lambda s: s.set(
        "{http://www.w3.org/XML/1998/namespace}lang", "en"), False),
    "an extra element": (lambda s: etree.SubElement(
        s.find(f".//{{{DS}}}X509Data"), f"{{{DS}}}X509SubjectName"), False),
}


def _changed(store, change) -> etree._Element:
    signature = _signature(_sign(store, request()))
    change(signature)
    return signature


@pytest.mark.parametrize("name", list(SHAPES))
def test_the_compact_reading_agrees_with_the_walk(store, name):
    change, taken = SHAPES[name]
    signature = _changed(store, change)
    compact = TEMPLATE.read_compact(signature)
    assert (compact is not None) == taken
    if compact is not None:
        assert compact == _walked(signature)


@pytest.mark.parametrize("declarations", [
    "", ' xmlns:x="urn:x" xmlns="urn:default"', ' xmlns:q="urn:a\'b?c=1#d"'])
def test_declarations_in_scope_are_read_past(store, declarations):
    data = _sign(store, request(root_extra=declarations))
    signature = _signature(data)
    compact = TEMPLATE.read_compact(signature)
    assert compact is not None and compact == _walked(signature)
    verify(data, store, now=NOW)


def test_xmldsig_declared_on_the_root_reads_the_same(store):
    """lxml writes the declarations in scope on the Signature's start tag, so
    a ``ds`` declared on the root still reads compactly, with the same values."""
    data = _sign(store, request(root_extra=f' xmlns:x="urn:x" xmlns:ds="{DS}"'))
    signature = _signature(data)
    compact = TEMPLATE.read_compact(signature)
    assert compact is not None and compact == _walked(signature)
    assert compact[4] == TEMPLATE.canonical_signed_info(signature)
    verify(data, store, now=NOW)


@pytest.mark.parametrize("text, error", [
    ("", E.KeyInfoNotAllowed), ("  ", E.KeyInfoNotAllowed)])
def test_an_empty_issuer_is_refused_as_before(store, text, error):
    data = _sign(store, request())
    root = etree.fromstring(data)
    root.find(f".//{{{DS}}}X509IssuerName").text = text
    attacked = etree.tostring(root)
    assert TEMPLATE.read_compact(_signature(attacked)) is None
    with pytest.raises(error) as caught:
        verify(attacked, store, now=NOW)
    assert caught.value.message == "empty issuer name"
    assert caught.value.path.endswith("/ds:X509IssuerName")


@pytest.mark.parametrize("tag, text, message", [
    ("DigestValue", "AAAA", "malformed value"),
    ("SignatureValue", "!!!!", "malformed value"),
    ("X509SerialNumber", "12a", "malformed serial number"),
    ("X509SerialNumber", "\u0663", "malformed serial number"),
])
def test_malformed_values_are_refused_as_before(store, tag, text, message):
    root = etree.fromstring(_sign(store, request()))
    root.find(f".//{{{DS}}}{tag}").text = text
    attacked = etree.tostring(root)
    with pytest.raises(E.SignatureError) as caught:
        verify(attacked, store, now=NOW)
    assert caught.value.message == message
    assert caught.value.path.endswith(f"/ds:{tag}")
    assert caught.value.line == 1


def test_the_envelope_shortcut_and_the_long_way_agree(store):
    """Three children Header, Body, Signature take the shortcut; a comment
    among them the general check; both verify, other shapes are refused."""
    data = _sign(store, request())
    verify(data, store, now=NOW)
    commented = data.replace(b"</sr:Body>", b"</sr:Body><!-- c -->")
    verify(commented, store, now=NOW)
    root = etree.fromstring(data)
    root.insert(0, copy.deepcopy(root[0]))  # Header, Header, Body, Signature
    with pytest.raises(E.SignatureWrapping):
        verify(etree.tostring(root), store, now=NOW)
    root = etree.fromstring(data)
    root.insert(1, root[2])  # Header, Signature, Body
    with pytest.raises(E.SignatureMisplaced):
        verify(etree.tostring(root), store, now=NOW)


def test_digest_errors_still_point_into_the_detached_signature(store):
    data = _sign(store, request()).replace(b"ReadFirmwareVersion", b"ReadFirmwareVersiox")
    with pytest.raises(E.DigestMismatch) as caught:
        verify(data, store, now=NOW)
    assert caught.value.path == "/sr:Request/ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue"
    assert caught.value.line == 2


def test_sign_built_keys_markup_per_certificate(store):
    """The cached KeyInfo markup is per issuer and serial: two signers, two markups."""
    from duis.messages import build_element, parse_message
    from duis.signatures import sign_built
    element = build_element(parse_message(request()))
    for eui in (IS_USER, "90-B3-D5-1F-30-02-00-00", IS_USER):
        credential = store.signing_credential(eui, now=NOW)
        assert sign_built(element, credential) == sign(element, credential.private_key,
                                                       credential.certificate)


#: the shapes the one-pass C14N check leaves to the element-by-element check
NOT_CANONICAL_SHAPES = {"comment in SignedInfo", "processing instruction in KeyInfo",
                        "an extra attribute", "xml:lang on the Signature", "an extra element"}


@pytest.mark.parametrize("name", list(SHAPES))
def test_the_shape_pattern_agrees_with_the_walk(store, name):
    """White space between elements and any value text: the pattern takes it
    and gives SignedInfo's octets as the walk does; the rest is the walk's."""
    signature = _changed(store, SHAPES[name][0])
    octets = TEMPLATE.canonical_signed_info(signature)
    assert (octets is not None) == (name not in NOT_CANONICAL_SHAPES)
    if octets is not None:
        assert octets == _walked(signature).signed_info
