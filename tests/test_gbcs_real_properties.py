"""Properties of the real GBCS codec, with keys it generates (no reference data needed).

- encode then decode gives the same message, for every structure covered;
- whatever decodes encodes back to the same bytes (only canonical encodings decode);
- one flipped bit anywhere in a MAC'd or signed message is refused, with a named error;
- any byte string either decodes or raises a :class:`WireError`: never anything else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duis.gbcs.wire import (
    ActivateFirmwareCommand,
    ActivationAccepted,
    ActivationAlert,
    ActivationOutcome,
    AttributeRecord,
    BadLength,
    CosemAttribute,
    Cra,
    DlmsDateTime,
    DlmsGetRequest,
    DlmsGetResponse,
    FirmwareVersionReport,
    GbzComponent,
    GbzPayload,
    GetResult,
    GroupingHeader,
    KeyRing,
    KeyUnavailable,
    MacInvalid,
    Message,
    Payload,
    Protection,
    ReadAttributes,
    ReadAttributesResponse,
    ReadFirmwareVersionCommand,
    SignatureInvalid,
    TrailingBytes,
    Truncated,
    UnexpectedValue,
    Unprotected,
    Unsupported,
    WireError,
    decode,
    encode,
    inspect,
    sign,
)
from duis.gbcs.wire.certificates import add_party, party_keys
from duis.gbcs.wire.firmware import alert_code_for
from duis.gbcs.wire.usecases import (
    CS06,
    CS08,
    ECS52,
    FUTURE_DATED_ACTIVATION_ALERT,
    GCS38,
    activation_alert,
    cs06_command,
    cs06_response,
    cs08_command,
    cs08_response,
    ecs52_command,
    ecs52_response,
    gcs38_command,
    gcs38_response,
)
from duis.gbcs.wire.zigbee import FIXED_SIZE_TYPES
from duis.messages.ids import EUI64

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACB = "90-B3-D5-1F-30-0B-00-02"
USER = "90-B3-D5-1F-30-0B-00-00"
DEVICE = "00-DB-12-34-56-78-EE-01"
PARTIES = {eui: party_keys(eui, seed=7) for eui in (ACB, USER, DEVICE)}


def full_ring() -> KeyRing:
    ring = KeyRing(acb=ACB)
    for party in PARTIES.values():
        add_party(ring, party)
    return ring


RING = full_ring()
#: no protection required: these tests make messages with any protection, or none
ANY = Protection.NONE

# --- strategies -------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
counters = st.integers(0, 2**64 - 1)
euis = st.binary(min_size=8, max_size=8).map(lambda raw: EUI64.parse(raw.hex()))
instants = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31),
                        timezones=st.just(dt.UTC)).map(lambda v: v.replace(microsecond=0))
date_times = st.none() | st.builds(DlmsDateTime, year=u16, month=u8, day=u8, hour=u8,
                                   minute=u8, second=u8, hundredths=u8, day_of_week=u8,
                                   deviation=u16, clock_status=u8)
versions = st.binary(max_size=255)

dlms_requests = st.builds(
    DlmsGetRequest, st.integers(0, 2**32 - 1),
    st.lists(st.builds(CosemAttribute, u16, st.binary(min_size=6, max_size=6), u8),
             max_size=4).map(tuple))
dlms_responses = st.builds(
    DlmsGetResponse, st.integers(0, 2**32 - 1),
    st.lists(st.builds(GetResult, st.none() | st.binary(max_size=300), u8),
             max_size=4).map(tuple))


@st.composite
def attribute_records(draw: st.DrawFn) -> AttributeRecord:
    attribute = draw(u16)
    status = draw(u8)
    if status:
        return AttributeRecord(attribute, status)
    data_type = draw(st.sampled_from([0x41, 0x42, *FIXED_SIZE_TYPES]))
    size = FIXED_SIZE_TYPES.get(data_type)
    value = draw(st.binary(max_size=254) if size is None
                 else st.binary(min_size=size, max_size=size))
    return AttributeRecord(attribute, 0, data_type, value)


zcl_commands = (st.lists(u16, max_size=5).map(lambda ids: ReadAttributes(tuple(ids)))
                | st.lists(attribute_records(), max_size=4).map(
                    lambda records: ReadAttributesResponse(tuple(records))))
gbz_payloads = st.lists(st.builds(
    GbzComponent, u16, u8.map(lambda v: v & ~0x07), zcl_commands, u8,
    u8.map(lambda v: v & ~0x12)), max_size=3).map(lambda cs: GbzPayload(tuple(cs)))
outcomes = st.builds(ActivationOutcome, st.integers(0, 3), versions)


@st.composite
def alerts(draw: st.DrawFn) -> ActivationAlert:
    outcome = draw(outcomes)
    return ActivationAlert(alert_code_for(outcome), draw(instants), draw(counters), outcome)


#: (message code, CRA flag, payloads) of every structure covered
SHAPES: list[tuple[int, Cra, st.SearchStrategy[Payload]]] = [
    (ECS52, Cra.COMMAND, dlms_requests),
    (ECS52, Cra.RESPONSE, dlms_responses),
    (GCS38, Cra.COMMAND, gbz_payloads),
    (GCS38, Cra.RESPONSE, gbz_payloads),
    (CS08, Cra.COMMAND, st.just(ReadFirmwareVersionCommand())),
    (CS08, Cra.RESPONSE, st.builds(FirmwareVersionReport, versions, st.integers(0, 1))),
    (CS06, Cra.COMMAND, st.builds(ActivateFirmwareCommand, st.binary(min_size=32, max_size=32),
                                  counters, st.none() | instants)),
    (CS06, Cra.RESPONSE, st.just(ActivationAccepted()) | outcomes),
    (FUTURE_DATED_ACTIVATION_ALERT, Cra.ALERT, alerts()),
]


@st.composite
def messages(draw: st.DrawFn, *, between_parties: bool = False) -> Message:
    """Any covered message; with ``between_parties`` one between the test's parties
    (so that its MAC can be made and checked), signed by its originator if at all."""
    code, cra, payloads = draw(st.sampled_from(SHAPES))
    if between_parties:
        originator, recipient = (USER, DEVICE) if cra == Cra.COMMAND else (DEVICE, USER)
        origin, target = EUI64.parse(originator), EUI64.parse(recipient)
    else:
        origin, target = draw(euis), draw(euis)
    header = GroupingHeader(cra, draw(counters), origin, target, code, draw(date_times))
    message = Message(header, draw(payloads), draw(st.sampled_from([None, b""])),
                      draw(st.booleans()))
    if between_parties:
        if draw(st.booleans()):
            message = sign(message, PARTIES[str(origin)].ds)
    else:
        message = dataclasses.replace(message, signature=draw(
            st.sampled_from([None, b""]) | st.binary(min_size=64, max_size=64)))
    return message


# --- round trips --------------------------------------------------------------------

def ring_for(message: Message) -> KeyRing:
    """A ring that can MAC ``message`` whoever its parties (keys derived on the spot)."""
    ring = KeyRing(acb=ACB)
    for eui in {ACB, str(message.header.originator), str(message.header.recipient)}:
        add_party(ring, PARTIES.get(eui) or party_keys(eui, seed=7))
    return ring


@FAST
@given(messages())
def test_encode_then_inspect_gives_the_same_message(message):
    ring = ring_for(message)
    data = encode(message, ring)
    assert inspect(data) == message
    assert encode(inspect(data), ring) == data
    if not message.signature:  # nothing signed that the ring cannot check
        assert decode(data, ring, require=ANY) == message


@FAST
@given(messages(between_parties=True))
def test_encode_then_decode_gives_the_same_message(message):
    data = encode(message, RING)
    assert decode(data, RING, require=ANY) == message
    assert encode(decode(data, RING, require=ANY), RING) == data


@settings(max_examples=60, deadline=None)
@given(messages(between_parties=True), st.data())
def test_a_flipped_bit_is_refused(message, data):
    if not message.mac and not message.signature:
        message = dataclasses.replace(message, mac=True)
    encoded = encode(message, RING)
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    flipped = bytearray(encoded)
    flipped[bit // 8] ^= 0x80 >> bit % 8
    with pytest.raises(WireError) as caught:
        decode(bytes(flipped), RING, require=ANY)
    assert type(caught.value) is not WireError  # always a named subclass
    assert 0 <= caught.value.offset < len(encoded)


def _samples() -> dict[str, Message]:
    user, device = PARTIES[USER], PARTIES[DEVICE]
    when = dt.datetime(2030, 1, 15, 9, tzinfo=dt.UTC)
    stamp = DlmsDateTime(2015, 1, 1, 0, 0, 0)
    return {
        "ECS52 command": Message(*ecs52_command(USER, DEVICE, 1000), b"", mac=True),
        "ECS52 response": Message(*ecs52_response(DEVICE, USER, 1000, b"\x01\x23"), b"",
                                  mac=True),
        "GCS38 command": Message(*gcs38_command(USER, DEVICE, 1000), b"", mac=True),
        "GCS38 response": Message(*gcs38_response(DEVICE, USER, 1000, b"\x01"), b"", mac=True),
        "CS08 command": Message(*cs08_command(USER, DEVICE, 9), b"", mac=True),
        "CS08 response": Message(*cs08_response(DEVICE, USER, 9, b"\x07"), b"", mac=True),
        "CS06 command": sign(Message(*cs06_command(USER, DEVICE, 1001, bytes(32), when),
                                     mac=True), user.ds),
        "CS06 signed precommand": sign(Message(*cs06_command(USER, DEVICE, 1001, bytes(32))),
                                       user.ds),
        "CS06 accepted": sign(Message(*cs06_response(DEVICE, USER, 1001, None, stamp)),
                              device.ds),
        "CS06 outcome": sign(Message(*cs06_response(DEVICE, USER, 1001,
                                                    ActivationOutcome(1, b"\x02"))), device.ds),
        "alert": sign(Message(*activation_alert(DEVICE, USER, 2000, 1001, when,
                                                ActivationOutcome(0, b"\x03"))), device.ds),
    }


@pytest.mark.parametrize("name", sorted(_samples()))
def test_every_single_bit_flip_of_a_sample_is_refused(name):
    encoded = encode(_samples()[name], RING)
    kinds: set[str] = set()
    for bit in range(len(encoded) * 8):
        flipped = bytearray(encoded)
        flipped[bit // 8] ^= 0x80 >> bit % 8
        with pytest.raises(WireError) as caught:
            decode(bytes(flipped), RING, require=ANY)
        assert isinstance(caught.value, (Truncated, BadLength, TrailingBytes, UnexpectedValue,
                                         Unsupported, KeyUnavailable, MacInvalid,
                                         SignatureInvalid)), caught.value
        kinds.add(type(caught.value).__name__)
    assert kinds & {"MacInvalid", "SignatureInvalid"}


# --- hostile input ----------------------------------------------------------------------

@FAST
@given(st.binary(max_size=400))
def test_any_bytes_decode_or_raise_a_wire_error(data):
    for candidate in (data, b"\xdf" + data, b"\xdd" + bytes(6) + data):
        try:
            decode(candidate, RING)
        except WireError:
            pass


@FAST
@given(messages(between_parties=True), st.data())
def test_mutated_messages_decode_or_raise_a_wire_error(message, data):
    encoded = bytearray(encode(message, RING))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(encoded) - 1))
        encoded[at] = data.draw(u8)
    cut = data.draw(st.integers(0, len(encoded)))
    for candidate in (bytes(encoded), bytes(encoded[:cut]), bytes(encoded) + b"\x00"):
        for reader in (lambda d: decode(d, RING, require=ANY), inspect):
            try:
                again = reader(candidate)
            except WireError:
                continue
            # whatever decodes is canonical: it encodes back to the same bytes (but for the
            # MAC, which inspect does not check and encode computes afresh)
            cut_mac = -12 if again.mac and reader is inspect else None
            assert encode(again, ring_for(again))[:cut_mac] == candidate[:cut_mac]


@pytest.mark.parametrize("name", sorted(_samples()))
def test_every_truncation_is_refused(name):
    """Cutting off a signature leaves a well-formed message: the protection its use case
    requires (the default) is what refuses it."""
    message = _samples()[name]
    encoded = encode(message, RING)
    require = Protection.SIGNATURE if name == "CS06 signed precommand" else None
    decode(encoded, RING, require=require)
    for size in range(len(encoded)):
        with pytest.raises(WireError):
            decode(encoded[:size], RING, require=require)


def test_what_each_use_case_requires():
    samples = _samples()
    for name in ("ECS52 command", "CS06 command", "CS08 response"):
        unmacd = dataclasses.replace(samples[name], mac=False)
        with pytest.raises(Unprotected):
            decode(encode(unmacd), RING)
    for name in ("CS06 accepted", "CS06 outcome", "alert", "CS06 command"):
        for signature in (None, b""):
            unsigned = dataclasses.replace(samples[name], signature=signature)
            with pytest.raises(Unprotected) as caught:
                decode(encode(unsigned, RING), RING)
            assert caught.value.field == "signature"
    # a SignedPreCommand (user to DCC) needs the signature alone; a PreCommand nothing
    signed = encode(samples["CS06 signed precommand"])
    assert decode(signed, RING, require=Protection.SIGNATURE).signature
    precommand = encode(dataclasses.replace(samples["CS06 signed precommand"], signature=None))
    assert decode(precommand, RING, require=Protection.NONE).signature is None
