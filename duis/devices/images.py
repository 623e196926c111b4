"""Firmware images: which images are genuine, and the image a device holds.

A real device checks a distributed image against its manufacturer's signature.
Here the manufacturer's signature is modelled by an :class:`ImageLibrary`: the
genuine images of each make and model, known by SHA-256.  An image verifies on
a device when its SHA-256 is a library image of the device's manufacturer and
model, and the version the DistributeImage command announces is that image's
version.  Any other bytes -- a corrupted transfer, a foreign image -- fail.

The library is also where a SMETS1 device's image comes from: SMETS1 has no
11.1, so for a one-step activation the DCC (its SMETS1 service provider) makes
the image named by the hash available to the device; it can do so when the
library holds that hash for the device's make and model.

:meth:`ImageLibrary.from_cpl` builds a library from the CPL: every entry with a
firmware hash is a genuine image.  The sample worlds' hashes are SHA-256 of
:func:`sample_image` bytes, so a test or a demo can distribute the real bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from ..smi import CplEntry
from .firmware_machine import Image


def sha256(data: bytes) -> bytes:
    """The firmware hash of an image: SHA-256, 32 octets."""
    return hashlib.sha256(data).digest()


def sample_image(manufacturer: str, model: str, version: str, smets: str | None = None) -> bytes:
    """The made-up image bytes behind the sample worlds' CPL hashes.

    ``Acme Meters/AM-E2/1.1.0``; a model listed once per SMETS generation with
    the same version (MP202) appends the generation: ``Keypad Co/KP-P1/1.3/SMETS2``.
    """
    parts = [manufacturer, model, version] + ([smets] if smets else [])
    return "/".join(parts).encode("utf-8")


@dataclass(frozen=True)
class KnownImage:
    """A genuine firmware image of one make and model."""

    manufacturer: str
    model: str
    version: str
    firmware_hash: bytes
    """SHA-256 of the image, 32 octets."""

    @cached_property
    def image(self) -> Image:
        """The image as a device holds it (one object, shared by every device holding it)."""
        return Image(self.version, self.firmware_hash)


class ImageLibrary:
    """The genuine images, by make, model and SHA-256."""

    def __init__(self, images: Iterable[KnownImage] = ()) -> None:
        self._images: dict[tuple[str, str, bytes], KnownImage] = {}
        for known in images:
            self._images[(known.manufacturer, known.model, known.firmware_hash)] = known

    @classmethod
    def from_cpl(cls, entries: Iterable[CplEntry]) -> ImageLibrary:
        """Every CPL entry with a firmware hash, whatever its status (a Removed
        entry's image is still a genuine image of its model)."""
        return cls(KnownImage(e.manufacturer, e.model, e.firmware_version,
                              bytes.fromhex(e.firmware_hash))
                   for e in entries if e.firmware_hash)

    def add(self, manufacturer: str, model: str, version: str, image: bytes) -> KnownImage:
        """Register ``image`` as a genuine image of the model, running ``version``."""
        known = KnownImage(manufacturer, model, version, sha256(image))
        self._images[(manufacturer, model, known.firmware_hash)] = known
        return known

    def find(self, manufacturer: str, model: str, firmware_hash: bytes) -> KnownImage | None:
        """The genuine image of the model with this hash, if there is one."""
        return self._images.get((manufacturer, model, firmware_hash))

    def verify(self, manufacturer: str, model: str, image: bytes,
               announced_version: str) -> Image | None:
        """The image a device of this model holds after receiving ``image``, or
        None when it fails verification."""
        known = self.find(manufacturer, model, sha256(image))
        if known is None or known.version != announced_version:
            return None
        return known.image

    def __len__(self) -> int:
        return len(self._images)
