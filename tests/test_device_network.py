"""The network: responses, routing through comms hubs, other commands, and the fault plan."""

from __future__ import annotations

import pytest

from duis.devices import Fault, FaultPlan, ImageHeld, Running, UnknownDevice, UnsupportedCommand
from duis.devices.network import corrupted
from duis.gbcs.model import (
    ActivateFirmware,
    ActivationResult,
    CommandOutcome,
    DistributeImage,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
    ReadFirmwareVersion,
    TopUp,
    UpdateSecurityCredentials,
)
from tests.device_bench import (
    ACTIVATE,
    ESME,
    GPF,
    GSME,
    HUB,
    IHD,
    READ,
    S1ESME,
    S1HUB,
    SUPPLIER,
    Bench,
    digest,
    image,
)

# --- responses ------------------------------------------------------------------------

def test_a_response_answers_its_command():
    b = Bench()
    command = GbcsMessage(Kind.COMMAND, SUPPLIER, ESME, 4242, READ, ReadFirmwareVersion())
    delivery = b.net.deliver(command)
    assert delivery.outcome == "answered" and delivery.acted
    assert delivery.response == GbcsMessage(Kind.RESPONSE, ESME, SUPPLIER, 4242, READ,
                                            FirmwareVersionReport("1.0"))


def test_only_commands_are_delivered():
    b = Bench()
    with pytest.raises(UnsupportedCommand):
        b.net.deliver(GbcsMessage(Kind.RESPONSE, SUPPLIER, ESME, 1, READ,
                                  FirmwareVersionReport("1.0")))


def test_an_unknown_device_is_an_error():
    b = Bench()
    with pytest.raises(UnknownDevice, match="00-DB-00-00-00-00-00-99"):
        b.send(ESME.parse("00-DB-00-00-00-00-00-99"), ReadFirmwareVersion(), READ)


@pytest.mark.parametrize("target,payload", [
    (ESME, TopUp("12345678901234567890")), (GSME, TopUp("1")),
    (ESME, UpdateSecurityCredentials(b"cert")), (HUB, UpdateSecurityCredentials(b"cert")),
    (S1ESME, TopUp("1")),
])
def test_meters_take_top_ups_and_devices_new_credentials(target, payload):
    b = Bench()
    before = b.device(target).state
    assert b.reply(target, payload, 0x0200) == CommandOutcome("success")
    assert b.device(target).state == before


@pytest.mark.parametrize("target,payload", [
    (HUB, TopUp("1")), (GPF, TopUp("1")), (IHD, ReadFirmwareVersion()),
    (IHD, ActivateFirmware(b"\x00" * 32)), (ESME, FirmwareVersionReport("1.0")),
])
def test_a_command_the_device_type_does_not_take_is_refused(target, payload):
    with pytest.raises(UnsupportedCommand):
        Bench().send(target, payload, 0x0200)


def test_a_chf_has_its_own_firmware():
    b = Bench()
    assert b.distribute(HUB, "2.1").verified
    assert b.activate(HUB, "2.1") == ActivationResult("success", "2.1")
    assert b.read(HUB) == FirmwareVersionReport("2.1")


def test_an_image_of_another_model_does_not_verify():
    b = Bench()
    result = b.reply(ESME, DistributeImage(image(GSME, "3.1"), "3.1"), 0x0100)
    assert not result.verified and isinstance(b.device(ESME).state, Running)


def test_an_image_announced_with_the_wrong_version_does_not_verify():
    b = Bench()
    result = b.reply(ESME, DistributeImage(image(ESME, "1.1"), "1.2"), 0x0100)
    assert not result.verified and result.firmware_hash == digest(ESME, "1.1")


def test_corruption_flips_a_byte():
    payload = DistributeImage(b"abc", "1")
    assert corrupted(payload).image == b"ab" + bytes([ord("c") ^ 0xFF])
    assert corrupted(DistributeImage(b"", "1")).image == b"\xff"


# --- routing ---------------------------------------------------------------------------

def test_the_hub_relays_images_to_the_devices_of_its_system():
    b = Bench(faults=FaultPlan().unreachable(HUB))
    delivery = b.send(ESME, DistributeImage(image(ESME, "1.1"), "1.1"), 0x0100)
    assert delivery.outcome == "unreachable" and not delivery.acted
    assert isinstance(b.device(ESME).state, Running)
    assert b.send(S1ESME, ReadFirmwareVersion(), READ).outcome == "answered"  # another system
    b.faults.clear(HUB)
    assert b.distribute(ESME, "1.1").verified


def test_a_powered_off_hub_cuts_off_its_system():
    b = Bench()
    b.net.power_off(S1HUB)
    assert b.send(S1ESME, ReadFirmwareVersion(), READ).outcome == "unreachable"
    assert b.send(S1HUB, ReadFirmwareVersion(), READ).outcome == "unreachable"
    b.net.power_on(S1HUB)
    assert b.read(S1ESME) == FirmwareVersionReport("4.5")


# --- targeted faults -----------------------------------------------------------------------

def test_a_lost_response_leaves_the_device_changed():
    b = Bench(faults=FaultPlan().lose_next_response(ESME, message_code=ACTIVATE))
    b.distribute(ESME, "1.1")
    delivery = b.send(ESME, ActivateFirmware(digest(ESME, "1.1")), ACTIVATE)
    assert delivery.outcome == "lost" and delivery.response is None and delivery.acted
    assert b.device(ESME).firmware_version == "1.1"
    # the supplier's automatic retry: already active, and now answered
    assert b.activate(ESME, "1.1") == ActivationResult("activationFailure", "1.1")


def test_no_response_means_the_device_did_not_act():
    b = Bench(faults=FaultPlan().no_response(ESME, times=2))
    for _ in range(2):
        delivery = b.send(ESME, DistributeImage(image(ESME, "1.1"), "1.1"), 0x0100)
        assert delivery.outcome == "no-response" and not delivery.acted
        assert isinstance(b.device(ESME).state, Running)
    assert b.distribute(ESME, "1.1").verified
    assert isinstance(b.device(ESME).state, ImageHeld)


def test_unreachable_lasts_until_cleared_or_used_up():
    b = Bench(faults=FaultPlan().unreachable(ESME))
    for _ in range(3):
        assert b.send(ESME, ReadFirmwareVersion(), READ).outcome == "unreachable"
    b.faults.clear(ESME, Fault.UNREACHABLE)
    assert b.send(ESME, ReadFirmwareVersion(), READ).outcome == "answered"
    b.faults.unreachable(ESME, times=1)
    assert [b.send(ESME, ReadFirmwareVersion(), READ).outcome for _ in range(2)] == [
        "unreachable", "answered"]


def test_a_corrupt_image_fault_hits_only_the_next_image():
    b = Bench(faults=FaultPlan().corrupt_next_image(ESME))
    assert b.read(ESME) == FirmwareVersionReport("1.0")       # not an image: not used up
    assert not b.distribute(ESME, "1.1").verified
    assert b.distribute(ESME, "1.1").verified


def test_a_power_loss_waits_for_an_activation_that_would_succeed():
    b = Bench(faults=FaultPlan().power_loss_on_next_activation(ESME))
    b.distribute(ESME, "1.1")
    assert b.activate(ESME, "1.2") == ActivationResult("hashMismatch", "1.0")
    assert b.activate(ESME, "1.1") == ActivationResult("activationFailure", "1.0")
    assert b.device(ESME).held_image.version == "1.1"
    assert b.activate(ESME, "1.1") == ActivationResult("success", "1.1")


def test_faults_only_strike_their_device_and_message_code():
    b = Bench(faults=FaultPlan().lose_next_response(ESME, message_code=ACTIVATE))
    assert b.send(GSME, ReadFirmwareVersion(), READ).outcome == "answered"
    assert b.send(ESME, ReadFirmwareVersion(), READ).outcome == "answered"
    assert b.send(ESME, ActivateFirmware(digest(ESME, "1.0")), ACTIVATE).outcome == "lost"


# --- probabilistic faults -------------------------------------------------------------------

def _run(seed: int, n: int = 300) -> list[str]:
    b = Bench(seed=seed, faults=FaultPlan().lose_responses(0.2, message_code=ACTIVATE)
              .sometimes(Fault.NO_RESPONSE, 0.05))
    outcomes = []
    for i in range(n):
        if i % 3 == 0:
            outcomes.append(b.send(ESME, ReadFirmwareVersion(), READ).outcome)
        else:
            outcomes.append(b.send(ESME, ActivateFirmware(digest(ESME, "1.0")), ACTIVATE).outcome)
    return outcomes


def test_same_seed_same_outcomes():
    assert _run(7) == _run(7)
    assert _run(7) != _run(8)


def test_lose_a_share_of_one_message_code():
    outcomes = _run(11, 3000)
    reads, activations = outcomes[0::3], [o for i, o in enumerate(outcomes) if i % 3]
    assert "lost" not in reads
    answered = [o for o in activations if o != "no-response"]
    share = answered.count("lost") / len(answered)
    assert 0.17 < share < 0.23, share
    assert 0.03 < outcomes.count("no-response") / len(outcomes) < 0.07


def test_a_random_fault_can_be_limited_to_device_types():
    b = Bench(faults=FaultPlan().sometimes(Fault.UNREACHABLE, 1.0, device_types={"GSME"}))
    assert b.send(GSME, ReadFirmwareVersion(), READ).outcome == "unreachable"
    assert b.send(ESME, ReadFirmwareVersion(), READ).outcome == "answered"


def test_a_probability_lies_between_0_and_1():
    with pytest.raises(ValueError, match="probability"):
        FaultPlan().lose_responses(1.5)


def test_random_power_loss_on_scheduled_activations_is_seeded():
    def alerts(seed):
        b = Bench(seed=seed, faults=FaultPlan().sometimes(Fault.POWER_LOSS, 0.5))
        codes = []
        for _ in range(40):
            b.distribute(ESME, "1.1")
            b.activate(ESME, "1.1", at=b.clock.now().replace(year=2030))
            codes.append(b.due(ESME).alert_code)
            if b.device(ESME).firmware_version == "1.1":   # back to 1.0 for the next round
                b.distribute(ESME, "1.0")
                b.activate(ESME, "1.0")
        return codes
    assert alerts(3) == alerts(3)
    assert {0x8F66, 0x8F67} == set(alerts(3))
