"""The one codec of device messages: :class:`~.model.GbcsMessage` <-> the bytes on the wire.

Where GBCS defines the use case (ECS52 0x0059, GCS38 0x0084, CS08 0x0129, CS06 0x0012
and the future-dated activation alert 0x00CA: :mod:`.wire.usecases`), the bytes are
real GBCS, built by :mod:`duis.gbcs.wire`: the General Signing grouping header, the
payload, the signature field and, when the message is MAC'd, General Ciphering with
the GBCS MAC.  What the project emulates beyond them (11.1 image distribution, 2.2
top-up, 6.23 credentials, the comms hub's power outage alert) keeps the project's own
layout, :mod:`.own` (first octet ``0xD1``; ``docs/gbcs.md``).

- :func:`encode` protects a message as GBCS requires between the DCC and the device:
  a command MAC'd by the Access Control Broker (a CS06 also signed by its user), a
  non-critical response MAC'd by the device, a critical response or an alert signed by
  the device.  The keys come from a :class:`~.wire.crypto.KeyRing` (one per DSP or
  world: :func:`duis.gbcs.keys.world_keys`), which caches each pair's MAC key.
- :func:`precommand`: a CS06 command as the DCC hands it to the user to sign (CV 4):
  the General Signing APDU with no signature field and no MAC.
- :func:`decode` checks the MAC and the signature (those the use case requires) and
  gives the model back; :func:`read` gives the model without checking anything (MMC
  output, summaries: never for deciding).
- :func:`to_wire` / :func:`from_wire`: the model and :class:`~.wire.codec.Message`.
"""

from __future__ import annotations

from . import own
from .keys import WorldKeys
from .model import (
    STATUSES,
    ActivateFirmware,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
    Payload,
    ReadFirmwareVersion,
)
from .own import GbcsDecodeError, GbcsEncodeError, from_base64, to_base64
from .wire import codec as wire
from .wire import usecases
from .wire.crypto import DIGITAL_SIGNING, KeyRing
from .wire.dlms import DlmsGetRequest, DlmsGetResponse
from .wire.errors import UnexpectedValue, WireEncodeError, WireError
from .wire.firmware import (
    ACTIVATION_RESPONSE_CODES,
    ActivateFirmwareCommand,
    ActivationAccepted,
    ActivationAlert,
    ActivationOutcome,
    ReadFirmwareVersionCommand,
    alert_code_for,
)
from .wire.firmware import FirmwareVersionReport as WireVersionReport
from .wire.frames import Cra
from .wire.usecases import Protection
from .wire.zigbee import GbzPayload, ReadAttributesResponse

#: the message codes real GBCS carries (every other code: the project's own layout)
REAL_MESSAGE_CODES = frozenset(case.message_code for case in usecases.USE_CASES)
_CRA = {Kind.COMMAND: Cra.COMMAND, Kind.RESPONSE: Cra.RESPONSE, Kind.ALERT: Cra.ALERT}
_KIND = {cra: kind for kind, cra in _CRA.items()}
_OUTCOME_CODES = {name: code for code, name in ACTIVATION_RESPONSE_CODES.items()}
_NO_VERSION = b""
"""A CS06 outcome without a firmware version (a SMETS1 retry, the project's rule):
an empty firmware version octet string."""


def is_real(message: GbcsMessage) -> bool:
    """Whether ``message`` travels as real GBCS (else: the project's own layout)."""
    return message.message_code in REAL_MESSAGE_CODES


# --- the model -> real GBCS ------------------------------------------------------

def _version_octets(version: str | None, field: str) -> bytes:
    if version is None:
        return _NO_VERSION
    if not isinstance(version, str) or not version.isascii() or not version.isprintable() \
            or not version:
        raise WireEncodeError(f"cannot encode {field}", path=field,
                              expected="a firmware version of printable ASCII characters",
                              found=repr(version))
    return version.encode("ascii")


def _outcome(status: str, version: str | None) -> ActivationOutcome:
    code = _OUTCOME_CODES.get(status)
    if code is None:
        raise WireEncodeError("cannot encode the activation status", path="status",
                              expected=" or ".join(_OUTCOME_CODES), found=repr(status))
    return ActivationOutcome(code, _version_octets(version, "firmware version"))


def _unfit(message: GbcsMessage) -> WireEncodeError:
    case = usecases.use_case(message.message_code)
    return WireEncodeError("cannot encode the payload", path="payload",
                           expected=f"a payload {case.name} carries as a "
                           f"{message.kind.name.lower()}" if case else "a covered use case",
                           found=type(message.payload).__name__)


def to_wire(message: GbcsMessage) -> wire.Message:
    """The real GBCS message (header and payload, no signature field, no MAC) of
    ``message``, whose message code must be one real GBCS carries."""
    if not isinstance(message, GbcsMessage):
        raise WireEncodeError("cannot encode", expected="a GbcsMessage", found=repr(message))
    code, payload, kind = message.message_code, message.payload, message.kind
    user_side = (message.originator, message.target, message.transaction)
    header: object
    built: object
    if kind is Kind.COMMAND and isinstance(payload, ReadFirmwareVersion):
        builder = {usecases.ECS52: usecases.ecs52_command, usecases.GCS38: usecases.gcs38_command,
                   usecases.CS08: usecases.cs08_command}.get(code)
        if builder is None:
            raise _unfit(message)
        header, built = builder(*user_side)
    elif kind is Kind.RESPONSE and isinstance(payload, FirmwareVersionReport):
        version = _version_octets(payload.firmware_version, "firmware version")
        responder = {usecases.ECS52: usecases.ecs52_response,
                     usecases.GCS38: usecases.gcs38_response,
                     usecases.CS08: usecases.cs08_response}.get(code)
        if responder is None:
            raise _unfit(message)
        header, built = responder(*user_side, version)
    elif kind is Kind.COMMAND and isinstance(payload, ActivateFirmware) and code == usecases.CS06:
        header, built = usecases.cs06_command(*user_side, payload.firmware_hash, payload.execution)
    elif kind is Kind.RESPONSE and isinstance(payload, ActivationResult) \
            and code == usecases.CS06:
        outcome = None if payload.status is None \
            else _outcome(payload.status, payload.firmware_version)
        header, built = usecases.cs06_response(*user_side, outcome)
    elif kind is Kind.ALERT and isinstance(payload, FirmwareActivationAlert) \
            and code == usecases.FUTURE_DATED_ACTIVATION_ALERT:
        header, built = usecases.activation_alert(
            *user_side, payload.command_counter, payload.execution,
            _outcome(payload.status, payload.firmware_version))
    else:
        raise _unfit(message)
    return wire.Message(header, built)  # type: ignore[arg-type]


# --- real GBCS -> the model ------------------------------------------------------

def _text(version: bytes, source: str, field: str = "firmware version") -> str:
    try:
        text = version.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text or not text.isprintable():
        raise UnexpectedValue(f"a {field} that is not printable ASCII", offset=0, field=field,
                              source=source, expected="printable ASCII octets",
                              found=version.hex(" ").upper() or "no octets")
    return text


def _refused(source: str, what: str, found: str) -> WireError:
    return UnexpectedValue(f"a payload the emulation does not carry: {what}", offset=0,
                           field="payload", source=source,
                           expected="a successful firmware version read", found=found)


def _payload(message: wire.Message, source: str) -> Payload:
    payload = message.payload
    if isinstance(payload, (DlmsGetRequest, ReadFirmwareVersionCommand)):
        return ReadFirmwareVersion()
    if isinstance(payload, GbzPayload):
        command = payload.components[0].command if len(payload.components) == 1 else None
        if message.header.cra == Cra.COMMAND:
            return ReadFirmwareVersion()
        records = command.records if isinstance(command, ReadAttributesResponse) else ()
        if len(records) != 1 or records[0].status or records[0].value is None:
            raise _refused(source, "GCS38 response", "a failed or multiple read")
        return FirmwareVersionReport(_text(records[0].value, source))
    if isinstance(payload, DlmsGetResponse):
        results = payload.results
        if len(results) != 1 or results[0].result or results[0].data is None:
            raise _refused(source, "ECS52 response", "a failed or multiple read")
        return FirmwareVersionReport(_text(results[0].data, source))
    if isinstance(payload, WireVersionReport):
        if payload.response_code:
            raise _refused(source, "CS08 response", "a read failure")
        return FirmwareVersionReport(_text(payload.firmware_version, source))
    if isinstance(payload, ActivateFirmwareCommand):
        if payload.originator_counter != message.header.originator_counter:
            raise UnexpectedValue("a CS06 command whose counter differs from its header's",
                                  offset=0, field="originator counter", source=source,
                                  expected=str(message.header.originator_counter),
                                  found=str(payload.originator_counter))
        return ActivateFirmware(payload.image_hash, payload.execution)
    if isinstance(payload, ActivationAccepted):
        return ActivationResult(None, None)
    if isinstance(payload, ActivationOutcome):
        return ActivationResult(payload.status, _optional_text(payload.firmware_version, source))
    if isinstance(payload, ActivationAlert):
        outcome = payload.outcome
        return FirmwareActivationAlert(outcome.status,
                                       _optional_text(outcome.firmware_version, source),
                                       payload.execution, payload.originator_counter)
    raise _refused(source, type(payload).__name__, type(payload).__name__)


def _optional_text(version: bytes, source: str) -> str | None:
    return None if version == _NO_VERSION else _text(version, source)


def from_wire(message: wire.Message, source: str = "<gbcs>") -> GbcsMessage:
    """The model of a decoded real GBCS message."""
    header = message.header
    return GbcsMessage(_KIND[header.cra], header.originator, header.recipient,
                       header.originator_counter, header.message_code,
                       _payload(message, source))


# --- the entry points ------------------------------------------------------------

def _signing_key(keys: KeyRing, message: GbcsMessage):
    key = keys.private_key(message.originator, DIGITAL_SIGNING)
    if key is None:
        raise WireEncodeError("cannot sign the message", path="signature",
                              expected=f"the digital-signing private key of {message.originator}",
                              found="none in the key ring")
    return key


#: (message code, kind) -> what GBCS requires of it: whether signed, whether MAC'd
_REQUIRED: dict[tuple[int, Kind], tuple[Protection, bool, bool]] = {}
for _case in usecases.USE_CASES:
    for _kind, _cra in _CRA.items():
        _spec = usecases.payload_spec(_case.message_code, _cra)
        if _spec is not None:
            _REQUIRED[_case.message_code, _kind] = (
                _spec.protection, Protection.SIGNATURE in _spec.protection,
                Protection.MAC in _spec.protection)


def protection(message: GbcsMessage) -> Protection:
    """What GBCS requires of ``message`` between the DCC and the device (nothing for the
    project's own layout)."""
    found = _REQUIRED.get((message.message_code, message.kind))
    return Protection.NONE if found is None else found[0]


def encode(message: GbcsMessage, keys: KeyRing) -> bytes:
    """The bytes of ``message`` as they travel between the DCC and the device: real GBCS,
    MAC'd and signed as its use case requires (:func:`protection`), or the project's own
    layout.  Deterministic: the same message and keys give the same bytes."""
    if not isinstance(message, GbcsMessage) or not is_real(message):
        return own.encode(message)
    real = to_wire(message)
    required = _REQUIRED.get((message.message_code, message.kind))
    signed, macd = (required[1], required[2]) if required is not None else (False, False)
    if signed:
        real = wire.sign(real, _signing_key(keys, message))
    if macd:
        real = wire.Message(real.header, real.payload, real.signature if signed else b"",
                            mac=True)
    data = wire.encode(real, keys)
    if isinstance(keys, WorldKeys):
        keys.remember(data, message)
    return data


def plain(message: GbcsMessage) -> bytes:
    """``message`` without protection: the General Signing APDU with no signature field
    and no MAC (real GBCS), or the project's own layout.  Raises the encoding error of a
    message neither can carry."""
    if not isinstance(message, GbcsMessage) or not is_real(message):
        return own.encode(message)
    return wire.apdu(to_wire(message))


def precommand(message: GbcsMessage) -> bytes:
    """A critical command as the DCC hands it to its user to sign (CV 4): the General
    Signing APDU with no signature field, no MAC."""
    if not is_real(message) or Protection.SIGNATURE not in protection(message):
        raise WireEncodeError("not a critical command", path="message code",
                              expected="a command GBCS has its user sign (CS06)",
                              found=f"0x{message.message_code:04X}")
    return wire.apdu(to_wire(message))


def is_critical(message: GbcsMessage) -> bool:
    """Whether its user signs ``message`` (a critical command: CS06)."""
    return message.kind is Kind.COMMAND and Protection.SIGNATURE in protection(message)


def signed_command(data: bytes, *, source: str = "<gbcs>") -> tuple[GbcsMessage, bytes | None]:
    """A SignedPreCommand's command and its signature field, **unchecked** (the DSP
    checks the signature against the user's certificate and the command against the
    PreCommand it issued: :mod:`duis.dsp.critical`)."""
    real = wire.inspect(bytes(data), source=source)
    return from_wire(real, source), real.signature


def decode(data: bytes, keys: KeyRing, *, require: Protection | None = None,
           source: str = "<gbcs>") -> GbcsMessage:
    """The message ``data`` holds, its MAC and signature verified with ``keys`` (and
    required as its use case requires, unless ``require`` says otherwise); the
    project's own layout needs neither.  Raises :class:`WireError` or
    :class:`GbcsDecodeError`.  Bytes a world's ring (:class:`~.keys.WorldKeys`) has just
    encoded give their message back without being parsed again
    (:meth:`~.keys.WorldKeys.recall`)."""
    data = bytes(data)
    if data[:1] == bytes((own.MAGIC,)):
        return own.decode(data, source)
    if require is None and isinstance(keys, WorldKeys):
        sent = keys.recall(data)
        if isinstance(sent, GbcsMessage):
            return sent
    return from_wire(wire.decode(data, keys, require=require, source=source), source)


def read(data: bytes, *, source: str = "<gbcs>") -> GbcsMessage:
    """The message ``data`` holds, **unchecked** (no MAC or signature verified): for
    showing a message (MMC output, summaries), never for deciding."""
    data = bytes(data)
    if data[:1] == bytes((own.MAGIC,)):
        return own.decode(data, source)
    return from_wire(wire.inspect(data, source=source), source)


__all__ = ["REAL_MESSAGE_CODES", "STATUSES", "GbcsDecodeError", "GbcsEncodeError", "WireError",
           "alert_code_for", "decode", "encode", "from_base64", "from_wire", "is_critical",
           "is_real", "plain", "precommand", "protection", "read", "signed_command", "to_base64",
           "to_wire"]
