"""What the real GBCS codec refuses: one root per direction, narrow classes below.

::

    DuisError (duis.errors)
    ├── WireError                 bytes refused by the decoder (exit code 1); names the
    │   │                         byte offset, the field, what was expected and what was found
    │   ├── Truncated             a field runs past the end of the structure that holds it
    │   ├── BadLength             a length that is not in its shortest form, or not a length
    │   ├── TrailingBytes         bytes left over after a structure
    │   ├── UnexpectedValue       a tag, constant or value the layout does not allow here
    │   ├── Unsupported           valid GBCS that this codec does not cover (another message
    │   │                         code, an encrypted GBZ component, supplementary remote parties)
    │   ├── Unprotected           no MAC, or no signature, where the use case requires one
    │   ├── KeyUnavailable        a MAC or signature that cannot be checked: no key for the party
    │   ├── MacInvalid            the GBCS MAC does not verify
    │   └── SignatureInvalid      the originator's ECDSA signature does not verify
    ├── WireEncodeError           a value the layout cannot carry (exit code 1); names the field
    └── KeyFileError (InputError) a key or certificate file that cannot be used (exit code 2)

Every ``WireError`` has ``offset`` (where the offending field starts, counted from the
first byte given to the decoder) and ``field``; ``path`` reads ``byte 12 (originator
system title)``.  The decoder raises nothing else, whatever the bytes.
"""

from __future__ import annotations

from typing import Any

from ...errors import DuisError, InputError


class WireError(DuisError):
    """Bytes that are not a real GBCS message this codec accepts."""

    exit_code = 1

    def __init__(self, message: str, *, offset: int, field: str, **kw: Any) -> None:
        self.offset = offset
        self.field = field
        super().__init__(message, path=f"byte {offset} ({field})", **kw)


class Truncated(WireError):
    """A field runs past the end of the structure (or the data) that holds it."""


class BadLength(WireError):
    """A length octet sequence that is not a length, or not in its shortest form."""


class TrailingBytes(WireError):
    """Bytes are left over after a structure that should end there."""


class UnexpectedValue(WireError):
    """A tag, constant or value the layout does not allow at this place."""


class Unsupported(WireError):
    """Valid GBCS outside what this codec covers (named in ``docs/gbcs-real.md``)."""


class Unprotected(WireError):
    """A message without the MAC or the signature its use case requires (a signature
    stripped off, a command that did not pass the Access Control Broker)."""


class KeyUnavailable(WireError):
    """The MAC or signature cannot be checked: the key ring has no key for that party."""


class MacInvalid(WireError):
    """The GBCS MAC (AES-GCM over the General Signing APDU) does not verify."""


class SignatureInvalid(WireError):
    """The ECDSA signature does not verify with the originator's digital-signing key."""


class WireEncodeError(DuisError):
    """A value the real GBCS layout cannot carry (a 31-byte hash, a naive datetime, a
    counter above 2**64 - 1, a MAC asked for without keys, ...)."""

    exit_code = 1


class KeyFileError(InputError):
    """A key folder's file that cannot be used: not PEM, not an EC P-256 key."""


__all__ = ["BadLength", "KeyFileError", "KeyUnavailable", "MacInvalid", "SignatureInvalid",
           "TrailingBytes", "Truncated", "UnexpectedValue", "Unprotected", "Unsupported",
           "WireEncodeError", "WireError"]
