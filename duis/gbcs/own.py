"""The project's own layout, for the messages real GBCS gives no form to.

**Not GBCS.**  Real GBCS (:mod:`duis.gbcs.wire`, through :mod:`duis.gbcs.codec`)
carries every use case GBCS defines that duis emulates (ECS52, GCS38, CS08,
CS06, the 0x00CA alert).  What the project emulates beyond them -- 11.1 image
distribution and its answer, 2.2 top-up, 6.23 credentials, their outcome, and
the comms hub's power outage alert -- keeps this layout, marked by its first
octet ``0xD1`` (``docs/gbcs.md``): a 32-byte header (magic/version, kind,
originator, target, transaction, message code, payload length) and a payload
made of a type tag and fixed-order fields.

Decoding is strict and total: any byte string either becomes a valid
:class:`GbcsMessage` or raises :class:`GbcsDecodeError` naming the offset, the
field, what was expected and what was found.  Trailing bytes are refused.

Encoding is deterministic and checks the same rules, raising
:class:`GbcsEncodeError` for a message the layout cannot carry.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import re
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from typing import Any

from ..errors import DuisError, MessageError
from ..messages.ids import EUI64, MAX_COUNTER
from .model import (
    STATUSES,
    CommandOutcome,
    DistributeImage,
    GbcsMessage,
    ImageDistributionResult,
    Kind,
    Payload,
    PowerOutageAlert,
    TopUp,
    UpdateSecurityCredentials,
)

#: first octet of every message: this layout, version 1
MAGIC = 0xD1
HEADER_BYTES = 32
HASH_BYTES = 32
MAX_IMAGE_BYTES = 10_240_000
"""The DUIS cap on a firmware image (FirmwareImageData), once base64-decoded."""
MAX_CERTIFICATE_BYTES = 0xFFFF
STATUS_NAMES: dict[int, str] = {code: name for name, code in STATUSES.items()}

_UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_SECOND = _dt.timedelta(seconds=1)
_MAX_SECONDS = (_dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=_UTC) - _EPOCH) // _SECOND
_UTRN = re.compile(r"[0-9]{20}", re.ASCII)
_KINDS: dict[int, Kind] = {kind.value: kind for kind in Kind}


class GbcsDecodeError(DuisError):
    """Bytes that are not a message of this layout.  ``offset`` is where the
    offending field starts; ``path`` names it (``byte 28 (payload length)``)."""

    exit_code = 1

    def __init__(self, message: str, *, offset: int, field: str, **kw: Any) -> None:
        self.offset = offset
        self.field = field
        super().__init__(message, path=f"byte {offset} ({field})", **kw)


class GbcsEncodeError(DuisError):
    """A :class:`GbcsMessage` the layout cannot carry (a 9-character firmware
    version, a 31-byte hash, a naive datetime, ...)."""

    exit_code = 1


# --- reading -------------------------------------------------------------------

class _Reader:
    """A cursor over ``data[pos:end]`` that fails with GbcsDecodeError, never IndexError."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source = data, source
        self.pos, self.end = 0, len(data)

    def fail(self, message: str, field: str, *, expected: str, found: str,
             offset: int | None = None) -> GbcsDecodeError:
        return GbcsDecodeError(message, offset=self.pos if offset is None else offset,
                               field=field, source=self.source, expected=expected, found=found)

    def take(self, size: int, field: str) -> bytes:
        left = self.end - self.pos
        if size > left:
            region = "payload" if self.end < len(self.data) else "data"
            raise self.fail(f"{field} runs past the end of the {region}", field,
                            expected=f"{size} byte{'s' if size != 1 else ''}",
                            found=f"{left} byte{'s' if left != 1 else ''} left")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")


def _flag(reader: _Reader, field: str) -> bool:
    at = reader.pos
    value = reader.uint(1, field)
    if value not in (0, 1):
        raise reader.fail(f"bad {field}", field, expected="0x00 or 0x01",
                          found=f"0x{value:02X}", offset=at)
    return value == 1


# --- field types -----------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    """How one payload field is written: ``write(value) -> bytes`` (raises
    ``ValueError(expected, found)`` for a value it cannot carry) and
    ``read(reader, name) -> value``."""

    write: Callable[[Any], bytes]
    read: Callable[[_Reader, str], Any]


def _problem(expected: str, found: object) -> ValueError:
    return ValueError(expected, found)


def _text_rule(value: str) -> str | None:
    """Why ``value`` cannot be carried as text, or None."""
    if value.isascii() and value.isprintable():
        return None  # no control character (Cc), no surrogate (Cs), no noncharacter
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
            return f"a character allowed in XML text, found U+{ord(char):04X}"
    return None


def _text(length_octets: int, check: Callable[[str], str | None], what: str) -> _Field:
    """Length-prefixed UTF-8 text; ``check`` returns the expectation it breaks, or None."""

    def write(value: Any) -> bytes:
        if not isinstance(value, str):
            raise _problem(what, type(value).__name__)
        problem = _text_rule(value) or check(value)
        if problem:
            raise _problem(what, repr(value))
        raw = value.encode("utf-8", "strict")
        if len(raw) >= 256 ** length_octets:
            raise _problem(what, f"{len(raw)} UTF-8 bytes")
        return len(raw).to_bytes(length_octets, "big") + raw

    def read(reader: _Reader, name: str) -> str:
        at = reader.pos
        size = reader.uint(length_octets, f"{name} length")
        start = reader.pos
        raw = reader.take(size, name)
        try:
            value = raw.decode("utf-8", "strict")
        except UnicodeDecodeError as exc:
            raise reader.fail(f"{name} is not valid UTF-8", name, expected="UTF-8 text",
                              found=f"byte 0x{raw[exc.start]:02X} at offset {start + exc.start}",
                              offset=start) from None
        if _text_rule(value) or check(value):
            raise reader.fail(f"bad {name}", name, expected=what, found=repr(value), offset=at)
        return value

    return _Field(write, read)


def _octets(length_octets: int, low: int, high: int, what: str) -> _Field:
    """Length-prefixed bytes, ``low``..``high`` of them."""

    def write(value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray)):
            raise _problem(what, type(value).__name__)
        if not low <= len(value) <= high:
            raise _problem(what, f"{len(value)} bytes")
        return len(value).to_bytes(length_octets, "big") + bytes(value)

    def read(reader: _Reader, name: str) -> bytes:
        at = reader.pos
        size = reader.uint(length_octets, f"{name} length")
        if not low <= size <= high:
            raise reader.fail(f"bad {name} length", f"{name} length", expected=what,
                              found=f"{size} bytes", offset=at)
        return bytes(reader.take(size, name))

    return _Field(write, read)


def _write_u64(value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
        raise _problem(f"an integer 0..{MAX_COUNTER}", repr(value))
    return value.to_bytes(8, "big")


def _write_instant(value: Any) -> bytes:
    if not isinstance(value, _dt.datetime) or value.tzinfo is None \
            or value.utcoffset() is None:
        raise _problem("a timezone-aware datetime", repr(value))
    if value.microsecond:
        raise _problem("a datetime in whole seconds", value.isoformat())
    seconds = (value - _EPOCH) // _SECOND
    if not 0 <= seconds <= _MAX_SECONDS:
        raise _problem("a datetime from 1970-01-01T00:00:00Z on", value.isoformat())
    return seconds.to_bytes(8, "big")


def _read_instant(reader: _Reader, name: str) -> _dt.datetime:
    at = reader.pos
    seconds = reader.uint(8, name)
    if seconds > _MAX_SECONDS:
        raise reader.fail(f"{name} out of range", name,
                          expected=f"seconds since 1970 up to {_MAX_SECONDS} (year 9999)",
                          found=str(seconds), offset=at)
    return _EPOCH + _dt.timedelta(seconds=seconds)


def _write_status(value: Any) -> bytes:
    if value not in STATUSES:
        raise _problem(f"one of {', '.join(STATUSES)}", repr(value))
    return STATUSES[value].to_bytes(1, "big")


def _read_status(reader: _Reader, name: str) -> str:
    at = reader.pos
    code = reader.uint(1, name)
    if code not in STATUS_NAMES:
        raise reader.fail(f"unknown {name}", name,
                          expected="a status code (" + ", ".join(
                              f"{c}={n}" for c, n in sorted(STATUS_NAMES.items())) + ")",
                          found=str(code), offset=at)
    return STATUS_NAMES[code]


def _write_bool(value: Any) -> bytes:
    if not isinstance(value, bool):
        raise _problem("True or False", repr(value))
    return b"\x01" if value else b"\x00"


VERSION = _text(1, lambda v: None if 1 <= len(v) <= 8 else "too long or empty",
                "a firmware version of 1 to 8 characters")
UTRN = _text(1, lambda v: None if _UTRN.fullmatch(v) else "not 20 digits",
             "a UTRN of 20 decimal digits")
HASH = _octets(1, HASH_BYTES, HASH_BYTES, f"a {HASH_BYTES}-byte SHA-256 hash")
IMAGE = _octets(4, 1, MAX_IMAGE_BYTES, f"a firmware image of 1 to {MAX_IMAGE_BYTES} bytes")
CERTIFICATE = _octets(2, 1, MAX_CERTIFICATE_BYTES,
                      f"a certificate of 1 to {MAX_CERTIFICATE_BYTES} bytes")
INSTANT = _Field(_write_instant, _read_instant)
STATUS = _Field(_write_status, _read_status)
FLAG = _Field(_write_bool, _flag)


# --- payload table -------------------------------------------------------------

@dataclass(frozen=True)
class PayloadSpec:
    """One payload type: its tag octet, the kind of message that carries it,
    and its fields in the order they are written (the dataclass field order)."""

    tag: int
    cls: type[Payload]
    kind: Kind
    fields: tuple[_Field, ...]

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.cls))


PAYLOADS: tuple[PayloadSpec, ...] = (
    # tags 0x01-0x05 were the firmware use cases real GBCS now carries (duis.gbcs.codec)
    PayloadSpec(0x06, DistributeImage, Kind.COMMAND, (IMAGE, VERSION)),
    PayloadSpec(0x07, ImageDistributionResult, Kind.RESPONSE, (FLAG, HASH)),
    PayloadSpec(0x08, TopUp, Kind.COMMAND, (UTRN,)),
    PayloadSpec(0x09, UpdateSecurityCredentials, Kind.COMMAND, (CERTIFICATE,)),
    PayloadSpec(0x0A, CommandOutcome, Kind.RESPONSE, (STATUS,)),
    PayloadSpec(0x0B, PowerOutageAlert, Kind.ALERT, (INSTANT, INSTANT)),
)
BY_TAG: dict[int, PayloadSpec] = {spec.tag: spec for spec in PAYLOADS}
BY_CLASS: dict[type, PayloadSpec] = {spec.cls: spec for spec in PAYLOADS}


# --- encode --------------------------------------------------------------------

def _encode_error(field: str, exc: ValueError) -> GbcsEncodeError:
    expected, found = exc.args
    return GbcsEncodeError(f"cannot encode {field}", path=field, expected=expected,
                           found=str(found))


def _encode_payload(spec: PayloadSpec, payload: object) -> bytes:
    out = [spec.tag.to_bytes(1, "big")]
    for name, field in zip(spec.names, spec.fields, strict=True):
        try:
            out.append(field.write(getattr(payload, name)))
        except ValueError as exc:
            raise _encode_error(f"{spec.cls.__name__}.{name}", exc) from None
    return b"".join(out)


@lru_cache(maxsize=4096)
def _eui_octets(text: str) -> bytes:
    """The 8 octets of an EUI-64's text (the users' and the DSP's recur in every
    message, a device's in the few messages of its turn)."""
    return bytes.fromhex(text.replace("-", ""))


def _eui(value: object, field: str) -> bytes:
    try:
        # value is whatever the payload holds: EUI64.parse refuses what is not an
        # EUI-64 (MessageError, AttributeError), turned into a GbcsEncodeError below
        text = (value if type(value) is EUI64 else EUI64.parse(value)).text  # type: ignore[arg-type]
        return _eui_octets(text) if type(text) is str else EUI64.parse(value).raw  # type: ignore[arg-type]
    except (MessageError, AttributeError):
        raise GbcsEncodeError(f"cannot encode {field}", path=field, expected="an EUI64",
                              found=repr(value)) from None


def encode(message: GbcsMessage) -> bytes:
    """The bytes of ``message`` in this layout (deterministic: equal messages give equal
    bytes)."""
    if not isinstance(message, GbcsMessage):
        raise GbcsEncodeError("not a GbcsMessage", expected="a GbcsMessage",
                              found=type(message).__name__)
    spec = BY_CLASS.get(type(message.payload))
    if spec is None:
        raise GbcsEncodeError("unknown payload type", path="payload",
                              expected="one of " + ", ".join(s.cls.__name__ for s in PAYLOADS),
                              found=type(message.payload).__name__)
    if message.kind is not spec.kind:
        raise GbcsEncodeError("payload does not fit the message kind", path="kind",
                              expected=f"{spec.kind.name} for {spec.cls.__name__}",
                              found=repr(message.kind))
    code = message.message_code
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 0xFFFF:
        raise GbcsEncodeError("cannot encode message_code", path="message_code",
                              expected="an integer 0..0xFFFF", found=repr(code))
    try:
        transaction = _write_u64(message.transaction)
    except ValueError as exc:
        raise _encode_error("transaction", exc) from None
    payload = _encode_payload(spec, message.payload)
    return b"".join((MAGIC.to_bytes(1, "big"), int(message.kind).to_bytes(1, "big"),
                     _eui(message.originator, "originator"), _eui(message.target, "target"),
                     transaction, code.to_bytes(2, "big"),
                     len(payload).to_bytes(4, "big"), payload))


# --- decode --------------------------------------------------------------------

_HEADER = struct.Struct(">BB8s8sQHI")
"""magic, kind, originator, target, transaction, message code, payload length"""


def _decode_header(reader: _Reader) -> tuple[Kind, EUI64, EUI64, int, int, int]:
    data = reader.data
    if reader.end >= HEADER_BYTES and data[0] == MAGIC and data[1] in _KINDS:
        # a well-formed header, in one step; anything else takes the field-by-field
        # path below, which names what is wrong
        _, kind, originator, target, transaction, code, length = _HEADER.unpack_from(data)
        reader.pos = HEADER_BYTES
        # canonical text: the parse cache already holds the identifiers of the DUIS side
        originator = EUI64.parse(originator.hex("-").upper())
        target = EUI64.parse(target.hex("-").upper())
    else:
        magic = reader.uint(1, "magic")
        if magic != MAGIC:
            raise reader.fail("not a message of this layout", "magic", offset=0,
                              expected=f"0x{MAGIC:02X} (duis GBCS-like layout, version 1)",
                              found=f"0x{magic:02X}")
        kind = reader.uint(1, "kind")
        if kind not in _KINDS:
            raise reader.fail("unknown message kind", "kind", offset=1,
                              expected="1 (command), 2 (response) or 3 (alert)",
                              found=str(kind))
        originator = EUI64.parse(reader.take(8, "originator").hex())
        target = EUI64.parse(reader.take(8, "target").hex())
        transaction = reader.uint(8, "transaction")
        code = reader.uint(2, "message code")
        length = reader.uint(4, "payload length")
    left = reader.end - reader.pos
    if length > left:
        raise reader.fail("payload length overruns the data", "payload length",
                          offset=HEADER_BYTES - 4, expected=f"at most {left} (the bytes left)",
                          found=str(length))
    return _KINDS[kind], originator, target, transaction, code, length


def _decode_payload(reader: _Reader, length: int) -> tuple[PayloadSpec, Payload]:
    start = reader.pos
    reader.end = start + length
    tag = reader.uint(1, "payload tag")
    spec = BY_TAG.get(tag)
    if spec is None:
        raise reader.fail("unknown payload tag", "payload tag", offset=start,
                          expected="one of " + ", ".join(
                              f"0x{s.tag:02X} ({s.cls.__name__})" for s in PAYLOADS),
                          found=f"0x{tag:02X}")
    values = {name: field.read(reader, f"{spec.cls.__name__}.{name}")
              for name, field in zip(spec.names, spec.fields, strict=True)}
    if reader.pos != reader.end:
        raise reader.fail("payload has bytes after its last field", "payload",
                          expected=f"{reader.pos - start} payload bytes for {spec.cls.__name__}",
                          found=f"{length} (payload length)")
    return spec, spec.cls(**values)


def decode(data: bytes, source: str = "<gbcs>") -> GbcsMessage:
    """The message in ``data``, which must hold exactly one message of this layout
    and nothing after it."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise GbcsDecodeError("not bytes", offset=0, field="data", source=source,
                              expected="bytes", found=type(data).__name__)
    data = bytes(data)
    reader = _Reader(data, source)
    kind, originator, target, transaction, code, length = _decode_header(reader)
    spec, payload = _decode_payload(reader, length)
    reader.end = len(data)
    if reader.pos != len(data):
        extra = len(data) - reader.pos
        raise reader.fail("trailing bytes after the message", "end of message",
                          expected="end of data", found=f"{extra} more bytes")
    if spec.kind is not kind:
        raise reader.fail("payload does not fit the message kind", "kind", offset=1,
                          expected=f"{spec.kind.value} ({spec.kind.name.lower()}) for "
                                   f"{spec.cls.__name__}",
                          found=f"{kind.value} ({kind.name.lower()})")
    return GbcsMessage(kind, originator, target, transaction, code, payload)


# --- base64 (GBCSPayload) --------------------------------------------------------

def to_base64(data: bytes) -> str:
    """``data`` as GBCSPayload text: standard base64, padded, one line."""
    return base64.b64encode(bytes(data)).decode("ascii")


def from_base64(text: str, source: str = "<GBCSPayload>") -> bytes:
    """The bytes of GBCSPayload text (xs:base64Binary: whitespace is ignored)."""
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise GbcsDecodeError("GBCSPayload is not base64", offset=0, field="GBCSPayload",
                              source=source, expected="base64 text (A-Z a-z 0-9 + / =)",
                              found=repr(compact[:40] + ("..." if len(compact) > 40 else ""))
                              ) from None


__all__ = ["BY_CLASS", "GbcsDecodeError", "GbcsEncodeError",
           "HEADER_BYTES", "MAGIC", "PAYLOADS", "decode", "encode", "from_base64", "to_base64"]
