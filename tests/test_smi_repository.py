"""The SMI and CPL store: lookups, audited changes, CPL removal, atomicity, persistence."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from duis.clock import FixedClock
from duis.errors import DuisError
from duis.messages.ids import EUI64, canonical_eui, is_canonical_eui
from duis.smi import (
    AmbiguousCplEntry,
    CplEntry,
    Device,
    DuplicateKey,
    FailOnWrite,
    InjectedFault,
    InvalidRecord,
    Inventory,
    NotFound,
    SmiError,
    SqliteInventory,
    User,
    load_world,
    open_smi,
)
from duis.smi.schema import create_tables
from duis.smi.tables import CPL_STATUS_IN_DUIS, DEVICE_STATUSES, DEVICE_TYPES

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORLD = ROOT / "samples" / "worlds" / "default.toml"

SUPPLIER_A, SUPPLIER_B = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"
OPERATOR = "90-B3-D5-1F-30-03-00-00"
CHF, ESME, GSME = "00-DB-12-34-56-78-90-A1", "00-DB-12-34-56-78-90-A0", "00-DB-12-34-56-78-90-A2"
PPMID = "00-DB-12-34-56-78-90-A4"
S1_ESME, S1_HUB = "00-DB-12-34-56-78-91-B0", "00-DB-12-34-56-78-91-B1"
START = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def inv(clock: FixedClock) -> SqliteInventory:
    inventory = load_world(DEFAULT_WORLD, clock=clock)
    yield inventory
    inventory.close()


def dump(inventory: SqliteInventory) -> tuple:
    """Everything the inventory holds, read straight from the database."""
    return (list(inventory.devices()), list(inventory.users()), list(inventory.cpl_entries()),
            list(inventory.audit()))


def eui(n: int) -> str:
    text = f"{0x00DB00000000AA00 + n:016X}"
    return "-".join(text[i:i + 2] for i in range(0, 16, 2))


def device(n: int, *, model: str = "FX-1", version: str = "1.0", status: str = "Commissioned",
           before: str | None = None, hub: str | None = CHF, manufacturer: str = "Fixture Co",
           smets: str = "SMETS2", device_type: str = "ESME") -> Device:
    return Device(eui(n), device_type, manufacturer, model, smets, status, before, version, hub,
                  SUPPLIER_A, OPERATOR)


# --- the model's own rules ---------------------------------------------------

def test_tables_follow_the_schema_spelling():
    assert DEVICE_TYPES == ("ESME", "GSME", "GPF", "CHF", "HCALCS", "PPMID", "IHD", "CAD")
    assert "InstalledNotCommissioned" in DEVICE_STATUSES and len(DEVICE_STATUSES) == 9
    assert CPL_STATUS_IN_DUIS == {"Current": "Active", "Removed": "Withdrawn"}


def test_records_normalise_euis_and_refuse_bad_fields():
    made = Device("00db1234567890aa", "ESME", "M", "X", "SMETS2", "Commissioned", None, "1",
                  hub="00-db-12-34-56-78-90-a1")
    assert (made.eui, made.hub) == ("00-DB-12-34-56-78-90-AA", CHF)
    with pytest.raises(InvalidRecord) as bad:
        Device(ESME, "ESMX", "M", "X", "SMETS2", "Commissioned", None, "1")
    assert bad.value.path == "device_type" and "ESMX" in str(bad.value)
    with pytest.raises(InvalidRecord, match="firmware_version"):
        Device(ESME, "ESME", "M", "X", "SMETS2", "Commissioned", None, "123456789")
    with pytest.raises(InvalidRecord, match="status_before_suspension"):
        Device(ESME, "ESME", "M", "X", "SMETS2", "Suspended", None, "1")
    with pytest.raises(InvalidRecord, match="status_before_suspension"):
        Device(ESME, "ESME", "M", "X", "SMETS2", "Commissioned", "Pending", "1")
    with pytest.raises(InvalidRecord, match="roles"):
        User(SUPPLIER_A, "X", frozenset({"XX"}))
    with pytest.raises(InvalidRecord, match="firmware_hash"):
        CplEntry("M", "X", "1", "AB" * 31, "SMETS2")
    assert CplEntry("M", "X", "1", "ab" * 32, "SMETS2").firmware_hash == "AB" * 32
    assert User(SUPPLIER_A, "X", ["IS"]).roles == frozenset({"IS"})


# --- lookups -------------------------------------------------------------------

def test_lookups(inv: SqliteInventory):
    esme = inv.device(ESME)
    assert (esme.device_type, esme.status, esme.firmware_version, esme.hub) == \
        ("ESME", "Commissioned", "1.0.0", CHF)
    assert inv.device("00db1234567890a0") == esme
    assert inv.device(EUI64.parse(ESME)) == esme
    assert inv.device("00-DB-12-34-56-78-90-FF") is None
    assert inv.device("not an eui") is None
    assert inv.user(SUPPLIER_A).roles == frozenset({"IS", "GS"})
    assert inv.user("90-B3-D5-1F-30-09-00-00") is None
    entry = inv.cpl_entry("Acme Meters", "AM-E2", "1.0.0")
    assert entry.status == "Current" and entry.duis_status == "Active"
    assert inv.cpl_entry("Acme Meters", "AM-E2", "0.9.0").duis_status == "Withdrawn"
    assert inv.cpl_entry("Acme Meters", "AM-E2", "9.9") is None


def test_filters(inv: SqliteInventory):
    on_hub = [d.eui for d in inv.devices(hub=CHF)]
    assert on_hub == [ESME, GSME, "00-DB-12-34-56-78-90-A3", PPMID]
    assert [d.eui for d in inv.devices(hub=None)] == [CHF, S1_HUB]
    assert [d.eui for d in inv.devices(device_type={"ESME", "GSME"}, smets="SMETS2")] == \
        [ESME, GSME]
    assert len(list(inv.cpl_entries(model="AM-E2"))) == 3
    with pytest.raises(InvalidRecord, match="colour"):
        list(inv.devices(colour="red"))


def test_mp202_the_comms_hub_generation_picks_the_cpl_row(inv: SqliteInventory):
    with pytest.raises(AmbiguousCplEntry):
        inv.cpl_entry("Keypad Co", "KP-P1", "1.3")
    assert inv.cpl_entry("Keypad Co", "KP-P1", "1.3", "SMETS1").smets == "SMETS1"
    ppmid = inv.device(PPMID)
    assert inv.cpl_entry_for(ppmid).smets == "SMETS2"
    # prenotified as SMETS1, but its system's hub is SMETS2: the SMETS2 row applies
    inv.update_device(PPMID, smets="SMETS1", reason="test", cause="t")
    assert inv.cpl_entry_for(inv.device(PPMID)).smets == "SMETS2"
    assert inv.cpl_entry_for(ppmid, "1.2").firmware_version == "1.2"
    assert inv.cpl_entry_for(ppmid, "7.7") is None


# --- additions and changes, audited -----------------------------------------------

def test_add_and_duplicate(inv: SqliteInventory, clock: FixedClock):
    before = inv.last_seq()
    inv.add_device(device(1), reason="install", cause="scenario step 1")
    assert inv.device(eui(1)).model == "FX-1"
    [row] = inv.audit(since_seq=before)
    assert (row.entity, row.key, row.field, row.new, row.reason, row.cause) == \
        ("device", eui(1), "*", "created", "install", "scenario step 1")
    assert row.at == "2024-03-01T12:00:00.000Z"
    with pytest.raises(DuplicateKey, match=ESME):
        inv.add_device(replace(device(1), eui=ESME))
    with pytest.raises(DuplicateKey):
        inv.add_user(User(SUPPLIER_A, "again", frozenset({"IS"})))
    with pytest.raises(DuplicateKey):
        inv.add_cpl_entry(CplEntry("Acme Meters", "AM-E2", "1.0.0", None, "SMETS2"))
    assert inv.last_seq() == before + 1


def test_update_device_audits_each_changed_field(inv: SqliteInventory, clock: FixedClock):
    before = inv.last_seq()
    clock.advance(minutes=5)
    cause = f"{SUPPLIER_A}:{ESME}:1001"
    updated = inv.update_device(ESME, firmware_version="1.1.0", status="Commissioned",
                                reason="11.3 response", cause=cause)
    assert updated.firmware_version == "1.1.0" and inv.device(ESME) == updated
    rows = list(inv.audit(since_seq=before))
    assert [(r.field, r.old, r.new, r.reason, r.cause, r.at) for r in rows] == [
        ("firmware_version", "1.0.0", "1.1.0", "11.3 response", cause, "2024-03-01T12:05:00.000Z")]
    assert inv.update_device(ESME, firmware_version="1.1.0", reason="x", cause="y") == updated
    assert inv.last_seq() == before + 1  # nothing changed, nothing audited


def test_update_device_refuses_and_changes_nothing(inv: SqliteInventory):
    snapshot = dump(inv)
    with pytest.raises(InvalidRecord, match="device_type"):
        inv.update_device(ESME, device_type="TOASTER", reason="x", cause="y")
    with pytest.raises(InvalidRecord, match="eui"):
        inv.update_device(ESME, eui=GSME, reason="x", cause="y")
    with pytest.raises(InvalidRecord, match="status_before_suspension"):
        inv.update_device(ESME, status="Suspended", reason="x", cause="y")
    with pytest.raises(NotFound):
        inv.update_device("00-DB-00-00-00-00-00-01", status="Pending", reason="x", cause="y")
    assert dump(inv) == snapshot


def test_update_user_and_its_cache(inv: SqliteInventory):
    assert inv.user(SUPPLIER_B).status == "Active"
    before = inv.last_seq()
    inv.update_user(SUPPLIER_B, status="Suspended", roles=["IS"], reason="SEC panel",
                    cause="step 4")
    assert inv.user(SUPPLIER_B).status == "Suspended"
    assert inv.user(SUPPLIER_B).roles == frozenset({"IS"})
    assert [(r.field, r.old, r.new) for r in inv.audit(since_seq=before)] == [
        ("roles", "GS IS", "IS"), ("status", "Active", "Suspended")]


def test_set_cpl_status_touches_no_device(inv: SqliteInventory):
    devices = list(inv.devices())
    before = inv.last_seq()
    entry = inv.set_cpl_status("Acme Meters", "AM-E2", "1.0.0", status="Removed",
                               reason="raw", cause="t")
    assert entry.status == "Removed"
    assert list(inv.devices()) == devices
    [row] = inv.audit(since_seq=before)
    assert (row.entity, row.key, row.field, row.old, row.new) == \
        ("cpl", "Acme Meters/AM-E2/1.0.0/SMETS2", "status", "Current", "Removed")
    with pytest.raises(NotFound):
        inv.set_cpl_status("Acme Meters", "AM-E2", "5", status="Removed", reason="r", cause="c")


# --- CPL removal --------------------------------------------------------------------

@pytest.fixture
def fleet(inv: SqliteInventory) -> SqliteInventory:
    return _add_fleet(inv)


def _add_fleet(inv: SqliteInventory) -> SqliteInventory:
    """Devices around one CPL entry (Fixture Co FX-1 1.0), in every situation."""
    inv.add_cpl_entry(CplEntry("Fixture Co", "FX-1", "1.0", "01" * 32, "SMETS2"))
    inv.add_cpl_entry(CplEntry("Fixture Co", "FX-1", "1.1", "02" * 32, "SMETS2"))
    inv.add_devices([
        device(1),                                          # suspended
        device(2, status="InstalledNotCommissioned"),       # suspended
        device(3, status="Pending"),                        # suspended
        device(4, status="Suspended", before="Commissioned"),  # already suspended
        device(5, status="Decommissioned"),
        device(6, status="Withdrawn"),
        device(7, version="1.1"),                           # other version
        device(8, model="FX-2"),                            # other model, same version
        device(9, manufacturer="Other Co"),                 # other manufacturer
        device(10, hub=S1_HUB),                             # a SMETS1 system: other CPL row
        device(11, status="Recovered", hub=None),           # no hub: its own generation
    ], cause="fixture")
    return inv


def test_cpl_removal_suspends_exactly_the_devices_running_it(fleet: SqliteInventory):
    untouched = {d.eui: d for d in fleet.devices() if d.eui not in {eui(1), eui(2), eui(3),
                                                                    eui(11)}}
    before = fleet.last_seq()
    suspended = fleet.remove_cpl_entry("Fixture Co", "FX-1", "1.0", reason="CPL removal",
                                       cause="CPL change 42")
    assert suspended == [eui(1), eui(2), eui(3), eui(11)]
    previous = {eui(1): "Commissioned", eui(2): "InstalledNotCommissioned", eui(3): "Pending",
                eui(11): "Recovered"}
    for key, status in previous.items():
        now = fleet.device(key)
        assert (now.status, now.status_before_suspension) == ("Suspended", status)
    assert {d.eui: d for d in fleet.devices() if d.eui in untouched} == untouched
    assert fleet.device(eui(4)).status_before_suspension == "Commissioned"
    assert fleet.cpl_entry("Fixture Co", "FX-1", "1.0").status == "Removed"
    rows = list(fleet.audit(since_seq=before))
    assert (rows[0].entity, rows[0].field, rows[0].old, rows[0].new) == \
        ("cpl", "status", "Current", "Removed")
    assert [(r.key, r.field, r.old, r.new) for r in rows[1:3]] == [
        (eui(1), "status", "Commissioned", "Suspended"),
        (eui(1), "status_before_suspension", None, "Commissioned")]
    assert len(rows) == 1 + 2 * 4
    assert {(r.reason, r.cause) for r in rows} == {("CPL removal", "CPL change 42")}
    # again: the entry is already Removed and nothing is left to suspend
    assert fleet.remove_cpl_entry("Fixture Co", "FX-1", "1.0", reason="r", cause="c") == []
    assert fleet.last_seq() == rows[-1].seq


def test_cpl_removal_per_smets_generation(fleet: SqliteInventory):
    fleet.add_cpl_entry(CplEntry("Fixture Co", "FX-1", "1.0", "03" * 32, "SMETS1"))
    with pytest.raises(AmbiguousCplEntry):
        fleet.remove_cpl_entry("Fixture Co", "FX-1", "1.0", reason="r", cause="c")
    assert fleet.remove_cpl_entry("Fixture Co", "FX-1", "1.0", "SMETS1", reason="r",
                                  cause="c") == [eui(10)]
    assert fleet.cpl_entry("Fixture Co", "FX-1", "1.0", "SMETS2").status == "Current"
    with pytest.raises(NotFound):
        fleet.remove_cpl_entry("Fixture Co", "FX-9", "1.0", reason="r", cause="c")


def test_removal_in_the_default_world(inv: SqliteInventory):
    assert inv.remove_cpl_entry("Northwind Comms", "NW-CH2", "2.1.0", reason="r",
                                cause="c") == [CHF, "00-DB-12-34-56-78-90-A3"]
    assert inv.device(ESME).status == "Commissioned"


# --- atomicity ---------------------------------------------------------------------------

def test_a_failure_at_any_write_of_a_removal_leaves_everything_as_before(fleet):
    recorder = FailOnWrite()
    fleet.write_hook = recorder
    snapshot = dump(fleet)
    fleet.remove_cpl_entry("Fixture Co", "FX-1", "1.0", reason="r", cause="c")
    writes = len(recorder.seen)
    assert "removal.suspend" in recorder.seen and writes >= 4
    fleet.close()
    for nth in range(1, writes + 1):
        inventory = _fresh_fleet()
        assert dump(inventory) == snapshot
        inventory.write_hook = FailOnWrite(nth)
        with pytest.raises(InjectedFault):
            inventory.remove_cpl_entry("Fixture Co", "FX-1", "1.0", reason="r", cause="c")
        assert dump(inventory) == snapshot, f"write {nth} ({recorder.seen[nth - 1]})"
        assert inventory.device(eui(1)).status == "Commissioned"  # no stale cache
        inventory.close()


def _fresh_fleet() -> SqliteInventory:
    inventory = load_world(DEFAULT_WORLD, clock=FixedClock(START))
    return _add_fleet(inventory)


def _several_steps(inventory: SqliteInventory) -> None:
    with inventory.transaction():
        inventory.update_device(ESME, firmware_version="1.1.0", reason="11.3", cause="r1")
        inventory.add_device(device(20), cause="r1")
        with inventory.transaction():
            inventory.remove_cpl_entry("Fixture Co", "FX-1", "1.0", reason="cpl", cause="r1")
            inventory.update_user(SUPPLIER_B, status="Suspended", reason="x", cause="r1")
        inventory.set_cpl_status("Acme Meters", "AM-E2", "1.1.0", status="Removed",
                                 reason="x", cause="r1")


def test_a_failure_mid_transaction_undoes_every_step(fleet: SqliteInventory):
    recorder = FailOnWrite()
    fleet.write_hook = recorder
    _several_steps(fleet)
    writes = len(recorder.seen)
    fleet.close()
    for nth in (1, 3, writes // 2, writes - 1, writes):
        inventory = _fresh_fleet()
        snapshot = dump(inventory)
        inventory.write_hook = FailOnWrite(nth)
        with pytest.raises(InjectedFault):
            _several_steps(inventory)
        assert dump(inventory) == snapshot, f"write {nth} ({recorder.seen[nth - 1]})"
        assert inventory.device(ESME).firmware_version == "1.0.0"
        assert inventory.user(SUPPLIER_B).status == "Active"
        inventory.close()


def test_any_exception_rolls_the_transaction_back(inv: SqliteInventory):
    snapshot = dump(inv)
    with pytest.raises(ZeroDivisionError):
        with inv.transaction():
            inv.update_device(ESME, status="Decommissioned", reason="x", cause="y")
            assert inv.device(ESME).status == "Decommissioned"
            raise ZeroDivisionError("a failure inside the transaction")
    assert dump(inv) == snapshot and inv.device(ESME).status == "Commissioned"


def test_a_nested_block_that_fails_is_undone_alone(inv: SqliteInventory):
    with inv.transaction():
        inv.update_device(ESME, firmware_version="1.1.0", reason="a", cause="c")
        with pytest.raises(InjectedFault):
            with inv.transaction():
                inv.update_device(GSME, firmware_version="3.1", reason="b", cause="c")
                inv.write_hook = FailOnWrite(1)
                inv.update_device(PPMID, firmware_version="1.2", reason="b", cause="c")
        inv.write_hook = None
    assert inv.device(ESME).firmware_version == "1.1.0"
    assert inv.device(GSME).firmware_version == "3.0"
    assert inv.device(PPMID).firmware_version == "1.3"
    assert [r.reason for r in inv.audit(since_seq=inv.last_seq() - 1)] == ["a"]


def test_bulk_add_is_all_or_nothing(inv: SqliteInventory):
    snapshot = dump(inv)
    batch = [device(n) for n in range(30)] + [device(5)]
    with pytest.raises(DuplicateKey, match=eui(5)):
        inv.add_devices(batch)
    with pytest.raises(DuplicateKey, match=ESME):
        inv.add_devices([device(40), replace(device(41), eui=ESME)])
    with pytest.raises(InvalidRecord):
        inv.add_devices([device(50), "not a device"])
    assert dump(inv) == snapshot
    assert inv.add_devices(device(n) for n in range(25_000)) == 25_000


# --- persistence --------------------------------------------------------------------------

def test_a_file_database_survives_reopening(tmp_path: Path, clock: FixedClock):
    path = tmp_path / "smi.sqlite"
    with SqliteInventory(path, clock=clock) as inventory:
        load_world(DEFAULT_WORLD, inventory)
        inventory.remove_cpl_entry("Acme Meters", "AM-E2", "1.0.0", reason="r", cause="c")
        snapshot = dump(inventory)
    with SqliteInventory(path, clock=clock) as reopened:
        assert dump(reopened) == snapshot
        assert reopened.device(ESME).status_before_suspension == "Commissioned"
        reopened.update_device(ESME, status="Commissioned", status_before_suspension=None,
                               firmware_version="1.1.0", reason="N29", cause="r2")
    with SqliteInventory(path) as again:
        assert again.device(ESME).status == "Commissioned"
        assert again.last_seq() == snapshot[3][-1].seq + 3


def test_another_schema_version_is_refused(tmp_path: Path):
    path = tmp_path / "smi.sqlite"
    SqliteInventory(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE smi_meta SET value = '99' WHERE key = 'schema'")
    db.close()
    with pytest.raises(SmiError, match="schema version"):
        SqliteInventory(path)


def test_a_file_that_is_not_an_smi_database_is_refused(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, " * 100)
    with pytest.raises(SmiError, match="not an SMI database") as caught:
        SqliteInventory(path)
    assert caught.value.source == str(path)


def test_another_applications_database_is_refused_and_left_as_it_was(tmp_path: Path):
    # it got the SMI's tables written into it and was switched to WAL
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (a)")
    db.close()
    before = path.read_bytes()
    with pytest.raises(SmiError, match="not an SMI database") as caught:
        SqliteInventory(path)
    assert (caught.value.source, caught.value.found) == (str(path), "tables notes")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_a_path_that_cannot_be_a_database_is_refused(tmp_path: Path):
    with pytest.raises(SmiError, match="cannot open the SMI database"):
        SqliteInventory(tmp_path)                               # a folder
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SmiError, match="cannot open the SMI database"):
        SqliteInventory(tmp_path / "afile" / "smi.sqlite")      # under a file


def test_an_empty_smi_file_is_refused_not_left_unseeded(tmp_path: Path):
    # a 0-byte file opened as an SMI with no world in it
    path = tmp_path / "smi.sqlite"
    path.touch()
    with pytest.raises(SmiError, match="the SMI file is empty"):
        open_smi(path, DEFAULT_WORLD)
    assert path.read_bytes() == b""


@pytest.mark.slow  # SQLite's 5 s wait for the lock: make test-slow (CI) runs it
def test_an_smi_held_by_a_writer_opens_to_read_and_a_locked_new_file_is_named_so(tmp_path):
    # opening took the write lock (to create the tables, which were there): a command
    # that only reads waited 5 s, then was told "not an SMI database; database is locked"
    path = tmp_path / "smi.sqlite"
    load_world(DEFAULT_WORLD, SqliteInventory(path)).close()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        reader = SqliteInventory(path)
        assert reader.device("00-DB-12-34-56-78-90-A0") is not None
        reader.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    fresh = tmp_path / "fresh.sqlite"
    holder = sqlite3.connect(fresh, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SmiError, match="locked by another process"):
            SqliteInventory(fresh)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# --- what the inventory keeps in memory (the simulation's hot path) -------------------

def fresh_read(inventory: SqliteInventory, eui_text: str) -> Device:
    """The device as the database holds it, past every cache."""
    return next(inventory.devices(eui=eui_text))


def test_the_cpl_kept_in_memory_follows_every_cpl_write(inv: SqliteInventory):
    assert inv.cpl_entry("Acme Meters", "AM-E2", "1.0.0").status == "Current"
    inv.set_cpl_status("Acme Meters", "AM-E2", "1.0.0", status="Removed", reason="r", cause="c")
    assert inv.cpl_entry("Acme Meters", "AM-E2", "1.0.0").status == "Removed"
    inv.add_cpl_entry(CplEntry("Acme Meters", "AM-E2", "3.0", "03" * 32, "SMETS2"))
    assert inv.cpl_entry("Acme Meters", "AM-E2", "3.0").firmware_hash == "03" * 32
    inv.remove_cpl_entry("Acme Meters", "AM-E2", "3.0", reason="r", cause="c")
    assert inv.cpl_entry("Acme Meters", "AM-E2", "3.0").status == "Removed"
    assert [e for e in inv.cpl_entries() if e.key[:3] == ("Acme Meters", "AM-E2", "3.0")] == \
        [inv.cpl_entry("Acme Meters", "AM-E2", "3.0")]
    # a write that is rolled back leaves the remembered CPL as the database has it
    with pytest.raises(RuntimeError):
        with inv.transaction():
            inv.set_cpl_status("Acme Meters", "AM-E2", "3.0", status="Current", reason="r",
                               cause="c")
            assert inv.cpl_entry("Acme Meters", "AM-E2", "3.0").status == "Current"
            raise RuntimeError("undo")
    assert inv.cpl_entry("Acme Meters", "AM-E2", "3.0").status == "Removed"
    with pytest.raises(AmbiguousCplEntry):
        inv.cpl_entry("Keypad Co", "KP-P1", "1.3")
    assert [e.smets for e in inv.cache.cpl[("Keypad Co", "KP-P1", "1.3")]] == \
        ["SMETS1", "SMETS2"]


def test_update_device_keeps_exactly_the_row_it_wrote(inv: SqliteInventory):
    inv.device(ESME)
    updated = inv.update_device(ESME, firmware_version="1.1.0", hub="00db1234567890a1",
                                reason="r", cause="c")
    assert inv.device(ESME) is updated  # answered from memory ...
    assert fresh_read(inv, ESME) == updated  # ... and equal to what was written
    assert updated.hub == CHF  # normalised before it was written
    # a failed update leaves neither the row nor the remembered record changed
    inv.write_hook = FailOnWrite(label="audit.insert")
    with pytest.raises(InjectedFault):
        inv.update_device(ESME, firmware_version="1.2.0", reason="r", cause="c")
    assert inv.device(ESME).firmware_version == "1.1.0" == fresh_read(inv, ESME).firmware_version
    with pytest.raises(InvalidRecord):
        inv.update_device(ESME, status="Suspended", reason="r", cause="c")
    assert inv.device(ESME) == fresh_read(inv, ESME)


def test_system_generation_is_remembered_per_hub_until_the_hub_changes(inv: SqliteInventory):
    ppmid = inv.device(PPMID)
    assert inv.system_smets(ppmid) == "SMETS2"
    assert CHF not in inv.cache.devices  # the hub's generation only, not its record
    inv.update_device(CHF, smets="SMETS1", reason="test", cause="t")
    assert inv.system_smets(ppmid) == "SMETS1"
    with pytest.raises(RuntimeError):
        with inv.transaction():
            inv.update_device(CHF, smets="SMETS2", reason="test", cause="t")
            assert inv.system_smets(ppmid) == "SMETS2"
            raise RuntimeError("undo")
    assert inv.system_smets(ppmid) == "SMETS1"
    orphan = replace(ppmid, hub="00-DB-12-34-56-78-90-FF")
    assert inv.system_smets(orphan) == ppmid.smets  # no such hub: its own generation
    assert inv.system_smets(replace(ppmid, hub=None)) == ppmid.smets


def test_prefetch_reads_many_devices_at_once_into_the_cache(inv: SqliteInventory):
    everything = list(inv.devices())
    inv.cache.clear()
    wanted = [d.eui for d in everything] + ["00-DB-12-34-56-78-90-FF", "not an eui"]
    inv.prefetch(wanted)
    assert set(inv.cache.devices) == {d.eui for d in everything}
    assert [inv.device(d.eui) for d in everything] == everything
    small = SqliteInventory(":memory:", cache_size=2)
    load_world(DEFAULT_WORLD, small)
    small.prefetch([d.eui for d in everything])
    assert 0 < len(small.cache.devices) <= 2
    small.close()


def test_recurring_texts_are_shared_between_records(inv: SqliteInventory):
    a, b = inv.device(ESME), inv.device(GSME)
    assert a.supplier == b.supplier and a.supplier is b.supplier
    assert a.status is b.status


def test_audit_times_follow_the_clock(inv: SqliteInventory, clock: FixedClock):
    inv.update_device(ESME, firmware_version="1.1.0", reason="r", cause="c")
    clock.advance(seconds=1.5)
    inv.update_device(ESME, firmware_version="1.2.0", reason="r", cause="c")
    first, second = list(inv.audit())[-2:]
    assert (first.at, second.at) == ("2024-03-01T12:00:00.000Z", "2024-03-01T12:00:01.500Z")


def test_a_file_with_the_older_firmware_index_loses_it(tmp_path: Path):
    path = tmp_path / "smi.sqlite"
    SqliteInventory(path).close()
    with sqlite3.connect(path) as db:
        db.execute("CREATE INDEX device_by_firmware ON device (manufacturer, model, "
                   "firmware_version)")
    db.close()
    SqliteInventory(path).close()
    with sqlite3.connect(path) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master "
                                              "WHERE type = 'index'")}
    db.close()
    assert "device_by_firmware" not in names and {"device_by_model", "device_by_hub"} <= names


# --- the interface and the identifiers ---------------------------------------------

def test_sqlite_inventory_has_every_member_of_the_interface(inv: SqliteInventory):
    members = [name for name in vars(Inventory) if not name.startswith("_")]
    assert {"connection", "prefetch", "transaction"} <= set(members)
    assert [name for name in members if not callable(getattr(inv, name, None))] == []


def test_tables_kept_beside_the_smi_join_its_transactions(inv: SqliteInventory):
    create_tables(inv.connection(), "CREATE TABLE IF NOT EXISTS beside (n INTEGER);")
    with pytest.raises(RuntimeError):
        with inv.transaction():
            inv.connection().execute("INSERT INTO beside VALUES (1)")
            inv.update_device(ESME, firmware_version="1.1.0", reason="r", cause="c")
            raise RuntimeError("undo")
    assert inv.connection().execute("SELECT count(*) FROM beside").fetchone() == (0,)
    assert inv.device(ESME).firmware_version == fresh_read(inv, ESME).firmware_version


def test_one_canonical_eui_text_for_every_spelling():
    text = "00-DB-12-34-56-78-90-A0"
    assert canonical_eui(text) is text  # already canonical: the same object, not parsed
    for spelling in ("00db1234567890a0", " 00-db-12-34-56-78-90-a0 ", EUI64(text)):
        assert canonical_eui(spelling) == text
    for bad in ("00-DB-12", "", None, 7):
        with pytest.raises(DuisError):
            canonical_eui(bad)
    assert is_canonical_eui(text) and not is_canonical_eui(text.lower())
    assert replace(device(1), eui="00db1234567890a0").eui == text  # records normalise too
