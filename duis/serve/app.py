"""Routes of ``duis serve`` and how a refused request maps to an HTTP status.

The three DUIS web services take signed DUIS XML and answer with the
DSP-signed Response (HTTP 200, ``application/xml``): ``I0``, ``I99``, a
PreCommand, or an authorisation error code such as ``E5`` or ``E13`` (a
request sent to the wrong service).  A request that never gets as far as the
authorisation checks has no DUIS Response; it gets the HTTP status of
:data:`HTTP_STATUS` and a plain-text body naming the problem (its line,
XPath, what was expected and what was found), with the error's class in the
``X-DUIS-Error`` header.  See ``docs/serve.md``.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from aiohttp import web

from ..clock import parse_instant
from ..dsp.critical import PreCommandMismatch
from ..dsp.service import NotEmulated
from ..errors import DuisError, InputError, InputTooLarge, NotCovered, SchemaInvalid
from ..signatures.errors import CredentialError, SignatureError
from ..smi import CplEntry
from .config import SERVICE_NAMES, SERVICE_PATHS, SERVICE_VARIANTS, ServeConfig
from .delivery import Deliverer
from .engine import AdminError, Engine
from .workers import WorkerExited
from .logs import event

#: content types a web service accepts (parameters such as charset are ignored)
XML_TYPES = ("application/xml", "text/xml")

#: refusals before the authorisation checks -> HTTP status; the first match wins
HTTP_STATUS: tuple[tuple[type[DuisError], int], ...] = (
    (InputTooLarge, 413),        # over the body cap (refused before it is all read)
    (SignatureError, 403),       # XML or GBCS signature refused, replayed counter
    (CredentialError, 500),      # the DSP cannot sign: the server's credential store
    (InputError, 400),           # empty, not XML, unsafe XML (DTD, entities, XXE), not DUIS
    (SchemaInvalid, 400),        # breaks the DUIS schema
    (NotCovered, 400),           # a service the bundled schema does not cover
    (PreCommandMismatch, 422),   # a SignedPreCommand for no PreCommand issued
    (NotEmulated, 501),          # valid and authorised, but not emulated
    (WorkerExited, 503),         # the worker checking it died (killed, crashed): resend
    (DuisError, 422),            # any other refusal of a well-formed request
)

REASONS = {413: "request body too large", 403: "signature refused",
           400: "request refused", 422: "request cannot be processed",
           501: "not emulated", 500: "internal error", 415: "unsupported content type",
           503: "service unavailable"}

ENGINE, DELIVERER, CONFIG = (web.AppKey("engine", Engine), web.AppKey("deliverer", Deliverer),
                             web.AppKey("config", ServeConfig))


def http_status(exc: DuisError) -> int:
    """The HTTP status for a request refused with ``exc``."""
    for cls, status in HTTP_STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def build_app(engine: Engine, deliverer: Deliverer, config: ServeConfig) -> web.Application:
    app = web.Application(client_max_size=config.max_bytes, middlewares=[_not_found])
    app[ENGINE], app[DELIVERER], app[CONFIG] = engine, deliverer, config
    for service, path in SERVICE_PATHS.items():
        app.router.add_post(path, _service_handler(service))
    app.router.add_get("/health", _health)
    app.router.add_get("/admin/clock", _get_clock)
    app.router.add_post("/admin/clock", _move_clock)
    app.router.add_post("/admin/cpl", _cpl)
    app.router.add_post("/admin/fault", _fault)
    app.router.add_get("/admin/devices/{eui}", _device)
    app.router.add_get("/admin/outbox", _outbox)
    app.router.add_get("/admin/audit", _audit)
    return app


# --- the web services --------------------------------------------------------------------

def _service_handler(service: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _serve(request, service)
    handle.__name__ = f"service{service}"
    return handle


async def _serve(request: web.Request, service: str) -> web.StreamResponse:
    started = time.perf_counter()
    engine, config = request.app[ENGINE], request.app[CONFIG]
    path = request.path
    if request.content_type not in XML_TYPES:
        return _refuse(415, f"Content-Type must be application/xml (or text/xml), "
                            f"found {request.headers.get('Content-Type', 'none')!r}",
                       "UnsupportedContentType", path, started)
    if request.content_length is not None and request.content_length > config.max_bytes:
        return _refuse(413, f"request body of {request.content_length} bytes refused unread; "
                            f"expected at most {config.max_bytes} bytes", "InputTooLarge",
                       path, started, close=True)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(413, f"request body over {config.max_bytes} bytes refused",
                       "InputTooLarge", path, started, close=True)
    if not data.strip():
        return _refuse(400, "empty request body; expected a signed DUIS sr:Request",
                       "EmptyBody", path, started)
    try:
        handled = await engine.request(data, service, f"POST {path}")
    except DuisError as exc:
        return _refuse(http_status(exc), _describe(exc), type(exc).__name__, path, started)
    except Exception as exc:  # the server stays up; the cause goes to the log
        logging.getLogger("duis.serve").exception("request failed")
        return _refuse(500, f"internal error: {type(exc).__name__}", type(exc).__name__,
                       path, started)
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
            close: bool = False) -> web.Response:
    event("refused", logging.WARNING, path=path, http=status, error=error,
          why=text.splitlines()[0], ms=_ms(started))
    reply = web.Response(status=status, text=f"{status} {REASONS.get(status, '')}: {text}\n",
                         headers={"X-DUIS-Error": error})
    if close:
        reply.force_close()
    return reply


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


@web.middleware
async def _not_found(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        paths = ", ".join(f"POST {p} ({SERVICE_NAMES[s]}: CV {', '.join(map(str, SERVICE_VARIANTS[s]))})"
                          for s, p in SERVICE_PATHS.items())
        return web.Response(status=404, text=f"404 not found: {request.path}; this server "
                                             f"answers {paths}, GET /health\n")
    except web.HTTPMethodNotAllowed as exc:
        return web.Response(status=405, headers={"Allow": ", ".join(sorted(exc.allowed_methods))},
                            text=f"405 method not allowed: {request.method} {request.path}; "
                                 f"expected {', '.join(sorted(exc.allowed_methods))}\n")


# --- operations ----------------------------------------------------------------------------

async def _health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    status = await engine.call(engine.status)
    return web.json_response({"status": "ok", **status})


async def _admin(request: web.Request, func: Callable, *args) -> web.Response:
    engine = request.app[ENGINE]
    try:
        result = await engine.call(func, *args)
    except DuisError as exc:
        return web.json_response({"error": type(exc).__name__, "message": str(exc)}, status=400)
    return web.json_response(result)


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise AdminError("admin request body is not JSON", expected="a JSON object",
                         found=(await request.text())[:80]) from None
    if not isinstance(body, dict):
        raise AdminError("admin request body is not a JSON object", expected="{...}",
                         found=type(body).__name__)
    return body


def _admin_error(exc: DuisError) -> web.Response:
    return web.json_response({"error": type(exc).__name__, "message": str(exc)}, status=400)


async def _get_clock(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    status = await engine.call(engine.status)
    return web.json_response({"now": status["now"], "clock": status["clock"]})


async def _move_clock(request: web.Request) -> web.Response:
    """``{"advance_seconds": 1800}`` and/or ``{"now": "2026-03-02T02:00:00Z"}``."""
    engine = request.app[ENGINE]
    try:
        body = await _json_body(request)
        now = parse_instant(body["now"]) if body.get("now") else None
        seconds = body.get("advance_seconds")
        if now is None and seconds is None:
            raise AdminError("nothing to do", expected="advance_seconds or now",
                             found=", ".join(body) or "{}")
        ticked = await engine.change(lambda: engine.move_clock(
            advance_seconds=float(seconds) if seconds is not None else None, now=now))
    except DuisError as exc:
        return _admin_error(exc)
    except (ValueError, TypeError) as exc:
        return _admin_error(AdminError("bad clock request", expected="advance_seconds: number, "
                                       "now: ISO-8601 instant", found=str(exc)))
    request.app[DELIVERER].wake(o.recipient for o in ticked.outgoing)
    result = ticked.as_dict()
    event("clock", now=result["now"], queued=[f"{m['kind']} {m['code']} to {m['recipient']}"
                                              for m in result["messages"]] or None)
    return web.json_response(result)


async def _cpl(request: web.Request) -> web.Response:
    """``{"action": "remove"|"add", "manufacturer", "model", "firmware_version", ...}``."""
    engine = request.app[ENGINE]
    try:
        body = await _json_body(request)
        action = body.get("action")
        fields = [body.get(k) for k in ("manufacturer", "model", "firmware_version")]
        if action not in ("remove", "add") or not all(fields):
            raise AdminError("bad CPL request", expected="action remove or add, manufacturer, "
                             "model, firmware_version", found=str(body))
        cause = body.get("cause") or "admin request"
        if action == "remove":
            suspended = await engine.change(engine.remove_cpl, *fields, body.get("smets"), cause)
            result = {"suspended": suspended}
        else:
            entry = CplEntry(*fields, body.get("firmware_hash"), body.get("smets"),
                             body.get("status", "Current"))
            await engine.change(engine.add_cpl, entry, cause)
            result = {"added": "/".join(fields)}
    except DuisError as exc:
        return _admin_error(exc)
    event("admin", action=f"cpl {action}", entry="/".join(fields), **result)
    return web.json_response(result)


async def _fault(request: web.Request) -> web.Response:
    """``{"kind": "lose-next-response", "device": "00-DB-..."}`` (see docs/scenarios.md)."""
    engine = request.app[ENGINE]
    try:
        body = await _json_body(request)
        await engine.call(engine.fault, body.get("kind"), body.get("device"), body.get("share"))
    except DuisError as exc:
        return _admin_error(exc)
    event("admin", action="fault", kind=body.get("kind"), device=body.get("device"))
    return web.json_response({"planned": body.get("kind")})


async def _device(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    found = await engine.call(engine.device, request.match_info["eui"])
    if found is None:
        return web.json_response({"error": "NotFound",
                                  "message": f"no device {request.match_info['eui']}"},
                                 status=404)
    return web.json_response(found)


async def _outbox(request: web.Request) -> web.Response:
    """``?since=SEQ&pending=1``: the counts and the rows (without bodies)."""
    engine = request.app[ENGINE]
    try:
        since = int(request.query.get("since", 0))
    except ValueError:
        return _admin_error(AdminError("bad since", expected="an integer",
                                       found=request.query.get("since")))
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
        since = int(request.query.get("since", engine.audit_start))
    except ValueError:
        return _admin_error(AdminError("bad since", expected="an integer",
                                       found=request.query.get("since")))
    return await _admin(request, engine.audit, since)
