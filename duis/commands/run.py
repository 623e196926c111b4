"""``duis run SCENARIO``: run a scenario and write its transcript."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..profiles import profiles
from ..scenario import ScenarioError, read_scenario, run_scenario
from ._io import add_schema_option, add_store_option, path_argument, store_from, use_schema


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        description="Run a scenario file (world, profile, clock, steps; see docs/scenarios.md) "
                    "under each of its behaviour profiles, or the one given, and write the "
                    "transcript: every message in and out as numbered signed XML files, the "
                    "MMC XML of device replies, summary.txt and smi-changes.txt. Exit status: "
                    "0 every expectation met, 1 some not met, 2 unusable scenario.",
        epilog="examples:\n  duis run scenarios/my-story.toml\n"
               "  duis run --profile baseline -o out/ SCENARIO.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", metavar="SCENARIO", help="a scenario file (TOML)")
    parser.add_argument("--profile", choices=list(profiles()), default=None,
                        help="run under this profile only (default: the scenario's profiles)")
    parser.add_argument("-o", "--output", metavar="DIR", default=None, type=path_argument,
                        help="write transcripts to DIR/<profile>/ (default: "
                             "./transcripts/<scenario name>/)")
    add_store_option(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print one line per profile instead of the summaries")
    parser.add_argument("--story", action="store_true",
                        help="print one line per step (what was answered, what the SMI says)")
    add_schema_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    use_schema(args)
    try:
        scenario = read_scenario(args.scenario)
    except ScenarioError as exc:
        for problem in exc.errors:
            print(f"duis run: {problem}", file=sys.stderr)
        if args.json:
            json.dump({"error": exc.as_dict(), "errors": [p.as_dict() for p in exc.errors],
                       "exit_code": exc.exit_code}, sys.stdout, indent=2)
            print()
        return exc.exit_code
    chosen = [args.profile] if args.profile else list(scenario.profiles)
    base = Path(args.output) if args.output else Path("transcripts") / scenario.name
    results = []
    store = store_from(args) if args.store else None
    for name in chosen:
        transcript = run_scenario(scenario, name, store=store)
        folder = transcript.write(base / name)
        results.append({"profile": name, "passed": transcript.passed,
                        "messages": sum(1 for f, _ in transcript.files
                                        if not f.endswith(".mmc.xml")),
                        "failures": [{"step": c.step, "what": c.what, "expected": c.expected,
                                      "found": c.found} for c in transcript.failures],
                        "transcript": str(folder)})
        if not args.json:
            if args.story:
                print(transcript.story())
            elif args.quiet:
                state = "passed" if transcript.passed else "FAILED"
                print(f"{scenario.name} [{name}]: {state} -> {folder}")
            else:
                print(transcript.summary())
                print(f"transcript: {folder}\n")
    if args.json:
        json.dump({"scenario": scenario.name, "results": results}, sys.stdout, indent=2,
                  default=str)           # an expected or found value JSON has no type for
        print()
    return 0 if all(r["passed"] for r in results) else 1
