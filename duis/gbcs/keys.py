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

A key is resolved the first time it is asked for and kept; the ring caches the shared
secret of each pair (the MAC key of a message is then a hash and a block cipher away).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from ..messages.ids import EUI64
from ..signatures.credentials import Credential, CredentialStore
from ..signatures.errors import CredentialError
from .wire.certificates import DEFAULT_SEED, derive_key
from .wire.crypto import DEFAULT_CACHE_SIZE, KEY_AGREEMENT, KeyRing, Usage


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
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        super().__init__(acb=acb, cache_size=cache_size)
        self.store, self.seed = store, seed

    def is_dcc_party(self, eui: EUI64) -> bool:
        """The ACB or a DCC user (roles in the store); else a device."""
        return eui == self.acb or bool(self.store.roles_of(eui))

    def _resolve(self, eui: EUI64, usage: Usage) -> None:
        if self.is_dcc_party(eui):
            credential = _store_credential(self.store, eui, usage)
            if credential is not None:
                if credential.private_key is not None:
                    self.add(eui, usage, private_key=credential.private_key,
                             public_key=credential.public_key)
                else:
                    self.add(eui, usage, public_key=credential.public_key)
                return
        self.add(eui, usage, private_key=device_key(eui, usage, self.seed))

    def private_key(self, eui: EUI64 | str, usage: str) -> ec.EllipticCurvePrivateKey | None:
        slot = (EUI64.parse(eui), _usage(usage))
        if slot not in self._private:
            self._resolve(*slot)
        return super().private_key(*slot)

    def public_key(self, eui: EUI64 | str, usage: str) -> ec.EllipticCurvePublicKey | None:
        slot = (EUI64.parse(eui), _usage(usage))
        if slot not in self._public:
            self._resolve(*slot)
        return super().public_key(*slot)


def world_keys(store: CredentialStore, *, acb: EUI64 | str,
               seed: int = DEFAULT_SEED) -> WorldKeys:
    """The key ring of a DSP (the ACB ``acb``) and its world."""
    return WorldKeys(store, acb=acb, seed=seed)


__all__ = ["WorldKeys", "device_key", "world_keys"]
