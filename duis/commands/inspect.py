"""``duis inspect``: a readable summary of one message."""

from __future__ import annotations

import argparse
import json
import sys

from ..messages.codec import from_tree
from ..messages.describe import describe, render
from ..schema.validate import check_tree
from ..xmlparse import parse_bytes, read_source
from ._io import add_limit_options, add_schema_option, limits_from, use_schema


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inspect",
        description="Print a readable summary of one DUIS message: originator and target, "
                    "service request and its meaning from the catalogue, command variant, "
                    "body outline, and the schema verdict.",
        epilog="examples:\n  duis inspect request.xml\n  duis inspect --json response.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="an XML message; '-' reads stdin")
    add_schema_option(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_limit_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    limits = limits_from(args)
    data, name = read_source(args.file, limits)
    tree = parse_bytes(data, name, limits)
    report = check_tree(tree, use_schema(args), name)
    verdict = {"name": report.schema, "verdict": report.verdict,
               "problems": len(report.issues),
               "first_problem": report.issues[0].reason if report.issues else None}
    facts = describe(from_tree(tree, name), source=name, schema=verdict)
    if args.json:
        json.dump(facts, sys.stdout, indent=2)
        print()
    else:
        print(render(facts))
    return 0 if report.valid else 1
