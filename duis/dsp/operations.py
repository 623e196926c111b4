"""What a test rig or the DCC's operators do to the emulated DSP and its devices,
outside the DUIS web services: move a driven clock, change the CPL, plan
network faults, join a device to a system, cut a comms hub's power, restore
the world's initial state.

One facade for the two front ends that perform them: a scenario's steps
(:mod:`duis.scenario`) and ``duis serve``'s admin endpoints
(:mod:`duis.serve.engine`).  The network faults are a table (:data:`FAULTS`),
which the scenario format checks steps against too.  What an operation makes
the DSP send comes back unsealed: the caller seals it (:meth:`DSP.seal`),
where it chooses.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from ..clock import FixedClock
from ..devices import FaultPlan
from ..devices.power import Outage
from ..errors import DuisError, InputError
from ..messages import format_datetime
from ..mmc import mapping
from ..smi import CplEntry, Device, load_world
from .responses import Outgoing
from .service import DSP

T = TypeVar("T")


class OperationRefused(InputError):
    """An operation that cannot be carried out (a real clock moved, a fault without
    the device it needs, ...): nothing was done."""


@dataclass(frozen=True)
class FaultKind:
    """A network fault a test can plan (``fault`` step, ``POST /admin/fault``)."""

    name: str
    needs: str | None
    """``device``: the device it applies to; ``share``: a share of responses; None."""
    plan: Callable[[FaultPlan, str | None, float | None], object]
    """Plans it on a fault plan, given the device and the share."""


def _given(value: T | None) -> T:
    """The device or share a fault needs, which :meth:`Operations.fault` checked was given."""
    assert value is not None
    return value


@cache
def activation_message_code() -> int:
    """GBCS message code of 11.3 (Activate Firmware), as the MMC mapping gives it."""
    (use_case,) = mapping().for_variant("11.3")
    return use_case.message_code


_KINDS = (
    FaultKind("lose-next-response", "device", lambda p, d, s: p.lose_next_response(_given(d))),
    FaultKind("no-response", "device", lambda p, d, s: p.no_response(_given(d))),
    FaultKind("unreachable", "device", lambda p, d, s: p.unreachable(_given(d))),
    FaultKind("corrupt-image", "device", lambda p, d, s: p.corrupt_next_image(_given(d))),
    FaultKind("power-loss", "device",
              lambda p, d, s: p.power_loss_on_next_activation(_given(d))),
    FaultKind("lose-share", "share",
              lambda p, d, s: p.lose_responses(_given(s), message_code=activation_message_code())),
    FaultKind("clear", None, lambda p, d, s: p.clear(d)),
)
FAULTS: dict[str, FaultKind] = {kind.name: kind for kind in _KINDS}
"""The network faults, by name, in the order the documentation lists them."""


class Operations:
    """The facade over a DSP, its (driven) clock and its devices' fault plan."""

    def __init__(self, dsp: DSP, faults: FaultPlan) -> None:
        self.dsp, self.faults = dsp, faults

    @property
    def driven(self) -> bool:
        return isinstance(self.dsp.clock, FixedClock)

    # --- the clock ----------------------------------------------------------------------

    def move_clock(self, *, advance_seconds: float | None = None,
                   now: _dt.datetime | None = None,
                   last: _dt.datetime | None = None) -> list[Outgoing]:
        """Driven clock only: move it to ``now`` and/or on by ``advance_seconds``
        (never backwards, never to ``last`` or past it), then let the devices catch
        up (:meth:`DSP.catch_up`): what that sends, unsealed.  Nothing moves when the
        move is refused."""
        clock = self.dsp.clock
        if not isinstance(clock, FixedClock):  # not self.driven
            raise OperationRefused("the clock is real; it cannot be moved",
                                   expected="duis serve --clock driven", found="--clock real")
        target = clock.now()
        if now is not None:
            if now < target:
                raise OperationRefused("the clock does not go backwards",
                                       expected=f"an instant at or after "
                                                f"{format_datetime(target)}",
                                       found=format_datetime(now))
            target = now
        if advance_seconds is not None:
            if not advance_seconds >= 0:                     # NaN too
                raise OperationRefused("negative advance", expected="seconds >= 0",
                                       found=str(advance_seconds))
            try:
                target = target + _dt.timedelta(seconds=advance_seconds)
            except (OverflowError, ValueError):
                raise OperationRefused("the clock cannot go that far", path="advance_seconds",
                                       expected="an instant the clock can show",
                                       found=str(advance_seconds)) from None
        if last is not None and target >= last:
            raise OperationRefused("the clock cannot go that far",
                                   expected=f"an instant before {format_datetime(last)}",
                                   found=str(target))
        clock.set(target)
        return self.dsp.catch_up()

    # --- the CPL -----------------------------------------------------------------------

    def remove_cpl(self, manufacturer: str, model: str, firmware_version: str,
                   smets: str | None, cause: str) -> list[str]:
        """The DCC removes a CPL entry: the devices running it are Suspended (their EUIs)."""
        return self.dsp.inventory.remove_cpl_entry(manufacturer, model, firmware_version, smets,
                                                   reason="CPL entry removed", cause=cause)

    def add_cpl(self, entry: CplEntry, cause: str) -> None:
        """The DCC adds a CPL entry."""
        self.dsp.inventory.add_cpl_entry(entry, reason="CPL entry added", cause=cause)

    # --- the devices -------------------------------------------------------------------

    def fault(self, kind: str, device: str | None = None, share: float | None = None) -> None:
        """Plan a network fault of :data:`FAULTS`."""
        fault = FAULTS.get(kind)
        if fault is None:
            raise OperationRefused("unknown fault kind", expected=", ".join(FAULTS),
                                   found=repr(kind))
        if fault.needs == "share" and share is None:
            raise OperationRefused(f"{kind} needs a share", expected="share: 0 to 1",
                                   found="none")
        if fault.needs == "device" and not device:
            raise OperationRefused(f"fault {kind} needs a device", expected="device: EUI-64",
                                   found="none")
        # what the fault does not use is refused, not dropped: the caller meant something
        if device and fault.needs == "share":
            raise OperationRefused(f"fault {kind} takes no device", path="device",
                                   expected="a share of every device's answers",
                                   found=str(device))
        if share is not None and fault.needs != "share":
            raise OperationRefused(f"fault {kind} takes no share", path="share",
                                   expected="no share", found=str(share))
        if device and self.dsp.network is not None:
            try:
                self.dsp.network.device(device)
            except DuisError as exc:  # a fault planned for no device would never strike
                raise OperationRefused("no such device", path="device",
                                       expected="a device of the emulated network",
                                       found=exc.found or str(device)) from None
        fault.plan(self.faults, device, share)

    def join(self, device: str, hub: str, cause: str) -> Device:
        """A device joins the system of comms hub ``hub``; the device as the SMI now holds it."""
        self.dsp.join_system(device, hub, cause=cause)
        joined = self.dsp.inventory.device(device)
        assert joined is not None  # join_system refuses an unknown device
        return joined

    def power_outage(self, hub: str, duration: _dt.timedelta, cause: str) -> Outage:
        """Comms hub ``hub`` loses power now, for ``duration`` (a genuine outage)."""
        network = self.dsp.network
        if network is None:
            raise OperationRefused("no emulated devices: no comms hub to lose power",
                                   expected="a DSP with emulated devices", found="none")
        return network.power.cut(hub, self.dsp.clock.now(), duration, cause=cause)

    def device(self, eui: str) -> Device | None:
        """The device as the SMI holds it (None: unknown)."""
        return self.dsp.inventory.device(eui)

    # --- the whole world -----------------------------------------------------------------

    def restore(self, world: str | Path, start: _dt.datetime | None) -> None:
        """Put the DSP's database back as ``world`` seeds it, in one transaction: every
        record emptied (:meth:`Inventory.empty`: the SMI, the audit log, the replay
        counters and every table kept beside them), the world seeded again; a driven
        clock back at ``start`` (the one move backwards there is).  A world that no
        longer loads changes nothing.

        What lives in memory (the DSP's devices, pending PreCommands and counters of
        what it sends, the fault plan) is not reset here: the caller builds a new
        DSP over the inventory afterwards, as it built the first (``duis serve``'s
        engine does)."""
        inventory = self.dsp.inventory
        clock = self.dsp.clock
        before = clock.now()
        try:
            if isinstance(clock, FixedClock) and start is not None:
                clock.set(start)                      # the seed's audit rows carry it
            with inventory.transaction():
                inventory.empty()
                load_world(world, inventory)
        except BaseException:
            if isinstance(clock, FixedClock):
                clock.set(before)
            raise


__all__ = ["FAULTS", "FaultKind", "OperationRefused", "Operations", "activation_message_code"]
