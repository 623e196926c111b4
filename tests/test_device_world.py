"""The network built from an SMI (the default world): MP105's story, SMETS1, GPF staleness,
and whole runs replayed byte for byte."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duis.clock import UTC, FixedClock, seeded_random
from duis.devices import FaultPlan, Network, sample_image, sha256
from duis.gbcs.model import (
    ActivateFirmware,
    ActivationResult,
    DistributeImage,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
    ReadFirmwareVersion,
)
from duis.messages.ids import EUI64
from duis.smi import load_world

WORLD = Path(__file__).resolve().parents[1] / "samples" / "worlds" / "default.toml"
SUPPLIER_A = EUI64.parse("90-B3-D5-1F-30-01-00-00")
SUPPLIER_B = EUI64.parse("90-B3-D5-1F-30-02-00-00")
ESME = EUI64.parse("00-DB-12-34-56-78-90-A0")
HUB = EUI64.parse("00-DB-12-34-56-78-90-A1")
GSME = EUI64.parse("00-DB-12-34-56-78-90-A2")
GPF = EUI64.parse("00-DB-12-34-56-78-90-A3")
PPMID = EUI64.parse("00-DB-12-34-56-78-90-A4")
S1ESME = EUI64.parse("00-DB-12-34-56-78-91-B0")
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ACTIVATE, DISTRIBUTE, READ = 0x0012, 0x0100, 0x0101


@pytest.fixture(scope="module")
def inventory():
    return load_world(WORLD)


class World:
    def __init__(self, inventory, *, seed=0, faults=None):
        self.clock = FixedClock(T0)
        self.net = Network.from_inventory(inventory, clock=self.clock, random=seeded_random(seed),
                                          faults=faults)
        self.tx = 0

    def send(self, target, payload, code, user=SUPPLIER_A):
        self.tx += 1
        return self.net.deliver(GbcsMessage(Kind.COMMAND, user, target, self.tx, code, payload))

    def reply(self, target, payload, code, user=SUPPLIER_A):
        delivery = self.send(target, payload, code, user)
        assert delivery.outcome == "answered", delivery
        return delivery.response.payload


def test_one_device_per_smi_device_running_the_smi_version(inventory):
    net = World(inventory).net
    records = list(inventory.devices())
    assert records, "the default world has no device"
    assert [d.eui.text for d in net.devices()] == [r.eui for r in records]
    for record in records:
        device = net.device(record.eui)
        assert (device.device_type, device.smets, device.firmware_version) == (
            record.device_type, record.smets, record.firmware_version)
        entry = inventory.cpl_entry_for(record)
        assert device.active.firmware_hash == bytes.fromhex(entry.firmware_hash)


def test_the_dual_mode_ppmid_runs_the_row_of_its_systems_generation(inventory):
    ppmid = World(inventory).net.device(PPMID)
    assert ppmid.active.firmware_hash == sha256(sample_image("Keypad Co", "KP-P1", "1.3",
                                                             "SMETS2"))


def test_the_gpf_copies_the_gsme_of_its_system(inventory):
    net = World(inventory).net
    assert net.device(GPF).copy.version == "3.0" and not net.gpf_is_stale(GPF)
    assert net.device(GPF).firmware_version == "2.1.0"


def test_mp105_lost_activation_response_then_retry(inventory):
    """The story of MP105: the 11.3 response is lost; the retry says 'already active',
    not success, but carries the running version."""
    w = World(inventory, faults=FaultPlan().lose_next_response(ESME, message_code=ACTIVATE))
    new = sample_image("Acme Meters", "AM-E2", "1.1.0")
    result = w.reply(ESME, DistributeImage(new, "1.1.0"), DISTRIBUTE)
    assert result.verified and result.firmware_hash.hex().upper() == (
        inventory.cpl_entry("Acme Meters", "AM-E2", "1.1.0", "SMETS2").firmware_hash)
    assert w.send(ESME, ActivateFirmware(sha256(new)), ACTIVATE).outcome == "lost"
    assert w.net.device(ESME).firmware_version == "1.1.0"
    assert w.reply(ESME, ActivateFirmware(sha256(new)), ACTIVATE) == ActivationResult(
        "activationFailure", "1.1.0")
    assert w.reply(ESME, ReadFirmwareVersion(), READ) == FirmwareVersionReport("1.1.0")


def test_a_ppmid_updates_in_two_steps(inventory):
    w = World(inventory)
    image = sample_image("Keypad Co", "KP-P1", "1.2")
    assert w.reply(PPMID, DistributeImage(image, "1.2"), DISTRIBUTE).verified
    assert w.reply(PPMID, ActivateFirmware(sha256(image)), ACTIVATE) == ActivationResult(
        "success", "1.2")


def test_smets1_one_step_then_a_retry_without_a_version(inventory):
    w = World(inventory)
    digest = sha256(sample_image("Legacy Meters", "LM-S1E", "4.6"))
    assert w.reply(S1ESME, ActivateFirmware(digest), ACTIVATE, SUPPLIER_B) == ActivationResult(
        "success", "4.6")
    assert w.reply(S1ESME, ActivateFirmware(digest), ACTIVATE, SUPPLIER_B) == ActivationResult(
        "success", None)
    assert w.reply(S1ESME, ReadFirmwareVersion(), READ, SUPPLIER_B) == FirmwareVersionReport("4.6")


def test_smets1_cannot_activate_an_image_of_another_model(inventory):
    w = World(inventory)
    digest = sha256(sample_image("Acme Meters", "AM-E2", "1.1.0"))
    assert w.reply(S1ESME, ActivateFirmware(digest), ACTIVATE, SUPPLIER_B) == ActivationResult(
        "noImageHeld", "4.5")


# --- GPF staleness ----------------------------------------------------------------------

def _gsme_to_3_1(w: World) -> None:
    image = sample_image("Gasworks", "GW-G2", "3.1")
    assert w.reply(GSME, DistributeImage(image, "3.1"), DISTRIBUTE).verified
    assert w.reply(GSME, ActivateFirmware(sha256(image)), ACTIVATE) == ActivationResult(
        "success", "3.1")


def test_the_gpf_goes_stale_when_the_gsme_activates(inventory):
    w = World(inventory)
    _gsme_to_3_1(w)
    assert w.net.gpf_is_stale(GPF)
    assert w.reply(GPF, ReadFirmwareVersion(), READ) == FirmwareVersionReport("3.0")
    assert w.reply(GPF, ReadFirmwareVersion(), READ) == FirmwareVersionReport("3.0")  # still


def test_a_gcs38_read_of_the_gsme_refreshes_the_gpf(inventory):
    w = World(inventory)
    _gsme_to_3_1(w)
    assert w.reply(GSME, ReadFirmwareVersion(), READ) == FirmwareVersionReport("3.1")
    assert not w.net.gpf_is_stale(GPF)
    assert w.reply(GPF, ReadFirmwareVersion(), READ) == FirmwareVersionReport("3.1")


def test_a_gcs38_read_whose_response_is_lost_still_refreshes(inventory):
    w = World(inventory)
    _gsme_to_3_1(w)
    w.net.faults.lose_next_response(GSME)
    assert w.send(GSME, ReadFirmwareVersion(), READ).outcome == "lost"
    assert not w.net.gpf_is_stale(GPF)


def test_a_gcs38_read_the_gsme_never_answered_does_not_refresh(inventory):
    w = World(inventory)
    _gsme_to_3_1(w)
    w.net.faults.no_response(GSME)
    assert w.send(GSME, ReadFirmwareVersion(), READ).outcome == "no-response"
    assert w.net.gpf_is_stale(GPF)


def test_a_scheduled_gsme_activation_also_leaves_the_gpf_stale(inventory):
    w = World(inventory)
    image = sample_image("Gasworks", "GW-G2", "3.1")
    w.reply(GSME, DistributeImage(image, "3.1"), DISTRIBUTE)
    at = T0 + dt.timedelta(days=7)
    w.reply(GSME, ActivateFirmware(sha256(image), at), ACTIVATE)
    assert not w.net.gpf_is_stale(GPF)
    [alert] = w.net.tick(at)
    assert alert.payload.firmware_version == "3.1" and w.net.gpf_is_stale(GPF)
    w.net.refresh_gpf(GPF)
    assert not w.net.gpf_is_stale(GPF)


# --- determinism ---------------------------------------------------------------------------

def _transcript(inventory, seed: int) -> list[str]:
    """A fleet-ish run: every firmware device gets reads and activations, with 20% of
    11.3 responses lost and some future-dated activations."""
    faults = FaultPlan().lose_responses(0.2, message_code=ACTIVATE).corrupt_next_image(GSME)
    w = World(inventory, seed=seed, faults=faults)
    lines = []
    targets = [d for d in w.net.devices() if d.device_type in ("ESME", "GSME", "CHF", "PPMID")]
    for _round in range(3):
        for device in targets:
            for entry in inventory.cpl_entries(manufacturer=device.manufacturer,
                                               model=device.model):
                image = sample_image(entry.manufacturer, entry.model, entry.firmware_version)
                if sha256(image).hex().upper() != entry.firmware_hash:
                    image = sample_image(entry.manufacturer, entry.model,
                                         entry.firmware_version, entry.smets)
                at = w.clock.now() + dt.timedelta(minutes=30) if entry.status == "Removed" else None
                for payload, code in ((DistributeImage(image, entry.firmware_version),
                                       DISTRIBUTE), (ActivateFirmware(sha256(image), at),
                                                     ACTIVATE), (ReadFirmwareVersion(), READ)):
                    lines.append(repr(w.send(device.eui, payload, code)))
        w.clock.advance(hours=1)
        lines.extend(repr(a) for a in w.net.tick())
    return lines


def test_a_run_replays_byte_for_byte(inventory):
    first = _transcript(inventory, 42)
    assert first == _transcript(inventory, 42)
    assert first != _transcript(inventory, 43)
    assert any("lost" in line for line in first) and any("ALERT" in line for line in first)


def test_a_network_from_the_smi_shares_what_its_devices_have_in_common(inventory):
    net = World(inventory).net
    records = {r.eui: r for r in inventory.devices()}
    devices = net.devices()
    assert devices, "the default world has no device"
    assert [str(d.eui) for d in devices] == sorted(records)
    for device in devices:
        record = records[str(device.eui)]
        assert (device.device_type, device.smets, device.manufacturer, device.model,
                device.firmware_version) == (record.device_type, record.smets,
                                             record.manufacturer, record.model,
                                             record.firmware_version)
        assert (str(device.hub) if device.hub else None) == record.hub
        entry = inventory.cpl_entry_for(record)
        assert device.active.firmware_hash == (bytes.fromhex(entry.firmware_hash)
                                               if entry and entry.firmware_hash else None)
    members = [d for d in devices if d.hub == HUB]
    assert len(members) > 1
    # members after their hub (by EUI-64, the SMI's order) share the hub's EUI64
    assert any(d.eui.text > HUB.text for d in members)
    assert all(d.hub is net.device(HUB).eui for d in members if d.eui.text > HUB.text)
    same_start = {}
    for d in devices:  # devices starting on the same image share one (immutable) state
        assert same_start.setdefault((d.firmware_version, d.active.firmware_hash), d.state) \
            is d.state
    assert not hasattr(devices[0], "__dict__")
    assert net.device("00db1234567890a0") is net.device(ESME) is net.device(str(ESME))
