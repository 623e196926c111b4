"""Golden files: a scenario's transcript under each profile, stored and compared byte for byte.

The goldens of ``DIR/name.toml`` live in ``DIR/golden/<scenario name>/<profile>/``.
``check`` reruns every scenario and compares each produced file with the
stored one; a mismatch comes with a unified diff (signed XML is compact, so
both sides are indented first, which makes the diff readable line by line).
``update`` rewrites them atomically, one profile folder at a time.
"""

from __future__ import annotations

import difflib
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


def scenario_files(paths: list[str | Path]) -> list[Path]:
    """Scenario files named, or found in the folders named (not inside golden folders)."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*.toml") if GOLDEN not in p.parts[len(item.parts):])
        else:
            found.append(item)
    return found


def golden_folder(scenario: Scenario, profile: str, root: Path | None = None) -> Path:
    base = root if root is not None else scenario.source.parent / GOLDEN
    return base / scenario.name / profile


def check_scenario(scenario: Scenario, profile: str, root: Path | None = None) -> GoldenResult:
    transcript = run_scenario(scenario, profile)
    return compare(transcript, golden_folder(scenario, profile, root))


def compare(transcript: Transcript, folder: Path) -> GoldenResult:
    result = GoldenResult(transcript.scenario, transcript.profile, folder)
    result.expectations_failed = [f"step {c.step}: {c.what}: expected {c.expected!r}, "
                                  f"found {c.found!r}" for c in transcript.failures]
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


def update_scenario(scenario: Scenario, profile: str, root: Path | None = None) -> Path:
    transcript = run_scenario(scenario, profile)
    return write_folder(golden_folder(scenario, profile, root), transcript.outputs())


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
            for path in scenario_files(paths)
            for scenario in [read_scenario(path)] for profile in scenario.profiles]


def update(paths: list[str | Path]) -> list[Path]:
    return [update_scenario(scenario, profile)
            for path in scenario_files(paths)
            for scenario in [read_scenario(path)] for profile in scenario.profiles]
