"""GBCS-level signing of PreCommand bytes with a user's digital-signing key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duis.signatures import CredentialStore
from duis.signatures.errors import (
    BadSignatureValue,
    CertificateExpired,
    NoSigningCredential,
    SignatureMissing,
    UnknownCertificate,
)
from duis.signatures.gbcs import (
    command_signature,
    sign_command,
    sign_precommand,
    split_signed_command,
    verify_command,
    verify_precommand,
)

ZAZ1 = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "zaz1"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
USER = "90-B3-D5-1F-30-01-00-00"
COMMAND = bytes.fromhex("DD000000000000551100000000DF0902") + b"\x00CA" + bytes(range(40))


def test_sign_and_verify_a_precommand(store):
    signed = sign_precommand(COMMAND, store, USER, now=NOW)
    assert signed[:len(COMMAND)] == COMMAND
    assert signed[len(COMMAND)] == 0x40 and len(signed) == len(COMMAND) + 65
    assert verify_precommand(signed, store, USER, now=NOW) == COMMAND


def test_it_is_the_ds_key_not_the_xml_signing_key(store):
    ds_key = store.signing_credential(USER, "ds", now=NOW)
    xml_key = store.signing_credential(USER, now=NOW)
    signed = sign_precommand(COMMAND, store, USER, now=NOW)
    assert verify_command(signed, ds_key.public_key) == COMMAND
    with pytest.raises(BadSignatureValue):
        verify_command(signed, xml_key.public_key)


def test_deterministic(store):
    key = store.signing_credential(USER, "ds", now=NOW).private_key
    assert command_signature(COMMAND, key) == command_signature(COMMAND, key)
    assert len(command_signature(COMMAND, key)) == 64


def test_tampered_command_or_other_user(store):
    signed = bytearray(sign_precommand(COMMAND, store, USER, now=NOW))
    signed[3] ^= 1
    with pytest.raises(BadSignatureValue):
        verify_precommand(bytes(signed), store, USER, now=NOW)
    genuine = sign_precommand(COMMAND, store, USER, now=NOW)
    with pytest.raises(BadSignatureValue):
        verify_precommand(genuine, store, "90-B3-D5-1F-30-02-00-00", now=NOW)


def test_missing_trailer_and_unknown_user(store):
    with pytest.raises(SignatureMissing):
        verify_precommand(COMMAND, store, USER, now=NOW)
    with pytest.raises(SignatureMissing):
        split_signed_command(b"\x40" * 10)
    with pytest.raises(UnknownCertificate):
        verify_precommand(sign_precommand(COMMAND, store, USER, now=NOW), store,
                          "90-B3-D5-1F-30-0A-00-00", now=NOW)
    with pytest.raises(NoSigningCredential):
        sign_precommand(COMMAND, store, "90-B3-D5-1F-30-0A-00-00")


def test_round_trip_through_the_trailer(store):
    key = store.signing_credential(USER, "ds", now=NOW).private_key
    command, signature = split_signed_command(sign_command(COMMAND, key))
    assert command == COMMAND and signature == command_signature(COMMAND, key)


@pytest.mark.reference
def test_zaz1_supplier_ds_key():
    if not ZAZ1.is_dir():
        pytest.skip(f"reference data not available: {ZAZ1} is absent")
    zaz1 = CredentialStore(ZAZ1)
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    signed = sign_precommand(COMMAND, zaz1, USER, now=when)
    assert verify_precommand(signed, zaz1, USER, now=when) == COMMAND
    with pytest.raises(CertificateExpired):  # Z1 and Z1b supplier ds certs ended 2025/2026
        verify_precommand(signed, zaz1, USER)
