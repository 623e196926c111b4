"""Identifiers: EUI-64 device/user IDs and DUIS RequestID / ResponseID.

EUI-64s follow one rule (see :func:`canonical_eui`): canonical text inside the
SMI and in every index keyed by a device or user; :class:`EUI64` on messages
(DUIS and GBCS), which is what an emulated device, a GBCS endpoint, holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import MessageError

_CANONICAL_EUI = re.compile(r"[0-9A-F]{2}(?:-[0-9A-F]{2}){7}")
_EUI_RE = re.compile(r"^[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}$")
_EUI_COMPACT_RE = re.compile(r"^[0-9A-Fa-f]{16}$")
MAX_COUNTER = 2**64 - 1
#: decimal digits of the largest counter: a longer one is out of range unread
#: (and ``int()`` of thousands of digits raises ValueError, Python's limit)
MAX_COUNTER_DIGITS = len(str(MAX_COUNTER))
#: longest text parsed through the EUI-64 cache: the cache is keyed by input
#: that may come from an unauthenticated message, so only short keys go in
_EUI_CACHE_CHARS = 64
#: how much of a bad value an error quotes
_QUOTE = 60


def quoted(text: str, limit: int = _QUOTE) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters with its length said
    when longer: what an error quotes of a value that may be huge."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


@dataclass(frozen=True, order=True)
class EUI64:
    """An EUI-64 held as its canonical text form ``90-B3-D5-1F-30-01-00-00``."""

    text: str

    @classmethod
    def parse(cls, value: str | EUI64) -> EUI64:
        """Accept ``90-B3-...`` or compact ``90B3D5...`` (any case)."""
        if isinstance(value, EUI64):
            return value
        if cls is EUI64 and isinstance(value, str) and len(value) <= _EUI_CACHE_CHARS:
            return _parse_eui(value)
        return cls._parse(value)

    @classmethod
    def _parse(cls, value: str) -> EUI64:
        if not isinstance(value, str):
            raise MessageError("not an EUI-64", expected="8 hex byte pairs separated by '-'",
                               found=quoted(repr(value)))
        raw = value.strip()
        if _EUI_COMPACT_RE.match(raw):
            raw = "-".join(raw[i:i + 2] for i in range(0, 16, 2))
        if not _EUI_RE.match(raw):
            raise MessageError("not an EUI-64", expected="8 hex byte pairs separated by '-'",
                               found=quoted(value))
        return cls(raw.upper())

    @property
    def compact(self) -> str:
        """``90B3D51F30010000``: the form used in certificate subjects and file names."""
        return self.text.replace("-", "")

    @property
    def raw(self) -> bytes:
        """The 8 octets (remembered per text: GBCS headers and MAC keys name the same
        parties message after message)."""
        return _raw(self.text)

    def __str__(self) -> str:
        return self.text


#: Whether a ``str`` is already a canonical EUI-64 text (truthy: a match).  The bound
#: ``fullmatch`` itself, not a function around it: record validation asks it for
#: every EUI-64 field of a million-device load.
is_canonical_eui = _CANONICAL_EUI.fullmatch


def canonical_eui(value: str | EUI64) -> str:
    """The canonical text of an EUI-64: ``90-B3-D5-1F-30-01-00-00``.

    The rule for EUI-64s in duis: **text inside the SMI and devices' indexes**
    (records, database rows, dictionary keys, audit rows, settings lists), and
    :class:`EUI64` **at the message boundary** (the IDs of DUIS and GBCS
    messages, and the emulated devices that send and receive GBCS).  This is
    the one function that turns either into the text; ``EUI64.parse(x).text``
    is the same value, slower for text already canonical.

    Accepts an :class:`EUI64`, or text :meth:`EUI64.parse` accepts (dashed or
    compact, any case, surrounding blanks); raises :class:`MessageError` for
    anything else.  Text already canonical is returned as it is (the same
    object), without parsing and without entering the parse cache.
    """
    if type(value) is str and _CANONICAL_EUI.fullmatch(value):
        return value
    return EUI64.parse(value).text


@lru_cache(maxsize=4096)
def _raw(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


@lru_cache(maxsize=65536)
def _parse_eui(value: str) -> EUI64:
    """Parsing is pure, and the same few identifiers recur in every message."""
    return EUI64._parse(value)


def eui_cache_size() -> int:
    """How many spellings :meth:`EUI64.parse` holds in its cache now (only short
    ones go in: a padded or oversized text is parsed each time)."""
    return _parse_eui.cache_info().currsize


@dataclass(frozen=True)
class MessageID:
    """``originator:target:counter`` — a DUIS RequestID or ResponseID."""

    originator: EUI64
    target: EUI64
    counter: int

    @classmethod
    def parse(cls, text: str) -> MessageID:
        """``originator:target:counter``; the counter an unsigned 64-bit decimal
        integer (ASCII digits, no leading zero).  Any other text raises
        :class:`MessageError`, however long it is."""
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise MessageError("not a DUIS message ID",
                               expected="originatorEUI64:targetEUI64:counter", found=quoted(text))
        originator, target, counter = parts
        if not counter.isdigit() or not counter.isascii() \
                or (len(counter) > 1 and counter[0] == "0"):
            raise MessageError("bad counter in message ID",
                               expected="an unsigned decimal integer without leading zeros",
                               found=quoted(counter))
        if len(counter) > MAX_COUNTER_DIGITS:  # before int(): bounded work, no ValueError
            raise MessageError("counter out of range", expected=f"at most {MAX_COUNTER}",
                               found=f"{len(counter)} digits")
        value = int(counter)
        if value > MAX_COUNTER:
            raise MessageError("counter out of range", expected=f"at most {MAX_COUNTER}",
                               found=counter)
        return cls(EUI64.parse(originator), EUI64.parse(target), value)

    def with_counter(self, counter: int) -> MessageID:
        return MessageID(self.originator, self.target, counter)

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"


RequestID = MessageID
ResponseID = MessageID
