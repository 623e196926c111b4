"""GBZ payloads: ZigBee ZCL frames as GBCS carries them (GCS38's read attributes).

Layout (the GBZ header and extended headers big-endian, the ZCL frame little-endian)::

    01 09                   GBZ profile id
    NN                      number of components
    per component:
      CC                    extended header control field (0x02: encrypted and 0x10: a
                            from-date-time follows are not covered)
      LLLL                  cluster id (0x0702: metering)
      SSSS                  length of the ZCL frame that follows
      FF QQ II <payload>    ZCL frame: frame control, transaction sequence number,
                            command id, then the command's payload

ZCL commands covered (profile-wide, frame type 0, no manufacturer code):

- ``0x00`` Read Attributes: attribute ids, two octets each, little-endian.
- ``0x01`` Read Attributes Response: per attribute its id (2, little-endian), a status
  octet (0x00 success), and on success a data type octet and the value: fixed-size
  types little-endian (:data:`FIXED_SIZE_TYPES`), octet and character strings as a
  length octet and the octets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .errors import UnexpectedValue, Unsupported, WireEncodeError
from .reader import Reader

PROFILE_ID = 0x0109
METERING_CLUSTER = 0x0702
#: GCS38 reads this metering cluster attribute (as the reference messages do)
GCS38_FIRMWARE_VERSION_ATTRIBUTE = 0x0206
CONTROL_ENCRYPTED = 0x02
CONTROL_FROM_DATE_TIME = 0x10
FRAME_TYPE_MASK = 0x03
MANUFACTURER_SPECIFIC = 0x04
SERVER_TO_CLIENT = 0x08
OCTET_STRING = 0x41
CHARACTER_STRING = 0x42
#: ZCL data types of a fixed size, and that size in octets
FIXED_SIZE_TYPES: dict[int, int] = {
    0x10: 1,  # boolean
    0x18: 1, 0x19: 2, 0x1A: 3, 0x1B: 4,  # bitmaps
    0x20: 1, 0x21: 2, 0x22: 3, 0x23: 4, 0x24: 5, 0x25: 6, 0x26: 7, 0x27: 8,  # unsigned
    0x28: 1, 0x29: 2, 0x2A: 3, 0x2B: 4,  # signed
    0x30: 1, 0x31: 2,  # enumerations
    0xE2: 4,  # UTC time
}
STRING_TYPES = (OCTET_STRING, CHARACTER_STRING)
_MAX_STRING = 0xFE  # 0xFF is ZCL's "invalid value"
_MAX_COMPONENTS = 0xFF


def _check(ok: bool, field: str, expected: str, found: object) -> None:
    if not ok:
        raise WireEncodeError(f"cannot encode {field}", path=field, expected=expected,
                              found=repr(found))


def _int(value: object, field: str, high: int) -> int:
    _check(type(value) is int and 0 <= value <= high, field, f"an int from 0 to {high}", value)
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class AttributeRecord:
    """One attribute of a Read Attributes Response: on success (status 0) its data type
    and value octets (a string's without its length octet); else neither."""

    attribute: int
    status: int = 0
    data_type: int | None = None
    value: bytes | None = None

    def encode(self) -> bytes:
        head = _int(self.attribute, "attribute id", 0xFFFF).to_bytes(2, "little") + bytes(
            (_int(self.status, "status", 0xFF),))
        if self.status:
            _check(self.data_type is None and self.value is None, "attribute record",
                   "no data type and no value with a failure status", self)
            return head
        data_type = _int(self.data_type, "data type", 0xFF)
        value = self.value
        _check(isinstance(value, bytes), "attribute value", "bytes", value)
        assert isinstance(value, bytes)
        if data_type in STRING_TYPES:
            _check(len(value) <= _MAX_STRING, "attribute value", f"at most {_MAX_STRING} bytes",
                   value)
            return head + bytes((data_type, len(value))) + value
        size = FIXED_SIZE_TYPES.get(data_type)
        _check(size is not None, "data type", "a covered ZCL data type", data_type)
        _check(len(value) == size, "attribute value", f"{size} bytes", value)
        return head + bytes((data_type,)) + value

    @classmethod
    def decode(cls, reader: Reader) -> AttributeRecord:
        attribute = reader.uint(2, "attribute id", little=True)
        status = reader.u8("status")
        if status:
            return cls(attribute, status)
        at = reader.pos
        data_type = reader.u8("data type")
        if data_type in STRING_TYPES:
            at = reader.pos
            length = reader.u8("string length")
            if length > _MAX_STRING:
                raise reader.error(Unsupported, "an invalid (0xFF) string", "string length",
                                   expected=f"at most {_MAX_STRING}", found=str(length),
                                   offset=at)
            return cls(attribute, 0, data_type, reader.take(length, "attribute value"))
        size = FIXED_SIZE_TYPES.get(data_type)
        if size is None:
            raise reader.error(Unsupported, "a ZCL data type not covered", "data type",
                               expected="a fixed-size or string type",
                               found=f"0x{data_type:02X}", offset=at)
        return cls(attribute, 0, data_type, reader.take(size, "attribute value"))


@dataclass(frozen=True)
class ReadAttributes:
    """ZCL Read Attributes (command id 0x00): the attribute ids to read."""

    command_id: ClassVar[int] = 0x00
    attributes: tuple[int, ...]

    def encode(self) -> bytes:
        _check(isinstance(self.attributes, tuple), "attributes", "a tuple", self.attributes)
        return b"".join(_int(a, "attribute id", 0xFFFF).to_bytes(2, "little")
                        for a in self.attributes)

    @classmethod
    def decode(cls, reader: Reader) -> ReadAttributes:
        if reader.left % 2:
            raise reader.error(UnexpectedValue, "an odd number of octets of attribute ids",
                               "attribute id", expected="2 octets per attribute",
                               found=f"{reader.left} octets")
        return cls(tuple(reader.uint(2, "attribute id", little=True)
                         for _ in range(reader.left // 2)))


@dataclass(frozen=True)
class ReadAttributesResponse:
    """ZCL Read Attributes Response (command id 0x01): one record per attribute."""

    command_id: ClassVar[int] = 0x01
    records: tuple[AttributeRecord, ...]

    def encode(self) -> bytes:
        _check(isinstance(self.records, tuple), "records", "a tuple", self.records)
        for record in self.records:
            _check(isinstance(record, AttributeRecord), "records", "AttributeRecord items",
                   record)
        return b"".join(record.encode() for record in self.records)

    @classmethod
    def decode(cls, reader: Reader) -> ReadAttributesResponse:
        records = []
        while reader.left:
            records.append(AttributeRecord.decode(reader))
        return cls(tuple(records))


ZclCommand = ReadAttributes | ReadAttributesResponse
_COMMANDS: dict[int, type[ReadAttributes] | type[ReadAttributesResponse]] = {
    ReadAttributes.command_id: ReadAttributes,
    ReadAttributesResponse.command_id: ReadAttributesResponse,
}


@dataclass(frozen=True)
class GbzComponent:
    """One GBZ component: a ZCL frame for ``cluster``."""

    cluster: int
    frame_control: int
    """ZCL frame control: 0x00 for a read (client to server), 0x08 for its response."""
    command: ZclCommand
    sequence: int = 0
    """ZCL transaction sequence number."""
    control: int = 0x01
    """GBZ extended header control field."""

    def encode(self) -> bytes:
        control = _int(self.control, "control field", 0xFF)
        _check(not control & (CONTROL_ENCRYPTED | CONTROL_FROM_DATE_TIME), "control field",
               "no encryption, no from-date-time (not covered)", control)
        frame_control = _int(self.frame_control, "frame control", 0xFF)
        _check(not frame_control & (FRAME_TYPE_MASK | MANUFACTURER_SPECIFIC), "frame control",
               "a profile-wide command without manufacturer code", frame_control)
        _check(isinstance(self.command, ReadAttributes | ReadAttributesResponse), "command",
               "ReadAttributes or ReadAttributesResponse", self.command)
        frame = bytes((frame_control, _int(self.sequence, "sequence number", 0xFF),
                       self.command.command_id)) + self.command.encode()
        _check(len(frame) <= 0xFFFF, "ZCL frame", "at most 65535 bytes", len(frame))
        return (bytes((control,)) + _int(self.cluster, "cluster id", 0xFFFF).to_bytes(2, "big")
                + len(frame).to_bytes(2, "big") + frame)

    @classmethod
    def decode(cls, reader: Reader) -> GbzComponent:
        at = reader.pos
        control = reader.u8("control field")
        if control & (CONTROL_ENCRYPTED | CONTROL_FROM_DATE_TIME):
            raise reader.error(Unsupported, "an encrypted or time-stamped GBZ component",
                               "control field", expected="bits 0x02 and 0x10 clear",
                               found=f"0x{control:02X}", offset=at)
        cluster = reader.uint(2, "cluster id")
        frame = reader.sub(reader.uint(2, "ZCL frame length"), "ZCL frame")
        at = frame.pos
        frame_control = frame.u8("frame control")
        if frame_control & (FRAME_TYPE_MASK | MANUFACTURER_SPECIFIC):
            raise frame.error(Unsupported, "a cluster-specific or manufacturer-specific ZCL "
                              "command", "frame control", expected="frame type 0, no "
                              "manufacturer code", found=f"0x{frame_control:02X}", offset=at)
        sequence = frame.u8("sequence number")
        at = frame.pos
        command_id = frame.u8("command id")
        command_type = _COMMANDS.get(command_id)
        if command_type is None:
            raise frame.error(Unsupported, "a ZCL command not covered", "command id",
                              expected="0x00 (Read Attributes) or 0x01 (its response)",
                              found=f"0x{command_id:02X}", offset=at)
        command = command_type.decode(frame)
        frame.done("the ZCL frame")
        return cls(cluster, frame_control, command, sequence, control)


@dataclass(frozen=True)
class GbzPayload:
    """A GBZ payload: its components, in order."""

    components: tuple[GbzComponent, ...]

    def encode(self) -> bytes:
        _check(isinstance(self.components, tuple) and len(self.components) <= _MAX_COMPONENTS,
               "components", f"a tuple of at most {_MAX_COMPONENTS}", self.components)
        for component in self.components:
            _check(isinstance(component, GbzComponent), "components", "GbzComponent items",
                   component)
        return (PROFILE_ID.to_bytes(2, "big") + bytes((len(self.components),))
                + b"".join(component.encode() for component in self.components))

    @classmethod
    def decode(cls, reader: Reader) -> GbzPayload:
        reader.expect(PROFILE_ID.to_bytes(2, "big"), "GBZ profile id")
        count = reader.u8("number of GBZ components")
        return cls(tuple(GbzComponent.decode(reader) for _ in range(count)))


__all__ = ["CHARACTER_STRING", "FIXED_SIZE_TYPES", "GCS38_FIRMWARE_VERSION_ATTRIBUTE",
           "METERING_CLUSTER", "OCTET_STRING", "PROFILE_ID", "AttributeRecord", "GbzComponent",
           "GbzPayload", "ReadAttributes", "ReadAttributesResponse", "ZclCommand"]
