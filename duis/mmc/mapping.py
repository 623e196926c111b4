"""The MMC mapping, loaded from ``mapping.toml`` and checked once.

The table is data in one place; this module only reads it and answers
questions: which use case serves a service request for a device type, which
use case a message code belongs to, what a device alert means.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from ..gbcs import model
from ..gbcs.model import PAYLOAD_KINDS, Kind
from ..gbcs.wire.usecases import USE_CASES as REAL_USE_CASES
from .errors import MappingInvalid, TranslationError


@dataclass(frozen=True)
class UseCase:
    """One GBCS use case: the device command for a service request variant."""

    code: str
    """GBCS use case name, e.g. ``ECS52``."""
    title: str
    variant: str
    device_types: tuple[str, ...]
    message_code: int
    request_body: str
    """The DUIS ``sr:Body`` element the command is built from."""
    command: type
    response: type
    mmc_response: str | None
    """The ``ra:`` element for the response, or None where the MMC output has none."""
    via: str | None = None
    note: str | None = None

    @property
    def message_code_hex(self) -> str:
        return f"{self.message_code:04X}"


@dataclass(frozen=True)
class AlertMeaning:
    """A device alert code: what it reports and how MMC output shows it."""

    code: int
    description: str
    answers: str
    """The use case whose future-dated command it reports on."""
    payload: type
    mmc_alert: str
    outcome: str
    """``success`` or ``failure``."""


@dataclass(frozen=True)
class Mapping:
    device_types: tuple[str, ...]
    use_cases: dict[str, UseCase]
    no_device_command: dict[str, str]
    """Variant -> why it has no device command."""
    alerts: dict[int, AlertMeaning]
    _by_pair: dict[tuple[str, str], UseCase] = field(init=False, repr=False, compare=False)
    _by_code: dict[int, UseCase] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the look-ups every message makes, indexed once (the first in table order wins)
        by_pair: dict[tuple[str, str], UseCase] = {}
        by_code: dict[int, UseCase] = {}
        for case in self.use_cases.values():
            for device_type in case.device_types:
                by_pair.setdefault((case.variant, device_type), case)
            by_code.setdefault(case.message_code, case)
        object.__setattr__(self, "_by_pair", by_pair)
        object.__setattr__(self, "_by_code", by_code)

    def use_case(self, variant: str, device_type: str) -> UseCase:
        """The use case for ``variant`` sent to a ``device_type``; TranslationError if none."""
        case = self._by_pair.get((variant, device_type))
        if case is not None:
            return case
        kind = device_type.strip().upper() if isinstance(device_type, str) else device_type
        for case in self.use_cases.values():
            if case.variant == variant and kind in case.device_types:
                return case
        if variant in self.no_device_command:
            raise TranslationError(
                f"service request {variant} has no device command: "
                f"{self.no_device_command[variant]}",
                expected="a service request sent to a device", found=variant)
        served = self.for_variant(variant)
        if not served:
            raise TranslationError(
                f"no GBCS mapping for service request {variant} (device type {device_type})",
                expected="one of " + ", ".join(self.variants()), found=variant)
        raise TranslationError(
            f"service request {variant} has no GBCS use case for device type {device_type}",
            expected="; ".join(f"{'/'.join(c.device_types)} ({c.code})" for c in served),
            found=str(device_type))

    def for_variant(self, variant: str) -> tuple[UseCase, ...]:
        return tuple(c for c in self.use_cases.values() if c.variant == variant)

    def variants(self) -> tuple[str, ...]:
        """The variants with a device command, in table order."""
        return tuple(dict.fromkeys(c.variant for c in self.use_cases.values()))

    def by_message_code(self, message_code: int) -> UseCase | None:
        return self._by_code.get(message_code)

    def rows(self) -> list[tuple[str, str, UseCase]]:
        """``(variant, device type, use case)`` for every covered pair."""
        return [(c.variant, t, c) for c in self.use_cases.values() for t in c.device_types]


# --- loading -------------------------------------------------------------------

def _payload_class(name: str, kind: Kind, where: str) -> type:
    cls = getattr(model, name, None)
    if not isinstance(cls, type) or PAYLOAD_KINDS.get(cls) is not kind:
        raise MappingInvalid("bad payload class in mapping.toml", path=where,
                             expected=f"a {kind.name.lower()} payload class of duis.gbcs.model",
                             found=repr(name))
    return cls


def _use_case(code: str, row: dict, device_types: tuple[str, ...]) -> UseCase:
    where = f"use_case.{code}"
    unknown = [t for t in row["device_types"] if t not in device_types]
    if unknown or not row["device_types"]:
        raise MappingInvalid("bad device types in mapping.toml", path=where,
                             expected="some of " + ", ".join(device_types), found=str(unknown))
    return UseCase(code=code, title=row["title"], variant=row["variant"],
                   device_types=tuple(row["device_types"]), message_code=row["message_code"],
                   request_body=row["request_body"],
                   command=_payload_class(row["command"], Kind.COMMAND, f"{where}.command"),
                   response=_payload_class(row["response"], Kind.RESPONSE, f"{where}.response"),
                   mmc_response=row["mmc_response"] or None, via=row.get("via"),
                   note=row.get("note"))


def _alert(code: str, row: dict, use_cases: dict[str, UseCase]) -> AlertMeaning:
    where = f"alert.{code}"
    if row["answers"] not in use_cases or row["outcome"] not in ("success", "failure"):
        raise MappingInvalid("bad alert in mapping.toml", path=where,
                             expected="answers = a use case, outcome = success|failure",
                             found=f"{row['answers']!r}, {row['outcome']!r}")
    return AlertMeaning(int(code, 16), row["description"], row["answers"],
                        _payload_class(row["payload"], Kind.ALERT, f"{where}.payload"),
                        row["mmc_alert"], row["outcome"])


def _check(result: Mapping) -> Mapping:
    seen: dict[tuple[str, str], str] = {}
    for variant, device_type, case in result.rows():
        other = seen.setdefault((variant, device_type), case.code)
        if other != case.code:
            raise MappingInvalid("two use cases for one service request and device type",
                                 path=f"{variant} / {device_type}", expected="one",
                                 found=f"{other} and {case.code}")
    codes = [c.message_code for c in result.use_cases.values()] + list(result.alerts)
    if len(set(codes)) != len(codes) or not all(0 <= c <= 0xFFFF for c in codes):
        raise MappingInvalid("message codes must be unique 16-bit values",
                             expected="distinct codes 0x0000..0xFFFF", found=str(codes))
    real = {case.name: case.message_code for case in REAL_USE_CASES}
    for case in result.use_cases.values():
        if case.code in real and real[case.code] != case.message_code:
            raise MappingInvalid("a GBCS use case with another message code than GBCS's",
                                 path=f"use_case.{case.code}.message_code",
                                 expected=f"0x{real[case.code]:04X}",
                                 found=f"0x{case.message_code:04X}")
    clash = set(result.variants()) & set(result.no_device_command)
    if clash:
        raise MappingInvalid("a variant both has and lacks a device command",
                             expected="disjoint lists", found=str(sorted(clash)))
    return result


def load_mapping(text: str) -> Mapping:
    """A checked :class:`Mapping` from TOML text (``mapping.toml``'s format)."""
    try:
        table = tomllib.loads(text)
        device_types = tuple(table["device_types"])
        use_cases = {code: _use_case(code, row, device_types)
                     for code, row in table["use_case"].items()}
        alerts = {}
        for code, row in table.get("alert", {}).items():
            meaning = _alert(code, row, use_cases)
            alerts[meaning.code] = meaning
        no_device = {variant: row["reason"]
                     for variant, row in table.get("no_device_command", {}).items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MappingInvalid(f"mapping.toml is malformed: {exc!r}") from None
    return _check(Mapping(device_types, use_cases, no_device, alerts))


@lru_cache(maxsize=1)
def mapping() -> Mapping:
    """The project's mapping (``duis/mmc/mapping.toml``)."""
    return load_mapping(resources.files(__package__).joinpath("mapping.toml")
                        .read_text("utf-8"))


def use_case_for(variant: str, device_type: str) -> UseCase:
    """The GBCS use case serving ``variant`` for ``device_type`` (TranslationError if none)."""
    return mapping().use_case(variant, device_type)


__all__ = ["AlertMeaning", "Mapping", "UseCase", "load_mapping", "mapping", "use_case_for"]
