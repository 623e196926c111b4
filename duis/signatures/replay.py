"""Replay protection: each originator's RequestID counter must strictly increase.

:class:`CounterStore` keeps the highest counter accepted per originator in
an SQLite file, so the record survives a restart; each check-and-record is
one ``BEGIN IMMEDIATE`` transaction, so two processes sharing the file
cannot both accept the same counter.  Given another module's connection
instead (``CounterStore(connection=db)``, e.g. the SMI's), the table lives
beside that module's tables and a check-and-record made while that
connection is in a transaction joins it: the counter is committed with what
the request did, or rolled back with it (``duis serve`` records a counter in
the very transaction that writes the request's SMI changes and outbox rows).
Counters are unsigned 64-bit, wider than SQLite's signed integers, so they are
stored as fixed-width decimal text that sorts like the number.

:class:`MillisecondCounter` is the counter source for signing: milliseconds
since the epoch, as the DCC's signing tool uses, but never repeating within
one process even when two messages are signed in the same millisecond.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..clock import UTC, Clock, SystemClock
from ..errors import UnreadableInput
from ..messages.ids import EUI64, MAX_COUNTER
from .errors import ReplayedCounter

_WIDTH = len(str(MAX_COUNTER))
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = _dt.timedelta(milliseconds=1)
_SCHEMA = """CREATE TABLE IF NOT EXISTS counters (
    originator TEXT PRIMARY KEY,
    counter TEXT NOT NULL
)"""


def _switch_to_wal(db: sqlite3.Connection, attempts: int = 200) -> None:
    """Switch to WAL, waiting for other openers: SQLite answers "locked" at once
    (no busy wait) when two connections switch a new file at the same time."""
    for _ in range(attempts):
        try:
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        time.sleep(0.01)
    db.execute("PRAGMA journal_mode=WAL")


def _open(path: Path | None) -> sqlite3.Connection:
    """The counters' database at ``path`` (``None``: in memory), in WAL with NORMAL
    sync (which survives a process crash, which is what a restart is); refused with
    :class:`~duis.errors.UnreadableInput` where ``path`` cannot be one, or is another
    application's database (left as it was)."""
    target = str(path) if path is not None else ":memory:"
    db = None
    try:
        db = sqlite3.connect(target, isolation_level=None, check_same_thread=False,
                             timeout=10.0)
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        if tables and "counters" not in tables:
            raise UnreadableInput("not a counter store", source=target,
                                  expected="an SQLite file of RequestID counters (a table "
                                           "counters), or a path to create one",
                                  found="tables " + ", ".join(tables[:5]))
        if path is not None:
            _switch_to_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
        return db
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise UnreadableInput("cannot open the counter store", source=target,
                              expected="an SQLite file of RequestID counters, or a path to "
                                       "create one", found=str(exc)) from None
    except UnreadableInput:
        if db is not None:
            db.close()
        raise


class CounterStore:
    """Highest accepted counter per originator EUI-64, persistent when given a path."""

    def __init__(self, path: str | os.PathLike | None = None, *,
                 connection: sqlite3.Connection | None = None) -> None:
        """``path``: the SQLite file (created if absent); ``None`` keeps it in memory.

        ``connection``: use this open connection (in autocommit mode) instead,
        which stays its owner's (:meth:`close` leaves it open); a check made
        while it is in a transaction is part of that transaction."""
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._borrowed = connection is not None
        if connection is not None:
            self._db = connection
        else:
            self._db = _open(self.path)
        self._db.execute(_SCHEMA)

    def last(self, originator: EUI64 | str) -> int | None:
        """The highest counter accepted from ``originator``, or ``None``."""
        row = self._db.execute("SELECT counter FROM counters WHERE originator = ?",
                               (str(EUI64.parse(originator)),)).fetchone()
        return int(row[0]) if row else None

    def check_and_record(self, originator: EUI64 | str, counter: int, *,
                         source: str | None = None) -> None:
        """Accept ``counter`` if it is above every counter accepted from ``originator``.

        Raises :class:`ReplayedCounter` (and records nothing) otherwise.  When the
        connection is already in a transaction (a borrowed connection, see the
        constructor), the record is part of it: committed, or rolled back, with
        the rest of that transaction; else it is committed at once.
        """
        if not 0 <= counter <= MAX_COUNTER:
            raise ReplayedCounter("counter out of range", source=source,
                                  expected=f"0 to {MAX_COUNTER}", found=str(counter))
        key = str(EUI64.parse(originator))
        with self._lock:
            if self._db.in_transaction:                 # the caller's: join it
                self._check_and_record(key, counter, source)
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._check_and_record(key, counter, source)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def check(self, originator: EUI64 | str, counter: int, *,
              source: str | None = None) -> None:
        """:meth:`check_and_record`'s refusal without the record: whether ``counter``
        would be accepted now (a caller acting on the request records it after)."""
        with self._lock:
            self._refuse_replay(str(EUI64.parse(originator)), counter, source)

    def _check_and_record(self, key: str, counter: int, source: str | None) -> None:
        self._refuse_replay(key, counter, source)
        self._db.execute(
            "INSERT INTO counters (originator, counter) VALUES (?, ?) "
            "ON CONFLICT(originator) DO UPDATE SET counter = excluded.counter",
            (key, str(counter).zfill(_WIDTH)))

    def _refuse_replay(self, key: str, counter: int, source: str | None) -> None:
        row = self._db.execute("SELECT counter FROM counters WHERE originator = ?",
                               (key,)).fetchone()
        if row is not None and counter <= int(row[0]):
            raise ReplayedCounter(
                "repeated or lower RequestID counter (replay)", source=source,
                path="/sr:Request/sr:Header/sr:RequestID",
                expected=f"a counter above {int(row[0])} for {key}",
                found=str(counter))

    def close(self) -> None:
        """Close the connection (a borrowed one stays open: its owner closes it)."""
        if not self._borrowed:
            self._db.close()

    def __enter__(self) -> CounterStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MillisecondCounter:
    """Fresh RequestID counters: milliseconds since the epoch, strictly increasing."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._last = -1

    def __call__(self) -> int:
        now = (self.clock.now() - _EPOCH) // _MILLISECOND
        self._last = max(now, self._last + 1)
        return self._last
