"""Every profile's campaign, one after the other or in worker processes."""

from __future__ import annotations

import multiprocessing
import queue as _queue
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ..profiles import profile as named_profile, profiles
from ..signatures import CredentialStore
from .campaign import CampaignSettings, Progress, peak_memory_kb, run_profile
from .fleet import FleetSpec
from .report import ProfileResult, SimulationReport

__all__ = ["peak_memory_kb", "simulate"]


def simulate(spec: FleetSpec, settings: CampaignSettings, store: CredentialStore,
             profile_names: list[str] | None = None, progress: Progress | None = None,
             jobs: int = 1) -> SimulationReport:
    """The campaign under each profile (default: all, in table order).

    ``jobs`` > 1 runs the profiles in that many worker processes at once; each
    profile's world is built from the same seed either way, so the results
    are the same.
    """
    names = list(profile_names or profiles())
    for name in names:
        named_profile(name)  # an unknown name fails here, before any work
    if jobs > 1 and len(names) > 1:
        results = _in_workers(spec, settings, Path(store.directory), names, progress, jobs)
    else:
        results = [run_profile(spec, settings, name, store, progress) for name in names]
    return SimulationReport(settings={**asdict(spec), **asdict(settings)}, results=results)


# --- worker processes ----------------------------------------------------------------

_progress_queue = None


def _worker_init(progress_queue) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _worker_progress(*event) -> None:
    _progress_queue.put(event)


def _worker(spec: FleetSpec, settings: CampaignSettings, name: str,
            store_directory: Path) -> ProfileResult:
    return run_profile(spec, settings, name, CredentialStore(store_directory), _worker_progress)


def _in_workers(spec: FleetSpec, settings: CampaignSettings, store_directory: Path,
                names: list[str], progress: Progress | None, jobs: int) -> list[ProfileResult]:
    context = multiprocessing.get_context()
    events = context.Queue()
    with ProcessPoolExecutor(max_workers=min(jobs, len(names)), mp_context=context,
                             initializer=_worker_init, initargs=(events,)) as pool:
        futures = [pool.submit(_worker, spec, settings, name, store_directory)
                   for name in names]
        while not all(f.done() for f in futures):
            _relay(events, progress, timeout=0.2)
        _relay(events, progress, timeout=0)
        return [f.result() for f in futures]


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
