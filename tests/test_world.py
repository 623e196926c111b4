"""World files: the default world loads; every error names the file, the line and the field."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from duis.clock import FixedClock
from duis.smi import (
    Device,
    FailOnWrite,
    InjectedFault,
    SqliteInventory,
    WorldError,
    load_world,
    read_world,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORLD = ROOT / "samples" / "worlds" / "default.toml"

USERS = """\
[[users]]
eui = "90-B3-D5-1F-30-01-00-00"
name = "Supplier A"
roles = ["IS", "GS"]

[[users]]
eui = "90-B3-D5-1F-30-03-00-00"
name = "Network Operator"
roles = [
    "ED",  # a multi-line array must not upset line numbers
    "GT",
]
"""
# USERS is 12 lines; the first [[devices]] header below is line 14.
DEVICES = """
[[devices]]
eui = "00-DB-12-34-56-78-90-A1"
device_type = "CHF"
manufacturer = "Northwind Comms"
model = "NW-CH2"
smets = "SMETS2"
status = "Commissioned"
firmware_version = "2.1.0"

[[devices]]
eui = "00-DB-12-34-56-78-90-A0"
device_type = "ESME"
manufacturer = "Acme Meters"
model = "AM-E2"
smets = "SMETS2"
status = "Commissioned"
firmware_version = "1.0.0"
hub = "00-DB-12-34-56-78-90-A1"
supplier = "90-B3-D5-1F-30-01-00-00"
network_operator = "90-B3-D5-1F-30-03-00-00"
"""
ESME_HEADER = 23  # line of the second [[devices]] header


def write(tmp_path: Path, text: str, name: str = "world.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.split("\n"), start=1) if needle in line]
    return lines[occurrence - 1]


def error_for(tmp_path: Path, text: str) -> WorldError:
    path = write(tmp_path, text)
    with pytest.raises(WorldError) as caught:
        read_world(path)
    return caught.value


def test_the_fixture_layout_is_what_the_tests_assume():
    text = USERS + DEVICES
    assert line_of(text, "[[devices]]", 2) == ESME_HEADER
    assert line_of(text, "[[devices]]", 1) == 14


def test_a_good_world(tmp_path: Path):
    world = read_world(write(tmp_path, USERS + DEVICES))
    assert [d.eui for d in world.devices] == ["00-DB-12-34-56-78-90-A1", "00-DB-12-34-56-78-90-A0"]
    assert world.users[1].roles == frozenset({"ED", "GT"})


def test_the_default_world_loads():
    clock = FixedClock(dt.datetime(2024, 1, 1))
    with load_world(DEFAULT_WORLD, clock=clock) as inventory:
        assert len(list(inventory.devices())) == 7
        assert len(list(inventory.users())) == 3
        assert len(list(inventory.cpl_entries())) == 14
        assert {d.status for d in inventory.devices()} == {"Commissioned"}
        esme = inventory.device("00-DB-12-34-56-78-90-A0")
        assert esme.supplier == "90-B3-D5-1F-30-01-00-00"
        assert inventory.cpl_entry_for(esme).status == "Current"
        s1 = inventory.device("00-DB-12-34-56-78-91-B0")
        assert (s1.smets, s1.hub) == ("SMETS1", "00-DB-12-34-56-78-91-B1")
        assert inventory.user("90-B3-D5-1F-30-03-00-00").roles == frozenset({"ED", "GT"})
        assert {r.cause for r in inventory.audit()} == {"world:default.toml"}
        # every model on the CPL has a current version to move to
        current = {(e.model) for e in inventory.cpl_entries(status="Current")}
        assert {d.model for d in inventory.devices()} <= current


def test_unknown_device_type(tmp_path: Path):
    text = USERS + DEVICES.replace('device_type = "ESME"', 'device_type = "ESMX"')
    error = error_for(tmp_path, text)
    line = line_of(text, "ESMX")
    assert (error.line, error.path) == (line, "devices[2].device_type")
    assert str(error).startswith(f"{tmp_path / 'world.toml'}:{line}: unknown device type")
    assert "expected one of ESME, GSME" in str(error) and "found 'ESMX'" in str(error)


def test_duplicate_eui(tmp_path: Path):
    text = USERS + DEVICES.replace('"00-DB-12-34-56-78-90-A0"', '"00-db-12-34-56-78-90-a1"')
    error = error_for(tmp_path, text)
    first, second = line_of(text, "90-A1"), line_of(text, "90-a1")
    assert (error.line, error.path) == (second, "devices[2].eui")
    assert f"world.toml:{second}: duplicate EUI-64 (first used at line {first}" in str(error)
    assert "00-DB-12-34-56-78-90-A1" in str(error)
    assert len(error.errors) == 1  # the duplicate is not also checked as a hub


def test_bad_firmware_version(tmp_path: Path):
    text = USERS + DEVICES.replace('"1.0.0"', '"1.0.0-beta7"')
    error = error_for(tmp_path, text)
    line = line_of(text, "1.0.0-beta7")
    assert (error.line, error.path) == (line, "devices[2].firmware_version")
    assert f"world.toml:{line}: bad firmware version" in str(error)
    assert "1 to 8 characters" in str(error) and "'1.0.0-beta7'" in str(error)


def test_missing_hub(tmp_path: Path):
    text = USERS + DEVICES.replace('hub = "00-DB-12-34-56-78-90-A1"',
                                   'hub = "00-DB-12-34-56-78-90-FF"')
    error = error_for(tmp_path, text)
    line = line_of(text, "90-FF")
    assert (error.line, error.path) == (line, "devices[2].hub")
    assert f"world.toml:{line}: hub is not a device of this world" in str(error)
    assert "found 00-DB-12-34-56-78-90-FF" in str(error)


@pytest.mark.parametrize("old, new, needle, field, message", [
    ('eui = "00-DB-12-34-56-78-90-A0"', 'eui = "00-DB-12-34"', "00-DB-12-34\"", "eui",
     "not an EUI-64"),
    ('status = "Commissioned"\nfirmware_version = "1.0.0"',
     'status = "Comissioned"\nfirmware_version = "1.0.0"', "Comissioned", "status",
     "unknown status"),
    ('model = "AM-E2"', 'model = "AM-E2"\ncolour = "red"', "colour", "colour", "unknown field"),
    ('supplier = "90-B3-D5-1F-30-01-00-00"', 'supplier = "90-B3-D5-1F-30-09-00-00"', "30-09",
     "supplier", "supplier is not a user of this world"),
    ('network_operator = "90-B3-D5-1F-30-03-00-00"',
     'network_operator = "90-B3-D5-1F-30-01-00-00"', "network_operator", "network_operator",
     "network operator has no network operator role"),
    ('firmware_version = "1.0.0"', 'firmware_version = 1.0', "firmware_version = 1.0",
     "firmware_version", "bad firmware version"),
])
def test_field_errors(tmp_path: Path, old, new, needle, field, message):
    text = USERS + DEVICES.replace(old, new)
    assert text != USERS + DEVICES
    error = error_for(tmp_path, text)
    line = line_of(text, needle)
    assert (error.line, error.path, error.message) == (line, f"devices[2].{field}", message)
    assert str(error).startswith(f"{tmp_path / 'world.toml'}:{line}: {message}")


def test_missing_required_field_points_at_the_entry(tmp_path: Path):
    text = USERS + DEVICES.replace('smets = "SMETS2"\nstatus = "Commissioned"\n'
                                   'firmware_version = "1.0.0"',
                                   'smets = "SMETS2"\nfirmware_version = "1.0.0"')
    error = error_for(tmp_path, text)
    assert (error.line, error.path) == (ESME_HEADER, "devices[2].status")
    assert "missing required field" in str(error)


def test_every_error_is_reported(tmp_path: Path):
    text = USERS + DEVICES.replace('"ESME"', '"ESMX"').replace('"2.1.0"', '"2.1.0.0.0.0"') + \
        "\n[[gadgets]]\nname = 'x'\n"
    error = error_for(tmp_path, text)
    found = [(e.line, e.path) for e in error.errors]
    assert found == [(line_of(text, "2.1.0.0.0.0"), "devices[1].firmware_version"),
                     (line_of(text, "ESMX"), "devices[2].device_type"),
                     (line_of(text, "[[gadgets]]"), "gadgets")]


def test_toml_syntax_error_names_the_line(tmp_path: Path):
    text = USERS + DEVICES.replace('model = "AM-E2"', 'model = AM-E2')
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "model = AM-E2")
    assert "not valid TOML" in str(error)


@pytest.mark.parametrize("old, new, path", [
    ('model = "AM-E2"', 'model = "AM\\u0001E2"', "devices[2].model"),
    ('firmware_version = "1.0.0"', 'firmware_version = "1.0\\u0000"',
     "devices[2].firmware_version"),
])
def test_text_a_duis_message_cannot_carry_is_refused(tmp_path: Path, old, new, path):
    # accepted, then building the device's DUIS answer raised lxml's XMLSyntaxError
    text = USERS + DEVICES.replace(old, new, 1)
    error = error_for(tmp_path, text)
    assert (error.path, error.line) == (path, line_of(text, new))
    assert "XML can carry" in error.expected


@pytest.mark.parametrize("value", ["true", "1.0", '"1"'])
def test_the_format_is_the_integer_1(tmp_path: Path, value):
    # format = true and format = 1.0 were accepted (True == 1.0 == 1 in Python)
    error = error_for(tmp_path, f"[world]\nformat = {value}\n" + USERS + DEVICES)
    assert (error.message, error.path) == ("unsupported world file format", "world.format")


def test_a_broken_entry_written_in_compact_form_makes_no_second_error(tmp_path: Path):
    # the CHF's EUI-64 written "00db..." kept it out of the stand-in bookkeeping, which
    # is keyed as references are looked up: the ESME's hub was then said to be "of type
    # ESME", the stand-in type, which the file says nowhere
    text = USERS + DEVICES.replace('eui = "00-DB-12-34-56-78-90-A1"\ndevice_type = "CHF"',
                                   'eui = "00db1234567890a1"\ndevice_type = "CHX"', 1)
    path = write(tmp_path, text)
    with pytest.raises(WorldError) as caught:
        read_world(path)
    assert [(e.message, e.path) for e in caught.value.errors] == [
        ("unknown device type", "devices[1].device_type")]


def test_toml_nested_past_the_parser_is_refused(tmp_path: Path):
    # tomllib parses by recursion: 3,000 nested arrays raised RecursionError
    text = "notes = " + "[" * 3000 + "]" * 3000 + "\n" + USERS + DEVICES
    error = error_for(tmp_path, text)
    assert error.message == "TOML nested too deeply"


def test_a_toml_file_over_the_cap_is_refused_unread(tmp_path: Path, monkeypatch):
    from duis import tomlfile
    monkeypatch.setattr(tomlfile, "MAX_TOML_CHARS", 100)
    error = error_for(tmp_path, USERS + DEVICES)
    assert (error.message, error.expected) == ("world file too large", "at most 100 characters")


def test_unreadable_file(tmp_path: Path):
    with pytest.raises(WorldError, match="cannot read world file"):
        read_world(tmp_path / "absent.toml")


def test_a_cpl_entry_error(tmp_path: Path):
    text = textwrap.dedent("""\
        [world]
        format = 1

        [[cpl]]
        manufacturer = "Acme Meters"
        model = "AM-E2"
        firmware_version = "1.0.0"
        firmware_hash = "ABCD"
        smets = "SMETS2"
        """)
    error = error_for(tmp_path, text)
    assert (error.line, error.path) == (8, "cpl[1].firmware_hash")


def test_loading_into_an_existing_inventory(tmp_path: Path):
    with load_world(DEFAULT_WORLD) as inventory:
        more = write(tmp_path, textwrap.dedent("""\
            [[devices]]
            eui = "00-DB-12-34-56-78-90-B9"
            device_type = "IHD"
            manufacturer = "Screens Ltd"
            model = "S-1"
            smets = "SMETS2"
            status = "Commissioned"
            firmware_version = "1"
            hub = "00-DB-12-34-56-78-90-A1"
            supplier = "90-B3-D5-1F-30-01-00-00"
            """))
        load_world(more, inventory)
        assert inventory.device("00-DB-12-34-56-78-90-B9").hub == "00-DB-12-34-56-78-90-A1"
        with pytest.raises(WorldError, match="already in the inventory") as caught:
            load_world(more, inventory)
        assert (caught.value.line, caught.value.path) == (2, "devices[1].eui")


def test_seeding_is_all_or_nothing(tmp_path: Path):
    with SqliteInventory() as inventory:
        inventory.write_hook = FailOnWrite(label="device.insert")
        with pytest.raises(InjectedFault):
            load_world(DEFAULT_WORLD, inventory)
        assert list(inventory.users()) == [] and list(inventory.audit()) == []


def test_world_records_are_the_models():
    world = read_world(DEFAULT_WORLD)
    assert world.devices and all(isinstance(d, Device) for d in world.devices)
    assert world.description.startswith("Default world")
