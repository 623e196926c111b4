"""One exception root for everything `duis` refuses, with narrow subclasses.

Every error a user sees names *where* (file, line or XPath), *what was
expected* and *what was found*.  Callers catch exactly what they can handle:
``UnsafeXML`` for hostile input, ``SchemaInvalid`` for a document that breaks
the DUIS schema, ``SignatureError`` (see :mod:`duis.signatures`) for a bad
signature, and so on.
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
