"""Traps an adaptor team fell into, each checked by running the real thing
(issue: an adaptor team adopts duis in an afternoon)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from duis.cli import main
from duis.gbcs import TopUp, read
from duis.messages import parse_message
from duis.scenario import ScenarioError, read_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "samples" / "worlds" / "default.toml"
ESME = "00-DB-12-34-56-78-90-A0"
COS_REQUEST = ROOT / "samples" / "messages" / "valid" / \
    "CS02b_6.23_update_security_credentials_cos_request.xml"

HEAD = f"""[scenario]
name = "trap"
world = "{WORLD.as_posix()}"
start = "2026-03-01T09:00:00Z"
"""


def top_up(utrn: str, variant: int | None = None, expect: str = "") -> str:
    cv = f"command_variant = {variant}\n" if variant else ""
    return f"""
[[step]]
do = "send"
service = "2.2"
to = "{ESME}"
{cv}body = "<TopUpDevice><UTRN>{utrn}</UTRN></TopUpDevice>"
{expect}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trap.toml"
    path.write_text(text, "utf-8")
    return path


# --- trap 9a: a per-profile table that leaves a profile out ---------------------------

def test_per_profile_alerts_leaving_a_profile_out_are_refused_when_read(tmp_path, capsys):
    path = write(tmp_path, HEAD + top_up(
        "73018450291736450182",
        expect='expect = { code = "I99", alerts = { baseline = [], mp105-option1 = [] } }'))
    with pytest.raises(ScenarioError) as caught:
        read_scenario(path)
    [error] = caught.value.errors if hasattr(caught.value, "errors") else [caught.value]
    assert error.message == "per-profile value leaves profiles out"
    assert error.path == "step[1].expect.alerts"
    assert error.found == "no entry for mp105-option2"
    assert error.line == 11  # the step's expect
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "per-profile value leaves profiles out" in err and "Traceback" not in err


def test_a_default_covers_the_profiles_left_out(tmp_path):
    path = write(tmp_path, HEAD + top_up(
        "73018450291736450182",
        expect='expect = { code = "I99", alerts = { baseline = [], default = [] } }'))
    transcript = run_scenario(read_scenario(path), "mp105-option2")
    assert [c.passed for c in transcript.checks] == [True, True]


# --- trap 9b: 2.2 and 6.23 answered by a device -------------------------------------------

def test_top_up_and_credentials_update_run_end_to_end(tmp_path):
    cos = COS_REQUEST.read_text("utf-8")
    body = cos[cos.index("<sr:UpdateSecurityCredentialsCoS>"):cos.index("</sr:Body>")]
    text = HEAD + top_up("73018450291736450182", expect=(
        'expect = { code = "I99", device_response = "answered", alerts = [] }')) + f'''
[[step]]
do = "send"
service = "6.23"
to = "{ESME}"
body = """{body.replace("sr:", "")}"""
expect = {{ code = "I99", device_response = "answered" }}
'''
    transcript = run_scenario(read_scenario(write(tmp_path, text)), "mp105-option2")
    assert transcript.checks and all(c.passed for c in transcript.checks), transcript.checks
    replies = [name for name, _ in transcript.files if "device-response" in name]
    assert len(replies) == 2
    # the MMC output format has no element for these replies: the DUIS message is the record
    assert not any(name.endswith(".mmc.xml") for name, _ in transcript.files)


# --- trap 9c: command variant 2 is local delivery, not the WAN ----------------------------

@pytest.mark.parametrize("variant, over_the_wan", [(2, False), (3, True)])
def test_local_delivery_returns_the_command_and_goes_over_the_wan_only_for_cv3(
        tmp_path, variant, over_the_wan):
    code = '"I0"'  # the answer is the command for local delivery, either way
    delivery = '"answered"' if over_the_wan else '"none"'
    path = write(tmp_path, HEAD + top_up(
        "73018450291736450182", variant,
        expect=f"expect = {{ code = {code}, device_response = {delivery} }}"))
    transcript = run_scenario(read_scenario(path), "mp105-option2")
    assert transcript.checks and all(c.passed for c in transcript.checks), transcript.checks
    answers = [xml for name, xml in transcript.files if name.endswith(".xml")
               and "-out-response-I0-" in name]
    assert len(answers) == 1, [name for name, _ in transcript.files]
    local = parse_message(answers[0])
    command = read(base64.b64decode(local.body.text_at("LocalCommand/GBCSPayload")))
    assert isinstance(command.payload, TopUp)
    assert command.payload.utrn == "73018450291736450182"
    assert str(command.target) == ESME
    sent_to_device = [name for name, _ in transcript.files if "device-response" in name]
    assert bool(sent_to_device) is over_the_wan


# --- trap 10: MP202's OTA rule holds for 11.1 as for 11.4 --------------------------------

KEYPAD, SMETS1_HUB = "00-DB-12-34-56-78-90-A4", "00-DB-12-34-56-78-91-B1"
SMETS1_IMAGE = "S2V5cGFkIENvL0tQLVAxLzEuMy9TTUVUUzE="  # Keypad Co/KP-P1/1.3/SMETS1


def keypad_in_a_smets1_system(settings: str = "") -> str:
    return HEAD + settings + f'''
[[step]]
do = "join"
device = "{KEYPAD}"
hub = "{SMETS1_HUB}"

[[step]]
do = "send"
service = "11.1"
to = "90-B3-D5-1F-30-00-00-02"
body = """<UpdateFirmware>
  <FirmwareImage>{SMETS1_IMAGE}</FirmwareImage>
  <FirmwareVersion>1.3</FirmwareVersion>
  <DeviceIDList>{KEYPAD}</DeviceIDList>
</UpdateFirmware>"""
expect = {{ code = "I0" }}
'''


def _answer_and_deliveries(transcript):
    [answer] = [xml for name, xml in transcript.files if "-out-response-I0-" in name]
    return parse_message(answer), transcript


def test_an_11_1_image_for_a_dual_mode_ppmid_in_a_smets1_system_is_not_sent(tmp_path):
    scenario = read_scenario(write(tmp_path, keypad_in_a_smets1_system()))
    rig_state = {}
    transcript = run_scenario(scenario, "mp105-option2",
                              after=lambda dsp: rig_state.update(dsp=dsp))
    assert transcript.checks and all(c.passed for c in transcript.checks)
    answer, _ = _answer_and_deliveries(transcript)
    warning = answer.body.find("DSPUpdateFirmwareWarning")
    assert warning is not None
    assert warning.text_at("NotApplicableFirmwareDeviceIDList") == KEYPAD
    device = rig_state["dsp"].network.device(KEYPAD)
    assert device.held_image is None  # nothing went over the air


def test_the_mp202_setting_lets_an_11_1_reach_it(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text("[dual_mode_ppmid]\nota_in_smets1_systems = true\n", "utf-8")
    text = keypad_in_a_smets1_system(f'settings = "{settings.as_posix()}"\n')
    rig_state = {}
    transcript = run_scenario(read_scenario(write(tmp_path, text)), "mp105-option2",
                              after=lambda dsp: rig_state.update(dsp=dsp))
    answer, _ = _answer_and_deliveries(transcript)
    assert answer.body.find("DSPUpdateFirmwareWarning") is None
    assert rig_state["dsp"].network.device(KEYPAD).held_image is not None


# --- trap 8: a driven clock never goes back, and the outbox keeps its time ----------------

def test_restarting_a_driven_clock_on_its_smi_never_goes_back(tmp_path):
    import datetime as dt

    from duis.serve import Client, ServeConfig, ServerThread
    from duis.serve.config import ConfigError

    smi = tmp_path / "smi.sqlite"
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    moved = dt.datetime(2026, 3, 5, 9, 0, tzinfo=dt.UTC)
    with ServerThread(ServeConfig(port=0, smi=smi, clock="driven", now=start)) as server, \
            Client(server.url) as client:
        client.set_clock(moved)
    with pytest.raises(ConfigError) as caught:
        ServerThread(ServeConfig(port=0, smi=smi, clock="driven", now=start)).start()
    assert caught.value.message == "the driven clock would go backwards"
    assert caught.value.expected == ("--now at or after 2026-03-05T09:00:00.000Z, "
                                     "where this SMI's clock stands")
    assert caught.value.found == "2026-03-01T09:00:00.000Z"
    # at or after where it stood, it starts
    with ServerThread(ServeConfig(port=0, smi=smi, clock="driven", now=moved)) as server, \
            Client(server.url) as client:
        assert client.health()["now"] == "2026-03-05T09:00:00.000Z"


def test_outbox_times_are_the_driven_clock_s():
    import datetime as dt

    from duis.clock import FixedClock
    from duis.serve.outbox import Message, Outbox

    clock = FixedClock(dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    outbox = Outbox(None, clock=clock)
    [first, second] = outbox.add([
        Message("90-B3-D5-1F-30-01-00-00", "dcc-alert", "N29", b"<x/>", "test"),
        Message("90-B3-D5-1F-30-05-00-00", "dcc-alert", "N29", b"<y/>", "test")])
    clock.advance(seconds=60)
    outbox.delivered(first)
    entries = {e.seq: e for e in outbox.entries()}
    assert entries[first].queued_at == "2030-01-02T03:04:05.000Z"
    assert entries[first].delivered_at == "2030-01-02T03:05:05.000Z"
    assert entries[second].delivered_at is None
    # how long a message has waited is wall time, whatever the driven clock shows
    health = outbox.health()
    assert health["pending"] == 1 and health["oldest_pending"]["seq"] == second
    assert 0 <= health["oldest_pending_seconds"] < 30


# --- trap 7: duis world check's exit codes, and every error at once ------------------------

BROKEN_WORLD = """[world]
format = 1

[[users]]
eui = "90-B3-D5-1F-30-01-00-00"
name = "Supplier A"
roles = ["IS", "XX"]

[[users]]
eui = "90-B3-D5-1F-30-03-00-00"
name = "Network Operator"
roles = ["ED"]

[[cpl]]
manufacturer = "Acme"
model = "M1"
firmware_version = "1.0"
smets = "SMETS2"

[[devices]]
eui = "00-DB-12-34-56-78-90-A1"
device_type = "CHF"
manufacturer = "Acme"
model = "M1"
smets = "SMETS2"
status = "Commissioned"
firmware_version = "1.0"

[[devices]]
eui = "00-DB-12-34-56-78-90-A0"
device_type = "ESMX"
manufacturer = "Acme"
model = "M1"
smets = "SMETS3"
status = "Commissioned"
firmware_version = "1.0"
hub = "00-DB-12-34-56-78-90-A1"
supplier = "90-B3-D5-1F-30-01-00-00"

[[devices]]
eui = "00-DB-12-34-56-78-90-A2"
device_type = "ESME"
manufacturer = "Acme"
model = "M1"
smets = "SMETS2"
status = "Comissioned"
firmware_version = "1.0"
hub = "00-DB-12-34-56-78-90-A0"
supplier = "90-B3-D5-1F-30-01-00-00"

[[devices]]
eui = "00-DB-12-34-56-78-90-A3"
device_type = "ESME"
manufacturer = "Acme"
model = "M1"
smets = "SMETS2"
status = "Commissioned"
firmware_version = "1.0"
hub = "00-DB-12-34-56-78-90-A2"
supplier = "90-B3-D5-1F-30-03-00-00"
"""


def test_world_check_reports_every_error_at_once_and_no_knock_on(tmp_path, capsys):
    import json
    path = tmp_path / "world.toml"
    path.write_text(BROKEN_WORLD, "utf-8")
    assert main(["world", "check", "--json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    found = [(e["path"], e["message"]) for e in report["errors"]]
    assert found == [
        ("users[1].roles", "unknown or missing role"),
        ("devices[2].device_type", "unknown device type"),   # both fields of one entry
        ("devices[2].smets", "unknown smets"),
        ("devices[3].status", "unknown status"),
        # its hub is a device whose own type is wrong: nothing more to say about it;
        # its supplier's roles are wrong: reported there, not as a knock-on here
        ("devices[4].hub", "hub is not a comms hub"),          # an ESME, with a bad status
        ("devices[4].supplier", "supplier has no supplier role"),
    ]


def test_world_check_exit_codes_are_those_its_help_gives(tmp_path, capsys):
    assert main(["world", "check", str(tmp_path / "absent.toml")]) == 2
    err = capsys.readouterr().err
    assert "cannot read world file" in err and "No such file or directory" in err
    assert "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[world\n", "utf-8")
    assert main(["world", "check", str(bad)]) == 1       # read, and not a valid world
    assert main(["world", "check", str(WORLD)]) == 0
    assert "Exit status: 0 valid, 1 invalid, 2 unreadable" in " ".join(
        _help(["world", "--help"]).split())


def _help(argv: list[str]) -> str:
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(argv)
    return out.getvalue()
