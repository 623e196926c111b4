"""World files: TOML that seeds DCC Users, the CPL and devices into an inventory.

The format is documented field by field in ``samples/worlds/README.md``.
Every problem is reported with the file, the line and the field
(``devices[3].hub``, items counted from 1), what was expected and what was
found; :class:`WorldError` carries all of them in ``errors``.  ``tomllib``
gives no positions, so :class:`duis.tomlfile.TomlLines` finds them by scanning the text.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast, overload

from ..catalogue.authorisation import authorisation_rules
from ..clock import Clock
from ..errors import DuisError
from ..messages.ids import canonical_eui
from ..tomlfile import TomlLines, read_toml
from .errors import InvalidRecord, SmiError, WorldError
from .model import CplEntry, Device, User
from .repository import Inventory, SqliteInventory

FORMAT = 1


_Record = User | CplEntry | Device
InventoryT = TypeVar("InventoryT", bound=Inventory)


@dataclass(frozen=True)
class _Spec:
    record: type[_Record]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    lists: frozenset[str] = frozenset()
    stand_ins: tuple[tuple[str, object], ...] = ()
    """A valid value for each field: put in place of a field found bad, so that the
    record's own validation (said once, in :mod:`duis.smi.model`) goes on to the
    next field and every bad field of an entry is reported at once."""


#: the EUI-64 put in place of a bad one (see ``_Spec.stand_ins``)
_STAND_IN_EUI = "00-00-00-00-00-00-00-00"

_SPECS: dict[str, _Spec] = {
    "users": _Spec(User, ("eui", "name", "roles"), ("status",), frozenset({"roles"}),
                   (("eui", _STAND_IN_EUI), ("name", "x"), ("roles", ("OU",)),
                    ("status", "Active"))),
    "cpl": _Spec(CplEntry, ("manufacturer", "model", "firmware_version", "smets"),
                 ("firmware_hash", "status"),
                 stand_ins=(("manufacturer", "x"), ("model", "x"), ("firmware_version", "1"),
                            ("smets", "SMETS2"), ("firmware_hash", None),
                            ("status", "Current"))),
    "devices": _Spec(Device, ("eui", "device_type", "manufacturer", "model", "smets", "status",
                              "firmware_version"),
                     ("status_before_suspension", "hub", "supplier", "network_operator", "mpxn"),
                     stand_ins=(("eui", _STAND_IN_EUI), ("device_type", "ESME"),
                                ("manufacturer", "x"), ("model", "x"), ("smets", "SMETS2"),
                                ("status", "Commissioned"), ("status_before_suspension", None),
                                ("firmware_version", "1"), ("hub", None), ("supplier", None),
                                ("network_operator", None), ("mpxn", None))),
}
_WORLD_KEYS = ("format", "description")
_TOP_LEVEL = ("world", *_SPECS)


@dataclass(frozen=True)
class World:
    """A validated world file: what to seed, in the order to seed it."""

    source: str
    users: tuple[User, ...] = ()
    cpl: tuple[CplEntry, ...] = ()
    devices: tuple[Device, ...] = ()
    description: str = ""

    def seed(self, inventory: InventoryT, *, cause: str | None = None) -> InventoryT:
        """Add everything to ``inventory`` in one transaction, audited as caused by the file."""
        cause = cause or f"world:{Path(self.source).name}"
        reason = "seeded from world file"
        with inventory.transaction():
            for user in self.users:
                inventory.add_user(user, reason=reason, cause=cause)
            for entry in self.cpl:
                inventory.add_cpl_entry(entry, reason=reason, cause=cause)
            inventory.add_devices(self.devices, reason=reason, cause=cause)
        return inventory


def default_world() -> Path:
    """The world that comes with duis (two suppliers, a network operator, a SMETS2
    premises, a SMETS1 meter, their CPL): ``duis/worlds`` in a wheel,
    ``samples/worlds`` in a checkout."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "worlds" / "default.toml"
    return installed if installed.is_file() else package.parent / "samples/worlds/default.toml"


@overload
def load_world(path: str | Path | None = None, inventory: None = None, *,
               clock: Clock | None = None) -> SqliteInventory: ...
@overload
def load_world(path: str | Path | None, inventory: InventoryT, *,
               clock: Clock | None = None) -> InventoryT: ...
def load_world(path: str | Path | None = None, inventory: Inventory | None = None, *,
               clock: Clock | None = None) -> Inventory:
    """Read, validate and seed a world file (by default :func:`default_world`); a new
    in-memory inventory unless one is given.

    References (hub, supplier, network operator) may point at records already
    in ``inventory``; an EUI-64 already there is a duplicate.
    """
    inventory = inventory if inventory is not None else SqliteInventory(clock=clock)
    return read_world(default_world() if path is None else path,
                      known=inventory).seed(inventory)


def open_smi(path: str | Path, world: str | Path, *,
             clock: Clock | None = None) -> tuple[SqliteInventory, bool]:
    """The SMI kept in the SQLite file ``path``, and whether this call created it.

    A missing file is created seeded from ``world``, atomically: the seeded
    database is written to a temporary file beside ``path`` and linked into
    place only when complete, so another process opening ``path`` at the same
    time sees either no file or the whole world, never an empty or half-seeded
    one; when two processes seed at once, one wins and the other opens its file.
    A world that fails to load leaves no file behind.
    """
    target = Path(path)
    if target.is_file() and target.stat().st_size == 0:  # never seeded: it would stay empty
        raise SmiError("the SMI file is empty", source=str(target),
                       expected="an SMI database written by duis, or no file (then it is "
                                "created, seeded from the world)", found="0 bytes")
    if not target.exists():
        seeding = _seed_beside(target, world, clock)
        try:
            os.link(seeding, target)  # fails if the file appeared meanwhile: then use that one
            created = True
        except FileExistsError:
            created = False
        except OSError as exc:
            raise SmiError("cannot create the SMI file", source=str(target),
                           expected="a writable directory", found=exc.strerror) from None
        finally:
            _remove_database(seeding)
        return SqliteInventory(target, clock=clock), created
    return SqliteInventory(target, clock=clock), False


def _seed_beside(target: Path, world: str | Path, clock: Clock | None) -> str:
    """A complete SMI database seeded from ``world``, in a new file next to ``target``."""
    try:
        handle, seeding = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".seeding",
                                           dir=target.parent if str(target.parent) else ".")
    except OSError as exc:
        raise SmiError("cannot create the SMI file", source=str(target),
                       expected="a writable directory", found=exc.strerror) from None
    os.close(handle)
    try:
        with SqliteInventory(seeding, clock=clock) as inventory:
            load_world(world, inventory)
        with open(seeding, "rb") as written:  # on disk before anyone can open it
            os.fsync(written.fileno())
    except BaseException:
        _remove_database(seeding)
        raise
    return seeding


def _remove_database(path: str) -> None:
    for leftover in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def read_world(path: str | Path, *, known: Inventory | None = None) -> World:
    """Parse and validate a world file; raises :class:`WorldError` listing every problem."""
    text, data = read_toml(path, WorldError, "world file")
    return _Reader(str(path), text, data, known).world()


def _canonical(eui: object) -> str | None:
    """An entry's EUI-64 as references to it are looked up (written ``00db...`` or
    ``00-DB-...``), or None when it is none."""
    try:
        return canonical_eui(eui) if isinstance(eui, str) else None
    except DuisError:
        return None


@dataclass
class _Reader:
    source: str
    text: str
    data: dict
    known: Inventory | None
    errors: list[WorldError] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    """EUI-64s of entries that made no record: a reference to one is not an error of
    its own (the entry's errors are reported)."""
    stood_in: dict[str, set[str]] = field(default_factory=dict)
    """EUI-64 -> the fields of its entry that were bad (stand-ins in the record): a
    check of a reference that reads one of those fields is left out."""

    def __post_init__(self) -> None:
        self.lines = TomlLines(self.text)

    def error(self, message: str, table: str, index: int | None, key: str | None = None,
              **kw: object) -> None:
        line = self.lines.line(table, index or 0, key)
        path = table if index is None else f"{table}[{index + 1}]"
        if key is not None:
            path += f".{key}"
        self.errors.append(WorldError(message, source=self.source, line=line, path=path, **kw))

    def world(self) -> World:
        for name in self.data:
            if name not in _TOP_LEVEL:
                self.error("unknown table", name, None, expected="one of " + ", ".join(_TOP_LEVEL),
                           found=repr(name))
        description = self.header()
        records = {name: self.records(name) for name in _SPECS}
        # each table's records are of its spec's record class
        users = cast("list[tuple[int, User]]", records["users"])
        cpl = cast("list[tuple[int, CplEntry]]", records["cpl"])
        devices = cast("list[tuple[int, Device]]", records["devices"])
        self.check_unique(users, devices, cpl)
        self.check_references(users, devices)
        if self.errors:
            self.errors.sort(key=lambda e: (e.line or 0))
            first = self.errors[0]
            first.errors = self.errors
            raise first
        return World(self.source, tuple(u for _, u in users), tuple(c for _, c in cpl),
                     tuple(d for _, d in devices), description)

    def header(self) -> str:
        world = self.data.get("world", {})
        if not isinstance(world, dict):
            self.error("not a table", "world", None, expected="[world]", found=repr(world))
            return ""
        for key in world:
            if key not in _WORLD_KEYS:
                self.error("unknown field", "world", None, key,
                           expected="one of " + ", ".join(_WORLD_KEYS), found=repr(key))
        form = world.get("format", FORMAT)
        if type(form) is not int or form != FORMAT:  # true and 1.0 equal 1 in Python
            self.error("unsupported world file format", "world", None, "format",
                       expected=str(FORMAT), found=repr(world["format"]))
        description = world.get("description", "")
        if not isinstance(description, str):
            self.error("bad description", "world", None, "description", expected="a string",
                       found=repr(description))
            return ""
        return description

    def records(self, table: str) -> list[tuple[int, _Record]]:
        """(index, record) for every item of ``table`` that makes a record: valid,
        or with stand-ins for its bad fields (each reported; its EUI-64, when it has
        one, goes to :attr:`broken`, so that nothing refers to it unremarked)."""
        items = self.data.get(table, [])
        if not isinstance(items, list):
            self.error("not an array of tables", table, None, expected=f"[[{table}]] entries",
                       found=type(items).__name__)
            return []
        spec = _SPECS[table]
        out = []
        for index, item in enumerate(items):
            record = self.record(table, index, item, spec)
            if record is not None:
                out.append((index, record))
        return out

    def record(self, table: str, index: int, item: object, spec: _Spec) -> _Record | None:
        if not isinstance(item, dict):
            self.error("not a table", table, index, expected=f"a [[{table}]] entry",
                       found=repr(item))
            return None
        before = len(self.errors)
        known = (*spec.required, *spec.optional)
        for key, value in item.items():
            if key not in known:
                self.error("unknown field", table, index, key,
                           expected="one of " + ", ".join(known), found=repr(key))
            elif key in spec.lists:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    self.error(f"bad {key}", table, index, key, expected="a list of strings",
                               found=repr(value))
            elif not isinstance(value, str):
                self.error(f"bad {key.replace('_', ' ')}", table, index, key,
                           expected="a string", found=repr(value))
        for key in spec.required:
            if key not in item:
                self.error("missing required field", table, index, key, expected=f"a {key} field",
                           found="nothing")
        if len(self.errors) > before:
            self.note_broken(item)
            return None
        values = {key: value for key, value in item.items()}
        for name in spec.optional:    # optional here, but the record has no default
            if spec.record.__dataclass_fields__[name].default is dataclasses.MISSING:
                values.setdefault(name, None)
        stand_ins = dict(spec.stand_ins)
        for _ in range(len(stand_ins) + 1):
            try:
                record = spec.record(**values)
            except InvalidRecord as exc:
                self.error(exc.message, table, index, exc.path, expected=exc.expected,
                           found=exc.found)
                if exc.path not in stand_ins or values.get(exc.path) == stand_ins[exc.path]:
                    break
                values[exc.path] = stand_ins.pop(exc.path)
                continue
            replaced = set(dict(spec.stand_ins)) - set(stand_ins)
            if "eui" in replaced:
                self.note_broken(item)   # nothing can refer to it: its EUI-64 is bad
            elif replaced and (eui := _canonical(item.get("eui"))) is not None:
                self.stood_in[eui] = replaced
            return record
        self.note_broken(item)
        return None

    def note_broken(self, item: dict) -> None:
        eui = _canonical(item.get("eui"))
        if eui is not None:
            self.broken.add(eui)   # as references are looked up: canonical text

    def check_unique(self, users: list, devices: list, cpl: list) -> None:
        first: dict[str, tuple[str, int]] = {}
        for table, records in (("users", users), ("devices", devices)):
            for index, record in records:
                if record.eui == _STAND_IN_EUI:
                    continue   # its EUI-64 was bad: reported already
                if record.eui in first:
                    other = first[record.eui]
                    where = self.lines.line(other[0], other[1], "eui")
                    self.error(f"duplicate EUI-64 (first used at line {where}, "
                               f"{other[0]}[{other[1] + 1}])", table, index, "eui",
                               expected="an EUI-64 not used before", found=record.eui)
                    continue
                first[record.eui] = (table, index)
                if self.known is not None and (self.known.device(record.eui)
                                               or self.known.user(record.eui)):
                    self.error("duplicate EUI-64: already in the inventory", table, index,
                               "eui", expected="an EUI-64 not used before", found=record.eui)
        keys: dict[tuple, int] = {}
        for index, entry in cpl:
            if entry.key in keys:
                self.error(f"duplicate CPL entry (first at cpl[{keys[entry.key] + 1}])", "cpl",
                           index, None, expected="one entry per manufacturer, model, "
                           "firmware version and SMETS generation", found="/".join(entry.key))
            else:
                keys[entry.key] = index
            if self.known is not None and self.known.cpl_entry(*entry.key) is not None:
                self.error("duplicate CPL entry: already in the inventory", "cpl", index, None,
                           found="/".join(entry.key))

    def check_references(self, users: list, devices: list) -> None:
        by_user: dict[str, User] = {}
        by_device: dict[str, Device] = {}
        for _, user in users:
            if user.eui != _STAND_IN_EUI:
                by_user.setdefault(user.eui, user)  # a duplicate is reported once, not used
        for _, device in devices:
            if device.eui != _STAND_IN_EUI:
                by_device.setdefault(device.eui, device)
        for index, device in devices:
            self.check_hub(index, device, by_device)
            groups = authorisation_rules()
            for key, roles, what in (("supplier", groups.supplier_roles, "supplier"),
                                     ("network_operator", groups.network_roles,
                                      "network operator")):
                eui = getattr(device, key)
                if eui is None or eui in self.broken:
                    continue   # none, or an entry whose own errors are reported
                user = by_user.get(eui) or (self.known.user(eui) if self.known else None)
                if user is None:
                    self.error(f"{what} is not a user of this world", "devices", index, key,
                               expected="the EUI-64 of a [[users]] entry", found=eui)
                elif not user.roles & roles and "roles" not in self.stood_in.get(eui, ()):
                    self.error(f"{what} has no {what} role", "devices", index, key,
                               expected="a user with role " + " or ".join(sorted(roles)),
                               found=f"{eui} with roles {' '.join(sorted(user.roles))}")

    def check_hub(self, index: int, device: Device, by_device: dict[str, Device]) -> None:
        if device.hub is None or device.hub in self.broken:
            return
        if device.device_type == "CHF" and "device_type" not in self.stood_in.get(device.eui, ()):
            self.error("a comms hub has no hub", "devices", index, "hub", expected="nothing",
                       found=device.hub)
            return
        hub = by_device.get(device.hub) or (self.known.device(device.hub) if self.known else None)
        if hub is None:
            self.error("hub is not a device of this world", "devices", index, "hub",
                       expected="the EUI-64 of a CHF [[devices]] entry", found=device.hub)
        elif hub.device_type != "CHF" and "device_type" not in self.stood_in.get(hub.eui, ()):
            self.error("hub is not a comms hub", "devices", index, "hub",
                       expected="a device of type CHF",
                       found=f"{hub.eui} of type {hub.device_type}")


__all__ = ["FORMAT", "World", "default_world", "load_world", "read_world"]
