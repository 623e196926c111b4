"""The ``duis`` command line.

Each sub-command lives in its own module under :mod:`duis.commands` and
exposes ``register(subparsers)``; this module only wires them together.
Exit codes: 0 success / valid, 1 invalid (schema, signature, verdict),
2 unusable input or usage error.

Start-up is paid per call (teams run ``duis validate`` per file from scripts
and hooks), so the parser imports only the command being run: ``duis --help``
lists every command from :data:`SUMMARIES` without importing any command
module, and ``duis CMD ...`` imports ``duis.commands.CMD`` alone (whose own
imports are what CMD needs).  ``tests/test_startup_imports.py`` guards it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from . import __version__
from .errors import DuisError

#: sub-command modules (``duis.commands.<module>``, command name with ``-`` for
#: ``_``), in the order ``--help`` lists them
COMMANDS = ("validate", "inspect", "sign", "verify", "translate", "mmc", "world", "submit",
            "run", "golden", "simulate", "suppression_log", "hub_firmware", "serve", "send",
            "receive", "pki", "gbcs", "init")

#: each command's one-line help in ``duis --help`` (its home: the command
#: modules give their parser a description, not this line)
SUMMARIES = {
    "validate": "validate DUIS and MMC messages against the schema",
    "inspect": "summarise a message: who sent what to whom, which SR, what it means",
    "sign": "sign a DUIS message (enveloped ECDSA P-256 signature)",
    "verify": "verify a DUIS message's signature (DUIS profile only)",
    "translate": "show the GBCS command a service request becomes (MMC translation)",
    "mmc": "turn the device reply in a DUIS Response into MMC output XML",
    "world": "check a world file (the users, CPL and devices a DSP starts with)",
    "submit": "send a signed request to an emulated DSP and print its response",
    "run": "run a scenario against the emulated DCC and write its transcript",
    "golden": "check or update the golden transcripts of scenarios",
    "simulate": "simulate a firmware campaign over a fleet, under each profile",
    "suppression_log": "list the AD1 power outage alerts suppressed after firmware "
                       "activations (MP102B)",
    "hub_firmware": "comms hub firmware releases: publish, run the schedule, query a hub "
                    "(SECMP0024)",
    "serve": "serve the DUIS web services over HTTP (a drop-in for DCC Boxed)",
    "send": "post a request to a DUIS web service (duis serve, DCC Boxed) and print the reply",
    "receive": "a DCC user's receiving endpoint: verify and store what duis serve delivers",
    "pki": "credentials: a test PKI for your own DCC users, the emulated devices' "
           "GBCS certificates",
    "gbcs": "decode real GBCS payloads: header, payload, MAC and signature verdicts",
    "init": "write a small working project for an adaptor team (world, scenarios, goldens, "
            "a validation script, pytest)",
}


def command_name(module: str) -> str:
    """The name a command module registers (``hub_firmware`` -> ``hub-firmware``)."""
    return module.replace("_", "-")


def chosen_command(argv: list[str]) -> str | None:
    """The command module ``argv`` runs, found as argparse will: the first
    argument that is not an option (the top-level options take no value).
    ``None`` for ``duis``, ``duis --help`` (``duis -h CMD`` too: it lists every
    command), ``duis --version``, a typo."""
    for arg in argv:
        if arg == "-h" or (len(arg) > 2 and "--help".startswith(arg)):
            return None
        if not arg.startswith("-"):
            module = arg.replace("-", "_")
            return module if module in COMMANDS and command_name(module) == arg else None
    return None


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its sub-commands' parsers are of its class too), with
    the help's width found without :mod:`shutil`: argparse makes a formatter for
    every option it adds, and its own would import shutil (and, with it, the
    bz2 and lzma extensions) to ask the terminal's width, some 2 ms of every
    ``duis validate``."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        # every HelpFormatter takes a width (typeshed's protocol names prog alone)
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]


def _help_width() -> int:
    """The width argparse gives help, found as :func:`shutil.get_terminal_size`
    finds the columns (``COLUMNS``, else standard output's terminal, else 80),
    less 2."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``duis`` parser for running ``command`` (a module of :data:`COMMANDS`):
    that command alone, registered in full.  Without one (``duis --help``, a
    typo), every command is listed by its one-line help and none is imported."""
    parser = _Parser(
        prog="duis",
        description="An offline stand-in for the GB smart-metering DCC (DUIS): "
                    "validate, inspect, sign and verify DUIS messages.")
    parser.add_argument("--version", action="version", version=f"duis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    if command is not None:
        importlib.import_module(f"duis.commands.{command}").register(sub)
        return parser
    for module in COMMANDS:
        sub.add_parser(command_name(module), help=SUMMARIES.get(module, ""), add_help=False)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed by the parser of the command it runs (exits on ``--help``,
    ``--version`` or a usage error, as argparse does)."""
    return build_parser(chosen_command(argv)).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse(sys.argv[1:] if argv is None else list(argv)))


def run(args: argparse.Namespace) -> int:
    """The command ``args`` were parsed for; its exit code."""
    environment = dict(os.environ)
    try:
        return int(args.run(args) or 0)
    except DuisError as exc:
        print(f"duis {args.command}: {exc}", file=sys.stderr)
        if getattr(args, "json", False):  # --json is data, a refusal too
            import json
            json.dump({"error": exc.as_dict(), "exit_code": exc.exit_code}, sys.stdout,
                      indent=2)
            print()
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        _restore(environment)


def _restore(environment: dict[str, str]) -> None:
    """What a command set in ``os.environ`` for itself and the processes it started
    (``--schema-dir`` becomes ``DUIS_SCHEMA_DIR``) ends with it: a program that
    calls :func:`main` more than once (a test suite) gets each call on its own."""
    if os.environ != environment:
        os.environ.clear()
        os.environ.update(environment)


def console() -> None:
    """The ``duis`` console script (and ``python -m duis.cli``): :func:`main`, then exit.

    A process that starts and ends here needs no garbage collection of what
    it imports: those objects live until it exits.  So the collector is off
    until the command's modules are imported and its arguments parsed (its
    passes over the new modules' objects cost some 1-2 ms of a ``duis
    validate``), then those objects are frozen (:func:`gc.freeze`: no later
    pass visits them) and it runs as ever for the command, however long it
    runs.  At exit everything is frozen again, so the last passes over every
    object the run made (some 6 ms of a 60 ms ``duis validate``) are skipped;
    the memory goes back with the process.  atexit handlers run and standard
    output and error are flushed as ever; only objects in reference cycles
    are not finalized at exit, which Python never promises anyway.  Not in
    :func:`main`, which tests and other programs call in a process that goes on.
    """
    gc.disable()
    args = parse(sys.argv[1:])
    gc.freeze()
    gc.enable()
    code = run(args)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
