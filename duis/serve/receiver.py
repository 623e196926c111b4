"""``duis receive``: a DCC user's receiving endpoint, for tests and demos.

It accepts what ``duis serve`` (or a DCC) POSTs: signed DUIS Responses and
alerts, ``application/xml``.  Each message is verified (the DSP's signature),
stored as ``NNNNNN-<kind>-<code>-to-<recipient>.xml`` in the folder, listed
in ``index.jsonl``, and answered ``204 No Content`` as DCC Boxed users do.
A message received twice (the same signed content, however it is spelled:
a redelivery is byte for byte the message first sent, but a comment or the
signature's other valid form changes the bytes, not what was signed) is
answered 204 again and counted, not stored again;
the folder's index is read back on start, so this survives a restart.
A message whose signature does not verify is answered 403 (the sender keeps
it and retries) and stored under ``rejected/`` for inspection; so is, with 400,
one whose ``X-DUIS-Kind`` or ``X-DUIS-Recipient`` header (what ``duis serve``
says the message is, and for whom) is not a kind the DSP sends or not an EUI-64.
A file's name is made only of letters, digits, ``.``, ``_`` and ``-``, each part
at most 40 characters, whatever the message says its code is.

``GET /messages`` lists what was received, in order, as JSON.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import json
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web

from ..dsp.responses import OUTGOING_KINDS
from ..errors import DuisError, InputError
from ..files import make_folder
from ..messages import Response, from_tree
from ..messages.ids import is_canonical_eui
from ..signatures import CredentialStore, verify
from ..signatures.credentials import default_store_directory
from ..xmlparse import DEFAULT_MAX_BYTES, parse_bytes
from .bodies import LINGER_SECONDS, read_body
from .config import BODY_TIMEOUT
from .delivery import HEADER_KIND, HEADER_RECIPIENT, HEADER_SEQ
from .logs import event

INDEX = "index.jsonl"
#: what may not go into a stored file's name, and how long each part of it may be
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]")
_NAME_PART = 40


def _name_part(text: str) -> str:
    """``text`` as a part of a file name: nothing that makes it a path or too long."""
    return _NOT_IN_NAMES.sub("_", text[:_NAME_PART])


class BadDeliveryHeader(InputError):
    """A delivery's ``X-DUIS-Kind`` or ``X-DUIS-Recipient`` says what no DSP message is."""


def _delivery_headers(headers) -> tuple[str | None, str | None]:
    """The delivery's recipient and kind headers (None where absent), each what
    ``duis serve`` sends or refused: a canonical EUI-64, one of :data:`OUTGOING_KINDS`."""
    recipient, kind = headers.get(HEADER_RECIPIENT), headers.get(HEADER_KIND)
    if recipient is not None and not is_canonical_eui(recipient):
        raise BadDeliveryHeader(f"bad {HEADER_RECIPIENT} header", source="<delivery>",
                                expected="an EUI-64 such as "
                                "90-B3-D5-1F-30-01-00-00", found=repr(recipient[:_NAME_PART]))
    if kind is not None and kind not in OUTGOING_KINDS:
        raise BadDeliveryHeader(f"bad {HEADER_KIND} header", source="<delivery>",
                                expected="one of " + ", ".join(OUTGOING_KINDS),
                                found=repr(kind[:_NAME_PART]))
    return recipient, kind


@dataclass(frozen=True)
class Received:
    """One stored message."""

    number: int
    file: str
    kind: str
    code: str
    recipient: str | None
    delivery: str | None
    """The sender's ``X-DUIS-Delivery`` (outbox sequence number), if any."""
    request_id: str | None
    response_id: str | None
    sha256: str
    """SHA-256 of what was signed (of the body, when not verifying): the message's identity."""
    at: str


class Inbox:
    """The folder of received messages and what is known about them."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = make_folder(folder)
        self.messages: list[Received] = []
        self.duplicates = 0
        self._digests: set[str] = set()
        self._lock = threading.Lock()
        index = self.folder / INDEX
        if index.exists():
            for line in index.read_text("utf-8").splitlines():
                if line.strip():
                    item = Received(**json.loads(line))
                    self.messages.append(item)
                    self._digests.add(item.sha256)

    def seen(self, digest: str) -> bool:
        return digest in self._digests

    def store(self, body: bytes, message: Response, digest: str, recipient: str | None,
              delivery: str | None, kind: str | None) -> Received | None:
        """Store a new message; None (and counted) when it is a repeat."""
        with self._lock:
            if digest in self._digests:
                self.duplicates += 1
                return None
            number = len(self.messages) + 1
            kind = kind or message.kind
            code = message.alert_code or message.response_code
            name = f"{number:06d}-{_name_part(kind)}-{_name_part(code)}" + \
                (f"-to-{_name_part(recipient.replace('-', ''))}" if recipient else "") + ".xml"
            (self.folder / name).write_bytes(body)
            header = message.header
            item = Received(number, name, kind, code, recipient, delivery,
                            str(header.request_id) if header.request_id else None,
                            str(header.response_id) if header.response_id else None,
                            digest, _dt.datetime.now(_dt.UTC).isoformat())
            with open(self.folder / INDEX, "a", encoding="utf-8") as index:
                index.write(json.dumps(asdict(item)) + "\n")
            self.messages.append(item)
            self._digests.add(digest)
            return item

    def reject(self, body: bytes, digest: str) -> None:
        rejected = self.folder / "rejected"
        rejected.mkdir(exist_ok=True)
        (rejected / f"{digest[:16]}.xml").write_bytes(body)


def build_receiver(inbox: Inbox, store: CredentialStore | None, *,
                   now: _dt.datetime | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                   body_timeout: float = BODY_TIMEOUT) -> web.Application:
    """The receiving endpoint; ``store=None`` stores without verifying; a message's
    body is at most ``max_bytes`` and arrives within ``body_timeout`` seconds."""
    app = web.Application(client_max_size=max_bytes)

    async def receive(request: web.Request) -> web.Response:
        if request.content_type not in ("application/xml", "text/xml"):
            return web.Response(status=415, text="expected application/xml\n")
        try:
            body = await read_body(request, max_bytes, body_timeout)
        except InputError as exc:
            from .app import http_status  # the server's statuses, imported when first needed
            event("refused", delivery=request.headers.get(HEADER_SEQ), why=str(exc))
            reply = web.Response(status=http_status(exc), text=f"{exc}\n")
            reply.force_close()
            return reply
        try:
            recipient, kind = _delivery_headers(request.headers)
        except BadDeliveryHeader as exc:
            inbox.reject(body, hashlib.sha256(body).hexdigest())
            event("rejected", delivery=request.headers.get(HEADER_SEQ), why=str(exc))
            return web.Response(status=400, text=f"{exc}\n")
        try:
            if store is not None:   # what was signed: the message, and what identifies it
                verified = verify(body, store, now=now, source="<delivery>")
                tree, signed = verified.tree, verified.signed_bytes
            else:
                tree, signed = parse_bytes(body, "<delivery>"), body
            message = from_tree(tree, "<delivery>")
            if not isinstance(message, Response):
                raise DuisError("not a DUIS Response or alert", expected="sr:Response",
                                found=type(message).__name__)
        except DuisError as exc:
            inbox.reject(body, hashlib.sha256(body).hexdigest())
            event("rejected", delivery=request.headers.get(HEADER_SEQ), why=str(exc))
            return web.Response(status=403 if store is not None else 400, text=f"{exc}\n")
        # a repeat is the same signed content, however it is spelled (a comment added,
        # the signature's other valid form): never the raw bytes, which anyone can vary
        digest = hashlib.sha256(signed).hexdigest()
        if inbox.seen(digest):
            inbox.duplicates += 1
            event("duplicate", delivery=request.headers.get(HEADER_SEQ), sha256=digest[:16])
            return web.Response(status=204)
        item = inbox.store(body, message, digest, recipient, request.headers.get(HEADER_SEQ),
                           kind)
        if item is not None:
            event("received", number=item.number, file=item.file, delivery=item.delivery,
                  kind=item.kind, code=item.code, recipient=item.recipient)
        return web.Response(status=204)

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"messages": [asdict(m) for m in inbox.messages],
                                  "duplicates": inbox.duplicates})

    app.router.add_get("/messages", listing)
    app.router.add_post("/{tail:.*}", receive)
    return app


def receiver_runner(app: web.Application, shutdown_timeout: float) -> web.AppRunner:
    """The runner of a receiving endpoint: after a refused body it reads (and drops)
    what the sender still sends for :data:`~.bodies.LINGER_SECONDS`, then closes."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout,
                         lingering_time=LINGER_SECONDS)


class ReceiverThread:
    """A receiving endpoint in a background thread (tests); ``port=0`` picks one."""

    def __init__(self, folder: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 store: CredentialStore | None = None, verify_messages: bool = True,
                 now: _dt.datetime | None = None, body_timeout: float = BODY_TIMEOUT) -> None:
        self.inbox = Inbox(folder)
        if verify_messages and store is None:
            store = CredentialStore(default_store_directory())
        self.app = build_receiver(self.inbox, store if verify_messages else None, now=now,
                                  body_timeout=body_timeout)
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="duis-receive",
                                        daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> ReceiverThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = receiver_runner(self.app, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        assert self._runner is not None  # the thread runs: started
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ReceiverThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
