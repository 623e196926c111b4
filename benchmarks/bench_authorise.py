"""Authorisation figures: the DUIS checks for one request against an SMI of 1,000,000 devices.

Target (DSP core issue): median 50 us or better per request.  Each request
targets a different random device, so most device lookups miss the SMI's own
cache (the realistic case); the SMI file is built once and kept in .bench/.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_smi  # noqa: E402  (the 1M-device world builder)

from duis.authorise import authorise  # noqa: E402
from duis.messages import node, request  # noqa: E402
from duis.profiles import profile  # noqa: E402
from duis.smi import SqliteInventory  # noqa: E402

N = 10_000
DSP = "90-B3-D5-1F-30-00-00-02"


def smi_file() -> Path:
    path = HERE.parent / ".bench" / f"smi-{bench_smi.DEVICES}.sqlite"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        seconds = bench_smi.build(partial)
        partial.rename(path)
        print(f"  built {bench_smi.DEVICES} devices in {seconds:.1f} s ({path})")
    return path


def warm(path: Path) -> None:
    """Read the file once so the OS has it in memory, as a running DSP would: the
    figure is the checks' cost, not the disk's (a cold 355 MB file read at random
    costs ~200 us a lookup)."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def main() -> None:
    path = smi_file()
    warm(path)
    inventory = SqliteInventory(path)
    rng = random.Random(7)
    meters = [n for n in range(bench_smi.DEVICES) if n % 5 == 1]  # the ESMEs
    requests = [request(bench_smi.SUPPLIER, bench_smi.eui(rng.choice(meters)), i + 1, "11.2",
                        node("ReadFirmwareVersion")) for i in range(N)]
    chosen = profile("mp105-option2")
    for r in requests[:500]:  # warm the code paths (different devices follow)
        authorise(r, inventory, chosen, DSP)
    samples, codes = [], set()
    clock = time.perf_counter_ns
    for r in requests[500:]:
        start = clock()
        decision = authorise(r, inventory, chosen, DSP)
        samples.append(clock() - start)
        codes.add(decision.code)
    assert codes == {None}, codes
    print(f"authorisation (E1..E19) of an 11.2 request, SMI of {bench_smi.DEVICES} devices, "
          f"random targets, median over {len(samples)}:")
    print(f"  {statistics.median(samples) / 1000:7.1f} us   target <= 50 us")


if __name__ == "__main__":
    main()
