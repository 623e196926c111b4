"""Convenience constructors for typed messages, filling what the catalogue knows."""

from __future__ import annotations

import datetime as _dt

from ..catalogue import lookup
from .ids import EUI64, MessageID
from .model import (
    Node,
    Request,
    RequestHeader,
    Response,
    ResponseHeader,
    format_datetime,
    leaf,
    node,
)


def default_command_variant(variant: str) -> int:
    """1 for non-critical device SRs, 4 for critical ones, 8 for non-device ones."""
    entry = lookup(variant)
    return 8 if entry.non_device else 4 if entry.critical else 1


def request(originator: str | EUI64, target: str | EUI64, counter: int, variant: str,
            body: Node, *, command_variant: int | None = None,
            schema_version: str = "5.4") -> Request:
    """A Request for service reference variant ``variant`` (e.g. ``"11.3"``)."""
    entry = lookup(variant)
    header = RequestHeader(
        request_id=MessageID(EUI64.parse(originator), EUI64.parse(target), counter),
        command_variant=command_variant or default_command_variant(variant),
        service_reference=entry.service_reference, service_reference_variant=variant)
    return Request(header, body, schema_version)


def response(request_id: MessageID | None, code: str, when: _dt.datetime, body: Node, *,
             response_id: MessageID | None = None, schema_version: str = "5.4") -> Response:
    """A Response with ``code`` at ``when`` carrying ``body`` (ResponseMessage, alert, ...)."""
    header = ResponseHeader(code, format_datetime(when), request_id, response_id)
    return Response(header, body, schema_version)


def response_message(variant: str, *payload: Node) -> Node:
    """``ResponseMessage`` with the service reference, its variant and a payload."""
    entry = lookup(variant)
    return node("ResponseMessage", leaf("ServiceReference", entry.service_reference),
                leaf("ServiceReferenceVariant", variant), *payload)
