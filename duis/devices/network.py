"""The network behind the DSP: it carries a command to a device, and the answer back.

``deliver`` walks a command along its route (the device's comms hub first:
the CHF relays everything, images included, to the devices of its system),
lets the device act, and brings the response back -- unless a fault of the
:class:`~duis.devices.faults.FaultPlan` gets in the way.  ``tick`` performs
the future-dated activations that are due and returns their alerts.

The network also keeps each GPF's copy of its GSME's firmware version: a
GSME that activates new firmware leaves the copy stale; a GSME that answers
a firmware version read (GCS38, which travels through the GPF) refreshes it,
as does :meth:`Network.refresh_gpf`.
"""

from __future__ import annotations

import datetime as _dt
import random as _random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from ..clock import Clock, seeded_random
from ..gbcs import codec
from ..gbcs.model import DistributeImage, GbcsMessage, Kind, Payload, ReadFirmwareVersion
from ..gbcs.wire.crypto import KeyRing
from ..gbcs.wire.usecases import FUTURE_DATED_ACTIVATION_ALERT
from ..messages.ids import EUI64, canonical_eui
from ..smi import Inventory
from .device import EmulatedDevice, Surroundings
from .errors import UnknownDevice, UnsupportedCommand
from .faults import Fault, FaultPlan
from .firmware_machine import Event, GsmeCopy, Outcome, Stimulus
from .images import ImageLibrary
from .power import HubPower

#: device types that are a system's comms hub (others may name them as their hub)
_HUB_TYPES = frozenset({"CHF"})


def _eui64(text: str) -> EUI64:
    """An SMI record's EUI-64 (canonical text) as an EUI64."""
    # not through EUI64.parse's cache: a fleet's device identifiers would only push
    # the recurring ones out
    return EUI64(canonical_eui(text))

ANSWERED: Final = "answered"
LOST: Final = "lost"
NO_RESPONSE: Final = "no-response"
UNREACHABLE: Final = "unreachable"
DeliveryOutcome = Literal["answered", "lost", "no-response", "unreachable"]


@dataclass(frozen=True)
class Delivery:
    """What came of delivering a command."""

    outcome: DeliveryOutcome
    """``answered``; ``lost`` (the device acted, its response was lost);
    ``no-response`` (the device did not act; DSP: E21); ``unreachable`` (nothing
    reached the device; DSP: E20)."""
    response: GbcsMessage | None = None
    """The device's response, when ``answered``."""
    data: bytes | None = None
    """The response's bytes as the device sent them (MAC'd or signed: :mod:`duis.gbcs.codec`),
    when ``answered`` and the network has keys."""

    @property
    def acted(self) -> bool:
        """Whether the device acted on the command (its state may have changed)."""
        return self.outcome in (ANSWERED, LOST)


class Network:
    """The emulated devices, reachable through their comms hubs, with injected faults."""

    def __init__(self, devices: Iterable[EmulatedDevice], *, clock: Clock,
                 random: _random.Random | None = None, faults: FaultPlan | None = None,
                 images: ImageLibrary | None = None, keys: KeyRing | None = None) -> None:
        self.clock = clock
        self.keys = keys
        """The world's GBCS keys (:func:`duis.gbcs.keys.world_keys`; a DSP gives its own
        when the network has none): devices check the MAC of a command delivered as
        bytes, MAC or sign their answers, sign their alerts."""
        self.random = random if random is not None else seeded_random(0)
        self.faults = faults if faults is not None else FaultPlan()
        self.images = images if images is not None else ImageLibrary()
        self._devices: dict[str, EmulatedDevice] = {d.eui.text: d for d in devices}
        """By canonical EUI-64 text (hashing a str is cheaper than an EUI64)."""
        self._systems: dict[str, list[EmulatedDevice]] = {}
        for key in sorted(self._devices):
            device = self._devices[key]
            if device.hub is not None:
                self._systems.setdefault(device.hub.text, []).append(device)
        self._pair_gpfs()
        self._scheduled: set[str] = {k for k, d in self._devices.items() if d.schedule}
        self._alert_counter = 0
        self.power = HubPower(self)
        """Comms hub power: outages, power outage alerts, rebooting meters (MP102B)."""

    def add(self, device: EmulatedDevice) -> None:
        """A new device (e.g. just pre-notified); it joins a system with :meth:`move`."""
        if device.eui.text in self._devices:
            raise ValueError(f"device {device.eui} is already in the network")
        self._devices[device.eui.text] = device
        if device.hub is not None:
            self._systems.setdefault(device.hub.text, []).append(device)

    def move(self, eui: EUI64 | str, hub: EUI64 | str) -> None:
        """The device joins the system of comms hub ``hub`` (images reach it through that hub)."""
        device = self.device(eui)
        if device.hub is not None:
            self._systems[device.hub.text].remove(device)
        device.hub = EUI64.parse(hub)
        members = self._systems.setdefault(device.hub.text, [])
        members.append(device)
        members.sort(key=lambda d: d.eui.text)

    @classmethod
    def from_inventory(cls, inventory: Inventory, *, clock: Clock,
                       images: ImageLibrary | None = None, random: _random.Random | None = None,
                       faults: FaultPlan | None = None) -> Network:
        """One emulated device per SMI device, running the SMI's firmware version.

        The active image's hash is the firmware hash of the CPL entry that applies
        (the device's model and version, for its system's SMETS generation), if
        any.  ``images`` defaults to every CPL image (:meth:`ImageLibrary.from_cpl`).
        A GPF copies the SMI version of the GSME of its system.
        """
        entries = list(inventory.cpl_entries())
        images = images if images is not None else ImageLibrary.from_cpl(entries)
        hashes = {e.key: bytes.fromhex(e.firmware_hash) for e in entries if e.firmware_hash}
        # Streamed, one record at a time: a list of every SMI record would double the
        # peak memory of a large fleet.  The few distinct texts of the records (types,
        # makes, models, versions) are shared rather than held once per device, and a
        # system's members share their hub's EUI64.
        shared: dict[str, str] = {}
        share = shared.setdefault
        hubs: dict[str, tuple[EUI64, str]] = {}
        """EUI-64 text of each comms hub so far -> (its EUI64, its SMETS generation)"""
        devices = []
        hub: EUI64 | str | None  # the record's text, or the EUI64 of a hub met before
        for r in inventory.devices():
            smets = share(r.smets, r.smets)
            eui = _eui64(r.eui)
            if r.device_type in _HUB_TYPES:
                hubs[r.eui] = (eui, smets)
            hub, system_smets = r.hub, smets
            if hub:
                known = hubs.get(hub)
                if known is not None:
                    hub, system_smets = known
                else:
                    system_smets = inventory.system_smets(r)
            digest = hashes.get((r.manufacturer, r.model, r.firmware_version, system_smets))
            devices.append(EmulatedDevice(eui, share(r.device_type, r.device_type), smets=smets,
                                          manufacturer=share(r.manufacturer, r.manufacturer),
                                          model=share(r.model, r.model),
                                          firmware_version=share(r.firmware_version,
                                                                 r.firmware_version),
                                          firmware_hash=digest, hub=hub))
        return cls(devices, clock=clock, random=random, faults=faults, images=images)

    # --- looking ------------------------------------------------------------------

    def device(self, eui: EUI64 | str) -> EmulatedDevice:
        found = self._devices.get(eui if type(eui) is str else getattr(eui, "text", ""))
        if found is not None:
            return found
        key = EUI64.parse(eui)
        try:
            return self._devices[key.text]
        except KeyError:
            raise UnknownDevice("no such device in the network", found=str(key)) from None

    def devices(self) -> list[EmulatedDevice]:
        """Every device, by EUI-64."""
        return [self._devices[k] for k in sorted(self._devices)]

    def gsme_of(self, gpf: EUI64 | str) -> EmulatedDevice | None:
        """The GSME in a device's system (the first by EUI-64), if any."""
        hub = self.device(gpf).hub
        if hub is None:
            return None
        return next((d for d in self._systems.get(hub.text, ()) if d.device_type == "GSME"),
                    None)

    def gpf_is_stale(self, gpf: EUI64 | str) -> bool:
        """Whether a GPF's copy differs from its GSME's active version."""
        device, gsme = self.device(gpf), self.gsme_of(gpf)
        return device.copy is not None and gsme is not None \
            and device.copy.version != gsme.firmware_version

    # --- changing the world ---------------------------------------------------------

    def power_off(self, eui: EUI64 | str) -> None:
        """A sustained outage: the device (a hub: its whole system) is unreachable and
        its schedule waits until power returns and the next ``tick``."""
        self.device(eui).powered = False

    def power_on(self, eui: EUI64 | str) -> None:
        self.device(eui).powered = True

    def refresh_gpf(self, gpf: EUI64 | str) -> None:
        """Tell a GPF to copy its GSME's current version."""
        device, gsme = self.device(gpf), self.gsme_of(gpf)
        if device.copy is not None and gsme is not None:
            device.on_copy(Stimulus(Event.REFRESH, version=gsme.firmware_version))

    # --- delivering -------------------------------------------------------------------

    def encode(self, message: GbcsMessage) -> bytes:
        """A device's message as it sends it (:func:`duis.gbcs.codec.encode` with the
        network's keys)."""
        if self.keys is None:
            raise UnsupportedCommand("the network has no GBCS keys", expected="a KeyRing",
                                     found="none (give keys=, or attach it to a DSP)")
        return codec.encode(message, self.keys)

    def deliver(self, command: GbcsMessage | bytes) -> Delivery:
        """Carry ``command`` to its target and the response back, faults permitting.

        ``command`` as bytes is what travels (real GBCS, MAC'd by the Access Control
        Broker; a CS06 signed by its user too): the device checks the MAC and the
        signature (:func:`duis.gbcs.codec.decode`, a :class:`~duis.gbcs.WireError` if
        they do not verify) before acting.  A :class:`GbcsMessage` is taken as already
        checked (the DSP's own internal paths)."""
        if not isinstance(command, GbcsMessage):
            if self.keys is None:
                raise UnsupportedCommand("the network has no GBCS keys to check a command",
                                         expected="a KeyRing", found="none")
            command = codec.decode(command, self.keys, source="command on the wire")
        if command.kind is not Kind.COMMAND:
            raise UnsupportedCommand("only commands can be delivered", expected="Kind.COMMAND",
                                     found=str(command.kind))
        device = self.device(command.target)
        code = command.message_code
        if not self._reachable(device, code):
            return Delivery(UNREACHABLE)
        if self._strikes(Fault.NO_RESPONSE, device, code):
            return Delivery(NO_RESPONSE)
        payload = command.payload
        if isinstance(payload, DistributeImage) and self._strikes(Fault.CORRUPT_IMAGE, device,
                                                                  code):
            payload = corrupted(payload)
        before = device.firmware_version
        outcome = device.receive(payload, command.originator, command.transaction, code,
                                 self._surroundings(device, code))
        self._after(device, before, payload)
        self.power.activated(device, before, self.clock.now())
        assert outcome.reply is not None  # a device answers every command it acts on
        response = GbcsMessage(Kind.RESPONSE, device.eui, command.originator,
                               command.transaction, code, outcome.reply)
        if self._strikes(Fault.LOSE_RESPONSE, device, code):
            return Delivery(LOST)
        return Delivery(ANSWERED, response,
                        codec.encode(response, self.keys) if self.keys is not None else None)

    def tick(self, now: _dt.datetime | None = None) -> list[GbcsMessage]:
        """Perform every scheduled activation due at ``now`` (default: the clock's
        time) on a powered device, by EUI-64; return their alerts, then the power
        outage alerts of comms hubs due by then (:mod:`.power`)."""
        now = now if now is not None else self.clock.now()
        alerts = []
        for eui in sorted(self._scheduled):
            device = self._devices[eui]
            schedule = device.schedule
            if schedule is None:
                self._scheduled.discard(eui)
                continue
            if not device.powered or schedule.at > now:
                continue
            before = device.firmware_version
            outcome = device.fire(self._surroundings(device, schedule.message_code, now))
            self._after(device, before, None)
            self.power.activated(device, before, schedule.at)
            alerts.append(self._alert(device, outcome))
        return alerts + self.power.due(now)

    # --- inside -------------------------------------------------------------------------

    def _reachable(self, device: EmulatedDevice, code: int) -> bool:
        """Every hop of the route (the device's comms hub, then the device) is powered
        and not struck by UNREACHABLE (only the device itself draws)."""
        faults, rng = self.faults, self.random
        if device.hub is not None:
            hub = self._devices.get(device.hub.text)
            if hub is None or not hub.powered:
                return False
            if faults.strikes(Fault.UNREACHABLE, hub.eui, hub.device_type, code, rng,
                              draw=hub is device):
                return False
        if not device.powered:
            return False
        return not faults.strikes(Fault.UNREACHABLE, device.eui, device.device_type, code, rng)

    def _strikes(self, fault: Fault, device: EmulatedDevice, code: int | None) -> bool:
        return self.faults.strikes(fault, device.eui, device.device_type, code, self.random)

    def _surroundings(self, device: EmulatedDevice, code: int | None,
                      now: _dt.datetime | None = None) -> Surroundings:
        return Surroundings(now if now is not None else self.clock.now(), self.images,
                            lambda: self._strikes(Fault.POWER_LOSS, device, code))

    def _after(self, device: EmulatedDevice, version_before: str, payload: Payload | None) -> None:
        """Bookkeeping after a device acted: schedules, and GPF copies of a GSME."""
        if device.schedule is not None:
            self._scheduled.add(device.eui.text)
        else:
            self._scheduled.discard(device.eui.text)
        if device.device_type != "GSME":
            return
        if isinstance(payload, ReadFirmwareVersion):
            stimulus = Stimulus(Event.GSME_VERSION_READ, version=device.firmware_version)
        elif device.firmware_version != version_before:
            stimulus = Stimulus(Event.GSME_ACTIVATED)
        else:
            return
        for gpf in self._gpfs_of(device):
            gpf.on_copy(stimulus)

    def _gpfs_of(self, gsme: EmulatedDevice) -> list[EmulatedDevice]:
        if gsme.hub is None:
            return []
        return [d for d in self._systems.get(gsme.hub.text, ())
                if d.device_type == "GPF" and d.copy is not None]

    def _pair_gpfs(self) -> None:
        for device in self._devices.values():
            if device.device_type == "GPF" and device.copy is None and device.hub is not None:
                gsme = self.gsme_of(device.eui)
                if gsme is not None:
                    device.copy = GsmeCopy(gsme.firmware_version)

    def _alert(self, device: EmulatedDevice, outcome: Outcome) -> GbcsMessage:
        self._alert_counter += 1
        alert = outcome.alert
        assert alert is not None and outcome.alert_to is not None  # an alerting outcome
        return GbcsMessage(Kind.ALERT, device.eui, outcome.alert_to, self._alert_counter,
                           FUTURE_DATED_ACTIVATION_ALERT, alert)


def corrupted(payload: DistributeImage) -> DistributeImage:
    """The image as a corrupting transfer delivers it: its last byte flipped."""
    image = payload.image or b"\x00"
    return DistributeImage(image[:-1] + bytes([image[-1] ^ 0xFF]), payload.firmware_version)
