"""A readable summary of a GBCS message, for people and for ``--json``."""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import fields

from ..gbcs.model import GbcsMessage, Kind
from .mapping import mapping
from .output import instant

#: byte fields longer than this are summarised (length and SHA-256), not printed
MAX_SHOWN_BYTES = 64


def _value(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        if len(value) <= MAX_SHOWN_BYTES:
            return bytes(value).hex().upper()
        return f"{len(value)} bytes, SHA-256 {hashlib.sha256(value).hexdigest().upper()}"
    if isinstance(value, _dt.datetime):
        return instant(value)
    return value


def describe(message: GbcsMessage) -> dict:
    """Header, use case (or alert meaning) and payload fields as JSON-ready values."""
    table = mapping()
    facts: dict = {"kind": message.kind.name.lower(), "originator": str(message.originator),
                   "target": str(message.target), "transaction": message.transaction,
                   "message_code": f"0x{message.message_code:04X}"}
    case = table.by_message_code(message.message_code)
    alert = table.alerts.get(message.alert_code) if message.kind is Kind.ALERT else None
    if case is not None:
        facts.update(use_case=case.code, use_case_title=case.title,
                     service_reference_variant=case.variant)
    if alert is not None:
        facts.update(alert_code=f"0x{message.alert_code:04X}", alert=alert.description,
                     answers=alert.answers)
    payload = message.payload
    facts["payload"] = {"type": type(payload).__name__,
                        **{f.name: _value(getattr(payload, f.name)) for f in fields(payload)}}
    return facts


def render(facts: dict) -> str:
    """``describe`` output as indented ``name: value`` lines."""
    lines = []
    for key, value in facts.items():
        if isinstance(value, dict):
            lines.append(f"{key}: {value.get('type', '')}")
            lines += [f"  {k}: {v}" for k, v in value.items() if k != "type"]
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


__all__ = ["describe", "render"]
