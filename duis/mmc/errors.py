"""What the MMC translation layer refuses."""

from __future__ import annotations

from ..errors import DuisError


class TranslationError(DuisError):
    """A request, response or alert the MMC layer cannot translate: no use case
    for that service request and device type, a payload that does not answer
    the service request, a response the MMC output has no element for, ..."""

    exit_code = 1


class MappingInvalid(DuisError):
    """``mapping.toml`` contradicts itself or the GBCS model (a bug in the data)."""
