"""The DSP's Responder lays its usual messages out from templates
(:class:`duis.messages.template.TemplateBook`): every message it fills in is, byte for
byte, the one built and validated the long way, and what the schema refuses is refused
even after valid messages of the same shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duis.clock import FixedClock
from duis.dsp.firmware_reports import AlertIntent
from duis.dsp.responses import Responder
from duis.dsp.seal import seal
from duis.errors import SchemaInvalid
from duis.gbcs.model import FirmwareVersionReport, GbcsMessage, Kind
from duis.messages import EUI64, request
from duis.messages.codec import build_serialized
from duis.messages.template import SEEN_MAX, TemplateBook
from duis.signatures import CredentialStore
from duis.signatures.sign import signable_form
from duis.smi import Device

NOW = dt.datetime(2026, 3, 1, 9, 0, 0, 123000, tzinfo=dt.UTC)
DSP_EUI, SUPPLIER = "00-00-00-00-00-00-00-01", "90-B3-D5-1F-30-01-00-00"
NETWORK_OPERATOR, ESME = "90-B3-D5-1F-30-05-00-00", "00-DB-12-34-56-78-90-A0"
COUNTERS = st.integers(min_value=0, max_value=2**64 - 1)
#: response codes: some the schema has, some it has not
CODES = st.sampled_from(["I0", "I99", "E5", "E20", "E21", "E10", "I", "X9", "e5", "I0 "])
#: firmware versions as the SMI or a device may hold them: at most 8 characters is valid
STORE = CredentialStore(Path(__file__).resolve().parents[1] / "samples" / "pki")
VERSIONS = st.text(st.sampled_from('AZaz09.-_ &<>"') | st.sampled_from("é\t"),
                   min_size=0, max_size=10)
DEVICE_TYPES = st.sampled_from(["ESME", "GSME", "PPMID", "HCALCS"])
PAYLOADS = st.binary(min_size=0, max_size=80)


def _responders() -> tuple[Responder, Responder]:
    """(warm, cold): warm has filled in templates of every shape the tests use (with
    other texts), cold has none, so its first message of a shape takes the long way."""
    warm = Responder(DSP_EUI, FixedClock(NOW))
    cold = Responder(DSP_EUI, FixedClock(NOW))
    req = _request(1)
    warm.answer(req, "I99")
    warm.precommand(req, b"\xdf\x09")
    warm.device_response(req, _reply(1), b"\xdd\x00")
    warm.device_alert(_alert(), b"\xdf\x01")
    for intent in (_intent("N29", "ESME", "1.0", "1.1"), _intent("N28", "ESME", "1.0", "1.1")):
        warm.dcc_alert(intent)
    cold.counter.last = warm.counter.last  # the next alert IDs are the same
    return warm, cold


def _request(counter: int, variant: str = "11.2"):
    from duis.messages import node
    return request(SUPPLIER, ESME, counter, variant, node("ReadFirmwareVersion"))


def _reply(counter: int) -> GbcsMessage:
    return GbcsMessage(Kind.RESPONSE, EUI64.parse(ESME), EUI64.parse(SUPPLIER), counter, 0x0059,
                       FirmwareVersionReport("1.1"))


def _alert() -> GbcsMessage:
    return GbcsMessage(Kind.ALERT, EUI64.parse(ESME), EUI64.parse(SUPPLIER), 5, 0x00CA,
                       FirmwareVersionReport("1.1"))


def _intent(code: str, device_type: str, smi: str, reported: str) -> AlertIntent:
    device = Device(ESME, device_type, "Acme", "AM-E2", "SMETS2", "Suspended", "Commissioned",
                    "1.0", None, SUPPLIER, NETWORK_OPERATOR)
    return AlertIntent(code, (SUPPLIER, NETWORK_OPERATOR), device, smi, reported)


def _same(call) -> None:
    """``call(responder)`` gives the same bytes (or the same refusal) from a responder
    whose template of that shape is ready as from one building it the long way."""
    warm, cold = _responders()
    try:
        expected = [out.xml for out in _list(call(cold))]
    except SchemaInvalid:
        with pytest.raises(SchemaInvalid):
            call(warm)
        return
    filled = _list(call(warm))
    assert [out.xml for out in filled] == expected
    # and the long way agrees: what build_serialized gives, validated
    for xml in expected:
        assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    # a filled message carries its Canonical XML when its texts fit a template: the
    # very octets its signature digests, so sealing it gives the same bytes
    for out in filled:
        assert out.canonical is None or out.canonical == signable_form(out.xml)
        if out.canonical is not None:
            assert seal([out], STORE, NOW) == seal([replace(out, canonical=None)], STORE, NOW)


def _list(result):
    return result if isinstance(result, list) else [result]


@settings(max_examples=60, deadline=None)
@given(counter=COUNTERS, code=CODES)
def test_answers(counter, code):
    _same(lambda r: r.answer(_request(counter), code))


@settings(max_examples=40, deadline=None)
@given(counter=COUNTERS, payload=PAYLOADS)
def test_precommands(counter, payload):
    _same(lambda r: r.precommand(_request(counter, "11.3"), payload))


@settings(max_examples=40, deadline=None)
@given(counter=COUNTERS, transaction=COUNTERS, payload=PAYLOADS)
def test_device_responses(counter, transaction, payload):
    _same(lambda r: r.device_response(_request(counter), _reply(transaction), payload))


@settings(max_examples=20, deadline=None)
@given(payload=PAYLOADS)
def test_device_alerts(payload):
    _same(lambda r: r.device_alert(_alert(), payload))


@settings(max_examples=80, deadline=None)
@given(code=st.sampled_from(["N29", "N28"]), device_type=DEVICE_TYPES, smi=VERSIONS,
       reported=VERSIONS)
def test_dcc_alerts(code, device_type, smi, reported):
    _same(lambda r: r.dcc_alert(_intent(code, device_type, smi, reported)))


def test_the_long_way_is_build_serialized_of_the_typed_message():
    from duis.messages import response, response_message
    _, cold = _responders()
    req = _request(7)
    out = cold.answer(req, "I99")
    message = response(req.request_id, "I99", NOW, response_message("11.2"))
    assert out.xml == b'<?xml version="1.0" encoding="UTF-8"?>\n' + build_serialized(message)[1]


def test_a_code_the_schema_refuses_is_refused_after_valid_ones_of_that_shape():
    warm, _ = _responders()
    for code in ("I0", "I99", "E5"):
        warm.answer(_request(2), code)
    with pytest.raises(SchemaInvalid, match="ResponseCode"):
        warm.answer(_request(3), "NOPE")
    with pytest.raises(SchemaInvalid, match="FirmwareVersion"):
        warm.dcc_alert(_intent("N28", "ESME", "1.0", "123456789"))


def test_a_foreign_text_is_remembered_per_place_up_to_a_bound():
    written: list[bool] = []

    def write(document, validate):
        written.append(validate)
        return f"<x>{document}</x>".encode()

    book = TemplateBook(write, foreign=frozenset({"v"}))
    layout = lambda t: t["v"]  # noqa: E731 - the document is the text itself
    for number in range(SEEN_MAX + 10):
        book.render(layout, "x", {"v": f"{number}"})
    long_ways = written.count(True)
    assert long_ways == SEEN_MAX + 10  # every new text, validated once
    written.clear()
    book.render(layout, "x", {"v": "5"})
    book.render(layout, "x", {"v": f"{SEEN_MAX + 5}"})  # seen, but beyond the bound
    assert written == [True]


def test_the_usual_messages_come_with_their_canonical_xml():
    """Every shape the DSP fills in, with usual texts, comes with its Canonical XML."""
    warm, _ = _responders()
    req = _request(9)
    outs = [warm.answer(req, "I99"), warm.precommand(req, b"\xdf\x09"),
            warm.device_response(req, _reply(9), b"\xdd\x01"),
            warm.device_alert(_alert(), b"\xdf\x02"),
            *warm.dcc_alert(_intent("N29", "ESME", "1.0", "1.1"))]
    for out in outs:
        assert out.canonical is not None and out.canonical == signable_form(out.xml), out.kind


PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                   max_size=12)


@settings(max_examples=200, deadline=None)
@given(first=PRINTABLE, second=PRINTABLE, text=PRINTABLE)
def test_a_template_escapes_each_text_as_its_place_wants(first, second, text):
    """Each text is escaped as its place is in each form: lxml escapes ">" and '"' in
    an attribute value, C14N leaves ">" there as it is, and a value before a text's
    place (a fixed one holding ">", another text's) does not hide where it is."""
    from lxml import etree

    def write(document, validate):
        element = etree.Element("x", fixed="a>b", v=document["v"], w=document["w"])
        element.text = document["t"]
        return etree.tostring(element)

    def canonical(data):
        return etree.tostring(etree.fromstring(data), method="c14n")

    book = TemplateBook(write, canonical=canonical)
    layout = lambda t: t  # noqa: E731 - the texts are the document
    book.render(layout, "x", {"v": "one", "w": "two", "t": "three"})
    texts = {"v": first, "w": second, "t": text}
    document, filled = book.render_with_canonical(layout, "x", texts)
    assert document == write(texts, True)
    assert filled is not None and filled == canonical(document)
