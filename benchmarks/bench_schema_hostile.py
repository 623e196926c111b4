"""Hostile documents through ``duis validate --json``'s path (issue 13, hole 2).

Each document, up to the 16 MiB input cap, is validated in a child process of
its own (read, safe parse, libxml2 verdict, bounded report), which prints its
CPU time and peak memory (VmHWM); then the slowest document is set beside the
goals: under 1 s of CPU and under 300 MB.  The child's import time and memory
before reading the file are shown apart ("before").
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_schema_hostile import (  # noqa: E402
    deep_attributes,
    long_text,
    namespace_declarations,
    root_attributes,
    siblings,
    wrong_elements,
)

_PROBE = r"""
import json, sys, time
from duis.schema import load_schema, validate
from duis.schema.report import ReportLimits
from duis.xmlparse import ParseLimits
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
schema = load_schema(); schema.lxml_schema
limits, report_limits = ParseLimits.from_env(), ReportLimits.from_env()
before = hwm()
start = time.process_time()
report = validate(sys.argv[1], schema, limits, report_limits)
json.dumps(report.as_dict())
cpu = time.process_time() - start
print(json.dumps({"verdict": report.verdict, "issues": len(report.issues),
                  "truncated": report.truncated, "cpu": cpu,
                  "peak_kb": hwm(), "before_kb": before}))
"""

DOCUMENTS = {
    "2,000 attributes on the root (26 KB)": lambda: root_attributes(2000),
    "1,000,000 attributes on the root": lambda: root_attributes(1_000_000),
    "1,000,000 attributes on a deep element": lambda: deep_attributes(1_000_000),
    "1,000,000 namespaced attributes": lambda: root_attributes(1_000_000, namespaced=True),
    "2,000,000 sibling elements (8 MB)": lambda: siblings(2_000_000),
    "4,000,000 sibling elements (16 MB)": lambda: siblings(4_000_000),
    "16,000,000 characters in FirmwareHash": lambda: long_text(16_000_000),
    "3,000 wrong elements (xmlschema report)": lambda: wrong_elements(3000),
    "4,000,000 wrong elements (16 MB)": lambda: wrong_elements(4_000_000),
    "550,000 namespace declarations": lambda: namespace_declarations(550_000, False),
    # just under the parser's node cap (500,000 '<' and '='): the largest trees built
    "490,000 attributes on the root": lambda: root_attributes(490_000),
    "490,000 sibling elements": lambda: siblings(490_000),
    "245,000 wrong elements": lambda: wrong_elements(245_000),
    "245,000 namespace declarations": lambda: namespace_declarations(245_000, False),
}


def main() -> None:
    cap = 16 * 1024 * 1024
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for title, make in DOCUMENTS.items():
            data = make()
            if len(data) > cap:  # trim the shape to the input cap, not past it
                continue
            path = Path(folder) / "doc.xml"
            path.write_bytes(data)
            out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True,
                                 text=True, timeout=600)
            if out.returncode:
                print(f"  {title}: failed\n{out.stderr[-2000:]}")
                continue
            figures = json.loads(out.stdout)
            rows.append((title, len(data), figures))
            print(f"  {title:42s} {len(data) / 1e6:6.2f} MB  {figures['verdict']:8s} "
                  f"{figures['issues']:3d} issues  cpu {figures['cpu']:5.2f} s  "
                  f"peak {figures['peak_kb'] / 1024:6.1f} MB "
                  f"(before {figures['before_kb'] / 1024:.0f})"
                  + (f"  [{figures['truncated']}]" if figures["truncated"] else ""), flush=True)
    title, size, figures = max(rows, key=lambda row: row[2]["cpu"])
    biggest = max(rows, key=lambda row: row[2]["peak_kb"])
    print(f"slowest: {title}: {figures['cpu']:.2f} s CPU   goal under 1 s")
    print(f"largest: {biggest[0]}: peak {biggest[2]['peak_kb'] / 1024:.0f} MB   goal under 300 MB")


if __name__ == "__main__":
    main()
