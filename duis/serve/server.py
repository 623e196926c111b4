"""Starting and stopping ``duis serve``: startup log, signals, graceful shutdown.

Start-up opens the SMI, makes the delivery session and starts the lanes
*before* the socket listens, so a request answered in the first instant has
its asynchronous messages delivered like any other.  The listening socket is
guarded (:class:`ConnectionGuard`): at most ``max_connections`` connections
are open at once, one more is answered ``503`` and closed at once; aiohttp's
keep-alive timeout (``header_timeout``) closes a connection that has not sent
a complete request head in time (a slow-header client), and the handlers
bound the body read (``body_timeout``, see :mod:`.app`).

Stopping (SIGTERM, SIGINT, or :meth:`Server.stop`) closes the listening
socket first, lets the requests in flight finish (each is answered, its
messages already queued), lets a delivery in flight finish and be recorded,
then closes the SMI.  What is still queued stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from aiohttp import web

from ..runtime import tune_for_throughput
from .app import SERVER, build_app
from .bodies import LINGER_SECONDS
from .config import SERVICE_NAMES, SERVICE_PATHS, SERVICE_VARIANTS, ServeConfig
from .delivery import Deliverer
from .engine import Engine
from .logs import event, limiter

T = TypeVar("T")


class Server:
    """One ``duis serve`` instance on the running event loop."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.engine = Engine(config)
        self.deliverer: Deliverer | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task | None = None
        self.port: int | None = None
        self.smki_port: int | None = None
        self.guard: ConnectionGuard | None = None
        self._sweeper: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        """Open the SMI, listen, start delivering; on failure, undo what was started."""
        loop = asyncio.get_running_loop()
        config = self.config
        self.engine.open()
        # the schema's reporting validator, built now: the first invalid request would
        # otherwise pay its half second on the event loop
        await loop.run_in_executor(None, lambda: self.engine.dsp.schema.detailed_schema)
        try:
            self.deliverer = Deliverer(self.engine.outbox, config.endpoints,
                                       retry_base=config.retry_base, retry_max=config.retry_max,
                                       timeout=config.delivery_timeout)
            await self.deliverer.start()        # the session exists before anyone is answered
            app = build_app(self.engine, self.deliverer, config)
            app[SERVER] = self
            self._runner = web.AppRunner(app, access_log=None,
                                         shutdown_timeout=config.shutdown_timeout,
                                         keepalive_timeout=config.header_timeout,
                                         lingering_time=LINGER_SECONDS)
            await self._runner.setup()
            handler = self._runner.server
            assert handler is not None  # set up just above
            self.guard = ConnectionGuard(handler, connection_cap(config))
            site = GuardedSite(self._runner, config.host, config.port, self.guard,
                               reuse_address=True, backlog=512)
            await site.start()
            if config.smki_port is not None:    # DCC Boxed's SMKI port: the same app
                await GuardedSite(self._runner, config.host, config.smki_port, self.guard,
                                  reuse_address=True).start()
            await self.engine.start_workers()    # requests before they are up: in-process
        except BaseException:
            if self._runner is not None:
                await self._runner.cleanup()
            await self.engine.stop_workers()
            if self.deliverer is not None:
                await self.deliverer.stop(0)
            self.engine.close()
            raise
        self.port = self._runner.addresses[0][1]
        self.smki_port = self._runner.addresses[1][1] if config.smki_port is not None else None
        tune_for_throughput()
        if not self.engine.driven:
            self._ticker = loop.create_task(self._tick())
        if limiter() is not None:
            self._sweeper = loop.create_task(self._sweep_logs())
        await self._log_start()

    async def _log_start(self) -> None:
        config, engine, guard = self.config, self.engine, self.guard
        assert guard is not None  # listening
        status = await engine.call(engine.status)
        event("listening", url=self.url, services={
            f"POST {path}": f"{SERVICE_NAMES[s]}, CV {', '.join(map(str, SERVICE_VARIANTS[s]))}"
            for s, path in SERVICE_PATHS.items()}, health="GET /health",
            admin="/admin/clock, /admin/cpl, /admin/fault, /admin/devices/{eui}, "
                  "/admin/outbox, /admin/audit, /admin/reset",
            smki="POST /services/certificatesearch, /services/retrievecertificate"
                 + (f" (also on port {self.smki_port})" if self.smki_port else ""))
        event("serving", smi=str(config.smi) if config.smi else "in memory (not durable)",
              seeded_from=str(engine.config.world or "default world") if engine.seeded else None,
              profile=status["profile"], clock=status["clock"], now=status["now"],
              replay_check=config.replay_check, callbacks=config.endpoints.describe(),
              outbox=status["outbox"], max_bytes=config.max_bytes,
              workers=config.workers, worker_pids=engine.pool.pids if engine.pool else None,
              limits={"max_connections": guard.cap, "header_timeout": config.header_timeout,
                      "body_timeout": config.body_timeout, "busy_timeout": config.busy_timeout,
                      "stuck_after": config.stuck_after})

    async def _tick(self) -> None:
        """Real clock: let the devices catch up with it every ``tick_seconds``
        (a tick that fails, e.g. the SMI locked, is logged and the next one tries)."""
        deliverer = self.deliverer
        assert deliverer is not None  # started before the ticker
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                ticked = await self.engine.change(self.engine.tick)
            except Exception as exc:  # noqa: BLE001 - the ticker never dies
                event("tick-failed", logging.WARNING, error=f"{type(exc).__name__}: {exc}")
                continue
            if ticked.outgoing:
                deliverer.wake(o.recipient for o in ticked.outgoing)
                event("clock", **ticked.as_dict())

    async def _sweep_logs(self) -> None:
        """Write the ``suppressed`` summaries of log windows that ended, even when
        nothing else is being logged."""
        while True:
            await asyncio.sleep(self.config.log_window / 2)
            found = limiter()
            if found is not None:
                found.sweep()

    async def stop(self) -> None:
        """Graceful: stop listening, finish in-flight requests and deliveries, close."""
        event("stopping", url=self.url)
        for task in (self._ticker, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        found = limiter()
        if found is not None:
            found.sweep(everything=True)
        # requests waiting for a locked SMI are answered (503) before connections close
        self.engine.stop_waiting_for_the_lock()
        await asyncio.sleep(0)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.stop_workers(self.config.shutdown_timeout)
        if self.deliverer is not None:
            await self.deliverer.stop(self.config.shutdown_timeout)
        counts = self.engine.outbox.counts() if self.engine.is_open else None
        self.engine.close()
        event("stopped", outbox=counts)


def connection_cap(config: ServeConfig) -> int:
    """``max_connections``, clipped to what the file descriptor limit leaves room for
    (the SMI, the workers' sockets, the deliveries and the logs need some too)."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return config.max_connections
    if soft == resource.RLIM_INFINITY:
        return config.max_connections
    return max(1, min(config.max_connections, soft - 64 - 4 * max(config.workers, 1)))


_REFUSAL_TEXT = b"503 service unavailable: too many connections open now\n"
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"X-DUIS-Error: TooManyConnections\r\nRetry-After: 1\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(_REFUSAL_TEXT), _REFUSAL_TEXT))


class ConnectionGuard:
    """The listening socket's protocol factory: aiohttp's request handlers for up to
    ``cap`` connections open at once; beyond, a connection is answered 503 and
    closed at once (its file descriptor freed), and the refusal is logged."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], cap: int) -> None:
        self.factory, self.cap = factory, cap
        self.open = 0
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.cap:
            self.refused += 1
            return _Refused(self)
        self.open += 1
        return _Counted(self, self.factory())


class _Counted(asyncio.Protocol):
    """An aiohttp request handler, counted while its connection is open."""

    __slots__ = ("guard", "inner", "counted")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner, self.counted = guard, inner, True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.counted = False
            self.guard.open -= 1
        self.inner.connection_lost(exc)


class _Refused(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        event("connection-refused", logging.WARNING, open=self.guard.open,
              max_connections=self.guard.cap, http=503)
        cast(asyncio.Transport, transport).write(_REFUSAL)  # a TCP connection's
        transport.close()


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` listening through a :class:`ConnectionGuard`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard,
                 **kwargs) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.guard, self._host, self._port,
                                                backlog=self._backlog,
                                                reuse_address=self._reuse_address)
        self._bound_port = self._server.sockets[0].getsockname()[1]


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

    def start(self) -> ServerThread:
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

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coroutine`` on the server's event loop, from another thread (a test's,
        an embedding program's), and wait at most ``timeout`` seconds for its result:
        e.g. ``run(server.engine.call(func, *args))`` reads the DSP in its turn."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

