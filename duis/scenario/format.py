"""Scenario files: a world, a clock, a seed and a sequence of steps, in TOML.

The format is documented in ``docs/scenarios.md``.  Reading validates every
step and reports each problem with the file, the line and the field
(``step[4].expect.code``), what was expected and what was found.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalogue import UnknownServiceRequest, lookup
from ..catalogue.codes import dcc_alerts
from ..clock import parse_instant
from ..dsp.operations import FAULTS
from ..errors import DuisError
from ..messages.ids import EUI64
from ..mmc.mapping import mapping
from ..profiles import profiles
from ..tomlfile import TomlLines, read_toml

FORMAT = 1
STEP_TABLE = "step"


class ScenarioError(DuisError):
    """A scenario file is unusable or invalid; ``errors`` lists every problem."""

    exit_code = 2

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors: list[ScenarioError] = [self]


@dataclass(frozen=True)
class Step:
    """One step: what to do (``do``), its fields, and where it was written."""

    index: int
    """Position in the file, from 1."""
    do: str
    fields: dict
    line: int | None

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


@dataclass(frozen=True)
class Scenario:
    source: Path
    name: str
    description: str
    world: Path
    profiles: tuple[str, ...]
    start: _dt.datetime
    seed: int
    steps: tuple[Step, ...]
    settings: Path | None = None
    """A DCC settings file (``duis.settings``), relative to the scenario; None: the defaults."""


# What each step accepts: required keys, optional keys.
_COMMON = ("do", "note")
STEP_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "send": (("service", "to"), ("from", "command_variant", "body", "file", "expect")),
    "advance": ((), ("seconds", "minutes", "hours", "days", "expect")),
    "remove-cpl": (("manufacturer", "model", "firmware_version"), ("smets",)),
    "add-cpl": (("manufacturer", "model", "firmware_version", "smets"),
                ("firmware_hash", "status")),
    "fault": (("kind",), ("device", "share")),
    "join": (("device", "hub"), ()),
    "expect": (("device",), ("status", "firmware_version", "status_before_suspension",
                             "smets", "hub", "gpf_copy")),
    # MP102B and SECMP0024 (duis/scenario/hub_steps.py)
    "power-outage": (("hub",), ("seconds", "minutes", "hours")),
    "publish-hub-firmware": (("manufacturer", "model", "firmware_version", "deploy_at",
                              "activate_at"), ("hubs", "expect")),
    "query-hub-firmware": (("hub",), ("from", "expect")),
}
#: the network faults a ``fault`` step may plan (the table: duis.dsp.operations.FAULTS)
FAULT_KINDS = tuple(FAULTS)
EXPECT_KEYS = {"send": ("code", "alerts", "device_response"), "advance": ("alerts", "suppressed"),
               "publish-hub-firmware": ("outcome", "alerts"),
               "query-hub-firmware": ("stage", "firmware_version", "running")}
#: what a comms hub firmware status query may find (duis.dsp.hub_firmware.STAGES, or none)
HUB_FIRMWARE_STAGES = ("not-deployed", "deployed-pending-activation", "active", "failed", "none")
DELIVERY_OUTCOMES = ("answered", "lost", "no-response", "unreachable", "none")
#: how an expected value must look: a check and a description for the error
_VALUE_RULES = {
    "alerts": (lambda v: isinstance(v, list) and all(_known_alert(x) for x in v),
               "a list of alert codes such as [\"N29\"]: the DCC alerts of "
               "catalogue/codes.toml, or a device alert's code in hex (\"8F66\")"),
    "device_response": (lambda v: v in DELIVERY_OUTCOMES, "one of " + ", ".join(DELIVERY_OUTCOMES)),
    "code": (lambda v: isinstance(v, str), "a response code such as \"I99\""),
    "suppressed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                   "the number of AD1s written to the Suppression Log, an integer >= 0"),
    "outcome": (lambda v: v in ("published", "refused"), "published or refused"),
    "stage": (lambda v: v in HUB_FIRMWARE_STAGES, "one of " + ", ".join(HUB_FIRMWARE_STAGES)),
    "firmware_version": (lambda v: isinstance(v, str), "a firmware version"),
    "running": (lambda v: isinstance(v, str), "a firmware version"),
}
def _known_alert(code: object) -> bool:
    """A DCC alert code duis raises, or a device alert code of the MMC mapping."""
    return isinstance(code, str) and (
        code in dcc_alerts() or code in {f"{c:04X}" for c in mapping().alerts})


#: what an ``expect`` step writes for "no value" (TOML has no null)
NONE = "none"


def read_scenario(path: str | Path) -> Scenario:
    """Parse and validate a scenario file; raises :class:`ScenarioError` with every problem."""
    text, data = read_toml(path, ScenarioError, "scenario file")
    return _Reader(Path(path), TomlLines(text), data).scenario()


@dataclass
class _Reader:
    source: Path
    lines: TomlLines
    data: dict
    errors: list[ScenarioError] = field(default_factory=list)
    #: the profiles the scenario runs under (every per-profile value must cover them)
    chosen: tuple[str, ...] = ()

    def error(self, message: str, table: str, index: int, key: str | None = None,
              path: str | None = None, **kw: Any) -> None:
        line = self.lines.line(table, index, key.split(".")[0] if key else None)
        if path is None:
            path = table if table != STEP_TABLE else f"{table}[{index + 1}]"
            if key:
                path += f".{key}"
        self.errors.append(ScenarioError(message, source=str(self.source), line=line,
                                         path=path, **kw))

    def scenario(self) -> Scenario:
        for name in self.data:
            if name not in ("scenario", STEP_TABLE):
                self.error("unknown table", name, 0, expected="[scenario] and [[step]]",
                           found=repr(name))
        head = self.data.get("scenario")
        if not isinstance(head, dict):
            self.error("missing [scenario] table", "scenario", 0,
                       expected="a [scenario] table with name, world and start", found="none")
            head = {}
        name = self.text(head, "name", required=True) or self.source.stem
        world = self.text(head, "world", required=True)
        chosen = self.chosen = self.profile_list(head)
        start = self.instant(head)
        seed = head.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            self.error("bad seed", "scenario", 0, "seed", expected="an integer",
                       found=repr(seed))
        for key in head:
            if key not in ("name", "description", "world", "profiles", "start", "seed",
                           "format", "settings"):
                self.error("unknown field", "scenario", 0, key,
                           expected="name, description, world, profiles, start, seed",
                           found=repr(key))
        world_path = (self.source.parent / world) if world else self.source
        if world and not world_path.is_file():
            self.error("world file not found", "scenario", 0, "world",
                       expected="a world file (relative to the scenario)", found=str(world_path))
        settings = self.settings_path(head)
        steps = self.steps()
        if self.errors:
            self.errors.sort(key=lambda e: e.line or 0)
            first = self.errors[0]
            first.errors = self.errors
            raise first
        return Scenario(self.source, name, str(head.get("description", "")), world_path,
                        chosen, start, seed, tuple(steps), settings)

    def settings_path(self, head: dict) -> Path | None:
        """``settings``: a DCC settings file relative to the scenario (MP102B, SECMP0024)."""
        value = self.text(head, "settings")
        if value is None:
            return None
        path = self.source.parent / value
        if not path.is_file():
            self.error("settings file not found", "scenario", 0, "settings",
                       expected="a settings file (relative to the scenario)", found=str(path))
        return path

    # --- header fields -----------------------------------------------------------

    def text(self, table: dict, key: str, required: bool = False) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.error("missing field", "scenario", 0, key, expected=f"a {key}",
                           found="nothing")
            return None
        if not isinstance(value, str) or not value:
            self.error("bad field", "scenario", 0, key, expected="a non-empty string",
                       found=repr(value))
            return None
        return value

    def profile_list(self, head: dict) -> tuple[str, ...]:
        value = head.get("profiles", list(profiles()))
        known = list(profiles())
        if not isinstance(value, list) or not value or any(p not in known for p in value):
            self.error("bad profiles", "scenario", 0, "profiles",
                       expected="a list of " + ", ".join(known), found=repr(value))
            return tuple(known)
        return tuple(value)

    def instant(self, head: dict) -> _dt.datetime:
        value = head.get("start")
        try:
            if isinstance(value, _dt.datetime):
                return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
            if not isinstance(value, str):
                raise TypeError(value)
            return parse_instant(value)
        except (TypeError, ValueError, AttributeError):
            self.error("bad start time", "scenario", 0, "start",
                       expected="an ISO-8601 instant such as 2026-03-01T09:00:00Z",
                       found=repr(value))
            return _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)

    # --- steps -------------------------------------------------------------------

    def steps(self) -> list[Step]:
        raw = self.data.get(STEP_TABLE, [])
        if not isinstance(raw, list) or not raw:
            self.error("no steps", STEP_TABLE, 0, expected="one or more [[step]] tables",
                       found=repr(raw)[:40], path="step")
            return []
        return [step for i, item in enumerate(raw) if (step := self.step(i, item))]

    def step(self, i: int, item: dict) -> Step | None:
        do = item.get("do")
        if do not in STEP_KINDS:
            self.error("unknown step", STEP_TABLE, i, "do", expected="one of " +
                       ", ".join(STEP_KINDS), found=repr(do))
            return None
        required, optional = STEP_KINDS[do]
        for key in required:
            if key not in item:
                self.error("missing field", STEP_TABLE, i, key, expected=f"a {key}",
                           found="nothing")
        for key in item:
            if key not in required + optional + _COMMON:
                self.error("unknown field", STEP_TABLE, i, key,
                           expected="one of " + ", ".join(required + optional),
                           found=repr(key))
        checks = {"send": self.check_send, "advance": self.check_advance,
                  "fault": self.check_fault, "expect": self.check_expect_step,
                  "join": self.check_join, "power-outage": self.check_power_outage,
                  "publish-hub-firmware": self.check_publish,
                  "query-hub-firmware": self.check_query}
        if do in checks:
            checks[do](i, item)
        return Step(i + 1, do, item, self.lines.line(STEP_TABLE, i))

    def check_eui(self, i: int, item: dict, key: str) -> None:
        if key in item:
            try:
                EUI64.parse(item[key])
            except (DuisError, AttributeError, TypeError):
                self.error("not an EUI-64", STEP_TABLE, i, key,
                           expected="8 hex byte pairs separated by '-'", found=repr(item[key]))

    def check_send(self, i: int, item: dict) -> None:
        for key in ("to", "from"):
            self.check_eui(i, item, key)
        try:
            lookup(str(item.get("service")))
        except UnknownServiceRequest:
            self.error("unknown service request", STEP_TABLE, i, "service",
                       expected="a DUIS service reference variant such as 11.2",
                       found=repr(item.get("service")))
        if "body" in item and "file" in item:
            self.error("both body and file", STEP_TABLE, i, "file",
                       expected="either an inline body or a request file", found="both")
        if "file" in item and not (self.source.parent / str(item["file"])).is_file():
            self.error("request file not found", STEP_TABLE, i, "file",
                       expected="a file relative to the scenario",
                       found=str(self.source.parent / str(item["file"])))
        self.check_expectations(i, item, "send")

    def check_advance(self, i: int, item: dict) -> None:
        amounts = [k for k in ("seconds", "minutes", "hours", "days") if k in item]
        if not amounts or any(not isinstance(item[k], (int, float)) or item[k] < 0
                              for k in amounts):
            self.error("bad advance", STEP_TABLE, i, amounts[0] if amounts else None,
                       expected="seconds, minutes, hours or days: a number >= 0",
                       found=repr({k: item[k] for k in amounts}) if amounts else "nothing")
        self.check_expectations(i, item, "advance")

    def check_power_outage(self, i: int, item: dict) -> None:
        self.check_eui(i, item, "hub")
        amounts = [k for k in ("seconds", "minutes", "hours") if k in item]
        if not amounts or any(not isinstance(item[k], (int, float)) or item[k] < 0
                              for k in amounts):
            self.error("bad outage duration", STEP_TABLE, i, amounts[0] if amounts else None,
                       expected="seconds, minutes or hours: a number >= 0",
                       found=repr({k: item[k] for k in amounts}) if amounts else "nothing")

    def check_publish(self, i: int, item: dict) -> None:
        for key in ("deploy_at", "activate_at"):
            if key in item and step_instant(item[key]) is None:
                self.error("bad instant", STEP_TABLE, i, key,
                           expected="an ISO-8601 instant such as 2026-03-09T02:00:00Z",
                           found=repr(item[key]))
        hubs = item.get("hubs", [])
        if not isinstance(hubs, list):
            self.error("bad hubs", STEP_TABLE, i, "hubs", expected="a list of EUI-64s",
                       found=repr(hubs))
        else:
            for n, hub in enumerate(hubs):
                try:
                    EUI64.parse(hub)
                except (DuisError, AttributeError, TypeError):
                    self.error("not an EUI-64", STEP_TABLE, i, "hubs", path=f"step[{i + 1}]"
                               f".hubs[{n}]", expected="8 hex byte pairs separated by '-'",
                               found=repr(hub))
        self.check_expectations(i, item, "publish-hub-firmware")

    def check_query(self, i: int, item: dict) -> None:
        for key in ("hub", "from"):
            self.check_eui(i, item, key)
        self.check_expectations(i, item, "query-hub-firmware")

    def check_join(self, i: int, item: dict) -> None:
        for key in ("device", "hub"):
            self.check_eui(i, item, key)

    def check_fault(self, i: int, item: dict) -> None:
        kind = item.get("kind")
        fault = FAULTS.get(kind) if isinstance(kind, str) else None
        if fault is None:
            self.error("unknown fault", STEP_TABLE, i, "kind",
                       expected="one of " + ", ".join(FAULT_KINDS), found=repr(item.get("kind")))
        self.check_eui(i, item, "device")
        if fault is not None and fault.needs == "share":
            share = item.get("share")
            if not isinstance(share, (int, float)) or not 0 <= share <= 1:
                self.error("bad share", STEP_TABLE, i, "share", expected="a number from 0 to 1",
                           found=repr(share))
        elif (fault is None or fault.needs == "device") and "device" not in item:
            self.error("missing field", STEP_TABLE, i, "device",
                       expected="the device the fault applies to", found="nothing")

    def check_expectations(self, i: int, item: dict, kind: str) -> None:
        expect = item.get("expect")
        if expect is None:
            return
        if not isinstance(expect, dict):
            self.error("bad expectation", STEP_TABLE, i, "expect", expected="a table",
                       found=repr(expect))
            return
        for key, value in expect.items():
            if key not in EXPECT_KEYS[kind]:
                self.error("unknown expectation", STEP_TABLE, i, f"expect.{key}",
                           expected="one of " + ", ".join(EXPECT_KEYS[kind]), found=repr(key))
            self.check_per_profile(i, f"expect.{key}", value, complete=True)
            self.check_value(i, f"expect.{key}", key, value)

    def check_per_profile(self, i: int, key: str, value: Any, complete: bool = False) -> None:
        """A per-profile table names known profiles; with ``complete`` (a step's
        ``expect``, where no value is not an answer) it covers every profile the
        scenario runs under, or has a ``default``.  (In an ``expect`` step, a profile
        left out means "none".)"""
        if isinstance(value, dict):
            known = set(profiles()) | {"default"}
            for name in value:
                if name not in known:
                    self.error("unknown profile in expectation", STEP_TABLE, i,
                               f"{key}.{name}", expected="a profile name or 'default'",
                               found=repr(name))
            missing = [p for p in self.chosen if p not in value]
            if complete and missing and "default" not in value:
                self.error("per-profile value leaves profiles out", STEP_TABLE, i, key,
                           expected="an entry for each profile the scenario runs under ("
                                    + ", ".join(self.chosen) + "), or a 'default'",
                           found="no entry for " + ", ".join(missing))

    def check_value(self, i: int, path: str, key: str, value: Any) -> None:
        rule = _VALUE_RULES.get(key)
        if rule is None:
            return
        values = value.items() if isinstance(value, dict) else [(None, value)]
        for name, each in values:
            if not rule[0](each):
                self.error("bad expectation value", STEP_TABLE, i,
                           f"{path}.{name}" if name else path, expected=rule[1],
                           found=repr(each))

    def check_expect_step(self, i: int, item: dict) -> None:
        self.check_eui(i, item, "device")
        for key in ("status", "firmware_version", "status_before_suspension", "smets", "hub",
                    "gpf_copy"):
            if key in item:
                self.check_per_profile(i, key, item[key])


def step_instant(value: Any) -> _dt.datetime | None:
    """An instant written in a step (a TOML datetime or ISO-8601 text; naive is UTC)."""
    try:
        if isinstance(value, _dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        return parse_instant(value)
    except (TypeError, ValueError, AttributeError):
        return None


def for_profile(value: Any, profile: str) -> Any:
    """A per-profile value (a table keyed by profile names, with ``default``) resolved;
    the string ``none`` stands for "no value"."""
    if isinstance(value, dict) and (set(value) & (set(profiles()) | {"default"})):
        value = value.get(profile, value.get("default"))
    return None if value == NONE else value
