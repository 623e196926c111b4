"""Device firmware as explicit state machines: states, events and the transition tables.

Everything a device does with its firmware is one row of a table below:
``(state, event) -> (next state, action)``.  The tables are data, read in
this one place, and they drive the behaviour: :meth:`Machine.step` looks the
row up, runs its action, and refuses an action whose result is not the row's
next state.  ``docs/devices.md`` shows them (rendered by :func:`render`).

Three machines:

* :data:`SMETS2_FIRMWARE` -- the two-step update (11.1 distributes and the
  device verifies and holds an image; 11.3 activates it by hash, now or at a
  future time).  ESME, GSME, CHF, GPF (its own, comms hub, firmware), PPMID,
  HCALCS.
* :data:`SMETS1_FIRMWARE` -- the one-step update: 11.3 names a hash and the
  DCC makes that image available and activates it (see :mod:`.images`).
  There is no held image; a distributed image is refused.
* :data:`GSME_COPY` -- a GPF's copy of its GSME's firmware version, the
  answer a GPF gives to 11.2.  It goes stale when the GSME activates new
  firmware and is refreshed only when the GSME itself answers a firmware
  version read (GCS38) or when told to refresh.

Events are found by the classifiers at the bottom (:func:`activation_event`),
so the rules that choose between, say, a hash mismatch and "already active"
live here too.  The documented choices are the module constants
:data:`ALREADY_ACTIVE_STATUS`, :data:`SMETS1_RETRY_ANSWER`,
:data:`POWER_LOSS_STATUS` and :data:`NO_IMAGE_STATUS`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from typing import Any, Generic, TypeVar

from ..gbcs.model import (
    ALERT_ACTIVATION_FAILED,
    ALERT_ACTIVATION_SUCCEEDED,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    ImageDistributionResult,
    Payload,
    activation_alert_code,
)
from ..messages.ids import EUI64
from .errors import NoTransition

# --- the documented choices ----------------------------------------------------

#: SMETS2: the answer to activating the image that is already active (no other
#: image held).  Not ``success``: the device activated nothing.  This is the
#: "already active" answer of MP105's problem statement: under the baseline
#: profile it changes nothing in the SMI; under MP105 Option 2 its firmware
#: version (always present, the running one) is processed.
ALREADY_ACTIVE_STATUS = "activationFailure"

#: SMETS1: the answer to activating the image that is already active -- a retry
#: of an activation that already happened.  The SMETS1 service provider reports
#: the activation done, without reading the version back (MP105: "a SMETS1 retry
#: may not carry a firmware version").  Always this answer, never a version.
_SMETS1_RETRY_STATUS = "success"
SMETS1_RETRY_ANSWER = ActivationResult(_SMETS1_RETRY_STATUS, None)

#: The outcome when power is lost during an activation: the device restarts on
#: its old firmware and reports it.
POWER_LOSS_STATUS = "activationFailure"

#: The outcome when there is no image for the hash: SMETS2, nothing held;
#: SMETS1, no genuine image of the model with that hash.
NO_IMAGE_STATUS = "noImageHeld"

#: The outcome when the hash differs from the held image's.
MISMATCH_STATUS = "hashMismatch"



# --- what the states are made of ----------------------------------------------

@dataclass(frozen=True)
class Image:
    """A firmware image as a device knows it."""

    version: str
    firmware_hash: bytes | None
    """SHA-256 of the image; None when unknown (an active image whose CPL entry
    has no hash: no activation can name it)."""

    def __repr__(self) -> str:
        digest = self.firmware_hash.hex().upper()[:12] + "..." if self.firmware_hash else None
        return f"Image({self.version!r}, {digest})"


@dataclass(frozen=True)
class Schedule:
    """A future-dated activation the device is waiting to perform."""

    firmware_hash: bytes
    at: _dt.datetime
    """When to activate (timezone-aware)."""
    command_counter: int
    """The transaction of the ActivateFirmware command; the alert quotes it."""
    requester: EUI64
    """The command's originator; the alert goes there."""
    message_code: int
    """The command's message code (CS06)."""


# --- states ---------------------------------------------------------------------

@dataclass(frozen=True)
class Running:
    """Running ``active``; no image held, nothing scheduled."""

    active: Image


@dataclass(frozen=True)
class ImageHeld:
    """Running ``active``, holding a verified ``image`` for activation (SMETS2)."""

    active: Image
    image: Image


@dataclass(frozen=True)
class ActivationScheduled:
    """Running ``active``, waiting to activate at ``schedule.at``.

    ``image`` is the held image (SMETS2), or None: nothing held (SMETS2: the
    activation will fail unless an image arrives), or a SMETS1 device, whose
    image is made available when the schedule fires.
    """

    active: Image
    image: Image | None
    schedule: Schedule


@dataclass(frozen=True)
class GsmeCopy:
    """A GPF's copy of its GSME's firmware version (what the GPF reports on 11.2)."""

    version: str


FirmwareState = Running | ImageHeld | ActivationScheduled
State = FirmwareState | GsmeCopy


# --- events ---------------------------------------------------------------------

class Event(Enum):
    """What happens to a device."""

    IMAGE_VERIFIED = "image distributed, verifies"
    IMAGE_CORRUPT = "image distributed, fails verification"
    ACTIVATE_MATCH = "activate now, hash matches the image"
    ACTIVATE_MISMATCH = "activate now, hash differs from the held image"
    ACTIVATE_NO_IMAGE = "activate now, no image for the hash"
    ACTIVATE_ALREADY_ACTIVE = "activate now, image already active"
    ACTIVATE_POWER_LOSS = "activate now, hash matches, power lost during activation"
    ACTIVATE_FUTURE = "activate at a future time"
    DUE_MATCH = "schedule fires, hash matches the image"
    DUE_MISMATCH = "schedule fires, hash differs from the held image"
    DUE_NO_IMAGE = "schedule fires, no image for the hash"
    DUE_ALREADY_ACTIVE = "schedule fires, image already active"
    DUE_POWER_LOSS = "schedule fires, hash matches, power lost during activation"
    READ_VERSION = "read firmware version"
    GSME_ACTIVATED = "the GSME activates new firmware"
    GSME_VERSION_READ = "the GSME answers a firmware version read (GCS38)"
    REFRESH = "told to refresh its copy"


@dataclass(frozen=True)
class Stimulus:
    """An event and the data it carries."""

    event: Event
    image: Image | None = None
    """The image concerned: the verified image (IMAGE_VERIFIED) or the image to
    activate (ACTIVATE_MATCH, DUE_MATCH)."""
    received_hash: bytes = b""
    """IMAGE_*: SHA-256 of the image as received."""
    schedule: Schedule | None = None
    """ACTIVATE_FUTURE: the activation to schedule."""
    version: str | None = None
    """GSME_VERSION_READ, REFRESH: the GSME's firmware version."""


@dataclass(frozen=True)
class Outcome:
    """What an action did: the next state, and the reply or the alert it produced."""

    state: State
    reply: Payload | None = None
    """The response payload, for an event caused by a command."""
    alert: FirmwareActivationAlert | None = None
    """DUE_* events: the alert reporting the outcome of the scheduled activation."""
    alert_to: EUI64 | None = None

    @property
    def alert_code(self) -> int | None:
        if self.alert is None:
            return None
        return self.alert.alert_code


# --- actions --------------------------------------------------------------------

S = TypeVar("S", bound=State)


@dataclass(frozen=True)
class Action(Generic[S]):
    """A named piece of behaviour a transition runs, on the states of type ``S``
    (a table row runs it only in its own state)."""

    name: str
    run: Callable[[S, Stimulus], Outcome]

    def __str__(self) -> str:
        return self.name


def _action(name: str) -> Callable[[Callable[[S, Stimulus], Outcome]], Action[S]]:
    def wrap(run: Callable[[S, Stimulus], Outcome]) -> Action[S]:
        return Action(name, run)
    return wrap


def _keep_schedule(state: FirmwareState, *, active: Image, image: Image | None) -> FirmwareState:
    """``active`` and ``image`` in the same kind of state: a schedule stays pending."""
    if isinstance(state, ActivationScheduled):
        return replace(state, active=active, image=image)
    try:
        return _held(active, image) if image is not None else _running(active)
    except TypeError:  # an image whose hash is not hashable (a bytearray): not shared
        return ImageHeld(active, image) if image is not None else Running(active)


@lru_cache(maxsize=1024)
def _running(active: Image) -> Running:
    """States are immutable: the devices of a fleet in the same state share one."""
    return Running(active)


@lru_cache(maxsize=1024)
def _held(active: Image, image: Image) -> ImageHeld:
    return ImageHeld(active, image)


@_action("hold the image; answer verified")
def _hold_image(state: FirmwareState, s: Stimulus) -> Outcome:
    return Outcome(_keep_schedule(state, active=state.active, image=s.image),
                   ImageDistributionResult(True, s.received_hash))


@_action("hold nothing (the image slot was overwritten); answer not verified")
def _drop_image(state: FirmwareState, s: Stimulus) -> Outcome:
    return Outcome(_keep_schedule(state, active=state.active, image=None),
                   ImageDistributionResult(False, s.received_hash))


@_action("refuse the image (SMETS1 takes no 11.1); answer not verified")
def _refuse_image(state: FirmwareState, s: Stimulus) -> Outcome:
    return Outcome(state, ImageDistributionResult(False, s.received_hash))


@_action("activate the image; answer success + new version")
def _activate(state: FirmwareState, s: Stimulus) -> Outcome:
    assert s.image is not None  # ACTIVATE_MATCH names the image
    return Outcome(_keep_schedule(state, active=s.image, image=None),
                   ActivationResult("success", s.image.version))


def _refuse_activation(status: str) -> Action[FirmwareState]:
    def run(state: FirmwareState, s: Stimulus) -> Outcome:
        return Outcome(state, ActivationResult(status, state.active.version))
    return Action(f"answer {status} + current version", run)


@_action(f"drop a held copy of the active image; answer {ALREADY_ACTIVE_STATUS} "
         "+ current version")
def _already_active(state: FirmwareState, s: Stimulus) -> Outcome:
    return Outcome(_keep_schedule(state, active=state.active, image=None),
                   ActivationResult(ALREADY_ACTIVE_STATUS, state.active.version))


@_action(f"answer {SMETS1_RETRY_ANSWER.status}, no version (SMETS1 retry rule)")
def _smets1_retry(state: FirmwareState, s: Stimulus) -> Outcome:
    return Outcome(state, SMETS1_RETRY_ANSWER)


@_action("schedule the activation (replacing any pending one); answer no outcome yet")
def _schedule(state: FirmwareState, s: Stimulus) -> Outcome:
    image = state.image if isinstance(state, (ImageHeld, ActivationScheduled)) else None
    assert s.schedule is not None  # ACTIVATE_FUTURE carries the schedule
    return Outcome(ActivationScheduled(state.active, image, s.schedule),
                   ActivationResult(None, None))


@_action("report the active version")
def _report_version(state: FirmwareState, s: Stimulus) -> Outcome:
    return Outcome(state, FirmwareVersionReport(state.active.version))


def _alert(state: ActivationScheduled, status: str, version: str | None) -> tuple:
    schedule = state.schedule
    return (FirmwareActivationAlert(status, version, schedule.at, schedule.command_counter),
            schedule.requester)


@_action(f"activate the image; alert 0x{ALERT_ACTIVATION_SUCCEEDED:X} success + new version")
def _fire_activate(state: ActivationScheduled, s: Stimulus) -> Outcome:
    assert s.image is not None  # DUE_MATCH names the image
    alert, to = _alert(state, "success", s.image.version)
    return Outcome(Running(s.image), alert=alert, alert_to=to)


def _fire_failure(status: str, *, keep_image: bool) -> Action[ActivationScheduled]:
    def run(state: ActivationScheduled, s: Stimulus) -> Outcome:
        alert, to = _alert(state, status, state.active.version)
        image = state.image if keep_image else None
        return Outcome(ImageHeld(state.active, image) if image else Running(state.active),
                       alert=alert, alert_to=to)
    kept = "keep the held image" if keep_image else "hold nothing"
    return Action(f"{kept}; alert 0x{ALERT_ACTIVATION_FAILED:X} {status} + current version", run)


@_action(f"alert 0x{activation_alert_code(_SMETS1_RETRY_STATUS):X} "
         f"{_SMETS1_RETRY_STATUS}, no version (SMETS1 retry rule)")
def _fire_smets1_retry(state: ActivationScheduled, s: Stimulus) -> Outcome:
    alert, to = _alert(state, _SMETS1_RETRY_STATUS, SMETS1_RETRY_ANSWER.firmware_version)
    return Outcome(Running(state.active), alert=alert, alert_to=to)


@_action("report the copy (which may be stale)")
def _report_copy(state: GsmeCopy, s: Stimulus) -> Outcome:
    return Outcome(state, FirmwareVersionReport(state.version))


@_action("keep the copy: it is now stale")
def _stay_stale(state: GsmeCopy, s: Stimulus) -> Outcome:
    return Outcome(state)


@_action("copy the GSME's version")
def _refresh(state: GsmeCopy, s: Stimulus) -> Outcome:
    assert s.version is not None  # GSME_VERSION_READ and REFRESH carry the version
    return Outcome(GsmeCopy(s.version))


# --- the tables -----------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    """One row: in ``state``, on ``event``, run ``action`` and go to ``next``."""

    state: type
    event: Event
    next: type
    action: Action[Any]
    """Run only in ``state`` (which :meth:`Machine.step` looks the row up by)."""

    def __str__(self) -> str:
        return f"{self.state.__name__} --{self.event.name}--> {self.next.__name__}"


class Machine:
    """A transition table and the means to step through it."""

    def __init__(self, name: str,
                 rows: tuple[tuple[type, Event, type, Action[Any]], ...]) -> None:
        self.name = name
        self.transitions: tuple[Transition, ...] = tuple(Transition(*row) for row in rows)
        self._index: dict[tuple[type, Event], Transition] = {}
        for t in self.transitions:
            if (t.state, t.event) in self._index:
                raise ValueError(f"{name}: two rows for {t.state.__name__} x {t.event.name}")
            self._index[(t.state, t.event)] = t

    def row(self, state: type, event: Event) -> Transition | None:
        return self._index.get((state, event))

    def step(self, state: State, stimulus: Stimulus) -> tuple[Transition, Outcome]:
        """Apply ``stimulus`` to ``state`` by the table: the row taken and what it did."""
        row = self._index.get((type(state), stimulus.event))
        if row is None:
            raise NoTransition(f"{self.name}: no transition for this state and event",
                               source=self.name, path=type(state).__name__,
                               expected="an event with a row in the table",
                               found=stimulus.event.name)
        outcome = row.action.run(state, stimulus)
        if type(outcome.state) is not row.next:
            raise NoTransition(f"{self.name}: action '{row.action}' left the table's next state",
                               source=self.name, path=str(row),
                               expected=row.next.__name__, found=type(outcome.state).__name__)
        return row, outcome

    def __repr__(self) -> str:
        return f"Machine({self.name!r}, {len(self.transitions)} transitions)"


E = Event
_MISMATCH = _refuse_activation(MISMATCH_STATUS)
_NO_IMAGE = _refuse_activation(NO_IMAGE_STATUS)
_POWER_LOSS = _refuse_activation(POWER_LOSS_STATUS)
_DUE_MISMATCH = _fire_failure(MISMATCH_STATUS, keep_image=True)
_DUE_NO_IMAGE = _fire_failure(NO_IMAGE_STATUS, keep_image=False)
_DUE_ALREADY_ACTIVE = _fire_failure(ALREADY_ACTIVE_STATUS, keep_image=False)
_DUE_POWER_LOSS_KEEP = _fire_failure(POWER_LOSS_STATUS, keep_image=True)
_DUE_POWER_LOSS = _fire_failure(POWER_LOSS_STATUS, keep_image=False)

#: SMETS2 two-step firmware update: ESME, GSME, CHF, GPF (own firmware), PPMID, HCALCS.
SMETS2_FIRMWARE = Machine("SMETS2", (
    (Running, E.IMAGE_VERIFIED, ImageHeld, _hold_image),
    (Running, E.IMAGE_CORRUPT, Running, _drop_image),
    (Running, E.ACTIVATE_NO_IMAGE, Running, _NO_IMAGE),
    (Running, E.ACTIVATE_ALREADY_ACTIVE, Running, _already_active),
    (Running, E.ACTIVATE_FUTURE, ActivationScheduled, _schedule),
    (Running, E.READ_VERSION, Running, _report_version),

    (ImageHeld, E.IMAGE_VERIFIED, ImageHeld, _hold_image),
    (ImageHeld, E.IMAGE_CORRUPT, Running, _drop_image),
    (ImageHeld, E.ACTIVATE_MATCH, Running, _activate),
    (ImageHeld, E.ACTIVATE_MISMATCH, ImageHeld, _MISMATCH),
    (ImageHeld, E.ACTIVATE_ALREADY_ACTIVE, Running, _already_active),
    (ImageHeld, E.ACTIVATE_POWER_LOSS, ImageHeld, _POWER_LOSS),
    (ImageHeld, E.ACTIVATE_FUTURE, ActivationScheduled, _schedule),
    (ImageHeld, E.READ_VERSION, ImageHeld, _report_version),

    (ActivationScheduled, E.IMAGE_VERIFIED, ActivationScheduled, _hold_image),
    (ActivationScheduled, E.IMAGE_CORRUPT, ActivationScheduled, _drop_image),
    (ActivationScheduled, E.ACTIVATE_MATCH, ActivationScheduled, _activate),
    (ActivationScheduled, E.ACTIVATE_MISMATCH, ActivationScheduled, _MISMATCH),
    (ActivationScheduled, E.ACTIVATE_NO_IMAGE, ActivationScheduled, _NO_IMAGE),
    (ActivationScheduled, E.ACTIVATE_ALREADY_ACTIVE, ActivationScheduled, _already_active),
    (ActivationScheduled, E.ACTIVATE_POWER_LOSS, ActivationScheduled, _POWER_LOSS),
    (ActivationScheduled, E.ACTIVATE_FUTURE, ActivationScheduled, _schedule),
    (ActivationScheduled, E.READ_VERSION, ActivationScheduled, _report_version),
    (ActivationScheduled, E.DUE_MATCH, Running, _fire_activate),
    (ActivationScheduled, E.DUE_MISMATCH, ImageHeld, _DUE_MISMATCH),
    (ActivationScheduled, E.DUE_NO_IMAGE, Running, _DUE_NO_IMAGE),
    (ActivationScheduled, E.DUE_ALREADY_ACTIVE, Running, _DUE_ALREADY_ACTIVE),
    (ActivationScheduled, E.DUE_POWER_LOSS, ImageHeld, _DUE_POWER_LOSS_KEEP),
))

#: SMETS1 one-step firmware update: 11.3 alone makes the image available and activates it.
SMETS1_FIRMWARE = Machine("SMETS1", (
    (Running, E.IMAGE_VERIFIED, Running, _refuse_image),
    (Running, E.IMAGE_CORRUPT, Running, _refuse_image),
    (Running, E.ACTIVATE_MATCH, Running, _activate),
    (Running, E.ACTIVATE_NO_IMAGE, Running, _NO_IMAGE),
    (Running, E.ACTIVATE_ALREADY_ACTIVE, Running, _smets1_retry),
    (Running, E.ACTIVATE_POWER_LOSS, Running, _POWER_LOSS),
    (Running, E.ACTIVATE_FUTURE, ActivationScheduled, _schedule),
    (Running, E.READ_VERSION, Running, _report_version),

    (ActivationScheduled, E.IMAGE_VERIFIED, ActivationScheduled, _refuse_image),
    (ActivationScheduled, E.IMAGE_CORRUPT, ActivationScheduled, _refuse_image),
    (ActivationScheduled, E.ACTIVATE_MATCH, ActivationScheduled, _activate),
    (ActivationScheduled, E.ACTIVATE_NO_IMAGE, ActivationScheduled, _NO_IMAGE),
    (ActivationScheduled, E.ACTIVATE_ALREADY_ACTIVE, ActivationScheduled, _smets1_retry),
    (ActivationScheduled, E.ACTIVATE_POWER_LOSS, ActivationScheduled, _POWER_LOSS),
    (ActivationScheduled, E.ACTIVATE_FUTURE, ActivationScheduled, _schedule),
    (ActivationScheduled, E.READ_VERSION, ActivationScheduled, _report_version),
    (ActivationScheduled, E.DUE_MATCH, Running, _fire_activate),
    (ActivationScheduled, E.DUE_NO_IMAGE, Running, _DUE_NO_IMAGE),
    (ActivationScheduled, E.DUE_ALREADY_ACTIVE, Running, _fire_smets1_retry),
    (ActivationScheduled, E.DUE_POWER_LOSS, Running, _DUE_POWER_LOSS),
))

#: A GPF's copy of its GSME's firmware version.
GSME_COPY = Machine("GPF copy of GSME version", (
    (GsmeCopy, E.READ_VERSION, GsmeCopy, _report_copy),
    (GsmeCopy, E.GSME_ACTIVATED, GsmeCopy, _stay_stale),
    (GsmeCopy, E.GSME_VERSION_READ, GsmeCopy, _refresh),
    (GsmeCopy, E.REFRESH, GsmeCopy, _refresh),
))

MACHINES: tuple[Machine, ...] = (SMETS2_FIRMWARE, SMETS1_FIRMWARE, GSME_COPY)

#: Which firmware machine a device runs, by SMETS generation.
FIRMWARE_MACHINE: dict[str, Machine] = {"SMETS1": SMETS1_FIRMWARE, "SMETS2": SMETS2_FIRMWARE}


# --- classifiers: which event a command or a due schedule is -------------------------

_NOW_TO_DUE = {E.ACTIVATE_MATCH: E.DUE_MATCH, E.ACTIVATE_MISMATCH: E.DUE_MISMATCH,
               E.ACTIVATE_NO_IMAGE: E.DUE_NO_IMAGE,
               E.ACTIVATE_ALREADY_ACTIVE: E.DUE_ALREADY_ACTIVE,
               E.ACTIVATE_POWER_LOSS: E.DUE_POWER_LOSS}


def activation_event(active: Image, candidate: Image | None, firmware_hash: bytes, *,
                     power_lost: Callable[[], bool], due: bool = False) -> Event:
    """Which activation event it is to activate ``firmware_hash`` now (or when due).

    ``candidate`` is the image the device would activate: the held image
    (SMETS2) or the library's image for the hash (SMETS1).  In order:

    1. the candidate's hash is ``firmware_hash``: already active if the candidate
       is the active image, else a match -- or a power loss, when
       ``power_lost()`` says so (asked only here, so a planned power loss waits
       for a real activation);
    2. nothing held: already active if the hash is the active image's, else no image;
    3. an image held with another hash: mismatch (even if the hash is the active
       image's -- the device compares with what it holds).
    """
    if candidate is not None and candidate.firmware_hash == firmware_hash:
        if candidate.firmware_hash == active.firmware_hash:
            event = E.ACTIVATE_ALREADY_ACTIVE
        else:
            event = E.ACTIVATE_POWER_LOSS if power_lost() else E.ACTIVATE_MATCH
    elif candidate is None:
        event = (E.ACTIVATE_ALREADY_ACTIVE if firmware_hash == active.firmware_hash
                 else E.ACTIVATE_NO_IMAGE)
    else:
        event = E.ACTIVATE_MISMATCH
    return _NOW_TO_DUE[event] if due else event


def render(machine: Machine) -> str:
    """The machine's table in Markdown (what ``docs/devices.md`` shows)."""
    lines = ["| state | event | next state | action |", "| --- | --- | --- | --- |"]
    for t in machine.transitions:
        lines.append(f"| {t.state.__name__} | {t.event.value} | {t.next.__name__} "
                     f"| {t.action} |")
    return "\n".join(lines)
