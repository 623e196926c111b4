"""``duis mmc``: the MMC output (readable form) of a device reply in a DUIS Response."""

from __future__ import annotations

import argparse
import json

from ..errors import InputError
from ..messages import Response, build
from ..messages.codec import from_tree
from ..mmc import describe, mmc_for_response
from ..schema import ensure_valid
from ..xmlparse import parse_bytes, read_source
from ._io import (
    add_limit_options,
    add_schema_option,
    limits_from,
    path_argument,
    use_schema,
    write_output,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "mmc",
        description="Read a DUIS Response whose ResponseMessage, FutureDatedDeviceAlertMessage "
                    "or DeviceAlertMessage carries a GBCSPayload, decode the device reply "
                    "(docs/gbcs.md) and print it as MMC output (ra:GBCSResponse), as DCC "
                    "Parse & Correlate would. Exit status: 0 translated, 1 invalid or not "
                    "translatable, 2 unusable input.",
        epilog="examples:\n  duis mmc response.xml\n  duis mmc --json alert.xml\n"
               "  duis submit ... | duis mmc -",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="RESPONSE", help="a DUIS Response; '-' reads stdin")
    parser.add_argument("--json", action="store_true",
                        help="print the decoded reply and the MMC XML as JSON")
    parser.add_argument("-o", "--output", metavar="FILE", default=None, type=path_argument,
                        help="write the MMC XML to FILE instead of stdout")
    add_schema_option(parser)
    add_limit_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    limits = limits_from(args)
    schema = use_schema(args)
    data, name = read_source(args.file, limits)
    tree = parse_bytes(data, name, limits)
    ensure_valid(tree, schema, name)
    response = from_tree(tree, name)
    if not isinstance(response, Response):
        raise InputError("duis mmc reads a DUIS Response", source=name,
                         expected="an sr:Response carrying a GBCSPayload",
                         found=type(response).__name__)
    reply, document = mmc_for_response(response, name)
    xml = build(document, schema=schema)
    if args.json:
        text = json.dumps({"source": name, "response": response.kind,
                           "service_reference_variant": reply.service_reference_variant,
                           "payload_at": reply.path, "message": describe(reply.message),
                           "mmc": xml.decode("utf-8")}, indent=2) + "\n"
        write_output(text.encode("utf-8"), args.output)
    else:
        write_output(xml, args.output, document=True)
    return 0
