"""One emulated device: identity, power, firmware state and what it does with a command.

A device turns each command into an event (:mod:`.firmware`'s classifiers),
steps its machine, and returns the payload of its answer.  It knows nothing
of routes, faults or other devices: :class:`~duis.devices.network.Network`
hands it what it needs (the time, the image library, whether power is lost).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from ..clock import UTC
from ..gbcs.model import (
    ActivateFirmware,
    CommandOutcome,
    DistributeImage,
    Payload,
    ReadFirmwareVersion,
    TopUp,
    UpdateSecurityCredentials,
)
from ..messages.ids import EUI64
from .errors import UnsupportedCommand
from .firmware_machine import (
    FIRMWARE_MACHINE,
    GSME_COPY,
    ActivationScheduled,
    Event,
    FirmwareState,
    GsmeCopy,
    Image,
    ImageHeld,
    Machine,
    Outcome,
    Running,
    Schedule,
    Stimulus,
    Transition,
    activation_event,
)
from .images import ImageLibrary, sha256

#: Device types whose firmware the DCC updates (11.1, 11.2, 11.3).
FIRMWARE_DEVICE_TYPES = frozenset({"ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"})

#: Commands outside the firmware machines: which device types take them, and the answer.
OTHER_COMMANDS: dict[type, tuple[frozenset[str], CommandOutcome]] = {
    TopUp: (frozenset({"ESME", "GSME"}), CommandOutcome("success")),
    UpdateSecurityCredentials: (frozenset({"ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"}),
                                CommandOutcome("success")),
}


@dataclass(frozen=True)
class Surroundings:
    """What a device sees when it acts."""

    now: _dt.datetime
    images: ImageLibrary
    power_lost: Callable[[], bool]
    """Asked when an activation is about to succeed: is power lost during it?"""


_SHAREABLE_HASH = (bytes, type(None))


@lru_cache(maxsize=4096)
def _running(version: str, firmware_hash: bytes | None) -> Running:
    """The starting state of a device running this image.  States are immutable, so
    devices that start on the same image share one (a fleet has few images)."""
    return Running(Image(version, firmware_hash))


class EmulatedDevice:
    """A device behind the DCC.

    Keeps its EUI-64, type, SMETS generation, make and model, comms hub, power
    state, firmware state (active image, held image, schedule) and, for a GPF
    paired with a GSME, its copy of the GSME's firmware version.
    """

    __slots__ = ("eui", "device_type", "smets", "manufacturer", "model", "hub", "machine",
                 "state", "copy", "powered", "last_transition")

    def __init__(self, eui: EUI64 | str, device_type: str, *, smets: str, manufacturer: str,
                 model: str, firmware_version: str, firmware_hash: bytes | None = None,
                 hub: EUI64 | str | None = None, gsme_copy: str | None = None) -> None:
        self.eui = EUI64.parse(eui)
        self.device_type = device_type
        self.smets = smets
        self.manufacturer = manufacturer
        self.model = model
        self.hub = EUI64.parse(hub) if hub is not None else None
        self.machine: Machine = FIRMWARE_MACHINE[smets]
        self.state: FirmwareState = (
            _running(firmware_version, firmware_hash)
            if type(firmware_version) is str and type(firmware_hash) in _SHAREABLE_HASH
            else Running(Image(firmware_version, firmware_hash)))
        self.copy: GsmeCopy | None = GsmeCopy(gsme_copy) if gsme_copy is not None else None
        """GPF only: its copy of the GSME's version (None: no GSME paired)."""
        self.powered = True
        self.last_transition: Transition | None = None
        """The table row the last event took (firmware or GSME copy)."""

    # --- what it holds ----------------------------------------------------------

    @property
    def active(self) -> Image:
        return self.state.active

    @property
    def firmware_version(self) -> str:
        """The version it runs (a GPF: its own, comms hub, firmware)."""
        return self.state.active.version

    @property
    def held_image(self) -> Image | None:
        return self.state.image if isinstance(self.state, (ImageHeld, ActivationScheduled)) \
            else None

    @property
    def schedule(self) -> Schedule | None:
        return self.state.schedule if isinstance(self.state, ActivationScheduled) else None

    # --- acting ---------------------------------------------------------------------

    def receive(self, payload: Payload, originator: EUI64, transaction: int, message_code: int,
                env: Surroundings) -> Outcome:
        """Act on a command's payload; the outcome's ``reply`` is the answer's payload."""
        if type(payload) in OTHER_COMMANDS:
            return self._other(payload)
        if self.device_type not in FIRMWARE_DEVICE_TYPES:
            raise self._unsupported(payload)
        if isinstance(payload, ReadFirmwareVersion):
            if self.copy is not None:
                return self.on_copy(Stimulus(Event.READ_VERSION))
            return self.step(Stimulus(Event.READ_VERSION))
        if isinstance(payload, DistributeImage):
            return self.step(self._distribution(payload, env))
        if isinstance(payload, ActivateFirmware):
            return self.step(self._activation(payload, originator, transaction, message_code,
                                              env))
        raise self._unsupported(payload)

    def fire(self, env: Surroundings) -> Outcome:
        """Perform the scheduled activation (the caller checked it is due)."""
        schedule = self.schedule
        assert schedule is not None  # the caller found it due
        candidate = self._candidate(schedule.firmware_hash, env)
        event = activation_event(self.active, candidate, schedule.firmware_hash,
                                 power_lost=env.power_lost, due=True)
        return self.step(Stimulus(event, image=candidate))

    def step(self, stimulus: Stimulus) -> Outcome:
        """Step the firmware machine."""
        self.last_transition, outcome = self.machine.step(self.state, stimulus)
        # a firmware table's next states are firmware states (step checks the row's)
        self.state = cast(FirmwareState, outcome.state)
        return outcome

    def on_copy(self, stimulus: Stimulus) -> Outcome:
        """Step the GSME-copy machine (a GPF paired with a GSME)."""
        assert self.copy is not None  # a GPF paired with a GSME holds a copy
        self.last_transition, outcome = GSME_COPY.step(self.copy, stimulus)
        self.copy = cast(GsmeCopy, outcome.state)  # GSME_COPY's states are all GsmeCopy
        return outcome

    # --- classifying commands into events --------------------------------------------

    def _distribution(self, payload: DistributeImage, env: Surroundings) -> Stimulus:
        image = env.images.verify(self.manufacturer, self.model, payload.image,
                                  payload.firmware_version)
        event = Event.IMAGE_VERIFIED if image is not None else Event.IMAGE_CORRUPT
        return Stimulus(event, image=image, received_hash=sha256(payload.image))

    def _activation(self, payload: ActivateFirmware, originator: EUI64, transaction: int,
                    message_code: int, env: Surroundings) -> Stimulus:
        execution = payload.execution
        if execution is not None and execution.tzinfo is None:
            execution = execution.replace(tzinfo=UTC)
        if execution is not None and execution > env.now:
            return Stimulus(Event.ACTIVATE_FUTURE, schedule=Schedule(
                payload.firmware_hash, execution, transaction, originator, message_code))
        candidate = self._candidate(payload.firmware_hash, env)
        event = activation_event(self.active, candidate, payload.firmware_hash,
                                 power_lost=env.power_lost)
        return Stimulus(event, image=candidate)

    def _candidate(self, firmware_hash: bytes, env: Surroundings) -> Image | None:
        """The image an activation would install: SMETS2, the held one; SMETS1, the
        library's genuine image of this model with that hash."""
        if self.smets == "SMETS1":
            known = env.images.find(self.manufacturer, self.model, firmware_hash)
            return known.image if known is not None else None
        return self.held_image

    def _other(self, payload: Payload) -> Outcome:
        types, answer = OTHER_COMMANDS[type(payload)]
        if self.device_type not in types:
            raise self._unsupported(payload)
        return Outcome(self.state, answer)

    def _unsupported(self, payload: Payload) -> UnsupportedCommand:
        return UnsupportedCommand(f"a {self.device_type} does not take this command",
                                  source=str(self.eui), found=type(payload).__name__)

    def __repr__(self) -> str:
        return (f"EmulatedDevice({self.eui}, {self.device_type}, {self.smets}, "
                f"{self.state!r}, powered={self.powered})")
