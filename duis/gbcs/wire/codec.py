"""Real GBCS messages <-> bytes: the grouping header, the payload, the signature and the MAC.

A :class:`Message` is what a GBCS message says: its grouping header, its payload (one of
the structures of :mod:`.usecases`), its signature field and whether it travels MAC'd
in General Ciphering.  The MAC is not a field: :func:`encode` computes it and
:func:`decode` checks it, both with a :class:`~.crypto.KeyRing`.

- :func:`encode` -> bytes; :func:`decode` -> Message, having checked the MAC and the
  signature, and that the message carries those its use case requires; raises a
  :class:`~.errors.WireError` for any other byte string.
- :func:`sign`: the originator's signature over the message (a user signing a CS06
  PreCommand, a device signing its response or alert).
- :func:`wrap_mac`: General Ciphering and the MAC around an APDU as it stands (the
  DCC's Access Control Broker MACing a SignedPreCommand it received, without touching
  the user's signature).
- :func:`inspect`: the fields of a message without checking anything (for tools and
  error reports; never for deciding).

Only canonical encodings decode: whenever ``decode(b)`` succeeds, ``encode`` of the
result with the same keys gives ``b`` again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric import ec

from .crypto import (
    DIGITAL_SIGNING,
    KeyRing,
    compute_mac,
    mac_matches,
    sign_bytes,
    signature_matches,
)
from .errors import (
    KeyUnavailable,
    MacInvalid,
    SignatureInvalid,
    UnexpectedValue,
    Unprotected,
    Unsupported,
    WireEncodeError,
)
from .frames import (
    GENERAL_CIPHERING,
    GENERAL_SIGNING,
    GroupingHeader,
    SigningParts,
    encode_ciphering,
    encode_signing,
    read_ciphering,
    read_signing,
)
from .reader import Reader
from .usecases import Payload, PayloadSpec, Protection, payload_spec


@dataclass(frozen=True)
class Message:
    """One GBCS message."""

    header: GroupingHeader
    payload: Payload
    signature: bytes | None = None
    """The signature field: None, none at all (a PreCommand as the DCC hands it to the
    user); ``b""``, an empty one (length 0: what unsigned MAC'd messages carry); or the
    64 octets ``r || s`` of the originator's ECDSA signature."""
    mac: bool = False
    """Whether the message travels in General Ciphering with the GBCS MAC."""


def encode_payload(header: GroupingHeader, payload: Payload) -> bytes:
    """The payload octets, checked against what the header's message code and CRA flag
    carry."""
    spec = payload_spec(header.message_code, header.cra) \
        if isinstance(header, GroupingHeader) else None
    if spec is None:
        raise WireEncodeError("cannot encode the payload", path="message code",
                              expected="a covered message code and CRA flag (docs/gbcs-real.md)",
                              found=repr(header))
    if not isinstance(payload, spec.types):
        raise WireEncodeError("cannot encode the payload", path="payload",
                              expected=" or ".join(t.__name__ for t in spec.types),
                              found=type(payload).__name__)
    return payload.encode()


def apdu(message: Message) -> bytes:
    """The General Signing APDU, with the signature field as ``message`` has it."""
    return encode_signing(message.header, encode_payload(message.header, message.payload),
                          message.signature)


def signed_bytes(message: Message) -> bytes:
    """What the originator's signature covers: the APDU after ``DF``, up to the end of the
    content."""
    return encode_signing(message.header, encode_payload(message.header, message.payload),
                          None)[1:]


def sign(message: Message, key: ec.EllipticCurvePrivateKey) -> Message:
    """``message`` with its signature field set to the originator's signature by ``key``
    (deterministic, low-S)."""
    return replace(message, signature=sign_bytes(key, signed_bytes(message)))


def _mac_key(keys: KeyRing | None, header: GroupingHeader) -> bytes:
    key = keys.mac_key(header) if keys is not None else None
    if key is None:
        parties = keys.mac_parties(header) if keys is not None else None
        raise WireEncodeError("cannot compute the MAC", path="MAC",
                              expected="a key ring holding a private key-agreement key of "
                              + (" or ".join(map(str, parties)) if parties
                                 else "the ACB (and knowing which EUI it is)")
                              + " and the other's public one",
                              found="no such keys" if keys is not None else "no key ring")
    return key


def encode(message: Message, keys: KeyRing | None = None) -> bytes:
    """The bytes of ``message``: its General Signing APDU, MAC'd in General Ciphering
    when ``message.mac`` (``keys`` must then give the MAC key)."""
    if not isinstance(message, Message):
        raise WireEncodeError("cannot encode", expected="a Message", found=repr(message))
    body = apdu(message)
    if not message.mac:
        return body
    return encode_ciphering(body, compute_mac(_mac_key(keys, message.header),
                                              message.header, body))


def wrap_mac(signing_apdu: bytes, keys: KeyRing, *, source: str = "<gbcs>") -> bytes:
    """General Ciphering with the MAC around a General Signing APDU, octets untouched.
    Raises :class:`WireError` if ``signing_apdu`` is not one."""
    data = bytes(signing_apdu)
    parts = read_signing(Reader(data, source))
    return encode_ciphering(data, compute_mac(_mac_key(keys, parts.header), parts.header, data))


def _parts(data: bytes, source: str) -> tuple[SigningParts, tuple[bytes, bytes, int] | None]:
    reader = Reader(data, source)
    first = data[0] if data else None
    if first == GENERAL_CIPHERING:
        frame = read_ciphering(reader)
        return read_signing(frame.apdu), (frame.apdu_bytes, frame.mac, frame.mac_at)
    if first == GENERAL_SIGNING:
        return read_signing(reader), None
    raise reader.error(UnexpectedValue, "not a GBCS message", "frame tag",
                       expected="0xDD (general ciphering) or 0xDF (general signing)",
                       found="no data" if first is None else f"0x{first:02X}")


def _spec(parts: SigningParts) -> PayloadSpec:
    header = parts.header
    spec = payload_spec(header.message_code, header.cra)
    if spec is None:
        raise parts.content.error(
            Unsupported, "a message code (or CRA flag) not covered", "message code",
            expected="a covered use case (docs/gbcs-real.md)",
            found=f"0x{header.message_code:04X} with CRA flag {int(header.cra)}",
            offset=parts.message_code_at)
    return spec


def _payload(parts: SigningParts, spec: PayloadSpec) -> Payload:
    payload = spec.decode(parts.content)
    parts.content.done("the payload")
    return payload


def inspect(data: bytes, *, source: str = "<gbcs>") -> Message:
    """The message ``data`` holds, **unchecked**: neither MAC nor signature verified, nor
    their presence required."""
    data = bytes(data)
    parts, macd = _parts(data, source)
    return Message(parts.header, _payload(parts, _spec(parts)), parts.signature,
                   macd is not None)


def decode(data: bytes, keys: KeyRing, *, require: Protection | None = None,
           source: str = "<gbcs>") -> Message:
    """The message ``data`` holds, its MAC (if MAC'd) and signature (if any) verified with
    ``keys``.

    ``require`` is the protection the message must carry: by default what GBCS requires
    between the DCC and the device for its use case (:class:`~.usecases.Protection`);
    ``Protection.SIGNATURE`` for a SignedPreCommand a user sends the DCC,
    ``Protection.NONE`` for a PreCommand.  Raises :class:`WireError`
    (:class:`Unprotected`, :class:`MacInvalid`, :class:`SignatureInvalid`,
    :class:`KeyUnavailable`, or a structural class) for anything else."""
    data = bytes(data)
    parts, macd = _parts(data, source)
    header = parts.header
    spec = _spec(parts)
    required = spec.protection if require is None else require
    if Protection.MAC in required and macd is None:
        raise Unprotected("a message without its MAC", offset=0, field="frame tag",
                          source=source, expected="0xDD: general ciphering with the MAC",
                          found="0xDF: general signing alone")
    if Protection.SIGNATURE in required and not parts.signature:
        raise Unprotected("a message without its signature", offset=parts.signature_at,
                          field="signature", source=source,
                          expected=f"the signature of {header.originator}",
                          found="an empty signature field" if parts.signature == b""
                          else "no signature field")
    if macd is not None:
        body, mac, mac_at = macd
        key = keys.mac_key(header)
        if key is None:
            parties = keys.mac_parties(header)
            raise KeyUnavailable("the MAC cannot be checked", offset=mac_at, field="MAC",
                                 source=source, expected="key-agreement keys of "
                                 + (" and ".join(map(str, parties)) if parties
                                    else "the ACB and the recipient (no ACB named)"),
                                 found="no private key of either, or no public key of the other")
        if not mac_matches(key, header, body, mac):
            raise MacInvalid("the MAC does not verify", offset=mac_at, field="MAC",
                             source=source, expected="the MAC of the general-signing APDU",
                             found=mac.hex(" ").upper())
    if parts.signature:
        public = keys.public_key(header.originator, DIGITAL_SIGNING)
        if public is None:
            raise KeyUnavailable("the signature cannot be checked", offset=parts.signature_at,
                                 field="signature", source=source,
                                 expected=f"the digital-signing key of {header.originator}",
                                 found="none in the key ring")
        if not signature_matches(public, parts.signed, parts.signature):
            raise SignatureInvalid("the signature does not verify", offset=parts.signature_at,
                                   field="signature", source=source,
                                   expected=f"a signature by {header.originator}'s "
                                   "digital-signing key", found="one that does not verify")
    return Message(header, _payload(parts, spec), parts.signature, macd is not None)


__all__ = ["Message", "apdu", "decode", "encode", "encode_payload", "inspect",
           "sign", "signed_bytes", "wrap_mac"]
