"""Typed DUIS messages: small immutable objects.

A message is its header (typed fields) plus its body as an immutable
:class:`Node` tree, so every body the schema allows is representable without
a class per service request.  :mod:`duis.messages.codec` turns them into XML
and back.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, dataclass, field, replace

from ..clock import UTC, parse_instant
from ..errors import MessageError
from ..namespaces import SR
from .ids import EUI64, MessageID

DEFAULT_SCHEMA_VERSION = "5.4"


_set = object.__setattr__


class Node:
    """One element: local name, namespace, text, attributes and children.

    Immutable, compared and hashed by value, like a frozen dataclass; written
    out by hand because messages are made of many of them and a frozen
    dataclass takes twice as long to create.
    """

    __slots__ = ("name", "text", "children", "ns", "attrs")
    name: str
    text: str | None
    children: tuple[Node, ...]
    ns: str
    attrs: tuple[tuple[str, str], ...]

    def __init__(self, name: str, text: str | None = None, children: tuple[Node, ...] = (),
                 ns: str = SR, attrs: tuple[tuple[str, str], ...] = ()) -> None:
        _set(self, "name", name)
        _set(self, "text", text)
        _set(self, "children", children)
        _set(self, "ns", ns)
        _set(self, "attrs", attrs)

    def _fields(self) -> tuple:
        return (self.name, self.text, self.children, self.ns, self.attrs)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Node(name={self.name!r}, text={self.text!r}, children={self.children!r}, "
                f"ns={self.ns!r}, attrs={self.attrs!r})")

    def __reduce__(self):
        return (Node, self._fields())

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def all(self, name: str) -> tuple[Node, ...]:
        return tuple(c for c in self.children if c.name == name)

    def find(self, path: str) -> Node | None:
        """The first node at a ``/``-separated path of local names below this one."""
        node: Node | None = self
        for step in path.split("/"):
            node = node.child(step) if node else None
        return node

    def text_at(self, path: str, default: str | None = None) -> str | None:
        node = self.find(path)
        return node.text if node is not None and node.text is not None else default

    def required_text(self, path: str) -> str:
        """The text at ``path``, an element the schema requires (a request past the
        schema has it); :class:`~duis.errors.MessageError` naming the path without it."""
        text = self.text_at(path)
        if text is None:
            raise MessageError(f"no {path.rsplit('/', 1)[-1]}", path=f"{self.name}/{path}",
                               expected="an element with text", found="none")
        return text

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            yield from c.walk()


def leaf(name: str, value: object, ns: str = SR) -> Node:
    """A text-only element; booleans and datetimes get their XML lexical form."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, _dt.datetime):
        text = format_datetime(value)
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).hex().upper()
    else:
        text = str(value)
    return Node(name, text, ns=ns)


def node(name: str, *children: Node, ns: str = SR) -> Node:
    """An element with ``children`` (in order) and no text, in namespace ``ns``."""
    return Node(name, None, tuple(children), ns=ns)


def format_datetime(value: _dt.datetime) -> str:
    """Canonical xs:dateTime: UTC, milliseconds, ``Z``."""
    v = value.astimezone(UTC) if value.tzinfo else value
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
            f"{v.second:02d}.{v.microsecond // 1000:03d}Z")


@dataclass(frozen=True)
class RequestHeader:
    request_id: MessageID
    command_variant: int
    service_reference: str
    service_reference_variant: str
    first_in_sequence: bool | None = None
    preceding_request_id: MessageID | None = None


@dataclass(frozen=True)
class Request:
    """A DUIS Service Request (``sr:Request``)."""

    header: RequestHeader
    body: Node
    """The single child of ``sr:Body`` (e.g. ``ActivateFirmware``)."""
    schema_version: str = DEFAULT_SCHEMA_VERSION
    signed: bool = field(default=False, compare=False)
    """Whether the parsed document carried a ds:Signature (building drops it:
    signing is a separate step)."""

    @property
    def request_id(self) -> MessageID:
        return self.header.request_id

    @property
    def originator(self) -> EUI64:
        return self.header.request_id.originator

    @property
    def target(self) -> EUI64:
        return self.header.request_id.target

    @property
    def counter(self) -> int:
        return self.header.request_id.counter

    @property
    def command_variant(self) -> int:
        return self.header.command_variant

    @property
    def service_reference_variant(self) -> str:
        return self.header.service_reference_variant

    @property
    def body_name(self) -> str:
        return self.body.name

    def with_counter(self, counter: int) -> Request:
        header = replace(self.header, request_id=self.header.request_id.with_counter(counter))
        return replace(self, header=header)


@dataclass(frozen=True)
class ResponseHeader:
    response_code: str
    response_datetime: str
    """Kept in its lexical form so a parsed message builds back byte for byte."""
    request_id: MessageID | None = None
    response_id: MessageID | None = None

    @property
    def when(self) -> _dt.datetime:
        return parse_instant(self.response_datetime)


#: what the single child of ``sr:Body`` says a Response is
RESPONSE_KINDS = {"ResponseMessage": "response", "DeviceAlertMessage": "device-alert",
                  "DCCAlertMessage": "dcc-alert", "SMETS1ResponseMessage": "smets1-response"}


@dataclass(frozen=True)
class Response:
    """A DUIS Response, device alert or DCC alert (``sr:Response``)."""

    header: ResponseHeader
    body: Node
    """The single child of ``sr:Body``: ResponseMessage, DeviceAlertMessage or DCCAlertMessage."""
    schema_version: str = DEFAULT_SCHEMA_VERSION
    signed: bool = field(default=False, compare=False)

    @property
    def kind(self) -> str:
        return RESPONSE_KINDS.get(self.body.name, self.body.name)

    @property
    def response_code(self) -> str:
        return self.header.response_code

    @property
    def service_reference_variant(self) -> str | None:
        return self.body.text_at("ServiceReferenceVariant")

    @property
    def alert_code(self) -> str | None:
        """DeviceAlertMessage/AlertCode or DCCAlertMessage/DCCAlertCode."""
        return self.body.text_at("AlertCode") or self.body.text_at("DCCAlertCode")

    @property
    def payload(self) -> Node | None:
        """The content of a ResponseMessage after its header-like fields."""
        skip = {"ServiceReference", "ServiceReferenceVariant"}
        rest = [c for c in self.body.children if c.name not in skip]
        return rest[-1] if rest else None


@dataclass(frozen=True)
class MMCDocument:
    """An MMC output document (``ra`` namespace): the readable form of a device reply."""

    root: Node

    @property
    def kind(self) -> str:
        return self.root.name


Message = Request | Response | MMCDocument
