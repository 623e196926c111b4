"""The emulated DSP: a request walks parse and validate, verify, authorise,
then is answered (I99 for device requests, I0 and a payload for non-device
requests the DSP answers itself) or refused with the failing check's code.

Device replies come back through :meth:`DSP.process_firmware_report`, which
updates the SMI by the behaviour profile's rules and sends DCC alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..authorise import Decision, authorise
from ..catalogue import lookup
from ..clock import Clock, SystemClock
from ..errors import DuisError
from ..messages import Node, Request, from_tree
from ..profiles import BehaviourProfile, profile as named_profile
from ..schema import SchemaSet, ensure_valid, load_schema
from ..signatures import CounterStore, CredentialStore, verify
from ..smi import Inventory
from ..xmlparse import parse_bytes
from .firmware import FirmwareReport, process_firmware_report
from .inventory import read_inventory
from .responses import Outgoing, Responder


class NotEmulated(DuisError):
    """The request is valid and authorised, but this DSP does not emulate it yet."""

    exit_code = 1


#: non-device service requests the DSP answers itself: variant -> payload builder
NonDeviceHandler = Callable[[Inventory, Request], tuple[Node, ...]]
NON_DEVICE_HANDLERS: dict[str, NonDeviceHandler] = {"8.2": read_inventory}


@dataclass
class Submission:
    """What one submitted request produced."""

    request: Request
    decision: Decision
    outgoing: list[Outgoing] = field(default_factory=list)

    @property
    def response(self) -> Outgoing:
        """The synchronous answer."""
        return self.outgoing[0]


class DSP:
    """The DCC's Data Service Provider, emulated over an SMI and a credential store."""

    def __init__(self, inventory: Inventory, store: CredentialStore, *,
                 profile: BehaviourProfile | None = None, clock: Clock | None = None,
                 counters: CounterStore | None = None, schema: SchemaSet | None = None,
                 check_certificate_roles: bool = False) -> None:
        self.inventory = inventory
        self.store = store
        self.profile = profile or named_profile()
        self.clock = clock or SystemClock()
        self.counters = counters
        self.schema = schema or load_schema()
        self.check_certificate_roles = check_certificate_roles
        self.dsp_eui = str(store.dsp_signing_credential(now=self.clock.now()).eui)
        self.responder = Responder(store, self.dsp_eui, self.clock)

    def submit(self, data: bytes, *, web_service: str | None = None,
               source: str = "<request>") -> Submission:
        """Validate, verify, authorise and answer one signed request.

        Raises the schema or signature error when the request is not valid or
        not verified; every authorisation failure is answered with its code.
        """
        ensure_valid(parse_bytes(data, source), self.schema, source)
        verified = verify(data, self.store, now=self.clock.now(), counters=self.counters,
                          allowed_roles=_catalogue_roles if self.check_certificate_roles
                          else None, source=source)
        request = from_tree(verified.tree, source)
        decision = authorise(request, self.inventory, self.profile, self.dsp_eui,
                             web_service=web_service)
        submission = Submission(request, decision)
        if not decision.accepted:
            submission.outgoing.append(self.responder.answer(request, decision.code))
            return submission
        submission.outgoing.append(self._accept(request))
        return submission

    def _accept(self, request: Request) -> Outgoing:
        service = lookup(request.service_reference_variant)
        if service.non_device:
            handler = NON_DEVICE_HANDLERS.get(service.variant)
            if handler is None:
                raise NotEmulated(f"service request {service.variant} ({service.name}) is "
                                  f"authorised but not emulated by this DSP",
                                  expected="one of " + ", ".join(NON_DEVICE_HANDLERS),
                                  found=service.variant)
            return self.responder.answer(request, "I0", *handler(self.inventory, request))
        if request.command_variant == 4:
            raise NotEmulated("critical request (command variant 4): PreCommands are not "
                              "emulated by this DSP", expected="command variant 1, 3, 5 or 7",
                              found="4")
        return self.responder.answer(request, "I99")

    def process_firmware_report(self, report: FirmwareReport) -> list[Outgoing]:
        """Apply a device's firmware report to the SMI; return the signed DCC alerts."""
        alerts = process_firmware_report(self.inventory, self.profile, report)
        return [message for intent in alerts for message in self.responder.dcc_alert(intent)]


def _catalogue_roles(variant: str) -> frozenset[str]:
    return lookup(variant).roles
