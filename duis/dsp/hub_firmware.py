"""SECMP0024: comms hub firmware releases the DCC publishes, deploys and activates on a schedule.

The DCC (not a user) upgrades comms hubs.  A **release** names a CPL entry of a
comms hub model (Current, SMETS2, with a hash), the hubs it covers, and two
instants: **deployment** (the image goes to each hub, which verifies and holds
it) and **activation** (each hub that holds it activates it).

- **Publication** (:meth:`HubFirmware.publish`) notifies the users at once with
  ``FirmwareUpgradeRequested`` (DCC alert N42): the responsible suppliers of
  every device in the systems concerned, and every RSA.  A schedule that gives
  less than the notice the settings require (7 days before the activation; by
  default none before the deployment) is refused, as is anything the DSP could
  not carry out; nothing is stored or sent then.
- **Deployment and activation** happen on the scheduled instants of the DSP's
  clock: :meth:`HubFirmware.tick` (called by ``DSP.tick``) performs what is due,
  deployments before activations, and sends ``CSPFirmwareDeliveryStatus`` (N43,
  Success or Failure) and ``CommsHubFirmwareActivation`` (N44 activated, N45
  failed: the version the hub still runs).  A hub activating the new version
  is then processed like any firmware version a device reports (MP105's CPL
  rules: the SMI's version follows; a Suspended hub is restored, N29).
- **The status query** (:meth:`HubFirmware.status`): for a hub, the release that
  covers it and its stage: ``not-deployed``, ``deployed-pending-activation``,
  ``active`` or ``failed`` (with what failed).  DUIS 5.4 has no service request
  for it, so it is a DSP function (``duis hub-firmware status``, the scenario
  step ``query-hub-firmware``).

With emulated devices the commands really go to the hub (11.1's CS05a image
distribution and CS06, from the DSP's own EUI-64) and to the GPF of its system
(the same physical hub); the hub's answer decides its stage.  Without them every
step succeeds.  Releases and per-hub stages are tables of the SMI database
(``secmp0024_release``, ``secmp0024_hub``).  ``docs/secmp0024.md`` records the
choices.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeGuard

from ..clock import UTC, Clock, parse_instant
from ..devices import Image, ImageHeld, Network, Running, sample_image
from ..errors import DuisError
from ..gbcs import (
    ActivateFirmware,
    ActivationResult,
    DistributeImage,
    GbcsMessage,
    ImageDistributionResult,
    Kind,
)
from ..messages import EUI64, format_datetime, leaf, node
from ..messages.ids import canonical_eui
from ..mmc import use_case_for
from ..settings import Settings
from ..smi import Device, Inventory
from ..smi.schema import create_tables
from .distribution import RECEIVING_STATUSES
from .firmware_reports import ACTIVATE_FIRMWARE, FirmwareReport
from .responses import Outgoing, Responder

NOT_DEPLOYED = "not-deployed"
PENDING_ACTIVATION = "deployed-pending-activation"
ACTIVE = "active"
FAILED = "failed"
#: every stage of a hub's upgrade, in order
STAGES = (NOT_DEPLOYED, PENDING_ACTIVATION, ACTIVE, FAILED)
STAGE_TEXT = {NOT_DEPLOYED: "not deployed", PENDING_ACTIVATION: "deployed, pending activation",
              ACTIVE: "active", FAILED: "failed"}

#: DCC alert codes (this project's pairing of codes with DCCAlert kinds, docs/secmp0024.md)
NOTICE, DELIVERY_STATUS, ACTIVATED, ACTIVATION_FAILED = "N42", "N43", "N44", "N45"
#: the role whose users hear of every release (SECMP0024: "RSAs should also be included")
RSA = "RSA"
HUB_TYPE, GPF_TYPE = "CHF", "GPF"

_TABLES = """
CREATE TABLE IF NOT EXISTS secmp0024_release (
    release INTEGER PRIMARY KEY, manufacturer TEXT NOT NULL, model TEXT NOT NULL,
    firmware_version TEXT NOT NULL, firmware_hash TEXT NOT NULL, image BLOB NOT NULL,
    published TEXT NOT NULL, deploy_at TEXT NOT NULL, activate_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS secmp0024_hub (
    release INTEGER NOT NULL, hub TEXT NOT NULL, stage TEXT NOT NULL, detail TEXT NOT NULL,
    updated TEXT NOT NULL, PRIMARY KEY (release, hub)
) WITHOUT ROWID;
"""


class HubFirmwareRefused(DuisError):
    """A release the DCC cannot publish, or a status query it cannot answer."""

    exit_code = 1


@dataclass(frozen=True)
class Release:
    """A published comms hub firmware release and its schedule."""

    number: int
    manufacturer: str
    model: str
    firmware_version: str
    firmware_hash: str
    """SHA-256 of the image, 64 upper-case hex digits (the CPL entry's)."""
    published: _dt.datetime
    deploy_at: _dt.datetime
    activate_at: _dt.datetime
    hubs: tuple[str, ...] = ()

    @property
    def notice(self) -> _dt.timedelta:
        """How long before the activation the users were notified."""
        return self.activate_at - self.published


@dataclass(frozen=True)
class HubFirmwareStatus:
    """The answer to "where is the firmware upgrade of this hub?"."""

    hub: str
    release: int
    firmware_version: str
    """The version the release brings."""
    stage: str
    """One of :data:`STAGES`."""
    detail: str
    """What happened last (what failed, for ``failed``)."""
    updated: _dt.datetime
    deploy_at: _dt.datetime
    activate_at: _dt.datetime
    running: str | None
    """The version the SMI says the hub runs."""

    def as_dict(self) -> dict:
        return {"hub": self.hub, "release": self.release,
                "firmware_version": self.firmware_version, "stage": self.stage,
                "detail": self.detail, "updated": format_datetime(self.updated),
                "deploy_at": format_datetime(self.deploy_at),
                "activate_at": format_datetime(self.activate_at), "running": self.running}

    def text(self) -> str:
        return (f"{self.hub}: release {self.release} ({self.firmware_version}) "
                f"{STAGE_TEXT[self.stage]}; {self.detail}")


@dataclass
class Publication:
    """What publishing a release did: the release and the notices sent."""

    release: Release
    outgoing: list[Outgoing] = field(default_factory=list)


def _utc(when: _dt.datetime) -> _dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class HubFirmware:
    """The DCC's comms hub firmware releases: publication, schedule, status."""

    def __init__(self, inventory: Inventory, settings: Settings, clock: Clock,
                 responder: Responder, *, network: Network | None = None,
                 dsp_eui: str, report: Callable[[FirmwareReport], list[Outgoing]]) -> None:
        self.inventory, self.settings, self.clock = inventory, settings, clock
        self.responder, self.network, self.dsp_eui = responder, network, dsp_eui
        self.report = report
        """Processes a firmware version a hub reports (the DSP's MP105 processing)."""
        self.db = inventory.connection()
        create_tables(self.db, _TABLES)
        self._transactions = itertools.count(1)
        self._restore()

    # --- publication --------------------------------------------------------------------

    def publish(self, manufacturer: str, model: str, firmware_version: str, *,
                deploy_at: _dt.datetime, activate_at: _dt.datetime,
                hubs: Iterable[str] | None = None, image: bytes | None = None) -> Publication:
        """Publish a release and notify the users; raises :class:`HubFirmwareRefused`
        (nothing stored, nothing sent) when the DCC cannot publish it."""
        try:
            # the checks and the release in one transaction: another process publishing
            # for the same hubs waits, then is refused (both published before)
            with self.inventory.transaction():
                return self._publish(manufacturer, model, firmware_version,
                                     deploy_at=deploy_at, activate_at=activate_at, hubs=hubs,
                                     image=image)
        except HubFirmwareRefused as exc:
            exc.source = exc.source or f"release {manufacturer} {model} {firmware_version}"
            raise

    def _publish(self, manufacturer: str, model: str, firmware_version: str, *,
                 deploy_at: _dt.datetime, activate_at: _dt.datetime,
                 hubs: Iterable[str] | None, image: bytes | None) -> Publication:
        now = self.clock.now()
        deploy_at, activate_at = _utc(deploy_at), _utc(activate_at)
        self._check_schedule(now, deploy_at, activate_at)
        entry = self.inventory.cpl_entry(manufacturer, model, firmware_version, "SMETS2")
        where = f"{manufacturer}/{model}/{firmware_version}"
        if entry is None or entry.status != "Current" or not entry.firmware_hash:
            raise HubFirmwareRefused(
                "the release is not a Current SMETS2 CPL entry with a firmware hash", path=where,
                expected="a Current SMETS2 CPL entry with a hash",
                found="no such entry" if entry is None else f"{entry.status}, hash "
                f"{entry.firmware_hash or 'none'}")
        image = image if image is not None else sample_image(manufacturer, model,
                                                              firmware_version)
        digest = hashlib.sha256(image).hexdigest().upper()
        if digest != entry.firmware_hash.upper():
            raise HubFirmwareRefused("the image is not the CPL entry's", path=where,
                                     expected=f"an image whose SHA-256 is {entry.firmware_hash}",
                                     found=digest)
        covered = self._hubs(manufacturer, model, firmware_version, hubs)
        with self.inventory.transaction():
            number = self.db.execute(
                "INSERT INTO secmp0024_release (manufacturer, model, firmware_version, "
                "firmware_hash, image, published, deploy_at, activate_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (manufacturer, model, firmware_version, digest, image, format_datetime(now),
                 format_datetime(deploy_at), format_datetime(activate_at))).lastrowid
            assert number is not None  # the row just inserted
            self.db.executemany(
                "INSERT INTO secmp0024_hub VALUES (?, ?, ?, ?, ?)",
                [(number, hub, NOT_DEPLOYED, f"deployment scheduled for "
                  f"{format_datetime(deploy_at)}", format_datetime(now)) for hub in covered])
        release = Release(number, manufacturer, model, firmware_version, digest, now,
                          deploy_at, activate_at, tuple(covered))
        return Publication(release, self._notices(release))

    def _check_schedule(self, now: _dt.datetime, deploy_at: _dt.datetime,
                        activate_at: _dt.datetime) -> None:
        notice, deployment = (self.settings.hub_firmware_notice,
                              self.settings.hub_firmware_deployment_notice)
        if activate_at - now < notice:
            raise HubFirmwareRefused(
                "the activation is too soon: users must be notified in advance",
                path="activate_at", expected=f"an activation at least {duration_text(notice)} "
                f"after the notification ({format_datetime(now)}), i.e. from "
                f"{format_datetime(now + notice)}",
                found=f"{format_datetime(activate_at)} ({duration_text(activate_at - now)} "
                      f"of notice)")
        if deploy_at - now < deployment:
            raise HubFirmwareRefused(
                "the deployment is too soon", path="deploy_at",
                expected=f"a deployment at least {duration_text(deployment)} after the "
                         f"notification",
                found=format_datetime(deploy_at))
        if deploy_at > activate_at:
            raise HubFirmwareRefused("the deployment comes after the activation",
                                     path="deploy_at", expected="deploy_at <= activate_at",
                                     found=f"{format_datetime(deploy_at)} > "
                                           f"{format_datetime(activate_at)}")

    def _hubs(self, manufacturer: str, model: str, version: str,
              named: Iterable[str] | None) -> list[str]:
        if named is None:
            found = [d for d in self.inventory.devices(device_type=HUB_TYPE,
                                                       manufacturer=manufacturer, model=model)
                     if d.smets == "SMETS2" and d.status in RECEIVING_STATUSES
                     and d.firmware_version != version and not self._in_progress(d.eui)]
        else:
            found = []
            for eui in named:
                device = self.inventory.device(eui)
                if device is None or device.device_type != HUB_TYPE \
                        or (device.manufacturer, device.model) != (manufacturer, model):
                    raise HubFirmwareRefused(
                        "not a comms hub of the release's model", path="hubs",
                        expected=f"a CHF {manufacturer}/{model} in the SMI", found=str(eui))
                found.append(device)
        busy = [d.eui for d in found if self._in_progress(d.eui)]
        if busy:
            raise HubFirmwareRefused("a release is already in progress for these hubs",
                                     path="hubs", expected="hubs whose last release is "
                                     "active or failed", found=", ".join(busy))
        if not found:
            raise HubFirmwareRefused("no comms hub to upgrade", path="hubs",
                                     expected=f"a SMETS2 CHF {manufacturer}/{model} not "
                                              f"running {version}", found="none")
        return sorted({d.eui for d in found})

    def _in_progress(self, hub: str) -> bool:
        return self.db.execute("SELECT 1 FROM secmp0024_hub WHERE hub = ? AND stage IN (?, ?)",
                               (hub, NOT_DEPLOYED, PENDING_ACTIVATION)).fetchone() is not None

    def _notices(self, release: Release) -> list[Outgoing]:
        """FirmwareUpgradeRequested to each user concerned, naming its hubs."""
        hubs_of: dict[str, set[str]] = {}
        for hub in release.hubs:
            for user in self.audience(hub):
                hubs_of.setdefault(user, set()).add(hub)
        out: list[Outgoing] = []
        for user in sorted(hubs_of):
            content = node("FirmwareUpgradeRequested", leaf("DeviceType", HUB_TYPE),
                           leaf("FirmwareVersion", release.firmware_version),
                           leaf("DeviceList", ",".join(sorted(hubs_of[user]))))
            out.extend(self.responder.dcc_alert_of(NOTICE, (user,), content))
        return out

    def audience(self, hub: str) -> tuple[str, ...]:
        """Who hears about a hub's firmware: the responsible suppliers of the devices of
        its system, then every active RSA, each once, sorted."""
        system = [self.inventory.device(hub), *self.inventory.devices(hub=hub)]
        suppliers = {d.supplier for d in system if d is not None and d.supplier}
        agents = {u.eui for u in self.inventory.users()
                  if RSA in u.roles and u.status == "Active"}
        return tuple(sorted(suppliers)) + tuple(sorted(agents - suppliers))

    # --- reading --------------------------------------------------------------------------

    def releases(self) -> list[Release]:
        """Every release, oldest first, with the hubs it covers."""
        rows = self.db.execute("SELECT release, manufacturer, model, firmware_version, "
                               "firmware_hash, published, deploy_at, activate_at "
                               "FROM secmp0024_release ORDER BY release").fetchall()
        return [Release(n, m, mo, v, h, parse_instant(published), parse_instant(deploy_at),
                        parse_instant(activate_at), hubs=tuple(
            hub for (hub,) in self.db.execute(
                "SELECT hub FROM secmp0024_hub WHERE release = ? ORDER BY hub", (n,))))
                for n, m, mo, v, h, published, deploy_at, activate_at in rows]

    def status(self, hub: str, user: str | None = None, *,
               release: int | None = None) -> HubFirmwareStatus | None:
        """The stage of the latest release covering ``hub``, or of ``release`` (None: no
        release covers it).

        With ``user``, the user must be one who hears about the hub (a supplier of
        its system or an RSA); otherwise :class:`HubFirmwareRefused`."""
        eui = canonical_eui(hub)
        if user is not None and canonical_eui(user) not in self.audience(eui):
            raise HubFirmwareRefused("the user may not query this comms hub", path=eui,
                                     source="comms hub firmware status query",
                                     expected="a supplier of a device in its system, or an RSA",
                                     found=canonical_eui(user))
        row = self.db.execute(
            "SELECT h.release, r.firmware_version, h.stage, h.detail, h.updated, r.deploy_at, "
            "r.activate_at FROM secmp0024_hub AS h JOIN secmp0024_release AS r "
            "USING (release) WHERE h.hub = ? AND (? IS NULL OR h.release = ?) "
            "ORDER BY h.release DESC LIMIT 1", (eui, release, release)).fetchone()
        if row is None:
            return None
        number, version, stage, detail, updated, deploy_at, activate_at = row
        device = self.inventory.device(eui)
        return HubFirmwareStatus(eui, number, version, stage, detail, parse_instant(updated),
                                 parse_instant(deploy_at), parse_instant(activate_at),
                                 device.firmware_version if device else None)

    # --- the schedule ---------------------------------------------------------------------

    def tick(self) -> list[Outgoing]:
        """Perform every deployment and activation due at the clock's time, in time order
        (a deployment before an activation at the same instant); return the alerts."""
        out: list[Outgoing] = []
        # one transaction, the write lock first: a step and the SMI change it makes are
        # recorded together, and another process ticking the same file waits, then
        # finds the step done (it would otherwise perform it again)
        with self.inventory.transaction():
            while (event := self._next_due()) is not None:
                activation, number, hub = event
                release = self._release(number)
                out.extend(self._activate(release, hub) if activation else
                           self._deploy(release, hub))
        return out

    def _next_due(self) -> tuple[int, int, str] | None:
        """(is an activation, release, hub) of the earliest step due; each step moves its
        hub to another stage, so it is never due twice."""
        now = format_datetime(self.clock.now())
        row = self.db.execute(
            "SELECT r.deploy_at, 0, h.release, h.hub FROM secmp0024_hub AS h "
            "JOIN secmp0024_release AS r USING (release) WHERE h.stage = ? AND r.deploy_at <= ? "
            "UNION ALL "
            "SELECT r.activate_at, 1, h.release, h.hub FROM secmp0024_hub AS h "
            "JOIN secmp0024_release AS r USING (release) WHERE h.stage = ? "
            "AND r.activate_at <= ? ORDER BY 1, 2, 3, 4 LIMIT 1",
            (NOT_DEPLOYED, now, PENDING_ACTIVATION, now)).fetchone()
        return None if row is None else (row[1], row[2], row[3])

    def _deploy(self, release: Release, hub: str) -> list[Outgoing]:
        image = self.db.execute("SELECT image FROM secmp0024_release WHERE release = ?",
                                (release.number,)).fetchone()[0]
        outcome = self._send(hub, "11.1", DistributeImage(image, release.firmware_version))[hub]
        delivered = _succeeded(outcome)
        if delivered:
            self._set(release, hub, PENDING_ACTIVATION,
                      f"deployed; activation scheduled for {format_datetime(release.activate_at)}")
        else:
            self._set(release, hub, FAILED, f"deployment failed: {_describe(outcome)}")
        content = node("CSPFirmwareDeliveryStatus",
                       leaf("UpdateFirmwareRequestID", f"{self.dsp_eui}:{hub}:{release.number}"),
                       leaf("CommsHubDeviceID", hub), leaf("TargetDeviceID", hub),
                       leaf("FirmwareVersion", release.firmware_version),
                       leaf("TimeStamp", format_datetime(self.clock.now())),
                       leaf("CommsHubTransferStatus", "Success" if delivered else "Failure"))
        return self.responder.dcc_alert_of(DELIVERY_STATUS, self.audience(hub), content)

    def _activate(self, release: Release, hub: str) -> list[Outgoing]:
        answers = self._send(hub, "11.3", ActivateFirmware(bytes.fromhex(release.firmware_hash)))
        outcome, device = answers[hub], self.inventory.device(hub)
        if _activated(outcome):
            version, code = outcome.firmware_version or release.firmware_version, ACTIVATED
            self._set(release, hub, ACTIVE, f"activated {version}")
        else:
            version, code = _running(outcome, device), ACTIVATION_FAILED
            self._set(release, hub, FAILED,
                      f"activation failed: {_describe(outcome)}; running {version}")
        content = node("CommsHubFirmwareActivation", leaf("DeviceID", hub),
                       leaf("FirmwareVersion", version))
        out = self.responder.dcc_alert_of(code, self.audience(hub), content)
        cause = f"comms hub firmware release {release.number}"
        for eui, answer in answers.items():
            if _activated(answer):
                out.extend(self.report(FirmwareReport(
                    eui, ACTIVATE_FIRMWARE, answer.firmware_version or release.firmware_version,
                    successful=True, cause=cause)))
        return out

    def _send(self, hub: str, variant: str, payload) -> dict[str, object]:
        """Send ``payload`` (by the hub's use case for ``variant``: CS05a, CS06) to the hub,
        then, when the hub succeeded, to the GPF of its system (one physical device: the
        GPF follows the hub).  Each one's answer: a payload, or the delivery outcome when
        none came back.  Without emulated devices every step succeeds."""
        answers: dict[str, object] = {}
        code = use_case_for(variant, HUB_TYPE).message_code
        for eui in self._physical_hub(hub):
            if self.network is None:
                answers[eui] = ImageDistributionResult(True, bytes(32)) if variant == "11.1" \
                    else ActivationResult("success")
                continue
            command = GbcsMessage(Kind.COMMAND, EUI64.parse(self.dsp_eui), EUI64.parse(eui),
                                  next(self._transactions), code, payload)
            delivery = self.network.deliver(command)
            answers[eui] = delivery.response.payload if delivery.response is not None \
                else delivery.outcome
            if not _succeeded(answers[hub]):
                break
        return answers

    def _physical_hub(self, hub: str) -> list[str]:
        """The hub and the GPF of its system: one physical device, one firmware."""
        device = self.inventory.device(hub)
        gpfs = [d.eui for d in self.inventory.devices(hub=hub, device_type=GPF_TYPE)
                if device is not None and (d.manufacturer, d.model) ==
                (device.manufacturer, device.model)]
        return [hub, *gpfs]

    # --- bookkeeping ------------------------------------------------------------------------

    def _release(self, number: int) -> Release:
        return next(r for r in self.releases() if r.number == number)

    def _set(self, release: Release, hub: str, stage: str, detail: str) -> None:
        self.db.execute("UPDATE secmp0024_hub SET stage = ?, detail = ?, updated = ? "
                        "WHERE release = ? AND hub = ?",
                        (stage, detail, format_datetime(self.clock.now()), release.number, hub))

    def _restore(self) -> None:
        """A DSP started over an existing database: hubs deployed earlier hold the image."""
        if self.network is None:
            return
        rows = self.db.execute("SELECT h.hub, r.firmware_version, r.firmware_hash "
                               "FROM secmp0024_hub AS h JOIN secmp0024_release AS r "
                               "USING (release) WHERE h.stage = ?", (PENDING_ACTIVATION,))
        for hub, version, digest in rows:
            for eui in self._physical_hub(hub):
                device = self.network.device(eui)
                if isinstance(device.state, Running):
                    device.state = ImageHeld(device.active, Image(version, bytes.fromhex(digest)))


def duration_text(span: _dt.timedelta) -> str:
    """``7 days``, ``6 days 17 hours``, ``-1 hour 30 minutes``: for people."""
    sign, seconds = ("-", -int(span.total_seconds())) if span < _dt.timedelta(0) \
        else ("", int(span.total_seconds()))
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return sign + (" ".join(parts) or "0 seconds")


def _succeeded(answer: object) -> bool:
    if isinstance(answer, ImageDistributionResult):
        return answer.verified
    return isinstance(answer, ActivationResult) and answer.status == "success"


def _activated(answer: object) -> TypeGuard[ActivationResult]:
    """An answer to an 11.3 that succeeded (:func:`_succeeded`, for an activation)."""
    return isinstance(answer, ActivationResult) and answer.status == "success"


def _describe(outcome: object) -> str:
    if isinstance(outcome, str):
        return f"the hub was {outcome}" if outcome == "unreachable" else \
            f"{outcome} from the hub"
    if isinstance(outcome, ImageDistributionResult):
        return "the image failed verification"
    if isinstance(outcome, ActivationResult):
        return outcome.status or "no outcome"
    return "no answer"


def _running(outcome: object, device: Device | None) -> str:
    if isinstance(outcome, ActivationResult) and outcome.firmware_version:
        return outcome.firmware_version
    return device.firmware_version if device is not None else "unknown"


__all__ = ["ACTIVATED", "ACTIVATION_FAILED", "ACTIVE", "DELIVERY_STATUS", "FAILED", "NOTICE",
           "NOT_DEPLOYED", "PENDING_ACTIVATION", "STAGES", "HubFirmware", "HubFirmwareRefused",
           "HubFirmwareStatus", "Publication", "Release"]
