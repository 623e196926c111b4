"""The device messages the DSP, the emulated devices and the SMI logic work with.

A :class:`GbcsMessage` is a command (DSP -> device), a response (device ->
DSP) or an alert (device -> DSP, unsolicited).  Its header names originator
and target (EUI-64), a transaction counter (the GBCS originator counter) and
the GBCS message code; its payload is one of the small typed records below,
chosen by the use case.  On the wire it is real GBCS where GBCS defines the
use case (:mod:`duis.gbcs.codec`, one entry point; ``docs/gbcs.md``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import IntEnum

from ..messages.ids import EUI64
from .wire.firmware import ALERT_ACTIVATION_FAILED, ALERT_ACTIVATION_SUCCEEDED


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


def activation_alert_code(status: str) -> int:
    """The alert code of a future-dated activation's outcome: 0x8F66 for ``success``,
    0x8F67 for any failure status."""
    return ALERT_ACTIVATION_SUCCEEDED if status == "success" else ALERT_ACTIVATION_FAILED


@dataclass(frozen=True)
class FirmwareActivationAlert:
    """The outcome of a future-dated activation: the future-dated activation alert
    (its message code, :data:`~duis.gbcs.wire.usecases.FUTURE_DATED_ACTIVATION_ALERT`),
    whose alert code, in the payload, is 0x8F66 (success) or 0x8F67 (failure)."""

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

#: the kind of message each payload class is carried in
PAYLOAD_KINDS: dict[type, Kind] = {
    ReadFirmwareVersion: Kind.COMMAND, FirmwareVersionReport: Kind.RESPONSE,
    ActivateFirmware: Kind.COMMAND, ActivationResult: Kind.RESPONSE,
    FirmwareActivationAlert: Kind.ALERT, DistributeImage: Kind.COMMAND,
    ImageDistributionResult: Kind.RESPONSE, TopUp: Kind.COMMAND,
    UpdateSecurityCredentials: Kind.COMMAND, CommandOutcome: Kind.RESPONSE,
    PowerOutageAlert: Kind.ALERT,
}


@dataclass(frozen=True)
class GbcsMessage:
    kind: Kind
    originator: EUI64
    target: EUI64
    transaction: int
    """Unsigned 64-bit counter; a response and its command share it."""
    message_code: int
    """The GBCS message code (16 bits) of the use case (mmc/mapping.toml); a
    future-dated activation's alert has the alert's message code, its alert code
    being in the payload (:attr:`alert_code`)."""
    payload: Payload

    @property
    def alert_code(self) -> int:
        """An alert's alert code: the payload's (0x8F66 / 0x8F67 for a future-dated
        activation's outcome), else the message code (the project's own alerts)."""
        code = getattr(self.payload, "alert_code", None)
        return code if type(code) is int else self.message_code
