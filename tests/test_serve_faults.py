"""``duis serve`` under faults, asserted by counting (issue 13).

Real processes, real signals, a real receiving endpoint: ``kill -9`` of the
server under load and a restart; a worker process killed with requests in
flight; the SMI file locked by another connection for longer than the busy
timeout; the receiving endpoint down, answering 500 and hanging; a request in
the first instant after start-up.  In every case:

- every request answered 2xx has exactly one outcome (its device response)
  delivered to the receiver;
- every request not answered 2xx can be sent again, and is then acted on once
  (or refused as a replay, when it had been acted on before the fault: then
  its one outcome is there);
- nothing stays pending without ``/health`` saying so.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from duis.serve import Client, Endpoints, ServeConfig, ServerThread
from duis.smi.claim import SmiServed
from tests.serve_helpers import (
    SUPPLIER,
    SUPPLIER2,
    Ledger,
    Receiver,
    Sender,
    free_port,
    log_records,
    post,
    read_request,
    request_id,
    resend_until_settled,
    start_server,
    stop,
    wait_for,
)


def health(url: str) -> dict:
    with Client(url, verify_replies=False) as client:
        return client.health()


def drained(url: str) -> dict:
    """Wait until nothing is pending and /health says ok; the outbox rows."""
    with Client(url, verify_replies=False) as client:
        wait_for(lambda: client.outbox(pending=True)["counts"]["pending"] == 0, 20,
                 "the outbox to drain")
        wait_for(lambda: client.health()["status"] == "ok", 10, "/health to say ok")
        return client.outbox()


def one_outcome_each(rows: list[dict], receiver: Receiver, acted: set[str]) -> None:
    """Each request acted on has exactly one outbox row and one outcome delivered."""
    causes = collections.Counter(row["cause"] for row in rows)
    assert set(causes) == acted, (set(causes) ^ acted)
    assert set(causes.values()) <= {1}
    outcomes = receiver.outcomes()
    assert outcomes == {rid: 1 for rid in acted}, (set(outcomes) ^ acted)


# --- kill -9 of the server under load -----------------------------------------------------

@pytest.mark.slow
def test_kill_9_under_load_then_restart_nothing_lost_nothing_twice(tmp_path):
    """Two suppliers send 11.2s as fast as they are answered; the server is killed
    (SIGKILL) mid-load and started again on the same SMI file.  The requests cut
    off are sent again: each is acted on now, or is refused as a replay because
    it was acted on before the kill (its reply was lost), and then its outcome is
    in the outbox.  A RequestID counter is never recorded without what its
    request did (issue 13: 8 counters were, and their resends were refused
    forever with nothing acted on)."""
    port = free_port()
    db = tmp_path / "smi.sqlite"
    with Receiver(port) as receiver:
        args = ("--smi", str(db), "--workers", "2", "--retry-base", "0.05", "--retry-max",
                "0.3", "--callback", receiver.url)
        first, url, _ = start_server(tmp_path, "first", *args)
        ledger, halt = Ledger(), threading.Event()
        senders = [Sender(url, originator, 5000, ledger, halt)
                   for originator in (SUPPLIER, SUPPLIER2)]
        try:
            for sender in senders:
                sender.start()
            wait_for(lambda: len(ledger.answered_2xx()) >= 60, 30, "load")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            halt.set()
        for sender in senders:
            sender.join(30)
        cut = ledger.not_answered_2xx()
        assert cut, "the kill cut no request short"

        second, url, _ = start_server(tmp_path, "second", *args)
        try:
            settled = resend_until_settled(url, ledger, cut)
            acted = ledger.answered_2xx() | {r for r, how in settled.items() if how == "replay"}
            outbox = drained(url)
            one_outcome_each(outbox["entries"], receiver, acted)
            # every counter on record belongs to a request that was acted on
            conn = sqlite3.connect(db)
            recorded = dict(conn.execute("SELECT originator, counter FROM counters"))
            conn.close()
            for originator in (SUPPLIER, SUPPLIER2):
                highest = max(int(r.split(":")[2]) for r in acted if r.startswith(originator))
                assert int(recorded[originator]) == highest
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
            stop(second)


# --- a worker process killed --------------------------------------------------------------

@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_worker_killed_with_requests_in_flight_every_one_is_answered_once(tmp_path):
    """Five requests from one supplier, counters in arrival order, are in the
    worker's hands when it is killed.  Each is checked again and answered I99,
    in order; later requests go on; every one has one outcome delivered.  (Issue
    13: they were answered 503 "send again", and later counters from the same
    supplier being accepted meanwhile, every resend was a replay.)"""
    port = free_port()
    with Receiver(port) as receiver, ServerThread(ServeConfig(
            port=0, workers=2, smi=tmp_path / "smi.sqlite", retry_base=0.05, retry_max=0.3,
            endpoints=Endpoints.parse([receiver.url]))) as server:
        pool = server.server.engine.pool
        (pid,) = pool.pids
        os.kill(pid, signal.SIGSTOP)
        ledger = Ledger()
        threads = []
        for counter in range(7000, 7005):
            data = read_request(SUPPLIER, counter)

            def send(data=data):
                with Client(server.url, verify_replies=False) as client:
                    post(client, data, ledger)
            threads.append(threading.Thread(target=send))
            threads[-1].start()
            sent = len(threads)
            wait_for(lambda n=sent: len(pool.workers[0].in_flight) == n,
                     what="the request to reach the worker")
        os.kill(pid, signal.SIGKILL)
        for thread in threads:
            thread.join(30)
        assert {rid: got for rid, got in ledger.answers.items()} == \
            {request_id(read_request(SUPPLIER, c)): [(200, None)] for c in range(7000, 7005)}
        with Client(server.url, verify_replies=False) as client:
            assert post(client, read_request(SUPPLIER, 7005), ledger) == (200, None)
        settled = resend_until_settled(server.url, ledger, set(ledger.sent))
        assert set(settled.values()) == {"replay"}            # each acted on once already
        outbox = drained(server.url)
    one_outcome_each(outbox["entries"], receiver, set(ledger.sent))


# --- the SMI locked for longer than the busy timeout ---------------------------------------

@pytest.mark.slow
def test_the_smi_locked_longer_than_the_busy_timeout(tmp_path):
    """Another connection holds the SMI file's write lock for 1.5 s (the busy
    timeout is 0.4 s).  A request meanwhile is answered 503 (SmiBusy: not acted
    on, no counter recorded) after the busy timeout, the event loop never
    blocked: /health answers, degraded, naming the lock.  A delivery whose
    outbox mark hits the lock keeps its lane alive (issue 13: the lane died, the
    message stayed pending forever, /health said ok).  After the lock: the 503
    request sent again is acted on once; every outcome is delivered once."""
    port = free_port()
    db = tmp_path / "smi.sqlite"
    with Receiver(port, mode="error") as receiver, ServerThread(ServeConfig(
            port=0, smi=db, busy_timeout=0.4, retry_base=0.05, retry_max=0.2,
            endpoints=Endpoints.parse([receiver.url]))) as server:
        ledger = Ledger()
        with Client(server.url, verify_replies=False) as client:
            assert post(client, read_request(SUPPLIER, 100), ledger) == (200, None)
            wait_for(lambda: health(server.url)["delivery"]["failing"], what="a failing lane")
            locker = sqlite3.connect(db, timeout=5, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            try:
                receiver.set("ok")                            # POST accepted, mark locked
                wait_for(lambda: receiver.accepted, what="the delivery to be POSTed")
                started = time.monotonic()
                assert post(client, read_request(SUPPLIER, 101), ledger) == (503, "SmiBusy")
                assert 0.3 < time.monotonic() - started < 1.4
                # an admin change too: 503, send it again (it was a 400, about counters)
                admin = client.request("POST", "/admin/fault", b'{"kind": "clear"}',
                                       "application/json")
                cpl = client.request("POST", "/admin/cpl", json.dumps(
                    {"action": "remove", "manufacturer": "Acme Meters", "model": "AM-E2",
                     "firmware_version": "1.0.0"}).encode(), "application/json")
                assert (cpl.status, cpl.headers.get("Retry-After")) == (503, "1"), cpl.text
                assert json.loads(cpl.body)["error"] == "SmiBusy" and admin.status in (200, 503)
                status = health(server.url)
                assert status["status"] == "degraded" and status["smi_lock"] is not None
                assert any("locked" in problem for problem in status["problems"])
                time.sleep(max(0.0, 1.5 - (time.monotonic() - locked_at)))
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            assert post(client, read_request(SUPPLIER, 101), ledger) == (200, None)
        outbox = drained(server.url)
        assert outbox["counts"]["delivered"] == 2
    one_outcome_each(outbox["entries"], receiver, ledger.answered_2xx())
    assert len(ledger.answered_2xx()) == 2


# --- the receiving endpoint down, failing, hanging ----------------------------------------

@pytest.mark.slow
def test_a_receiver_down_failing_or_hanging_is_reported_then_delivered_once(tmp_path):
    """While the receiver is down, answers 500, or hangs past the delivery timeout,
    /health says degraded (a failing lane, then a message pending past
    ``stuck_after``); once it answers, every outcome arrives once."""
    port = free_port()
    config = ServeConfig(port=0, smi=tmp_path / "smi.sqlite", retry_base=0.05, retry_max=0.2,
                         delivery_timeout=0.3, stuck_after=0.5,
                         endpoints=Endpoints.parse([f"http://127.0.0.1:{port}/duis"]))
    ledger = Ledger()
    counters = iter(range(200, 300))
    with ServerThread(config) as server, Client(server.url, verify_replies=False) as client:

        def send(n: int) -> None:
            for _ in range(n):
                assert post(client, read_request(SUPPLIER, next(counters)), ledger)[0] == 200

        def degraded(why: str) -> dict:
            return wait_for(lambda: (lambda h: h if h["status"] == "degraded" and any(
                why in p for p in h["problems"]) else None)(health(server.url)), 10,
                f"/health to say {why!r}")

        send(2)                                                  # nobody listening
        status = degraded("failing")
        assert "ClientConnectorError" in status["delivery"]["failing"][0]["error"]
        status = degraded("pending for")                         # past stuck_after
        assert status["outbox"]["oldest_pending"]["attempts"] >= 2
        with Receiver(port, mode="error", hang_seconds=3) as receiver:
            send(1)
            assert "HTTP 500" in degraded("HTTP 500")["delivery"]["failing"][0]["error"]
            receiver.set("hang")
            send(1)
            degraded("TimeoutError")
            receiver.set("ok")
            outbox = drained(server.url)
    one_outcome_each(outbox["entries"], receiver, ledger.answered_2xx())
    assert len(ledger.answered_2xx()) == 4


# --- a request in the first instant -------------------------------------------------------

@pytest.mark.slow
def test_a_request_answered_right_after_start_up_is_delivered(tmp_path):
    """The client connects the instant the port accepts (while the worker process
    is still starting).  Issue 13: the delivery session did not exist yet, the
    lane died with an AttributeError, nothing logged, the message stayed pending
    and /health said ok.  Now the session exists before the server listens."""
    port, server_port = free_port(), free_port()
    with Receiver(port) as receiver:
        process, _, log = start_server(tmp_path, "serve", "--workers", "2", "--callback",
                                       receiver.url, port=server_port, wait=False)
        url = f"http://127.0.0.1:{server_port}"
        try:
            ledger = Ledger()

            def first_answer():
                if process.poll() is not None:
                    raise AssertionError(log.read_text())
                with Client(url, timeout=20, verify_replies=False) as client:
                    return post(client, read_request(SUPPLIER, 300), ledger)[0]
            assert wait_for(first_answer, 30, "a first answer", pause=0.005) == 200
            outbox = drained(url)
            one_outcome_each(outbox["entries"], receiver, ledger.answered_2xx())
            assert not [r for r in log_records(log) if r["level"] == "error"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(20)
            stop(process)


# --- one writer beside a server --------------------------------------------------------------
# (a comms hub firmware deployment run from the command line on the server's file was
# then failed by the server at activation, its devices read once at start; the server
# answered from stale records)

def test_a_served_smi_is_changed_through_the_server_only(tmp_path, capsys):
    from duis.cli import main
    from duis.clock import parse_instant as instant
    hubs = Path(__file__).resolve().parents[1] / "samples/worlds/comms-hubs.toml"
    smi = tmp_path / "smi.sqlite"
    world = ["--world", str(hubs)]
    publish = ["hub-firmware", "publish", "--smi", str(smi), *world, "--now",
               "2026-03-02T09:00:00Z", "--deploy", "2026-03-06T02:00:00Z", "--activate",
               "2026-03-10T02:00:00Z", "Northwind Comms", "NW-CH2", "2.2.0"]
    config = ServeConfig(port=0, smi=smi, clock="driven", now=instant("2026-03-02T09:00:00Z"),
                         world=hubs)
    with ServerThread(config):
        assert main(publish) == 2
        assert "served by duis serve" in capsys.readouterr().err
        assert main(["hub-firmware", "run", "--smi", str(smi), "--now",
                     "2026-03-06T02:00:00Z"]) == 2
        assert main(["suppression-log", "--smi", str(smi)]) == 0       # reading is fine
        with pytest.raises(SmiServed):
            ServerThread(config).start()                                # nor a second server
    capsys.readouterr()
    assert main(publish) == 0                                           # stopped: it may


def test_stopping_answers_a_request_waiting_for_the_smi_lock(tmp_path):
    # it got no answer (the connection dropped) and the stop overran --shutdown-timeout,
    # waiting out the busy timeout
    db = tmp_path / "smi.sqlite"
    server = ServerThread(ServeConfig(port=0, smi=db, busy_timeout=30,
                                      shutdown_timeout=3)).start()
    answers: list[tuple[int | None, str | None]] = []
    try:
        with Client(server.url, verify_replies=False) as client:
            assert post(client, read_request(SUPPLIER, 100), Ledger()) == (200, None)
        locker = sqlite3.connect(db, timeout=5, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            def send() -> None:
                with Client(server.url, verify_replies=False) as client:
                    answers.append(post(client, read_request(SUPPLIER, 101), Ledger()))
            sender = threading.Thread(target=send)
            sender.start()
            wait_for(lambda: health(server.url)["smi_lock"] is not None, what="the wait")
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 3
            sender.join(5)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
    finally:
        server.stop()
    assert answers == [(503, "SmiBusy")]
