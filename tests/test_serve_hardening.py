"""Regression tests of issue 13 (an attacker's and an operator's review of
``duis serve``): each reproduces a hole, then checks it closed.

1. delivery lanes that died silently (no session yet; an outbox error);
2. RequestID counters consumed by requests that were never acted on;
3. slow clients holding connections (no header or body timeout, no cap) and
   log floods;
4. admin requests with numbers that overflow answered 500;
5. HTTP 500 log lines without the traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sqlite3
import time

import pytest

from duis.clock import parse_instant
from duis.serve import Client, Endpoints, ServeConfig, ServerThread
from duis.serve.delivery import Deliverer
from duis.serve.engine import Engine
from duis.serve.logs import JsonFormatter, RepeatLimiter
from duis.serve.outbox import Message, Outbox
from duis.signatures import CounterStore
from duis.signatures.errors import ReplayedCounter
from tests.serve_helpers import SUPPLIER, Receiver, free_port, read_request, wait_for

START = "2026-03-01T09:00:00Z"


# --- 1. delivery lanes never die ------------------------------------------------------------

def _queued(outbox: Outbox, n: int = 2) -> list[int]:
    return outbox.add([Message(SUPPLIER, "device-response", "I0",
                               f"<sr:Response><sr:RequestID>x:y:{i}</sr:RequestID>"
                               f"</sr:Response>".encode(), f"r{i}") for i in range(n)])


def test_a_lane_woken_before_the_session_exists_waits_for_it(serve_log):
    """Issue 13 (1a): a request answered before the delivery session existed woke
    a lane that died at once (AttributeError on None), nothing logged; the
    user's messages stayed pending until a restart."""
    port = free_port()
    with Receiver(port) as receiver:
        async def scenario() -> None:
            outbox = Outbox(None)
            _queued(outbox)
            deliverer = Deliverer(outbox, Endpoints.parse([receiver.url]), retry_base=0.05)
            deliverer.wake([SUPPLIER])                   # before start(): no session yet
            await asyncio.sleep(0.1)
            await deliverer.start()
            for _ in range(200):
                if outbox.counts()["pending"] == 0:
                    break
                await asyncio.sleep(0.02)
            assert deliverer.health()["dead"] == []
            await deliverer.stop(1)
            assert outbox.counts() == {"queued": 2, "pending": 0, "delivered": 2}
        asyncio.run(scenario())
        assert [a.seq for a in receiver.accepted] == [1, 2]
    assert not serve_log.events("delivery-lane-error")


def test_a_lane_survives_outbox_errors_and_is_restarted_if_it_dies(serve_log, monkeypatch):
    """Issue 13 (1b): an outbox error (the SQLite file locked past its busy timeout)
    ended the lane's task; now it is logged with its traceback and retried, and a
    lane task that dies all the same is logged and started again."""
    port = free_port()
    original = Outbox.next_batch
    failures = iter([sqlite3.OperationalError("database is locked")])

    def flaky(self, *args):
        error = next(failures, None)
        if error is not None:
            raise error
        return original(self, *args)

    monkeypatch.setattr(Outbox, "next_batch", flaky)
    with Receiver(port) as receiver:
        async def scenario() -> None:
            outbox = Outbox(None)
            deliverer = Deliverer(outbox, Endpoints.parse([receiver.url]), retry_base=0.05)
            await deliverer.start()
            real_run, died = deliverer._run, []

            async def dies_once(lane):
                if not died:
                    died.append(lane.recipient)
                    raise RuntimeError("a bug in a lane")
                await real_run(lane)
            deliverer._run = dies_once
            _queued(outbox, 3)
            deliverer.wake([SUPPLIER])
            for _ in range(300):
                if outbox.counts()["pending"] == 0:
                    break
                await asyncio.sleep(0.02)
            health = deliverer.health()
            await deliverer.stop(1)
            assert outbox.counts()["pending"] == 0, health
            assert health["restarts"] == 1 and health["failing"] == []
        asyncio.run(scenario())
        assert sorted(a.seq for a in receiver.accepted) == [1, 2, 3]
    (died,) = serve_log.events("delivery-lane-died")
    assert "RuntimeError: a bug in a lane" in died["traceback"]
    (error,) = serve_log.events("delivery-lane-error")
    assert "database is locked" in error["error"] and "Traceback" in error["traceback"]


def test_messages_nobody_can_take_make_health_degraded():
    """Nothing stays pending without /health saying so: no endpoint for the user."""
    config = ServeConfig(port=0, stuck_after=0.3)
    with ServerThread(config) as server, Client(server.url) as client:
        assert client.send(read_request(SUPPLIER, 10))[0].reply.code == "I99"
        health = wait_for(lambda: (lambda h: h if h["status"] == "degraded" else None)(
            client.health()), 5, "degraded")
        assert health["delivery"]["undeliverable"] == [SUPPLIER]
        assert health["outbox"]["pending"] == 1 and "pending for" in health["problems"][0]


# --- 2. a counter is recorded exactly when its request is acted on --------------------------

def test_a_request_whose_batch_failed_can_be_sent_again(tmp_path, monkeypatch):
    """Issue 13 (2): the counter was committed before the request's SMI changes and
    outbox rows; when those failed (or the server died in between), the request
    was not acted on, yet its resend was refused as a replay forever."""
    config = ServeConfig(port=0, smi=tmp_path / "smi.sqlite")
    data = read_request(SUPPLIER, 4000)
    with ServerThread(config) as server, Client(server.url) as client:

        def disk_full(self, db, messages):
            raise OSError("disk full")

        monkeypatch.setattr(Outbox, "insert", disk_full)
        assert client.post(data, "S").status == 500
        monkeypatch.undo()
        (again,) = client.send(data)
        assert again.reply.code == "I99"                       # acted on now, once
        assert client.post(data, "S").headers["X-DUIS-Error"] == "ReplayedCounter"
        assert client.outbox()["counts"]["queued"] == 1


def test_a_counter_record_joins_the_callers_transaction():
    db = sqlite3.connect(":memory:", isolation_level=None)
    store = CounterStore(connection=db)
    db.execute("BEGIN IMMEDIATE")
    store.check_and_record(SUPPLIER, 5)
    with pytest.raises(ReplayedCounter):
        store.check_and_record(SUPPLIER, 5)                    # sees its own transaction
    db.execute("ROLLBACK")
    assert store.last(SUPPLIER) is None                        # undone with it
    store.check_and_record(SUPPLIER, 5)                        # no transaction: its own
    assert store.last(SUPPLIER) == 5
    store.close()
    assert db.execute("SELECT 1").fetchone() == (1,)           # a borrowed one stays open


def test_a_refused_request_in_a_batch_leaves_no_counter_behind():
    """Each request runs in its own savepoint: one refused after its replay check
    (here: a SignedPreCommand whose GBCS signature is missing) records no
    counter; sent again it is refused for what it is, not as a replay."""
    from duis.messages import build, leaf, node, request
    config = ServeConfig(port=0, clock="driven", now=parse_instant(START))
    with ServerThread(config) as server, Client(server.url, now=parse_instant(START)) as client:
        bogus = client.sign(build(request(SUPPLIER, "00-DB-12-34-56-78-90-A0", 900, "11.3",
                                          node("SignedPreCommand", leaf("GBCSPayload", "AAAA")),
                                          command_variant=5)))
        reply = client.post(bogus, "S")
        assert reply.status == 403, reply.text
        engine = server.server.engine
        last = server.run(engine.call(engine.dsp.counters.last, SUPPLIER), 10)
        assert last is None
        again = client.post(bogus, "S")
        assert again.status == 403 and again.headers["X-DUIS-Error"] == \
            reply.headers["X-DUIS-Error"] != "ReplayedCounter"


# --- 3. slow clients, too many connections, log floods --------------------------------------

def _connect(url: str) -> socket.socket:
    host, port = url.rsplit("/", 1)[-1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before closing; fails if it is still open after ``seconds``."""
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s; got {got[:200]!r}") from None


def test_a_slow_header_connection_is_closed():
    """Issue 13 (3): no header timeout; a client trickling its request head held
    its connection (and a file descriptor) for ever."""
    with ServerThread(ServeConfig(port=0, header_timeout=0.5)) as server:
        sock = _connect(server.url)
        started = time.monotonic()
        sock.sendall(b"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(3):
                time.sleep(0.1)
                sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass
        _closed_within(sock, 3)
        assert time.monotonic() - started < 2.5
        sock.close()


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_slow_body_is_408_and_closed(serve_log):
    """Issue 13 (3): no body timeout; 2,000 slow-body connections stayed open."""
    with ServerThread(ServeConfig(port=0, body_timeout=0.4)) as server:
        sock = _connect(server.url)
        sock.sendall(b"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/xml\r\nContent-Length: 1000\r\n\r\n<sr:Request")
        got = _closed_within(sock, 3)
        assert got.startswith(b"HTTP/1.1 408") and b"BodyTimeout" in got
        sock.close()
    assert serve_log.events("refused")[-1]["http"] == 408


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_admin_bodies_are_bounded_in_time_and_size():
    with ServerThread(ServeConfig(port=0, body_timeout=0.4, clock="driven",
                                  now=parse_instant(START))) as server:
        sock = _connect(server.url)
        sock.sendall(b"POST /admin/clock HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 100\r\n\r\n{\"adv")
        got = _closed_within(sock, 3)
        assert got.startswith(b"HTTP/1.1 400") and b"not received in time" in got
        with Client(server.url) as client:
            reply = client.request("POST", "/admin/clock", b"[" * 70_000, "application/json")
            assert reply.status == 400 and b"too large" in reply.body


def test_connections_beyond_the_cap_are_refused_and_health_still_answers(serve_log):
    """Issue 13 (3): 19,990 connections exhausted the file descriptors and /health
    stopped answering.  Beyond ``max_connections`` a connection is answered 503
    and closed at once; the ones it had stay served."""
    with ServerThread(ServeConfig(port=0, max_connections=4, header_timeout=30)) as server:
        with Client(server.url) as client:                     # holds 1 of the 4
            assert client.health()["connections"]["max"] == 4
            idle = [_connect(server.url) for _ in range(3)]
            time.sleep(0.1)
            extra = _connect(server.url)
            got = _closed_within(extra, 3)
            assert got.startswith(b"HTTP/1.1 503") and b"TooManyConnections" in got
            health = client.health()                           # its kept-alive connection
            assert health["connections"] == {"open": 4, "refused": 1, "max": 4}
            for sock in idle + [extra]:
                sock.close()
            wait_for(lambda: client.health()["connections"]["open"] == 1, 5, "closed ones")
            with Client(server.url) as other:
                assert other.health()["status"] == "ok"
    assert serve_log.events("connection-refused")[0]["max_connections"] == 4


def test_identical_warnings_are_limited_and_summed_up():
    """Issue 13 (3): the log grew 95 MB in 40 s.  Of identical warnings, ``burst``
    per window are written; one ``suppressed`` line counts the rest."""
    now = [0.0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    limiter = RepeatLimiter(burst=3, window=10, clock=lambda: now[0])
    limiter.handler = handler
    handler.addFilter(limiter)
    logger = logging.getLogger("duis.serve.test-limiter")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)

    def log(level, name, **fields):
        logger.handle(logger.makeRecord(logger.name, level, "x", 0, name, None, None,
                                        extra={"fields": fields}))

    for i in range(100):
        log(logging.WARNING, "refused", path="/api/v1/serviceS", http=400,
            error="MalformedXML", why=f"line {i}", ms=i)
        log(logging.INFO, "request", request_id=f"r{i}", code="I99")
    log(logging.WARNING, "refused", path="/api/v1/serviceS", http=403, error="DigestMismatch")
    now[0] = 11.0
    limiter.sweep()
    written = [json.loads(line) for line in stream.getvalue().splitlines()]
    refusals = [w for w in written if w["event"] == "refused"]
    assert len(refusals) == 4 and len([w for w in written if w["event"] == "request"]) == 100
    (summary,) = [w for w in written if w["event"] == "suppressed"]
    assert summary["similar_to"] == "refused" and summary["count"] == 97
    assert summary["error"] == "MalformedXML" and summary["written"] == 3
    assert limiter.suppressed == 97


def test_serve_configures_the_limits_and_refuses_bad_ones():
    from duis.serve.config import ConfigError
    config = ServeConfig()
    assert (config.header_timeout, config.body_timeout, config.max_connections) == (15.0, 30.0,
                                                                                     1000)
    for bad in ({"header_timeout": 0}, {"body_timeout": float("nan")}, {"max_connections": 0},
                {"busy_timeout": -1}, {"log_burst": -1}, {"stuck_after": float("inf")}):
        with pytest.raises(ConfigError):
            ServeConfig(**bad)


# --- 4. admin input -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def driven_server():
    with ServerThread(ServeConfig(port=0, clock="driven", now=parse_instant(START))) as server:
        yield server


@pytest.mark.parametrize("path, body", [
    ("/admin/clock", b'{"advance_seconds": 1e300}'),
    ("/admin/clock", b'{"advance_seconds": 1e999}'),
    ("/admin/clock", b'{"advance_seconds": NaN}'),
    ("/admin/clock", b'{"advance_seconds": Infinity}'),
    ("/admin/clock", b'{"advance_seconds": -5}'),
    ("/admin/clock", b'{"advance_seconds": "60"}'),
    ("/admin/clock", b'{"advance_seconds": true}'),
    ("/admin/clock", b'{"advance_seconds": [1]}'),
    ("/admin/clock", b'{"advance_seconds": 99999999999999999999999999}'),
    ("/admin/clock", b'{"now": 12345}'),
    ("/admin/clock", b'{"now": "9999-12-31T23:59:59Z"}'),
    ("/admin/clock", b'{"now": "not a time"}'),
    ("/admin/clock", b'{"now": "2026-03-01T09:00:00Z", "advance_seconds": 4000000000}'),
    ("/admin/clock", b'[' * 100 + b']' * 100),
    ("/admin/clock", b'\xff\xfe'),
    ("/admin/fault", b'{"kind": ["lose-next-response"]}'),
    ("/admin/fault", b'{"kind": "lose-share", "share": 1e300}'),
    ("/admin/fault", b'{"kind": "lose-share", "share": NaN}'),
    ("/admin/fault", b'{"kind": "no-response", "device": 7}'),
    # a fault that could never strike, or a field the fault does not use: were planned (200)
    ("/admin/fault", b'{"kind": "unreachable", "device": "00-DB-12-34-56-78-90-FF"}'),
    ("/admin/fault", b'{"kind": "lose-share", "share": 0.5, "device": "00-DB-12-34-56-78-90-A0"}'),
    ("/admin/fault", b'{"kind": "clear", "share": 0.5}'),
    ("/admin/cpl", b'{"action": "remove", "manufacturer": 1, "model": 2, "firmware_version": 3}'),
    ("/admin/cpl", b'{"action": {"x": 1}, "manufacturer": "a"}'),
    ("/admin/cpl", (b'{"action": "add", "manufacturer": "a", "model": "b", '
                    b'"firmware_version": "c", "smets": 2}')),
    # text the SMI cannot store, or a DUIS message carry: these answered 500 (a fuzzer)
    ("/admin/cpl", (b'{"action": "add", "manufacturer": "a", "model": "b", '
                    b'"firmware_version": "\\ud800", "smets": "SMETS2"}')),
    ("/admin/cpl", (b'{"action": "remove", "manufacturer": "a", "model": "b", '
                    b'"firmware_version": "1", "cause": "\\ud800"}')),
    ("/admin/cpl", (b'{"action": "add", "manufacturer": "a\\u0001", "model": "b", '
                    b'"firmware_version": "1", "smets": "SMETS2"}')),
])
def test_bad_admin_numbers_and_types_are_400_json(driven_server, path, body):
    """Issue 13 (4): ``advance_seconds: 1e300`` and the like answered HTTP 500."""
    with Client(driven_server.url) as client:
        before = json.loads(client.request("GET", "/admin/clock").body)["now"]
        reply = client.request("POST", path, body, "application/json")
        assert reply.status == 400, reply.text
        answer = json.loads(reply.body)
        assert answer["error"] == "AdminError" and answer["message"], answer
        assert json.loads(client.request("GET", "/admin/clock").body)["now"] == before


@pytest.mark.parametrize("query", ["since=99999999999999999999", "since=-1", "since=1e300",
                                   "since=NaN", "since=abc", "since=9223372036854775808"])
@pytest.mark.parametrize("path", ["/admin/audit", "/admin/outbox"])
def test_bad_since_queries_are_400_json(driven_server, path, query):
    with Client(driven_server.url) as client:
        reply = client.request("GET", f"{path}?{query}")
        assert reply.status == 400, reply.text
        assert json.loads(reply.body)["error"] == "AdminError"
        assert client.request("GET", f"{path}?since=9223372036854775807").status == 200


def test_good_admin_numbers_still_work(driven_server):
    with Client(driven_server.url) as client:
        assert client.advance(0.5)["now"] == "2026-03-01T09:00:00.500Z"
        assert client.advance(60)["now"] == "2026-03-01T09:01:00.500Z"


# --- 5. HTTP 500 log lines carry the traceback ----------------------------------------------

def test_an_http_500_is_logged_with_its_traceback(serve_log, monkeypatch):
    """Issue 13 (5): docs/serve.md promised the traceback; the JSON line had none."""
    def broken(self, checked, service, source):
        raise ZeroDivisionError("a bug in the DSP")

    monkeypatch.setattr(Engine, "handle", broken)
    with ServerThread(ServeConfig(port=0)) as server, Client(server.url) as client:
        reply = client.post(read_request(SUPPLIER, 50), "S")
        assert reply.status == 500 and reply.headers["X-DUIS-Error"] == "ZeroDivisionError"
        assert b"Traceback" not in reply.body                   # the client gets no traceback
    (line,) = [e for e in serve_log.events("refused") if e["http"] == 500]
    assert line["level"] == "error" and line["error"] == "ZeroDivisionError"
    assert "Traceback (most recent call last)" in line["traceback"]
    assert "a bug in the DSP" in line["traceback"] and "broken" in line["traceback"]


def test_an_admin_failure_is_500_json_with_the_traceback_logged(serve_log, monkeypatch):
    def broken(self, eui):
        raise KeyError("bug")

    monkeypatch.setattr(Engine, "device", broken)
    with ServerThread(ServeConfig(port=0)) as server, Client(server.url) as client:
        reply = client.request("GET", "/admin/devices/00-DB-12-34-56-78-90-A0")
        assert reply.status == 500 and json.loads(reply.body)["error"] == "KeyError"
    (line,) = [e for e in serve_log.events("refused") if e["http"] == 500]
    assert "KeyError" in line["traceback"]


def test_a_logged_exception_gets_its_traceback_in_json():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("duis.serve.test-traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("rolling back a failed batch")
    line = json.loads(stream.getvalue())
    assert line["event"] == "rolling back a failed batch"
    assert "ValueError: boom" in line["traceback"]
