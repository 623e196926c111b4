"""The use cases this codec covers: message code and CRA flag -> payload structure.

- ECS52 Read ESME/Comms Hub Firmware Version, ``0x0059``: command :class:`DlmsGetRequest`,
  response :class:`DlmsGetResponse`.
- GCS38 Read GSME Firmware Version, ``0x0084``: :class:`GbzPayload` both ways (Read
  Attributes, its response).
- CS08 Read PPMID/HCALCS Firmware Version, ``0x0129``: command
  :class:`ReadFirmwareVersionCommand`, response :class:`FirmwareVersionReport`.
- CS06 Activate Firmware (critical), ``0x0012``: command :class:`ActivateFirmwareCommand`,
  response :class:`ActivationAccepted` (future dated) or :class:`ActivationOutcome`.
- Future-dated firmware activation alert, ``0x00CA``: alert :class:`ActivationAlert`
  (alert code 0x8F66 or 0x8F67).

Each pair also says which protection GBCS requires of the message between the DCC and
the device (:class:`Protection`): every command is MAC'd by the Access Control Broker and
a critical one (CS06) is signed by the user as well; a non-critical response is MAC'd by
the device, a critical response and the 0x00CA alert are signed by it.  Two hops differ,
and their callers say so: the PreCommand the DCC hands the user carries neither, and the
SignedPreCommand the user returns carries the signature alone.

The table is :data:`USE_CASES`; :func:`payload_spec` looks a pair up.  Builders for
each use case's messages follow (the shapes of the reference messages).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import Protocol

from ...messages.ids import EUI64
from .dlms import (
    ECS52_FIRMWARE_VERSION,
    DlmsGetRequest,
    DlmsGetResponse,
    GetResult,
    invoke_for,
)
from .firmware import (
    ActivateFirmwareCommand,
    ActivationAccepted,
    ActivationAlert,
    ActivationOutcome,
    FirmwareVersionReport,
    ReadFirmwareVersionCommand,
    alert_code_for,
    decode_activation_response,
)
from .frames import Cra, DlmsDateTime, GroupingHeader
from .reader import Reader
from .zigbee import (
    GCS38_FIRMWARE_VERSION_ATTRIBUTE,
    METERING_CLUSTER,
    OCTET_STRING,
    SERVER_TO_CLIENT,
    AttributeRecord,
    GbzComponent,
    GbzPayload,
    ReadAttributes,
    ReadAttributesResponse,
)

CS06 = 0x0012
ECS52 = 0x0059
GCS38 = 0x0084
CS08 = 0x0129
FUTURE_DATED_ACTIVATION_ALERT = 0x00CA

Payload = (DlmsGetRequest | DlmsGetResponse | GbzPayload | ReadFirmwareVersionCommand
           | FirmwareVersionReport | ActivateFirmwareCommand | ActivationAccepted
           | ActivationOutcome | ActivationAlert)


class Protection(IntFlag):
    """What authenticates a message: its MAC, its originator's signature, both, neither."""

    NONE = 0
    MAC = 1
    SIGNATURE = 2


@dataclass(frozen=True)
class PayloadSpec:
    """How one (message code, CRA flag) carries its payload, and how it is protected
    between the DCC and the device."""

    types: tuple[type, ...]
    """The payload classes allowed."""
    decode: Callable[[Reader], Payload]
    protection: Protection


class _Structure(Protocol):
    """A payload class: it decodes itself from a reader."""

    @classmethod
    def decode(cls, reader: Reader) -> Payload: ...


def _spec(first: type[_Structure], *others: type, protection: Protection,
          decode: Callable[[Reader], Payload] | None = None) -> PayloadSpec:
    return PayloadSpec((first, *others), decode if decode is not None else first.decode,
                       protection)


_MAC = Protection.MAC
_SIGNED = Protection.SIGNATURE


@dataclass(frozen=True)
class UseCase:
    name: str
    title: str
    message_code: int
    command: PayloadSpec | None = None
    response: PayloadSpec | None = None
    alert: PayloadSpec | None = None


USE_CASES: tuple[UseCase, ...] = (
    UseCase("ECS52", "Read ESME/Comms Hub Firmware Version", ECS52,
            command=_spec(DlmsGetRequest, protection=_MAC),
            response=_spec(DlmsGetResponse, protection=_MAC)),
    UseCase("GCS38", "Read GSME Firmware Version", GCS38,
            command=_spec(GbzPayload, protection=_MAC),
            response=_spec(GbzPayload, protection=_MAC)),
    UseCase("CS08", "Read PPMID/HCALCS Firmware Version", CS08,
            command=_spec(ReadFirmwareVersionCommand, protection=_MAC),
            response=_spec(FirmwareVersionReport, protection=_MAC)),
    UseCase("CS06", "Activate Firmware", CS06,
            command=_spec(ActivateFirmwareCommand, protection=_MAC | _SIGNED),
            response=_spec(ActivationAccepted, ActivationOutcome, protection=_SIGNED,
                           decode=decode_activation_response)),
    UseCase("0x00CA", "Future-Dated Firmware Activation Alert", FUTURE_DATED_ACTIVATION_ALERT,
            alert=_spec(ActivationAlert, protection=_SIGNED)),
)
_BY_CODE = {use_case.message_code: use_case for use_case in USE_CASES}


def use_case(message_code: int) -> UseCase | None:
    """The covered use case of ``message_code``, or None."""
    return _BY_CODE.get(message_code)


def payload_spec(message_code: int, cra: Cra) -> PayloadSpec | None:
    """How a message with this code and CRA flag carries its payload (None: not covered)."""
    found = _BY_CODE.get(message_code) if type(message_code) is int else None
    if found is None or not isinstance(cra, Cra):
        return None
    return {Cra.COMMAND: found.command, Cra.RESPONSE: found.response,
            Cra.ALERT: found.alert}[cra]


# --- builders --------------------------------------------------------------------

def _header(cra: Cra, counter: int, originator: EUI64 | str, recipient: EUI64 | str,
            code: int, date_time: DlmsDateTime | None = None) -> GroupingHeader:
    return GroupingHeader(cra, counter, EUI64.parse(originator), EUI64.parse(recipient), code,
                          date_time)


def ecs52_command(user: EUI64 | str, device: EUI64 | str,
                  counter: int) -> tuple[GroupingHeader, DlmsGetRequest]:
    """ECS52: a Get of the firmware version (class 1, OBIS 0-0:0.2.1.255, attribute 2)."""
    return (_header(Cra.COMMAND, counter, user, device, ECS52),
            DlmsGetRequest(invoke_for(counter), (ECS52_FIRMWARE_VERSION,)))


def ecs52_response(device: EUI64 | str, user: EUI64 | str, counter: int,
                   firmware_version: bytes | None, result: int = 0,
                   ) -> tuple[GroupingHeader, DlmsGetResponse]:
    """ECS52's answer: the version (``result`` 0), or null and a data-access-result."""
    return (_header(Cra.RESPONSE, counter, device, user, ECS52),
            DlmsGetResponse(invoke_for(counter), (GetResult(firmware_version, result),)))


def gcs38_command(user: EUI64 | str, device: EUI64 | str,
                  counter: int) -> tuple[GroupingHeader, GbzPayload]:
    """GCS38: a ZCL Read Attributes of the metering cluster's firmware version attribute."""
    component = GbzComponent(METERING_CLUSTER, 0x00,
                             ReadAttributes((GCS38_FIRMWARE_VERSION_ATTRIBUTE,)))
    return _header(Cra.COMMAND, counter, user, device, GCS38), GbzPayload((component,))


def gcs38_response(device: EUI64 | str, user: EUI64 | str, counter: int,
                   firmware_version: bytes | None, status: int = 0,
                   ) -> tuple[GroupingHeader, GbzPayload]:
    """GCS38's answer: the version as an octet string (status 0), or a failure status."""
    record = (AttributeRecord(GCS38_FIRMWARE_VERSION_ATTRIBUTE, 0, OCTET_STRING,
                              firmware_version) if status == 0
              else AttributeRecord(GCS38_FIRMWARE_VERSION_ATTRIBUTE, status))
    component = GbzComponent(METERING_CLUSTER, SERVER_TO_CLIENT,
                             ReadAttributesResponse((record,)))
    return _header(Cra.RESPONSE, counter, device, user, GCS38), GbzPayload((component,))


def cs08_command(user: EUI64 | str, device: EUI64 | str,
                 counter: int) -> tuple[GroupingHeader, ReadFirmwareVersionCommand]:
    return _header(Cra.COMMAND, counter, user, device, CS08), ReadFirmwareVersionCommand()


def cs08_response(device: EUI64 | str, user: EUI64 | str, counter: int,
                  firmware_version: bytes, response_code: int = 0,
                  ) -> tuple[GroupingHeader, FirmwareVersionReport]:
    return (_header(Cra.RESPONSE, counter, device, user, CS08),
            FirmwareVersionReport(firmware_version, response_code))


def cs06_command(user: EUI64 | str, device: EUI64 | str, counter: int, image_hash: bytes,
                 execution: _dt.datetime | None = None,
                 ) -> tuple[GroupingHeader, ActivateFirmwareCommand]:
    """CS06: the PreCommand's header and payload (the counter is repeated inside)."""
    return (_header(Cra.COMMAND, counter, user, device, CS06),
            ActivateFirmwareCommand(image_hash, counter, execution))


def cs06_response(device: EUI64 | str, user: EUI64 | str, counter: int,
                  outcome: ActivationOutcome | None,
                  date_time: DlmsDateTime | None = None,
                  ) -> tuple[GroupingHeader, ActivationAccepted | ActivationOutcome]:
    """CS06's answer: the outcome, or (None) a future-dated command accepted."""
    return (_header(Cra.RESPONSE, counter, device, user, CS06, date_time),
            ActivationAccepted() if outcome is None else outcome)


def activation_alert(device: EUI64 | str, user: EUI64 | str, counter: int,
                     command_counter: int, execution: _dt.datetime,
                     outcome: ActivationOutcome) -> tuple[GroupingHeader, ActivationAlert]:
    """The 0x00CA alert: ``counter`` is the alert's own, ``command_counter`` the CS06's."""
    return (_header(Cra.ALERT, counter, device, user, FUTURE_DATED_ACTIVATION_ALERT),
            ActivationAlert(alert_code_for(outcome), execution, command_counter, outcome))


__all__ = ["CS06", "CS08", "ECS52", "FUTURE_DATED_ACTIVATION_ALERT", "GCS38", "USE_CASES",
           "Payload", "PayloadSpec", "Protection", "UseCase", "activation_alert", "cs06_command",
           "cs06_response", "cs08_command", "cs08_response", "ecs52_command", "ecs52_response",
           "gcs38_command", "gcs38_response", "payload_spec", "use_case"]
