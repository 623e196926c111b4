"""``duis simulate``: a firmware campaign over a fleet of emulated devices, per profile."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ..profiles import profiles
from ..simulate import CampaignSettings, FleetSpec, simulate
from ..simulate.campaign import (
    DEFAULT_DISTRIBUTION_BATCH,
    ENDED,
    MAX_DEVICE_ID_LIST,
    SHARED,
    check_span,
)
from ..simulate.fleet import shard_of
from ._io import (
    add_schema_option,
    add_store_option,
    path_argument,
    store_from,
    use_schema,
    write_output,
)

#: below this many devices a run is short: no progress bar unless asked for
PROGRESS_FROM = 2_000


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "simulate",
        description="Build a fleet of emulated devices (comms hubs, meters, GPFs, PPMIDs; "
                    "SMETS1 and SMETS2), remove the meters' firmware from the CPL (they are "
                    "Suspended), roll out the replacement (11.1, then 11.3 to each device), "
                    "lose a seeded share of 11.3 responses, run the supplier's recovery "
                    "(11.3 retries, then 11.2), and report per behaviour profile how many "
                    "devices stayed wrongly Suspended, the messages it took and how long. "
                    "Every message goes through the emulated DSP. See docs/simulate.md.",
        epilog="examples:\n  duis simulate --devices 10000\n"
               "  duis simulate --devices 100000 --no-sign --plot suspended.png\n"
               "  duis simulate --profiles baseline mp105-option2 --lost 0.3 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000, metavar="N",
                        help="devices in the fleet (default 10000)")
    parser.add_argument("--lost", type=float, default=0.2, metavar="SHARE",
                        help="share of 11.3 responses lost, 0..1 (default 0.2)")
    parser.add_argument("--seed", type=int, default=1, metavar="S",
                        help="seed of the fleet's mix and of the lost responses (default 1)")
    parser.add_argument("--profiles", nargs="+", choices=list(profiles()), default=None,
                        metavar="PROFILE",
                        help="behaviour profiles to run (default: all: "
                             + ", ".join(profiles()) + ")")
    parser.add_argument("--no-sign", dest="signing", action="store_false",
                        help="messages unsigned and not verified (everything else as usual)")
    parser.add_argument("--latency", type=float, default=2.0, metavar="SECONDS",
                        help="simulated seconds per request and its answer (default 2)")
    parser.add_argument("--retry-after", type=float, default=3600.0, metavar="SECONDS",
                        help="simulated seconds before a missing response counts as lost "
                             "(default 3600)")
    parser.add_argument("--max-retries", type=int, default=3, metavar="N",
                        help="11.3 retry rounds at most (default 3)")
    parser.add_argument("--batch", type=int, default=DEFAULT_DISTRIBUTION_BATCH, metavar="N",
                        help=f"devices per 11.1 request (default {DEFAULT_DISTRIBUTION_BATCH}, "
                             f"at most {MAX_DEVICE_ID_LIST})")
    parser.add_argument("--shard-size", type=int, default=FleetSpec.shard_size, metavar="N",
                        help=f"a fleet larger than N devices runs as shards of about N, "
                             f"each a world of its own (SMI, DSP, devices, faults), several "
                             f"at once; the report adds them up (default {FleetSpec.shard_size})")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="run N shards at once, and in each the profiles in N "
                             "processes at once after a roll-out done once for all of them; "
                             "1: everything one after the other, in this process (default: "
                             "as many as the machine has CPUs, or profiles, and memory for)")
    add_store_option(parser)
    add_schema_option(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", default=None, metavar="FILE.png", type=path_argument,
                        help="write a PNG of Suspended devices over simulated time")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress on stderr (default: on a terminal, for long runs)")
    parser.set_defaults(run=run, parser=parser)


def _settings(args: argparse.Namespace) -> tuple[FleetSpec, CampaignSettings]:
    try:
        spec = FleetSpec(devices=args.devices, seed=args.seed, shard_size=args.shard_size)
        settings = CampaignSettings(lost=args.lost, signing=args.signing, latency=args.latency,
                                    retry_after=args.retry_after, max_retries=args.max_retries,
                                    distribution_batch=args.batch)
        check_span(spec.devices, settings)
    except ValueError as exc:
        args.parser.error(str(exc))
    if args.jobs is not None and args.jobs < 1:
        args.parser.error(f"--jobs must be 1 or more, found {args.jobs}")
    return spec, settings


def run(args: argparse.Namespace) -> int:
    spec, settings = _settings(args)
    use_schema(args)
    store = store_from(args)
    enabled = (sys.stderr.isatty() and spec.devices >= PROGRESS_FROM
               if args.progress is None else args.progress)
    bar = ProgressBar() if enabled else None
    report = simulate(spec, settings, store, args.profiles, bar, jobs=args.jobs)
    if bar is not None:
        bar.close()
    if args.plot:
        from ..simulate.plot import plot_png
        write_output(plot_png(report), args.plot)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        print()
    else:
        sys.stdout.write(report.render())
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


class ProgressBar:
    """One line on stderr: each running profile's phase and how far it got (in a
    sharded run, each running shard's)."""

    WIDTH = 20

    def __init__(self, stream=None, every: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.every, self.last = every, 0.0
        self.state: dict[str, tuple[str, int, int]] = {}
        self.wide = 0

    def __call__(self, profile: str, phase: str, done: int, total: int) -> None:
        shard, members = shard_of(profile)
        if phase == ENDED:  # a shard ended: its parts leave the line
            self._forget(lambda its_shard, _: its_shard == shard)
        elif profile not in self.state:  # profiles that shared a world went separate ways
            wanted = set(members.split(" + "))
            self._forget(lambda its_shard, its_members: its_shard == shard and (
                its_members == SHARED or bool(wanted & set(its_members.split(" + ")))))
        if phase != ENDED:
            self.state[profile] = (phase, done, total)
        now = time.monotonic()
        if now - self.last >= self.every or done == total:
            self.last = now
            self._draw()

    def _forget(self, which) -> None:
        """Drop the parts ``which(shard, profiles)`` names (as :func:`shard_of` splits them)."""
        for name in list(self.state):
            if which(*shard_of(name)):
                del self.state[name]

    def _draw(self) -> None:
        parts = []
        for profile, (phase, done, total) in self.state.items():
            share = done / total if total else 1.0
            if len(self.state) == 1:
                filled = round(self.WIDTH * share)
                parts.append(f"{profile} {phase} [{'#' * filled}{'.' * (self.WIDTH - filled)}]"
                             f" {done:,}/{total:,}")
            else:
                parts.append(f"{profile} {phase} {share:4.0%}")
        line = " | ".join(parts)
        columns = _columns()
        self.stream.write("\r" + line[:columns - 1].ljust(min(columns - 1, self.wide)))
        self.wide = max(self.wide, len(line))
        self.stream.flush()

    def close(self) -> None:
        if self.state:
            self.stream.write("\n")
            self.stream.flush()


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 160
