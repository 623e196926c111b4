"""The device test bench (``tests/device_bench.py``) itself."""

from __future__ import annotations

from tests.device_bench import GPF, GSME, IHD, S1ESME, S1HUB, Bench, digest

# --- the bench itself -------------------------------------------------------------

def test_bench_devices_run_their_genuine_images():
    bench = Bench()
    for device in bench.net.devices():
        if device.eui != IHD:
            assert device.active.firmware_hash == digest(device.eui, device.firmware_version)


def test_bench_systems():
    bench = Bench()
    assert bench.net.gsme_of(GPF).eui == GSME
    assert bench.net.device(GPF).copy.version == "3.0"
    assert bench.net.device(S1ESME).hub == S1HUB
