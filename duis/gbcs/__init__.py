"""GBCS-like device messages: the typed model (``model``) and its byte codec (``codec``)."""

from .codec import GbcsDecodeError, GbcsEncodeError, decode, encode, from_base64, to_base64
from .model import (
                    POWER_OUTAGE_ALERT,
                    STATUSES,
                    ActivateFirmware,
                    ActivationResult,
                    CommandOutcome,
                    DistributeImage,
                    FirmwareActivationAlert,
                    FirmwareVersionReport,
                    GbcsMessage,
                    ImageDistributionResult,
                    Kind,
                    Payload,
                    PowerOutageAlert,
                    ReadFirmwareVersion,
                    TopUp,
                    UpdateSecurityCredentials,
)

__all__ = ["GbcsDecodeError", "GbcsEncodeError", "decode", "encode", "from_base64", "to_base64",
           "STATUSES", "ActivateFirmware", "ActivationResult", "CommandOutcome",
           "DistributeImage", "FirmwareActivationAlert", "FirmwareVersionReport", "GbcsMessage",
           "ImageDistributionResult", "Kind", "Payload", "ReadFirmwareVersion", "TopUp",
           "UpdateSecurityCredentials", "POWER_OUTAGE_ALERT", "PowerOutageAlert"]
