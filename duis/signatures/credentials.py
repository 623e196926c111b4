"""The credential store: a directory of certificates and private keys.

Any file in the directory (not its sub-directories) that holds a
certificate or an EC private key is loaded: PEM or DER, keys as PKCS#8 or
SEC1, several PEM blocks per file allowed.  Keys are matched to certificates
by public key, never by file name.  Other files are ignored, except
``roles.toml``.

Certificates are indexed three ways:

* by issuer and serial — what a ``ds:X509IssuerSerial`` names;
* by EUI-64 — the ``x500UniqueIdentifier`` in the subject (ZAZ1 shape, GBCS
  organisation certificates) or, for a GBCS device certificate (empty subject),
  the hardwareModuleName in its subjectAltName;
* by function — the SMKI remote-party role code in the subject OU:
  ``87`` user XML signing, ``89`` DSP XML signing (``135``/``137`` are the
  decimal spellings of older certificates), ``01``–``06`` digital-signing
  ("ds") certificates, ``07`` the issuing authority; a certificate whose key
  usage is keyAgreement alone is a key-agreement ("ka") one (GBCS).

**GBCS keys.**  A GBCS key folder (``<eui>-<ka|ds>.pem`` and ``.key``, as the
DCC's parser and DCC Boxed read them) is a credential store too.
:meth:`CredentialStore.gbcs_credential` (and :meth:`~CredentialStore.key_agreement`)
name the one certificate a party uses for a GBCS usage.

**Where a signer's DUIS user roles come from.**  ZAZ1 certificates carry
no user role (IS, ES, GS, RSA, ED, GT, OU): in the DCC a user ID is
registered for its roles, which is configuration, not certificate content.
So the store reads an optional ``roles.toml`` mapping EUI-64 to role codes::

    [roles]
    "90-B3-D5-1F-30-01-00-00" = ["IS"]

When ``roles.toml`` has no entry for an EUI-64, roles are taken from any
subject OU value that is a DUIS role code (the project's test PKI writes
one, e.g. ``OU=87, OU=IS``).  ``roles.toml`` wins when both exist.

**Trust.**  The store is the trust anchor: a certificate is trusted because
the operator put it in the directory.  When the issuing CA certificate is in
the store too, each certificate it issued must verify against it; one that
does not is left out and listed in :attr:`CredentialStore.rejected`.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..clock import UTC
from ..errors import DuisError
from ..messages.ids import EUI64
from ..tomlfile import read_toml
from .errors import CredentialError, NoSigningCredential
from .profile import (
    DSP_XML_SIGN_OU,
    ISSUING_AUTHORITY_OU,
    LEGACY_OU,
    MAX_ISSUER_NAME_CHARS,
    USER_ROLES,
    USER_XML_SIGN_OU,
)

ROLES_FILE = "roles.toml"
#: environment variable naming the default credential store directory
STORE_ENV = "DUIS_PKI"
#: files larger than this are not credentials and are not read
_MAX_FILE = 256 * 1024

USER_XML_SIGN = "xml-sign"
DSP_XML_SIGN = "dsp-xml-sign"
DIGITAL_SIGNING = "ds"
KEY_AGREEMENT = "ka"
AUTHORITY = "ca"


@dataclass(frozen=True, eq=False)
class Credential:
    """One certificate, what the store knows about it, and its key if held."""

    certificate: x509.Certificate
    path: Path
    eui: EUI64 | None
    function: str
    """``xml-sign``, ``dsp-xml-sign``, ``ds``, ``ka`` or ``ca``."""
    organisational_units: tuple[str, ...]
    roles: frozenset[str]
    public_key: ec.EllipticCurvePublicKey
    private_key: ec.EllipticCurvePrivateKey | None = None
    legacy: bool = False
    """An older certificate spelling its role code in decimal (OU=137)."""

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @cached_property
    def issuer(self) -> str:
        """The issuer as XML-DSig writes it (RFC 4514, e.g. ``CN=Z1,OU=07``)."""
        return issuer_text(self.certificate)

    @cached_property
    def not_before(self) -> _dt.datetime:
        return self.certificate.not_valid_before_utc

    @cached_property
    def not_after(self) -> _dt.datetime:
        return self.certificate.not_valid_after_utc

    def valid_at(self, when: _dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after

    def describe(self) -> dict:
        return {"path": str(self.path), "eui": str(self.eui) if self.eui else None,
                "function": self.function, "issuer": self.issuer, "serial": str(self.serial),
                "subject": self.certificate.subject.rfc4514_string(),
                "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat(), "roles": sorted(self.roles),
                "has_private_key": self.private_key is not None}


class CredentialStore:
    """Certificates and keys from one directory, indexed for signing and verifying.

    ``credentials`` lists what was loaded; ``rejected`` the files or
    certificates left out, with the reason; ``role_table`` the roles file.
    Parsed certificates and public keys are kept, so lookups cost a dict access.
    """

    def __init__(self, directory: str | os.PathLike | None = None,
                 roles: Mapping[str, Iterable[str]] | None = None) -> None:
        """Load ``directory`` (by default :func:`default_store_directory`: ``$DUIS_PKI``,
        else the test PKI that comes with duis); ``roles`` (EUI-64 → role codes)
        overrides ``roles.toml``."""
        if directory is None:
            directory = default_store_directory()
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise CredentialError("credential store not found", source=str(directory),
                                  expected="a directory of certificates and keys",
                                  found="no such directory")
        self.rejected: list[tuple[Path, str]] = []
        certificates, keys = _read_directory(self.directory, self.rejected)
        table = _read_roles_file(self.directory) if roles is None else _role_table(roles, "roles")
        self.role_table = table
        self.credentials = _build(certificates, keys, table, self.rejected)
        self._by_issuer_serial = {(normalise_dn(c.issuer), c.serial): c for c in self.credentials}
        self._by_eui: dict[EUI64, list[Credential]] = {}
        #: signing candidates with a private key, best first (see :func:`_pick`)
        self._signers: dict = {}
        for credential in sorted(self.credentials, key=_rank, reverse=True):
            if credential.eui is None:
                continue
            self._by_eui.setdefault(credential.eui, []).append(credential)
            if credential.private_key is not None:
                self._signers.setdefault((credential.eui, credential.function), []) \
                    .append(credential)
                if credential.function == DSP_XML_SIGN:
                    self._signers.setdefault(DSP_XML_SIGN, []).append(credential)

    # --- verifying -----------------------------------------------------------

    def by_issuer_serial(self, issuer: str, serial: int) -> Credential | None:
        """The certificate a ``ds:X509IssuerSerial`` names, or ``None``.

        An issuer name longer than :data:`~duis.signatures.profile.MAX_ISSUER_NAME_CHARS`
        names no certificate here (the store refuses none that long): it is not
        even normalised."""
        if len(issuer) > MAX_ISSUER_NAME_CHARS:
            return None
        return self._by_issuer_serial.get((normalise_dn(issuer), serial))

    def for_eui(self, eui: EUI64 | str, function: str | None = None) -> list[Credential]:
        """Every credential for ``eui`` (optionally of one function)."""
        found = self._by_eui.get(EUI64.parse(eui), [])
        return [c for c in found if function is None or c.function == function]

    def gbcs_credential(self, eui: EUI64 | str, usage: str) -> Credential:
        """``eui``'s GBCS certificate of ``usage`` (``"ka"`` or ``"ds"``), with its
        private key when the store holds it.

        When there are several (DCC Boxed's prepayment ``-pp-`` keys beside the
        main ones), the one whose file name has no ``-pp-`` wins, then the one with
        its private key, then the one valid longest.  None: :class:`CredentialError`
        naming the EUI-64 and the store directory."""
        eui = EUI64.parse(eui)
        found = self.for_eui(eui, usage)
        if not found:
            name = "key-agreement" if usage == KEY_AGREEMENT else "digital-signing"
            raise CredentialError(
                f"no GBCS {name} ({usage}) certificate for {eui} in the credential store",
                source=str(self.directory),
                expected=f"a {usage} certificate for {eui} "
                         f"(e.g. {eui.compact.lower()}-{usage}.pem)",
                found=_summary(self.for_eui(eui)))
        return max(found, key=_gbcs_rank)

    def key_agreement(self, eui: EUI64 | str) -> Credential:
        """``eui``'s key-agreement ("ka") certificate: see :meth:`gbcs_credential`."""
        return self.gbcs_credential(eui, KEY_AGREEMENT)

    def roles_of(self, eui: EUI64 | str) -> frozenset[str]:
        """The DUIS user roles on record for ``eui`` (see the module docstring)."""
        eui = EUI64.parse(eui)
        if eui in self.role_table:
            return self.role_table[eui]
        roles: set[str] = set()
        for credential in self._by_eui.get(eui, []):
            roles |= credential.roles
        return frozenset(roles)

    # --- signing -------------------------------------------------------------

    def signing_credential(self, eui: EUI64 | str, function: str = USER_XML_SIGN,
                           now: _dt.datetime | None = None) -> Credential:
        """The certificate and key ``eui`` signs with (see :func:`_pick`)."""
        eui = EUI64.parse(eui)
        held = self._signers.get((eui, function))
        if not held:
            raise NoSigningCredential(
                "no signing credential for this originator", source=str(self.directory),
                expected=f"a {function} certificate and its private key for {eui}",
                found=_summary(self.for_eui(eui)))
        return _pick(held, now)

    def dsp_signing_credential(self, now: _dt.datetime | None = None) -> Credential:
        """The DSP's XML-signing certificate and key (for signing Responses)."""
        held = self._signers.get(DSP_XML_SIGN)
        if not held:
            raise NoSigningCredential("no DSP signing credential", source=str(self.directory),
                                      expected="a DSP xml-sign certificate (OU=89) and its key",
                                      found="none")
        return _pick(held, now)

    def __iter__(self):
        return iter(self.credentials)

    def __len__(self) -> int:
        return len(self.credentials)


def default_store_directory() -> Path:
    """``$DUIS_PKI`` if set, else the project's test PKI (``samples/pki`` in a
    checkout, ``duis/pki`` in an installed wheel)."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured)
    package = Path(__file__).resolve().parents[1]
    installed = package / "pki"
    return installed if installed.is_dir() else package.parent / "samples" / "pki"


def load_private_key(path: str | os.PathLike) -> ec.EllipticCurvePrivateKey:
    """An EC private key from a PEM or DER file (PKCS#8 or SEC1)."""
    keys = _parse_file(_read_credential_file(path))[1]
    if len(keys) != 1 or not isinstance(keys[0], ec.EllipticCurvePrivateKey):
        raise CredentialError("not an EC private key file", source=str(path),
                              expected="one EC private key (PEM or DER, PKCS#8 or SEC1)",
                              found=f"{len(keys)} usable keys")
    return keys[0]


def load_certificate(path: str | os.PathLike) -> x509.Certificate:
    """A certificate from a PEM or DER file."""
    certificates = _parse_file(_read_credential_file(path))[0]
    if len(certificates) != 1:
        raise CredentialError("not a certificate file", source=str(path),
                              expected="one X.509 certificate (PEM or DER)",
                              found=f"{len(certificates)} certificates")
    return certificates[0]


def _read_credential_file(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read: {exc.strerror}", source=str(path),
                              expected="a readable file", found=type(exc).__name__) from None


# --- loading -------------------------------------------------------------------

def _read_directory(directory: Path, rejected: list) -> tuple[list, list]:
    certificates: list[tuple[Path, x509.Certificate]] = []
    keys: list[ec.EllipticCurvePrivateKey] = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name == ROLES_FILE:
            continue
        try:
            if path.stat().st_size > _MAX_FILE:
                continue
            data = path.read_bytes()
        except OSError as exc:
            rejected.append((path, f"unreadable: {exc.strerror}"))
            continue
        found_certs, found_keys = _parse_file(data)
        certificates += [(path, c) for c in found_certs]
        for key in found_keys:
            if isinstance(key, ec.EllipticCurvePrivateKey):
                keys.append(key)
            else:
                rejected.append((path, f"not an EC key: {type(key).__name__}"))
    return certificates, keys


_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z ]{1,64})-----")


def _pem_blocks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(label, block) of each PEM block, in one pass: each BEGIN's END is found by a
    plain search from it (a lazy pattern rescanned the rest of the file for every
    BEGIN without its END: 20 s for one 256 KiB file)."""
    at = 0
    while (begin := _PEM_BEGIN.search(data, at)) is not None:
        label = begin.group(1)
        end_marker = b"-----END " + label + b"-----"
        end = data.find(end_marker, begin.end())
        if end < 0:
            at = begin.end()
            continue
        yield label, data[begin.start():end + len(end_marker)]
        at = end + len(end_marker)


def _parse_file(data: bytes) -> tuple[list[x509.Certificate], list]:
    """Certificates and private keys in one file's bytes (PEM or DER)."""
    if b"-----BEGIN" in data:
        certs, keys = [], []
        for label, pem in _pem_blocks(data):
            try:
                if label == b"CERTIFICATE":
                    certs.append(x509.load_pem_x509_certificate(pem))
                elif label.endswith(b"PRIVATE KEY"):
                    keys.append(serialization.load_pem_private_key(pem, password=None))
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
        return certs, keys
    loader: Callable[[], tuple[list[x509.Certificate], list]]
    for loader in (lambda: ([x509.load_der_x509_certificate(data)], []),
                   lambda: ([], [serialization.load_der_private_key(data, password=None)])):
        try:
            return loader()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return [], []


def _read_roles_file(directory: Path) -> dict[EUI64, frozenset[str]]:
    path = directory / ROLES_FILE
    if not path.is_file():
        return {}
    _, table = read_toml(path, CredentialError, "roles file")   # bounded, as every TOML file
    return _role_table(table.get("roles", {}), str(path))


def _role_table(entries: object, source: str) -> dict[EUI64, frozenset[str]]:
    """The ``[roles]`` table: each EUI-64 with its role codes (one, or a list)."""
    if not isinstance(entries, Mapping):
        raise CredentialError("bad roles table", source=source, path="roles",
                              expected='a table: "EUI-64" = ["IS", ...]',
                              found=type(entries).__name__)
    table = {}
    for eui, roles in entries.items():
        listed = [roles] if isinstance(roles, str) else roles
        if not isinstance(listed, (list, tuple, set, frozenset)) \
                or not all(isinstance(code, str) for code in listed):
            raise CredentialError("bad roles", source=source, path=f"roles.{eui}",
                                  expected="a role code or a list of them, from "
                                           f"{sorted(USER_ROLES)}", found=repr(roles)[:80])
        codes = frozenset(listed)
        unknown = codes - USER_ROLES
        if unknown:
            raise CredentialError("unknown user role", source=source, path=f"roles.{eui}",
                                  expected=f"codes from {sorted(USER_ROLES)}",
                                  found=", ".join(sorted(unknown)))
        try:
            table[EUI64.parse(eui)] = codes
        except DuisError as exc:
            raise CredentialError(exc.message, source=source, path=f"roles.{eui}",
                                  expected=exc.expected, found=exc.found) from None
    return table


def _build(certificates, keys, role_table, rejected) -> list[Credential]:
    keys_by_point = {_point(k.public_key()): k for k in keys}
    authorities = {c.subject.rfc4514_string(): c for _, c in certificates if _is_authority(c)}
    credentials = []
    for path, cert in certificates:
        try:
            public_key = cert.public_key()
        except UnsupportedAlgorithm as exc:      # a curve OpenSSL does not know (brainpool)
            rejected.append((path, f"a key OpenSSL cannot use: {exc}"))
            continue
        if not isinstance(public_key, ec.EllipticCurvePublicKey) \
                or public_key.curve.name != "secp256r1":
            rejected.append((path, "not a P-256 certificate"))  # DUIS and GBCS keys are P-256
            continue
        issuer = authorities.get(cert.issuer.rfc4514_string())
        if issuer is not None and issuer is not cert and not _issued_by(cert, issuer):
            rejected.append((path, f"not signed by its issuer {cert.issuer.rfc4514_string()}"))
            continue
        units = tuple(a.value for a in cert.subject.get_attributes_for_oid(
            NameOID.ORGANIZATIONAL_UNIT_NAME) if isinstance(a.value, str))
        credentials.append(Credential(
            certificate=cert, path=path, eui=certificate_eui(cert),
            function=_function(cert, units), organisational_units=units,
            roles=frozenset(u for u in units if u in USER_ROLES),
            public_key=public_key, private_key=keys_by_point.get(_point(public_key)),
            legacy=bool(set(units) & LEGACY_OU)))
    return credentials


def _point(public_key) -> tuple:
    numbers = public_key.public_numbers()
    return (numbers.curve.name, numbers.x, numbers.y)


def _is_authority(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _function(cert: x509.Certificate, units: tuple[str, ...]) -> str:
    if _is_authority(cert) or ISSUING_AUTHORITY_OU in units and certificate_eui(cert) is None:
        return AUTHORITY
    if set(units) & USER_XML_SIGN_OU:
        return USER_XML_SIGN
    if set(units) & DSP_XML_SIGN_OU:
        return DSP_XML_SIGN
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if usage.key_agreement and not usage.digital_signature:
            return KEY_AGREEMENT
    except x509.ExtensionNotFound:
        pass
    return DIGITAL_SIGNING


#: subjectAltName otherName type of a GBCS device certificate (RFC 4108)
HARDWARE_MODULE_NAME = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4")


def certificate_eui(cert: x509.Certificate) -> EUI64 | None:
    """The EUI-64 a certificate names, if any: a GBCS device certificate's
    hardwareModuleName (subjectAltName), else the subject's ``x500UniqueIdentifier``
    (a BIT STRING: ZAZ1 and GBCS organisation certificates)."""
    device = _hardware_module_eui(cert)
    if device is not None:
        return device
    for attribute in cert.subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER):
        value = attribute.value
        if isinstance(value, bytes):
            if len(value) == 9 and value[0] == 0:  # unused-bits octet, then 8 bytes
                value = value[1:]
            if len(value) == 8:
                return EUI64.parse(value.hex())
    return None


def _hardware_module_eui(cert: x509.Certificate) -> EUI64 | None:
    """The hwSerialNum of a hardwareModuleName, ``SEQUENCE { hwType OBJECT IDENTIFIER,
    hwSerialNum OCTET STRING }``, when it is 8 octets (a GBCS device's EUI-64)."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for name in names.get_values_for_type(x509.OtherName):
        if name.type_id != HARDWARE_MODULE_NAME:
            continue
        value = name.value  # DER: 30 len 06 len <oid> 04 08 <eui>
        if len(value) < 4 or value[0] != 0x30 or value[1] != len(value) - 2 or value[2] != 0x06:
            return None
        serial = value[4 + value[3]:]
        if len(serial) == 10 and serial[:2] == b"\x04\x08":
            return EUI64.parse(serial[2:].hex())
        return None
    return None


def _gbcs_rank(credential: Credential) -> tuple:
    return ("-pp-" not in credential.path.name, credential.private_key is not None,
            credential.not_after)


def _rank(credential: Credential) -> tuple:
    return (not credential.legacy, credential.not_after, credential.not_before)


def _pick(ranked: list[Credential], now: _dt.datetime | None) -> Credential:
    """The signing candidate to use: the best-ranked one valid at ``now``, else the
    best-ranked one.  Rank: a current (not legacy) role code, then the one valid
    longest, then the newest.

    "Valid longest" keeps ZAZ1's long-lived DSP certificate (2018–2118, the one
    the DCC tool signs with) ahead of the 2025–2035 one issued for the same key.
    """
    when = now or _dt.datetime.now(UTC)
    for credential in ranked:
        if credential.valid_at(when):
            return credential
    return ranked[0]


def _summary(credentials: list[Credential]) -> str:
    if not credentials:
        return "no certificate for this EUI-64"
    return "; ".join(f"{c.function} {c.path.name}"
                     + ("" if c.private_key else " (no private key)") for c in credentials)


_DN_SPLIT = re.compile(r"(?<!\\),")
_ATTRIBUTE_NAMES = {"2.5.4.3": "CN", "2.5.4.11": "OU", "2.5.4.10": "O", "2.5.4.6": "C",
                    "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.45": "X500UNIQUEIDENTIFIER"}


@lru_cache(maxsize=256)
def issuer_text(certificate: x509.Certificate) -> str:
    """A certificate's issuer as XML-DSig and the DCC tool write it: RFC 4514."""
    return certificate.issuer.rfc4514_string()


def normalise_dn(text: str) -> tuple[tuple[str, str], ...]:
    """A distinguished name as comparable data: ``CN=Z1, OU=07`` equals ``cn=Z1,OU=07``.

    RDN order is kept (it is significant); spaces around separators and the
    case of attribute types and values are not.

    The names come from messages not yet authenticated, so the cache holds
    only names of at most :data:`MAX_ISSUER_NAME_CHARS` characters: at most
    ``_DN_CACHE_ENTRIES`` of them, a bounded number of bytes whatever is sent.
    A longer name is normalised each time (no verifier asks: it refuses it first).
    """
    if len(text) > MAX_ISSUER_NAME_CHARS:
        return _normalise_dn(text)
    return _normalise_dn_cached(text)


_DN_CACHE_ENTRIES = 256


def _normalise_dn(text: str) -> tuple[tuple[str, str], ...]:
    parts = []
    for rdn in _DN_SPLIT.split(text):
        name, _, value = rdn.partition("=")
        name = name.strip().upper()
        parts.append((_ATTRIBUTE_NAMES.get(name, name), value.strip().casefold()))
    return tuple(parts)


_normalise_dn_cached = lru_cache(maxsize=_DN_CACHE_ENTRIES)(_normalise_dn)


def normalise_dn_cache_size() -> int:
    """How many names :func:`normalise_dn` holds in its cache now (at most
    ``_DN_CACHE_ENTRIES``; a name over :data:`MAX_ISSUER_NAME_CHARS` never goes in)."""
    return _normalise_dn_cached.cache_info().currsize
