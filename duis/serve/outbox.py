"""The durable outbox: every asynchronous message the DSP sends, until delivered.

Device responses, E20/E21 answers, device alerts and DCC alerts are written
here (one transaction per request or clock tick) *before* the synchronous
reply leaves, so a message the DSP produced is never lost, even when the
server is killed the instant after.  The table lives in the SMI's SQLite file,
beside the SMI's own tables, through a separate connection:

- ``seq`` orders everything: per recipient, messages are delivered in ``seq``
  order, one at a time (the next waits until the one before is delivered);
- a row is marked delivered (``delivered_at``) only after the receiving
  endpoint answered 2xx, and never offered again;
- ``attempts`` and ``last_error`` say how delivery has gone so far.

With WAL and ``synchronous=NORMAL`` (as the SMI uses) a commit survives a
killed process, which is what a restart is; a power cut may lose the last
commits.  One connection, guarded by a lock, serves the DSP's thread (adding)
and the delivery's thread (marking).
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..clock import Clock, SystemClock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS serve_outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    code         TEXT NOT NULL,
    cause        TEXT,
    queued_at    TEXT NOT NULL,
    body         BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS serve_outbox_pending
    ON serve_outbox (recipient, seq) WHERE delivered_at IS NULL;
"""
_COLUMNS = "seq, recipient, kind, code, cause, queued_at, attempts, last_error, delivered_at"


@dataclass(frozen=True)
class Message:
    """One message to queue: what the DSP produced, and why."""

    recipient: str
    """EUI-64 of the DCC user it is for."""
    kind: str
    """``response``, ``device-response``, ``device-alert`` or ``dcc-alert``."""
    code: str
    body: bytes
    """The signed DUIS XML, exactly as it will be POSTed."""
    cause: str | None = None
    """The RequestID it answers, or the clock tick that produced it."""


@dataclass(frozen=True)
class Entry:
    """A queued message, as the outbox holds it."""

    seq: int
    recipient: str
    kind: str
    code: str
    cause: str | None
    queued_at: str
    attempts: int
    last_error: str | None
    delivered_at: str | None
    body: bytes | None = None

    def as_dict(self) -> dict:
        return {"seq": self.seq, "recipient": self.recipient, "kind": self.kind,
                "code": self.code, "cause": self.cause, "queued_at": self.queued_at,
                "attempts": self.attempts, "last_error": self.last_error,
                "delivered_at": self.delivered_at}


def _stamp(instant: _dt.datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Outbox:
    """The ``serve_outbox`` table of an SQLite file (``None``: in memory, not durable)."""

    def __init__(self, path: str | Path | None, *, busy_timeout: float = 30.0,
                 clock: Clock | None = None) -> None:
        """``busy_timeout``: seconds a write waits for a lock held by another
        connection before it fails with ``sqlite3.OperationalError`` (the
        delivery lanes log it and try again later).  ``clock`` (the DSP's; the wall
        clock by default) stamps ``queued_at`` and ``delivered_at``, so a driven
        clock's run records its own times; how long a message has been pending
        (:meth:`health`) is measured on the wall clock whatever ``clock`` is."""
        self.clock = clock or SystemClock()
        self._opened = time.monotonic()
        self._pending_since: dict[int, float] = {}
        # its own lock: insert() runs inside the SMI's write transaction and must never
        # wait for _lock, which a delivery lane holds while it waits for that write lock
        self._pending_lock = threading.Lock()
        """seq -> when (monotonic) this process queued it; older ones count from ``_opened``."""
        self.generation = 0
        """How many times the outbox was emptied (:meth:`clear`): a delivery lane
        delivers what it read only while this stays as it was then."""
        self.path = Path(path) if path is not None else None
        self.durable = self.path is not None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path) if self.durable else ":memory:",
                                   isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout)
        if self.durable:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing --------------------------------------------------------------------

    def add(self, messages: Iterable[Message]) -> list[int]:
        """Queue ``messages`` in one transaction; return their sequence numbers."""
        messages = list(messages)
        if not messages:
            return []
        now = _stamp(self.clock.now())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # an INSERT's lastrowid is the row's (never None)
                seqs = cast("list[int]", [self._db.execute(
                    "INSERT INTO serve_outbox (recipient, kind, code, cause, queued_at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (m.recipient, m.kind, m.code, m.cause, now, m.body)).lastrowid
                    for m in messages])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._note_queued(seqs)
        return seqs

    def insert(self, db: sqlite3.Connection, messages: Iterable[Message]) -> list[int]:
        """Queue ``messages`` through ``db``, a connection to the same file in a
        transaction the caller commits (the SMI's: its changes and the messages
        they caused are then one commit); return their sequence numbers."""
        now = _stamp(self.clock.now())
        seqs = cast("list[int]", [db.execute(  # an INSERT's lastrowid is never None
            "INSERT INTO serve_outbox (recipient, kind, code, cause, queued_at, body) "
            "VALUES (?, ?, ?, ?, ?, ?)", (m.recipient, m.kind, m.code, m.cause, now, m.body)
        ).lastrowid for m in messages])
        self._note_queued(seqs)
        return seqs

    def clear(self, db: sqlite3.Connection | None = None) -> None:
        """Withdraw every message (``POST /admin/reset``): through ``db``, a connection
        to the same file in a transaction the caller commits (as :meth:`insert`), or
        through the outbox's own.  Sequence numbers go on from the last one handed
        out; :attr:`generation` moves on, so a delivery lane drops what it read
        before."""
        if db is not None:
            db.execute("DELETE FROM serve_outbox")
        else:
            with self._lock:
                self._db.execute("DELETE FROM serve_outbox")
        with self._pending_lock:
            self._pending_since.clear()
        self.generation += 1

    def _note_queued(self, seqs: list[int]) -> None:
        moment = time.monotonic()
        with self._pending_lock:    # health() reads it from another thread
            self._pending_since.update(dict.fromkeys(seqs, moment))

    def delivered(self, seq: int) -> None:
        """The receiver answered 2xx: never offer ``seq`` again."""
        with self._lock:
            self._db.execute("UPDATE serve_outbox SET delivered_at = ?, attempts = attempts + 1 "
                             "WHERE seq = ? AND delivered_at IS NULL",
                             (_stamp(self.clock.now()), seq))
        with self._pending_lock:
            self._pending_since.pop(seq, None)

    def failed(self, seq: int, error: str) -> int:
        """An attempt failed; return how many attempts ``seq`` has had (0 when it is no
        longer in the outbox)."""
        with self._lock:
            self._db.execute("UPDATE serve_outbox SET attempts = attempts + 1, last_error = ? "
                             "WHERE seq = ?", (error[:500], seq))
            row = self._db.execute("SELECT attempts FROM serve_outbox WHERE seq = ?",
                                   (seq,)).fetchone()
        return row[0] if row else 0                     # 0: withdrawn meanwhile (a reset)

    # --- reading --------------------------------------------------------------------

    def pending_recipients(self) -> list[str]:
        """Recipients with undelivered messages."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT recipient FROM serve_outbox "
                                    "WHERE delivered_at IS NULL ORDER BY recipient").fetchall()
        return [r[0] for r in rows]

    def next_batch(self, recipient: str, limit: int = 64) -> list[Entry]:
        """The oldest undelivered messages for ``recipient``, in order, with bodies."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, body FROM serve_outbox "
                "WHERE recipient = ? AND delivered_at IS NULL ORDER BY seq LIMIT ?",
                (recipient, limit)).fetchall()
        return [Entry(*row) for row in rows]

    def entries(self, *, since: int = 0, pending_only: bool = False,
                limit: int = 1000) -> list[Entry]:
        """Rows after ``since`` in order, without bodies (for ``GET /admin/outbox``)."""
        where = "seq > ?" + (" AND delivered_at IS NULL" if pending_only else "")
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM serve_outbox WHERE {where} "
                                    "ORDER BY seq LIMIT ?", (since, limit)).fetchall()
        return [Entry(*row) for row in rows]

    def body(self, seq: int) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM serve_outbox WHERE seq = ?",
                                   (seq,)).fetchone()
        return row[0] if row else None

    def oldest_pending(self) -> Entry | None:
        """The undelivered message queued first (without its body), or None."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM serve_outbox "
                                   "WHERE delivered_at IS NULL ORDER BY seq LIMIT 1").fetchone()
        return Entry(*row) if row else None

    def health(self) -> dict:
        """:meth:`counts`, with the oldest pending message's age in seconds (on the
        wall clock, since this process queued it or, for an older one, since it
        opened the outbox), its sequence number and attempts, and the most attempts
        any pending message has had."""
        counts = self.counts()
        oldest = self.oldest_pending()
        with self._lock:
            (most,) = self._db.execute("SELECT COALESCE(MAX(attempts), 0) FROM serve_outbox "
                                       "WHERE delivered_at IS NULL").fetchone()
        if oldest is None:
            return {**counts, "oldest_pending_seconds": None, "max_attempts": 0}
        with self._pending_lock:
            for seq in [s for s in self._pending_since if s < oldest.seq]:
                del self._pending_since[seq]   # delivered, or never committed
            since = self._pending_since.get(oldest.seq, self._opened)
        age = time.monotonic() - since
        return {**counts, "oldest_pending_seconds": round(max(age, 0.0), 3),
                "oldest_pending": {"seq": oldest.seq, "recipient": oldest.recipient,
                                   "kind": oldest.kind, "code": oldest.code,
                                   "attempts": oldest.attempts,
                                   "last_error": oldest.last_error},
                "max_attempts": most}

    def counts(self) -> dict[str, int]:
        """``queued`` (ever), ``pending`` and ``delivered``."""
        with self._lock:
            total, pending = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(delivered_at IS NULL), 0) "
                "FROM serve_outbox").fetchone()
        return {"queued": total, "pending": pending, "delivered": total - pending}
