"""Fleet simulation figures (``duis simulate``), each run in a fresh process.

Targets (fleet simulation issue):
- 100,000 devices, message signing off (``--no-sign``; everything else as in a
  real run), a default run (every profile, the default worker processes):
  under 60 s and under 1 GB peak memory;
- 10,000 devices signed (every message signed and verified) against the same
  unsigned: the signed run no more than 3 times slower per message.

A "message" is any DUIS message across the interface: a request the supplier
sends, or a response or alert the DSP sends (to the supplier or the network
operator).

Peak memory is VmHWM (/proc/self/status) of each process: the run's main
process and each worker.  The total printed is their sum, an upper bound on
what the run held at any one time (the peaks need not coincide, and pages a
forked worker shares with the main process count in both).

CPU time is each campaign's own process time.  This machine is shared: wall
time varies with what else runs, CPU time much less, so the per-message
comparison of signed and unsigned runs uses CPU time (both runs in one
process, ``jobs=1``, so that they do not compete with each other).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIG, SMALL = 100_000, 10_000

_RUN = r"""
import json, sys, time
from duis.signatures import CredentialStore
from duis.simulate import CampaignSettings, FleetSpec, simulate
from duis.simulate.run import default_jobs
devices, signing = int(sys.argv[1]), sys.argv[2] == "signed"
jobs = None if sys.argv[3] == "default" else int(sys.argv[3])
start = time.perf_counter()
report = simulate(FleetSpec(devices=devices), CampaignSettings(signing=signing),
                  CredentialStore(sys.argv[4]), jobs=jobs)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "jobs": jobs or default_jobs(len(report.results), devices),
                  "processes": report.processes, "peak_kb": report.peak_memory_kb,
                  "profiles": {r.profile: {"wall": r.wall_seconds, "cpu": r.cpu_seconds,
                                           "messages": r.messages,
                                           "peak_kb": r.peak_memory_kb,
                                           "wrongly": r.wrongly_suspended,
                                           "upgraded": r.upgraded} for r in report.results}}))
"""


def run(devices: int, signed: bool, jobs: int | None) -> dict:
    out = subprocess.run([sys.executable, "-c", _RUN, str(devices),
                          "signed" if signed else "unsigned",
                          "default" if jobs is None else str(jobs), str(ROOT / "samples/pki")],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out)


def cpu_per_message(figures: dict) -> float:
    """CPU microseconds per message over the campaigns."""
    profiles = figures["profiles"].values()
    return sum(p["cpu"] for p in profiles) / sum(p["messages"] for p in profiles) * 1e6


def rate(figures: dict) -> float:
    """Messages per second of wall time spent in the campaigns."""
    profiles = figures["profiles"].values()
    return sum(p["messages"] for p in profiles) / sum(p["wall"] for p in profiles)


def _mb(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024:,.0f} MB"


def main() -> None:
    big = run(BIG, False, None)
    workers = len(big["processes"]) - 1
    how = (f"{workers} worker processes at once" if workers
           else "one after the other in one process")
    print(f"{BIG:,} devices, unsigned (--no-sign), a default run: the three profiles, "
          f"{how}:")
    print(f"  wall time:   {big['seconds']:6.1f} s (fleet building included)   target < 60 s")
    parts = ", ".join(f"{name} {_mb(kb)}" for name, kb in big["processes"].items())
    print(f"  peak memory: {_mb(big['peak_kb']):>8} added up over the processes ({parts})"
          f"   target < 1 GB")
    for name, p in big["profiles"].items():
        print(f"  {name:<14} wall {p['wall']:6.1f} s, CPU {p['cpu']:5.1f} s "
              f"({p['cpu'] / p['messages'] * 1e6:.0f} us per message, {p['messages']:,} "
              f"messages); {p['wrongly']:,} of {p['upgraded']:,} upgraded devices left "
              f"wrongly Suspended")
    print(f"  CPU in all:  {sum(p['cpu'] for p in big['profiles'].values()):6.1f} s "
          f"({cpu_per_message(big):.0f} us per message)")

    unsigned, signed = run(SMALL, False, 1), run(SMALL, True, 1)
    print(f"{SMALL:,} devices, the three profiles one after the other in one process:")
    for label, figures, note in (("unsigned", unsigned, ""),
                                 ("signed", signed, "; every message signed and verified")):
        print(f"  {label + ':':<9} {cpu_per_message(figures):4.0f} us CPU per message, "
              f"{rate(figures):5.0f} messages per second ({figures['seconds']:.1f} s{note})")
    print(f"  signed is {cpu_per_message(signed) / cpu_per_message(unsigned):.2f} times slower "
          f"per message in CPU time ({rate(unsigned) / rate(signed):.2f} in wall time)"
          f"   target <= 3")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
