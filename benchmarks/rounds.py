"""Goals stated as ratios, decided round by round.

This machine's speed drifts by 20% and more from minute to minute, so two
figures measured a minute apart compare two machines.  Each benchmark that
states a goal as a ratio measures its two sides one right after the other,
round after round, and the median round ratio decides.
"""

from __future__ import annotations

import statistics


def verdict(ratios: list[float], goal: float, *, at_most: bool) -> str:
    """``median 2.08x (lowest 2.03x, highest 3.47x)   goal <= 2.0x [NOT met]``: the
    round ratios' median against ``goal`` (``at_most``: the ratio may not exceed it)."""
    ordered = sorted(ratios)
    median = statistics.median(ordered)
    met = median <= goal if at_most else median >= goal
    return (f"median {median:.2f}x (lowest {ordered[0]:.2f}x, highest {ordered[-1]:.2f}x)   "
            f"goal {'<=' if at_most else '>='} {goal:g}x [{'met' if met else 'NOT met'}]")
