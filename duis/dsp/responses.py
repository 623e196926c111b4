"""Step 7 of the pipeline: the DUIS Responses and DCC Alerts the DSP sends.

Every message is built as a typed object (so it validates) and left unsigned:
an :class:`Outgoing` holds its element and its bytes, and the sealing step
(:mod:`.seal`) signs it with the DSP's xml-sign credential where the caller
chooses (:meth:`~duis.dsp.DSP.submit` at once; ``duis serve`` in its own
process or a worker).  Synchronous responses carry the RequestID they
answer; DCC alerts carry a ResponseID ``DSP:recipient:counter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from lxml import etree

from ..catalogue.codes import dcc_alert
from ..clock import Clock
from ..gbcs import GbcsMessage, to_base64
from ..messages import (
    EUI64,
    MessageID,
    Node,
    Request,
    Response,
    build_serialized,
    format_datetime,
    leaf,
    node,
    response,
    response_message,
)
from ..messages.ids import is_canonical_eui
from ..messages.model import ResponseHeader
from ..messages.template import TemplateBook, Texts
from ..schema import SchemaSet
from ..signatures.sign import signable_form
from .firmware_reports import AlertIntent

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


#: what a message the DSP sends is (:attr:`Outgoing.kind`)
OUTGOING_KINDS = ("response", "device-response", "dcc-alert", "device-alert")


@dataclass(frozen=True)
class Outgoing:
    """A message the DSP sends, and to whom: built unsigned, then sealed (:mod:`.seal`)."""

    kind: str
    """One of :data:`OUTGOING_KINDS`: ``response`` (an answer from the DSP),
    ``device-response`` (the device's reply), ``dcc-alert`` or ``device-alert``."""
    recipient: str
    """EUI-64 of the DCC user it is for."""
    code: str
    """Response code, or alert code for alerts."""
    xml: bytes
    """The DUIS message: unsigned (an XML declaration and the compact element)
    until sealed, then signed."""
    gbcs: GbcsMessage | None = None
    """The device message it carries (device responses and alerts), as the device meant it."""
    service_reference_variant: str | None = None
    element: etree._Element | None = field(default=None, repr=False, compare=False)
    """The element :attr:`xml` serializes (unsigned only): signed without parsing again."""
    signed: bool = False
    """Whether :attr:`xml` carries the DSP's signature."""
    gbcs_bytes: bytes | None = None
    """The GBCS bytes it carries in its GBCSPayload (what MMC output decodes)."""
    canonical: bytes | None = field(default=None, repr=False, compare=False)
    """The Canonical XML of :attr:`xml` (unsigned only), when it was laid out from a
    template that gives it: what its signature digests, so sealing parses nothing
    (:func:`duis.signatures.sign.signable_form`)."""

    def with_signature(self, xml: bytes) -> Outgoing:
        """This message as sealed: ``xml`` is its signed form."""
        return Outgoing(self.kind, self.recipient, self.code, xml, self.gbcs,
                        self.service_reference_variant, None, True, self.gbcs_bytes)


#: texts of the DSP's messages it does not format itself: validated in their place the
#: first time they are seen (:class:`~duis.messages.template.TemplateBook`)
FOREIGN_TEXTS = frozenset({"code", "alert_code", "device_type", "smi_version",
                           "reported_version"})
_COUNTER_LIMIT = 1 << 64


class Responder:
    """Builds what the DSP sends, unsigned (validated against the schema).

    The usual messages (an answer without payload, a PreCommand, a device's
    response or alert, the N29 and firmware mismatch alerts) are laid out from
    their texts by a :class:`~duis.messages.template.TemplateBook`: the first of
    each shape is built and validated, later ones filled into its template; every
    other message is built and validated in full.
    """

    def __init__(self, dsp_eui: str, clock: Clock, counter: AlertCounter | None = None, *,
                 schema: SchemaSet | None = None,
                 seal: Callable[[list[Outgoing]], list[Outgoing]] | None = None,
                 signed: bool = True) -> None:
        self.dsp_eui, self.clock = dsp_eui, clock
        self.signed = signed
        """Whether what it builds is to be signed: then what is laid out from a
        template carries its Canonical XML (:attr:`Outgoing.canonical`)."""
        self.counter = counter or AlertCounter(clock)
        self.schema = schema
        """What each message is checked against (None: :func:`duis.schema.load_schema`)."""
        self.seal = seal
        """What is done with each message once built (None: nothing, it stays unsigned).
        For the DSP's parts whose own methods promise signed messages."""
        self.templates = TemplateBook(self._write, foreign=FOREIGN_TEXTS,
                                      canonical=signable_form)

    def _write(self, message: Response, validate: bool) -> bytes:
        return XML_DECLARATION + build_serialized(message, validate=validate,
                                                  schema=self.schema)[1]

    def _laid_out(self, kind: str, recipient: str, code: str, name: tuple,
                  layout: Callable[[Texts], Response], texts: Texts,
                  gbcs: GbcsMessage | None = None, variant: str | None = None,
                  gbcs_bytes: bytes | None = None) -> Outgoing:
        xml, canonical = self.templates.render_with_canonical(layout, name, texts,
                                                              canonical=self.signed)
        out = Outgoing(kind, recipient, code, xml, gbcs, variant, gbcs_bytes=gbcs_bytes,
                       canonical=canonical)
        return out if self.seal is None else self.seal([out])[0]

    def _outgoing(self, kind: str, recipient: str, code: str, message,
                  gbcs: GbcsMessage | None = None, variant: str | None = None,
                  gbcs_bytes: bytes | None = None) -> Outgoing:
        element, serialized = build_serialized(message, schema=self.schema)
        out = Outgoing(kind, recipient, code, XML_DECLARATION + serialized, gbcs, variant,
                       element, gbcs_bytes=gbcs_bytes)
        return out if self.seal is None else self.seal([out])[0]

    def answer(self, request: Request, code: str, *payload: Node) -> Outgoing:
        """The synchronous Response to ``request`` with ``code`` and an optional payload."""
        variant = request.service_reference_variant
        if not payload and _written_as_is(request.request_id):
            return self._laid_out(
                "response", str(request.originator), code, ("answer", variant),
                lambda t: _response(t, response_message(variant)),
                {"request_id": str(request.request_id), "code": code, "when": self._now()})
        body = response_message(variant, *payload)
        message = response(request.request_id, code, self.clock.now(), body)
        return self._outgoing("response", str(request.originator), code, message)

    def precommand(self, request: Request, command: bytes) -> Outgoing:
        """The I0 answer to a critical request (CV 4): the GBCS command to sign (a General
        Signing APDU without signature field, :func:`duis.gbcs.codec.precommand`)."""
        variant = request.service_reference_variant
        if not _written_as_is(request.request_id):
            return self.answer(request, "I0", _precommand(to_base64(command)))
        return self._laid_out(
            "response", str(request.originator), "I0", ("precommand", variant),
            lambda t: _response(t, response_message(variant, _precommand(t["payload"]))),
            {"request_id": str(request.request_id), "code": "I0", "when": self._now(),
             "payload": to_base64(command)})

    def local_command(self, request: Request, command: bytes) -> Outgoing:
        """The I0 answer to a request for local delivery (CV 2, 3, 6, 7): the GBCS
        command's bytes (as the DSP protects it), for the user to deliver to the device
        over its HAN."""
        return self.answer(request, "I0", node("LocalCommand",
                                               leaf("GBCSPayload", to_base64(command))))

    def device_response(self, request: Request, reply: GbcsMessage, data: bytes) -> Outgoing:
        """The device's reply to ``request`` (``data``: its bytes, as the device protected
        them), carried base64 in a ResponseMessage."""
        variant = request.service_reference_variant
        response_id = MessageID(reply.originator, reply.target, reply.transaction)
        if _written_as_is(request.request_id) and _written_as_is(response_id):
            return self._laid_out(
                "device-response", str(request.originator), "I0", ("device-response", variant),
                lambda t: _response(t, response_message(variant, leaf("GBCSPayload",
                                                                      t["payload"]))),
                {"request_id": str(request.request_id), "response_id": str(response_id),
                 "code": "I0", "when": self._now(), "payload": to_base64(data)},
                reply, variant, data)
        body = response_message(variant, leaf("GBCSPayload", to_base64(data)))
        message = response(request.request_id, "I0", self.clock.now(), body,
                           response_id=response_id)
        return self._outgoing("device-response", str(request.originator), "I0", message,
                              reply, variant, data)

    def device_alert(self, alert: GbcsMessage, data: bytes) -> Outgoing:
        """A device alert (e.g. alert code 0x8F66) for the user the device addresses it
        to; ``data`` is its bytes, signed by the device."""
        code = f"{alert.alert_code:04X}"
        response_id = MessageID(alert.originator, alert.target, self.counter())
        if _written_as_is(response_id):
            return self._laid_out(
                "device-alert", str(alert.target), code, ("device-alert",),
                lambda t: _response(t, _device_alert(t["alert_code"], t["payload"])),
                {"response_id": str(response_id), "code": "I0", "when": self._now(),
                 "alert_code": code, "payload": to_base64(data)},
                alert, gbcs_bytes=data)
        body = _device_alert(code, to_base64(data))
        message = response(None, "I0", self.clock.now(), body, response_id=response_id)
        return self._outgoing("device-alert", str(alert.target), code, message, alert,
                              gbcs_bytes=data)

    def dcc_alert(self, intent: AlertIntent) -> list[Outgoing]:
        """One DCC alert per recipient of ``intent``."""
        device = intent.device
        if not is_canonical_eui(device.eui) or not is_canonical_eui(self.dsp_eui):
            return self.dcc_alert_of(intent.code, intent.recipients, alert_content(intent))
        code = intent.code
        out = []
        for recipient in intent.recipients:
            response_id = MessageID(EUI64.parse(self.dsp_eui), EUI64.parse(recipient),
                                    self.counter())
            if not _written_as_is(response_id):
                out += self.dcc_alert_of(code, (recipient,), alert_content(intent))
                continue
            out.append(self._laid_out(
                "dcc-alert", recipient, code, ("dcc-alert", code),
                lambda t: _response(t, self._dcc_alert_body(code, _alert_content(code, t))),
                {"response_id": str(response_id), "code": "I0", "when": self._now(),
                 **_alert_texts(intent)}))
        return out

    def dcc_alert_of(self, code: str, recipients: tuple[str, ...],
                     content: Node) -> list[Outgoing]:
        """One DCC alert ``code`` per recipient, with ``content`` as its DCCAlert
        choice (AD1 ``PowerOutageEvent``, the comms hub firmware alerts, ...)."""
        return [self._outgoing("dcc-alert", recipient, code,
                               self._dcc_alert_message(code, content, recipient))
                for recipient in recipients]

    def _dcc_alert_message(self, code: str, content: Node, recipient: str):
        if content.name != dcc_alert(code).element:  # the table in catalogue/codes.toml
            raise ValueError(f"DCC alert {code} carries {dcc_alert(code).element}, "
                             f"not {content.name}")
        response_id = MessageID(EUI64.parse(self.dsp_eui), EUI64.parse(recipient),
                                self.counter())
        return response(None, "I0", self.clock.now(), self._dcc_alert_body(code, content),
                        response_id=response_id)

    @staticmethod
    def _dcc_alert_body(code: str, content: Node) -> Node:
        return node("DCCAlertMessage", leaf("DCCAlertCode", code), node("DCCAlert", content))

    def _now(self) -> str:
        return format_datetime(self.clock.now())


def alert_content(intent: AlertIntent) -> Node:
    """The DCCAlert choice for a firmware alert (data: which element carries which code)."""
    return _alert_content(intent.code, _alert_texts(intent))


def _alert_texts(intent: AlertIntent) -> Texts:
    device = intent.device
    if intent.code == "N29":
        return {"device_id": device.eui}
    return {"device_id": device.eui, "device_type": device.device_type,
            "smi_version": intent.smi_version, "reported_version": intent.reported_version}


def _alert_content(code: str, t: Texts) -> Node:
    if code == "N29":
        return node("DeviceStatusChangeEvent", leaf("DeviceID", t["device_id"]),
                    node("DeviceStatusChange", node("DeviceRestored")))
    return node("FirmwareVersionMismatch", leaf("DeviceID", t["device_id"]),
                leaf("DeviceType", t["device_type"]),
                leaf("FirmwareVersionSMI", t["smi_version"]),
                leaf("FirmwareVersionDevice", t["reported_version"]))


def _precommand(payload: str | None) -> Node:
    return node("PreCommand", leaf("GBCSVersion", GBCS_VERSION), leaf("GBCSPayload", payload))


def _device_alert(code: str | None, payload: str | None) -> Node:
    return node("DeviceAlertMessage", leaf("AlertCode", code), leaf("GBCSPayload", payload))


def _written_as_is(message_id: MessageID | None) -> bool:
    """Whether ``message_id``'s text is valid by construction (canonical EUI-64s, a
    counter in range): a template may take it without validating it."""
    return message_id is not None and 0 <= message_id.counter < _COUNTER_LIMIT \
        and bool(is_canonical_eui(message_id.originator.text)) \
        and bool(is_canonical_eui(message_id.target.text))


def _response(t: Texts, body: Node) -> Response:
    """A Response laid out from texts: its IDs are written as their text (the template
    machinery marks them), so they are carried here as text."""
    return Response(ResponseHeader(t["code"] or "", t["when"] or "",
                                   cast(MessageID | None, t.get("request_id")),
                                   cast(MessageID | None, t.get("response_id"))), body)


