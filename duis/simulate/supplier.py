"""The supplier's adaptor in a fleet simulation: it builds, signs and sends DUIS
requests to the DSP, and reads every message the DSP sends back.

It sees only what a real adaptor sees: the DUIS messages.  The PreCommand's
GBCS bytes come out of the Response's ``GBCSPayload``; a device restored in the
SMI is known from its N29 DCC alert (``DeviceStatusChangeEvent/DeviceID``).
The simulated clock moves on by ``latency`` before each request.

With signing on, each request is signed with the supplier's xml-sign key and
every message the DSP sends (to the supplier or to the network operator) is
verified by its recipient; with signing off, messages go unsigned and are
only parsed.  Critical commands are signed at GBCS level with the supplier's
ds key either way, and the DSP checks that signature whatever its XML signing switch.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from ..clock import FixedClock
from ..dsp import DSP, Outgoing, Submission
from ..messages import Node, build_serialized, leaf, node, request
from ..messages.codec import XML_DECLARATION, serialized
from ..namespaces import sr
from ..signatures import CredentialStore, sign_built, verify
from ..signatures.credentials import DIGITAL_SIGNING
from ..signatures.gbcs import sign_command
from ..xmlparse import parse_bytes

_GBCS_PAYLOAD = sr("GBCSPayload")
_STATUS_CHANGE, _DEVICE_ID = sr("DeviceStatusChangeEvent"), sr("DeviceID")

#: what became of a device request, as the supplier sees it: the delivery
#: outcome after an I99, else the code that refused it (E5, ...)
ANSWERED, LOST = "answered", "lost"


@dataclass
class Tally:
    """Messages counted on the supplier's side of the DUIS interface."""

    requests: int = 0
    """DUIS requests sent to the DSP."""
    received: int = 0
    """DUIS messages the DSP sent to the supplier."""
    sent_elsewhere: int = 0
    """DUIS messages the DSP sent to others (N29 copies for the network operator)."""
    codes: Counter = field(default_factory=Counter)
    """Every message the DSP sent, by response or alert code."""

    @property
    def dsp_messages(self) -> int:
        return self.received + self.sent_elsewhere

    @property
    def messages(self) -> int:
        """Every DUIS message that crossed the interface, both ways."""
        return self.requests + self.dsp_messages


class SupplierAdaptor:
    """One DCC user (a supplier) driving the DSP, message by message."""

    def __init__(self, dsp: DSP, store: CredentialStore, clock: FixedClock, eui: str, *,
                 signing: bool, latency: float,
                 on_restored: Callable[[str], None] | None = None) -> None:
        self.dsp, self.store, self.clock, self.eui = dsp, store, clock, eui
        self.signing, self.latency = signing, latency
        self.on_restored = on_restored or (lambda eui: None)
        self.tally = Tally()
        self.restored: set[str] = set()
        """Devices an N29 said were restored."""
        self._counter = 0
        self._last_payload = ""
        credential = store.signing_credential(eui, DIGITAL_SIGNING, now=clock.now())
        assert credential.private_key is not None  # a signing credential holds its key
        self._ds_key = credential.private_key

    # --- the service requests the campaign uses ------------------------------------

    def update_firmware(self, image: bytes, version: str, devices: list[str]) -> Submission:
        """11.1 (CV 8): distribute ``image`` to ``devices`` through their comms hubs."""
        body = node("UpdateFirmware",
                    leaf("FirmwareImage", base64.b64encode(image).decode("ascii")),
                    leaf("FirmwareVersion", version), leaf("DeviceIDList", ",".join(devices)))
        return self.send(self.dsp.dsp_eui, "11.1", body)

    def activate_firmware(self, device: str, firmware_hash: str) -> str:
        """11.3, the critical flow: CV 4 for the PreCommand, sign it (ds key), CV 5.

        Returns ``answered`` (the device's response came back), ``lost`` (I99,
        then nothing), another delivery outcome (``no-response``: E21,
        ``unreachable``: E20) or the code that refused the request.
        """
        body = node("ActivateFirmware", leaf("FirmwareHash", firmware_hash))
        pre = self.send(device, "11.3", body, command_variant=4)
        if pre.response.code != "I0":
            return pre.response.code
        command = base64.b64decode(self._last_payload)
        signed = base64.b64encode(sign_command(command, self._ds_key)).decode("ascii")
        sub = self.send(device, "11.3", node("SignedPreCommand", leaf("GBCSPayload", signed)),
                        command_variant=5)
        return _outcome(sub)

    def read_firmware_version(self, device: str) -> str:
        """11.2 (CV 1): as :meth:`activate_firmware` (e.g. ``E5`` to a Suspended device
        under the baseline profile)."""
        return _outcome(self.send(device, "11.2", node("ReadFirmwareVersion")))

    # --- sending and reading ---------------------------------------------------------

    def send(self, target: str, variant: str, body: Node, *,
             command_variant: int | None = None) -> Submission:
        """Build, sign (when signing), submit; read everything the DSP sends back."""
        self.clock.advance(seconds=self.latency)
        self._counter += 1
        message = request(self.eui, target, self._counter, variant, body,
                          command_variant=command_variant)
        # the DSP validates every request; building skips a second, identical check
        if self.signing:
            element, markup = build_serialized(message, validate=False)
            credential = self.store.signing_credential(self.eui, now=self.clock.now())
            data = sign_built(element, credential, serialized=markup)
        else:
            data = XML_DECLARATION + serialized(message)
        self.tally.requests += 1
        submission = self.dsp.submit(data)
        for outgoing in submission.outgoing:
            self._read(outgoing)
        return submission

    def _read(self, outgoing: Outgoing) -> None:
        """What the recipient of ``outgoing`` does with it: verify (or parse) and act."""
        tree = self._open(outgoing.xml)
        self.tally.codes[outgoing.code] += 1
        if outgoing.recipient != self.eui:
            self.tally.sent_elsewhere += 1
            return
        self.tally.received += 1
        root = tree.getroot()
        if outgoing.kind == "response":
            found = next(root.iter(_GBCS_PAYLOAD), None)  # the first, in document order
            self._last_payload = (found.text or "") if found is not None else ""
        elif outgoing.code == "N29":
            event = next(root.iter(_STATUS_CHANGE), None)
            device = event.findtext(_DEVICE_ID) if event is not None else None
            if device and device not in self.restored:
                self.restored.add(device)
                self.on_restored(device)

    def _open(self, data: bytes) -> etree._ElementTree:
        if self.signing:
            return verify(data, self.store, now=self.clock.now()).tree
        return parse_bytes(data)


def _outcome(submission: Submission) -> str:
    code = submission.response.code
    return code if code != "I99" else submission.delivery or code
