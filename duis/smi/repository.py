"""The SMI and CPL store: the :class:`Inventory` interface and its SQLite implementation.

Rules every implementation keeps (see ``docs/smi.md``):

- every state change runs in one transaction and writes one audit row per
  changed field, stamped by the injected clock, with a reason and a cause;
- :meth:`Inventory.transaction` groups several changes into one atomic unit;
  nested use joins the outer transaction (an inner block that fails is undone
  on its own, and nothing is committed before the outermost block ends);
- a failure anywhere leaves the records and the audit log exactly as before.

:class:`SqliteInventory` is built from parts, one job each: :mod:`.schema`
(the tables, opening a file), :mod:`.rows` (records to rows and back),
:mod:`.cache` (what is remembered and the one rule for forgetting it) and
:mod:`.transactions` (atomic, nested blocks).  This module holds the queries.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from itertools import islice
from pathlib import Path
from sys import intern as _intern
from typing import Protocol

from ..clock import Clock, SystemClock
from ..errors import DuisError
from ..messages.ids import canonical_eui, is_canonical_eui
from ..messages.model import format_datetime
from . import tables as t
from .cache import CPL, DEVICE, USER, RecordCache
from .errors import AmbiguousCplEntry, DuplicateKey, InvalidRecord, NotFound
from .model import (
    CPL_FIELDS,
    DEVICE_FIELDS,
    USER_FIELDS,
    AuditRecord,
    CplEntry,
    Device,
    User,
    replaced,
)
from .rows import (
    SQL_AUDIT_COLUMNS,
    SQL_CPL_COLUMNS,
    SQL_DEVICE_COLUMNS,
    SQL_USER_COLUMNS,
    audit_from_row,
    cpl_from_row,
    cpl_key,
    cpl_row,
    device_from_row,
    device_row,
    roles_text,
    user_from_row,
    user_row,
)
from .schema import SCHEMA_VERSION, connect
from .transactions import Nesting, Transaction

WriteHook = Callable[[str], None]


class Inventory(Protocol):
    """What the DSP needs from the Smart Metering Inventory and the CPL.

    Lookups return ``None`` when there is nothing; changes raise
    :class:`NotFound` when there is nothing to change.  ``reason`` says why a
    change is made, ``cause`` which message or step made it (a RequestID, a
    scenario step, a world file); both go to the audit log.  EUI-64s are given
    and returned as canonical text (any spelling is accepted in lookups).
    """

    def device(self, eui: str) -> Device | None: ...
    def prefetch(self, euis: Iterable[str]) -> None:
        """Read many devices ahead of the :meth:`device` calls for them (a hint:
        an implementation without a cache does nothing)."""
    def user(self, eui: str) -> User | None: ...
    def cpl_entry(self, manufacturer: str, model: str, firmware_version: str,
                  smets: str | None = None) -> CplEntry | None: ...
    def cpl_entry_for(self, device: Device,
                      firmware_version: str | None = None) -> CplEntry | None: ...
    def system_smets(self, device: Device) -> str: ...
    def devices(self, **filters: object) -> Iterator[Device]: ...
    def users(self) -> Iterator[User]: ...
    def cpl_entries(self, **filters: object) -> Iterator[CplEntry]: ...

    def add_device(self, device: Device, *, reason: str = ..., cause: str = ...) -> Device: ...
    def add_devices(self, devices: Iterable[Device], *, reason: str = ...,
                    cause: str = ...) -> int: ...
    def add_user(self, user: User, *, reason: str = ..., cause: str = ...) -> User: ...
    def add_cpl_entry(self, entry: CplEntry, *, reason: str = ...,
                      cause: str = ...) -> CplEntry: ...
    def update_device(self, eui: str, /, *, reason: str, cause: str,
                      **changes: object) -> Device: ...
    def update_user(self, eui: str, /, *, reason: str, cause: str, **changes: object) -> User: ...
    def set_cpl_status(self, manufacturer: str, model: str, firmware_version: str,
                       smets: str | None = None, *, status: str, reason: str,
                       cause: str) -> CplEntry: ...
    def remove_cpl_entry(self, manufacturer: str, model: str, firmware_version: str,
                         smets: str | None = None, *, reason: str,
                         cause: str) -> list[str]: ...

    def audit(self, since_seq: int = 0) -> Iterator[AuditRecord]: ...
    def last_seq(self) -> int: ...
    def transaction(self) -> AbstractContextManager[Inventory]: ...
    def empty(self) -> None:
        """Delete every record of the database: the SMI's and those of the tables kept
        beside it (the schema version stays; ``AUTOINCREMENT`` sequences go on)."""
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection holding the inventory, for modules that keep their own
        tables beside it (create them with :func:`duis.smi.schema.create_tables`);
        their writes join :meth:`transaction` like the inventory's own."""
    def close(self) -> None: ...


_CHUNK = 10_000
_PREFETCH_CHUNK = 500
_UTC = _dt.UTC
_cols = ", ".join

_SQL_DEVICE = f"SELECT {SQL_DEVICE_COLUMNS} FROM device WHERE eui = ?"
_SQL_DEVICE_INSERT = (f"INSERT INTO device ({SQL_DEVICE_COLUMNS}) "
                      f"VALUES ({_cols('?' * len(DEVICE_FIELDS))})")
_SQL_DEVICES_IN = f"SELECT {SQL_DEVICE_COLUMNS} FROM device WHERE eui IN "
_SQL_SMETS = "SELECT smets FROM device WHERE eui = ?"
_SQL_USER = f"SELECT {SQL_USER_COLUMNS} FROM dcc_user WHERE eui = ?"
_SQL_USER_INSERT = f"INSERT INTO dcc_user ({SQL_USER_COLUMNS}) VALUES (?, ?, ?, ?)"
_SQL_CPL = f"SELECT {SQL_CPL_COLUMNS} FROM cpl"
_SQL_CPL_INSERT = f"INSERT INTO cpl ({SQL_CPL_COLUMNS}) VALUES ({_cols('?' * len(CPL_FIELDS))})"
_SQL_AUDIT_INSERT = ("INSERT INTO audit (at, entity, key, field, old, new, reason, cause) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")

# CPL removal, set-based: pick the devices, audit them, suspend them.  The
# generation of a device's system is its comms hub's (MP202), else its own.
_SQL_PICK = f"""
INSERT INTO temp.smi_suspend (eui, status)
SELECT d.eui, d.status FROM device AS d LEFT JOIN device AS h ON h.eui = d.hub
WHERE d.manufacturer = ? AND d.model = ? AND d.firmware_version = ?
  AND d.status NOT IN ({_cols(repr(s) for s in sorted(t.NOT_SUSPENDED_BY_CPL_REMOVAL))})
  AND coalesce(h.smets, d.smets) = ?
"""
_SQL_AUDIT_SUSPENSION = f"""
INSERT INTO audit (at, entity, key, field, old, new, reason, cause)
SELECT ?, 'device', s.eui, f.field,
       CASE f.field WHEN 'status' THEN s.status END,
       CASE f.field WHEN 'status' THEN '{t.SUSPENDED}' ELSE s.status END, ?, ?
FROM temp.smi_suspend AS s
CROSS JOIN (SELECT 'status' AS field UNION ALL SELECT 'status_before_suspension') AS f
ORDER BY s.eui, f.field
"""
_SQL_SUSPEND = f"""
UPDATE device SET status_before_suspension = status, status = '{t.SUSPENDED}'
WHERE eui IN (SELECT eui FROM temp.smi_suspend)
"""


def _canonical_or_none(eui: str) -> str | None:
    try:
        return canonical_eui(eui)
    except DuisError:
        return None


def _where(filters: dict[str, object], allowed: tuple[str, ...], what: str) -> tuple[str, list]:
    clauses, params = [], []
    for name, value in filters.items():
        if name not in allowed:
            raise InvalidRecord(f"unknown {what} field to filter on", path=name,
                                expected="one of " + ", ".join(allowed), found=repr(name))
        if value is None:
            clauses.append(f"{name} IS NULL")
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = sorted(value)
            clauses.append(f"{name} IN ({_cols('?' * len(values))})")
            params.extend(values)
        else:
            clauses.append(f"{name} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SqliteInventory:
    """The :class:`Inventory` on the standard library's SQLite.

    ``path`` is a database file (created if absent, reopened with its data
    otherwise) or ``":memory:"``.  ``clock`` stamps audit rows.  ``write_hook``
    is called with a label before every write (see :mod:`duis.smi.faults`).
    Looked-up devices and users are cached (``cache_size`` devices, all
    users; see :mod:`duis.smi.cache`); the cache assumes this object is the
    database's only writer.
    """

    def __init__(self, path: str | Path = ":memory:", *, clock: Clock | None = None,
                 write_hook: WriteHook | None = None, cache_size: int = 65_536,
                 temp_in_memory: bool = False) -> None:
        self.path = str(path)
        self.temp_in_memory = temp_in_memory
        """Keep SQLite's temporary tables and journals in memory, never in files (a
        world that is forked must not hold a file its copies would share)."""
        self.clock: Clock = clock or SystemClock()
        self.write_hook = write_hook
        self.cache_size = cache_size
        self._cache = RecordCache(cache_size)
        self._devices = self._cache.devices  # the same dict, for the lookup's hot path
        self._last_now: tuple[object, str] | None = None
        """The clock's last reading and its audit text (many writes share an instant)."""
        self._db = connect(self.path, temp_in_memory=temp_in_memory)
        self._nesting = Nesting(self._db, self, on_undo=self._cache.clear)

    @property
    def cache(self) -> RecordCache:
        """What this inventory remembers of its records (:mod:`duis.smi.cache`), to
        be looked at; the inventory alone changes it."""
        return self._cache

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def connection(self) -> sqlite3.Connection:
        """The database connection, for modules that keep their own tables beside the
        SMI's (the MP102B Suppression Log, the SECMP0024 hub firmware schedule).  Their
        writes join :meth:`transaction` like the SMI's own."""
        return self._db

    def __enter__(self) -> SqliteInventory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and writes ---------------------------------------------

    def transaction(self) -> AbstractContextManager[SqliteInventory]:
        """One atomic unit; nested blocks are savepoints inside the outer one (see
        :mod:`duis.smi.transactions`).  A rollback empties the cache."""
        return Transaction(self._nesting)

    def empty(self) -> None:
        """Delete every record of the database, in one transaction (the caller's, if
        one is open): the SMI's tables, the audit log and the tables other modules
        keep beside them; ``smi_meta`` keeps only the schema version, and
        ``AUTOINCREMENT`` sequences go on (a number handed out is never handed out
        again).  The cache forgets everything."""
        with self.transaction():
            tables = [row[0] for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            for table in tables:
                self._write("empty", f'DELETE FROM "{table}"' if table != "smi_meta"
                            else "DELETE FROM smi_meta WHERE key != 'schema'")
        self._cache.clear()

    def _write(self, label: str, sql: str, params: Sequence[object] = (), *,
               changes: tuple | None = None) -> sqlite3.Cursor:
        """Run one writing statement.  ``changes`` names what it changes of what the cache
        may hold, forgotten first: a table, a key (None: any row) and the columns
        (None: any); see :meth:`RecordCache.forget`."""
        if changes is not None:
            self._cache.forget(*changes)
        if self.write_hook is not None:
            self.write_hook(label)
        return self._db.execute(sql, params)

    def _write_many(self, label: str, sql: str, rows: Iterable) -> None:
        """Run an inserting statement for many rows (inserts change nothing cached)."""
        if self.write_hook is not None:
            self.write_hook(label)
        self._db.executemany(sql, rows)

    def _now(self) -> str:
        now = self.clock.now()
        last = self._last_now
        if last is not None and last[0] == now:
            return last[1]
        if now.tzinfo is _UTC and type(now) is _dt.datetime:
            # format_datetime's text for a UTC instant, at C speed
            text = now.isoformat(timespec="milliseconds")[:-6] + "Z"
        else:
            text = format_datetime(now)
        self._last_now = (now, text)
        return text

    def _audit(self, rows: list[tuple]) -> None:
        if rows:
            self._write_many("audit.insert", _SQL_AUDIT_INSERT, rows)

    # -- lookups -----------------------------------------------------------

    def device(self, eui: str) -> Device | None:
        """The device with this EUI-64, or None."""
        found = self._devices.get(eui)
        if found is not None:
            return found
        if type(eui) is not str:
            eui = canonical_eui(eui)
        row = self._db.execute(_SQL_DEVICE, (eui,)).fetchone()
        if row is None:
            if is_canonical_eui(eui):
                return None
            key = _canonical_or_none(eui)
            if key is None:
                return None
            eui = key
            row = self._db.execute(_SQL_DEVICE, (eui,)).fetchone()
            if row is None:
                return None
        found = device_from_row(row)
        self._cache.keep_device(eui, found)
        return found

    def prefetch(self, euis: Iterable[str]) -> None:
        """Look up many devices in a few queries (11.1 names up to 50,000): the
        following :meth:`device` calls for them are answered from the cache."""
        if not self.cache_size:
            return
        cache = self._devices
        keep = self._cache.keep_device
        wanted = list(dict.fromkeys(e for e in euis if type(e) is str and e not in cache))
        for start in range(0, len(wanted), _PREFETCH_CHUNK):
            chunk = wanted[start:start + _PREFETCH_CHUNK]
            sql = f"{_SQL_DEVICES_IN}({_cols('?' * len(chunk))})"
            for row in self._db.execute(sql, chunk):
                keep(row[0], device_from_row(row))

    def user(self, eui: str) -> User | None:
        """The DCC User with this EUI-64, or None."""
        users = self._cache.users
        found = users.get(eui)
        if found is not None:
            return found
        key = _canonical_or_none(eui)
        if key is None:
            return None
        row = self._db.execute(_SQL_USER, (key,)).fetchone()
        if row is None:
            return None
        found = users[eui] = user_from_row(row)
        return found

    def cpl_entry(self, manufacturer: str, model: str, firmware_version: str,
                  smets: str | None = None) -> CplEntry | None:
        """The CPL row for this model and version (and SMETS generation), or None.

        Without ``smets`` the single matching row is returned; when a model
        has one row per generation (MP202) that is ambiguous and raises
        :class:`AmbiguousCplEntry`: use :meth:`cpl_entry_for` instead.
        """
        rows = self._cpl_rows(manufacturer, model, firmware_version, smets)
        if len(rows) > 1:
            raise AmbiguousCplEntry(
                "several CPL rows match; the SMETS generation decides (MP202)",
                path=cpl_key(manufacturer, model, firmware_version, "*"),
                expected="smets=" + " or ".join(r.smets for r in rows), found="smets=None")
        return rows[0] if rows else None

    def _cpl_rows(self, manufacturer: str, model: str, firmware_version: str,
                  smets: str | None) -> list[CplEntry]:
        table = self._cache.cpl
        if table is None:
            table = self._cache.cpl = {}
            for row in self._db.execute(_SQL_CPL + " ORDER BY smets"):
                entry = cpl_from_row(row)
                table.setdefault(entry.key[:3], []).append(entry)
        rows = table.get((manufacturer, model, firmware_version), ())
        return [r for r in rows if r.smets == smets] if smets is not None else list(rows)

    def system_smets(self, device: Device) -> str:
        """The SMETS generation of the device's system: its comms hub's, else its own (MP202)."""
        hub = device.hub
        if not hub:
            return device.smets
        cache = self._cache
        smets = cache.hub_smets.get(hub)
        if smets is None:
            record = self._devices.get(hub)
            if record is not None:
                smets = record.smets
            else:  # the one field, without filling the device cache with hubs
                row = self._db.execute(_SQL_SMETS, (_canonical_or_none(hub),)).fetchone()
                if row is None:
                    return device.smets
                smets = _intern(row[0])
            cache.keep_hub_smets(hub, smets)
        return smets

    def cpl_entry_for(self, device: Device,
                      firmware_version: str | None = None) -> CplEntry | None:
        """The CPL row that applies to ``device`` running ``firmware_version``.

        ``firmware_version`` defaults to the SMI's.  The row is the one of the
        device's manufacturer and model for its system's SMETS generation.
        """
        version = device.firmware_version if firmware_version is None else firmware_version
        return self.cpl_entry(device.manufacturer, device.model, version,
                              self.system_smets(device))

    def devices(self, **filters: object) -> Iterator[Device]:
        """Devices whose fields equal the filters (a collection means any of), by EUI-64."""
        where, params = _where(filters, DEVICE_FIELDS, "device")
        sql = f"SELECT {SQL_DEVICE_COLUMNS} FROM device{where} ORDER BY eui"
        for row in self._db.execute(sql, params):
            yield device_from_row(row)

    def users(self) -> Iterator[User]:
        for row in self._db.execute(f"SELECT {SQL_USER_COLUMNS} FROM dcc_user ORDER BY eui"):
            yield user_from_row(row)

    def cpl_entries(self, **filters: object) -> Iterator[CplEntry]:
        where, params = _where(filters, CPL_FIELDS, "CPL")
        order = " ORDER BY manufacturer, model, firmware_version, smets"
        for row in self._db.execute(_SQL_CPL + where + order, params):
            yield cpl_from_row(row)

    def audit(self, since_seq: int = 0) -> Iterator[AuditRecord]:
        """Audit rows with a sequence number above ``since_seq``, oldest first."""
        sql = f"SELECT {SQL_AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq"
        for row in self._db.execute(sql, (since_seq,)):
            yield audit_from_row(row)

    def last_seq(self) -> int:
        """The sequence number of the newest audit row (0 when there is none)."""
        return self._db.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]

    # -- additions ---------------------------------------------------------

    def add_device(self, device: Device, *, reason: str = "added",
                   cause: str = "") -> Device:
        self.add_devices((device,), reason=reason, cause=cause)
        return device

    def add_devices(self, devices: Iterable[Device], *, reason: str = "added",
                    cause: str = "") -> int:
        """Add many devices in one transaction (streamed in chunks); returns how many."""
        count, at = 0, self._now()
        iterator = iter(devices)
        with self.transaction():
            while chunk := list(islice(iterator, _CHUNK)):
                rows = [device_row(device) for device in chunk]
                self._insert_chunk(rows)
                self._audit([(at, "device", row[0], "*", None, "created", reason, cause)
                             for row in rows])
                count += len(rows)
        return count

    def _insert_chunk(self, rows: list[tuple]) -> None:
        self._db.execute("SAVEPOINT smi_chunk")
        try:
            self._write_many("device.insert", _SQL_DEVICE_INSERT, rows)
        except sqlite3.IntegrityError:
            self._db.execute("ROLLBACK TO smi_chunk")
            self._db.execute("RELEASE smi_chunk")
            raise self._duplicate(rows) from None
        except BaseException:
            self._db.execute("ROLLBACK TO smi_chunk")
            self._db.execute("RELEASE smi_chunk")
            raise
        self._db.execute("RELEASE smi_chunk")

    def _duplicate(self, rows: list[tuple]) -> DuplicateKey:
        seen: set[str] = set()
        for row in rows:
            eui = row[0]
            if eui in seen or self._db.execute(_SQL_DEVICE, (eui,)).fetchone():
                return DuplicateKey("a device with this EUI-64 is already in the inventory",
                                    path="eui", found=eui)
            seen.add(eui)
        return DuplicateKey("duplicate device")  # pragma: no cover - not reached

    def add_user(self, user: User, *, reason: str = "added", cause: str = "") -> User:
        row = user_row(user)
        with self.transaction():
            try:
                self._write("user.insert", _SQL_USER_INSERT, row)
            except sqlite3.IntegrityError:
                raise DuplicateKey("a user with this EUI-64 is already in the inventory",
                                   path="eui", found=user.eui) from None
            self._audit([(self._now(), "user", user.eui, "*", None, "created", reason, cause)])
        return user

    def add_cpl_entry(self, entry: CplEntry, *, reason: str = "added",
                      cause: str = "") -> CplEntry:
        row = cpl_row(entry)
        key = cpl_key(*entry.key)
        with self.transaction():
            try:
                self._write("cpl.insert", _SQL_CPL_INSERT, row, changes=(CPL, None))
            except sqlite3.IntegrityError:
                raise DuplicateKey("this CPL entry is already on the list", path=key,
                                   found=key) from None
            self._audit([(self._now(), "cpl", key, "*", None, "created", reason, cause)])
        return entry

    # -- changes -----------------------------------------------------------

    def update_device(self, eui: str, /, *, reason: str, cause: str,
                      **changes: object) -> Device:
        """Change fields of a device; one audit row per field that changes."""
        _check_fields(changes, _DEVICE_CHANGEABLE, "device")
        with self.transaction():
            current = self._devices.get(eui) if type(eui) is str else None
            if current is not None:
                key = eui  # the cache is keyed by canonical EUI-64s
            else:
                key = canonical_eui(eui)
                current = self.device(key)
            if current is None:
                raise NotFound("no such device", path="eui", found=key)
            updated = replaced(current, changes)
            changed = [name for name in DEVICE_FIELDS
                       if name in changes and getattr(updated, name) != getattr(current, name)]
            if not changed:
                return current
            assignments = _cols(f"{name} = ?" for name in changed)
            self._write("device.update", f"UPDATE device SET {assignments} WHERE eui = ?",
                        [getattr(updated, name) for name in changed] + [key],
                        changes=(DEVICE, key, changed))
            at = self._now()
            self._audit([(at, "device", key, name, getattr(current, name),
                          getattr(updated, name), reason, cause) for name in changed])
            if all(type(getattr(updated, name)) in _STORED_AS_IS for name in changed):
                # the row just written, exactly as a read would give it back (a rollback
                # empties the cache)
                self._cache.keep_device(key, updated)
        return updated

    def update_user(self, eui: str, /, *, reason: str, cause: str, **changes: object) -> User:
        """Change fields of a DCC User (name, roles, status); audited per field."""
        _check_fields(changes, USER_FIELDS[1:], "user")
        with self.transaction():
            key = canonical_eui(eui)
            current = self.user(key)
            if current is None:
                raise NotFound("no such user", path="eui", found=key)
            # the names are checked above, the values by User's own validation
            updated = replace(current, **changes)  # type: ignore[arg-type]
            changed = [name for name in USER_FIELDS
                       if name in changes and getattr(updated, name) != getattr(current, name)]
            if not changed:
                return current
            self._write("user.update", "UPDATE dcc_user SET name = ?, roles = ?, status = ? "
                        "WHERE eui = ?", user_row(updated)[1:] + (key,), changes=(USER, key))
            text = {"roles": roles_text}
            at = self._now()
            self._audit([(at, "user", key, name,
                          text.get(name, str)(getattr(current, name)),
                          text.get(name, str)(getattr(updated, name)), reason, cause)
                         for name in changed])
        return updated

    def _resolve_cpl(self, manufacturer: str, model: str, firmware_version: str,
                     smets: str | None) -> CplEntry:
        entry = self.cpl_entry(manufacturer, model, firmware_version, smets)
        if entry is None:
            raise NotFound("no such CPL entry",
                           path=cpl_key(manufacturer, model, firmware_version, smets or "*"))
        return entry

    def set_cpl_status(self, manufacturer: str, model: str, firmware_version: str,
                       smets: str | None = None, *, status: str, reason: str,
                       cause: str) -> CplEntry:
        """Set a CPL row's status and nothing else (no device is suspended or restored).

        Removing an entry the way the DSP does is :meth:`remove_cpl_entry`.
        """
        with self.transaction():
            entry = self._resolve_cpl(manufacturer, model, firmware_version, smets)
            updated = replace(entry, status=status)
            if updated != entry:
                self._set_cpl_row_status(entry, status, reason, cause)
        return updated

    def _set_cpl_row_status(self, entry: CplEntry, status: str, reason: str, cause: str) -> None:
        self._write("cpl.update", "UPDATE cpl SET status = ? WHERE manufacturer = ? AND "
                    "model = ? AND firmware_version = ? AND smets = ?", (status, *entry.key),
                    changes=(CPL, None))
        self._audit([(self._now(), "cpl", cpl_key(*entry.key), "status", entry.status, status,
                      reason, cause)])

    def remove_cpl_entry(self, manufacturer: str, model: str, firmware_version: str,
                         smets: str | None = None, *, reason: str,
                         cause: str) -> list[str]:
        """Mark the entry Removed and suspend every device that runs it; all or nothing.

        Suspends each device of that manufacturer and model, running that
        version, whose system is of the entry's SMETS generation, unless it is
        already Suspended, Decommissioned or Withdrawn; its status is kept in
        ``status_before_suspension``.  Returns the suspended EUI-64s, sorted.
        Calling it again for a Removed entry suspends only what is left.
        """
        with self.transaction():
            entry = self._resolve_cpl(manufacturer, model, firmware_version, smets)
            if entry.status != "Removed":
                self._set_cpl_row_status(entry, "Removed", reason, cause)
            self._write("removal.pick", _SQL_PICK, (*entry.key,))
            self._write("removal.audit", _SQL_AUDIT_SUSPENSION, (self._now(), reason, cause))
            self._write("removal.suspend", _SQL_SUSPEND,
                        changes=(DEVICE, None, ("status", "status_before_suspension")))
            suspended = [row[0] for row in
                         self._db.execute("SELECT eui FROM temp.smi_suspend ORDER BY eui")]
            self._write("removal.done", "DELETE FROM temp.smi_suspend")
        return suspended


#: field values SQLite gives back unchanged (text, or NULL)
_STORED_AS_IS = frozenset({str, type(None)})
_DEVICE_CHANGEABLE = frozenset(DEVICE_FIELDS[1:])


def _check_fields(changes: dict, allowed: tuple[str, ...] | frozenset[str], what: str) -> None:
    for name in changes:
        if name not in allowed:
            names = DEVICE_FIELDS[1:] if allowed is _DEVICE_CHANGEABLE else allowed
            raise InvalidRecord(f"unknown or unchangeable {what} field", path=name,
                                expected="one of " + ", ".join(names), found=repr(name))


__all__ = ["Inventory", "SCHEMA_VERSION", "SqliteInventory", "WriteHook"]
