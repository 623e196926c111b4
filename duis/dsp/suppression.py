"""MP102B: AD1 power outage alerts caused by a firmware activation, and the Suppression Log.

Some meters reboot when they activate new firmware and cut their comms hub's
power for minutes; the hub then raises a power outage alert, which the DCC
would send to the network operator as AD1.  MP102B has the DSP:

1. mark the comms hub of an ESME **activation in progress** on an 11.3 (and only
   11.3) when the ESME is SMETS2, its manufacturer is on the configured list
   and its Device ID is on the GUID list (:class:`duis.settings.Settings`);
2. for the window after the activation (30 minutes, both ends included; a
   future-dated activation opens the window at its execution time, not at the
   request), write that hub's AD1s to the **Suppression Log** instead of sending
   them to the network operator;
3. send every other AD1 as usual: outside the window, or from another hub.

An AD1 is judged by the time the hub raised it (``PowerOutageAlert.raised``),
which in a real network is when the DSP receives it.  The marks and the log are
tables of the SMI's SQLite database (``mp102b_activation``,
``mp102b_suppression_log``); ``docs/mp102b.md`` records every choice.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from dataclasses import asdict, dataclass

from ..clock import UTC, Clock, parse_instant
from ..gbcs import ActivateFirmware, GbcsMessage, PowerOutageAlert
from ..messages import Request, format_datetime, leaf, node
from ..settings import Settings
from ..smi import Device, Inventory
from ..smi.schema import create_tables
from .responses import Outgoing, Responder

#: the DCC alert code of a power outage event
AD1 = "AD1"
#: the only service request that marks a hub (MP102B: "SRV 11.3 only")
ACTIVATE_FIRMWARE = "11.3"
#: a delivery outcome after which no activation can have happened
NOT_DELIVERED = "unreachable"

_TABLES = """
CREATE TABLE IF NOT EXISTS mp102b_activation (
    seq INTEGER PRIMARY KEY, hub TEXT NOT NULL, esme TEXT NOT NULL,
    request_id TEXT NOT NULL, requested TEXT NOT NULL, opens TEXT NOT NULL,
    closes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mp102b_activation_by_hub ON mp102b_activation (hub, opens);
CREATE TABLE IF NOT EXISTS mp102b_suppression_log (
    seq INTEGER PRIMARY KEY, logged TEXT NOT NULL, hub TEXT NOT NULL, esme TEXT NOT NULL,
    mpxn TEXT NOT NULL, network_operator TEXT NOT NULL, outage_start TEXT NOT NULL,
    raised TEXT NOT NULL, activation_request TEXT NOT NULL, window_opens TEXT NOT NULL,
    window_closes TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ActivationMark:
    """A comms hub marked 'activation in progress' by an 11.3 to one of its ESMEs."""

    hub: str
    esme: str
    request_id: str
    """The RequestID of the 11.3 that carried the activation to the ESME."""
    requested: _dt.datetime
    """When the DSP received it."""
    opens: _dt.datetime
    """When the activation happens: at once, or the future-dated execution time."""
    closes: _dt.datetime
    """``opens`` plus the suppression window; an AD1 raised at ``closes`` is still suppressed."""

    def covers(self, when: _dt.datetime) -> bool:
        return self.opens <= when <= self.closes


@dataclass(frozen=True)
class SuppressedAlert:
    """One Suppression Log entry: an AD1 that was not sent, and why."""

    seq: int
    logged: _dt.datetime
    hub: str
    """CommsHubDeviceID of the AD1."""
    esme: str
    mpxn: str
    """The MPxN the AD1 would have named."""
    network_operator: str
    """The user it would have gone to."""
    outage_start: _dt.datetime
    """StartDateTime of the AD1."""
    raised: _dt.datetime
    """When the hub raised it: the time judged against the window."""
    activation_request: str
    window_opens: _dt.datetime
    window_closes: _dt.datetime

    def as_dict(self) -> dict:
        return {key: format_datetime(value) if isinstance(value, _dt.datetime) else value
                for key, value in asdict(self).items()}


class AD1Suppression:
    """Activation marks, the AD1 decision and the Suppression Log."""

    def __init__(self, inventory: Inventory, settings: Settings, clock: Clock,
                 responder: Responder) -> None:
        self.inventory, self.settings, self.clock = inventory, settings, clock
        self.responder = responder
        self.db = inventory.connection()
        create_tables(self.db, _TABLES)

    # --- step 1: the 11.3 --------------------------------------------------------------

    def qualifies(self, device: Device | None) -> bool:
        """Whether an 11.3 to ``device`` marks its comms hub: a SMETS2 ESME, of a listed
        manufacturer, on the GUID list, with a comms hub."""
        return (device is not None and device.device_type == "ESME"
                and device.smets == "SMETS2" and device.hub is not None
                and self.settings.suppression_applies(device.manufacturer, device.eui))

    def note_request(self, request: Request, command: GbcsMessage,
                     delivery: str | None) -> ActivationMark | None:
        """After the DSP sent a device command: an 11.3 to a qualifying ESME marks its hub.

        ``delivery`` is the outcome of sending it (None without emulated devices); an
        unreachable device activated nothing, so it marks nothing."""
        if request.service_reference_variant != ACTIVATE_FIRMWARE \
                or not isinstance(command.payload, ActivateFirmware) \
                or delivery == NOT_DELIVERED:
            return None
        device = self.inventory.device(str(request.target))
        if not self.qualifies(device):
            return None
        assert device is not None and device.hub is not None  # as qualifies() found
        now = self.clock.now()
        execution = command.payload.execution
        if execution is not None and execution.tzinfo is None:
            execution = execution.replace(tzinfo=UTC)
        opens = execution if execution is not None and execution > now else now
        mark = ActivationMark(device.hub, device.eui, str(request.request_id), now, opens,
                              opens + self.settings.ad1_suppression_window)
        self.db.execute(
            "INSERT INTO mp102b_activation (hub, esme, request_id, requested, opens, closes) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (mark.hub, mark.esme, mark.request_id, format_datetime(mark.requested),
             format_datetime(mark.opens), format_datetime(mark.closes)))
        return mark

    def marks(self, hub: str | None = None) -> list[ActivationMark]:
        """Every activation mark (of one hub), oldest first."""
        sql = "SELECT hub, esme, request_id, requested, opens, closes FROM mp102b_activation"
        rows = self.db.execute(sql + (" WHERE hub = ? ORDER BY seq" if hub else " ORDER BY seq"),
                               (hub,) if hub else ())
        return [ActivationMark(h, e, r, *map(parse_instant, times))
                for h, e, r, *times in rows]

    def in_progress(self, hub: str, when: _dt.datetime) -> ActivationMark | None:
        """The mark whose window covers ``when`` for ``hub`` (the earliest), if any."""
        return next((m for m in self.marks(hub) if m.covers(when)), None)

    # --- steps 2 and 3: the AD1 --------------------------------------------------------

    def power_outage(self, alert: GbcsMessage) -> list[Outgoing]:
        """A comms hub's power outage alert: AD1 to the network operator of each ESME of
        its system, or a Suppression Log entry while an activation is in progress."""
        payload = alert.payload
        assert isinstance(payload, PowerOutageAlert)  # the DSP hands on these alone
        hub = str(alert.originator)
        mark = self.in_progress(hub, payload.raised)
        out: list[Outgoing] = []
        for esme in self._audience(hub):
            if mark is not None:
                self._log(mark, esme, payload)
                continue
            content = node("PowerOutageEvent", leaf("CommsHubDeviceID", hub),
                           leaf("StartDateTime", format_datetime(payload.start)),
                           leaf("MPxN", esme.mpxn))
            operator = esme.network_operator
            assert operator is not None  # _audience keeps the ESMEs with one
            out.extend(self.responder.dcc_alert_of(AD1, (operator,), content))
        return out

    def _audience(self, hub: str) -> list[Device]:
        """The ESMEs of the hub's system an AD1 can name: with an MPxN and a network operator."""
        return [d for d in self.inventory.devices(hub=hub, device_type="ESME")
                if d.mpxn and d.network_operator]

    def _log(self, mark: ActivationMark, esme: Device, payload: PowerOutageAlert) -> None:
        self.db.execute(
            "INSERT INTO mp102b_suppression_log (logged, hub, esme, mpxn, network_operator, "
            "outage_start, raised, activation_request, window_opens, window_closes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (format_datetime(self.clock.now()), mark.hub, esme.eui, esme.mpxn,
             esme.network_operator, format_datetime(payload.start),
             format_datetime(payload.raised), mark.request_id, format_datetime(mark.opens),
             format_datetime(mark.closes)))

    # --- the Suppression Log ---------------------------------------------------------

    def last_seq(self) -> int:
        """The number of the newest Suppression Log entry (0 when the log is empty)."""
        return self.db.execute("SELECT coalesce(max(seq), 0) FROM mp102b_suppression_log"
                               ).fetchone()[0]

    def log(self, *, network_operator: str | None = None, hub: str | None = None,
            since: _dt.datetime | None = None, until: _dt.datetime | None = None,
            after_seq: int = 0) -> list[SuppressedAlert]:
        """Suppression Log entries, oldest first: of one network operator, one hub, and
        whose AD1 was raised in ``[since, until]``."""
        return read_log(self.db, network_operator=network_operator, hub=hub, since=since,
                        until=until, after_seq=after_seq)


def read_log(db: sqlite3.Connection, *, network_operator: str | None = None,
             hub: str | None = None, since: _dt.datetime | None = None,
             until: _dt.datetime | None = None, after_seq: int = 0) -> list[SuppressedAlert]:
    """The Suppression Log of an SMI database (see :meth:`AD1Suppression.log`)."""
    clauses = ["seq > ?"]
    params: list[object] = [after_seq]
    for column, value in (("network_operator", network_operator), ("hub", hub)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    rows = db.execute("SELECT seq, logged, hub, esme, mpxn, network_operator, outage_start, "
                      "raised, activation_request, window_opens, window_closes "
                      f"FROM mp102b_suppression_log WHERE {' AND '.join(clauses)} ORDER BY seq",
                      params)
    entries = [_entry(row) for row in rows]
    return [e for e in entries if (since is None or e.raised >= since)
            and (until is None or e.raised <= until)]


def _entry(row: tuple) -> SuppressedAlert:
    seq, logged, hub, esme, mpxn, operator, start, raised, request, opens, closes = row
    return SuppressedAlert(seq, parse_instant(logged), hub, esme, mpxn, operator,
                           parse_instant(start), parse_instant(raised), request,
                           parse_instant(opens), parse_instant(closes))
