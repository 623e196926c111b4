"""``POST /admin/reset``: a live ``duis serve`` back at the world's initial state (the SMI,
the replay counters, the outbox, the driven clock, the devices' pending work and
planned faults), serialized with the requests in flight, over HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import pytest

from duis.serve import Client, ServeConfig, ServerThread
from duis.smi import load_world
from tests.serve_helpers import (
    ESME,
    SUPPLIER,
    SUPPLIER2,
    Receiver,
    free_port,
    read_request,
    request_id,
    store,
    wait_for,
)

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
with load_world() as _world:
    DEVICES = sorted(d.eui for d in _world.devices())


def state(client: Client) -> dict:
    """What a test can see of the world: clock, every device, the audit log from the
    seeding on, the outbox (without the sequence numbers, which go on)."""
    outbox = client.outbox()
    return {"clock": client.health()["now"],
            "devices": {eui: client.device(eui) for eui in DEVICES},
            "audit": client.audit(since=0),
            "outbox": {"counts": outbox["counts"],
                       "entries": [{k: v for k, v in e.items() if k != "seq"}
                                   for e in outbox["entries"]]}}


def _config(tmp_path, name: str | None, receiver: Receiver, workers: int = 1) -> ServeConfig:
    return ServeConfig(port=0, smi=tmp_path / name if name else None, clock="driven",
                       now=START, endpoints=_endpoints(receiver), retry_base=0.05,
                       workers=workers)


def _endpoints(receiver: Receiver):
    from duis.serve.config import Endpoints
    return Endpoints.parse([receiver.url])


@pytest.fixture()
def receiver():
    with Receiver(free_port()) as running:
        yield running


@pytest.mark.parametrize("smi", ["smi.sqlite", None], ids=["smi-file", "in-memory"])
def test_reset_gives_the_state_of_a_fresh_server(tmp_path, receiver, smi):
    with ServerThread(_config(tmp_path, "fresh.sqlite" if smi else None, receiver)) as fresh, \
            Client(fresh.url, store()) as client:
        pristine = state(client)
        (exchange,) = client.send(read_request(SUPPLIER, 1_000), sign=False)
        wait_for(lambda: client.outbox()["counts"]["delivered"] == 1, what="the delivery")
        fresh_reply, fresh_delivery = exchange.reply.body, receiver.accepted[-1].body
    assert pristine["outbox"]["counts"] == {"queued": 0, "pending": 0, "delivered": 0}
    assert pristine["clock"] == "2026-03-01T09:00:00.000Z"

    with ServerThread(_config(tmp_path, smi, receiver)) as server, \
            Client(server.url, store()) as client:
        assert state(client) == pristine
        first = read_request(SUPPLIER, 1_000)
        (exchange,) = client.send(first, sign=False)
        assert exchange.reply.code == "I99"
        wait_for(lambda: client.outbox()["counts"]["delivered"] == 1, what="the delivery")
        assert client.remove_cpl("Acme Meters", "AM-E2", "1.0.0") == [ESME]
        client.fault("unreachable", ESME)
        client.advance(3600)
        changed = state(client)
        assert changed != pristine
        assert changed["devices"][ESME]["status"] == "Suspended"

        answer = client.reset()
        assert answer == {"reset": True, "now": "2026-03-01T09:00:00.000Z", "clock": "driven",
                          "profile": "mp105-option2", "smi_audit_start": answer["smi_audit_start"]}
        assert state(client) == pristine
        assert client.audit() == []                       # nothing since the reset

        # the replay counters were emptied: the same request (same counter) is taken
        # again; the fault planned before is gone: the meter answers
        (again,) = client.send(first, sign=False)
        assert again.reply.code == "I99"
        wait_for(lambda: client.outbox()["counts"]["delivered"] == 1, what="the delivery")
        entries = client.outbox()["entries"]
        assert [(e["kind"], e["code"], e["cause"]) for e in entries] == [
            ("device-response", "I0", request_id(first))]
        # byte for byte what a fresh server answers and delivers (a driven clock and
        # deterministic signatures)
        assert again.reply.body == fresh_reply
        assert receiver.accepted[-1].body == fresh_delivery
        # sequence numbers go on: a receiver never takes it for the first one's repeat
        before, after = receiver.accepted[-2:]
        assert after.seq > before.seq


@pytest.mark.parametrize("workers", [1, 3], ids=["one-process", "two-workers"])
def test_a_reset_waits_for_the_requests_before_it_and_the_ones_after_find_it_done(
        tmp_path, receiver, workers):
    """Two suppliers send reads from their own threads while resets are asked for: each
    request is answered in full (never refused as a replay: each supplier's counters
    increase, and a reset empties them); the outbox ends holding only messages of
    requests sent, each once, and a last reset leaves it empty.  With worker
    processes too, where requests are checked (and batches signed) elsewhere."""
    with ServerThread(_config(tmp_path, "smi.sqlite", receiver, workers)) as server:
        requests = {supplier: [read_request(supplier, 10_000 + n) for n in range(16)]
                    for supplier in (SUPPLIER, SUPPLIER2)}
        answers: dict[str, list[str | None]] = {SUPPLIER: [], SUPPLIER2: []}

        def send(supplier: str) -> None:
            with Client(server.url, store()) as client:
                for data in requests[supplier]:
                    (exchange,) = client.send(data, sign=False)
                    answers[supplier].append(exchange.reply.code)

        senders = [threading.Thread(target=send, args=(s,)) for s in requests]
        with Client(server.url, store()) as admin:
            for thread in senders:
                thread.start()
            resets = []
            for _ in range(4):
                resets.append(admin.reset())
                time.sleep(0.02)
            for thread in senders:
                thread.join(60)
            assert answers == {SUPPLIER: ["I99"] * 16, SUPPLIER2: ["I99"] * 16}
            assert [r["reset"] for r in resets] == [True] * 4
            wait_for(lambda: admin.outbox()["counts"]["pending"] == 0, what="the deliveries")
            causes = [e["cause"] for e in admin.outbox()["entries"]]
            assert len(causes) == len(set(causes))
            for sent in requests.values():     # what came after the last reset, all of it
                ids = [request_id(r) for r in sent]
                kept = [rid for rid in ids if rid in causes]
                assert kept == ids[len(ids) - len(kept):]
            assert len(causes) == sum(rid in causes for sent in requests.values()
                                      for rid in map(request_id, sent))
            admin.reset()
            assert admin.outbox()["counts"] == {"queued": 0, "pending": 0, "delivered": 0}
            assert admin.device(ESME)["status"] == "Commissioned"
            assert admin.health()["status"] == "ok"


def test_a_world_that_no_longer_loads_refuses_the_reset_and_changes_nothing(tmp_path, receiver):
    import shutil

    from duis.defaults import default_world
    from duis.serve.client import AdminRefused

    world = tmp_path / "world.toml"
    shutil.copy(default_world(), world)
    config = dataclasses.replace(_config(tmp_path, "smi.sqlite", receiver), world=world)
    with ServerThread(config) as server, Client(server.url, store()) as client:
        assert client.remove_cpl("Acme Meters", "AM-E2", "1.0.0") == [ESME]
        client.advance(60)
        before = state(client)
        world.write_text(world.read_text().replace('eui = "00-DB-12-34-56-78-90-A0"',
                                                   'eui = "not-an-eui"'))
        with pytest.raises(AdminRefused) as refused:
            client.reset()
        assert refused.value.message == "POST /admin/reset: HTTP 400"
        assert str(world) in refused.value.found
        assert state(client) == before                  # the clock too: 09:01, not 09:00
        assert before["clock"] == "2026-03-01T09:01:00.000Z"
