"""A small client for ``duis serve`` (or any DUIS web service): ``duis send``.

:meth:`Client.send` signs a request unless it is signed already, picks the
web service from its command variant (CV 1, 3, 5, 7: Send Command; 4:
Transform; 2, 6, 8: Non-Device), POSTs it, and verifies the DSP's signature
on the reply.  For a critical request (CV 4) it can complete the round
itself: sign the PreCommand's GBCS command with the sender's ``ds`` key and
send it back as a SignedPreCommand (CV 5).  The admin helpers drive a
``duis serve`` clock, CPL and faults for scenario tests.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import http.client
import json
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from ..errors import DuisError, InputError, MessageError
from ..messages import Request, Response, build, format_datetime, from_tree, leaf, node, request
from ..signatures import (
    CredentialStore,
    MillisecondCounter,
    VerifiedMessage,
    sign_with_store,
    verify,
)
from ..signatures.credentials import default_store_directory
from ..signatures.errors import CredentialError
from ..signatures.gbcs import sign_precommand
from ..signatures.profile import SIGNATURE
from ..xmlparse import DEFAULT_MAX_BYTES, parse_bytes
from .config import SERVICE_PATHS, service_for


class ServerUnreachable(InputError):
    """The server cannot be reached (refused, timed out, not HTTP)."""


@dataclass
class Reply:
    """One HTTP answer from a web service."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_xml(self) -> bool:
        return self.status == 200 and self.content_type.startswith(("application/xml", "text/xml"))

    @cached_property
    def message(self) -> Response | None:
        """The DUIS Response it carries, typed (not validated), or None (parsed once)."""
        if not self.is_xml:
            return None
        typed = from_tree(parse_bytes(self.body, "<reply>"), "<reply>")
        return typed if isinstance(typed, Response) else None

    @property
    def code(self) -> str | None:
        """The DUIS ResponseCode, or None when the server refused with an HTTP error."""
        message = self.message
        return message.response_code if message else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Exchange:
    """A request as sent, the web service it went to, and the reply."""

    request: bytes
    service: str
    reply: Reply
    verified: VerifiedMessage | None = None
    """The reply's verified signature (when it is a DUIS Response and verification is on)."""

    @cached_property
    def message(self) -> Request:
        # what Client.send sent: a request (it refuses anything else); parsed once
        return cast(Request, from_tree(parse_bytes(self.request, "<request>"), "<request>"))


def is_signed(data: bytes) -> bool:
    """Whether the document's root carries a ds:Signature child."""
    return parse_bytes(data, "<request>").getroot().find(SIGNATURE) is not None


#: the largest answer read (a DUIS response is far smaller; a server sending more is
#: refused, not held in memory)
MAX_REPLY_BYTES = DEFAULT_MAX_BYTES


class _Watchdog:
    """Shuts ``connection``'s socket down once ``seconds`` have passed: a server that
    trickles its answer a byte at a time, or sends ``100 Continue`` for ever, gets no
    more time than one that says nothing (the socket timeout bounds each read only)."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.connection, self.seconds, self.fired = connection, seconds, False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()

    def error(self, url: str) -> ServerUnreachable:
        return ServerUnreachable("no whole answer in time", source=url,
                                 expected=f"the answer within {self.seconds} s",
                                 found="still coming")


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether this kept-alive connection is done with: an idle connection that is
    readable holds the server's end (or something no answer should be, a TLS close
    among them), so it is not used again."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Client:
    """HTTP/1.1 to one server, keep-alive, one request at a time."""

    def __init__(self, url: str, store: CredentialStore | None = None, *,
                 timeout: float = 30.0, now: _dt.datetime | None = None,
                 verify_replies: bool = True, counter: Callable[[], int] | None = None) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - read to be checked: a bad or out-of-range port raises
        except ValueError as exc:
            raise InputError("bad server URL", expected="http://host:port (a port 0 to 65535)",
                             found=f"{url!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError("bad server URL", expected="http://host:port", found=url)
        if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise InputError("bad timeout", expected="a number of seconds above 0",
                             found=str(timeout))
        self.url = url.rstrip("/")
        self._parts = parts
        self._host: str = parts.hostname
        self.store = store or CredentialStore(default_store_directory())
        self.timeout = timeout
        self.now = now
        """The time signatures are made and checked at (default: the current time)."""
        self.verify_replies = verify_replies
        self._connection: http.client.HTTPConnection | None = None
        self._counter = counter or MillisecondCounter()
        """Fresh RequestID counters (default: milliseconds since the epoch, never repeating)."""

    # --- HTTP ---------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self._parts.scheme == "https" \
                else http.client.HTTPConnection
            self._connection = cls(self._host, self._parts.port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        """One HTTP request, its whole answer within :attr:`timeout` seconds and at most
        :data:`MAX_REPLY_BYTES`.  A kept-alive connection the server has closed is
        replaced before the request goes; once sent, a POST is never sent again (the
        server may have acted on it), a GET once more if the connection broke."""
        headers = {"Content-Type": content_type} if content_type else {}
        prefix = self._parts.path.rstrip("/")
        for attempt in (1, 2):
            if self._connection is not None and _closed_by_peer(self._connection):
                self.close()
            reused = self._connection is not None
            connection = self._connect()
            watchdog = _Watchdog(connection, self.timeout)
            try:
                connection.request(method, prefix + path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read(MAX_REPLY_BYTES + 1)
                if watchdog.fired:                    # cut short: what came is not all
                    self.close()
                    raise watchdog.error(self.url)
                if len(data) > MAX_REPLY_BYTES:
                    self.close()
                    raise ServerUnreachable("answer too large", source=self.url,
                                            expected=f"at most {MAX_REPLY_BYTES} bytes",
                                            found="more")
                reply = Reply(answer.status, answer.getheader("Content-Type", ""), data,
                              {k: v for k, v in answer.getheaders()})
                if answer.will_close:
                    self.close()
                return reply
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self.close()
                if watchdog.fired:
                    raise watchdog.error(self.url) from None
                if attempt == 2 or not reused or method != "GET":
                    raise ServerUnreachable("the server closed the connection",
                                            source=self.url, expected="an HTTP answer"
                                            + ("" if method == "GET" else " (the request may "
                                               "have been acted on: not sent again)"),
                                            found=type(exc).__name__) from None
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self.close()
                if watchdog.fired:
                    raise watchdog.error(self.url) from None
                raise ServerUnreachable("cannot reach the server", source=self.url,
                                        expected="a DUIS web service", found=str(exc)) from None
            finally:
                watchdog.cancel()
        raise AssertionError("unreachable")

    def post(self, data: bytes, service: str) -> Reply:
        """POST signed DUIS XML to a web service (``S``, ``T`` or ``D``)."""
        return self.request("POST", SERVICE_PATHS[service], data, "application/xml")

    # --- DUIS -------------------------------------------------------------------------

    def sign(self, data: bytes, *, preserve_counter: bool = True) -> bytes:
        """Sign with the originator's xml-sign key from the store."""
        return sign_with_store(data, self.store, preserve_counter=preserve_counter,
                               counter=self._counter, now=self.now, source="<request>")

    def send(self, data: bytes, *, service: str | None = None, sign: bool | None = None,
             preserve_counter: bool = False, complete: bool = False) -> list[Exchange]:
        """Send one request; with ``complete``, finish a critical request's round.

        ``sign=None`` signs only an unsigned request; ``preserve_counter`` keeps
        its RequestID counter (else a fresh one, milliseconds since the epoch).
        Returns one exchange, or two when the round was completed.
        """
        if sign or (sign is None and not is_signed(data)):
            data = self.sign(data, preserve_counter=preserve_counter)
        message = from_tree(parse_bytes(data, "<request>"), "<request>")
        if not isinstance(message, Request):
            raise InputError("not a DUIS request", expected="sr:Request",
                             found=type(message).__name__)
        exchange = self._exchange(data, service or service_for(message.command_variant))
        exchanges = [exchange]
        if complete and message.command_variant == 4 and exchange.reply.code == "I0":
            second = self.signed_precommand(message, exchange.reply,
                                            preserve_counter=preserve_counter)
            exchanges.append(self._exchange(second, "S"))
        return exchanges

    def _exchange(self, data: bytes, service: str) -> Exchange:
        reply = self.post(data, service)
        verified = None
        source = f"reply from {self.url}"
        try:
            if self.verify_replies and reply.is_xml:
                verified = verify(reply.body, self.store, now=self.now, source=source)
            exchange = Exchange(data, service, reply, verified)
            answered = reply.message.header.request_id if reply.message is not None else None
        except CredentialError:
            raise                          # this side's store, not the reply
        except InputError as exc:  # the server answered, with what no DSP sends: refused (1)
            raise MessageError("the reply is not a DUIS response", source=source,
                               expected="a signed sr:Response", found=exc.message) from None
        if answered is not None and answered != exchange.message.request_id:
            # a stale or swapped answer (signed, and valid) must not pass for this one's
            raise MessageError("the reply answers another request", source=source,
                               path="/sr:Response/sr:Header/sr:RequestID",
                               expected=str(exchange.message.request_id), found=str(answered))
        return exchange

    def signed_precommand(self, original: Request, reply: Reply, *,
                          preserve_counter: bool = False) -> bytes:
        """The CV 5 request returning the PreCommand of ``reply``, signed with the
        sender's ds key; its counter follows the original's (or is fresh)."""
        payload = reply.message.payload if reply.message else None
        gbcs = payload.text_at("GBCSPayload") if payload is not None else None
        if payload is None or payload.name != "PreCommand" or not gbcs:
            raise InputError("the reply carries no PreCommand", source=self.url,
                             expected="a ResponseMessage with PreCommand/GBCSPayload",
                             found=payload.name if payload is not None else "no payload")
        signed = sign_precommand(base64.b64decode(gbcs), self.store, original.originator,
                                 now=self.now)
        counter = original.counter + 1 if preserve_counter else self._counter()
        second = request(original.originator, original.target, counter,
                         original.service_reference_variant,
                         node("SignedPreCommand",
                              leaf("GBCSPayload", base64.b64encode(signed).decode("ascii"))),
                         command_variant=5)
        return self.sign(build(second), preserve_counter=True)

    # --- operations and admin (duis serve only) -------------------------------------------

    def _json(self, method: str, path: str, body: dict | None = None) -> Any:
        """The JSON the server answered (an object, or a list for the audit)."""
        data = json.dumps(body).encode() if body is not None else None
        reply = self.request(method, path, data, "application/json" if data else None)
        try:
            result = json.loads(reply.body or b"null")
        except ValueError:
            result = {"message": reply.text}
        if reply.status >= 400:
            message = result.get("message") if isinstance(result, dict) else reply.text
            raise AdminRefused(f"{method} {path}: HTTP {reply.status}", source=self.url,
                               found=message)
        return result

    def health(self) -> dict:
        return self._json("GET", "/health")

    def advance(self, seconds: float) -> dict:
        """Move a driven clock forward; the alerts that fire are queued for delivery."""
        return self._json("POST", "/admin/clock", {"advance_seconds": seconds})

    def set_clock(self, now: _dt.datetime) -> dict:
        return self._json("POST", "/admin/clock", {"now": format_datetime(now)})

    def remove_cpl(self, manufacturer: str, model: str, firmware_version: str,
                   smets: str | None = None, *, cause: str | None = None) -> list[str]:
        return self._json("POST", "/admin/cpl", {
            "action": "remove", "manufacturer": manufacturer, "model": model,
            "firmware_version": firmware_version, "smets": smets, "cause": cause})["suspended"]

    def add_cpl(self, manufacturer: str, model: str, firmware_version: str, smets: str, *,
                firmware_hash: str | None = None, status: str = "Current",
                cause: str | None = None) -> None:
        self._json("POST", "/admin/cpl", {
            "action": "add", "manufacturer": manufacturer, "model": model,
            "firmware_version": firmware_version, "smets": smets,
            "firmware_hash": firmware_hash, "status": status, "cause": cause})

    def fault(self, kind: str, device: str | None = None, share: float | None = None) -> None:
        self._json("POST", "/admin/fault", {"kind": kind, "device": device, "share": share})

    def device(self, eui: str) -> dict:
        return self._json("GET", f"/admin/devices/{eui}")

    def reset(self) -> dict:
        """``POST /admin/reset``: the world's initial state (docs/serve.md)."""
        return self._json("POST", "/admin/reset")

    def outbox(self, *, since: int = 0, pending: bool = False) -> dict:
        query = urlencode({"since": since, "pending": int(pending)})
        return self._json("GET", f"/admin/outbox?{query}")

    def audit(self, since: int | None = None) -> list[dict]:
        return self._json("GET", "/admin/audit" + (f"?since={since}" if since is not None
                                                   else ""))


class AdminRefused(DuisError):
    """An admin or health request the server refused."""

    exit_code = 1
