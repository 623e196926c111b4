"""Real GBCS against the DCC's own parser (``@smartdcc/gbcs-parser``, run by
``../shared/tools/gbcs.js`` under Node), both ways.

- The reference messages: the parser's reading of each equals duis's decoding.
- Messages duis encodes with keys it generates, whose certificates it writes to a key
  folder the parser searches first: the parser finds every MAC and signature valid and
  reads the fields duis meant.
- PreCommands the parser signs as a DCC Boxed client does verify in duis.

The parser's output is JSON per message; :func:`parser_view` and :func:`message_view`
bring it and a decoded :class:`Message` to the same plain form.  Skipped, with the
reason, where Node or ``../shared`` is missing.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from duis.gbcs.wire import (
    ActivateFirmwareCommand,
    ActivationAccepted,
    ActivationAlert,
    ActivationOutcome,
    AttributeRecord,
    CosemAttribute,
    DlmsDateTime,
    DlmsGetRequest,
    DlmsGetResponse,
    FirmwareVersionReport,
    GbzComponent,
    GbzPayload,
    GetResult,
    KeyRing,
    Message,
    Protection,
    ReadAttributes,
    ReadAttributesResponse,
    ReadFirmwareVersionCommand,
    decode,
    encode,
    sign,
)
from duis.gbcs.wire.certificates import add_party, party_keys, write_key_folder
from duis.gbcs.wire.usecases import (
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

pytestmark = [pytest.mark.reference, pytest.mark.interop]

REFERENCE_ACB = "90-B3-D5-1F-30-00-00-02"
# the parties of the generated-key tests: EUIs of their own, so that no key of the
# reference key store (searched after the test's folder) can stand in for theirs
ACB = "90-B3-D5-1F-30-0A-00-02"
USER = "90-B3-D5-1F-30-0A-00-00"
ESME = "00-DB-12-34-56-78-FF-A0"
GSME = "00-DB-12-34-56-78-FF-A1"
PPMID = "00-DB-12-34-56-78-FF-A2"
EXECUTION = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


# --- running the parser --------------------------------------------------------------

@pytest.fixture(scope="module")
def gbcs_js(reference_dir: Path) -> Path:
    tool = reference_dir.parent / "tools" / "gbcs.js"
    if not tool.is_file() or not (reference_dir / "gbcs" / "gbcs-parser").is_dir():
        pytest.skip(f"the DCC GBCS parser is not available: {tool} or "
                    f"{reference_dir / 'gbcs' / 'gbcs-parser'} is absent")
    if shutil.which("node") is None:
        pytest.skip("node is not installed (the DCC GBCS parser runs under Node 16+)")
    return tool


def parse(tool: Path, payloads: list[bytes], *, keys: Path | None = None,
          acb: str = REFERENCE_ACB) -> list[dict[str, Any]]:
    """The parser's reading of each payload: ``{"ok": ..., "message": {...}}``."""
    command = ["node", str(tool), "decode", "--acb", acb.replace("-", " ")]
    if keys is not None:
        command += ["--keys", str(keys)]
    result = subprocess.run(command + [data.hex() for data in payloads],
                            capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(payloads), result.stderr
    return lines


def sign_precommand(tool: Path, payload: bytes, user: str, keys: Path) -> bytes:
    result = subprocess.run(["node", str(tool), "sign-precommand", "--keys", str(keys),
                             "--user", user, payload.hex()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return base64.b64decode(result.stdout.strip())


# --- one plain form for both readings --------------------------------------------------

def _octets(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def _der_value(hex_text: str) -> bytes:
    """The contents of a DER (or A-XDR) tag-length-value given as the parser's hex."""
    raw = _octets(hex_text)
    size = raw[1]
    return raw[2:] if size < 0x80 else raw[2 + (size & 0x7F):]


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    v = value.astimezone(dt.UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v:%H:%M:%S} Z"


def _outcome_view(outcome: ActivationOutcome) -> dict[str, Any]:
    return {"code": outcome.response_code, "version": outcome.firmware_version.hex()}


def payload_view(payload: object) -> dict[str, Any]:
    """A payload in plain values."""
    if isinstance(payload, DlmsGetRequest):
        return {"type": "dlms-get", "invoke": payload.invoke_id_and_priority,
                "attributes": [[a.class_id, a.instance.hex(), a.attribute]
                               for a in payload.attributes]}
    if isinstance(payload, DlmsGetResponse):
        return {"type": "dlms-get-response", "invoke": payload.invoke_id_and_priority,
                "results": [[None if r.data is None else r.data.hex(), r.result]
                            for r in payload.results]}
    if isinstance(payload, GbzPayload):
        components = []
        for c in payload.components:
            view: dict[str, Any] = {"control": c.control, "cluster": c.cluster,
                                    "frame_control": c.frame_control, "sequence": c.sequence,
                                    "command": c.command.command_id}
            if isinstance(c.command, ReadAttributes):
                view["attributes"] = list(c.command.attributes)
            else:
                view["records"] = [[r.attribute, r.status, r.data_type,
                                    None if r.value is None else r.value.hex()]
                                   for r in c.command.records]
            components.append(view)
        return {"type": "gbz", "components": components}
    if isinstance(payload, ActivateFirmwareCommand):
        return {"type": "cs06", "hash": payload.image_hash.hex(),
                "counter": payload.originator_counter, "execution": _time(payload.execution)}
    if isinstance(payload, ActivationAccepted):
        return {"type": "cs06-accepted"}
    if isinstance(payload, ActivationOutcome):
        return {"type": "cs06-outcome", **_outcome_view(payload)}
    if isinstance(payload, ActivationAlert):
        return {"type": "cs06-alert", "alert_code": payload.alert_code,
                "execution": _time(payload.execution), "counter": payload.originator_counter,
                "outcome": _outcome_view(payload.outcome)}
    if isinstance(payload, ReadFirmwareVersionCommand):
        return {"type": "cs08"}
    if isinstance(payload, FirmwareVersionReport):
        return {"type": "cs08-response", "version": payload.firmware_version.hex(),
                "code": payload.response_code}
    raise AssertionError(f"no view of {payload!r}")


def message_view(message: Message) -> dict[str, Any]:
    """A decoded message in plain values."""
    header = message.header
    return {
        "cra": int(header.cra), "counter": header.originator_counter,
        "originator": header.originator.compact, "recipient": header.recipient.compact,
        "date_time": "" if header.date_time is None else header.date_time.encode().hex(),
        "message_code": header.message_code, "payload": payload_view(message.payload),
        "signature": None if message.signature is None else message.signature.hex(),
        "mac": message.mac,
    }


def _children(item: dict[str, Any]) -> dict[str, Any]:
    children: dict[str, Any] = item.get("children", {})
    return children


def _indexed(children: dict[str, Any], suffix: str) -> list[dict[str, Any]]:
    """The ``[i] <suffix>`` children, in index order."""
    found = {}
    for name, item in children.items():
        if name.startswith("[") and name.endswith(suffix):
            found[int(name[1:name.index("]")])] = item
    return [found[i] for i in sorted(found)]


def _parser_payload(parsed: dict[str, Any], code: int, cra: int) -> dict[str, Any]:
    payload = parsed["Payload"]
    if code == 0x0059 and cra == 1:
        request = payload["DLMS Access Request"]
        specs = _indexed(_children(_children(request)["List of Access Request Specifications"]),
                         "Access Request Specification")
        data = _children(_children(request)["List of Data"])
        assert all(name.endswith("Null") for name in data)
        return {"type": "dlms-get", "invoke": int.from_bytes(_octets(request["hex"])[1:5], "big"),
                "attributes": [[int(_children(s)["Class Id"]["hex"].replace(" ", ""), 16),
                                _children(s)["Instance Id"]["hex"].replace(" ", "").lower(),
                                int(_children(s)["Attribute Id"]["hex"], 16)] for s in specs]}
    if code == 0x0059:
        response = payload["DLMS Access Response"]
        answers = [None if name.endswith("Null") else _der_value(item["hex"]).hex()
                   for name, item in sorted(
                       _children(_children(response)["List of Access Response Data"]).items())]
        specs = _indexed(_children(_children(response)["List of Access Response Specification"]),
                         "Access Response Specification")
        return {"type": "dlms-get-response",
                "invoke": int.from_bytes(_octets(response["hex"])[1:5], "big"),
                "results": [[d, int(_children(s)["Data Access Result"]["hex"], 16)]
                            for d, s in zip(answers, specs, strict=True)]}
    if code == 0x0084:
        count = int(payload["Number of GBZ components"]["hex"], 16)
        assert payload["Profile ID"]["hex"] == "01 09"
        components = []
        for i in range(1, count + 1):
            block = parsed[f"GBZ Component {i}"]
            zcl = _children(block["ZCL Header"])
            command = int(zcl["Command Id"]["hex"], 16)
            view: dict[str, Any] = {
                "control": int(block["Control Field"]["hex"], 16),
                "cluster": int(block["Cluster Id"]["hex"].replace(" ", ""), 16),
                "frame_control": int(zcl["Frame Control"]["hex"], 16),
                "sequence": int(zcl["Sequence Number"]["hex"], 16), "command": command}
            fields = _children(block["ZCL Payload"])
            if command == 0:
                view["attributes"] = [int.from_bytes(_octets(item["hex"]), "little")
                                      for _, item in sorted(
                                          fields.items(), key=lambda kv: int(kv[0].split()[-1]))]
            else:
                records = []
                for _, item in sorted(fields.items(), key=lambda kv: int(kv[0].split()[-1])):
                    record = _children(item)
                    status = int(record["Status Code"]["hex"], 16)
                    data_type = value = None
                    if status == 0:
                        data_type = int(record["Attribute Data Type"]["hex"], 16)
                        raw = _octets(record["Attribute Data Value"]["hex"])
                        value = (raw[1:] if data_type in (0x41, 0x42) else raw).hex()
                    records.append([int.from_bytes(_octets(record["Attribute Id"]["hex"]),
                                                   "little"), status, data_type, value])
                view["records"] = records
            components.append(view)
        return {"type": "gbz", "components": components}

    def outcome(item: dict[str, Any]) -> dict[str, Any]:
        fields = _children(item)
        return {"code": int.from_bytes(_der_value(fields["Response Code"]["hex"]), "big"),
                "version": _der_value(fields["Firmware Version"]["hex"]).hex()}

    if code == 0x0012 and cra == 1:
        fields = _children(payload["Activate Firmware Command"])
        return {"type": "cs06", "hash": _der_value(fields["Manufacturer Image Hash"]["hex"]).hex(),
                "counter": int.from_bytes(_der_value(fields["Originator Counter"]["hex"]), "big"),
                "execution": fields.get("Execution Date Time", {}).get("notes")}
    if code == 0x0012:
        if "Command Accepted" in payload:
            assert payload["Command Accepted"]["hex"] == "05 00"
            return {"type": "cs06-accepted"}
        return {"type": "cs06-outcome", **outcome(payload["Execution Outcome"])}
    if code == 0x00CA:
        fields = _children(payload["Activate Firmware Alert"])
        return {"type": "cs06-alert",
                "alert_code": int.from_bytes(_der_value(fields["Alert Code"]["hex"]), "big"),
                "execution": fields["Execution Date Time"]["notes"],
                "counter": int.from_bytes(_der_value(fields["Originator Counter"]["hex"]), "big"),
                "outcome": outcome(fields["Execution Outcome"])}
    if code == 0x0129 and cra == 1:
        (name, item), = payload.items()
        assert item["hex"] == "05 00", name
        return {"type": "cs08"}
    if code == 0x0129:
        (_, item), = payload.items()
        fields = _children(item)
        return {"type": "cs08-response",
                "version": _der_value(fields["Firmware Version"]["hex"]).hex(),
                "code": int.from_bytes(_der_value(fields["Response Code"]["hex"]), "big")}
    raise AssertionError(f"no view of message code 0x{code:04X}")


def parser_view(parsed: dict[str, Any]) -> dict[str, Any]:
    """The parser's reading in the same plain values as :func:`message_view`."""
    header = parsed["Grouping Header"]
    code = int(_children(header["Other Information Length"])["Message Code"]["hex"]
               .replace(" ", ""), 16)
    cra = int(header["CRA Flag"]["hex"], 16)
    signature = None
    if "Signature" in parsed:
        block = parsed["Signature"]
        signature = "" if block["Signature Length"]["hex"] == "00" \
            else block["Signature"]["hex"].replace(" ", "").lower()
    return {
        "cra": cra,
        "counter": int(header["Originator Counter"]["hex"].replace(" ", ""), 16),
        "originator": header["Originator System Title"]["hex"].replace(" ", "")[2:],
        "recipient": header["Recipient System Title"]["hex"].replace(" ", "")[2:],
        "date_time": header["Date Time"]["hex"].replace(" ", "").lower()[2:],
        "message_code": code, "payload": _parser_payload(parsed, code, cra),
        "signature": signature, "mac": "MAC Header" in parsed,
    }


def parser_verdicts(parsed: dict[str, Any]) -> dict[str, str | None]:
    """What the parser says of the MAC (``valid``) and the signature (``true``)."""
    mac = parsed.get("MAC", {}).get("MAC", {}).get("notes")
    valid = parsed.get("Signature", {}).get("Valid", {}).get("notes")
    return {"mac": mac, "signature": valid}


# --- the reference messages -------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(reference_dir: Path) -> tuple[dict[str, bytes], KeyRing]:
    gbcs = reference_dir / "gbcs"
    messages = {path.name: bytes.fromhex(path.read_text().strip())
                for path in sorted((gbcs / "rtds").glob("*/*.HEX"))}
    if len(messages) != 18:
        pytest.skip(f"reference data not available: {gbcs / 'rtds'} is incomplete")
    return messages, KeyRing(acb=REFERENCE_ACB, folders=[gbcs / "keystore"])


def test_duis_reads_every_reference_message_as_the_dcc_parser_does(gbcs_js, reference):
    messages, ring = reference
    names = sorted(messages)
    readings = parse(gbcs_js, [messages[name] for name in names])
    equal = []
    for name, reading in zip(names, readings, strict=True):
        assert reading["ok"], (name, reading)
        ours = decode(messages[name], ring, source=name,
                      require=Protection.NONE if "PRECOMMAND" in name else None)
        assert parser_view(reading["message"]) == message_view(ours), name
        verdicts = parser_verdicts(reading["message"])
        assert verdicts["mac"] == ("valid" if ours.mac else None), name
        assert verdicts["signature"] == ("true" if ours.signature else None), name
        equal.append(name)
    assert len(equal) == 18


# --- messages duis makes with its own keys ----------------------------------------------

@pytest.fixture(scope="module")
def own_keys(tmp_path_factory) -> tuple[Path, KeyRing]:
    """A key folder with the certificates and private keys of generated parties (for the
    parser), and the same keys in a ring (for duis)."""
    folder = tmp_path_factory.mktemp("gbcs-keys")
    ring = KeyRing(acb=ACB)
    for eui, device in ((ACB, False), (USER, False), (ESME, True), (GSME, True),
                        (PPMID, True)):
        party = party_keys(eui)
        write_key_folder(folder, party, device=device)
        add_party(ring, party)
    return folder, ring


def own_messages() -> dict[str, Message]:
    user, esme, gsme = party_keys(USER), party_keys(ESME), party_keys(GSME)
    ppmid = party_keys(PPMID)
    hash_ = bytes(range(0x20, 0x40))
    stamp = DlmsDateTime(2031, 2, 3, 4, 5, 6, 78, day_of_week=1, deviation=0, clock_status=0)
    several = GbzPayload((
        GbzComponent(0x0702, 0x00, ReadAttributes((0x0206, 0x0000, 0x0307)), sequence=7),
        GbzComponent(0x0000, 0x00, ReadAttributes((0x0004,)), sequence=8, control=0x00)))
    answers = GbzPayload((
        GbzComponent(0x0702, 0x08, ReadAttributesResponse((
            AttributeRecord(0x0206, 0, 0x41, b"\x10\x20\x30"),
            AttributeRecord(0x0000, 0, 0x25, bytes(range(6))),
            AttributeRecord(0x0307, 0x86))), sequence=7),
        GbzComponent(0x0000, 0x08, ReadAttributesResponse((
            AttributeRecord(0x0004, 0, 0x42, b"ACME"),)), sequence=8, control=0x00)))
    return {
        "ECS52 command": Message(*ecs52_command(USER, ESME, 0x0123_4567_89AB), b"", mac=True),
        "ECS52 response": Message(*ecs52_response(ESME, USER, 0x0123_4567_89AB, b"\x02\x00\x01"),
                                  b"", mac=True),
        "ECS52 error": Message(*ecs52_response(ESME, USER, 5, None, result=3), b"", mac=True),
        "DLMS two gets": Message(ecs52_command(USER, ESME, 6)[0], DlmsGetRequest(
            0x2000_0006, (CosemAttribute(1, bytes.fromhex("0000000201FF"), 2),
                          CosemAttribute(3, bytes.fromhex("0100020800FF"), 3))), b"", mac=True),
        "DLMS two answers": Message(ecs52_response(ESME, USER, 6, None)[0], DlmsGetResponse(
            0x2000_0006, (GetResult(b"\x01" * 200), GetResult(None, 4))), b"", mac=True),
        "GCS38 command": Message(*gcs38_command(USER, GSME, 77), b"", mac=True),
        "GCS38 response": Message(*gcs38_response(GSME, USER, 77, b"\x09\x08\x07\x06"), b"",
                                  mac=True),
        "GCS38 failure": Message(*gcs38_response(GSME, USER, 78, None, status=0xC0), b"",
                                 mac=True),
        "GBZ several components": Message(gcs38_command(USER, GSME, 79)[0], several, b"",
                                          mac=True),
        "GBZ several answers": Message(gcs38_response(GSME, USER, 79, None)[0], answers, b"",
                                       mac=True),
        "CS08 command": Message(*cs08_command(USER, PPMID, 90), b"", mac=True),
        "CS08 response": Message(*cs08_response(PPMID, USER, 90, b"\x01\x02"), b"", mac=True),
        "CS08 failure, signed": sign(Message(*cs08_response(PPMID, USER, 91, b"", 1)), ppmid.ds),
        "CS06 precommand": Message(*cs06_command(USER, ESME, 1001, hash_, EXECUTION)),
        "CS06 command": sign(Message(*cs06_command(USER, ESME, 1001, hash_, EXECUTION),
                                     mac=True), user.ds),
        "CS06 immediate command": sign(Message(*cs06_command(USER, ESME, 2**64 - 1, hash_),
                                               mac=True), user.ds),
        "CS06 accepted": sign(Message(*cs06_response(ESME, USER, 1001, None, stamp)), esme.ds),
        "CS06 outcome": sign(Message(*cs06_response(
            ESME, USER, 1002, ActivationOutcome(2, b"\xAB" * 130))), esme.ds),
        "CS06 outcome, MAC'd too": sign(Message(*cs06_response(
            GSME, USER, 1003, ActivationOutcome(0, b"\x01")), mac=True), gsme.ds),
        "0x8F66 alert": sign(Message(*activation_alert(
            ESME, USER, 3000, 1001, EXECUTION, ActivationOutcome(0, b"\x01\x23"))), esme.ds),
        "0x8F67 alert": sign(Message(*activation_alert(
            ESME, USER, 3001, 1001, EXECUTION, ActivationOutcome(3, b"\x01\x22"))), esme.ds),
    }


def test_the_dcc_parser_validates_and_reads_what_duis_encodes(gbcs_js, own_keys):
    folder, ring = own_keys
    meant = own_messages()
    names = sorted(meant)
    encoded = [encode(meant[name], ring) for name in names]
    readings = parse(gbcs_js, encoded, keys=folder, acb=ACB)
    for name, data, reading in zip(names, encoded, readings, strict=True):
        assert reading["ok"], (name, reading)
        message = meant[name]
        assert parser_view(reading["message"]) == message_view(message), name
        verdicts = parser_verdicts(reading["message"])
        assert verdicts["mac"] == ("valid" if message.mac else None), name
        assert verdicts["signature"] == ("true" if message.signature else None), name
        # the parser looked for each key in the test's folder, never the reference store
        assert all(Path(path).parent == folder for path in reading["keys"]), (name, reading)
        assert decode(data, ring, require=Protection.NONE) == message, name


def test_the_dcc_parser_finds_a_forged_mac_and_signature_invalid(gbcs_js, own_keys):
    folder, ring = own_keys
    meant = own_messages()
    command = encode(meant["CS06 command"], ring)
    bad_mac = command[:-1] + bytes((command[-1] ^ 1,))
    bad_signature = bytearray(command)
    bad_signature[-20] ^= 0x80  # inside the signature, under the MAC: both fail
    alert = bytearray(encode(meant["0x8F66 alert"], ring))
    alert[-1] ^= 1
    readings = parse(gbcs_js, [bad_mac, bytes(bad_signature), bytes(alert)], keys=folder,
                     acb=ACB)
    assert parser_verdicts(readings[0]["message"]) == {"mac": "invalid", "signature": "true"}
    assert parser_verdicts(readings[1]["message"]) == {"mac": "invalid", "signature": "false"}
    assert parser_verdicts(readings[2]["message"]) == {"mac": None, "signature": "false"}


def test_duis_verifies_precommands_the_dcc_boxed_way_signed(gbcs_js, own_keys):
    folder, ring = own_keys
    for counter, execution in ((1, None), (2**40, EXECUTION)):
        precommand = Message(*cs06_command(USER, ESME, counter, bytes(32), execution))
        signed = sign_precommand(gbcs_js, encode(precommand), USER, folder)
        decoded = decode(signed, ring, require=Protection.SIGNATURE)
        assert decoded.payload == precommand.payload and decoded.header == precommand.header
        assert decoded.signature is not None and len(decoded.signature) == 64


def test_the_dcc_boxed_signer_accepts_an_empty_signature_field(gbcs_js, own_keys):
    """DCC Boxed before 1.4.1 hands out PreCommands ending in an empty signature field;
    the signer drops it before signing: duis reads the result the same."""
    folder, ring = own_keys
    precommand = Message(*cs06_command(USER, ESME, 3, bytes(32)), signature=b"")
    signed = sign_precommand(gbcs_js, encode(precommand), USER, folder)
    assert decode(signed, ring, require=Protection.SIGNATURE).header == precommand.header


def test_the_reference_supplier_signs_a_reference_precommand(gbcs_js, reference, reference_dir):
    messages, ring = reference
    precommand = messages["CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX"]
    signed = sign_precommand(gbcs_js, precommand, "90-B3-D5-1F-30-01-00-00",
                             reference_dir / "gbcs" / "keystore")
    assert signed[:len(precommand)] == precommand and len(signed) == len(precommand) + 65
    assert decode(signed, ring, require=Protection.SIGNATURE) == decode(
        precommand + signed[-65:], ring, require=Protection.SIGNATURE)
