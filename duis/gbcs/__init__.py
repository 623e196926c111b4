"""GBCS-like device messages: the typed model (``model``) and its byte codec."""

from .model import (STATUSES, ActivateFirmware, ActivationResult, CommandOutcome,
                    DistributeImage, FirmwareActivationAlert, FirmwareVersionReport, GbcsMessage,
                    ImageDistributionResult, Kind, Payload, ReadFirmwareVersion, TopUp,
                    UpdateSecurityCredentials)

__all__ = ["STATUSES", "ActivateFirmware", "ActivationResult", "CommandOutcome",
           "DistributeImage", "FirmwareActivationAlert", "FirmwareVersionReport", "GbcsMessage",
           "ImageDistributionResult", "Kind", "Payload", "ReadFirmwareVersion", "TopUp",
           "UpdateSecurityCredentials"]
