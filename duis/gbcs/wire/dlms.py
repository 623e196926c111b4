"""DLMS COSEM payloads: the access request and response a Get travels in (ECS52).

Layouts (A-XDR; lengths and counts as in :mod:`.reader`, counts below 128)::

    access-request   D9 IIIIIIII 00        tag, long-invoke-id-and-priority (4), empty date-time
                     NN { 01 CCCC OOOOOOOOOOOO AA }   the Get specifications: choice 1, class
                                           id (2), instance id (OBIS, 6), attribute id
                     NN { 00 }             the data list: one null per specification

    access-response  DA IIIIIIII 00 00     tag, the request's invoke id, empty date-time, no
                                           access-request-specification
                     NN { data }           one datum per specification: null (00) or an
                                           octet string (09, length, octets)
                     NN { 01 RR }          one result per specification: choice 1 (Get),
                                           data-access-result (0 success, 1 hardware fault, ...)

Only Get specifications and these two data types are covered; anything else is
:class:`~.errors.Unsupported`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnexpectedValue, Unsupported, WireEncodeError
from .reader import Reader, length_octets

ACCESS_REQUEST = 0xD9
ACCESS_RESPONSE = 0xDA
GET = 0x01
DATA_NULL = 0x00
DATA_OCTET_STRING = 0x09
_MAX_COUNT = 0x7F
#: the invoke-id is the low 24 bits of long-invoke-id-and-priority
INVOKE_ID_MASK = 0xFF_FFFF
#: bit 29 of long-invoke-id-and-priority, set in the reference messages
PROCESSING_OPTION = 0x2000_0000


def invoke_for(counter: int) -> int:
    """long-invoke-id-and-priority for a command with originator counter ``counter``, as
    the reference messages have it: bit 29 set, the invoke-id being the counter's low 24
    bits."""
    return PROCESSING_OPTION | (counter & INVOKE_ID_MASK)


def _check(ok: bool, field: str, expected: str, found: object) -> None:
    if not ok:
        raise WireEncodeError(f"cannot encode {field}", path=field, expected=expected,
                              found=repr(found))


def _u32(value: object, field: str) -> bytes:
    _check(type(value) is int and 0 <= value < 1 << 32, field, "an int from 0 to 2**32 - 1",
           value)
    assert isinstance(value, int)
    return value.to_bytes(4, "big")


def _count(items: tuple[object, ...], field: str) -> bytes:
    _check(isinstance(items, tuple) and len(items) <= _MAX_COUNT, field,
           f"a tuple of at most {_MAX_COUNT}", items)
    return bytes((len(items),))


def _read_count(reader: Reader, field: str) -> int:
    at = reader.pos
    count = reader.u8(field)
    if count > _MAX_COUNT:
        raise reader.error(Unsupported, f"{field} above {_MAX_COUNT}", field,
                           expected=f"at most {_MAX_COUNT}", found=str(count), offset=at)
    return count


@dataclass(frozen=True)
class CosemAttribute:
    """One COSEM attribute: interface class, instance (OBIS code, 6 octets), attribute."""

    class_id: int
    instance: bytes
    attribute: int

    def encode(self) -> bytes:
        _check(type(self.class_id) is int and 0 <= self.class_id <= 0xFFFF, "class id",
               "an int from 0 to 65535", self.class_id)
        _check(isinstance(self.instance, bytes) and len(self.instance) == 6, "instance id",
               "6 bytes (an OBIS code)", self.instance)
        _check(type(self.attribute) is int and 0 <= self.attribute <= 0xFF, "attribute id",
               "an int from 0 to 255", self.attribute)
        return self.class_id.to_bytes(2, "big") + self.instance + bytes((self.attribute,))

    @classmethod
    def decode(cls, reader: Reader) -> CosemAttribute:
        class_id = reader.uint(2, "class id")
        instance = reader.take(6, "instance id")
        return cls(class_id, instance, reader.u8("attribute id"))

    @property
    def obis(self) -> str:
        """The instance as an OBIS code, ``A-B:C.D.E.F``."""
        a, b, c, d, e, f = self.instance
        return f"{a}-{b}:{c}.{d}.{e}.{f}"


#: ECS52's attribute: class 1 (Data), OBIS 0-0:0.2.1.255, attribute 2 (value)
ECS52_FIRMWARE_VERSION = CosemAttribute(1, bytes.fromhex("0000000201FF"), 2)


def _head(reader: Reader, tag: int, field: str, extra: bytes) -> int:
    reader.expect(bytes((tag,)), f"{field} tag")
    invoke = reader.uint(4, "long-invoke-id-and-priority")
    at = reader.pos
    date_time = reader.u8("date-time")
    if date_time:
        raise reader.error(Unsupported, f"a {field} carrying a date-time", "date-time",
                           expected="0x00 (empty)", found=f"0x{date_time:02X}", offset=at)
    if extra:
        at = reader.pos
        value = reader.u8("access-request-specification")
        if value:
            raise reader.error(Unsupported, "a response repeating its request's specification",
                               "access-request-specification", expected="0x00 (absent)",
                               found=f"0x{value:02X}", offset=at)
    return invoke


@dataclass(frozen=True)
class DlmsGetRequest:
    """A DLMS access-request holding only Get specifications (command)."""

    invoke_id_and_priority: int
    attributes: tuple[CosemAttribute, ...]

    def encode(self) -> bytes:
        count = _count(self.attributes, "attributes")
        parts = [bytes((ACCESS_REQUEST,)), _u32(self.invoke_id_and_priority,
                                                "long-invoke-id-and-priority"), b"\x00", count]
        for attribute in self.attributes:
            _check(isinstance(attribute, CosemAttribute), "attributes", "CosemAttribute items",
                   attribute)
            parts += [bytes((GET,)), attribute.encode()]
        parts += [count, bytes(len(self.attributes))]
        return b"".join(parts)

    @classmethod
    def decode(cls, reader: Reader) -> DlmsGetRequest:
        invoke = _head(reader, ACCESS_REQUEST, "access-request", b"")
        attributes = []
        for _ in range(_read_count(reader, "access request specification count")):
            at = reader.pos
            choice = reader.u8("access request specification")
            if choice != GET:
                raise reader.error(Unsupported, "an access request specification other than Get",
                                   "access request specification", expected="0x01 (Get)",
                                   found=f"0x{choice:02X}", offset=at)
            attributes.append(CosemAttribute.decode(reader))
        at = reader.pos
        count = _read_count(reader, "data count")
        if count != len(attributes):
            raise reader.error(UnexpectedValue, "a data list of another length than the "
                               "specifications", "data count", expected=str(len(attributes)),
                               found=str(count), offset=at)
        for _ in range(count):
            at = reader.pos
            value = reader.u8("data")
            if value != DATA_NULL:
                raise reader.error(UnexpectedValue, "a Get carrying data", "data",
                                   expected="0x00 (null)", found=f"0x{value:02X}", offset=at)
        return cls(invoke, tuple(attributes))


@dataclass(frozen=True)
class GetResult:
    """One answer of an access-response: ``data`` (None: null; bytes: an octet string)
    and the data-access-result (0 success, 1 hardware fault, ...)."""

    data: bytes | None
    result: int = 0

    def encode_data(self) -> bytes:
        if self.data is None:
            return bytes((DATA_NULL,))
        _check(isinstance(self.data, bytes) and len(self.data) <= 0xFFFF, "data",
               "None or bytes (at most 65535)", self.data)
        return bytes((DATA_OCTET_STRING,)) + length_octets(len(self.data)) + self.data

    @staticmethod
    def decode_data(reader: Reader) -> bytes | None:
        at = reader.pos
        tag = reader.u8("data")
        if tag == DATA_NULL:
            return None
        if tag != DATA_OCTET_STRING:
            raise reader.error(Unsupported, "a DLMS data type other than null and octet string",
                               "data", expected="0x00 or 0x09", found=f"0x{tag:02X}", offset=at)
        return reader.take(reader.length("octet string length"), "octet string")


@dataclass(frozen=True)
class DlmsGetResponse:
    """A DLMS access-response to a Get (response)."""

    invoke_id_and_priority: int
    results: tuple[GetResult, ...]

    def encode(self) -> bytes:
        count = _count(self.results, "results")
        parts = [bytes((ACCESS_RESPONSE,)), _u32(self.invoke_id_and_priority,
                                                 "long-invoke-id-and-priority"), b"\x00\x00",
                 count]
        for result in self.results:
            _check(isinstance(result, GetResult), "results", "GetResult items", result)
            parts.append(result.encode_data())
        parts.append(count)
        for result in self.results:
            _check(type(result.result) is int and 0 <= result.result <= 0xFF, "result",
                   "an int from 0 to 255", result.result)
            parts.append(bytes((GET, result.result)))
        return b"".join(parts)

    @classmethod
    def decode(cls, reader: Reader) -> DlmsGetResponse:
        invoke = _head(reader, ACCESS_RESPONSE, "access-response", b"\x00")
        data = [GetResult.decode_data(reader)
                for _ in range(_read_count(reader, "access response data count"))]
        at = reader.pos
        count = _read_count(reader, "access response specification count")
        if count != len(data):
            raise reader.error(UnexpectedValue, "results of another number than the data",
                               "access response specification count", expected=str(len(data)),
                               found=str(count), offset=at)
        results = []
        for datum in data:
            at = reader.pos
            choice = reader.u8("access response specification")
            if choice != GET:
                raise reader.error(Unsupported, "an access response specification other than "
                                   "Get", "access response specification",
                                   expected="0x01 (Get)", found=f"0x{choice:02X}", offset=at)
            results.append(GetResult(datum, reader.u8("data access result")))
        return cls(invoke, tuple(results))


__all__ = ["ACCESS_REQUEST", "ACCESS_RESPONSE", "ECS52_FIRMWARE_VERSION", "CosemAttribute",
           "DlmsGetRequest", "DlmsGetResponse", "GetResult", "invoke_for"]
