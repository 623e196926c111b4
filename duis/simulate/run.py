"""Every profile's campaign, one after the other or in worker processes.

By default (``jobs=None``) a run of several profiles uses worker processes
when the machine has more than one CPU and the memory for them
(:func:`default_jobs`):

- **Shared roll-out, then a fork per profile** (where processes can fork):
  remove, distribute and activate send the same messages under every
  profile, so they run once, in this process, under a
  :class:`~duis.profiles.JointProfile` that checks that every profile gives
  the same answer to every question asked.  Then each profile continues in a
  forked copy of the world (the DSP, the SMI, the devices, the supplier and
  the random stream, exactly as they are), at most ``jobs`` at once, and
  runs its recovery.  The results are the same as running each profile
  from the start (tested).  Should the profiles ever answer differently
  during the roll-out, the run says so and runs every profile in full.
- **Otherwise** each worker builds its own world from the same seed and runs
  a whole campaign; the results are again the same.

``jobs=1`` runs every profile in full, one after the other, in this process.
Three profiles on two CPUs finish sooner all at once (the time of one and a
half profiles) than two at a time (the time of two).
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import queue as _queue
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ..profiles import ProfilesDisagree, profile as named_profile, profiles
from ..signatures import CredentialStore
from .campaign import (Campaign, CampaignSettings, Progress, SimulationError, peak_memory_kb,
                       run_profile)
from .fleet import FleetSpec
from .report import ProfileResult, SharedRollOut, SimulationReport

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

    ``jobs`` > 1 runs the profiles in that many worker processes at once (after
    a shared roll-out where processes can fork); 1 runs each profile in full,
    one after the other, in this process; None (the default) chooses
    (:func:`default_jobs`).  The results are the same either way.
    """
    names = list(profile_names or profiles())
    for name in names:
        named_profile(name)  # an unknown name fails here, before any work
    if jobs is None:
        jobs = default_jobs(len(names), spec.devices)
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, found {jobs}")
    report = SimulationReport(settings={**asdict(spec), **asdict(settings)}, results=[])
    if jobs > 1 and len(names) > 1 and _CAN_FORK:
        shared = _shared_roll_out(spec, settings, store, names, progress, jobs, report)
        if shared is not None:
            return shared
    if jobs > 1 and len(names) > 1:
        report.results, workers = _in_workers(spec, settings, Path(store.directory), names,
                                              progress, jobs)
    else:
        report.results = [run_profile(spec, settings, name, store, progress) for name in names]
        workers = {}
    report.processes = {"main": peak_memory_kb(), **workers}
    return report


def default_jobs(profile_count: int, devices: int, *, cpus: int | None = None,
                 available_kb: int | None = None) -> int:
    """How many worker processes to run ``profile_count`` profiles in.

    1 (no workers) on a single CPU or for a single profile.  Otherwise every
    profile at once, as far as the memory available allows: on two CPUs three
    profiles at once take the time of one and a half, two at a time the time of
    two.  ``cpus`` and ``available_kb`` default to this machine's.
    """
    cpus = _cpus() if cpus is None else cpus
    if profile_count < 2 or cpus < 2:
        return 1
    available_kb = _available_kb() if available_kb is None else available_kb
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


# --- the shared roll-out and a forked copy per profile ------------------------------

_CAN_FORK = "fork" in multiprocessing.get_all_start_methods()
#: how often the memory of the run's processes is sampled while the copies run
MEMORY_SAMPLE_SECONDS = 0.5


def _shared_roll_out(spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
                     names: list[str], progress: Progress | None, jobs: int,
                     report: SimulationReport) -> SimulationReport | None:
    """Roll out once for every profile, then recover in a forked copy per profile.
    ``None`` (and a note in ``report``) when the profiles disagreed during the roll-out."""
    campaign = Campaign(spec, settings, names, store, progress)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            lost = campaign.roll_out()
        except ProfilesDisagree as exc:
            report.notes.append(f"the profiles answered differently during the roll-out "
                                f"({exc}): each profile ran in full")
            return None
        tally = campaign.supplier.tally
        shared = SharedRollOut(profiles=list(names), phases=[p.name for p in campaign.phases],
                               messages=tally.messages, wall_seconds=time.perf_counter() - started,
                               cpu_seconds=time.process_time() - cpu)
        main_peak = peak_memory_kb()
        gc.collect()
        gc.freeze()  # the collector leaves the world alone: fewer pages copied in the forks
        try:
            results, peaks, sampled = _fork_each(campaign, lost, shared, names, progress, jobs)
        finally:
            gc.unfreeze()
    finally:
        campaign.inventory.close()
    report.results, report.shared = results, shared
    report.processes = {"main": main_peak, **{f"{name} worker": peaks[name] for name in names}}
    report.measured_peak_kb = max(filter(None, (main_peak, sampled)), default=None)
    return report


def _fork_each(campaign: Campaign, lost: list[str], shared: SharedRollOut, names: list[str],
               progress: Progress | None, jobs: int):
    """Run each profile's recovery in a forked copy of ``campaign``, ``jobs`` at once.
    Returns the results in ``names`` order, each child's peak memory (VmHWM), and the
    largest proportional set size of all the run's processes added up (sampled)."""
    context = multiprocessing.get_context("fork")
    events = context.Queue()
    waiting, running = list(names), {}
    results: dict[str, ProfileResult] = {}
    peaks: dict[str, int | None] = {}
    sampled, last_sample = None, 0.0
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                name = waiting.pop(0)
                reader, writer = context.Pipe(duplex=False)
                child = context.Process(target=_child, name=f"duis simulate: {name}",
                                        args=(campaign, lost, shared, name, writer, events))
                child.start()
                writer.close()
                running[reader] = (name, child)
            for reader in multiprocessing.connection.wait(list(running), timeout=0.1):
                name, child = running.pop(reader)
                outcome = _receive(reader, name, child)
                child.join()
                results[name], peaks[name] = outcome
            _relay(events, progress, timeout=0)
            if time.monotonic() - last_sample >= MEMORY_SAMPLE_SECONDS:
                last_sample = time.monotonic()
                total = _pss_kb([os.getpid()] + [c.pid for _, c in running.values()])
                sampled = total if sampled is None or total is None else max(sampled, total)
    finally:
        for _, child in running.values():
            child.kill()
            child.join()
        _relay(events, progress, timeout=0)
        events.close()
    return [results[name] for name in names], peaks, sampled


def _receive(reader, name: str, child) -> tuple[ProfileResult, int | None]:
    try:
        kind, payload, peak = reader.recv()
    except EOFError:
        child.join()
        raise SimulationError("a profile's worker process ended without a result",
                              source="fleet simulation", path=name,
                              expected="a result", found=f"exit code {child.exitcode}") from None
    finally:
        reader.close()
    if kind == "error":
        if isinstance(payload, BaseException):
            payload.add_note(f"(in the worker process of profile {name})")
            raise payload
        raise SimulationError("a profile's worker process failed", source="fleet simulation",
                              path=name, expected="a result", found=payload)
    return payload, peak


def _child(campaign: Campaign, lost: list[str], shared: SharedRollOut, name: str, writer,
           events) -> None:
    """In the forked copy: go on as ``name``, recover, send the result back."""
    try:
        started, cpu = time.perf_counter(), time.process_time()
        campaign.progress = lambda *event: events.put(event)
        campaign.become(name)
        campaign.recover(lost)
        result = campaign.result(shared.wall_seconds + time.perf_counter() - started,
                                 shared.cpu_seconds + time.process_time() - cpu)
        message = ("ok", result, peak_memory_kb())
    except BaseException as exc:  # sent back whole, raised in the main process
        message = ("error", exc, None)
    try:
        writer.send(message)
    except Exception as exc:  # the error itself did not pickle: send its text
        writer.send(("error", f"{type(message[1]).__name__}: {message[1]} ({exc})", None))
    writer.close()
    events.close()
    events.join_thread()


def _pss_kb(pids: list[int]) -> int | None:
    """The proportional set sizes of ``pids`` added up (pages shared by several of
    them count once in all), or None where /proc does not tell."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            return None
    return total


# --- worker processes, each with a whole campaign ---------------------------------------

_progress_queue = None


def _worker_init(progress_queue) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _worker_progress(*event) -> None:
    _progress_queue.put(event)


def _worker(spec: FleetSpec, settings: CampaignSettings, name: str,
            store_directory: Path) -> tuple[ProfileResult, int, int | None]:
    result = run_profile(spec, settings, name, CredentialStore(store_directory),
                         _worker_progress)
    return result, os.getpid(), peak_memory_kb()


def _in_workers(spec: FleetSpec, settings: CampaignSettings, store_directory: Path,
                names: list[str], progress: Progress | None,
                jobs: int) -> tuple[list[ProfileResult], dict[str, int | None]]:
    """The profiles in worker processes; their results, and each worker's peak memory."""
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing
                                          .get_all_start_methods() else None)
    events = context.Queue()
    with ProcessPoolExecutor(max_workers=min(jobs, len(names)), mp_context=context,
                             initializer=_worker_init, initargs=(events,)) as pool:
        futures = [pool.submit(_worker, spec, settings, name, store_directory)
                   for name in names]
        while not all(f.done() for f in futures):
            _relay(events, progress, timeout=0.2)
        _relay(events, progress, timeout=0)
        done = [f.result() for f in futures]
    peaks: dict[int, int | None] = {}
    for _, pid, peak in done:  # a worker that ran two profiles counts once, at its peak
        peaks[pid] = peak if peaks.get(pid) is None else max(peaks[pid], peak or 0)
    workers = {f"worker {n}": peak for n, peak in enumerate(peaks.values(), 1)}
    return [result for result, _, _ in done], workers


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
