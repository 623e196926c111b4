"""``duis serve``: the DUIS web services over HTTP, a drop-in for DCC Boxed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from ..profiles import DEFAULT_PROFILE, profiles
from ..serve.config import Endpoints, ServeConfig
from ..serve.logs import configure
from ..serve.server import serve_until_signalled
from ..xmlparse import DEFAULT_MAX_BYTES
from ._io import add_schema_option, add_store_option, instant, use_schema


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        description="Serve the three DUIS web services at the paths DCC Boxed uses: POST "
                    "/api/v1/serviceS (Send Command, CV 1, 3, 5, 7), /api/v1/serviceT "
                    "(Transform, CV 4) and /api/v1/serviceD (Non-Device, CV 2, 6, 8), "
                    "with signed DUIS XML (application/xml) in and out. Device responses "
                    "and alerts are POSTed to the --callback endpoint, from a durable outbox "
                    "in the SMI database, in order, retried with back-off. Logs are JSON "
                    "lines on stderr. SIGTERM or Ctrl-C stops it gracefully. See docs/serve.md.",
        epilog="examples:\n"
               "  duis serve --smi state.sqlite --callback http://127.0.0.1:8080/duis\n"
               "  duis serve --port 0 --clock driven --now 2026-03-01T09:00:00Z "
               "--profile mp105-option1\n"
               "  duis serve --callback 90-B3-D5-1F-30-01-00-00=http://127.0.0.1:9001/ "
               "--callback http://127.0.0.1:9000/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8079,
                        help="TCP port (default 8079; 0 picks a free one, logged at start)")
    parser.add_argument("--smki-port", type=int, default=None, metavar="PORT",
                        help="also listen on PORT, where DCC Boxed clients look certificates "
                             "up (DCC Boxed: 8083); the SMKI look-ups are answered on --port "
                             "too")
    parser.add_argument("--world", default=None, metavar="FILE",
                        help="world file seeding the SMI (default: the default world "
                             "bundled with duis)")
    parser.add_argument("--smi", default=None, metavar="DB",
                        help="SQLite file for the SMI, replay counters and outbox, kept between "
                             "runs (seeded from --world when new); without it all three are "
                             "in memory and lost when the server stops")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(profiles()),
                        help=f"behaviour profile (default {DEFAULT_PROFILE})")
    add_store_option(parser)
    add_schema_option(parser)
    parser.add_argument("--callback", action="append", default=None, metavar="[EUI=]URL",
                        help="where device responses and alerts are POSTed: a URL for every "
                             "user, or EUI-64=URL for one user; repeatable")
    parser.add_argument("--clock", choices=("real", "driven"), default="real",
                        help="real: wall clock; driven: stands at --now until POST /admin/clock")
    parser.add_argument("--now", default=None, metavar="INSTANT",
                        help="start of the driven clock, ISO-8601")
    parser.add_argument("--no-replay-check", action="store_true",
                        help="accept RequestID counters that do not increase (load tests)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the devices' random faults (default 0)")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                        help=f"largest request body (default {DEFAULT_MAX_BYTES}); larger: 413")
    parser.add_argument("--retry-base", type=float, default=0.5, metavar="S",
                        help="first delivery retry after S seconds, doubling (default 0.5)")
    parser.add_argument("--retry-max", type=float, default=60.0, metavar="S",
                        help="longest wait between delivery retries (default 60)")
    parser.add_argument("--delivery-timeout", type=float, default=10.0, metavar="S",
                        help="seconds a receiving endpoint has to answer (default 10)")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0, metavar="S",
                        help="seconds in-flight work gets on shutdown (default 10)")
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                        help="processes handling requests: this one (HTTP, the DSP) and N-1 "
                             "worker processes that parse, validate and verify requests "
                             f"(default: one per core, {default_workers()} here); 0 or 1: "
                             "everything in one process")
    parser.add_argument("--header-timeout", type=float, default=15.0, metavar="S",
                        help="seconds a connection has to send a complete request head, from "
                             "its opening or the previous response (default 15); then closed")
    parser.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                        help="seconds a request has to send its whole body (default 30); "
                             "then 408 and the connection closed")
    parser.add_argument("--max-connections", type=int, default=1000, metavar="N",
                        help="connections open at once (default 1000, clipped to the file "
                             "descriptor limit); one more is answered 503 and closed")
    parser.add_argument("--busy-timeout", type=float, default=10.0, metavar="S",
                        help="seconds a write waits while another process locks the SMI file "
                             "(default 10); then 503 (send again), deliveries retried")
    parser.add_argument("--refused-wait", type=float, default=0.25, metavar="S",
                        help="seconds at most a request waits, after a refusal on its "
                             "connection, while other clients' requests are handled "
                             "(default 0.25; 0: never)")
    parser.add_argument("--stuck-after", type=float, default=60.0, metavar="S",
                        help="GET /health says degraded once a message has been pending this "
                             "long (default 60), or a delivery lane is failing")
    parser.add_argument("--log-burst", type=int, default=20, metavar="N",
                        help="identical warnings written per --log-window (default 20; 0: no "
                             "limit); the rest are counted in one 'suppressed' line")
    parser.add_argument("--log-window", type=float, default=10.0, metavar="S",
                        help="seconds of the --log-burst window (default 10)")
    parser.add_argument("--log-format", choices=("json", "text"), default="json",
                        help="log lines on stderr: json (default) or text")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        default="info", help="'warning' logs only refusals and failures")
    parser.set_defaults(run=run)


def default_workers() -> int:
    """One process handling requests per core the server may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def config_from(args: argparse.Namespace) -> ServeConfig:
    return ServeConfig(
        host=args.host, port=args.port, world=Path(args.world) if args.world else None,
        smi=Path(args.smi) if args.smi else None, profile=args.profile,
        store=Path(args.store) if args.store else None,
        endpoints=Endpoints.parse(args.callback), clock=args.clock,
        now=instant(args.now, "--now"),
        replay_check=not args.no_replay_check, seed=args.seed, max_bytes=args.max_bytes,
        retry_base=args.retry_base, retry_max=args.retry_max,
        delivery_timeout=args.delivery_timeout, shutdown_timeout=args.shutdown_timeout,
        log_format=args.log_format, workers=args.workers,
        header_timeout=args.header_timeout, body_timeout=args.body_timeout,
        max_connections=args.max_connections, busy_timeout=args.busy_timeout,
        stuck_after=args.stuck_after, refused_wait=args.refused_wait, log_burst=args.log_burst,
        log_window=args.log_window, smki_port=args.smki_port)


def run(args: argparse.Namespace) -> int:
    use_schema(args)
    config = config_from(args)
    configure(config.log_format, getattr(logging, args.log_level.upper()),
              burst=config.log_burst, window=config.log_window)
    try:
        asyncio.run(serve_until_signalled(config))
    except OSError as exc:
        print(f"duis serve: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    return 0
