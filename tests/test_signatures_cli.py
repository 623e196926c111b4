"""``duis sign`` and ``duis verify`` on files, stdin and stdout."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from duis.cli import main
from duis.signatures.profile import SR

ROOT = Path(__file__).resolve().parents[1]
PKI = ROOT / "samples" / "pki"
USER = "90-B3-D5-1F-30-01-00-00"
REQUEST = (f'<?xml version="1.0" encoding="UTF-8"?>\n<sr:Request xmlns:sr="{SR}" '
           f'schemaVersion="5.4">\n  <sr:Header>\n    <sr:RequestID>{USER}:'
           "00-DB-12-34-56-78-90-A0:1000</sr:RequestID>\n    <sr:CommandVariant>1"
           "</sr:CommandVariant>\n    <sr:ServiceReference>11.2</sr:ServiceReference>\n"
           "    <sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>\n  </sr:Header>\n"
           "  <sr:Body>\n    <sr:ReadFirmwareVersion/>\n  </sr:Body>\n</sr:Request>\n").encode()


@pytest.fixture(autouse=True)
def _store(monkeypatch):
    monkeypatch.setenv("DUIS_PKI", str(PKI))


def run(argv: list[str], capsysbinary, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out, err = capsysbinary.readouterr()
    return code, out, err


def test_sign_then_verify_files(tmp_path, capsysbinary):
    source = tmp_path / "request.xml"
    source.write_bytes(REQUEST)
    signed = tmp_path / "signed.xml"
    code, _, _ = run(["sign", "--preserve-counter", "-o", str(signed), str(source)],
                     capsysbinary)
    assert code == 0 and b"<ds:Signature" in signed.read_bytes()
    code, out, _ = run(["verify", str(signed)], capsysbinary)
    assert code == 0
    assert out.startswith(b"<sr:Request") and b"Signature" not in out
    assert b":1000</sr:RequestID>" in out


def test_stdin_to_stdout_and_a_fresh_counter(capsysbinary, monkeypatch):
    code, signed, _ = run(["sign", "-"], capsysbinary, REQUEST, monkeypatch)
    assert code == 0 and b":1000</sr:RequestID>" not in signed
    code, out, _ = run(["verify", "--json", "-"], capsysbinary, signed, monkeypatch)
    report = json.loads(out)
    assert code == 0 and report["verified"] and report["signer"] == USER
    assert int(report["message_id"].rsplit(":", 1)[1]) > 1_600_000_000_000
    assert report["certificate"]["function"] == "xml-sign" and report["roles"] == ["IS"]


def test_fixed_counter_gives_reproducible_bytes(capsysbinary, monkeypatch):
    first = run(["sign", "--counter", "7", "-"], capsysbinary, REQUEST, monkeypatch)[1]
    second = run(["sign", "--counter", "7", "-"], capsysbinary, REQUEST, monkeypatch)[1]
    assert first == second and b":7</sr:RequestID>" in first


def test_explicit_key_and_certificate(capsysbinary, monkeypatch):
    key = PKI / "xml-sign-90B3D51F30010000.key"
    cert = PKI / "xml-sign-90B3D51F30010000.pem"
    code, signed, _ = run(["sign", "--key", str(key), "--cert", str(cert), "--counter", "9",
                           "-"], capsysbinary, REQUEST, monkeypatch)
    assert code == 0
    assert run(["verify", "--report", "-"], capsysbinary, signed, monkeypatch)[0] == 0
    code, _, err = run(["sign", "--key", str(key), "-"], capsysbinary, REQUEST, monkeypatch)
    assert code == 2 and b"--key and --cert" in err


def test_refused_and_unusable_exit_codes(capsysbinary, monkeypatch):
    signed = run(["sign", "--counter", "7", "-"], capsysbinary, REQUEST, monkeypatch)[1]
    tampered = signed.replace(b"ReadFirmwareVersion", b"ReadFirmwareVersiox")
    code, _, err = run(["verify", "-"], capsysbinary, tampered, monkeypatch)
    assert code == 1 and b"signed content changed after signing" in err
    code, out, _ = run(["verify", "--json", "-"], capsysbinary, tampered, monkeypatch)
    report = json.loads(out)
    assert code == 1 and report["error"]["error"] == "DigestMismatch"
    assert report["error"]["path"].endswith("ds:DigestValue")
    code, out, _ = run(["verify", "--report", "-"], capsysbinary, tampered, monkeypatch)
    assert code == 1 and b"refused (DigestMismatch)" in out
    code, out, _ = run(["verify", "--json", "-"], capsysbinary, b"<not xml", monkeypatch)
    assert code == 2 and json.loads(out)["error"]["error"] == "MalformedXML"
    code, _, _ = run(["verify", "-"], capsysbinary, REQUEST, monkeypatch)
    assert code == 1  # unsigned


def test_expired_certificate_and_now(capsysbinary, monkeypatch):
    request = REQUEST.replace(USER.encode(), b"90-B3-D5-1F-30-09-00-00")
    signed = run(["sign", "--now", "2020-06-01", "--counter", "1", "-"], capsysbinary,
                 request, monkeypatch)[1]
    code, out, _ = run(["verify", "--json", "-"], capsysbinary, signed, monkeypatch)
    assert code == 1 and json.loads(out)["error"]["error"] == "CertificateExpired"
    code, _, _ = run(["verify", "--now", "2020-06-01T00:00:00Z", "-"], capsysbinary, signed,
                     monkeypatch)
    assert code == 0


def test_counters_and_roles(tmp_path, capsysbinary, monkeypatch):
    signed = run(["sign", "--counter", "5", "-"], capsysbinary, REQUEST, monkeypatch)[1]
    db = str(tmp_path / "counters.db")
    assert run(["verify", "--counters", db, "--check-roles", "-"], capsysbinary, signed,
               monkeypatch)[0] == 0
    code, out, _ = run(["verify", "--json", "--counters", db, "-"], capsysbinary, signed,
                       monkeypatch)
    assert code == 1 and json.loads(out)["error"]["error"] == "ReplayedCounter"


def test_real_process_pipes(tmp_path):
    """The installed entry point through real pipes, as a script would use it."""
    command = [sys.executable, "-m", "duis.cli"]
    signed = subprocess.run(command + ["sign", "--counter", "3", "-"], input=REQUEST,
                            capture_output=True, check=True).stdout
    result = subprocess.run(command + ["verify", "-"], input=signed, capture_output=True)
    assert result.returncode == 0 and result.stdout.startswith(b"<sr:Request")


# --- huge values: a typed error and its exit code, never a traceback (issue 13) ---------

def _signed_with(tmp_path, counter: str | None = None, serial: str | None = None,
                 issuer: str | None = None) -> Path:
    """A request signed by the test PKI, its counter (signed in) or its KeyInfo
    (after signing) replaced."""
    import re

    from duis.signatures import CredentialStore, sign
    data = REQUEST if counter is None else REQUEST.replace(b":1000<", f":{counter}<".encode())
    store = CredentialStore(PKI)
    credential = store.signing_credential(USER)
    signed = sign(data, credential.private_key, credential.certificate)  # counter kept as is
    if serial is not None:
        signed = re.sub(rb"<ds:X509SerialNumber>\d+<",
                        f"<ds:X509SerialNumber>{serial}<".encode(), signed)
    if issuer is not None:
        signed = re.sub(rb"<ds:X509IssuerName>[^<]+<",
                        f"<ds:X509IssuerName>{issuer}<".encode(), signed)
    path = tmp_path / "huge.xml"
    path.write_bytes(signed)
    return path


@pytest.mark.parametrize("command, code", [
    (["verify", "--now", "2030-01-01"], 1), (["inspect"], 1), (["validate"], 1),
    (["submit", "--now", "2030-01-01"], 1)])
def test_a_5000_digit_counter_is_an_error_not_a_traceback(tmp_path, capsys, command, code):
    path = _signed_with(tmp_path, counter="7" * 5000)
    assert main(command + [str(path)]) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and len(out + err) < 2000
    if command[0] in ("verify", "inspect"):
        assert "counter out of range" in err and "5000 digits" in err


@pytest.mark.parametrize("command, code", [
    (["verify", "--now", "2030-01-01"], 1), (["submit", "--now", "2030-01-01"], 1)])
@pytest.mark.parametrize("change, found", [
    (dict(serial="9" * 5000), "5000 digits"),
    (dict(issuer="CN=" + "Z" * 9997), "10000 characters")], ids=["serial", "issuer"])
def test_a_huge_key_info_is_refused_with_its_length(tmp_path, capsys, command, code, change,
                                                     found):
    path = _signed_with(tmp_path, **change)
    assert main(command + [str(path)]) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and len(out + err) < 2000
    assert found in err


def test_a_huge_serial_in_the_json_report(tmp_path, capsys):
    path = _signed_with(tmp_path, serial="9" * 5000)
    assert main(["verify", "--json", "--now", "2030-01-01", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["error"]["error"] == "KeyInfoNotAllowed"
    assert report["error"]["found"] == "5000 digits"
