"""Where ``duis suppression-log`` and ``duis hub-firmware`` find the DCC's state: an SMI
kept in an SQLite file between runs (``--smi``), or the end of a scenario run
(``--scenario``), whose SMI lives only in memory."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar, overload

from ..clock import FixedClock, SystemClock
from ..defaults import default_world
from ..devices import Network
from ..dsp import DSP
from ..errors import DuisError
from ..messages.ids import EUI64
from ..profiles import DEFAULT_PROFILE, profiles
from ..scenario import read_scenario, run_scenario
from ..settings import load_settings
from ..smi import open_smi
from ..smi.claim import refuse_if_served
from ._io import UsageError, add_schema_option, add_store_option, instant, store_from, use_schema

T = TypeVar("T")


def add_source_options(parser: argparse.ArgumentParser, *, scenario: bool = True) -> None:
    group = parser.add_argument_group("where the DCC's state comes from")
    sources = group.add_mutually_exclusive_group(required=True)
    sources.add_argument("--smi", metavar="DB",
                         help="an SMI kept in this SQLite file (created from --world when new)")
    if scenario:
        sources.add_argument("--scenario", metavar="FILE",
                             help="run this scenario and look at the state it ends in")
        group.add_argument("--profile", choices=list(profiles()), default=None,
                           help="with --scenario: the profile to run it under (default: its "
                                "first)")
    group.add_argument("--world", metavar="FILE", default=None,
                       help="with --smi, when the file is new: the world seeding it "
                            "(default: the default world bundled with duis)")
    group.add_argument("--settings", metavar="FILE", default=None,
                       help="with --smi: the DCC settings (default: the built-in ones)")
    group.add_argument("--now", metavar="INSTANT", default=None,
                       help="with --smi: the DSP's clock, ISO-8601 (default: the current time)")
    add_store_option(group)
    add_schema_option(group)


def with_dsp(args: argparse.Namespace, read: Callable[[DSP], T], *,
             writes: bool = False) -> T:
    """``read`` applied to the DSP over the chosen state; a ``read`` that ``writes``
    the SMI is refused on a file a running ``duis serve`` claims (:mod:`duis.smi.claim`)."""
    use_schema(args)
    if writes and getattr(args, "smi", None):
        refuse_if_served(args.smi)
    if getattr(args, "scenario", None):
        scenario = read_scenario(args.scenario)
        results: list[T] = []
        run_scenario(scenario, args.profile or scenario.profiles[0],
                     after=lambda dsp: results.append(read(dsp)))
        return results[0]
    clock = FixedClock(instant(args.now, "--now")) if args.now else SystemClock()
    inventory, _ = open_smi(args.smi, args.world or str(default_world()), clock=clock)
    try:
        store = store_from(args)
        settings = load_settings(args.settings) if args.settings else None
        network = Network.from_inventory(inventory, clock=clock)
        dsp = DSP(inventory, store, profile=profiles()[DEFAULT_PROFILE], clock=clock,
                  network=network, settings=settings)
        return read(dsp)
    finally:
        inventory.close()


@overload
def eui(text: str, option: str) -> str: ...
@overload
def eui(text: None, option: str) -> None: ...
def eui(text: str | None, option: str) -> str | None:
    """An EUI-64 given on the command line, canonical, or None."""
    if text is None:
        return None
    try:
        return EUI64.parse(text).text
    except DuisError:
        raise UsageError("not an EUI-64", path=option,
                         expected="8 hex byte pairs separated by '-'", found=repr(text)) from None
