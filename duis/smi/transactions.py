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
from typing import Callable


class Nesting:
    """The transaction state of one connection: how deeply blocks are nested.

    ``owner`` is what a block's ``with`` gives (the inventory); ``announce`` is
    called with ``"commit"`` just before the outermost COMMIT (the inventory's
    write hook); ``on_undo`` before any rollback.
    """

    __slots__ = ("db", "owner", "announce", "on_undo", "depth")

    def __init__(self, db: sqlite3.Connection, owner: object, *,
                 announce: Callable[[str], None], on_undo: Callable[[], None]) -> None:
        self.db, self.owner, self.announce, self.on_undo = db, owner, announce, on_undo
        self.depth = 0

    def block(self) -> "Transaction":
        """One atomic unit (a context manager); nested blocks are savepoints."""
        return Transaction(self)


class Transaction:
    """One block of :class:`Nesting`: BEGIN IMMEDIATE, or a savepoint when nested;
    COMMIT / RELEASE on success; undone on any exception."""

    __slots__ = ("nesting", "depth")

    def __init__(self, nesting: Nesting) -> None:
        self.nesting = nesting

    def __enter__(self) -> object:
        nesting = self.nesting
        self.depth = depth = nesting.depth
        nesting.db.execute("BEGIN IMMEDIATE" if depth == 0 else _SAVEPOINTS[depth][0])
        nesting.depth = depth + 1
        return nesting.owner

    def __exit__(self, kind, error, traceback) -> bool:
        nesting, depth = self.nesting, self.depth
        db = nesting.db
        try:
            if kind is None:
                try:
                    if depth == 0:
                        nesting.announce("commit")
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
