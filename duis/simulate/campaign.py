"""A firmware campaign under one behaviour profile, through the real DSP and devices.

For each profile, in a fresh world built from the same seed:

1. **remove**: the DCC marks the old firmware of every meter model Removed on
   the CPL; every device running it is Suspended.
2. **distribute**: the supplier sends 11.1 (CV 8) with the new image to the
   SMETS2 meters of each model (SMETS1 takes no 11.1), at most
   ``distribution_batch`` devices per request.
3. **activate**: 11.3 to every suspended meter, the critical flow (CV 4, the
   PreCommand signed with the supplier's ds key, CV 5).  A seeded share of
   11.3 responses is lost on the way back: the device runs the new firmware,
   but the DSP never hears it and the device stays Suspended.
4. **recover**: the supplier's recovery strategy for the profile
   (:data:`RECOVERY`), starting ``retry_after`` seconds after the last
   activation (the time it takes to give up waiting for a response).

Phases 1 to 3 (the *roll-out*) send the same messages whatever the
profile: a run of several profiles can do them once, under a
:class:`~duis.profiles.JointProfile` that checks every answer the profiles
give is the same, and go on per profile from there (:mod:`duis.simulate.run`).

Each request moves the simulated clock on by ``latency`` seconds: the
supplier sends one request at a time.  Nothing is short-cut: every message is
built, (signed,) validated, authorised, translated, executed on an emulated
device and answered by :class:`duis.dsp.DSP` as in any other run.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..clock import FixedClock, seeded_random
from ..devices import FaultPlan, Network
from ..dsp import DSP
from ..dsp.operations import activation_message_code
from ..errors import DuisError
from ..profiles import BehaviourProfile, JointProfile
from ..profiles import profile as named_profile
from ..signatures import CredentialStore
from ..smi import SqliteInventory
from .fleet import (
    NEW_VERSION,
    OLD_VERSION,
    START,
    SUPPLIER,
    FleetSpec,
    Model,
    Shard,
    affected_models,
    build_inventory,
    firmware_hash,
    image_of,
)
from .report import Phase, ProfileResult, Timeline
from .supplier import ANSWERED, LOST, SupplierAdaptor

#: the largest DeviceIDList the DUIS schema allows (1,199,999 characters)
MAX_DEVICE_ID_LIST = 50_000
#: Devices per 11.1 request by default (an 11.1's cost grows linearly with its
#: list, up to MAX_DEVICE_ID_LIST: benchmarks/bench_growth.py).
DEFAULT_DISTRIBUTION_BATCH = 20

RETRY, READ = "retry-11.3", "read-11.2"
#: The supplier's recovery steps, in order.  The same under every behaviour
#: profile: a supplier's automation does not change with the DCC's rules; what
#: the DCC does with each step is what differs (``retry-11.3``: an automatic
#: 11.3 retry to each device whose 11.3 response was lost, repeated while the
#: retry's own response is lost, at most ``max_retries`` rounds; ``read-11.2``:
#: 11.2 to each device the supplier upgraded and saw no N29 for).
RECOVERY: tuple[str, ...] = (RETRY, READ)

RETRY_ROUND, READ_STEP = "retry ", "read"


#: retry rounds at most (each is a step of the recovery, kept in a list)
MAX_RETRIES = 1000
#: how far the simulated clock may run from the campaign's start (Python's dates end
#: in the year 9999)
LONGEST_SPAN = _dt.timedelta(days=1000 * 365)


def check_span(devices: int, settings: CampaignSettings) -> None:
    """Refuse (:class:`ValueError`) a campaign whose simulated clock could run past
    :data:`LONGEST_SPAN`: at most ``max_retries + 3`` requests per device, one
    ``latency`` each, and ``max_retries + 2`` waits of ``retry_after``."""
    rounds = settings.max_retries
    seconds = devices * (rounds + 3) * settings.latency + (rounds + 2) * settings.retry_after
    if seconds > LONGEST_SPAN.total_seconds():
        raise ValueError(f"the simulated campaign could run {seconds:.3g} s, past "
                         f"{LONGEST_SPAN.days // 365} years: lower the latency, the "
                         f"retry_after or max_retries")


def recovery_steps(settings: CampaignSettings) -> list[str]:
    """The recovery as steps (``retry 1``... ``read``), each of which a run of
    several profiles can share while they agree (:mod:`duis.simulate.run`)."""
    steps: list[str] = []
    for strategy in RECOVERY:
        if strategy == RETRY:
            steps += [f"{RETRY_ROUND}{n}" for n in range(1, settings.max_retries + 1)]
        elif strategy == READ:
            steps.append(READ_STEP)
    return steps


#: progress callback: (profile, phase, done, total)
Progress = Callable[[str, str, int, int], None]
#: the name progress is reported under while a roll-out is shared by the profiles
SHARED = "all profiles"
#: the phase of the last event of a shard (named :data:`SHARED` in it): the shard ended
ENDED = "ended"


@dataclass(frozen=True)
class CampaignSettings:
    """How the campaign runs (the world is a :class:`~duis.simulate.fleet.FleetSpec`)."""

    lost: float = 0.2
    """Share of 11.3 responses lost on the way back (the figure suppliers gave for MP105)."""
    signing: bool = True
    """Sign and verify every DUIS message (off: ``DSP(signing=False)``, unsigned messages)."""
    latency: float = 2.0
    """Simulated seconds from sending one request to its answer; the supplier sends
    one request at a time, so this is also the time between requests."""
    retry_after: float = 3600.0
    """Simulated seconds the supplier waits for a response before it counts as lost
    (and before each retry round)."""
    max_retries: int = 3
    """Retry rounds at most for a device whose retry response is lost too."""
    distribution_batch: int = DEFAULT_DISTRIBUTION_BATCH
    """Devices per 11.1 request (at most :data:`MAX_DEVICE_ID_LIST`)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lost <= 1.0:
            raise ValueError(f"lost must be within 0..1, found {self.lost!r}")
        for name in ("latency", "retry_after"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, found {value!r}")
        if not 0 <= self.max_retries <= MAX_RETRIES:
            raise ValueError(f"max_retries must be within 0..{MAX_RETRIES}, "
                             f"found {self.max_retries!r}")
        if not 1 <= self.distribution_batch <= MAX_DEVICE_ID_LIST:
            raise ValueError(f"distribution_batch must be within 1..{MAX_DEVICE_ID_LIST}")


class Campaign:
    """One profile's world (SMI, emulated devices, DSP) and the supplier driving it."""

    def __init__(self, spec: FleetSpec, settings: CampaignSettings,
                 profile_name: str | list[str] | tuple[str, ...], store: CredentialStore,
                 progress: Progress | None = None, shard: Shard | None = None) -> None:
        """``profile_name``: one profile, or several for a shared roll-out (then
        :meth:`become` one of them, or a group of them, before the recovery).
        ``shard``: the world holds that shard of the fleet (default: all of it)."""
        names = [profile_name] if isinstance(profile_name, str) else list(profile_name)
        members = [named_profile(name) for name in names]
        self.spec, self.settings = spec, settings
        self.devices = spec.devices if shard is None else shard.devices
        self.profile: BehaviourProfile | JointProfile = (
            members[0] if len(members) == 1 else JointProfile(members, SHARED))
        self.progress = progress or (lambda *args: None)
        self.clock = FixedClock(START)
        self.inventory: SqliteInventory = build_inventory(spec, self.clock, shard=shard)
        faults = FaultPlan().lose_responses(settings.lost, message_code=activation_message_code())
        seed = spec.seed if shard is None else shard.seed
        self.network = Network.from_inventory(self.inventory, clock=self.clock,
                                              random=seeded_random(seed), faults=faults)
        self.dsp = DSP(self.inventory, store, profile=self.profile, clock=self.clock,
                       network=self.network, signing=settings.signing)
        self.timeline = Timeline()
        self.suspended: set[str] = set()
        self.supplier = SupplierAdaptor(self.dsp, store, self.clock, SUPPLIER,
                                        signing=settings.signing, latency=settings.latency,
                                        on_restored=self._restored)
        self.phases: list[Phase] = []
        self.lost_responses = 0
        self.model_of: dict[str, Model] = {}
        self.lost: list[str] = []
        """Devices whose last 11.3 response was lost (the retries' work list)."""
        self.spent = [0.0, 0.0]
        """Wall and CPU seconds of the steps this world went through, in whichever
        process ran them (a shared run adds them up per profile)."""

    # --- the timeline ---------------------------------------------------------------

    def elapsed(self) -> float:
        return (self.clock.now() - START).total_seconds()

    def _restored(self, device: str) -> None:
        """An N29 said ``device`` is no longer Suspended."""
        self.suspended.discard(device)
        self.timeline.record(self.elapsed(), len(self.suspended))

    # --- the campaign -----------------------------------------------------------------

    def run(self) -> ProfileResult:
        started, cpu = time.perf_counter(), time.process_time()
        self.recover(self.roll_out())
        return self.result(time.perf_counter() - started, time.process_time() - cpu)

    def roll_out(self) -> list[str]:
        """Remove, distribute, activate; returns the devices whose 11.3 response was lost."""
        self.remove()
        self.distribute()
        return self.activate()

    def recover(self, lost: list[str]) -> None:
        """The profile's recovery strategy, from the devices whose 11.3 response was lost."""
        self.lost = lost
        for step in recovery_steps(self.settings):
            self.run_step(step)

    def run_step(self, step: str) -> None:
        """One step of :func:`recovery_steps`: a retry round (nothing when no response
        is lost any more) or the 11.2 reads."""
        if step.startswith(RETRY_ROUND):
            self.retry_round(int(step[len(RETRY_ROUND):]))
        elif step == READ_STEP:
            self.read()
        else:
            raise ValueError(f"unknown recovery step {step!r}")

    def become(self, profile: str | list[str]) -> None:
        """Go on under one profile, or a few together (a :class:`JointProfile`),
        after steps shared by more.  What follows changes the world: each needs its
        own copy (a forked process)."""
        names = [profile] if isinstance(profile, str) else list(profile)
        members = [named_profile(name) for name in names]
        self.profile = members[0] if len(members) == 1 else JointProfile(members)
        self.dsp.profile = self.profile

    def remove(self) -> None:
        """Mark the old firmware Removed on the CPL: its devices are Suspended."""
        for model in affected_models():
            suspended = self.inventory.remove_cpl_entry(
                model.manufacturer, model.model, OLD_VERSION, model.smets,
                reason="firmware removed from the CPL", cause="fleet simulation")
            self.suspended.update(suspended)
            self.model_of.update((eui, model) for eui in suspended)
        self.timeline.record(0.0, len(self.suspended))
        self.phases.append(Phase("remove", 0.0, 0.0, 0, len(self.suspended)))

    def distribute(self) -> None:
        """11.1 with the new image to each SMETS2 model's suspended devices."""
        batch = self.settings.distribution_batch
        plan = [(model, sorted(e for e, m in self.model_of.items() if m is model))
                for model in affected_models() if model.smets == "SMETS2"]
        total = sum(len(devices) for _, devices in plan)
        with self._phase("distribute") as phase:
            for model, devices in plan:
                image = image_of(model, NEW_VERSION)
                for start in range(0, len(devices), batch):
                    chunk = devices[start:start + batch]
                    answer = self.supplier.update_firmware(image, NEW_VERSION, chunk)
                    _expect(answer.response.code == "I0", "11.1 refused", path=model.model,
                            expected="I0", found=answer.response.code)
                    phase.devices += len(chunk)
                    self._tick(phase.devices, total, "distribute", every=batch)

    def activate(self) -> list[str]:
        """11.3 to every suspended meter; returns those whose response was lost."""
        with self._phase("activate") as phase:
            lost = self._activate_all(sorted(self.suspended), "activate", phase)
        return lost

    def retry(self, lost: list[str]) -> list[str]:
        """Automatic 11.3 retries, round after round, while responses are lost."""
        self.lost = lost
        for round_number in range(1, self.settings.max_retries + 1):
            self.retry_round(round_number)
        return self.lost

    def retry_round(self, number: int) -> None:
        """Retry round ``number``: 11.3 again to each device whose response was lost
        (nothing, and no phase, once none is)."""
        if not self.lost:
            return
        self.clock.advance(seconds=self.settings.retry_after)
        name = f"retry {number}"
        with self._phase(name) as phase:
            self.lost = self._activate_all(self.lost, name, phase)

    def read(self) -> None:
        """11.2 to every device upgraded without an N29 to show for it."""
        devices = sorted(set(self.model_of) - self.supplier.restored)
        if devices:
            self.clock.advance(seconds=self.settings.retry_after)
        with self._phase("read") as phase:
            for done, device in enumerate(devices, 1):
                self.supplier.read_firmware_version(device)
                phase.devices = done
                self._tick(done, len(devices), "read")

    def _activate_all(self, devices: list[str], name: str, phase: _PhaseRecorder) -> list[str]:
        lost = []
        hashes = {model: firmware_hash(model, NEW_VERSION) for model in affected_models()}
        for done, device in enumerate(devices, 1):
            outcome = self.supplier.activate_firmware(device, hashes[self.model_of[device]])
            if outcome == LOST:
                lost.append(device)
                self.lost_responses += 1
            else:
                _expect(outcome == ANSWERED, "11.3 not delivered", path=device,
                        expected="answered or lost", found=outcome)
            phase.devices = done
            self._tick(done, len(devices), name)
        return lost

    def _tick(self, done: int, total: int, name: str, every: int = 1) -> None:
        if done % 500 < every or done == total:
            self.progress(self.profile.name, name, done, total)

    def _phase(self, name: str) -> _PhaseRecorder:
        return _PhaseRecorder(self, name)

    # --- the result --------------------------------------------------------------------

    def result(self, wall_seconds: float, cpu_seconds: float | None = None) -> ProfileResult:
        self.dsp.tick()
        current = {(e.manufacturer, e.model, e.firmware_version, e.smets)
                   for e in self.inventory.cpl_entries(status="Current")}
        still, wrongly = 0, 0
        for device in self.inventory.devices(status="Suspended"):
            still += 1
            running = self.network.device(device.eui).firmware_version
            system = self.inventory.system_smets(device)
            wrongly += (device.manufacturer, device.model, running, system) in current
        upgraded = sum(self.network.device(eui).firmware_version == NEW_VERSION
                       for eui in self.model_of)
        _expect(still == len(self.suspended), "the N29 alerts and the SMI disagree",
                path="Suspended devices", expected=f"{len(self.suspended)} (initial minus N29s)",
                found=f"{still} in the SMI")
        tally = self.supplier.tally
        return ProfileResult(
            profile=self.profile.name, devices=self.devices,
            suspended_by_removal=len(self.model_of), upgraded=upgraded,
            wrongly_suspended=wrongly, still_suspended=still,
            lost_responses=self.lost_responses, requests=tally.requests,
            received=tally.received, dsp_messages=tally.dsp_messages, codes=dict(tally.codes),
            simulated_seconds=self.elapsed(), wall_seconds=wall_seconds,
            peak_memory_kb=peak_memory_kb(), phases=self.phases, timeline=self.timeline,
            cpu_seconds=cpu_seconds)


class _PhaseRecorder:
    """Context manager: records a :class:`Phase` (time, requests, devices)."""

    def __init__(self, campaign: Campaign, name: str) -> None:
        self.campaign, self.name, self.devices = campaign, name, 0

    def __enter__(self) -> _PhaseRecorder:
        self.start = self.campaign.elapsed()
        self.requests = self.campaign.supplier.tally.requests
        return self

    def __exit__(self, *exc_info) -> None:
        campaign = self.campaign
        campaign.phases.append(Phase(self.name, self.start, campaign.elapsed(),
                                     campaign.supplier.tally.requests - self.requests,
                                     self.devices))
        campaign.timeline.record(campaign.elapsed(), len(campaign.suspended))


class SimulationError(DuisError):
    """The DSP or the devices did something the campaign cannot go on from."""

    exit_code = 1


def _expect(condition: bool, message: str, *, path: str, expected: str, found: str) -> None:
    if not condition:
        raise SimulationError(message, source="fleet simulation", path=path,
                              expected=expected, found=found)


def run_profile(spec: FleetSpec, settings: CampaignSettings, profile_name: str,
                store: CredentialStore, progress: Progress | None = None,
                shard: Shard | None = None) -> ProfileResult:
    """The campaign under one profile, in a fresh world (of ``shard`` only, if given)."""
    campaign = Campaign(spec, settings, profile_name, store, progress, shard)
    try:
        return campaign.run()
    finally:
        campaign.inventory.close()


def peak_memory_kb() -> int | None:
    """This process's peak resident memory so far (VmHWM), or None without /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
