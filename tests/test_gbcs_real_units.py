"""The real GBCS codec's parts: errors that name where, what and what instead; the key
derivation; the key ring and its cache; certificates; encoding refusals; timings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import pickle

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import duis.gbcs.wire as wire
from duis.errors import DuisError
from duis.gbcs.wire import (
    ActivateFirmwareCommand,
    ActivationAlert,
    ActivationOutcome,
    BadLength,
    Cra,
    DlmsDateTime,
    GbzPayload,
    GroupingHeader,
    KeyRing,
    KeyUnavailable,
    Message,
    Protection,
    TrailingBytes,
    Truncated,
    UnexpectedValue,
    Unsupported,
    WireEncodeError,
    WireError,
    decode,
    encode,
    inspect,
    sign,
)
from duis.gbcs.wire.certificates import (
    add_party,
    certificate,
    certificate_eui,
    derive_key,
    party_keys,
    write_key_folder,
)
from duis.gbcs.wire.crypto import kdf_other_info, mac_key
from duis.gbcs.wire.reader import Reader, length_octets
from duis.gbcs.wire.usecases import (
    activation_alert,
    cs06_command,
    cs06_response,
    ecs52_command,
    ecs52_response,
    gcs38_command,
)
from duis.messages.ids import EUI64
from duis.signatures.ecdsa import is_low_s

ACB = "90-B3-D5-1F-30-0C-00-02"
USER = "90-B3-D5-1F-30-0C-00-00"
DEVICE = "00-DB-12-34-56-78-DD-01"
WHEN = dt.datetime(2030, 1, 15, 9, tzinfo=dt.UTC)
ANY = Protection.NONE


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    ring = KeyRing(acb=ACB)
    for eui in (ACB, USER, DEVICE):
        add_party(ring, party_keys(eui))
    return ring


def ecs52(ring: KeyRing) -> bytes:
    return encode(Message(*ecs52_command(USER, DEVICE, 1000), b"", mac=True), ring)


def alert_message(response_code: int = 0, version: bytes = b"\x01") -> Message:
    """A signed 0x00CA alert from the device."""
    outcome = ActivationOutcome(response_code, version)
    return sign(Message(*activation_alert(DEVICE, USER, 2000, 1001, WHEN, outcome)),
                party_keys(DEVICE).ds)


def refused(data: bytes, ring: KeyRing, *, require: Protection | None = ANY) -> WireError:
    with pytest.raises(WireError) as caught:
        decode(data, ring, require=require, source="test.bin")
    return caught.value


# --- errors: where, what was expected, what was found ---------------------------------------

def test_an_unknown_cra_flag(ring):
    data = bytearray(ecs52(ring))
    data[15] = 7  # DD + 6 + length + security header (5) = 13; DF 09, then the flag
    error = refused(bytes(data), ring)
    assert isinstance(error, UnexpectedValue)
    assert (error.offset, error.field, error.found) == (15, "CRA flag", "0x07")
    assert str(error).startswith("test.bin: unknown CRA flag (at byte 15 (CRA flag)); expected 1")


def test_a_length_not_in_its_shortest_form(ring):
    precommand = encode(Message(*cs06_command(USER, DEVICE, 5, bytes(32))))
    content_at = precommand.index(b"\x02\x00\x12") + 3
    size = precommand[content_at]
    stretched = precommand[:content_at] + b"\x81" + precommand[content_at:]
    error = refused(stretched, ring)
    assert isinstance(error, BadLength)
    assert (error.offset, error.expected, error.found) == (content_at, f"{size:02X}",
                                                           f"81 {size:02X}")


def test_lengths_are_bounded_before_use(ring):
    precommand = encode(Message(*cs06_command(USER, DEVICE, 5, bytes(32))))
    content_at = precommand.index(b"\x02\x00\x12") + 3
    huge = precommand[:content_at] + b"\x83\xff\xff\xff" + precommand[content_at + 1:]
    error = refused(huge, ring)
    assert isinstance(error, Truncated)
    assert error.offset == content_at and error.field == "content length"
    for not_a_length in (b"\x80", b"\x84\x00\x00\x00\x01", b"\xff"):
        error = refused(precommand[:content_at] + not_a_length + precommand[content_at + 1:],
                        ring)
        assert isinstance(error, BadLength) and error.offset == content_at


def test_an_uncovered_message_code_names_its_offset(ring):
    data = bytearray(encode(Message(*cs06_command(USER, DEVICE, 5, bytes(32)))))
    code_at = data.index(b"\x02\x00\x12") + 1
    data[code_at + 1] = 0x13  # CS07
    error = refused(bytes(data), ring)
    assert isinstance(error, Unsupported)
    assert (error.offset, error.field, error.found) == (code_at, "message code",
                                                        "0x0013 with CRA flag 1")


def test_trailing_bytes(ring):
    error = refused(ecs52(ring) + b"\x00", ring)
    assert isinstance(error, TrailingBytes) and error.found == "1 byte more"


def test_not_a_gbcs_frame(ring):
    for data, found in ((b"", "no data"), (b"\xd1\x01", "0xD1")):
        error = refused(data, ring)
        assert isinstance(error, UnexpectedValue)
        assert (error.offset, error.field, error.found) == (0, "frame tag", found)


def test_der_refusals_name_the_field(ring):
    precommand = encode(Message(*cs06_command(USER, DEVICE, 5, bytes(32), WHEN)))
    # a time with a zone offset instead of Z
    bent = precommand.replace(b"20300115090000Z", b"203001150900+00")
    error = refused(bent, ring)
    assert isinstance(error, UnexpectedValue) and error.field == "execution date-time"
    # the counter with a superfluous leading octet: 02 01 05 -> 02 02 00 05 (lengths fixed)
    at = precommand.index(b"\x02\x01\x05")
    sequence_at = at - 2 - 34  # SEQUENCE tag and length, then the hash (04 20 + 32 octets)
    assert precommand[sequence_at] == 0x30
    padded = bytearray(precommand[:at] + b"\x02\x02\x00\x05" + precommand[at + 3:])
    padded[sequence_at + 1] += 1  # SEQUENCE length
    padded[sequence_at - 1] += 1  # content length
    error = refused(bytes(padded), ring)
    assert isinstance(error, UnexpectedValue)
    assert error.field == "originator counter" and error.found == "00 05"


def test_an_alert_code_that_disagrees_with_the_outcome(ring):
    alert = alert_message(1)
    data = encode(alert)
    assert b"\x02\x03\x00\x8f\x67" in data
    wrong = data.replace(b"\x02\x03\x00\x8f\x67", b"\x02\x03\x00\x8f\x66")
    assert isinstance(refused(wrong, ring), wire.SignatureInvalid)  # checked first
    with pytest.raises(UnexpectedValue) as caught:
        inspect(wrong)
    assert caught.value.field == "alert code"
    assert caught.value.offset == wrong.index(b"\x02\x03\x00\x8f\x66")
    payload = alert.payload
    assert isinstance(payload, ActivationAlert)
    with pytest.raises(WireEncodeError):
        encode(dataclasses.replace(alert, payload=dataclasses.replace(payload,
                                                                      alert_code=0x8F66)))


def test_errors_are_duis_errors_and_cross_processes_whole(ring):
    error = refused(ecs52(ring)[:-13], ring)
    assert isinstance(error, DuisError) and error.exit_code == 1
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (again.offset, again.field, str(again)) == (error.offset, error.field, str(error))


def test_keys_missing_are_named(ring):
    stranger = KeyRing(acb=ACB)
    error = refused(ecs52(ring), stranger, require=None)
    assert isinstance(error, KeyUnavailable) and error.field == "MAC"
    no_acb = KeyRing()
    add_party(no_acb, party_keys(DEVICE))
    error = refused(ecs52(ring), no_acb, require=None)
    assert isinstance(error, KeyUnavailable) and "no ACB" in str(error)
    error = refused(encode(alert_message()), stranger, require=None)
    assert isinstance(error, KeyUnavailable) and error.field == "signature"


# --- encoding refusals ---------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    lambda m: dataclasses.replace(m, payload=ActivateFirmwareCommand(bytes(31), 5)),
    lambda m: dataclasses.replace(m, payload=ActivateFirmwareCommand(
        bytes(32), 5, dt.datetime(2030, 1, 1))),
    lambda m: dataclasses.replace(m, payload=ActivateFirmwareCommand(bytes(32), 2**64)),
    lambda m: dataclasses.replace(m, payload=GbzPayload(())),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header, message_code=0x13)),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header, cra=Cra.ALERT)),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header, cra=5)),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header, message_code=[1])),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header,
                                                                originator_counter=-1)),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header, date_time="now")),
    lambda m: dataclasses.replace(m, header=dataclasses.replace(m.header, originator="x")),
    lambda m: dataclasses.replace(m, signature=bytes(63)),
    lambda m: dataclasses.replace(m, mac=True),
])
def test_encode_refuses_what_the_layout_cannot_carry(bad):
    message = Message(*cs06_command(USER, DEVICE, 5, bytes(32)))
    encode(message)
    with pytest.raises(WireEncodeError):
        encode(bad(message))


# --- the MAC key derivation and the key ring --------------------------------------------

def test_the_mac_key_is_the_gbcs_kdf_of_the_pair_secret():
    header = GroupingHeader(Cra.RESPONSE, 0x0102030405060708, EUI64.parse(DEVICE),
                            EUI64.parse(USER), 0x0059)
    other = bytes.fromhex("60857406080300" "00DB12345678DD01" "09" "02"
                          "0102030405060708" "90B3D51F300C0000")
    assert kdf_other_info(header) == other
    secret = party_keys(DEVICE).ka.exchange(ec.ECDH(), party_keys(USER).ka.public_key())
    assert secret == party_keys(USER).ka.exchange(ec.ECDH(), party_keys(DEVICE).ka.public_key())
    expected = hashlib.sha256(b"\x00\x00\x00\x01" + secret + other).digest()[:16]
    assert mac_key(secret, header) == expected
    ring = KeyRing()
    ring.add(USER, "ka", private_key=party_keys(USER).ka)
    ring.add(DEVICE, "ka", public_key=party_keys(DEVICE).ka.public_key())
    assert ring.mac_key(header) == expected  # from the recipient's side
    device_side = KeyRing()
    device_side.add(DEVICE, "ka", private_key=party_keys(DEVICE).ka)
    device_side.add(USER, "ka", public_key=party_keys(USER).ka.public_key())
    assert device_side.mac_key(header) == expected  # and from the originator's


def test_commands_are_mac_d_by_the_acb_pair(ring):
    header, _ = ecs52_command(USER, DEVICE, 1)
    assert ring.mac_parties(header) == (EUI64.parse(ACB), EUI64.parse(DEVICE))
    header, _ = ecs52_response(DEVICE, USER, 1, b"")
    assert ring.mac_parties(header) == (EUI64.parse(DEVICE), EUI64.parse(USER))


def test_the_shared_secret_is_cached_per_pair_and_the_cache_is_bounded():
    parties = [party_keys(f"00-DB-00-00-00-00-00-{i:02X}") for i in range(4)]
    ring = KeyRing(acb=ACB, cache_size=2)
    add_party(ring, party_keys(ACB))
    for party in parties:
        add_party(ring, party, private=False)
    for counter in range(3):
        for party in parties[:2]:
            encode(Message(*ecs52_command(USER, party.eui, counter), b"", mac=True), ring)
    assert (ring.misses, ring.hits, ring.cached_pairs()) == (2, 4, 2)
    for party in parties[2:]:
        encode(Message(*ecs52_command(USER, party.eui, 1), b"", mac=True), ring)
    assert ring.cached_pairs() == 2 and ring.misses == 4
    # re-keying a party forgets its pair: the next MAC uses the new key
    renewed = derive_key("renewed")
    ring.add(parties[3].eui, "ka", public_key=renewed.public_key())
    assert ring.cached_pairs() == 1
    data = encode(Message(*ecs52_command(USER, parties[3].eui, 2), b"", mac=True), ring)
    device = KeyRing(acb=ACB)
    device.add(ACB, "ka", public_key=party_keys(ACB).ka.public_key())
    device.add(parties[3].eui, "ka", private_key=renewed)
    assert decode(data, device).header.originator_counter == 2


def test_a_key_folder_serves_a_ring(tmp_path, ring):
    for eui, device in ((ACB, False), (USER, False), (DEVICE, True)):
        written = write_key_folder(tmp_path, party_keys(eui), device=device)
        assert sorted(p.name for p in written) == sorted(
            f"{EUI64.parse(eui).compact.lower()}-{usage}.{kind}"
            for usage in ("ka", "ds") for kind in ("pem", "key"))
    from_folder = KeyRing(acb=ACB, folders=[tmp_path])
    data = ecs52(ring)
    assert decode(data, from_folder) == decode(data, ring)
    assert from_folder.private_key("00-00-00-00-00-00-00-01", "ka") is None
    public_only = tmp_path / "public"
    public_only.mkdir()
    (public_only / f"{EUI64.parse(DEVICE).compact.lower()}-ds.pem").write_bytes(
        (tmp_path / f"{EUI64.parse(DEVICE).compact.lower()}-ds.pem").read_bytes())
    decoded = decode(encode(alert_message()), KeyRing(folders=[public_only]))
    assert isinstance(decoded.payload, ActivationAlert)
    assert decoded.payload.outcome.response_code == 0


def test_unknown_parties_leave_nothing_behind(tmp_path, ring):
    write_key_folder(tmp_path, party_keys(DEVICE), device=True, private=False)
    folder_ring = KeyRing(acb=ACB, folders=[tmp_path])
    alert = alert_message()
    decode(encode(alert), folder_ring)
    held = folder_ring.held_keys()
    for i in range(50):
        stranger = EUI64.parse(f"00-DB-00-00-00-00-01-{i:02X}")
        forged = dataclasses.replace(alert, header=dataclasses.replace(alert.header,
                                                                        originator=stranger))
        with pytest.raises(KeyUnavailable):
            decode(encode(forged), folder_ring)
        mac_d = Message(*ecs52_response(stranger, USER, i, b""), b"", mac=True)
        with pytest.raises(KeyUnavailable):
            decode(encode(mac_d, ring_with(stranger)), folder_ring)
    assert folder_ring.held_keys() == held and folder_ring.cached_pairs() == 0


def ring_with(eui: EUI64) -> KeyRing:
    ring = KeyRing()
    add_party(ring, party_keys(eui))
    add_party(ring, party_keys(USER), private=False)
    return ring


def test_a_bad_key_file_is_named(tmp_path):
    (tmp_path / "00db12345678dd01-ds.pem").write_bytes(b"not a certificate")
    with pytest.raises(wire.KeyFileError) as caught:
        KeyRing(folders=[tmp_path]).public_key(DEVICE, "ds")
    assert str(caught.value.source).endswith("00db12345678dd01-ds.pem")


# --- certificates ----------------------------------------------------------------------

def test_certificates_name_the_party_where_gbcs_puts_it():
    issuer = derive_key("issuer")
    key = party_keys(DEVICE).ka.public_key()
    device = certificate(DEVICE, "ka", key, issuer, device=True)
    assert device.subject == x509.Name([])
    assert certificate_eui(device) == EUI64.parse(DEVICE)
    san = device.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    usage = device.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_agreement and not usage.value.digital_signature
    user = certificate(USER, "ds", party_keys(USER).ds.public_key(), issuer, device=False)
    assert certificate_eui(user) == EUI64.parse(USER)
    assert user.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    # deterministic
    assert certificate(DEVICE, "ka", key, issuer, device=True) == device


# --- the rest -------------------------------------------------------------------------

def test_signatures_are_deterministic_and_low_s():
    message = Message(*cs06_command(USER, DEVICE, 1, bytes(32)))
    for counter in range(20):
        message = dataclasses.replace(message, header=dataclasses.replace(
            message.header, originator_counter=counter))
        signed = sign(message, party_keys(USER).ds)
        assert signed == sign(message, party_keys(USER).ds)
        assert signed.signature is not None and is_low_s(signed.signature)


def test_dlms_date_time():
    stamp = DlmsDateTime.from_datetime(dt.datetime(2031, 2, 3, 4, 5, 6, 780000, tzinfo=dt.UTC))
    # year, month, day, day of week (unspecified), hour, minute, second, hundredths,
    # deviation (unspecified), clock status (unspecified)
    assert stamp.encode().hex() == "07ef" "02" "03" "ff" "04" "05" "06" "4e" "8000" "ff"
    assert stamp.to_datetime() == dt.datetime(2031, 2, 3, 4, 5, 6, 780000, tzinfo=dt.UTC)
    assert DlmsDateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF).to_datetime() is None
    with pytest.raises(WireEncodeError):
        DlmsDateTime.from_datetime(dt.datetime(2031, 1, 1))


def test_builders_give_the_reference_shapes():
    header, payload = gcs38_command(USER, DEVICE, 3)
    assert encode(Message(header, payload)).hex().endswith("0d01090101070200050000000602")
    _, accepted = cs06_response(DEVICE, USER, 3, None)
    assert accepted.encode() == b"\x05\x00"


def test_lengths():
    assert [length_octets(n).hex() for n in (0, 127, 128, 255, 256, 0xFFFFFF)] == [
        "00", "7f", "8180", "81ff", "820100", "83ffffff"]
    with pytest.raises(ValueError):
        length_octets(0x1000000)
    reader = Reader(b"\x82\x00\x80" + bytes(0x80))
    with pytest.raises(BadLength):
        reader.length("x")


def test_the_public_api():
    assert set(wire.__all__) == {
        "Message", "apdu", "decode", "encode", "encode_payload", "inspect", "sign",
        "signed_bytes", "wrap_mac", "KeyRing", "KEY_AGREEMENT", "DIGITAL_SIGNING",
        "Cra", "DlmsDateTime", "GroupingHeader", "Payload", "Protection", "USE_CASES",
        "CS06", "CS08", "ECS52", "GCS38", "FUTURE_DATED_ACTIVATION_ALERT",
        "CosemAttribute", "DlmsGetRequest", "DlmsGetResponse", "GetResult",
        "AttributeRecord", "GbzComponent", "GbzPayload", "ReadAttributes",
        "ReadAttributesResponse", "ActivateFirmwareCommand", "ActivationAccepted",
        "ActivationAlert", "ActivationOutcome", "FirmwareVersionReport",
        "ReadFirmwareVersionCommand", "WireError", "Truncated", "BadLength", "TrailingBytes",
        "UnexpectedValue", "Unsupported", "Unprotected", "KeyUnavailable", "MacInvalid",
        "SignatureInvalid", "WireEncodeError", "KeyFileError"}
    assert all(hasattr(wire, name) for name in wire.__all__)
    assert {use_case.message_code for use_case in wire.USE_CASES} == {
        0x0012, 0x0059, 0x0084, 0x0129, 0x00CA}
    assert isinstance(ActivationAlert, type)

