"""Step 4 of the pipeline: the Message Mapping Catalogue layer.

Requests become GBCS commands (``translate``), device responses and alerts
become MMC output documents (``output``; from a whole DUIS Response:
``replies``), following the table in
``mapping.toml`` (read by ``mapping``).
"""

from .describe import describe, render
from .errors import MappingInvalid, TranslationError
from .mapping import AlertMeaning, Mapping, UseCase, load_mapping, mapping, use_case_for
from .output import instant, mmc_document, mmc_for_payload, mmc_output
from .replies import DeviceReply, device_reply, mmc_for_response
from .translate import command_for, signed_command

__all__ = ["AlertMeaning", "DeviceReply", "Mapping", "MappingInvalid", "TranslationError",
           "UseCase", "command_for", "describe", "device_reply", "instant", "load_mapping",
           "mapping", "mmc_document", "mmc_for_payload", "mmc_output", "mmc_for_response", "render",
           "signed_command", "use_case_for"]
