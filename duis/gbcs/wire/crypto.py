"""The GBCS MAC, the originators' signatures, and the keys both need.

**The MAC** (a message in General Ciphering, :mod:`.frames`):

1. ``Z``: ECDH on P-256 between the two parties' key-agreement ("ka") keys.  For a
   response or an alert the parties are the originator and the recipient; for a
   command they are the DCC's Access Control Broker (ACB), which MACs every command it
   lets through, and the recipient device.  ``Z`` is the same whichever side computes
   it, so a party holding either private key can make or check the MAC.
2. The key: the first 16 octets of SHA-256 over ``00 00 00 01``, ``Z`` and 33 octets
   of other information: the algorithm id ``60 85 74 06 08 03 00``, the originator
   system title, ``09``, the CRA flag, the originator counter and the recipient system
   title (all from the grouping header).  One round of the NIST SP 800-56A
   concatenation KDF: a fresh key per message, since the counter changes.
3. The MAC: AES-128-GCM with that key over no plaintext, the 12-octet IV being the
   originator system title then four zero octets, the additional data being ``11``
   and five zero octets followed by the whole General Signing APDU; the tag is cut to
   its first 12 octets.

``Z`` costs an elliptic-curve multiplication; steps 2 and 3 a hash and a block cipher.
:class:`KeyRing` therefore keeps ``Z`` per pair of parties in a bounded LRU cache.

**Signatures**: ECDSA P-256 / SHA-256 by the originator's digital-signing ("ds") key,
written raw ``r || s`` (64 octets), always low-S and with RFC 6979 nonces
(:mod:`duis.signatures.ecdsa`): the same message and key give the same octets.
Verifying accepts both S forms, as the rest of duis does.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...messages.ids import EUI64
from ...signatures.ecdsa import sign_raw, verify_raw
from .errors import KeyFileError
from .frames import MAC_BYTES, SECURITY_CONTROL, Cra, GroupingHeader

Usage = Literal["ka", "ds"]
KEY_AGREEMENT: Usage = "ka"
DIGITAL_SIGNING: Usage = "ds"

#: the KDF's AlgorithmID (other information, first 7 octets)
ALGORITHM_ID = bytes.fromhex("60857406080300")
_KDF_ROUND = b"\x00\x00\x00\x01"
_AAD_PREFIX = bytes((SECURITY_CONTROL,)) + bytes(5)
_IV_TAIL = bytes(4)
_MAC_KEY_BYTES = 16
_SIGN = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
DEFAULT_CACHE_SIZE = 4096
"""Pairs whose shared secret a :class:`KeyRing` keeps (32 octets each, plus the keys)."""


# --- the MAC ---------------------------------------------------------------------

def kdf_other_info(header: GroupingHeader) -> bytes:
    """The 33 octets of KDF other information for the MAC of a message with ``header``."""
    return (ALGORITHM_ID + header.originator.raw + b"\x09" + bytes((header.cra,))
            + header.originator_counter.to_bytes(8, "big") + header.recipient.raw)


def mac_key(shared_secret: bytes, header: GroupingHeader) -> bytes:
    """The AES-128 key of the MAC of a message with ``header``, from the pair's ``Z``."""
    return hashlib.sha256(_KDF_ROUND + shared_secret + kdf_other_info(header)).digest()[
        :_MAC_KEY_BYTES]


def compute_mac(key: bytes, header: GroupingHeader, apdu: bytes) -> bytes:
    """The 12-octet MAC of the General Signing ``apdu`` (whose header is ``header``)."""
    tag = AESGCM(key).encrypt(header.originator.raw + _IV_TAIL, b"", _AAD_PREFIX + apdu)
    return tag[:MAC_BYTES]


def mac_matches(key: bytes, header: GroupingHeader, apdu: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the MAC of ``apdu`` (compared in constant time)."""
    return hmac.compare_digest(compute_mac(key, header, apdu), mac)


# --- signatures ------------------------------------------------------------------

def sign_bytes(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """The 64-octet ``r || s`` ECDSA signature of ``data``: low-S, deterministic."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise TypeError(f"GBCS signing needs an EC P-256 private key, not {type(key).__name__}")
    return sign_raw(key, data, _SIGN)


def signature_matches(key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (``r || s``) is a signature of ``data`` by ``key``
    (:func:`duis.signatures.ecdsa.verify_raw`)."""
    return verify_raw(key, data, signature)


# --- keys ------------------------------------------------------------------------

def _p256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) \
        and key.curve.name == "secp256r1"


def _usage(usage: str) -> Usage:
    if usage == KEY_AGREEMENT:
        return KEY_AGREEMENT
    if usage == DIGITAL_SIGNING:
        return DIGITAL_SIGNING
    raise ValueError(f"a key usage is 'ka' or 'ds', not {usage!r}")


#: the largest key or certificate file read (a P-256 one is well under a kilobyte)
MAX_KEY_FILE_BYTES = 64 * 1024


def _key_file(path: Path) -> bytes:
    """The bytes of a key folder's file, refused unread past :data:`MAX_KEY_FILE_BYTES`."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError("cannot read the key file", source=str(path),
                           expected="a readable PEM file",
                           found=exc.strerror or type(exc).__name__) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError("key file too large", source=str(path),
                           expected=f"at most {MAX_KEY_FILE_BYTES} bytes", found="more")
    return data


def _unreadable(path: Path, what: str, exc: Exception) -> KeyFileError:
    """The refusal of a key file the cryptography library could not read (its own
    message, first line only: a parser's dump can be long)."""
    return KeyFileError(f"not {what}", source=str(path), expected=what,
                        found=(str(exc).splitlines() or [type(exc).__name__])[0][:200])


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a PEM certificate or public key file."""
    data = _key_file(path)
    try:
        key: object = (x509.load_pem_x509_certificate(data).public_key()
                       if b"CERTIFICATE" in data else serialization.load_pem_public_key(data))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _unreadable(path, "a PEM certificate or public key", exc) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not _p256(key):
        raise KeyFileError("not an EC P-256 key", source=str(path), expected="EC P-256",
                           found=type(key).__name__)
    return key


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key of a PEM file (PKCS#8 or SEC 1, unencrypted)."""
    try:
        key: object = serialization.load_pem_private_key(_key_file(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _unreadable(path, "an unencrypted PEM private key", exc) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _p256(key):
        raise KeyFileError("not an EC P-256 key", source=str(path), expected="EC P-256",
                           found=type(key).__name__)
    return key


class KeyRing:
    """The keys one party (a device, a user, the DSP as ACB, a test) can use.

    Keys are given with :meth:`add`, or found in key folders: a file
    ``<eui>-<ka|ds>.pem`` (certificate or public key) and ``<eui>-<ka|ds>.key``
    (private key), ``<eui>`` being the 16 lower-case hex digits of the EUI-64 -- the
    names the DCC's parser and DCC Boxed use.  A folder file is read the first time
    it is asked for; :meth:`add` overrides it.

    ``acb`` is the EUI-64 of the Access Control Broker, the party whose key-agreement
    key MACs commands.  The shared secret of each pair of parties is computed once and
    kept (the ``cache_size`` most recently used pairs).  Thread-safe.
    """

    def __init__(self, *, acb: EUI64 | str | None = None,
                 folders: Iterable[str | os.PathLike[str]] = (),
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.acb = None if acb is None else EUI64.parse(acb)
        self.folders = tuple(Path(folder) for folder in folders)
        self.cache_size = cache_size
        self._private: dict[tuple[EUI64, Usage], ec.EllipticCurvePrivateKey | None] = {}
        self._public: dict[tuple[EUI64, Usage], ec.EllipticCurvePublicKey | None] = {}
        self._secrets: OrderedDict[tuple[bytes, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # keys

    def add(self, eui: EUI64 | str, usage: str, *,
            private_key: ec.EllipticCurvePrivateKey | None = None,
            public_key: ec.EllipticCurvePublicKey | None = None) -> None:
        """Hold ``eui``'s ``usage`` key (the public key is taken from the private one when
        not given).  Replacing a key-agreement key forgets the secrets it was part of."""
        eui, usage = EUI64.parse(eui), _usage(usage)
        for key in (private_key, public_key):
            if key is not None and not _p256(key):
                raise TypeError(f"GBCS keys are EC P-256, not {type(key).__name__}")
        if private_key is None and public_key is None:
            raise ValueError("add needs a private key, a public key or both")
        with self._lock:
            self._private[eui, usage] = private_key
            self._public[eui, usage] = public_key if public_key is not None \
                else private_key.public_key() if private_key is not None else None
            if usage == KEY_AGREEMENT:
                raw = eui.raw
                for pair in [pair for pair in self._secrets if raw in pair]:
                    del self._secrets[pair]

    def _file(self, eui: EUI64, usage: Usage, suffix: str) -> Path | None:
        name = f"{eui.compact.lower()}-{usage}{suffix}"
        for folder in self.folders:
            path = folder / name
            if path.is_file():
                return path
        return None

    def private_key(self, eui: EUI64 | str, usage: str) -> ec.EllipticCurvePrivateKey | None:
        """``eui``'s private ``usage`` key, or None when this ring does not hold it."""
        slot = (EUI64.parse(eui), _usage(usage))
        if slot in self._private:
            return self._private[slot]
        # a key file is read once; a miss is not remembered (the EUI-64 comes from a message
        # not yet authenticated: remembering every one asked for would grow without bound)
        path = self._file(*slot, ".key")
        if path is None:
            return None
        key = load_private_key(path)
        with self._lock:
            return self._private.setdefault(slot, key)

    def public_key(self, eui: EUI64 | str, usage: str) -> ec.EllipticCurvePublicKey | None:
        """``eui``'s public ``usage`` key, or None when this ring knows none."""
        slot = (EUI64.parse(eui), _usage(usage))
        if slot in self._public:
            return self._public[slot]
        path = self._file(*slot, ".pem")
        key = load_public_key(path) if path is not None else None
        if key is None:
            private = self.private_key(*slot)
            if private is None:
                return None
            key = private.public_key()
        with self._lock:
            return self._public.setdefault(slot, key)

    # the MAC

    def mac_parties(self, header: GroupingHeader) -> tuple[EUI64, EUI64] | None:
        """The two parties whose key agreement MACs a message with ``header`` (None for a
        command when the ring knows no ACB)."""
        if header.cra == Cra.COMMAND:
            return None if self.acb is None else (self.acb, header.recipient)
        return header.originator, header.recipient

    def shared_secret(self, a: EUI64, b: EUI64) -> bytes | None:
        """``Z`` of the pair (either order), from whichever private key the ring holds;
        None when it holds neither party's private key, or not the other's public key."""
        pair = (a.raw, b.raw) if a.raw <= b.raw else (b.raw, a.raw)
        with self._lock:
            secret = self._secrets.get(pair)
            if secret is not None:
                self._secrets.move_to_end(pair)
                self.hits += 1
                return secret
        secret = self.compute_secret(a, b)
        if secret is None:
            return None
        with self._lock:
            self.misses += 1
            self._secrets[pair] = secret
            while len(self._secrets) > self.cache_size:
                self._secrets.popitem(last=False)
        return secret

    def compute_secret(self, a: EUI64, b: EUI64) -> bytes | None:
        """``Z`` of the pair by ECDH, not cached (:meth:`shared_secret` caches it)."""
        for mine, theirs in ((a, b), (b, a)):
            private = self.private_key(mine, KEY_AGREEMENT)
            public = self.public_key(theirs, KEY_AGREEMENT) if private is not None else None
            if private is not None and public is not None:
                return private.exchange(ec.ECDH(), public)
        return None

    def mac_key(self, header: GroupingHeader) -> bytes | None:
        """The AES key of the MAC of a message with ``header``, or None without the keys."""
        parties = self.mac_parties(header)
        secret = self.shared_secret(*parties) if parties is not None else None
        return None if secret is None else mac_key(secret, header)

    def held_keys(self) -> int:
        """How many keys (public or private) the ring holds now, folder files read included."""
        return len(self._private) + len(self._public)

    def cached_pairs(self) -> int:
        """How many pairs' shared secrets are kept now."""
        return len(self._secrets)


__all__ = ["ALGORITHM_ID", "DEFAULT_CACHE_SIZE", "DIGITAL_SIGNING", "KEY_AGREEMENT", "KeyRing",
           "Usage", "compute_mac", "kdf_other_info", "load_private_key", "load_public_key",
           "mac_key", "mac_matches", "sign_bytes", "signature_matches"]
