"""ECDSA P-256 signatures as duis writes them: raw ``r || s``, always low-S.

An ECDSA signature ``(r, s)`` has a twin ``(r, n - s)`` that verifies just as
well (``n`` the order of the curve), so a signature value is malleable: anyone
can turn one valid value into another without the key.  Every signature duis
makes -- XML signatures (:mod:`duis.signatures.sign`) and GBCS command
signatures (:mod:`duis.signatures.gbcs`) -- is therefore written in the one
canonical form of the pair, with ``s <= n / 2`` ("low-S", as Bitcoin's BIP 62
and Ethereum's EIP-2 require): ``s`` is replaced by ``n - s`` when above.
RFC 6979 nonces keep the result deterministic.

Verifying accepts both forms (see ``docs/signatures.md``): neither XML-DSig
nor the DCC's tool nor :mod:`cryptography` (OpenSSL) refuses a high-S value,
and nothing in duis is keyed by signature bytes (replay protection reads the
signed RequestID counter), so the twin of a signature gains an attacker nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .profile import COORDINATE_BYTES

#: the order ``n`` of the P-256 (secp256r1) base point (FIPS 186-4, D.1.2.3)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: the largest low-S value
P256_HALF_ORDER = P256_ORDER // 2


def low_s(r: int, s: int) -> tuple[int, int]:
    """``(r, s)`` in its low-S form: ``(r, n - s)`` when ``s > n / 2``."""
    return (r, P256_ORDER - s) if s > P256_HALF_ORDER else (r, s)


def sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes,
             algorithm: ec.ECDSA) -> bytes:
    """The 64-byte raw ``r || s`` signature of ``data``, low-S (``key`` is P-256)."""
    r, s = low_s(*decode_dss_signature(key.sign(data, algorithm)))
    return r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")


def is_low_s(value: bytes) -> bool:
    """Whether a raw ``r || s`` value has ``s <= n / 2``."""
    return int.from_bytes(value[COORDINATE_BYTES:], "big") <= P256_HALF_ORDER


_VERIFY = ec.ECDSA(hashes.SHA256())
#: successful verifications remembered (a GBCS signature is checked by the DSP, then
#: again by the device it is for: the second check is a look-up)
VERIFIED_CACHE_SIZE = 4096
_verified: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
_verified_lock = threading.Lock()


def verify_raw(key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    """Whether the raw ``r || s`` ``signature`` (either S form) is an ECDSA P-256 / SHA-256
    signature of ``data`` by ``key``.  A success is remembered (the same key, data and
    signature verify without the curve arithmetic); a failure is not."""
    if len(signature) != 2 * COORDINATE_BYTES:
        return False
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    slot = (point, bytes(data), bytes(signature))
    with _verified_lock:
        if slot in _verified:
            _verified.move_to_end(slot)
            return True
    der = encode_dss_signature(int.from_bytes(signature[:COORDINATE_BYTES], "big"),
                               int.from_bytes(signature[COORDINATE_BYTES:], "big"))
    try:
        key.verify(der, data, _VERIFY)
    except InvalidSignature:
        return False
    with _verified_lock:
        _verified[slot] = None
        while len(_verified) > VERIFIED_CACHE_SIZE:
            _verified.popitem(last=False)
    return True


def forget_verified() -> None:
    """Empty the remembered verifications (a benchmark timing the curve arithmetic)."""
    with _verified_lock:
        _verified.clear()


__all__ = ["P256_HALF_ORDER", "P256_ORDER", "VERIFIED_CACHE_SIZE", "forget_verified",
           "is_low_s", "low_s", "sign_raw", "verify_raw"]
