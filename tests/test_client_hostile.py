"""``duis send`` and :class:`duis.serve.Client` against a server that misbehaves: the
whole answer within the timeout and bounded in size, a stale or swapped answer never
taken for this request's, a POST never sent twice.

Found by an attack: a trickled answer (or endless ``100 Continue``) hung ``duis send``
past ``--timeout``; a 400 MB answer took 1.3 GB and was printed whole; a genuine
signed I99 for another RequestID was reported as this request's success; a POST was
sent again when the server closed after reading it; a blank 500 was a traceback.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from duis.cli import main
from duis.clock import parse_instant
from duis.errors import MessageError
from duis.serve import Client, ServeConfig, ServerThread, ServerUnreachable
from duis.serve import client as client_module
from tests.serve_helpers import RawHttp

ROOT = Path(__file__).resolve().parents[1]
READ = ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml"
NOW = "2026-03-01T09:00:00Z"


@pytest.fixture
def hostile():
    servers = []

    def make(answer) -> RawHttp:
        servers.append(RawHttp(answer))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def _trickle(body: bytes, conn: socket.socket) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        time.sleep(0.1)
        conn.sendall(b" ")
    return False


def _continues(body: bytes, conn: socket.socket) -> bool:
    for _ in range(100):
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("answer", [_trickle, _continues], ids=["trickle", "continue"])
def test_the_whole_answer_comes_within_the_timeout(hostile, answer):
    server = hostile(answer)
    started = time.monotonic()
    with Client(server.url, timeout=0.8) as client, pytest.raises(ServerUnreachable,
                                                                   match="no whole answer"):
        client.send(READ.read_bytes())
    assert time.monotonic() - started < 2.5


def test_an_answer_over_the_cap_is_refused(hostile, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_REPLY_BYTES", 1000)

    def huge(body: bytes, conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                     b"Content-Length: 5000\r\n\r\n" + b"x" * 5000)
        return True
    server = hostile(huge)
    with Client(server.url) as client, pytest.raises(ServerUnreachable, match="too large"):
        client.send(READ.read_bytes())


def test_a_signed_answer_to_another_request_is_refused(tmp_path, hostile):
    config = ServeConfig(port=0, clock="driven", now=parse_instant(NOW))
    with ServerThread(config) as real, Client(real.url, now=parse_instant(NOW)) as client:
        stale = client.send(READ.read_bytes())[0].reply.body      # a genuine signed I99

    def replay(body: bytes, conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "
                     + str(len(stale)).encode() + b"\r\n\r\n" + stale)
        return True
    server = hostile(replay)
    with Client(server.url, now=parse_instant(NOW)) as client, \
            pytest.raises(MessageError, match="the reply answers another request"):
        client.send(READ.read_bytes())


def test_a_post_the_server_read_is_not_sent_again(hostile):
    answered = []

    def first_then_close(body: bytes, conn: socket.socket) -> bool:
        if not answered:
            answered.append(body)
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            return True                             # keep the connection for the next
        return False                                # read the second, close: no answer
    server = hostile(first_then_close)
    with Client(server.url) as client:
        assert client.request("POST", "/x", b"<first/>", "application/xml").status == 204
        with pytest.raises(ServerUnreachable, match="not sent again"):
            client.request("POST", "/x", b"<second/>", "application/xml")
    time.sleep(0.2)
    assert server.requests == [b"<first/>", b"<second/>"]


def test_a_blank_refusal_is_reported_not_a_traceback(hostile, capsys):
    def blank(body: bytes, conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\n \r\n")
        return True
    server = hostile(blank)
    assert main(["send", "--to", server.url, "--now", NOW, str(READ)]) == 1
    assert "HTTP 500, refused: (no text)" in capsys.readouterr().err


@pytest.mark.parametrize("body", [b"hello", b"<other/>"])
def test_a_200_that_is_no_duis_response_is_a_refused_reply(hostile, capsys, body):
    # exit 2, "unusable input", as if the request had been at fault
    def answer(request: bytes, conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        return True
    server = hostile(answer)
    assert main(["send", "--to", server.url, "--now", NOW, str(READ)]) == 1
    assert "the reply is not a DUIS response" in capsys.readouterr().err
