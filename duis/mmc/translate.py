"""Step 4 of the pipeline, request side: a DUIS Service Request as a GBCS command.

``command_for`` picks the use case from the mapping (service reference
variant x device type), builds the command payload from the request body and
fills the header from the RequestID: originator = the user, target = the
device, transaction = the RequestID counter.  A SignedPreCommand (command
variant 5) already holds the command: a real GBCS General Signing APDU with the
user's signature, read (not verified here) and checked against the request.
"""

from __future__ import annotations

import binascii
import datetime as _dt
from collections.abc import Callable
from functools import lru_cache
from typing import Literal, overload

from ..clock import parse_instant
from ..errors import MessageError
from ..gbcs import codec
from ..gbcs.codec import GbcsDecodeError, GbcsEncodeError, WireError, from_base64
from ..gbcs.model import (
    ActivateFirmware,
    DistributeImage,
    GbcsMessage,
    Kind,
    Payload,
    ReadFirmwareVersion,
    TopUp,
    UpdateSecurityCredentials,
)
from ..gbcs.wire.errors import WireEncodeError
from ..messages import EUI64, Node, Request
from ..messages.ids import MAX_COUNTER
from .errors import TranslationError
from .mapping import Mapping, UseCase, mapping, use_case_for


def _path(body: Node, field: str | None = None) -> str:
    steps = [body.name, *(field.split("/") if field else ())]
    return "/sr:Request/sr:Body/" + "/".join(f"sr:{step}" for step in steps)


@overload
def _text(body: Node, field: str, *, required: Literal[True] = True) -> str: ...
@overload
def _text(body: Node, field: str, *, required: bool) -> str | None: ...
def _text(body: Node, field: str, *, required: bool = True) -> str | None:
    value = body.text_at(field)
    if value is None or not value.strip():
        if not required:
            return None
        raise TranslationError(f"the request has no {field.split('/')[-1]}",
                               path=_path(body, field), expected="an element with a value",
                               found="none")
    return value.strip()


def _base64(body: Node, field: str) -> bytes:
    try:
        return from_base64(_text(body, field))
    except GbcsDecodeError as exc:
        raise TranslationError(f"{field} is not base64", path=_path(body, field),
                               expected=exc.expected, found=exc.found) from None


def _instant(body: Node, field: str) -> _dt.datetime | None:
    """An optional xs:dateTime, to whole seconds (GBCS carries no fractions)."""
    text = _text(body, field, required=False)
    if text is None:
        return None
    try:
        return parse_instant(text).replace(microsecond=0)
    except ValueError:
        raise TranslationError(f"{field} is not a date and time", path=_path(body, field),
                               expected="xs:dateTime", found=repr(text)) from None


def _activate(body: Node) -> ActivateFirmware:
    text = _text(body, "FirmwareHash")
    try:
        digest = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise TranslationError("FirmwareHash is not hexadecimal",
                               path=_path(body, "FirmwareHash"), expected="64 hex digits",
                               found=repr(text)) from None
    return ActivateFirmware(digest, _instant(body, "ExecutionDateTime"))


def _distribute(body: Node) -> DistributeImage:
    return DistributeImage(_base64(body, "FirmwareImage"), _text(body, "FirmwareVersion"))


def _credentials(body: Node) -> UpdateSecurityCredentials:
    """The supplier's replacement digital-signing certificate (the one certificate carried)."""
    return UpdateSecurityCredentials(
        _base64(body, "SupplierReplacementCertificates/DigitalSigningCertificate"))


#: command payload class -> how to build it from the request body
BUILDERS: dict[type, Callable[[Node], Payload]] = {
    ReadFirmwareVersion: lambda body: ReadFirmwareVersion(),
    ActivateFirmware: _activate,
    DistributeImage: _distribute,
    TopUp: lambda body: TopUp(_text(body, "UTRN")),
    UpdateSecurityCredentials: _credentials,
}


def _device_list(request: Request) -> tuple[EUI64, ...]:
    text = _text(request.body, "DeviceIDList")
    try:
        return _parsed_list(text)
    except MessageError as exc:
        raise TranslationError("DeviceIDList holds something that is not an EUI-64",
                               path=_path(request.body, "DeviceIDList"),
                               expected=exc.expected, found=exc.found) from None


@lru_cache(maxsize=8)
def _parsed_list(text: str) -> tuple[EUI64, ...]:
    """Parsed once per list: an 11.1 is translated once for each of its devices."""
    return tuple(EUI64.parse(item) for item in text.split(","))


@lru_cache(maxsize=8)
def _members(text: str) -> frozenset[EUI64]:
    return frozenset(_parsed_list(text))


def _target(request: Request, case: UseCase, target: EUI64 | str | None) -> EUI64:
    """The device the command is for: the RequestID target, or for image
    distribution (which names its devices in DeviceIDList) the one asked for."""
    try:
        wanted = None if target is None else EUI64.parse(target)
    except MessageError as exc:
        raise TranslationError("target is not an EUI-64", expected=exc.expected,
                               found=exc.found) from None
    if request.body.child("DeviceIDList") is None:
        if wanted is not None and wanted != request.target:
            raise TranslationError("target differs from the RequestID target",
                                   path="/sr:Request/sr:Header/sr:RequestID",
                                   expected=str(request.target), found=str(wanted))
        return request.target
    devices = _device_list(request)
    if wanted is None:
        if len(devices) == 1:
            return devices[0]
        raise TranslationError(f"{case.variant} names {len(devices)} devices: say which one "
                               f"the command is for", path=_path(request.body, "DeviceIDList"),
                               expected="a target device", found="none given")
    if wanted not in _members(_text(request.body, "DeviceIDList")):
        raise TranslationError("target is not in the request's DeviceIDList",
                               path=_path(request.body, "DeviceIDList"),
                               expected="one of " + ", ".join(map(str, devices)),
                               found=str(wanted))
    return wanted


def _checked(message: GbcsMessage) -> GbcsMessage:
    if type(message.payload) is ReadFirmwareVersion:
        return message  # it carries nothing of the request that could fail to fit
    try:
        codec.plain(message)
    except (GbcsEncodeError, WireEncodeError) as exc:
        raise TranslationError(f"the request does not fit a {type(message.payload).__name__} "
                               f"command: {exc.message}", path=exc.path,
                               expected=exc.expected, found=exc.found) from None
    return message


def _mismatch(what: str, expected: object, found: object) -> TranslationError:
    return TranslationError(f"the signed command's {what} does not match the request",
                            path="/sr:Request/sr:Body/sr:SignedPreCommand/sr:GBCSPayload",
                            expected=str(expected), found=str(found))


def _shown(value: object, case: UseCase) -> str:
    if isinstance(value, Kind):
        return value.name.lower()
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, int):
        return f"0x{value:04X}" + (f" ({case.code})" if value == case.message_code else "")
    return str(value)


def signed_command(request: Request, case: UseCase) -> GbcsMessage:
    """The command inside a SignedPreCommand: base64, read as real GBCS (the signature
    is not verified here), check it is signed and fits the request."""
    source = "SignedPreCommand/GBCSPayload"
    signed = from_base64(_text(request.body, "GBCSPayload"), source)
    try:
        message, signature = codec.signed_command(signed, source=source)
    except WireError as exc:
        raise TranslationError(f"the SignedPreCommand is not a GBCS command: {exc.message}",
                               path=_path(request.body, "GBCSPayload"),
                               expected=exc.expected, found=exc.found) from None
    if not signature:
        raise TranslationError("the SignedPreCommand carries no GBCS signature",
                               path=_path(request.body, "GBCSPayload"),
                               expected="the General Signing APDU with the user's 64-octet "
                                        "signature", found="no signature" if signature is None
                               else "an empty signature field")
    checks = (("kind", Kind.COMMAND, message.kind),
              ("message code", case.message_code, message.message_code),
              ("payload", case.command, type(message.payload)),
              ("originator", request.originator, message.originator),
              ("target", request.target, message.target))
    for what, expected, found in checks:
        if expected != found:
            raise _mismatch(what, _shown(expected, case), _shown(found, case))
    return message


_use_cases: dict[tuple[str, str], UseCase] = {}
_use_cases_of: list[Mapping] = []


def _use_case(variant: str, device_type: str) -> UseCase:
    """:func:`use_case_for`, remembered for the mapping it came from (a failed lookup
    is not remembered: it raises the same error each time)."""
    table = mapping()
    if not _use_cases_of or _use_cases_of[0] is not table:
        _use_cases.clear()
        _use_cases_of[:] = [table]
    key = (variant, device_type)
    try:
        return _use_cases[key]
    except KeyError:
        case = _use_cases[key] = use_case_for(variant, device_type)
        return case
    except TypeError:  # an unhashable device type: use_case_for says what is wrong
        return use_case_for(variant, device_type)


def command_for(request: Request, device_type: str, *, transaction: int | None = None,
                target: EUI64 | str | None = None) -> GbcsMessage:
    """The GBCS command for ``request`` sent to a device of ``device_type``.

    ``transaction`` defaults to the RequestID counter.  ``target`` names the
    device for 11.1 (whose RequestID targets the DCC and whose DeviceIDList
    names the devices; optional when the list has one device); elsewhere it
    must be the RequestID target if given.  A SignedPreCommand yields the
    command the user signed, as signed (``transaction`` and ``target`` do not
    apply).  Raises :class:`TranslationError` when there is no mapping.
    """
    variant = request.service_reference_variant
    case = _use_case(variant, device_type)
    if request.body_name == "SignedPreCommand":
        return signed_command(request, case)
    if request.body_name != case.request_body:
        raise TranslationError(f"a {variant} request must carry {case.request_body}",
                               path=_path(request.body), expected=f"sr:{case.request_body}",
                               found=f"sr:{request.body_name}")
    counter = request.counter if transaction is None else transaction
    if isinstance(counter, bool) or not isinstance(counter, int) \
            or not 0 <= counter <= MAX_COUNTER:
        raise TranslationError("transaction out of range", expected=f"0..{MAX_COUNTER}",
                               found=repr(counter))
    payload = BUILDERS[case.command](request.body)
    return _checked(GbcsMessage(Kind.COMMAND, request.originator,
                                _target(request, case, target), counter,
                                case.message_code, payload))


__all__ = ["BUILDERS", "command_for", "signed_command", "use_case_for"]
