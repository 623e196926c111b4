"""DCC Boxed's SMKI certificate look-ups, answered by ``duis serve``.

A DCC Boxed client (the DCC's key store, ``@smartdcc/dccboxed-keystore``) finds the
certificates it needs with two requests, each an XML body POSTed to DCC Boxed's SMKI
interface (port 8083 on DCC Boxed; ``duis serve`` answers on its own port and, with
``--smki-port``, on that one too), an ``apikey`` query parameter ignored here:

- ``POST /services/certificatesearch``: ``<CertificateSearchRequest>`` with
  ``<CertificateSubjectAltName>`` (a device's EUI-64, ``00-db-12-...``) or
  ``<CertificateSubjectName>`` (an organisation's: a DCC user, the DSP), and optionally
  ``<CertificateUsage>``, ``<CertificateStatus>``, ``<CertificateRole>`` to keep only
  the certificates with those values (the client filters too).  The answer,
  ``<CertificateSearchResponse>``, has one ``<Result>`` per certificate:
  ``CertificateSerial`` (hex), ``CertificateUsage`` (``DS`` digital signing, ``KA`` key
  agreement), ``CertificateStatus`` (``I`` in use, ``E`` expired), ``CertificateRole``
  (organisations: the SMKI role code, decimal: ``2`` supplier, ``4`` Access Control
  Broker, ``135`` XML signing...).  The client keeps the results whose usage, status
  (and role) it wants.
- ``POST /services/retrievecertificate``: ``<CertificateDataRequest>`` with the
  ``<CertificateSerial>`` (hex) -> ``<CertificateDataResponse><CertificateResponse>``
  with ``CertificateBody`` (the DER certificate in base64) and
  ``CertificateSubjectName`` (organisation) or ``CertificateSubjectAltName`` (device).

Nothing found: HTTP 402 (what DCC Boxed answers; the client reads it as "none").  A
request without a usable EUI-64 or serial: 401; a body that is not XML: 400.

What is known: the credential store's certificates that name an EUI-64 (users, the
DSP; device certificates it holds win over derived ones), and the SMI's devices, whose
certificates are those ``duis pki export-devices`` writes (keys derived from the
EUI-64; serial numbers are a hash, so a retrieve finds a device's certificate without
deriving any key).
"""

from __future__ import annotations

import base64
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from aiohttp import web

from .bodies import read_body
from .engine import Engine

SEARCH_PATH = "/services/certificatesearch"
RETRIEVE_PATH = "/services/retrievecertificate"
#: DCC Boxed's SMKI port (the client's default)
DCC_BOXED_SMKI_PORT = 8083
_SERIAL = re.compile(r"[0-9A-Fa-f]{1,40}")
_CACHE = 1024
#: the optional filters of a search, and the values DCC Boxed's client uses
_FILTERS = {"CertificateUsage": re.compile("DS|KA"), "CertificateStatus": re.compile("[PINER]"),
            "CertificateRole": re.compile("0|1|2|3|4|5|6|7|8|127|135|137")}
_MAX_BODY = 4096


@dataclass(frozen=True)
class Found:
    """One certificate as the look-ups describe it."""

    serial: int
    usage: str
    """``DS`` or ``KA``."""
    status: str
    role: int | None
    """Organisations: the SMKI role code; devices: None."""
    der: bytes
    eui: str
    device: bool

    def matches(self, wanted: dict[str, str]) -> bool:
        """Whether this certificate has the usage, status and role a search names."""
        have = {"CertificateUsage": self.usage, "CertificateStatus": self.status,
                "CertificateRole": None if self.role is None else str(self.role)}
        return all(have[name] == value for name, value in wanted.items())

    def result(self) -> str:
        role = "" if self.role is None else f"<CertificateRole>{self.role}</CertificateRole>"
        return (f"<Result><CertificateSerial>{self.serial:x}</CertificateSerial>"
                f"<CertificateUsage>{self.usage}</CertificateUsage>"
                f"<CertificateStatus>{self.status}</CertificateStatus>{role}</Result>")

    def response(self) -> str:
        name = "CertificateSubjectAltName" if self.device else "CertificateSubjectName"
        body = base64.b64encode(self.der).decode()
        return (f"<CertificateDataResponse><CertificateResponse>"
                f"<CertificateSerial>{self.serial:x}</CertificateSerial>"
                f"<CertificateBody>{body}</CertificateBody>"
                f"<{name}>{escape(self.eui)}</{name}>"
                f"<CertificateUsage>{self.usage}</CertificateUsage>"
                f"<CertificateStatus>{self.status}</CertificateStatus>"
                f"</CertificateResponse></CertificateDataResponse>")


def _role(units: tuple[str, ...]) -> int | None:
    """The SMKI role code an organisation certificate's first OU spells (hex, or the
    decimal 135 / 137 of older certificates)."""
    if not units:
        return None
    unit = units[0]
    if unit in ("135", "137"):
        return int(unit)
    return int(unit, 16) if re.fullmatch(r"[0-9A-Fa-f]{2}", unit) else None


class Directory:
    """What the look-ups find in ``store`` (a credential store) and among devices the
    caller says exist, whose certificates derive from ``seed`` as ``duis pki
    export-devices`` writes them.  Thread-safe; derived certificates are cached."""

    def __init__(self, store, *, seed: int | None = None) -> None:
        from ..gbcs.wire.certificates import DEFAULT_SEED
        self.store = store
        self.seed = DEFAULT_SEED if seed is None else seed
        self._derived: OrderedDict[tuple[str, str], Found] = OrderedDict()
        self._lock = threading.Lock()

    def _from_store(self, credential, now) -> Found | None:
        from cryptography.hazmat.primitives import serialization
        if credential.eui is None or credential.function not in ("ka", "ds", "xml-sign",
                                                                  "dsp-xml-sign"):
            return None
        cert = credential.certificate
        device = not len(cert.subject)
        return Found(credential.serial, "KA" if credential.function == "ka" else "DS",
                     "I" if credential.valid_at(now) else "E",
                     None if device else _role(credential.organisational_units),
                     cert.public_bytes(serialization.Encoding.DER),
                     _boxed_eui(str(credential.eui)), device)

    def _device(self, eui: str, usage: str) -> Found:
        key = (eui, usage)
        with self._lock:
            found = self._derived.get(key)
        if found is None:
            from cryptography.hazmat.primitives import serialization

            from ..gbcs.wire.certificates import party_certificate, party_keys
            cert = party_certificate(party_keys(eui, self.seed), usage,  # type: ignore[arg-type]
                                     device=True, seed=self.seed)
            found = Found(cert.serial_number, usage.upper(), "I", None,
                          cert.public_bytes(serialization.Encoding.DER), _boxed_eui(eui), True)
            with self._lock:
                self._derived[key] = found
                while len(self._derived) > _CACHE:
                    self._derived.popitem(last=False)
        return found

    def search(self, eui: str, *, device: bool, emulated: bool, now) -> list[Found]:
        """The certificates of ``eui``: a device's (subjectAltName) or an organisation's;
        ``emulated``: ``eui`` is a device of the SMI (its derived certificates are added
        for the usages the store has none of)."""
        from ..gbcs.wire.certificates import USAGES
        held = [f for f in (self._from_store(c, now) for c in self.store.for_eui(eui))
                if f is not None and f.device == device]
        if device and emulated:
            have = {f.usage for f in held}
            held += [self._device(eui, usage) for usage in USAGES if usage.upper() not in have]
        return held

    def retrieve(self, serial: int, *, devices: Iterable[str], now) -> Found | None:
        """The certificate with this serial number among the store's and those of
        ``devices`` (the SMI's), or None."""
        for credential in self.store:
            if credential.serial == serial:
                found = self._from_store(credential, now)
                if found is not None:
                    return found
        with self._lock:
            cached = [f for f in self._derived.values() if f.serial == serial]
        if cached:
            return cached[0]
        from ..gbcs.wire.certificates import USAGES, certificate_serial
        for eui in devices:
            for usage in USAGES:
                if certificate_serial(eui, usage) == serial:
                    return self._device(eui, usage)
        return None


def _boxed_eui(eui: str) -> str:
    """An EUI-64 as DCC Boxed's look-ups write it: ``00-db-12-34-56-78-90-a0``."""
    return eui.lower()


# --- HTTP --------------------------------------------------------------------------------

DIRECTORY = web.AppKey("smki_directory", Directory)
ENGINE = web.AppKey("smki_engine", Engine)
BODY_TIMEOUT = web.AppKey("smki_body_timeout", float)


def _xml(text: str, status: int = 200) -> web.Response:
    return web.Response(body=('<?xml version="1.0" encoding="utf-8"?>' + text).encode(),
                        status=status, content_type="application/xml", charset="utf-8")


def _refuse(status: int, why: str) -> web.Response:
    return web.Response(text=why + "\n", status=status)


async def _fields(request: web.Request, root: str) -> dict[str, str] | web.Response:
    from ..errors import DuisError, InputError
    from ..xmlparse import parse_bytes
    from .app import http_status  # (app registers this module: imported when first asked)
    try:
        body = await read_body(request, _MAX_BODY, request.app[BODY_TIMEOUT], "look-up body")
    except InputError as exc:
        return _refuse(http_status(exc), str(exc))
    try:
        tree = parse_bytes(body, request.path)
    except DuisError as exc:
        return _refuse(400, str(exc))
    element = tree.getroot()
    tag = element.tag if isinstance(element.tag, str) else repr(element.tag)
    if tag != root:
        return _refuse(401, f"invalid search parameters: expected <{root}>, found <{tag}>")
    return {child.tag: (child.text or "").strip() for child in element
            if isinstance(child.tag, str)}


async def _search(request: web.Request) -> web.Response:
    from ..errors import DuisError
    from ..messages.ids import EUI64
    fields = await _fields(request, "CertificateSearchRequest")
    if isinstance(fields, web.Response):
        return fields
    device = "CertificateSubjectAltName" in fields
    text = fields.get("CertificateSubjectAltName", fields.get("CertificateSubjectName"))
    try:
        eui = str(EUI64.parse(text or ""))
    except DuisError:
        shown = "neither" if text is None else repr(text[:50])
        return _refuse(401, "invalid search parameters: expected CertificateSubjectAltName "
                            f"or CertificateSubjectName holding an EUI-64, found {shown}")
    wanted = {}
    for name, allowed in _FILTERS.items():
        if name in fields:
            if not allowed.fullmatch(fields[name]):
                return _refuse(401, f"invalid search parameters: {name} "
                                    f"{fields[name][:20]!r} is not one DCC Boxed uses")
            wanted[name] = fields[name]
    directory, engine = request.app[DIRECTORY], request.app[ENGINE]
    emulated = device and await engine.call(engine.device, eui) is not None
    now = await engine.call(lambda: engine.dsp.clock.now())
    found = await _in_thread(lambda: directory.search(eui, device=device, emulated=emulated,
                                                      now=now))
    found = [f for f in found if f.matches(wanted)]
    if not found:
        return _refuse(402, f"no certificate for {eui}")
    return _xml("<CertificateSearchResponse>" + "".join(f.result() for f in found)
                + "</CertificateSearchResponse>")


async def _retrieve(request: web.Request) -> web.Response:
    fields = await _fields(request, "CertificateDataRequest")
    if isinstance(fields, web.Response):
        return fields
    text = fields.get("CertificateSerial", "")
    if not _SERIAL.fullmatch(text):
        return _refuse(401, "invalid search parameters: expected CertificateSerial in hex, "
                            f"found {text[:50]!r}")
    directory, engine = request.app[DIRECTORY], request.app[ENGINE]
    devices = await engine.call(lambda: [d.eui for d in engine.dsp.inventory.devices()])
    now = await engine.call(lambda: engine.dsp.clock.now())
    found = await _in_thread(lambda: directory.retrieve(int(text, 16), devices=devices,
                                                        now=now))
    if found is None:
        return _refuse(402, f"no certificate with serial {text}")
    return _xml(found.response())


async def _in_thread(func):
    import asyncio
    return await asyncio.get_running_loop().run_in_executor(None, func)


def register(app: web.Application, engine: Engine, body_timeout: float) -> None:
    """Answer the SMKI look-ups on ``app``: the certificates of ``engine``'s credential
    store and of its SMI's devices (a look-up's body within ``body_timeout`` seconds)."""
    app[ENGINE], app[BODY_TIMEOUT] = engine, body_timeout
    app[DIRECTORY] = Directory(engine.dsp.store)
    app.router.add_post(SEARCH_PATH, _search)
    app.router.add_post(RETRIEVE_PATH, _retrieve)


__all__ = ["DCC_BOXED_SMKI_PORT", "Directory", "Found", "RETRIEVE_PATH", "SEARCH_PATH",
           "register"]
