"""MP202: dual-mode PPMIDs: the CPL row follows the SMETS generation of the
system's comms hub; pre-notification as either; moving between systems; 11.4
only in a SMETS2+ system; the MP105 rules use the applicable row."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from duis.clock import FixedClock
from duis.devices import Network
from duis.devices.images import sample_image
from duis.dsp import DSP, FirmwareReport
from duis.messages import build, leaf, node, parse_message, request
from duis.profiles import profile
from duis.schema import check_tree, load_schema
from duis.signatures import sign_with_store
from duis.smi import CplEntry, Device, SqliteInventory, User
from duis.xmlparse import parse_bytes

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SUPPLIER, NO = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-05-00-00"
HUB2, HUB1 = "00-DB-00-00-00-00-02-00", "00-DB-00-00-00-00-01-00"   # SMETS2 / SMETS1 hubs
PPMID = "00-DB-00-00-00-00-00-44"
MAKER, MODEL = "Keypad Co", "KP-D"


def digest(version: str, smets: str) -> str:
    return hashlib.sha256(sample_image(MAKER, MODEL, version, smets)).hexdigest().upper()


def world(ppmid_hub: str = HUB2, ppmid_smets: str = "SMETS2") -> SqliteInventory:
    inv = SqliteInventory(clock=FixedClock(NOW))
    inv.add_user(User(SUPPLIER, "Supplier A", frozenset({"IS", "GS"})))
    inv.add_user(User(NO, "Network Operator", frozenset({"ED", "GT"})))
    for version, smets in (("1.3", "SMETS1"), ("1.3", "SMETS2"), ("1.4", "SMETS2"),
                           ("1.2", "SMETS1")):
        inv.add_cpl_entry(CplEntry(MAKER, MODEL, version, digest(version, smets), smets))
    for hub, smets in ((HUB2, "SMETS2"), (HUB1, "SMETS1")):
        inv.add_cpl_entry(CplEntry("Hubco", f"H-{smets}", "1.0", None, smets))
        inv.add_device(Device(hub, "CHF", "Hubco", f"H-{smets}", smets, "Commissioned", None,
                              "1.0", None, SUPPLIER, NO))
    inv.add_device(Device(PPMID, "PPMID", MAKER, MODEL, ppmid_smets, "Commissioned", None,
                          "1.3", ppmid_hub, SUPPLIER, NO))
    return inv


def dsp_for(inv, store) -> DSP:
    clock = FixedClock(NOW)
    return DSP(inv, store, profile=profile("mp105-option2"), clock=clock,
               network=Network.from_inventory(inv, clock=clock))


def submit(dsp, store, variant, body, counter, target=None):
    message = request(SUPPLIER, target or dsp.dsp_eui, counter, variant, body)
    return dsp.submit(sign_with_store(build(message), store, preserve_counter=True, now=NOW))


def ppmid_update_body(version: str, smets: str):
    image = sample_image(MAKER, MODEL, version, smets)
    return node("UpdatePPMIDFirmware", leaf("FirmwareImage", base64.b64encode(image).decode()),
                leaf("FirmwareVersion", version), leaf("DeviceIDList", PPMID))


@pytest.mark.parametrize("hub, smets", [(HUB2, "SMETS2"), (HUB1, "SMETS1")])
def test_the_row_follows_the_hub_generation(hub, smets):
    inv = world(ppmid_hub=hub, ppmid_smets=smets)
    entry = inv.cpl_entry_for(inv.device(PPMID))
    assert (entry.firmware_version, entry.smets) == ("1.3", smets)
    assert entry.firmware_hash == digest("1.3", smets)


def test_moving_between_systems_switches_the_row_and_the_smi(store):
    inv = world()
    dsp = dsp_for(inv, store)
    dsp.join_system(PPMID, HUB1, cause="moved to a SMETS1 home")
    device = inv.device(PPMID)
    assert (device.hub, device.smets) == (HUB1, "SMETS1")
    assert inv.cpl_entry_for(device).smets == "SMETS1"
    assert dsp.network.device(PPMID).hub.text == HUB1
    dsp.join_system(PPMID, HUB2, cause="moved back")
    assert (inv.device(PPMID).smets, inv.cpl_entry_for(inv.device(PPMID)).smets) == \
        ("SMETS2", "SMETS2")
    audit = [(r.field, r.new) for r in inv.audit() if r.key == PPMID and r.field != "*"]
    assert sorted(audit[-4:-2]) == [("hub", HUB1), ("smets", "SMETS1")]
    assert sorted(audit[-2:]) == [("hub", HUB2), ("smets", "SMETS2")]


@pytest.mark.parametrize("declared, smets", [("SMETS1 CHTS V1", "SMETS1"),
                                             ("SMETS2 V5.0", "SMETS2")])
def test_prenotified_as_either_then_the_system_decides(store, declared, smets):
    inv = world()
    dsp = dsp_for(inv, store)
    new = "00-DB-00-00-00-00-00-55"
    body = node("DevicePrenotification", leaf("DeviceID", new),
                leaf("DeviceManufacturer", MAKER), leaf("DeviceModel", MODEL),
                leaf("DeviceType", "PPMID"), leaf("SMETSCHTSVersion", declared),
                leaf("FirmwareVersion", "1.3"))
    sub = submit(dsp, store, "12.2", body, 2000)
    assert sub.response.code == "I0"
    assert check_tree(parse_bytes(sub.response.xml), load_schema()).valid
    device = inv.device(new)
    assert (device.status, device.smets, device.supplier) == ("Pending", smets, SUPPLIER)
    other = HUB2 if smets == "SMETS1" else HUB1
    inv.update_device(new, reason="test", cause="test", status="Commissioned")
    dsp.network = None  # the new PPMID is not emulated; only the SMI matters here
    dsp.join_system(new, other, cause="installed")
    expected = "SMETS2" if other == HUB2 else "SMETS1"
    assert inv.device(new).smets == expected
    assert inv.cpl_entry_for(inv.device(new)).smets == expected


def test_11_4_updates_a_dual_mode_ppmid_in_a_smets2_system(store):
    inv = world(ppmid_hub=HUB2)
    dsp = dsp_for(inv, store)
    sub = submit(dsp, store, "11.4", ppmid_update_body("1.4", "SMETS2"), 2001)
    assert sub.response.code == "I0"
    assert b"DSPUpdatePPMIDFirmwareWarning" not in sub.response.xml
    assert dsp.network.device(PPMID).held_image is not None


def test_11_4_is_refused_for_a_dual_mode_ppmid_in_a_smets1_system(store):
    inv = world(ppmid_hub=HUB1, ppmid_smets="SMETS1")
    dsp = dsp_for(inv, store)
    sub = submit(dsp, store, "11.4", ppmid_update_body("1.2", "SMETS1"), 2002)
    assert sub.response.code == "E11"
    report = check_tree(parse_bytes(sub.response.xml), load_schema())
    assert report.valid, report.render()
    warning = parse_message(sub.response.xml, validate=False).payload
    assert warning.name == "DSPUpdatePPMIDFirmwareWarning"
    assert warning.text_at("NotApplicableFirmwareDeviceIDList") == PPMID
    assert dsp.network.device(PPMID).held_image is None


def test_11_4_names_a_non_ppmid_as_invalid(store):
    inv = world()
    dsp = dsp_for(inv, store)
    body = ppmid_update_body("1.4", "SMETS2")
    body = node("UpdatePPMIDFirmware", *body.children[:2], leaf("DeviceIDList",
                                                                f"{PPMID},{HUB2}"))
    sub = submit(dsp, store, "11.4", body, 2003)
    assert sub.response.code == "I0"
    assert parse_message(sub.response.xml, validate=False).payload.text_at(
        "InvalidDeviceIDList") == HUB2


@pytest.mark.parametrize("hub, smets, expected_alert, expected_version", [
    (HUB1, "SMETS1", [], "1.2"),          # 1.2 is a SMETS1 row: Current for this PPMID
    (HUB2, "SMETS2", ["N51"], "1.3"),     # 1.2 is only a SMETS1 row: not on the CPL here
])
def test_a_smets1_only_version_is_not_on_the_cpl_for_a_smets2_ppmid(store, hub, smets,
                                                                    expected_alert,
                                                                    expected_version):
    inv = world(ppmid_hub=hub, ppmid_smets=smets)
    dsp = dsp_for(inv, store)
    alerts = dsp.process_firmware_report(FirmwareReport(PPMID, "11.3", "1.2", successful=True,
                                                        cause="test"))
    assert [a.code for a in alerts] == expected_alert
    assert inv.device(PPMID).firmware_version == expected_version


def test_the_setting_lets_11_4_reach_a_dual_mode_ppmid_in_a_smets1_system(store):
    from duis.settings import settings_from_text
    inv = world(ppmid_hub=HUB1, ppmid_smets="SMETS1")
    clock = FixedClock(NOW)
    dsp = DSP(inv, store, clock=clock, network=Network.from_inventory(inv, clock=clock),
              settings=settings_from_text("[dual_mode_ppmid]\nota_in_smets1_systems = true\n"))
    sub = submit(dsp, store, "11.4", ppmid_update_body("1.2", "SMETS1"), 2004)
    assert sub.response.code == "I0"
    assert b"DSPUpdatePPMIDFirmwareWarning" not in sub.response.xml
