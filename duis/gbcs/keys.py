"""The GBCS keys of a world: who holds which key-agreement ("ka") and digital-signing
("ds") key, as one :class:`~.wire.crypto.KeyRing` built once per DSP or world.

- **DCC parties** -- the DSP as Access Control Broker (the ring's ``acb``) and the DCC
  users (the EUI-64s the credential store gives DUIS roles) -- use the credential
  store's GBCS certificates and keys (function ``ka`` or ``ds``: the store's
  ``gbcs_credential``).  A party the store has no GBCS key of (a store from before the
  key-agreement keys, e.g. ZAZ1's) falls back on the key derived as for a device, so
  that such a store still works; the fallback is not a certificate anyone else can
  look up.
- **Devices** (everyone else) use their deterministic keys,
  :func:`~.wire.certificates.party_keys` of their EUI-64 under the world's seed (the
  certificates ``duis pki export-devices`` writes).

Keys are resolved the first time they are asked for: a DCC party's are kept; a device's
are not objects at all until needed, only its private scalar (a hash of the seed and its
EUI-64).  The ring caches the shared secret ``Z`` of each pair (a message's MAC key is
then a hash and a block cipher away); when it knows both private scalars of a pair (a
device and a DCC party whose private key the store holds: every pair of the emulation),
``Z`` is the x coordinate of ``(a * b mod n) G``, one fixed-base multiplication instead of
deriving the device's key and an ECDH.  The device keys it does build (to sign, or to
give a public key) are kept in a bounded cache, so that a fleet of any size holds only
the shared secrets.
"""

from __future__ import annotations

from collections import OrderedDict

from cryptography.hazmat.primitives.asymmetric import ec

from ..messages.ids import EUI64
from ..signatures.credentials import Credential, CredentialStore
from ..signatures.ecdsa import P256_ORDER
from ..signatures.errors import CredentialError
from .wire.certificates import DEFAULT_SEED, derive_key, derive_scalar
from .wire.crypto import KEY_AGREEMENT, KeyRing, Usage

#: pairs whose shared secret a world's ring keeps: two per device of a large fleet
#: (the ACB's and its user's with it), about 0.3 kB each
WORLD_CACHE_SIZE = 1 << 18
#: device key objects (signing, public keys) kept: a device signs once in a while
DEVICE_KEY_CACHE_SIZE = 1024
#: messages this world encoded, by their bytes, kept for the hop to their recipient
SENT_CACHE_SIZE = 256


def device_key(eui: EUI64, usage: Usage, seed: int = DEFAULT_SEED) -> ec.EllipticCurvePrivateKey:
    """A device's ``usage`` key: the one :func:`~.wire.certificates.party_keys` gives."""
    return derive_key(f"{eui.compact}/{usage}", seed)


def _usage(usage: str) -> Usage:
    return KEY_AGREEMENT if usage == KEY_AGREEMENT else "ds"


def _store_credential(store: CredentialStore, eui: EUI64, usage: Usage) -> Credential | None:
    """The store's GBCS credential of ``eui`` for ``usage``
    (:meth:`~duis.signatures.credentials.CredentialStore.gbcs_credential`), or None."""
    try:
        return store.gbcs_credential(eui, usage)
    except CredentialError:
        return None


class WorldKeys(KeyRing):
    """The key ring of a world: DCC parties' keys from ``store``, devices' derived from
    ``seed`` (module docstring)."""

    def __init__(self, store: CredentialStore, *, acb: EUI64 | str, seed: int = DEFAULT_SEED,
                 cache_size: int = WORLD_CACHE_SIZE,
                 device_keys: int = DEVICE_KEY_CACHE_SIZE) -> None:
        super().__init__(acb=acb, cache_size=cache_size)
        self.store, self.seed = store, seed
        self.device_keys = device_keys
        self._built: OrderedDict[tuple[EUI64, Usage], ec.EllipticCurvePrivateKey] = OrderedDict()
        self._scalars: dict[tuple[EUI64, Usage], int | None] = {}
        """DCC parties' private scalars (None: the store has only their certificate)."""
        self._sent: OrderedDict[bytes, object] = OrderedDict()

    # --- the hop inside the emulation ------------------------------------------------

    def remember(self, data: bytes, message: object) -> None:
        """``data`` is what :func:`duis.gbcs.codec.encode` made of ``message`` with this
        ring (kept for :meth:`recall`, the last :data:`SENT_CACHE_SIZE`)."""
        with self._lock:
            self._sent[data] = message
            while len(self._sent) > SENT_CACHE_SIZE:
                self._sent.popitem(last=False)

    def recall(self, data: bytes) -> object | None:
        """The message this ring encoded into exactly ``data``, or None.  Decoding those
        bytes with this ring could only give it back: the codec is canonical and the
        MAC and signatures deterministic, so a device receiving bytes its own world just
        made need not parse them again (any other bytes are decoded and checked)."""
        with self._lock:
            return self._sent.get(data)

    def is_dcc_party(self, eui: EUI64) -> bool:
        """The ACB or a DCC user (roles in the store); else a device."""
        return eui == self.acb or bool(self.store.roles_of(eui))

    # --- a device's keys: a scalar, and a key object only when one is needed ---------

    def _device(self, eui: EUI64, usage: Usage) -> ec.EllipticCurvePrivateKey:
        slot = (eui, usage)
        with self._lock:
            key = self._built.get(slot)
            if key is not None:
                self._built.move_to_end(slot)
                return key
        key = ec.derive_private_key(derive_scalar(f"{eui.compact}/{usage}", self.seed),
                                    ec.SECP256R1())
        with self._lock:
            self._built[slot] = key
            while len(self._built) > self.device_keys:
                self._built.popitem(last=False)
        return key

    def _resolve(self, eui: EUI64, usage: Usage) -> bool:
        """Load a DCC party's key from the store; False for a device (or a party the
        store has no GBCS key of: derived as a device's)."""
        if not self.is_dcc_party(eui):
            return False
        credential = _store_credential(self.store, eui, usage)
        if credential is None:
            return False
        if credential.private_key is not None:
            self.add(eui, usage, private_key=credential.private_key,
                     public_key=credential.public_key)
        else:
            self.add(eui, usage, public_key=credential.public_key)
        return True

    def _party(self, eui: EUI64, usage: Usage) -> bool:
        """Whether ``eui``'s ``usage`` key is the store's (resolved into the ring)."""
        slot = (eui, usage)
        if slot in self._public:
            return True
        return self._resolve(eui, usage)

    def private_key(self, eui: EUI64 | str, usage: str) -> ec.EllipticCurvePrivateKey | None:
        slot = (EUI64.parse(eui), _usage(usage))
        if self._party(*slot):
            return super().private_key(*slot)
        return self._device(*slot)

    def public_key(self, eui: EUI64 | str, usage: str) -> ec.EllipticCurvePublicKey | None:
        slot = (EUI64.parse(eui), _usage(usage))
        if self._party(*slot):
            return super().public_key(*slot)
        return self._device(*slot).public_key()

    # --- Z --------------------------------------------------------------------------

    def _scalar(self, eui: EUI64) -> int | None:
        """``eui``'s private key-agreement scalar, when the ring can have it."""
        if not self._party(eui, KEY_AGREEMENT):
            return derive_scalar(f"{eui.compact}/{KEY_AGREEMENT}", self.seed)
        slot = (eui, KEY_AGREEMENT)
        if slot not in self._scalars:
            key = super().private_key(*slot)
            self._scalars[slot] = None if key is None else key.private_numbers().private_value
        return self._scalars[slot]

    def compute_secret(self, a: EUI64, b: EUI64) -> bytes | None:
        """``Z`` by one fixed-base multiplication when both private scalars are known
        (else by ECDH)."""
        first, second = self._scalar(a), self._scalar(b)
        if first is None or second is None:
            return super().compute_secret(a, b)
        point = ec.derive_private_key(first * second % P256_ORDER, ec.SECP256R1())
        return point.public_key().public_numbers().x.to_bytes(32, "big")


def world_keys(store: CredentialStore, *, acb: EUI64 | str,
               seed: int = DEFAULT_SEED) -> WorldKeys:
    """The key ring of a DSP (the ACB ``acb``) and its world."""
    return WorldKeys(store, acb=acb, seed=seed)


__all__ = ["WorldKeys", "device_key", "world_keys"]
