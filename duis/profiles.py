"""Behaviour profiles: ``baseline``, ``mp105-option1`` and ``mp105-option2``.

A profile is one frozen object, loaded from ``catalogue/profiles.toml``, that
the authorisation checks and the response processing read.  The differences
between profiles live in that table, never in conditions on a profile's name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

from .errors import DuisError

DEFAULT_PROFILE = "mp105-option2"
ACTIVATION_SUCCESS_ONLY, ACTIVATION_ANY = "success", "any"


class UnknownProfile(DuisError):
    """The named behaviour profile does not exist."""


class ProfileQuestions(Protocol):
    """The questions the DSP asks a behaviour profile: what a :class:`BehaviourProfile`
    answers, and a :class:`JointProfile` for several profiles at once."""

    @property
    def name(self) -> str: ...

    def allows_while_suspended(self, variant: str, command_variant: int,
                               smets: str) -> bool: ...

    def processes_activation(self, successful: bool) -> bool: ...

    def processes_firmware_read(self) -> bool: ...


@dataclass(frozen=True)
class BehaviourProfile:
    name: str
    description: str
    suspended_exceptions: frozenset[str]
    """Non-critical service reference variants a Suspended device may still receive."""
    suspended_local_exceptions: frozenset[str]
    """Variants a Suspended SMETS1 device may receive for local delivery (command variant 2)."""
    read_firmware_version_processed: bool
    """Whether an 11.2 response's firmware version is processed by the CPL rules
    (MP105 Requirement 1)."""
    activation_processed_on: str
    """Which 11.3 responses and future-dated activation alerts are processed by
    the CPL rules: ``success`` (ActivateImageResponseCode success / alert 0x8F66
    only) or ``any`` (MP105 Requirement 2: whatever the outcome, provided a
    firmware version is present)."""

    def allows_while_suspended(self, variant: str, command_variant: int, smets: str) -> bool:
        """E5 exception list for a Suspended device."""
        if variant in self.suspended_exceptions:
            return True
        return (command_variant == 2 and smets == "SMETS1"
                and variant in self.suspended_local_exceptions)

    def processes_activation(self, successful: bool) -> bool:
        """Whether an activation outcome (11.3 response or 0x8F66/0x8F67 alert) is processed."""
        return successful or self.activation_processed_on == ACTIVATION_ANY

    def processes_firmware_read(self) -> bool:
        """Whether an 11.2 response's firmware version is processed (Requirement 1)."""
        return self.read_firmware_version_processed


class ProfilesDisagree(DuisError):
    """Profiles asked together (:class:`JointProfile`) would answer differently."""

    exit_code = 1
    #: each member's answer, by profile name (set by :class:`JointProfile`)
    answers: dict[str, object]


class JointProfile:
    """Several profiles asked every question at once, for work that is the same
    under each of them (a fleet simulation runs the phases before recovery
    once for every profile).

    It answers the questions a :class:`BehaviourProfile` answers (its methods;
    its data fields are deliberately absent, so code reading them directly
    fails instead of reading one profile's value).  Each answer is the one
    every member gives; when they differ it raises :class:`ProfilesDisagree`,
    naming the question and each profile's answer, and the caller must go on
    with each profile on its own.
    """

    def __init__(self, members: list[BehaviourProfile] | tuple[BehaviourProfile, ...],
                 name: str | None = None) -> None:
        if len(members) < 2:
            raise ValueError("a joint profile needs two profiles or more")
        self.members = tuple(members)
        self.name = name or " + ".join(m.name for m in self.members)

    def allows_while_suspended(self, variant: str, command_variant: int, smets: str) -> bool:
        return self._agreed("allows_while_suspended", variant, command_variant, smets)

    def processes_activation(self, successful: bool) -> bool:
        return self._agreed("processes_activation", successful)

    def processes_firmware_read(self) -> bool:
        return self._agreed("processes_firmware_read")

    def _agreed(self, question: str, *args) -> bool:
        answers = {m.name: getattr(m, question)(*args) for m in self.members}
        first = next(iter(answers.values()))
        if any(answer != first for answer in answers.values()):
            asked = f"{question}({', '.join(map(repr, args))})"
            error = ProfilesDisagree("the profiles answer differently", source=self.name,
                                     path=asked, expected="the same answer from every profile",
                                     found=", ".join(f"{n}: {a}" for n, a in answers.items()))
            error.answers = answers
            raise error
        return first

    def split(self, answers: dict[str, object]) -> list[list[str]]:
        """The members grouped by the answer each gave (in member order)."""
        groups: dict[object, list[str]] = {}
        for member in self.members:
            groups.setdefault(answers[member.name], []).append(member.name)
        return list(groups.values())

    def __repr__(self) -> str:
        return f"JointProfile({', '.join(m.name for m in self.members)})"


@lru_cache(maxsize=1)
def profiles() -> dict[str, BehaviourProfile]:
    """Every profile, by name, in table order."""
    text = resources.files("duis.catalogue").joinpath("profiles.toml").read_text("utf-8")
    table = tomllib.loads(text)
    return {name: BehaviourProfile(
        name=name, description=row["description"],
        suspended_exceptions=frozenset(row["suspended_exceptions"]),
        suspended_local_exceptions=frozenset(row["suspended_local_exceptions"]),
        read_firmware_version_processed=row["read_firmware_version_processed"],
        activation_processed_on=row["activation_processed_on"]) for name, row in table.items()}


def profile(name: str = DEFAULT_PROFILE) -> BehaviourProfile:
    """The profile called ``name``; the default is the DCC's behaviour today."""
    try:
        return profiles()[name]
    except KeyError:
        raise UnknownProfile("unknown behaviour profile", expected=" or ".join(profiles()),
                             found=repr(name)) from None


__all__ = ["DEFAULT_PROFILE", "BehaviourProfile", "JointProfile", "ProfilesDisagree",
           "UnknownProfile", "profile", "profiles"]
