"""Every ECDSA signature duis makes is low-S; verification accepts both forms.

``(r, s)`` and ``(r, n - s)`` both verify, so duis writes the canonical one,
``s <= n / 2``, for XML signatures and GBCS command signatures alike.  It
accepts a high-S value from others, as XML-DSig, the DCC's tool and
``cryptography`` do (docs/signatures.md says why that is safe here).
"""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest

from duis.signatures import CredentialStore, dcctool, sign_with_store, verify
from duis.signatures.ecdsa import P256_HALF_ORDER, P256_ORDER, is_low_s, low_s
from duis.signatures.gbcs import command_signature, sign_command, verify_command
from duis.signatures.profile import COORDINATE_BYTES, SR

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
IS_USER = "90-B3-D5-1F-30-01-00-00"
_VALUE = re.compile(rb"<ds:SignatureValue>([^<]*)</ds:SignatureValue>")


def request(counter: int, originator: str = IS_USER, schema_version: str = "5.4") -> bytes:
    return (f'<sr:Request xmlns:sr="{SR}" schemaVersion="{schema_version}"><sr:Header>'
            f"<sr:RequestID>{originator}:00-DB-12-34-56-78-90-A0:{counter}</sr:RequestID>"
            "<sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>11.2"
            "</sr:ServiceReference><sr:ServiceReferenceVariant>11.2"
            "</sr:ServiceReferenceVariant></sr:Header><sr:Body><sr:ReadFirmwareVersion/>"
            "</sr:Body></sr:Request>").encode()


def signature_value(signed: bytes) -> bytes:
    return base64.b64decode(_VALUE.search(signed).group(1))


def high_s_twin(signed: bytes) -> bytes:
    """The same signature with ``s`` replaced by ``n - s``: made without the key."""
    value = signature_value(signed)
    s = int.from_bytes(value[COORDINATE_BYTES:], "big")
    twin = value[:COORDINATE_BYTES] + (P256_ORDER - s).to_bytes(COORDINATE_BYTES, "big")
    return _VALUE.sub(b"<ds:SignatureValue>" + base64.b64encode(twin) + b"</ds:SignatureValue>",
                      signed)


def test_low_s_form():
    assert low_s(5, P256_HALF_ORDER) == (5, P256_HALF_ORDER)
    assert low_s(5, P256_HALF_ORDER + 1) == (5, P256_ORDER - P256_HALF_ORDER - 1)
    assert P256_ORDER - (P256_HALF_ORDER + 1) <= P256_HALF_ORDER


@pytest.mark.parametrize("deterministic", [True, False], ids=["RFC 6979", "random nonces"])
def test_a_thousand_xml_signatures_are_low_s_and_verify(store, deterministic):
    signed = [sign_with_store(request(1000 + i), store, preserve_counter=True, now=NOW,
                              deterministic=deterministic) for i in range(500)]
    assert all(is_low_s(signature_value(data)) for data in signed)
    for data in signed:
        verify(data, store, now=NOW)


@pytest.mark.parametrize("deterministic", [True, False], ids=["RFC 6979", "random nonces"])
def test_a_thousand_gbcs_signatures_are_low_s_and_verify(store, deterministic):
    credential = store.signing_credential(IS_USER, function="ds", now=NOW)
    for i in range(500):
        command = b"\xdd\x00" + i.to_bytes(4, "big") + b"\x00\xca"
        value = command_signature(command, credential.private_key, deterministic=deterministic)
        assert is_low_s(value)
        assert verify_command(command + b"\x40" + value, credential.public_key) == command


def test_a_high_s_twin_verifies_too(store):
    """Accepted, as XML-DSig, the DCC tool and OpenSSL accept it (see docs)."""
    signed = sign_with_store(request(4242), store, preserve_counter=True, now=NOW)
    twin = high_s_twin(signed)
    assert twin != signed and not is_low_s(signature_value(twin))
    assert verify(twin, store, now=NOW).signed_bytes == verify(signed, store, now=NOW).signed_bytes
    credential = store.signing_credential(IS_USER, function="ds", now=NOW)
    command = b"\xdd\x00\x00\x00\x00\x01\x00\xca"
    value = sign_command(command, credential.private_key)[-64:]
    s = int.from_bytes(value[32:], "big")
    high = value[:32] + (P256_ORDER - s).to_bytes(32, "big")
    assert verify_command(command + b"\x40" + high, credential.public_key) == command


@pytest.fixture(scope="module")
def tool():
    try:
        dcctool.java()
        jar = dcctool.tool_jar()
    except dcctool.ToolUnavailable as exc:
        pytest.skip(f"DCC signing tool unavailable: {exc}")
    return jar


@pytest.mark.interop
@pytest.mark.slow
def test_the_dcc_tool_validates_low_s_and_high_s(tool, tmp_path):
    """What the DCC's own tool does: both forms pass its Validate."""
    zaz1 = CredentialStore(dcctool.extract_credentials(tmp_path, tool))
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    for counter in range(1000, 1002):
        signed = sign_with_store(request(counter, schema_version="5.1"), zaz1,
                                 preserve_counter=True, now=now)
        assert is_low_s(signature_value(signed))
        assert dcctool.run("Validate", signed, jar=tool).returncode == 0
        twin = high_s_twin(signed)
        assert not is_low_s(signature_value(twin))
        assert dcctool.run("Validate", twin, jar=tool).returncode == 0
