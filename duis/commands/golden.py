"""``duis golden check|update DIR...``: golden-file regression for scenarios."""

from __future__ import annotations

import argparse
import sys

from ..scenario import ScenarioError
from ..scenario.golden import check, scenario_files, update


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "golden",
        description="Golden-file regression: `check` reruns every scenario (in the folders or "
                    "files given) under each of its profiles and compares every produced file "
                    "byte for byte with DIR/golden/<scenario>/<profile>/, printing a unified "
                    "diff of each mismatch; `update` rewrites the goldens atomically, "
                    "except from a run whose expectations fail (never a golden). In a folder, "
                    "a .toml file is a scenario when it has a [scenario] table; worlds and "
                    "settings beside them are skipped (and listed on stderr). Exit status: "
                    "0 all match (or all written), 1 mismatch, unmet expectation or update "
                    "refused, 2 unusable scenario.",
        epilog="examples:\n  duis golden check samples/scenarios\n"
               "  duis golden update samples/scenarios/mp105-esme-recovery-by-read.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, helptext in (("check", "compare fresh runs with the goldens"),
                           ("update", "rewrite the goldens from fresh runs")):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("paths", nargs="+", metavar="DIR|SCENARIO")
        action.add_argument("-q", "--quiet", action="store_true",
                            help="only mismatches and the summary")
        action.set_defaults(run=run_check if name == "check" else run_update)


def _scenario_errors(exc: ScenarioError) -> int:
    for problem in exc.errors:
        print(f"duis golden: {problem}", file=sys.stderr)
    return exc.exit_code


def _say_skipped(paths: list[str]) -> None:
    skipped = scenario_files(paths).skipped
    if skipped:
        print(f"skipped {len(skipped)} .toml file(s) without a [scenario] table: "
              + ", ".join(str(p) for p in skipped), file=sys.stderr)


def run_check(args: argparse.Namespace) -> int:
    try:
        results = check(args.paths)
    except ScenarioError as exc:
        return _scenario_errors(exc)
    _say_skipped(args.paths)
    for result in results:
        if not (args.quiet and result.passed):
            print(result.report())
    failed = sum(not r.passed for r in results)
    print(f"{len(results)} transcripts: {len(results) - failed} match, {failed} differ")
    return 1 if failed else 0


def run_update(args: argparse.Namespace) -> int:
    try:
        results = update(args.paths)
    except ScenarioError as exc:
        return _scenario_errors(exc)
    _say_skipped(args.paths)
    for result in results:
        if result.status == "refused" or not args.quiet:
            print(result.report())
    counts = {status: sum(r.status == status for r in results)
              for status in ("written", "unchanged", "refused")}
    print(f"{len(results)} golden transcripts: {counts['written']} written, "
          f"{counts['unchanged']} unchanged, {counts['refused']} refused")
    return 1 if counts["refused"] else 0
