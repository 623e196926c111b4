"""Device messages: the typed model (``model``), its one codec (``codec``: real GBCS from
:mod:`.wire` where GBCS defines the use case, the project's own layout :mod:`.own`
elsewhere) and the world's keys (``keys``)."""

from .codec import (
    GbcsDecodeError,
    GbcsEncodeError,
    WireError,
    decode,
    encode,
    from_base64,
    precommand,
    read,
    to_base64,
)
from .keys import WorldKeys, world_keys
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

__all__ = ["GbcsDecodeError", "GbcsEncodeError", "WireError", "decode", "encode", "from_base64",
           "precommand", "read", "to_base64", "WorldKeys", "world_keys",
           "STATUSES", "ActivateFirmware", "ActivationResult", "CommandOutcome",
           "DistributeImage", "FirmwareActivationAlert", "FirmwareVersionReport", "GbcsMessage",
           "ImageDistributionResult", "Kind", "Payload", "ReadFirmwareVersion", "TopUp",
           "UpdateSecurityCredentials", "POWER_OUTAGE_ALERT", "PowerOutageAlert"]
