"""Every endpoint of ``duis serve`` and ``duis receive`` reads a body one way
(:mod:`duis.serve.bodies`): whole, however it arrives; bounded in size and time; a
body that cannot be read refused as the client's doing, never a 500.

Found by an attack on a running server: an SMKI look-up read only the first TCP
segment of its body and had no time limit; a ``Content-Encoding: gzip`` that did
not decode, or a client hanging up mid-body, was a 500 with a traceback in the log.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time

import pytest

from duis.clock import parse_instant
from duis.serve import ReceiverThread, ServeConfig, ServerThread
from duis.serve.logs import FOREIGN, LOGGER, configure

SEARCH = (b"<CertificateSearchRequest><CertificateSubjectName>90-B3-D5-1F-30-01-00-00"
          b"</CertificateSubjectName></CertificateSearchRequest>")
PATHS = ("/api/v1/serviceS", "/admin/clock", "/services/certificatesearch")


def _connect(url: str) -> socket.socket:
    host, port = url.rstrip("/").rsplit("/", 1)[-1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the one answer on ``sock`` (the server closes it)."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _head(path: str, content_type: str, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Connection: close\r\n{extra}").encode()


def _type(path: str) -> str:
    return "application/json" if path.startswith("/admin") else "application/xml"


class Log:
    """What ``duis serve`` writes to its log (its own events and aiohttp's), as JSON lines."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def errors(self) -> list[dict]:
        return [line for line in self.lines if line["level"] == "error"]


@pytest.fixture
def log():
    """The log as ``duis serve`` configures it (:func:`duis.serve.logs.configure`),
    written to a string; the loggers as they were afterwards."""
    loggers = [logging.getLogger(name) for name in (LOGGER.name, *FOREIGN)]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    captured = Log()
    configure("json", stream=captured.stream, burst=0)
    yield captured
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture(scope="module")
def server():
    with ServerThread(ServeConfig(port=0, body_timeout=0.5, clock="driven",
                                  now=parse_instant("2026-03-01T09:00:00Z"))) as running:
        yield running


@pytest.mark.parametrize("chunked", [False, True])
def test_a_look_up_in_pieces_is_read_whole(server, chunked):
    sock = _connect(server.url)
    extra = "Transfer-Encoding: chunked\r\n\r\n" if chunked \
        else f"Content-Length: {len(SEARCH)}\r\n\r\n"
    sock.sendall(_head("/services/certificatesearch", "application/xml", extra))
    for piece in (SEARCH[:40], SEARCH[40:]):
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        time.sleep(0.1)
    if chunked:
        sock.sendall(b"0\r\n\r\n")
    status, body = _answer(sock)
    assert status == 200, body
    assert b"<CertificateSearchResponse" in body or b"Certificate" in body


@pytest.mark.parametrize("path", PATHS)
def test_a_body_that_never_comes_is_408_in_time(server, path, log):
    sock = _connect(server.url)
    sock.sendall(_head(path, _type(path), "Content-Length: 100\r\n\r\n"))
    started = time.monotonic()
    status, body = _answer(sock)
    assert time.monotonic() - started < 3
    assert status == (400 if path.startswith("/admin") else 408), body  # admin: JSON 400s
    assert b"not received in time" in body
    assert not log.errors(), log.errors()


@pytest.mark.parametrize("path", PATHS)
def test_a_content_encoding_that_does_not_decode_is_400(server, path, log):
    sock = _connect(server.url)
    sock.sendall(_head(path, _type(path), "Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\n")
                 + b"not gzip!")
    status, body = _answer(sock)
    assert status == 400 and b"could not be read" in body, body
    assert not log.errors(), log.errors()


@pytest.mark.parametrize("path", PATHS)
def test_a_client_hanging_up_mid_body_is_no_server_fault(server, path, log):
    sock = _connect(server.url)
    sock.sendall(_head(path, _type(path), "Content-Length: 1000\r\n\r\n"))
    time.sleep(0.1)                                          # the handler waits for the body
    sock.sendall(b"<x")
    time.sleep(0.1)
    sock.close()
    time.sleep(0.3)
    assert not log.errors(), log.errors()
    with _connect(server.url) as again:                     # and the server answers on
        again.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _answer(again)[0] == 200


def test_the_receiver_reads_bodies_the_same_way(tmp_path, log):
    with ReceiverThread(tmp_path, verify_messages=False, body_timeout=0.5) as receiver:
        sock = _connect(receiver.url)
        sock.sendall(_head("/", "application/xml", "Content-Length: 100\r\n\r\n<x"))
        assert _answer(sock)[0] == 408
        sock = _connect(receiver.url)
        sock.sendall(_head("/", "application/xml", "Content-Encoding: gzip\r\n"
                                                   "Content-Length: 9\r\n\r\n") + b"not gzip!")
        assert _answer(sock)[0] == 400
        assert receiver.inbox.messages == []
    assert not log.errors(), log.errors()


@pytest.mark.parametrize("request_bytes", [
    b"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad\x01: 1\r\n\r\n",
])
def test_malformed_http_is_a_client_error_not_a_traceback(server, log, request_bytes):
    sock = _connect(server.url)
    sock.sendall(request_bytes)
    assert _answer(sock)[0] == 400
    time.sleep(0.1)
    assert not log.errors(), log.errors()
    assert [line["event"] for line in log.lines if line["level"] == "warning"] == ["client-error"]
