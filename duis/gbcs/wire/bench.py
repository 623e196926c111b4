"""Timings of the real GBCS codec, per message: ``python -m duis.gbcs.wire.bench``.

:func:`time_codec` encodes (with the MAC, or the signature) and decodes (checking
them) each kind of message many times with keys derived from a fixed seed, after one
warm-up round (so the pairs' shared secrets are in the key ring's cache, as they are
for a device in steady state), and reports microseconds per message.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from functools import partial

from .certificates import add_party, party_keys
from .codec import Message, decode, encode, sign
from .crypto import KeyRing
from .firmware import ActivationOutcome
from .usecases import activation_alert, cs06_command, ecs52_command, ecs52_response

USER = "90-B3-D5-1F-30-01-00-00"
ACB = "90-B3-D5-1F-30-00-00-02"
DEVICE = "00-DB-12-34-56-78-90-A0"


def _ring() -> KeyRing:
    ring = KeyRing(acb=ACB)
    for eui in (USER, ACB, DEVICE):
        add_party(ring, party_keys(eui))
    return ring


def sample_messages() -> dict[str, Message]:
    """One message of each kind the benchmark times."""
    user = party_keys(USER)
    device = party_keys(DEVICE)
    when = _dt.datetime(2030, 1, 15, 9, tzinfo=_dt.UTC)
    return {
        "ECS52 command (MAC)": Message(*ecs52_command(USER, DEVICE, 1000), b"", mac=True),
        "ECS52 response (MAC)": Message(*ecs52_response(DEVICE, USER, 1000, b"\x01\x23\xab\xcd"),
                                        b"", mac=True),
        "CS06 command (signed, MAC)": sign(Message(*cs06_command(USER, DEVICE, 1001,
                                                                 bytes(range(32)), when),
                                                   mac=True), user.ds),
        "0x00CA alert (signed)": sign(Message(*activation_alert(
            DEVICE, USER, 2000, 1001, when, ActivationOutcome(0, b"\x01\x23\xab\xcf"))),
            device.ds),
    }


def _per_call(action: Callable[[], object], iterations: int) -> float:
    action()
    start = time.perf_counter()
    for _ in range(iterations):
        action()
    return (time.perf_counter() - start) / iterations * 1e6


def time_codec(iterations: int = 2000) -> dict[str, dict[str, float]]:
    """``{message kind: {"encode": µs, "decode": µs}}``: encode with its MAC (a signed
    message is signed once beforehand; re-signing is timed as "sign"), decode with the
    MAC and signature checked."""
    ring = _ring()
    user = party_keys(USER)
    device = party_keys(DEVICE)
    results: dict[str, dict[str, float]] = {}
    for name, message in sample_messages().items():
        data = encode(message, ring)
        row = {"encode": _per_call(partial(encode, message, ring), iterations),
               "decode": _per_call(partial(decode, data, ring), iterations)}
        if message.signature:
            key = user.ds if message.header.originator == user.eui else device.ds
            row["sign"] = _per_call(partial(sign, message, key), iterations // 4 or 1)
        results[name] = row
    return results


def main() -> None:
    for name, row in time_codec().items():
        print(f"{name:30} " + "  ".join(f"{what} {value:7.1f} µs" for what, value in row.items()))


if __name__ == "__main__":
    main()
