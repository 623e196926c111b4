"""The SMI's records: devices, DCC users, CPL entries and audit rows.

Records are frozen: a change is a new record, written through the inventory,
which audits it.  Constructing a record validates every field against
:mod:`duis.smi.tables`; a bad value raises :class:`InvalidRecord` whose
``path`` names the field.  EUI-64s are stored in canonical text form
(``00-DB-12-34-56-78-90-A0``, see :func:`duis.messages.ids.canonical_eui`);
any spelling :meth:`EUI64.parse` accepts is normalised on construction.

Every record is validated by its ``__post_init__``, whether built by its
constructor or by :func:`replaced`; the one exception, rows the SMI itself
wrote and reads back, is :func:`duis.smi.rows.device_from_row` (it says why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ..errors import DuisError
from ..messages.ids import EUI64, canonical_eui, is_canonical_eui
from . import tables as t
from .errors import InvalidRecord

_HASH = re.compile(f"[0-9A-F]{{{2 * t.FIRMWARE_HASH_OCTETS}}}")

_DEVICE_TYPES = frozenset(t.DEVICE_TYPES)
_DEVICE_STATUSES = frozenset(t.DEVICE_STATUSES)
_SMETS = frozenset(t.SMETS_GENERATIONS)
_NOT_SUSPENDED = _DEVICE_STATUSES - {t.SUSPENDED}
_MANUFACTURER, _MODEL, _VERSION, _MPXN = (t.MANUFACTURER_LENGTH, t.MODEL_LENGTH,
                                          t.FIRMWARE_VERSION_LENGTH, t.MPXN_LENGTH)
_new = object.__new__


def _bad(record: str, field: str, message: str, expected: str, found: object) -> InvalidRecord:
    """An InvalidRecord whose source is the record type and whose path is the field."""
    return InvalidRecord(message, source=record, path=field, expected=expected, found=repr(found))


def _eui(record: object, field: str, value: object, optional: bool = False) -> None:
    """Check (and normalise in place) an EUI-64 field of a frozen record."""
    if value is None and optional:
        return
    if isinstance(value, (str, EUI64)):
        try:
            text = canonical_eui(value)
        except DuisError:
            pass
        else:
            if text is not value:
                object.__setattr__(record, field, text)
            return
    raise _bad(type(record).__name__, field, "not an EUI-64",
               "8 hex byte pairs separated by '-'" + (" or nothing" if optional else ""), value)


def _one_of(record: str, field: str, value: object, allowed: frozenset, names: tuple) -> None:
    if value not in allowed:
        raise _bad(record, field, f"unknown {field.replace('_', ' ')}",
                   "one of " + ", ".join(names), value)


def _text(record: str, field: str, value: object, length: tuple[int, int],
          optional: bool = False) -> None:
    if value is None and optional:
        return
    low, high = length
    if not isinstance(value, str) or not low <= len(value) <= high or not t.is_xml_text(value):
        raise _bad(record, field, f"bad {field.replace('_', ' ')}",
                   f"a string of {low} to {high} characters XML can carry", value)


def _firmware_version(record: str, value: object) -> None:
    if not t.is_firmware_version(value):
        low, high = t.FIRMWARE_VERSION_LENGTH
        raise _bad(record, "firmware_version", "bad firmware version",
                   f"a DUIS FirmwareVersion: a string of {low} to {high} characters XML "
                   f"can carry", value)


@dataclass(frozen=True)
class Device:
    """One device in the Smart Metering Inventory."""

    eui: str
    """Device ID, canonical EUI-64."""
    device_type: str
    """DUIS DeviceType: ESME, GSME, GPF, CHF, HCALCS, PPMID, IHD or CAD."""
    manufacturer: str
    model: str
    smets: str
    """SMETS1 or SMETS2 (SMETS2 stands for SMETS2+)."""
    status: str
    """DUIS DeviceStatus."""
    status_before_suspension: str | None
    """Set exactly while ``status`` is Suspended: the status to restore (MP105)."""
    firmware_version: str
    """DUIS FirmwareVersion, 1 to 8 characters."""
    hub: str | None = None
    """EUI-64 of the comms hub (CHF) of this device's system; None for a CHF itself."""
    supplier: str | None = None
    """EUI-64 of the responsible supplier (a DCC User with a supplier role: IS, ES or GS)."""
    network_operator: str | None = None
    """EUI-64 of the responsible network operator (role ED or GT)."""
    mpxn: str | None = None
    """Import MPAN (ESME) or MPRN (GSME), 1 to 13 characters."""

    def __post_init__(self, _str=str, _canonical=is_canonical_eui) -> None:
        # Each field once, in order (the first bad one is reported).  Each test is the
        # plain case inline (a bulk load checks millions of devices); anything else goes
        # to the helper, which normalises the value or raises.
        name = "Device"
        eui = self.eui
        if type(eui) is not _str or not _canonical(eui):
            _eui(self, "eui", eui)
        if self.device_type not in _DEVICE_TYPES:
            _one_of(name, "device_type", self.device_type, _DEVICE_TYPES, t.DEVICE_TYPES)
        value = self.manufacturer
        if type(value) is not _str or not _MANUFACTURER[0] <= len(value) <= _MANUFACTURER[1] \
                or not value.isprintable():
            _text(name, "manufacturer", value, t.MANUFACTURER_LENGTH)
        value = self.model
        if type(value) is not _str or not _MODEL[0] <= len(value) <= _MODEL[1] \
                or not value.isprintable():
            _text(name, "model", value, t.MODEL_LENGTH)
        if self.smets not in _SMETS:
            _one_of(name, "smets", self.smets, _SMETS, t.SMETS_GENERATIONS)
        status = self.status
        if status not in _NOT_SUSPENDED or self.status_before_suspension is not None:
            _one_of(name, "status", status, _DEVICE_STATUSES, t.DEVICE_STATUSES)
            self._check_suspension()
        value = self.firmware_version
        if type(value) is not _str or not _VERSION[0] <= len(value) <= _VERSION[1] \
                or not value.isprintable():
            _firmware_version(name, value)
        for field in ("hub", "supplier", "network_operator"):
            value = getattr(self, field)
            if value is not None and (type(value) is not _str or not _canonical(value)):
                _eui(self, field, value)
        mpxn = self.mpxn
        if mpxn is not None and (type(mpxn) is not _str
                                 or not _MPXN[0] <= len(mpxn) <= _MPXN[1]
                                 or not mpxn.isprintable()):
            _text(name, "mpxn", mpxn, t.MPXN_LENGTH, optional=True)

    def _check_suspension(self) -> None:
        before = self.status_before_suspension
        if self.status == t.SUSPENDED:
            allowed = _DEVICE_STATUSES - {t.SUSPENDED}
            if before not in allowed:
                raise _bad("Device", "status_before_suspension",
                           "a Suspended device must record the status it held before",
                           "a device status other than Suspended", before)
        elif before is not None:
            raise _bad("Device", "status_before_suspension",
                       f"only a Suspended device has a status before suspension "
                       f"(status is {self.status})", "nothing", before)


@dataclass(frozen=True)
class User:
    """A DCC User (supplier, network operator, ...), identified by its EUI-64."""

    eui: str
    name: str
    roles: frozenset[str]
    """Role codes: IS ES GS ED GT RSA OU (a list or set is accepted and frozen)."""
    status: str = "Active"
    """Active or Suspended (a suspended user fails authorisation check E3)."""

    def __post_init__(self) -> None:
        _eui(self, "eui", self.eui)
        if not isinstance(self.name, str) or not self.name or not t.is_xml_text(self.name):
            raise _bad("User", "name", "bad name", "a non-empty string XML can carry",
                       self.name)
        roles = self.roles
        if isinstance(roles, (list, tuple, set)):
            roles = frozenset(roles)
            object.__setattr__(self, "roles", roles)
        if (not isinstance(roles, frozenset) or not roles
                or not all(isinstance(r, str) and r in t.USER_ROLES for r in roles)):
            raise _bad("User", "roles", "unknown or missing role",
                       "one or more of " + ", ".join(t.USER_ROLES), sorted(roles, key=str)
                       if isinstance(roles, frozenset) else roles)
        _one_of("User", "status", self.status, frozenset(t.USER_STATUSES), t.USER_STATUSES)


@dataclass(frozen=True)
class CplEntry:
    """One row of the Central Products List: a firmware version of a device model.

    Keyed by (manufacturer, model, firmware_version, smets): after MP202 the
    same model and version may appear once per SMETS generation.
    """

    manufacturer: str
    model: str
    firmware_version: str
    firmware_hash: str | None
    """SHA-256 of the image, 64 upper-case hex digits (32 octets), if known."""
    smets: str
    status: str = "Current"
    """Current or Removed (MP105's words); see ``tables.CPL_STATUS_IN_DUIS``."""

    def __post_init__(self) -> None:
        name = "CplEntry"
        _text(name, "manufacturer", self.manufacturer, t.MANUFACTURER_LENGTH)
        _text(name, "model", self.model, t.MODEL_LENGTH)
        _firmware_version(name, self.firmware_version)
        digest = self.firmware_hash
        if digest is not None:
            if isinstance(digest, str) and _HASH.fullmatch(digest.upper()):
                object.__setattr__(self, "firmware_hash", digest.upper())
            else:
                raise _bad(name, "firmware_hash", "bad firmware hash",
                           f"{t.FIRMWARE_HASH_OCTETS} octets as {2 * t.FIRMWARE_HASH_OCTETS} "
                           "hex digits", digest)
        _one_of(name, "smets", self.smets, _SMETS, t.SMETS_GENERATIONS)
        _one_of(name, "status", self.status, frozenset(t.CPL_STATUSES), t.CPL_STATUSES)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.manufacturer, self.model, self.firmware_version, self.smets)

    @property
    def duis_status(self) -> str:
        """The status as a DUIS DSPInventory shows it (Active or Withdrawn)."""
        return t.CPL_STATUS_IN_DUIS[self.status]


@dataclass(frozen=True)
class AuditRecord:
    """One audited change of one field.

    ``entity`` is ``device``, ``user`` or ``cpl``; ``key`` the EUI-64, or for a
    CPL row ``manufacturer/model/firmware_version/smets``.  Creating a record
    is one row with ``field`` ``*`` and ``new`` ``created``.
    """

    seq: int
    at: str
    """ISO-8601 instant, UTC, milliseconds, from the inventory's clock."""
    entity: str
    key: str
    field: str
    old: str | None
    new: str | None
    reason: str
    cause: str
    """What caused it: a RequestID, a scenario step, a world file."""


def replaced(device: Device, changes: dict[str, object]) -> Device:
    """``dataclasses.replace(device, **changes)``: a new Device, validated and normalised
    by ``__post_init__`` like any other.  ``changes`` must name Device fields."""
    # object.__new__ and a dict update stand for Device(**values), whose frozen
    # __init__ sets each of the twelve fields through object.__setattr__
    updated = _new(Device)
    values = updated.__dict__
    values.update(device.__dict__)
    values.update(changes)
    updated.__post_init__()
    return updated


DEVICE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Device))
USER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(User))
CPL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CplEntry))
AUDIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))
