"""The emulated DSP: a request walks parse and validate, verify, authorise,
translate, execute on a device, update the SMI, respond and alert.

- refused by a check: a Response with that code;
- non-device requests (CV 8): answered by the DSP (8.2 inventory, 11.1 image
  distribution);
- critical requests: CV 4 gets a PreCommand; CV 5-7 (the SignedPreCommand) is
  checked against it and its GBCS signature, then goes to the device;
- other device requests (CV 1-3): I99, then the device's reply (or E20 / E21),
  and the DCC alerts the reply causes.

Device alerts come out of :meth:`DSP.tick`, which lets the devices' clocks run.

Every step builds what the DSP sends unsigned; sealing (:mod:`.seal`, the
DSP's signature) is a step of its own that the caller places: :meth:`DSP.submit`
and :meth:`DSP.tick` are :meth:`DSP.handle` and :meth:`DSP.catch_up` followed
by :meth:`DSP.seal`; ``duis serve`` seals where it chooses (its own process
or a worker).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

from ..authorise import Decision, authorise
from ..catalogue import LOCAL_VARIANTS, WAN_VARIANTS, lookup
from ..clock import Clock, SystemClock
from ..devices import EmulatedDevice, Network
from ..errors import DuisError, WrongRoot
from ..gbcs import PowerOutageAlert, encode, world_keys
from ..messages import Message, MessageID, Node, Request, from_tree
from ..mmc import command_for
from ..profiles import ProfileQuestions
from ..profiles import profile as named_profile
from ..schema import SchemaSet, ensure_valid, load_schema
from ..settings import DEFAULT_SETTINGS, Settings
from ..signatures import CounterStore, CredentialStore, verify
from ..smi import Inventory
from ..xmlparse import parse_bytes
from .critical import PreCommandBook
from .distribution import plan_distribution
from .firmware_reports import FirmwareReport, process_firmware_report, report_from
from .hub_firmware import HubFirmware
from .ppmid import (
    join_system,
    ota_refused,
    plan_ppmid_update,
    ppmid_image_command,
    ppmid_warning,
    prenotify,
)
from .read_inventory import read_inventory
from .responses import Outgoing, Responder
from .seal import seal
from .suppression import AD1Suppression

#: what the DSP answers when a device cannot be reached / does not answer
DELIVERY_CODES = {"unreachable": "E20", "no-response": "E21"}


class NotEmulated(DuisError):
    """The request is valid and authorised, but this DSP does not emulate it yet."""

    exit_code = 1


#: non-device service requests the DSP answers from the SMI alone: variant -> payload
NonDeviceHandler = Callable[[Inventory, Request], tuple[Node, ...]]
NON_DEVICE_HANDLERS: dict[str, NonDeviceHandler] = {"8.2": read_inventory}


@dataclass(frozen=True)
class Checked:
    """A request past the stateless checks (schema, signature), not yet past the
    replay check: what :meth:`DSP.submit_checked` takes."""

    request: Message
    """The request as it was signed (a :class:`~duis.messages.Response`, if one was sent)."""
    message_id: MessageID | None = None
    """Its RequestID, for the replay check (``None``: unsigned, or not a Request)."""

    def as_request(self, source: str = "<request>") -> Request:
        """:attr:`request`, refused with :class:`~duis.errors.WrongRoot` unless it is
        a Request (a valid, signed Response sent by mistake)."""
        if not isinstance(self.request, Request):
            raise WrongRoot("the DSP takes a DUIS request", source=source, path="/",
                            expected="sr:Request", found=type(self.request).__name__)
        return self.request


def precheck(data: bytes, store: CredentialStore, schema: SchemaSet, *, now: _dt.datetime,
             signing: bool = True, check_certificate_roles: bool = False,
             source: str = "<request>") -> Checked:
    """Steps 1 and 2 of the pipeline but the replay check: parse (safely), validate
    against the schema, verify the signature (certificates valid at ``now``).

    Stateless: reads only the credential store and the schema, so it can run in
    another thread or process, given the DSP's ``now``.
    """
    tree = ensure_valid(parse_bytes(data, source), schema, source)
    if not signing:
        return Checked(from_tree(tree, source))
    verified = verify(data, store, now=now, counters=None,
                      allowed_roles=_catalogue_roles if check_certificate_roles else None,
                      source=source, tree=tree)
    return Checked(from_tree(verified.tree, source), verified.message_id)


@dataclass
class Submission:
    """What one submitted request produced, in the order it was sent: unsigned from
    :meth:`DSP.handle`, sealed from :meth:`DSP.submit`."""

    request: Request
    decision: Decision
    outgoing: list[Outgoing] = field(default_factory=list)
    delivery: str | None = None
    """What came of delivering the device command: answered, lost, no-response, unreachable."""

    @property
    def response(self) -> Outgoing:
        """The DSP's synchronous answer."""
        return self.outgoing[0]


class DSP:
    """The DCC's Data Service Provider, emulated over an SMI, a credential store
    and (optionally) a network of emulated devices."""

    def __init__(self, inventory: Inventory, store: CredentialStore, *,
                 profile: ProfileQuestions | None = None, clock: Clock | None = None,
                 counters: CounterStore | None = None, schema: SchemaSet | None = None,
                 network: Network | None = None, check_certificate_roles: bool = False,
                 signing: bool = True, settings: Settings | None = None) -> None:
        self.inventory = inventory
        self.store = store
        self.profile = profile or named_profile()
        self.clock = clock or SystemClock()
        self.counters = counters
        self.schema = schema or load_schema()
        self.network = network
        self.check_certificate_roles = check_certificate_roles
        self.signing = signing
        """False for large simulations: requests are taken unsigned and :meth:`seal`
        leaves answers unsigned; everything else (schema, checks, devices, SMI) is
        as usual."""
        self.dsp_eui = str(store.dsp_signing_credential(now=self.clock.now()).eui)
        self.keys = world_keys(store, acb=self.dsp_eui)
        """The world's GBCS keys, built once (:mod:`duis.gbcs.keys`): the DSP MACs
        commands as Access Control Broker; the devices use the same ring."""
        if network is not None and network.keys is None:
            network.keys = self.keys
        self.responder = Responder(self.dsp_eui, self.clock, schema=self.schema, signed=signing)
        """Builds what the DSP sends, unsigned."""
        self.precommands = PreCommandBook()
        self.settings = settings or DEFAULT_SETTINGS
        """What the DCC configures (MP102B, SECMP0024) and how emulated meters reboot."""
        if network is not None:
            network.power.reboots(self.settings.rebooting_esme_manufacturers,
                                  self.settings.esme_reboot_outage)
        self.suppression = AD1Suppression(inventory, self.settings, self.clock, self.responder)
        """MP102B: activation marks, the AD1 decision, the Suppression Log."""
        # its publish() is called directly and promises signed notices: its responder
        # seals what it builds (sharing the DSP's alert counter)
        sealing = Responder(self.dsp_eui, self.clock, self.responder.counter,
                            schema=self.schema, seal=self.seal, signed=signing)
        self.hub_firmware = HubFirmware(inventory, self.settings, self.clock, sealing,
                                        network=network, dsp_eui=self.dsp_eui,
                                        report=self._process)
        """SECMP0024: comms hub firmware releases, their schedule and status."""

    # --- the request path ----------------------------------------------------------

    def submit(self, data: bytes, *, web_service: str | None = None,
               source: str = "<request>") -> Submission:
        """Validate, verify, authorise and act on one signed request.

        Raises the schema or signature error when the request is not valid or
        not verified, and the GBCS signature error or :class:`PreCommandMismatch`
        for a SignedPreCommand that is refused; every authorisation failure is
        answered with its code.

        The same as :meth:`precheck` (stateless) followed by :meth:`submit_checked`
        (the DSP's state), all sealed (:meth:`seal`); ``duis serve`` runs the first
        in worker processes.
        """
        return self.submit_checked(self.precheck(data, source), web_service=web_service,
                                   source=source)

    def seal(self, outgoing: list[Outgoing]) -> list[Outgoing]:
        """The sealing step: ``outgoing`` signed with the DSP's credential valid now
        (:func:`.seal.seal`); left unsigned when :attr:`signing` is off."""
        if not self.signing:
            return list(outgoing)
        return seal(outgoing, self.store, self.clock.now())

    def sealed(self, submission: Submission) -> Submission:
        """``submission`` with what it sends sealed."""
        return Submission(submission.request, submission.decision,
                          self.seal(submission.outgoing), submission.delivery)

    def verified_request(self, data: bytes, source: str = "<request>") -> Request:
        """Steps 1 and 2: the schema, then the signature (and the replay check);
        the request as it was signed."""
        checked = self.precheck(data, source)
        self.check_counter(checked, source)
        return checked.as_request(source)

    def precheck(self, data: bytes, source: str = "<request>", *,
                 now: _dt.datetime | None = None) -> Checked:
        """Steps 1 and 2 without the replay check: nothing of the DSP's state is
        read or changed, so this may run anywhere (``now``: the DSP's clock)."""
        return precheck(data, self.store, self.schema, now=now or self.clock.now(),
                        signing=self.signing, check_certificate_roles=self.check_certificate_roles,
                        source=source)

    def check_counter(self, checked: Checked, source: str = "<request>") -> None:
        """The replay check of a pre-checked request: its RequestID counter must be
        above the last one accepted from its originator (recorded when it is)."""
        if self.counters is not None and checked.message_id is not None:
            self.counters.check_and_record(checked.message_id.originator,
                                           checked.message_id.counter, source=source)

    def submit_checked(self, checked: Checked, *, web_service: str | None = None,
                       source: str = "<request>") -> Submission:
        """The serialized part of :meth:`submit`: the replay check, authorise, act, seal.

        With a counter store, one SMI transaction: what the request changes, and
        its counter, recorded last (a request refused on the way, such as a
        SignedPreCommand matching no PreCommand, changes nothing and consumes no
        counter; the counter store joins the transaction when it shares the SMI's
        connection, as ``duis serve``'s does).  Without one there is no counter to
        tie to what the request did."""
        request = checked.as_request(source)
        if self.counters is None or checked.message_id is None:
            return self.sealed(self.handle(request, web_service=web_service, source=source))
        with self.inventory.transaction():
            self.counters.check(checked.message_id.originator, checked.message_id.counter,
                                source=source)
            submission = self.handle(request, web_service=web_service, source=source)
            self.check_counter(checked, source)
        return self.sealed(submission)

    def handle(self, request: Request, *, web_service: str | None = None,
               source: str = "<request>") -> Submission:
        """Steps 3 onwards for a request past every check of :meth:`submit_checked`
        (the replay check included): authorise, act, respond (unsigned: the caller
        seals, :meth:`seal`)."""
        decision = authorise(request, self.inventory, self.profile, self.dsp_eui,
                             web_service=web_service)
        submission = Submission(request, decision)
        if decision.code is not None:  # not accepted
            submission.outgoing.append(self.responder.answer(request, decision.code))
        else:
            self._act(request, submission, source)
        return submission

    def _act(self, request: Request, submission: Submission, source: str) -> None:
        service = lookup(request.service_reference_variant)
        out = submission.outgoing
        if service.non_device:
            out.extend(self._non_device(request))
            return
        device = self.inventory.device(str(request.target))
        assert device is not None  # E19 refused a device service to an unknown device
        if request.command_variant == 4:
            command = command_for(request, device.device_type)
            out.append(self.responder.precommand(request, self.precommands.issue(command)))
            return
        if request.command_variant in (5, 6, 7):
            # the GBCS-level signature is checked whatever the XML signing switch
            redeemed = self.precommands.redeem(request, self.store, self.clock.now(), source)
            command, data = redeemed.command, redeemed.on_the_wire(self.keys)
        else:
            command = command_for(request, device.device_type)
            data = encode(command, self.keys)
        if request.command_variant in LOCAL_VARIANTS:
            # the answer carries the command for the user to deliver over the HAN; only
            # CV 3 and 7 (both) also send it over the WAN
            out.append(self.responder.local_command(request, data))
            if request.command_variant not in WAN_VARIANTS:
                return
        else:
            out.append(self.responder.answer(request, "I99"))
        submission.delivery = self._to_device(request, data, out)
        self.suppression.note_request(request, command, submission.delivery)

    def _non_device(self, request: Request) -> list[Outgoing]:
        variant = request.service_reference_variant
        if variant == "11.1":
            return [self._update_firmware(request)]
        if variant == "11.4":
            return [self._update_ppmid_firmware(request)]
        if variant == "12.2":
            return [self._prenotify(request)]
        handler = NON_DEVICE_HANDLERS.get(variant)
        if handler is None:
            raise NotEmulated(f"service request {variant} ({lookup(variant).name}) is "
                              f"authorised but not emulated by this DSP",
                              expected="one of 8.2, 11.1, 11.4, 12.2", found=variant)
        return [self.responder.answer(request, "I0", *handler(self.inventory, request))]

    def _update_firmware(self, request: Request) -> Outgoing:
        smets1 = self.settings.dual_mode_ppmid_ota_in_smets1
        plan = plan_distribution(self.inventory, request, lambda device: ota_refused(
            self.inventory, device, smets1_allowed=smets1))
        if self.network is not None:
            for eui, device_type in plan.targets:
                self.network.deliver(command_for(request, device_type, target=eui))
        return self.responder.answer(request, "I0", *plan.warning())

    def _update_ppmid_firmware(self, request: Request) -> Outgoing:
        plan = plan_ppmid_update(self.inventory, request,
                                 smets1_allowed=self.settings.dual_mode_ppmid_ota_in_smets1)
        if self.network is not None:
            for eui, _ in plan.targets:
                self.network.deliver(ppmid_image_command(request, eui))
        code = "I0" if plan.targets else "E11"
        return self.responder.answer(request, code, *ppmid_warning(plan))

    def _prenotify(self, request: Request) -> Outgoing:
        eui = request.body.required_text("DeviceID")
        known = self.inventory.device(eui) is not None
        code, payload = prenotify(self.inventory, request)
        if self.network is not None and not known and code == "I0":
            record = self.inventory.device(eui)
            assert record is not None  # prenotify added it
            self.network.add(EmulatedDevice(record.eui, record.device_type, smets=record.smets,
                                            manufacturer=record.manufacturer, model=record.model,
                                            firmware_version=record.firmware_version))
        return self.responder.answer(request, code, *payload)

    def join_system(self, device: str, hub: str, *, cause: str = "") -> None:
        """A device joins the system of comms hub ``hub`` (installation, a PPMID moving
        home): the SMI follows, and for a dual-mode PPMID its generation too (MP202)."""
        join_system(self.inventory, device, hub, cause=cause)
        if self.network is not None:
            self.network.move(device, hub)

    def _to_device(self, request: Request, command: bytes,
                   out: list[Outgoing]) -> str | None:
        """Steps 5-7: execute on the device (``command``: the bytes on the wire), respond,
        update the SMI, alert."""
        if self.network is None:
            return None
        delivery = self.network.deliver(command)
        if delivery.outcome in DELIVERY_CODES:
            out.append(self.responder.answer(request, DELIVERY_CODES[delivery.outcome]))
        elif delivery.response is not None:
            assert delivery.data is not None  # the network has the DSP's keys at least
            out.append(self.responder.device_response(request, delivery.response,
                                                      delivery.data))
            out.extend(self._process(report_from(delivery.response, str(request.originator),
                                                 cause=str(request.request_id))))
        return delivery.outcome

    # --- the device side -----------------------------------------------------------

    def tick(self) -> list[Outgoing]:
        """:meth:`catch_up`, sealed."""
        return self.seal(self.catch_up())

    def catch_up(self) -> list[Outgoing]:
        """Let the devices reach the DSP's clock: future-dated activations fire and
        their alerts go out, with the DCC alerts they cause.  Comms hub firmware
        deployments and activations due come first (SECMP0024); a hub's power outage
        alert becomes AD1 or a Suppression Log entry (MP102B).  What it sends is not
        sealed yet (but the comms hub firmware alerts, :attr:`hub_firmware`)."""
        out: list[Outgoing] = self.hub_firmware.tick()
        if self.network is None:
            return out
        for alert in self.network.tick(self.clock.now()):
            if isinstance(alert.payload, PowerOutageAlert):
                out.extend(self.suppression.power_outage(alert))
                continue
            out.append(self.responder.device_alert(alert, self.network.encode(alert)))
            out.extend(self._process(report_from(alert, str(alert.target),
                                                 cause=f"alert {alert.alert_code:04X} from "
                                                       f"{alert.originator}")))
        return out

    def process_firmware_report(self, report: FirmwareReport) -> list[Outgoing]:
        """Apply a device's firmware report to the SMI; return the signed DCC alerts."""
        return self.seal(self._process(report))

    def _process(self, report: FirmwareReport | None) -> list[Outgoing]:
        if report is None:
            return []
        alerts = process_firmware_report(self.inventory, self.profile, report)
        return [message for intent in alerts for message in self.responder.dcc_alert(intent)]


def _catalogue_roles(variant: str) -> frozenset[str]:
    return lookup(variant).roles
