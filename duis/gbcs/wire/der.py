"""The few ASN.1 DER types GBCS's own payloads use (CS06, CS08, the 0x00CA alert).

Each value is a tag octet, a length (:mod:`.reader`, shortest form) and the contents:

- ``0x02`` INTEGER: big-endian two's complement in the fewest octets; this codec
  carries only values 0 .. 2**64 - 1, so at most 9 octets.
- ``0x04`` OCTET STRING: the octets.
- ``0x05`` NULL: nothing (length 0).
- ``0x06`` OBJECT IDENTIFIER: written for certificates only.
- ``0x18`` GeneralizedTime: 15 ASCII characters ``YYYYMMDDHHMMSSZ``: UTC, whole seconds.
- ``0x30`` SEQUENCE: the encodings of its members, in order.

Only DER is accepted: an INTEGER with a superfluous leading octet, a negative one, a
time with fractions or a zone offset, a length in a long form are refused.  Whatever
decodes therefore encodes back to the same octets.
"""

from __future__ import annotations

import datetime as _dt
import re

from .errors import UnexpectedValue, Unsupported, WireEncodeError
from .reader import Reader, length_octets

INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30

_TAG_NAMES = {INTEGER: "INTEGER", OCTET_STRING: "OCTET STRING", NULL: "NULL",
              OBJECT_IDENTIFIER: "OBJECT IDENTIFIER", GENERALIZED_TIME: "GeneralizedTime",
              SEQUENCE: "SEQUENCE"}
#: an unsigned 64-bit value needs at most 9 octets in DER (a leading 0x00 when the top bit is set)
_MAX_INTEGER_OCTETS = 9
_TIME = re.compile(rb"[0-9]{14}Z")


def tlv(tag: int, contents: bytes) -> bytes:
    """Tag, shortest length, contents."""
    return bytes((tag,)) + length_octets(len(contents)) + contents


def read_tlv(reader: Reader, tag: int, field: str) -> Reader:
    """A reader over the contents of the next value, which must carry ``tag``."""
    at = reader.pos
    found = reader.u8(field)
    if found != tag:
        raise reader.error(UnexpectedValue, f"{field} is not an ASN.1 {_TAG_NAMES[tag]}",
                           field, expected=f"tag 0x{tag:02X} ({_TAG_NAMES[tag]})",
                           found=f"tag 0x{found:02X}", offset=at)
    size = reader.length(f"{field} length")
    return reader.sub(size, field)


def peek_tag(reader: Reader) -> int | None:
    """The next tag octet, or None at the end."""
    return reader.data[reader.pos] if reader.pos < reader.end else None


# --- INTEGER ------------------------------------------------------------------

def encode_integer(value: int, field: str) -> bytes:
    """DER INTEGER of ``value`` (0 .. 2**64 - 1)."""
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise WireEncodeError(f"cannot encode {field}", path=field,
                              expected="an int from 0 to 2**64 - 1", found=repr(value))
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def decode_integer(reader: Reader, field: str) -> int:
    """A non-negative DER INTEGER below 2**64."""
    body = read_tlv(reader, INTEGER, field)
    at = body.pos
    octets = body.take(body.left, field)
    if not octets:
        raise reader.error(UnexpectedValue, f"{field} is an empty INTEGER", field,
                           expected="at least one octet", found="none", offset=at)
    if len(octets) > 1 and (octets[0] == 0 and octets[1] < 0x80
                            or octets[0] == 0xFF and octets[1] >= 0x80):
        raise reader.error(UnexpectedValue, f"{field} is not in DER (a superfluous octet)",
                           field, expected="the fewest octets",
                           found=octets.hex(" ").upper(), offset=at)
    if octets[0] >= 0x80:
        raise reader.error(Unsupported, f"{field} is negative", field,
                           expected="a value from 0", found=octets.hex(" ").upper(), offset=at)
    if len(octets) > _MAX_INTEGER_OCTETS:
        raise reader.error(Unsupported, f"{field} is above 2**64 - 1", field,
                           expected=f"at most {_MAX_INTEGER_OCTETS} octets",
                           found=f"{len(octets)} octets", offset=at)
    value = int.from_bytes(octets, "big")
    if value >= 1 << 64:
        raise reader.error(Unsupported, f"{field} is above 2**64 - 1", field,
                           expected="a value below 2**64", found=str(value), offset=at)
    return value


# --- OCTET STRING, NULL ---------------------------------------------------------

def encode_octets(value: bytes, field: str, *, size: int | None = None,
                  most: int = 0xFFFF) -> bytes:
    """DER OCTET STRING (exactly ``size`` octets when given, else 0 .. ``most``)."""
    if not isinstance(value, bytes | bytearray) or (
            len(value) != size if size is not None else len(value) > most):
        raise WireEncodeError(f"cannot encode {field}", path=field,
                              expected=f"{size} bytes" if size is not None
                              else f"bytes, at most {most}",
                              found=f"{len(value)} bytes" if isinstance(value, bytes | bytearray)
                              else repr(value))
    return tlv(OCTET_STRING, bytes(value))


def decode_octets(reader: Reader, field: str, *, size: int | None = None) -> bytes:
    """A DER OCTET STRING (exactly ``size`` octets when given)."""
    body = read_tlv(reader, OCTET_STRING, field)
    if size is not None and body.left != size:
        raise reader.error(UnexpectedValue, f"{field} has the wrong size", field,
                           expected=f"{size} octets", found=f"{body.left} octets",
                           offset=body.pos)
    return body.take(body.left, field)


NULL_ENCODING = tlv(NULL, b"")


def decode_null(reader: Reader, field: str) -> None:
    """A DER NULL (``05 00``)."""
    body = read_tlv(reader, NULL, field)
    body.done(field)


# --- OBJECT IDENTIFIER (certificates only) ---------------------------------------

def encode_oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER of ``1.2.826...``: the first two arcs in one octet group,
    then each arc in base 128, high bit set on all but its last octet."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        group = [arc & 0x7F]
        arc >>= 7
        while arc:
            group.append(0x80 | arc & 0x7F)
            arc >>= 7
        body += bytes(reversed(group))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


# --- GeneralizedTime --------------------------------------------------------------

def _utc(value: object) -> _dt.datetime | None:
    """``value`` in UTC when it is an aware datetime in whole seconds, else None."""
    if not isinstance(value, _dt.datetime) or value.utcoffset() is None or value.microsecond:
        return None
    try:
        return value.astimezone(_dt.UTC)
    except OverflowError:  # an offset that moves it outside years 1-9999
        return None


def encode_time(value: _dt.datetime, field: str) -> bytes:
    """DER GeneralizedTime of an aware datetime in whole seconds (written in UTC)."""
    v = _utc(value)
    if v is None:
        raise WireEncodeError(f"cannot encode {field}", path=field,
                              expected="an aware datetime in whole seconds", found=repr(value))
    text = f"{v.year:04d}{v.month:02d}{v.day:02d}{v.hour:02d}{v.minute:02d}{v.second:02d}Z"
    return tlv(GENERALIZED_TIME, text.encode("ascii"))


def decode_time(reader: Reader, field: str) -> _dt.datetime:
    """A DER GeneralizedTime ``YYYYMMDDHHMMSSZ`` as an aware UTC datetime."""
    body = read_tlv(reader, GENERALIZED_TIME, field)
    at = body.pos
    text = body.take(body.left, field)
    if not _TIME.fullmatch(text):
        raise reader.error(UnexpectedValue, f"{field} is not a DER GeneralizedTime", field,
                           expected="YYYYMMDDHHMMSSZ (UTC, whole seconds)",
                           found=repr(text[:40]), offset=at)
    digits = text.decode("ascii")
    try:
        return _dt.datetime(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]),
                            int(digits[8:10]), int(digits[10:12]), int(digits[12:14]),
                            tzinfo=_dt.UTC)
    except ValueError:
        raise reader.error(UnexpectedValue, f"{field} is not a date and time", field,
                           expected="a valid date and time", found=digits, offset=at) from None


__all__ = ["GENERALIZED_TIME", "INTEGER", "NULL", "NULL_ENCODING", "OBJECT_IDENTIFIER",
           "OCTET_STRING", "SEQUENCE", "decode_integer", "decode_null", "decode_octets",
           "decode_time", "encode_integer", "encode_octets", "encode_oid", "encode_time",
           "peek_tag", "read_tlv", "tlv"]
