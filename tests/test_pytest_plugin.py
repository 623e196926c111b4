"""The pytest plugin costs nothing to runs that never use it, and takes relative
paths from the test file, not from wherever pytest was started."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STORY = ROOT / "samples/scenarios/mp105-esme-recovery-by-read.toml"


def test_loading_the_plugin_imports_nothing_heavy():
    """What pytest does for every run in an environment with duis installed."""
    code = ("import sys, json, duis.pytest_plugin; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('duis', 'lxml', "
            "'cryptography', 'aiohttp', 'xmlschema', 'matplotlib', 'signxml')))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)
    assert loaded == ["duis", "duis.pytest_plugin"]


@pytest.mark.slow
def test_relative_paths_are_taken_from_the_test_files_folder(tmp_path):
    project = tmp_path / "project"
    (project / "tests" / "scenarios").mkdir(parents=True)
    (project / "tests" / "worlds").mkdir()
    shutil.copy(ROOT / "samples/worlds/default.toml", project / "tests/worlds/default.toml")
    shutil.copy(STORY, project / "tests" / "scenarios" / STORY.name)
    (project / "tests" / "test_story.py").write_text(
        "def test_story(duis_golden):\n"
        f"    duis_golden.check('scenarios/{STORY.name}', profile='baseline')\n")
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    updated = subprocess.run(run[:-1] + [str(project / "tests"), "--update-goldens"],
                             capture_output=True, text=True, cwd=elsewhere)
    assert updated.returncode == 0, updated.stdout[-2000:]
    assert (project / "tests/scenarios/golden" / STORY.stem / "baseline").is_dir()
    checked = subprocess.run(run, capture_output=True, text=True, cwd=project)
    assert checked.returncode == 0, checked.stdout[-2000:]
    # a scenario whose expectations fail: --update-goldens refuses it, and the failure
    # does not send the user to --update-goldens (which would change nothing)
    story = project / "tests" / "scenarios" / STORY.name
    story.write_text(story.read_text().replace('code = { baseline = "E5", default',
                                               'code = { baseline = "I0", default', 1))
    refused = subprocess.run(run + ["--update-goldens"], capture_output=True, text=True,
                             cwd=project)
    assert refused.returncode == 1 and "not written, 1 expectation(s) failed" in refused.stdout
    failing = subprocess.run(run, capture_output=True, text=True, cwd=project)
    assert failing.returncode == 1 and "expectation failed" in failing.stdout
    assert "--update-goldens" not in failing.stdout


def test_a_check_used_wrongly_fails_with_what_was_expected(tmp_path):
    # each was a TypeError, an UnknownProfile from <input>, a traceback into duis, or a
    # mismatch saying every file was missing from goldens that did not exist
    project = tmp_path / "project"
    (project / "scenarios").mkdir(parents=True)
    (project / "worlds").mkdir()
    shutil.copy(ROOT / "samples/worlds/default.toml", project / "worlds/default.toml")
    shutil.copy(STORY, project / "scenarios" / STORY.name)
    (project / "scenarios" / "broken.toml").write_text("[scenario]\nname = 'x'\n")
    cases = {
        "none": ("duis_golden.check(None)", "a path each, found NoneType"),
        "profile_list": (f"duis_golden.check('scenarios/{STORY.name}', profile=['baseline'])",
                         "duis_golden.check(profile=...): one of baseline"),
        "profile_unknown": (f"duis_golden.check('scenarios/{STORY.name}', profile='nope')",
                            "found 'nope'"),
        "broken": ("duis_golden.check('scenarios/broken.toml')", "broken.toml:"),
        "no_goldens": (f"duis_golden.check('scenarios/{STORY.name}', profile='baseline', "
                       "golden_dir='nowhere')", "no golden folder"),
    }
    (project / "test_odd.py").write_text("".join(
        f"def test_{name}(duis_golden):\n    {call}\n\n" for name, (call, _) in cases.items()))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_odd.py"], capture_output=True, text=True, cwd=project)
    assert run.returncode == 1
    assert f"{len(cases)} failed" in run.stdout, run.stdout[-3000:]
    assert "Traceback" not in run.stdout and "TypeError" not in run.stdout, run.stdout[-3000:]
    for name, (_, why) in cases.items():
        assert why in run.stdout, (name, run.stdout[-3000:])
