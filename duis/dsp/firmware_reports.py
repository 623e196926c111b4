"""Response-side SMI processing of firmware versions reported by devices (MP105).

A device reports its firmware version in an 11.2 response, an 11.3 response
or a future-dated activation alert (0x8F66 success / 0x8F67 failure for
message code 0x00CA).  Whether a report is processed depends on the
behaviour profile; how it is processed is the CPL table of MP105 (the reported
version on the CPL: the SMI firmware version; the device status; the alert):

* Current: updated; Suspended -> status before suspension; N29 to supplier and
  network operator (when restored)
* Removed: updated; not set to Suspended; N50 to supplier
* not on the CPL: unchanged; unchanged; N51 to supplier

An 11.2 response from a GPF never changes the SMI: when the GSME firmware
version it reports differs from the GSME's in the SMI, N52 goes to the sender.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..gbcs import ActivationResult, FirmwareActivationAlert, FirmwareVersionReport
from ..profiles import ProfileQuestions
from ..smi import Device, Inventory

READ_FIRMWARE, ACTIVATE_FIRMWARE, ACTIVATION_ALERT = "11.2", "11.3", "alert"
#: device types whose 11.2 response is processed by the CPL rules (MP105 N50/N51 triggers)
READ_FIRMWARE_PROCESSED_TYPES = frozenset({"ESME", "GSME", "CHF"})
#: future-dated activation alerts for message code 0x00CA, and whether each reports success
ACTIVATION_ALERT_CODES = {"8F66": True, "8F67": False}


@dataclass(frozen=True)
class FirmwareReport:
    """A firmware version a device reported, and how it was reported."""

    device: str
    """EUI-64 of the reporting device (for a GPF: the GPF)."""
    source: str
    """``11.2``, ``11.3`` or ``alert``."""
    version: str | None
    """The reported firmware version; None when the reply carried none (SMETS1 retries)."""
    successful: bool | None = None
    """11.3 / alert only: ActivateImageResponseCode success (True), another code
    (False), or absent (None)."""
    sender: str | None = None
    """EUI-64 of the user whose request caused the report (N52 goes there)."""
    cause: str = ""
    """What caused it, for the audit log (a RequestID, an alert ID)."""


@dataclass(frozen=True)
class AlertIntent:
    """A DCC alert to send: code, recipients and what it is about."""

    code: str
    recipients: tuple[str, ...]
    device: Device
    """The device the alert is about (as it was before processing)."""
    smi_version: str
    reported_version: str


def process_firmware_report(inventory: Inventory, profile: ProfileQuestions,
                            report: FirmwareReport) -> tuple[AlertIntent, ...]:
    """Apply ``report`` to the SMI in one transaction; return the alerts to send."""
    device = inventory.device(report.device)
    version = report.version
    if device is None or version is None or not _processed(profile, report, device):
        return ()
    if report.source == READ_FIRMWARE and device.device_type == "GPF":
        return _gpf_report(inventory, device, report, version)
    if version == device.firmware_version:
        return ()
    entry = inventory.cpl_entry_for(device, version)
    if entry is None:
        return (_alert("N51", (device.supplier,), device, version),)
    # one update_device: one transaction of its own (a savepoint inside a caller's)
    reason = f"firmware version {report.version} reported by {report.source}"
    if entry.status == "Current" and device.status == "Suspended":
        inventory.update_device(device.eui, reason=reason + " is Current on the CPL",
                                cause=report.cause, firmware_version=report.version,
                                status=device.status_before_suspension,
                                status_before_suspension=None)
        return (_alert("N29", (device.supplier, device.network_operator), device, version),)
    inventory.update_device(device.eui, reason=reason + f" is {entry.status} on the CPL",
                            cause=report.cause, firmware_version=report.version)
    if entry.status == "Removed":
        return (_alert("N50", (device.supplier,), device, version),)
    return ()


def _processed(profile: ProfileQuestions, report: FirmwareReport, device: Device) -> bool:
    if report.source == READ_FIRMWARE:
        if device.device_type == "GPF":
            return True  # N52 is the DCC's behaviour under every profile
        return (profile.processes_firmware_read()
                and device.device_type in READ_FIRMWARE_PROCESSED_TYPES)
    return profile.processes_activation(report.successful is True)


def _gpf_report(inventory: Inventory, gpf: Device, report: FirmwareReport,
                version: str) -> tuple[AlertIntent, ...]:
    gsme = next(inventory.devices(hub=gpf.hub, device_type="GSME"), None) if gpf.hub else None
    if gsme is None or gsme.firmware_version == version:
        return ()
    return (_alert("N52", (report.sender,), gsme, version),)


def _alert(code: str, recipients: tuple[str | None, ...], device: Device,
           reported_version: str) -> AlertIntent:
    """``reported_version``: the report's version (a report without one is not processed)."""
    unique = tuple(dict.fromkeys(r for r in recipients if r))
    return AlertIntent(code, unique, device, device.firmware_version, reported_version)


def report_from(message, sender: str, cause: str = "") -> FirmwareReport | None:
    """The firmware report a device reply or alert carries, if any.

    ``message`` is a :class:`duis.gbcs.GbcsMessage`: a FirmwareVersionReport
    (11.2), an ActivationResult with an outcome (11.3; a merely scheduled
    activation reports nothing yet) or a FirmwareActivationAlert.
    """
    payload, device = message.payload, str(message.originator)
    if isinstance(payload, FirmwareVersionReport):
        return FirmwareReport(device, READ_FIRMWARE, payload.firmware_version, sender=sender,
                              cause=cause)
    if isinstance(payload, ActivationResult) and payload.status is not None:
        return FirmwareReport(device, ACTIVATE_FIRMWARE, payload.firmware_version,
                              successful=payload.status == "success", sender=sender, cause=cause)
    if isinstance(payload, FirmwareActivationAlert):
        return FirmwareReport(device, ACTIVATION_ALERT, payload.firmware_version,
                              successful=ACTIVATION_ALERT_CODES.get(
                                  f"{message.alert_code:04X}", False),
                              sender=sender, cause=cause)
    return None
