"""One exception root for everything `duis` refuses, with narrow subclasses.

Every error a user sees names *where* (file, line or XPath), *what was
expected* and *what was found*.  Callers catch exactly what they can handle:
``UnsafeXML`` for hostile input, ``SchemaInvalid`` for a document that breaks
the DUIS schema, ``SignatureError`` for a bad signature, and so on.  The CLI
exits with the class's ``exit_code``: **1** when the input was read and is
refused (invalid, unsigned, not authorised...), **2** when the command could
not do its job (a file it cannot read, a bad option, hostile XML, a broken
world or scenario file).

The whole hierarchy (the module defining each class in brackets; a test checks
that this list names every subclass of ``DuisError`` and nothing else)::

    DuisError                        root; exit 2
    ├── InputError                   the input could not be used (exit 2)
    │   ├── UnreadableInput          a file, stream or $DUIS_* value that cannot be read
    │   ├── MalformedXML             not well-formed XML
    │   ├── UnsafeXML                refused before or while parsing (docs/hostile-input.md)
    │   │   ├── DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    │   │   ├── EncodingNotAllowed   not UTF-8
    │   │   └── InputTooLarge, NestingTooDeep, TooManyNodes
    │   ├── WrongRoot                not a DUIS Request/Response or MMC document
    │   ├── SchemaUnavailable        no DUIS schema in the directory given
    │   ├── CredentialError          [signatures.errors] a credential store problem
    │   │   └── NoSigningCredential  no key valid for the signer at that time
    │   ├── KeyFileError             [gbcs.wire.errors] a key folder file that is no P-256 key
    │   ├── OperationRefused         [dsp.operations] an operator/rig step the DSP refuses
    │   ├── ConfigError              [serve.config] a bad `duis serve` option
    │   ├── AdminError               [serve.engine] a bad admin request body
    │   ├── ServerUnreachable        [serve.client] no `duis serve` at that address
    │   ├── BodyTimeout, BodyUnreadable   [serve.bodies] an HTTP body late, or unreadable
    │   └── BadDeliveryHeader        [serve.receiver] a delivery header no DSP sends
    ├── MessageError                 a message that is not what DUIS allows (exit 1)
    ├── SchemaInvalid                breaks the DUIS schema (exit 1)
    ├── NotCovered                   a variant the bundled schema has no body for (exit 1)
    ├── SignatureError               [signatures.errors] the signature check failed (exit 1)
    │   ├── SignatureMissing, SignatureMisplaced, MultipleSignatures, SignatureWrapping
    │   ├── ProfileViolation         outside the DUIS signature profile
    │   │   └── AlgorithmNotAllowed, KeyInfoNotAllowed, ReferenceNotAllowed,
    │   │       TransformNotAllowed
    │   ├── DigestMismatch, BadSignatureValue
    │   ├── UnknownCertificate, WrongSigner, RoleNotAllowed
    │   ├── CertificateNotValidNow
    │   │   └── CertificateExpired, CertificateNotYetValid
    │   └── ReplayedCounter          a RequestID counter not above the last one
    ├── UnknownServiceRequest        [catalogue] a variant DUIS does not define (exit 1)
    ├── TranslationError             [mmc.errors] no GBCS command / MMC output for it (exit 1)
    ├── MappingInvalid               [mmc.errors] a broken mmc/mapping.toml
    ├── GbcsDecodeError, GbcsEncodeError   [gbcs.own] the project's own layout (exit 1)
    ├── WireError                    [gbcs.wire.errors] bytes that are not real GBCS it
    │                                accepts (exit 1)
    │   ├── Truncated, BadLength, TrailingBytes, UnexpectedValue, Unsupported
    │   ├── Unprotected              without the MAC or signature its use case requires
    │   └── KeyUnavailable, MacInvalid, SignatureInvalid
    ├── WireEncodeError              [gbcs.wire.errors] a value real GBCS cannot carry (exit 1)
    ├── PreCommandMismatch           [dsp.critical] a signed PreCommand not the one issued (exit 1)
    ├── NotEmulated                  [dsp.service] a request duis does not emulate (exit 1)
    ├── HubFirmwareRefused           [dsp.hub_firmware] a SECMP0024 release refused (exit 1)
    ├── DevicesError                 [devices.errors] the emulated devices
    │   └── NoTransition, UnknownDevice, UnsupportedCommand
    ├── SmiError                     [smi.errors] the Smart Metering Inventory
    │   ├── AmbiguousCplEntry, DuplicateKey, InvalidRecord, NotFound
    │   ├── WorldError               a world file (every problem at once)
    │   ├── SmiServed                [smi.claim] a file a running duis serve claims
    │   └── InjectedFault            [smi.faults] a fault a test planted
    ├── SettingsError                [settings] a DCC settings file
    ├── UnknownProfile               [profiles] no behaviour profile of that name
    ├── ProfilesDisagree             [profiles] a joint run whose profiles part (exit 1)
    ├── ScenarioError                [scenario.format] a scenario file
    ├── StepFailed                   [scenario.runner] a scenario step that could not run
    ├── SimulationError              [simulate.campaign] a campaign that cannot go on (exit 1)
    ├── SmiBusy                      [serve.engine] the SMI is locked (HTTP 503)
    ├── WorkerExited                 [serve.pool] a check worker died twice on a request
    ├── AdminRefused                 [serve.client] the server refused an admin call (exit 1)
    ├── UsageError                   [commands._io] a command used the wrong way
    └── MissingExtra                 an optional extra (duis[plot]) is not installed
"""

from __future__ import annotations


class DuisError(Exception):
    """Root of every error raised by duis."""

    #: process exit code the CLI uses for this class of error
    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None,
                 line: int | None = None, path: str | None = None,
                 expected: str | None = None, found: str | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.path = path
        self.expected = expected
        self.found = found
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.source or "<input>"
        if self.line:
            where += f":{self.line}"
        text = f"{where}: {self.message}"
        if self.path:
            text += f" (at {self.path})"
        if self.expected is not None:
            text += f"; expected {self.expected}"
        if self.found is not None:
            text += f", found {self.found}"
        return text

    def __reduce__(self):
        # Subclasses take other arguments than the message: rebuild from the fields
        # (to cross a process boundary whole: where, expected, found).
        return _restore, (type(self), dict(self.__dict__))

    def as_dict(self) -> dict:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "source": self.source,
            "line": self.line,
            "path": self.path,
            "expected": self.expected,
            "found": self.found,
        }


def _restore(cls: type[DuisError], state: dict) -> DuisError:
    """An unpickled :class:`DuisError`: the same class and fields, the same text."""
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


# --- unusable input (exit 2) ------------------------------------------------

class InputError(DuisError):
    """The input cannot be used at all (unreadable, not XML, hostile)."""


class MissingExtra(DuisError):
    """An optional part of duis was asked for without its extra installed."""


class UnreadableInput(InputError):
    """The file cannot be read."""


class UnsafeXML(InputError):
    """The XML uses a feature duis refuses on untrusted input."""


class DTDForbidden(UnsafeXML):
    """A document type declaration (internal or external) was present."""


class EntitiesForbidden(UnsafeXML):
    """An entity declaration or reference was present (XXE, billion laughs)."""


class ExternalReferenceForbidden(UnsafeXML):
    """The document tried to reach a file or the network."""


class EncodingNotAllowed(UnsafeXML):
    """The document is in another character encoding than UTF-8."""


class InputTooLarge(UnsafeXML):
    """The input is larger than the configured size cap."""


class TooManyNodes(UnsafeXML):
    """The input holds more elements and attributes than the configured cap."""


class NestingTooDeep(UnsafeXML):
    """Elements are nested deeper than the configured cap."""


class MalformedXML(InputError):
    """The bytes are not well-formed XML."""


class WrongRoot(InputError):
    """Well-formed XML, but not a DUIS message."""


# --- schema verdicts (exit 1) -----------------------------------------------

class SchemaInvalid(DuisError):
    """The document breaks the schema; ``report`` lists every error."""

    exit_code = 1

    def __init__(self, message: str, *, report=None, **kw) -> None:
        self.report = report
        super().__init__(message, **kw)


class NotCovered(DuisError):
    """The bundled schema does not cover this service reference variant."""

    exit_code = 1


class SchemaUnavailable(InputError):
    """A schema directory was given but its files cannot be loaded."""


class MessageError(DuisError):
    """A typed message cannot be built from, or into, XML."""

    exit_code = 1


__all__ = ["DTDForbidden", "DuisError", "EncodingNotAllowed", "EntitiesForbidden",
           "ExternalReferenceForbidden", "InputError", "InputTooLarge", "MalformedXML",
           "MessageError", "MissingExtra", "NestingTooDeep", "NotCovered", "SchemaInvalid",
           "SchemaUnavailable", "TooManyNodes", "UnreadableInput", "UnsafeXML", "WrongRoot"]
