"""Acceptance: every GBCSPayload in every shipped transcript is real GBCS, as the DCC's
own parser (``../shared/tools/gbcs.js decode``) reads it.

The parser gets a key folder with the world's devices (their derived keys, as
``write_key_folder`` writes them) and the test PKI's users and Access Control Broker
(their GBCS certificates and keys from the credential store).  For each distinct payload
it must decode, find every MAC and signature valid, and give the fields duis meant:
message code, counter, system titles, firmware version, activation status, alert code.
Marked ``reference`` and ``interop``: skipped, with the reason, without Node or
``../shared``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from duis.gbcs import codec, from_base64
from duis.gbcs.keys import WorldKeys, world_keys
from duis.gbcs.model import (
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    ReadFirmwareVersion,
)
from duis.gbcs.wire.certificates import party_keys, write_key_folder
from duis.gbcs.wire.firmware import ACTIVATION_RESPONSE_CODES
from duis.gbcs.wire.usecases import GCS38
from duis.signatures import CredentialStore

# gbcs_js: the fixture that finds Node and the parser (or skips, saying why)
from .test_gbcs_real_interop import gbcs_js, parse, parser_verdicts, parser_view  # noqa: F401

pytestmark = [pytest.mark.reference, pytest.mark.interop]

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "samples" / "scenarios" / "golden"
PAYLOAD = re.compile(rb"<sr:GBCSPayload>([^<]+)</sr:GBCSPayload>")
_CODES = {name: code for code, name in ACTIVATION_RESPONSE_CODES.items()}


def transcript_payloads() -> dict[bytes, str]:
    """Each distinct GBCS payload of the shipped transcripts -> one file carrying it."""
    found: dict[bytes, str] = {}
    for path in sorted(GOLDEN.glob("*/*/*.xml")):
        if path.name.endswith(".mmc.xml"):
            continue
        for text in PAYLOAD.findall(path.read_bytes()):
            found.setdefault(from_base64(text.decode("ascii")), str(path.relative_to(ROOT)))
    return found


@pytest.fixture(scope="module")
def key_folder(tmp_path_factory) -> Path:
    """The world's devices and the test PKI's DCC parties, as a key folder."""
    folder = tmp_path_factory.mktemp("world-keys")
    store = CredentialStore(ROOT / "samples" / "pki")
    ring = codec_keys(store)
    parties = set()
    for data in transcript_payloads():
        if data[0] != 0xD1:
            message = codec.read(data)
            parties |= {message.originator, message.target}
    for eui in sorted(parties, key=str):
        stem = eui.compact.lower()
        if not ring.is_dcc_party(eui):
            write_key_folder(folder, party_keys(eui), device=True)
            continue
        for usage in ("ka", "ds"):
            credential = store.gbcs_credential(eui, usage)
            (folder / f"{stem}-{usage}.pem").write_bytes(
                credential.certificate.public_bytes(serialization.Encoding.PEM))
            if credential.private_key is not None:
                (folder / f"{stem}-{usage}.key").write_bytes(credential.private_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
    return folder


def codec_keys(store: CredentialStore) -> WorldKeys:
    return world_keys(store, acb=store.dsp_signing_credential().eui)


@pytest.fixture(scope="module")
def tool(request) -> Path:
    return request.getfixturevalue("gbcs_js")


def meant(message: GbcsMessage) -> dict[str, Any]:
    """What duis meant, in the parser view's terms."""
    view: dict[str, Any] = {"message_code": message.message_code,
                            "counter": message.transaction,
                            "originator": message.originator.compact,
                            "recipient": message.target.compact}
    payload = message.payload
    if isinstance(payload, FirmwareVersionReport):
        view["version"] = payload.firmware_version.encode("ascii").hex()
    elif isinstance(payload, ActivationResult) and payload.status is not None:
        view["status"] = _CODES[payload.status]
        view["version"] = (payload.firmware_version or "").encode("ascii").hex()
    elif isinstance(payload, FirmwareActivationAlert):
        view.update(alert_code=payload.alert_code, status=_CODES[payload.status],
                    command_counter=payload.command_counter,
                    version=(payload.firmware_version or "").encode("ascii").hex())
    return view


def read_back(view: dict[str, Any]) -> dict[str, Any]:
    """The same fields from the parser's reading (``parser_view``)."""
    got: dict[str, Any] = {"message_code": view["message_code"], "counter": view["counter"],
                           "originator": view["originator"].upper(),
                           "recipient": view["recipient"].upper()}
    payload = view["payload"]
    kind = payload["type"]
    if kind == "dlms-get-response":
        got["version"] = payload["results"][0][0]
    elif kind == "gbz" and "records" in payload["components"][0]:
        got["version"] = payload["components"][0]["records"][0][3]
    elif kind == "cs08-response":
        got["version"] = payload["version"]
    elif kind == "cs06-outcome":
        got.update(status=payload["code"], version=payload["version"])
    elif kind == "cs06-alert":
        got.update(alert_code=payload["alert_code"], status=payload["outcome"]["code"],
                   command_counter=payload["counter"], version=payload["outcome"]["version"])
    return got


def test_every_transcript_payload_is_real_gbcs_the_dcc_parser_verifies(tool, key_folder):
    payloads = transcript_payloads()
    real = {data: where for data, where in payloads.items() if data[0] != 0xD1}
    assert len(real) >= 40, f"{len(real)} real GBCS payloads in the transcripts"
    datas = sorted(real)
    readings = parse(tool, datas, keys=key_folder)
    kinds: set[tuple[int, int]] = set()
    for data, reading in zip(datas, readings, strict=True):
        where = real[data]
        assert reading["ok"], (where, reading)
        message = codec.read(data)
        view = parser_view(reading["message"])
        assert read_back(view) == meant(message), where
        verdicts = parser_verdicts(reading["message"])
        precommand = data[0] == 0xDF and view["signature"] is None
        assert verdicts["mac"] == ("valid" if data[0] == 0xDD else None), where
        assert verdicts["signature"] == (None if precommand else
                                         "true" if view["signature"] else None), where
        # the keys it used are the world's and the test PKI's, never the reference store's
        assert all(Path(path).parent == key_folder for path in reading["keys"]), where
        if not isinstance(message.payload, ReadFirmwareVersion) or message.message_code != GCS38:
            kinds.add((int(message.kind), message.message_code))
    # every use case the transcripts exercise: reads (ECS52, GCS38), CS06 PreCommands,
    # signed commands, responses and the 0x00CA alert
    assert {(2, 0x0059), (2, 0x0084), (1, 0x0012), (2, 0x0012), (3, 0x00CA)} <= kinds, kinds


def test_the_own_layout_is_only_what_gbcs_gives_duis_no_form_to():
    from duis.gbcs import own
    for data, where in transcript_payloads().items():
        if data[0] == own.MAGIC:
            message = own.decode(data, where)
            assert not codec.is_real(message), where
            assert message.message_code >= 0xF100, where
