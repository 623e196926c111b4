"""The world a fleet simulation runs in: users, a CPL and N devices in systems.

Every device belongs to a *system*: a comms hub (CHF) and the devices behind
it.  The mix, drawn from a seeded random source so the same spec always gives
the same world:

| system | members | share |
| --- | --- | --- |
| SMETS2 dual fuel | CHF, GPF, ESME, GSME (+ PPMID) | ``dual_fuel_share`` of SMETS2 ones |
| SMETS2 electricity | CHF, ESME (+ PPMID) | the other SMETS2 systems |
| SMETS1 | CHF, ESME (+ GSME) | ``smets1_share`` of all systems |

A PPMID joins ``ppmid_share`` of SMETS2 systems; a GSME ``dual_fuel_share`` of
SMETS1 ones.

A fleet larger than ``shard_size`` runs as *shards* (:func:`shards`): runs of
whole systems, in build order, each a world of its own (SMI, DSP, devices,
supplier) that a campaign runs as it would a fleet of that size, with its own
seeded faults.  A shard's devices and systems are the ones the whole fleet
would have; what differs from one big world is that nothing is shared between
shards (SMI, counters, the random source of the faults).  Shards run at once on
several CPUs, each in a process of its own, and the report adds them up
(:func:`duis.simulate.report.merge_reports`).

Every meter (ESME, GSME) runs :data:`OLD_VERSION` of its model, the firmware
the campaign removes from the CPL; :data:`NEW_VERSION`, its replacement, is
on the CPL as Current.  Comms hubs, GPFs and PPMIDs run firmware that stays
Current and are not part of the campaign.  The CPL hashes are SHA-256 of
:func:`duis.devices.images.sample_image`, so the supplier can distribute the
real bytes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import random as _random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..clock import Clock, seeded_random
from ..devices.images import sample_image
from ..smi import CplEntry, Device, SqliteInventory, User

SUPPLIER = "90-B3-D5-1F-30-01-00-00"
"""The supplier that runs the campaign (IS and GS; its keys are in ``samples/pki``)."""
NETWORK_OPERATOR = "90-B3-D5-1F-30-05-00-00"
"""The network operator of every device (ED and GT); N29 alerts go to it too."""

OLD_VERSION, NEW_VERSION = "1.0", "1.1"
"""The firmware removed from the CPL, and the replacement rolled out."""

#: Devices in the largest system (a hub, a GPF, two meters and a PPMID).
LARGEST_SYSTEM = 5

#: First EUI-64 of the fleet: devices are numbered from here, in build order.
FIRST_EUI = 0x00DB_0000_0000_0000


@dataclass(frozen=True)
class Model:
    """A device model of the fleet and the firmware it runs."""

    device_type: str
    smets: str
    manufacturer: str
    model: str
    version: str
    """The version the fleet's devices of this model run at the start."""

    @property
    def affected(self) -> bool:
        """Whether the campaign replaces this model's firmware."""
        return self.version == OLD_VERSION


#: The models, by (SMETS generation, device type).  A GPF runs its comms hub's firmware.
MODELS: dict[tuple[str, str], Model] = {(m.smets, m.device_type): m for m in (
    Model("CHF", "SMETS2", "Northwind Comms", "NW-CH2", "2.1.0"),
    Model("GPF", "SMETS2", "Northwind Comms", "NW-CH2", "2.1.0"),
    Model("ESME", "SMETS2", "Acme Meters", "AM-E2", OLD_VERSION),
    Model("GSME", "SMETS2", "Gasworks", "GW-G2", OLD_VERSION),
    Model("PPMID", "SMETS2", "Keypad Co", "KP-P2", "1.3"),
    Model("CHF", "SMETS1", "Legacy Comms", "LC-S1H", "4.0"),
    Model("ESME", "SMETS1", "Legacy Meters", "LM-S1E", OLD_VERSION),
    Model("GSME", "SMETS1", "Legacy Gas", "LG-S1G", OLD_VERSION),
)}


#: the largest fleet simulated (ten times the largest measured: a million devices
#: take some 8 minutes on 2 cores)
MAX_DEVICES = 10_000_000


@dataclass(frozen=True)
class FleetSpec:
    """What world to build.  The defaults give a mix close to the GB estate's."""

    devices: int = 10_000
    """How many devices, in all (the last system may be cut short to hit it exactly)."""
    seed: int = 1
    """Seeds the mix of systems (and, in a campaign, the network's faults)."""
    smets1_share: float = 0.1
    """Share of systems that are SMETS1."""
    dual_fuel_share: float = 0.6
    """Share of SMETS2 systems with gas (GPF and GSME); of SMETS1 systems with a GSME."""
    ppmid_share: float = 0.3
    """Share of SMETS2 systems with a PPMID."""
    shard_size: int = 50_000
    """Devices per shard: shard ``k`` begins at the first system that starts at or
    after ``k * shard_size`` devices (module docstring).  A fleet of at most this
    many devices is one world.  (The default was 100,000 before 2026-12-06: a
    fleet of more than 50,000 devices reports differently from then on; pass
    100,000 for the earlier runs' results.)"""

    def __post_init__(self) -> None:
        if not 1 <= self.devices <= MAX_DEVICES:
            raise ValueError(f"a fleet holds 1 to {MAX_DEVICES:,} devices, found {self.devices}")
        for name in ("smets1_share", "dual_fuel_share", "ppmid_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1, found {getattr(self, name)!r}")
        if self.shard_size < LARGEST_SYSTEM:
            raise ValueError(f"shard_size must be at least {LARGEST_SYSTEM} (a shard holds "
                             f"whole systems), found {self.shard_size}")


@dataclass(frozen=True)
class Shard:
    """Whole systems of a fleet, in build order, that run as a world of their own."""

    index: int
    """From 0, in build order."""
    count: int
    """Shards of the fleet."""
    made: int
    """Devices of the fleet built before this shard's first (its first EUI-64 is
    :data:`FIRST_EUI` plus this)."""
    devices: int
    mix: tuple
    """The state of the fleet's random mix at the shard's first system."""
    seed: int
    """Seeds the shard's faults: the fleet's seed for the first shard (so a fleet of
    one shard is what it always was), a hash of it and the index for the others."""

    @property
    def label(self) -> str:
        return shard_label(self.index, self.count)


#: how reports and progress name a shard: its number (from 1) and the count
_SHARD_LABEL = "shard {}/{}"


def shard_label(index: int, count: int) -> str:
    """How reports and progress name shard ``index`` (from 0) of ``count``."""
    return _SHARD_LABEL.format(index + 1, count)


#: what a progress event's name holds in a sharded run: the shard, then the profiles
_IN_SHARD = re.compile("(" + re.escape(_SHARD_LABEL).replace(r"\{\}", r"\d+") + "): (.*)",
                       re.DOTALL)


def in_shard(label: str, profiles: str) -> str:
    """The name of a progress event of ``profiles`` in the shard ``label``."""
    return f"{label}: {profiles}"


def shard_of(name: str) -> tuple[str | None, str]:
    """A progress event's name split into its shard's label (``None`` in a run
    of one world) and the profiles it is about: :func:`in_shard` undone."""
    found = _IN_SHARD.fullmatch(name)
    return (found[1], found[2]) if found else (None, name)


def eui_text(number: int) -> str:
    """The canonical EUI-64 text of a 64-bit number."""
    return number.to_bytes(8, "big").hex("-").upper()


def image_of(model: Model, version: str) -> bytes:
    """The image bytes of a model's firmware version (what the CPL hash is the SHA-256 of)."""
    return sample_image(model.manufacturer, model.model, version)


def firmware_hash(model: Model, version: str) -> str:
    return hashlib.sha256(image_of(model, version)).hexdigest().upper()


def cpl_entries() -> Iterator[CplEntry]:
    """Every model's running version, and the new version of the affected ones (all Current)."""
    seen = set()
    for model in MODELS.values():
        versions = (OLD_VERSION, NEW_VERSION) if model.affected else (model.version,)
        for version in versions:
            key = (model.manufacturer, model.model, version, model.smets)
            if key not in seen:
                seen.add(key)
                yield CplEntry(model.manufacturer, model.model, version,
                               firmware_hash(model, version), model.smets)


def system_members(spec: FleetSpec, rng: _random.Random) -> tuple[str, tuple[str, ...]]:
    """(SMETS generation, device types after the hub) of the next system."""
    if rng.random() < spec.smets1_share:
        return "SMETS1", ("ESME", "GSME") if rng.random() < spec.dual_fuel_share else ("ESME",)
    members: tuple[str, ...] = (("GPF", "ESME", "GSME") if rng.random() < spec.dual_fuel_share
                                else ("ESME",))
    if rng.random() < spec.ppmid_share:
        members += ("PPMID",)
    return "SMETS2", members


def shards(spec: FleetSpec) -> list[Shard]:
    """The fleet's shards, in build order (one for a fleet of at most
    ``spec.shard_size`` devices).  Draws the fleet's mix, builds nothing."""
    rng = seeded_random(spec.seed)
    starts: list[tuple[int, tuple]] = []
    made = 0
    while made < spec.devices:
        if made >= len(starts) * spec.shard_size:
            starts.append((made, rng.getstate()))
        _, members = system_members(spec, rng)
        made = min(spec.devices, made + 1 + len(members))
    ends = [start for start, _ in starts[1:]] + [spec.devices]
    return [Shard(index, len(starts), start, end - start, mix, _shard_seed(spec.seed, index))
            for index, ((start, mix), end) in enumerate(zip(starts, ends, strict=True))]


def _shard_seed(seed: int, index: int) -> int:
    if index == 0:
        return seed
    digest = hashlib.sha256(f"fleet seed {seed}, shard {index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def fleet_devices(spec: FleetSpec, shard: Shard | None = None) -> Iterator[Device]:
    """The devices of the fleet (or of one of its shards), system by system (hub
    first), exactly ``spec.devices`` (``shard.devices``)."""
    if shard is None:
        rng, made, last = seeded_random(spec.seed), 0, spec.devices
    else:
        rng, made, last = _random.Random(), shard.made, shard.made + shard.devices
        rng.setstate(shard.mix)
    number = FIRST_EUI + made
    while made < last:
        smets, members = system_members(spec, rng)
        hub = eui_text(number)
        for device_type in ("CHF",) + members:
            if made == last:
                return
            model = MODELS[(smets, device_type)]
            yield Device(eui_text(number), device_type, model.manufacturer, model.model, smets,
                         "Commissioned", None, model.version,
                         None if device_type == "CHF" else hub, SUPPLIER, NETWORK_OPERATOR)
            number += 1
            made += 1


def build_inventory(spec: FleetSpec, clock: Clock, path: str = ":memory:",
                    shard: Shard | None = None) -> SqliteInventory:
    """A fresh SMI holding the supplier, the network operator, the CPL and the fleet
    (or one shard of it).

    Its temporary tables and journals stay in memory: a run of several profiles
    forks the world for its shared steps (:mod:`duis.simulate.run`), and
    an open temporary file would be shared by the copies."""
    inventory = SqliteInventory(path, clock=clock, temp_in_memory=True)
    cause = f"fleet simulation, seed {spec.seed}"
    with inventory.transaction():
        inventory.add_user(User(SUPPLIER, "Supplier A", frozenset({"IS", "GS"})), cause=cause)
        inventory.add_user(User(NETWORK_OPERATOR, "Network Operator", frozenset({"ED", "GT"})),
                           cause=cause)
        for entry in cpl_entries():
            inventory.add_cpl_entry(entry, cause=cause)
        inventory.add_devices(fleet_devices(spec, shard), cause=cause)
    return inventory


def affected_models() -> list[Model]:
    """The models whose firmware the campaign replaces, in table order."""
    return [m for m in MODELS.values() if m.affected]


START = _dt.datetime(2026, 3, 2, 8, 0, tzinfo=_dt.UTC)
"""Simulated time at which a campaign starts (a Monday morning)."""
