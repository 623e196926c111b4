"""Records to rows of the SMI's tables and back (see :mod:`duis.smi.schema`).

A row's columns are its record's fields, in the record's order
(:data:`~duis.smi.model.DEVICE_FIELDS` and the like), except a user's roles,
stored as one text of sorted role codes separated by spaces.  Records going
in must be of the right type (:class:`InvalidRecord` otherwise); they were
validated when made.
"""

from __future__ import annotations

from operator import attrgetter
from sys import intern as _intern

from .errors import InvalidRecord
from .model import AUDIT_FIELDS, CPL_FIELDS, DEVICE_FIELDS, AuditRecord, CplEntry, Device, User

_cols = ", ".join

SQL_DEVICE_COLUMNS = _cols(DEVICE_FIELDS)
SQL_USER_COLUMNS = "eui, name, roles, status"
SQL_CPL_COLUMNS = _cols(CPL_FIELDS)
SQL_AUDIT_COLUMNS = _cols(AUDIT_FIELDS)

_new = object.__new__
_device_tuple = attrgetter(*DEVICE_FIELDS)
_cpl_tuple = attrgetter(*CPL_FIELDS)


# -- devices -----------------------------------------------------------------------------

def device_row(device: Device) -> tuple:
    """The ``device`` row of a Device."""
    if not isinstance(device, Device):
        raise InvalidRecord("not a Device", expected="a duis.smi.Device",
                            found=type(device).__name__)
    return _device_tuple(device)


def device_from_row(row: tuple, _shared=_intern, _fields=DEVICE_FIELDS) -> Device:
    """The Device of a ``device`` row (the hot path: every lookup that misses the cache).

    Values that recur across devices (types, makes, models, statuses, versions,
    users) are shared strings rather than each record's own copy: the cache of
    looked-up devices stays small for a large fleet."""
    eui, kind, maker, model, smets, status, before, version, hub, supplier, operator, mpxn = row
    device = _new(Device)
    # Trusted, not validated again: every row of the table was written from a Device that
    # passed Device.__post_init__ (add_devices takes Devices, update_device writes the
    # validated replaced() record, a CPL removal moves a valid status into
    # status_before_suspension as it sets Suspended), and the inventory is the file's only
    # writer.  Validating here would add ~2 us to a ~10 us lookup, a fifth (bench_smi).
    # Not strict: both sides are the twelve Device fields (the row unpacked above), and
    # strict=True would cost ~0.2 us a lookup.
    device.__dict__.update(zip(_fields, (
        eui, _shared(kind), _shared(maker), _shared(model), _shared(smets), _shared(status),
        before and _shared(before), _shared(version), hub, supplier and _shared(supplier),
        operator and _shared(operator), mpxn), strict=False))
    return device


# -- DCC users ---------------------------------------------------------------------------

def roles_text(roles: frozenset[str]) -> str:
    """A user's roles as stored (and audited): sorted codes separated by spaces."""
    return " ".join(sorted(roles))


def user_row(user: User) -> tuple[str, str, str, str]:
    """The ``dcc_user`` row of a User."""
    if not isinstance(user, User):
        raise InvalidRecord("not a User", expected="a duis.smi.User",
                            found=type(user).__name__)
    return (user.eui, user.name, roles_text(user.roles), user.status)


def user_from_row(row: tuple) -> User:
    """The User of a ``dcc_user`` row (validated: users are few, and cached)."""
    eui, name, roles, status = row
    return User(eui, name, frozenset(roles.split()), status)


# -- the CPL -----------------------------------------------------------------------------

def cpl_row(entry: CplEntry) -> tuple:
    """The ``cpl`` row of a CplEntry."""
    if not isinstance(entry, CplEntry):
        raise InvalidRecord("not a CplEntry", expected="a duis.smi.CplEntry",
                            found=type(entry).__name__)
    return _cpl_tuple(entry)


def cpl_from_row(row: tuple) -> CplEntry:
    """The CplEntry of a ``cpl`` row (validated: the CPL is a few rows, read once)."""
    return CplEntry(*row)


def cpl_key(manufacturer: str, model: str, firmware_version: str, smets: str) -> str:
    """A CPL row's key as the audit log names it: ``manufacturer/model/version/smets``."""
    return f"{manufacturer}/{model}/{firmware_version}/{smets}"


# -- the audit log -----------------------------------------------------------------------

def audit_from_row(row: tuple) -> AuditRecord:
    return AuditRecord(*row)
