"""Every transition of every device state machine, driven through the network.

The parametrization is the transition tables themselves: a row without a
scenario here fails (``test_every_transition_has_a_scenario``), and so does a
scenario for a row that no longer exists.  Each scenario brings a device into
the row's state with real commands, causes the row's event, and checks the
answer (or alert) against expectations written here, independently of the
implementation -- and that the device took exactly that row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from duis.devices import ALERT_ACTIVATION_FAILED as FAILED
from duis.devices import ALERT_ACTIVATION_SUCCEEDED as SUCCEEDED
from duis.devices import (
    MACHINES,
    ActivationScheduled,
    Event,
    ImageHeld,
    NoTransition,
    Running,
    Transition,
)
from duis.devices.firmware_machine import SMETS2_FIRMWARE, Machine, Stimulus, render
from duis.gbcs.model import (
    ActivationResult,
    DistributeImage,
    FirmwareVersionReport,
    GbcsMessage,
    ImageDistributionResult,
    Kind,
)
from tests.device_bench import (
    ESME,
    GPF,
    GSME,
    LATER,
    S1ESME,
    T0,
    UNKNOWN_HASH,
    Bench,
    digest,
    image,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "devices.md"
E = Event


# --- expectations --------------------------------------------------------------------

@dataclass(frozen=True)
class Alert:
    """An alert as a scenario expects it: code, status and version."""

    code: int
    status: str
    version: str | None


@dataclass(frozen=True)
class Corrupt:
    """A distribution that failed verification because the bytes changed in transit."""

    genuine: bytes


def observed(thing):
    if isinstance(thing, GbcsMessage):
        assert thing.kind is Kind.ALERT
        return Alert(thing.alert_code, thing.payload.status, thing.payload.firmware_version)
    return thing


def matches(expected, got) -> bool:
    if isinstance(expected, Corrupt):
        return (isinstance(got, ImageDistributionResult) and not got.verified
                and got.firmware_hash != expected.genuine)
    return expected == got


# --- setups: bring a device into a state -----------------------------------------------

def held(version: str, device=ESME) -> Callable[[Bench], None]:
    def setup(b: Bench) -> None:
        assert b.distribute(device, version).verified
    return setup


def scheduled(version: str | None = None, *, holding: str | None = None, device=ESME,
              firmware_hash: bytes | None = None) -> Callable[[Bench], None]:
    """Schedule activation of ``version`` (or ``firmware_hash``) at LATER, holding ``holding``."""
    def setup(b: Bench) -> None:
        if holding:
            held(holding, device)(b)
        answer = b.activate(device, version, firmware_hash=firmware_hash, at=LATER)
        assert answer == ActivationResult(None, None)
    return setup


def then(*setups: Callable[[Bench], None]) -> Callable[[Bench], None]:
    def setup(b: Bench) -> None:
        for step in setups:
            step(b)
    return setup


def running(b: Bench) -> None:
    pass


def corrupt_next_image(device):
    def setup(b: Bench) -> None:
        b.faults.corrupt_next_image(device)
    return setup


def power_loss(device):
    def setup(b: Bench) -> None:
        b.faults.power_loss_on_next_activation(device)
    return setup


@dataclass(frozen=True)
class Scenario:
    device: object
    setup: Callable[[Bench], None]
    act: Callable[[Bench], object]
    expect: object
    after: Callable[[Bench], bool] = lambda b: True
    """A further check on the device after the event."""


def dist(device, version):
    return lambda b: b.distribute(device, version)


def act_now(device, version=None, firmware_hash=None):
    return lambda b: b.activate(device, version, firmware_hash=firmware_hash)


def act_later(device, version, minutes=90):
    return lambda b: b.activate(device, version, at=T0 + dt.timedelta(minutes=minutes))


def read(device):
    return lambda b: b.read(device)


def due(device):
    return lambda b: b.due(device)


def held_is(device, version):
    def check(b: Bench) -> bool:
        h = b.device(device).held_image
        return (h is None) if version is None else (h is not None and h.version == version)
    return check


def active_is(device, version):
    return lambda b: b.device(device).firmware_version == version


def still_scheduled(device, version):
    return lambda b: (b.device(device).schedule is not None
                      and b.device(device).schedule.firmware_hash == digest(device, version))


def both(*checks):
    return lambda b: all(c(b) for c in checks)


def gsme_activates(b: Bench):
    held("3.1", GSME)(b)
    assert b.activate(GSME, "3.1") == ActivationResult("success", "3.1")


def gpf_copy(version):
    return lambda b: b.device(GPF).copy.version == version


S2, S1, COPY = "SMETS2", "SMETS1", "GPF copy of GSME version"
OK_NEW = ActivationResult("success", "1.1")
R = ESME  # the SMETS2 device under test; S1ESME for SMETS1

SCENARIOS: dict[tuple[str, str, str], Scenario] = {
    # --- SMETS2, Running (1.0 active, nothing held)
    (S2, "Running", "IMAGE_VERIFIED"): Scenario(
        R, running, dist(R, "1.1"), ImageDistributionResult(True, digest(R, "1.1")),
        held_is(R, "1.1")),
    (S2, "Running", "IMAGE_CORRUPT"): Scenario(
        R, corrupt_next_image(R), dist(R, "1.1"), Corrupt(digest(R, "1.1")), held_is(R, None)),
    (S2, "Running", "ACTIVATE_NO_IMAGE"): Scenario(
        R, running, act_now(R, "1.1"), ActivationResult("noImageHeld", "1.0")),
    (S2, "Running", "ACTIVATE_ALREADY_ACTIVE"): Scenario(
        R, running, act_now(R, "1.0"), ActivationResult("activationFailure", "1.0")),
    (S2, "Running", "ACTIVATE_FUTURE"): Scenario(
        R, running, act_later(R, "1.1"), ActivationResult(None, None),
        both(still_scheduled(R, "1.1"), held_is(R, None))),
    (S2, "Running", "READ_VERSION"): Scenario(
        R, running, read(R), FirmwareVersionReport("1.0")),

    # --- SMETS2, ImageHeld (1.1 held)
    (S2, "ImageHeld", "IMAGE_VERIFIED"): Scenario(
        R, held("1.1"), dist(R, "1.2"), ImageDistributionResult(True, digest(R, "1.2")),
        held_is(R, "1.2")),
    (S2, "ImageHeld", "IMAGE_CORRUPT"): Scenario(
        R, then(held("1.1"), corrupt_next_image(R)), dist(R, "1.2"), Corrupt(digest(R, "1.2")),
        held_is(R, None)),
    (S2, "ImageHeld", "ACTIVATE_MATCH"): Scenario(
        R, held("1.1"), act_now(R, "1.1"), OK_NEW,
        both(active_is(R, "1.1"), held_is(R, None))),
    (S2, "ImageHeld", "ACTIVATE_MISMATCH"): Scenario(
        R, held("1.1"), act_now(R, "1.2"), ActivationResult("hashMismatch", "1.0"),
        held_is(R, "1.1")),
    (S2, "ImageHeld", "ACTIVATE_ALREADY_ACTIVE"): Scenario(
        R, held("1.0"), act_now(R, "1.0"), ActivationResult("activationFailure", "1.0"),
        held_is(R, None)),
    (S2, "ImageHeld", "ACTIVATE_POWER_LOSS"): Scenario(
        R, then(held("1.1"), power_loss(R)), act_now(R, "1.1"),
        ActivationResult("activationFailure", "1.0"),
        both(active_is(R, "1.0"), held_is(R, "1.1"))),
    (S2, "ImageHeld", "ACTIVATE_FUTURE"): Scenario(
        R, held("1.1"), act_later(R, "1.1"), ActivationResult(None, None),
        both(still_scheduled(R, "1.1"), held_is(R, "1.1"))),
    (S2, "ImageHeld", "READ_VERSION"): Scenario(
        R, held("1.1"), read(R), FirmwareVersionReport("1.0")),

    # --- SMETS2, ActivationScheduled (1.1 scheduled at LATER, 1.1 held unless said)
    (S2, "ActivationScheduled", "IMAGE_VERIFIED"): Scenario(
        R, scheduled("1.1", holding="1.1"), dist(R, "1.2"),
        ImageDistributionResult(True, digest(R, "1.2")),
        both(held_is(R, "1.2"), still_scheduled(R, "1.1"))),
    (S2, "ActivationScheduled", "IMAGE_CORRUPT"): Scenario(
        R, then(scheduled("1.1", holding="1.1"), corrupt_next_image(R)), dist(R, "1.2"),
        Corrupt(digest(R, "1.2")), both(held_is(R, None), still_scheduled(R, "1.1"))),
    (S2, "ActivationScheduled", "ACTIVATE_MATCH"): Scenario(
        R, scheduled("1.1", holding="1.1"), act_now(R, "1.1"), OK_NEW,
        both(active_is(R, "1.1"), held_is(R, None), still_scheduled(R, "1.1"))),
    (S2, "ActivationScheduled", "ACTIVATE_MISMATCH"): Scenario(
        R, scheduled("1.1", holding="1.1"), act_now(R, "1.2"),
        ActivationResult("hashMismatch", "1.0")),
    (S2, "ActivationScheduled", "ACTIVATE_NO_IMAGE"): Scenario(
        R, scheduled("1.1"), act_now(R, "1.1"), ActivationResult("noImageHeld", "1.0")),
    (S2, "ActivationScheduled", "ACTIVATE_ALREADY_ACTIVE"): Scenario(
        R, scheduled("1.1"), act_now(R, "1.0"), ActivationResult("activationFailure", "1.0"),
        still_scheduled(R, "1.1")),
    (S2, "ActivationScheduled", "ACTIVATE_POWER_LOSS"): Scenario(
        R, then(scheduled("1.1", holding="1.1"), power_loss(R)), act_now(R, "1.1"),
        ActivationResult("activationFailure", "1.0"), held_is(R, "1.1")),
    (S2, "ActivationScheduled", "ACTIVATE_FUTURE"): Scenario(
        R, scheduled("1.2", holding="1.1"), act_later(R, "1.1", minutes=30),
        ActivationResult(None, None),
        lambda b: b.device(R).schedule.at == T0 + dt.timedelta(minutes=30)),
    (S2, "ActivationScheduled", "READ_VERSION"): Scenario(
        R, scheduled("1.1", holding="1.1"), read(R), FirmwareVersionReport("1.0")),
    (S2, "ActivationScheduled", "DUE_MATCH"): Scenario(
        R, scheduled("1.1", holding="1.1"), due(R), Alert(SUCCEEDED, "success", "1.1"),
        both(active_is(R, "1.1"), held_is(R, None))),
    (S2, "ActivationScheduled", "DUE_MISMATCH"): Scenario(
        R, then(scheduled("1.1", holding="1.1"), held("1.2")), due(R),
        Alert(FAILED, "hashMismatch", "1.0"), held_is(R, "1.2")),
    (S2, "ActivationScheduled", "DUE_NO_IMAGE"): Scenario(
        R, scheduled("1.1"), due(R), Alert(FAILED, "noImageHeld", "1.0")),
    (S2, "ActivationScheduled", "DUE_ALREADY_ACTIVE"): Scenario(
        R, scheduled("1.0"), due(R), Alert(FAILED, "activationFailure", "1.0")),
    (S2, "ActivationScheduled", "DUE_POWER_LOSS"): Scenario(
        R, then(scheduled("1.1", holding="1.1"), power_loss(R)), due(R),
        Alert(FAILED, "activationFailure", "1.0"),
        both(active_is(R, "1.0"), held_is(R, "1.1"))),

    # --- SMETS1 (4.5 active; the library holds 4.5 and 4.6)
    (S1, "Running", "IMAGE_VERIFIED"): Scenario(
        S1ESME, running, dist(S1ESME, "4.6"), ImageDistributionResult(False, digest(S1ESME, "4.6")),
        held_is(S1ESME, None)),
    (S1, "Running", "IMAGE_CORRUPT"): Scenario(
        S1ESME, corrupt_next_image(S1ESME), dist(S1ESME, "4.6"), Corrupt(digest(S1ESME, "4.6"))),
    (S1, "Running", "ACTIVATE_MATCH"): Scenario(
        S1ESME, running, act_now(S1ESME, "4.6"), ActivationResult("success", "4.6"),
        active_is(S1ESME, "4.6")),
    (S1, "Running", "ACTIVATE_NO_IMAGE"): Scenario(
        S1ESME, running, act_now(S1ESME, firmware_hash=UNKNOWN_HASH),
        ActivationResult("noImageHeld", "4.5")),
    (S1, "Running", "ACTIVATE_ALREADY_ACTIVE"): Scenario(
        S1ESME, running, act_now(S1ESME, "4.5"), ActivationResult("success", None)),
    (S1, "Running", "ACTIVATE_POWER_LOSS"): Scenario(
        S1ESME, power_loss(S1ESME), act_now(S1ESME, "4.6"),
        ActivationResult("activationFailure", "4.5"), active_is(S1ESME, "4.5")),
    (S1, "Running", "ACTIVATE_FUTURE"): Scenario(
        S1ESME, running, act_later(S1ESME, "4.6"), ActivationResult(None, None),
        still_scheduled(S1ESME, "4.6")),
    (S1, "Running", "READ_VERSION"): Scenario(
        S1ESME, running, read(S1ESME), FirmwareVersionReport("4.5")),
    (S1, "ActivationScheduled", "IMAGE_VERIFIED"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), dist(S1ESME, "4.6"),
        ImageDistributionResult(False, digest(S1ESME, "4.6")), still_scheduled(S1ESME, "4.6")),
    (S1, "ActivationScheduled", "IMAGE_CORRUPT"): Scenario(
        S1ESME, then(scheduled("4.6", device=S1ESME), corrupt_next_image(S1ESME)),
        dist(S1ESME, "4.6"), Corrupt(digest(S1ESME, "4.6"))),
    (S1, "ActivationScheduled", "ACTIVATE_MATCH"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), act_now(S1ESME, "4.6"),
        ActivationResult("success", "4.6"), still_scheduled(S1ESME, "4.6")),
    (S1, "ActivationScheduled", "ACTIVATE_NO_IMAGE"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), act_now(S1ESME, firmware_hash=UNKNOWN_HASH),
        ActivationResult("noImageHeld", "4.5")),
    (S1, "ActivationScheduled", "ACTIVATE_ALREADY_ACTIVE"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), act_now(S1ESME, "4.5"),
        ActivationResult("success", None)),
    (S1, "ActivationScheduled", "ACTIVATE_POWER_LOSS"): Scenario(
        S1ESME, then(scheduled("4.6", device=S1ESME), power_loss(S1ESME)),
        act_now(S1ESME, "4.6"), ActivationResult("activationFailure", "4.5")),
    (S1, "ActivationScheduled", "ACTIVATE_FUTURE"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), act_later(S1ESME, "4.5", minutes=30),
        ActivationResult(None, None), still_scheduled(S1ESME, "4.5")),
    (S1, "ActivationScheduled", "READ_VERSION"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), read(S1ESME), FirmwareVersionReport("4.5")),
    (S1, "ActivationScheduled", "DUE_MATCH"): Scenario(
        S1ESME, scheduled("4.6", device=S1ESME), due(S1ESME), Alert(SUCCEEDED, "success", "4.6"),
        active_is(S1ESME, "4.6")),
    (S1, "ActivationScheduled", "DUE_NO_IMAGE"): Scenario(
        S1ESME, scheduled(device=S1ESME, firmware_hash=UNKNOWN_HASH), due(S1ESME),
        Alert(FAILED, "noImageHeld", "4.5")),
    (S1, "ActivationScheduled", "DUE_ALREADY_ACTIVE"): Scenario(
        S1ESME, scheduled("4.5", device=S1ESME), due(S1ESME), Alert(SUCCEEDED, "success", None)),
    (S1, "ActivationScheduled", "DUE_POWER_LOSS"): Scenario(
        S1ESME, then(scheduled("4.6", device=S1ESME), power_loss(S1ESME)), due(S1ESME),
        Alert(FAILED, "activationFailure", "4.5"), active_is(S1ESME, "4.5")),

    # --- a GPF's copy of its GSME's version (GSME 3.0; 3.1 available)
    (COPY, "GsmeCopy", "READ_VERSION"): Scenario(
        GPF, running, read(GPF), FirmwareVersionReport("3.0")),
    (COPY, "GsmeCopy", "GSME_ACTIVATED"): Scenario(
        GPF, running, gsme_activates, None,
        lambda b: gpf_copy("3.0")(b) and b.net.gpf_is_stale(GPF)),
    (COPY, "GsmeCopy", "GSME_VERSION_READ"): Scenario(
        GPF, then(gsme_activates), read(GSME), FirmwareVersionReport("3.1"),
        lambda b: gpf_copy("3.1")(b) and not b.net.gpf_is_stale(GPF)),
    (COPY, "GsmeCopy", "REFRESH"): Scenario(
        GPF, then(gsme_activates), lambda b: b.net.refresh_gpf(GPF), None,
        lambda b: gpf_copy("3.1")(b) and not b.net.gpf_is_stale(GPF)),
}


def _key(machine: Machine, t: Transition) -> tuple[str, str, str]:
    return (machine.name, t.state.__name__, t.event.name)


ROWS = [(m, t) for m in MACHINES for t in m.transitions]


def test_every_transition_has_a_scenario():
    keys = {_key(m, t) for m, t in ROWS}
    assert sorted(keys - set(SCENARIOS)) == [], "transitions without a scenario"
    assert sorted(set(SCENARIOS) - keys) == [], "scenarios for transitions not in the tables"


@pytest.mark.parametrize("machine,transition", ROWS, ids=lambda x: getattr(x, "name", None)
                         or f"{x.state.__name__}-{x.event.name}")
def test_transition(machine: Machine, transition: Transition):
    scenario = SCENARIOS.get(_key(machine, transition))
    assert scenario is not None, f"no scenario for {machine.name}: {transition}"
    bench = Bench()
    scenario.setup(bench)
    device = bench.device(scenario.device)
    state_before = device.copy if machine.name == COPY else device.state
    assert type(state_before) is transition.state, "the setup did not reach the row's state"
    got = observed(scenario.act(bench))
    assert matches(scenario.expect, got), f"expected {scenario.expect}, got {got}"
    assert device.last_transition == transition, (
        f"took {device.last_transition}, expected {transition}")
    state_after = device.copy if machine.name == COPY else device.state
    assert type(state_after) is transition.next
    assert scenario.after(bench), "the device is not as the transition should leave it"


# --- the tables themselves -------------------------------------------------------------

def test_every_status_a_device_reports_is_a_gbcs_status():
    from duis.devices import firmware_machine as firmware
    from duis.gbcs.model import STATUSES
    for name in ("ALREADY_ACTIVE_STATUS", "POWER_LOSS_STATUS", "NO_IMAGE_STATUS",
                 "MISMATCH_STATUS"):
        assert getattr(firmware, name) in STATUSES, name
    assert firmware.SMETS1_RETRY_ANSWER.status in STATUSES
    assert firmware.SMETS1_RETRY_ANSWER.firmware_version is None


def test_tables_are_in_the_docs():
    text = DOCS.read_text(encoding="utf-8")
    for machine in MACHINES:
        assert render(machine) in text, f"docs/devices.md does not show the {machine.name} table"


def test_a_table_refuses_two_rows_for_one_state_and_event():
    t = SMETS2_FIRMWARE.transitions[0]
    with pytest.raises(ValueError, match="two rows"):
        Machine("broken", ((t.state, t.event, t.next, t.action),) * 2)


def test_an_event_without_a_row_is_a_bug_not_an_answer():
    with pytest.raises(NoTransition):
        SMETS2_FIRMWARE.step(Running(digest_image()), Stimulus(E.DUE_MATCH))


def test_an_action_leaving_the_rows_next_state_is_refused():
    t = SMETS2_FIRMWARE.row(Running, E.READ_VERSION)
    broken = Machine("broken", ((Running, E.READ_VERSION, ImageHeld, t.action),))
    with pytest.raises(NoTransition, match="next state"):
        broken.step(Running(digest_image()), Stimulus(E.READ_VERSION))


def digest_image():
    from duis.devices import Image
    return Image("1.0", digest(ESME, "1.0"))


# --- the scheduled instant ---------------------------------------------------------------

def test_future_activation_fires_exactly_at_its_instant():
    b = Bench()
    b.distribute(ESME, "1.1")
    b.activate(ESME, "1.1", at=LATER)
    command_counter = b.transaction
    assert b.net.tick(LATER - dt.timedelta(seconds=1)) == []
    assert isinstance(b.device(ESME).state, ActivationScheduled)
    [alert] = b.net.tick(LATER)
    assert alert.kind is Kind.ALERT and (alert.message_code, alert.alert_code) == (0x00CA, 0x8F66)
    assert alert.originator == ESME
    assert alert.target.text == "90-B3-D5-1F-30-01-00-00"
    payload = alert.payload
    assert (payload.status, payload.firmware_version) == ("success", "1.1")
    assert payload.execution == LATER and payload.command_counter == command_counter
    assert b.net.tick(LATER + dt.timedelta(days=1)) == []


def test_tick_defaults_to_the_clock():
    b = Bench()
    b.distribute(ESME, "1.1")
    b.activate(ESME, "1.1", at=LATER)
    b.clock.set(LATER - dt.timedelta(seconds=1))
    assert b.net.tick() == []
    b.clock.advance(seconds=1)
    assert [a.alert_code for a in b.net.tick()] == [0x8F66]


def test_an_execution_time_not_in_the_future_activates_now():
    b = Bench()
    b.distribute(ESME, "1.1")
    assert b.activate(ESME, "1.1", at=T0) == ActivationResult("success", "1.1")


def test_a_naive_execution_time_is_utc():
    b = Bench()
    b.distribute(ESME, "1.1")
    assert b.activate(ESME, "1.1", at=LATER.replace(tzinfo=None)) == ActivationResult(None, None)
    assert b.device(ESME).schedule.at == LATER


def test_a_powered_off_device_fires_when_power_returns():
    b = Bench()
    b.distribute(ESME, "1.1")
    b.activate(ESME, "1.1", at=LATER)
    b.net.power_off(ESME)
    assert b.net.tick(LATER) == []
    assert b.send(ESME, DistributeImage(image(ESME, "1.2"), "1.2"), 0x100).outcome == "unreachable"
    b.net.power_on(ESME)
    [alert] = b.net.tick(LATER + dt.timedelta(minutes=5))
    assert alert.payload.execution == LATER and alert.payload.status == "success"
