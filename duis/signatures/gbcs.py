"""GBCS-level signing: a user's digital-signing ("ds") key over command bytes.

A critical command goes to the device only when the user has signed it
(DUIS command variant 5: the SignedPreCommand).  The PreCommand is a GBCS
General Signing APDU without a signature field; the user signs it as GBCS
(and a DCC Boxed client) does: the signature covers the APDU after its first
octet (the ``DF`` tag) and is appended as the signature field, one length
octet (``0x40``) and the 64-byte raw ECDSA P-256/SHA-256 value ``r || s``.

The signer is the user, with its ``ds`` certificate (ZAZ1: ``OU=02`` for a
supplier, ``OU=03`` for a network operator), never its XML-signing one.
"""

from __future__ import annotations

import datetime as _dt

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..messages.ids import EUI64
from .credentials import DIGITAL_SIGNING, Credential, CredentialStore
from .ecdsa import sign_raw, verify_raw
from .errors import (
    BadSignatureValue,
    CertificateExpired,
    CertificateNotYetValid,
    CredentialError,
    SignatureMissing,
    UnknownCertificate,
)
from .profile import SIGNATURE_BYTES

#: the length octet that precedes a GBCS command signature
SIGNATURE_LENGTH_OCTET = SIGNATURE_BYTES.to_bytes(1, "big")
TRAILER_BYTES = 1 + SIGNATURE_BYTES


#: the signature algorithm objects, made once (deterministic RFC 6979 nonces, or random)
_ECDSA_SIGN = {True: ec.ECDSA(hashes.SHA256(), deterministic_signing=True),
               False: ec.ECDSA(hashes.SHA256())}


#: the octets of a General Signing APDU before what its signature covers (the tag)
SIGNED_FROM = 1


def command_signature(command: bytes, key: ec.EllipticCurvePrivateKey, *,
                      deterministic: bool = True) -> bytes:
    """The 64-byte raw ECDSA (P-256, SHA-256) signature of the APDU ``command`` (what
    follows its tag), low-S (:mod:`duis.signatures.ecdsa`)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialError("GBCS signing needs an EC P-256 key",
                              expected="an EC P-256 private key", found=type(key).__name__)
    return sign_raw(key, bytes(command)[SIGNED_FROM:], _ECDSA_SIGN[bool(deterministic)])


def sign_command(command: bytes, key: ec.EllipticCurvePrivateKey, *,
                 deterministic: bool = True) -> bytes:
    """``command`` followed by the GBCS signature trailer (length octet + r || s)."""
    return bytes(command) + SIGNATURE_LENGTH_OCTET + command_signature(
        command, key, deterministic=deterministic)


def split_signed_command(signed: bytes, source: str = "<gbcs>") -> tuple[bytes, bytes]:
    """``(command, signature)`` from signed command bytes."""
    if len(signed) <= TRAILER_BYTES or signed[-TRAILER_BYTES:-SIGNATURE_BYTES] \
            != SIGNATURE_LENGTH_OCTET:
        raise SignatureMissing("no GBCS signature trailer", source=source,
                               expected=f"command bytes, then 0x40 and {SIGNATURE_BYTES} bytes",
                               found=f"{len(signed)} bytes without that trailer")
    return bytes(signed[:-TRAILER_BYTES]), bytes(signed[-SIGNATURE_BYTES:])


def verify_command(signed: bytes, public_key: ec.EllipticCurvePublicKey, *,
                   source: str = "<gbcs>") -> bytes:
    """Check the trailer of ``signed`` with ``public_key``; return the command bytes."""
    command, signature = split_signed_command(signed, source)
    if not verify_raw(public_key, command[SIGNED_FROM:], signature):
        raise BadSignatureValue("GBCS command signature does not verify", source=source,
                                expected="a signature by the user's ds key",
                                found="a value that does not verify")
    return command


def sign_precommand(command: bytes, store: CredentialStore, user: EUI64 | str, *,
                    now: _dt.datetime | None = None) -> bytes:
    """Sign PreCommand bytes with ``user``'s ds key from the store."""
    credential = store.signing_credential(user, function=DIGITAL_SIGNING, now=now)
    assert credential.private_key is not None  # signing credentials are those with a key
    return sign_command(command, credential.private_key)


def verify_precommand(signed: bytes, store: CredentialStore, user: EUI64 | str, *,
                      now: _dt.datetime | None = None, source: str = "<gbcs>") -> bytes:
    """Verify a signed PreCommand against ``user``'s ds certificate(s) valid at ``now``."""
    user = EUI64.parse(user)
    candidates = store.for_eui(user, DIGITAL_SIGNING)
    if not candidates:
        raise UnknownCertificate("no ds certificate for the user", source=source,
                                 expected=f"a ds certificate for {user} in {store.directory}",
                                 found="none")
    when = now or _dt.datetime.now(_dt.UTC)
    valid = [c for c in candidates if c.valid_at(when)]
    if not valid:
        cls = CertificateNotYetValid if all(when < c.not_before for c in candidates) \
            else CertificateExpired
        raise cls("no ds certificate of the user valid now", source=source,
                  expected=f"a certificate valid at {when.isoformat()}",
                  found="; ".join(_span(c) for c in candidates))
    failure: BadSignatureValue | None = None
    for credential in valid:
        try:
            return verify_command(signed, credential.public_key, source=source)
        except BadSignatureValue as exc:
            failure = exc
    assert failure is not None  # valid is not empty
    raise failure


def _span(credential: Credential) -> str:
    return (f"{credential.path.name} "
            f"{credential.not_before:%Y-%m-%d}..{credential.not_after:%Y-%m-%d}")
