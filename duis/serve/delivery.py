"""Asynchronous delivery: POST each outbox message to its recipient's endpoint.

One *lane* per recipient (a DCC user's EUI-64) delivers that user's messages
strictly in outbox order, one at a time: the next is sent only after the one
before was answered 2xx.  A failure (connection refused, timeout, any other
status) is recorded in the outbox and retried after a back-off that doubles
from ``retry_base`` up to ``retry_max`` seconds; nothing is ever dropped.
Lanes start for every recipient with pending messages when the server
starts, so what was queued before a restart goes out after it.

A lane never dies: anything else that goes wrong in it (the outbox's SQLite
file locked by another process for longer than its busy timeout, a bug) is
logged with its traceback (``delivery-lane-error``) and the lane tries again
after the same back-off; a lane task that ends with an exception all the same
is logged (``delivery-lane-died``) and started again.  :meth:`Deliverer.health`
says which lanes are failing, since when and why, for ``GET /health``.  Lanes
wait for the HTTP session, which :meth:`Deliverer.start` makes before the
server listens.

A message is marked delivered right after its 2xx (the mark is retried until
it is written, never the POST); a crash between the two would offer it once
more after the restart, so every POST carries ``X-DUIS-Delivery: <outbox
seq>`` for receivers to recognise a repeat (``duis receive`` does).  On
shutdown, a POST in flight finishes and is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp

from .config import Endpoints
from .logs import event
from .outbox import Entry, Outbox

T = TypeVar("T")
#: headers of every delivery, beside Content-Type
HEADER_SEQ, HEADER_KIND, HEADER_RECIPIENT = "X-DUIS-Delivery", "X-DUIS-Kind", "X-DUIS-Recipient"


@dataclass
class _Lane:
    recipient: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False
    task: asyncio.Task | None = None
    failing: str | None = None
    """The last error while the lane is failing (None: its last attempt went through)."""
    failing_since: float | None = None
    """Wall-clock time of the first failure in a row."""
    failures: int = 0
    """Failures in a row (POSTs and outbox errors)."""
    restarts: int = 0
    """Times the lane's task died and was started again."""
    seq: int | None = None
    """The message the lane is delivering."""
    undeliverable: bool = False


class Deliverer:
    """The lanes, their HTTP client session and the outbox they read."""

    def __init__(self, outbox: Outbox, endpoints: Endpoints, *, retry_base: float = 0.5,
                 retry_max: float = 60.0, timeout: float = 10.0, batch: int = 64,
                 clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.endpoints = endpoints
        self.retry_base, self.retry_max = retry_base, retry_max
        self.timeout = timeout
        self.batch = batch
        self.clock = clock
        """Wall-clock seconds, for how long a lane has been failing."""
        self._lanes: dict[str, _Lane] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="duis-outbox")
        self._session: aiohttp.ClientSession | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Make the HTTP session, then start a lane for every recipient with pending
        messages (before the server listens: a lane never runs without a session)."""
        # the endpoint's answer body is never decompressed nor read (see _post)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        self._ready.set()
        for recipient in await self._db(self.outbox.pending_recipients):
            self.wake([recipient])

    def wake(self, recipients: Iterable[str]) -> None:
        """New messages were queued for ``recipients``: let their lanes run."""
        if self._stopping:
            return
        for recipient in recipients:
            lane = self._lanes.get(recipient)
            if lane is None:
                lane = self._lanes[recipient] = _Lane(recipient)
                self._spawn(lane)
            lane.wake.set()

    def _spawn(self, lane: _Lane) -> None:
        lane.task = asyncio.get_running_loop().create_task(self._run(lane))
        lane.task.add_done_callback(lambda task: self._ended(lane, task))

    def _ended(self, lane: _Lane, task: asyncio.Task) -> None:
        """Supervision: a lane task that ended with an exception is logged and
        started again after the back-off (its messages stay pending meanwhile)."""
        if task.cancelled() or self._stopping or lane.task is not task:
            return
        error = task.exception()
        if error is None:
            return
        lane.restarts += 1
        self._failing(lane, f"{type(error).__name__}: {error}")
        delay = self.backoff(lane.failures)
        event("delivery-lane-died", logging.ERROR, recipient=lane.recipient,
              error=f"{type(error).__name__}: {error}", restarts=lane.restarts,
              restart_in=round(delay, 3),
              traceback="".join(traceback.format_exception(error)).rstrip())

        def restart() -> None:
            if not self._stopping and lane.task is task:
                self._spawn(lane)
                lane.wake.set()
        asyncio.get_running_loop().call_later(delay, restart)

    async def stop(self, timeout: float) -> None:
        """Stop the lanes; a POST in flight gets ``timeout`` seconds to finish."""
        self._stopping = True
        self._stop.set()
        for lane in self._lanes.values():
            lane.wake.set()
        tasks = [lane.task for lane in self._lanes.values() if lane.task and not lane.task.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._executor.shutdown(wait=True)

    # --- health -------------------------------------------------------------------------

    def health(self) -> dict:
        """The lanes: how many, which are failing (since when, how often, why), which
        have no endpoint, how often a lane task died and was started again."""
        now = self.clock()
        failing = [{"recipient": lane.recipient, "error": lane.failing,
                    "failing_seconds": round(now - lane.failing_since, 3)
                    if lane.failing_since is not None else None,
                    "failures": lane.failures, "seq": lane.seq}
                   for lane in self._lanes.values() if lane.failing is not None]
        return {"lanes": len(self._lanes), "failing": failing,
                "undeliverable": sorted(lane.recipient for lane in self._lanes.values()
                                        if lane.undeliverable),
                "restarts": sum(lane.restarts for lane in self._lanes.values()),
                "dead": sorted(lane.recipient for lane in self._lanes.values()
                               if lane.task is not None and lane.task.done()
                               and not self._stopping)}

    def _failing(self, lane: _Lane, error: str) -> None:
        if lane.failing is None:
            lane.failing_since = self.clock()
        lane.failing = error
        lane.failures += 1

    @staticmethod
    def _healthy(lane: _Lane) -> None:
        lane.failing, lane.failing_since, lane.failures = None, None, 0

    # --- the lanes ----------------------------------------------------------------------

    async def _db(self, func: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when stopping."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _run(self, lane: _Lane) -> None:
        await self._ready.wait()
        while not self._stopping:
            try:
                lane.wake.clear()
                generation = self.outbox.generation
                batch = await self._db(self.outbox.next_batch, lane.recipient, self.batch)
                if not batch:
                    lane.seq = None
                    await lane.wake.wait()
                    continue
                for entry in batch:
                    if self.outbox.generation != generation:
                        break                           # the outbox was emptied (a reset)
                    if not await self._deliver(lane, entry, generation):
                        return
            except Exception as exc:  # noqa: BLE001 - a lane never dies: log, wait, again
                self._failing(lane, f"{type(exc).__name__}: {exc}")
                delay = self.backoff(lane.failures)
                event("delivery-lane-error", logging.ERROR, recipient=lane.recipient,
                      seq=lane.seq, error=f"{type(exc).__name__}: {exc}",
                      failures=lane.failures, retry_in=round(delay, 3),
                      traceback="".join(traceback.format_exception(exc)).rstrip())
                await self._pause(delay)

    async def _deliver(self, lane: _Lane, entry: Entry, generation: int) -> bool:
        """Deliver ``entry`` (retrying while the outbox is of ``generation``: an
        emptied outbox withdrew it); False when stopping first."""
        lane.seq = entry.seq
        url = self.endpoints.url_for(entry.recipient)
        if url is None:
            lane.undeliverable = True
            event("undeliverable", seq=entry.seq, recipient=entry.recipient,
                  why="no --callback endpoint for this user; kept in the outbox")
            await self._stop.wait()
            return False
        attempts = entry.attempts
        while not self._stopping:
            if self.outbox.generation != generation:
                self._healthy(lane)
                return True
            lane.busy = True
            try:
                error = await self._post(url, entry)
            finally:
                lane.busy = False
            if error is None:
                if not await self._record(lane, self.outbox.delivered, entry.seq):
                    return False
                self._healthy(lane)
                event("delivered", seq=entry.seq, recipient=entry.recipient,
                      kind=entry.kind, code=entry.code, cause=entry.cause, url=url,
                      attempt=attempts + 1)
                return True
            attempts += 1
            self._failing(lane, error)
            try:
                attempts = await self._db(self.outbox.failed, entry.seq, error)
            except Exception as exc:  # noqa: BLE001 - the count stays in memory; logged
                event("outbox-write-failed", logging.ERROR, seq=entry.seq,
                      recipient=entry.recipient, write="attempt",
                      error=f"{type(exc).__name__}: {exc}")
            delay = self.backoff(attempts)
            event("delivery-failed", logging.WARNING, seq=entry.seq, recipient=entry.recipient,
                  kind=entry.kind, code=entry.code, url=url, attempt=attempts, error=error,
                  retry_in=round(delay, 3))
            await self._pause(delay)
        return False

    async def _record(self, lane: _Lane, write: Callable[..., object], *args) -> bool:
        """Run an outbox write until it goes through (the SMI file may be locked by
        another process for a while); False when stopping first."""
        failures = 0
        while not self._stopping:
            try:
                await self._db(write, *args)
                return True
            except Exception as exc:  # noqa: BLE001 - logged, retried
                failures += 1
                self._failing(lane, f"{type(exc).__name__}: {exc}")
                delay = self.backoff(failures)
                event("outbox-write-failed", logging.ERROR, seq=lane.seq,
                      recipient=lane.recipient, write=getattr(write, "__name__", "write"),
                      error=f"{type(exc).__name__}: {exc}", retry_in=round(delay, 3))
                await self._pause(delay)
        return False

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        return min(self.retry_max, self.retry_base * 2 ** min(max(attempts - 1, 0), 30))

    async def _post(self, url: str, entry: Entry) -> str | None:
        """POST one message; None on 2xx, else what went wrong.

        The status decides, as soon as it is in: the answer's body is never read
        (an endpoint could send a slow, huge or compressed one: the lane would wait,
        the server's memory grow), the connection is dropped instead.  A redirect is
        a failure, never followed (a 302 would turn the POST into a GET without the
        message, answered 200: delivered to nobody)."""
        headers = {"Content-Type": "application/xml", HEADER_SEQ: str(entry.seq),
                   HEADER_KIND: entry.kind, HEADER_RECIPIENT: entry.recipient}
        session = self._session
        assert session is not None  # started
        try:
            async with session.post(url, data=entry.body, headers=headers,
                                    allow_redirects=False) as reply:
                status = reply.status
                if status == 204 or reply.content_length == 0:
                    reply.release()            # nothing to read: the connection is kept
                else:
                    reply.close()              # the body unread: the connection goes
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            return f"HTTP {status} (a redirect, not followed: the endpoint must take the POST)"
        return f"HTTP {status}"
