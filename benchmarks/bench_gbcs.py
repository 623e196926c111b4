"""Real GBCS per message, through the one codec the DSP and the devices use
(``duis.gbcs.codec`` with the world's key ring), beside the raw cryptography measured in
the same run.

For each kind of message: encode (with its MAC, or its signature: what the sender
pays) and decode (checking them: what the receiver pays), medians over many rounds,
after a warm-up round (each pair's shared secret is then in the ring's cache, as for
a device in steady state).  Beside them: one ECDH on P-256 (what a pair's first MAC
costs, once), one ECDSA P-256 sign and one verify.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from duis.gbcs import codec, world_keys
from duis.gbcs.model import (
    ActivateFirmware,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
    ReadFirmwareVersion,
)
from duis.gbcs.wire.usecases import CS06, ECS52, FUTURE_DATED_ACTIVATION_ALERT, GCS38
from duis.messages.ids import EUI64
from duis.signatures import CredentialStore
from duis.signatures.ecdsa import forget_verified
from duis.signatures.gbcs import sign_command

ROOT = Path(__file__).resolve().parents[1]
USER = EUI64.parse("90-B3-D5-1F-30-01-00-00")
ESME = EUI64.parse("00-DB-12-34-56-78-90-A0")
WHEN = dt.datetime(2026, 3, 9, 2, 30, tzinfo=dt.UTC)
N = 2000


def messages() -> dict[str, GbcsMessage]:
    return {
        "ECS52 command (ACB MAC)": GbcsMessage(Kind.COMMAND, USER, ESME, 1000, ECS52,
                                               ReadFirmwareVersion()),
        "ECS52 response (device MAC)": GbcsMessage(Kind.RESPONSE, ESME, USER, 1000, ECS52,
                                                   FirmwareVersionReport("2.0.1")),
        "GCS38 response (device MAC)": GbcsMessage(Kind.RESPONSE, ESME, USER, 1001, GCS38,
                                                   FirmwareVersionReport("2.0.1")),
        "CS06 command (user sig + ACB MAC)": GbcsMessage(
            Kind.COMMAND, USER, ESME, 1002, CS06, ActivateFirmware(bytes(range(32)), WHEN)),
        "CS06 response (device sig)": GbcsMessage(Kind.RESPONSE, ESME, USER, 1002, CS06,
                                                  ActivationResult("success", "2.0.1")),
        "0x00CA alert (device sig)": GbcsMessage(
            Kind.ALERT, ESME, USER, 7, FUTURE_DATED_ACTIVATION_ALERT,
            FirmwareActivationAlert("success", "2.0.1", WHEN, 1002)),
    }


def median_us(action: Callable[[], object], rounds: int = N) -> float:
    action()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(rounds):
        start = clock()
        action()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


def raw_crypto() -> dict[str, float]:
    """One ECDH, one ECDSA sign and one verify on P-256, in this run."""
    a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    public = b.public_key()
    algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    data = bytes(100)
    signature = a.sign(data, algorithm)
    verifier = a.public_key()
    return {
        "ECDH P-256 (a pair's shared secret, once per pair)": median_us(
            lambda: a.exchange(ec.ECDH(), public)),
        "ECDSA P-256 sign": median_us(lambda: a.sign(data, algorithm)),
        "ECDSA P-256 verify": median_us(lambda: verifier.verify(signature, data,
                                                               ec.ECDSA(hashes.SHA256()))),
    }


def fresh_decode(data: bytes, keys, require=None):
    """Decode as a receiver meeting these bytes for the first time: signatures verified
    with the curve arithmetic (not from the remembered verifications)."""
    forget_verified()
    return codec.decode(data, keys, require=require)


def codec_figures() -> dict[str, tuple[float, float]]:
    """``{message: (encode µs, decode µs)}`` with the world's key ring (the DSP's)."""
    store = CredentialStore(ROOT / "samples" / "pki")
    keys = world_keys(store, acb=store.dsp_signing_credential().eui)
    # the receiver's own ring: bytes it did not encode itself are parsed and checked
    receiver = world_keys(store, acb=store.dsp_signing_credential().eui)
    figures = {}
    for name, message in messages().items():
        data = codec.encode(message, keys)
        figures[name] = (median_us(lambda m=message: codec.encode(m, keys)),
                         median_us(lambda d=data: fresh_decode(d, receiver)))
    # the critical flow's own steps: the PreCommand, the user's signature, its check
    command = messages()["CS06 command (user sig + ACB MAC)"]
    key = store.gbcs_credential(USER, "ds").private_key
    precommand = codec.precommand(command)
    signed = sign_command(precommand, key)
    figures["CS06 PreCommand signed by the user / checked"] = (
        median_us(lambda: sign_command(precommand, key)),
        median_us(lambda: fresh_decode(signed, receiver, codec.Protection.SIGNATURE)))
    return figures


def main() -> None:
    raw = raw_crypto()
    figures = codec_figures()
    print(f"real GBCS per message through duis.gbcs.codec (medians over {N}), "
          "shared secrets cached:")
    print(f"  {'message':<46} {'encode+protect':>15} {'decode+verify':>15}")
    for name, (encode, decode) in figures.items():
        print(f"  {name:<46} {encode:12.1f} us {decode:12.1f} us")
    print("  raw cryptography in the same run:")
    for name, value in raw.items():
        print(f"    {name:<52} {value:8.1f} us")


if __name__ == "__main__":
    main()
