"""Step 4 of the pipeline, response side: a device reply as MMC output.

MMC output (``ra:GBCSResponse``) is the readable form of a GBCS response or
alert that DCC "Parse & Correlate" produces.  Its Header says who sent what
to whom: BusinessOriginatorID is the device, BusinessTargetID the user,
OriginatorCounter the transaction; a response also names its message code and
service request.  The Body holds the readable response (``SMETSData``) or
alert (``DeviceAlertContent``).  Which element shows which payload is in
``mapping.toml``; this module only lays the elements out.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from ..catalogue import lookup
from ..clock import UTC
from ..gbcs.codec import decode, from_base64
from ..gbcs.model import (
    STATUSES,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
)
from ..messages import MMCDocument, Node, format_datetime
from ..namespaces import RA
from .errors import TranslationError
from .mapping import UseCase, mapping

SCHEMA_VERSION = "5.4"
CLOCK_STATUS = "reliable"


def _leaf(name: str, value: object) -> Node:
    return Node(name, str(value), ns=RA)


def _node(name: str, *children: Node | None, attrs: tuple[tuple[str, str], ...] = ()) -> Node:
    return Node(name, None, tuple(c for c in children if c is not None), ns=RA, attrs=attrs)


def instant(when: _dt.datetime) -> str:
    """xs:dateTime in UTC: whole seconds as ``...:29Z``, fractions as milliseconds."""
    value = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if not value.microsecond \
        else format_datetime(value)


def _status(status: str) -> Node:
    """``ActivateImageResponseCode``: the numeric code as an attribute, the name inside."""
    return _node("ActivateImageResponseCode", _leaf("ASN1Status", status),
                 attrs=(("ResponseCode", str(STATUSES[status])),))


def _version(version: str | None) -> Node | None:
    return None if version is None else _leaf("FirmwareVersion", version)


def _read_firmware_version(payload: FirmwareVersionReport) -> Node:
    return _node("ReadFirmwareVersionRsp", _version(payload.firmware_version),
                 attrs=(("MessageSuccess", "true"),))


def _activate_firmware(payload: ActivationResult) -> Node:
    """A scheduled (future-dated) activation has no status yet: it succeeded in being accepted."""
    success = payload.status in (None, "success")
    return _node("ActivateFirmwareRsp",
                 None if payload.status is None else _status(payload.status),
                 _version(payload.firmware_version),
                 attrs=(("MessageSuccess", "true" if success else "false"),))


def _firmware_activation_alert(payload: FirmwareActivationAlert) -> Node:
    return _node("FutureDatedCommandOutcomeDeviceAlert", _node(
        "FirmwareActivationDeviceAlert", _leaf("ExecutionDateTime", instant(payload.execution)),
        _leaf("OriginatorCounterFromCommand", payload.command_counter),
        _status(payload.status), _version(payload.firmware_version)))


#: MMC element name (as mapping.toml names it) -> how to lay it out
RESPONSES: dict[str, Callable] = {
    "ReadFirmwareVersionRsp": _read_firmware_version,
    "ActivateFirmwareRsp": _activate_firmware,
}
ALERTS: dict[str, Callable] = {
    "FirmwareActivationDeviceAlert": _firmware_activation_alert,
}


def _header(message: GbcsMessage, when: _dt.datetime, case: UseCase | None) -> Node:
    """The header; a response's names the variant its use case answers."""
    service = () if case is None else (
        _leaf("GBCSHexadecimalMessageCode", case.message_code_hex),
        _leaf("ServiceReference", lookup(case.variant).service_reference),
        _leaf("ServiceReferenceVariant", case.variant))
    return _node("Header", _leaf("BusinessOriginatorID", message.originator),
                 _leaf("BusinessTargetID", message.target),
                 _leaf("OriginatorCounter", message.transaction), *service,
                 Node("Timestamp", instant(when), ns=RA, attrs=(("ClockStatus", CLOCK_STATUS),)))


def _document(header: Node, body: Node) -> MMCDocument:
    return MMCDocument(Node("GBCSResponse", None, (header, _node("Body", body)), ns=RA,
                            attrs=(("schemaVersion", SCHEMA_VERSION),)))


def _response_case(message: GbcsMessage, variant: str | None) -> UseCase:
    """The use case a response answers, checked against its variant and payload."""
    if variant is None:
        raise TranslationError("a device response needs its service reference variant",
                               expected="a variant such as 11.2", found="none")
    case = mapping().by_message_code(message.message_code)
    if case is None or case.variant != variant:
        served = ", ".join(f"{c.code} 0x{c.message_code_hex}"
                           for c in mapping().for_variant(variant))
        raise TranslationError(f"message code 0x{message.message_code:04X} does not answer "
                               f"service request {variant}", path="message code",
                               expected=served or "a variant with a device command",
                               found=f"0x{message.message_code:04X}"
                                     + (f" ({case.code}, {case.variant})" if case else ""))
    if not isinstance(message.payload, case.response):
        raise TranslationError(f"a {case.code} response must carry {case.response.__name__}",
                               path="payload", expected=case.response.__name__,
                               found=type(message.payload).__name__)
    if case.mmc_response is None:
        raise TranslationError(f"MMC output has no element for {case.code} responses "
                               f"(service request {variant})", path=case.code,
                               expected="a response to one of " + ", ".join(sorted(
                                   {c.variant for c in mapping().use_cases.values()
                                    if c.mmc_response})), found=variant)
    return case


def _response(message: GbcsMessage, variant: str | None, when: _dt.datetime) -> MMCDocument:
    case = _response_case(message, variant)  # its variant is ``variant``
    element = case.mmc_response
    assert element is not None  # _response_case refuses a case without one
    body = _node("ResponseMessage", _node("SMETSData", RESPONSES[element](message.payload)))
    return _document(_header(message, when, case), body)


def _alert(message: GbcsMessage, when: _dt.datetime) -> MMCDocument:
    meaning = mapping().alerts.get(message.message_code)
    if meaning is None:
        raise TranslationError("no MMC output for this alert code", path="message code",
                               expected=" or ".join(f"0x{c:04X}" for c in mapping().alerts),
                               found=f"0x{message.message_code:04X}")
    if not isinstance(message.payload, meaning.payload):
        raise TranslationError(f"alert 0x{meaning.code:04X} must carry "
                               f"{meaning.payload.__name__}", path="payload",
                               expected=meaning.payload.__name__,
                               found=type(message.payload).__name__)
    content = _node("DeviceAlertContent", _leaf("GBCSHexAlertCode", f"{meaning.code:04X}"),
                    _leaf("AlertDescription", meaning.description),
                    _leaf("Timestamp", instant(when)),
                    _node("Payload", ALERTS[meaning.mmc_alert](message.payload)))
    return _document(_header(message, when, None), _node("DeviceAlertMessage", content))


def mmc_document(message: GbcsMessage, *, service_reference_variant: str | None = None,
                 when: _dt.datetime) -> MMCDocument:
    """The MMC output for a device response or alert, stamped ``when``.

    A response needs ``service_reference_variant`` (its header names it); an
    alert answers no request and ignores it.  Raises :class:`TranslationError`
    for a command, a payload that does not answer the variant, or a reply the
    MMC output has no element for.
    """
    if message.kind is Kind.RESPONSE:
        return _response(message, service_reference_variant, when)
    if message.kind is Kind.ALERT:
        return _alert(message, when)
    raise TranslationError("a command has no MMC output (MMC output shows device replies)",
                           path="kind", expected="a response or an alert",
                           found=message.kind.name.lower())


def has_mmc_output(message: GbcsMessage) -> bool:
    """Whether the MMC output format has an element for this device reply (a response
    of a use case whose ``mmc_response`` is named in the mapping, or a known alert);
    a 2.2 top up (CS01a/b) or 6.23 (CS02b) outcome has none."""
    if message.kind is Kind.ALERT:
        return message.message_code in mapping().alerts
    case = mapping().by_message_code(message.message_code)
    return message.kind is Kind.RESPONSE and case is not None and case.mmc_response is not None


def mmc_for_payload(gbcs_payload_base64: str, variant: str | None,
                    when: _dt.datetime) -> MMCDocument:
    """:func:`mmc_document` for a GBCSPayload as it appears in DUIS XML (base64)."""
    message = decode(from_base64(gbcs_payload_base64), "GBCSPayload")
    return mmc_document(message, service_reference_variant=variant, when=when)


__all__ = ["ALERTS", "RESPONSES", "has_mmc_output", "instant", "mmc_document", "mmc_for_payload"]
