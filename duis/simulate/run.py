"""Every profile's campaign, one after the other or in worker processes.

By default (``jobs=None``) the profiles run in worker processes, all at once,
when the machine has more than one CPU and the memory for them
(:func:`default_jobs`); each worker builds its own world from the same seed, so
the results are the same as one after the other (tested).  Three profiles on
two CPUs finish sooner all at once (the time of one and a half profiles) than
two at a time (the time of two).
"""

from __future__ import annotations

import multiprocessing
import os
import queue as _queue
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ..profiles import profile as named_profile, profiles
from ..signatures import CredentialStore
from .campaign import CampaignSettings, Progress, peak_memory_kb, run_profile
from .fleet import FleetSpec
from .report import ProfileResult, SimulationReport

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

    ``jobs`` > 1 runs the profiles in that many worker processes at once; 1 runs
    them one after the other in this process; None (the default) chooses
    (:func:`default_jobs`).  Each profile's world is built from the same seed
    either way, so the results are the same.
    """
    names = list(profile_names or profiles())
    for name in names:
        named_profile(name)  # an unknown name fails here, before any work
    if jobs is None:
        jobs = default_jobs(len(names), spec.devices)
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, found {jobs}")
    if jobs > 1 and len(names) > 1:
        results, workers = _in_workers(spec, settings, Path(store.directory), names, progress,
                                       jobs)
    else:
        results = [run_profile(spec, settings, name, store, progress) for name in names]
        workers = {}
    memory = {"main": peak_memory_kb(), **workers}
    return SimulationReport(settings={**asdict(spec), **asdict(settings)}, results=results,
                            processes=memory)


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


# --- worker processes ----------------------------------------------------------------

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
