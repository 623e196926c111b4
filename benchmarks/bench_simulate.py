"""Fleet simulation figures (``duis simulate``), each run in a fresh process.

Targets (fleet simulation issue):
- 100,000 devices, message signing off (``--no-sign``; everything else as in a
  real run), a default run (every profile; each step done once for the
  profiles that agree on it, in forked copies of the world): under 60 s and
  under 1 GB peak memory (three runs, the median wall time and the largest
  peak memory are printed);
- 10,000 devices with every message signed and verified, against the same
  run unsigned: messages per second, and the signed run no more than 3 times
  slower per message.

A "message" is any DUIS message across the interface: a request the supplier
sends, or a response or alert the DSP sends (to the supplier or the network
operator).  A run's messages are those it processed: a shared step's count
once, though each profile's result counts them.

Peak memory: with forked copies, the largest proportional set size (PSS) of
all the run's processes added up, sampled every half second (pages they
share count once), or the main process's peak (VmHWM) if larger.  Each
process's own VmHWM is printed too.

Per message, signed against unsigned: CPU time of the campaigns (every
process's own, so each shared step once) over the messages processed.  This
machine's speed drifts from one minute to the next (2 vCPUs shared with other
work), so the two runs take turns, round after round, each in a fresh process,
and the median of the per-round ratios is reported with the lowest and highest.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIG, SMALL, ROUNDS, BIG_RUNS = 100_000, 10_000, 5, 3

_RUN = r"""
import json, sys, time
from duis.signatures import CredentialStore
from duis.simulate import CampaignSettings, FleetSpec, simulate
devices, signing = int(sys.argv[1]), sys.argv[2] == "signed"
start = time.perf_counter()
report = simulate(FleetSpec(devices=devices), CampaignSettings(signing=signing),
                  CredentialStore(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - start,
                  "messages": report.messages, "cpu": report.cpu_seconds,
                  "processes": report.processes, "peak_kb": report.peak_memory_kb,
                  "shared": [{"profiles": s.profiles, "phases": s.phases,
                              "messages": s.messages, "wall": s.wall_seconds,
                              "cpu": s.cpu_seconds} for s in report.shared],
                  "notes": report.notes,
                  "profiles": {r.profile: {"wall": r.wall_seconds, "cpu": r.cpu_seconds,
                                           "messages": r.messages,
                                           "wrongly": r.wrongly_suspended,
                                           "upgraded": r.upgraded} for r in report.results}}))
"""


def run(devices: int, signed: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", _RUN, str(devices),
                          "signed" if signed else "unsigned", str(ROOT / "samples/pki")],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out)


def cpu_per_message(figures: dict) -> float:
    """CPU microseconds per message processed."""
    return figures["cpu"] / figures["messages"] * 1e6


def _mb(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024:,.0f} MB"


def big_run() -> None:
    print(f"{BIG:,} devices, unsigned (--no-sign), default runs: three profiles, each step "
          f"done once for the profiles that agree on it, in forked copies of the world:")
    runs = []
    for number in range(1, BIG_RUNS + 1):
        figures = run(BIG, False)
        runs.append(figures)
        print(f"  run {number}: {figures['seconds']:5.1f} s, peak memory "
              f"{_mb(figures['peak_kb'])}, CPU {figures['cpu']:.1f} s "
              f"({cpu_per_message(figures):.0f} us per message)", flush=True)
    big = sorted(runs, key=lambda figures: figures["seconds"])[len(runs) // 2]
    print(f"  wall time:   {big['seconds']:6.1f} s, the median of {BIG_RUNS} runs (fleet "
          f"building included)   target < 60 s")
    peak = max(r["peak_kb"] or 0 for r in runs)
    parts = ", ".join(f"{name} {_mb(kb)}" for name, kb in big["processes"].items())
    print(f"  peak memory: {_mb(peak):>8}, the largest of the runs: the processes together, "
          f"shared pages once (the median run's, each on its own: {parts})   target < 1 GB")
    print("  the median run:")
    for segment in big["shared"]:
        print(f"    shared by {' + '.join(segment['profiles'])}: {', '.join(segment['phases'])}:"
              f" wall {segment['wall']:.1f} s, CPU {segment['cpu']:.1f} s, "
              f"{segment['messages']:,} messages")
    for note in big["notes"]:
        print(f"    note: {note}")
    for name, p in big["profiles"].items():
        print(f"    {name:<14} wall {p['wall']:6.1f} s, CPU {p['cpu']:5.1f} s (shared steps "
              f"included), {p['messages']:,} messages; {p['wrongly']:,} of "
              f"{p['upgraded']:,} upgraded devices left wrongly Suspended")
    print(f"    CPU in all:  {big['cpu']:6.1f} s for {big['messages']:,} messages processed "
          f"({cpu_per_message(big):.0f} us per message)")


def ratio_rounds() -> None:
    print(f"{SMALL:,} devices, default runs, unsigned and signed taking turns "
          f"({ROUNDS} rounds):")
    ratios, wall_ratios, rows = [], [], []
    for number in range(1, ROUNDS + 1):
        unsigned, signed = run(SMALL, False), run(SMALL, True)
        ratio = cpu_per_message(signed) / cpu_per_message(unsigned)
        wall = (signed["seconds"] / signed["messages"]) / (unsigned["seconds"]
                                                          / unsigned["messages"])
        ratios.append(ratio)
        wall_ratios.append(wall)
        rows.append((unsigned, signed))
        print(f"  round {number}: unsigned {cpu_per_message(unsigned):4.0f} us CPU per message "
              f"({unsigned['messages'] / unsigned['seconds']:6,.0f} messages per second, "
              f"{unsigned['seconds']:.1f} s); signed {cpu_per_message(signed):4.0f} us "
              f"({signed['messages'] / signed['seconds']:6,.0f} messages per second, "
              f"{signed['seconds']:.1f} s); ratio {ratio:.2f}")
    signed_rates = [s["messages"] / s["seconds"] for _, s in rows]
    print(f"  signed, every message signed and verified: {statistics.median(signed_rates):,.0f}"
          f" messages per second (median; {rows[0][1]['messages']:,} messages a run)")
    print(f"  signed is {statistics.median(ratios):.2f} times slower per message in CPU time "
          f"(median of {ROUNDS} rounds, {min(ratios):.2f} to {max(ratios):.2f}); "
          f"{statistics.median(wall_ratios):.2f} in wall time   target <= 3")


def main() -> None:
    big_run()
    ratio_rounds()


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
