"""SMI figures: building 1,000,000 devices, lookups, and a CPL removal suspending 100,000.

Prints figures measured in this run.  Targets (DSP core issue): device and
user lookups of a few microseconds against 1M devices (the authorisation
checks get 50 us in all); a CPL removal that suspends 100,000 devices in
< 5 s with peak memory < 500 MB (VmHWM of a fresh process doing only that).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from duis.clock import FixedClock
from duis.smi import CplEntry, Device, SqliteInventory, User

DEVICES = 1_000_000
LOOKUPS = 10_000
SUPPLIER, OPERATOR = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-03-00-00"
MEMBERS = ("ESME", "GSME", "PPMID", "IHD")
TARGET = ("Bench Meters", "BM-E", "1.0", "SMETS2")
CLOCK = FixedClock(dt.datetime(2024, 1, 1))


def eui(n: int) -> str:
    text = f"{0x00DB000000000000 + n:016X}"
    return "-".join(text[i:i + 2] for i in range(0, 16, 2))


def world_devices(count: int):
    """Systems of five: a comms hub then ESME, GSME, PPMID, IHD; half the ESMEs run 1.0."""
    for n in range(count):
        system, member = divmod(n, 5)
        if member == 0:
            yield Device(eui(n), "CHF", "Bench Comms", "BC-H", "SMETS2", "Commissioned", None,
                         "2.0", None, SUPPLIER, OPERATOR)
            continue
        kind = MEMBERS[member - 1]
        version = ("1.0" if system % 2 == 0 else "1.1") if kind == "ESME" else "3.0"
        model = "BM-E" if kind == "ESME" else f"BM-{kind}"
        yield Device(eui(n), kind, "Bench Meters", model, "SMETS2", "Commissioned", None,
                     version, eui(system * 5), SUPPLIER, OPERATOR)


def build(path: Path, devices: int = DEVICES) -> float:
    start = time.perf_counter()
    with SqliteInventory(path, clock=CLOCK) as inventory:
        with inventory.transaction():
            inventory.add_user(User(SUPPLIER, "Supplier A", frozenset({"IS", "GS"})))
            inventory.add_user(User(OPERATOR, "Network Operator", frozenset({"ED", "GT"})))
            for version in ("1.0", "1.1"):
                inventory.add_cpl_entry(CplEntry(*TARGET[:2], version, "AB" * 32, "SMETS2"))
            inventory.add_devices(world_devices(devices), cause="bench")
    return time.perf_counter() - start


def median_us(func, keys) -> float:
    clock, samples = time.perf_counter_ns, []
    for key in keys:
        start = clock()
        func(key)
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


_REMOVAL_PROBE = r"""
import json, sys, time
from duis.smi import SqliteInventory
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
inventory = SqliteInventory(sys.argv[1])
before = hwm()
start = time.perf_counter()
suspended = inventory.remove_cpl_entry(*json.loads(sys.argv[2]), reason="bench", cause="bench")
seconds = time.perf_counter() - start
print(json.dumps({"suspended": len(suspended), "seconds": seconds, "peak_kb": hwm(),
                  "before_kb": before}))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "smi.sqlite"
        seconds = build(path)
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        print(f"build {DEVICES:,} devices (file, one transaction, audited): {seconds:6.1f} s"
              f"   ({size:.0f} MB on disk)")

        rng = random.Random(0)
        keys = [eui(rng.randrange(DEVICES)) for _ in range(LOOKUPS)]
        absent = [eui(DEVICES + i) for i in range(LOOKUPS)]
        with SqliteInventory(path, clock=CLOCK, cache_size=0) as inventory:
            cold = median_us(inventory.device, keys)  # pages read from the file
            warm = median_us(inventory.device, keys)  # pages in SQLite's page cache
            missing = median_us(inventory.device, absent)
        with SqliteInventory(path, clock=CLOCK) as inventory:
            for key in keys:
                inventory.device(key)
            cached = median_us(inventory.device, keys)
            user = median_us(inventory.user, [SUPPLIER] * LOOKUPS)
        print(f"device(eui), median over {LOOKUPS:,} random EUIs of {DEVICES:,} "
              "(target: a few us):")
        print(f"  SMI cache off: page not yet read {cold:5.2f} us, page cached {warm:5.2f} us,"
              f" absent device {missing:5.2f} us")
        print(f"  SMI cache on, device looked up before: {cached:5.2f} us")
        print(f"user(eui), looked up before: {user:5.2f} us")

        out = subprocess.run([sys.executable, "-c", _REMOVAL_PROBE, str(path), json.dumps(TARGET)],
                             capture_output=True, text=True, check=True).stdout
        figures = json.loads(out)
        print(f"remove_cpl_entry suspending {figures['suspended']:,} devices "
              f"(in a {DEVICES:,}-device file DB):")
        print(f"  {figures['seconds']:6.2f} s   target < 5 s")
        print(f"  peak memory {figures['peak_kb'] / 1024:6.1f} MB (process before removing: "
              f"{figures['before_kb'] / 1024:.1f} MB)   target < 500 MB")


if __name__ == "__main__":
    main()
