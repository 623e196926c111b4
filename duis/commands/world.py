"""``duis world check FILE``: validate a world file (users, CPL, devices)."""

from __future__ import annotations

import argparse
import json
import sys

from ..smi import WorldError, read_world
from ..tomlfile import CANNOT_READ


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "world",
        description="Check a world file: every problem is reported with the file, line and "
                    "field, what was expected and what was found. Exit status: 0 valid, "
                    "1 invalid, 2 unreadable. The default world bundled with duis is a "
                    "commented example of the format; python -c 'import duis.defaults as "
                    "d; print(d.default_world())' prints where it is.",
        epilog="example:\n  duis world check world.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser("check", help="validate a world file and summarise it")
    check.add_argument("file", metavar="FILE", help="a world file (TOML)")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        world = read_world(args.file)
    except WorldError as exc:
        problems = getattr(exc, "errors", None) or [exc]
        unreadable = exc.message.startswith(CANNOT_READ)
        if args.json:
            json.dump({"file": args.file, "valid": False,
                       "errors": [p.as_dict() for p in problems]}, sys.stdout, indent=2)
            print()
        else:
            for problem in problems:
                print(problem, file=sys.stderr)
        return 2 if unreadable else 1
    summary = {"file": args.file, "valid": True, "users": len(world.users),
               "cpl entries": len(world.cpl), "devices": len(world.devices)}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(f"{args.file}: valid ({len(world.users)} users, {len(world.cpl)} CPL entries, "
              f"{len(world.devices)} devices)")
    return 0
