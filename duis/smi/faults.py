"""Failure injection for atomicity tests.

:class:`SqliteInventory` calls its ``write_hook`` with a label (such as
``device.update`` or ``removal.suspend``) just before every statement that
writes.  A hook that raises makes that write fail, in the middle of whatever
operation or transaction is running; the inventory must then be exactly as
it was before the operation (or the outermost transaction) began.
"""

from __future__ import annotations

from .errors import SmiError


class InjectedFault(SmiError):
    """A failure injected on purpose by a test."""


class FailOnWrite:
    """A write hook that records every write label and fails one of them.

    ``FailOnWrite(3)`` fails the third write; ``FailOnWrite(label="audit.insert")``
    fails the first audit write; ``FailOnWrite()`` only records.  It fails once:
    later writes go through, so a test can carry on with the same inventory.
    """

    def __init__(self, nth: int | None = None, *, label: str | None = None) -> None:
        self.nth = nth
        self.label = label
        self.seen: list[str] = []
        self.fired = False

    def __call__(self, label: str) -> None:
        self.seen.append(label)
        if self.fired:
            return
        if (self.nth is not None and len(self.seen) == self.nth) or label == self.label:
            self.fired = True
            raise InjectedFault(f"injected failure at write {len(self.seen)}", path=label)
