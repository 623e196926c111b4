"""The project's own layout (duis.gbcs.own, docs/gbcs.md): the messages real GBCS
gives no form to (11.1 images, 2.2 top-up, 6.23 credentials, their outcome, the comms
hub's power outage alert).

Property tests over every payload type it carries: round trips, determinism, and the
promise that decoding any byte string gives a message or GbcsDecodeError, never
another exception.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from duis.errors import DuisError
from duis.gbcs.model import (
    POWER_OUTAGE_ALERT,
    STATUSES,
    ActivateFirmware,
    CommandOutcome,
    DistributeImage,
    FirmwareVersionReport,
    GbcsMessage,
    ImageDistributionResult,
    Kind,
    PowerOutageAlert,
    TopUp,
    UpdateSecurityCredentials,
)
from duis.gbcs.own import (
    HEADER_BYTES,
    MAGIC,
    PAYLOADS,
    GbcsDecodeError,
    GbcsEncodeError,
    decode,
    encode,
    from_base64,
    to_base64,
)
from duis.messages.ids import EUI64

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
USER = EUI64.parse("90-B3-D5-1F-30-01-00-00")
ESME = EUI64.parse("00-DB-12-34-56-78-90-A0")
HASH = bytes.fromhex("9BC9B87DB00B456CB727B38262F1D5ED824ED59E9A23AD3513184D3F7B413FFC")


# --- strategies ------------------------------------------------------------------

euis = st.binary(min_size=8, max_size=8).map(lambda raw: EUI64.parse(raw.hex()))
u64 = st.integers(0, 2**64 - 1)
xml_chars = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff")
versions = st.text(xml_chars, min_size=1, max_size=8)
hashes = st.binary(min_size=32, max_size=32)
instants = st.integers(0, MAX_SECONDS).map(lambda s: EPOCH + dt.timedelta(seconds=s))
statuses = st.sampled_from(sorted(STATUSES))
small_bytes = st.binary(min_size=1, max_size=80)

PAYLOAD_STRATEGIES = {
    DistributeImage: st.builds(DistributeImage, small_bytes, versions),
    ImageDistributionResult: st.builds(ImageDistributionResult, st.booleans(), hashes),
    TopUp: st.builds(TopUp, st.text("0123456789", min_size=20, max_size=20)),
    UpdateSecurityCredentials: st.builds(UpdateSecurityCredentials, small_bytes),
    CommandOutcome: st.builds(CommandOutcome, statuses),
    PowerOutageAlert: st.builds(PowerOutageAlert, instants, instants),
}
KIND_OF = {spec.cls: spec.kind for spec in PAYLOADS}


ANY_PAYLOAD = st.one_of(*PAYLOAD_STRATEGIES.values())


@st.composite
def messages(draw, payloads=ANY_PAYLOAD):
    payload = draw(payloads)
    code = draw(st.integers(0, 0xFFFF))
    return GbcsMessage(KIND_OF[type(payload)], draw(euis), draw(euis), draw(u64), code, payload)


def top_up(transaction: int = 2005, utrn: str = "73018450291736450182") -> GbcsMessage:
    return GbcsMessage(Kind.COMMAND, USER, ESME, transaction, 0xF101, TopUp(utrn))


def _check_total(data: bytes) -> GbcsMessage | None:
    """decode() either succeeds, and then the bytes are the canonical encoding,
    or raises GbcsDecodeError with a location inside the data."""
    try:
        message = decode(data)
    except GbcsDecodeError as exc:
        assert 0 <= exc.offset <= len(data)
        assert exc.expected and exc.found is not None and exc.path.startswith("byte ")
        return None
    assert encode(message) == data
    return message


# --- properties ------------------------------------------------------------------

def test_every_payload_type_has_a_strategy():
    assert set(PAYLOAD_STRATEGIES) == {spec.cls for spec in PAYLOADS}


@FAST
@given(messages())
def test_round_trip(message):
    assert decode(encode(message)) == message


@pytest.mark.parametrize("cls", list(PAYLOAD_STRATEGIES), ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_per_payload_type(cls, data):
    message = data.draw(messages(PAYLOAD_STRATEGIES[cls]))
    raw = encode(message)
    assert decode(raw) == message
    assert raw[0] == MAGIC and raw[1] == message.kind


@FAST
@given(messages())
def test_encoding_is_deterministic(message):
    copy = GbcsMessage(**{name: getattr(message, name) for name in
                          ("kind", "originator", "target", "transaction", "message_code",
                           "payload")})
    assert encode(message) == encode(copy) == encode(message)


def test_equal_instants_in_other_zones_encode_alike():
    paris = dt.timezone(dt.timedelta(hours=1))
    utc = dt.datetime(2026, 3, 9, 2, 30, tzinfo=UTC)
    hub = EUI64.parse("00-DB-12-34-56-78-90-A1")

    def outage(start: dt.datetime) -> GbcsMessage:
        return GbcsMessage(Kind.ALERT, hub, hub, 1, POWER_OUTAGE_ALERT,
                           PowerOutageAlert(start, utc))

    assert encode(outage(utc)) == encode(outage(utc.astimezone(paris)))


@FAST
@given(messages())
def test_every_truncation_is_refused(message):
    raw = encode(message)
    for size in range(len(raw)):
        with pytest.raises(GbcsDecodeError):
            decode(raw[:size])


@FAST
@given(messages(), st.binary(min_size=1, max_size=70))
def test_trailing_bytes_are_refused(message, extra):
    raw = encode(message)
    with pytest.raises(GbcsDecodeError) as caught:
        decode(raw + extra)
    assert caught.value.offset == len(raw)
    assert caught.value.field == "end of message"


@FAST
@given(st.binary(max_size=200))
@example(b"")
@example(bytes([MAGIC]))
@example(bytes([MAGIC, 1]) + bytes(30))
def test_random_bytes_never_leak_another_exception(data):
    _check_total(data)


@st.composite
def plausible(draw):
    """A valid header over a random payload: reaches the payload parsers."""
    tag = draw(st.integers(0, 12))
    body = bytes([tag]) + draw(st.binary(max_size=60))
    head = bytes([MAGIC, draw(st.integers(0, 4))]) + draw(st.binary(min_size=26, max_size=26))
    declared = draw(st.sampled_from([len(body), len(body) - 1, len(body) + 1]))
    return head + max(declared, 0).to_bytes(4, "big") + body


@FAST
@given(plausible())
def test_random_payloads_never_leak_another_exception(data):
    _check_total(data)


@FAST
@given(messages(), st.data())
def test_single_byte_changes_give_a_message_or_a_decode_error(message, data):
    raw = bytearray(encode(message))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    _check_total(bytes(raw))


# --- the layout, byte for byte -----------------------------------------------------------

def test_golden_top_up():
    raw = encode(top_up())
    assert raw.hex().upper() == (
        "D1" "01" "90B3D51F30010000" "00DB1234567890A0" "00000000000007D5" "F101" "00000016"
        "08" "14" + b"73018450291736450182".hex().upper())
    assert len(raw) == HEADER_BYTES + 0x16


def test_golden_power_outage_alert():
    """MP102B: a comms hub's power outage alert (0xF1A0), outage start then raise time."""
    hub = EUI64.parse("00-DB-12-34-56-78-90-A1")
    alert = GbcsMessage(Kind.ALERT, hub, hub, 1, POWER_OUTAGE_ALERT, PowerOutageAlert(
        dt.datetime(2026, 3, 9, 2, 30, tzinfo=UTC), dt.datetime(2026, 3, 9, 2, 33, tzinfo=UTC)))
    raw = encode(alert)
    assert raw[26:28].hex().upper() == "F1A0"
    assert raw[HEADER_BYTES:].hex().upper() == "0B" "0000000069AE30A8" "0000000069AE315C"
    assert decode(raw) == alert


# --- decode errors name the place ------------------------------------------------------------

def _payload_message(payload_hex: str, kind: int = 1, code: int = 0xF101) -> bytes:
    payload = bytes.fromhex(payload_hex)
    return (bytes([MAGIC, kind]) + USER.raw + ESME.raw + (7).to_bytes(8, "big")
            + code.to_bytes(2, "big") + len(payload).to_bytes(4, "big") + payload)


DECODE_ERRORS = [
    (b"\x00" + bytes(40), 0, "magic", "0x00"),
    (bytes([MAGIC, 9]) + bytes(40), 1, "kind", "9"),
    (_payload_message("7F"), 32, "payload tag", "0x7F"),
    (_payload_message("01"), 32, "payload tag", "0x01"),  # a firmware read: real GBCS now
    (_payload_message("06" "00000001" "AA" "09" "313233343536373839"), 38,
     "DistributeImage.firmware_version", "'123456789'"),
    (_payload_message("06" "00000001" "AA" "02" "C328"), 39,
     "DistributeImage.firmware_version", "byte 0xC3 at offset 39"),
    (_payload_message("0B" "FFFFFFFFFFFFFFFF" + "00" * 8, kind=3), 33,
     "PowerOutageAlert.start", "18446744073709551615"),
    (_payload_message("07" "01" "1F" + "00" * 31, kind=2), 34,
     "ImageDistributionResult.firmware_hash length", "31 bytes"),
    (_payload_message("0A" "02", kind=2), 33, "CommandOutcome.status", "2"),
    (_payload_message("08" "14" + "41" * 20), 33, "TopUp.utrn", "'" + "A" * 20 + "'"),
    (_payload_message("06" "00000000" "01" "31"), 33, "DistributeImage.image length", "0 bytes"),
    (_payload_message("06" "00001000" "01"), 37, "DistributeImage.image", "1 byte left"),
    (_payload_message("07" "02" + "20" + "00" * 32, kind=2), 33,
     "ImageDistributionResult.verified", "0x02"),
    (_payload_message("0A" "00"), 1, "kind", "1 (command)"),
]


@pytest.mark.parametrize("data, offset, field, found", DECODE_ERRORS,
                         ids=[f"{row[2]}-{row[3]}" for row in DECODE_ERRORS])
def test_decode_errors_name_offset_field_and_finding(data, offset, field, found):
    with pytest.raises(GbcsDecodeError) as caught:
        decode(data, source="test.bin")
    error = caught.value
    assert (error.offset, error.field) == (offset, field)
    assert found in error.found
    assert error.source == "test.bin" and f"byte {offset} ({field})" in str(error)
    assert isinstance(error, DuisError) and error.exit_code == 1


def test_payload_length_overrun():
    raw = bytearray(encode(top_up()))
    raw[28:32] = (1000).to_bytes(4, "big")
    with pytest.raises(GbcsDecodeError) as caught:
        decode(bytes(raw))
    assert (caught.value.offset, caught.value.field) == (28, "payload length")


def test_decode_refuses_text():
    with pytest.raises(GbcsDecodeError):
        decode("D101")  # type: ignore[arg-type]


# --- encode refuses what the layout cannot carry ------------------------------------------------

ENCODE_ERRORS = [
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, 0x0059, FirmwareVersionReport("1.0")), "payload"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0x0012, ActivateFirmware(HASH)), "payload"),
    (top_up(transaction=2**64), "transaction"),
    (top_up(transaction=-1), "transaction"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0x10000, TopUp("1" * 20)), "message_code"),
    (GbcsMessage(Kind.RESPONSE, USER, ESME, 1, 0xF101, TopUp("1" * 20)), "kind"),
    (top_up(utrn="1234"), "TopUp.utrn"),
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, 0xF101, CommandOutcome("great")),
     "CommandOutcome.status"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0xF104, DistributeImage(b"", "1.0")),
     "DistributeImage.image"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0xF104, DistributeImage(b"1", "123456789")),
     "DistributeImage.firmware_version"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0xF104, DistributeImage(b"1", "a\nb")),
     "DistributeImage.firmware_version"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0xF103, UpdateSecurityCredentials("PEM")),
     "UpdateSecurityCredentials.certificate"),
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, 0xF104, ImageDistributionResult(1, HASH)),
     "ImageDistributionResult.verified"),
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, 0xF104, ImageDistributionResult(True, bytes(31))),
     "ImageDistributionResult.firmware_hash"),
    (GbcsMessage(Kind.ALERT, ESME, ESME, 1, 0xF1A0, PowerOutageAlert(
        dt.datetime(2026, 3, 9, 2, 30), EPOCH)), "PowerOutageAlert.start"),
    (GbcsMessage(Kind.ALERT, ESME, ESME, 1, 0xF1A0, PowerOutageAlert(
        EPOCH, dt.datetime(2026, 3, 9, 2, 30, 0, 500, tzinfo=UTC))), "PowerOutageAlert.raised"),
    (GbcsMessage(Kind.COMMAND, "90-B3", ESME, 1, 0xF101, TopUp("1" * 20)), "originator"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, 0xF101, object()), "payload"),
]


@pytest.mark.parametrize("message, path", ENCODE_ERRORS,
                         ids=[f"{i}-{row[1]}" for i, row in enumerate(ENCODE_ERRORS)])
def test_encode_refuses_what_the_layout_cannot_carry(message, path):
    with pytest.raises(GbcsEncodeError) as caught:
        encode(message)
    assert caught.value.path == path
    assert caught.value.expected


# --- base64 ------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=200))
def test_base64_round_trip(data):
    text = to_base64(data)
    assert "\n" not in text and from_base64(text) == data


def test_base64_ignores_whitespace_and_refuses_junk():
    raw = encode(top_up())
    text = to_base64(raw)
    assert from_base64("  " + text[:10] + "\n  " + text[10:] + "\n") == raw
    for junk in ("not base64!", "QQ=", "é"):
        with pytest.raises(GbcsDecodeError) as caught:
            from_base64(junk, source="x.xml")
        assert caught.value.field == "GBCSPayload" and caught.value.source == "x.xml"
