"""Routes of ``duis serve`` and how a refused request maps to an HTTP status.

The three DUIS web services take signed DUIS XML and answer with the
DSP-signed Response (HTTP 200, ``application/xml``): ``I0``, ``I99``, a
PreCommand, or an authorisation error code such as ``E5`` or ``E13`` (a
request sent to the wrong service).  A request that never gets as far as the
authorisation checks has no DUIS Response; it gets the HTTP status of
:data:`HTTP_STATUS` and a plain-text body naming the problem (its line,
XPath, what was expected and what was found), with the error's class in the
``X-DUIS-Error`` header.  See ``docs/serve.md``.

A body must arrive within ``body_timeout`` seconds of the request head (else
408, connection closed); an admin body is at most :data:`ADMIN_MAX_BYTES`.
Every admin field is checked for its type and range (a number that is NaN,
infinite, a string, a boolean, or beyond what the clock or SQLite can hold is
refused with a typed :class:`AdminError`, HTTP 400 and a JSON body); anything
that still fails unexpectedly is HTTP 500, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import logging
import math
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable
from typing import Literal, overload

from aiohttp import web

from ..clock import parse_instant
from ..dsp.critical import PreCommandMismatch
from ..dsp.service import NotEmulated
from ..errors import DuisError, InputError, InputTooLarge, NotCovered, SchemaInvalid
from ..messages.ids import quoted
from ..signatures.errors import CredentialError, SignatureError
from ..smi import CplEntry
from ..smi.tables import is_xml_text
from . import smki
from .bodies import BodyTimeout, read_body
from .config import SERVICE_NAMES, SERVICE_PATHS, SERVICE_VARIANTS, ServeConfig
from .delivery import Deliverer
from .engine import AdminError, Engine, SmiBusy
from .logs import event
from .pool import WorkerExited

#: content types a web service accepts (parameters such as charset are ignored)
XML_TYPES = ("application/xml", "text/xml")

#: refusals before the authorisation checks -> HTTP status; the first match wins
HTTP_STATUS: tuple[tuple[type[DuisError], int], ...] = (
    (InputTooLarge, 413),        # over the body cap (refused before it is all read)
    (BodyTimeout, 408),          # the body did not arrive in time
    (SignatureError, 403),       # XML or GBCS signature refused, replayed counter
    (CredentialError, 500),      # the DSP cannot sign: the server's credential store
    (InputError, 400),           # empty, not XML, unsafe XML (DTD, entities, XXE), not DUIS
    (SchemaInvalid, 400),        # breaks the DUIS schema
    (NotCovered, 400),           # a service the bundled schema does not cover
    (PreCommandMismatch, 422),   # a SignedPreCommand for no PreCommand issued
    (NotEmulated, 501),          # valid and authorised, but not emulated
    (SmiBusy, 503),              # the SMI locked elsewhere: not acted on, send again
    (WorkerExited, 500),         # two workers died checking it: refused, not acted on
    (DuisError, 422),            # any other refusal of a well-formed request
)

REASONS = {413: "request body too large", 403: "signature refused",
           400: "request refused", 422: "request cannot be processed",
           501: "not emulated", 500: "internal error", 415: "unsupported content type",
           503: "service unavailable", 408: "request timeout"}

#: the largest admin request body (JSON)
ADMIN_MAX_BYTES = 64 * 1024
#: the furthest a driven clock may be moved in one request, and the last instant it may show
MAX_ADVANCE_SECONDS = 100 * 366 * 86400
LAST_INSTANT = _dt.datetime(9000, 1, 1, tzinfo=_dt.UTC)
#: the largest sequence number a query may give (SQLite's INTEGER)
MAX_SEQ = 2 ** 63 - 1
#: seconds ``/health`` waits for the outbox's figures (its file may be locked)
HEALTH_READ_TIMEOUT = 2.0

ENGINE, DELIVERER, CONFIG = (web.AppKey("engine", Engine), web.AppKey("deliverer", Deliverer),
                             web.AppKey("config", ServeConfig))
SERVER = web.AppKey("server", object)
GATE: web.AppKey[RefusedGate] = web.AppKey("gate")
"""The :class:`RefusedGate` of the web services."""


class RefusedGate:
    """Who goes first: requests on connections whose last request was refused wait
    (at most ``wait`` seconds) while requests of other connections are in hand.

    A closed-loop client sending what is refused would otherwise take as much of
    the server as it can, at the cost of everyone's latency; this way it gets the
    gaps the others leave.  Keyed by connection (the transport, weakly): a client
    that opens a connection per request pays a TCP handshake each time and meets
    the connection cap.
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._refused: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._in_hand = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def turn(self, connection: object) -> bool:
        """Wait for this connection's turn; whether it counts as a first-class request."""
        if connection is None or connection not in self._refused:
            self._in_hand += 1
            self._quiet.clear()
            return True
        if self.wait and self._in_hand:
            try:
                await asyncio.wait_for(self._quiet.wait(), self.wait)
            except TimeoutError:
                pass
        return False

    def done(self, first_class: bool) -> None:
        """A request that had its turn is answered."""
        if first_class:
            self._in_hand -= 1
            if not self._in_hand:
                self._quiet.set()

    @property
    def marked(self) -> int:
        """How many connections are marked refused now (a closed one is forgotten)."""
        return len(self._refused)

    def note(self, connection: object, status: int) -> None:
        """The answer on ``connection``: a 4xx marks it, anything else clears it."""
        if connection is None:
            return
        if 400 <= status < 500:
            self._refused[connection] = True
        else:
            self._refused.pop(connection, None)
"""The :class:`~.server.Server` (for its connection guard), when it set itself here."""


def http_status(exc: DuisError) -> int:
    """The HTTP status for a request refused with ``exc``."""
    for cls, status in HTTP_STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def build_app(engine: Engine, deliverer: Deliverer, config: ServeConfig) -> web.Application:
    """The aiohttp application of ``duis serve``: the DUIS web services, the admin
    endpoints and /health over ``engine``, with ``config``'s limits."""
    app = web.Application(client_max_size=config.max_bytes, middlewares=[_errors])
    app[ENGINE], app[DELIVERER], app[CONFIG] = engine, deliverer, config
    app[GATE] = RefusedGate(config.refused_wait)
    for service, path in SERVICE_PATHS.items():
        app.router.add_post(path, _service_handler(service))
    app.router.add_get("/health", _health)
    app.router.add_get("/admin/clock", _get_clock)
    app.router.add_post("/admin/clock", _move_clock)
    app.router.add_post("/admin/cpl", _cpl)
    app.router.add_post("/admin/fault", _fault)
    app.router.add_post("/admin/reset", _reset)
    app.router.add_get("/admin/devices/{eui}", _device)
    app.router.add_get("/admin/outbox", _outbox)
    app.router.add_get("/admin/audit", _audit)
    smki.register(app, engine, config.body_timeout)
    return app


# --- the web services --------------------------------------------------------------------

def _service_handler(service: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _serve(request, service)
    handle.__name__ = f"service{service}"
    return handle


async def _serve(request: web.Request, service: str) -> web.StreamResponse:
    response = await _answer(request, service)
    request.app[GATE].note(request.transport, response.status)
    return response


async def _answer(request: web.Request, service: str) -> web.StreamResponse:
    started = time.perf_counter()
    engine, config = request.app[ENGINE], request.app[CONFIG]
    path = request.path
    if request.content_type not in XML_TYPES:
        return _refuse(415, f"Content-Type must be application/xml (or text/xml), "
                            f"found {request.headers.get('Content-Type', 'none')!r}",
                       "UnsupportedContentType", path, started)
    try:
        data = await read_body(request, config.max_bytes, config.body_timeout)
    except InputError as exc:  # too large, too slow, unreadable: the connection is closed
        return _refuse(http_status(exc), f"{exc.message}; expected {exc.expected}",
                       type(exc).__name__, path, started, close=True)
    if not data.strip():
        return _refuse(400, "empty request body; expected a signed DUIS sr:Request",
                       "EmptyBody", path, started)
    gate = request.app[GATE]
    first_class = await gate.turn(request.transport)
    try:
        handled = await engine.request(data, service, f"POST {path}")
    except DuisError as exc:
        status = http_status(exc)
        try:
            return _refuse(status, _describe(exc), type(exc).__name__, path, started,
                           failure=exc if status >= 500 and status != 503 else None,
                           retry=status == 503)
        finally:
            _forget_frames(exc)
    except Exception as exc:  # the server stays up; the cause goes to the log
        try:
            return _refuse(500, f"internal error: {type(exc).__name__}", type(exc).__name__,
                           path, started, failure=exc)
        finally:
            _forget_frames(exc)
    finally:
        gate.done(first_class)
    request.app[DELIVERER].wake(handled.recipients)
    submission = handled.submission
    reply = submission.response
    message = submission.request
    event("request", request_id=str(message.request_id), sr=message.service_reference_variant,
          cv=message.command_variant, service=service, code=reply.code, http=200,
          queued=[f"{o.kind} {o.code} to {o.recipient}" for o in submission.outgoing[1:]]
          or None, ms=_ms(started))
    return web.Response(body=reply.xml, content_type="application/xml")


def _describe(exc: DuisError) -> str:
    lines = [str(exc)]
    report = getattr(exc, "report", None)
    for issue in getattr(report, "issues", ()) or ():
        lines.append(issue.render())
    return "\n".join(lines)


def _refuse(status: int, text: str, error: str, path: str, started: float, *,
            close: bool = False, failure: BaseException | None = None,
            retry: bool = False) -> web.Response:
    """A refusal, logged: a 5xx with the failure's traceback (``failure``)."""
    event("refused", logging.ERROR if failure is not None else logging.WARNING, path=path,
          http=status, error=error, why=text.splitlines()[0], ms=_ms(started),
          traceback=_traceback(failure) if failure is not None else None)
    headers = {"X-DUIS-Error": error}
    if retry:
        headers["Retry-After"] = "1"
    reply = web.Response(status=status, text=f"{status} {REASONS.get(status, '')}: {text}\n",
                         headers=headers)
    if close:
        reply.force_close()
    return reply


def _forget_frames(exc: BaseException | None) -> None:
    """Drop the tracebacks of a refusal (and the exceptions it was raised from) once
    answered and logged.  A traceback holds the frames it passed through, and those
    hold the request's body and the exception itself (a future's result, a batch's
    outcomes): a reference cycle that only the cycle collector frees, which the
    server runs rarely (:mod:`duis.runtime`), so an 8 MB refused body would stay in
    memory for a thousand requests or more."""
    seen, chain = set(), [exc]
    while chain:
        exc = chain.pop()
        if exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            exc.__traceback__ = None
            chain += (exc.__cause__, exc.__context__)


def _traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` with its notes (a worker's own traceback)."""
    return "".join(traceback.format_exception(exc)).rstrip()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """404 and 405 that say what is served; an admin refusal as JSON 400; any
    other failure as 500, logged with its traceback (never an HTML page)."""
    started = time.perf_counter()
    try:
        return await handler(request)
    except AdminError as exc:
        return _admin_error(exc)
    except DuisError as exc:
        status = http_status(exc)
        event("refused", logging.WARNING, path=request.path, http=status,
              error=type(exc).__name__, why=str(exc), ms=_ms(started))
        return web.json_response(exc.as_dict(), status=status)
    except web.HTTPNotFound:
        paths = ", ".join(f"POST {p} ({SERVICE_NAMES[s]}: "
                          f"CV {', '.join(map(str, SERVICE_VARIANTS[s]))})"
                          for s, p in SERVICE_PATHS.items())
        served = sorted({f"{route.method} {route.resource.canonical}"
                         for route in request.app.router.routes()
                         if route.resource is not None and route.method != "HEAD"
                         and not route.resource.canonical.startswith("/api/")})
        return web.Response(status=404, text=f"404 not found: {_cut(request.path)}; this "
                                             f"server answers {paths}, "
                                             f"{', '.join(served)}\n")
    except web.HTTPMethodNotAllowed as exc:
        return web.Response(status=405, headers={"Allow": ", ".join(sorted(exc.allowed_methods))},
                            text=f"405 method not allowed: {request.method} {request.path}; "
                                 f"expected {', '.join(sorted(exc.allowed_methods))}\n")
    except web.HTTPException:
        raise
    except Exception as exc:  # the server stays up; the cause (with traceback) to the log
        event("refused", logging.ERROR, path=request.path, http=500, error=type(exc).__name__,
              why=f"internal error: {type(exc).__name__}: {exc}", ms=_ms(started),
              traceback=_traceback(exc))
        if request.path.startswith(("/admin", "/health")):
            return web.json_response({"error": type(exc).__name__,
                                      "message": f"internal error: {type(exc).__name__}"},
                                     status=500)
        return web.Response(status=500, text=f"500 internal error: {type(exc).__name__}\n",
                            headers={"X-DUIS-Error": type(exc).__name__})


# --- operations ----------------------------------------------------------------------------

async def _health(request: web.Request) -> web.Response:
    """Answered at once, whatever the engine is doing (the SMI may be locked): the
    outbox's figures are read in a thread, for at most a couple of seconds."""
    engine, deliverer, config = request.app[ENGINE], request.app[DELIVERER], request.app[CONFIG]
    problems: list[str] = []
    try:
        outbox = await asyncio.wait_for(asyncio.to_thread(engine.outbox.health),
                                        HEALTH_READ_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        outbox = {"error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__}
        problems.append(f"the outbox could not be read within {HEALTH_READ_TIMEOUT} s "
                        f"({outbox['error']})")
    delivery = deliverer.health()
    for lane in delivery["failing"]:
        problems.append(f"delivery to {lane['recipient']} failing for "
                        f"{lane['failing_seconds']} s ({lane['failures']} failures): "
                        f"{lane['error']}")
    for recipient in delivery["dead"]:
        problems.append(f"the delivery lane of {recipient} is not running (restarting)")
    age = outbox.get("oldest_pending_seconds")
    if age is not None and age > config.stuck_after:
        oldest = outbox["oldest_pending"]
        problems.append(f"message {oldest['seq']} to {oldest['recipient']} pending for "
                        f"{age:.0f} s (over {config.stuck_after} s), {oldest['attempts']} "
                        f"attempts" + (f", last error {oldest['last_error']}"
                                       if oldest["last_error"] else ""))
    lock = engine.lock_status()
    if lock is not None:
        problems.append(f"the SMI database has been locked by another connection for "
                        f"{lock['locked_seconds']} s")
    guard = getattr(request.app.get(SERVER), "guard", None) if SERVER in request.app else None
    return web.json_response({
        "status": "degraded" if problems else "ok", "problems": problems,
        **engine.summary(), "outbox": outbox, "delivery": delivery, "smi_lock": lock,
        "connections": {"open": guard.open, "refused": guard.refused, "max": guard.cap}
        if guard is not None else None})


async def _admin(request: web.Request, func: Callable, *args) -> web.Response:
    engine = request.app[ENGINE]
    try:
        result = await engine.call(func, *args)
    except DuisError as exc:
        return _admin_error(exc)
    return web.json_response(result)


def _admin_error(exc: DuisError) -> web.Response:
    """An admin refusal as JSON: 400 (the request is wrong), or 503 with ``Retry-After``
    when the SMI stayed locked elsewhere (nothing was done: send it again)."""
    busy = isinstance(exc, SmiBusy)
    status = 503 if busy else 400
    event("refused", logging.WARNING, path="admin", http=status, error=type(exc).__name__,
          why=str(exc))
    return web.json_response({"error": type(exc).__name__, "message": str(exc),
                              **{k: v for k, v in exc.as_dict().items()
                                 if k in ("path", "expected", "found") and v is not None}},
                             status=status, headers={"Retry-After": "1"} if busy else None)


# --- admin input: every field checked for its type and range ---------------------------

def _bad(what: str, key: str, expected: str, found: object) -> AdminError:
    shown = quoted(found) if isinstance(found, str) else _cut(repr(found))
    return AdminError(f"bad {what}", source="admin request", path=key, expected=expected,
                      found=shown)


def _cut(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, its length said when longer (what an
    answer quotes of a value, however large it came)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


async def _json_body(request: web.Request) -> dict:
    """The JSON object of an admin request: at most :data:`ADMIN_MAX_BYTES`, read
    within the body timeout (:func:`~.bodies.read_body`), strict JSON (no NaN or
    Infinity)."""
    try:
        data = await read_body(request, ADMIN_MAX_BYTES, request.app[CONFIG].body_timeout,
                               "admin request body")
    except InputError as exc:
        raise AdminError(exc.message, source="admin request", expected=exc.expected,
                         found=exc.found) from None
    try:
        body = json.loads(bytes(data).decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise AdminError("admin request body is not JSON", source="admin request",
                         expected="a JSON object", found=f"{type(exc).__name__}: "
                                                         f"{str(exc)[:80]}") from None
    if not isinstance(body, dict):
        raise AdminError("admin request body is not a JSON object", source="admin request",
                         expected="{...}", found=type(body).__name__)
    return body


def _number(body: dict, key: str, low: float, high: float) -> float | None:
    """A finite JSON number within [low, high], or None when absent or null."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(key.replace("_", " "), key, f"a number from {low:g} to {high:g}", value)
    if isinstance(value, int) and not low <= value <= high:
        raise _bad(key.replace("_", " "), key, f"a number from {low:g} to {high:g}", value)
    if not math.isfinite(value) or not low <= value <= high:
        raise _bad(key.replace("_", " "), key, f"a number from {low:g} to {high:g}", value)
    return float(value)


@overload
def _text(body: dict, key: str, *, required: Literal[True], limit: int = 200) -> str: ...
@overload
def _text(body: dict, key: str, *, required: bool = False, limit: int = 200) -> str | None: ...
def _text(body: dict, key: str, *, required: bool = False, limit: int = 200) -> str | None:
    """A JSON string of at most ``limit`` characters (None when absent and optional)."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(key.replace("_", " "), key, f"a string of 1 to {limit} characters",
                   value if not isinstance(value, str) else f"{len(value)} characters")
    if not is_xml_text(value):  # it is stored, and reported in DUIS messages
        raise _bad(key.replace("_", " "), key, "text XML can carry (no control characters, "
                   "no lone surrogates)", value.encode("utf-8", "backslashreplace").decode())
    return value


def _query_seq(request: web.Request, default: int) -> int:
    """``?since=``: a whole number from 0 to 2**63 - 1 (what SQLite can compare)."""
    text = request.query.get("since")
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_SEQ:
        raise _bad("since", "since", f"a whole number from 0 to {MAX_SEQ}", text)
    return int(text)


def _instant(body: dict, key: str) -> _dt.datetime | None:
    text = _text(body, key, limit=64)
    if text is None:
        return None
    try:
        value = parse_instant(text)
        if not _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) <= value < LAST_INSTANT:
            raise ValueError("out of range")
    except (ValueError, OverflowError):
        raise _bad(key, key, "an ISO-8601 instant from 1970 to 8999, e.g. "
                             "2026-03-02T02:00:00Z", text) from None
    return value


async def _get_clock(request: web.Request) -> web.Response:
    summary = request.app[ENGINE].summary()
    return web.json_response({"now": summary["now"], "clock": summary["clock"]})


async def _move_clock(request: web.Request) -> web.Response:
    """``{"advance_seconds": 1800}`` and/or ``{"now": "2026-03-02T02:00:00Z"}``."""
    engine = request.app[ENGINE]
    try:
        body = await _json_body(request)
        now = _instant(body, "now")
        seconds = _number(body, "advance_seconds", 0, MAX_ADVANCE_SECONDS)
        if now is None and seconds is None:
            raise AdminError("nothing to do", source="admin request",
                             expected="advance_seconds or now", found=", ".join(body) or "{}")
        ticked = await engine.change(lambda: engine.move_clock(
            advance_seconds=seconds, now=now, last=LAST_INSTANT))
    except DuisError as exc:
        return _admin_error(exc)
    request.app[DELIVERER].wake(o.recipient for o in ticked.outgoing)
    result = ticked.as_dict()
    event("clock", now=result["now"], queued=[f"{m['kind']} {m['code']} to {m['recipient']}"
                                              for m in result["messages"]] or None)
    return web.json_response(result)


async def _reset(request: web.Request) -> web.Response:
    """The world's initial state (:meth:`Engine.reset`), after every request that came
    before; the ones after it find the world as a fresh server would."""
    engine = request.app[ENGINE]
    try:
        result = await engine.change(engine.reset)
    except DuisError as exc:
        return _admin_error(exc)
    event("admin", action="reset", now=result["now"])
    return web.json_response({"reset": True, **result})


async def _cpl(request: web.Request) -> web.Response:
    """``{"action": "remove"|"add", "manufacturer", "model", "firmware_version", ...}``."""
    engine = request.app[ENGINE]
    try:
        body = await _json_body(request)
        action = body.get("action")
        if action not in ("remove", "add"):
            raise _bad("CPL request", "action", "remove or add", action)
        fields = [_text(body, k, required=True) for k in ("manufacturer", "model",
                                                          "firmware_version")]
        manufacturer, model, firmware_version = fields
        result: dict[str, object]
        smets = _text(body, "smets", limit=16)
        cause = _text(body, "cause", limit=500) or "admin request"
        if action == "remove":
            suspended = await engine.change(engine.remove_cpl, *fields, smets, cause)
            result = {"suspended": suspended}
        else:
            status = _text(body, "status", limit=32) or "Current"
            # no smets: CplEntry refuses it (InvalidRecord, answered 400)
            entry = CplEntry(manufacturer, model, firmware_version,
                             _text(body, "firmware_hash", limit=128),
                             smets, status)  # type: ignore[arg-type]
            await engine.change(engine.add_cpl, entry, cause)
            result = {"added": "/".join(fields)}
    except DuisError as exc:
        return _admin_error(exc)
    event("admin", logging.INFO, action=f"cpl {action}", entry="/".join(fields), **result)
    return web.json_response(result)


async def _fault(request: web.Request) -> web.Response:
    """``{"kind": "lose-next-response", "device": "00-DB-..."}`` (see docs/scenarios.md)."""
    engine = request.app[ENGINE]
    try:
        body = await _json_body(request)
        kind = _text(body, "kind", required=True, limit=64)
        device = _text(body, "device", limit=64)
        share = _number(body, "share", 0, 1)
        await engine.call(engine.fault, kind, device, share)
    except DuisError as exc:
        return _admin_error(exc)
    event("admin", action="fault", kind=kind, device=device)
    return web.json_response({"planned": kind})


async def _device(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    eui = request.match_info["eui"]
    if len(eui) > 64:
        return _admin_error(_bad("device", "eui", "an EUI-64", f"{len(eui)} characters"))
    found = await engine.call(engine.device, eui)
    if found is None:
        return web.json_response({"error": "NotFound", "message": f"no device {eui}"},
                                 status=404)
    return web.json_response(found)


async def _outbox(request: web.Request) -> web.Response:
    """``?since=SEQ&pending=1``: the counts and the rows (without bodies)."""
    engine = request.app[ENGINE]
    try:
        since = _query_seq(request, 0)
    except DuisError as exc:
        return _admin_error(exc)
    pending = request.query.get("pending") in ("1", "true", "yes")
    outbox = engine.outbox
    entries = await engine.call(lambda: outbox.entries(since=since, pending_only=pending,
                                                       limit=100_000))
    counts = await engine.call(outbox.counts)
    return web.json_response({"counts": counts, "entries": [e.as_dict() for e in entries]})


async def _audit(request: web.Request) -> web.Response:
    """``?since=SEQ``: SMI changes (default: those since the server started)."""
    engine = request.app[ENGINE]
    try:
        since = _query_seq(request, engine.audit_start)
    except DuisError as exc:
        return _admin_error(exc)
    return await _admin(request, engine.audit, since)
