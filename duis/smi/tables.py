"""The domain's enumerations and field rules, as data, in one place.

Spellings follow the DUIS 5.4 schema (``xsd/duis.xsd``): ``DeviceType``,
``DeviceStatus``, ``FirmwareVersion``, ``DeviceManufacturer``/``DeviceModel``,
``ImportMPxN`` and ``FirmwareVersionStatus``/``CPLStatus``.  The CPL status
names ``Current``/``Removed`` are MP105's; see :data:`CPL_STATUS_IN_DUIS`.
"""

from __future__ import annotations

import re

from .. import catalogue as _catalogue

#: DUIS ``DeviceType``, in schema order.
DEVICE_TYPES: tuple[str, ...] = ("ESME", "GSME", "GPF", "CHF", "HCALCS", "PPMID", "IHD", "CAD")

#: DUIS ``DeviceStatus``, in schema order.
DEVICE_STATUSES: tuple[str, ...] = (
    "Pending", "Whitelisted", "InstalledNotCommissioned", "Commissioned",
    "Decommissioned", "Withdrawn", "Suspended", "Recovery", "Recovered",
)

SUSPENDED = "Suspended"

#: Statuses a CPL removal leaves alone: already suspended, or out of service.
NOT_SUSPENDED_BY_CPL_REMOVAL: frozenset[str] = frozenset(
    {"Suspended", "Decommissioned", "Withdrawn"})

#: SMETS generation of a device (and of a CPL row, after MP202).
SMETS_GENERATIONS: tuple[str, ...] = ("SMETS1", "SMETS2")

#: DCC User roles (their home is the catalogue; the role groups are
#: :func:`duis.catalogue.authorisation.authorisation_rules`).
USER_ROLES = _catalogue.USER_ROLES

USER_STATUSES: tuple[str, ...] = ("Active", "Suspended")

#: CPL entry statuses as MP105 names them.
CPL_STATUSES: tuple[str, ...] = ("Current", "Removed")

#: How a CPL status shows in a DUIS ``DSPInventory`` (``CPLStatus`` and
#: ``DeviceFirmwareVersionStatus``, enumeration Active/Cancelled/Expired/
#: Withdrawn).  A Current entry is Active; a Removed entry has been withdrawn
#: from the list.  Cancelled and Expired have no MP105 counterpart and are
#: never produced.
CPL_STATUS_IN_DUIS: dict[str, str] = {"Current": "Active", "Removed": "Withdrawn"}

#: DUIS ``FirmwareVersion``: xs:string, minLength 1, maxLength 8.
FIRMWARE_VERSION_LENGTH = (1, 8)

#: ``FirmwareHash`` in 11.3 ActivateFirmware: hexBinary of exactly 32 octets.
FIRMWARE_HASH_OCTETS = 32

#: DUIS ``DeviceManufacturer`` and ``DeviceModel``: at most 30 characters
#: (the SMI also requires at least one).
MANUFACTURER_LENGTH = (1, 30)
MODEL_LENGTH = (1, 30)

#: DUIS ``ImportMPxN``: 1 to 13 characters.
MPXN_LENGTH = (1, 13)


#: a character XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/F):
#: the SMI's text is written into DUIS messages
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def is_xml_text(value: str) -> bool:
    """Whether every character of ``value`` can go into an XML document."""
    return value.isprintable() or _NOT_XML.search(value) is None


def is_firmware_version(value: object) -> bool:
    """True when ``value`` is a valid DUIS FirmwareVersion (1 to 8 characters XML
    can carry)."""
    low, high = FIRMWARE_VERSION_LENGTH
    return isinstance(value, str) and low <= len(value) <= high and is_xml_text(value)
