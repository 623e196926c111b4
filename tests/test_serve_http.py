"""``duis serve`` over real loopback sockets: the web services, malformed HTTP,
the HTTP status of each refusal, and that the server keeps serving."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from duis.messages import build, leaf, node, request
from duis.serve import Client, ServeConfig, ServerThread, ServerUnreachable
from duis.serve.app import HTTP_STATUS, http_status
from duis.serve.outbox import Outbox
from duis.signatures.gbcs import sign_precommand
from duis.xmlparse import DEFAULT_MAX_BYTES

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "samples/messages/valid"
UNUSABLE = ROOT / "samples/messages/unusable"
READ = (VALID / "ECS52_11.2_read_firmware_version_request.xml").read_bytes()
ACTIVATE = (VALID / "CS06_11.3_immediate_request.xml").read_bytes()
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"


@pytest.fixture()
def client(server):
    with Client(server.url) as c:
        yield c


def signed_read(client: Client) -> bytes:
    return client.sign(READ, preserve_counter=False)


def refused(reply, status: int, error: str | None = None) -> None:
    assert reply.status == status, (reply.status, reply.text)
    assert reply.content_type.startswith("text/plain")
    if error:
        assert reply.headers.get("X-DUIS-Error") == error, (reply.headers, reply.text)


# --- the web services ------------------------------------------------------------------

def test_a_signed_read_gets_a_signed_i99(client):
    (exchange,) = client.send(READ)
    assert exchange.service == "S"
    assert exchange.reply.status == 200
    assert exchange.reply.content_type.startswith("application/xml")
    assert exchange.reply.code == "I99"
    assert str(exchange.verified.signer_eui) == "90-B3-D5-1F-30-00-00-02"


def test_a_request_sent_to_the_wrong_service_gets_a_signed_e13(client):
    for service in ("T", "D"):
        (exchange,) = client.send(READ, service=service)
        assert exchange.reply.status == 200
        assert exchange.reply.code == "E13"
        assert exchange.verified is not None


def test_the_critical_round_is_completed_by_the_client(client):
    first, second = client.send(ACTIVATE, complete=True)
    assert (first.service, first.reply.code) == ("T", "I0")
    assert first.reply.message.payload.name == "PreCommand"
    assert (second.service, second.reply.code) == ("S", "I99")
    assert second.message.command_variant == 5


def test_the_health_endpoint(client):
    health = client.health()
    assert health["status"] == "ok" and health["clock"] == "real"
    assert {"queued", "pending", "delivered", "oldest_pending_seconds",
            "max_attempts"} <= set(health["outbox"])
    assert health["problems"] == [] and health["delivery"]["failing"] == []
    assert health["connections"]["open"] >= 1 and health["smi_lock"] is None


# --- malformed HTTP ----------------------------------------------------------------------

def test_wrong_or_missing_content_type_is_415(client):
    data = signed_read(client)
    refused(client.request("POST", "/api/v1/serviceS", data, "text/plain"), 415,
            "UnsupportedContentType")
    refused(client.request("POST", "/api/v1/serviceS", data, None), 415)
    refused(client.request("POST", "/api/v1/serviceS", data, "application/json"), 415)


def test_text_xml_with_a_charset_is_accepted(client):
    reply = client.request("POST", "/api/v1/serviceS", signed_read(client),
                           "text/xml; charset=utf-8")
    assert reply.status == 200 and reply.code == "I99"


def test_an_empty_body_is_400(client):
    refused(client.request("POST", "/api/v1/serviceS", b"", "application/xml"), 400, "EmptyBody")
    refused(client.request("POST", "/api/v1/serviceS", b"  \n", "application/xml"), 400)


def test_not_xml_and_not_duis_are_400(client):
    reply = client.post(b"<sr:Request xmlns:sr='x'><unclosed>", "S")
    refused(reply, 400, "MalformedXML")
    refused(client.post((UNUSABLE / "binary_junk.xml").read_bytes(), "S"), 400)
    refused(client.post(b"<html><body>hello</body></html>", "S"), 400)


def test_a_signed_response_posted_as_a_request_is_400(client):
    (exchange,) = client.send(READ)
    refused(client.post(exchange.reply.body, "S"), 400, "WrongRoot")


def test_a_schema_invalid_request_is_400_naming_line_and_xpath(client):
    data = (ROOT / "samples/messages/invalid/11.3_header_out_of_order_request.xml").read_bytes()
    reply = client.post(data, "S")
    refused(reply, 400, "SchemaInvalid")
    assert "line 3" in reply.text and "/sr:Request/sr:Header" in reply.text
    assert "expected: sr:CommandVariant" in reply.text


@pytest.mark.parametrize("name", ["xxe_external_entity.xml", "billion_laughs.xml",
                                  "external_dtd.xml", "parameter_entity_oob.xml"])
def test_unsafe_xml_is_400_and_never_resolved(client, name):
    reply = client.post((UNUSABLE / name).read_bytes(), "S")
    refused(reply, 400)
    assert reply.headers["X-DUIS-Error"] in ("DTDForbidden", "EntitiesForbidden",
                                             "ExternalReferenceForbidden")


def test_reference_xxe_is_400(client, corpus_dir):
    reply = client.post((corpus_dir / "signed/duis-xxe.xml").read_bytes(), "S")
    refused(reply, 400)


def test_bad_signatures_are_403(client):
    unsigned = client.post(READ, "S")
    refused(unsigned, 403, "SignatureMissing")
    tampered = signed_read(client).replace(b"00-DB-12-34-56-78-90-A0", b"00-DB-12-34-56-78-90-A1")
    refused(client.post(tampered, "S"), 403, "DigestMismatch")
    other = client.sign(READ.replace(SUPPLIER.encode(), b"90-B3-D5-1F-30-02-00-00"),
                        preserve_counter=False)
    swapped = other.replace(b"90-B3-D5-1F-30-02-00-00:", SUPPLIER.encode() + b":")
    refused(client.post(swapped, "S"), 403)


def test_a_replayed_counter_is_403(client):
    data = signed_read(client)
    assert client.post(data, "S").code == "I99"
    reply = client.post(data, "S")
    refused(reply, 403, "ReplayedCounter")
    assert "replay" in reply.text


def test_a_signed_precommand_never_issued_is_422(client):
    (first,) = client.send(ACTIVATE)
    command = bytearray(base64.b64decode(first.reply.message.payload.text_at("GBCSPayload")))
    command[-3] ^= 0xFF                                      # not what the DSP issued
    signed = sign_precommand(bytes(command), client.store, SUPPLIER)
    second = request(SUPPLIER, ESME, 1, "11.3",
                     node("SignedPreCommand", leaf("GBCSPayload", base64.b64encode(signed)
                                                   .decode())), command_variant=5)
    reply = client.post(client.sign(build(second), preserve_counter=False), "S")
    refused(reply, 422, "PreCommandMismatch")


def test_a_body_over_the_cap_is_413_before_it_is_read(server):
    """A 50 MB body: refused on its Content-Length, after a few kilobytes."""
    host, port = server.url.removeprefix("http://").split(":")
    size = 50 * 1024 * 1024
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     f"application/xml\r\nContent-Length: {size}\r\n\r\n".encode())
        sock.sendall(b"<" * 65536)
        started = time.monotonic()
        head = sock.recv(65536).decode("latin-1")
        assert time.monotonic() - started < 5
    assert head.startswith("HTTP/1.1 413"), head
    assert "X-DUIS-Error: InputTooLarge" in head
    assert f"at most {DEFAULT_MAX_BYTES} bytes" in head


def test_a_chunked_body_over_the_cap_is_413(tmp_path):
    """Without a Content-Length the cap is applied while reading."""
    with ServerThread(ServeConfig(port=0, max_bytes=100_000)) as small:
        host, port = small.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/xml\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"<" * 50_000
            try:
                for _ in range(4):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass                                         # the server may close first
            head = sock.recv(65536).decode("latin-1")
        assert head.startswith("HTTP/1.1 413"), head


def test_unknown_paths_are_404_and_wrong_methods_405(client):
    reply = client.request("POST", "/api/v1/serviceX", READ, "application/xml")
    assert reply.status == 404 and "/api/v1/serviceS" in reply.text
    # every path served, the admin and SMKI ones too (it named the services and /health)
    for served in ("GET /health", "POST /admin/clock", "GET /admin/devices/{eui}",
                   "POST /services/certificatesearch"):
        assert served in reply.text, reply.text
    reply = client.request("GET", "/api/v1/serviceS")
    assert reply.status == 405 and reply.headers["Allow"] == "POST"


def test_an_admin_refusal_quotes_a_large_value_cut(client):
    # a list of 20,000 numbers came back whole: a 120 KB answer and a 50 KB log line
    body = json.dumps({"advance_seconds": [1] * 20_000}).encode()
    reply = client.request("POST", "/admin/clock", body, "application/json")
    assert reply.status == 400 and len(reply.body) < 1000, len(reply.body)
    assert "(60000 characters)" in json.loads(reply.body)["found"]


def test_admin_refusals_are_400_json(client):
    reply = client.request("POST", "/admin/clock", b'{"advance_seconds": 60}', "application/json")
    assert reply.status == 400 and b"clock is real" in reply.body
    reply = client.request("POST", "/admin/fault", b"not json", "application/json")
    assert reply.status == 400
    reply = client.request("POST", "/admin/fault", b'{"kind": "gremlins"}', "application/json")
    assert reply.status == 400 and b"unknown fault kind" in reply.body
    assert client.request("GET", "/admin/devices/00-00-00-00-00-00-00-01").status == 404


def test_the_server_keeps_serving_after_every_refusal(client):
    for bad in (b"", b"<x", (UNUSABLE / "billion_laughs.xml").read_bytes(), READ):
        client.post(bad, "S")
    (exchange,) = client.send(READ)
    assert exchange.reply.code == "I99"
    assert client.health()["status"] == "ok"


def test_concurrent_clients_are_each_answered_once():
    """Without the replay check (concurrent requests from one sender arrive in
    any order), every request gets its own answer."""
    answers: list[tuple[str, str]] = []
    lock = threading.Lock()
    counters = itertools.count(1)

    def worker(url: str) -> None:
        with Client(url, counter=lambda: next(counters)) as own:
            for _ in range(10):
                (exchange,) = own.send(READ)
                with lock:
                    answers.append((str(exchange.reply.message.header.request_id),
                                    exchange.reply.code))

    with ServerThread(ServeConfig(port=0, replay_check=False)) as running:
        threads = [threading.Thread(target=worker, args=(running.url,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(answers) == 80 and len(set(answers)) == 80
    assert {code for _, code in answers} == {"I99"}


def test_the_status_table_is_ordered_most_specific_first():
    from duis.errors import EntitiesForbidden, InputTooLarge, SchemaInvalid
    from duis.signatures.errors import ReplayedCounter
    assert http_status(InputTooLarge("x")) == 413
    assert http_status(EntitiesForbidden("x")) == 400
    assert http_status(ReplayedCounter("x")) == 403
    assert http_status(SchemaInvalid("x")) == 400
    for index, (cls, _) in enumerate(HTTP_STATUS):
        for later, _ in HTTP_STATUS[index + 1:]:
            assert not issubclass(later, cls) or later is cls, (cls, later)


def test_graceful_shutdown_answers_every_request_in_flight(tmp_path):
    """Requests keep coming while the server stops: each is answered in full or
    refused at connect, never cut off; every answered read's device response is
    in the outbox after the stop."""
    config = ServeConfig(port=0, smi=tmp_path / "smi.sqlite", replay_check=False)
    running = ServerThread(config).start()
    counters = itertools.count(1)
    answered: list[str] = []
    problems: list[object] = []
    stopped = threading.Event()

    def worker() -> None:
        with Client(running.url, timeout=10, counter=lambda: next(counters)) as own:
            while True:
                try:
                    (exchange,) = own.send(READ)
                except ServerUnreachable:
                    if not stopped.is_set():
                        problems.append("unreachable before the stop")
                    return
                if exchange.reply.code != "I99":
                    problems.append(exchange.reply.text)
                    return
                answered.append(str(exchange.message.request_id))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    stopped.set()
    running.stop()
    for t in threads:
        t.join(timeout=20)
    assert not problems and len(answered) > 10
    outbox = Outbox(tmp_path / "smi.sqlite")
    causes = [e.cause for e in outbox.entries(limit=100_000)]
    outbox.close()
    assert sorted(causes) == sorted(answered)
