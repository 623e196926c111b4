"""End to end through the emulated DSP and devices: CV 1, 4, 5 and 8, faults,
future-dated activation, and the MMC output of every device reply."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from duis.clock import FixedClock, seeded_random
from duis.devices.images import sample_image
from duis.dsp.critical import PreCommandMismatch
from duis.gbcs import decode, from_base64
from duis.messages import build, leaf, node, parse_message, request
from duis.mmc import mmc_document
from duis.schema import check_tree, load_schema
from duis.signatures import sign_with_store, verify
from duis.signatures.errors import BadSignatureValue
from duis.signatures.gbcs import sign_command
from duis.smi import CplEntry, Device, SqliteInventory, User
from duis.xmlparse import parse_bytes
from tests.rigs import DspRig

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SUPPLIER, NETWORK_OPERATOR = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-05-00-00"
HUB, GPF = "00-DB-00-00-00-00-00-01", "00-DB-00-00-00-00-00-05"
DEVICES = {  # type -> (EUI-64, manufacturer, model)
    "CHF": (HUB, "Hubco", "H1"),
    "ESME": ("00-DB-00-00-00-00-00-02", "Acme", "E1"),
    "GSME": ("00-DB-00-00-00-00-00-03", "Gasco", "G1"),
    "PPMID": ("00-DB-00-00-00-00-00-04", "Padco", "P1"),
    "GPF": (GPF, "Hubco", "H1"),
    "HCALCS": ("00-DB-00-00-00-00-00-06", "Switchco", "S1"),
}
OLD, NEW = "1.0", "2.0"


def image(device_type: str, version: str = NEW) -> bytes:
    _, manufacturer, model = DEVICES[device_type]
    return sample_image(manufacturer, model, version)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


def world() -> SqliteInventory:
    inv = SqliteInventory(clock=FixedClock(NOW))
    inv.add_user(User(SUPPLIER, "Supplier A", frozenset({"IS", "GS"})))
    inv.add_user(User(NETWORK_OPERATOR, "Network Operator", frozenset({"ED", "GT"})))
    for kind, (eui, manufacturer, model) in DEVICES.items():
        if kind != "GPF":  # the GPF shares the hub's model and CPL rows
            for version in (OLD, NEW):
                inv.add_cpl_entry(CplEntry(manufacturer, model, version,
                                           digest(image(kind, version)), "SMETS2"))
        inv.add_device(Device(eui, kind, manufacturer, model, "SMETS2", "Commissioned", None,
                              OLD, None if kind == "CHF" else HUB, SUPPLIER, NETWORK_OPERATOR))
    return inv


@pytest.fixture
def rig(store) -> DspRig:
    """A DSP with a network of emulated devices, all on one fixed clock."""
    return DspRig.build(store, world(), clock=FixedClock(NOW), profile="mp105-option2",
                        random=seeded_random(1))


class Counter:
    value = 1000

    def __call__(self) -> int:
        Counter.value += 1
        return Counter.value


next_counter = Counter()


def send(dsp, store, target, variant, body, cv=None, web_service=None):
    message = request(SUPPLIER, target, next_counter(), variant, body, command_variant=cv)
    signed = sign_with_store(build(message), store, preserve_counter=True, now=NOW)
    return dsp.submit(signed, web_service=web_service)


def assert_valid_everywhere(xml: bytes, schemas) -> None:
    for schema in schemas:
        report = check_tree(parse_bytes(xml), schema)
        assert report.valid, report.render()


@pytest.fixture(scope="module")
def schemas(request):
    found = [load_schema()]
    try:
        found.append(request.getfixturevalue("official_schema"))
    except pytest.skip.Exception:
        pass
    return found


def activate_body(device_type: str, **extra):
    items = [leaf("FirmwareHash", digest(image(device_type)))]
    if "at" in extra:
        items.insert(0, leaf("ExecutionDateTime", extra["at"]))
    return node("ActivateFirmware", *items)


def distribute(dsp, store, *device_types):
    kinds = list(device_types)
    body = node("UpdateFirmware",
                leaf("FirmwareImage", base64.b64encode(image(kinds[0])).decode()),
                leaf("FirmwareVersion", NEW),
                leaf("DeviceIDList", ",".join(DEVICES[k][0] for k in kinds)))
    return send(dsp, store, dsp.dsp_eui, "11.1", body)


def critical(dsp, store, target, variant, body):
    """CV 4 for the PreCommand, sign it with the user's ds key, CV 5."""
    pre = send(dsp, store, target, variant, body, cv=4)
    assert pre.response.code == "I0"
    command = base64.b64decode(parse_message(pre.response.xml, validate=False)
                               .payload.text_at("GBCSPayload"))
    key = store.for_eui(SUPPLIER, "ds")[0].private_key
    signed = base64.b64encode(sign_command(command, key)).decode()
    return pre, send(dsp, store, target, variant,
                     node("SignedPreCommand", leaf("GBCSPayload", signed)), cv=5)


def reply_of(submission):
    return [o for o in submission.outgoing if o.kind == "device-response"]


# --- round trips: every covered device SR x every device type it applies to ----------

READ_TYPES = ["ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"]


@pytest.mark.parametrize("device_type", READ_TYPES)
def test_read_firmware_version_round_trip(rig, store, schemas, device_type):
    dsp = rig.dsp
    sub = send(dsp, store, DEVICES[device_type][0], "11.2", node("ReadFirmwareVersion"))
    assert [o.code for o in sub.outgoing] == ["I99", "I0"]
    reply = reply_of(sub)[0]
    for out in sub.outgoing:
        assert_valid_everywhere(out.xml, schemas)
        verify(out.xml, store, now=NOW)
    payload = from_base64(parse_message(reply.xml, validate=False).payload.text)
    assert payload[0] == 0xDD  # real GBCS, MAC'd by the device for its user
    assert decode(payload, dsp.keys) == reply.gbcs
    assert reply.gbcs.message_code == {"ESME": 0x0059, "CHF": 0x0059, "GSME": 0x0084,
                                       "GPF": 0x0084, "PPMID": 0x0129,
                                       "HCALCS": 0x0129}[device_type]
    assert reply.gbcs.payload.firmware_version == OLD
    mmc = build(mmc_document(reply.gbcs, service_reference_variant="11.2", when=NOW))
    assert_valid_everywhere(mmc, schemas)
    assert b"<ra:FirmwareVersion>1.0</ra:FirmwareVersion>" in mmc


@pytest.mark.parametrize("device_type", ["ESME", "GSME", "CHF", "PPMID", "HCALCS"])
def test_two_step_update_round_trip(rig, store, schemas, device_type):
    dsp = rig.dsp
    answer = distribute(dsp, store, device_type)
    assert answer.response.code == "I0"
    assert b"DSPUpdateFirmwareWarning" not in answer.response.xml
    pre, sub = critical(dsp, store, DEVICES[device_type][0], "11.3", activate_body(device_type))
    assert [o.code for o in sub.outgoing][:2] == ["I99", "I0"]
    reply = reply_of(sub)[0]
    assert (reply.gbcs.payload.status, reply.gbcs.payload.firmware_version) == ("success", NEW)
    for out in pre.outgoing + sub.outgoing:
        assert_valid_everywhere(out.xml, schemas)
    mmc = build(mmc_document(reply.gbcs, service_reference_variant="11.3", when=NOW))
    assert_valid_everywhere(mmc, schemas)
    assert b"<ra:ASN1Status>success</ra:ASN1Status>" in mmc
    assert dsp.inventory.device(DEVICES[device_type][0]).firmware_version == NEW


COS_BODY = parse_message(
    SAMPLES / "messages/valid/CS02b_6.23_update_security_credentials_cos_request.xml").body


@pytest.mark.parametrize("variant, device_type, body", [
    ("2.2", "ESME", node("TopUpDevice", leaf("UTRN", "73018450291736450182"))),
    ("2.2", "GSME", node("TopUpDevice", leaf("UTRN", "73018450291736450182"))),
    ("6.23", "ESME", COS_BODY),
    ("6.23", "GSME", COS_BODY),
])
def test_other_device_requests_round_trip(rig, store, schemas, variant, device_type, body):
    dsp = rig.dsp
    sub = send(dsp, store, DEVICES[device_type][0], variant, body)
    assert [o.code for o in sub.outgoing] == ["I99", "I0"]
    for out in sub.outgoing:
        assert_valid_everywhere(out.xml, schemas)
    assert reply_of(sub)[0].gbcs.payload.status == "success"


# --- the critical flow is enforced ---------------------------------------------------

def test_critical_request_with_cv1_is_refused_e12(rig, store):
    dsp = rig.dsp
    sub = send(dsp, store, DEVICES["ESME"][0], "11.3", activate_body("ESME"), cv=1)
    assert [o.code for o in sub.outgoing] == ["E12"]


def test_signed_precommand_with_a_wrong_gbcs_signature_is_refused(rig, store):
    dsp = rig.dsp
    pre = send(dsp, store, DEVICES["ESME"][0], "11.3", activate_body("ESME"), cv=4)
    command = base64.b64decode(parse_message(pre.response.xml, validate=False)
                               .payload.text_at("GBCSPayload"))
    other_key = store.for_eui("90-B3-D5-1F-30-02-00-00", "ds")[0].private_key
    forged = base64.b64encode(sign_command(command, other_key)).decode()
    with pytest.raises(BadSignatureValue):
        send(dsp, store, DEVICES["ESME"][0], "11.3",
             node("SignedPreCommand", leaf("GBCSPayload", forged)), cv=5)


def test_signed_precommand_not_matching_its_precommand_is_refused(rig, store):
    dsp = rig.dsp
    pre = send(dsp, store, DEVICES["ESME"][0], "11.3", activate_body("ESME"), cv=4)
    command = bytearray(base64.b64decode(parse_message(pre.response.xml, validate=False)
                                         .payload.text_at("GBCSPayload")))
    command[-5] ^= 0x01  # the hash's last octet (before the counter, 02 02 03 E9): another
    # image than the PreCommand named
    key = store.for_eui(SUPPLIER, "ds")[0].private_key
    signed = base64.b64encode(sign_command(bytes(command), key)).decode()
    with pytest.raises(PreCommandMismatch) as caught:
        send(dsp, store, DEVICES["ESME"][0], "11.3",
             node("SignedPreCommand", leaf("GBCSPayload", signed)), cv=5)
    assert "does not match a PreCommand" in str(caught.value)


# --- faults ----------------------------------------------------------------------------

def test_unreachable_device_gives_e20_and_silent_device_e21(rig, store):
    dsp, faults = rig.dsp, rig.faults
    faults.unreachable(DEVICES["ESME"][0], times=1)
    sub = send(dsp, store, DEVICES["ESME"][0], "11.2", node("ReadFirmwareVersion"))
    assert ([o.code for o in sub.outgoing], sub.delivery) == (["I99", "E20"], "unreachable")
    faults.no_response(DEVICES["ESME"][0])
    sub = send(dsp, store, DEVICES["ESME"][0], "11.2", node("ReadFirmwareVersion"))
    assert ([o.code for o in sub.outgoing], sub.delivery) == (["I99", "E21"], "no-response")


def test_lost_response_leaves_the_device_changed_and_the_smi_not(rig, store):
    dsp, faults = rig.dsp, rig.faults
    eui = DEVICES["ESME"][0]
    distribute(dsp, store, "ESME")
    faults.lose_next_response(eui)
    _, sub = critical(dsp, store, eui, "11.3", activate_body("ESME"))
    assert ([o.code for o in sub.outgoing], sub.delivery) == (["I99"], "lost")
    assert dsp.network.device(eui).firmware_version == NEW
    assert dsp.inventory.device(eui).firmware_version == OLD


def test_lost_response_then_suspension_then_recovery_by_read(rig, store):
    """The MP105 story in miniature, under Option 2."""
    dsp, faults = rig.dsp, rig.faults
    eui, (_, manufacturer, model) = DEVICES["ESME"][0], DEVICES["ESME"]
    distribute(dsp, store, "ESME")
    faults.lose_next_response(eui)
    critical(dsp, store, eui, "11.3", activate_body("ESME"))
    dsp.inventory.remove_cpl_entry(manufacturer, model, OLD, reason="test", cause="test")
    assert dsp.inventory.device(eui).status == "Suspended"
    sub = send(dsp, store, eui, "11.2", node("ReadFirmwareVersion"))
    assert [o.code for o in sub.outgoing] == ["I99", "I0", "N29", "N29"]
    assert {o.recipient for o in sub.outgoing if o.code == "N29"} == {SUPPLIER,
                                                                      NETWORK_OPERATOR}
    device = dsp.inventory.device(eui)
    assert (device.status, device.firmware_version) == ("Commissioned", NEW)


# --- future-dated activation -------------------------------------------------------------

def test_future_dated_activation_alert_fires_at_its_instant(rig, store, schemas):
    dsp, clock = rig.dsp, rig.clock
    eui = DEVICES["ESME"][0]
    distribute(dsp, store, "ESME")
    _, sub = critical(dsp, store, eui, "11.3",
                      activate_body("ESME", at="2026-03-01T10:00:00Z"))
    scheduled = reply_of(sub)[0].gbcs.payload
    assert (scheduled.status, scheduled.firmware_version) == (None, None)
    clock.set(dt.datetime(2026, 3, 1, 9, 59, 59, tzinfo=dt.UTC))
    assert dsp.tick() == []
    clock.set(dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC))
    alerts = dsp.tick()
    assert [(o.kind, o.code) for o in alerts] == [("device-alert", "8F66")]
    assert_valid_everywhere(alerts[0].xml, schemas)
    mmc = build(mmc_document(alerts[0].gbcs, when=clock.now()))
    assert_valid_everywhere(mmc, schemas)
    assert b"FirmwareActivationDeviceAlert" in mmc
    assert dsp.inventory.device(eui).firmware_version == NEW


# --- non-device requests ------------------------------------------------------------------

def test_update_firmware_warns_about_devices_left_out(rig, store, schemas):
    dsp = rig.dsp
    body = node("UpdateFirmware",
                leaf("FirmwareImage", base64.b64encode(image("ESME")).decode()),
                leaf("FirmwareVersion", NEW),
                leaf("DeviceIDList", ",".join([DEVICES["ESME"][0], DEVICES["GSME"][0],
                                               "00-DB-00-00-00-00-00-99"])))
    sub = send(dsp, store, dsp.dsp_eui, "11.1", body)
    assert sub.response.code == "I0"
    assert_valid_everywhere(sub.response.xml, schemas)
    warning = parse_message(sub.response.xml, validate=False).payload
    assert warning.text_at("InvalidDeviceIDList") == "00-DB-00-00-00-00-00-99"
    assert warning.text_at("NotApplicableFirmwareDeviceIDList") == DEVICES["GSME"][0]
    assert dsp.network.device(DEVICES["ESME"][0]).held_image is not None


def test_read_inventory_is_answered_by_the_dsp(rig, store, schemas):
    dsp = rig.dsp
    sub = send(dsp, store, dsp.dsp_eui, "8.2", node("ReadInventory", leaf("DeviceID", HUB)))
    assert [o.code for o in sub.outgoing] == ["I0"]
    assert sub.response.xml.count(b"<sr:Device>") == len(DEVICES)
