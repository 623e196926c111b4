"""Signature figures: sign and verify a CS08 11.2 request, against raw ECDSA,
signxml and the DCC's own tool in a warm JVM, side by side in this run.

Targets (issue): medians sign <= 100 us, verify <= 150 us; duis signing +
validating + verifying >= 10x faster than the DCC tool's Sign + Validate.
The tool part needs Java and the tool (fetched with npm into ~/.cache/duis);
without them it is skipped with the reason.
"""

from __future__ import annotations

import datetime as dt
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from duis.messages import build, node, request
from duis.signatures import CredentialStore, dcctool, sign, sign_with_store, verify

ROOT = Path(__file__).resolve().parents[1]
N = 3000
WARMUP = 300
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
SUPPLIER, DEVICE = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A4"
VALIDATE_TREE = "schema validation of the verified tree"
VALIDATE_BYTES = "schema validation (parse + validate)"
TOOL_WARMUP, TOOL_N = 5000, 2000


def cs08_request() -> bytes:
    return build(request(SUPPLIER, DEVICE, 1001, "11.2", node("ReadFirmwareVersion")))


def median_us(func, n: int = N, warmup: int = WARMUP) -> float:
    for _ in range(warmup):
        func()
    clock = time.perf_counter_ns
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            start = clock()
            func()
            samples.append(clock() - start)
    finally:
        gc.enable()
    return statistics.median(samples) / 1000


def duis_figures(store: CredentialStore, message: bytes) -> dict[str, float]:
    credential = store.signing_credential(SUPPLIER, now=NOW)
    key, cert = credential.private_key, credential.certificate
    signed = sign_with_store(message, store, preserve_counter=True, now=NOW)
    figures = {
        "sign (store lookup, RequestID)": median_us(
            lambda: sign_with_store(message, store, preserve_counter=True, now=NOW)),
        "sign (key and certificate given)": median_us(lambda: sign(message, key, cert)),
        "verify": median_us(lambda: verify(signed, store, now=NOW)),
    }
    try:
        from duis.schema import check_tree, load_schema
        from duis.xmlparse import parse_bytes
        schema = load_schema()
        verified = verify(signed, store, now=NOW).tree
        figures[VALIDATE_TREE] = median_us(lambda: check_tree(verified, schema))
        figures[VALIDATE_BYTES] = median_us(lambda: check_tree(parse_bytes(signed), schema))
    except ImportError:  # the schema layer is optional for this benchmark
        pass
    data = b"x" * 600
    ecdsa = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    der = key.sign(data, ecdsa)
    figures["raw ECDSA P-256 sign"] = median_us(lambda: key.sign(data, ecdsa))
    figures["raw ECDSA P-256 verify"] = median_us(
        lambda: credential.public_key.verify(der, data, ecdsa))
    figures.update(signxml_figures(key, cert, message))
    return figures


def signxml_figures(key, cert, message: bytes) -> dict[str, float]:
    from lxml import etree
    from signxml import (CanonicalizationMethod, DigestAlgorithm, SignatureConfiguration,
                         SignatureMethod, XMLSigner, XMLVerifier)
    signer = XMLSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    root = etree.fromstring(message)
    signed = etree.tostring(signer.sign(root, key=key, cert=[cert]))
    config = SignatureConfiguration(location="./", verification_time=NOW,
                                    signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}))
    n = N // 5
    return {"signxml sign (for reference)": median_us(
                lambda: signer.sign(etree.fromstring(message), key=key, cert=[cert]), n, 30),
            "signxml verify (for reference)": median_us(
                lambda: XMLVerifier().verify(signed, x509_cert=cert, expect_config=config),
                n, 30)}


def tool_figures(message: bytes, work: Path) -> tuple[dict[str, float] | None, str]:
    """Median Sign and Validate times of the DCC tool in a warm JVM, or why not."""
    try:
        jar = dcctool.tool_jar()
        java = dcctool.java()
    except dcctool.ToolUnavailable as exc:
        return None, str(exc)
    javac = shutil.which("javac")
    if not javac:
        return None, "javac not installed (needed to compile benchmarks/java/ToolBench.java)"
    classes = work / "classes"
    classes.mkdir()
    source = ROOT / "benchmarks" / "java" / "ToolBench.java"
    compiled = subprocess.run([javac, "-cp", str(jar), "-d", str(classes), str(source)],
                              capture_output=True, text=True)
    if compiled.returncode != 0:
        return None, f"javac failed: {compiled.stderr.strip()[-300:]}"
    store = CredentialStore(dcctool.extract_credentials(work / "zaz1", jar))
    unsigned, signed = work / "unsigned.xml", work / "signed.xml"
    unsigned.write_bytes(message)
    signed.write_bytes(sign_with_store(message, store, preserve_counter=True))
    classpath = f"{jar}{':' if sys.platform != 'win32' else ';'}{classes}"
    run = subprocess.run([java, "-cp", classpath, "ToolBench", str(unsigned), str(signed),
                          str(TOOL_WARMUP), str(TOOL_N)], capture_output=True, text=True,
                         timeout=900)
    if run.returncode != 0:
        return None, f"ToolBench failed: {run.stderr.strip()[-300:]}"
    values = dict(part.split("=") for part in run.stdout.split())
    return {"sign": float(values["sign_us"]), "validate": float(values["validate_us"])}, ""


def main() -> None:
    message = cs08_request()
    store = CredentialStore(ROOT / "samples" / "pki")
    figures = duis_figures(store, message)
    print(f"CS08 11.2 request ({len(message)} bytes), medians over {N} runs:")
    for name, value in figures.items():
        print(f"  {name:<40} {value:8.1f} us")
    sign_us = figures["sign (store lookup, RequestID)"]
    verify_us = figures["verify"]
    print(f"  targets: sign <= 100 us [{'ok' if sign_us <= 100 else 'MISSED'}], "
          f"verify <= 150 us [{'ok' if verify_us <= 150 else 'MISSED'}]")
    with tempfile.TemporaryDirectory(prefix="duis-bench-") as folder:
        tool, reason = tool_figures(message, Path(folder))
    if tool is None:
        print(f"  DCC tool: skipped ({reason})")
        return
    duis_total = sign_us + verify_us + figures.get(VALIDATE_TREE, 0.0)
    tool_total = tool["sign"] + tool["validate"]
    print(f"DCC tool in a warm JVM (medians over {TOOL_N} runs after {TOOL_WARMUP} warm-up "
          f"runs; Sign and Validate each parse and validate against the XSD):")
    print(f"  {'tool Sign':<40} {tool['sign']:8.1f} us")
    print(f"  {'tool Validate':<40} {tool['validate']:8.1f} us")
    print(f"  {'tool Sign + Validate':<40} {tool_total:8.1f} us")
    print(f"  {'duis sign + verify + validate':<40} {duis_total:8.1f} us")
    ratio = tool_total / duis_total
    print(f"  ratio: duis is {ratio:.1f}x faster (target >= 10x) "
          f"[{'ok' if ratio >= 10 else 'MISSED'}]")
    strict = sign_us + verify_us + 2 * figures.get(VALIDATE_BYTES, 0.0)
    print(f"  (parsing and validating the input both before signing and before verifying, "
          f"as the tool does: {strict:.1f} us, {tool_total / strict:.1f}x)")

if __name__ == "__main__":
    main()
