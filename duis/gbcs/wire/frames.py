"""The two GBCS frames: General Signing (the grouping header) and General Ciphering.

**General Signing** carries every GBCS message (all integers big-endian)::

    DF                    general-signing tag
    09 CC NNNNNNNNNNNNNNNN  transaction id: 9 octets, the CRA flag (1 command, 2 response,
                            3 alert) then the 8-octet originator counter
    08 OOOOOOOOOOOOOOOO   originator system title (the originator's EUI-64)
    08 RRRRRRRRRRRRRRRR   recipient system title (the recipient's EUI-64)
    00 | 0C <12 octets>   date-time: empty, or a DLMS date-time (:class:`DlmsDateTime`)
    02 MMMM               other information: the message code (supplementary remote
                          party fields are longer, and not covered)
    <len> <content>       the payload, its length first (:mod:`.reader` lengths)
    [<len> <signature>]   optional: length 0, or 64 and the ECDSA signature ``r || s``

The signature covers the octets after the ``DF`` tag up to the end of the content.
A PreCommand as the DCC hands it out has no signature field at all; the user signs it
by appending ``40`` and the 64 octets.

**General Ciphering** wraps a General Signing APDU when the message carries a MAC::

    DD 00 00 00 00 00 00  general-ciphering tag; transaction id, originator and recipient
                          system titles, date-time and other information all empty; no key info
    <len>                 the length of what follows: 5 + the APDU + 12
    11 00000000           security header: control 0x11 (authenticated, not encrypted),
                          invocation counter 0
    <APDU>                the General Signing APDU
    <12 octets>           the MAC (:mod:`.crypto`)
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from ...messages.ids import EUI64
from .errors import UnexpectedValue, Unsupported, WireEncodeError
from .reader import Reader, length_octets

GENERAL_SIGNING = 0xDF
GENERAL_CIPHERING = 0xDD
SECURITY_CONTROL = 0x11
"""Security control octet of a MAC'd message: security suite 1, authentication only."""
MAC_BYTES = 12
SIGNATURE_BYTES = 64
SECURITY_HEADER = bytes((SECURITY_CONTROL,)) + bytes(4)
_CIPHERING_FIELDS = ("transaction id", "originator system title", "recipient system title",
                     "date-time", "other information", "key info")
_TITLE = b"\x08"
_TRANSACTION_ID = b"\x09"
_DATE_TIME_BYTES = 12
_MESSAGE_CODE_ONLY = 2


class Cra(IntEnum):
    """The CRA flag: what a message is."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3


def _octet(value: object, field: str, high: int = 0xFF) -> int:
    if type(value) is not int or not 0 <= value <= high:
        raise WireEncodeError(f"cannot encode {field}", path=field,
                              expected=f"an int from 0 to {high}", found=repr(value))
    return value


@dataclass(frozen=True)
class DlmsDateTime:
    """A DLMS date-time (12 octets), kept octet for octet: 0xFF in a field means "not
    specified", ``deviation`` 0x8000 likewise.

    Layout: year (2), month, day of month, day of week, hour, minute, second,
    hundredths, deviation (2, signed minutes), clock status.
    """

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    hundredths: int = 0
    day_of_week: int = 0xFF
    deviation: int = 0x8000
    clock_status: int = 0xFF

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> DlmsDateTime:
        """An aware datetime (in hundredths) as UTC, with day of week, deviation and clock
        status "not specified", as the reference messages write it."""
        try:
            v = value.astimezone(_dt.UTC) if isinstance(value, _dt.datetime) \
                and value.utcoffset() is not None and not value.microsecond % 10_000 else None
        except OverflowError:  # an offset that moves it outside years 1-9999
            v = None
        if v is None:
            raise WireEncodeError("cannot encode date-time", path="date-time",
                                  expected="an aware datetime in hundredths of a second",
                                  found=repr(value))
        return cls(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond // 10_000)

    def to_datetime(self) -> _dt.datetime | None:
        """The instant, in UTC, when every field is specified and the deviation is 0 or
        "not specified"; else None."""
        if self.deviation not in (0, 0x8000):
            return None
        try:
            return _dt.datetime(self.year, self.month, self.day, self.hour, self.minute,
                                self.second, self.hundredths * 10_000, tzinfo=_dt.UTC)
        except ValueError:
            return None

    def encode(self) -> bytes:
        """The 12 octets."""
        return (_octet(self.year, "date-time year", 0xFFFF).to_bytes(2, "big")
                + bytes(_octet(getattr(self, name), f"date-time {name}") for name in
                        ("month", "day", "day_of_week", "hour", "minute", "second",
                         "hundredths"))
                + _octet(self.deviation, "date-time deviation", 0xFFFF).to_bytes(2, "big")
                + bytes((_octet(self.clock_status, "date-time clock status"),)))

    @classmethod
    def decode(cls, reader: Reader) -> DlmsDateTime:
        raw = reader.take(_DATE_TIME_BYTES, "date-time")
        return cls(year=int.from_bytes(raw[0:2], "big"), month=raw[2], day=raw[3],
                   day_of_week=raw[4], hour=raw[5], minute=raw[6], second=raw[7],
                   hundredths=raw[8], deviation=int.from_bytes(raw[9:11], "big"),
                   clock_status=raw[11])


def _eui(value: object, field: str) -> bytes:
    if type(value) is EUI64:
        return value.raw
    raise WireEncodeError(f"cannot encode {field}", path=field, expected="an EUI64",
                          found=repr(value))


@dataclass(frozen=True)
class GroupingHeader:
    """The General Signing header: who sends what to whom."""

    cra: Cra
    originator_counter: int
    """Unsigned 64-bit; a response repeats its command's."""
    originator: EUI64
    """For a command the user (even though the DCC's Access Control Broker MACs it)."""
    recipient: EUI64
    message_code: int
    """The use case's GBCS message code, e.g. 0x0059 (ECS52), 0x00CA (the alert)."""
    date_time: DlmsDateTime | None = None
    """When the originator built the message: devices may fill it, commands leave it out."""

    def encode(self) -> bytes:
        """The header octets, from ``DF`` to the message code."""
        if not isinstance(self.cra, Cra):
            raise WireEncodeError("cannot encode CRA flag", path="CRA flag",
                                  expected="a Cra", found=repr(self.cra))
        if type(self.originator_counter) is not int \
                or not 0 <= self.originator_counter < 1 << 64:
            raise WireEncodeError("cannot encode originator counter", path="originator counter",
                                  expected="an int from 0 to 2**64 - 1",
                                  found=repr(self.originator_counter))
        if self.date_time is None:
            date_time = b"\x00"
        elif isinstance(self.date_time, DlmsDateTime):
            date_time = b"\x0c" + self.date_time.encode()
        else:
            raise WireEncodeError("cannot encode date-time", path="date-time",
                                  expected="a DlmsDateTime or None", found=repr(self.date_time))
        return b"".join((
            bytes((GENERAL_SIGNING,)), _TRANSACTION_ID, bytes((self.cra,)),
            self.originator_counter.to_bytes(8, "big"),
            _TITLE, _eui(self.originator, "originator system title"),
            _TITLE, _eui(self.recipient, "recipient system title"),
            date_time, b"\x02",
            _octet(self.message_code, "message code", 0xFFFF).to_bytes(2, "big")))


class SigningParts(NamedTuple):
    """A General Signing APDU taken apart (offsets count from the decoder's first byte)."""

    header: GroupingHeader
    message_code_at: int
    content: Reader
    """A reader over the payload octets (not yet read)."""
    signature: bytes | None
    signature_at: int
    signed: bytes
    """What the signature covers: the octets after ``DF`` up to the end of the content."""
    end: int


def _eui_at(reader: Reader, field: str) -> EUI64:
    reader.expect(_TITLE, f"{field} length")
    return EUI64.parse(reader.take(8, field).hex())


#: the usual header, from the tag to the message code, taken in one step: DF 09, the CRA
#: flag, the counter, 08 and the originator, 08 and the recipient, no date-time (00),
#: 02 and the message code
_USUAL_HEADER = struct.Struct(">BBBQB8sB8sBBH")
_USUAL = (GENERAL_SIGNING, 9, 8, 8, 0, _MESSAGE_CODE_ONLY)


def _usual_header(reader: Reader) -> tuple[GroupingHeader, int] | None:
    """The header and the message code's offset when it has the usual shape (anything
    else: None, and the field-by-field reading names what is wrong)."""
    start = reader.pos
    if reader.end - start < _USUAL_HEADER.size:
        return None
    tag, size, flag, counter, o_size, originator, r_size, recipient, date_time, other, \
        code = _USUAL_HEADER.unpack_from(reader.data, start)
    if (tag, size, o_size, r_size, date_time, other) != _USUAL or flag not in (1, 2, 3):
        return None
    reader.pos = start + _USUAL_HEADER.size
    return (GroupingHeader(Cra(flag), counter, _eui_of(originator), _eui_of(recipient), code),
            reader.pos - 2)


def _eui_of(raw: bytes) -> EUI64:
    return EUI64.parse(raw.hex())


def read_signing(reader: Reader) -> SigningParts:
    """Take a General Signing APDU from ``reader`` (to its end: nothing may follow)."""
    start = reader.pos
    usual = _usual_header(reader)
    if usual is not None:
        header, code_at = usual
        return _signing_rest(reader, start, header, code_at)
    reader.expect(bytes((GENERAL_SIGNING,)), "general-signing tag")
    reader.expect(_TRANSACTION_ID, "transaction id length")
    at = reader.pos
    flag = reader.u8("CRA flag")
    if flag not in (1, 2, 3):
        raise reader.error(UnexpectedValue, "unknown CRA flag", "CRA flag",
                           expected="1 (command), 2 (response) or 3 (alert)",
                           found=f"0x{flag:02X}", offset=at)
    counter = reader.uint(8, "originator counter")
    originator = _eui_at(reader, "originator system title")
    recipient = _eui_at(reader, "recipient system title")
    at = reader.pos
    size = reader.length("date-time length")
    if size not in (0, _DATE_TIME_BYTES):
        raise reader.error(UnexpectedValue, "date-time is neither empty nor a DLMS date-time",
                           "date-time length", expected="0 or 12", found=str(size), offset=at)
    date_time = DlmsDateTime.decode(reader) if size else None
    at = reader.pos
    size = reader.length("other information length")
    if size != _MESSAGE_CODE_ONLY:
        raise reader.error(Unsupported if size > _MESSAGE_CODE_ONLY else UnexpectedValue,
                           "other information other than a message code", "other information",
                           expected="length 2: the message code alone", found=f"length {size}",
                           offset=at)
    code_at = reader.pos
    code = reader.uint(2, "message code")
    header = GroupingHeader(Cra(flag), counter, originator, recipient, code, date_time)
    return _signing_rest(reader, start, header, code_at)


def _signing_rest(reader: Reader, start: int, header: GroupingHeader,
                  code_at: int) -> SigningParts:
    """The content and the signature field after the header."""
    size = reader.length("content length")
    content = reader.sub(size, "content")
    signed = reader.data[start + 1:reader.pos]
    signature: bytes | None = None
    signature_at = reader.pos
    if reader.left:
        size = reader.length("signature length")
        if size not in (0, SIGNATURE_BYTES):
            raise reader.error(UnexpectedValue, "a signature of the wrong size",
                               "signature length", expected=f"0 or {SIGNATURE_BYTES}",
                               found=str(size), offset=signature_at)
        signature = reader.take(size, "signature")
    reader.done("the general-signing APDU")
    return SigningParts(header, code_at, content, signature, signature_at, signed, reader.pos)


def encode_signing(header: GroupingHeader, content: bytes, signature: bytes | None) -> bytes:
    """A General Signing APDU: header, content, and the signature field as given (None:
    none at all; empty: length 0; else 64 octets)."""
    if signature is not None and len(signature) not in (0, SIGNATURE_BYTES):
        raise WireEncodeError("cannot encode signature", path="signature",
                              expected=f"None, empty or {SIGNATURE_BYTES} bytes",
                              found=f"{len(signature)} bytes")
    tail = b"" if signature is None else length_octets(len(signature)) + bytes(signature)
    return header.encode() + _length(len(content), "content") + content + tail


def _length(value: int, field: str) -> bytes:
    try:
        return length_octets(value)
    except ValueError:
        raise WireEncodeError(f"{field} is too long", path=field,
                              expected="at most 16 777 215 bytes", found=f"{value} bytes") from None


class CipheringParts(NamedTuple):
    """A General Ciphering frame taken apart."""

    apdu: Reader
    """A reader over the General Signing APDU inside."""
    apdu_bytes: bytes
    mac: bytes
    mac_at: int


def read_ciphering(reader: Reader) -> CipheringParts:
    """Take a General Ciphering frame from ``reader`` (to its end)."""
    reader.expect(bytes((GENERAL_CIPHERING,)), "general-ciphering tag")
    for name in _CIPHERING_FIELDS:
        at = reader.pos
        value = reader.u8(f"general-ciphering {name}")
        if value:
            raise reader.error(UnexpectedValue, f"general-ciphering {name} is not empty",
                               f"general-ciphering {name}", expected="0x00 (empty)",
                               found=f"0x{value:02X}", offset=at)
    size = reader.length("ciphered service length")
    body = reader.sub(size, "ciphered service")
    reader.done("the general-ciphering frame")
    at = body.pos
    control = body.u8("security control")
    if control != SECURITY_CONTROL:
        raise body.error(Unsupported if control & 0x20 else UnexpectedValue,
                         "a security control other than authentication only",
                         "security control", expected=f"0x{SECURITY_CONTROL:02X}",
                         found=f"0x{control:02X}", offset=at)
    body.expect(bytes(4), "invocation counter")
    if body.left < MAC_BYTES:
        raise body.error(UnexpectedValue, "no room for the MAC", "ciphered service length",
                         expected=f"at least {5 + MAC_BYTES} octets",
                         found=f"{size} octets", offset=at)
    apdu_at = body.pos
    apdu = body.sub(body.left - MAC_BYTES, "general-signing APDU")
    mac_at = body.pos
    mac = body.take(MAC_BYTES, "MAC")
    return CipheringParts(apdu, reader.data[apdu_at:mac_at], mac, mac_at)


def encode_ciphering(apdu: bytes, mac: bytes) -> bytes:
    """The General Ciphering frame around ``apdu`` with ``mac``."""
    body_length = len(SECURITY_HEADER) + len(apdu) + MAC_BYTES
    return (bytes((GENERAL_CIPHERING,)) + bytes(len(_CIPHERING_FIELDS))
            + _length(body_length, "ciphered service") + SECURITY_HEADER + apdu + mac)


__all__ = ["GENERAL_CIPHERING", "GENERAL_SIGNING", "MAC_BYTES", "SECURITY_CONTROL",
           "SIGNATURE_BYTES", "CipheringParts", "Cra", "DlmsDateTime", "GroupingHeader",
           "SigningParts", "encode_ciphering", "encode_signing", "read_ciphering",
           "read_signing"]
