"""``duis receive``: a receiving endpoint that verifies and stores what a DSP delivers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from ..serve.config import check_port
from ..serve.logs import configure, event
from ..serve.receiver import Inbox, build_receiver, receiver_runner
from ._io import add_store_option, instant, store_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "receive",
        description="Accept the device responses and alerts a DSP POSTs (signed DUIS XML), "
                    "verify the DSP's signature, store each message in DIR as "
                    "NNNNNN-<kind>-<code>-to-<user>.xml with an index.jsonl, and answer 204. "
                    "A repeat of a stored message is answered 204 and not stored again; a "
                    "message that does not verify is answered 403 and kept in DIR/rejected/. "
                    "GET /messages lists what was received. Ctrl-C stops it.",
        epilog="example:\n  duis receive --port 8080 --dir received/ &\n"
               "  duis serve --callback http://127.0.0.1:8080/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--dir", default="received", metavar="DIR",
                        help="folder for the messages (default ./received)")
    add_store_option(parser)
    parser.add_argument("--now", default=None, metavar="INSTANT",
                        help="verify certificates at this time (default: the current time)")
    parser.add_argument("--no-verify", action="store_true",
                        help="store without verifying signatures")
    parser.add_argument("--log-format", choices=("json", "text"), default="text",
                        help="log lines on stderr (default text)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure(args.log_format, logging.INFO)
    now = instant(args.now, "--now")                     # before anything is made
    check_port(args.port, "--port")
    store = None if args.no_verify else store_from(args)
    inbox = Inbox(args.dir)
    app = build_receiver(inbox, store, now=now)
    try:
        asyncio.run(_serve(app, args.host, args.port, inbox))
    except OSError as exc:
        print(f"duis receive: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    return 0


async def _serve(app: web.Application, host: str, port: int, inbox: Inbox) -> None:
    runner = receiver_runner(app, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    url = f"http://{host}:{runner.addresses[0][1]}/"
    event("receiving", url=url, folder=str(inbox.folder), stored=len(inbox.messages))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    event("stopped", received=len(inbox.messages), duplicates=inbox.duplicates)
