"""What a signature check can refuse, one narrow class per failure.

Every verdict error derives from :class:`SignatureError` (exit code 1: the
input was usable, the answer is "no").  Callers catch the narrow class they
can act on: ``ReplayedCounter`` to answer "duplicate", ``CertificateNotValidNow``
to ask for a new certificate, and so on.  Credential problems on the signing
side (no key for an EUI-64, a key that does not match its certificate) are
:class:`CredentialError`, exit code 2: the command cannot run at all.
"""

from __future__ import annotations

from ..errors import DuisError, InputError


class SignatureError(DuisError):
    """Root of every signature verdict: the message is refused."""

    exit_code = 1


class SignatureMissing(SignatureError):
    """The message carries no ``ds:Signature`` (or no usable trailer, GBCS)."""


class SignatureMisplaced(SignatureError):
    """The signature is not the last child of the root element."""


class MultipleSignatures(SignatureError):
    """More than one ``ds:Signature`` in the document."""


class SignatureWrapping(SignatureError):
    """The envelope around the signature is not Header, Body, Signature, or
    foreign content hides inside the signature (a wrapping attempt)."""


class ProfileViolation(SignatureError):
    """The signature leaves the DUIS profile (structure, values, encodings)."""


class AlgorithmNotAllowed(ProfileViolation):
    """Canonicalisation, signature or digest algorithm outside the profile."""


class TransformNotAllowed(ProfileViolation):
    """Transforms other than exactly the enveloped-signature transform."""


class ReferenceNotAllowed(ProfileViolation):
    """Not exactly one Reference, or a Reference URI other than ``""``."""


class KeyInfoNotAllowed(ProfileViolation):
    """KeyInfo other than one X509Data/X509IssuerSerial (e.g. an embedded certificate)."""


class UnknownCertificate(SignatureError):
    """No certificate in the credential store has this issuer and serial."""


class CertificateNotValidNow(SignatureError):
    """The signer's certificate is not valid at the verification time."""


class CertificateExpired(CertificateNotValidNow):
    """The signer's certificate expired before the verification time."""


class CertificateNotYetValid(CertificateNotValidNow):
    """The signer's certificate starts after the verification time."""


class WrongSigner(SignatureError):
    """The certificate does not belong to the message's originator."""


class RoleNotAllowed(SignatureError):
    """The signer holds no user role allowed to send this service request."""


class DigestMismatch(SignatureError):
    """The signed content changed after signing."""


class BadSignatureValue(SignatureError):
    """The signature value does not verify with the signer's public key."""


class ReplayedCounter(SignatureError):
    """The originator's counter did not strictly increase (replay)."""


class CredentialError(InputError):
    """A signing credential is missing, unreadable or inconsistent (exit 2)."""


class NoSigningCredential(CredentialError):
    """The store holds no usable certificate and private key for this signer."""


__all__ = [
    "SignatureError", "SignatureMissing", "SignatureMisplaced", "MultipleSignatures",
    "SignatureWrapping", "ProfileViolation", "AlgorithmNotAllowed", "TransformNotAllowed",
    "ReferenceNotAllowed", "KeyInfoNotAllowed", "UnknownCertificate", "CertificateNotValidNow",
    "CertificateExpired", "CertificateNotYetValid", "WrongSigner", "RoleNotAllowed",
    "DigestMismatch", "BadSignatureValue", "ReplayedCounter", "CredentialError",
    "NoSigningCredential",
]
