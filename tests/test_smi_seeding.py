"""A new SMI file is seeded atomically: concurrent openers see the whole world or no file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from duis.smi import SmiError, WorldError, open_smi

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "samples" / "worlds" / "default.toml"
READ = ROOT / "samples" / "messages" / "valid" / "ECS52_11.2_read_firmware_version_request.xml"


def test_a_new_file_is_created_seeded_and_reopened_as_is(tmp_path: Path):
    path = tmp_path / "smi.sqlite"
    inventory, created = open_smi(path, WORLD)
    inventory.close()
    assert created and path.exists()
    again, created = open_smi(path, WORLD)
    again.close()
    assert not created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smi.sqlite"], \
        "no seeding file, journal or WAL is left behind"


def test_a_world_that_fails_leaves_no_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[world]\nformat = 1\n[[devices]]\neui = 'nope'\n")
    with pytest.raises(WorldError):
        open_smi(tmp_path / "smi.sqlite", bad)
    assert list(tmp_path.iterdir()) == [bad]


def test_an_unwritable_place_is_a_clean_error(tmp_path: Path):
    with pytest.raises(SmiError) as caught:
        open_smi(tmp_path / "missing-dir" / "smi.sqlite", WORLD)
    assert "cannot create the SMI file" in str(caught.value)


@pytest.mark.slow
def test_concurrent_submits_on_a_new_file_all_find_the_device(tmp_path: Path):
    """Six ``duis submit --smi new.sqlite`` at once: each one sees the seeded world
    (before, one could open the file between its creation and its seeding and answer
    'no such device')."""
    signed = subprocess.run([sys.executable, "-m", "duis.cli", "sign", "--preserve-counter",
                             str(READ)], capture_output=True, check=True).stdout
    request = tmp_path / "signed.xml"
    request.write_bytes(signed)
    for round_ in range(2):
        smi = tmp_path / f"new{round_}.sqlite"
        runs = [subprocess.Popen([sys.executable, "-m", "duis.cli", "submit", "--now",
                                  "2026-03-01T00:00:00Z", "--smi", str(smi), "--json",
                                  str(request)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(6)]
        results = [run.communicate(timeout=60) + (run.returncode,) for run in runs]
        for out, err, code in results:
            assert code == 0, err.decode()
            assert b'"I99"' in out, out.decode()[:400]
