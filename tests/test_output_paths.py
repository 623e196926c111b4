"""Where a command writes, it writes only there, whole or not at all, and an output
path it cannot use is refused by name (exit 2), never with a traceback.

Each case once gave a traceback (exit 1); the file or symbolic link in the way of
a transcript folder was also renamed to a hidden ``.baseline.old.<pid>`` and left.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from duis.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "samples/scenarios/mp105-gsme-recovery.toml"
REQUEST = ROOT / "samples/messages/valid/CS06_11.3_immediate_request.xml"


def refused(capsys, argv: list[str], why: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err, err


def test_a_file_where_a_transcript_folder_goes_is_left_alone(tmp_path, capsys):
    (tmp_path / "baseline").write_text("mine")
    refused(capsys, ["run", "-q", "--profile", "baseline", "-o", str(tmp_path), str(SCENARIO)],
            "cannot write the folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline"]
    assert (tmp_path / "baseline").read_text() == "mine"


def test_a_symbolic_link_where_a_transcript_folder_goes_is_left_alone(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    (out / "baseline").symlink_to(elsewhere)
    refused(capsys, ["run", "-q", "--profile", "baseline", "-o", str(out), str(SCENARIO)],
            "found a symbolic link")
    assert sorted(p.name for p in out.iterdir()) == ["baseline"]
    assert (elsewhere / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["file/under", "/proc/duis-cannot-write-here"])
def test_a_transcript_folder_that_cannot_be_made_is_refused(tmp_path, capsys, where):
    (tmp_path / "file").write_text("x")
    target = tmp_path / where if not where.startswith("/") else Path(where)
    refused(capsys, ["run", "-q", "--profile", "baseline", "-o", str(target), str(SCENARIO)],
            "cannot write the folder")


def test_a_transcript_folder_is_as_open_as_any_new_folder(tmp_path, capsys):
    # mkdtemp made it private (0700) whatever the umask
    assert main(["run", "-q", "--profile", "baseline", "-o", str(tmp_path), str(SCENARIO)]) == 0
    mask = os.umask(0)
    os.umask(mask)
    made = stat.S_IMODE((tmp_path / "baseline").stat().st_mode)
    assert made == 0o777 & ~mask


@pytest.mark.parametrize("output", ["/", "."])
def test_an_output_file_that_is_a_folder_is_refused(tmp_path, capsys, output):
    refused(capsys, ["sign", "-o", output, str(REQUEST)], "cannot write the output file")


@pytest.mark.parametrize("argv", [
    ["sign", "-o", "", str(REQUEST)],
    ["validate", "--junit-xml", "", str(REQUEST)],      # wrote nothing, exit 0
    ["simulate", "--plot", "", "--devices", "20"],      # wrote nothing, exit 0
    ["pki", "export-devices", "--out", ""],             # wrote into the current folder
])
def test_an_empty_output_path_is_a_usage_error(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "expected a path, found an empty one" in capsys.readouterr().err


def test_a_key_folder_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    refused(capsys, ["pki", "export-devices", "--out", str(tmp_path / "file" / "keys")],
            "cannot make the folder")


def test_a_receiving_folder_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    refused(capsys, ["receive", "--port", "0", "--dir", str(tmp_path / "file")],
            "cannot make the folder")


# --- options every command reads the same way ------------------------------------------------



@pytest.mark.parametrize("argv", [
    ["sign", "--now", "garbage", str(REQUEST)],
    ["verify", "--now", "2026-02-30", str(REQUEST)],
    ["verify", "--now", "0001-01-01T00:00:00+14:00", str(REQUEST)],   # before the calendar
    ["submit", "--now", "nan", str(REQUEST)],
    ["send", "--now", "x", "--to", "http://127.0.0.1:1", str(REQUEST)],
    ["serve", "--port", "0", "--now", "x"],
])
def test_a_bad_instant_is_refused_by_name(capsys, argv):
    # each was a ValueError traceback (exit 1) in these commands
    refused(capsys, argv, "command line: not an instant (at --now)")


def test_receive_refuses_a_bad_instant_before_it_makes_its_folder(tmp_path, capsys):
    refused(capsys, ["receive", "--port", "0", "--now", "x", "--dir", str(tmp_path / "in")],
            "not an instant")
    assert not (tmp_path / "in").exists()


@pytest.mark.parametrize("argv, why", [
    (["serve", "--port", "70000"], "bad --port"),
    (["serve", "--port", "-1"], "bad --port"),
    (["serve", "--port", "0", "--smki-port", "70000"], "bad --smki-port"),
    (["send", "--to", "http://127.0.0.1:99999", str(REQUEST)], "bad server URL"),
    (["send", "--to", "http://[::1", str(REQUEST)], "bad server URL"),
    (["send", "--to", "http://127.0.0.1:abc", str(REQUEST)], "bad server URL"),
    (["send", "--timeout", "nan", "--to", "http://127.0.0.1:1", str(REQUEST)], "bad timeout"),
    (["send", "--timeout", "-1", "--to", "http://127.0.0.1:1", str(REQUEST)], "bad timeout"),
])
def test_a_port_url_or_timeout_out_of_range_is_refused(capsys, argv, why):
    # OverflowError and ValueError tracebacks from bind() and urlsplit()
    refused(capsys, argv, why)


def test_receive_refuses_a_bad_port_before_it_makes_its_folder(tmp_path, capsys):
    refused(capsys, ["receive", "--port", "-1", "--dir", str(tmp_path / "in")], "bad --port")
    assert not (tmp_path / "in").exists()


# --- --json is data, a refusal too -----------------------------------------------------------
# (these printed nothing on standard output: a script reading it got no document)

@pytest.mark.parametrize("argv", [
    ["inspect", "--json", "{folder}"],
    ["mmc", "--json", "{binary}"],
    ["submit", "--json", "{binary}"],
    ["validate", "--json", "{folder}"],
    ["gbcs", "decode", "--json", "zz"],
    ["run", "--json", "{folder}"],
])
def test_json_output_of_a_refusal_is_a_document(tmp_path, capsys, argv):
    (tmp_path / "bin.xml").write_bytes(bytes(range(256)))
    (tmp_path / "empty").mkdir()
    argv = [a.format(folder=tmp_path / "empty", binary=tmp_path / "bin.xml") for a in argv]
    assert main(argv) == 2
    out = capsys.readouterr()
    document = json.loads(out.out)
    assert document["exit_code"] == 2 and document["error"]["message"], document
    assert document["error"]["message"] in out.err


def test_gbcs_decode_with_nothing_on_stdin_is_refused(monkeypatch, capsys):
    # max() of no payloads: a ValueError traceback
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\n  \n")))
    refused(capsys, ["gbcs", "decode", "-"], "no payload to decode")


# --- a bad option value is a usage error (exit 2), named by its option ----------------------
# (these exited 1, as if the input had been refused, naming the file or <input>)

@pytest.mark.parametrize("argv, option", [
    (["sign", "--counter", "-1", str(REQUEST)], "--counter"),
    (["sign", "--counter", "18446744073709551616", str(REQUEST)], "--counter"),
    (["translate", "--transaction", "-1", str(REQUEST)], "--transaction"),
    (["translate", "--target", "ZZ", str(REQUEST)], "--target"),
    (["translate", "--device-type", "TOASTER", str(REQUEST)], "--device-type"),
    (["validate", "--max-bytes", "-1", str(REQUEST)], "--max-bytes"),
    (["validate", "--max-bytes", "0", str(REQUEST)], "--max-bytes"),   # was the default
])
def test_a_bad_option_value_is_a_usage_error(capsys, argv, option):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert f"argument {option}: expected" in capsys.readouterr().err


def test_golden_paths_with_no_scenario_are_refused(tmp_path, capsys):
    # "0 transcripts", exit 0: a mistyped folder passed CI unnoticed
    refused(capsys, ["golden", "check", str(tmp_path)], "no scenario found")
    refused(capsys, ["golden", "update", str(tmp_path)], "no scenario found")
    assert main(["golden", "check", "--allow-empty", str(tmp_path)]) == 0
