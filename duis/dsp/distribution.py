"""11.1 Update Firmware: the DSP checks each listed device, then distributes
the image through the comms hubs.

A device is left out, and named in ``DSPUpdateFirmwareWarning``, when it is
not in the SMI (InvalidDeviceIDList), not in a status that can take firmware
(NotCommissionedDeviceIDList) or when the image is not the CPL entry for its
model and the announced version (NotApplicableFirmwareDeviceIDList: the image's
SHA-256 must be that entry's hash), or when the caller's ``refused`` rule says
the device may not take firmware over the air (MP202: a dual-mode PPMID in a
SMETS1 system, :func:`duis.dsp.ppmid.ota_refused`), also NotApplicable.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ..messages import Node, Request, leaf, node
from ..smi import Device, Inventory

#: statuses in which a device may be sent an image
RECEIVING_STATUSES = frozenset({"Commissioned", "InstalledNotCommissioned", "Suspended"})


@dataclass
class DistributionPlan:
    targets: list[tuple[str, str]] = field(default_factory=list)
    """(device EUI-64, device type) to send the image to."""
    invalid: list[str] = field(default_factory=list)
    not_commissioned: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    def warning(self) -> tuple[Node, ...]:
        lists = (("InvalidDeviceIDList", self.invalid),
                 ("NotCommissionedDeviceIDList", self.not_commissioned),
                 ("NotApplicableFirmwareDeviceIDList", self.not_applicable))
        items = [leaf(name, ",".join(euis)) for name, euis in lists if euis]
        return (node("DSPUpdateFirmwareWarning", *items),) if items else ()


def plan_distribution(inventory: Inventory, request: Request,
                      refused: Callable[[Device], bool] | None = None) -> DistributionPlan:
    """Which devices of an 11.1's DeviceIDList take the image, and which are left out
    (and why); ``refused`` names devices that may not take firmware over the air."""
    body = request.body
    image_hash = hashlib.sha256(_image(body)).hexdigest().upper()
    version = body.text_at("FirmwareVersion") or ""
    plan = DistributionPlan()
    euis = (body.text_at("DeviceIDList") or "").split(",")
    inventory.prefetch(euis)  # one query for the list rather than one per device
    for eui in euis:
        device = inventory.device(eui)
        if device is None:
            plan.invalid.append(eui)
        elif device.status not in RECEIVING_STATUSES:
            plan.not_commissioned.append(eui)
        elif refused is not None and refused(device):
            plan.not_applicable.append(eui)
        else:
            entry = inventory.cpl_entry_for(device, version)
            if entry is None or (entry.firmware_hash or "").upper() != image_hash:
                plan.not_applicable.append(eui)
            else:
                plan.targets.append((device.eui, device.device_type))
    return plan


def _image(body: Node) -> bytes:
    return base64.b64decode(body.text_at("FirmwareImage") or "", validate=False)
