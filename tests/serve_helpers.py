"""Helpers of the ``duis serve`` tests: servers as real processes, the server's
log captured in-process (the ``serve_log`` fixture of ``conftest.py``), a
receiving endpoint that can be told to fail, and senders that keep a ledger of
every request they sent and what came of it.

Imported as ``tests.serve_helpers`` (the same under every pytest import mode)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from duis.serve import Client, ServerUnreachable
from duis.serve.logs import LOGGER, JsonFormatter
from duis.signatures import CredentialStore, sign_with_store
from duis.signatures.credentials import default_store_directory

ROOT = Path(__file__).resolve().parents[1]
READ = (ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml").read_bytes()
SUPPLIER, SUPPLIER2 = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"
ESME, ESME2 = "00-DB-12-34-56-78-90-A0", "00-DB-12-34-56-78-91-B0"
#: each supplier reads the firmware version of its own meter (I99, then a device response)
TARGETS = {SUPPLIER: ESME, SUPPLIER2: ESME2}
SERVE = ("import sys, duis.cli as c\n"
         "c.COMMANDS = c.COMMANDS + tuple(n for n in ('serve',) if n not in c.COMMANDS)\n"
         "sys.exit(c.main(sys.argv[1:]))")
_REQUEST_ID = re.compile(rb"<sr:RequestID>([^<]+)</sr:RequestID>")
_STORES = threading.local()


def store() -> CredentialStore:
    """The test PKI, one copy per thread (senders sign in their own threads)."""
    found = getattr(_STORES, "store", None)
    if found is None:
        found = _STORES.store = CredentialStore(default_store_directory())
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, what: str = "condition", pause: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)


def read_request(originator: str, counter: int) -> bytes:
    """A signed 11.2 from ``originator`` to its own meter with RequestID ``counter``."""
    data = READ.replace(f"{SUPPLIER}:{ESME}".encode(),
                        f"{originator}:{TARGETS[originator]}".encode())
    return sign_with_store(data, store(), counter=lambda: counter)


def request_id(data: bytes) -> str:
    return _REQUEST_ID.search(data).group(1).decode()


# --- duis serve as a process -------------------------------------------------------------

def start_server(folder: Path, name: str, *args: str, port: int = 0,
                 wait: bool = True) -> tuple[subprocess.Popen, str | None, Path]:
    """``duis serve --port PORT ARGS`` with its log in ``folder/name.log``; waits for
    the ``serving`` line (the workers are up) unless ``wait`` is false."""
    log = folder / f"{name}.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", SERVE, "serve", "--port", str(port),
                                    *args], stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
    if not wait:
        return process, None, log

    def serving():
        if process.poll() is not None:
            raise AssertionError(f"duis serve exited {process.returncode}: {log.read_text()}")
        url = None
        for record in log_records(log):
            if record["event"] == "listening":
                url = record["url"]
            if record["event"] == "serving":
                return url
        return None

    return process, wait_for(serving, 60, "duis serve to start"), log


def log_records(log: Path) -> list[dict]:
    records = []
    for line in log.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass                                # a line being written
    return records


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


# --- the server's log, in-process ---------------------------------------------------------

class LogLines(logging.Handler):
    """The ``duis.serve`` log as the JSON lines ``duis serve`` writes: each line is
    ``time``, ``level``, ``event`` and the record's fields."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def events(self, name: str) -> list[dict]:
        """The lines of event ``name``, in the order they were logged."""
        return [line for line in self.lines if line["event"] == name]

    def __enter__(self) -> LogLines:
        self._saved = LOGGER.level
        LOGGER.addHandler(self)
        LOGGER.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        LOGGER.removeHandler(self)
        LOGGER.setLevel(self._saved)


# --- a receiving endpoint that can be told to fail ----------------------------------------

@dataclass
class Accepted:
    seq: int
    kind: str
    request_id: str | None
    body: bytes


class Receiver:
    """A DCC user's endpoint on its own loop: ``mode`` ``ok`` (204), ``error`` (500)
    or ``hang`` (answers nothing for ``hang_seconds``).  ``accepted`` holds what it
    answered 2xx, each POST it answered (``posts``) is counted."""

    def __init__(self, port: int, mode: str = "ok", hang_seconds: float = 30.0) -> None:
        self.port, self.mode, self.hang_seconds = port, mode, hang_seconds
        self.accepted: list[Accepted] = []
        self.posts = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.posts += 1
            mode = self.mode
        if mode == "error":
            return web.Response(status=500, text="receiver failing on purpose")
        if mode == "hang":
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=500)
        found = _REQUEST_ID.search(body)
        with self._lock:
            self.accepted.append(Accepted(int(request.headers["X-DUIS-Delivery"]),
                                          request.headers.get("X-DUIS-Kind", ""),
                                          found.group(1).decode() if found else None, body))
        return web.Response(status=204)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    def __enter__(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _stop(self) -> None:
        await self._runner.cleanup()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:                      # handlers still hanging
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/duis"

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode

    def outcomes(self) -> dict[str, int]:
        """Distinct device responses accepted, by RequestID (a redelivery of the same
        outbox message, byte for byte, is one outcome)."""
        with self._lock:
            seen = {(a.seq, a.body) for a in self.accepted if a.kind == "device-response"}
        counts: dict[str, int] = {}
        for _, body in seen:
            rid = _REQUEST_ID.search(body).group(1).decode()
            counts[rid] = counts.get(rid, 0) + 1
        return counts


# --- senders with a ledger ----------------------------------------------------------------

@dataclass
class Ledger:
    """Every request sent and the answer it got (``None``: no answer, connection lost)."""

    sent: dict[str, bytes] = field(default_factory=dict)
    answers: dict[str, list[tuple[int | None, str | None]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, data: bytes, status: int | None, error: str | None) -> None:
        rid = request_id(data)
        with self.lock:
            self.sent[rid] = data
            self.answers.setdefault(rid, []).append((status, error))

    def answered_2xx(self) -> set[str]:
        return {rid for rid, got in self.answers.items()
                if any(s is not None and 200 <= s < 300 for s, _ in got)}

    def not_answered_2xx(self) -> set[str]:
        return set(self.sent) - self.answered_2xx()


def post(client: Client, data: bytes, ledger: Ledger) -> tuple[int | None, str | None]:
    try:
        reply = client.post(data, "S")
    except ServerUnreachable:
        ledger.record(data, None, "unreachable")
        return None, "unreachable"
    error = reply.headers.get("X-DUIS-Error")
    ledger.record(data, reply.status, error)
    if reply.status == 200:
        assert reply.code == "I99", reply.text
    return reply.status, error


class Sender(threading.Thread):
    """One originator's client, sequential (its counters reach the server in the
    order it signed them), sending new 11.2s until told to stop or the server is
    gone."""

    def __init__(self, url: str, originator: str, first: int, ledger: Ledger,
                 stop: threading.Event, *, pause: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.url, self.originator, self.counter = url, originator, first
        self.ledger, self.stop_event, self.pause = ledger, stop, pause

    def run(self) -> None:
        with Client(self.url, timeout=20, verify_replies=False) as client:
            while not self.stop_event.is_set():
                data = read_request(self.originator, self.counter)
                self.counter += 1
                status, _ = post(client, data, self.ledger)
                if status is None:
                    return
                if self.pause:
                    time.sleep(self.pause)


def resend_until_settled(url: str, ledger: Ledger, rids: set[str]) -> dict[str, str]:
    """Send each request again, in counter order per originator: ``acted`` (2xx
    now) or ``replay`` (403 ReplayedCounter: it was acted on before)."""
    settled = {}
    with Client(url, timeout=20, verify_replies=False) as client:
        for rid in sorted(rids, key=lambda r: (r.split(":")[0], int(r.split(":")[2]))):
            status, error = post(client, ledger.sent[rid], ledger)
            assert status is not None, f"{rid}: no answer on the resend"
            if 200 <= status < 300:
                settled[rid] = "acted"
            else:
                assert (status, error) == (403, "ReplayedCounter"), (rid, status, error)
                settled[rid] = "replay"
    return settled


# --- a raw HTTP peer that answers as a test says ----------------------------------------------

class RawHttp:
    """A raw HTTP server on loopback for a client under test: ``answer(body, connection)``
    answers each request as it likes (False: close the connection); ``requests`` are
    the bodies received, in order."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.lines: list[bytes] = []
        """The request line of each request (``POST /path HTTP/1.1``)."""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                       if line.lower().startswith(b"content-length")), b"0"))
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.lines.append(head.split(b"\r\n")[0])
                    self.requests.append(body)
                    if not self.answer(body, conn):
                        return
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
