"""``duis verify``: check a DUIS message's signature; print what was signed."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import DuisError
from ..signatures import CounterStore, VerifiedMessage, verify
from ..xmlparse import read_source
from ._io import (
    add_limit_options,
    add_store_option,
    instant,
    limits_from,
    path_argument,
    store_from,
    write_output,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "verify",
        description="Verify the enveloped signature of a DUIS Request or Response against the "
                    "credential store, accepting only the DUIS profile.  On success print the "
                    "verified document: exactly the bytes that were signed, without the "
                    "signature.  Exit status: 0 verified, 1 refused, 2 unusable input.",
        epilog="examples:\n  duis verify signed.xml\n"
               "  duis verify --store ../shared/reference/zaz1 --now 2024-01-01 response.xml\n"
               "  duis verify --json --check-roles --counters counters.db - < signed.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="the signed message; '-' reads stdin")
    add_store_option(parser)
    parser.add_argument("--now", metavar="INSTANT", default=None,
                        help="check certificate validity at this ISO-8601 time "
                             "(default: the current time)")
    parser.add_argument("--counters", metavar="DB", default=None,
                        help="refuse a RequestID counter not above the last one accepted "
                             "from the originator, recording it in this SQLite file")
    parser.add_argument("--check-roles", action="store_true",
                        help="refuse a Request whose signer holds no role eligible for its "
                             "service reference variant (DUIS catalogue)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON report instead")
    output.add_argument("--report", action="store_true",
                        help="print a readable report instead of the document")
    parser.add_argument("-o", "--output", metavar="OUT", default=None, type=path_argument,
                        help="write the verified document to OUT (default: stdout)")
    add_limit_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        verified = _verify(args)
    except DuisError as exc:
        if not (args.json or args.report):
            raise
        report = {"verified": False, "source": exc.source or name, "error": exc.as_dict()}
        _print_report(report, args)
        return exc.exit_code
    if args.json or args.report:
        _print_report(_success(verified, name), args)
    else:
        write_output(verified.signed_bytes + b"\n", args.output)
    return 0


def _verify(args: argparse.Namespace) -> VerifiedMessage:
    data, name = read_source(args.file, limits_from(args))
    store = store_from(args)
    roles = None
    if args.check_roles:
        from ..catalogue import allowed_roles
        roles = allowed_roles
    counters = CounterStore(args.counters) if args.counters else None
    try:
        return verify(data, store, now=instant(args.now, "--now"),
                      counters=counters, allowed_roles=roles, source=name)
    finally:
        if counters is not None:
            counters.close()


def _success(verified: VerifiedMessage, name: str) -> dict:
    return {"verified": True, "source": name, "kind": verified.kind,
            "message_id": str(verified.message_id) if verified.message_id else None,
            "signer": str(verified.signer_eui), "roles": sorted(verified.roles),
            "certificate": verified.credential.describe()}


def _print_report(report: dict, args: argparse.Namespace) -> None:
    if args.json:
        text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    elif report["verified"]:
        cert = report["certificate"]
        text = (f"{report['source']}: verified {report['kind']}"
                + (f" {report['message_id']}" if report["message_id"] else "")
                + f"\n  signer {report['signer']} ({cert['function']}), roles "
                + (", ".join(report["roles"]) or "none on record")
                + f"\n  certificate {cert['issuer']} serial {cert['serial']}, "
                  f"valid {cert['not_before']} to {cert['not_after']}\n")
    else:
        error = report["error"]
        text = f"{report['source']}: refused ({error['error']})\n  {_error_text(error)}\n"
    if args.output and args.output != "-":
        write_output(text.encode("utf-8"), args.output)
    else:
        sys.stdout.write(text)


def _error_text(error: dict) -> str:
    text = error["message"]
    if error.get("line"):
        text += f" (line {error['line']})"
    if error.get("path"):
        text += f" at {error['path']}"
    if error.get("expected") is not None:
        text += f"; expected {error['expected']}"
    if error.get("found") is not None:
        text += f", found {error['found']}"
    return text
