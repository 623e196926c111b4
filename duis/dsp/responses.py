"""Step 7 of the pipeline: the DUIS Responses and DCC Alerts the DSP sends.

Every message is built as a typed object (so it validates) and signed by the
DSP's xml-sign credential.  Synchronous responses carry the RequestID they
answer; DCC alerts carry a ResponseID ``DSP:recipient:counter``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import Clock
from ..messages import EUI64, MessageID, Node, Request, build, leaf, node, response, \
    response_message
from ..signatures import CredentialStore, sign_with_store
from .firmware import AlertIntent


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
    """``response`` (synchronous answer), ``dcc-alert`` or ``device-alert``."""
    recipient: str
    """EUI-64 of the DCC user it is for."""
    code: str
    """Response code, or alert code for alerts."""
    xml: bytes
    """The signed DUIS message."""


class Responder:
    """Builds and signs what the DSP sends."""

    def __init__(self, store: CredentialStore, dsp_eui: str, clock: Clock,
                 counter: AlertCounter | None = None) -> None:
        self.store, self.dsp_eui, self.clock = store, dsp_eui, clock
        self.counter = counter or AlertCounter(clock)

    def _sign(self, message) -> bytes:
        return sign_with_store(build(message), self.store, now=self.clock.now())

    def answer(self, request: Request, code: str, *payload: Node) -> Outgoing:
        """The synchronous Response to ``request`` with ``code`` and an optional payload."""
        body = response_message(request.service_reference_variant, *payload)
        message = response(request.request_id, code, self.clock.now(), body)
        return Outgoing("response", str(request.originator), code, self._sign(message))

    def dcc_alert(self, intent: AlertIntent) -> list[Outgoing]:
        """One signed DCC alert per recipient of ``intent``."""
        return [Outgoing("dcc-alert", recipient, intent.code,
                         self._sign(self._alert_message(intent, recipient)))
                for recipient in intent.recipients]

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


