"""Transactions on the SMI's connection, nested as savepoints.

The outermost block is ``BEGIN IMMEDIATE`` (the write lock first: no upgrade
deadlock) and ends with ``COMMIT``; a block inside it is a savepoint, released
when it ends.  On any exception in a block (or in its COMMIT) the block's
changes are rolled back and ``on_undo`` runs (the inventory forgets its cache);
nothing is committed before the outermost block ends.  Other modules' writes
through the same connection (tables kept beside the SMI) join the same
transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Generic, Literal, Protocol, TypeVar


class Owner(Protocol):
    """What a :class:`Nesting`'s owner has: the hook called before the outermost COMMIT."""

    @property
    def write_hook(self) -> Callable[[str], None] | None: ...


OwnerT = TypeVar("OwnerT", bound=Owner)


class Nesting(Generic[OwnerT]):
    """The transaction state of one connection: how deeply blocks are nested.

    ``owner`` is what a block's ``with`` gives (the inventory); its ``write_hook``
    (None or a callable, see :mod:`duis.smi.faults`) is called with ``"commit"``
    just before the outermost COMMIT.  ``on_undo`` runs before any rollback.
    """

    __slots__ = ("db", "owner", "on_undo", "depth")

    def __init__(self, db: sqlite3.Connection, owner: OwnerT, *,
                 on_undo: Callable[[], None]) -> None:
        self.db, self.owner, self.on_undo = db, owner, on_undo
        self.depth = 0


class Transaction(Generic[OwnerT]):
    """One atomic block on a :class:`Nesting` (a context manager): BEGIN IMMEDIATE, or
    a savepoint when nested; COMMIT / RELEASE on success; undone on any exception."""

    __slots__ = ("nesting", "depth")

    def __init__(self, nesting: Nesting[OwnerT]) -> None:
        self.nesting = nesting

    def __enter__(self) -> OwnerT:
        nesting = self.nesting
        self.depth = depth = nesting.depth
        nesting.db.execute("BEGIN IMMEDIATE" if depth == 0 else _SAVEPOINTS[depth][0])
        nesting.depth = depth + 1
        return nesting.owner

    def __exit__(self, kind, error, traceback) -> Literal[False]:
        nesting, depth = self.nesting, self.depth
        db = nesting.db
        try:
            if kind is None:
                try:
                    if depth == 0:
                        hook = nesting.owner.write_hook
                        if hook is not None:
                            hook("commit")
                        db.execute("COMMIT")
                    else:
                        db.execute(_SAVEPOINTS[depth][1])
                    return False
                except BaseException:
                    _undo(nesting, db, depth)
                    raise
            _undo(nesting, db, depth)
            return False
        finally:
            nesting.depth = depth


def _undo(nesting: Nesting, db: sqlite3.Connection, depth: int) -> None:
    nesting.on_undo()
    if depth == 0:
        if db.in_transaction:
            db.execute("ROLLBACK")
    elif db.in_transaction:
        db.execute(_SAVEPOINTS[depth][2])
        db.execute(_SAVEPOINTS[depth][1])


class _Savepoints(dict):
    """depth -> (SAVEPOINT, RELEASE, ROLLBACK TO) statements of that nesting depth."""

    def __missing__(self, depth: int) -> tuple[str, str, str]:
        name = f"smi_{depth}"
        statements = self[depth] = (f"SAVEPOINT {name}", f"RELEASE {name}",
                                    f"ROLLBACK TO {name}")
        return statements


_SAVEPOINTS = _Savepoints()
