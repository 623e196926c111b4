"""The DSP on the command line: ``duis world check`` and ``duis submit``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from duis.cli import main

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml"
NOW = "2026-03-01T00:00:00Z"


def signed_request(tmp_path: Path, originator_swap: bool = False) -> Path:
    data = REQUEST.read_bytes()
    if originator_swap:  # Supplier B is not responsible for this meter: E4
        data = data.replace(b"90-B3-D5-1F-30-01-00-00:", b"90-B3-D5-1F-30-02-00-00:")
    unsigned = tmp_path / "unsigned.xml"
    unsigned.write_bytes(data)
    out = tmp_path / "signed.xml"
    assert main(["sign", "--preserve-counter", str(unsigned), "-o", str(out)]) == 0
    return out


def test_world_check_valid(capsys):
    assert main(["world", "check", str(ROOT / "samples/worlds/default.toml")]) == 0
    assert "valid (3 users" in capsys.readouterr().out


def test_world_check_names_line_and_field(tmp_path, capsys):
    bad = tmp_path / "w.toml"
    bad.write_text('[[devices]]\neui = "00-DB-12-34-56-78-90-A0"\ndevice_type = "TOASTER"\n'
                   'manufacturer = "M"\nmodel = "X"\nsmets = "SMETS2"\nstatus = "Commissioned"\n'
                   'firmware_version = "1.0"\n')
    assert main(["world", "check", "--json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    error = report["errors"][0]
    assert (error["line"], error["path"], error["found"]) == (3, "devices[1].device_type",
                                                              "'TOASTER'")


def test_submit_accepts_and_answers_i99(tmp_path, capsys):
    signed = signed_request(tmp_path)
    assert main(["submit", "--now", NOW, "--json", str(signed)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decision"] == "accepted"
    assert result["messages"][0]["code"] == "I99"
    assert "<sr:ResponseCode>I99</sr:ResponseCode>" in result["messages"][0]["xml"]


def test_submit_refusal_exits_1_with_the_code(tmp_path, capsys):
    signed = signed_request(tmp_path, originator_swap=True)
    assert main(["submit", "--now", NOW, str(signed)]) == 1
    captured = capsys.readouterr()
    assert "E4" in captured.err
    assert b"<sr:ResponseCode>E4</sr:ResponseCode>" in captured.out.encode()


def test_submit_keeps_state_and_refuses_replays(tmp_path):
    signed = signed_request(tmp_path)
    args = [sys.executable, "-m", "duis.cli", "submit", "--now", NOW,
            "--smi", str(tmp_path / "smi.sqlite"), "--counters", str(tmp_path / "seen.sqlite"),
            str(signed)]
    first = subprocess.run(args, capture_output=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(args, capture_output=True, cwd=ROOT)
    assert again.returncode == 1
    assert b"counter" in again.stderr.lower()
