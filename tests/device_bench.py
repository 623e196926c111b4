"""A small test bench for the emulated devices: one SMETS2 system, one SMETS1 system.

Shared by ``tests/test_devices.py`` and ``tests/test_device_*.py`` (imported as
``tests.device_bench``); ``tests/test_device_bench.py`` checks the bench itself.
"""

from __future__ import annotations

import datetime as dt

from duis.clock import UTC, FixedClock, seeded_random
from duis.devices import (
    Delivery,
    EmulatedDevice,
    FaultPlan,
    ImageLibrary,
    Network,
    sample_image,
    sha256,
)
from duis.gbcs.model import (
    ActivateFirmware,
    DistributeImage,
    GbcsMessage,
    Kind,
    ReadFirmwareVersion,
)
from duis.messages.ids import EUI64

T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LATER = T0 + dt.timedelta(hours=1)
SUPPLIER = EUI64.parse("90-B3-D5-1F-30-01-00-00")

HUB = EUI64.parse("00-DB-00-00-00-00-00-01")
ESME = EUI64.parse("00-DB-00-00-00-00-00-02")
GSME = EUI64.parse("00-DB-00-00-00-00-00-03")
GPF = EUI64.parse("00-DB-00-00-00-00-00-04")
IHD = EUI64.parse("00-DB-00-00-00-00-00-05")
S1HUB = EUI64.parse("00-DB-00-00-00-00-00-11")
S1ESME = EUI64.parse("00-DB-00-00-00-00-00-12")

ACTIVATE, DISTRIBUTE, READ = 0x00CA, 0x0100, 0x0101

#: make and model per device, and the genuine images of each model
MODELS = {ESME: ("Acme", "E2"), GSME: ("Gasworks", "G2"), HUB: ("Northwind", "CH2"),
          GPF: ("Northwind", "CH2"), IHD: ("Display Co", "D1"),
          S1HUB: ("Legacy", "S1H"), S1ESME: ("Legacy", "S1E")}
VERSIONS = {("Acme", "E2"): ("1.0", "1.1", "1.2"), ("Gasworks", "G2"): ("3.0", "3.1"),
            ("Northwind", "CH2"): ("2.0", "2.1"), ("Legacy", "S1E"): ("4.5", "4.6"),
            ("Legacy", "S1H"): ("1.0",)}
UNKNOWN_HASH = sha256(b"not an image of any model")


def image(device: EUI64, version: str) -> bytes:
    return sample_image(*MODELS[device], version)


def digest(device: EUI64, version: str) -> bytes:
    return sha256(image(device, version))


def library() -> ImageLibrary:
    lib = ImageLibrary()
    for (manufacturer, model), versions in VERSIONS.items():
        for version in versions:
            lib.add(manufacturer, model, version, sample_image(manufacturer, model, version))
    return lib


def devices() -> list[EmulatedDevice]:
    def make(eui, kind, smets, version, hub=None):
        return EmulatedDevice(eui, kind, smets=smets, manufacturer=MODELS[eui][0],
                              model=MODELS[eui][1], firmware_version=version,
                              firmware_hash=digest(eui, version), hub=hub)
    return [make(HUB, "CHF", "SMETS2", "2.0"), make(ESME, "ESME", "SMETS2", "1.0", HUB),
            make(GSME, "GSME", "SMETS2", "3.0", HUB), make(GPF, "GPF", "SMETS2", "2.0", HUB),
            EmulatedDevice(IHD, "IHD", smets="SMETS2", manufacturer="Display Co", model="D1",
                           firmware_version="0.1", hub=HUB),
            make(S1HUB, "CHF", "SMETS1", "1.0"), make(S1ESME, "ESME", "SMETS1", "4.5", S1HUB)]


class Bench:
    """A network on a fixed clock, and one-liners to talk to its devices."""

    def __init__(self, *, seed: int = 0, faults: FaultPlan | None = None) -> None:
        self.clock = FixedClock(T0)
        self.faults = faults if faults is not None else FaultPlan()
        self.net = Network(devices(), clock=self.clock, random=seeded_random(seed),
                           faults=self.faults, images=library())
        self.transaction = 0

    def send(self, target: EUI64, payload, code: int) -> Delivery:
        self.transaction += 1
        return self.net.deliver(GbcsMessage(Kind.COMMAND, SUPPLIER, target, self.transaction,
                                            code, payload))

    def reply(self, target: EUI64, payload, code: int):
        delivery = self.send(target, payload, code)
        assert delivery.outcome == "answered", delivery
        return delivery.response.payload

    def distribute(self, target: EUI64, version: str):
        return self.reply(target, DistributeImage(image(target, version), version), DISTRIBUTE)

    def activate(self, target: EUI64, version: str | None = None, *, firmware_hash=None,
                 at: dt.datetime | None = None):
        firmware_hash = firmware_hash if firmware_hash is not None else digest(target, version)
        return self.reply(target, ActivateFirmware(firmware_hash, at), ACTIVATE)

    def read(self, target: EUI64):
        return self.reply(target, ReadFirmwareVersion(), READ)

    def device(self, eui: EUI64):
        return self.net.device(eui)

    def due(self, target: EUI64) -> GbcsMessage:
        """Tick at the target's scheduled instant; its one alert."""
        alerts = self.net.tick(self.device(target).schedule.at)
        assert len(alerts) == 1, alerts
        return alerts[0]
