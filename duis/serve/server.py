"""Starting and stopping ``duis serve``: startup log, signals, graceful shutdown.

Stopping (SIGTERM, SIGINT, or :meth:`Server.stop`) closes the listening
socket first, lets the requests in flight finish (each is answered, its
messages already queued), lets a delivery in flight finish and be recorded,
then closes the SMI.  What is still queued stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Callable

from aiohttp import web

from ..runtime import tune_for_throughput
from .app import build_app
from .config import SERVICE_NAMES, SERVICE_PATHS, SERVICE_VARIANTS, ServeConfig
from .delivery import Deliverer
from .engine import Engine
from .logs import event


class Server:
    """One ``duis serve`` instance on the running event loop."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.engine = Engine(config)
        self.deliverer: Deliverer | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        """Open the SMI, listen, start delivering; on failure, undo what was started."""
        loop = asyncio.get_running_loop()
        config = self.config
        self.engine.open()
        try:
            self.deliverer = Deliverer(self.engine.outbox, config.endpoints,
                                       retry_base=config.retry_base, retry_max=config.retry_max,
                                       timeout=config.delivery_timeout)
            app = build_app(self.engine, self.deliverer, config)
            self._runner = web.AppRunner(app, access_log=None,
                                         shutdown_timeout=config.shutdown_timeout)
            await self._runner.setup()
            site = web.TCPSite(self._runner, config.host, config.port, reuse_address=True)
            await site.start()
            await self.engine.start_workers()    # requests before they are up: in-process
        except BaseException:
            if self._runner is not None:
                await self._runner.cleanup()
            await self.engine.stop_workers()
            self.engine.close()
            raise
        self.port = self._runner.addresses[0][1]
        tune_for_throughput()
        await self.deliverer.start()
        if not self.engine.driven:
            self._ticker = loop.create_task(self._tick())
        await self._log_start()

    async def _log_start(self) -> None:
        config, engine = self.config, self.engine
        status = await engine.call(engine.status)
        event("listening", url=self.url, services={
            f"POST {path}": f"{SERVICE_NAMES[s]}, CV {', '.join(map(str, SERVICE_VARIANTS[s]))}"
            for s, path in SERVICE_PATHS.items()}, health="GET /health",
            admin="/admin/clock, /admin/cpl, /admin/fault, /admin/devices/{eui}, "
                  "/admin/outbox, /admin/audit")
        event("serving", smi=str(config.smi) if config.smi else "in memory (not durable)",
              seeded_from=str(engine.config.world or "default world") if engine.seeded else None,
              profile=status["profile"], clock=status["clock"], now=status["now"],
              replay_check=config.replay_check, callbacks=config.endpoints.describe(),
              outbox=status["outbox"], max_bytes=config.max_bytes,
              workers=config.workers, worker_pids=engine.pool.pids if engine.pool else None)

    async def _tick(self) -> None:
        """Real clock: let the devices catch up with it every ``tick_seconds``."""
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            ticked = await self.engine.change(self.engine.tick)
            if ticked.outgoing:
                self.deliverer.wake(o.recipient for o in ticked.outgoing)
                event("clock", **ticked.as_dict())

    async def stop(self) -> None:
        """Graceful: stop listening, finish in-flight requests and deliveries, close."""
        event("stopping", url=self.url)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.stop_workers(self.config.shutdown_timeout)
        if self.deliverer is not None:
            await self.deliverer.stop(self.config.shutdown_timeout)
        counts = self.engine.outbox.counts() if self.engine.outbox else None
        self.engine.close()
        event("stopped", outbox=counts)


async def serve_until_signalled(config: ServeConfig,
                                ready: Callable[[Server], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    server = Server(config)
    await server.start()
    if ready is not None:
        ready(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await server.stop()


class ServerThread:
    """A server on its own event loop in a background thread (tests, embedding).

    >>> with ServerThread(ServeConfig(port=0)) as server:
    ...     server.url
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.server = Server(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="duis-serve",
                                        daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "ServerThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=60)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

