"""Load on ``duis serve``: 50 concurrent clients send signed 11.2 requests for 30 s.

The server runs as ``duis serve`` in its own processes (SMI and outbox in an
SQLite file, JSON logs of every message to a file, no receiving endpoint: the
device responses stay queued in the durable outbox), with its default
``--workers`` (one process per core: on 2 cores the server's process, which
does HTTP and the DSP, and one worker process that parses, validates and
verifies requests and signs what the DSP sends); the first lines say what it
used.  The clients run in this
process on one event loop, each with one keep-alive HTTP/1.1 connection (a
lean asyncio protocol: an aiohttp session costs about three times the CPU per
request, taken from the cores the server needs).  The machine's cores (2 on
the reference machine) are shared by all of them.

Requests are signed beforehand, each with its own RequestID counter; the
server runs with ``--no-replay-check`` because 50 clients sending for one
supplier cannot keep its counters strictly increasing in arrival order (each
request's signature is still verified in full).  Checked afterwards: every
request answered exactly once, with its own RequestID, I99, and a device
response queued in the outbox for each.

Two runs: *closed loop* (each client sends its next request as soon as the
last is answered: the throughput ceiling, latency is mostly queueing) and
*paced* (the clients together offer 1,000 requests per second: the latency
an adaptor sees at the target load).  Goal (issue 8): 1,000 requests per
second or more, p99 under 50 ms.

Environment: ``BENCH_SECONDS`` (default 30), ``BENCH_CLIENTS`` (default 50),
``BENCH_RATE`` (paced run, default 1000 per second), ``BENCH_WORKERS`` (the
server's ``--workers``; default: its own default), ``BENCH_CLIENT=aiohttp``
(aiohttp sessions for the clients, as before), ``BENCH_PIN=1`` (the server's
process on one core, its workers and the clients on the others; default: let
the OS place them).

The "CPU per request" lines show where the time goes: the server's process
(one thread runs the DSP: the serialized part), its workers, and the clients.
Figures vary with whatever else the machine runs: when other work takes a
core, everything shares the other one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
READ = ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml"
SECONDS = float(os.environ.get("BENCH_SECONDS", 30))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 50))
RATE = float(os.environ.get("BENCH_RATE", 1000))
PIN = os.environ.get("BENCH_PIN", "0") == "1"
#: the load clients: lean asyncio connections (default), or ``aiohttp`` sessions
CLIENT = os.environ.get("BENCH_CLIENT", "lean")
#: ``--workers`` of the server (default: the server's own default, one per core)
WORKERS = os.environ.get("BENCH_WORKERS")
#: requests signed for the closed-loop run, per second (a client that runs out stops)
CEILING = 4000
SERVE = ("import sys, duis.cli as c\n"
         "c.COMMANDS = c.COMMANDS + tuple(n for n in ('serve',) if n not in c.COMMANDS)\n"
         "sys.exit(c.main(sys.argv[1:]))")
_REQUEST_ID = re.compile(rb"<sr:RequestID>([^<]+)</sr:RequestID>")
_CODE = re.compile(rb"<sr:ResponseCode>([^<]+)</sr:ResponseCode>")


# --- signed requests, made beforehand -------------------------------------------------------

def _sign_range(first: int, count: int) -> list[bytes]:
    from duis.signatures import CredentialStore, sign_with_store
    store = CredentialStore(ROOT / "samples/pki")
    template = READ.read_bytes()
    counters = iter(range(first, first + count))
    return [sign_with_store(template, store, counter=lambda: next(counters))
            for _ in range(count)]


def signed_requests(count: int, first: int = 1_000_000) -> list[bytes]:
    """``count`` signed 11.2 requests with counters from ``first``, signed on every core."""
    workers = os.cpu_count() or 1
    share = -(-count // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = pool.map(_sign_range, [first + i * share for i in range(workers)],
                         [share] * workers)
        return [data for part in parts for data in part][:count]


# --- the server -----------------------------------------------------------------------------

def start_server(folder: Path) -> tuple[subprocess.Popen, str, Path, dict]:
    log = folder / "serve.log"
    workers = WORKERS
    if PIN and workers is None and hasattr(os, "sched_getaffinity"):
        workers = str(len(os.sched_getaffinity(0)))    # its default, before it is pinned
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", "0", "--smi", str(folder / "smi.sqlite"),
         "--no-replay-check", *(["--workers", workers] if workers else [])],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"), cwd=ROOT)
    pin = PIN and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    if pin:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(process.pid, {cores[0]})        # the server on one core ...
        os.sched_setaffinity(0, set(cores[1:]))              # ... the clients on the others
    deadline = time.monotonic() + 30
    url = None              # from the "listening" line, which comes before "serving"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"duis serve exited: {log.read_text()}")
        text = log.read_text()
        # whole lines only: the server may be writing the last one
        for line in text[:text.rfind("\n") + 1].splitlines():
            record = json.loads(line)
            if record["event"] == "listening":
                url = record["url"]
            elif record["event"] == "serving" and url is not None:
                for worker in record.get("worker_pids") or [] if pin else []:
                    os.sched_setaffinity(worker, set(cores[1:]))     # ... and its workers
                return process, url, log, record
        time.sleep(0.05)
    process.kill()
    raise SystemExit("duis serve did not start")


# --- the load -------------------------------------------------------------------------------

class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.answers: dict[bytes, int] = {}
        self.errors: list[str] = []
        self.sent = 0
        self.ran_out = False


async def _client(send, requests: list[bytes], tally: Tally, stop_at: float,
                  interval: float | None, offset: float) -> None:
    next_at = time.perf_counter() + offset
    for data in requests:
        if interval is not None:
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += interval
        if time.perf_counter() >= stop_at:
            return
        tally.sent += 1
        started = time.perf_counter()
        try:
            status, body = await send(data)
        except (TimeoutError, OSError, ConnectionError, ValueError, aiohttp.ClientError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        tally.latencies.append(time.perf_counter() - started)
        found = _REQUEST_ID.search(body)
        code = _CODE.search(body)
        if status != 200 or not found or not code or code.group(1) != b"I99":
            tally.errors.append(f"HTTP {status}: {body[:120]!r}")
            continue
        request_id = found.group(1)
        if request_id not in _REQUEST_ID.search(data).group(1):
            tally.errors.append(f"answer for another request: {request_id!r}")
        tally.answers[request_id] = tally.answers.get(request_id, 0) + 1
    if time.perf_counter() < stop_at and interval is None:
        tally.ran_out = True


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: what the
    clients use (an aiohttp session costs about 3 times the CPU per request,
    which the server's cores would pay for; ``BENCH_CLIENT=aiohttp`` uses one)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._answer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def _answer(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self.waiter.set_exception(ValueError(f"no Content-Length: {head[:200]!r}"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17:stop if stop > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        if b"\r\nconnection: close" in head:
            self.transport.close()
        self.waiter.set_result((int(head[9:12]), body))


class _Sender:
    """Sends request bodies to a web service over one connection (reopened if closed)."""

    def __init__(self, url: str, path: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     f"Content-Type: application/xml\r\nContent-Length: ").encode()
        self.connection: _Connection | None = None

    async def __call__(self, data: bytes) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.connection is None or self.connection.transport is None:
            _, self.connection = await loop.create_connection(_Connection, self.host, self.port)
        connection = self.connection
        connection.waiter = waiter = loop.create_future()
        connection.transport.write(b"%s%d\r\n\r\n%s" % (self.head, len(data), data))
        timer = loop.call_later(30, lambda: waiter.done() or waiter.set_exception(
            TimeoutError("no answer in 30 s")))
        try:
            return await waiter
        finally:
            timer.cancel()

    def close(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()


async def load(url: str, batches: list[list[bytes]], seconds: float,
               rate: float | None) -> tuple[Tally, float]:
    tally = Tally()
    interval = len(batches) / rate if rate else None
    path = "/api/v1/serviceS"
    async with contextlib.AsyncExitStack() as stack:
        if CLIENT == "aiohttp":
            session = await stack.enter_async_context(aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30)))

            def sender():
                async def send(data: bytes) -> tuple[int, bytes]:
                    async with session.post(f"{url}{path}", data=data,
                                            headers={"Content-Type": "application/xml"}) as reply:
                        return reply.status, await reply.read()
                return send
        else:
            def sender():
                connection = _Sender(url, path)
                stack.callback(connection.close)
                return connection
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client(sender(), batch, tally, stop_at, interval,
                                       (interval or 0) * i / len(batches))
                               for i, batch in enumerate(batches)))
        elapsed = time.perf_counter() - started
    return tally, elapsed


def report(name: str, tally: Tally, elapsed: float) -> dict:
    answered = sum(tally.answers.values())
    duplicates = sum(n - 1 for n in tally.answers.values() if n > 1)
    lost = tally.sent - answered - len(tally.errors)
    ordered = sorted(tally.latencies)
    pick = (lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000) \
        if ordered else (lambda q: float("nan"))
    if tally.ran_out:
        print(f"    (some clients used up their {CEILING * SECONDS:.0f} requests: raise CEILING)")
    figures = {"run": name, "sent": tally.sent, "answered": answered, "lost": lost,
               "duplicates": duplicates, "errors": len(tally.errors),
               "per_second": answered / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
               "max_ms": ordered[-1] * 1000 if ordered else float("nan")}
    print(f"  {name}: {answered} answered in {elapsed:.1f} s = {figures['per_second']:.0f} "
          f"requests/s; latency p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
          f"max {figures['max_ms']:.1f} ms; lost {lost}, answered twice {duplicates}, "
          f"errors {len(tally.errors)}")
    for error in tally.errors[:5]:
        print(f"    error: {error}")
    return figures


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default), from /proc."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def server_latencies(log: Path, skip: int) -> tuple[list[float], int]:
    """The ``ms`` of the server's ``request`` log lines after line ``skip``; the line count."""
    lines = log.read_bytes().splitlines()
    found = sorted(json.loads(line)["ms"] for line in lines[skip:] if b'"event":"request"' in line)
    return found, len(lines)


def outbox_counts(url: str) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"{url}/admin/outbox?pending=1&since=999999999") as answer:
        return json.load(answer)["counts"]


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"duis serve under load: {CLIENTS} concurrent clients, signed 11.2 requests, "
          f"{SECONDS:.0f} s per run, {cores} cores shared by server and clients")
    started = time.perf_counter()
    closed = int(SECONDS * CEILING)
    paced = int(SECONDS * RATE * 1.05) + CLIENTS
    signed = signed_requests(closed + paced)
    print(f"  signed {len(signed)} distinct requests beforehand in "
          f"{time.perf_counter() - started:.1f} s")
    runs = {"closed loop": (signed[:closed], None),
            f"paced at {RATE:.0f}/s": (signed[closed:], RATE)}
    results = []
    with tempfile.TemporaryDirectory() as folder:
        process, url, log, serving = start_server(Path(folder))
        helpers = serving.get("worker_pids") or []
        print(f"  server: --workers {serving.get('workers')}: pid {process.pid} (HTTP, the DSP)"
              + (f" + {len(helpers)} worker process{'es' if len(helpers) > 1 else ''} (checks "
                 f"and signatures; pid {', '.join(map(str, helpers))})" if helpers
                 else ", everything in one process"))
        try:
            queued_before = outbox_counts(url)["queued"]
            _, seen = server_latencies(log, 0)
            for name, (batch, rate) in runs.items():
                batches = [batch[i::CLIENTS] for i in range(CLIENTS)]
                pids = [process.pid, *(serving.get("worker_pids") or [])]
                before, client_cpu = [cpu_seconds(p) for p in pids], cpu_seconds()
                tally, elapsed = asyncio.run(load(url, batches, SECONDS, rate))
                figures = report(name, tally, elapsed)
                answered = max(figures["answered"], 1)
                used = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
                server_cpu, main_cpu = sum(used), used[0]
                client_cpu = cpu_seconds() - client_cpu
                split = (f" = main process {main_cpu / answered * 1e6:.0f} us "
                         f"({main_cpu / elapsed:.0%}) + workers "
                         f"{(server_cpu - main_cpu) / answered * 1e6:.0f} us "
                         f"({(server_cpu - main_cpu) / elapsed:.0%})") if len(pids) > 1 else ""
                print(f"    CPU per request: server {server_cpu / answered * 1e6:.0f} us "
                      f"({server_cpu / elapsed:.0%} of a core){split}, clients "
                      f"{client_cpu / answered * 1e6:.0f} us ({client_cpu / elapsed:.0%})")
                inside, seen = server_latencies(log, seen)
                if inside:
                    print(f"    time inside the server (from its log): p50 "
                          f"{inside[len(inside) // 2]:.1f} ms, p99 "
                          f"{inside[int(len(inside) * 0.99)]:.1f} ms")
                results.append(figures)
            queued = outbox_counts(url)["queued"] - queued_before
            answered = sum(r["answered"] for r in results)
            print(f"  outbox: {queued} device responses queued for {answered} requests answered "
                  f"({'ok' if queued == answered else 'MISMATCH'})")
        finally:
            process.terminate()
            process.wait(30)
        lines = sum(1 for _ in open(log, "rb"))
        print(f"  server log: {lines} JSON lines; exit status {process.returncode}")
    best = results[0]
    paced = results[1]
    paced_met = paced["p99_ms"] < 50 and paced["per_second"] >= 0.95 * RATE
    print(f"  goal: >= 1000 requests/s: {best['per_second']:.0f} "
          f"({'met' if best['per_second'] >= 1000 else 'NOT met'}); p99 < 50 ms at "
          f"{RATE:.0f}/s: {paced['p99_ms']:.1f} ms "
          f"({'met' if paced_met else 'NOT met'})")


if __name__ == "__main__":
    main()
