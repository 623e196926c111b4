"""The GBCS-like messages that travel between the DSP and the emulated devices.

A :class:`GbcsMessage` is a command (DSP -> device), a response (device ->
DSP) or an alert (device -> DSP, unsolicited).  Its header names originator
and target (EUI-64), a transaction counter and the GBCS message code; its
payload is one of the small typed records below, chosen by the use case.
The byte layout is :mod:`duis.gbcs.codec` (documented in ``docs/gbcs.md``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import IntEnum

from ..messages.ids import EUI64


class Kind(IntEnum):
    """What a message is, carried in its header."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3


#: Outcome names a device reports (MMC ``ASN1Status`` values) and their numeric
#: codes, which are their positions in that enumeration (the MMC ``ResponseCode``)
STATUSES: dict[str, int] = {
    "success": 0, "notKnown": 1, "other": 6, "otherFailure": 33, "noImageHeld": 35,
    "hashMismatch": 36, "activationFailure": 37,
}


# --- payloads -----------------------------------------------------------------

@dataclass(frozen=True)
class ReadFirmwareVersion:
    """Command: report the firmware version (11.2: ECS52, GCS38, CS08)."""


@dataclass(frozen=True)
class FirmwareVersionReport:
    """Response to ReadFirmwareVersion: the version the device (or a GPF's copy) holds."""

    firmware_version: str


@dataclass(frozen=True)
class ActivateFirmware:
    """Command (11.3, CS06, critical): activate the held image whose hash is ``firmware_hash``,
    now or at ``execution`` (future dated)."""

    firmware_hash: bytes
    execution: _dt.datetime | None = None


@dataclass(frozen=True)
class ActivationResult:
    """Response to ActivateFirmware.  ``status`` is None when a future-dated
    activation was only scheduled; ``firmware_version`` may be absent (a SMETS1
    retry)."""

    status: str | None
    firmware_version: str | None = None


#: alert codes of a future-dated activation's outcome (message code 0x00CA)
ALERT_ACTIVATION_SUCCEEDED = 0x8F66
ALERT_ACTIVATION_FAILED = 0x8F67


def activation_alert_code(status: str) -> int:
    """The alert code of a future-dated activation's outcome: 0x8F66 for ``success``,
    0x8F67 for any failure status."""
    return ALERT_ACTIVATION_SUCCEEDED if status == "success" else ALERT_ACTIVATION_FAILED


@dataclass(frozen=True)
class FirmwareActivationAlert:
    """Alert 0x8F66 (success) / 0x8F67 (failure): the outcome of a future-dated
    activation (message code 0x00CA)."""

    status: str
    firmware_version: str | None
    execution: _dt.datetime
    command_counter: int
    """The transaction counter of the ActivateFirmware command it answers."""

    @property
    def alert_code(self) -> int:
        """The alert code its status gives: 0x8F66 for success, else 0x8F67."""
        return activation_alert_code(self.status)


@dataclass(frozen=True)
class DistributeImage:
    """Command (11.1, via the comms hub): an image to hold and verify for a later activation."""

    image: bytes
    firmware_version: str


@dataclass(frozen=True)
class ImageDistributionResult:
    """Response to DistributeImage: whether the image was received and verified."""

    verified: bool
    firmware_hash: bytes
    """SHA-256 of the image as received."""


@dataclass(frozen=True)
class TopUp:
    """Command (2.2): apply a UTRN."""

    utrn: str


@dataclass(frozen=True)
class UpdateSecurityCredentials:
    """Command (6.23): replace the supplier's credentials (certificate bytes)."""

    certificate: bytes


@dataclass(frozen=True)
class CommandOutcome:
    """Response carrying only an outcome (2.2, 6.23)."""

    status: str


#: Message code of a comms hub's power outage alert: this project's own code (docs/gbcs.md)
POWER_OUTAGE_ALERT = 0xF1A0


@dataclass(frozen=True)
class PowerOutageAlert:
    """Alert (comms hub -> DCC, message code :data:`POWER_OUTAGE_ALERT`): the hub has been
    without power since ``start``; it raised the alert at ``raised``, once the outage had
    lasted long enough.  The DSP turns it into the DCC alert AD1 (or, under MP102B, a
    Suppression Log entry)."""

    start: _dt.datetime
    raised: _dt.datetime


Payload = (ReadFirmwareVersion | FirmwareVersionReport | ActivateFirmware | ActivationResult
           | FirmwareActivationAlert | DistributeImage | ImageDistributionResult | TopUp
           | UpdateSecurityCredentials | CommandOutcome | PowerOutageAlert)


@dataclass(frozen=True)
class GbcsMessage:
    kind: Kind
    originator: EUI64
    target: EUI64
    transaction: int
    """Unsigned 64-bit counter; a response and its command share it."""
    message_code: int
    """The GBCS message code (16 bits), e.g. 0x00CA for CS06; an alert carries its
    alert code (0x8F66 / 0x8F67) here."""
    payload: Payload
