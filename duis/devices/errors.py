"""Errors raised by the emulated devices and their network.

One root, :class:`DevicesError`, with narrow subclasses.  None of them stands
for a device *outcome*: a hash mismatch, a lost response or an unreachable
device are answers (``ActivationResult``, ``Delivery.outcome``), never
exceptions.  These are for callers that ask the network something it cannot
mean: an EUI-64 it does not hold, a command a device type does not take.
"""

from __future__ import annotations

from ..errors import DuisError


class DevicesError(DuisError):
    """Root of every error raised by :mod:`duis.devices`."""


class UnknownDevice(DevicesError):
    """The network holds no device with this EUI-64."""


class UnsupportedCommand(DevicesError):
    """The message is not a command this device type takes (the DSP's E11 check
    should have stopped it), or not a command at all."""


class NoTransition(DevicesError):
    """A state machine met an event its transition table has no row for.

    This is a bug in :mod:`duis.devices.firmware_machine` (the classifiers produced an
    event the table does not cover), never a device outcome."""
