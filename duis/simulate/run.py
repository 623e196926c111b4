"""Every profile's campaign, over every shard of the fleet: in worker processes
that share what they can, or one after the other.

A fleet larger than its ``shard_size`` runs as shards (:func:`~.fleet.shards`),
each a world of its own: by default (``jobs=None``) as many at once as the
machine has CPUs and memory for (:func:`default_jobs`), each in a process of
its own (its own process group, killed whole if the run fails), and the report
adds them up (:func:`~.report.merge_reports`).  Within a world (a fleet of one
shard, or each shard):

- **Shared steps** (where processes can fork): remove, distribute and
  activate send the same messages under every profile, so they run once, in
  this process, under a :class:`~duis.profiles.JointProfile` that checks
  that every profile gives the same answer to every question asked.  The
  recovery then goes step by step in forked copies of the world: a group of
  profiles takes each step together while they agree, and splits, from a
  copy kept from before the step, where they do not (:class:`_Recoveries`).
  The results are the same as running each profile from the start (tested).
  Should the profiles answer differently during the roll-out, the run says
  so and runs every profile in full.
- **Otherwise** each worker builds its own world from the same seed and runs
  a whole campaign; the results are again the same.

``jobs=1`` runs every shard and every profile in full, one after the other, in
this process.  The results never depend on ``jobs``.
"""

from __future__ import annotations

import abc
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import queue as _queue
import signal
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

from ..profiles import JointProfile, ProfilesDisagree, profiles
from ..profiles import profile as named_profile
from ..signatures import CredentialStore
from .campaign import (
    ENDED,
    SHARED,
    Campaign,
    CampaignSettings,
    Progress,
    SimulationError,
    check_span,
    peak_memory_kb,
    recovery_steps,
    run_profile,
)
from .fleet import FleetSpec, Shard, in_shard, shards
from .report import ProfileResult, SharedSteps, SimulationReport, merge_reports

__all__ = ["default_jobs", "peak_memory_kb", "simulate"]

#: What one worker process needs, measured (docs/simulate.md): the interpreter
#: and duis, plus the world and the campaign's own growth per device.
WORKER_BASE_KB = 64 * 1024
WORKER_KB_PER_DEVICE = 2.5
#: Worker processes may take at most this share of the memory available.
MEMORY_SHARE = 0.5


def simulate(spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
             profile_names: list[str] | None = None, progress: Progress | None = None,
             jobs: int | None = None) -> SimulationReport:
    """The campaign under each profile (default: all, in table order).

    ``jobs`` > 1 runs at most that many shards at once, and within each at most
    that many steps at once, in worker processes (sharing every step the
    profiles agree on, where processes can fork); 1 runs each shard and each
    profile in full, one after the other, in this process; None (the default)
    chooses (:func:`default_jobs`).  The results are the same either way.
    """
    names = list(profile_names or profiles())
    for name in names:
        named_profile(name)  # an unknown name fails here, before any work
    check_span(spec.devices, settings)
    parts = shards(spec)
    if jobs is None:
        jobs = default_jobs(len(names), spec.devices, shards=len(parts))
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, found {jobs}")
    described = {**asdict(spec), **asdict(settings)}
    if len(parts) == 1:
        return _world(spec, settings, store, names, progress, jobs, None, described)
    if jobs > 1 and _CAN_FORK:
        reports, peak = _Shards(spec, settings, store, names, progress, jobs, parts,
                                described).run()
    else:
        reports = []
        for part in parts:
            reports.append(_world(spec, settings, store, names, _in_shard(progress, part), jobs,
                                  part, described))
            _ended(progress, part)
        peak = max(filter(None, (r.peak_memory_kb for r in reports)), default=None)
    report = merge_reports(reports, described)
    report.measured_peak_kb = peak
    return report


def _world(spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
           names: list[str], progress: Progress | None, jobs: int, shard: Shard | None,
           described: dict) -> SimulationReport:
    """The profiles' campaigns in one world: the fleet, or one shard of it."""
    report = SimulationReport(settings=described, results=[])
    if jobs > 1 and len(names) > 1 and _CAN_FORK:
        shared = _shared_roll_out(spec, settings, store, names, progress, jobs, report, shard)
        if shared is not None:
            return shared
    if jobs > 1 and len(names) > 1:
        report.results, workers = _in_workers(spec, settings, Path(store.directory), names,
                                              progress, jobs, shard)
    else:
        report.results = [run_profile(spec, settings, name, store, progress, shard)
                          for name in names]
        workers = {}
    report.processes = {"main": peak_memory_kb(), **workers}
    return report


def _in_shard(progress: Progress | None, shard: Shard) -> Progress | None:
    """``progress`` with the shard in each event's name (:func:`~.fleet.in_shard`)."""
    if progress is None:
        return None
    label = shard.label
    return lambda profile, phase, done, total: progress(in_shard(label, profile), phase, done,
                                                         total)


def _ended(progress: Progress | None, shard: Shard) -> None:
    """Tell ``progress`` that ``shard`` has ended (:data:`~.campaign.ENDED`)."""
    if progress is not None:
        progress(in_shard(shard.label, SHARED), ENDED, 1, 1)


def default_jobs(profile_count: int, devices: int, *, shards: int = 1,
                 cpus: int | None = None, available_kb: int | None = None) -> int:
    """How many worker processes to run ``profile_count`` profiles over ``shards``
    shards of a fleet of ``devices`` in.

    1 (no workers) on a single CPU, or for a single profile of a single shard.
    A fleet of one shard: every profile at once, as far as the memory available
    allows (on two CPUs three profiles at once take the time of one and a half,
    two at a time the time of two).  Several shards: one shard per CPU at once,
    as far as the memory allows (each shard's processes take about twice what
    one worker does).  ``cpus`` and ``available_kb`` default to this machine's.
    """
    cpus = _cpus() if cpus is None else cpus
    if cpus < 2 or (profile_count < 2 and shards < 2):
        return 1
    available_kb = _available_kb() if available_kb is None else available_kb
    if shards > 1:
        if available_kb is None:
            return min(cpus, shards)
        per_shard = 2 * (WORKER_BASE_KB + WORKER_KB_PER_DEVICE * devices / shards)
        return max(1, min(cpus, shards, int(available_kb * MEMORY_SHARE // per_shard)))
    if available_kb is None:
        return profile_count
    per_worker = WORKER_BASE_KB + WORKER_KB_PER_DEVICE * devices
    fits = int(available_kb * MEMORY_SHARE // per_worker)
    return max(1, min(profile_count, fits)) if fits >= 2 else 1


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _available_kb() -> int | None:
    """MemAvailable from /proc/meminfo, or None without /proc."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        pass
    return None  # pragma: no cover


# --- the shared roll-out, then each step shared while the profiles agree ------------

_CAN_FORK = "fork" in multiprocessing.get_all_start_methods()
#: how often, at most, the memory of the run's processes is sampled while the copies run
MEMORY_SAMPLE_SECONDS = 0.5
#: a sample reads every process's page tables (``smaps_rollup``), which takes
#: longer the more memory the processes map (about 12 ms per GB), and meanwhile
#: holds back any of them that maps memory: the next sample waits this many
#: times as long as the last took, so sampling costs at most 1/50 of one CPU
MEMORY_SAMPLE_SHARE = 50


def _shared_roll_out(spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
                     names: list[str], progress: Progress | None, jobs: int,
                     report: SimulationReport, shard: Shard | None) -> SimulationReport | None:
    """Roll out once for every profile, then recover in forked copies that share each
    step while their profiles agree.  ``None`` (and a note in ``report``) when the
    profiles disagreed during the roll-out."""
    campaign = Campaign(spec, settings, names, store, progress, shard)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            campaign.lost = campaign.roll_out()
        except ProfilesDisagree as exc:
            report.notes.append(f"the profiles answered differently during the roll-out "
                                f"({exc}): each profile ran in full")
            return None
        rolled_out = SharedSteps(profiles=list(names), phases=[p.name for p in campaign.phases],
                                 messages=campaign.supplier.tally.messages,
                                 wall_seconds=time.perf_counter() - started,
                                 cpu_seconds=time.process_time() - cpu)
        campaign.spent = [rolled_out.wall_seconds, rolled_out.cpu_seconds]
        main_peak = peak_memory_kb()
        gc.collect()
        gc.freeze()  # the collector leaves the world alone: fewer pages copied in the forks
        try:
            recoveries = _Recoveries(campaign, names, settings, progress, jobs)
            recoveries.run()
        finally:
            gc.unfreeze()
    finally:
        campaign.inventory.close()
    report.results = [recoveries.results[name] for name in names]
    report.shared = [rolled_out] + recoveries.segments()
    report.splits = recoveries.splits
    report.processes = {"main": main_peak,
                        **{f"{name} worker": recoveries.peaks[name] for name in names}}
    report.measured_peak_kb = max(filter(None, (main_peak, recoveries.memory.peak_kb)),
                                  default=None)
    report.spent_cpu_seconds = rolled_out.cpu_seconds + recoveries.cpu_seconds
    report.processed_messages = rolled_out.messages + recoveries.messages
    return report


class _Channel:
    """Events from every process of the run to the main process: one pipe, each
    message written whole under a lock, and at once (no feeder thread), so a
    process may leave right after sending."""

    def __init__(self, context) -> None:
        self._reader, self._writer = context.Pipe(duplex=False)
        self._lock = context.Lock()

    def put(self, event: tuple) -> None:
        with self._lock:
            self._writer.send(event)

    def get(self, timeout: float) -> tuple:
        if not self._reader.poll(timeout):
            raise _queue.Empty
        return self._reader.recv()

    def get_nowait(self) -> tuple:
        return self.get(0)

    def sender_only(self) -> None:
        """In a worker process: drop the inherited reading end, so that once the
        main process stops listening a send fails (broken pipe) and the worker
        leaves instead of waiting for a reader that is gone."""
        self._reader.close()

    def stop_listening(self) -> None:
        self._reader.close()


class _MemorySampler:
    """The largest memory of this process and the running ones together (with
    every process they forked), sampled while they run: at most every
    :data:`MEMORY_SAMPLE_SECONDS`, and each sample waits
    :data:`MEMORY_SAMPLE_SHARE` times as long as the last took."""

    def __init__(self) -> None:
        self.peak_kb: int | None = None
        self.due = 0.0

    def sample(self, running: Iterable[int]) -> None:
        """Add up the memory of this process and ``running``, if a sample is due."""
        began = time.monotonic()
        if began < self.due:
            return
        total = _pss_kb([os.getpid(), *_descendants(running)])
        if total is not None:
            self.peak_kb = max(self.peak_kb or 0, total)
        took = time.monotonic() - began
        self.due = began + max(MEMORY_SAMPLE_SECONDS, took * MEMORY_SAMPLE_SHARE)


class _Forks(abc.ABC):
    """The main process's side of work done in forked processes, the one shape of
    both levels of a run: the shards (:class:`_Shards`), and the recovery steps
    within a world (:class:`_Recoveries`).

    Every process of the run is recorded as it starts, by the process that forks
    it: the main process directly, any other with ``("start", pid, label)`` on
    the channel (which the process also sends itself, first thing: one whose
    main process no longer listens leaves at once).  Before it leaves, it
    reports ``("exit", pid, outcome)`` when its work is done, or ``("error",
    pid, label, error)``; in between it may send events of the subclass's own
    (:meth:`_event`).  The main process listens until :meth:`_finished` and no
    process runs, starting more as :meth:`_top_up` sees fit, and samples the
    memory of them all.  A process gone without its end is an error; on any
    error, or an interrupt, every running process is killed with its process
    group (a shard's own workers are in its group).
    """

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("fork")
        self.channel = _Channel(self.context)
        self.memory = _MemorySampler()
        self.started: set[int] = set()
        self.exited: set[int] = set()
        self.labels: dict[int, str] = {}
        self._children: dict[int, multiprocessing.process.BaseProcess] = {}

    @property
    def running(self) -> set[int]:
        return self.started - self.exited

    def start(self, label: str, target, *args) -> int:
        """Run ``target(*args)`` in a process forked from this one; its pid."""
        process = _fork(label, target, *args)
        pid = process.pid
        assert pid is not None  # started
        self._children[pid] = process
        self._started(pid, label)
        return pid

    def listen(self) -> None:
        try:
            while True:
                self._top_up()
                if self._finished() and not self.running:
                    return
                try:
                    event = self.channel.get(timeout=0.2)
                except _queue.Empty:
                    self._check_alive()
                else:
                    self._handle(event)
                self.memory.sample(self.running)
        except BaseException:
            self.channel.stop_listening()  # stragglers not yet started fail their first send
            for pid in self.running:
                _kill_group(pid)
            raise
        finally:
            for child in self._children.values():
                child.join()

    def _started(self, pid: int, label: str) -> None:
        self.started.add(pid)
        self.labels.setdefault(pid, label)

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "start":
            self._started(event[1], event[2])
        elif kind == "exit":
            _, pid, outcome = event
            self.exited.add(pid)
            child = self._children.pop(pid, None)
            if child is not None:
                child.join()  # it leaves right after saying so
            self._ended(outcome)
        elif kind == "error":
            _, pid, label, error = event
            self.exited.add(pid)
            if isinstance(error, BaseException):
                error.add_note(f"(in the worker process of {label})")
                raise error
            raise SimulationError("a worker process failed", source="fleet simulation",
                                  path=label, expected="its results", found=error)
        else:
            self._event(event)

    def _check_alive(self) -> None:
        for pid in sorted(self.running):
            if _alive(pid):
                continue
            with contextlib.suppress(_queue.Empty):  # its end may have come just before
                while pid not in self.exited:
                    self._handle(self.channel.get_nowait())
            if pid not in self.exited:
                self.exited.add(pid)  # gone: its pid is not to be killed (it may be reused)
                raise SimulationError("a worker process ended without reporting its end",
                                      source="fleet simulation", path=self.labels[pid],
                                      expected="its results",
                                      found=f"process {pid} is gone")

    # what each level says
    def _top_up(self) -> None:  # noqa: B027 - optional: recovery copies start one another
        """Start what may start now (by default nothing)."""

    @abc.abstractmethod
    def _finished(self) -> bool:
        """Whether every result this level waits for has come."""

    @abc.abstractmethod
    def _ended(self, outcome) -> None:
        """Take the ``outcome`` a process reported with its end."""

    @abc.abstractmethod
    def _event(self, event: tuple) -> None:
        """Take an event of this level's own (progress, results, splits)."""


def _fork(label: str, target, *args) -> multiprocessing.process.BaseProcess:
    """``target(*args)`` started in a forked process."""
    process = multiprocessing.get_context("fork").Process(
        target=target, name=f"duis simulate {label}", args=args)
    process.start()
    return process


def _in_worker(channel: _Channel, label: str, work) -> None:
    """A forked process's life: say it started, do ``work``, report its outcome
    (or its error, sent back whole: a DuisError pickles) and leave at once,
    without waiting for the processes it forked (they report on their own)."""
    pid = os.getpid()
    try:
        channel.sender_only()
        channel.put(("start", pid, label))
    except OSError:  # the main process stopped listening before this one began
        os._exit(1)
    try:
        channel.put(("exit", pid, work()))
    except BaseException as exc:
        with contextlib.suppress(Exception):  # nobody listens any more: nothing to tell
            channel.put(("error", pid, label, _picklable(exc)))
    finally:
        os._exit(0)


def _picklable(exc: BaseException) -> BaseException | str:
    import pickle
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


class _Recoveries(_Forks):
    """The recoveries of a world, in forked copies: a runner per group of
    profiles with the same steps; done when each profile has its result and
    every process has finished.

    A runner (:func:`_run_group`) in a process holding the world before step
    ``k``, shared by a group of profiles, runs the step under their
    :class:`~duis.profiles.JointProfile` and keeps a *backup*: a forked copy
    made just before the step, waiting.  If the step goes through, the backup
    is dropped and the runner goes on to the next step.  If the profiles
    answer differently, the runner (its world spoiled halfway through the
    step) stops, and the backup starts from the same step once per group of
    profiles that gave the same answer.  A group of one runs its remaining
    steps alone.  So profiles share every step they agree on, and each step
    is decided by the same rules as in a run of that profile alone.  At most
    ``jobs`` steps run at once.
    """

    def __init__(self, campaign: Campaign, names: list[str], settings: CampaignSettings,
                 progress: Progress | None, jobs: int) -> None:
        super().__init__()
        self.campaign, self.names, self.settings = campaign, names, settings
        self.progress = progress
        self.slots = self.context.BoundedSemaphore(jobs)
        self.results: dict[str, ProfileResult] = {}
        self.peaks: dict[str, int | None] = {}
        self.splits: list[dict] = []
        self.shared_steps: list[tuple[tuple[str, ...], str, float, float, int]] = []
        self.cpu_seconds, self.messages = 0.0, 0

    def run(self) -> None:
        # one runner for every profile: they all take the same recovery steps
        # (campaign.RECOVERY), and it forks a copy where their answers part
        self.start(" + ".join(self.names), _runner, self.campaign, list(self.names),
                   recovery_steps(self.settings), 0, self.channel, self.slots)
        self.listen()

    def _finished(self) -> bool:
        return len(self.results) == len(self.names)

    def _ended(self, outcome: tuple[float, int]) -> None:
        cpu, messages = outcome
        self.cpu_seconds += cpu
        self.messages += messages

    def _event(self, event: tuple) -> None:
        kind = event[0]
        if kind == "progress":
            if self.progress is not None:
                self.progress(*event[1:])
        elif kind == "result":
            _, name, result, peak = event
            self.results[name], self.peaks[name] = result, peak
        elif kind == "shared":
            self.shared_steps.append(event[1:])
        elif kind == "split":
            _, group, step, question, answers, parts = event
            self.splits.append({"profiles": list(group), "step": step, "question": question,
                                "answers": answers, "groups": parts})

    def segments(self) -> list[SharedSteps]:
        """The steps each group shared, one entry per group, in the order the steps run."""
        merged: dict[tuple[str, ...], list] = {}
        for group, step, wall, cpu, messages in self.shared_steps:
            entry = merged.setdefault(tuple(group), [[], 0, 0.0, 0.0])
            if messages:  # a retry round with nothing left to retry is no phase
                entry[0].append(step)
            entry[1] += messages
            entry[2] += wall
            entry[3] += cpu
        order = {name: n for n, name in enumerate(self.names)}
        segments = [SharedSteps(list(group), phases, messages, wall, cpu)
                    for group, (phases, messages, wall, cpu) in merged.items() if phases]
        return sorted(segments, key=lambda s: (len(s.profiles) * -1, order[s.profiles[0]]))


def _runner(campaign: Campaign, group: list[str], steps: list[str], k: int, queue: _Channel,
            slots) -> None:
    """A forked process's life as a runner: the group from step ``k``; its outcome
    is its CPU time and the messages it sent."""
    def work() -> tuple[float, int]:
        messages = campaign.supplier.tally.messages
        campaign.progress = lambda *event: queue.put(("progress", *event))
        _run_group(campaign, group, steps, k, queue, slots)
        return time.process_time(), campaign.supplier.tally.messages - messages

    _in_worker(queue, " + ".join(group), work)


def _run_group(campaign: Campaign, group: list[str], steps: list[str], k: int,
               queue: _Channel, slots) -> None:
    context = multiprocessing.get_context("fork")
    while len(group) > 1 and k < len(steps):
        campaign.become(group)
        reader, writer = context.Pipe(duplex=False)
        label = f"backup of {' + '.join(group)}"
        backup = _fork(label, _backup, campaign, group, steps, k, reader, writer, queue, slots)
        queue.put(("start", backup.pid, label))
        reader.close()
        try:
            wall, cpu, messages = _timed_step(campaign, steps[k], slots)
        except ProfilesDisagree as exc:
            assert isinstance(campaign.profile, JointProfile)  # the one that disagrees
            parts = campaign.profile.split(exc.answers)
            queue.put(("split", tuple(group), steps[k], exc.path, exc.found, parts))
            writer.send(("split", parts))
            writer.close()
            return  # this world is spoiled halfway through the step: the backup goes on
        writer.send(("done", None))
        writer.close()
        backup.join()
        queue.put(("shared", tuple(group), steps[k], wall, cpu, messages))
        k += 1
    for name in group[1:]:  # every step shared to the end: one result each
        _start_runner(campaign, [name], steps, k, queue, slots)
    campaign.become(group[0])
    for step in steps[k:]:
        _timed_step(campaign, step, slots)
    wall, cpu = campaign.spent
    queue.put(("result", group[0], campaign.result(wall, cpu), peak_memory_kb()))


def _start_runner(campaign: Campaign, group: list[str], steps: list[str], k: int,
                  queue: _Channel, slots) -> None:
    label = " + ".join(group)
    queue.put(("start", _fork(label, _runner, campaign, group, steps, k, queue, slots).pid,
               label))


def _backup(campaign: Campaign, group: list[str], steps: list[str], k: int, reader, writer,
            queue: _Channel, slots) -> None:
    """The world before step ``k``, kept while the runner tries the step for the
    group: dropped when it went through, a runner for each group of the split
    when the profiles answered differently."""
    writer.close()  # the runner's end: its only copy must be the runner's, for EOF
    pid = os.getpid()
    try:
        queue.sender_only()
        queue.put(("start", pid, f"backup of {' + '.join(group)}"))
        try:
            verdict, parts = reader.recv()
        except EOFError:  # the runner died: the main process notices and reports it
            verdict, parts = "gone", None
        if verdict != "split":
            queue.put(("exit", pid, (time.process_time(), 0)))
            os._exit(0)
    except OSError:  # the main process stopped listening
        os._exit(1)
    for part in parts[1:]:
        _start_runner(campaign, part, steps, k, queue, slots)
    _runner(campaign, parts[0], steps, k, queue, slots)


def _timed_step(campaign: Campaign, step: str, slots) -> tuple[float, float, int]:
    """Run one step holding a slot; its wall and CPU time (added to what the
    campaign spent) and its messages."""
    with slots:
        started, cpu = time.perf_counter(), time.process_time()
        messages = campaign.supplier.tally.messages
        campaign.run_step(step)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    campaign.spent[0] += wall
    campaign.spent[1] += cpu
    return wall, cpu, campaign.supplier.tally.messages - messages


# --- shards, each in a process of its own ---------------------------------------------

class _Shards(_Forks):
    """A fleet run as shards: at most ``jobs`` shard processes at once, each the
    leader of a process group that holds its own workers; their progress
    relayed, their reports collected in shard order."""

    def __init__(self, spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
                 names: list[str], progress: Progress | None, jobs: int,
                 parts: list[Shard], described: dict) -> None:
        super().__init__()
        self.spec, self.settings, self.store, self.names = spec, settings, store, names
        self.progress, self.jobs, self.parts, self.described = progress, jobs, parts, described
        self.waiting = list(parts)
        self.reports: dict[int, SimulationReport] = {}

    def run(self) -> tuple[list[SimulationReport], int | None]:
        """Each shard's report, in shard order, and the largest memory of all the
        run's processes together."""
        self.listen()
        return [self.reports[part.index] for part in self.parts], self.memory.peak_kb

    def _top_up(self) -> None:  # noqa: B027 - optional: recovery copies start one another
        while self.waiting and len(self.running) < self.jobs:
            part = self.waiting.pop(0)
            pid = self.start(part.label, _shard_worker, self.spec, self.settings, self.store,
                             self.names, self.jobs, part, self.described, self.channel)
            # here as well as in the child, whichever comes first, so no kill misses it
            # (OSError: it already did, or already left)
            with contextlib.suppress(OSError):
                os.setpgid(pid, pid)

    def _finished(self) -> bool:
        return len(self.reports) == len(self.parts)

    def _ended(self, outcome: tuple[int, SimulationReport]) -> None:
        index, report = outcome
        self.reports[index] = report
        _ended(self.progress, self.parts[index])

    def _event(self, event: tuple) -> None:  # ("progress", shard index, *event)
        progress = _in_shard(self.progress, self.parts[event[1]])
        if progress is not None:
            progress(*event[2:])


def _shard_worker(spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
                  names: list[str], jobs: int, shard: Shard, described: dict,
                  channel: _Channel) -> None:
    """A shard's process: its world's report is its outcome."""
    with contextlib.suppress(OSError):  # the main process may have done it already
        os.setpgid(0, 0)
    index = shard.index

    def work() -> tuple[int, SimulationReport]:
        return index, _world(spec, settings, store, names,
                             lambda *event: channel.put(("progress", index, *event)), jobs,
                             shard, described)

    _in_worker(channel, shard.label, work)


# --- the processes, as /proc sees them ------------------------------------------------

def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state not in ("Z", "X")


def _kill_group(pid: int) -> None:
    """Kill process ``pid`` and, if it leads one, its process group (a shard's workers)."""
    with contextlib.suppress(OSError):  # it leads no group (or not yet)
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):  # it is gone already
        os.kill(pid, signal.SIGKILL)


def _pss_kb(pids: list[int]) -> int | None:
    """The proportional set sizes of ``pids`` added up (pages shared by several of
    them count once in all); processes gone meanwhile count nothing; None where
    /proc does not tell."""
    total, seen = 0, False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
                seen = True
        except (OSError, StopIteration, ValueError):
            continue
    return total if seen else None


def _descendants(pids: Iterable[int]) -> list[int]:
    """``pids`` and every process descended from them (where /proc tells), each once."""
    found: dict[int, None] = {}
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found[pid] = None
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
                todo += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return list(found)


# --- worker processes, each with a whole campaign ---------------------------------------

_progress_queue = None


def _worker_init(progress_queue) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _worker_progress(*event) -> None:
    assert _progress_queue is not None  # set by _worker_init
    _progress_queue.put(event)


def _worker(spec: FleetSpec, settings: CampaignSettings, name: str, store_directory: Path,
            shard: Shard | None) -> tuple[ProfileResult, int, int | None]:
    result = run_profile(spec, settings, name, CredentialStore(store_directory),
                         _worker_progress, shard)
    return result, os.getpid(), peak_memory_kb()


def _in_workers(spec: FleetSpec, settings: CampaignSettings, store_directory: Path,
                names: list[str], progress: Progress | None, jobs: int,
                shard: Shard | None) -> tuple[list[ProfileResult], dict[str, int | None]]:
    """The profiles in worker processes; their results, and each worker's peak memory."""
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing
                                          .get_all_start_methods() else None)
    events = context.Queue()
    with ProcessPoolExecutor(max_workers=min(jobs, len(names)), mp_context=context,
                             initializer=_worker_init, initargs=(events,)) as pool:
        futures = [pool.submit(_worker, spec, settings, name, store_directory, shard)
                   for name in names]
        while not all(f.done() for f in futures):
            _relay(events, progress, timeout=0.2)
        _relay(events, progress, timeout=0)
        try:
            done = [f.result() for f in futures]
        except BrokenProcessPool as exc:  # a worker killed, or gone without a word
            raise SimulationError("a worker process ended without reporting its end",
                                  source="fleet simulation",
                                  path=" + ".join(name for name, f in zip(names, futures,
                                                                           strict=True)
                                                  if not _finished(f)),
                                  expected="its results", found=str(exc)) from None
    peaks: dict[int, int | None] = {}
    for _, pid, peak in done:  # a worker that ran two profiles counts once, at its peak
        known = peaks.get(pid)
        peaks[pid] = peak if known is None else max(known, peak or 0)
    workers = {f"worker {n}": peak for n, peak in enumerate(peaks.values(), 1)}
    return [result for result, _, _ in done], workers


def _finished(future) -> bool:
    """Whether ``future`` of the worker pool gave its result."""
    return future.done() and not future.cancelled() and future.exception() is None


def _relay(events, progress: Progress | None, timeout: float) -> None:
    """Hand the workers' progress events to ``progress``, waiting at most ``timeout``."""
    try:
        event = events.get(timeout=timeout) if timeout else events.get_nowait()
        while True:
            if progress is not None:
                progress(*event)
            event = events.get_nowait()
    except _queue.Empty:
        pass
