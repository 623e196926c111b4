"""8.2 Read Inventory: the DSP answers from the SMI with ``DSPInventory``.

The search key (DeviceID or ImportMPxN) finds a device; the answer lists the
devices of its system (its comms hub and every device behind that hub), at
most 17 as the schema allows, in EUI-64 order.  A UPRN or PropertyFilter
search finds nothing, because the SMI does not hold addresses.
"""

from __future__ import annotations

from ..messages import Node, Request, leaf, node
from ..smi import Device, Inventory
from ..smi.tables import CPL_STATUS_IN_DUIS

MAX_DEVICES = 17


def find_system(inventory: Inventory, request: Request) -> list[Device]:
    body = request.body
    device = None
    if device_id := body.text_at("DeviceID"):
        device = inventory.device(device_id)
    elif mpxn := body.text_at("MPxN"):
        device = next(inventory.devices(mpxn=mpxn), None)
    if device is None:
        return []
    hub = device.eui if device.device_type == "CHF" else device.hub
    if hub is None:
        return [device]
    members = {d.eui: d for d in inventory.devices(hub=hub)}
    hub_device = inventory.device(hub)
    if hub_device is not None:
        members[hub] = hub_device
    members[device.eui] = device
    return [members[eui] for eui in sorted(members)][:MAX_DEVICES]


def inventory_entry(inventory: Inventory, device: Device) -> Node:
    """One ``Device`` of a DSPInventory, with its firmware version's CPL status."""
    entry = inventory.cpl_entry_for(device)
    items = [leaf("DeviceID", device.eui), leaf("DeviceType", device.device_type),
             leaf("DeviceStatus", device.status), leaf("DeviceManufacturer", device.manufacturer),
             leaf("DeviceModel", device.model),
             leaf("DeviceFirmwareVersion", device.firmware_version)]
    if entry is not None:
        status = CPL_STATUS_IN_DUIS[entry.status]
        items += [leaf("DeviceFirmwareVersionStatus", status), leaf("CPLStatus", status)]
    if device.mpxn:
        items.append(leaf("ImportMPxN", device.mpxn))
    return node("Device", *items)


def read_inventory(inventory: Inventory, request: Request) -> tuple[Node, ...]:
    """The payload of the 8.2 response: a DSPInventory, or nothing when no device matches."""
    devices = find_system(inventory, request)
    if not devices:
        return ()
    return (node("DSPInventory", *(inventory_entry(inventory, d) for d in devices)),)
