"""The emulated DSP: authorisation outcome, responses, DCC alerts and the
response-side SMI processing of firmware versions (MP105)."""

from .firmware_reports import AlertIntent, FirmwareReport, process_firmware_report
from .responses import Outgoing, Responder
from .service import DSP, NotEmulated, Submission

__all__ = ["DSP", "AlertIntent", "FirmwareReport", "NotEmulated", "Outgoing", "Responder",
           "Submission", "process_firmware_report"]
