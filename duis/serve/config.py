"""What ``duis serve`` is told: one frozen object, every field explained."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, MessageError
from ..messages import EUI64
from ..xmlparse import DEFAULT_MAX_BYTES

#: the three DUIS web services, at the paths DCC Boxed serves them
SERVICE_PATHS = {"S": "/api/v1/serviceS", "T": "/api/v1/serviceT", "D": "/api/v1/serviceD"}
SERVICE_NAMES = {"S": "Send Command Service", "T": "Transform Service",
                 "D": "Non-Device Service"}
#: which web service takes which command variants (DUIS; a mismatch is answered E13)
SERVICE_VARIANTS = {"S": (1, 3, 5, 7), "T": (4,), "D": (2, 6, 8)}


def service_for(command_variant: int) -> str:
    """The web service (``S``, ``T`` or ``D``) a command variant is sent to."""
    for service, variants in SERVICE_VARIANTS.items():
        if command_variant in variants:
            return service
    raise InputError("no web service takes this command variant",
                     path="/sr:Request/sr:Header/sr:CommandVariant", expected="1 to 8",
                     found=str(command_variant))


class ConfigError(InputError):
    """A ``duis serve`` option that cannot be used."""


@dataclass(frozen=True)
class Endpoints:
    """Where asynchronous messages go: one URL per DCC user, or one for all."""

    default: str | None = None
    """URL for every user without its own (``--callback URL``)."""
    by_user: dict[str, str] = field(default_factory=dict)
    """User EUI-64 (canonical text) -> URL (``--callback EUI=URL``)."""

    @classmethod
    def parse(cls, items: list[str] | None) -> Endpoints:
        """From ``--callback`` values: ``URL`` or ``EUI-64=URL``."""
        default, by_user = None, {}
        for item in items or []:
            head, sep, tail = item.partition("=")
            if sep and not head.startswith(("http://", "https://")):
                try:
                    by_user[str(EUI64.parse(head))] = _url(tail)
                except MessageError:
                    raise ConfigError("bad --callback", expected="URL or EUI-64=URL",
                                      found=item) from None
            else:
                default = _url(item)
        return cls(default, by_user)

    def url_for(self, recipient: str) -> str | None:
        return self.by_user.get(recipient, self.default)

    def describe(self) -> str:
        parts = [f"{eui} -> {url}" for eui, url in sorted(self.by_user.items())]
        if self.default:
            parts.append(f"everyone else -> {self.default}")
        return "; ".join(parts) or "none (asynchronous messages stay in the outbox)"


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ConfigError("bad --callback URL", expected="http://host:port/path",
                          found=text)
    return text


def check_port(value: object, option: str) -> None:
    """Refuse (:class:`ConfigError`) a ``value`` for ``option`` that is no TCP port."""
    if not (type(value) is int and 0 <= value <= 65535):
        raise ConfigError(f"bad {option}", source="command line",
                          expected="a TCP port, 0 to 65535 (0: any free one)", found=str(value))


#: seconds a request (or a delivery to ``duis receive``) has to send its whole body
BODY_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``duis serve`` needs; the defaults are what a laptop wants."""

    host: str = "127.0.0.1"
    """Interface to listen on; loopback by default, so nothing outside sees it."""
    port: int = 8079
    """TCP port; 0 picks a free one (the chosen port is logged)."""
    world: Path | None = None
    """World file seeding the SMI (default: the project's default world)."""
    smi: Path | None = None
    """SQLite file holding the SMI, the replay counters and the outbox, kept
    between runs.  ``None`` keeps all three in memory: nothing survives a restart."""
    profile: str | None = None
    """Behaviour profile name (default: the project's default profile)."""
    store: Path | None = None
    """Credential store directory (default: ``$DUIS_PKI``, else the test PKI)."""
    endpoints: Endpoints = field(default_factory=Endpoints)
    """Where device responses and alerts are POSTed."""
    clock: str = "real"
    """``real`` (wall clock; future-dated activations fire by themselves) or
    ``driven`` (stands still at ``now`` until ``POST /admin/clock`` moves it)."""
    now: _dt.datetime | None = None
    """Start of a driven clock."""
    replay_check: bool = True
    """Refuse RequestID counters not above the last accepted from the sender."""
    seed: int = 0
    """Seed of the devices' random faults (a scenario's ``seed``)."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest request body accepted; larger ones get 413 before they are read."""
    retry_base: float = 0.5
    """First delivery retry after this many seconds; each failure doubles it ..."""
    retry_max: float = 60.0
    """... up to this many seconds."""
    delivery_timeout: float = 10.0
    """Seconds a receiving endpoint has to answer a delivery."""
    tick_seconds: float = 1.0
    """With the real clock: how often the devices catch up with it."""
    shutdown_timeout: float = 10.0
    """On SIGTERM/SIGINT: seconds in-flight requests and deliveries get to finish."""
    log_format: str = "json"
    """``json`` (one object per line) or ``text``."""
    log_burst: int = 20
    """Identical log lines (same event and kind: e.g. the same refusal, the same
    failing delivery) written per ``log_window`` seconds; the rest are counted
    and summed up in one ``suppressed`` line.  0: no limit."""
    log_window: float = 10.0
    """... per this many seconds."""
    header_timeout: float = 15.0
    """Seconds a connection has to send a complete request head, counted from
    its opening or from the end of the previous response (an idle kept-alive
    connection is closed after it too); then it is closed."""
    body_timeout: float = BODY_TIMEOUT
    """Seconds a request has to send its whole body once its head is in; then
    it is answered 408 and the connection closed."""
    max_connections: int = 1000
    """Connections open at once; one more is answered 503 and closed at once
    (never more file descriptors than this, whatever clients do).  Clipped to
    what the process's file descriptor limit leaves room for."""
    busy_timeout: float = 10.0
    """Seconds a write waits for the SMI file while another process holds its
    lock: then requests are answered 503 (not acted on: send again) and a
    delivery's outbox write is retried later."""
    stuck_after: float = 60.0
    """``GET /health`` says ``degraded`` once a message has been pending longer
    than this many seconds (or a delivery lane is failing, or the SMI is locked)."""
    refused_wait: float = 0.25
    """Seconds at most a request waits, when the previous request on its connection
    was refused (4xx), while requests of other connections are being handled: a
    client sending what is refused gets what capacity the others leave, so a
    misbehaving client cannot crowd them out.  On an idle server nothing waits.
    0: no waiting."""
    smki_port: int | None = None
    """A second port answering (also) DCC Boxed's SMKI certificate look-ups (DCC Boxed
    uses 8083); 0 picks a free one.  None: only ``port``."""
    workers: int = 1
    """Processes handling requests: this one (HTTP, and the DSP, serialized) and
    ``workers - 1`` worker processes parsing, validating and verifying requests
    for it.  0 or 1: everything in this process.  ``duis serve`` defaults to
    one per core."""

    def __post_init__(self) -> None:
        if self.clock not in ("real", "driven"):
            raise ConfigError("bad --clock", expected="real or driven", found=self.clock)
        if self.clock == "driven" and self.now is None:
            raise ConfigError("a driven clock needs a start", expected="--now INSTANT",
                              found="none")
        if self.workers < 0:
            raise ConfigError("bad --workers", expected="0 or more", found=str(self.workers))
        check_port(self.port, "--port")
        if self.smki_port is not None:
            check_port(self.smki_port, "--smki-port")
        for name in ("header_timeout", "body_timeout", "busy_timeout", "stuck_after",
                     "log_window", "delivery_timeout", "retry_base", "retry_max",
                     "shutdown_timeout", "tick_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
                raise ConfigError(f"bad --{name.replace('_', '-')}",
                                  expected="a number of seconds above 0", found=str(value))
        if not isinstance(self.refused_wait, (int, float)) or not 0 <= self.refused_wait <= 60:
            raise ConfigError("bad --refused-wait", expected="0 to 60 seconds",
                              found=str(self.refused_wait))
        for name in ("max_connections", "max_bytes", "log_burst"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "log_burst" else 1):
                raise ConfigError(f"bad --{name.replace('_', '-')}",
                                  expected="a whole number above 0", found=str(value))
        if self.clock == "real" and self.now is not None:
            raise ConfigError("--now needs --clock driven", expected="--clock driven",
                              found="--clock real")
