"""Errors raised by the SMI store and the world-file loader.

One root, :class:`SmiError`, with narrow subclasses so callers catch exactly
what they can handle: a lookup that finds nothing is not an error (it returns
``None``); changing something that does not exist is :class:`NotFound`.
"""

from __future__ import annotations

from ..errors import DuisError


class SmiError(DuisError):
    """Root of every error raised by :mod:`duis.smi`."""


class InvalidRecord(SmiError):
    """A field value breaks a domain rule; ``path`` names the field."""


class DuplicateKey(SmiError):
    """A record with the same key is already in the inventory."""


class NotFound(SmiError):
    """The record to change is not in the inventory."""


class AmbiguousCplEntry(SmiError):
    """Several CPL rows (one per SMETS generation, MP202) match; give ``smets``."""


class WorldError(SmiError):
    """A world file cannot be loaded; names the file, the line and the field.

    ``errors`` holds every problem found in the file (this error first), so a
    person can fix them all in one pass.
    """

    def __init__(self, message: str, **kw) -> None:
        super().__init__(message, **kw)
        self.errors: list[WorldError] = [self]
