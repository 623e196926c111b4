"""duis as a new adaptor team gets it: a wheel built from this checkout,
installed into a fresh virtual environment outside the checkout.

There, ``duis init`` writes the starter, and its validation script, its
scenarios (``duis golden check``) and its pytest file pass as written; a
scenario whose expectation is broken is refused by ``duis golden update`` and
``pytest --update-goldens`` (non-zero exit, goldens unchanged); and the
examples of README.md and docs/ run with the installed package
(tests/test_doc_examples.py's convention).

Slow (a wheel build and a pip install: about a minute the first time, with
network access to PyPI for the dependencies; pip's cache makes later runs
faster): ``make test-slow`` runs it. One virtual environment per test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_doc_examples import DOCS, run_doc

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600,
         ) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                 str(ROOT)], out, dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("duis-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> dict[str, str]:
    """The environment of a fresh virtual environment holding the wheel (and pytest,
    which the starter's tests need): its ``bin`` first on PATH, nothing of the
    checkout importable."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    made = _run([sys.executable, "-m", "venv", str(where)], where.parent, dict(os.environ))
    assert made.returncode == 0, made.stderr
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DUIS_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(where / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(where)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    installed = _run([str(where / "bin" / "python"), "-m", "pip", "install", "-q",
                      "--disable-pip-version-check", str(wheel), "pytest"], where.parent, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return env


def test_the_wheel_holds_the_package_data(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("duis/starter/world.toml", "duis/starter/tools/validate_samples.py.txt",
                   "duis/starter/tests/test_scenarios.py.txt", "duis/worlds/default.toml",
                   "duis/pki/roles.toml", "duis/catalogue/profiles.toml"):
        assert needed in names
    assert any(name.startswith("duis/xsd/") and name.endswith(".xsd") for name in names)


def test_the_installed_duis_is_the_wheel_not_the_checkout(venv: dict[str, str], tmp_path: Path):
    done = _run(["python", "-c", "import duis; print(duis.__file__)"], tmp_path, venv)
    assert done.returncode == 0, done.stderr
    location = Path(done.stdout.strip()).resolve()
    assert location.is_relative_to(Path(venv["VIRTUAL_ENV"]).resolve())
    assert not location.is_relative_to(ROOT)


def test_a_team_adopts_duis_from_the_wheel(venv: dict[str, str], tmp_path: Path):
    init = _run(["duis", "init", "my-adaptor"], tmp_path, venv)
    assert init.returncode == 0, init.stdout + init.stderr
    project = tmp_path / "my-adaptor"

    script = _run(["python", "tools/validate_samples.py"], project, venv)
    assert script.returncode == 0, script.stdout + script.stderr
    assert script.stdout.splitlines()[-1] == "2 message(s), 0 with problems"

    check = _run(["duis", "golden", "check", "scenarios/"], project, venv)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": ok") == 6

    tests = _run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/"],
                 project, venv)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout

    # a broken expectation: never accepted as a golden, by the CLI or by pytest
    scenario = project / "scenarios" / "firmware-update.toml"
    text = scenario.read_text()
    assert text.count('firmware_version = "1.1.0"') == 1
    scenario.write_text(text.replace('firmware_version = "1.1.0"', 'firmware_version = "9.9.9"'))
    golden = project / "scenarios" / "golden"
    before = {p: p.read_bytes() for p in sorted(golden.rglob("*")) if p.is_file()}

    update = _run(["duis", "golden", "update", "scenarios/"], project, venv)
    assert update.returncode == 1, update.stdout + update.stderr
    assert "firmware-update [mp105-option2]: not written, 1 expectation(s) failed" \
        in update.stdout + update.stderr
    assert "9.9.9" in update.stdout + update.stderr
    after = {p: p.read_bytes() for p in sorted(golden.rglob("*")) if p.is_file()}
    assert after == before

    pytest_update = _run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--update-goldens", "tests/"], project, venv)
    assert pytest_update.returncode == 1, pytest_update.stdout + pytest_update.stderr
    assert "expectation(s) failed" in pytest_update.stdout
    assert {p: p.read_bytes() for p in sorted(golden.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_the_doc_examples_run_with_the_installed_wheel(doc: Path, venv: dict[str, str],
                                                       tmp_path: Path):
    failures = run_doc(doc, tmp_path / "work", venv, slow=False)
    assert not failures, "\n\n".join(failures)
