"""Step 7 of the pipeline: the DUIS Responses and DCC Alerts the DSP sends.

Every message is built as a typed object (so it validates) and signed by the
DSP's xml-sign credential.  Synchronous responses carry the RequestID they
answer; DCC alerts carry a ResponseID ``DSP:recipient:counter``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import Clock
from ..gbcs import GbcsMessage, encode, to_base64
from ..messages import EUI64, MessageID, Node, Request, build_serialized, leaf, node, response, \
    response_message
from ..schema import SchemaSet
from ..signatures import CredentialStore, sign_built
from .firmware import AlertIntent

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
#: the GBCS version a PreCommand names (the DUIS 5.4 schema is aligned with GBCS 4.3)
GBCS_VERSION = "4.3"


class AlertCounter:
    """Strictly increasing counters for DSP-originated message IDs: the clock in
    milliseconds, bumped by one when two messages fall in the same millisecond."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.last = 0

    def __call__(self) -> int:
        now = int(self.clock.now().timestamp() * 1000)
        self.last = max(self.last + 1, now)
        return self.last


@dataclass(frozen=True)
class Outgoing:
    """A signed message the DSP sends, and to whom."""

    kind: str
    """``response`` (an answer from the DSP), ``device-response`` (the device's
    reply), ``dcc-alert`` or ``device-alert``."""
    recipient: str
    """EUI-64 of the DCC user it is for."""
    code: str
    """Response code, or alert code for alerts."""
    xml: bytes
    """The signed DUIS message."""
    gbcs: GbcsMessage | None = None
    """The device message it carries (device responses and alerts), for MMC output."""
    service_reference_variant: str | None = None


class Responder:
    """Builds and signs what the DSP sends."""

    def __init__(self, store: CredentialStore, dsp_eui: str, clock: Clock,
                 counter: AlertCounter | None = None, *, sign: bool = True,
                 schema: SchemaSet | None = None) -> None:
        self.store, self.dsp_eui, self.clock = store, dsp_eui, clock
        self.counter = counter or AlertCounter(clock)
        self.sign = sign
        self.schema = schema
        """What each message is checked against (None: :func:`duis.schema.load_schema`)."""

    def _sign(self, message) -> bytes:
        """Build (validated against the schema) and sign with the DSP's credential;
        unsigned (compact, no ds:Signature) when signing is off."""
        element, serialized = build_serialized(message, schema=self.schema)
        if not self.sign:
            return XML_DECLARATION + serialized
        credential = self.store.dsp_signing_credential(now=self.clock.now())
        return sign_built(element, credential, serialized=serialized)

    def answer(self, request: Request, code: str, *payload: Node) -> Outgoing:
        """The synchronous Response to ``request`` with ``code`` and an optional payload."""
        body = response_message(request.service_reference_variant, *payload)
        message = response(request.request_id, code, self.clock.now(), body)
        return Outgoing("response", str(request.originator), code, self._sign(message))

    def precommand(self, request: Request, command: bytes) -> Outgoing:
        """The I0 answer to a critical request (CV 4): the GBCS command to sign."""
        payload = node("PreCommand", leaf("GBCSVersion", GBCS_VERSION),
                       leaf("GBCSPayload", to_base64(command)))
        return self.answer(request, "I0", payload)

    def device_response(self, request: Request, reply: GbcsMessage) -> Outgoing:
        """The device's reply to ``request``, carried base64 in a ResponseMessage."""
        body = response_message(request.service_reference_variant,
                                leaf("GBCSPayload", to_base64(encode(reply))))
        response_id = MessageID(reply.originator, reply.target, reply.transaction)
        message = response(request.request_id, "I0", self.clock.now(), body,
                           response_id=response_id)
        return Outgoing("device-response", str(request.originator), "I0", self._sign(message),
                        reply, request.service_reference_variant)

    def device_alert(self, alert: GbcsMessage) -> Outgoing:
        """A device alert (e.g. 0x8F66) for the user the device addresses it to."""
        code = f"{alert.message_code:04X}"
        body = node("DeviceAlertMessage", leaf("AlertCode", code),
                    leaf("GBCSPayload", to_base64(encode(alert))))
        response_id = MessageID(alert.originator, alert.target, self.counter())
        message = response(None, "I0", self.clock.now(), body, response_id=response_id)
        return Outgoing("device-alert", str(alert.target), code, self._sign(message), alert)

    def dcc_alert(self, intent: AlertIntent) -> list[Outgoing]:
        """One signed DCC alert per recipient of ``intent``."""
        return [Outgoing("dcc-alert", recipient, intent.code,
                         self._sign(self._alert_message(intent, recipient)))
                for recipient in intent.recipients]

    def dcc_alert_of(self, code: str, recipients: tuple[str, ...],
                     content: Node) -> list[Outgoing]:
        """One signed DCC alert ``code`` per recipient, with ``content`` as its DCCAlert
        choice (AD1 ``PowerOutageEvent``, the comms hub firmware alerts, ...)."""
        return [Outgoing("dcc-alert", recipient, code,
                         self._sign(self._dcc_alert_message(code, content, recipient)))
                for recipient in recipients]

    def _dcc_alert_message(self, code: str, content: Node, recipient: str):
        response_id = MessageID(EUI64.parse(self.dsp_eui), EUI64.parse(recipient),
                                self.counter())
        body = node("DCCAlertMessage", leaf("DCCAlertCode", code), node("DCCAlert", content))
        return response(None, "I0", self.clock.now(), body, response_id=response_id)

    def _alert_message(self, intent: AlertIntent, recipient: str):
        response_id = MessageID(EUI64.parse(self.dsp_eui), EUI64.parse(recipient),
                                self.counter())
        body = node("DCCAlertMessage", leaf("DCCAlertCode", intent.code),
                    node("DCCAlert", alert_content(intent)))
        return response(None, "I0", self.clock.now(), body, response_id=response_id)


def alert_content(intent: AlertIntent) -> Node:
    """The DCCAlert choice for a firmware alert (data: which element carries which code)."""
    device = intent.device
    if intent.code == "N29":
        return node("DeviceStatusChangeEvent", leaf("DeviceID", device.eui),
                    node("DeviceStatusChange", node("DeviceRestored")))
    return node("FirmwareVersionMismatch", leaf("DeviceID", device.eui),
                leaf("DeviceType", device.device_type),
                leaf("FirmwareVersionSMI", intent.smi_version),
                leaf("FirmwareVersionDevice", intent.reported_version))


