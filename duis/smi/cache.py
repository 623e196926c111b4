"""What :class:`~duis.smi.SqliteInventory` remembers of its tables, and when it forgets.

Kept: devices looked up (by canonical EUI-64), each comms hub's SMETS
generation (asked for every device of its system, MP202), DCC users looked up
(by the EUI-64 as asked), and the whole CPL (a few rows).

The one rule: **what a write changes is forgotten before the write runs, and a
rollback forgets everything.**  A write names what it changes
(:meth:`RecordCache.forget`): one device or every device (the records, and the
hubs' generations when the ``smets`` column changes), the users, or the CPL.  An
insert changes nothing remembered, since only rows that exist are remembered,
except for the CPL, which is remembered whole.  After a write, the inventory may put back the record
it just wrote (:meth:`keep_device`), exactly as a read would give it.

Devices and hub generations are bounded by ``size`` (emptied when full; 0
keeps none); users are all kept.  The cache assumes the inventory is the
database's only writer.
"""

from __future__ import annotations

from collections.abc import Collection

from .model import CplEntry, Device, User

DEVICE, USER, CPL = "device", "user", "cpl"


class RecordCache:
    """The records an inventory remembers; see the module for the rule."""

    __slots__ = ("size", "devices", "hub_smets", "users", "cpl")

    def __init__(self, size: int) -> None:
        self.size = size
        self.devices: dict[str, Device] = {}
        """Canonical EUI-64 -> the device, as read."""
        self.hub_smets: dict[str, str] = {}
        """Comms hub EUI-64 -> its SMETS generation (the hub record is not needed)."""
        self.users: dict[str, User] = {}
        """EUI-64 as asked -> the user."""
        self.cpl: dict[tuple[str, str, str], list[CplEntry]] | None = None
        """The whole CPL by (manufacturer, model, version), rows by SMETS generation;
        None until read."""

    def forget(self, table: str, key: str | None = None,
               fields: Collection[str] | None = None) -> None:
        """Forget what a write to ``table`` changes: the row of ``key`` (a device's
        canonical EUI-64), or with no key every row of the table; ``fields`` names the
        columns it changes (None: any).  A hub's generation is its ``smets`` column."""
        if table == DEVICE:
            hubs = fields is None or "smets" in fields
            if key is None:
                self.devices.clear()
                if hubs:
                    self.hub_smets.clear()
            else:
                self.devices.pop(key, None)
                if hubs:
                    self.hub_smets.pop(key, None)
        elif table == USER:
            self.users.clear()
        elif table == CPL:
            self.cpl = None

    def clear(self) -> None:
        """Forget everything (a rollback: what was read may have been undone)."""
        self.devices.clear()
        self.hub_smets.clear()
        self.users.clear()
        self.cpl = None

    def keep_device(self, key: str, device: Device) -> None:
        """Remember a device read (or just written) under its canonical EUI-64."""
        devices = self.devices
        if len(devices) >= self.size:
            if not self.size:
                return
            devices.clear()
        devices[key] = device

    def keep_hub_smets(self, hub: str, smets: str) -> None:
        hubs = self.hub_smets
        if len(hubs) >= self.size:
            if not self.size:
                return
            hubs.clear()
        hubs[hub] = smets
