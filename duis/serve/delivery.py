"""Asynchronous delivery: POST each outbox message to its recipient's endpoint.

One *lane* per recipient (a DCC user's EUI-64) delivers that user's messages
strictly in outbox order, one at a time: the next is sent only after the one
before was answered 2xx.  A failure (connection refused, timeout, any other
status) is recorded in the outbox and retried after a back-off that doubles
from ``retry_base`` up to ``retry_max`` seconds; nothing is ever dropped.
Lanes start for every recipient with pending messages when the server
starts, so what was queued before a restart goes out after it.

A message is marked delivered right after its 2xx; a crash between the two
would offer it once more after the restart, so every POST carries
``X-DUIS-Delivery: <outbox seq>`` for receivers to recognise a repeat (``duis
receive`` does).  On shutdown, a POST in flight finishes and is recorded.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

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


class Deliverer:
    """The lanes, their HTTP client session and the outbox they read."""

    def __init__(self, outbox: Outbox, endpoints: Endpoints, *, retry_base: float = 0.5,
                 retry_max: float = 60.0, timeout: float = 10.0, batch: int = 64) -> None:
        self.outbox = outbox
        self.endpoints = endpoints
        self.retry_base, self.retry_max = retry_base, retry_max
        self.timeout = timeout
        self.batch = batch
        self._lanes: dict[str, _Lane] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="duis-outbox")
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=0))
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
                lane.task = asyncio.get_running_loop().create_task(self._run(lane))
            lane.wake.set()

    async def stop(self, timeout: float) -> None:
        """Stop the lanes; a POST in flight gets ``timeout`` seconds to finish."""
        self._stopping = True
        self._stop.set()
        for lane in self._lanes.values():
            lane.wake.set()
        tasks = [lane.task for lane in self._lanes.values() if lane.task]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._executor.shutdown(wait=True)

    # --- the lanes ----------------------------------------------------------------------

    async def _db(self, func: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def _run(self, lane: _Lane) -> None:
        while not self._stopping:
            lane.wake.clear()
            batch = await self._db(self.outbox.next_batch, lane.recipient, self.batch)
            if not batch:
                await lane.wake.wait()
                continue
            for entry in batch:
                if not await self._deliver(lane, entry):
                    return

    async def _deliver(self, lane: _Lane, entry: Entry) -> bool:
        """Deliver ``entry`` (retrying); False when stopping first."""
        url = self.endpoints.url_for(entry.recipient)
        if url is None:
            event("undeliverable", seq=entry.seq, recipient=entry.recipient,
                  why="no --callback endpoint for this user; kept in the outbox")
            await self._stop.wait()
            return False
        attempts = entry.attempts
        while not self._stopping:
            lane.busy = True
            try:
                error = await self._post(url, entry)
                if error is None:
                    await self._db(self.outbox.delivered, entry.seq)
                    event("delivered", seq=entry.seq, recipient=entry.recipient,
                          kind=entry.kind, code=entry.code, cause=entry.cause, url=url,
                          attempt=attempts + 1)
                    return True
                attempts = await self._db(self.outbox.failed, entry.seq, error)
            finally:
                lane.busy = False
            delay = self.backoff(attempts)
            event("delivery-failed", seq=entry.seq, recipient=entry.recipient,
                  kind=entry.kind, code=entry.code, url=url, attempt=attempts, error=error,
                  retry_in=round(delay, 3))
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
        return False

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        return min(self.retry_max, self.retry_base * 2 ** min(max(attempts - 1, 0), 30))

    async def _post(self, url: str, entry: Entry) -> str | None:
        """POST one message; None on 2xx, else what went wrong."""
        headers = {"Content-Type": "application/xml", HEADER_SEQ: str(entry.seq),
                   HEADER_KIND: entry.kind, HEADER_RECIPIENT: entry.recipient}
        try:
            async with self._session.post(url, data=entry.body, headers=headers) as reply:
                await reply.read()
                if 200 <= reply.status < 300:
                    return None
                return f"HTTP {reply.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
