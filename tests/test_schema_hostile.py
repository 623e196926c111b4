"""Hostile shapes against the schema check (issue 13, hole 2).

Each document is generated here (nothing big is stored), validated by
``duis validate --json`` in a child process, and judged on its exact verdict,
whether its report says it stopped early, and the child's peak memory
(the child's own VmHWM).  Time is bounded only by the subprocess
timeout, never by a tight timing assertion.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from duis.messages import build, leaf, node, request
from duis.schema import INVALID, UNUSABLE, VALID, ReportLimits, load_schema, validate

ROOT = Path(__file__).resolve().parents[1]
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ESME = "00-DB-12-34-56-78-90-A0"
MB = 1024 * 1024
PEAK_LIMIT = 300 * MB
CROWDED = ("not validated further: an element has more attributes than any element "
           "of the schema accepts")
DS = "http://www.w3.org/2000/09/xmldsig#"


def good() -> bytes:
    return build(request(SUPPLIER, ESME, 1001, "11.3",
                         node("ActivateFirmware", leaf("FirmwareHash", "AB" * 32))))


def _after(data: bytes, marker: bytes, extra: bytes) -> bytes:
    at = data.index(marker) + len(marker)
    return data[:at] + extra + data[at:]


def root_attributes(n: int, namespaced: bool = False) -> bytes:
    names = (b' xmlns:x="urn:x"' + b"".join(b' x:a%d="v"' % k for k in range(n)) if namespaced
             else b"".join(b' a%d="v"' % k for k in range(n)))
    return _after(good(), b"<sr:Request", names)


def deep_attributes(n: int) -> bytes:
    return _after(good(), b"<sr:FirmwareHash", b"".join(b' a%d="v"' % k for k in range(n)))


def siblings(n: int) -> bytes:
    data = good()
    at = data.index(b"</sr:ActivateFirmware>")
    return data[:at] + b"<x/>" * n + data[at:]


def long_text(n: int) -> bytes:
    return good().replace(b"AB" * 32, b"A" * n)


def wrong_elements(n: int) -> bytes:
    """Each child of the strict ##any wildcard of ds:CanonicalizationMethod is an error."""
    signature = (f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>'
                 '<ds:CanonicalizationMethod Algorithm="urn:c">').encode() + b"<x/>" * n + (
        b'</ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="urn:s"/>'
        b'<ds:Reference URI=""><ds:DigestMethod Algorithm="urn:d"/>'
        b'<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>'
        b'<ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>')
    data = good()
    at = data.index(b"</sr:Request>")
    return data[:at] + signature + data[at:]


def namespace_declarations(n: int, valid: bool) -> bytes:
    data = _after(good(), b"<sr:Request",
                  b"".join(b' xmlns:p%d="urn:p%d"' % (k, k) for k in range(n)))
    return data if valid else data.replace(b":1001<", b":01001<")


def run_cli(paths: list[Path], *options: str) -> dict[str, dict]:
    """``duis validate --json`` in a child; its results by file name."""
    result = subprocess.run([sys.executable, "-c", _CHILD, "validate", "--json", *options,
                             *map(str, paths)], capture_output=True, cwd=ROOT, timeout=60)
    assert result.returncode in (0, 1, 2), result.stderr.decode()[-2000:]
    assert b"Traceback" not in result.stderr
    # the child's own peak (the children's figure of this process would include
    # every other test's subprocesses)
    peak = int(result.stderr.decode().rsplit("peak-kb ", 1)[1]) * 1024
    assert peak < PEAK_LIMIT, f"peak {peak / MB:.0f} MB"
    return {Path(r["source"]).name: r for r in json.loads(result.stdout)["results"]}


#: ``duis`` in a child that says its peak memory (KiB) last on stderr
#: (VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child forked from a
#: large test process would report the parent's size)
_CHILD = ("import sys\nfrom duis.cli import main\ncode = main(sys.argv[1:])\n"
          "sys.stdout.flush()\n"
          "print('peak-kb', next(int(line.split()[1]) for line in open('/proc/self/status') "
          "if line.startswith('VmHWM:')), file=sys.stderr)\nsys.exit(code)\n")


# --- small hostile documents (one child for all) -----------------------------------

SMALL = {
    "root-2000-attributes.xml": (root_attributes(2000), INVALID, CROWDED),
    "root-5000-ns-attributes.xml": (root_attributes(5000, namespaced=True), INVALID, CROWDED),
    "deep-5000-attributes.xml": (deep_attributes(5000), INVALID, CROWDED),
    "3000-wrong-elements.xml": (wrong_elements(3000), INVALID, "stopped after 100 errors"),
    "20000-namespaces-valid.xml": (namespace_declarations(20_000, True), VALID, None),
    "20000-namespaces-invalid.xml": (namespace_declarations(20_000, False), INVALID, None),
    "40-unknown-attributes.xml": (root_attributes(40), INVALID, None),
}


def test_small_hostile_documents(tmp_path):
    for name, (data, _, _) in SMALL.items():
        (tmp_path / name).write_bytes(data)
    results = run_cli([tmp_path / name for name in SMALL])
    for name, (_, verdict, truncated) in SMALL.items():
        report = results[name]
        assert (report["verdict"], report["truncated"]) == (verdict, truncated), name
        assert len(report["issues"]) <= 100
    assert len(results["3000-wrong-elements.xml"]["issues"]) == 100
    assert len(results["40-unknown-attributes.xml"]["issues"]) == 40  # xmlschema's detail
    first = results["40-unknown-attributes.xml"]["issues"][0]
    assert first["path"] == "/sr:Request" and "not allowed" in first["reason"]
    crowded = results["deep-5000-attributes.xml"]["issues"][0]
    assert crowded["path"].endswith("/sr:FirmwareHash") and crowded["found"] == "5000 attributes"
    assert results["20000-namespaces-invalid.xml"]["issues"][0]["line"] == 4


# --- large hostile documents, up to the 16 MiB cap (one child: its peak is the
# largest document's, as the process reuses the memory of the one before) ----------

LARGE = {
    "450k-siblings.xml": (lambda: siblings(450_000), INVALID, None, 1),
    "200k-attributes.xml": (lambda: root_attributes(200_000), INVALID, CROWDED, 1),
    "240k-wrong-elements.xml": (lambda: wrong_elements(240_000), INVALID,
                                "stopped after 100 errors", 100),
    # over the parser's node cap (500,000 '<' and '='): refused before any tree is built
    "4m-siblings.xml": (lambda: siblings(4_000_000), UNUSABLE, None, 1),
    "1m-attributes.xml": (lambda: root_attributes(1_000_000), UNUSABLE, None, 1),
    "16mb-text.xml": (lambda: long_text(16_000_000), INVALID, None, 1),
    "200k-namespaces.xml": (lambda: namespace_declarations(200_000, False), INVALID, None, 1),
}


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_large_hostile_documents(tmp_path):
    for name, (make, *_) in LARGE.items():
        (tmp_path / name).write_bytes(make())
    results = run_cli([tmp_path / name for name in LARGE])
    for name, (_, verdict, truncated, issues) in LARGE.items():
        report = results[name]
        assert (report["verdict"], report["truncated"], len(report["issues"])) == \
            (verdict, truncated, issues), name
        if verdict == UNUSABLE:
            assert report["issues"][0]["reason"].startswith("TooManyNodes:"), name


# --- the report's bounds, in process ----------------------------------------------

def test_max_errors_and_text_output(bundled_schema):
    report = validate(wrong_elements(50), bundled_schema, report_limits=ReportLimits(max_errors=7))
    assert report.verdict == INVALID and len(report.issues) == 7
    assert report.truncated == "stopped after 7 errors"
    text = report.render()
    assert "7+ problems" in text and text.endswith("report truncated: stopped after 7 errors")
    exact = validate(wrong_elements(7), bundled_schema, report_limits=ReportLimits(max_errors=7))
    assert len(exact.issues) == 7 and exact.truncated is None


def test_deadline_keeps_what_was_found(bundled_schema):
    _ = load_schema().detailed_schema  # built once, outside the deadline
    report = validate(wrong_elements(2000), bundled_schema,
                      report_limits=ReportLimits(max_errors=2000, seconds=1e-9))
    assert report.verdict == INVALID and len(report.issues) == 1
    assert report.truncated == "time limit 1e-09 s reached"


def test_bad_limits_are_refused_by_name(capsys, tmp_path):
    from duis.cli import main
    (tmp_path / "r.xml").write_bytes(good())
    assert main(["validate", "--max-errors", "0", str(tmp_path / "r.xml")]) == 2
    assert "bad maximum number of errors" in capsys.readouterr().err
