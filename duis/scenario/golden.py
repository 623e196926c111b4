"""Golden files: a scenario's transcript under each profile, stored and compared byte for byte.

The goldens of ``DIR/name.toml`` live in ``DIR/golden/<scenario name>/<profile>/``.
``check`` reruns every scenario and compares each produced file with the
stored one; a mismatch comes with a unified diff (signed XML is compact, so
both sides are indented first, which makes the diff readable line by line).
``update`` rewrites them atomically, one profile folder at a time, and never
from a run whose expectations failed (that transcript is not a golden: it would
make ``check`` fail for ever).

In a folder, a ``.toml`` file is a scenario when it has a ``[scenario]`` table:
worlds and settings files beside the scenarios are skipped, and said to be.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..xmlparse import parse_bytes
from .format import Scenario, read_scenario
from .runner import run_scenario
from .transcript import Transcript, write_folder

GOLDEN = "golden"


@dataclass
class GoldenResult:
    scenario: str
    profile: str
    folder: Path
    missing: list[str] = field(default_factory=list)
    """Files the run produced that the goldens lack."""
    unexpected: list[str] = field(default_factory=list)
    """Stored files the run no longer produces."""
    diffs: dict[str, str] = field(default_factory=dict)
    """File name -> unified diff, for files whose bytes differ."""
    expectations_failed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.unexpected or self.diffs or self.expectations_failed)

    def report(self) -> str:
        head = f"{self.scenario} [{self.profile}]: {'ok' if self.passed else 'MISMATCH'}"
        lines = [head]
        lines += [f"  expectation failed: {text}" for text in self.expectations_failed]
        lines += [f"  missing from the goldens: {name}" for name in self.missing]
        lines += [f"  golden no longer produced: {name}" for name in self.unexpected]
        for name, diff in self.diffs.items():
            lines.append(f"  differs: {name}")
            lines += ["    " + line for line in diff.splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Found:
    """The scenario files among paths, and the ``.toml`` files skipped as not scenarios."""

    scenarios: list[Path]
    skipped: list[Path]


def scenario_files(paths: Iterable[str | Path]) -> Found:
    """Scenario files named (always), or found in the folders named: there, a ``.toml``
    file with a ``[scenario]`` table (not inside golden folders)."""
    scenarios: list[Path] = []
    skipped: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            for path in sorted(p for p in item.rglob("*.toml")
                               if GOLDEN not in p.parts[len(item.parts):]):
                (scenarios if _is_scenario(path) else skipped).append(path)
        else:
            scenarios.append(item)
    return Found(scenarios, skipped)


def _is_scenario(path: Path) -> bool:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return True                       # reading it again reports what is wrong
    try:
        return isinstance(tomllib.loads(text).get("scenario"), dict)
    except tomllib.TOMLDecodeError:       # broken: a scenario if it says it is one
        return any(line.strip() == "[scenario]" for line in text.splitlines())


def golden_folder(scenario: Scenario, profile: str, root: Path | None = None) -> Path:
    base = root if root is not None else scenario.source.parent / GOLDEN
    return base / scenario.name / profile


def check_scenario(scenario: Scenario, profile: str, root: Path | None = None) -> GoldenResult:
    transcript = run_scenario(scenario, profile)
    return compare(transcript, golden_folder(scenario, profile, root))


def compare(transcript: Transcript, folder: Path) -> GoldenResult:
    result = GoldenResult(transcript.scenario, transcript.profile, folder)
    result.expectations_failed = _failures(transcript)
    produced = dict(transcript.outputs())
    stored = {p.name: p for p in folder.iterdir()} if folder.is_dir() else {}
    missing = sorted(set(produced) - set(stored))
    unexpected = sorted(set(stored) - set(produced))
    for name in sorted(set(produced) & set(stored)):
        old = stored[name].read_bytes()
        if old != produced[name]:
            result.diffs[name] = unified_diff(name, old, produced[name])
    # The n-th message under another name (its code changed): diff the two.
    renamed = {_number(n): n for n in unexpected if _number(n)}
    for name in list(missing):
        old_name = renamed.get(_number(name))
        if old_name and old_name in unexpected and _suffix(old_name) == _suffix(name):
            missing.remove(name)
            unexpected.remove(old_name)
            result.diffs[f"{old_name} -> {name}"] = unified_diff(
                name, stored[old_name].read_bytes(), produced[name], old_name)
    result.missing, result.unexpected = missing, unexpected
    return result


def _number(name: str) -> str | None:
    head = name.split("-", 1)[0]
    return head if head.isdigit() else None


def _suffix(name: str) -> str:
    return ".mmc.xml" if name.endswith(".mmc.xml") else Path(name).suffix


@dataclass(frozen=True)
class Updated:
    """What updating one scenario's golden under one profile did."""

    scenario: str
    profile: str
    folder: Path
    status: str
    """``written``, ``unchanged`` (the goldens already hold these bytes) or
    ``refused`` (expectations failed: nothing written)."""
    expectations_failed: tuple[str, ...] = ()

    def report(self) -> str:
        lines = [f"{self.scenario} [{self.profile}]: {self.status} {self.folder}"]
        if self.status == "refused":
            lines[0] = (f"{self.scenario} [{self.profile}]: not written, "
                        f"{len(self.expectations_failed)} expectation(s) failed "
                        f"(a failing run is never a golden; fix the scenario or the code)")
            lines += [f"  expectation failed: {text}" for text in self.expectations_failed]
        return "\n".join(lines)


def update_scenario(scenario: Scenario, profile: str, root: Path | None = None) -> Updated:
    """Rewrite the goldens of ``scenario`` under ``profile`` from a fresh run, unless
    its expectations failed or the goldens already hold exactly what it produced."""
    transcript = run_scenario(scenario, profile)
    folder = golden_folder(scenario, profile, root)
    failures = tuple(_failures(transcript))
    if failures:
        return Updated(scenario.name, profile, folder, "refused", failures)
    produced = transcript.outputs()
    stored = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else None
    if stored == dict(produced):
        return Updated(scenario.name, profile, folder, "unchanged")
    write_folder(folder, produced)
    return Updated(scenario.name, profile, folder, "written")


def _failures(transcript: Transcript) -> list[str]:
    return [f"step {c.step}: {c.what}: expected {c.expected!r}, found {c.found!r}"
            for c in transcript.failures]


def unified_diff(name: str, old: bytes, new: bytes, old_name: str | None = None) -> str:
    before, after = _readable(name, old), _readable(name, new)
    return "".join(difflib.unified_diff(before, after, f"golden/{old_name or name}",
                                        f"produced/{name}", n=2))


def _readable(name: str, data: bytes) -> list[str]:
    if name.endswith(".xml"):
        try:
            root = parse_bytes(data, name).getroot()
            etree.indent(root, space="  ")
            data = etree.tostring(root, encoding="UTF-8")
        except Exception:  # noqa: BLE001 - a broken golden is diffed as text
            pass
    return data.decode("utf-8", "replace").splitlines(keepends=True)


def check(paths: list[str | Path]) -> list[GoldenResult]:
    """Rerun every scenario under each of its profiles and compare with its goldens."""
    return [check_scenario(scenario, profile)
            for path in scenario_files(paths).scenarios
            for scenario in [read_scenario(path)] for profile in scenario.profiles]


def update(paths: list[str | Path]) -> list[Updated]:
    """Update the goldens of every scenario under each of its profiles (see
    :func:`update_scenario`)."""
    return [update_scenario(scenario, profile)
            for path in scenario_files(paths).scenarios
            for scenario in [read_scenario(path)] for profile in scenario.profiles]
