"""Real GBCS against the reference messages (RTDS 4.5.0) and the DCC parser's key store.

Every reference message decodes with the reference keys (MAC and signature checked)
and encodes back to the same bytes; messages built from explicit fields reproduce the
MAC'd ones; the CS06 PreCommand / signed command / MAC'd command chain holds.  The
comparison with the DCC parser's own reading is in ``test_gbcs_real_interop.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from duis.gbcs.wire import (
    ActivateFirmwareCommand,
    ActivationAccepted,
    ActivationAlert,
    ActivationOutcome,
    Cra,
    DlmsDateTime,
    GroupingHeader,
    KeyRing,
    MacInvalid,
    Message,
    Payload,
    Protection,
    SignatureInvalid,
    Unprotected,
    decode,
    encode,
    inspect,
    sign,
    wrap_mac,
)
from duis.gbcs.wire.certificates import certificate_eui
from duis.gbcs.wire.codec import apdu, signed_bytes
from duis.gbcs.wire.crypto import signature_matches
from duis.gbcs.wire.usecases import (
    activation_alert,
    cs06_command,
    cs06_response,
    ecs52_command,
    ecs52_response,
    gcs38_command,
    gcs38_response,
)
from duis.messages.ids import EUI64

pytestmark = pytest.mark.reference

ACB = "90-B3-D5-1F-30-00-00-02"
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ESME = "00-DB-12-34-56-78-90-A0"
GSME = "00-DB-12-34-56-78-90-A1"
HASH = bytes.fromhex("AA758690730934FF0685AA758690730934FF0685657788990011223344556677")
EXECUTION = dt.datetime(2030, 1, 15, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def gbcs_dir(reference_dir: Path) -> Path:
    path = reference_dir / "gbcs"
    if not (path / "rtds").is_dir() or not (path / "keystore").is_dir():
        pytest.skip(f"reference data not available: {path}/rtds or keystore is absent")
    return path


@pytest.fixture(scope="module")
def messages(gbcs_dir: Path) -> dict[str, bytes]:
    """``{file name: bytes}`` of every reference message."""
    found = {path.name: bytes.fromhex(path.read_text().strip())
             for path in sorted((gbcs_dir / "rtds").glob("*/*.HEX"))}
    assert len(found) == 18, sorted(found)
    return found


@pytest.fixture(scope="module")
def ring(gbcs_dir: Path) -> KeyRing:
    """The reference key store, the DCC's test ACB named."""
    return KeyRing(acb=ACB, folders=[gbcs_dir / "keystore"])


def required(name: str) -> Protection | None:
    """A PreCommand is the one hop carrying neither MAC nor signature; every other
    reference message is as the DCC and the device exchange it (the default)."""
    return Protection.NONE if "PRECOMMAND" in name else None


def test_every_reference_message_decodes_and_encodes_back_byte_exact(messages, ring):
    reproduced = []
    for name, data in messages.items():
        message = decode(data, ring, require=required(name), source=name)
        assert encode(message, ring) == data, name
        reproduced.append(name)
    assert len(reproduced) == 18


def test_a_precommand_is_refused_where_a_command_is_expected(messages, ring):
    precommand = messages["CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX"]
    with pytest.raises(Unprotected) as caught:
        decode(precommand, ring)
    assert (caught.value.offset, caught.value.field) == (0, "frame tag")
    with pytest.raises(Unprotected) as caught:
        decode(precommand, ring, require=Protection.SIGNATURE)
    assert (caught.value.offset, caught.value.field) == (len(precommand), "signature")


def test_a_device_signature_stripped_off_is_refused(messages, ring):
    response = messages["CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX"]
    for stripped in (response[:-65], response[:-65] + b"\x00"):
        with pytest.raises(Unprotected) as caught:
            decode(stripped, ring)
        assert caught.value.offset == len(response) - 65


def test_what_each_reference_message_is(messages, ring):
    shapes = {}
    for name, data in messages.items():
        message = decode(data, ring, require=required(name), source=name)
        signature = message.signature
        shapes[name.removesuffix("_GBCS.HEX")] = (
            message.header.cra.name, f"{message.header.message_code:04X}",
            type(message.payload).__name__, message.mac,
            None if signature is None else len(signature))
    assert shapes == {
        "ECS52_11.2_SUCCESS_COMMAND": ("COMMAND", "0059", "DlmsGetRequest", True, 0),
        "ECS52_11.2_SUCCESS_RESPONSE": ("RESPONSE", "0059", "DlmsGetResponse", True, 0),
        "ECS52_11.2_ERROR_COMMAND": ("COMMAND", "0059", "DlmsGetRequest", True, 0),
        "ECS52_11.2_ERROR_RESPONSE": ("RESPONSE", "0059", "DlmsGetResponse", True, 0),
        "GCS38_11.2_SUCCESS_COMMAND": ("COMMAND", "0084", "GbzPayload", True, 0),
        "GCS38_11.2_SUCCESS_RESPONSE": ("RESPONSE", "0084", "GbzPayload", True, 0),
        "GCS38_11.2_ERROR_COMMAND": ("COMMAND", "0084", "GbzPayload", True, 0),
        "GCS38_11.2_ERROR_RESPONSE": ("RESPONSE", "0084", "GbzPayload", True, 0),
        "CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND": (
            "COMMAND", "0012", "ActivateFirmwareCommand", False, None),
        "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND": (
            "COMMAND", "0012", "ActivateFirmwareCommand", True, 64),
        "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE": (
            "RESPONSE", "0012", "ActivationOutcome", False, 64),
        "CS06_11.3_IMMEDIATE_ERROR_PRECOMMAND": (
            "COMMAND", "0012", "ActivateFirmwareCommand", False, None),
        "CS06_11.3_IMMEDIATE_ERROR_COMMAND": (
            "COMMAND", "0012", "ActivateFirmwareCommand", True, 64),
        "CS06_11.3_IMMEDIATE_ERROR_RESPONSE": (
            "RESPONSE", "0012", "ActivationOutcome", False, 64),
        "CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND": (
            "COMMAND", "0012", "ActivateFirmwareCommand", False, None),
        "CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND": (
            "COMMAND", "0012", "ActivateFirmwareCommand", True, 64),
        "CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE": (
            "RESPONSE", "0012", "ActivationAccepted", False, 64),
        "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT": (
            "ALERT", "00CA", "ActivationAlert", False, 64),
    }


# --- built from fields, not decoded ----------------------------------------------

VERSION = bytes.fromhex("0123ABCD")
BUILT: dict[str, tuple[GroupingHeader, Payload]] = {
    "ECS52_11.2_SUCCESS_COMMAND_GBCS.HEX": ecs52_command(SUPPLIER, ESME, 1000),
    "ECS52_11.2_ERROR_COMMAND_GBCS.HEX": ecs52_command(SUPPLIER, ESME, 1002),
    "ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX": ecs52_response(ESME, SUPPLIER, 1000, VERSION),
    "ECS52_11.2_ERROR_RESPONSE_GBCS.HEX": ecs52_response(ESME, SUPPLIER, 1002, None, result=1),
    "GCS38_11.2_SUCCESS_COMMAND_GBCS.HEX": gcs38_command(SUPPLIER, GSME, 1000),
    "GCS38_11.2_ERROR_COMMAND_GBCS.HEX": gcs38_command(SUPPLIER, GSME, 1002),
    "GCS38_11.2_SUCCESS_RESPONSE_GBCS.HEX": gcs38_response(GSME, SUPPLIER, 1000, VERSION),
    "GCS38_11.2_ERROR_RESPONSE_GBCS.HEX": gcs38_response(GSME, SUPPLIER, 1002, None,
                                                         status=0xC0),
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_mac_d_messages_built_from_their_fields_reproduce_the_reference(messages, ring, name):
    header, payload = BUILT[name]
    assert encode(Message(header, payload, signature=b"", mac=True), ring) == messages[name]


def test_cs06_precommands_built_from_their_fields(messages):
    built = {
        "CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX": cs06_command(SUPPLIER, ESME, 1000,
                                                                        HASH),
        "CS06_11.3_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX": cs06_command(SUPPLIER, ESME, 1005, HASH),
        "CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND_GBCS.HEX": cs06_command(
            SUPPLIER, ESME, 1001, HASH, EXECUTION),
    }
    for name, (header, payload) in built.items():
        assert encode(Message(header, payload)) == messages[name], name


def test_device_signed_messages_built_from_their_fields(messages, ring):
    """The device's signature cannot be remade (no device private key, random nonces):
    given the signature, the rest is rebuilt from fields and the signature checks."""
    reset = DlmsDateTime(2015, 1, 1, 0, 0, 0)
    built = {
        "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX": cs06_response(
            ESME, SUPPLIER, 1000, ActivationOutcome(0, bytes.fromhex("0123ABCE")), reset),
        "CS06_11.3_IMMEDIATE_ERROR_RESPONSE_GBCS.HEX": cs06_response(
            ESME, SUPPLIER, 1005, ActivationOutcome(1, bytes.fromhex("0123ABCF")), reset),
        "CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE_GBCS.HEX": cs06_response(
            ESME, SUPPLIER, 1001, None, reset),
        "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX": activation_alert(
            ESME, SUPPLIER, 2000, 1001, EXECUTION, ActivationOutcome(0, bytes.fromhex("0123ABCF"))),
    }
    device_ds = ring.public_key(ESME, "ds")
    assert device_ds is not None
    for name, (header, payload) in built.items():
        data = messages[name]
        message = Message(header, payload, signature=data[-64:])
        assert encode(message) == data, name
        assert message.signature is not None
        assert signature_matches(device_ds, signed_bytes(message), message.signature), name
        assert decode(data, ring) == message


def test_what_the_reference_payloads_say(messages, ring):
    alert = decode(messages["CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX"], ring)
    assert alert.header.cra == Cra.ALERT and alert.header.message_code == 0x00CA
    assert alert.payload == ActivationAlert(0x8F66, EXECUTION, 1001,
                                            ActivationOutcome(0, bytes.fromhex("0123ABCF")))
    future = decode(messages["CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND_GBCS.HEX"], ring)
    assert future.payload == ActivateFirmwareCommand(HASH, 1001, EXECUTION)
    accepted = decode(messages["CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE_GBCS.HEX"], ring)
    assert accepted.payload == ActivationAccepted()
    assert accepted.header.date_time is not None
    assert accepted.header.date_time.to_datetime() == dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    failed = decode(messages["CS06_11.3_IMMEDIATE_ERROR_RESPONSE_GBCS.HEX"], ring)
    assert isinstance(failed.payload, ActivationOutcome)
    assert failed.payload.status == "noImageHeld"


# --- the CS06 chain: PreCommand, signed by the user, MAC'd by the ACB -----------------

CHAINS = ("IMMEDIATE_SUCCESS", "IMMEDIATE_ERROR", "FUTURE_DATED_SUCCESS")


@pytest.mark.parametrize("chain", CHAINS)
def test_the_command_is_the_precommand_signed_then_mac_d(messages, ring, chain):
    precommand = messages[f"CS06_11.3_{chain}_PRECOMMAND_GBCS.HEX"]
    command = messages[f"CS06_11.3_{chain}_COMMAND_GBCS.HEX"]
    signed_apdu = inspect(command)
    signature = signed_apdu.signature
    assert signature is not None and len(signature) == 64
    # the APDU inside the MAC is the PreCommand, then 0x40 and the user's signature
    assert apdu(signed_apdu) == precommand + b"\x40" + signature
    # the user's signature covers the PreCommand after its first octet
    supplier_ds = ring.public_key(SUPPLIER, "ds")
    assert supplier_ds is not None
    assert signature_matches(supplier_ds, precommand[1:], signature)
    # the ACB MACs the signed APDU as it stands
    assert wrap_mac(precommand + b"\x40" + signature, ring) == command
    decoded_pre = decode(precommand, ring, require=Protection.NONE)
    assert decoded_pre.signature is None and not decoded_pre.mac
    assert dataclasses.replace(decoded_pre, signature=signature, mac=True) == decode(command,
                                                                                      ring)


def test_signing_the_precommand_with_the_supplier_key_gives_a_command_that_verifies(
        messages, ring, gbcs_dir):
    from duis.gbcs.wire.crypto import load_private_key
    key = load_private_key(gbcs_dir / "keystore" / "90b3d51f30010000-ds.key")
    precommand = decode(messages["CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND_GBCS.HEX"], ring,
                        require=Protection.NONE)
    signed = sign(dataclasses.replace(precommand, mac=True), key)
    assert sign(dataclasses.replace(precommand, mac=True), key) == signed  # deterministic
    assert decode(encode(signed, ring), ring) == signed


def test_a_signature_by_another_key_is_refused(messages, ring):
    response = messages["CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX"]
    other = messages["CS06_11.3_IMMEDIATE_ERROR_RESPONSE_GBCS.HEX"][-64:]
    with pytest.raises(SignatureInvalid) as caught:
        decode(response[:-64] + other, ring)
    assert caught.value.offset == len(response) - 65


def test_a_mac_from_another_pair_is_refused(messages, ring):
    # the same command MAC'd for the GSME's pair is not the ESME's MAC
    command = messages["ECS52_11.2_SUCCESS_COMMAND_GBCS.HEX"]
    other = messages["GCS38_11.2_SUCCESS_COMMAND_GBCS.HEX"][-12:]
    with pytest.raises(MacInvalid) as caught:
        decode(command[:-12] + other, ring)
    assert caught.value.offset == len(command) - 12
    assert caught.value.field == "MAC"


def test_the_reference_device_certificates_name_the_device(gbcs_dir):
    for usage in ("ka", "ds"):
        cert = x509.load_pem_x509_certificate(
            (gbcs_dir / "keystore" / f"00db1234567890a0-{usage}.pem").read_bytes())
        assert certificate_eui(cert) == EUI64.parse(ESME)
    user = x509.load_pem_x509_certificate(
        (gbcs_dir / "keystore" / "90b3d51f30010000-ds.pem").read_bytes())
    assert certificate_eui(user) == EUI64.parse(SUPPLIER)
