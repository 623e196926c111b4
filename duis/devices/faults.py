"""Faults the network injects, deterministic from a seed.

A :class:`FaultPlan` holds two kinds of fault:

* targeted ones, for scenarios: "lose the next response from device X",
  "device Y is unreachable" (until cleared), "the next image to Z is corrupt",
  "power is lost on Z's next activation";
* probabilistic ones, for fleet simulations: "lose 20% of 11.3 responses",
  decided by the network's seeded ``random.Random``, so the same seed and the
  same commands give the same outcomes.

The faults, where each is looked at, and what it does:

* UNREACHABLE -- at every hop of the route (comms hub, then device): nothing
  reaches the device; outcome ``unreachable`` (DSP: E20).
* NO_RESPONSE -- at the target, once reached: the device neither acts nor
  answers; outcome ``no-response`` (DSP: E21).
* CORRUPT_IMAGE -- on a DistributeImage, before the device sees it: a byte is
  flipped in transit, so the image fails verification.
* POWER_LOSS -- on an activation that would succeed (now, or when a schedule
  fires): the activation fails; the device restarts on its old firmware.
* LOSE_RESPONSE -- after the device acted: the device changed, the DSP gets
  nothing; outcome ``lost``.

A targeted fault is used up by the commands it applies to (``times``; None:
until :meth:`FaultPlan.clear`).  A probabilistic fault draws one number from
the random source each time it applies (only to the target device of a
command, never to the hub on its route).
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass, field
from enum import Enum

from ..messages.ids import EUI64


class Fault(Enum):
    UNREACHABLE = "unreachable"
    NO_RESPONSE = "no-response"
    CORRUPT_IMAGE = "corrupt-image"
    POWER_LOSS = "power-loss"
    LOSE_RESPONSE = "lose-response"


@dataclass
class TargetedFault:
    """A fault for one device."""

    fault: Fault
    device: EUI64
    times: int | None = 1
    """How many more times it applies; None: until cleared."""
    message_code: int | None = None
    """Only commands with this message code (None: any)."""

    def applies(self, fault: Fault, device: EUI64, message_code: int | None) -> bool:
        return (self.fault is fault and self.device == device and self.times != 0
                and (self.message_code is None or self.message_code == message_code))


@dataclass(frozen=True)
class RandomFault:
    """A fault that strikes with ``probability``, decided by the seeded random source."""

    fault: Fault
    probability: float
    message_code: int | None = None
    """Only commands with this message code, e.g. CS06's for 11.3 (None: any)."""
    device_types: frozenset[str] | None = None
    """Only devices of these types (None: any)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within 0..1, found {self.probability!r}")

    def applies(self, fault: Fault, device_type: str, message_code: int | None) -> bool:
        return (self.fault is fault
                and (self.message_code is None or self.message_code == message_code)
                and (self.device_types is None or device_type in self.device_types))


@dataclass
class FaultPlan:
    """The faults to inject; the builder methods return the plan, to chain them."""

    targeted: list[TargetedFault] = field(default_factory=list)
    random: list[RandomFault] = field(default_factory=list)

    # --- targeted ---------------------------------------------------------------

    def add(self, fault: Fault, device: EUI64 | str, *, times: int | None = 1,
            message_code: int | None = None) -> FaultPlan:
        self.targeted.append(TargetedFault(fault, EUI64.parse(device), times, message_code))
        return self

    def lose_next_response(self, device: EUI64 | str, *, times: int | None = 1,
                           message_code: int | None = None) -> FaultPlan:
        """The device acts, its response is lost on the way back."""
        return self.add(Fault.LOSE_RESPONSE, device, times=times, message_code=message_code)

    def no_response(self, device: EUI64 | str, *, times: int | None = 1,
                    message_code: int | None = None) -> FaultPlan:
        """The device neither acts nor answers."""
        return self.add(Fault.NO_RESPONSE, device, times=times, message_code=message_code)

    def unreachable(self, device: EUI64 | str, *, times: int | None = None) -> FaultPlan:
        """Nothing reaches the device (a comms hub: nor any device behind it)."""
        return self.add(Fault.UNREACHABLE, device, times=times)

    def corrupt_next_image(self, device: EUI64 | str, *, times: int | None = 1) -> FaultPlan:
        return self.add(Fault.CORRUPT_IMAGE, device, times=times)

    def power_loss_on_next_activation(self, device: EUI64 | str, *,
                                      times: int | None = 1) -> FaultPlan:
        return self.add(Fault.POWER_LOSS, device, times=times)

    def clear(self, device: EUI64 | str | None = None, fault: Fault | None = None) -> FaultPlan:
        """Drop targeted faults (of a device, of a kind, or all)."""
        eui = EUI64.parse(device) if device is not None else None
        self.targeted = [t for t in self.targeted
                         if not ((eui is None or t.device == eui)
                                 and (fault is None or t.fault is fault))]
        return self

    # --- probabilistic ------------------------------------------------------------

    def sometimes(self, fault: Fault, probability: float, *, message_code: int | None = None,
                  device_types: frozenset[str] | set[str] | None = None) -> FaultPlan:
        """``fault`` strikes with ``probability`` wherever it applies."""
        types = frozenset(device_types) if device_types is not None else None
        self.random.append(RandomFault(fault, probability, message_code, types))
        return self

    def lose_responses(self, probability: float, *, message_code: int | None = None,
                       device_types: frozenset[str] | set[str] | None = None) -> FaultPlan:
        """Lose this share of responses (e.g. 0.2 of 11.3's message code, CS06)."""
        return self.sometimes(Fault.LOSE_RESPONSE, probability, message_code=message_code,
                              device_types=device_types)

    # --- deciding -------------------------------------------------------------------

    def strikes(self, fault: Fault, device: EUI64, device_type: str, message_code: int | None,
                rng: _random.Random, *, draw: bool = True) -> bool:
        """Whether ``fault`` strikes now.  Uses up a targeted fault that applies;
        otherwise, with ``draw``, each probabilistic fault that applies draws once."""
        if self.targeted:
            for targeted in self.targeted:
                if targeted.applies(fault, device, message_code):
                    if targeted.times is not None:
                        targeted.times -= 1
                    return True
        if not draw:
            return False
        struck = False
        for rule in self.random:
            # RandomFault.applies, inline: this runs for every hop of every delivery
            if rule.fault is fault \
                    and (rule.message_code is None or rule.message_code == message_code) \
                    and (rule.device_types is None or device_type in rule.device_types):
                struck = (rng.random() < rule.probability) or struck
        return struck
