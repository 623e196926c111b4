"""``duis translate``: the GBCS command the DSP would send for a service request."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputError
from ..gbcs import codec
from ..gbcs.codec import to_base64
from ..gbcs.keys import world_keys
from ..messages import Request
from ..messages.codec import from_tree
from ..mmc import TranslationError, command_for, describe, mapping, render
from ..schema import ensure_valid
from ..xmlparse import parse_bytes, read_source
from ._io import (
    add_limit_options,
    add_schema_option,
    add_store_option,
    counter_argument,
    eui_argument,
    limits_from,
    store_from,
    use_schema,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "translate",
        description="Translate a DUIS service request into the GBCS device command "
                    "(docs/gbcs.md) the DSP would send: hex on stdout (or base64, as carried "
                    "in GBCSPayload), a readable summary on stderr. A non-critical command "
                    "is MAC'd as the DSP (Access Control Broker) sends it, with the keys of "
                    "the credential store; a critical one (11.3, CS06) is its PreCommand, "
                    "what the user signs; a SignedPreCommand gives the command the user "
                    "signed, as a PreCommand. Exit status: 0 translated, 1 invalid or not "
                    "translatable, 2 unusable input.",
        epilog="examples:\n"
               "  duis translate activate_firmware.xml\n"
               "  duis translate --device-type GSME --json read_firmware_version.xml\n"
               "  duis translate --target 00-DB-12-34-56-78-90-A0 --device-type ESME "
               "update_firmware.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="REQUEST", help="a DUIS request; '-' reads stdin")
    parser.add_argument("--device-type", metavar="TYPE", default=None, type=_device_type_argument,
                        help="type of the target device (ESME, GSME, CHF, GPF, PPMID, HCALCS); "
                             "needed where the use case depends on it (e.g. 11.2)")
    parser.add_argument("--target", metavar="EUI64", default=None, type=eui_argument,
                        help="for 11.1: which device of DeviceIDList the command is for")
    parser.add_argument("--transaction", metavar="N", type=counter_argument, default=None,
                        help="GBCS transaction counter (default: the RequestID counter)")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--base64", action="store_true",
                      help="print the command as base64 (GBCSPayload form) instead of hex")
    form.add_argument("--json", action="store_true",
                      help="print the summary, hex and base64 as JSON on stdout")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no summary on stderr")
    add_schema_option(parser)
    add_store_option(parser)
    add_limit_options(parser)
    parser.set_defaults(run=run)


def _device_type_argument(text: str) -> str:
    """``argparse`` type: a DUIS device type, any case."""
    from ..smi.tables import DEVICE_TYPES
    if text.upper() not in DEVICE_TYPES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(DEVICE_TYPES)}, "
                                         f"found {text[:40]!r}")
    return text.upper()


def _device_type(request: Request, given: str | None) -> str | None:
    """The device type to translate for: as given, or any one where the variant's
    use case does not depend on it (11.3 is CS06 for every type)."""
    if given:
        return given
    cases = mapping().for_variant(request.service_reference_variant)
    if len(cases) == 1:
        return cases[0].device_types[0]
    if not cases:
        return None
    raise InputError(f"service request {request.service_reference_variant} depends on the "
                     f"device type: give --device-type",
                     expected="; ".join(f"{'/'.join(c.device_types)} ({c.code})" for c in cases),
                     found="no --device-type")


def run(args: argparse.Namespace) -> int:
    limits = limits_from(args)
    data, name = read_source(args.file, limits)
    tree = parse_bytes(data, name, limits)
    ensure_valid(tree, use_schema(args), name)
    request = from_tree(tree, name)
    if not isinstance(request, Request):
        raise InputError("duis translate reads a DUIS service request", source=name,
                         expected="an sr:Request", found=type(request).__name__)
    try:
        device_type = _device_type(request, args.device_type)
        message = command_for(request, device_type or "", transaction=args.transaction,
                              target=args.target)
    except (TranslationError, InputError) as exc:
        exc.source = exc.source or name
        raise
    if codec.is_critical(message):
        raw = codec.precommand(message)
    else:
        store = store_from(args)
        raw = codec.encode(message, world_keys(store, acb=store.dsp_signing_credential().eui))
    facts = {"source": name, "service_reference_variant": request.service_reference_variant,
             "device_type": args.device_type.upper() if args.device_type else "any",
             **describe(message)}
    if args.json:
        json.dump({**facts, "hex": raw.hex().upper(), "base64": to_base64(raw)},
                  sys.stdout, indent=2)
        print()
        return 0
    if not args.quiet:
        print(render(facts), file=sys.stderr)
    print(to_base64(raw) if args.base64 else raw.hex().upper())
    return 0
