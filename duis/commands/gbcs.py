"""``duis gbcs decode PAYLOAD...``: what a real GBCS message says, and whether its MAC and
signature verify.

The fields come from the wire codec's :func:`~duis.gbcs.wire.inspect` (the one GBCS
decoder); the verdicts from :func:`~duis.gbcs.wire.decode` with the keys of a credential
store, of a world's emulated devices and of key folders.  ``--json`` prints data: snake
case keys, numbers as numbers, octets as lower-case hex, EUI-64s as ``00-DB-...``.

Exit status: 0 every MAC and signature present verified (and none its use case requires
is missing), 1 one is invalid or missing, 2 a payload that is not real GBCS duis reads,
or keys missing to check one.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from pathlib import Path

from ._io import add_store_option

#: DCC Boxed's Access Control Broker (the ACB when the store names no DSP)
DCC_BOXED_ACB = "90-B3-D5-1F-30-00-00-02"
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_FRAME_TAGS = (0xDD, 0xDF)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "gbcs",
        description="Real GBCS messages (General Signing / General Ciphering, as the DCC's "
                    "parser reads them).",
        epilog="examples:\n"
               "  duis gbcs decode DF0902...          # hex (spaces allowed), base64\n"
               "  duis gbcs decode @message.hex --world world.toml\n"
               "  duis gbcs decode --keys keys/ --json - < payloads.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    decode = actions.add_parser(
        "decode", help="decode payloads: header, payload fields, MAC and signature verdicts",
        description="Decode real GBCS payloads: the grouping header, the payload fields, and "
                    "whether the MAC and the originator's signature verify with the keys "
                    "given (the credential store's GBCS keys, a world's emulated devices, key "
                    "folders). Exit status: 0 all verified, 1 a MAC or signature invalid or "
                    "missing, 2 unusable input or keys missing.")
    decode.add_argument("payloads", nargs="+", metavar="PAYLOAD",
                        help="hex (spaces allowed) or base64; @FILE reads a file (hex, "
                             "base64 or the raw octets); - reads standard input, one payload "
                             "per line")
    add_store_option(decode)
    decode.add_argument("--world", metavar="FILE", default=None,
                        help="know the keys of this world's emulated devices")
    decode.add_argument("--keys", metavar="DIR", action="append", default=[],
                        help="a GBCS key folder (<eui>-<ka|ds>.pem/.key); repeatable")
    decode.add_argument("--acb", metavar="EUI", default=None,
                        help="the Access Control Broker that MACs commands (default: the "
                             f"store's DSP, else {DCC_BOXED_ACB})")
    decode.add_argument("--json", action="store_true", help="print JSON (one object per run)")
    decode.set_defaults(run=run_decode)


# --- input -------------------------------------------------------------------------

def _usage_error(message: str, **fields) -> Exception:
    from ..errors import InputError
    return InputError(message, **fields)


def payload_bytes(raw: bytes, source: str) -> bytes:
    """The octets of one payload given as hex (whitespace allowed), base64, or raw."""
    text = b"".join(raw.split())
    if text and len(text) % 2 == 0 and _HEX.fullmatch(text):
        return bytes.fromhex(text.decode("ascii"))
    if text and len(text) % 4 == 0 and _BASE64.fullmatch(text):
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            pass  # not base64 after all: a raw frame, or the error below
    if raw[:1] and raw[0] in _FRAME_TAGS and not raw.isascii():
        return raw
    shown = raw[:24].decode("ascii", "backslashreplace")
    raise _usage_error("not a payload", source=source,
                       expected="hex, base64 or the raw octets of a GBCS message",
                       found=repr(shown) + ("..." if len(raw) > 24 else "") if raw else "nothing")


def read_payloads(items: list[str]) -> list[tuple[str, bytes]]:
    """``(source, octets)`` of every PAYLOAD argument, in order."""
    found: list[tuple[str, bytes]] = []
    for item in items:
        if item == "-":
            for number, line in enumerate(sys.stdin.buffer.read().splitlines(), 1):
                if line.strip():
                    found.append((f"<stdin>:{number}", payload_bytes(line, f"<stdin>:{number}")))
        elif item.startswith("@"):
            path = Path(item[1:])
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise _usage_error(f"cannot read: {exc.strerror}", source=str(path),
                                   expected="a readable file", found=type(exc).__name__) \
                    from None
            found.append((str(path), payload_bytes(data, str(path))))
        else:
            shown = item if len(item) <= 24 else item[:21] + "..."
            found.append((shown, payload_bytes(item.encode(), f"argument {shown!r}")))
    if not found:  # only "-", and standard input held no payload
        raise _usage_error("no payload to decode", source="<stdin>",
                           expected="a GBCS payload (hex or base64) per line",
                           found="no line with a payload")
    return found


# --- keys --------------------------------------------------------------------------

def keyring(store, *, world: str | None, folders: list[str], acb: str | None):
    """The keys to check with, the most explicit first: the key folders, then the world's
    emulated devices (their deterministic keys), then the store's GBCS credentials
    (users, the ACB, any device certificates it holds)."""
    from ..gbcs.wire import KeyRing
    from ..gbcs.wire.certificates import USAGES, party_keys
    from ..signatures.credentials import NoSigningCredential
    if acb is None:
        try:
            acb = str(store.dsp_signing_credential().eui)
        except NoSigningCredential:
            acb = DCC_BOXED_ACB
    ring = KeyRing(acb=acb, folders=folders)
    if world is not None:
        from ..smi import read_world
        for device in read_world(world).devices:
            keys = party_keys(device.eui)
            for usage in USAGES:
                if ring.public_key(device.eui, usage) is None:
                    ring.add(device.eui, usage, private_key=keys.key(usage))
    for eui, usage in sorted({(c.eui, c.function) for c in store
                              if c.eui is not None and c.function in USAGES}, key=str):
        if ring.public_key(eui, usage) is None:
            credential = store.gbcs_credential(eui, usage)
            ring.add(eui, usage, private_key=credential.private_key,
                     public_key=credential.public_key)
    return ring


# --- decoding ----------------------------------------------------------------------

def _plain(value):
    """A decoded value as JSON data."""
    import dataclasses
    import datetime as dt
    import enum

    from ..gbcs.wire import DlmsDateTime
    from ..messages.ids import EUI64
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, EUI64):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, DlmsDateTime):
        instant = value.to_datetime()
        return _plain(instant) if instant is not None else value.encode().hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _verdict(check) -> dict:
    from ..gbcs.wire import KeyUnavailable, MacInvalid, SignatureInvalid
    try:
        check()
    except (MacInvalid, SignatureInvalid) as exc:
        return {"status": "invalid", "reason": _reason(exc)}
    except KeyUnavailable as exc:
        return {"status": "unchecked", "reason": _reason(exc)}
    return {"status": "valid", "reason": None}


def _reason(exc) -> str:
    return f"{exc.message} (at {exc.path}); expected {exc.expected}, found {exc.found}"


def describe(source: str, data: bytes, ring) -> dict:
    """One payload as data: header, payload, MAC and signature verdicts."""
    from ..gbcs.wire import Cra, Protection, WireError, apdu, decode, inspect
    from ..gbcs.wire.usecases import payload_spec, use_case
    try:
        message = inspect(data, source=source)
    except WireError as exc:
        return {"source": source, "length": len(data), "error": exc.as_dict()}
    header = message.header
    case = use_case(header.message_code)
    spec = payload_spec(header.message_code, header.cra)
    required = spec.protection if spec is not None else Protection.NONE
    stage = None
    if header.cra == Cra.COMMAND and not message.mac:
        stage = "signed-precommand" if message.signature else "precommand"
        required = Protection.NONE
    if message.mac:
        def check_mac() -> None:
            try:
                decode(data, ring, require=Protection.NONE, source=source)
            except WireError as exc:
                if exc.field == "MAC":
                    raise
        mac = _verdict(check_mac)
    else:
        mac = {"status": "missing" if Protection.MAC in required else "absent",
               "reason": None}
    if message.signature:
        signature = _verdict(lambda: decode(apdu(message), ring, require=Protection.NONE,
                                            source=source))
    else:
        missing = Protection.SIGNATURE in required
        signature = {"status": "missing" if missing else
                     "empty" if message.signature == b"" else "absent", "reason": None}
    return {
        "source": source, "length": len(data),
        "frame": "general-ciphering" if message.mac else "general-signing",
        "stage": stage,
        "use_case": case.name if case else None, "title": case.title if case else None,
        "header": {"cra": header.cra.name.lower(), "cra_flag": int(header.cra),
                   "originator_counter": header.originator_counter,
                   "originator": str(header.originator), "recipient": str(header.recipient),
                   "message_code": header.message_code,
                   "message_code_hex": f"0x{header.message_code:04X}",
                   "date_time": _plain(header.date_time)},
        "payload": {"type": type(message.payload).__name__, **_plain(message.payload)},
        "mac": mac, "signature": signature,
        "required": [name for name, flag in (("mac", Protection.MAC),
                                             ("signature", Protection.SIGNATURE))
                     if flag in required],
        "error": None,
    }


def outcome(entry: dict) -> int:
    """0 verified, 1 invalid or missing, 2 unusable or unchecked."""
    if entry["error"] is not None:
        return 2
    statuses = {entry["mac"]["status"], entry["signature"]["status"]}
    if "unchecked" in statuses:
        return 2
    return 1 if statuses & {"invalid", "missing"} else 0


def _text(entry: dict) -> str:
    if entry["error"] is not None:
        error = entry["error"]
        where = f" (at {error['path']})" if error.get("path") else ""
        text = f"{entry['source']}: not decoded: {error['message']}{where}"
        if error.get("expected") is not None:
            text += f"; expected {error['expected']}"
        if error.get("found") is not None:
            text += f", found {error['found']}"
        return text
    header = entry["header"]
    title = f"{entry['use_case']} {entry['title']}" if entry["use_case"] else "?"
    lines = [f"{entry['source']}: {title}, {header['cra']}"
             + (f" ({entry['stage']})" if entry["stage"] else "")
             + f", {entry['length']} octets, {entry['frame']}"]
    for label, key in (("originator counter", "originator_counter"),
                       ("originator", "originator"), ("recipient", "recipient"),
                       ("message code", "message_code_hex"), ("date-time", "date_time")):
        lines.append(f"  {label}: {'none' if header[key] is None else header[key]}")
    lines.append(f"  payload: {entry['payload']['type']}")
    lines += _fields({k: v for k, v in entry["payload"].items() if k != "type"}, "    ")
    for name in ("mac", "signature"):
        verdict = entry[name]
        label = "MAC" if name == "mac" else "signature"
        reason = f": {verdict['reason']}" if verdict["reason"] else ""
        required = " (required)" if name in entry["required"] else ""
        lines.append(f"  {label}: {verdict['status']}{required}{reason}")
    return "\n".join(lines)


def _fields(value, indent: str) -> list[str]:
    lines = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        label = f"[{key}]" if isinstance(key, int) else key.replace("_", " ")
        if isinstance(item, (dict, list)) and item:
            lines.append(f"{indent}{label}:")
            lines += _fields(item, indent + "  ")
        else:
            lines.append(f"{indent}{label}: {item}")
    return lines


def run_decode(args: argparse.Namespace) -> int:
    from ._io import store_from
    payloads = read_payloads(args.payloads)
    store = store_from(args)
    ring = keyring(store, world=args.world, folders=args.keys, acb=args.acb)
    entries = [describe(source, data, ring) for source, data in payloads]
    code = max(outcome(entry) for entry in entries)
    if args.json:
        json.dump({"payloads": entries, "exit_code": code}, sys.stdout, indent=2)
        print()
    else:
        for entry in entries:
            print(_text(entry), file=sys.stdout if entry["error"] is None else sys.stderr)
    return code
