"""``duis validate``: is this DUIS / MMC XML right?"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from ..errors import InputError
from ..schema import EXIT_CODES, INVALID, NOT_COVERED, UNUSABLE, VALID, ReportLimits, validate
from ..schema.report import DEFAULT_MAX_ERRORS, DEFAULT_REPORT_SECONDS
from ._io import (
    Progress,
    add_junit_option,
    add_limit_options,
    add_schema_option,
    expand_inputs,
    limits_from,
    use_schema,
    write_output,
)

ORDER = (VALID, "invalid", NOT_COVERED, UNUSABLE)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate",
        description="Validate DUIS requests, responses, alerts and MMC documents. "
                    "Exit status: 0 all valid, 1 some invalid or not covered by the "
                    "bundled schema, 2 some input unusable (unreadable, not XML, unsafe).",
        epilog="examples:\n  duis validate request.xml\n  duis validate messages/\n"
               "  cat request.xml | duis validate -\n"
               "  duis validate --schema-dir 'DUIS 5.4/' --json *.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="XML files or directories of them; '-' reads stdin")
    add_schema_option(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON report for machines")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only problems and the summary")
    add_junit_option(parser, "one test case per file: a failure when invalid or not "
                             "covered, an error when unusable")
    parser.add_argument("--allow-empty", action="store_true",
                        help="exit 0 when the directories hold no XML file (default: exit 2, "
                             "as a mistyped or empty folder would otherwise pass unnoticed)")
    parser.add_argument("--progress", action="store_true", default=None,
                        help="show progress on stderr (default: on a terminal, for long batches)")
    add_limit_options(parser)
    group = parser.add_argument_group("report limits (an invalid document's report)")
    group.add_argument("--max-errors", type=int, default=None, metavar="N",
                       help=f"list at most N errors per document "
                            f"(default {DEFAULT_MAX_ERRORS}, env DUIS_MAX_ERRORS)")
    group.add_argument("--report-seconds", type=float, default=None, metavar="S",
                       help=f"spend at most S seconds on a document's detailed report "
                            f"(default {DEFAULT_REPORT_SECONDS}, env DUIS_REPORT_SECONDS)")
    parser.set_defaults(run=run)


def report_limits_from(args: argparse.Namespace) -> ReportLimits:
    base = ReportLimits.from_env()
    return ReportLimits(base.max_errors if args.max_errors is None else args.max_errors,
                        base.seconds if args.report_seconds is None else args.report_seconds)


def run(args: argparse.Namespace) -> int:
    schema = use_schema(args)
    limits = limits_from(args)
    report_limits = report_limits_from(args)
    files = list(expand_inputs(args.files))
    if not files and not args.allow_empty:
        raise InputError("no XML files found", source=", ".join(args.files),
                         expected="*.xml files in the folders given (or --allow-empty)",
                         found="none")
    progress = Progress(len(files), args.progress)
    reports = []
    seconds = []
    for done, name in enumerate(files, 1):
        started = time.perf_counter()
        report = validate(name, schema, limits, report_limits)
        seconds.append(time.perf_counter() - started)
        reports.append(report)
        if not args.json and not (args.quiet and report.valid):
            print(report.render(), flush=True)
        progress.step(done)
    counts = Counter(r.verdict for r in reports)
    worst = max((EXIT_CODES[r.verdict] for r in reports), default=0)
    if args.json:
        import json  # not at the top: a plain ``duis validate`` does without it
        json.dump({"schema": schema.name, "summary": {v: counts.get(v, 0) for v in ORDER},
                   "files": len(reports), "results": [r.as_dict() for r in reports]},
                  sys.stdout, indent=2, sort_keys=True)
        print()
    elif len(reports) > 1 or args.quiet:
        parts = ", ".join(f"{counts.get(v, 0)} {v.replace('-', ' ')}" for v in ORDER)
        print(f"{len(reports)} file{'s' if len(reports) != 1 else ''}: {parts}")
    if args.junit_xml:
        sys.stdout.flush()                     # the results first, whatever comes of this
        write_output(_junit(reports, seconds), args.junit_xml)
    return worst


def _junit(reports: list, seconds: list[float]) -> bytes:
    """The JUnit XML report: a file is a test case, failed when invalid or not
    covered, in error when unusable; the details are the text report."""
    from ..junit import Case, junit_xml
    cases = []
    for report, spent in zip(reports, seconds, strict=True):
        problems = len(report.issues)
        message = (f"{report.verdict}: {problems}{'+' if report.truncated else ''} "
                   f"problem{'s' if problems != 1 or report.truncated else ''}; first: "
                   f"{report.issues[0].reason}" if problems else report.verdict)
        failed = report.verdict in (INVALID, NOT_COVERED)
        cases.append(Case(report.source, f"validate.{report.schema}", spent,
                          failure=message if failed else None,
                          error=message if report.verdict == UNUSABLE else None,
                          details="" if report.valid else report.render()))
    return junit_xml("duis validate", cases, seconds=sum(seconds))
