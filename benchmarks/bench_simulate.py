"""Fleet simulation figures (``duis simulate``), each run in a fresh process.

Targets (fleet simulation issue):
- 100,000 devices, message signing off (``--no-sign``; everything else as in a
  real run): under 60 s and under 1 GB peak memory;
- 10,000 devices signed (every message signed and verified) against the same
  unsigned: messages per second, and the signed run no more than 3 times
  slower per message.

A "message" is any DUIS message across the interface: a request the supplier
sends, or a response or alert the DSP sends (to the supplier or the network
operator).  Peak memory is VmHWM from /proc/self/status of each process.
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
from duis.simulate.run import peak_memory_kb
devices, signing, jobs = int(sys.argv[1]), sys.argv[2] == "signed", int(sys.argv[3])
start = time.perf_counter()
report = simulate(FleetSpec(devices=devices), CampaignSettings(signing=signing),
                  CredentialStore(sys.argv[4]), jobs=jobs)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_kb": peak_memory_kb(),
                  "profiles": {r.profile: {"wall": r.wall_seconds, "messages": r.messages,
                                           "peak_kb": r.peak_memory_kb,
                                           "wrongly": r.wrongly_suspended,
                                           "upgraded": r.upgraded} for r in report.results}}))
"""


def run(devices: int, signed: bool, jobs: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _RUN, str(devices),
                          "signed" if signed else "unsigned", str(jobs), str(ROOT / "samples/pki")],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out)


def rate(figures: dict) -> float:
    """Messages per second of wall time spent in the campaigns."""
    profiles = figures["profiles"].values()
    return sum(p["messages"] for p in profiles) / sum(p["wall"] for p in profiles)


def main() -> None:
    big = run(BIG, False, 1)
    print(f"{BIG:,} devices, unsigned (--no-sign), the three profiles one after the other "
          "in one process:")
    for name, p in big["profiles"].items():
        print(f"  {name:<14} {p['wall']:6.1f} s   {p['wrongly']:,} of {p['upgraded']:,} "
              f"upgraded devices left wrongly Suspended")
    slowest = max(p["wall"] for p in big["profiles"].values())
    print(f"  per profile: {slowest:6.1f} s at most   target < 60 s")
    print(f"  all three:   {big['seconds']:6.1f} s (fleet building included)")
    print(f"  peak memory: {big['peak_kb'] / 1024:6.0f} MB   target < 1 GB")

    unsigned, signed = run(SMALL, False, 1), run(SMALL, True, 1)
    fast, slow = rate(unsigned), rate(signed)
    print(f"{SMALL:,} devices, the three profiles in one process:")
    print(f"  unsigned: {fast:7.0f} messages per second ({unsigned['seconds']:.1f} s)")
    print(f"  signed:   {slow:7.0f} messages per second ({signed['seconds']:.1f} s; every "
          f"message signed and verified)")
    print(f"  signed is {fast / slow:.2f} times slower per message   target <= 3")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
