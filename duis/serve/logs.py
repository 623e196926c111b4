"""Structured logs: one line per event, JSON (default) or ``key=value`` text.

Every event goes through the standard ``logging`` module (logger
``duis.serve``), with its fields in ``record.fields``; the formatters here
render them.  Events: ``listening``, ``serving``, ``request`` (RequestID,
service reference variant, command variant, web service, response code, HTTP
status, milliseconds), ``refused`` (HTTP status and why), ``queued``,
``delivered``, ``delivery-failed``, ``clock``, ``admin``, ``stopping``, ``stopped``.

A record carrying an exception (``LOGGER.exception``, an HTTP 500) gets its
traceback in a ``traceback`` field (JSON) or on the lines after it (text).

:class:`RepeatLimiter` keeps a flood from filling the disk: of the warnings
and errors that are *the same* (the same event and the same kind: the same
refusal on the same path, the same failing delivery, the same message from
asyncio or aiohttp), at most ``burst`` are written per ``window`` seconds;
the rest are counted, and one ``suppressed`` line says how many were left out
(``{"event": "suppressed", "similar_to": "refused", "count": 1234, ...}``).
Info lines (one per request and per delivery: the record of what happened)
are never left out.  :func:`configure` installs it, and sends the
``asyncio`` and ``aiohttp`` loggers through the same handler.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

LOGGER = logging.getLogger("duis.serve")


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log event ``name`` with ``fields`` (None values are left out).

    The record is made directly (no caller lookup: the event name says where
    it comes from), which keeps a log line per request cheap under load.
    """
    if LOGGER.isEnabledFor(level):
        record = LOGGER.makeRecord(LOGGER.name, level, "duis.serve", 0, name, (), None,
                                   extra={"fields": {k: v for k, v in fields.items()
                                                     if v is not None}})
        LOGGER.handle(record)


def _stamp(record: logging.LogRecord) -> str:
    return _dt.datetime.fromtimestamp(record.created, _dt.UTC) \
        .isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": _stamp(record), "level": record.levelname.lower(),
                "event": record.getMessage()}
        if record.name != LOGGER.name:
            data["logger"] = record.name
        data.update(getattr(record, "fields", {}))
        if record.exc_info and "traceback" not in data:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", {}))
        trace = fields.pop("traceback", None)
        if trace is None and record.exc_info:
            trace = self.formatException(record.exc_info)
        rest = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        line = f"{_stamp(record)} {record.levelname.lower():<7} {record.getMessage()} {rest}"
        return f"{line}\n{trace}" if trace else line


#: fields that differ between lines that are otherwise the same (left out of the key)
VOLATILE = frozenset({"ms", "request_id", "seq", "attempt", "retry_in", "cause", "queued",
                      "why", "traceback", "failures", "restarts", "restart_in", "open",
                      "locked_seconds", "refused", "failing_seconds", "found", "message"})


@dataclass
class _Slot:
    start: float
    event: str
    level: int
    fields: dict
    count: int = 0
    suppressed: int = 0


class RepeatLimiter(logging.Filter):
    """Lets at most ``burst`` identical warnings/errors through per ``window``
    seconds; sums the rest up in one ``suppressed`` line (see the module)."""

    SUMMARY = "_duis_summary"

    def __init__(self, burst: int = 20, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 1000) -> None:
        super().__init__()
        self.burst, self.window, self.clock, self.max_keys = burst, window, clock, max_keys
        self.handler: logging.Handler | None = None
        self._slots: dict[tuple, _Slot] = {}
        self._lock = threading.RLock()
        self._next_sweep = 0.0
        self.suppressed = 0
        """Lines left out so far."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, self.SUMMARY, False):
            return True
        now = self.clock()
        if now >= self._next_sweep:
            self.sweep(now)
        if self.burst <= 0 or record.levelno < logging.WARNING:
            return True
        key = _key(record)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None or now - slot.start >= self.window:
                if slot is not None:
                    self._summarise(slot)
                if len(self._slots) >= self.max_keys:
                    self.sweep(now, everything=True)
                fields = {k: v for k, v in getattr(record, "fields", {}).items()
                          if k not in VOLATILE}
                slot = self._slots[key] = _Slot(now, record.getMessage(), record.levelno, fields)
            slot.count += 1
            if slot.count <= self.burst:
                return True
            slot.suppressed += 1
            self.suppressed += 1
            return False

    def sweep(self, now: float | None = None, *, everything: bool = False) -> None:
        """Write the summary of every window that has ended (``everything``: of every
        window, ended or not, e.g. when stopping) and forget those windows."""
        now = self.clock() if now is None else now
        with self._lock:
            self._next_sweep = now + self.window / 2
            for key, slot in list(self._slots.items()):
                if everything or now - slot.start >= self.window:
                    del self._slots[key]
                    self._summarise(slot)

    def _summarise(self, slot: _Slot) -> None:
        if not slot.suppressed or self.handler is None:
            return
        record = LOGGER.makeRecord(LOGGER.name, slot.level, "duis.serve", 0, "suppressed",
                                   (), None, extra={"fields": {
                                       "similar_to": slot.event, "count": slot.suppressed,
                                       "written": slot.count - slot.suppressed,
                                       "seconds": self.window, **slot.fields},
                                       self.SUMMARY: True})
        self.handler.handle(record)


def _key(record: logging.LogRecord) -> tuple:
    fields = getattr(record, "fields", None)
    if fields is not None:
        return (record.name, record.levelno, record.msg,
                tuple(sorted((k, str(v)) for k, v in fields.items() if k not in VOLATILE)))
    error = type(record.exc_info[1]).__name__ if record.exc_info and record.exc_info[1] else None
    return (record.name, record.levelno, str(record.msg), error)


#: the limiter :func:`configure` installed last, if any
_limiter: RepeatLimiter | None = None


def limiter() -> RepeatLimiter | None:
    return _limiter


#: other loggers whose lines go through the same handler (and limiter)
FOREIGN = ("asyncio", "aiohttp")


class ClientFaults(logging.Filter):
    """aiohttp logs a request it could not parse or whose body did not decode (the
    client's doing: malformed HTTP, a bad chunk, a ``Content-Encoding`` that does
    not decode, a client hanging up) as an error with a traceback, after it has
    answered it 400.  Such a record becomes a ``client-error`` warning naming the
    error, with no traceback: a traceback in the log is a server fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("aiohttp") and record.exc_info and \
                _is_client_fault(record.exc_info[1]):
            exc = record.exc_info[1]
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args, record.exc_info, record.exc_text = \
                "client-error", (), None, None
            record.fields = {"error": type(exc).__name__,
                             "why": " ".join(str(exc).split())[:200]}
        return True


def _is_client_fault(exc: BaseException | None) -> bool:
    from aiohttp import http_exceptions, web  # loaded by then: the server runs on it
    return isinstance(exc, (http_exceptions.HttpProcessingError, web.RequestPayloadError,
                            ConnectionError))


def _text(value: object) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, separators=(",", ":"))
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def configure(fmt: str = "json", level: int = logging.INFO,
              stream: TextIO | None = None, *, burst: int = 20,
              window: float = 10.0) -> logging.Handler:
    """Send ``duis.serve`` events, and the warnings of asyncio and aiohttp, to
    ``stream`` (default stderr) in ``fmt``, repeats limited (``burst`` identical
    warnings per ``window`` seconds; 0: no limit)."""
    global _limiter
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    _limiter = RepeatLimiter(burst, window)
    _limiter.handler = handler
    handler.addFilter(ClientFaults())       # first: the limiter sees the warning it becomes
    handler.addFilter(_limiter)
    for name, floor in ((LOGGER.name, level), *((f, max(level, logging.WARNING))
                                                for f in FOREIGN)):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(floor)
        logger.propagate = False
    return handler
