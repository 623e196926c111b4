"""GBCS's own ASN.1 payloads for firmware: CS06 Activate Firmware, its future-dated
outcome alert (message code 0x00CA) and CS08 Read PPMID/HCALCS Firmware Version.

In DER (:mod:`.der`)::

    CS06 command    SEQUENCE { OCTET STRING (32) manufacturer image hash,
                               INTEGER originator counter (the command's own),
                               GeneralizedTime execution date-time OPTIONAL }
    CS06 response   NULL                          a future-dated command accepted
                  | SEQUENCE { INTEGER response code, OCTET STRING firmware version }
    0x00CA alert    SEQUENCE { INTEGER alert code (0x8F66 success, 0x8F67 failure),
                               GeneralizedTime execution date-time,
                               INTEGER originator counter of the command it reports on,
                               SEQUENCE { INTEGER response code, OCTET STRING firmware version } }
    CS08 command    NULL
    CS08 response   SEQUENCE { OCTET STRING firmware version, INTEGER response code }

CS06 response codes: 0 success, 1 no image held, 2 hash mismatch, 3 activation failure.
CS08 response codes: 0 read success, 1 read failure.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from .der import (
    NULL,
    NULL_ENCODING,
    SEQUENCE,
    decode_integer,
    decode_null,
    decode_octets,
    decode_time,
    encode_integer,
    encode_octets,
    encode_time,
    peek_tag,
    read_tlv,
    tlv,
)
from .errors import UnexpectedValue, WireEncodeError
from .reader import Reader

IMAGE_HASH_BYTES = 32
#: the most octets a firmware version may have here (GBCS versions are a few octets)
MAX_FIRMWARE_VERSION_BYTES = 0xFF
ALERT_ACTIVATION_SUCCEEDED = 0x8F66
ALERT_ACTIVATION_FAILED = 0x8F67
#: CS06 response codes and their names (the MMC's ASN1Status spelling)
ACTIVATION_RESPONSE_CODES: dict[int, str] = {
    0: "success", 1: "noImageHeld", 2: "hashMismatch", 3: "activationFailure"}
#: CS08 response codes
READ_RESPONSE_CODES: dict[int, str] = {0: "readSuccess", 1: "readFailure"}


def _code(value: int, codes: dict[int, str], field: str) -> bytes:
    if type(value) is not int or value not in codes:
        raise WireEncodeError(f"cannot encode {field}", path=field,
                              expected=" or ".join(f"{c} ({n})" for c, n in codes.items()),
                              found=repr(value))
    return encode_integer(value, field)


def _read_code(reader: Reader, codes: dict[int, str], field: str) -> int:
    at = reader.pos
    value = decode_integer(reader, field)
    if value not in codes:
        raise reader.error(UnexpectedValue, f"unknown {field}", field,
                           expected=" or ".join(f"{c} ({n})" for c, n in codes.items()),
                           found=str(value), offset=at)
    return value


def _version(value: bytes) -> bytes:
    return encode_octets(value, "firmware version", most=MAX_FIRMWARE_VERSION_BYTES)


def _read_version(reader: Reader) -> bytes:
    at = reader.pos
    value = decode_octets(reader, "firmware version")
    if len(value) > MAX_FIRMWARE_VERSION_BYTES:
        raise reader.error(UnexpectedValue, "a firmware version too long", "firmware version",
                           expected=f"at most {MAX_FIRMWARE_VERSION_BYTES} octets",
                           found=f"{len(value)} octets", offset=at)
    return value


@dataclass(frozen=True)
class ActivateFirmwareCommand:
    """CS06 command (critical: signed by the user): activate the image whose
    manufacturer hash is ``image_hash``, now or at ``execution``."""

    image_hash: bytes
    originator_counter: int
    """The command's own originator counter, repeated inside the signed payload."""
    execution: _dt.datetime | None = None

    def encode(self) -> bytes:
        parts = encode_octets(self.image_hash, "manufacturer image hash", size=IMAGE_HASH_BYTES) \
            + encode_integer(self.originator_counter, "originator counter")
        if self.execution is not None:
            parts += encode_time(self.execution, "execution date-time")
        return tlv(SEQUENCE, parts)

    @classmethod
    def decode(cls, reader: Reader) -> ActivateFirmwareCommand:
        body = read_tlv(reader, SEQUENCE, "activate firmware command")
        image_hash = decode_octets(body, "manufacturer image hash", size=IMAGE_HASH_BYTES)
        counter = decode_integer(body, "originator counter")
        execution = decode_time(body, "execution date-time") if body.left else None
        body.done("the activate firmware command")
        return cls(image_hash, counter, execution)


@dataclass(frozen=True)
class ActivationAccepted:
    """CS06 response to a future-dated command: accepted, to be executed later (NULL)."""

    def encode(self) -> bytes:
        return NULL_ENCODING

    @classmethod
    def decode(cls, reader: Reader) -> ActivationAccepted:
        decode_null(reader, "command accepted")
        return cls()


@dataclass(frozen=True)
class ActivationOutcome:
    """CS06 execution outcome: the response code (:data:`ACTIVATION_RESPONSE_CODES`) and
    the firmware version running afterwards."""

    response_code: int
    firmware_version: bytes

    @property
    def status(self) -> str:
        """The response code's name: ``success``, ``noImageHeld``, ..."""
        return ACTIVATION_RESPONSE_CODES[self.response_code]

    def encode(self) -> bytes:
        return tlv(SEQUENCE, _code(self.response_code, ACTIVATION_RESPONSE_CODES,
                                   "response code") + _version(self.firmware_version))

    @classmethod
    def decode(cls, reader: Reader) -> ActivationOutcome:
        body = read_tlv(reader, SEQUENCE, "execution outcome")
        code = _read_code(body, ACTIVATION_RESPONSE_CODES, "response code")
        version = _read_version(body)
        body.done("the execution outcome")
        return cls(code, version)


ActivationResponse = ActivationAccepted | ActivationOutcome


def decode_activation_response(reader: Reader) -> ActivationResponse:
    """A CS06 response: NULL (accepted) or the execution outcome."""
    if peek_tag(reader) == NULL:
        return ActivationAccepted.decode(reader)
    return ActivationOutcome.decode(reader)


def alert_code_for(outcome: ActivationOutcome) -> int:
    """0x8F66 for a successful activation, 0x8F67 for any failure."""
    return ALERT_ACTIVATION_SUCCEEDED if outcome.response_code == 0 else ALERT_ACTIVATION_FAILED


@dataclass(frozen=True)
class ActivationAlert:
    """The future-dated firmware activation alert (message code 0x00CA): what became of
    the CS06 command with originator counter ``originator_counter``.  ``alert_code`` is
    0x8F66 when the outcome is a success, 0x8F67 otherwise."""

    alert_code: int
    execution: _dt.datetime
    originator_counter: int
    outcome: ActivationOutcome

    def encode(self) -> bytes:
        if not isinstance(self.outcome, ActivationOutcome):
            raise WireEncodeError("cannot encode execution outcome", path="execution outcome",
                                  expected="an ActivationOutcome", found=repr(self.outcome))
        if self.alert_code != alert_code_for(self.outcome):
            raise WireEncodeError("cannot encode alert code", path="alert code",
                                  expected=f"0x{alert_code_for(self.outcome):04X} for response "
                                  f"code {self.outcome.response_code}",
                                  found=repr(self.alert_code))
        return tlv(SEQUENCE, encode_integer(self.alert_code, "alert code")
                   + encode_time(self.execution, "execution date-time")
                   + encode_integer(self.originator_counter, "originator counter")
                   + self.outcome.encode())

    @classmethod
    def decode(cls, reader: Reader) -> ActivationAlert:
        body = read_tlv(reader, SEQUENCE, "activate firmware alert")
        at = body.pos
        alert_code = decode_integer(body, "alert code")
        execution = decode_time(body, "execution date-time")
        counter = decode_integer(body, "originator counter")
        outcome = ActivationOutcome.decode(body)
        body.done("the activate firmware alert")
        if alert_code != alert_code_for(outcome):
            raise reader.error(UnexpectedValue, "an alert code that disagrees with the outcome",
                               "alert code", expected=f"0x{alert_code_for(outcome):04X} for "
                               f"response code {outcome.response_code}",
                               found=f"0x{alert_code:X}", offset=at)
        return cls(alert_code, execution, counter, outcome)


@dataclass(frozen=True)
class ReadFirmwareVersionCommand:
    """CS08 command: read a PPMID's or HCALCS's firmware version (NULL)."""

    def encode(self) -> bytes:
        return NULL_ENCODING

    @classmethod
    def decode(cls, reader: Reader) -> ReadFirmwareVersionCommand:
        decode_null(reader, "read firmware version command")
        return cls()


@dataclass(frozen=True)
class FirmwareVersionReport:
    """CS08 response: the firmware version and the response code
    (:data:`READ_RESPONSE_CODES`)."""

    firmware_version: bytes
    response_code: int = 0

    def encode(self) -> bytes:
        return tlv(SEQUENCE, _version(self.firmware_version)
                   + _code(self.response_code, READ_RESPONSE_CODES, "response code"))

    @classmethod
    def decode(cls, reader: Reader) -> FirmwareVersionReport:
        body = read_tlv(reader, SEQUENCE, "read firmware version response")
        version = _read_version(body)
        code = _read_code(body, READ_RESPONSE_CODES, "response code")
        body.done("the read firmware version response")
        return cls(version, code)


__all__ = ["ACTIVATION_RESPONSE_CODES", "ALERT_ACTIVATION_FAILED", "ALERT_ACTIVATION_SUCCEEDED",
           "IMAGE_HASH_BYTES", "READ_RESPONSE_CODES", "ActivateFirmwareCommand",
           "ActivationAccepted", "ActivationAlert", "ActivationOutcome", "ActivationResponse",
           "FirmwareVersionReport", "ReadFirmwareVersionCommand", "alert_code_for",
           "decode_activation_response"]
