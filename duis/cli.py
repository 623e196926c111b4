"""The ``duis`` command line.

Each sub-command lives in its own module under :mod:`duis.commands` and
exposes ``register(subparsers)``; this module only wires them together.
Exit codes: 0 success / valid, 1 invalid (schema, signature, verdict),
2 unusable input or usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import DuisError

#: sub-command modules, in the order ``--help`` lists them
COMMANDS = ("validate", "inspect", "sign", "verify", "translate", "mmc", "world", "submit",
            "run", "golden", "simulate", "suppression_log", "hub_firmware", "serve", "send",
            "receive")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duis",
        description="An offline stand-in for the GB smart-metering DCC (DUIS): "
                    "validate, inspect, sign and verify DUIS messages.")
    parser.add_argument("--version", action="version", version=f"duis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"duis.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except DuisError as exc:
        print(f"duis {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
