"""Real GBCS on the wire: the DCC's byte layouts, MAC and signatures.

The structures (``docs/gbcs-real.md``): the General Signing grouping header
(:class:`GroupingHeader`), General Ciphering with the GBCS MAC (:mod:`.crypto`), the
originator's signature, and the payloads of ECS52 (DLMS Get), GCS38 (ZigBee read
attributes), CS08, CS06 and the future-dated activation alert (:mod:`.usecases`).

``encode(message, keys)`` / ``decode(data, keys)`` are the codec; ``sign`` signs as
the originator; ``wrap_mac`` MACs an APDU as the Access Control Broker; a
:class:`KeyRing` holds the keys and caches each pair's shared secret.  Errors are the
classes of :mod:`.errors`.  This package is not yet wired into the devices or the DSP
(they speak the GBCS-like layout of :mod:`duis.gbcs.codec`).
"""

from .codec import (
    Message,
    apdu,
    decode,
    encode,
    encode_payload,
    inspect,
    sign,
    signed_bytes,
    wrap_mac,
)
from .crypto import DIGITAL_SIGNING, KEY_AGREEMENT, KeyRing
from .dlms import CosemAttribute, DlmsGetRequest, DlmsGetResponse, GetResult
from .errors import (
    BadLength,
    KeyFileError,
    KeyUnavailable,
    MacInvalid,
    SignatureInvalid,
    TrailingBytes,
    Truncated,
    UnexpectedValue,
    Unprotected,
    Unsupported,
    WireEncodeError,
    WireError,
)
from .firmware import (
    ActivateFirmwareCommand,
    ActivationAccepted,
    ActivationAlert,
    ActivationOutcome,
    FirmwareVersionReport,
    ReadFirmwareVersionCommand,
)
from .frames import Cra, DlmsDateTime, GroupingHeader
from .usecases import (
    CS06,
    CS08,
    ECS52,
    FUTURE_DATED_ACTIVATION_ALERT,
    GCS38,
    USE_CASES,
    Payload,
    Protection,
)
from .zigbee import (
    AttributeRecord,
    GbzComponent,
    GbzPayload,
    ReadAttributes,
    ReadAttributesResponse,
)

__all__ = [
    # codec
    "Message", "apdu", "decode", "encode", "encode_payload", "inspect", "sign", "signed_bytes",
    "wrap_mac", "KeyRing", "KEY_AGREEMENT", "DIGITAL_SIGNING",
    # header
    "Cra", "DlmsDateTime", "GroupingHeader",
    # payloads
    "Payload", "Protection", "USE_CASES", "CS06", "CS08", "ECS52", "GCS38",
    "FUTURE_DATED_ACTIVATION_ALERT",
    "CosemAttribute", "DlmsGetRequest", "DlmsGetResponse", "GetResult",
    "AttributeRecord", "GbzComponent", "GbzPayload", "ReadAttributes", "ReadAttributesResponse",
    "ActivateFirmwareCommand", "ActivationAccepted", "ActivationAlert", "ActivationOutcome",
    "FirmwareVersionReport", "ReadFirmwareVersionCommand",
    # errors
    "WireError", "Truncated", "BadLength", "TrailingBytes", "UnexpectedValue", "Unsupported",
    "Unprotected", "KeyUnavailable", "MacInvalid", "SignatureInvalid", "WireEncodeError",
    "KeyFileError",
]
