"""``duis hub-firmware publish|run|status|list``: comms hub firmware releases (SECMP0024)."""

from __future__ import annotations

import argparse
import json
import sys

from ..dsp import DSP, Outgoing
from ..dsp.hub_firmware import duration_text
from ..messages import format_datetime
from ._state import add_source_options, eui, instant, with_dsp


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "hub-firmware",
        description="The DCC's comms hub firmware releases (SECMP0024; docs/secmp0024.md): "
                    "publish one with its deployment and activation dates (refused when users "
                    "would get less notice than the settings require), perform what the "
                    "schedule has due, query the stage of a hub's upgrade (not deployed, "
                    "deployed and pending activation, active, failed), list the releases. "
                    "Exit status: 0 done, 1 refused, 2 unusable input.",
        epilog="examples:\n"
               "  duis hub-firmware publish --smi dcc.sqlite --world world.toml"
               " \\\n      --now 2026-03-02T09:00:00Z --deploy 2026-03-06T02:00:00Z "
               "--activate 2026-03-10T02:00:00Z \\\n      'Northwind Comms' NW-CH2 2.2.0\n"
               "  duis hub-firmware run --smi dcc.sqlite --now 2026-03-06T02:00:00Z\n"
               "  duis hub-firmware status --smi dcc.sqlite 00-DB-12-34-56-78-90-A1\n"
               "  duis hub-firmware status --scenario "
               "scenarios/hub-firmware.toml 00-DB-12-34-56-78-90-A1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    publish = actions.add_parser("publish", help="publish a release and notify the users")
    publish.add_argument("manufacturer", metavar="MANUFACTURER",
                         help="the comms hubs' manufacturer, as the SMI names it (e.g. "
                              "'Northwind Comms')")
    publish.add_argument("model", metavar="MODEL",
                         help="the comms hub model the release is for (e.g. NW-CH2)")
    publish.add_argument("firmware_version", metavar="VERSION",
                         help="the firmware version released (e.g. 2.2.0); the hubs run it "
                              "once activated")
    publish.add_argument("--deploy", required=True, metavar="INSTANT",
                         help="when the image goes to the hubs")
    publish.add_argument("--activate", required=True, metavar="INSTANT",
                         help="when the hubs activate it")
    publish.add_argument("--hub", action="append", default=None, metavar="EUI",
                         help="a hub the release covers (repeat; default: every SMETS2 hub of "
                              "the model not running the version)")
    add_source_options(publish, scenario=False)
    publish.add_argument("--json", action="store_true", help="print the result as JSON")
    publish.set_defaults(run=run_publish)

    tick = actions.add_parser("run", help="perform the deployments and activations due --now")
    add_source_options(tick, scenario=False)
    tick.add_argument("--json", action="store_true", help="print the alerts as JSON")
    tick.set_defaults(run=run_tick)

    status = actions.add_parser("status", help="the stage of a hub's upgrade")
    status.add_argument("hub", metavar="HUB", help="the comms hub's EUI-64")
    status.add_argument("--from", dest="user", metavar="EUI", default=None,
                        help="ask as this user (a supplier of the hub's system, or an RSA)")
    add_source_options(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(run=run_status)

    listing = actions.add_parser("list", help="every release, its schedule and hubs")
    add_source_options(listing)
    listing.add_argument("--json", action="store_true", help="print the releases as JSON")
    listing.set_defaults(run=run_list)


def _messages(outgoing: list[Outgoing]) -> list[dict]:
    return [{"kind": o.kind, "recipient": o.recipient, "code": o.code, "xml": o.xml.decode()}
            for o in outgoing]


def _print_messages(outgoing: list[Outgoing]) -> None:
    for o in outgoing:
        print(f"  {o.kind} {o.code} to {o.recipient}")


def run_publish(args: argparse.Namespace) -> int:
    deploy, activate = instant(args.deploy, "--deploy"), instant(args.activate, "--activate")
    hubs = [eui(h, "--hub") for h in args.hub] if args.hub else None

    def publish(dsp: DSP):
        return dsp.hub_firmware.publish(args.manufacturer, args.model, args.firmware_version,
                                        deploy_at=deploy, activate_at=activate, hubs=hubs)

    publication = with_dsp(args, publish, writes=True)
    release = publication.release
    if args.json:
        json.dump({"release": release.number, "hubs": list(release.hubs),
                   "notice": duration_text(release.notice),
                   "messages": _messages(publication.outgoing)}, sys.stdout, indent=2)
        print()
        return 0
    print(f"release {release.number}: {release.manufacturer} {release.model} "
          f"{release.firmware_version} for {', '.join(release.hubs)}; deployment "
          f"{format_datetime(release.deploy_at)}, activation "
          f"{format_datetime(release.activate_at)} ({duration_text(release.notice)} of notice)")
    _print_messages(publication.outgoing)
    return 0


def run_tick(args: argparse.Namespace) -> int:
    outgoing = with_dsp(args, lambda dsp: dsp.tick(), writes=True)
    if args.json:
        json.dump({"messages": _messages(outgoing)}, sys.stdout, indent=2)
        print()
        return 0
    print(f"{len(outgoing)} message{'s' if len(outgoing) != 1 else ''} sent")
    _print_messages(outgoing)
    return 0


def run_status(args: argparse.Namespace) -> int:
    hub, user = eui(args.hub, "HUB"), eui(args.user, "--from")
    status = with_dsp(args, lambda dsp: dsp.hub_firmware.status(hub, user))
    if args.json:
        json.dump(status.as_dict() if status else {"hub": hub, "stage": None}, sys.stdout,
                  indent=2)
        print()
    else:
        print(status.text() if status else f"{hub}: no comms hub firmware release")
    return 0


def run_list(args: argparse.Namespace) -> int:
    def read(dsp: DSP):
        return [(r, [dsp.hub_firmware.status(h, release=r.number) for h in r.hubs])
                for r in dsp.hub_firmware.releases()]

    releases = with_dsp(args, read)
    if args.json:
        json.dump({"releases": [{
            "release": r.number, "manufacturer": r.manufacturer, "model": r.model,
            "firmware_version": r.firmware_version, "published": format_datetime(r.published),
            "deploy_at": format_datetime(r.deploy_at),
            "activate_at": format_datetime(r.activate_at),
            "hubs": {s.hub: s.stage for s in stages}} for r, stages in releases]},
            sys.stdout, indent=2)
        print()
        return 0
    if not releases:
        print("no comms hub firmware release")
    for r, stages in releases:
        print(f"release {r.number}: {r.manufacturer} {r.model} {r.firmware_version}, published "
              f"{format_datetime(r.published)}, deployment {format_datetime(r.deploy_at)}, "
              f"activation {format_datetime(r.activate_at)}")
        for s in stages:
            print(f"  {s.hub}: {s.stage} ({s.detail})")
    return 0

