"""Typed messages: parsing, canonical building, and that what is built validates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from duis.errors import MessageError, NotCovered, SchemaInvalid, WrongRoot
from duis.messages import (
    EUI64,
    MessageID,
    MMCDocument,
    Node,
    Request,
    Response,
    build,
    build_element,
    build_serialized,
    leaf,
    node,
    parse_message,
    request,
    response,
    response_message,
)
from duis.messages.codec import serialized
from duis.namespaces import RA

SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ESME = "00-DB-12-34-56-78-90-A0"
DSP = "90-B3-D5-1F-30-00-00-02"
WHEN = dt.datetime(2026, 11, 21, 12, 30, 5, 250000, tzinfo=dt.UTC)


def built_messages():
    """One message of each shape the project builds, keyed by a readable name."""
    req = request(SUPPLIER, ESME, 1001, "11.3",
                  node("ActivateFirmware", leaf("ExecutionDateTime", WHEN),
                       leaf("FirmwareHash", bytes(range(32)))))
    rid = req.request_id
    back = MessageID(EUI64.parse(ESME), EUI64.parse(SUPPLIER), 1001)
    return {
        "11.2 request": request(SUPPLIER, ESME, 7, "11.2", node("ReadFirmwareVersion")),
        "11.3 request": req,
        "8.2 request": request(SUPPLIER, DSP, 8, "8.2",
                               node("ReadInventory", leaf("DeviceID", ESME))),
        "I99 acknowledgement": response(rid, "I99", WHEN, response_message("11.3"),
                                        response_id=back),
        "I0 11.2 response": response(rid, "I0", WHEN,
                                     response_message("11.2", leaf("GBCSPayload", "3QAAAAAA")),
                                     response_id=back),
    }


@pytest.mark.parametrize("name", list(built_messages()))
def test_building_is_canonical_and_round_trips(name, bundled_schema):
    message = built_messages()[name]
    first = build(message, schema=bundled_schema)
    assert build(message, schema=bundled_schema) == first
    again = parse_message(first, schema=bundled_schema)
    assert again == message
    assert build(again, schema=bundled_schema) == first
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<sr:')


@pytest.mark.reference
@pytest.mark.parametrize("name", list(built_messages()))
def test_built_messages_validate_against_the_official_schema(name, official_schema):
    from duis.schema import check_tree
    from duis.xmlparse import parse_bytes
    data = build(built_messages()[name], validate=False)
    report = check_tree(parse_bytes(data), official_schema)
    assert report.valid, report.render()


def test_request_fields_are_typed():
    message = built_messages()["11.3 request"]
    assert isinstance(message, Request)
    assert message.originator == EUI64.parse("90B3D51F30010000")
    assert message.target.compact == "00DB1234567890A0"
    assert message.counter == 1001
    assert message.command_variant == 4          # critical: the catalogue says so
    assert message.header.service_reference == "11.3"
    assert message.body.text_at("ExecutionDateTime") == "2026-11-21T12:30:05.250Z"
    assert message.body.text_at("FirmwareHash") == bytes(range(32)).hex().upper()


def test_non_device_request_defaults_to_command_variant_8():
    assert built_messages()["8.2 request"].command_variant == 8


def test_response_fields_are_typed(bundled_schema):
    data = build(built_messages()["I0 11.2 response"], schema=bundled_schema)
    message = parse_message(data, schema=bundled_schema)
    assert isinstance(message, Response)
    assert message.kind == "response"
    assert message.response_code == "I0"
    assert message.header.when == WHEN.replace(microsecond=250000)
    assert message.service_reference_variant == "11.2"
    assert message.payload == Node("GBCSPayload", "3QAAAAAA")


def test_building_an_invalid_message_raises_with_the_xpath(bundled_schema):
    bad = request(SUPPLIER, ESME, 1, "11.3", node("ActivateFirmware", leaf("FirmwareHash", "AB")))
    with pytest.raises(SchemaInvalid) as caught:
        build(bad, schema=bundled_schema)
    assert caught.value.path.endswith("sr:ActivateFirmware/sr:FirmwareHash")
    assert caught.value.report.issues


def test_uncovered_service_request_is_refused_with_a_pointer_to_the_official_schema(
        bundled_schema):
    data = build(request(SUPPLIER, ESME, 1, "11.2", node("ReadFirmwareVersion")),
                 schema=bundled_schema)
    data = data.replace(b">11.2<", b">4.1.1<").replace(b"<sr:ServiceReference>4.1.1<",
                                                       b"<sr:ServiceReference>4.1<")
    with pytest.raises(NotCovered) as caught:
        parse_message(data, schema=bundled_schema)
    assert "not covered by the bundled schema" in str(caught.value)
    assert "--schema-dir" in str(caught.value)


def test_wrong_root_is_refused():
    with pytest.raises(WrongRoot) as caught:
        parse_message(b"<html><body/></html>", validate=False)
    assert "sr:Request" in str(caught.value)


@pytest.mark.parametrize("text, fragment", [
    ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0", "originatorEUI64:targetEUI64:counter"),
    ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:0017", "leading zeros"),
    ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551616", "at most"),
    ("90-B3-D5-1F-30-01-00:00-DB-12-34-56-78-90-A0:1", "EUI-64"),
])
def test_bad_message_ids_are_refused(text, fragment):
    with pytest.raises(MessageError) as caught:
        MessageID.parse(text)
    assert fragment in str(caught.value)


def test_message_id_accepts_the_full_counter_range():
    top = MessageID.parse("90-b3-d5-1f-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551615")
    assert top.counter == 2**64 - 1
    assert str(top).startswith("90-B3-D5-1F-30-01-00-00:")


def test_mmc_document_round_trips(bundled_schema):
    doc = MMCDocument(Node("ReadFirmwareVersionRsp", None,
                           (Node("FirmwareVersion", "1.2.3", ns=RA),), ns=RA))
    assert doc.kind == "ReadFirmwareVersionRsp"
    data = build(doc, validate=False)
    assert b"<ra:ReadFirmwareVersionRsp" in data
    assert parse_message(data, validate=False) == doc


def test_node_is_an_immutable_value():
    import copy
    import pickle
    from dataclasses import FrozenInstanceError

    from duis.messages.model import Node
    made = Node("A", None, (Node("B", "1"),), attrs=(("x", "y"),))
    same = Node("A", None, (Node("B", "1"),), attrs=(("x", "y"),))
    assert made == same and hash(made) == hash(same) and made is not same
    assert made != Node("A", None, (Node("B", "2"),), attrs=(("x", "y"),))
    assert made != ("A", None, (Node("B", "1"),))
    assert pickle.loads(pickle.dumps(made)) == made and copy.deepcopy(made) == made
    with pytest.raises(FrozenInstanceError):
        made.text = "changed"
    with pytest.raises(FrozenInstanceError):
        del made.name
    assert made.text is None and {made: 1}[same] == 1


# --- the markup a message is built from is its serialization ----------------------------

_AWKWARD_TEXT = st.text(st.characters(blacklist_categories=("Cs",),
                                      blacklist_characters="\x00"), max_size=12).filter(
    lambda text: all(ch in "\t\n\r" or ord(ch) >= 0x20 for ch in text)
    and "\ufffe" not in text and "\uffff" not in text)


def _tree(depth: int = 2):
    leaves = st.builds(lambda name, text: Node(name, text),
                       st.sampled_from(["A", "Bee", "c-d", "E_f"]), _AWKWARD_TEXT)
    attributed = st.builds(lambda name, value: Node(name, None, (), attrs=(("id", value),)),
                           st.sampled_from(["Att", "Other"]), _AWKWARD_TEXT)
    empty = st.builds(lambda name: Node(name), st.sampled_from(["Empty", "Z"]))
    if depth == 0:
        return st.one_of(leaves, attributed, empty)
    return st.one_of(leaves, attributed, empty, st.builds(
        lambda name, children: Node(name, None, tuple(children)),
        st.sampled_from(["Group", "List"]), st.lists(_tree(depth - 1), min_size=1, max_size=3)))


@settings(max_examples=300, deadline=None)
@given(body=_tree(), code=st.sampled_from(["I0", "I99", "E5"]))
def test_build_serialized_gives_exactly_what_lxml_serializes(body, code):
    """``build_serialized`` hands on the markup the element was parsed from instead of
    serializing the element again: for any text (escapes, CR, tabs, non-ASCII,
    quotes), attribute and nesting, the two must be the same bytes."""
    message = response("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000", code,
                       dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC),
                       Node("ResponseMessage", None, (body,)))
    element, serialized = build_serialized(message, validate=False)
    assert serialized == etree.tostring(element, encoding="UTF-8")


def test_build_serialized_validates_and_matches_build_element(bundled_schema):
    message = request("90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0", 7, "11.2",
                      node("ReadFirmwareVersion"))
    element, serialized = build_serialized(message, schema=bundled_schema)
    assert etree.tostring(build_element(message)) == serialized == etree.tostring(element)
    bad = response("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000", "I0",
                   dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC),
                   Node("ResponseMessage", None, (Node("NotInTheSchema", "x"),)))
    with pytest.raises(SchemaInvalid):
        build_serialized(bad, schema=bundled_schema)


# --- bounded parsing of untrusted identifiers (issue 13) -------------------------------

_ID = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:"


@pytest.mark.parametrize("counter, fragment", [
    ("7" * 21, "21 digits"),
    ("7" * 5000, "5000 digits"),  # int() would raise ValueError (Python's 4,300-digit limit)
    ("9" * 100_000, "100000 digits"),
    ("18446744073709551616", "18446744073709551616"),  # 20 digits, one above the range
])
def test_a_long_counter_is_refused_before_int(counter, fragment):
    with pytest.raises(MessageError) as caught:
        MessageID.parse(_ID + counter)
    assert caught.value.found == fragment or fragment in caught.value.found
    assert "at most 18446744073709551615" in caught.value.expected
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("counter", ["١٢", "²", "1_000", "+1", " 1", "1 2"])
def test_a_counter_is_ascii_digits_only(counter):
    """str.isdigit() takes non-ASCII digits ("²" would even make int() raise)."""
    with pytest.raises(MessageError):
        MessageID.parse(_ID + counter)


def test_errors_quote_a_huge_message_id_shortly():
    with pytest.raises(MessageError) as caught:
        MessageID.parse("x" * 1_000_000)
    assert "1000000 characters" in caught.value.found and len(caught.value.found) < 200
    with pytest.raises(MessageError) as caught:
        MessageID.parse("y" * 1_000_000 + ":" + _ID.split(":", 1)[1] + "1")
    assert "1000000 characters" in caught.value.found


def test_long_eui_texts_do_not_go_into_the_cache():
    from duis.messages import ids
    before = ids.eui_cache_size()
    padded = " " * 10_000 + "90-B3-D5-1F-30-01-00-99" + " " * 10_000
    assert EUI64.parse(padded) == EUI64.parse("90-B3-D5-1F-30-01-00-99")
    assert ids.eui_cache_size() <= before + 1  # only the short spelling


def test_a_split_value_is_read_whole_by_the_codec():
    """A comment or PI inside a value: the whole text, as XSD reads it."""
    from duis.messages.codec import from_tree
    text = build(request(SUPPLIER, ESME, 2002, "11.3",
                         node("ActivateFirmware", leaf("FirmwareHash", bytes(range(32))))))
    for inserted in (b"<!-- c -->", b"<?pi x?>"):
        split = text.replace(b":2002<", b":20" + inserted + b"02<").replace(
            b"<sr:CommandVariant>", b"<sr:CommandVariant>" + inserted).replace(
            b"0001020304", b"00010" + inserted + b"20304")
        assert split.count(inserted) == 3
        message = from_tree(etree.fromstring(split))
        assert message == from_tree(etree.fromstring(text))
        assert message.counter == 2002


def test_a_repeated_header_element_is_read_as_the_signature_checks_read_it():
    """Not schema-valid, but from_tree takes any tree: of two RequestIDs (or two
    Headers) it reads the first, as find() and the signature checks do, so the
    counter the replay check records is the one the request carries."""
    from duis.messages.codec import from_tree
    text = build(request(SUPPLIER, ESME, 7, "11.2", node("ReadFirmwareVersion")))
    later = f"<sr:RequestID>{SUPPLIER}:{ESME}:8</sr:RequestID>".encode()
    twice = text.replace(b"</sr:RequestID>", b"</sr:RequestID>" + later)
    assert from_tree(etree.fromstring(twice)).counter == 7
    header = text[text.index(b"<sr:Header>"):text.index(b"</sr:Header>") + 12]
    second = header.replace(b":7<", b":9<")
    assert from_tree(etree.fromstring(text.replace(header, header + second))).counter == 7


@pytest.mark.parametrize("variant", ["1_0", "١", "+1", "1" * 5000])
def test_a_command_variant_is_ascii_digits(variant):
    from duis.messages.codec import from_tree
    text = build(request(SUPPLIER, ESME, 7, "11.2", node("ReadFirmwareVersion")))
    bad = text.replace(b"<sr:CommandVariant>1<", f"<sr:CommandVariant>{variant}<".encode())
    with pytest.raises(MessageError) as caught:
        from_tree(etree.fromstring(bad))
    assert len(caught.value.found) < 100


FIRST_CHILD_CASES = [
    # (children of <p>, the tag asked for, index of the child find() gives or None)
    ("<a/><b/><a/>", "a", 0),
    ("<b/><a/><a/>", "a", 1),
    ("<!--c--><a/>", "a", 1),
    ("<?pi x?><b/><a/>", "a", 2),
    ("<b/><c/>", "a", None),
    ("", "a", None),
    ("text<a/>", "a", 0),
    ("<x:a xmlns:x='urn:x'/><a/>", "a", 1),
    ("<x:a xmlns:x='urn:x'/><a/>", "{urn:x}a", 0),
]


@pytest.mark.parametrize("children, tag, index", FIRST_CHILD_CASES)
def test_first_child_is_what_find_gives(children, tag, index):
    from duis.messages.values import first_child
    parent = etree.fromstring(f"<p>{children}</p>")
    found = first_child(parent, tag)
    assert found is parent.find(tag)
    assert found is (None if index is None else parent[index])


# --- a Node's names and text are what the markup says, or refused --------------------------
# (a name was pasted into the markup as it was: node("ReadInventory/><sr:Injected") built a
# body of two elements; a control character or a lone surrogate in a text raised lxml's or
# the codec's own error)

@pytest.mark.parametrize("body", [
    node("ReadInventory/><sr:Injected"),
    node("a b"),
    node("1abc"),
    node("a:b"),
    node(""),
    Node("ReadInventory", None, (leaf("DeviceID", "x"),), attrs=(('x="1" injected', "v"),)),
])
def test_a_name_that_is_not_an_xml_name_is_refused(body):
    message = request("90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0", 1, "8.2", body)
    for make in (lambda: build(message, validate=False), lambda: serialized(message)):
        with pytest.raises(MessageError, match="not an XML name"):
            make()


@pytest.mark.parametrize("text", ["\x01", "\x00", "\uffff", "\ud800"])
def test_text_xml_cannot_carry_is_refused(text):
    message = request("90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0", 1, "8.2",
                      node("ReadInventory", leaf("DeviceID", text)))
    with pytest.raises(MessageError, match="cannot be written as XML"):
        build(message, validate=False)
