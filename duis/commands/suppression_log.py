"""``duis suppression-log``: the AD1 alerts the DCC did not send (MP102B)."""

from __future__ import annotations

import argparse
import json
import sys

from ..messages import format_datetime
from ._state import add_source_options, eui, instant, with_dsp


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "suppression-log",
        description="List the Suppression Log: every AD1 power outage alert the DSP did not "
                    "send to a network operator because its comms hub was marked 'activation "
                    "in progress' by an 11.3 (MP102B; docs/mp102b.md). The log comes from an "
                    "SMI database (--smi) or from the end of a scenario run (--scenario). "
                    "Filters combine; times compare with when the hub raised the alert.",
        epilog="examples:\n"
               "  duis suppression-log --scenario scenarios/ad1-suppression.toml\n"
               "  duis suppression-log --smi state.sqlite --network-operator "
               "90-B3-D5-1F-30-03-00-00 --since 2026-03-02T09:00:00Z --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_options(parser)
    filters = parser.add_argument_group("filters")
    filters.add_argument("--network-operator", metavar="EUI", default=None,
                         help="only AD1s that were for this network operator")
    filters.add_argument("--hub", metavar="EUI", default=None,
                         help="only AD1s from this comms hub")
    filters.add_argument("--since", metavar="INSTANT", default=None,
                         help="only AD1s raised at or after this instant")
    filters.add_argument("--until", metavar="INSTANT", default=None,
                         help="only AD1s raised at or before this instant")
    parser.add_argument("--json", action="store_true", help="print the entries as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    query = dict(network_operator=eui(args.network_operator, "--network-operator"),
                 hub=eui(args.hub, "--hub"), since=instant(args.since, "--since"),
                 until=instant(args.until, "--until"))
    entries = with_dsp(args, lambda dsp: dsp.suppression.log(**query))
    if args.json:
        json.dump({"entries": [e.as_dict() for e in entries]}, sys.stdout, indent=2)
        print()
        return 0
    print(f"Suppression Log: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    for e in entries:
        print(f"{e.seq:>4} {format_datetime(e.raised)} hub {e.hub} MPxN {e.mpxn} "
              f"for {e.network_operator}: outage from {format_datetime(e.outage_start)}; "
              f"activation {e.activation_request} (window {format_datetime(e.window_opens)} "
              f"to {format_datetime(e.window_closes)})")
    return 0
