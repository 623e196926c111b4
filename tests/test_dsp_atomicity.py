"""All-or-nothing SMI changes in the DSP: a failure injected at any write of a firmware
report's processing, or of a CPL removal, leaves the SMI and its audit log exactly as
they were, and no alert goes out; a successful restore is audited with its cause.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duis.clock import FixedClock
from duis.dsp import DSP, FirmwareReport
from duis.messages import build, node, request
from duis.profiles import profile
from duis.signatures import CredentialStore, sign_with_store
from duis.smi import CplEntry, Device, FailOnWrite, InjectedFault, SqliteInventory, User

PKI = Path(__file__).resolve().parents[1] / "samples" / "pki"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

SUPPLIER = "90-B3-D5-1F-30-01-00-00"
NETWORK = "90-B3-D5-1F-30-05-00-00"
HUB = "00-DB-12-34-56-78-90-A1"
METER = "00-DB-12-34-56-78-90-A0"
#: meters of the model whose 1.0 firmware gets removed, by status
FLEET = {
    "00-DB-12-34-56-78-91-01": "Commissioned",
    "00-DB-12-34-56-78-91-02": "InstalledNotCommissioned",
    "00-DB-12-34-56-78-91-03": "Pending",
    "00-DB-12-34-56-78-91-04": "Decommissioned",
    "00-DB-12-34-56-78-91-05": "Withdrawn",
    "00-DB-12-34-56-78-91-06": "Recovered",
}
OTHER_MODEL_METER = "00-DB-12-34-56-78-92-01"


def build_world() -> SqliteInventory:
    """A hub, a meter Suspended for removed firmware 0.9, and a fleet on firmware 1.0."""
    inv = SqliteInventory(":memory:", clock=FixedClock(NOW))
    inv.add_user(User(SUPPLIER, "Supplier", ["IS", "GS"]))
    inv.add_user(User(NETWORK, "Network", ["ED", "GT"]))
    for version, status in (("0.9", "Removed"), ("1.0", "Current"), ("1.1", "Current")):
        inv.add_cpl_entry(CplEntry("Acme", "E-2", version, None, "SMETS2", status))
    inv.add_cpl_entry(CplEntry("Acme", "E-3", "1.0", None, "SMETS2"))
    inv.add_cpl_entry(CplEntry("Hubco", "H-2", "5.0", None, "SMETS2"))
    common = dict(smets="SMETS2", supplier=SUPPLIER, network_operator=NETWORK)
    inv.add_device(Device(HUB, "CHF", "Hubco", "H-2", status="Commissioned",
                          status_before_suspension=None, firmware_version="5.0", **common))
    inv.add_device(Device(METER, "ESME", "Acme", "E-2", status="Suspended",
                          status_before_suspension="InstalledNotCommissioned",
                          firmware_version="0.9", hub=HUB, **common))
    for eui, status in FLEET.items():
        inv.add_device(Device(eui, "ESME", "Acme", "E-2", status=status,
                              status_before_suspension=None, firmware_version="1.0",
                              hub=HUB, **common))
    inv.add_device(Device(OTHER_MODEL_METER, "ESME", "Acme", "E-3", status="Commissioned",
                          status_before_suspension=None, firmware_version="1.0", hub=HUB,
                          **common))
    return inv


def snapshot(inv: SqliteInventory) -> tuple:
    """Everything: devices, CPL, users (read from the database) and the audit log."""
    return (tuple(inv.devices()), tuple(inv.cpl_entries()), tuple(inv.users()),
            tuple(inv.audit()), inv.last_seq())


def cached_view(inv: SqliteInventory) -> tuple:
    """The same devices as the inventory's own lookups (and cache) return them."""
    return tuple(inv.device(d.eui) for d in inv.devices())


def make_dsp(inv, store, name="mp105-option2") -> DSP:
    return DSP(inv, store, profile=profile(name), clock=FixedClock(NOW))


RESTORE = FirmwareReport(METER, "11.2", "1.1", sender=SUPPLIER,
                         cause=f"{SUPPLIER}:{METER}:7001")
REMOVED_REPORT = FirmwareReport("00-DB-12-34-56-78-91-01", "11.3", "0.9", successful=True,
                                cause=f"{SUPPLIER}:00-DB-12-34-56-78-91-01:7002")


def _writes(action) -> list[str]:
    """The write labels an action goes through, on a fresh world."""
    recorder = FailOnWrite()
    inv = build_world()
    inv.write_hook = recorder
    action(inv)
    return recorder.seen


def _restore(inv):
    return make_dsp(inv, CredentialStore(PKI)).process_firmware_report(RESTORE)


def _removed(inv):
    return make_dsp(inv, CredentialStore(PKI)).process_firmware_report(REMOVED_REPORT)


def _remove_cpl(inv):
    return inv.remove_cpl_entry("Acme", "E-2", "1.0", "SMETS2", reason="CPL removal",
                                cause="CPL change 42")


RESTORE_WRITES = _writes(_restore)
REMOVED_WRITES = _writes(_removed)
REMOVAL_WRITES = _writes(_remove_cpl)


def test_the_fault_points_cover_the_interesting_writes():
    """The parametrised cases below fail each write in turn: make sure they are there."""
    assert {"device.update", "audit.insert", "commit"} <= set(RESTORE_WRITES)
    assert {"device.update", "audit.insert", "commit"} <= set(REMOVED_WRITES)
    assert {"cpl.update", "audit.insert", "removal.suspend", "commit"} <= set(REMOVAL_WRITES)


def _cases(labels):
    return [pytest.param(n, label, id=f"{n}-{label}") for n, label in enumerate(labels, 1)]


@pytest.mark.parametrize("nth,label", _cases(RESTORE_WRITES))
def test_restore_interrupted_leaves_smi_and_audit_untouched(store, nth, label):
    inv = build_world()
    dsp = make_dsp(inv, store)
    before, before_cached = snapshot(inv), cached_view(inv)
    hook = FailOnWrite(nth)
    inv.write_hook = hook
    with pytest.raises(InjectedFault):
        dsp.process_firmware_report(RESTORE)  # no alert list comes back
    assert hook.fired and hook.seen[-1] == label
    assert snapshot(inv) == before
    assert cached_view(inv) == before_cached
    # The hook fires once: the same report now goes through and restores the meter.
    out = dsp.process_firmware_report(RESTORE)
    assert sorted((o.code, o.recipient) for o in out) == [("N29", SUPPLIER), ("N29", NETWORK)]
    meter = inv.device(METER)
    assert (meter.status, meter.status_before_suspension, meter.firmware_version) == \
        ("InstalledNotCommissioned", None, "1.1")


@pytest.mark.parametrize("nth,label", _cases(REMOVED_WRITES))
def test_removed_version_update_interrupted_leaves_smi_untouched(store, nth, label):
    """The N50 path (version updated, status kept): no N50 when the update failed."""
    inv = build_world()
    dsp = make_dsp(inv, store)
    before = snapshot(inv)
    inv.write_hook = FailOnWrite(nth)
    with pytest.raises(InjectedFault):
        dsp.process_firmware_report(REMOVED_REPORT)
    assert snapshot(inv) == before
    assert [o.code for o in dsp.process_firmware_report(REMOVED_REPORT)] == ["N50"]


def test_restore_inside_an_outer_transaction_is_undone_with_it(store):
    inv = build_world()
    dsp = make_dsp(inv, store)
    before = snapshot(inv)
    with pytest.raises(RuntimeError):
        with inv.transaction():
            assert [o.code for o in dsp.process_firmware_report(RESTORE)] == ["N29", "N29"]
            raise RuntimeError("the caller fails afterwards")
    assert snapshot(inv) == before
    assert inv.device(METER).status == "Suspended"


@pytest.mark.parametrize("nth,label", _cases(REMOVAL_WRITES))
def test_cpl_removal_interrupted_leaves_smi_and_audit_untouched(nth, label):
    inv = build_world()
    before, before_cached = snapshot(inv), cached_view(inv)
    hook = FailOnWrite(nth)
    inv.write_hook = hook
    with pytest.raises(InjectedFault):
        _remove_cpl(inv)
    assert hook.seen[-1] == label
    assert snapshot(inv) == before
    assert cached_view(inv) == before_cached
    # Retried, the removal suspends the live fleet on 1.0 and remembers each status.
    suspended = _remove_cpl(inv)
    live = {eui: s for eui, s in FLEET.items() if s not in ("Decommissioned", "Withdrawn")}
    assert suspended == sorted(live)
    for eui, status in FLEET.items():
        d = inv.device(eui)
        if eui in live:
            assert (d.status, d.status_before_suspension) == ("Suspended", status)
        else:
            assert (d.status, d.status_before_suspension) == (status, None)
    assert inv.device(OTHER_MODEL_METER).status == "Commissioned"
    assert inv.device(METER).status_before_suspension == "InstalledNotCommissioned"
    assert inv.cpl_entry("Acme", "E-2", "1.0", "SMETS2").status == "Removed"
    rows = [r for r in inv.audit(before[-1])]
    assert {(r.entity, r.key, r.field, r.old, r.new) for r in rows} == (
        {("cpl", "Acme/E-2/1.0/SMETS2", "status", "Current", "Removed")}
        | {("device", eui, "status", status, "Suspended") for eui, status in live.items()}
        | {("device", eui, "status_before_suspension", None, status)
           for eui, status in live.items()})
    assert {(r.reason, r.cause) for r in rows} == {("CPL removal", "CPL change 42")}


def test_removal_then_restore_round_trip(store):
    """Remove 1.0, then a suspended fleet meter reports 1.1 (Current): it comes back."""
    inv = build_world()
    _remove_cpl(inv)
    eui = "00-DB-12-34-56-78-91-02"
    out = make_dsp(inv, store).process_firmware_report(
        FirmwareReport(eui, "11.3", "1.1", successful=None, cause="retry"))
    assert [o.code for o in out] == ["N29", "N29"]
    d = inv.device(eui)
    assert (d.status, d.status_before_suspension, d.firmware_version) == \
        ("InstalledNotCommissioned", None, "1.1")


def test_successful_restore_is_audited_with_reason_and_request_id(store):
    """The 11.2 goes through the DSP (I99); its response, processed with the RequestID
    as cause, restores the meter; every audit row names the reason and that RequestID."""
    inv = build_world()
    dsp = make_dsp(inv, store, "mp105-option1")
    r = request(SUPPLIER, METER, 7001, "11.2", node("ReadFirmwareVersion"))
    sub = dsp.submit(sign_with_store(build(r), store, preserve_counter=True, now=NOW))
    assert sub.response.code == "I99"
    request_id = f"{r.originator}:{r.target}:{r.counter}"
    seq = inv.last_seq()
    out = dsp.process_firmware_report(FirmwareReport(METER, "11.2", "1.1", sender=SUPPLIER,
                                                     cause=request_id))
    assert [o.code for o in out] == ["N29", "N29"]
    rows = list(inv.audit(seq))
    assert sorted((r.field, r.old, r.new) for r in rows) == sorted([
        ("firmware_version", "0.9", "1.1"),
        ("status", "Suspended", "InstalledNotCommissioned"),
        ("status_before_suspension", "InstalledNotCommissioned", None)])
    for row in rows:
        assert (row.entity, row.key, row.cause) == ("device", METER, request_id)
        assert row.at == "2030-01-01T00:00:00.000Z"
        assert "1.1" in row.reason and "Current" in row.reason, row.reason
    assert inv.last_seq() == seq + 3


def test_failed_attempt_leaves_no_audit_rows_before_the_successful_one(store):
    inv = build_world()
    dsp = make_dsp(inv, store)
    seq = inv.last_seq()
    inv.write_hook = FailOnWrite(label="audit.insert")
    with pytest.raises(InjectedFault):
        dsp.process_firmware_report(RESTORE)
    assert list(inv.audit(seq)) == []
    dsp.process_firmware_report(RESTORE)
    rows = list(inv.audit(seq))
    assert len(rows) == 3 and {r.cause for r in rows} == {RESTORE.cause}
