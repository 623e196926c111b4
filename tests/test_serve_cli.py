"""``duis send``, ``duis receive`` and ``duis serve`` on the command line, and the
real clock's future-dated activations firing by themselves."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import duis.cli
from duis.clock import parse_instant
from duis.messages import format_datetime
from duis.serve import Client, Endpoints, ReceiverThread, ServeConfig, ServerThread
from duis.serve.logs import LOGGER
from tests.serve_helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "samples/messages/valid"
READ = VALID / "ECS52_11.2_read_firmware_version_request.xml"
ACTIVATE = VALID / "CS06_11.3_immediate_request.xml"
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
DSP = "90-B3-D5-1F-30-00-00-02"
DISTRIBUTE = f"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
<sr:Header><sr:RequestID>{SUPPLIER}:{DSP}:1</sr:RequestID><sr:CommandVariant>8</sr:CommandVariant>
<sr:ServiceReference>11.1</sr:ServiceReference><sr:ServiceReferenceVariant>11.1</sr:ServiceReferenceVariant>
</sr:Header><sr:Body><sr:UpdateFirmware>
<sr:FirmwareImage>QWNtZSBNZXRlcnMvQU0tRTIvMS4xLjA=</sr:FirmwareImage>
<sr:FirmwareVersion>1.1.0</sr:FirmwareVersion><sr:DeviceIDList>{ESME}</sr:DeviceIDList>
</sr:UpdateFirmware></sr:Body></sr:Request>""".encode()
ACTIVATE_AT = f"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
<sr:Header><sr:RequestID>{SUPPLIER}:{ESME}:1</sr:RequestID><sr:CommandVariant>4</sr:CommandVariant>
<sr:ServiceReference>11.3</sr:ServiceReference><sr:ServiceReferenceVariant>11.3</sr:ServiceReferenceVariant>
</sr:Header><sr:Body><sr:ActivateFirmware><sr:ExecutionDateTime>WHEN</sr:ExecutionDateTime>
<sr:FirmwareHash>34F55C16C3EE1E5E7DD18E6E48DAEBDB884F12B2FF9AEA60178BD8C553B316FE</sr:FirmwareHash>
</sr:ActivateFirmware></sr:Body></sr:Request>""".encode()
CLI = ("import sys, duis.cli as c\n"
       "c.COMMANDS = c.COMMANDS + tuple(n for n in ('serve', 'send', 'receive') "
       "if n not in c.COMMANDS)\n"
       "sys.exit(c.main(sys.argv[1:]))")


@pytest.fixture(autouse=True)
def commands(monkeypatch):
    """The three commands, and the ``duis.serve`` logger as it was (``duis serve``
    points it at the stderr of the moment)."""
    extra = tuple(n for n in ("serve", "send", "receive") if n not in duis.cli.COMMANDS)
    monkeypatch.setattr(duis.cli, "COMMANDS", duis.cli.COMMANDS + extra)
    saved = LOGGER.handlers[:], LOGGER.level, LOGGER.propagate
    yield
    LOGGER.handlers[:], LOGGER.level, LOGGER.propagate = saved


# --- duis send ------------------------------------------------------------------------------------

def test_send_signs_posts_verifies_and_prints_the_reply(server, capsys):
    assert duis.cli.main(["send", str(READ), "--to", server.url]) == 0
    out, err = capsys.readouterr()
    assert "<sr:ResponseCode>I99</sr:ResponseCode>" in out
    assert "/api/v1/serviceS: HTTP 200, I99, verified (signed by 90-B3-D5-1F-30-00-00-02)" in err


def test_send_to_the_wrong_service_exits_1_with_e13(server, capsys):
    assert duis.cli.main(["send", str(READ), "--to", server.url, "--service", "D"]) == 1
    assert "HTTP 200, E13, verified" in capsys.readouterr().err


def test_send_completes_the_critical_round(server, capsys):
    assert duis.cli.main(["send", str(ACTIVATE), "--to", server.url, "--complete",
                          "--json"]) == 0
    exchanges = json.loads(capsys.readouterr().out)
    assert [(e["command_variant"], e["service"], e["code"]) for e in exchanges] == \
        [(4, "T", "I0"), (5, "S", "I99")]
    assert all(e["verified"] and e["signer"] == DSP for e in exchanges)


def test_send_unsigned_with_no_sign_is_refused_and_exits_1(server, capsys):
    assert duis.cli.main(["send", str(READ), "--to", server.url, "--no-sign"]) == 1
    assert "HTTP 403, refused: 403 signature refused" in capsys.readouterr().err


def test_send_to_nowhere_exits_2(capsys):
    assert duis.cli.main(["send", str(READ), "--to", f"http://127.0.0.1:{free_port()}"]) == 2
    assert "cannot reach the server" in capsys.readouterr().err


def test_send_writes_the_reply_to_a_file(server, tmp_path, capsys):
    out = tmp_path / "reply.xml"
    assert duis.cli.main(["send", str(READ), "--to", server.url, "-o", str(out)]) == 0
    assert b"<sr:ResponseCode>I99</sr:ResponseCode>" in out.read_bytes()


# --- duis receive and duis serve as processes -----------------------------------------------------

def spawn(tmp_path: Path, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    return process, log


def test_receive_verifies_stores_and_stops_on_sigterm(tmp_path):
    port = free_port()
    receiver, log = spawn(tmp_path, "receive", "receive", "--port", str(port),
                          "--dir", str(tmp_path / "in"), "--log-format", "json")
    try:
        wait_for(lambda: "receiving" in log.read_text(), what="duis receive to listen")
        config = ServeConfig(port=0, endpoints=Endpoints.parse([f"http://127.0.0.1:{port}/"]))
        with ServerThread(config) as server, Client(server.url) as client:
            client.send(READ.read_bytes())
            wait_for(lambda: client.outbox()["counts"]["delivered"] == 1, what="the delivery")
            with Client(f"http://127.0.0.1:{port}") as junk:
                assert junk.request("POST", "/", b"<x/>", "application/xml").status == 403
                assert junk.request("POST", "/", b"<x/>", "text/plain").status == 415
                listing = json.loads(junk.request("GET", "/messages").body)
        receiver.send_signal(signal.SIGTERM)
        assert receiver.wait(15) == 0
    finally:
        if receiver.poll() is None:
            receiver.kill()
    (item,) = listing["messages"]
    assert item["file"] == "000001-device-response-I0-to-90B3D51F30010000.xml"
    assert (tmp_path / "in" / item["file"]).read_bytes().startswith(b"<?xml")
    assert len(list((tmp_path / "in" / "rejected").iterdir())) == 1
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["receiving", "received", "rejected", "stopped"]


def test_serve_refuses_unusable_options(tmp_path, capsys):
    assert duis.cli.main(["serve", "--clock", "driven"]) == 2
    assert "a driven clock needs a start" in capsys.readouterr().err
    assert duis.cli.main(["serve", "--callback", "ftp://x"]) == 2
    assert "bad --callback URL" in capsys.readouterr().err


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_serve_logs_what_it_serves_and_every_message(tmp_path):
    server, log = spawn(tmp_path, "serve", "serve", "--port", "0", "--clock", "driven",
                        "--now", "2026-03-01T09:00:00Z", "--profile", "baseline")
    try:
        def url():
            for line in log.read_text().splitlines():
                if json.loads(line)["event"] == "listening":
                    return json.loads(line)["url"]
        with Client(wait_for(url, 30, "duis serve to listen"),
                    now=parse_instant("2026-03-01T09:00:00Z")) as client:
            client.send(READ.read_bytes())
            client.post(b"<x", "S")
        server.send_signal(signal.SIGINT)
        assert server.wait(20) == 0
    finally:
        if server.poll() is None:
            server.kill()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    listening, serving = records[0], records[1]
    assert set(listening["services"]) == {"POST /api/v1/serviceS", "POST /api/v1/serviceT",
                                          "POST /api/v1/serviceD"}
    assert serving["profile"] == "baseline" and serving["clock"] == "driven"
    assert serving["now"] == "2026-03-01T09:00:00.000Z"
    request = next(r for r in records if r["event"] == "request")
    assert request["sr"] == "11.2" and request["code"] == "I99" and request["http"] == 200
    assert request["request_id"].startswith(f"{SUPPLIER}:{ESME}:")
    refused = next(r for r in records if r["event"] == "refused")
    assert refused["http"] == 400 and refused["error"] == "MalformedXML"
    events = [r["event"] for r in records]
    assert events[-1] == "stopped" and events.count("stopping") == 1
    # the device response has no --callback endpoint: its lane says "undeliverable"
    # when it reaches it, which on a loaded machine can be after SIGINT, while the
    # server stops; nothing else comes between
    assert set(events[events.index("stopping") + 1:-1]) <= {"undeliverable"}


# --- the clock ------------------------------------------------------------------------------------

@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_the_real_clock_fires_a_future_dated_activation_by_itself(tmp_path):
    # three seconds ahead: time for the request to be signed and handled on a loaded CI
    when = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3))
    with ReceiverThread(tmp_path / "in") as receiver:
        config = ServeConfig(port=0, tick_seconds=0.1,
                             endpoints=Endpoints.parse([receiver.url]))
        with ServerThread(config) as server, Client(server.url) as client:
            assert client.send(DISTRIBUTE)[0].reply.code == "I0"
            activate = ACTIVATE_AT.replace(b"WHEN", when.encode())
            assert client.send(activate, complete=True)[-1].reply.code == "I99"
            alert = wait_for(lambda: [m for m in receiver.inbox.messages
                                      if m.kind == "device-alert"], 30, "the 8F66 alert")
            device = client.device(ESME)
    assert alert[0].code == "8F66" and alert[0].recipient == SUPPLIER
    assert device["firmware_version"] == "1.1.0"


def test_the_driven_clock_moves_only_forward(tmp_path):
    config = ServeConfig(port=0, clock="driven", now=parse_instant("2026-03-01T09:00:00Z"))
    with ServerThread(config) as server, Client(server.url) as client:
        assert client.advance(1800)["now"] == "2026-03-01T09:30:00.000Z"
        assert client.set_clock(parse_instant("2026-03-02T00:00:00Z"))["now"] == \
            "2026-03-02T00:00:00.000Z"
        reply = client.request("POST", "/admin/clock", b'{"now": "2026-03-01T00:00:00Z"}',
                               "application/json")
        assert reply.status == 400 and b"does not go backwards" in reply.body
        assert client.health()["now"] == "2026-03-02T00:00:00.000Z"


def test_serve_on_a_port_in_use_exits_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert duis.cli.main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
