"""The one codec of device messages (duis.gbcs.codec): the model <-> real GBCS on the wire.

- Every use case GBCS defines that duis emulates round-trips through real GBCS, protected
  as GBCS requires between the DCC and the device (MAC'd commands and non-critical
  responses, signed critical responses and alerts, a CS06 command signed and MAC'd).
- One flipped bit anywhere in a protected message is refused with a named error.
- Through the model, the codec gives the Reference Test Data Set's MAC'd commands byte
  for byte (reference keys) and reads its messages into the model, but for firmware
  versions that are not text (the model keeps versions as printable ASCII: refused by
  name).
- What real GBCS cannot carry is refused with the field named.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duis.errors import DuisError
from duis.gbcs import codec, own
from duis.gbcs.keys import WorldKeys, device_key, world_keys
from duis.gbcs.model import (
    ActivateFirmware,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
    ReadFirmwareVersion,
    TopUp,
)
from duis.gbcs.wire import KeyRing, MacInvalid, Protection, SignatureInvalid, Unprotected
from duis.gbcs.wire import decode as wire_decode
from duis.gbcs.wire.certificates import party_keys
from duis.gbcs.wire.errors import WireEncodeError, WireError
from duis.gbcs.wire.usecases import CS06, CS08, ECS52, FUTURE_DATED_ACTIVATION_ALERT, GCS38
from duis.messages.ids import EUI64
from duis.signatures import CredentialStore
from duis.signatures.gbcs import sign_command

# reference: the Reference Test Data Set's messages and key folder (or a skip, saying why)
from .test_gbcs_real_interop import reference  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
STORE = CredentialStore(ROOT / "samples" / "pki")
DSP = STORE.dsp_signing_credential().eui
KEYS = world_keys(STORE, acb=DSP)
USER = EUI64.parse("90-B3-D5-1F-30-01-00-00")
ESME = EUI64.parse("00-DB-12-34-56-78-90-A0")
HASH = bytes.fromhex("9BC9B87DB00B456CB727B38262F1D5ED824ED59E9A23AD3513184D3F7B413FFC")
AT = dt.datetime(2026, 3, 9, 2, 30, tzinfo=dt.UTC)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

devices = st.binary(min_size=7, max_size=7).map(lambda raw: EUI64.parse("00" + raw.hex()))
counters = st.integers(0, 2**64 - 1)
versions = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                   max_size=12)
statuses = st.sampled_from(["success", "noImageHeld", "hashMismatch", "activationFailure"])
instants = st.integers(0, 2**31).map(lambda s: dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
                                      + dt.timedelta(seconds=s))


@st.composite
def real_messages(draw) -> GbcsMessage:
    """A message of a use case real GBCS carries, between the test PKI's supplier and a
    device of the world (keys derived)."""
    device, counter = draw(devices), draw(counters)
    case = draw(st.sampled_from(["read", "report", "activate", "result", "alert"]))
    if case == "read":
        return GbcsMessage(Kind.COMMAND, USER, device, counter,
                           draw(st.sampled_from([ECS52, GCS38, CS08])), ReadFirmwareVersion())
    if case == "report":
        return GbcsMessage(Kind.RESPONSE, device, USER, counter,
                           draw(st.sampled_from([ECS52, GCS38, CS08])),
                           FirmwareVersionReport(draw(versions)))
    if case == "activate":
        return GbcsMessage(Kind.COMMAND, USER, device, counter, CS06,
                           ActivateFirmware(draw(st.binary(min_size=32, max_size=32)),
                                            draw(st.none() | instants)))
    if case == "result":
        result = draw(st.just(ActivationResult(None, None))
                      | st.builds(ActivationResult, statuses, st.none() | versions))
        return GbcsMessage(Kind.RESPONSE, device, USER, counter, CS06, result)
    return GbcsMessage(Kind.ALERT, device, USER, counter, FUTURE_DATED_ACTIVATION_ALERT,
                       FirmwareActivationAlert(draw(statuses), draw(st.none() | versions),
                                               draw(instants), draw(counters)))


# --- round trips, protection ---------------------------------------------------------------

@FAST
@given(real_messages())
def test_encode_then_decode_gives_the_message_back(message):
    data = codec.encode(message, KEYS)
    assert codec.decode(data, KEYS) == message
    assert codec.read(data) == message
    assert codec.encode(message, KEYS) == data  # deterministic


@FAST
@given(real_messages())
def test_each_message_carries_the_protection_gbcs_requires(message):
    data = codec.encode(message, KEYS)
    real = wire_decode(data, KEYS)
    required = codec.protection(message)
    assert real.mac == (Protection.MAC in required)
    assert bool(real.signature) == (Protection.SIGNATURE in required)
    assert data[0] == (0xDD if real.mac else 0xDF)


def test_the_protection_of_each_use_case():
    """Commands MAC'd by the ACB (a CS06 signed by its user too), non-critical responses
    MAC'd by the device, CS06 responses and the activation alert signed by the device."""
    table = {
        (Kind.COMMAND, ECS52): Protection.MAC, (Kind.RESPONSE, ECS52): Protection.MAC,
        (Kind.COMMAND, GCS38): Protection.MAC, (Kind.RESPONSE, GCS38): Protection.MAC,
        (Kind.COMMAND, CS08): Protection.MAC, (Kind.RESPONSE, CS08): Protection.MAC,
        (Kind.COMMAND, CS06): Protection.MAC | Protection.SIGNATURE,
        (Kind.RESPONSE, CS06): Protection.SIGNATURE,
        (Kind.ALERT, FUTURE_DATED_ACTIVATION_ALERT): Protection.SIGNATURE,
        (Kind.COMMAND, 0xF101): Protection.NONE,  # 2.2: the project's own layout
    }
    for (kind, code), wanted in table.items():
        message = GbcsMessage(kind, USER, ESME, 1, code, ReadFirmwareVersion())
        assert codec.protection(message) == wanted, (kind, hex(code))


@FAST
@given(real_messages(), st.data())
def test_one_flipped_bit_anywhere_is_refused_with_a_named_error(message, data):
    raw = bytearray(codec.encode(message, KEYS))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(WireError) as caught:
        codec.decode(bytes(raw), KEYS)
    error = caught.value
    assert isinstance(error, DuisError) and error.expected and error.path


def test_a_forged_mac_and_a_forged_signature_are_named():
    read = GbcsMessage(Kind.RESPONSE, ESME, USER, 7, ECS52, FirmwareVersionReport("2.0.1"))
    data = bytearray(codec.encode(read, KEYS))
    data[-1] ^= 1
    with pytest.raises(MacInvalid):
        codec.decode(bytes(data), KEYS)
    alert = GbcsMessage(Kind.ALERT, ESME, USER, 8, FUTURE_DATED_ACTIVATION_ALERT,
                        FirmwareActivationAlert("success", "2.0.1", AT, 7))
    data = bytearray(codec.encode(alert, KEYS))
    data[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        codec.decode(bytes(data), KEYS)


def test_a_device_key_of_another_world_does_not_verify():
    other = world_keys(STORE, acb=DSP)
    other.add(ESME, "ds", private_key=party_keys(ESME, seed=7).ds)
    alert = GbcsMessage(Kind.ALERT, ESME, USER, 8, FUTURE_DATED_ACTIVATION_ALERT,
                        FirmwareActivationAlert("hashMismatch", None, AT, 7))
    with pytest.raises(SignatureInvalid):
        codec.decode(codec.encode(alert, other), KEYS)


def test_the_own_layout_stays_for_what_gbcs_does_not_define():
    top_up = GbcsMessage(Kind.COMMAND, USER, ESME, 5, 0xF101, TopUp("73018450291736450182"))
    data = codec.encode(top_up, KEYS)
    assert data == own.encode(top_up) and data[0] == own.MAGIC
    assert codec.decode(data, KEYS) == top_up == codec.read(data)


# --- keys ---------------------------------------------------------------------------------

def test_devices_use_their_derived_keys_and_users_the_store():
    ring = world_keys(STORE, acb=DSP)
    assert isinstance(ring, WorldKeys) and ring.acb == DSP
    assert ring.private_key(ESME, "ds").private_numbers() == party_keys(ESME).ds \
        .private_numbers()
    assert ring.private_key(ESME, "ka").private_numbers() == device_key(ESME, "ka") \
        .private_numbers()
    supplier_ds = STORE.for_eui(USER, "ds")[0]
    assert ring.public_key(USER, "ds").public_numbers() == supplier_ds.public_key \
        .public_numbers()
    # a device's certificate in the store does not replace its derived key
    assert STORE.for_eui(ESME, "ds") and not ring.is_dcc_party(ESME)


def test_each_pair_derives_its_shared_secret_once():
    ring = world_keys(STORE, acb=DSP)
    for counter in range(20):
        codec.encode(GbcsMessage(Kind.COMMAND, USER, ESME, counter, ECS52,
                                 ReadFirmwareVersion()), ring)
        codec.encode(GbcsMessage(Kind.RESPONSE, ESME, USER, counter, ECS52,
                                 FirmwareVersionReport("1.0")), ring)
    assert (ring.misses, ring.cached_pairs()) == (2, 2)  # ACB-ESME, ESME-supplier
    assert ring.hits == 38


# --- the critical flow's bytes ---------------------------------------------------------------

def test_a_precommand_has_no_signature_field_and_its_users_signature_verifies():
    command = GbcsMessage(Kind.COMMAND, USER, ESME, 2004, CS06, ActivateFirmware(HASH, AT))
    precommand = codec.precommand(command)
    assert precommand[0] == 0xDF
    assert wire_decode(precommand, KEYS, require=Protection.NONE).signature is None
    key = STORE.for_eui(USER, "ds")[0].private_key
    signed = sign_command(precommand, key)
    assert signed[:len(precommand)] == precommand and signed[len(precommand)] == 0x40
    assert codec.decode(signed, KEYS, require=Protection.SIGNATURE) == command
    assert codec.signed_command(signed) == (command, signed[-64:])
    with pytest.raises(Unprotected):
        codec.decode(precommand, KEYS)  # to the device, a CS06 must be signed and MAC'd
    with pytest.raises(WireEncodeError, match="not a critical command"):
        codec.precommand(GbcsMessage(Kind.COMMAND, USER, ESME, 1, ECS52, ReadFirmwareVersion()))


def test_signing_needs_the_originators_key():
    command = GbcsMessage(Kind.COMMAND, EUI64.parse("90-B3-D5-1F-30-0E-00-00"), ESME, 1, CS06,
                          ActivateFirmware(HASH))
    with pytest.raises(WireEncodeError) as caught:
        codec.encode(command, KeyRing(acb=DSP))
    assert caught.value.path == "signature"


# --- what real GBCS cannot carry ----------------------------------------------------------------

@pytest.mark.parametrize("message, path", [
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, CS06, ActivationResult("notKnown", "1.0")),
     "status"),
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, ECS52, FirmwareVersionReport("1.\u00e9")),
     "firmware version"),
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, ECS52, FirmwareVersionReport("")),
     "firmware version"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, ECS52, ActivateFirmware(HASH)), "payload"),
    (GbcsMessage(Kind.RESPONSE, ESME, USER, 1, CS06, FirmwareVersionReport("1.0")), "payload"),
    (GbcsMessage(Kind.COMMAND, USER, ESME, 1, CS06, ActivateFirmware(HASH[:31])),
     "manufacturer image hash"),
])
def test_encode_refuses_what_real_gbcs_cannot_carry(message, path):
    with pytest.raises(WireEncodeError) as caught:
        codec.encode(message, KEYS)
    assert caught.value.path == path and caught.value.expected


# --- the Reference Test Data Set, through the model -----------------------------------------------

@pytest.fixture(scope="module")
def rtds(request) -> tuple[dict[str, bytes], KeyRing]:
    """The reference messages by file name, and a ring of the reference key folder."""
    return request.getfixturevalue("reference")


#: what each reference message the model carries means in it
RTDS_MEANING = {
    "ECS52_11.2_SUCCESS_COMMAND_GBCS.HEX": (Kind.COMMAND, ECS52, ReadFirmwareVersion),
    "ECS52_11.2_ERROR_COMMAND_GBCS.HEX": (Kind.COMMAND, ECS52, ReadFirmwareVersion),
    "GCS38_11.2_SUCCESS_COMMAND_GBCS.HEX": (Kind.COMMAND, GCS38, ReadFirmwareVersion),
    "GCS38_11.2_ERROR_COMMAND_GBCS.HEX": (Kind.COMMAND, GCS38, ReadFirmwareVersion),
    "CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND_GBCS.HEX": (Kind.COMMAND, CS06, ActivateFirmware),
    "CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE_GBCS.HEX": (Kind.RESPONSE, CS06, ActivationResult),
    "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND_GBCS.HEX": (Kind.COMMAND, CS06, ActivateFirmware),
}
#: reference messages the model refuses, by name: a failed read (the model has none) or
#: a firmware version of octets that are not text
RTDS_REFUSED = {
    "ECS52_11.2_ERROR_RESPONSE_GBCS.HEX": "does not carry",
    "GCS38_11.2_ERROR_RESPONSE_GBCS.HEX": "does not carry",
    "ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX": "not printable ASCII",
    "GCS38_11.2_SUCCESS_RESPONSE_GBCS.HEX": "not printable ASCII",
    "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX": "not printable ASCII",
    "CS06_11.3_IMMEDIATE_ERROR_RESPONSE_GBCS.HEX": "not printable ASCII",
    "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX": "not printable ASCII",
}


@pytest.mark.reference
def test_the_reference_messages_read_into_the_model(rtds):
    messages, ring = rtds
    for name, (kind, code, payload_type) in RTDS_MEANING.items():
        message = codec.decode(messages[name], ring, source=name)
        assert (message.kind, message.message_code, type(message.payload)) == \
            (kind, code, payload_type), name
        assert codec.read(messages[name]) == message, name
    accepted = codec.read(messages["CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE_GBCS.HEX"])
    assert accepted.payload == ActivationResult(None, None)
    future = codec.read(messages["CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND_GBCS.HEX"])
    assert future.payload.execution is not None and len(future.payload.firmware_hash) == 32


@pytest.mark.reference
def test_the_codec_gives_the_reference_macd_messages_byte_for_byte(rtds):
    """From the model, with the reference keys: the MAC'd 11.2 commands exactly."""
    messages, ring = rtds
    names = [name for name in RTDS_MEANING if name.startswith(("ECS52", "GCS38"))]
    assert len(names) == 4
    for name in names:
        model = codec.read(messages[name])
        assert codec.encode(model, ring) == messages[name], name


@pytest.mark.reference
def test_the_model_refuses_what_it_does_not_carry_with_a_named_error(rtds):
    messages, ring = rtds
    assert len(RTDS_MEANING) + len(RTDS_REFUSED) + 4 == 18  # + 3 PreCommands, 1 CS06 command
    for name, why in RTDS_REFUSED.items():
        with pytest.raises(WireError, match=why) as caught:
            codec.read(messages[name], source=name)
        assert caught.value.source == name
        wire_decode(messages[name], ring, source=name)  # real GBCS all the same


def test_a_verified_signature_is_remembered_and_a_forged_one_never():
    from duis.signatures import ecdsa
    key = party_keys(ESME).ds
    data = b"signed by the device"
    signature = ecdsa.sign_raw(key, data, ecdsa.ec.ECDSA(ecdsa.hashes.SHA256()))
    public = key.public_key()
    assert ecdsa.verify_raw(public, data, signature)
    assert (public.public_bytes(ecdsa.serialization.Encoding.X962,
                                ecdsa.serialization.PublicFormat.UncompressedPoint),
            data, signature) in ecdsa._verified
    assert ecdsa.verify_raw(public, data, signature)  # the look-up
    forged = signature[:-1] + bytes((signature[-1] ^ 1,))
    for _ in range(2):
        assert not ecdsa.verify_raw(public, data, forged)
    assert not ecdsa.verify_raw(public, data + b"!", signature)
    assert not ecdsa.verify_raw(public, data, signature[:63])
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    high = r + (ecdsa.P256_ORDER - s).to_bytes(32, "big")  # the twin: verifies too
    assert ecdsa.verify_raw(public, data, high)


def test_the_hop_inside_a_world_does_not_parse_its_own_bytes_again_but_checks_others():
    ring = world_keys(STORE, acb=DSP)
    message = GbcsMessage(Kind.COMMAND, USER, ESME, 77, ECS52, ReadFirmwareVersion())
    data = codec.encode(message, ring)
    assert ring.recall(data) is message
    assert codec.decode(data, ring) is message  # remembered: what parsing would give
    other = world_keys(STORE, acb=DSP)  # another party's ring parses and checks
    decoded = codec.decode(data, other)
    assert decoded == message and decoded is not message
    tampered = bytearray(data)
    tampered[-1] ^= 1
    assert ring.recall(bytes(tampered)) is None
    with pytest.raises(MacInvalid):
        codec.decode(bytes(tampered), ring)
