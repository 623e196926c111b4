"""Emulated devices behind the DCC, and the network that reaches them.

``Network`` delivers GBCS-like commands (:mod:`duis.gbcs.model`) to
``EmulatedDevice`` objects whose firmware follows the explicit state machines
of :mod:`duis.devices.firmware_machine`, with faults injected by a ``FaultPlan``.
See ``docs/devices.md``.
"""

from .device import FIRMWARE_DEVICE_TYPES, OTHER_COMMANDS, EmulatedDevice, Surroundings
from .errors import DevicesError, NoTransition, UnknownDevice, UnsupportedCommand
from .faults import Fault, FaultPlan, RandomFault, TargetedFault
from .firmware_machine import (
                       ALERT_ACTIVATION_FAILED,
                       ALERT_ACTIVATION_SUCCEEDED,
                       ALREADY_ACTIVE_STATUS,
                       GSME_COPY,
                       MACHINES,
                       NO_IMAGE_STATUS,
                       POWER_LOSS_STATUS,
                       SMETS1_FIRMWARE,
                       SMETS1_RETRY_ANSWER,
                       SMETS2_FIRMWARE,
                       ActivationScheduled,
                       Event,
                       GsmeCopy,
                       Image,
                       ImageHeld,
                       Machine,
                       Running,
                       Schedule,
                       Transition,
)
from .images import ImageLibrary, KnownImage, sample_image, sha256
from .network import Delivery, Network

__all__ = [
    "ALERT_ACTIVATION_FAILED", "ALERT_ACTIVATION_SUCCEEDED", "ALREADY_ACTIVE_STATUS",
    "FIRMWARE_DEVICE_TYPES", "GSME_COPY", "MACHINES", "NO_IMAGE_STATUS", "OTHER_COMMANDS",
    "POWER_LOSS_STATUS", "SMETS1_FIRMWARE", "SMETS1_RETRY_ANSWER", "SMETS2_FIRMWARE",
    "ActivationScheduled", "Delivery", "DevicesError", "EmulatedDevice", "Event", "Fault",
    "FaultPlan", "GsmeCopy", "Image", "ImageHeld", "ImageLibrary", "KnownImage", "Machine",
    "Network", "NoTransition", "RandomFault", "Running", "Schedule", "Surroundings",
    "TargetedFault", "Transition", "UnknownDevice", "UnsupportedCommand", "sample_image",
    "sha256",
]
