"""``duis init DIR``: the starter project it writes passes as written (its
validation script, ``duis golden check``, pytest on its test file), and DIR is
protected.

Everything runs in subprocesses, outside the checkout, with only the ``duis``
package of this checkout importable (as after ``pip install duis``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from duis.commands.init import STARTER, starter_files
from tests.test_doc_examples import package_only_environment, run_doc


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return package_only_environment(tmp_path_factory.mktemp("init-path"))


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, env) -> Path:
    where = tmp_path_factory.mktemp("init")
    done = run(["duis", "init", "my-adaptor"], where, env)
    assert done.returncode == 0, done.stderr
    assert "wrote a duis starter project into my-adaptor/" in done.stdout
    return where / "my-adaptor"


def test_init_writes_the_starter_and_goldens_of_every_scenario_and_profile(project: Path):
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*")
                     if p.is_file() and "golden" not in p.parts)
    assert written == sorted(str(relative) for _, relative in starter_files())
    assert "tools/validate_samples.py" in written and "tests/test_scenarios.py" in written
    assert not [name for name in written if name.endswith(".txt")]
    for source, relative in starter_files():
        assert (project / relative).read_bytes() == source.read_bytes()
    goldens = sorted(str(p.relative_to(project / "scenarios" / "golden"))
                     for p in (project / "scenarios" / "golden").glob("*/*"))
    assert goldens == [f"{scenario}/{profile}"
                       for scenario in ("firmware-update", "read-firmware-version")
                       for profile in ("baseline", "mp105-option1", "mp105-option2")]
    summary = (project / "scenarios/golden/firmware-update/mp105-option2/summary.txt").read_text()
    assert "result:   passed (6 checked" in summary
    assert not list(project.parent.glob(".my-adaptor-init-*"))      # the staging folder is gone


def test_the_validation_script_passes_from_anywhere(project: Path, env):
    done = run([sys.executable, "tools/validate_samples.py"], project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("valid, signed and verified (signer 90-B3-D5-1F-30-01-00-00)") == 2
    assert done.stdout.splitlines()[-1] == "2 message(s), 0 with problems"
    elsewhere = run([sys.executable, str(project / "tools/validate_samples.py")], project.parent,
                    env)
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr


def test_the_validation_script_fails_on_an_invalid_message(project: Path, env, tmp_path: Path):
    bad = tmp_path / "bad.xml"
    text = (project / "messages/read-firmware-version.xml").read_text()
    bad.write_text(text.replace("<sr:CommandVariant>1</sr:CommandVariant>", ""))
    done = run([sys.executable, str(project / "tools/validate_samples.py"), str(bad)], tmp_path,
               env)
    assert done.returncode == 1
    assert f"{bad}: invalid" in done.stdout
    assert "1 message(s), 1 with problems" in done.stdout


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_golden_check_and_pytest_pass_as_written(project: Path, env):
    check = run(["duis", "golden", "check", "scenarios/"], project, env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": ok") == 6
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/"],
                project, env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    from_elsewhere = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(project / "tests")], project.parent, env)
    assert from_elsewhere.returncode == 0, from_elsewhere.stdout + from_elsewhere.stderr


def test_init_refuses_a_non_empty_folder_unless_forced(tmp_path: Path, env):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    (target / "world.toml").write_text("old")
    refused = run(["duis", "init", "busy"], tmp_path, env)
    assert refused.returncode == 2
    assert "busy is not empty" in refused.stderr and "--force" in refused.stderr
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt", "world.toml"]
    assert (target / "world.toml").read_text() == "old"
    forced = run(["duis", "init", "--force", "busy"], tmp_path, env)
    assert forced.returncode == 0, forced.stderr
    assert (target / "mine.txt").read_text() == "keep me"
    assert (target / "world.toml").read_bytes() == (STARTER / "world.toml").read_bytes()
    assert (target / "scenarios/golden/read-firmware-version/baseline/summary.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_force_keeps_the_users_files_inside_the_starters_folders(tmp_path: Path, env):
    # --force replaced each starter folder whole: a scenario or test of the user's
    # own in scenarios/ or tests/ was deleted
    target = tmp_path / "project"
    assert run(["duis", "init", "project"], tmp_path, env).returncode == 0
    (target / "scenarios/my-own-story.toml").write_text("mine")
    (target / "tests/test_mine.py").write_text("mine")
    (target / "scenarios/golden/my-own-story").mkdir()
    (target / "scenarios/golden/my-own-story/summary.txt").write_text("mine")
    (target / "world.toml").write_text("changed")
    forced = run(["duis", "init", "--force", "project"], tmp_path, env)
    assert forced.returncode == 0, forced.stderr
    for mine in ("scenarios/my-own-story.toml", "tests/test_mine.py",
                 "scenarios/golden/my-own-story/summary.txt"):
        assert (target / mine).read_text() == "mine", mine
    assert (target / "world.toml").read_bytes() == (STARTER / "world.toml").read_bytes()


def test_force_refuses_what_is_in_the_way_and_writes_nothing(tmp_path: Path, env):
    target = tmp_path / "project"
    target.mkdir()
    (target / "scenarios").write_text("a file where the starter has a folder")
    (target / "README.md").mkdir()
    forced = run(["duis", "init", "--force", "project"], tmp_path, env)
    assert forced.returncode == 2
    assert "is a f" in forced.stderr and "nothing was written" in forced.stderr
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "scenarios"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_init_refuses_a_file_and_an_empty_folder_is_fine(tmp_path: Path, env):
    (tmp_path / "afile").write_text("x")
    refused = run(["duis", "init", "afile"], tmp_path, env)
    assert (refused.returncode, refused.stderr.strip()) == (
        2, "duis init: afile exists and is not a folder")
    (tmp_path / "empty").mkdir()
    assert run(["duis", "init", "empty"], tmp_path, env).returncode == 0
    assert (tmp_path / "empty/README.md").is_file()


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_the_starter_readme_runs_as_written(tmp_path: Path, env):
    assert run(["duis", "init", "project"], tmp_path, env).returncode == 0
    project = tmp_path / "project"
    failures = run_doc(project / "README.md", project, env, slow=False, samples=None)
    assert not failures, "\n\n".join(failures)
    assert (project / "transcripts" / "firmware-update" / "baseline" / "summary.txt").is_file()
