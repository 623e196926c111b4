"""``duis golden check|update DIR...``: golden-file regression for scenarios."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..scenario import ScenarioError
from ..scenario.golden import GoldenResult, check, scenario_files, update
from ._io import add_junit_option, add_schema_option, use_schema, write_output


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
                    "refused, 2 unusable scenario, or none found.",
        epilog="examples:\n  duis golden check scenarios/\n"
               "  duis golden check --json --junit-xml golden.xml scenarios/\n"
               "  duis golden update scenarios/my-story.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, helptext in (("check", "compare fresh runs with the goldens"),
                           ("update", "rewrite the goldens from fresh runs")):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("paths", nargs="+", metavar="DIR|SCENARIO",
                            help="scenario files, or folders searched for them (a .toml file "
                                 "with a [scenario] table)")
        action.add_argument("-q", "--quiet", action="store_true",
                            help="only mismatches and the summary")
        add_schema_option(action)
        action.add_argument("--allow-empty", action="store_true",
                            help="exit 0 when the paths hold no scenario (default: exit 2, as "
                                 "a mistyped or empty folder would otherwise pass unnoticed)")
        if name == "check":
            action.add_argument("--json", action="store_true",
                                help="print the results as JSON (per transcript: status, "
                                     "differences, failed expectations; the files skipped)")
            add_junit_option(action, "one test case per scenario and profile")
        action.set_defaults(run=run_check if name == "check" else run_update)


def _scenario_errors(exc: ScenarioError) -> int:
    for problem in exc.errors:
        print(f"duis golden: {problem}", file=sys.stderr)
    return exc.exit_code


def _say_skipped(skipped: list[Path]) -> None:
    if skipped:
        print(f"skipped {len(skipped)} .toml file(s) without a [scenario] table: "
              + ", ".join(str(p) for p in skipped), file=sys.stderr)


def _none_found(args: argparse.Namespace) -> None:
    """Refuse paths that hold no scenario, unless ``--allow-empty``."""
    if not args.allow_empty and not scenario_files(args.paths).scenarios:
        raise InputError("no scenario found", source=", ".join(args.paths),
                         expected="scenario files (a .toml file with a [scenario] table) in "
                                  "the paths given (or --allow-empty)", found="none")


def run_check(args: argparse.Namespace) -> int:
    use_schema(args)
    started = time.perf_counter()
    _none_found(args)
    skipped = scenario_files(args.paths).skipped
    try:
        results = check(args.paths)
    except ScenarioError as exc:
        if args.json:
            _print_json([], skipped, exc.errors)
        if args.junit_xml:
            _write_junit(args.junit_xml, [], skipped, exc.errors, started)
        return _scenario_errors(exc)
    if args.json:
        _print_json(results, skipped, [])
    else:
        _say_skipped(skipped)
        for result in results:
            if not (args.quiet and result.passed):
                print(result.report())
    failed = sum(not r.passed for r in results)
    if not args.json:
        print(f"{len(results)} transcripts: {len(results) - failed} match, {failed} differ")
    if args.junit_xml:
        sys.stdout.flush()
        _write_junit(args.junit_xml, results, skipped, [], started)
    return 1 if failed else 0


def _as_dict(result: GoldenResult) -> dict:
    return {"scenario": result.scenario, "profile": result.profile,
            "status": "match" if result.passed else "differ", "golden": str(result.folder),
            "expectations_failed": list(result.expectations_failed),
            "missing": list(result.missing), "unexpected": list(result.unexpected),
            "differences": [{"file": name, "diff": diff} for name, diff in result.diffs.items()]}


def _print_json(results: list[GoldenResult], skipped: list[Path],
                errors: list[ScenarioError]) -> None:
    import json
    failed = sum(not r.passed for r in results)
    json.dump({"summary": {"transcripts": len(results), "match": len(results) - failed,
                           "differ": failed},
               "results": [_as_dict(r) for r in results],
               "skipped": [str(p) for p in skipped],
               "errors": [e.as_dict() for e in errors]}, sys.stdout, indent=2)
    print()


def _failure(result: GoldenResult) -> str | None:
    """The one-line failure of a transcript that differs (``None`` when it matches)."""
    if result.passed:
        return None
    parts = [f"{len(items)} {what}" for items, what in (
        (result.expectations_failed, "expectation(s) failed"),
        (result.diffs, "file(s) differ"), (result.missing, "missing from the goldens"),
        (result.unexpected, "golden(s) no longer produced")) if items]
    return "MISMATCH: " + ", ".join(parts)


def _write_junit(target: str, results: list[GoldenResult], skipped: list[Path],
                 errors: list[ScenarioError], started: float) -> None:
    from ..junit import Case, junit_xml
    cases = [Case(result.profile, f"golden.{result.scenario}", failure=_failure(result),
                  details="" if result.passed else result.report()) for result in results]
    cases += [Case(str(error.source or "scenario"), "golden", error=str(error))
              for error in errors]
    cases += [Case(str(path), "golden", skipped="not a scenario (no [scenario] table)")
              for path in skipped]
    write_output(junit_xml("duis golden check", cases,
                           seconds=time.perf_counter() - started), target)


def run_update(args: argparse.Namespace) -> int:
    use_schema(args)
    _none_found(args)
    try:
        results = update(args.paths)
    except ScenarioError as exc:
        return _scenario_errors(exc)
    _say_skipped(scenario_files(args.paths).skipped)
    for result in results:
        if result.status == "refused" or not args.quiet:
            print(result.report())
    counts = {status: sum(r.status == status for r in results)
              for status in ("written", "unchanged", "refused")}
    print(f"{len(results)} golden transcripts: {counts['written']} written, "
          f"{counts['unchanged']} unchanged, {counts['refused']} refused")
    return 1 if counts["refused"] else 0
