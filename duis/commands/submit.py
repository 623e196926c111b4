"""``duis submit REQUEST``: send a signed request to an in-process emulated DSP."""

from __future__ import annotations

import argparse
import json
import sys

from ..clock import FixedClock, SystemClock
from ..defaults import default_world
from ..devices import Network
from ..dsp import DSP
from ..profiles import DEFAULT_PROFILE, profiles
from ..signatures import CounterStore
from ..smi import SqliteInventory, load_world, open_smi
from ..smi.claim import refuse_if_served
from ..xmlparse import read_source
from ._io import (
    add_limit_options,
    add_schema_option,
    add_store_option,
    instant,
    limits_from,
    path_argument,
    store_from,
    use_schema,
    write_output,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "submit",
        description="Validate, verify and authorise a signed DUIS request against an emulated "
                    "DSP (SMI seeded from a world file, or kept in an SQLite file between "
                    "runs) with emulated devices, and print the DSP's signed answer (the "
                    "device's response and any alerts follow with --json). Exit status: "
                    "0 answered with I0/I99, 1 refused with an error code or invalid, 2 "
                    "unusable input.",
        epilog="examples:\n  duis sign request.xml | duis submit -\n"
               "  duis submit --profile baseline --smi state.sqlite signed.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="the signed request; '-' reads stdin")
    parser.add_argument("--world", default=None, metavar="FILE",
                        help="world file seeding the SMI (default: the default world "
                             "bundled with duis)")
    parser.add_argument("--smi", default=None, metavar="DB",
                        help="keep the SMI in this SQLite file (seeded from --world when new)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(profiles()),
                        help=f"behaviour profile (default {DEFAULT_PROFILE})")
    add_store_option(parser)
    add_schema_option(parser)
    parser.add_argument("--now", default=None, metavar="INSTANT",
                        help="the DSP's clock, ISO-8601 (default: the current time)")
    parser.add_argument("--web-service", choices=("S", "T", "D"), default=None,
                        help="the DUIS web service the request came through (checks E13)")
    parser.add_argument("--counters", default=None, metavar="DB",
                        help="refuse replayed RequestID counters, remembered in this file")
    parser.add_argument("--no-devices", action="store_true",
                        help="answer device requests with I99 only, without emulated devices")
    parser.add_argument("--json", action="store_true",
                        help="print the decision and messages as JSON")
    parser.add_argument("-o", "--output", default=None, metavar="OUT", type=path_argument,
                        help="write the signed response to OUT (default: stdout)")
    add_limit_options(parser)
    parser.set_defaults(run=run)


def _inventory(args: argparse.Namespace, clock) -> SqliteInventory:
    world = args.world or str(default_world())
    if args.smi is None:
        return load_world(world, clock=clock)
    refuse_if_served(args.smi)              # a running server's file: send it to the server
    return open_smi(args.smi, world, clock=clock)[0]


def run(args: argparse.Namespace) -> int:
    schema = use_schema(args)
    clock = FixedClock(instant(args.now, "--now")) if args.now else SystemClock()
    data, name = read_source(args.file, limits_from(args))
    store = store_from(args)
    counters = CounterStore(args.counters) if args.counters else None
    inventory = _inventory(args, clock)
    try:
        network = None if args.no_devices else Network.from_inventory(inventory, clock=clock)
        dsp = DSP(inventory, store, profile=profiles()[args.profile], clock=clock,
                  counters=counters, network=network, schema=schema)
        submission = dsp.submit(data, web_service=args.web_service, source=name)
    finally:
        inventory.close()
    code = submission.response.code
    if args.json:
        json.dump({"decision": submission.decision.code or "accepted",
                   "reason": submission.decision.reason,
                   "messages": [{"kind": o.kind, "recipient": o.recipient, "code": o.code,
                                 "xml": o.xml.decode()} for o in submission.outgoing]},
                  sys.stdout, indent=2)
        print()
    else:
        print(f"{name}: {code} ({submission.decision.reason})", file=sys.stderr)
        for later in submission.outgoing[1:]:
            print(f"  then {later.kind} {later.code} to {later.recipient}", file=sys.stderr)
        write_output(submission.response.xml, args.output, document=True)
    return 0 if code in ("I0", "I99") else 1
