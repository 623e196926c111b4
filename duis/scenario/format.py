"""Scenario files: a world, a clock, a seed and a sequence of steps, in TOML.

The format is documented in ``docs/scenarios.md``.  Reading validates every
step and reports each problem with the file, the line and the field
(``step[4].expect.code``), what was expected and what was found.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from lxml import etree

from ..catalogue import UnknownServiceRequest, lookup
from ..catalogue.codes import dcc_alerts
from ..clock import parse_instant
from ..dsp.operations import FAULTS
from ..errors import DuisError
from ..messages.ids import EUI64
from ..mmc.mapping import mapping
from ..namespaces import SR
from ..profiles import profiles
from ..smi.tables import CPL_STATUSES, SMETS_GENERATIONS
from ..tomlfile import TomlLines, is_number, read_toml
from ..xmlparse import parse_bytes

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


#: the units of a span a step gives (``advance``; ``power-outage`` takes all but days)
SPAN_UNITS = ("seconds", "minutes", "hours", "days")


def step_duration(step: Step, units: tuple[str, ...] = SPAN_UNITS) -> _dt.timedelta:
    """The span a step gives in ``units`` (``advance``, ``power-outage``); reading
    checked that it is one (:class:`OverflowError` for a step that was not read)."""
    return _span(step.fields, units)


def _span(fields: dict, units: tuple[str, ...]) -> _dt.timedelta:
    return _dt.timedelta(**{unit: fields.get(unit, 0) for unit in units})


def body_element(text: str) -> etree._Element:
    """The one element a ``send`` step's ``body`` holds, in the DUIS namespace (the
    text is read inside an ``sr:Body``); :class:`ScenarioError` when it is not
    well-formed or not exactly one element with nothing but white space around it."""
    try:
        wrapper = parse_bytes(f'<Body xmlns="{SR}">{text}</Body>'.encode(), "body").getroot()
    except DuisError as exc:
        raise ScenarioError("body is not XML", expected="one XML element, the request's body",
                            found=exc.message) from None
    elements = [child for child in wrapper if isinstance(child.tag, str)]
    stray = (wrapper.text or "").strip() or any((c.tail or "").strip() for c in wrapper)
    if len(elements) != 1 or stray:
        raise ScenarioError("body is not one element",
                            expected="one XML element, the request's body",
                            found=f"{len(elements)} elements" + (" and text" if stray else ""))
    return elements[0]


#: a scenario's name: a folder's name for its transcripts and goldens
#: (``transcripts/<name>/``, ``golden/<name>/``), so one plain path component,
#: never a path: letters, digits, ``_``, and ``.``, ``+``, ``-`` or spaces between them
_NAME = re.compile(r"\w(?:[\w.+ -]{0,98}\w)?")
NAME_RULE = "1 to 100 letters, digits, '_', and '.', '+', '-' or spaces between them"


def is_scenario_name(name: object) -> bool:
    """Whether ``name`` may name a scenario (:data:`NAME_RULE`): nothing that makes
    its folder a path elsewhere (``/``, ``..``, an absolute path)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class Scenario:
    source: Path
    name: str
    """Names the scenario's folders (:func:`is_scenario_name`)."""
    description: str
    world: Path
    profiles: tuple[str, ...]
    start: _dt.datetime
    seed: int
    steps: tuple[Step, ...]
    settings: Path | None = None
    """A DCC settings file (``duis.settings``), relative to the scenario; None: the defaults."""

    def __post_init__(self) -> None:
        # transcripts and goldens replace the folder the name makes: never one elsewhere
        if not is_scenario_name(self.name):
            raise ScenarioError("bad scenario name", source=str(self.source), path="scenario.name",
                                expected=NAME_RULE, found=repr(self.name)[:120])


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


def _is_eui(value: Any) -> bool:
    try:
        EUI64.parse(value)
    except (DuisError, AttributeError, TypeError):
        return False
    return True


class _Rule(NamedTuple):
    check: Callable[[Any], bool]
    message: str
    expected: str


_TEXT = _Rule(lambda v: isinstance(v, str) and v != "", "bad field", "a non-empty string")
_EUI = _Rule(_is_eui, "not an EUI-64", "8 hex byte pairs separated by '-'")
_AMOUNT = _Rule(is_number, "bad duration", "a number >= 0")
_INSTANT = _Rule(lambda v: step_instant(v) is not None, "bad instant",
                 "an ISO-8601 instant such as 2026-03-09T02:00:00Z")
#: what each field of a step must be, whatever the step (the ``expect`` step's
#: per-profile values aside: :data:`_PER_PROFILE_FIELDS`); a step's own checks
#: (``_Reader.check_*``) add what depends on its other fields
_FIELD_RULES: dict[str, _Rule] = {
    "note": _Rule(lambda v: isinstance(v, str), "bad field", "a string"),
    "service": _Rule(lambda v: isinstance(v, str), "unknown service request",
                     'a DUIS service reference variant such as "11.2"'),
    "to": _EUI, "from": _EUI, "device": _EUI, "hub": _EUI,
    "command_variant": _Rule(lambda v: type(v) is int and 1 <= v <= 8, "bad command variant",
                             "an integer from 1 to 8"),
    "body": _TEXT, "file": _TEXT,
    "manufacturer": _TEXT, "model": _TEXT, "firmware_version": _TEXT, "firmware_hash": _TEXT,
    "smets": _Rule(lambda v: v in SMETS_GENERATIONS, "bad field", " or ".join(SMETS_GENERATIONS)),
    "status": _Rule(lambda v: v in CPL_STATUSES, "bad field", " or ".join(CPL_STATUSES)),
    "kind": _Rule(lambda v: isinstance(v, str) and v in FAULTS, "unknown fault",
                  "one of " + ", ".join(FAULTS)),
    "share": _Rule(lambda v: is_number(v, 0, 1), "bad share", "a number from 0 to 1"),
    **{unit: _AMOUNT for unit in SPAN_UNITS},
    "deploy_at": _INSTANT, "activate_at": _INSTANT,
    "hubs": _Rule(lambda v: isinstance(v, list), "bad hubs", "a list of EUI-64s"),
    "expect": _Rule(lambda v: isinstance(v, dict), "bad expectation", "a table"),
}
#: the ``expect`` step's fields that are per-profile values (checked as such)
_PER_PROFILE_FIELDS = ("status", "firmware_version", "status_before_suspension", "smets", "hub",
                       "gpf_copy")
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
        name = self.text(head, "name", required=True)
        if name is not None and not is_scenario_name(name):
            self.error("bad scenario name", "scenario", 0, "name", expected=NAME_RULE,
                       found=repr(name)[:120])
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
        assert name is not None  # a missing or bad name is an error above
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

    def step(self, i: int, item: Any) -> Step | None:
        if not isinstance(item, dict):
            self.error("bad step", STEP_TABLE, i, expected="a [[step]] table",
                       found=repr(item)[:40])
            return None
        do = item.get("do")
        if not isinstance(do, str) or do not in STEP_KINDS:
            self.error("unknown step", STEP_TABLE, i, "do", expected="one of " +
                       ", ".join(STEP_KINDS), found=repr(do))
            return None
        required, optional = STEP_KINDS[do]
        for key in required:
            if key not in item:
                self.error("missing field", STEP_TABLE, i, key, expected=f"a {key}",
                           found="nothing")
        for key, value in item.items():
            if key not in required + optional + _COMMON:
                self.error("unknown field", STEP_TABLE, i, key,
                           expected="one of " + ", ".join(required + optional),
                           found=repr(key))
            elif key in _FIELD_RULES and not (do == "expect" and key in _PER_PROFILE_FIELDS):
                rule = _FIELD_RULES[key]
                if not rule.check(value):
                    self.error(rule.message, STEP_TABLE, i, key, expected=rule.expected,
                               found=repr(value)[:80])
        checks = {"send": self.check_send, "advance": self.check_advance,
                  "fault": self.check_fault, "expect": self.check_expect_step,
                  "power-outage": self.check_power_outage,
                  "publish-hub-firmware": self.check_publish,
                  "query-hub-firmware": self.check_expectations}
        if do in checks:
            checks[do](i, item)
        return Step(i + 1, do, item, self.lines.line(STEP_TABLE, i))

    def check_send(self, i: int, item: dict) -> None:
        service = item.get("service")
        try:
            if isinstance(service, str):  # else refused by _FIELD_RULES
                lookup(service)
        except UnknownServiceRequest:
            self.error("unknown service request", STEP_TABLE, i, "service",
                       expected="a DUIS service reference variant such as 11.2",
                       found=repr(service))
        if "body" in item and "file" in item:
            self.error("both body and file", STEP_TABLE, i, "file",
                       expected="either an inline body or a request file", found="both")
        if isinstance(item.get("body"), str):
            try:
                body_element(item["body"])
            except ScenarioError as exc:
                self.error(exc.message, STEP_TABLE, i, "body", expected=exc.expected,
                           found=exc.found)
        if isinstance(item.get("file"), str) and not (self.source.parent / item["file"]).is_file():
            self.error("request file not found", STEP_TABLE, i, "file",
                       expected="a file relative to the scenario",
                       found=str(self.source.parent / item["file"]))
        self.check_expectations(i, item)

    def check_advance(self, i: int, item: dict) -> None:
        self.check_span(i, item, SPAN_UNITS, "bad advance")
        self.check_expectations(i, item)

    def check_power_outage(self, i: int, item: dict) -> None:
        self.check_span(i, item, SPAN_UNITS[:3], "bad outage duration")

    def check_span(self, i: int, item: dict, units: tuple[str, ...], message: str) -> None:
        """At least one of ``units`` given (each a number >= 0: :data:`_FIELD_RULES`),
        together a span Python can hold."""
        amounts = [unit for unit in units if unit in item]
        if not amounts:
            self.error(message, STEP_TABLE, i, None,
                       expected=", ".join(units[:-1]) + f" or {units[-1]}: a number >= 0",
                       found="nothing")
        elif all(_FIELD_RULES[unit].check(item[unit]) for unit in amounts):
            try:
                _span(item, units)
            except OverflowError:
                self.error(message, STEP_TABLE, i, amounts[0],
                           expected=f"at most {_dt.timedelta.max.days:,} days in all",
                           found=repr({unit: item[unit] for unit in amounts}))

    def check_publish(self, i: int, item: dict) -> None:
        hubs = item.get("hubs", [])
        for n, hub in enumerate(hubs if isinstance(hubs, list) else []):
            if not _is_eui(hub):
                self.error("not an EUI-64", STEP_TABLE, i, "hubs", path=f"step[{i + 1}]"
                           f".hubs[{n}]", expected="8 hex byte pairs separated by '-'",
                           found=repr(hub))
        self.check_expectations(i, item)

    def check_fault(self, i: int, item: dict) -> None:
        kind = item.get("kind")
        fault = FAULTS.get(kind) if isinstance(kind, str) else None
        if fault is not None and fault.needs == "share" and "share" not in item:
            self.error("missing field", STEP_TABLE, i, "share", expected="a number from 0 to 1",
                       found="nothing")
        elif (fault is None or fault.needs == "device") and "device" not in item:
            self.error("missing field", STEP_TABLE, i, "device",
                       expected="the device the fault applies to", found="nothing")

    def check_expectations(self, i: int, item: dict) -> None:
        expect = item.get("expect")
        if not isinstance(expect, dict):  # none, or refused by _FIELD_RULES
            return
        kind = item["do"]
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
        for key in _PER_PROFILE_FIELDS:
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
