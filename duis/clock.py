"""The one clock and the one source of randomness, both injectable.

Everything that reads the time or draws a random number takes a ``Clock`` or
``Random`` argument, so a run can be replayed byte for byte.
"""

from __future__ import annotations

import datetime as _dt
import random as _random
from dataclasses import dataclass, field
from typing import Protocol

UTC = _dt.UTC


class Clock(Protocol):
    def now(self) -> _dt.datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    """Wall-clock time."""

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told to (tests, scenarios, golden files)."""

    current: _dt.datetime

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            self.current = self.current.replace(tzinfo=UTC)

    def now(self) -> _dt.datetime:
        return self.current

    def advance(self, **delta: float) -> _dt.datetime:
        self.current += _dt.timedelta(**delta)
        return self.current

    def set(self, when: _dt.datetime) -> None:
        self.current = when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_instant(text: str) -> _dt.datetime:
    """Parse an ISO-8601 instant (``Z`` allowed); naive values are UTC."""
    value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def seeded_random(seed: int) -> _random.Random:
    """The project's random source: a seeded ``random.Random``."""
    return _random.Random(seed)


@dataclass
class Environment:
    """Clock plus randomness, handed to whatever needs either."""

    clock: Clock = field(default_factory=SystemClock)
    random: _random.Random = field(default_factory=lambda: _random.Random(0))


__all__ = ["UTC", "Clock", "Environment", "FixedClock", "SystemClock", "parse_instant",
           "seeded_random"]
