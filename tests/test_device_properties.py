"""Random command sequences, with random faults: the tables cover every event the
classifiers produce, and the answers stay consistent with the device's state."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duis.devices import MACHINES, ActivationScheduled, Fault, FaultPlan, ImageHeld
from duis.gbcs.model import (
    ActivateFirmware,
    ActivationResult,
    DistributeImage,
    FirmwareVersionReport,
    ImageDistributionResult,
    ReadFirmwareVersion,
)
from tests.device_bench import (
    ACTIVATE,
    DISTRIBUTE,
    ESME,
    GPF,
    GSME,
    MODELS,
    READ,
    S1ESME,
    UNKNOWN_HASH,
    VERSIONS,
    Bench,
    digest,
    image,
    library,
)

TARGETS = (ESME, GSME, S1ESME)
ROWS = {t for m in MACHINES for t in m.transitions}

command = st.one_of(
    st.tuples(st.just("distribute"), st.sampled_from(TARGETS), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("activate"), st.sampled_from(TARGETS), st.integers(0, 3),
              st.sampled_from([None, 10, 60, 120])),
    st.tuples(st.just("read"), st.sampled_from(TARGETS + (GPF,)), st.just(0), st.just(None)),
    st.tuples(st.just("tick"), st.just(ESME), st.integers(0, 90), st.just(None)),
    st.tuples(st.just("power-loss"), st.sampled_from(TARGETS), st.just(0), st.just(None)),
    st.tuples(st.just("refresh"), st.just(GPF), st.just(0), st.just(None)),
)


def _version(device, n: int) -> str | None:
    versions = VERSIONS[MODELS[device]]
    return versions[n] if n < len(versions) else None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command, max_size=25), st.integers(0, 2**16))
def test_random_sequences_stay_consistent(commands, seed):
    b = Bench(seed=seed, faults=FaultPlan().lose_responses(0.3).sometimes(Fault.NO_RESPONSE, 0.1))
    genuine = library()
    for op, target, n, extra in commands:
        device = b.device(target)
        before = device.firmware_version
        if op == "distribute":
            version = _version(target, n) or "9.9"
            if extra:
                b.faults.corrupt_next_image(target)
            payload = DistributeImage(image(target, version), version)
            delivery = b.send(target, payload, DISTRIBUTE)
        elif op == "activate":
            version = _version(target, n)
            firmware_hash = digest(target, version) if version else UNKNOWN_HASH
            at = b.clock.now() + dt.timedelta(minutes=extra) if extra else None
            delivery = b.send(target, ActivateFirmware(firmware_hash, at), ACTIVATE)
        elif op == "read":
            delivery = b.send(target, ReadFirmwareVersion(), READ)
        elif op == "tick":
            b.clock.advance(minutes=n)
            for alert in b.net.tick():
                payload = alert.payload
                assert alert.message_code == 0x00CA
                assert (alert.alert_code == 0x8F66) == (payload.status == "success")
                assert payload.firmware_version in (None, b.device(alert.originator)
                                                    .firmware_version)
            continue
        elif op == "power-loss":
            b.faults.power_loss_on_next_activation(target)
            continue
        else:
            b.net.refresh_gpf(GPF)
            assert not b.net.gpf_is_stale(GPF)
            continue

        assert device.last_transition in ROWS or not delivery.acted
        if not delivery.acted:
            assert device.firmware_version == before
        if delivery.outcome == "answered":
            _check_answer(delivery.response.payload, device, before)
        held = device.held_image
        if held is not None:
            assert genuine.find(device.manufacturer, device.model, held.firmware_hash)
            assert isinstance(device.state, (ImageHeld, ActivationScheduled))
        if device.smets == "SMETS1":
            assert held is None


def _check_answer(reply, device, before):
    if isinstance(reply, ActivationResult):
        if reply.status == "success" and reply.firmware_version is not None:
            assert device.firmware_version == reply.firmware_version
        elif reply.status is None:
            assert device.schedule is not None and reply.firmware_version is None
        elif reply.status != "success":
            assert device.firmware_version == before == reply.firmware_version
    elif isinstance(reply, ImageDistributionResult):
        assert reply.verified == (device.held_image is not None
                                  and device.held_image.firmware_hash == reply.firmware_hash)
    else:
        assert isinstance(reply, FirmwareVersionReport)
        expected = device.copy.version if device.copy is not None else device.firmware_version
        assert reply.firmware_version == expected
