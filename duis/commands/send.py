"""``duis send FILE --to URL``: post a request to a DUIS web service and print the reply."""

from __future__ import annotations

import argparse
import json
import sys

from ..serve.client import Client, Exchange
from ..xmlparse import read_source
from ._io import (
    add_limit_options,
    add_schema_option,
    add_store_option,
    instant,
    limits_from,
    path_argument,
    store_from,
    use_schema,
    write_output,
)

ACCEPTED = ("I0", "I99")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "send",
        description="Sign the request unless it is signed already, pick the web service from "
                    "its command variant (1, 3, 5, 7: serviceS; 4: serviceT; 2, 6, 8: "
                    "serviceD), POST it, verify the DSP's signature on the reply and print "
                    "the reply. With --complete, a critical request (CV 4) goes the whole "
                    "round: the PreCommand's command is signed with the sender's ds key and "
                    "sent back as a SignedPreCommand (CV 5). Exit status: 0 answered I0/I99 "
                    "and verified, 1 refused (DUIS error code, HTTP error, reply not "
                    "verified), 2 unusable input or server unreachable.",
        epilog="examples:\n"
               "  duis send request.xml --to http://127.0.0.1:8079\n"
               "  duis send --preserve-counter --complete 11.3-cv4.xml --to http://127.0.0.1:8079\n"
               "  duis send --service T request.xml --to http://127.0.0.1:8079   # expect E13",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="the request; '-' reads stdin")
    parser.add_argument("--to", required=True, metavar="URL",
                        help="the server, e.g. http://127.0.0.1:8079")
    parser.add_argument("--service", choices=("S", "T", "D"), default=None,
                        help="web service to use (default: from the command variant)")
    add_store_option(parser)
    add_schema_option(parser)
    parser.add_argument("--preserve-counter", action="store_true",
                        help="keep the RequestID counter when signing (else a fresh one); "
                             "the SignedPreCommand of --complete then takes counter + 1")
    parser.add_argument("--sign", dest="sign", action="store_const", const=True, default=None,
                        help="sign even if already signed (replaces the signature)")
    parser.add_argument("--no-sign", dest="sign", action="store_const", const=False,
                        help="send as it is")
    parser.add_argument("--complete", action="store_true",
                        help="for a critical request (CV 4): also sign and send the PreCommand")
    parser.add_argument("--now", default=None, metavar="INSTANT",
                        help="sign and verify certificates at this time (default: now)")
    parser.add_argument("--no-verify", action="store_true",
                        help="do not verify the reply's signature")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for the reply (default 30)")
    parser.add_argument("--json", action="store_true",
                        help="print every exchange as JSON instead of the reply")
    parser.add_argument("-o", "--output", default=None, metavar="OUT", type=path_argument,
                        help="write the (last) reply to OUT (default: stdout)")
    add_limit_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    use_schema(args)
    data, name = read_source(args.file, limits_from(args))
    store = store_from(args)
    now = instant(args.now, "--now")
    with Client(args.to, store, timeout=args.timeout, now=now,
                verify_replies=not args.no_verify) as client:
        exchanges = client.send(data, service=args.service, sign=args.sign,
                                preserve_counter=args.preserve_counter, complete=args.complete)
    last = exchanges[-1]
    if args.json:
        json.dump([_as_dict(e) for e in exchanges], sys.stdout, indent=2)
        print()
    else:
        for exchange in exchanges:
            print(f"{name}: {_line(exchange, client.url)}", file=sys.stderr)
        write_output(last.reply.body, args.output, document=True)
    return 0 if last.reply.code in ACCEPTED else 1


def _line(exchange: Exchange, url: str) -> str:
    message, reply = exchange.message, exchange.reply
    head = (f"{message.service_reference_variant} CV {message.command_variant} "
            f"{message.request_id} -> POST {url}/api/v1/service{exchange.service}: "
            f"HTTP {reply.status}")
    if reply.code is None:
        first = next((line for line in reply.text.splitlines() if line.strip()), "")
        shown = "".join(c if c.isprintable() else "?" for c in first.strip()[:200])
        return f"{head}, refused: {shown or '(no text)'}"
    verified = (f", verified (signed by {exchange.verified.signer_eui})"
                if exchange.verified else ", not verified")
    return f"{head}, {reply.code}{verified}"


def _as_dict(exchange: Exchange) -> dict:
    message, reply = exchange.message, exchange.reply
    return {"request_id": str(message.request_id), "service_reference_variant":
            message.service_reference_variant, "command_variant": message.command_variant,
            "service": exchange.service, "http_status": reply.status, "code": reply.code,
            "verified": exchange.verified is not None,
            "signer": str(exchange.verified.signer_eui) if exchange.verified else None,
            "reply": reply.text}
