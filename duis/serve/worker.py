"""The worker process of ``duis serve --workers N``: reads jobs from its socket, runs
them (check a request: :func:`~.checks.request_checked` over
:func:`duis.dsp.service.precheck`; sign what the DSP sends:
:func:`duis.dsp.seal.seal_bytes`) and answers, until the socket closes.  The
protocol and the pool that drives it: :mod:`.pool`."""

from __future__ import annotations

import datetime as _dt
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .checks import request_checked
from .framing import FrameReader, frame, instant, portable

#: the jobs: check a request; sign what the DSP sends
CHECK, SIGN = "check", "sign"
#: a worker answers what it finished at most this many seconds apart in one write
FLUSH_SECONDS = 0.001


@dataclass(frozen=True)
class CheckSettings:
    """What a worker needs to check requests as the DSP would (sent to it at start)."""

    store: str
    """The credential store directory."""
    signing: bool = True
    check_certificate_roles: bool = False


def worker_main(fd: int) -> None:
    """The worker process: read jobs, check them, answer, until the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the server stops us, once its requests
    signal.signal(signal.SIGTERM, signal.SIG_IGN)    # in flight are answered
    _batch_scheduling()
    sock = socket.socket(fileno=fd)
    reader = FrameReader()
    try:
        jobs: list = []
        while not jobs:                          # the settings come first, then the jobs
            chunk = sock.recv(1 << 16)
            if not chunk:
                return
            jobs = reader.feed(chunk)
        check, sign = _workers(jobs.pop(0))
        from ..runtime import tune_for_throughput
        tune_for_throughput()
        sock.sendall(frame(("ready", os.getpid())))
        while True:
            out: list[bytes] = []
            flushed = time.perf_counter()
            for job in jobs:
                try:
                    if job[0] == CHECK:
                        _, seq, data, source, now = job
                        value = check(data, source, instant(now))
                    else:
                        _, seq, messages, now = job
                        value = [sign(message, canonical, instant(now))
                                 for message, canonical in messages]
                    out.append(frame((seq, True, value)))
                except Exception as exc:  # every refusal goes back to the server
                    out.append(frame((seq, False, portable(exc))))
                if time.perf_counter() - flushed > FLUSH_SECONDS:
                    sock.sendall(b"".join(out))
                    out.clear()
                    flushed = time.perf_counter()
            if out:
                sock.sendall(b"".join(out))
            chunk = sock.recv(1 << 20)
            if not chunk:
                return                           # the server closed our input: done
            jobs = reader.feed(chunk)
    except (BrokenPipeError, ConnectionResetError):
        return                                   # the server is gone


def _batch_scheduling() -> None:
    """Linux: ask not to preempt the server's process when a job wakes us up (its
    one thread is what every request waits for); the share of CPU is unchanged."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


def _workers(settings: CheckSettings) -> tuple[Callable, Callable]:
    """The two jobs: check a request, sign what the DSP sends."""
    from ..dsp.seal import seal_bytes
    from ..dsp.service import precheck
    from ..schema import load_schema
    from ..signatures import CredentialStore

    store = CredentialStore(Path(settings.store))
    schema = load_schema()
    _ = schema.lxml_schema, schema.detailed_schema  # built before the first request, not by it

    def check(data: bytes, source: str, now):
        return request_checked(lambda: precheck(
            data, store, schema, now=now, signing=settings.signing,
            check_certificate_roles=settings.check_certificate_roles, source=source),
            data, source)

    def sign(message: bytes, canonical: bytes | None, now: _dt.datetime) -> bytes:
        return seal_bytes(message, store, now, canonical)

    return check, sign
