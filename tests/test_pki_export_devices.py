"""``duis pki export-devices``: the emulated devices' GBCS certificates as a key folder,
read by duis and by the DCC's own parser (``../shared/tools/gbcs.js``, under Node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from duis.cli import main
from duis.gbcs.wire import ActivationOutcome, KeyRing, Message, decode, encode, sign
from duis.gbcs.wire.certificates import party_keys
from duis.gbcs.wire.errors import SignatureInvalid
from duis.gbcs.wire.usecases import cs06_response, ecs52_response
from duis.messages.ids import EUI64
from duis.signatures import CredentialStore
from duis.signatures.credentials import certificate_eui, load_certificate
from duis.smi import read_world

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "samples" / "worlds" / "default.toml"
PKI = ROOT / "samples" / "pki"
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
ACB = "90-B3-D5-1F-30-00-00-02"


def export(folder: Path, *args: str) -> Path:
    assert main(["pki", "export-devices", "--world", str(WORLD), "--out", str(folder),
                 *args]) == 0
    return folder


def _devices() -> list[str]:
    return [device.eui for device in read_world(WORLD).devices]


def test_every_device_gets_its_ka_and_ds_certificates(tmp_path, capsys):
    folder = export(tmp_path / "keys")
    devices = _devices()
    assert f"wrote {2 * len(devices)} files to {folder}" in capsys.readouterr().out
    expected = {f"{EUI64.parse(e).compact.lower()}-{u}.pem" for e in devices for u in ("ka", "ds")}
    assert {p.name for p in folder.iterdir()} == expected  # certificates only
    for eui in devices:
        keys = party_keys(eui)
        for usage, private in (("ka", keys.ka), ("ds", keys.ds)):
            cert = load_certificate(folder / f"{EUI64.parse(eui).compact.lower()}-{usage}.pem")
            assert cert.subject == x509.Name([])  # GBCS device shape
            assert certificate_eui(cert) == EUI64.parse(eui)
            assert cert.public_key().public_numbers() == private.public_key().public_numbers()
            usage_ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
            assert usage_ext.critical
            assert usage_ext.value.key_agreement == (usage == "ka")
            assert usage_ext.value.digital_signature == (usage == "ds")


def test_private_keys_only_when_asked(tmp_path):
    folder = export(tmp_path / "keys", "--private")
    stem = EUI64.parse(ESME).compact.lower()
    store = CredentialStore(folder)
    assert len(store) == 2 * len(_devices())
    assert store.key_agreement(ESME).private_key is not None
    assert (folder / f"{stem}-ds.key").is_file()
    assert store.gbcs_credential(ESME, "ds").private_key.private_numbers() == \
        party_keys(ESME).ds.private_numbers()


def test_other_files_in_the_folder_are_left_alone_and_reruns_are_identical(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "mine.txt").write_text("kept")
    export(folder)
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    export(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    assert first["mine.txt"] == b"kept"


def test_a_duis_signed_device_message_verifies_with_the_exported_certificates(tmp_path):
    folder = export(tmp_path / "keys")
    data = encode(sign(Message(*cs06_response(ESME, SUPPLIER, 1002,
                                              ActivationOutcome(0, b"\x01\x01\x00"))),
                       party_keys(ESME).ds))
    message = decode(data, KeyRing(folders=[folder]))
    assert message.signature and message.header.originator == EUI64.parse(ESME)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(SignatureInvalid, match="does not verify"):
        decode(tampered, KeyRing(folders=[folder]))


def test_a_bad_world_is_named(tmp_path, capsys):
    bad = tmp_path / "world.toml"
    bad.write_text("[world]\nformat = 1\n[[devices]]\neui = 'nope'\n")
    assert main(["pki", "export-devices", "--world", str(bad), "--out",
                 str(tmp_path / "k")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "k").exists()


@pytest.mark.reference
@pytest.mark.interop
def test_the_dcc_parser_reads_the_exported_folder(tmp_path, reference_dir):
    tool = reference_dir.parent / "tools" / "gbcs.js"
    if not tool.is_file() or not (reference_dir / "gbcs" / "gbcs-parser").is_dir():
        pytest.skip(f"the DCC GBCS parser is not available: {tool} is absent")
    if shutil.which("node") is None:
        pytest.skip("node is not installed (the DCC GBCS parser runs under Node 16+)")
    folder = export(tmp_path / "keys")
    # a device-signed CS06 response, and a MAC'd ECS52 response (the device's ka key
    # with the supplier's: the test PKI's, a key folder too)
    ring = KeyRing(acb=ACB, folders=[PKI])
    ring.add(ESME, "ka", private_key=party_keys(ESME).ka)
    signed = encode(sign(Message(*cs06_response(ESME, SUPPLIER, 1002,
                                                ActivationOutcome(0, b"\x01\x01\x00"))),
                         party_keys(ESME).ds))
    macd = encode(Message(*ecs52_response(ESME, SUPPLIER, 77, b"\x01\x01\x00"), b"", mac=True),
                  ring)
    result = subprocess.run(["node", str(tool), "decode", "--keys", str(folder), "--keys",
                             str(PKI), signed.hex(), macd.hex()],
                            capture_output=True, text=True, timeout=120)
    readings = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(readings) == 2 and all(r["ok"] for r in readings), result.stderr
    first, second = (r["message"] for r in readings)
    assert first["Signature"]["Valid"]["notes"] == "true"
    assert second["MAC"]["MAC"]["notes"] == "valid"
    assert str(folder / "00db1234567890a0-ds.pem") in readings[0]["keys"]
