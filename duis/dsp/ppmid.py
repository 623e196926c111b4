"""MP202: dual-mode PPMIDs, pre-notification (12.2), joining a system, and 11.4.

A PPMID model is *dual-mode* when the CPL lists it for both SMETS generations
(one row per generation, same firmware version).  Which row applies is the
SMETS generation of the comms hub of the PPMID's system (``cpl_entry_for``);
when a PPMID joins a system the DSP sets its SMI generation to the hub's.

Firmware goes over the air to a dual-mode PPMID only in a SMETS2+ system (MP202
Requirement 7, :func:`ota_refused`), whatever the service request: an 11.4
(Update PPMID Firmware) or an 11.1 (Update Firmware) listing such a PPMID in a
SMETS1 system leaves it out and names it in the warning
(NotApplicableFirmwareDeviceIDList).
A single-mode PPMID takes the image when it is the CPL row for its system.
When no PPMID of the list can take the image the answer is E11 (the request is
not valid for those devices), with the warning saying why.
"""

from __future__ import annotations

import base64
import hashlib

from ..gbcs import DistributeImage, GbcsMessage, Kind
from ..messages import EUI64, Node, Request, node
from ..mmc import use_case_for
from ..smi import CplEntry, Device, Inventory, NotFound
from .distribution import RECEIVING_STATUSES, DistributionPlan

SMETS1, SMETS2 = "SMETS1", "SMETS2"


def is_dual_mode(inventory: Inventory, device: Device) -> bool:
    """The model has CPL rows for both SMETS generations (MP202)."""
    generations = {e.smets for e in inventory.cpl_entries(manufacturer=device.manufacturer,
                                                          model=device.model)}
    return {SMETS1, SMETS2} <= generations


def ota_refused(inventory: Inventory, device: Device, *, smets1_allowed: bool = False) -> bool:
    """MP202 Requirement 7: ``device`` may not take firmware over the air, being a
    dual-mode PPMID in a SMETS1 system (allowed when ``smets1_allowed``, the setting
    ``[dual_mode_ppmid] ota_in_smets1_systems``)."""
    return (not smets1_allowed and device.device_type == "PPMID"
            and is_dual_mode(inventory, device) and inventory.system_smets(device) != SMETS2)


def plan_ppmid_update(inventory: Inventory, request: Request, *,
                      smets1_allowed: bool = False) -> DistributionPlan:
    """Which PPMIDs of an 11.4 take the image; ``smets1_allowed`` lets a dual-mode
    PPMID in a SMETS1 system take it too (the MP202 setting)."""
    body = request.body
    image_hash = hashlib.sha256(base64.b64decode(body.text_at("FirmwareImage") or "",
                                                 validate=False)).hexdigest().upper()
    version = body.text_at("FirmwareVersion") or ""
    plan = DistributionPlan()
    for eui in (body.text_at("DeviceIDList") or "").split(","):
        device = inventory.device(eui)
        if device is None or device.device_type != "PPMID":
            plan.invalid.append(eui)
        elif device.status not in RECEIVING_STATUSES:
            plan.not_commissioned.append(eui)
        elif ota_refused(inventory, device, smets1_allowed=smets1_allowed):
            plan.not_applicable.append(eui)
        elif not _image_fits(inventory.cpl_entry_for(device, version), image_hash):
            plan.not_applicable.append(eui)
        else:
            plan.targets.append((device.eui, device.device_type))
    return plan


def ppmid_image_command(request: Request, eui: str) -> GbcsMessage:
    """The image distribution command (the PPMID use case of 11.1) for one PPMID of an 11.4."""
    body = request.body
    case = use_case_for("11.1", "PPMID")
    image = base64.b64decode(body.text_at("FirmwareImage") or "", validate=False)
    return GbcsMessage(Kind.COMMAND, request.originator, EUI64.parse(eui), request.counter,
                       case.message_code,
                       DistributeImage(image, body.required_text("FirmwareVersion")))


def _image_fits(entry: CplEntry | None, image_hash: str) -> bool:
    return entry is not None and (entry.firmware_hash or "").upper() == image_hash


def ppmid_warning(plan: DistributionPlan) -> tuple[Node, ...]:
    """The plan's warning as ``DSPUpdatePPMIDFirmwareWarning``."""
    warning = plan.warning()
    if not warning:
        return ()
    return (node("DSPUpdatePPMIDFirmwareWarning", *warning[0].children),)


def prenotify(inventory: Inventory, request: Request) -> tuple[str, tuple[Node, ...]]:
    """12.2: add the device to the SMI as Pending; (response code, payload).

    The generation is the one declared (``SMETSCHTSVersion`` starting SMETS1 or
    not); it is corrected when the device joins a system.  Without a
    FirmwareVersion the device is recorded with the newest Current CPL version
    of its model.  A device already in the SMI is left as it is (I0).
    """
    body = request.body
    eui = body.required_text("DeviceID")
    if inventory.device(eui) is not None:
        return "I0", ()
    declared = body.text_at("SMETSCHTSVersion") or SMETS2
    smets = SMETS1 if declared.upper().startswith("SMETS1") else SMETS2
    manufacturer = body.required_text("DeviceManufacturer")
    model = body.required_text("DeviceModel")
    version = body.text_at("FirmwareVersion") or _newest_current(inventory, manufacturer,
                                                                  model, smets)
    if version is None:
        return "E11", ()
    inventory.add_device(Device(eui, body.required_text("DeviceType"), manufacturer, model, smets,
                                "Pending", None, version, None, str(request.originator)),
                         reason="pre-notified (12.2)", cause=str(request.request_id))
    return "I0", ()


def _newest_current(inventory: Inventory, manufacturer: str, model: str,
                    smets: str) -> str | None:
    rows = [e for e in inventory.cpl_entries(manufacturer=manufacturer, model=model,
                                             status="Current") if e.smets == smets]
    return max((e.firmware_version for e in rows), default=None)


def join_system(inventory: Inventory, eui: str, hub: str, *, cause: str) -> Device:
    """A device joins the system of comms hub ``hub``: the SMI records the hub and,
    for a dual-mode PPMID, the hub's SMETS generation (so the right CPL row applies)."""
    device, hub_device = inventory.device(eui), inventory.device(hub)
    if device is None:
        raise NotFound("no such device", path="eui", found=eui)
    changes: dict = {"hub": hub}
    if device.device_type == "PPMID" and is_dual_mode(inventory, device):
        if hub_device is None:
            raise NotFound("no such comms hub", path="hub", found=hub)
        changes["smets"] = hub_device.smets
    return inventory.update_device(eui, reason=f"joined the system of hub {hub}", cause=cause,
                                   **changes)


__all__ = ["is_dual_mode", "join_system", "ota_refused", "plan_ppmid_update", "ppmid_image_command",
           "ppmid_warning", "prenotify"]
