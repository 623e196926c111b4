"""The pool of worker processes for the stateless part of each request
(``--workers N``: N-1), on the server's side.

Parsing, schema validation and signature verification of a request read
nothing of the DSP's state (only the credential store and the schema), nor
does signing what the DSP sends (its key); together they are more than half
the CPU a request costs.  So they run in a few long-lived worker processes,
on the machine's other cores, while everything that reads or changes the
DSP's state (the replay check, authorisation, the devices, the SMI, the
outbox) stays on the engine's one thread, in arrival order.

The protocol is lean: one Unix socket pair per worker, frames of a 4-byte
length and a pickle.  To check, the server sends ``("check", seq, body,
source, now)`` (``now``: the engine clock's time when the request arrived, so
a driven clock gives the worker the same certificate validity as the
in-process check) and the worker answers ``(seq, True, Checked)`` or ``(seq,
False, exception)``.  To sign, the server sends ``("sign", seq, [unsigned
message, ...], now)`` and gets the signed messages back (deterministic ECDSA:
the very bytes the server would have made).  A job is written to its worker
at once; a worker that was sent several answers them in one write (or in
writes a millisecond apart), so the server wakes up once for them and runs
them as one batch.

Results are handed on in the order the requests were dispatched, whatever
worker finished first, so the serialized step sees requests in arrival order,
exactly as without workers (the replay check refuses a counter that is not
above the last one *in arrival order*).

A worker that dies (killed, crashed) is logged and replaced; the requests it
was checking are checked again, in their place in arrival order (on another
worker, or in the server's process when none is running): the checks are
stateless and deterministic, so nothing is lost and no request is refused
because of it (a refusal there would come after later requests from the same
sender were accepted, and its resend would then be a replay).  A request
that was being checked by two workers that both died is refused with
:class:`WorkerExited` (HTTP 500) rather than checked in the server's own
process: it is most likely what killed them.  What a dead worker was signing
is signed by the server instead; while no worker is running, requests are
checked and signed in-process, as with ``--workers 1``.  Workers
ignore SIGINT and SIGTERM: the server stops them once its requests in flight
are answered (closing their socket ends them).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..errors import DuisError
from .framing import FrameReader, frame, microseconds
from .logs import event
from .worker import CHECK, SIGN, CheckSettings

#: seconds a new worker has to load the schema and the credential store
START_TIMEOUT = 60.0
#: a worker that died is replaced after this many seconds (doubling while they keep dying)
RESTART_DELAY = 0.5
#: a request is checked again after a worker died on it; after this many deaths, refused
MAX_CHECK_TRIES = 2


class WorkerExited(DuisError):
    """Two worker processes checking this request exited before they answered
    (killed or crashed): the request was not acted on (its RequestID counter
    was not recorded), and is refused rather than risk the server's process."""


# --- what a job comes to, handed on in order ----------------------------------------------

@dataclass(frozen=True, slots=True)
class Answered:
    """The worker did the job: a :class:`~duis.dsp.service.Checked` request, or the
    signed messages (in the order they were sent)."""

    value: object


@dataclass(frozen=True, slots=True)
class Failed:
    """The job was refused (the check's error) or failed."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class RunHere:
    """No worker was running (or the one doing it died and it is safe to do again):
    the server's process does the job itself."""


Outcome = Answered | Failed | RunHere
RUN_HERE = RunHere()


class _Worker(asyncio.Protocol):
    """One worker process and its end of the socket pair."""

    def __init__(self, pool: CheckPool, number: int) -> None:
        self.pool, self.number = pool, number
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen
        self.in_flight: set[int] = set()
        self.alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a socket connection's transport (create_unix_connection) writes
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        answered = False
        for item in self.reader.feed(data):
            if item[0] == "ready":
                self.pid, self.alive = item[1], True
                if not self.ready.done():
                    self.ready.set_result(None)
                continue
            self.pool._answered(self, *item)
            answered = True
        if answered:
            self.pool._release()

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if not self.ready.done():
            self.ready.set_exception(WorkerExited("worker process exited while starting"))
        self.pool._lost(self)

    def send(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)


class _Pending:
    __slots__ = ("seq", "deliver", "outcome", "frame", "tries")

    def __init__(self, seq: int, deliver: Callable[[Outcome], None]) -> None:
        self.seq, self.deliver = seq, deliver
        self.outcome: Outcome | None = None
        self.frame = b""
        """The check job (set when it is sent), to send again to another worker if this
        one dies."""
        self.tries = 0


class CheckPool:
    """``count`` worker processes checking requests; outcomes handed on in order."""

    def __init__(self, count: int, settings: CheckSettings) -> None:
        self.count = count
        self.settings = settings
        self.workers: list[_Worker] = []
        self._order: collections.deque[_Pending] = collections.deque()
        self._pending: dict[int, _Pending] = {}
        self._signing: dict[int, Callable] = {}
        self.jobs = {CHECK: 0, SIGN: 0}
        """Jobs sent to the workers so far, by kind."""
        self._seq = 0
        self._next = 0
        self._stopping = False
        self._restarts: set[asyncio.Task] = set()
        self._failures = 0
        self.on_released: Callable[[], None] | None = None
        """Called after outcomes were handed on (the engine runs them at once)."""

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers running now."""
        return [w.pid for w in self.workers if w.alive and w.pid is not None]

    async def start(self) -> None:
        """Start the workers and wait until each has loaded the schema and the store."""
        self.workers = [await self._spawn(n) for n in range(self.count)]
        try:
            await asyncio.wait_for(asyncio.gather(*(w.ready for w in self.workers)),
                                   START_TIMEOUT)
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, number: int) -> _Worker:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        worker = _Worker(self, number)
        try:
            package_root = str(Path(__file__).resolve().parents[2])   # this duis, not
            env = dict(os.environ)                                      # one in the cwd (-P)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root,
                                                            env.get("PYTHONPATH")) if p)
            worker.process = subprocess.Popen(
                [sys.executable, "-P", "-c", "import sys; from duis.serve.worker import "
                 "worker_main; worker_main(int(sys.argv[1]))", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            theirs.close()
        ours.setblocking(False)
        await loop.create_unix_connection(lambda: worker, sock=ours)
        assert worker.transport is not None  # connection_made set it
        worker.transport.write(frame(self.settings))
        return worker

    # --- checking ---------------------------------------------------------------------

    def check(self, data: bytes, source: str, now, deliver: Callable[[Outcome], None]) -> None:
        """Check ``data`` in a worker; ``deliver(outcome)`` is called on the event loop,
        in the order of the calls to :meth:`check`."""
        seq = self._seq
        self._seq += 1
        pending = _Pending(seq, deliver)
        self._order.append(pending)
        worker = self._choose()
        if worker is None:
            pending.outcome = RUN_HERE
            self._release()
            return
        self._pending[seq] = pending
        pending.frame = frame((CHECK, seq, data, source, microseconds(now)))
        pending.tries = 1
        worker.in_flight.add(seq)
        worker.send(pending.frame)
        self.jobs[CHECK] += 1

    def sign(self, messages: list[tuple[bytes, bytes | None]], now,
             done: Callable[[Outcome], None]) -> None:
        """Sign what the DSP built unsigned (each message's bytes and Canonical XML, if
        it has it: :attr:`~duis.dsp.responses.Outgoing.canonical`), with its
        credential valid at ``now``;
        ``done`` gets :class:`Answered` (the signed messages), :class:`Failed` or, when
        no worker is running (or the one signing died), :class:`RunHere`."""
        worker = self._choose()
        if worker is None:
            done(RUN_HERE)
            return
        seq = self._seq
        self._seq += 1
        self._signing[seq] = done
        worker.in_flight.add(seq)
        worker.send(frame((SIGN, seq, messages, microseconds(now))))
        self.jobs[SIGN] += 1

    def _choose(self) -> _Worker | None:
        alive = [w for w in self.workers if w.alive and w.transport is not None
                 and not w.transport.is_closing()] if not self._stopping else []
        if not alive:
            return None
        self._next += 1
        return min(alive, key=lambda w: (len(w.in_flight),
                                         (w.number - self._next) % len(self.workers)))

    def _answered(self, worker: _Worker, seq: int, ok: bool, value: object) -> None:
        worker.in_flight.discard(seq)
        # a refused or failed job's value is the worker's exception
        outcome = Answered(value) if ok else Failed(cast(BaseException, value))
        done = self._signing.pop(seq, None)
        if done is not None:
            done(outcome)
            return
        pending = self._pending.pop(seq, None)
        if pending is None:
            return
        pending.outcome = outcome

    def _release(self) -> None:
        """Hand on the outcomes that are next in order, then call :attr:`on_released`."""
        order = self._order
        released = False
        while order:
            outcome = order[0].outcome
            if outcome is None:
                break
            pending = order.popleft()
            released = True
            try:
                pending.deliver(outcome)
            except Exception:  # a bug in the receiver must not stall the others
                logging.getLogger("duis.serve").exception("handing on a checked request")
        if released and self.on_released is not None:
            self.on_released()

    def _lost(self, worker: _Worker) -> None:
        """``worker``'s socket closed: check again what it was checking (elsewhere),
        sign what it was signing here, then replace it."""
        jobs = sorted(worker.in_flight)
        worker.in_flight.clear()
        cut = 0
        for seq in jobs:
            done = self._signing.pop(seq, None)
            if done is not None:
                done(RUN_HERE)                             # signing is safe to do again
                continue
            pending = self._pending.get(seq)
            if pending is None:
                continue
            cut += 1
            other = self._choose() if pending.tries < MAX_CHECK_TRIES else None
            if other is not None and other is not worker:   # checked again, there
                pending.tries += 1
                other.in_flight.add(seq)
                other.send(pending.frame)
                self.jobs[CHECK] += 1
                continue
            del self._pending[seq]
            if pending.tries < MAX_CHECK_TRIES:             # no other worker: here
                pending.outcome = RUN_HERE
            else:
                pending.outcome = Failed(WorkerExited(
                    f"{pending.tries} worker processes checking this request exited before "
                    "they answered; the request was not acted on (its RequestID counter was "
                    "not recorded) and is not checked in the server's own process",
                    source=f"worker {worker.number}",
                    expected="a request the checks can take", found=f"pid {worker.pid} gone"))
        self._release()
        if not self._stopping:
            task = asyncio.get_running_loop().create_task(self._replace(worker, cut))
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)

    async def _replace(self, old: _Worker, cut: int) -> None:
        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(None, old.process.wait) if old.process else None
        event("worker-exited", logging.WARNING, worker=old.number, pid=old.pid,
              exit_status=status, requests_checked_again=cut,
              why="requests are checked in-process until it is replaced"
              if not any(w.alive for w in self.workers) else None)
        self._failures += 1
        await asyncio.sleep(min(30.0, RESTART_DELAY * 2 ** min(self._failures - 1, 6)))
        if self._stopping:
            return
        try:
            new = await self._spawn(old.number)
        except OSError as exc:
            event("worker-failed", logging.ERROR, worker=old.number,
                  error=f"{type(exc).__name__}: {exc}")
            return
        self.workers[self.workers.index(old)] = new
        try:
            await asyncio.wait_for(asyncio.shield(new.ready), START_TIMEOUT)
        except (TimeoutError, Exception) as exc:
            event("worker-failed", logging.ERROR, worker=old.number,
                  error=f"{type(exc).__name__}: {exc}")
            return
        self._failures = 0
        event("worker-started", worker=new.number, pid=new.pid)

    # --- stopping ---------------------------------------------------------------------

    async def stop(self, timeout: float = 10.0) -> None:
        """End the workers: each answers what it was sent, sees the end of its input
        and exits; one still running after ``timeout`` seconds is killed."""
        self._stopping = True
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*self._restarts, return_exceptions=True)
        for worker in self.workers:
            transport = worker.transport
            if transport is not None and not transport.is_closing():
                if transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                await asyncio.wait_for(loop.run_in_executor(None, worker.process.wait),
                                       max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                worker.process.kill()
                await loop.run_in_executor(None, worker.process.wait)
            if worker.transport is not None:
                worker.transport.close()
