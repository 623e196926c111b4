"""Comms hub power: outages, the power outage alert a hub raises, and meters that
reboot on a firmware activation (MP102B).

A SMETS2 comms hub draws its power from the electricity meter it is plugged
into (ICHIS).  Some ESMEs reboot when they activate new firmware and cut that
power for minutes; a hub without power for **more than**
:data:`OUTAGE_ALERT_AFTER` raises a power outage alert, which the DCC sends to
the network operator as AD1 -- the spurious alerts MP102B is about.

:class:`HubPower` belongs to a :class:`~duis.devices.network.Network`
(``network.power``).  An outage (``cut``) powers the hub off (its whole system
is unreachable), raises the alert when it has lasted :data:`OUTAGE_ALERT_AFTER`
and powers the hub on when it ends.  ``due(now)`` performs these events in time
order up to ``now`` and returns the alerts; ``Network.tick`` calls it after the
future-dated activations.  At one instant, power returning comes before an
alert, so an outage of exactly three minutes raises nothing.

The alerts are ``GbcsMessage(ALERT, originator=hub, target=hub, transaction=1,
2, ..., POWER_OUTAGE_ALERT, PowerOutageAlert(start, raised))``: a power outage
report is for the DCC, not for a user, so the target repeats the hub; the
numbering is the hub power model's own.
"""

from __future__ import annotations

import datetime as _dt
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..gbcs.model import POWER_OUTAGE_ALERT, GbcsMessage, Kind, PowerOutageAlert
from ..messages.ids import EUI64

if TYPE_CHECKING:  # pragma: no cover
    from .device import EmulatedDevice
    from .network import Network

#: A hub raises its power outage alert once it has been without power this long
#: (MP102B: "cuts the power to the Communications Hub for more than three minutes").
OUTAGE_ALERT_AFTER = _dt.timedelta(minutes=3)

#: Event ranks at one instant: power returns first, then alerts, then new outages.
_ON, _ALERT, _OFF = 0, 1, 2


@dataclass(frozen=True, order=True)
class _Event:
    at: _dt.datetime
    rank: int
    outage: int
    hub: EUI64 = field(compare=False)


@dataclass(frozen=True)
class Outage:
    """One loss of a hub's power, from ``start`` for ``duration``."""

    number: int
    hub: EUI64
    start: _dt.datetime
    duration: _dt.timedelta
    cause: str

    @property
    def end(self) -> _dt.datetime:
        return self.start + self.duration


class HubPower:
    """The power of a network's comms hubs: outages, their alerts, rebooting meters."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.reboot_manufacturers: frozenset[str] = frozenset()
        """ESMEs of these manufacturers reboot on activating new firmware (none by default)."""
        self.reboot_outage = _dt.timedelta(minutes=4)
        """How long a rebooting ESME cuts its hub's power."""
        self.outages: list[Outage] = []
        """Every outage so far, in the order they were cut."""
        self._events: list[_Event] = []
        self._open: set[int] = set()
        self._alert_counter = 0

    def reboots(self, manufacturers: Iterable[str], outage: _dt.timedelta) -> None:
        """ESMEs of ``manufacturers`` reboot on activation, cutting hub power for ``outage``."""
        self.reboot_manufacturers = frozenset(manufacturers)
        self.reboot_outage = outage

    # --- causes -----------------------------------------------------------------

    def cut(self, hub: EUI64 | str, start: _dt.datetime, duration: _dt.timedelta,
            cause: str = "power cut") -> Outage:
        """The hub loses power at ``start`` for ``duration`` (an outage starting now or
        earlier takes effect at once: the hub's system is unreachable)."""
        device = self.network.device(hub)
        outage = Outage(len(self.outages) + 1, device.eui, start, duration, cause)
        self.outages.append(outage)
        events = [(start + OUTAGE_ALERT_AFTER, _ALERT), (outage.end, _ON)]
        if start <= self.network.clock.now():
            self._perform(_Event(start, _OFF, outage.number, device.eui))  # at once
        else:
            events.append((start, _OFF))
        for at, rank in events:
            heapq.heappush(self._events, _Event(at, rank, outage.number, device.eui))
        return outage

    def activated(self, device: EmulatedDevice, version_before: str,
                  when: _dt.datetime) -> Outage | None:
        """A device acted at ``when``: an ESME of a rebooting manufacturer that now runs
        new firmware reboots and cuts its hub's power."""
        if (device.device_type != "ESME" or device.firmware_version == version_before
                or device.manufacturer not in self.reboot_manufacturers or device.hub is None):
            return None
        return self.cut(device.hub, when, self.reboot_outage,
                        cause=f"{device.eui} rebooted on activating {device.firmware_version}")

    # --- time passing ---------------------------------------------------------------

    def due(self, now: _dt.datetime) -> list[GbcsMessage]:
        """Perform every power event due by ``now`` (``at <= now``), in time order; return
        the power outage alerts raised."""
        alerts = []
        while self._events and self._events[0].at <= now:
            alert = self._perform(heapq.heappop(self._events))
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _perform(self, event: _Event) -> GbcsMessage | None:
        hub = self.network.device(event.hub)
        if event.rank == _OFF:
            self._open.add(event.outage)
            hub.powered = False
        elif event.rank == _ON:
            self._open.discard(event.outage)
            if not any(self.outages[n - 1].hub == event.hub for n in self._open):
                hub.powered = True
        elif event.outage in self._open:
            outage = self.outages[event.outage - 1]
            self._alert_counter += 1
            return GbcsMessage(Kind.ALERT, hub.eui, hub.eui, self._alert_counter,
                               POWER_OUTAGE_ALERT, PowerOutageAlert(_whole(outage.start),
                                                                    _whole(event.at)))
        return None

    def pending(self) -> bool:
        """Whether power events are still to come."""
        return bool(self._events)


def _whole(when: _dt.datetime) -> _dt.datetime:
    """Whole seconds, as the GBCS-like layout carries instants."""
    return when.replace(microsecond=0)
