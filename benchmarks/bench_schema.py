"""Message-layer figures: validation, parse+validate+type, memory for a 10 MB image.

Prints medians measured in this run.  Targets (issue 2): validation of the CS06
11.3 request <= 40 us; parse + validate + typed object <= 100 us; peak memory
validating an 11.1 request with a 10 MB image < 200 MB.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from duis.messages import build, leaf, node, parse_message, request
from duis.schema import load_schema
from duis.xmlparse import parse_bytes

N = 10_000
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"


def cs06_request() -> bytes:
    body = node("ActivateFirmware", leaf("ExecutionDateTime", "2030-01-15T09:00:00.000Z"),
                leaf("FirmwareHash", "A1" * 32))
    return build(request(SUPPLIER, ESME, 1001, "11.3", body))


def median_us(func, n: int = N) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        func()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


_PEAK_PROBE = r"""
import json, sys
from duis.schema import load_schema, validate
schema = load_schema(); schema.lxml_schema
before = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
report = validate(sys.argv[1], schema)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"verdict": report.verdict, "peak_kb": peak, "before_kb": before}))
"""


def image_request_file(folder: Path) -> Path:
    image = base64.b64encode(bytes(7_680_000)).decode()  # 10,240,000 base64 characters
    body = node("UpdateFirmware", leaf("FirmwareImage", image), leaf("FirmwareVersion", "2.0"),
                leaf("DeviceIDList", ESME))
    path = folder / "update-firmware-10mb.xml"
    path.write_bytes(build(request(SUPPLIER, ESME, 1, "11.1", body)))
    return path


def main() -> None:
    schema = load_schema()
    data = cs06_request()
    tree = parse_bytes(data)
    assert schema.lxml_schema.validate(tree)
    for _ in range(1000):  # warm up
        schema.lxml_schema.validate(tree)
        parse_message(data, schema=schema)
    validate_us = median_us(lambda: schema.lxml_schema.validate(tree))
    parse_us = median_us(lambda: parse_bytes(data))
    full_us = median_us(lambda: parse_message(data, schema=schema))
    print(f"CS06 11.3 request, {len(data)} bytes, medians over {N} messages:")
    print(f"  validate (bundled schema, lxml)      {validate_us:7.1f} us   target <= 40 us")
    print(f"  safe parse alone                     {parse_us:7.1f} us")
    print(f"  parse + validate + typed object      {full_us:7.1f} us   target <= 100 us")
    with tempfile.TemporaryDirectory() as folder:
        path = image_request_file(Path(folder))
        out = subprocess.run([sys.executable, "-c", _PEAK_PROBE, str(path)],
                             capture_output=True, text=True, check=True).stdout
        figures = json.loads(out)
        print(f"11.1 request with a 10,240,000-character image ({path.stat().st_size} bytes):")
        print(f"  verdict {figures['verdict']}, peak memory {figures['peak_kb'] / 1024:.1f} MB "
              f"(process before validating: {figures['before_kb'] / 1024:.1f} MB)"
              f"   target < 200 MB")


if __name__ == "__main__":
    main()
