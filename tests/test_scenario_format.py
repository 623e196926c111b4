"""Bad scenario files are refused, every problem named by file, line and field.

Each case starts from a scenario that reads cleanly and breaks one thing;
``ScenarioError.errors`` lists every problem (sorted by line) and ``duis run``
prints them and exits 2 without running anything.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from duis.cli import main
from duis.scenario import ScenarioError, read_scenario, run_scenario
from duis.scenario.format import NAME_RULE, STEP_KINDS
from duis.signatures import CredentialStore

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "samples" / "worlds" / "default.toml"
REQUEST = ROOT / "samples" / "messages" / "valid" / "ECS52_11.2_read_firmware_version_request.xml"
ESME = "00-DB-12-34-56-78-90-A0"

HEAD = """\
[scenario]
name = "format-check"
description = "a scenario the tests break one field at a time"
world = "world.toml"
start = "2026-03-01T09:00:00Z"
seed = 7
"""

STEPS = f"""\

[[step]]
do = "expect"
note = "the meter starts Commissioned"
device = "{ESME}"
status = "Commissioned"

[[step]]
do = "send"
note = "read the firmware version from a request file"
service = "11.2"
to = "{ESME}"
file = "read.xml"
expect = {{ code = "I99", alerts = {{ baseline = [], default = [] }} }}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A scenario folder with the default world and a request file beside it."""
    shutil.copy(WORLD, tmp_path / "world.toml")
    shutil.copy(REQUEST, tmp_path / "read.xml")
    return tmp_path


def write(folder: Path, text: str, name: str = "bad.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, fragment: str) -> int:
    """1-based number of the first line containing ``fragment``."""
    return next(number for number, line in enumerate(text.splitlines(), start=1)
                if fragment in line)


def problems(path: Path) -> list[ScenarioError]:
    with pytest.raises(ScenarioError) as caught:
        read_scenario(path)
    errors = caught.value.errors
    assert errors[0] is caught.value, "the first problem is the one raised"
    assert [e.line or 0 for e in errors] == sorted(e.line or 0 for e in errors)
    for error in errors:
        assert error.source == str(path)
        assert str(error).startswith(f"{path}:"), str(error)
    return errors


def only(path: Path) -> ScenarioError:
    errors = problems(path)
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


def assert_cli_refuses(path: Path, errors: list[ScenarioError], capsys,
                       tmp_path: Path) -> None:
    out = tmp_path / "transcripts"
    assert main(["run", "-q", "-o", str(out), str(path)]) == 2
    captured = capsys.readouterr()
    printed = captured.err.splitlines()
    assert printed == [f"duis run: {error}" for error in errors]
    assert not out.exists(), "nothing is run when the scenario is refused"


# --- the starting point -----------------------------------------------------------------

def test_the_base_scenario_reads_and_runs(folder: Path):
    scenario = read_scenario(write(folder, HEAD + STEPS, "good.toml"))
    assert scenario.name == "format-check"
    assert scenario.world == folder / "world.toml"
    assert scenario.seed == 7
    assert scenario.profiles == ("baseline", "mp105-option1", "mp105-option2")
    assert [(s.index, s.do) for s in scenario.steps] == [(1, "expect"), (2, "send")]
    assert scenario.steps[1].line == line_of(HEAD + STEPS, 'do = "send"') - 1
    transcript = run_scenario(scenario, "baseline",
                              store=CredentialStore(ROOT / "samples" / "pki"))
    assert transcript.passed, transcript.summary()
    assert [name for name, _ in transcript.files][:1] == ["001-in-request-11.2-cv1.xml"]


# --- one problem each ---------------------------------------------------------------------

def test_toml_syntax_error(folder: Path, capsys, tmp_path: Path):
    text = HEAD + STEPS.replace('status = "Commissioned"', 'status = = "Commissioned"')
    path = write(folder, text)
    error = only(path)
    assert error.message.startswith("not valid TOML")
    assert error.line == line_of(text, "status = =")
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_unknown_step(folder: Path, capsys, tmp_path: Path):
    text = HEAD + STEPS + '\n[[step]]\ndo = "jump"\nnote = "over the fence"\n'
    path = write(folder, text)
    error = only(path)
    assert (error.message, error.path, error.line) == \
        ("unknown step", "step[3].do", line_of(text, 'do = "jump"'))
    assert error.found == "'jump'"
    assert error.expected == "one of " + ", ".join(STEP_KINDS)
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_missing_request_file(folder: Path, capsys, tmp_path: Path):
    text = HEAD + STEPS.replace('file = "read.xml"', 'file = "requests/missing.xml"')
    path = write(folder, text)
    error = only(path)
    assert (error.message, error.path, error.line) == \
        ("request file not found", "step[2].file", line_of(text, "missing.xml"))
    assert error.found == str(folder / "requests" / "missing.xml")
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_unknown_expectation_key(folder: Path, capsys, tmp_path: Path):
    text = HEAD + STEPS.replace('expect = { code = "I99",',
                                'expect = { colour = "red", code = "I99",')
    path = write(folder, text)
    error = only(path)
    assert (error.message, error.path, error.line) == \
        ("unknown expectation", "step[2].expect.colour", line_of(text, "colour"))
    assert error.expected == "one of code, alerts, device_response"
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_unknown_profile_in_a_per_profile_table(folder: Path, capsys, tmp_path: Path):
    text = HEAD + STEPS.replace("baseline = [],", '"mp105-option3" = ["N29"],')
    path = write(folder, text)
    error = only(path)
    assert (error.message, error.path, error.line) == \
        ("unknown profile in expectation", "step[2].expect.alerts.mp105-option3",
         line_of(text, "mp105-option3"))
    assert error.found == "'mp105-option3'"
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_unknown_profile_in_an_expect_step(folder: Path):
    text = HEAD + STEPS.replace('status = "Commissioned"',
                                'status = { basline = "Commissioned" }')
    error = only(write(folder, text))
    assert (error.message, error.path, error.line) == \
        ("unknown profile in expectation", "step[1].status.basline", line_of(text, "basline"))


def test_missing_world(folder: Path, capsys, tmp_path: Path):
    text = HEAD.replace('world = "world.toml"', 'world = "../worlds/nowhere.toml"') + STEPS
    path = write(folder, text)
    error = only(path)
    assert (error.message, error.path, error.line) == \
        ("world file not found", "scenario.world", line_of(text, "nowhere.toml"))
    assert error.found == str(folder / "../worlds/nowhere.toml")
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_bad_eui(folder: Path, capsys, tmp_path: Path):
    text = HEAD + STEPS.replace(f'to = "{ESME}"', 'to = "00-DB-12-34-56-78-90"')
    path = write(folder, text)
    error = only(path)
    assert (error.message, error.path, error.line) == \
        ("not an EUI-64", "step[2].to", line_of(text, 'to = "00-DB'))
    assert error.found == "'00-DB-12-34-56-78-90'"
    assert_cli_refuses(path, [error], capsys, tmp_path)


def test_bad_eui_in_an_expect_step(folder: Path):
    text = HEAD + STEPS.replace(f'device = "{ESME}"', 'device = "meter"')
    error = only(write(folder, text))
    assert (error.message, error.path, error.line) == \
        ("not an EUI-64", "step[1].device", line_of(text, 'device = "meter"'))


def test_missing_required_field_names_the_step(folder: Path):
    text = HEAD + STEPS.replace(f'to = "{ESME}"\n', "")
    error = only(write(folder, text))
    assert (error.message, error.path) == ("missing field", "step[2].to")
    assert error.line == line_of(text, 'do = "send"') - 1, "the line of its [[step]]"


def test_unknown_field_in_a_step(folder: Path):
    text = HEAD + STEPS.replace('service = "11.2"', 'service = "11.2"\nretries = 3')
    error = only(write(folder, text))
    assert (error.message, error.path, error.line) == \
        ("unknown field", "step[2].retries", line_of(text, "retries"))


# --- several problems at once -------------------------------------------------------------

def test_every_problem_is_reported_in_line_order(folder: Path, capsys, tmp_path: Path):
    text = (HEAD.replace('world = "world.toml"', 'world = "missing-world.toml"')
            + STEPS.replace(f'to = "{ESME}"', 'to = "not-an-eui"')
                   .replace('file = "read.xml"', 'file = "gone.xml"')
            + '\n[[step]]\ndo = "jump"\n')
    path = write(folder, text)
    errors = problems(path)
    assert [(e.path, e.line) for e in errors] == [
        ("scenario.world", line_of(text, "missing-world.toml")),
        ("step[2].to", line_of(text, "not-an-eui")),
        ("step[2].file", line_of(text, "gone.xml")),
        ("step[3].do", line_of(text, 'do = "jump"')),
    ]
    assert_cli_refuses(path, errors, capsys, tmp_path)


def test_unreadable_scenario_file(tmp_path: Path, capsys):
    path = tmp_path / "absent.toml"
    error = only(path)
    assert error.message == "cannot read scenario file"
    assert main(["run", str(path)]) == 2
    assert f"duis run: {path}: cannot read scenario file" in capsys.readouterr().err


ALERTS_EXPECTED = ('a list of alert codes such as ["N29"]: the DCC alerts of '
                   'catalogue/codes.toml, or a device alert\'s code in hex ("8F66")')


@pytest.mark.parametrize("old, new, path, expected", [
    ('alerts = { baseline = [], default = [] }', 'alerts = "N29"', "step[2].expect.alerts",
     ALERTS_EXPECTED),
    ('code = "I99"', 'code = "I99", device_response = "losst"',
     "step[2].expect.device_response", "one of answered, lost, no-response, unreachable, none"),
    ('alerts = { baseline = [], default = [] }', 'alerts = { baseline = "N29", default = [] }',
     "step[2].expect.alerts.baseline", ALERTS_EXPECTED),
    # a code duis never raises (a typo) is refused when the scenario is read
    ('alerts = { baseline = [], default = [] }', 'alerts = ["N29", "N92"]',
     "step[2].expect.alerts", ALERTS_EXPECTED),
    ('alerts = { baseline = [], default = [] }', 'alerts = ["8f66"]',
     "step[2].expect.alerts", ALERTS_EXPECTED),
])
def test_expectation_values_are_checked(folder: Path, old, new, path, expected):
    text = HEAD + STEPS.replace(old, new)
    error = only(write(folder, text))
    assert (error.message, error.path, error.expected) == ("bad expectation value", path,
                                                           expected)
    assert error.line == line_of(text, "expect = ")


def test_none_stands_for_no_value(folder: Path):
    text = HEAD + STEPS.replace('status = "Commissioned"',
                                'status = "Commissioned"\nstatus_before_suspension = "none"')
    transcript = run_scenario(read_scenario(write(folder, text, "none.toml")), "baseline",
                              store=CredentialStore(ROOT / "samples" / "pki"))
    assert transcript.passed, transcript.summary()
    assert "status_before_suspension = None: ok" in transcript.summary()


# --- what a fuzzer found: every step field has a type, checked when the file is read --------
# (each of these once raised TypeError, IndexError, OverflowError or ValueError from
# deep inside the run, with a traceback instead of the file, line and field)

SEND = '''
[[step]]
do = "send"
service = "11.2"
to = "00-DB-12-34-56-78-90-A0"
'''
REMOVE = '''
[[step]]
do = "remove-cpl"
manufacturer = "Acme Meters"
model = "AM-E2"
firmware_version = "1.0.0"
'''
ADVANCE = '''
[[step]]
do = "advance"
minutes = 5
'''


@pytest.mark.parametrize("step, old, new, message, field, expected", [
    # a step kind that is not a string (TOML lets it be a table or an array)
    (ADVANCE, 'do = "advance"', "do = {}", "unknown step", "do", "one of send, advance"),
    (ADVANCE, 'do = "advance"', "do = [1]", "unknown step", "do", "one of send, advance"),
    # a body that is not one element
    (SEND, 'to = "00-DB-12-34-56-78-90-A0"',
     'to = "00-DB-12-34-56-78-90-A0"\nbody = "just text"', "body is not one element", "body",
     "one XML element, the request's body"),
    (SEND, 'to = "00-DB-12-34-56-78-90-A0"',
     'to = "00-DB-12-34-56-78-90-A0"\nbody = "<A/><B/>"', "body is not one element", "body",
     "one XML element, the request's body"),
    (SEND, 'to = "00-DB-12-34-56-78-90-A0"',
     'to = "00-DB-12-34-56-78-90-A0"\nbody = "<A>"', "body is not XML", "body",
     "one XML element, the request's body"),
    (SEND, 'to = "00-DB-12-34-56-78-90-A0"',
     'to = "00-DB-12-34-56-78-90-A0"\ncommand_variant = "1"', "bad command variant",
     "command_variant", "an integer from 1 to 8"),
    # a TOML float is not a variant: 11.10 would read as 11.1
    (SEND, 'service = "11.2"', "service = 11.2", "unknown service request", "service",
     'a DUIS service reference variant such as "11.2"'),
    # CPL fields that are not strings reached the SMI's queries
    (REMOVE, 'model = "AM-E2"', 'model = ["AM-E2"]', "bad field", "model", "a non-empty string"),
    (REMOVE, 'manufacturer = "Acme Meters"', "manufacturer = { a = 1 }", "bad field",
     "manufacturer", "a non-empty string"),
    (REMOVE, 'firmware_version = "1.0.0"', 'firmware_version = "1.0.0"\nsmets = "SMETS3"',
     "bad field", "smets", "SMETS1 or SMETS2"),
    # spans Python cannot hold (TOML has inf and nan)
    (ADVANCE, "minutes = 5", "minutes = inf", "bad duration", "minutes", "a number >= 0"),
    (ADVANCE, "minutes = 5", "minutes = nan", "bad duration", "minutes", "a number >= 0"),
    (ADVANCE, "minutes = 5", "minutes = true", "bad duration", "minutes", "a number >= 0"),
    (ADVANCE, "minutes = 5", "minutes = 1e300", "bad advance", "minutes",
     "at most 999,999,999 days in all"),
], ids=["do-table", "do-array", "body-text", "body-two-elements", "body-malformed",
        "command-variant-string", "service-float", "model-array", "manufacturer-table",
        "smets-unknown", "minutes-inf", "minutes-nan", "minutes-bool", "minutes-overflow"])
def test_every_step_field_is_checked_when_read(folder: Path, step, old, new, message, field,
                                                expected):
    text = HEAD + step.replace(old, new)
    error = only(write(folder, text))
    assert (error.message, error.path) == (message, f"step[1].{field}")
    assert error.expected.startswith(expected), error.expected
    assert error.line == line_of(text, new.split("\n")[-1])


def test_a_step_that_is_not_a_table(folder: Path):
    text = "step = [1, 2]\n" + HEAD  # a key above every table: TOML's top level
    errors = problems(write(folder, text))
    assert [(e.message, e.expected, e.found) for e in errors] == [
        ("bad step", "a [[step]] table", "1"), ("bad step", "a [[step]] table", "2")]


def test_a_good_body_is_read_and_sent(folder: Path):
    text = HEAD + SEND.replace('to = "00-DB-12-34-56-78-90-A0"',
                               'to = "00-DB-12-34-56-78-90-A0"\nbody = " <ReadFirmwareVersion/> "'
                               '\nexpect = { code = "I99" }')
    transcript = run_scenario(read_scenario(write(folder, text, "body.toml")), "baseline",
                              store=CredentialStore(ROOT / "samples" / "pki"))
    assert transcript.passed, transcript.summary()


# --- a scenario's name is a folder's name, never a path -------------------------------------
# (``duis run`` replaced ``<name>/<profile>/`` wherever the name pointed: a scenario named
# "/some/folder" emptied /some/folder/baseline, and "../.." reached above the project)

@pytest.mark.parametrize("name", ["/tmp/elsewhere", "../up", "..", ".", "a/b", "a\\\\b",
                                  ".hidden", "trailing ", "x" * 101, "tab\\there"])
def test_a_scenario_name_that_is_a_path_is_refused(folder: Path, name):
    text = HEAD.replace('name = "format-check"', f'name = "{name}"') + STEPS
    error = only(write(folder, text))
    assert (error.message, error.path, error.line) == ("bad scenario name", "scenario.name", 2)
    assert error.expected == NAME_RULE


@pytest.mark.parametrize("name", ["format-check", "mp105 option 2", "v1.2+fix", "é_1", "x"])
def test_plain_names_are_accepted(folder: Path, name):
    text = HEAD.replace('name = "format-check"', f'name = "{name}"') + STEPS
    assert read_scenario(write(folder, text, "good.toml")).name == name


def test_no_folder_outside_the_output_is_touched(folder: Path, tmp_path: Path, capsys,
                                                 monkeypatch):
    victim = tmp_path / "victim" / "baseline"
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    path = write(folder, HEAD.replace('name = "format-check"', f'name = "{victim.parent}"')
                 + STEPS)
    monkeypatch.chdir(folder)
    assert main(["run", "-q", str(path)]) == 2
    assert "bad scenario name" in capsys.readouterr().err
    assert (victim / "keep.txt").read_text() == "precious"
    assert not (folder / "transcripts").exists()


def test_a_scenario_built_in_code_is_held_to_the_same_rule(folder: Path):
    scenario = read_scenario(write(folder, HEAD + STEPS, "good.toml"))
    with pytest.raises(ScenarioError, match="bad scenario name"):
        dataclasses.replace(scenario, name="../elsewhere")
