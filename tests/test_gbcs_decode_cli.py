"""``duis gbcs decode``: fields and MAC / signature verdicts of real GBCS payloads."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from duis.cli import main
from duis.gbcs.wire import ActivationOutcome, KeyRing, Message, encode, sign
from duis.gbcs.wire.certificates import party_keys
from duis.gbcs.wire.usecases import cs06_command, cs06_response, ecs52_command, ecs52_response

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "samples" / "worlds" / "default.toml"
PKI = ROOT / "samples" / "pki"
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
ACB = "90-B3-D5-1F-30-00-00-02"
#: a device of the default world the test PKI has no certificate of
GSME = "00-DB-12-34-56-78-90-A2"
HASH = bytes(range(32))


def _ring() -> KeyRing:
    """The test PKI (users, the ACB) and the ESME's own keys, as the emulation has them."""
    ring = KeyRing(acb=ACB, folders=[PKI])
    ring.add(ESME, "ka", private_key=party_keys(ESME).ka)
    return ring


def _messages() -> dict[str, bytes]:
    ring, gsme = _ring(), party_keys(GSME)
    outcome = ActivationOutcome(0, b"\x01\x01\x00")
    return {
        "command": encode(Message(*ecs52_command(SUPPLIER, ESME, 4100), b"", mac=True), ring),
        "response": encode(Message(*ecs52_response(ESME, SUPPLIER, 4100, b"\x01\x01\x00"), b"",
                                   mac=True), ring),
        "signed": encode(sign(Message(*cs06_response(GSME, SUPPLIER, 4101, outcome)), gsme.ds)),
        "unsigned": encode(Message(*cs06_response(GSME, SUPPLIER, 4102, outcome), b"")),
        "precommand": encode(Message(*cs06_command(SUPPLIER, ESME, 4103, HASH))),
    }


MESSAGES = _messages()


def decode(capsys, *args: str) -> tuple[int, dict]:
    code = main(["gbcs", "decode", "--json", *args])
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == code
    return code, data


def test_a_macd_command_and_response_verify_with_the_test_pki_and_the_world(capsys):
    code, data = decode(capsys, MESSAGES["command"].hex(), MESSAGES["response"].hex(),
                        "--world", str(WORLD))
    assert code == 0
    command, response = data["payloads"]
    assert command["header"] == {
        "cra": "command", "cra_flag": 1, "originator_counter": 4100, "originator": SUPPLIER,
        "recipient": ESME, "message_code": 0x59, "message_code_hex": "0x0059",
        "date_time": None}
    assert command["use_case"] == "ECS52" and command["frame"] == "general-ciphering"
    assert command["payload"]["type"] == "DlmsGetRequest"
    assert command["payload"]["attributes"] == [
        {"class_id": 1, "instance": "0000000201ff", "attribute": 2}]
    assert command["mac"] == {"status": "valid", "reason": None}
    assert command["signature"]["status"] == "empty" and command["required"] == ["mac"]
    assert response["payload"]["results"] == [{"data": "010100", "result": 0}]
    assert response["mac"]["status"] == "valid"


def test_a_device_signature_needs_the_devices_keys(capsys, tmp_path):
    code, data = decode(capsys, MESSAGES["signed"].hex(), "--world", str(WORLD))
    (entry,) = data["payloads"]
    assert code == 0 and entry["signature"]["status"] == "valid"
    assert entry["payload"] == {"type": "ActivationOutcome", "response_code": 0,
                                "firmware_version": "010100"}
    assert entry["required"] == ["signature"] and entry["mac"]["status"] == "absent"
    # without the device's keys: not checked, said so, exit 2
    code, data = decode(capsys, MESSAGES["signed"].hex())
    (entry,) = data["payloads"]
    assert code == 2 and entry["signature"]["status"] == "unchecked"
    assert f"digital-signing key of {GSME}" in entry["signature"]["reason"]
    # the exported certificates are enough
    assert main(["pki", "export-devices", "--world", str(WORLD), "--out",
                 str(tmp_path / "keys")]) == 0
    capsys.readouterr()
    code, data = decode(capsys, MESSAGES["signed"].hex(), "--keys", str(tmp_path / "keys"))
    assert code == 0 and data["payloads"][0]["signature"]["status"] == "valid"


@pytest.mark.parametrize(("name", "flip", "verdict"), [
    ("command", -1, "mac"),            # the last octet of the MAC
    ("response", -14, "mac"),          # the payload's last octet: the MAC no longer fits
    ("signed", -1, "signature"),       # the last octet of the signature
])
def test_a_flipped_bit_is_reported_invalid_exit_1(capsys, name, flip, verdict):
    data = bytearray(MESSAGES[name])
    data[flip] ^= 0x01
    code, result = decode(capsys, data.hex(), "--world", str(WORLD))
    (entry,) = result["payloads"]
    assert entry["error"] is None
    assert code == 1 and entry[verdict]["status"] == "invalid"
    assert "does not verify" in entry[verdict]["reason"]


def test_a_missing_required_signature_and_a_precommand(capsys):
    code, data = decode(capsys, MESSAGES["unsigned"].hex(), "--world", str(WORLD))
    assert code == 1 and data["payloads"][0]["signature"]["status"] == "missing"
    code, data = decode(capsys, MESSAGES["precommand"].hex(), "--world", str(WORLD))
    (entry,) = data["payloads"]
    assert code == 0 and entry["stage"] == "precommand"
    assert entry["payload"]["image_hash"] == HASH.hex()
    assert entry["payload"]["originator_counter"] == 4103
    assert (entry["mac"]["status"], entry["signature"]["status"]) == ("absent", "absent")


def test_every_input_form_gives_the_same_reading(capsys, tmp_path, monkeypatch):
    data = MESSAGES["response"]
    spaced = data.hex(" ").upper()
    (tmp_path / "m.hex").write_text(spaced + "\n")
    (tmp_path / "m.bin").write_bytes(data)
    (tmp_path / "m.b64").write_text(base64.b64encode(data).decode())
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(
        (data.hex() + "\n\n" + base64.b64encode(data).decode() + "\n").encode())))
    code, result = decode(capsys, spaced, base64.b64encode(data).decode(),
                          f"@{tmp_path / 'm.hex'}", f"@{tmp_path / 'm.bin'}",
                          f"@{tmp_path / 'm.b64'}", "-", "--world", str(WORLD))
    entries = result["payloads"]
    assert code == 0 and len(entries) == 7
    assert [e["source"] for e in entries[-2:]] == ["<stdin>:1", "<stdin>:3"]
    first = {k: v for k, v in entries[0].items() if k != "source"}
    assert all({k: v for k, v in e.items() if k != "source"} == first for e in entries)


def test_the_text_report(capsys):
    assert main(["gbcs", "decode", MESSAGES["signed"].hex(), "--world", str(WORLD)]) == 0
    out = capsys.readouterr().out
    assert "CS06 Activate Firmware, response, " in out and "general-signing" in out
    assert f"  originator: {GSME}\n" in out
    assert "  message code: 0x0012\n" in out
    assert "    firmware version: 010100\n" in out
    assert "  signature: valid (required)\n" in out and "  MAC: absent\n" in out


@pytest.mark.parametrize(("payload", "message"), [
    ("zz", "argument 'zz': not a payload; expected hex, base64 or the raw octets"),
    ("ABC", "not a payload"),
    ("@/nonexistent/m.hex", "/nonexistent/m.hex: cannot read"),
])
def test_unusable_arguments_exit_2(capsys, payload, message):
    assert main(["gbcs", "decode", payload]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bytes_that_are_not_gbcs_are_named_exit_2(capsys):
    truncated = MESSAGES["command"][:20].hex()
    code, data = decode(capsys, truncated, "00" * 4)
    assert code == 2
    first, second = data["payloads"]
    assert first["error"]["error"] == "Truncated" and first["error"]["path"].startswith("byte ")
    assert second["error"]["message"] == "not a GBCS message"
    assert main(["gbcs", "decode", "00" * 4]) == 2
    err = capsys.readouterr().err
    assert "00000000: not decoded: not a GBCS message (at byte 0 (frame tag)); expected 0xDD" \
        in err


@pytest.mark.reference
def test_the_reference_messages(capsys, reference_dir):
    gbcs = reference_dir / "gbcs"
    files = sorted((gbcs / "rtds").glob("*/*.HEX"))
    if len(files) != 18:
        pytest.skip(f"reference data not available: {gbcs / 'rtds'} is incomplete")
    code, data = decode(capsys, *(f"@{f}" for f in files), "--store", str(gbcs / "keystore"))
    assert code == 0
    verdicts = {Path(e["source"]).name: (e["mac"]["status"], e["signature"]["status"])
                for e in data["payloads"]}
    for name, verdict in verdicts.items():
        if "PRECOMMAND" in name:
            assert verdict == ("absent", "absent"), name
        elif name.startswith("CS06") and "COMMAND" in name:
            assert verdict == ("valid", "valid"), name
        elif name.startswith("CS06"):
            assert verdict == ("absent", "valid"), name
        else:
            assert verdict == ("valid", "empty"), name
    by_name = {Path(e["source"]).name: e for e in data["payloads"]}
    response = by_name["ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX"]
    assert response["header"]["originator"] == ESME and response["header"]["recipient"] == SUPPLIER
    assert response["header"]["originator_counter"] == 1000
    assert response["payload"]["results"] == [{"data": "0123abcd", "result": 0}]
    alert = by_name["CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX"]
    assert alert["header"]["message_code"] == 0x00CA and alert["payload"]["alert_code"] == 0x8F66
    # the same messages with the test PKI as store but the reference folder given: the
    # folder wins (its Supplier A is not the test PKI's)
    code, _ = decode(capsys, *(f"@{f}" for f in files), "--keys", str(gbcs / "keystore"))
    assert code == 0
    # and without it the test PKI's Supplier A key does not fit: the MACs are invalid
    code, data = decode(capsys, f"@{gbcs / 'rtds/11.2_ECS52/ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX'}",
                        "--world", str(WORLD))
    assert code == 1 and data["payloads"][0]["mac"]["status"] == "invalid"
