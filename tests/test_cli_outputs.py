"""The command line's shared options and machine outputs: ``--schema-dir`` on every
command that validates (and that it is the schema used), JSON that is data, JUnit XML."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from duis.cli import build_parser, main
from duis.schema.loader import SCHEMA_DIR_ENV, bundled_dir
from tests.serve_helpers import read_request, start_server, stop

ROOT = Path(__file__).resolve().parents[1]
READ = ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml"
RECOVERY = ROOT / "samples/scenarios/mp105-esme-recovery-by-read.toml"
NOW = "2026-03-01T00:00:00Z"

#: every command that validates DUIS XML, with the arguments it needs besides --schema-dir
VALIDATING = {
    "validate": [str(READ)],
    "inspect": [str(READ)],
    "translate": ["--device-type", "ESME", str(READ)],
    "mmc": [str(READ)],
    "submit": [str(READ)],
    "run": [str(RECOVERY)],
    "golden check": [str(RECOVERY)],
    "golden update": ["{tmp}"],
    "simulate": ["--devices", "10"],
    "serve": ["--port", "0"],
    "send": [str(READ), "--to", "http://127.0.0.1:9"],
    "hub-firmware publish": ["--smi", "{tmp}/s.sqlite", "--deploy", NOW, "--activate", NOW,
                             "M", "X", "1.0"],
    "hub-firmware run": ["--smi", "{tmp}/s.sqlite"],
    "hub-firmware status": ["--smi", "{tmp}/s.sqlite", "00-DB-12-34-56-78-90-A1"],
    "hub-firmware list": ["--smi", "{tmp}/s.sqlite"],
    "suppression-log": ["--smi", "{tmp}/s.sqlite"],
}
#: the commands that read XML without validating it (signatures only, or a world file)
NOT_VALIDATING = ("sign", "verify", "receive", "world")


@pytest.fixture(autouse=True)
def _schema_env(monkeypatch):
    """``--schema-dir`` sets DUIS_SCHEMA_DIR in the process: undone after each test."""
    monkeypatch.setenv(SCHEMA_DIR_ENV, "")           # recorded, so restored afterwards
    monkeypatch.delenv(SCHEMA_DIR_ENV)


@pytest.fixture()
def no_11_2_schema(tmp_path) -> Path:
    """A copy of the bundled schema in which 11.2 (ReadFirmwareVersion) is no request
    body: what the bundled schema accepts there, the copy refuses."""
    folder = tmp_path / "schema-copy"
    shutil.copytree(bundled_dir(), folder)
    main_file = folder / "duis.xsd"
    text = main_file.read_text()
    start = text.index('<xs:element name="ReadFirmwareVersion" type="sr:ReadFirmwareVersion">')
    end = text.index("</xs:element>", start) + len("</xs:element>")
    main_file.write_text(text[:start] + text[end:])
    return folder


def _argv(command: str, tmp_path: Path, *extra: str) -> list[str]:
    args = [a.replace("{tmp}", str(tmp_path)) for a in VALIDATING[command]]
    return [*command.split(), *extra, *args]


def _options(command: str) -> set[str]:
    words = command.split()
    module = words[0].replace("-", "_")
    parser = build_parser(module)
    sub = parser._subparsers._group_actions[0].choices[words[0]]  # type: ignore[union-attr]
    if len(words) > 1:
        sub = sub._subparsers._group_actions[0].choices[words[1]]
    return {o for action in sub._actions for o in action.option_strings}


@pytest.mark.parametrize("command", sorted(VALIDATING))
def test_every_validating_command_has_the_schema_option(command):
    assert "--schema-dir" in _options(command)


@pytest.mark.parametrize("command", NOT_VALIDATING)
def test_commands_that_do_not_validate_have_no_schema_option(command):
    assert "--schema-dir" not in _options(command if command != "world" else "world check")


@pytest.mark.parametrize("command", sorted(VALIDATING))
def test_a_missing_schema_dir_is_reported_before_anything_runs(command, tmp_path, capsys):
    missing = tmp_path / "no-such-schema"
    assert main(_argv(command, tmp_path, "--schema-dir", str(missing))) == 2
    err = capsys.readouterr().err
    assert "schema directory not found" in err and str(missing) in err
    assert not (tmp_path / "s.sqlite").exists()


def test_schema_help_is_the_same_everywhere_and_names_the_environment(capsys):
    helps = set()
    for command in VALIDATING:
        with pytest.raises(SystemExit):
            main([*command.split(), "--help"])
        text = " ".join(capsys.readouterr().out.split())
        start = text.index("--schema-dir DIR validate against")
        helps.add(text[start:text.index("schema bundled with duis", start)])
    assert len(helps) == 1
    assert "DUIS_SCHEMA_DIR" in helps.pop()


def test_not_covered_hint_names_an_option_of_the_command(capsys):
    sample = ROOT / "samples/messages/not-covered/ECS29a_7.1_enable_supply_request.xml"
    assert main(["validate", str(sample)]) == 1
    assert "--schema-dir DIR" in capsys.readouterr().out


def _signed(tmp_path: Path) -> Path:
    signed = tmp_path / "signed.xml"
    assert main(["sign", "--preserve-counter", str(READ), "-o", str(signed)]) == 0
    return signed


def test_validate_inspect_translate_use_the_schema_given(no_11_2_schema, capsys):
    assert main(["validate", str(READ)]) == 0
    capsys.readouterr()
    assert main(["validate", "--schema-dir", str(no_11_2_schema), str(READ)]) == 1
    assert f"invalid ({no_11_2_schema} schema, SR 11.2)" in capsys.readouterr().out
    assert main(["inspect", "--json", "--schema-dir", str(no_11_2_schema), str(READ)]) == 1
    assert json.loads(capsys.readouterr().out)["schema"]["verdict"] == "invalid"
    assert main(["translate", "--device-type", "ESME", "-q", "--schema-dir",
                 str(no_11_2_schema), str(READ)]) == 1
    assert "ReadFirmwareVersion" in capsys.readouterr().err


def test_submit_uses_the_schema_given(tmp_path, no_11_2_schema, capsys):
    signed = _signed(tmp_path)
    assert main(["submit", "--now", NOW, str(signed)]) == 0
    capsys.readouterr()
    assert main(["submit", "--now", NOW, "--schema-dir", str(no_11_2_schema), str(signed)]) == 1
    assert "ReadFirmwareVersion" in capsys.readouterr().err


def test_run_and_golden_check_use_the_schema_given(tmp_path, no_11_2_schema, capsys):
    out = tmp_path / "t"
    assert main(["run", "-q", "--profile", "baseline", "-o", str(out), str(RECOVERY)]) == 0
    assert main(["run", "-q", "--profile", "baseline", "-o", str(out), "--schema-dir",
                 str(no_11_2_schema), str(RECOVERY)]) == 2
    assert "step 7 (send) failed: 1 schema error(s)" in capsys.readouterr().err
    assert main(["golden", "check", "-q", "--schema-dir", str(no_11_2_schema),
                 str(RECOVERY)]) == 2
    assert "ReadFirmwareVersion" in capsys.readouterr().err


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_serve_and_its_worker_processes_use_the_schema_given(tmp_path, no_11_2_schema):
    process, url, log = start_server(tmp_path, "serve", "--workers", "2", "--clock", "driven",
                                     "--now", NOW, "--schema-dir", str(no_11_2_schema))
    try:
        body = read_request("90-B3-D5-1F-30-01-00-00", 1_000)
        post = urllib.request.Request(f"{url}/api/v1/serviceS", data=body,
                                      headers={"Content-Type": "application/xml"})
        try:
            with urllib.request.urlopen(post, timeout=30) as reply:
                answer = reply.read()
        except urllib.error.HTTPError as exc:
            answer = exc.read()
        assert b"ReadFirmwareVersion" in answer, answer[:500]
        assert b"<sr:ResponseCode>I99</sr:ResponseCode>" not in answer
    finally:
        stop(process)


# --- JSON that is data ----------------------------------------------------------------

def test_validate_json_found_is_the_value_and_a_missing_line_is_null(capsys):
    utrn = ROOT / "samples/messages/invalid/2.2_short_utrn_request.xml"
    uncovered = ROOT / "samples/messages/not-covered/ECS29a_7.1_enable_supply_request.xml"
    external = ROOT / "samples/messages/unusable/external_dtd.xml"
    assert main(["validate", "--json", str(utrn), str(uncovered), str(external)]) == 2
    data = json.loads(capsys.readouterr().out)
    assert (data["files"], data["schema"], data["summary"]) == (
        3, "bundled", {"valid": 0, "invalid": 1, "not-covered": 1, "unusable": 1})
    short, not_covered, unusable = data["results"]
    assert short["issues"][0] == {
        "line": 11, "path": "/sr:Request/sr:Body/sr:TopUpDevice/sr:UTRN",
        "reason": "value does not match the pattern of its type",
        "expected": "a value matching [0-9]{20}", "found": "7301845029173645018"}
    assert {k: short[k] for k in ("source", "verdict", "schema", "root",
                                  "service_reference_variant", "truncated")} == {
        "source": str(utrn), "verdict": "invalid", "schema": "bundled",
        "root": "{http://www.dccinterface.co.uk/ServiceUserGateway}Request",
        "service_reference_variant": "2.2", "truncated": None}
    issue = not_covered["issues"][0]
    assert (issue["line"], issue["found"], issue["expected"]) == (
        None, "7.1", "a variant the bundled schema covers")
    assert unusable["issues"][0]["found"] == "http://attacker.example/duis.dtd"


def test_validate_text_has_no_line_placeholder(capsys):
    uncovered = ROOT / "samples/messages/not-covered/ECS29a_7.1_enable_supply_request.xml"
    main(["validate", str(uncovered)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == ("  service reference variant 7.1 is not covered by the bundled schema; "
                        "validate it against the official DUIS schema with --schema-dir DIR "
                        "or DUIS_SCHEMA_DIR=DIR")


def test_inspect_json_is_data_with_stable_keys(capsys):
    sample = ROOT / "samples/messages/valid/CS06_11.3_future_dated_request.xml"
    assert main(["inspect", "--json", str(sample)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "file": str(sample), "message": "request", "schema_version": "5.4", "signed": False,
        "request_id": "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:2005",
        "originator": "90-B3-D5-1F-30-01-00-00", "target": "00-DB-12-34-56-78-90-A0",
        "counter": 2005, "service_reference": "11.3", "service_reference_variant": "11.3",
        "service_name": "Activate Firmware", "in_catalogue": True,
        "service_kind": "critical device command", "eligible_roles": ["GS", "IS"],
        "command_variant": 4,
        "command_variant_meaning": "critical request: the DSP answers with a PreCommand for "
                                   "the user to sign",
        "preceding_request_id": None,
        "body": {"name": "ActivateFirmware", "text": None, "children": [
            {"name": "ExecutionDateTime", "text": "2026-03-09T02:30:00Z", "children": []},
            {"name": "FirmwareHash", "text": "9BC9B87DB00B456CB727B38262F1D5ED824ED59E9A23AD"
                                             "3513184D3F7B413FFC", "children": []}]},
        "schema": {"name": "bundled", "verdict": "valid", "problems": 0,
                   "first_problem": None}}


def test_inspect_json_of_an_alert_and_an_mmc_document(capsys):
    alert = ROOT / "samples/messages/valid/N50_firmware_removed_from_cpl_dcc_alert.xml"
    assert main(["inspect", "--json", str(alert)]) == 0
    facts = json.loads(capsys.readouterr().out)
    del facts["body"]
    assert facts == {
        "file": str(alert), "message": "dcc-alert", "schema_version": "5.4", "signed": False,
        "response_id": "00-DB-12-00-00-00-00-01:90-B3-D5-1F-30-01-00-00:7050",
        "originator": "00-DB-12-00-00-00-00-01", "target": "90-B3-D5-1F-30-01-00-00",
        "request_id": None, "response_code": "I0", "response_code_meaning": "success",
        "response_datetime": "2026-03-02T11:00:00Z", "alert_code": "N50",
        "alert_meaning": "a device reported a firmware version removed from the CPL (not set "
                         "to Suspended)",
        "service_reference_variant": None, "service_name": None, "in_catalogue": False,
        "service_kind": None, "eligible_roles": [],
        "schema": {"name": "bundled", "verdict": "valid", "problems": 0,
                   "first_problem": None}}
    mmc = ROOT / "samples/messages/valid/CS06_11.3_activate_firmware_mmc.xml"
    assert main(["inspect", "--json", str(mmc)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (facts["message"], facts["root"], facts["body"]["name"]) == (
        "mmc", "GBCSResponse", "GBCSResponse")
    assert set(facts) == {"file", "message", "root", "body", "schema"}


def test_inspect_json_of_an_invalid_message_names_the_first_problem(capsys):
    bad = ROOT / "samples/messages/invalid/11.3_unknown_command_variant_request.xml"
    assert main(["inspect", "--json", str(bad)]) == 1
    facts = json.loads(capsys.readouterr().out)
    assert facts["command_variant"] == 10
    assert facts["schema"] == {"name": "bundled", "verdict": "invalid", "problems": 1,
                               "first_problem": "value is not in the enumeration of "
                                                "sr:CommandVariant"}


# --- JUnit XML and golden check --json ---------------------------------------------------

def _junit(path: Path):
    from lxml import etree
    root = etree.parse(str(path)).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return suite


def test_validate_junit_xml(tmp_path, capsys):
    folder = ROOT / "samples/messages"
    good = folder / "valid/8.2_read_inventory_request.xml"
    bad = folder / "invalid/11.3_unknown_command_variant_request.xml"
    uncovered = folder / "not-covered/ECS29a_7.1_enable_supply_request.xml"
    empty = folder / "unusable/empty.xml"
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    assert main(["validate", "-q", "--junit-xml", str(report), str(good), str(bad),
                 str(uncovered), str(empty)]) == 2
    assert "4 files: 1 valid, 1 invalid, 1 not covered, 1 unusable" in capsys.readouterr().out
    assert [p.name for p in report.parent.iterdir()] == ["junit.xml"]   # no temporary left
    suite = _junit(report)
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped")} == {
        "name": "duis validate", "tests": "4", "failures": "2", "errors": "1", "skipped": "0"}
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("classname")) for c in cases] == [
        (str(p), "validate.bundled") for p in (good, bad, uncovered, empty)]
    assert list(cases[0]) == []
    failure = cases[1].find("failure")
    assert failure.get("message") == ("invalid: 1 problem; first: value is not in the "
                                      "enumeration of sr:CommandVariant")
    assert "line 5:" in failure.text and "found:    10" in failure.text
    assert cases[2].find("failure").get("message").startswith(
        "not-covered: 1 problem; first: service reference variant 7.1 is not covered")
    assert cases[3].find("error").get("message") == \
        "unusable: 1 problem; first: MalformedXML: empty input"


@pytest.fixture()
def project(tmp_path) -> Path:
    """A team's folder: a world, a settings file and one scenario (baseline only)."""
    folder = tmp_path / "project"
    (folder / "worlds").mkdir(parents=True)
    shutil.copy(ROOT / "samples/worlds/default.toml", folder / "worlds/default.toml")
    (folder / "scenarios").mkdir()
    shutil.copy(ROOT / "samples/settings/default.toml", folder / "scenarios/settings.toml")
    text = RECOVERY.read_text().replace('seed = 105', 'seed = 105\nprofiles = ["baseline"]')
    (folder / "scenarios/recovery.toml").write_text(text)
    return folder / "scenarios"


def test_golden_check_json_and_junit(project, tmp_path, capsys):
    assert main(["golden", "update", "-q", str(project)]) == 0
    capsys.readouterr()
    report = tmp_path / "golden.xml"
    assert main(["golden", "check", "--json", "--junit-xml", str(report), str(project)]) == 0
    out, err = capsys.readouterr()
    golden = project / "golden/mp105-esme-recovery-by-read/baseline"
    assert json.loads(out) == {
        "summary": {"transcripts": 1, "match": 1, "differ": 0},
        "results": [{"scenario": "mp105-esme-recovery-by-read", "profile": "baseline",
                     "status": "match", "golden": str(golden), "expectations_failed": [],
                     "missing": [], "unexpected": [], "differences": []}],
        "skipped": [str(project / "settings.toml")], "errors": []}
    assert err == ""                                        # --json: nothing but the JSON
    suite = _junit(report)
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "2", "failures": "0", "errors": "0", "skipped": "1"}
    ok, skipped = suite.findall("testcase")
    assert (ok.get("classname"), ok.get("name"), list(ok)) == (
        "golden.mp105-esme-recovery-by-read", "baseline", [])
    assert skipped.find("skipped").get("message") == "not a scenario (no [scenario] table)"

    summary = golden / "summary.txt"
    summary.write_text(summary.read_text() + "an edited line\n")
    (golden / "999-stale.xml").write_text("<x/>")
    assert main(["golden", "check", "--json", "--junit-xml", str(report), str(project)]) == 1
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert (result["status"], result["unexpected"], result["missing"]) == (
        "differ", ["999-stale.xml"], [])
    (difference,) = result["differences"]
    assert difference["file"] == "summary.txt"
    assert "-an edited line" in difference["diff"].splitlines()
    failure = _junit(report).find("testcase/failure")
    assert failure.get("message") == \
        "MISMATCH: 1 file(s) differ, 1 golden(s) no longer produced"
    assert "differs: summary.txt" in failure.text


def test_golden_check_json_of_an_unusable_scenario(project, tmp_path, capsys):
    (project / "broken.toml").write_text('[scenario]\nname = "broken"\n')
    report = tmp_path / "golden.xml"
    assert main(["golden", "check", "--json", "--junit-xml", str(report), str(project)]) == 2
    data = json.loads(capsys.readouterr().out)
    assert (data["summary"], data["results"]) == (
        {"transcripts": 0, "match": 0, "differ": 0}, [])
    assert data["errors"] and all(e["source"] == str(project / "broken.toml")
                                  for e in data["errors"])
    suite = _junit(report)
    assert int(suite.get("errors")) == len(data["errors"]) and suite.get("skipped") == "1"


# --- help that holds after pip install, documents on stdout that end their line ---------

def _parsers():
    """(name, parser) of every command and sub-action, each command registered in full."""
    import argparse

    from duis.cli import COMMANDS

    def walk(parser, name):
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    yield from walk(child, f"{name} {sub}")

    for module in COMMANDS:
        yield from walk(build_parser(module), "duis")


def test_every_positional_argument_is_described():
    import argparse
    undescribed = [(name, action.dest) for name, parser in _parsers()
                   for action in parser._actions
                   if not action.option_strings and not action.help
                   and not isinstance(action, argparse._SubParsersAction)]
    assert undescribed == []


def test_hub_firmware_publish_help_describes_its_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["hub-firmware", "publish", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for line in ("MANUFACTURER the comms hubs' manufacturer", "MODEL the comms hub model",
                 "VERSION the firmware version released"):
        assert line in text


def test_help_names_no_file_of_a_checkout():
    """What ``pip install duis`` installs has no samples/ folder: no help text sends a
    user there (``duis pki`` is another session's and left as it is)."""
    offending = [name for name, parser in _parsers()
                 if "samples/" in parser.format_help() and not name.startswith("duis pki")]
    assert offending == []


def test_documents_on_stdout_end_with_a_newline_files_get_the_bytes(tmp_path, capsysbinary):
    assert main(["sign", "--preserve-counter", str(READ)]) == 0
    printed = capsysbinary.readouterr().out
    assert printed.endswith(b"</sr:Request>\n")
    signed = tmp_path / "signed.xml"
    assert main(["sign", "--preserve-counter", str(READ), "-o", str(signed)]) == 0
    assert signed.read_bytes() == printed[:-1]          # the file: the signed bytes exactly
    assert main(["verify", str(signed)]) == 0
    assert capsysbinary.readouterr().out.endswith(b"</sr:Request>\n")
    assert main(["submit", "--now", NOW, str(signed)]) == 0
    answer = capsysbinary.readouterr().out
    assert answer.endswith(b"</sr:Response>\n") and not answer.endswith(b"\n\n")


@pytest.mark.reference
def test_the_official_schema_given_to_validate_run_and_submit(official_schema_dir, tmp_path,
                                                              capsys):
    """With the DCC's own DUIS 5.4 files: a service the bundled schema does not cover is
    valid, and a shipped scenario runs to its goldens (every message the DSP builds,
    and every request it takes, validated against the official files)."""
    uncovered = ROOT / "samples/messages/not-covered/ECS29a_7.1_enable_supply_request.xml"
    assert main(["validate", "--schema-dir", str(official_schema_dir), str(uncovered)]) == 0
    assert f"valid ({official_schema_dir.resolve()} schema, SR 7.1)" in capsys.readouterr().out
    assert main(["golden", "check", "-q", "--schema-dir", str(official_schema_dir),
                 str(RECOVERY)]) == 0
    assert main(["submit", "--now", NOW, "--schema-dir", str(official_schema_dir),
                 str(_signed(tmp_path))]) == 0


def test_run_json_failures_are_data(project, tmp_path, capsys):
    story = project / "recovery.toml"
    story.write_text(story.read_text().replace('expect = { code = "I0", alerts = [] }',
                                               'expect = { code = "E3", alerts = ["N29"] }'))
    assert main(["run", "--json", "-o", str(tmp_path / "t"), str(story)]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "scenario": "mp105-esme-recovery-by-read",
        "results": [{"profile": "baseline", "passed": False, "messages": 8,
                     "failures": [{"step": 3, "what": "response code", "expected": "E3",
                                   "found": "I0"},
                                  {"step": 3, "what": "alerts", "expected": ["N29"],
                                   "found": []}],
                     "transcript": str(tmp_path / "t" / "baseline")}]}


def test_the_schema_option_ends_with_its_command(no_11_2_schema, capsys):
    """``--schema-dir`` is this process's DUIS_SCHEMA_DIR while its command runs (the
    serve test above shows its workers get it), not for the next call of main."""
    assert main(["validate", "--schema-dir", str(no_11_2_schema), str(READ)]) == 1
    assert SCHEMA_DIR_ENV not in os.environ
    capsys.readouterr()
    assert main(["validate", str(READ)]) == 0
    assert "valid (bundled schema, SR 11.2)" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["validate", "-q", str(READ)],
                                  ["golden", "check", "-q", str(RECOVERY)]],
                         ids=["validate", "golden"])
def test_a_junit_report_that_cannot_be_written_is_an_error_after_the_results(
        tmp_path, capsys, argv):
    target = tmp_path / "no-such-folder" / "junit.xml"
    assert main([*argv[:2], "--junit-xml", str(target), *argv[2:]]) == 2
    out, err = capsys.readouterr()
    assert out.rstrip().splitlines()[-1] in ("1 file: 1 valid, 0 invalid, 0 not covered, "
                                             "0 unusable", "3 transcripts: 3 match, 0 differ")
    assert err == (f"duis {argv[0]}: {target}: cannot write the output file; expected a file "
                   "in a folder that exists and may be written, found No such file or "
                   "directory\n")
    assert not target.parent.exists()
