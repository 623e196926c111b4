"""Keys and certificates for parties that speak real GBCS: emulated devices, test users.

GBCS device certificates (SMKI) are X.509 v3 with an **empty subject**; the device's
EUI-64 is in a critical subjectAltName, as an otherName of type hardwareModuleName
(``1.3.6.1.5.5.7.8.4``) whose value is ``SEQUENCE { hwType OBJECT IDENTIFIER,
hwSerialNum OCTET STRING (the 8 octets of the EUI-64) }``.  Organisation (user)
certificates name the party in the subject instead: its SMKI role code as an OU and
the EUI-64 as ``x500UniqueIdentifier`` (a BIT STRING of the 8 octets).  Key usage is
critical: keyAgreement for a "ka" certificate, digitalSignature for a "ds" one.

The DCC's parser finds a party's keys by **file name** only, ``<eui>-<ka|ds>.pem`` (and
``.key`` for a private key, ``<eui>`` in 16 lower-case hex digits), and uses nothing
of a certificate but its public key: :func:`write_key_folder` writes such a folder,
which :class:`~.crypto.KeyRing` reads too.

Everything here is deterministic: keys derive from a seed and the party's EUI-64,
certificates are signed with RFC 6979 nonces, dates and serial numbers are fixed by
the inputs.  Test keys only: the seed is public.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ...messages.ids import EUI64
from ...signatures.credentials import HARDWARE_MODULE_NAME, certificate_eui
from ...signatures.ecdsa import P256_ORDER
from .crypto import DIGITAL_SIGNING, KEY_AGREEMENT, KeyRing, Usage
from .der import OCTET_STRING, SEQUENCE, encode_oid, tlv

#: hwType of a GBCS device's hardwareModuleName (as the SMKI test device certificates have)
DEVICE_HW_TYPE = "1.2.826.0.1.8641679.1.2.2.1"
DEFAULT_SEED = 20260101
ISSUER_NAME = "DUIS-GBCS-TEST-CA"
VALIDITY = (_dt.datetime(2020, 1, 1, tzinfo=_dt.UTC), _dt.datetime(9999, 12, 31, 23, 59, 59,
                                                                     tzinfo=_dt.UTC))
USAGES: tuple[Usage, Usage] = (KEY_AGREEMENT, DIGITAL_SIGNING)


def derive_key(label: str, seed: int = DEFAULT_SEED) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key derived from ``seed`` and ``label`` (the same inputs, the same key)."""
    return ec.derive_private_key(derive_scalar(label, seed), ec.SECP256R1())


def derive_scalar(label: str, seed: int = DEFAULT_SEED) -> int:
    """The private scalar of :func:`derive_key` (a hash: no curve arithmetic)."""
    digest = hashlib.sha256(f"duis-gbcs-wire/{seed}/{label}".encode()).digest()
    return int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1


@dataclass(frozen=True)
class PartyKeys:
    """A party's two private keys: key agreement (the MAC) and digital signing."""

    eui: EUI64
    ka: ec.EllipticCurvePrivateKey
    ds: ec.EllipticCurvePrivateKey

    def key(self, usage: Usage) -> ec.EllipticCurvePrivateKey:
        return self.ka if usage == KEY_AGREEMENT else self.ds


def party_keys(eui: EUI64 | str, seed: int = DEFAULT_SEED) -> PartyKeys:
    """The deterministic keys of ``eui`` under ``seed``."""
    eui = EUI64.parse(eui)
    return PartyKeys(eui, derive_key(f"{eui.compact}/ka", seed),
                     derive_key(f"{eui.compact}/ds", seed))


def _key_usage(usage: Usage) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=usage == DIGITAL_SIGNING, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=usage == KEY_AGREEMENT, key_cert_sign=False,
                         crl_sign=False, encipher_only=False, decipher_only=False)


def hardware_module_name(eui: EUI64) -> x509.OtherName:
    """The subjectAltName entry naming a device: hwType and the EUI-64's 8 octets."""
    value = tlv(SEQUENCE, encode_oid(DEVICE_HW_TYPE) + tlv(OCTET_STRING, eui.raw))
    return x509.OtherName(HARDWARE_MODULE_NAME, value)


def certificate_serial(eui: EUI64 | str, usage: Usage) -> int:
    """The serial number of ``eui``'s ``usage`` certificate (a hash: no key is derived)."""
    digest = hashlib.sha256(f"{EUI64.parse(eui).compact}/{usage}".encode()).digest()
    return int.from_bytes(digest[:15], "big") | 1


def certificate(eui: EUI64 | str, usage: Usage, public_key: ec.EllipticCurvePublicKey,
                issuer_key: ec.EllipticCurvePrivateKey, *, device: bool,
                role_code: str = "02", issuer_name: str = ISSUER_NAME) -> x509.Certificate:
    """A GBCS-shaped certificate of ``eui``'s ``usage`` key: a device certificate (EUI-64
    in the hardwareModuleName) or, with ``device=False``, an organisation certificate
    (``role_code`` as OU, the EUI-64 as x500UniqueIdentifier; 02 is a supplier)."""
    eui = EUI64.parse(eui)
    serial = certificate_serial(eui, usage)
    builder = (x509.CertificateBuilder()
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(public_key).serial_number(serial)
               .not_valid_before(VALIDITY[0]).not_valid_after(VALIDITY[1])
               .add_extension(_key_usage(usage), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    if device:
        builder = (builder.subject_name(x509.Name([]))
                   .add_extension(x509.SubjectAlternativeName([hardware_module_name(eui)]),
                                  critical=True))
    else:
        builder = builder.subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role_code),
            x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00" + eui.raw,
                               _type=_ASN1Type.BitString)]))
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def party_certificate(party: PartyKeys, usage: Usage, *, device: bool,
                      seed: int = DEFAULT_SEED, role_code: str = "02") -> x509.Certificate:
    """``party``'s ``usage`` certificate as :func:`write_key_folder` writes it (issued by
    the test issuer derived from ``seed``)."""
    return certificate(party.eui, usage, party.key(usage).public_key(),
                       derive_key("issuer", seed), device=device, role_code=role_code)


def write_key_folder(directory: str | os.PathLike[str], party: PartyKeys, *, device: bool,
                     private: bool = True, seed: int = DEFAULT_SEED,
                     role_code: str = "02") -> list[Path]:
    """Write ``party``'s certificates (``<eui>-ka.pem``, ``<eui>-ds.pem``) and, when
    ``private``, its private keys (``.key``) into ``directory``; return the paths."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    stem = party.eui.compact.lower()
    written = []
    for usage in USAGES:
        key = party.key(usage)
        cert = party_certificate(party, usage, device=device, seed=seed, role_code=role_code)
        path = target / f"{stem}-{usage}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        written.append(path)
        if private:
            path = target / f"{stem}-{usage}.key"
            path.write_bytes(_pem(key))
            written.append(path)
    return written


def add_party(ring: KeyRing, party: PartyKeys, *, private: bool = True) -> None:
    """Put ``party``'s keys in ``ring`` (only the public halves unless ``private``)."""
    for usage in USAGES:
        key = party.key(usage)
        if private:
            ring.add(party.eui, usage, private_key=key)
        else:
            ring.add(party.eui, usage, public_key=key.public_key())


__all__ = ["DEFAULT_SEED", "DEVICE_HW_TYPE", "HARDWARE_MODULE_NAME", "PartyKeys", "add_party",
           "certificate", "certificate_eui", "certificate_serial", "derive_key", "derive_scalar",
           "hardware_module_name", "party_certificate", "party_keys", "write_key_folder"]
