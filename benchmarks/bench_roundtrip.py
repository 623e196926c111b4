"""Full round trip for a signed 11.2 to an ESME, and the split per stage.

verify, validate, authorise, translate, execute on the emulated ESME, respond
(the I99 and the device's response, both signed), update the SMI, MMC output.
Target (issue 5): 2,000 or more round trips per second on one core (median).
Goals (performance issue): the round trip within 3.5 times its raw cryptography
(one ECDSA verify, two ECDSA signs, measured in this run; the verdict from
interleaved rounds, the median round ratio, as the machine's speed drifts); the MMC output under a
fifth of what it cost before (104 us), with the long way (build(mmc_document(...)),
which validates every document) measured in this run beside it.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from rounds import verdict

from duis.authorise import authorise
from duis.clock import FixedClock
from duis.devices import Network
from duis.dsp import DSP
from duis.dsp.firmware_reports import report_from
from duis.gbcs import encode
from duis.gbcs.codec import read
from duis.messages import build, from_tree, node, request
from duis.mmc import command_for, mmc_document, mmc_output
from duis.mmc.output import mmc_for_gbcs
from duis.schema import ensure_valid
from duis.signatures import CredentialStore, sign_with_store, verify
from duis.smi import load_world
from duis.xmlparse import parse_bytes

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
N = 3000
RATIO_GOAL = 3.5
ROUNDS, ROUND_N = 15, 300
MMC_BEFORE_US, MMC_GOAL_SHARE = 104.0, 5


def rig():
    clock = FixedClock(NOW)
    inventory = load_world(ROOT / "samples/worlds/default.toml", clock=clock)
    store = CredentialStore(ROOT / "samples/pki")
    network = Network.from_inventory(inventory, clock=clock)
    dsp = DSP(inventory, store, clock=clock, network=network)
    signed = sign_with_store(build(request(SUPPLIER, ESME, 1, "11.2", node("ReadFirmwareVersion"))),
                             store, preserve_counter=True, now=NOW)
    return dsp, signed


def stage_medians(dsp: DSP, signed: bytes) -> dict[str, float]:
    timings: dict[str, list[int]] = {}
    clock = time.perf_counter_ns

    def timed(name, func, *args, **kw):
        start = clock()
        result = func(*args, **kw)
        timings.setdefault(name, []).append(clock() - start)
        return result

    for _ in range(N):
        tree = timed("validate (parse + schema)",
                     lambda: ensure_valid(parse_bytes(signed), dsp.schema))
        verified = timed("verify signature", verify, signed, dsp.store, now=NOW)
        message = timed("typed request", from_tree, verified.tree)
        timed("authorise (E1..E19)", authorise, message, dsp.inventory, dsp.profile,
              dsp.dsp_eui)
        command = timed("translate (MMC -> GBCS)", command_for, message, "ESME")
        data = timed("GBCS encode + MAC (as ACB)", encode, command, dsp.keys)
        delivery = timed("execute on the device (check MAC, act, MAC the answer)",
                         dsp.network.deliver, data)
        # each lambda runs at once, inside timed(); the defaults bind this round's values
        timed("respond: I99, signed",
              lambda message=message: dsp.seal([dsp.responder.answer(message, "I99")]))
        reply = timed("respond: device response, signed",
                      lambda message=message, delivery=delivery: dsp.seal(
                          [dsp.responder.device_response(message, delivery.response,
                                                         delivery.data)])[0])
        timed("update the SMI (firmware report)", dsp.process_firmware_report,
              report_from(delivery.response, SUPPLIER))
        decoded = timed("GBCS decode of the reply (for MMC output)", read, reply.gbcs_bytes)
        timed("MMC output", lambda decoded=decoded: mmc_output(
            decoded, service_reference_variant="11.2", when=NOW))
        del tree
    return {name: statistics.median(values) / 1000 for name, values in timings.items()}


def round_trip(dsp: DSP, signed: bytes) -> None:
    """One round trip as this benchmark times it: the signed request submitted, and
    the MMC output of the device's reply decoded from its bytes."""
    mmc_for_gbcs(dsp.submit(signed).outgoing[1].gbcs_bytes, "11.2", NOW)


def main() -> None:
    dsp, signed = rig()
    for _ in range(300):  # warm up
        dsp.submit(signed)
    stages = stage_medians(dsp, signed)
    clock = time.perf_counter_ns
    samples = []
    for _ in range(N):
        start = clock()
        round_trip(dsp, signed)
        samples.append(clock() - start)
    median_us = statistics.median(samples) / 1000
    print(f"signed 11.2 to an ESME, full round trip (DSP.submit + MMC output), median over {N}:")
    rate = 1e6 / median_us
    print(f"  {median_us:7.1f} us per round trip = {rate:7.0f} per second on one core"
          f"   target >= 2000 per second [{'met' if rate >= 2000 else 'NOT met'}]")
    print("  split per stage (medians, measured separately):")
    for name, value in stages.items():
        print(f"    {name:<36} {value:7.1f} us")
    print(f"    {'sum of stages':<36} {sum(stages.values()):7.1f} us")
    crypto = raw_crypto_us(dsp, signed)
    print(f"  raw cryptography of a round trip (1 ECDSA verify + 2 signs, this run): "
          f"{crypto:.1f} us; round trip / raw = {median_us / crypto:.2f}x")
    print(f"  the same, {ROUNDS} interleaved rounds of {ROUND_N} round trips and {ROUND_N} "
          f"times the cryptography: "
          + verdict(interleaved_ratios(dsp, signed), RATIO_GOAL, at_most=True))
    between = raw_crypto_us(dsp, signed, between_round_trips=True)
    print(f"  the same cryptography timed between round trips (each call right after one): "
          f"{between:.1f} us, {between / crypto:.2f}x its cost in a loop of its own; "
          f"round trip / that = {median_us / between:.2f}x")
    reply = dsp.submit(signed).outgoing[1]
    long_way = _median(lambda: build(mmc_document(reply.gbcs, service_reference_variant="11.2",
                                                  when=NOW)))
    mmc = stages["MMC output"]
    goal = MMC_BEFORE_US / MMC_GOAL_SHARE
    print(f"  MMC output {mmc:.1f} us (in the round trip above); the long way, "
          f"build(mmc_document(...)) validating each document: {long_way:.1f} us "
          f"({long_way / mmc:.1f}x); goal < {goal:.1f} us (a fifth of {MMC_BEFORE_US:.0f} us) "
          f"[{'met' if mmc < goal else 'NOT met'}]")


def interleaved_ratios(dsp: DSP, signed: bytes) -> list[float]:
    """The goal's ratio, round by round (:mod:`rounds`): the round trip's median against its raw
    cryptography's, each in a loop of its own, one after the other within a round, so
    that both see the same machine minute (its speed drifts)."""
    crypto = _raw_crypto(dsp)
    return [_median(lambda: round_trip(dsp, signed), ROUND_N) / _median(crypto, ROUND_N)
            for _ in range(ROUNDS)]


def _median(func, n: int = N) -> float:
    for _ in range(n // 10):
        func()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        func()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


def raw_crypto_us(dsp: DSP, signed: bytes, *, between_round_trips: bool = False) -> float:
    """One ECDSA P-256 verify and two deterministic signs of SignedInfo-sized data
    with the round trip's keys, as the cryptography library does them alone, in a
    loop of their own (the goal's measure); ``between_round_trips``: each time right
    after a round trip, as they run inside one (the processor's caches then hold the
    round trip's other work, not the curve arithmetic's)."""
    crypto = _raw_crypto(dsp)
    if not between_round_trips:
        return _median(crypto)
    clock = time.perf_counter_ns
    samples = []
    for n in range(N + N // 10):
        round_trip(dsp, signed)
        start = clock()
        crypto()
        if n >= N // 10:
            samples.append(clock() - start)
    return statistics.median(samples) / 1000


def _raw_crypto(dsp: DSP):
    """One ECDSA P-256 verify and two deterministic signs of SignedInfo-sized data with
    the round trip's keys, as the cryptography library does them."""
    user = dsp.store.signing_credential(SUPPLIER, now=NOW)
    key = dsp.store.dsp_signing_credential(now=NOW).private_key
    data = b"x" * 600
    algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    signature = user.private_key.sign(data, algorithm)
    public = user.public_key

    def crypto() -> None:
        public.verify(signature, data, algorithm)
        key.sign(data, algorithm)
        key.sign(data, algorithm)
    return crypto


if __name__ == "__main__":
    main()
