"""``duis serve --workers N``: requests parsed, validated and verified in worker
processes give the very answers of the in-process path (replies byte for byte,
refusals with the same HTTP status, error class and text), reach the DSP in
the order they came in, survive a worker being killed, and the workers stop
with the server (gracefully, or when it is killed)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from duis.clock import parse_instant
from duis.messages import build, from_tree, leaf, node, request
from duis.serve import Client, ServeConfig, ServerThread
from duis.serve.pool import Answered, CheckPool, Failed, RunHere
from duis.serve.worker import CheckSettings
from duis.signatures import CredentialStore, sign_with_store
from duis.signatures.credentials import default_store_directory
from duis.xmlparse import parse_bytes
from tests.serve_helpers import log_records, start_server, wait_for

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "samples/messages/valid"
INVALID = ROOT / "samples/messages/invalid"
UNUSABLE = ROOT / "samples/messages/unusable"
READ = (VALID / "ECS52_11.2_read_firmware_version_request.xml").read_bytes()
ACTIVATE = (VALID / "CS06_11.3_immediate_request.xml").read_bytes()
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
EXPIRED_USER = "90-B3-D5-1F-30-09-00-00"          # its xml-sign certificate: 2020 only
START = parse_instant("2026-03-01T09:00:00Z")


def driven(workers: int, **more) -> ServeConfig:
    """``workers``: the server's process and ``workers - 1`` worker processes."""
    return ServeConfig(port=0, clock="driven", now=START, workers=workers, **more)


@pytest.fixture(scope="module")
def pair():
    """The same DSP twice on a driven clock: checks and signatures in-process, and
    in two workers."""
    with ServerThread(driven(1)) as alone, ServerThread(driven(3)) as pooled:
        assert pooled.server.engine.pool is not None
        assert len(pooled.server.engine.pool.pids) == 2
        pooled.server.engine.sign_batch_min = 1        # every batch signed in a worker
        assert alone.server.engine.pool is None
        yield alone, pooled


@pytest.fixture()
def clients(pair):
    alone, pooled = pair
    with Client(alone.url, now=START) as a, Client(pooled.url, now=START) as b:
        yield a, b


def same_answer(clients, data: bytes, service: str = "S"):
    """Post ``data`` to both servers; the replies must be the same bytes."""
    first, second = (c.post(data, service) for c in clients)
    assert first.status == second.status, (first.text, second.text)
    assert first.headers.get("X-DUIS-Error") == second.headers.get("X-DUIS-Error")
    assert first.content_type == second.content_type
    assert first.body == second.body, (first.text, second.text)
    return second


# --- the same answers -------------------------------------------------------------------

def test_a_request_checked_in_a_worker_gets_the_same_reply_bytes(pair, clients):
    jobs = dict(pair[1].server.engine.pool.jobs)
    signer = clients[0]
    for data, service, code in (
            (signer.sign(READ, preserve_counter=False), "S", "I99"),
            (signer.sign(READ, preserve_counter=False), "T", "E13"),      # wrong service
            (signer.sign(ACTIVATE, preserve_counter=False), "T", "I0")):  # a PreCommand
        reply = same_answer(clients, data, service)
        assert reply.status == 200 and reply.code == code
    done = pair[1].server.engine.pool.jobs
    assert done["check"] == jobs["check"] + 3 and done["sign"] == jobs["sign"] + 3


def test_the_critical_round_through_the_workers(clients):
    """CV 4 then the SignedPreCommand (CV 5): the same replies, I0 then I99."""
    signer = clients[0]
    data = signer.sign(ACTIVATE, preserve_counter=False)
    first = same_answer(clients, data, "T")
    assert first.code == "I0"
    message = from_tree(parse_bytes(data))
    second = signer.signed_precommand(message, first, preserve_counter=False)
    reply = same_answer(clients, second, "S")
    assert reply.code == "I99"


@pytest.mark.parametrize("name, status, error", [
    ("not-xml", 400, "MalformedXML"),
    ("html", 400, "WrongRoot"),
    ("schema", 400, "SchemaInvalid"),
    ("xxe_external_entity.xml", 400, None),
    ("billion_laughs.xml", 400, "EntitiesForbidden"),
    ("external_dtd.xml", 400, None),
    ("unsigned", 403, "SignatureMissing"),
    ("tampered", 403, "DigestMismatch"),
    ("response", 400, "WrongRoot"),
])
def test_refusals_through_a_worker_are_the_same(clients, name, status, error):
    signer = clients[0]
    if name == "not-xml":
        data = b"<sr:Request xmlns:sr='x'><unclosed>"
    elif name == "html":
        data = b"<html><body>hello</body></html>"
    elif name == "schema":
        data = (INVALID / "11.3_header_out_of_order_request.xml").read_bytes()
    elif name == "unsigned":
        data = READ
    elif name == "tampered":
        data = signer.sign(READ, preserve_counter=False).replace(ESME.encode(),
                                                                 b"00-DB-12-34-56-78-90-A1")
    elif name == "response":
        data = signer.send(READ)[0].reply.body                  # a signed Response
    else:
        data = (UNUSABLE / name).read_bytes()
    reply = same_answer(clients, data)
    assert reply.status == status, reply.text
    assert reply.content_type.startswith("text/plain")
    if error:
        assert reply.headers["X-DUIS-Error"] == error
    if name == "schema":
        assert "line 3" in reply.text and "expected: sr:CommandVariant" in reply.text
    if name.endswith(".xml"):
        assert reply.headers["X-DUIS-Error"] in ("DTDForbidden", "EntitiesForbidden",
                                                 "ExternalReferenceForbidden")


def test_a_replayed_counter_is_refused_through_the_workers(clients):
    _, pooled = clients
    data = pooled.sign(READ, preserve_counter=False)
    assert pooled.post(data, "S").code == "I99"
    again = pooled.post(data, "S")
    assert again.status == 403 and again.headers["X-DUIS-Error"] == "ReplayedCounter"
    lower = sign_with_store(READ, pooled.store, counter=lambda: 7, now=START)
    refused = pooled.post(lower, "S")
    assert refused.status == 403 and refused.headers["X-DUIS-Error"] == "ReplayedCounter"


def test_certificates_are_checked_at_the_engine_clock_not_the_wall_clock(tmp_path):
    """A driven clock in 2020: a certificate that expired in 2021 is still valid to
    the worker; once the clock moves past it, the same user is refused."""
    user_read = READ.replace(SUPPLIER.encode(), EXPIRED_USER.encode())
    config = ServeConfig(port=0, clock="driven", now=parse_instant("2020-06-01T00:00:00Z"),
                         workers=2)
    with ServerThread(config) as server, \
            Client(server.url, now=parse_instant("2020-06-01T00:00:00Z")) as client:
        early = client.post(client.sign(user_read, preserve_counter=False), "S")
        assert early.status == 200, early.text                 # verified (then authorised)
        client.set_clock(parse_instant("2022-01-01T00:00:00Z"))
        late = client.post(client.sign(user_read, preserve_counter=False), "S")
        assert late.status == 403 and late.headers["X-DUIS-Error"] == "CertificateExpired"


# --- order --------------------------------------------------------------------------------

@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_checked_requests_are_handed_on_in_the_order_they_came(tmp_path):
    """A slow request (a 4 MB firmware image) then quick ones, over two workers:
    the quick ones finish first but are handed on after it, in order."""
    store = CredentialStore(default_store_directory())
    image = "QUJD" * 1_000_000
    big = build(request(SUPPLIER, "90-B3-D5-1F-30-00-00-02", 1, "11.1", node(
        "UpdateFirmware", leaf("FirmwareImage", image), leaf("FirmwareVersion", "1.1.0"),
        leaf("DeviceIDList", ESME)), command_variant=8))
    jobs = [sign_with_store(big, store, preserve_counter=True)]
    jobs += [sign_with_store(READ, store, counter=lambda n=n: 5000 + n) for n in range(8)]
    jobs.insert(3, b"<not xml")

    async def run() -> list:
        pool = CheckPool(2, CheckSettings(str(default_store_directory())))
        await pool.start()
        try:
            loop = asyncio.get_running_loop()
            handed: list = []
            done = loop.create_future()

            def deliver(index):
                def take(outcome):
                    handed.append((index, outcome))
                    if len(handed) == len(jobs):
                        done.set_result(None)
                return take

            now = dt.datetime.now(dt.UTC)
            for index, data in enumerate(jobs):
                pool.check(data, f"job {index}", now, deliver(index))
            await asyncio.wait_for(done, 60)
            return handed
        finally:
            await pool.stop()

    handed = asyncio.run(run())
    assert [index for index, _ in handed] == list(range(len(jobs)))
    kinds = [type(outcome) for _, outcome in handed]
    assert kinds == [Answered] * 3 + [Failed] + [Answered] * 6
    counters = [outcome.value.request.counter for _, outcome in handed
                if isinstance(outcome, Answered)]
    assert counters[1:] == [5000 + n for n in range(8)]


# --- a worker dies ------------------------------------------------------------------------

@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_worker_killed_while_signing_leaves_the_signing_to_the_server():
    """Signing is deterministic, so what a dead worker was signing is signed again
    by the server (the engine is told :class:`RunHere`)."""
    async def run() -> list:
        pool = CheckPool(1, CheckSettings(str(default_store_directory())))
        await pool.start()
        try:
            loop = asyncio.get_running_loop()
            (pid,) = pool.pids
            os.kill(pid, signal.SIGSTOP)
            outcome = loop.create_future()
            pool.sign([(b"<unused/>", None)], dt.datetime.now(dt.UTC), outcome.set_result)
            os.kill(pid, signal.SIGKILL)
            first = await asyncio.wait_for(outcome, 30)
            again = []                                   # no worker running: at once
            pool.sign([(b"<unused/>", None)], dt.datetime.now(dt.UTC), again.append)
            return [first, *again]
        finally:
            await pool.stop()

    assert asyncio.run(run()) == [RunHere(), RunHere()]


def test_what_a_worker_signs_is_what_the_dsp_would_send():
    from duis.clock import FixedClock
    from duis.defaults import default_world
    from duis.devices import Network
    from duis.dsp import DSP
    from duis.dsp.seal import seal_bytes as sign_unsigned
    from duis.smi import load_world

    store = CredentialStore(default_store_directory())
    sent = {}
    for sign in (True, False):
        clock = FixedClock(START)
        inventory = load_world(default_world(), clock=clock)
        dsp = DSP(inventory, store, clock=clock,
                  network=Network.from_inventory(inventory, clock=clock))
        sent[sign] = []
        for counter in (4242, 4243):                 # the first of each shape, then filled in
            data = sign_with_store(READ, store, counter=lambda c=counter: c, now=START)
            checked = dsp.precheck(data)             # sealed, or as the DSP built it
            submission = dsp.submit_checked(checked) if sign else dsp.handle(checked.request)
            sent[sign] += submission.outgoing
    signed = [o.xml for o in sent[True]]
    assert len(signed) == 4 and b"ds:Signature" not in sent[False][0].xml
    # the Canonical XML of what was filled into a template; from the bytes alone
    assert [o.canonical is not None for o in sent[False]] == [False, False, True, True]
    assert [sign_unsigned(o.xml, store, START, o.canonical) for o in sent[False]] == signed
    assert [sign_unsigned(o.xml, store, START) for o in sent[False]] == signed


@pytest.mark.slow
def test_a_killed_worker_s_request_is_checked_again_and_answered(serve_log):
    """Issue 13: a request whose worker was killed used to get 503 "send again",
    and its resend was then a replay when later counters from the same sender had
    been accepted meanwhile.  It is now checked again (here: in the server's
    process, no other worker running) in its place in arrival order, and answered
    like any other; the worker is replaced."""
    with ServerThread(driven(2)) as server, Client(server.url, now=START) as client:
        pool = server.server.engine.pool
        (old,) = pool.pids
        os.kill(old, signal.SIGSTOP)                     # it takes the request, never answers
        answer: list = []
        sender = threading.Thread(target=lambda: answer.append(
            client.post(client.sign(READ, preserve_counter=False), "S")))
        sender.start()
        wait_for(lambda: pool.workers[0].in_flight, what="the request to reach the worker")
        os.kill(old, signal.SIGKILL)
        sender.join(30)
        (reply,) = answer
        assert reply.status == 200 and reply.code == "I99", reply.text
        with Client(server.url, now=START) as other:          # no worker: checked in-process
            assert other.send(READ)[0].reply.code == "I99"
        new = wait_for(lambda: [p for p in pool.pids if p != old], what="a new worker")
        assert client.send(READ)[0].reply.code == "I99"           # checked by the new one
        assert pool.workers[0].pid == new[0]
    (exited,) = serve_log.events("worker-exited")
    assert exited["pid"] == old and exited["exit_status"] == -signal.SIGKILL
    assert exited["requests_checked_again"] == 1
    assert serve_log.events("worker-started")[0]["pid"] == new[0]


@pytest.mark.slow
def test_a_request_two_workers_died_on_is_refused_not_checked_in_the_server(serve_log):
    """A request cut short twice (two workers died checking it) is most likely
    what killed them: it is refused with WorkerExited (500, not "send again"),
    never checked in the server's own process; nothing of it is recorded."""
    with ServerThread(driven(3)) as server, Client(server.url, now=START) as client:
        pool = server.server.engine.pool
        first, second = pool.pids
        for pid in (first, second):
            os.kill(pid, signal.SIGSTOP)
        data = client.sign(READ, preserve_counter=False)
        answer: list = []
        sender = threading.Thread(target=lambda: answer.append(client.post(data, "S")))
        sender.start()
        holder = wait_for(lambda: [w for w in pool.workers if w.in_flight],
                          what="the request to reach a worker")[0]
        os.kill(holder.pid, signal.SIGKILL)
        other = wait_for(lambda: [w for w in pool.workers if w.in_flight and w is not holder],
                         what="the request to be sent to the other worker")[0]
        os.kill(other.pid, signal.SIGKILL)
        sender.join(30)
        (reply,) = answer
        assert reply.status == 500 and reply.headers["X-DUIS-Error"] == "WorkerExited"
        assert "not acted on" in reply.text
        assert server.server.engine.outbox.counts()["queued"] == 0
        wait_for(lambda: len(pool.pids) == 2, what="two new workers")
        (again,) = client.send(data)                      # nothing was recorded: accepted
        assert again.reply.code == "I99"


# --- stopping -----------------------------------------------------------------------------

def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state in ("Z", "X")


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_graceful_stop_stops_the_workers():
    running = ServerThread(driven(3)).start()
    pool = running.server.engine.pool
    pids = pool.pids
    with Client(running.url, now=START) as client:
        assert client.send(READ)[0].reply.code == "I99"
    running.stop()
    assert len(pids) == 2
    assert all(w.process.returncode == 0 for w in pool.workers)
    assert all(gone(pid) for pid in pids)


def start_serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str, dict, Path]:
    """``duis serve`` as a process, once it serves; its ``serving`` log line."""
    process, url, log = start_server(tmp_path, "serve", *args)
    serving = next(r for r in log_records(log) if r["event"] == "serving")
    return process, url, serving, log


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
@pytest.mark.slow
def test_the_workers_end_with_the_server_process(tmp_path, how):
    """Stopped with the server (SIGTERM), or on their own when it is killed."""
    process, url, serving, log = start_serve(tmp_path, "--workers", "3", "--clock", "driven",
                                             "--now", "2026-03-01T09:00:00Z")
    try:
        assert serving["workers"] == 3 and len(serving["worker_pids"]) == 2
        with Client(url, now=START) as client:
            assert client.send(READ)[0].reply.code == "I99"
        process.send_signal(getattr(signal, how))
        status = process.wait(20)
        assert status == (0 if how == "SIGTERM" else -signal.SIGKILL)
        wait_for(lambda: all(gone(pid) for pid in serving["worker_pids"]), 15,
                 "the workers to exit")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    if how == "SIGTERM":
        events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert "stopping" in events and events[-1] == "stopped"
        assert "worker-exited" not in events


@pytest.mark.parametrize("workers", [0, 1])
def test_workers_zero_or_one_is_everything_in_one_process(workers):
    with ServerThread(ServeConfig(port=0, workers=workers)) as server, \
            Client(server.url) as client:
        assert server.server.engine.pool is None
        assert client.send(READ)[0].reply.code == "I99"


def test_a_negative_number_of_workers_is_refused():
    from duis.serve.config import ConfigError
    with pytest.raises(ConfigError):
        ServeConfig(workers=-1)


def test_duis_serve_defaults_to_one_process_per_core():
    from duis.commands.serve import default_workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers() == cores
