"""Structured logs: one line per event, JSON (default) or ``key=value`` text.

Every event goes through the standard ``logging`` module (logger
``duis.serve``), with its fields in ``record.fields``; the formatters here
render them.  Events: ``listening``, ``serving``, ``request`` (RequestID,
service reference variant, command variant, web service, response code, HTTP
status, milliseconds), ``refused`` (HTTP status and why), ``queued``,
``delivered``, ``delivery-failed``, ``clock``, ``admin``, ``stopping``, ``stopped``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import TextIO

LOGGER = logging.getLogger("duis.serve")


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log event ``name`` with ``fields`` (None values are left out).

    The record is made directly (no caller lookup: the event name says where
    it comes from), which keeps a log line per request cheap under load.
    """
    if LOGGER.isEnabledFor(level):
        record = LOGGER.makeRecord(LOGGER.name, level, "duis.serve", 0, name, None, None,
                                   extra={"fields": {k: v for k, v in fields.items()
                                                     if v is not None}})
        LOGGER.handle(record)


def _stamp(record: logging.LogRecord) -> str:
    return _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc) \
        .isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": _stamp(record), "level": record.levelname.lower(),
                "event": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        return json.dumps(data, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        rest = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        return f"{_stamp(record)} {record.levelname.lower():<7} {record.getMessage()} {rest}"


def _text(value: object) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, separators=(",", ":"))
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def configure(fmt: str = "json", level: int = logging.INFO,
              stream: TextIO | None = None) -> logging.Handler:
    """Send ``duis.serve`` events to ``stream`` (default stderr) in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for old in list(LOGGER.handlers):
        LOGGER.removeHandler(old)
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    return handler
