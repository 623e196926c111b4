"""The project's own test PKI, in the ZAZ1 shape, generated from a seed.

A CA (``OU=07, CN=DT1``) issues EC P-256 certificates whose subject is
``OU=<SMKI role code>[, OU=<DUIS user role>], x500UniqueIdentifier=<EUI-64>``
exactly as ZAZ1 spells them (the EUI-64 as an 8-byte BIT STRING).  Users get
an XML-signing certificate (``OU=87``, with their DUIS role as a second OU)
a digital-signing ("ds") certificate for GBCS commands and a key-agreement
("ka") certificate (the GBCS MAC of what devices send them).  The DSP gets its
XML-signing certificate (``OU=89``) and, as the DCC's Access Control Broker
(``OU=04``), a ka certificate (it MACs the commands it lets through) and a ds
one.  Two devices get a ds certificate (the emulated devices' GBCS keys derive
from the world: :func:`duis.gbcs.wire.certificates.party_keys`).

The ka certificates, and the ACB's ds one, are GBCS organisation certificates
(the SMKI role code as the only OU, key usage keyAgreement or digitalSignature)
named as a GBCS key folder names them: ``<eui>-<ka|ds>.pem`` and ``.key``, the
EUI-64 in 16 lower-case hex digits.

Everything is deterministic: private keys are derived from the seed and the
party's name (``ec.derive_private_key``), serial numbers likewise, validity
dates are fixed (2020–2120; one user's certificate deliberately expired in
2021), and certificates are signed with RFC 6979 deterministic ECDSA.  The
same seed therefore always gives byte-identical files.  Test keys only: the
seed is public.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ..messages.ids import EUI64
from .errors import CredentialError

DEFAULT_SEED = 20240101
CA_NAME = "DT1"
_LONG = (_dt.datetime(2020, 1, 1, tzinfo=_dt.UTC),
         _dt.datetime(2120, 1, 1, tzinfo=_dt.UTC))
_EXPIRED = (_dt.datetime(2020, 1, 1, tzinfo=_dt.UTC),
            _dt.datetime(2021, 1, 1, tzinfo=_dt.UTC))
_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


@dataclass(frozen=True)
class Party:
    """One certificate to issue."""

    file: str
    """File stem: ``<file>.pem`` (certificate) and ``<file>.key`` (PKCS#8 PEM key)."""
    eui: str
    units: tuple[str, ...]
    """Subject OU values: the SMKI role code first, then any DUIS user role."""
    validity: tuple[_dt.datetime, _dt.datetime] = _LONG
    key_agreement: bool = False
    """A key-agreement ("ka") certificate; else a signing one."""
    label: str | None = None
    """What the key and serial derive from (default: ``file``)."""


SUPPLIER_IS = "90-B3-D5-1F-30-01-00-00"
SUPPLIER_GS = "90-B3-D5-1F-30-02-00-00"
NETWORK_OPERATOR = "90-B3-D5-1F-30-05-00-00"
EXPIRED_USER = "90-B3-D5-1F-30-09-00-00"
DSP = "90-B3-D5-1F-30-00-00-02"
ESME = "00-DB-12-34-56-78-90-A0"
GSME = "00-DB-12-34-56-78-90-A1"

#: DUIS user roles written to ``roles.toml``
ROLES = {SUPPLIER_IS: ("IS",), SUPPLIER_GS: ("GS",), NETWORK_OPERATOR: ("ED",),
         EXPIRED_USER: ("IS",)}


#: SMKI remote party role codes of the GBCS organisation certificates
SUPPLIER_ROLE, NETWORK_OPERATOR_ROLE, ACCESS_CONTROL_BROKER_ROLE = "02", "03", "04"


def _compact(eui: str) -> str:
    return EUI64.parse(eui).compact


def _ka(eui: str, role: str) -> Party:
    """A party's key-agreement certificate, named as a GBCS key folder names it."""
    return Party(f"{_compact(eui).lower()}-ka", eui, (role,), key_agreement=True)


PARTIES = (
    Party(f"xml-sign-{_compact(SUPPLIER_IS)}", SUPPLIER_IS, ("87", "IS")),
    Party(f"ds-{_compact(SUPPLIER_IS)}", SUPPLIER_IS, ("02",)),
    Party(f"xml-sign-{_compact(SUPPLIER_GS)}", SUPPLIER_GS, ("87", "GS")),
    Party(f"ds-{_compact(SUPPLIER_GS)}", SUPPLIER_GS, ("02",)),
    Party(f"xml-sign-{_compact(NETWORK_OPERATOR)}", NETWORK_OPERATOR, ("87", "ED")),
    Party(f"ds-{_compact(NETWORK_OPERATOR)}", NETWORK_OPERATOR, ("03",)),
    Party(f"xml-sign-{_compact(EXPIRED_USER)}-expired", EXPIRED_USER, ("87", "IS"), _EXPIRED),
    Party(f"dsp-xml-sign-{_compact(DSP)}", DSP, ("89",)),
    Party(f"device-ds-{_compact(ESME)}", ESME, ("ESME",)),
    Party(f"device-ds-{_compact(GSME)}", GSME, ("GSME",)),
    _ka(SUPPLIER_IS, SUPPLIER_ROLE),
    _ka(SUPPLIER_GS, SUPPLIER_ROLE),
    _ka(NETWORK_OPERATOR, NETWORK_OPERATOR_ROLE),
    _ka(DSP, ACCESS_CONTROL_BROKER_ROLE),
    Party(f"{_compact(DSP).lower()}-ds", DSP, (ACCESS_CONTROL_BROKER_ROLE,),
          label=f"ds-{_compact(DSP)}"),
)


def generate_test_pki(directory: str | os.PathLike | None = None, *,
                      seed: int = DEFAULT_SEED) -> dict[str, bytes]:
    """Build the test PKI; write it to ``directory`` when given; return ``{file name: bytes}``."""
    files = _issue(PARTIES, ROLES, seed)
    if directory is not None:
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (target / name).write_bytes(data)
    return files


#: the SMKI remote party role code of a DUIS user role's GBCS (ds, ka) certificates:
#: suppliers 02, network operators 03, the rest "other" (127, written in hex as
#: every SMKI role code in an OU is)
GBCS_ROLE_CODES = {"IS": SUPPLIER_ROLE, "ES": SUPPLIER_ROLE, "GS": SUPPLIER_ROLE,
                   "ED": NETWORK_OPERATOR_ROLE, "GT": NETWORK_OPERATOR_ROLE,
                   "RSA": "7F", "OU": "7F"}


def pki_parties(users: Mapping[str, Sequence[str]], dsp: str = DSP) -> tuple[Party, ...]:
    """The certificates of a PKI for ``users`` (EUI-64 -> DUIS user roles) and the DSP,
    in the test PKI's shape: per user an XML-signing certificate (``OU=87`` and its
    roles) and GBCS ds and ka certificates (the role code of its first role); the
    DSP's XML-signing certificate (``OU=89``) and its ka and ds certificates as the
    Access Control Broker (``OU=04``).  The GBCS ones are named ``<eui>-<ka|ds>``.
    Keys derive from the same labels as the test PKI's: a party of the test PKI
    gets the same keys under the same seed."""
    parties: list[Party] = []
    for eui, roles in users.items():
        unknown = [role for role in roles if role not in GBCS_ROLE_CODES]
        if not roles or unknown:
            raise CredentialError("unknown DUIS user role", source=eui,
                                  expected=f"one or more of {', '.join(GBCS_ROLE_CODES)}",
                                  found=", ".join(unknown) or "no role")
        stem = _compact(eui)
        code = GBCS_ROLE_CODES[roles[0]]
        parties += [Party(f"xml-sign-{stem}", eui, ("87", *roles)),
                    Party(f"{stem.lower()}-ds", eui, (code,), label=f"ds-{stem}"),
                    Party(f"{stem.lower()}-ka", eui, (code,), key_agreement=True)]
    stem = _compact(dsp)
    parties += [Party(f"dsp-xml-sign-{stem}", dsp, ("89",)),
                Party(f"{stem.lower()}-ds", dsp, (ACCESS_CONTROL_BROKER_ROLE,),
                      label=f"ds-{stem}"),
                _ka(dsp, ACCESS_CONTROL_BROKER_ROLE)]
    return tuple(parties)


def generate_pki(users: Mapping[str, Sequence[str]], *, dsp: str = DSP,
                 seed: int = DEFAULT_SEED) -> dict[str, bytes]:
    """A test PKI for a team's own DCC users: ``{file name: bytes}`` of the CA, the
    certificates and keys of :func:`pki_parties` and ``roles.toml``.  ``users`` maps
    an EUI-64 (any spelling :class:`~duis.messages.ids.EUI64` reads) to its DUIS user
    roles.  Deterministic: the same users, DSP and seed give the same bytes."""
    canonical: dict[str, tuple[str, ...]] = {}
    for eui, roles in users.items():
        text = str(EUI64.parse(eui))
        if text in canonical or str(EUI64.parse(dsp)) == text:
            raise CredentialError("an EUI-64 given twice", source=eui,
                                  expected="each user and the DSP once",
                                  found=f"{text} again")
        canonical[text] = tuple(roles)
    dsp = str(EUI64.parse(dsp))
    return _issue(pki_parties(canonical, dsp), canonical, seed)


def _issue(parties: Iterable[Party], roles: Mapping[str, Sequence[str]],
           seed: int) -> dict[str, bytes]:
    ca_key = _key(seed, "ca")
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
                         x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    ca_cert = _ca_certificate(seed, ca_key, ca_name)
    files = {f"ca-{CA_NAME}.pem": ca_cert.public_bytes(serialization.Encoding.PEM)}
    for party in parties:
        key = _key(seed, party.label or party.file)
        cert = _certificate(seed, party, key, ca_key, ca_cert)
        files[f"{party.file}.pem"] = cert.public_bytes(serialization.Encoding.PEM)
        files[f"{party.file}.key"] = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
    files["roles.toml"] = _roles_toml(roles).encode("utf-8")
    return files


def _derive(seed: int, label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"duis-test-pki/{seed}/{label}".encode()).digest(), "big")


def _key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_derive(seed, "key/" + label) % (_ORDER - 1) + 1, ec.SECP256R1())


def _serial(seed: int, label: str) -> int:
    return (_derive(seed, "serial/" + label) >> 129) | 1  # positive, 127 bits, like ZAZ1's


def _ca_certificate(seed: int, key, name: x509.Name) -> x509.Certificate:
    public = key.public_key()
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(public).serial_number(_serial(seed, "ca"))
               .not_valid_before(_LONG[0]).not_valid_after(_LONG[1])
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_usage(cert_sign=True), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def _certificate(seed: int, party: Party, key, ca_key, ca_cert) -> x509.Certificate:
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit) for unit in party.units]
        + [x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER,
                              b"\x00" + EUI64.parse(party.eui).raw, _type=_ASN1Type.BitString)])
    public = key.public_key()
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
               .public_key(public).serial_number(_serial(seed, party.label or party.file))
               .not_valid_before(party.validity[0]).not_valid_after(party.validity[1])
               .add_extension(_usage(key_agreement=party.key_agreement), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_cert.public_key()), critical=False))
    return builder.sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)


def _usage(cert_sign: bool = False, key_agreement: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not (cert_sign or key_agreement),
                         content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=key_agreement,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


def _roles_toml(table: Mapping[str, Sequence[str]]) -> str:
    lines = ["# DUIS user roles per user ID (EUI-64): the DCC registers a user ID for",
             "# its roles. duis reads this file from a credential store directory.",
             "[roles]"]
    for eui, roles in table.items():
        lines.append(f'"{eui}" = [' + ", ".join(f'"{role}"' for role in roles) + "]")
    return "\n".join(lines) + "\n"
