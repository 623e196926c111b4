"""Golden-file regression: duis golden check/update, the pytest plugin, and a
deliberately altered rule making the check fail with a readable diff."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from duis import profiles as profiles_module
from duis.cli import main
from duis.scenario import read_scenario
from duis.scenario.golden import check, update

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "samples" / "scenarios"
STORY = SHIPPED / "mp105-esme-recovery-by-read.toml"


@pytest.fixture
def story(tmp_path) -> Path:
    """A private copy of one shipped scenario (its world beside it) with fresh goldens."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (tmp_path / "worlds").mkdir()
    shutil.copy(ROOT / "samples/worlds/default.toml", tmp_path / "worlds/default.toml")
    shutil.copy(STORY, folder / STORY.name)
    update([folder])
    return folder


def test_shipped_goldens_match():
    results = check([SHIPPED])
    assert results and all(r.passed for r in results), "\n".join(r.report() for r in results)


def test_check_passes_then_a_changed_golden_shows_a_diff(story, capsys):
    assert main(["golden", "check", "-q", str(story)]) == 0
    golden = story / "golden" / "mp105-esme-recovery-by-read" / "mp105-option2"
    target = next(golden.glob("*-out-response-I99-*.xml"))
    target.write_bytes(target.read_bytes().replace(b">I99<", b">I0<"))
    assert main(["golden", "check", "-q", str(story)]) == 1
    out = capsys.readouterr().out
    assert f"differs: {target.name}" in out
    assert "-    <sr:ResponseCode>I0</sr:ResponseCode>" in out
    assert "+    <sr:ResponseCode>I99</sr:ResponseCode>" in out


def test_missing_and_extra_goldens_are_named(story):
    golden = story / "golden" / "mp105-esme-recovery-by-read" / "baseline"
    (golden / "summary.txt").unlink()
    (golden / "999-stray.xml").write_text("<x/>")
    result = next(r for r in check([story]) if r.profile == "baseline")
    assert result.missing == ["summary.txt"] and result.unexpected == ["999-stray.xml"]


def test_an_altered_rule_fails_the_check_with_a_readable_diff(story, monkeypatch):
    """If baseline ignored its profile (let 11.2 through to a Suspended meter),
    the goldens must catch it."""
    table = dict(profiles_module.profiles())
    table["baseline"] = dataclasses.replace(
        table["baseline"], suspended_exceptions=table["mp105-option2"].suspended_exceptions,
        read_firmware_version_processed=True)
    monkeypatch.setattr(profiles_module, "profiles", lambda: table)
    result = next(r for r in check([story]) if r.profile == "baseline")
    assert not result.passed
    assert any("expected 'E5', found 'I99'" in e for e in result.expectations_failed)
    report = result.report()
    assert "-    <sr:ResponseCode>E5</sr:ResponseCode>" in report
    assert "+    <sr:ResponseCode>I99</sr:ResponseCode>" in report


def test_update_is_atomic_and_idempotent(story):
    folder = story / "golden" / "mp105-esme-recovery-by-read" / "mp105-option1"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    update([story])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_pytest_plugin_fixture_and_update_option(story, tmp_path):
    test_file = tmp_path / "test_with_plugin.py"
    test_file.write_text(
        "def test_story(duis_golden):\n"
        f"    duis_golden.check({str(story / STORY.name)!r})\n")
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)]
    assert subprocess.run(run, capture_output=True, cwd=tmp_path).returncode == 0
    golden = story / "golden" / "mp105-esme-recovery-by-read" / "baseline" / "summary.txt"
    golden.write_text("tampered\n")
    failing = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert failing.returncode == 1
    assert "differs: summary.txt" in failing.stdout
    assert subprocess.run(run + ["--update-goldens"], capture_output=True,
                          cwd=tmp_path).returncode == 0
    assert subprocess.run(run, capture_output=True, cwd=tmp_path).returncode == 0


def test_two_runs_give_identical_bytes():
    from duis.scenario import run_scenario
    scenario = read_scenario(STORY)
    assert run_scenario(scenario, "mp105-option2").outputs() == \
        run_scenario(scenario, "mp105-option2").outputs()


def test_update_refuses_a_run_whose_expectations_fail(story, capsys):
    """A failing run is never written as a golden (it would make check fail for ever,
    and --update-goldens would loop)."""
    from duis.cli import main
    scenario = story / STORY.name
    folder = story / "golden" / "mp105-esme-recovery-by-read" / "baseline"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    text = scenario.read_text()
    broken = text.replace('code = { baseline = "E5", default',
                          'code = { baseline = "I0", default', 1)
    assert broken != text
    scenario.write_text(broken)
    assert main(["golden", "update", str(story)]) == 1
    out = capsys.readouterr().out
    assert "[baseline]: not written, 1 expectation(s) failed" in out
    assert "1 refused" in out
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_update_says_unchanged_and_check_skips_worlds_beside_scenarios(story, capsys):
    from duis.cli import main
    (story / "world.toml").write_text((ROOT / "samples/worlds/default.toml").read_text())
    (story / "settings.toml").write_text("[ad1_suppression]\n")
    assert main(["golden", "update", str(story)]) == 0
    captured = capsys.readouterr()
    assert "0 written" in captured.out and "unchanged" in captured.out
    assert "skipped 2 .toml file(s) without a [scenario] table" in captured.err
    assert main(["golden", "check", "-q", str(story)]) == 0
    assert "match, 0 differ" in capsys.readouterr().out
