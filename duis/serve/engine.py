"""The DSP behind the web services, serialized on the event loop.

The DSP, its SQLite SMI and the emulated devices are not thread-safe, so
everything that touches them runs one call at a time, in the order the calls
were made; the HTTP side stays concurrent and awaits :meth:`Engine.call`.
The calls run on the event loop's own thread: a second Python thread would
only take turns with it for the interpreter lock (the DSP's work is Python),
and every turn costs the HTTP side a wait of up to the switch interval.

Calls are taken in batches (up to ``max_batch`` requests): each request's
replay check (its RequestID counter recorded) and its work on the DSP, in
order, then the asynchronous messages they produced written to the outbox,
all in one transaction of the SMI's database (a group commit; with
``--smi``, the outbox and the replay counters are tables there).  Only then
are the results handed back.  So a reply never leaves before what follows it
is safe on disk, the SMI never holds a change whose messages were lost, and a
counter is recorded exactly when what its request did is: a request that
fails (or whose batch fails, or that dies with a killed server) leaves no
counter behind, and may be sent again.  Each request runs in a savepoint of
the batch's transaction: one that fails undoes its own counter and changes
only.  Under load one commit serves many requests.

The SMI file may be locked by another process (a backup, a ``duis`` command,
a test holding a lock): the engine then never blocks the event loop waiting
for it; the batch waits (retried with back-off, later calls queued behind it,
in order) for up to ``ServeConfig.busy_timeout`` seconds, then it and every
change queued behind it are refused with :class:`SmiBusy` (HTTP 503: not
acted on, no counter recorded, send again).

With worker processes (:mod:`.pool`, :mod:`.worker`), a request's parsing, schema
validation and signature verification happen there, and only the rest (the
replay check, authorisation, the devices, the SMI) comes here, in the order
the requests arrived.

What the DSP sends comes out of it unsigned (:meth:`DSP.handle`,
:meth:`DSP.catch_up`); the engine places the sealing step (:mod:`duis.dsp.seal`):
here, or, for a batch of requests while workers run, in a worker (one job for
the batch's messages), while the batch's transaction stays open; the next
batch starts once this one is committed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as _dt
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TypeVar, cast

from ..clock import Clock, FixedClock, SystemClock, parse_instant, seeded_random
from ..defaults import default_world
from ..devices import FaultPlan, Network
from ..dsp import DSP, Outgoing
from ..dsp.operations import OperationRefused, Operations
from ..dsp.service import Checked, Submission
from ..errors import DuisError, InputError
from ..messages import format_datetime
from ..profiles import DEFAULT_PROFILE
from ..profiles import profile as named_profile
from ..signatures import CounterStore, CredentialStore
from ..signatures.credentials import default_store_directory
from ..smi import CplEntry, load_world, open_smi
from ..smi.claim import Claim
from ..smi.schema import read_meta, write_meta
from .checks import request_checked
from .config import ConfigError, ServeConfig
from .logs import LOGGER, event
from .outbox import Message, Outbox
from .pool import Answered, CheckPool, Failed, Outcome, RunHere
from .worker import CheckSettings

T = TypeVar("T")


#: the ``smi_meta`` key holding where a driven clock stands
DRIVEN_CLOCK = "serve.driven_clock"


def _refuse_going_back(db: sqlite3.Connection, config: ServeConfig) -> None:
    """A driven clock restarted on an SMI it already moved must not start earlier
    (the admin endpoint refuses backward moves; a restart must not make one)."""
    kept = read_meta(db, DRIVEN_CLOCK)
    if kept is not None and config.now is not None and parse_instant(kept) > config.now:
        raise ConfigError("the driven clock would go backwards", source=str(config.smi),
                          expected=f"--now at or after {kept}, where this SMI's clock stands",
                          found=format_datetime(config.now))


class AdminError(InputError):
    """An admin request that cannot be carried out (bad field, wrong clock mode)."""

    @classmethod
    def refusing(cls, refused: OperationRefused) -> AdminError:
        """The admin's refusal of an operation the facade refused."""
        return cls(refused.message, path=refused.path, expected=refused.expected,
                   found=refused.found)


class SmiBusy(DuisError):
    """The SMI's database stayed locked by another connection for longer than the
    busy timeout: the request was not acted on (no counter recorded) and may be
    sent again."""


#: the engine's own wait for a lock on the SMI file, in milliseconds, before the
#: batch is retried later (the event loop is never blocked longer)
LOCK_POLL_MS = 20
#: first and longest pause between two tries of a batch while the SMI is locked
LOCK_RETRY_FIRST, LOCK_RETRY_MAX = 0.02, 0.5


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "busy"."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in ("locked", "busy"))


@dataclass
class Handled:
    """What one request produced: the DSP's submission and its asynchronous messages."""

    submission: Submission
    cause: str = ""
    """The RequestID, for the outbox."""
    messages: list[Message] = field(default_factory=list)
    """The asynchronous messages (``submission.outgoing[1:]``), once signed."""
    queued: list[int] = field(default_factory=list)
    """Outbox sequence numbers of ``messages``, once written."""

    @property
    def outgoing(self) -> list[Outgoing]:
        return self.submission.outgoing

    @property
    def recipients(self) -> set[str]:
        return {m.recipient for m in self.messages}

    def sealed(self, outgoing: list[Outgoing]) -> Handled:
        """The same, with ``outgoing`` (its messages sealed) in place of the submission's."""
        sub = self.submission
        return Handled(Submission(sub.request, sub.decision, outgoing, sub.delivery), self.cause)

    def queue(self) -> None:
        self.messages = [_message(o, self.cause) for o in self.outgoing[1:]]


@dataclass
class Ticked:
    """What a clock move produced (device alerts and the DCC alerts they caused)."""

    now: _dt.datetime
    outgoing: list[Outgoing]
    cause: str = ""
    messages: list[Message] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)

    def sealed(self, outgoing: list[Outgoing]) -> Ticked:
        return Ticked(self.now, outgoing, self.cause)

    def queue(self) -> None:
        self.messages = [_message(o, self.cause) for o in self.outgoing]

    def as_dict(self) -> dict:
        return {"now": format_datetime(self.now),
                "messages": [{"seq": seq, "kind": o.kind, "code": o.code,
                              "recipient": o.recipient}
                             for seq, o in zip(self.queued, self.outgoing, strict=True)]}


@dataclass
class _Call:
    func: Callable
    args: tuple
    future: asyncio.Future
    prepare: Callable[[], object] | None = None
    """A request's stateless checks, run before the DSP's transaction (once, even
    when the batch is tried again): its value is ``func``'s first argument."""
    change: bool = False
    """Runs in the SMI's transaction, with the outbox rows it produces."""
    prepared: bool = False
    value: object = None
    error: BaseException | None = None


class Engine:
    """Owns the DSP, the SMI, the devices and the outbox; runs calls on them one
    at a time, in batches, on the event loop that opened it."""

    def __init__(self, config: ServeConfig, *, max_batch: int = 8) -> None:
        self.config = config
        self.profile_name = config.profile or DEFAULT_PROFILE
        self.max_batch = max_batch
        self._calls: collections.deque[_Call] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled: asyncio.Handle | None = None
        self._busy = False
        """A batch is waiting for its signatures (the next one waits for it)."""
        self._lock_retry: asyncio.TimerHandle | None = None
        """A batch is waiting for the SMI file's lock (retried by this handle)."""
        self._locked_since: float | None = None
        """When a batch first found the SMI locked (None: the last one got in)."""
        self._lock_pause = LOCK_RETRY_FIRST
        self.locked_refusals = 0
        """Calls refused with :class:`SmiBusy` so far."""
        self._sign_in_workers = False
        self.sign_batch_min = 2
        """Batches of fewer requests are signed here: one request's two signatures
        cost less than another round trip to a worker (light load, where latency
        matters); larger batches (heavy load) are signed in a worker."""
        self._closed = False
        self._closed_for_calls = False
        self._shared: sqlite3.Connection | None = None
        self._claim: Claim | None = None
        self._dsp: DSP | None = None
        self._outbox: Outbox | None = None
        self.pool: CheckPool | None = None
        """Worker processes for the stateless checks (``config.workers - 1``), once started."""
        self.faults = FaultPlan()
        self.audit_start = 0
        """The SMI audit sequence when the server started."""
        self.seeded = False
        """Whether the SMI was seeded from the world at this start."""

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` has built the DSP and opened the outbox."""
        return self._outbox is not None

    @property
    def dsp(self) -> DSP:
        """The DSP (built by :meth:`open`)."""
        if self._dsp is None:
            raise RuntimeError("the engine is not open")
        return self._dsp

    @property
    def outbox(self) -> Outbox:
        """The outbox (opened by :meth:`open`)."""
        if self._outbox is None:
            raise RuntimeError("the engine is not open")
        return self._outbox

    @property
    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that opened the engine."""
        if self._loop is None:
            raise RuntimeError("the engine is not open")
        return self._loop

    # --- lifecycle --------------------------------------------------------------------

    def open(self) -> None:
        """Build the DSP, open the SMI and the outbox (on the event loop's thread:
        SQLite connections stay on the thread that opened them)."""
        self._loop = asyncio.get_running_loop()
        config = self.config
        clock: Clock
        if config.clock == "driven":
            assert config.now is not None  # ServeConfig refuses a driven clock without --now
            clock = FixedClock(config.now)
        else:
            clock = SystemClock()
        world = config.world or default_world()
        if config.smi is None:
            inventory = load_world(world, clock=clock)
            self.seeded = True
        else:
            # this server's file while it runs: no other process changes it (smi.claim)
            claim = self._claim = Claim(config.smi, f"duis serve, process {os.getpid()}")
            try:
                inventory, self.seeded = open_smi(config.smi, world, clock=clock)
            except BaseException:
                claim.release()
                self._claim = None
                raise
        if config.clock == "driven" and not self.seeded:
            try:
                _refuse_going_back(inventory.connection(), config)
            except BaseException:            # not started: the file goes back as it was
                inventory.close()
                if self._claim is not None:
                    self._claim.release()
                    self._claim = None
                raise
        connection = inventory.connection()
        self._build(inventory, clock, CredentialStore(config.store or default_store_directory()))
        self._outbox = Outbox(config.smi, busy_timeout=config.busy_timeout, clock=clock)
        self._shared = connection if config.smi is not None else None
        """The SMI's connection, through which the outbox rows are written (same file)."""
        if config.smi is not None:
            # a lock held elsewhere: wait a moment, then retry later (never block the loop)
            connection.execute(f"PRAGMA busy_timeout = {LOCK_POLL_MS}")

    def _build(self, inventory, clock: Clock, store: CredentialStore) -> None:
        """The DSP over ``inventory``, with its devices (a new fault plan) and the
        replay counters, and the operations over it: at start, and after a reset."""
        config = self.config
        self.faults = FaultPlan()
        self.audit_start = inventory.last_seq()
        network = Network.from_inventory(inventory, clock=clock,
                                         random=seeded_random(config.seed), faults=self.faults)
        # the replay counters live beside the SMI (same connection): a counter is
        # recorded in the transaction of what its request did (see the module)
        counters = (CounterStore(connection=inventory.connection()) if config.replay_check
                    else None)
        self._dsp = dsp = DSP(inventory, store, profile=named_profile(self.profile_name),
                              clock=clock, counters=counters, network=network)
        self.operations = Operations(dsp, self.faults)
        """The clock, the CPL, the faults: what a scenario's steps do too."""

    def reset(self) -> dict:
        """``POST /admin/reset``, run as a change (after every call made before it,
        in one transaction): the world's initial state, as a server started afresh
        on a new SMI would have it.  The SMI seeded again from the world, the replay
        counters, the audit log and the tables beside the SMI emptied, the driven
        clock back at ``--now`` (:meth:`Operations.restore`); a new DSP over it (its
        devices and their pending work, PreCommands, the fault plan); the outbox
        emptied (its sequence numbers go on: a receiver never takes a new message
        for a repeat of an old one)."""
        dsp = self.dsp
        self.operations.restore(self.config.world or default_world(),
                                self.config.now if self.driven else None)
        self._build(dsp.inventory, dsp.clock, dsp.store)
        self.outbox.clear(self._shared)
        return self.summary()

    async def start_workers(self) -> None:
        """Start ``config.workers - 1`` worker processes for the stateless checks
        (after :meth:`open`; none: every request is checked here)."""
        if self.config.workers < 2:
            return
        dsp = self.dsp
        pool = CheckPool(self.config.workers - 1,
                         CheckSettings(str(dsp.store.directory), signing=dsp.signing,
                                       check_certificate_roles=dsp.check_certificate_roles))
        await pool.start()
        pool.on_released = self._drain
        self.pool = pool
        self._sign_in_workers = True

    async def stop_workers(self, timeout: float = 10.0) -> None:
        if self.pool is not None:
            self._sign_in_workers = False    # from here on, signed here
            await self.pool.stop(timeout)

    def close(self) -> None:
        """Run the calls made before, then close the SMI and the outbox."""
        if self._lock_retry is not None:              # closing: no more waiting for a lock
            self._lock_retry.cancel()
            self._lock_retry = None
        self._closed_for_calls = True
        self._finish()
        if self._closed:
            return
        self._closed = True
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        if self._dsp is not None:
            self._dsp.inventory.close()
            if self._dsp.counters is not None:
                self._dsp.counters.close()
        if self._outbox is not None:
            self._outbox.close()

    # --- calls --------------------------------------------------------------------------

    async def call(self, func: Callable[..., T], *args) -> T:
        """Run ``func(*args)``, which only reads, after the calls made before it."""
        future = self._running_loop.create_future()
        self._add(_Call(func, args, future))
        return await future

    async def change(self, func: Callable[..., T], *args) -> T:
        """Run ``func(*args)``, which changes the DSP (a clock move, the CPL), after
        the calls made before it, in one transaction with the messages it produced:
        they are in the outbox when this returns."""
        future = self._running_loop.create_future()
        self._add(_Call(func, args, future, change=True))
        return await future

    def _add(self, call: _Call) -> None:
        self._calls.append(call)
        self._schedule()

    def _schedule(self) -> None:
        if self._scheduled is None:
            self._scheduled = self._running_loop.call_soon(self._run_scheduled)

    def _run_scheduled(self) -> None:
        self._scheduled = None
        self._drain()

    async def request(self, data: bytes, service: str, source: str) -> Handled:
        """One request to a web service: checked in a worker process when there are
        any (then the serialized rest here), else all here.  Requests reach the
        serialized step in the order they came in."""
        future = self._running_loop.create_future()
        pool = self.pool
        if pool is None:
            self._add(_Call(self.handle, (service, source), future,
                            lambda: self._check_here(data, source), True))
            return await future

        def deliver(outcome: Outcome) -> None:          # in order; run by _drain after
            match outcome:
                case Answered(checked):
                    self._calls.append(_Call(self.handle, (service, source), future,
                                             lambda: checked, True))
                case Failed(error):
                    if not future.done():
                        future.set_exception(error)
                case RunHere():                               # no worker running
                    self._calls.append(_Call(self.handle, (service, source), future,
                                             lambda: self._check_here(data, source), True))

        pool.check(data, source, self.dsp.clock.now(), deliver)
        return await future

    def _drain(self) -> None:
        """Run a batch of the calls made so far, now; the rest after the loop has
        had a turn (the replies of this batch go out first)."""
        if self._busy or self._lock_retry is not None:
            return                          # after the batch being signed / waiting for the lock
        if self._calls:
            self._run(self._take())
        if self._calls and not self._busy and self._lock_retry is None:
            self._schedule()

    def _finish(self) -> None:
        """Run every call made so far (before closing)."""
        while self._calls and not self._busy and self._lock_retry is None:
            self._run(self._take())

    def _take(self) -> list[_Call]:
        """Up to ``max_batch`` requests in a row, or one other call: a request's
        checks run before the batch, so none may follow a call that could change
        what they read (a clock move)."""
        calls = self._calls
        first = calls.popleft()
        batch = [first]
        if first.prepare is not None:
            while calls and len(batch) < self.max_batch and calls[0].prepare is not None:
                batch.append(calls.popleft())
        return batch

    def _run(self, batch: list[_Call]) -> None:
        """The stateless checks still to run; then, in the SMI's transaction, each
        request's replay check and DSP work (in a savepoint of its own), the
        signatures of what they send, the outbox rows, the commit."""
        for call in batch:
            if call.prepare is not None and not call.prepared:
                call.prepared = True
                try:
                    call.value = call.prepare()
                except Exception as exc:  # handed to the caller, who maps it
                    call.error = exc
        transaction = self._transaction() if batch[0].change else contextlib.nullcontext()
        try:
            transaction.__enter__()
        except Exception as exc:
            if batch[0].change and is_locked(exc):
                self._locked(batch, exc)
                return
            _settle_all(batch, [(None, exc)] * len(batch))
            return
        if batch[0].change and self._locked_since is not None:
            event("smi-unlocked", locked_seconds=round(time.monotonic() - self._locked_since, 3),
                  refused=self.locked_refusals or None)
            self._locked_since, self._lock_pause = None, LOCK_RETRY_FIRST
        outcomes: list[tuple[object, BaseException | None]] = []
        for call in batch:
            if call.error is not None:
                outcomes.append((None, call.error))
                continue
            try:
                if call.prepare is not None:
                    with self._request_scope():     # its counter and its changes, or neither
                        result = call.func(call.value, *call.args)
                else:
                    result = call.func(*call.args)
                outcomes.append((result, None))
            except Exception as exc:  # handed to the caller, who maps it
                outcomes.append((None, exc))
        produced = [result for result, _ in outcomes if isinstance(result, (Handled, Ticked))]
        if not produced:
            self._complete(batch, outcomes, transaction)
            return
        if not self._seal_in_worker(batch):
            try:
                sealed = [self.dsp.seal(result.outgoing) for result in produced]
            except Exception as exc:  # the DSP cannot sign: nothing of the batch is kept
                _abort(batch, transaction, exc)
                return
            self._complete(batch, _with_sealed(outcomes, sealed), transaction)
            return
        unsigned = [(out.xml, out.canonical) for result in produced for out in result.outgoing]
        now = self.dsp.clock.now()
        self._busy = True

        def signed(outcome: Outcome) -> None:
            try:
                match outcome:
                    case Answered(xmls):              # a signing job's: the signatures
                        signatures = iter(cast("list[bytes]", xmls))
                        sealed = [[out.with_signature(next(signatures))
                                   for out in result.outgoing] for result in produced]
                    case RunHere():                       # no worker: seal them here
                        try:
                            sealed = [self.dsp.seal(result.outgoing) for result in produced]
                        except Exception as exc:
                            outcome = Failed(exc)
                if isinstance(outcome, Failed):
                    _abort(batch, transaction, outcome.error)
                else:
                    self._complete(batch, _with_sealed(outcomes, sealed), transaction)
            finally:
                self._busy = False
                if self._calls:
                    self._schedule()

        assert self.pool is not None  # _seal_in_worker: workers are running
        self.pool.sign(unsigned, now, signed)

    def _seal_in_worker(self, batch: list[_Call]) -> bool:
        """Where the batch's messages are sealed: in a worker for a batch of at least
        :attr:`sign_batch_min` requests while workers run, else here."""
        return (self._sign_in_workers and self.dsp.signing and batch[0].prepare is not None
                and len(batch) >= self.sign_batch_min)

    def _complete(self, batch: list[_Call], outcomes: list, transaction) -> None:
        """Queue what the batch produced in the outbox, commit, hand the results back."""
        try:
            produced = []
            for result, _ in outcomes:
                if isinstance(result, (Handled, Ticked)):
                    result.queue()
                    if result.messages:
                        produced.append(result)
            if produced:
                messages = [m for r in produced for m in r.messages]
                seqs = iter(self.outbox.insert(self._shared, messages)
                            if self._shared is not None else self.outbox.add(messages))
                for result in produced:
                    result.queued = [next(seqs) for _ in result.messages]
        except Exception as exc:      # nothing of the batch is kept: each caller is told
            _abort(batch, transaction, exc)
            return
        try:
            transaction.__exit__(None, None, None)
        except Exception as exc:      # the commit failed (and was undone)
            outcomes = [(None, exc)] * len(batch)
        _settle_all(batch, outcomes)

    def _locked(self, batch: list[_Call], exc: BaseException) -> None:
        """The SMI file is locked elsewhere: try ``batch`` again shortly (it keeps
        its place, before every later call), or, once the lock has been held for
        ``busy_timeout`` seconds, refuse it and every change queued behind it."""
        now = time.monotonic()
        if self._locked_since is None:
            self._locked_since = now
            event("smi-locked", logging.WARNING, error=str(exc),
                  waiting=f"up to {self.config.busy_timeout} s, then 503")
        waited = now - self._locked_since
        if waited >= self.config.busy_timeout or self._closed_for_calls:
            behind = [c for c in self._calls if c.change]
            self._calls = collections.deque(c for c in self._calls if not c.change)
            refused = batch + behind
            self.locked_refusals += len(refused)
            error = SmiBusy(
                "the SMI database is locked by another connection; the request was not "
                "acted on (nothing changed, no RequestID counter recorded)",
                source=str(self.config.smi), expected="send the request again",
                found=f"locked for {waited:.1f} s (busy timeout {self.config.busy_timeout} s)")
            event("smi-busy", logging.ERROR, refused=len(refused), locked_seconds=round(waited, 3))
            _settle_all(refused, [(None, error)] * len(refused))
            return
        self._calls.extendleft(reversed(batch))
        pause, self._lock_pause = self._lock_pause, min(LOCK_RETRY_MAX, self._lock_pause * 2)
        self._lock_retry = self._running_loop.call_later(pause, self._lock_retried)

    def _lock_retried(self) -> None:
        self._lock_retry = None
        self._drain()

    def stop_waiting_for_the_lock(self) -> None:
        """Stopping: a batch waiting for the SMI file's lock (and what is queued
        behind it) is refused now with :class:`SmiBusy`, so its requests are
        answered ``503`` (not acted on, send again) before the connections close;
        the server's shutdown does not wait out the busy timeout."""
        if self._lock_retry is not None:
            self._lock_retry.cancel()
            self._closed_for_calls = True
            self._lock_retried()

    def lock_status(self) -> dict | None:
        """How long the SMI has been found locked (for ``/health``), or None."""
        if self._locked_since is None:
            return None
        return {"locked_seconds": round(time.monotonic() - self._locked_since, 3),
                "refused": self.locked_refusals}

    def _request_scope(self):
        """A savepoint for one request inside the batch's transaction."""
        return self.dsp.inventory.transaction()

    def _transaction(self):
        """The SMI's transaction for a batch of changes (its own writes nest in it).
        Only changes run in it: a read of the outbox through its own connection
        (whose lock the delivery thread may hold, waiting for this transaction's
        write lock) must not."""
        return self.dsp.inventory.transaction()

    # --- serialized (run by the calls) -------------------------------------------------------

    @property
    def clock(self):
        return self.dsp.clock

    @property
    def driven(self) -> bool:
        return isinstance(self.dsp.clock, FixedClock)

    def _check_here(self, data: bytes, source: str) -> Checked:
        """A request's stateless checks in this process: schema, signature."""
        return request_checked(lambda: self.dsp.precheck(data, source), data, source)

    def handle(self, checked: Checked, service: str, source: str) -> Handled:
        """A checked request through the DSP, in the batch's transaction: the replay
        check (its counter recorded in this transaction), authorisation, the
        device; what it sends is sealed, and its asynchronous messages queued, after."""
        self.dsp.check_counter(checked, source)
        submission = self.dsp.handle(checked.as_request(source), web_service=service,
                                     source=source)
        return Handled(submission, str(submission.request.request_id))

    def tick(self) -> Ticked:
        """Let the devices catch up with the clock (the alerts that fire are queued after)."""
        now = self.dsp.clock.now()
        return Ticked(now, self.dsp.catch_up(), f"clock at {format_datetime(now)}")

    def move_clock(self, *, advance_seconds: float | None = None,
                   now: _dt.datetime | None = None,
                   last: _dt.datetime | None = None) -> Ticked:
        """Driven clock only: move it (never backwards, never past ``last``), and let
        the devices catch up (:meth:`Operations.move_clock`).  Nothing moves when the
        request is refused."""
        try:
            outgoing = self.operations.move_clock(advance_seconds=advance_seconds, now=now,
                                                  last=last)
        except OperationRefused as exc:
            raise AdminError.refusing(exc) from None
        now = self.dsp.clock.now()
        # kept in the SMI (this change's transaction): a restart never goes back
        write_meta(self.dsp.inventory.connection(), DRIVEN_CLOCK, format_datetime(now))
        return Ticked(now, outgoing, f"clock at {format_datetime(now)}")

    def remove_cpl(self, manufacturer: str, model: str, firmware_version: str,
                   smets: str | None, cause: str) -> list[str]:
        """The DCC removes a CPL entry: the devices running it are Suspended."""
        return self.operations.remove_cpl(manufacturer, model, firmware_version, smets, cause)

    def add_cpl(self, entry: CplEntry, cause: str) -> None:
        self.operations.add_cpl(entry, cause)

    def fault(self, kind: str, device: str | None, share: float | None) -> None:
        """Plan a network fault, as a scenario's ``fault`` step does."""
        try:
            self.operations.fault(kind, device, share)
        except OperationRefused as exc:
            raise AdminError.refusing(exc) from None

    def device(self, eui: str) -> dict | None:
        found = self.operations.device(eui)
        return asdict(found) if found is not None else None

    def audit(self, since: int) -> list[dict]:
        return [asdict(r) for r in self.dsp.inventory.audit(since_seq=since)]

    def summary(self) -> dict:
        """The clock, the profile, where the audit started: nothing read from the
        database (safe to call at any time, out of turn)."""
        return {"now": format_datetime(self.dsp.clock.now()),
                "clock": "driven" if self.driven else "real",
                "profile": self.profile_name, "smi_audit_start": self.audit_start}

    def status(self) -> dict:
        return {**self.summary(), "outbox": self.outbox.counts()}


def _with_sealed(outcomes: list, sealed: list[list[Outgoing]]) -> list:
    """``outcomes`` with each Handled / Ticked replaced by its sealed form (in order)."""
    messages = iter(sealed)
    return [(result.sealed(next(messages)) if isinstance(result, (Handled, Ticked)) else result,
             error) for result, error in outcomes]


def _settle_all(batch: list[_Call], outcomes: list) -> None:
    for call, (result, error) in zip(batch, outcomes, strict=True):  # one outcome a call
        _settle(call.future, result, error)


def _abort(batch: list[_Call], transaction, error: BaseException) -> None:
    """Undo the batch's transaction; every caller gets ``error``."""
    try:
        transaction.__exit__(type(error), error, error.__traceback__)
    except Exception:  # the callers still get the first error; the rollback's is logged
        LOGGER.exception("rolling back a failed batch")
    _settle_all(batch, [(None, error)] * len(batch))


def _settle(future: asyncio.Future, result: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _message(out: Outgoing, cause: str) -> Message:
    return Message(out.recipient, out.kind, out.code, out.xml, cause)
