"""Bounded reading and the length octets every GBCS structure uses.

A :class:`Reader` is a cursor over ``data[pos:end]``.  It never reads past ``end``:
each read is checked first and a short one raises :class:`Truncated` naming the
offset and the field.  :meth:`Reader.length` reads a length and checks it against
what is left *before* anything is done with it, so a hostile length cannot make the
decoder allocate or loop.

Lengths (A-XDR in the DLMS parts, DER in the ASN.1 parts: the same octets) are
written in their shortest form: one octet below 128; above, ``0x81``, ``0x82`` or
``0x83`` followed by that many big-endian octets.  Anything else (``0x80``, four or
more length octets, a long form that fits a shorter one) is :class:`BadLength`.
"""

from __future__ import annotations

from .errors import BadLength, TrailingBytes, Truncated, UnexpectedValue, WireError

#: the longest length this codec reads or writes: three length octets after 0x83
MAX_LENGTH = 0xFF_FFFF


def length_octets(value: int) -> bytes:
    """The shortest length encoding of ``value`` (0 .. :data:`MAX_LENGTH`)."""
    if value < 0x80:
        if value < 0:
            raise ValueError(f"a negative length: {value}")
        return bytes((value,))
    size = (value.bit_length() + 7) // 8
    if size > 3:
        raise ValueError(f"a length above {MAX_LENGTH}: {value}")
    return bytes((0x80 | size,)) + value.to_bytes(size, "big")


def _plural(count: int, what: str = "byte") -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


class Reader:
    """A cursor over ``data[pos:end]`` whose reads fail with :class:`WireError`."""

    __slots__ = ("data", "pos", "end", "source")

    def __init__(self, data: bytes, source: str = "<gbcs>", pos: int = 0,
                 end: int | None = None) -> None:
        self.data = data
        self.source = source
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def left(self) -> int:
        """How many bytes are left before ``end``."""
        return self.end - self.pos

    def error(self, cls: type[WireError], message: str, field: str, *, expected: str,
              found: str, offset: int | None = None) -> WireError:
        """An error of class ``cls`` at ``offset`` (default: the cursor)."""
        return cls(message, offset=self.pos if offset is None else offset, field=field,
                   source=self.source, expected=expected, found=found)

    def take(self, size: int, field: str) -> bytes:
        """The next ``size`` bytes."""
        if size > self.end - self.pos:
            raise self.error(Truncated, f"{field} runs past the end of its structure", field,
                             expected=_plural(size), found=f"{_plural(self.left)} left")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def u8(self, field: str) -> int:
        """The next octet."""
        if self.pos >= self.end:
            raise self.error(Truncated, f"{field} runs past the end of its structure", field,
                             expected="1 byte", found="0 bytes left")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint(self, size: int, field: str, *, little: bool = False) -> int:
        """The next ``size`` octets as an unsigned integer (big-endian unless ``little``)."""
        return int.from_bytes(self.take(size, field), "little" if little else "big")

    def expect(self, constant: bytes, field: str) -> None:
        """The next bytes must be exactly ``constant``."""
        at = self.pos
        found = self.take(len(constant), field)
        if found != constant:
            raise self.error(UnexpectedValue, f"unexpected {field}", field,
                             expected=constant.hex(" ").upper(), found=found.hex(" ").upper(),
                             offset=at)

    def length(self, field: str) -> int:
        """A length in its shortest form, no larger than what is left after it."""
        at = self.pos
        first = self.u8(field)
        if first < 0x80:
            value = first
        else:
            size = first & 0x7F
            if not 1 <= size <= 3:
                raise self.error(BadLength, f"{field} is not a length", field,
                                 expected="0x00-0x7F, or 0x81-0x83 and that many octets",
                                 found=f"0x{first:02X}", offset=at)
            value = self.uint(size, field)
            if value < 0x80 or value.bit_length() <= 8 * (size - 1):
                raise self.error(BadLength, f"{field} is not in its shortest form", field,
                                 expected=f"{length_octets(value).hex(' ').upper()}",
                                 found=self.data[at:self.pos].hex(" ").upper(), offset=at)
        if value > self.end - self.pos:
            raise self.error(Truncated, f"{field} runs past the end of its structure", field,
                             expected=f"{_plural(value)} after the length",
                             found=f"{_plural(self.left)} left", offset=at)
        return value

    def sub(self, size: int, field: str) -> Reader:
        """A reader over the next ``size`` bytes; this one moves past them."""
        at = self.pos
        self.take(size, field)
        return Reader(self.data, self.source, at, at + size)

    def done(self, field: str) -> None:
        """Nothing may be left before ``end``."""
        if self.pos != self.end:
            raise self.error(TrailingBytes, f"bytes left over after {field}", field,
                             expected="nothing more", found=f"{_plural(self.left)} more")


__all__ = ["MAX_LENGTH", "Reader", "length_octets"]
