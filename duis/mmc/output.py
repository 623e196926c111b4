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
from typing import Any

from ..catalogue import lookup
from ..clock import UTC
from ..gbcs.codec import from_base64, read
from ..gbcs.model import (
    STATUSES,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
)
from ..messages import MMCDocument, Node, build, format_datetime
from ..messages.template import TemplateBook, Texts
from ..namespaces import RA
from .errors import TranslationError
from .mapping import UseCase, mapping

SCHEMA_VERSION = "5.4"
CLOCK_STATUS = "reliable"


def _leaf(name: str, value: str | None) -> Node | None:
    return None if value is None else Node(name, value, ns=RA)


def _node(name: str, *children: Node | None, attrs: tuple[tuple[str, str], ...] = ()) -> Node:
    return Node(name, None, tuple(c for c in children if c is not None), ns=RA, attrs=attrs)


def instant(when: _dt.datetime) -> str:
    """xs:dateTime in UTC: whole seconds as ``...:29Z``, fractions as milliseconds."""
    v = when.astimezone(UTC) if when.tzinfo else when
    if v.microsecond:
        return format_datetime(v)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
            f"{v.second:02d}Z")


# --- the layouts: texts -> elements ---------------------------------------------

def _status(t: Texts) -> Node | None:
    """``ActivateImageResponseCode``: the numeric code as an attribute, the name inside."""
    if t["status"] is None:
        return None
    return _node("ActivateImageResponseCode", _leaf("ASN1Status", t["status"]),
                 attrs=(("ResponseCode", t["response_code"] or ""),))


def _read_firmware_version(t: Texts) -> Node:
    return _node("ReadFirmwareVersionRsp", _leaf("FirmwareVersion", t["firmware_version"]),
                 attrs=(("MessageSuccess", "true"),))


def _activate_firmware(t: Texts) -> Node:
    return _node("ActivateFirmwareRsp", _status(t),
                 _leaf("FirmwareVersion", t["firmware_version"]),
                 attrs=(("MessageSuccess", t["success"] or ""),))


def _firmware_activation_alert(t: Texts) -> Node:
    return _node("FutureDatedCommandOutcomeDeviceAlert", _node(
        "FirmwareActivationDeviceAlert", _leaf("ExecutionDateTime", t["execution"]),
        _leaf("OriginatorCounterFromCommand", t["command_counter"]),
        _status(t), _leaf("FirmwareVersion", t["firmware_version"])))


# --- the texts: payload -> texts ---------------------------------------------------

def _status_texts(status: str | None) -> Texts:
    return {"status": status,
            "response_code": None if status is None else str(STATUSES[status])}


def _firmware_version_texts(payload: FirmwareVersionReport) -> Texts:
    return {"firmware_version": payload.firmware_version}


def _activation_texts(payload: ActivationResult) -> Texts:
    """A scheduled (future-dated) activation has no status yet: it succeeded in being accepted."""
    return {**_status_texts(payload.status), "firmware_version": payload.firmware_version,
            "success": "true" if payload.status in (None, "success") else "false"}


def _activation_alert_texts(payload: FirmwareActivationAlert) -> Texts:
    return {"execution": instant(payload.execution),
            "command_counter": str(payload.command_counter),
            **_status_texts(payload.status), "firmware_version": payload.firmware_version}


#: MMC element name (as mapping.toml names it) -> (its texts from the payload, its layout)
RESPONSES: dict[str, tuple[Callable[[Any], Texts], Callable[[Texts], Node]]] = {
    "ReadFirmwareVersionRsp": (_firmware_version_texts, _read_firmware_version),
    "ActivateFirmwareRsp": (_activation_texts, _activate_firmware),
}
ALERTS: dict[str, tuple[Callable[[Any], Texts], Callable[[Texts], Node]]] = {
    "FirmwareActivationDeviceAlert": (_activation_alert_texts, _firmware_activation_alert),
}


def _header(t: Texts) -> Node:
    """The header; a response's names the variant its use case answers."""
    return _node("Header", _leaf("BusinessOriginatorID", t["originator"]),
                 _leaf("BusinessTargetID", t["target"]),
                 _leaf("OriginatorCounter", t["counter"]),
                 _leaf("GBCSHexadecimalMessageCode", t.get("message_code")),
                 _leaf("ServiceReference", t.get("service_reference")),
                 _leaf("ServiceReferenceVariant", t.get("variant")),
                 Node("Timestamp", t["timestamp"], ns=RA,
                      attrs=(("ClockStatus", CLOCK_STATUS),)))


def _document(header: Node, body: Node) -> MMCDocument:
    return MMCDocument(Node("GBCSResponse", None, (header, _node("Body", body)), ns=RA,
                            attrs=(("schemaVersion", SCHEMA_VERSION),)))


def _header_texts(message: GbcsMessage, when: _dt.datetime) -> Texts:
    return {"originator": str(message.originator), "target": str(message.target),
            "counter": str(message.transaction), "timestamp": instant(when)}


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


def _response_layout(t: Texts, element: str) -> MMCDocument:
    body = RESPONSES[element][1](t)
    return _document(_header(t), _node("ResponseMessage", _node("SMETSData", body)))


def _alert_layout(t: Texts, element: str) -> MMCDocument:
    content = _node("DeviceAlertContent", _leaf("GBCSHexAlertCode", t["alert_code"]),
                    _leaf("AlertDescription", t["alert_description"]),
                    _leaf("Timestamp", t["timestamp"]),
                    _node("Payload", ALERTS[element][1](t)))
    return _document(_header(t), _node("DeviceAlertMessage", content))


_Plan = tuple[Callable[[Texts, str], MMCDocument], str, Texts]
#: (message code, variant, payload type) of a response -> its MMC element and the texts
#: of its use case, once _response_case has accepted the three together
_RESPONSE_CASES: dict[tuple[int, str | None, type], tuple[str, Texts]] = {}


def _plan(message: GbcsMessage, variant: str | None, when: _dt.datetime) -> _Plan:
    """How the MMC output of ``message`` is laid out (layout, element) and its texts."""
    if message.kind is Kind.RESPONSE:
        key = (message.message_code, variant, type(message.payload))
        known = _RESPONSE_CASES.get(key)
        if known is None:
            case = _response_case(message, variant)  # its variant is ``variant``
            assert case.mmc_response is not None  # _response_case refuses a case without one
            known = _RESPONSE_CASES[key] = (case.mmc_response, {
                "message_code": case.message_code_hex,
                "service_reference": lookup(case.variant).service_reference,
                "variant": case.variant})
        element, case_texts = known
        texts = {**_header_texts(message, when), **case_texts,
                 **RESPONSES[element][0](message.payload)}
        return _response_layout, element, texts
    if message.kind is Kind.ALERT:
        meaning = mapping().alerts.get(message.alert_code)
        if meaning is None:
            raise TranslationError("no MMC output for this alert code", path="alert code",
                                   expected=" or ".join(f"0x{c:04X}" for c in mapping().alerts),
                                   found=f"0x{message.alert_code:04X}")
        if not isinstance(message.payload, meaning.payload):
            raise TranslationError(f"alert 0x{meaning.code:04X} must carry "
                                   f"{meaning.payload.__name__}", path="payload",
                                   expected=meaning.payload.__name__,
                                   found=type(message.payload).__name__)
        texts = {**_header_texts(message, when), "alert_code": f"{meaning.code:04X}",
                 "alert_description": meaning.description,
                 **ALERTS[meaning.mmc_alert][0](message.payload)}
        return _alert_layout, meaning.mmc_alert, texts
    raise TranslationError("a command has no MMC output (MMC output shows device replies)",
                           path="kind", expected="a response or an alert",
                           found=message.kind.name.lower())


def mmc_document(message: GbcsMessage, *, service_reference_variant: str | None = None,
                 when: _dt.datetime) -> MMCDocument:
    """The MMC output for a device response or alert, stamped ``when``.

    A response needs ``service_reference_variant`` (its header names it); an
    alert answers no request and ignores it.  Raises :class:`TranslationError`
    for a command, a payload that does not answer the variant, or a reply the
    MMC output has no element for.
    """
    layout, element, texts = _plan(message, service_reference_variant, when)
    return layout(texts, element)


def mmc_output(message: GbcsMessage, *, service_reference_variant: str | None = None,
               when: _dt.datetime) -> bytes:
    """``build(mmc_document(...))``: the MMC output's bytes, the same ones, and the
    same :class:`~duis.errors.SchemaInvalid` for a document the schema refuses.

    The first document of each shape (its layout and which optional parts it
    has) is built and validated as :func:`~duis.messages.build` does; its bytes
    also give the shape's template, checked to rebuild them
    exactly, into which later documents of that shape only have their texts
    escaped and filled (:class:`~duis.messages.template.TemplateBook`).  The texts
    duis writes itself (identifiers, counters, times, codes, names from the mapping)
    are valid by construction, over their whole range
    (``tests/test_mmc_output_template.py``); a text the device reports
    (:data:`DEVICE_TEXTS`) is validated the long way the first time it is seen in its
    place, and so is any text outside printable ASCII.
    """
    layout, element, texts = _plan(message, service_reference_variant, when)
    return _TEMPLATES.render(lambda t: layout(t, element), element, texts)


#: texts that come from the device as it reported them (the rest duis formats itself)
DEVICE_TEXTS = frozenset({"firmware_version"})
#: the MMC layouts' templates (the bundled schema), by shape
_TEMPLATES = TemplateBook(lambda document, validate: build(document, validate=validate),
                          foreign=DEVICE_TEXTS)


def has_mmc_output(message: GbcsMessage) -> bool:
    """Whether the MMC output format has an element for this device reply (a response
    of a use case whose ``mmc_response`` is named in the mapping, or a known alert);
    a 2.2 top up (CS01a/b) or 6.23 (CS02b) outcome has none."""
    if message.kind is Kind.ALERT:
        return message.alert_code in mapping().alerts
    case = mapping().by_message_code(message.message_code)
    return message.kind is Kind.RESPONSE and case is not None and case.mmc_response is not None


def mmc_for_gbcs(data: bytes, variant: str | None, when: _dt.datetime,
                 source: str = "GBCSPayload") -> bytes:
    """:func:`mmc_output` for a device reply's bytes (real GBCS, or the project's own
    layout where GBCS has no form): decoded by one call, :func:`duis.gbcs.codec.read`
    (unchecked: showing a message is not deciding on it), then laid out."""
    message = read(data, source=source)
    return mmc_output(message, service_reference_variant=variant, when=when)


def mmc_for_payload(gbcs_payload_base64: str, variant: str | None,
                    when: _dt.datetime) -> MMCDocument:
    """:func:`mmc_document` for a GBCSPayload as it appears in DUIS XML (base64)."""
    message = read(from_base64(gbcs_payload_base64), source="GBCSPayload")
    return mmc_document(message, service_reference_variant=variant, when=when)


__all__ = ["ALERTS", "DEVICE_TEXTS", "RESPONSES", "has_mmc_output", "instant", "mmc_document",
           "mmc_for_gbcs", "mmc_for_payload", "mmc_output"]
