"""MP105 response-side processing of reported firmware versions, against an independent oracle.

The oracle restates docs/DOMAIN.md ("MP105") and the MP105 legal text (3.8.120.4,
Table 41 N50/N51, section 3.2 "DSP Solution Overview"):

* which reports are processed, per profile:
  - baseline: 11.3 responses and future-dated activation alerts reporting success only;
    11.2 never (except a GPF's 11.2 -> N52, the DCC's existing behaviour everywhere);
  - Option 1 (Requirement 1): adds 11.2 responses from an ESME, GSME or CHF;
  - Option 2 (Requirements 1 and 2): as Option 1, and every 11.3 response / alert that
    carries a firmware version, whatever its ActivateImageResponseCode;
* a report without a version, or with the SMI's version, changes nothing;
* the CPL table: Current -> SMI version updated, Suspended restored to the status before
  suspension with N29 to the responsible supplier and network operator; Removed -> SMI
  version updated, status left alone, N50 to the supplier; not on the CPL -> nothing
  changes, N51 to the supplier;
* an 11.2 from a GPF never changes the SMI; when the GSME version it reports differs from
  the GSME's SMI version, N52 goes to the sender of the 11.2.
"""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from duis.clock import FixedClock
from duis.dsp import DSP, FirmwareReport, process_firmware_report
from duis.profiles import profile
from duis.schema import VALID, check_tree
from duis.signatures import verify
from duis.smi import CplEntry, Device, SqliteInventory, User

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
SRNS = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}

DSP_EUI = "90-B3-D5-1F-30-00-00-02"
SUPPLIER = "90-B3-D5-1F-30-01-00-00"   # responsible supplier of every device
NETWORK = "90-B3-D5-1F-30-05-00-00"    # network operator of every device
SENDER = "90-B3-D5-1F-30-02-00-00"     # another user, who sends the 11.2 to the GPF

HUB = "00-DB-12-34-56-78-90-A1"
EUIS = {"CHF": HUB, "ESME": "00-DB-12-34-56-78-90-A0", "GSME": "00-DB-12-34-56-78-90-A2",
        "GPF": "00-DB-12-34-56-78-90-A3", "PPMID": "00-DB-12-34-56-78-90-A4",
        "HCALCS": "00-DB-12-34-56-78-90-A5"}
#: SMI firmware versions.  The GPF's own version differs from the GSME's so that
#: comparing a GPF-reported GSME version against the wrong device shows.
SMI_FW = {"CHF": "1.0", "ESME": "1.0", "GSME": "1.0", "GPF": "1.1", "PPMID": "1.0",
          "HCALCS": "1.0"}
CURRENT, REMOVED, UNLISTED = "2.0", "0.9", "9.9"

PROFILES = ("baseline", "mp105-option1", "mp105-option2")
DEVICE_TYPES = ("ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS")
#: (source, ActivateImageResponseCode / alert outcome): 11.3 success, other, absent;
#: alert 0x8F66 (success) and 0x8F67 (failure); 11.2 carries no outcome.
OUTCOMES = (("11.2", None), ("11.3", True), ("11.3", False), ("11.3", None),
            ("alert", True), ("alert", False))
VERSION_CASES = ("current", "removed", "unlisted", "same", "absent")
STATES = (("Suspended", "Commissioned"), ("Suspended", "InstalledNotCommissioned"),
          ("Commissioned", None))


def reported_version(version_case: str, device_type: str) -> str | None:
    return {"current": CURRENT, "removed": REMOVED, "unlisted": UNLISTED,
            "same": SMI_FW[device_type], "absent": None}[version_case]


# --------------------------------------------------------------------------
# World: one SMETS2 system; the device under test is put in the given state.
# --------------------------------------------------------------------------

def build_world(device_type: str, status: str, before: str | None,
                write_hook=None) -> SqliteInventory:
    inv = SqliteInventory(":memory:", clock=FixedClock(NOW))
    inv.add_user(User(SUPPLIER, "Supplier", ["IS", "GS"]))
    inv.add_user(User(NETWORK, "Network", ["ED", "GT"]))
    inv.add_user(User(SENDER, "Other supplier", ["IS", "GS"]))
    for dtype, eui in EUIS.items():
        under_test = dtype == device_type
        model = f"{dtype}-M"
        # The SMI's version is Removed on the CPL when the device was suspended for it.
        smi_row = "Removed" if under_test and status == "Suspended" else "Current"
        inv.add_cpl_entry(CplEntry("Acme", model, SMI_FW[dtype], None, "SMETS2", smi_row))
        inv.add_cpl_entry(CplEntry("Acme", model, CURRENT, None, "SMETS2", "Current"))
        inv.add_cpl_entry(CplEntry("Acme", model, REMOVED, None, "SMETS2", "Removed"))
        inv.add_device(Device(
            eui, dtype, "Acme", model, "SMETS2",
            status if under_test else "Commissioned", before if under_test else None,
            SMI_FW[dtype], hub=None if dtype == "CHF" else HUB, supplier=SUPPLIER,
            network_operator=NETWORK))
    inv.write_hook = write_hook
    return inv


def dump(inv: SqliteInventory) -> tuple:
    return (tuple(inv.devices()), tuple(inv.cpl_entries()), tuple(inv.users()))


# --------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------

def expected_outcome(profile_name, device_type, source, outcome, version, status, before):
    """(firmware_version, status, status_before_suspension, alerts) of the device under
    test after the report; alerts as (code, recipients, about EUI, SMI version, reported)."""
    fw = SMI_FW[device_type]
    unchanged = (fw, status, before, [])
    if version is None:
        return unchanged
    if source == "11.2":
        if device_type == "GPF":
            gsme_fw = SMI_FW["GSME"]
            alerts = [] if version == gsme_fw else \
                [("N52", (SENDER,), EUIS["GSME"], gsme_fw, version)]
            return (fw, status, before, alerts)
        if profile_name == "baseline" or device_type not in ("ESME", "GSME", "CHF"):
            return unchanged
    elif not (outcome is True or profile_name == "mp105-option2"):
        return unchanged
    if version == fw:
        return unchanged
    row = {CURRENT: "Current", REMOVED: "Removed"}.get(version)
    eui = EUIS[device_type]
    if row is None:
        return (fw, status, before, [("N51", (SUPPLIER,), eui, fw, version)])
    if row == "Removed":
        return (version, status, before, [("N50", (SUPPLIER,), eui, fw, version)])
    if status == "Suspended":
        return (version, before, None,
                [("N29", tuple(sorted((SUPPLIER, NETWORK))), eui, fw, version)])
    return (version, status, before, [])


def normalised(intents) -> list[tuple]:
    return [(a.code, tuple(sorted(a.recipients)), a.device.eui, a.smi_version,
             a.reported_version) for a in intents]


# --------------------------------------------------------------------------
# The table: source x outcome x device type x version x state x profile
# --------------------------------------------------------------------------

@pytest.mark.parametrize("profile_name", PROFILES)
@pytest.mark.parametrize("status,before", STATES,
                         ids=lambda v: v if v else "-")
@pytest.mark.parametrize("version_case", VERSION_CASES)
@pytest.mark.parametrize("device_type", DEVICE_TYPES)
@pytest.mark.parametrize("source,outcome", OUTCOMES,
                         ids=lambda v: {True: "success", False: "other", None: "absent"}
                         .get(v, v) if not isinstance(v, str) else v)
def test_firmware_report(source, outcome, device_type, version_case, status, before,
                         profile_name):
    inv = build_world(device_type, status, before)
    eui = EUIS[device_type]
    version = reported_version(version_case, device_type)
    before_dump = dump(inv)
    report = FirmwareReport(eui, source, version, successful=outcome, sender=SENDER,
                            cause=f"{SENDER}:{eui}:77")
    alerts = process_firmware_report(inv, profile(profile_name), report)

    fw, new_status, new_before, expected_alerts = expected_outcome(
        profile_name, device_type, source, outcome, version, status, before)
    after = inv.device(eui)
    assert (after.firmware_version, after.status, after.status_before_suspension) == \
        (fw, new_status, new_before)
    assert normalised(alerts) == expected_alerts
    # Nothing else in the SMI moved: other devices, the CPL and the users.
    devices, cpl, users = dump(inv)
    assert [d for d in devices if d.eui != eui] == \
        [d for d in before_dump[0] if d.eui != eui]
    assert (cpl, users) == before_dump[1:]


def test_gpf_reporting_the_gsme_smi_version_sends_nothing():
    """N52 compares with the GSME's SMI version, not the GPF's own."""
    for name in PROFILES:
        inv = build_world("GPF", "Commissioned", None)
        before = dump(inv)
        report = FirmwareReport(EUIS["GPF"], "11.2", SMI_FW["GSME"], sender=SENDER)
        assert process_firmware_report(inv, profile(name), report) == ()
        assert dump(inv) == before


@pytest.mark.parametrize("gsme_status", ["Suspended", "Commissioned"])
def test_gpf_read_never_restores_the_gsme(gsme_status):
    """Even when the GPF reports a Current GSME version, the suspended GSME stays put."""
    inv = build_world("GSME", gsme_status, "Commissioned" if gsme_status == "Suspended" else None)
    before = dump(inv)
    alerts = process_firmware_report(inv, profile("mp105-option2"),
                                     FirmwareReport(EUIS["GPF"], "11.2", CURRENT, sender=SENDER))
    assert normalised(alerts) == [("N52", (SENDER,), EUIS["GSME"], "1.0", CURRENT)]
    assert dump(inv) == before


def test_gsme_recovers_through_its_own_read_firmware_version():
    inv = build_world("GSME", "Suspended", "InstalledNotCommissioned")
    alerts = process_firmware_report(inv, profile("mp105-option1"),
                                     FirmwareReport(EUIS["GSME"], "11.2", CURRENT))
    assert [a.code for a in alerts] == ["N29"]
    gsme = inv.device(EUIS["GSME"])
    assert (gsme.status, gsme.status_before_suspension, gsme.firmware_version) == \
        ("InstalledNotCommissioned", None, CURRENT)


def test_unknown_device_report_is_ignored():
    inv = build_world("ESME", "Suspended", "Commissioned")
    before = dump(inv)
    assert process_firmware_report(inv, profile("mp105-option2"), FirmwareReport(
        "00-DB-12-34-56-78-90-FF", "11.3", CURRENT, successful=True)) == ()
    assert dump(inv) == before


def test_second_report_after_restore_changes_nothing():
    """The supplier's automatic 11.3 retry after a restore: same version, no alert."""
    inv = build_world("ESME", "Suspended", "Commissioned")
    first = process_firmware_report(inv, profile("mp105-option2"), FirmwareReport(
        EUIS["ESME"], "11.3", CURRENT, successful=False))
    assert [a.code for a in first] == ["N29"]
    after_first = dump(inv)
    second = process_firmware_report(inv, profile("mp105-option2"), FirmwareReport(
        EUIS["ESME"], "11.3", CURRENT, successful=False))
    assert second == ()
    assert dump(inv) == after_first


def test_processing_is_audited_with_its_cause():
    inv = build_world("ESME", "Suspended", "Commissioned")
    seq = inv.last_seq()
    cause = f"{SUPPLIER}:{EUIS['ESME']}:4242"
    process_firmware_report(inv, profile("mp105-option1"),
                            FirmwareReport(EUIS["ESME"], "11.2", CURRENT, cause=cause))
    rows = list(inv.audit(seq))
    assert {(r.field, r.old, r.new) for r in rows} == {
        ("firmware_version", "1.0", CURRENT), ("status", "Suspended", "Commissioned"),
        ("status_before_suspension", "Commissioned", None)}
    assert all(r.cause == cause and r.entity == "device" and r.key == EUIS["ESME"]
               for r in rows)


# --------------------------------------------------------------------------
# The signed DCC alerts built by DSP.process_firmware_report
# --------------------------------------------------------------------------

ALERT_CASES = [
    pytest.param("ESME", "Suspended", "11.2", CURRENT, None, "N29",
                 [SUPPLIER, NETWORK], id="N29-restore-by-11.2"),
    pytest.param("CHF", "Suspended", "11.3", CURRENT, False, "N29",
                 [SUPPLIER, NETWORK], id="N29-restore-by-failed-11.3"),
    pytest.param("GSME", "Suspended", "alert", CURRENT, False, "N29",
                 [SUPPLIER, NETWORK], id="N29-restore-by-8F67"),
    pytest.param("ESME", "Commissioned", "11.3", REMOVED, True, "N50", [SUPPLIER],
                 id="N50-removed"),
    pytest.param("GSME", "Suspended", "11.2", UNLISTED, None, "N51", [SUPPLIER],
                 id="N51-unlisted"),
    pytest.param("GPF", "Commissioned", "11.2", CURRENT, None, "N52", [SENDER],
                 id="N52-gpf"),
]


@pytest.mark.parametrize("device_type,status,source,version,outcome,code,recipients",
                         ALERT_CASES)
def test_dsp_alert_messages(store, schema, device_type, status, source, version, outcome,
                            code, recipients):
    inv = build_world(device_type, status, "Commissioned" if status == "Suspended" else None)
    dsp = DSP(inv, store, profile=profile("mp105-option2"), clock=FixedClock(NOW),
              schema=schema)
    out = dsp.process_firmware_report(FirmwareReport(
        EUIS[device_type], source, version, successful=outcome, sender=SENDER))
    assert sorted(o.recipient for o in out) == sorted(recipients)
    about = EUIS["GSME"] if code == "N52" else EUIS[device_type]
    counters = []
    for o in out:
        assert (o.kind, o.code) == ("dcc-alert", code)
        tree = etree.fromstring(o.xml).getroottree()
        assert check_tree(tree, schema).verdict == VALID
        verified = verify(o.xml, store, now=NOW)
        assert verified.kind == "Response" and str(verified.signer_eui) == DSP_EUI
        root = verified.root
        assert root.find("sr:Header/sr:RequestID", SRNS) is None
        originator, target, counter = root.findtext("sr:Header/sr:ResponseID",
                                                    namespaces=SRNS).split(":")
        assert (originator, target) == (DSP_EUI, o.recipient)
        counters.append(int(counter))
        assert root.findtext("sr:Header/sr:ResponseCode", namespaces=SRNS) == "I0"
        message = root.find("sr:Body/sr:DCCAlertMessage", SRNS)
        assert message.findtext("sr:DCCAlertCode", namespaces=SRNS) == code
        if code == "N29":
            event = message.find("sr:DCCAlert/sr:DeviceStatusChangeEvent", SRNS)
            assert event.findtext("sr:DeviceID", namespaces=SRNS) == about
            assert event.find("sr:DeviceStatusChange/sr:DeviceRestored", SRNS) is not None
        else:
            mismatch = message.find("sr:DCCAlert/sr:FirmwareVersionMismatch", SRNS)
            assert mismatch.findtext("sr:DeviceID", namespaces=SRNS) == about
            assert mismatch.findtext("sr:FirmwareVersionDevice", namespaces=SRNS) == version
            assert mismatch.findtext("sr:FirmwareVersionSMI", namespaces=SRNS) == \
                SMI_FW["GSME" if code == "N52" else device_type]
    assert len(set(counters)) == len(counters)  # each alert has its own ResponseID


def test_dsp_alert_messages_valid_against_official_schema(store, official_schema):
    inv = build_world("ESME", "Suspended", "Commissioned")
    dsp = DSP(inv, store, profile=profile("mp105-option2"), clock=FixedClock(NOW))
    out = dsp.process_firmware_report(FirmwareReport(EUIS["ESME"], "11.2", CURRENT))
    out += dsp.process_firmware_report(FirmwareReport(EUIS["ESME"], "11.2", REMOVED))
    out += dsp.process_firmware_report(FirmwareReport(EUIS["ESME"], "11.2", UNLISTED))
    out += dsp.process_firmware_report(FirmwareReport(EUIS["GPF"], "11.2", CURRENT,
                                                      sender=SENDER))
    assert [o.code for o in out] == ["N29", "N29", "N50", "N51", "N52"]
    for o in out:
        tree = etree.fromstring(o.xml).getroottree()
        assert check_tree(tree, official_schema).verdict == VALID, o.code


def test_dsp_sends_nothing_for_an_unprocessed_report(store, schema):
    inv = build_world("ESME", "Suspended", "Commissioned")
    dsp = DSP(inv, store, profile=profile("baseline"), clock=FixedClock(NOW), schema=schema)
    before = dump(inv)
    assert dsp.process_firmware_report(FirmwareReport(EUIS["ESME"], "11.2", CURRENT)) == []
    assert dsp.process_firmware_report(FirmwareReport(EUIS["ESME"], "11.3", CURRENT,
                                                      successful=False)) == []
    assert dump(inv) == before
