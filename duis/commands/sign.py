"""``duis sign``: sign a DUIS Request or Response in the DUIS profile."""

from __future__ import annotations

import argparse

from ..clock import SystemClock
from ..signatures import sign, sign_with_store
from ..signatures.credentials import load_certificate, load_private_key
from ..signatures.errors import CredentialError
from ..signatures.replay import MillisecondCounter
from ..xmlparse import parse_bytes, read_source
from ._io import (
    add_limit_options,
    add_store_option,
    counter_argument,
    instant,
    limits_from,
    path_argument,
    store_from,
    write_output,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sign",
        description="Sign a DUIS Request or Response like the DCC's signing tool: one "
                    "enveloped signature (exclusive c14n, ecdsa-sha256, SHA-256 digest, "
                    "X509IssuerSerial), replacing any earlier one.  Without --key/--cert the "
                    "key is found in the credential store: a Request's RequestID originator "
                    "signs it, the DSP signs a Response.  A Request gets a fresh RequestID "
                    "counter (milliseconds since the epoch) unless --preserve-counter.",
        epilog="examples:\n  duis sign request.xml > signed.xml\n"
               "  duis sign --store ../shared/reference/zaz1 --preserve-counter request.xml\n"
               "  duis sign --key user.key --cert user.pem - < request.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="the message; '-' reads stdin")
    source = parser.add_argument_group("credentials (default: the credential store)")
    source.add_argument("--key", metavar="K", help="private key file (PEM/DER, PKCS#8/SEC1)")
    source.add_argument("--cert", metavar="C", help="certificate file for --key (PEM/DER)")
    add_store_option(source)
    counter = parser.add_mutually_exclusive_group()
    counter.add_argument("--preserve-counter", action="store_true",
                         help="keep the RequestID counter as it is")
    counter.add_argument("--counter", type=counter_argument, metavar="N",
                         help="set the RequestID counter to N (reproducible output)")
    parser.add_argument("--keep-whitespace", action="store_true",
                        help="sign whitespace between elements as it is (the DCC tool "
                             "refuses such signatures; default: remove it, as the tool does)")
    parser.add_argument("--now", metavar="INSTANT", default=None,
                        help="choose among the store's certificates as of this ISO-8601 time")
    parser.add_argument("-o", "--output", metavar="OUT", default=None, type=path_argument,
                        help="write the signed message to OUT (default: stdout)")
    add_limit_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.key) != bool(args.cert):
        raise CredentialError("--key and --cert go together", expected="both or neither",
                              found="--key" if args.key else "--cert")
    data, name = read_source(args.file, limits_from(args))
    now = instant(args.now, "--now")
    counter = None if args.preserve_counter else args.counter
    strip_whitespace = not args.keep_whitespace
    if args.key:
        if counter is None and not args.preserve_counter:
            counter = MillisecondCounter(SystemClock())()
        signed = sign(_parse(data, name, args), load_private_key(args.key),
                      load_certificate(args.cert), counter=counter,
                      strip_whitespace=strip_whitespace, source=name)
    else:
        store = store_from(args)
        fixed = None if counter is None else (lambda: counter)
        signed = sign_with_store(_parse(data, name, args), store,
                                 preserve_counter=args.preserve_counter, counter=fixed,
                                 now=now, strip_whitespace=strip_whitespace, source=name)
    write_output(signed, args.output, document=True)
    return 0


def _parse(data: bytes, name: str, args: argparse.Namespace):
    return parse_bytes(data, name, limits_from(args))
