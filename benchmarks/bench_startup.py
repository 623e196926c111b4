"""Start-up figures: what one ``duis`` call costs, beside xmllint on the same file.

Teams run ``duis validate`` once per file from scripts, git hooks and CI
loops, so a call's whole-process wall time is what they feel.  Prints medians
of whole processes measured in this run, each beside its goal (issue: start-up):

* ``duis --version`` and ``duis --help`` under 60 ms;
* ``duis validate ONE.xml``, with the bundled schema and with the official
  DUIS 5.4 schema (``--schema-dir``), within 3 times ``xmllint --noout
  --schema`` on the same file with the official schema (schema compilation
  included in both);
* importing the pytest plugin (``duis.pytest_plugin``, loaded by every pytest
  run in an environment where duis is installed) under 20 ms.

Then, for scripts that can pass many files at once, one call over the valid
samples (no goal: the schema is compiled once, whatever the number of files).

The xmllint figure is skipped, with the reason, when xmllint or the official
schema (``../shared/reference/duis-schema-5.4``, or ``$DUIS_OFFICIAL_SCHEMA``)
is absent.  ``DUIS_BENCH_RUNS`` sets the runs per figure (default 21).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "messages" / "valid" / "8.2_read_inventory_request.xml"
#: one call over many files compiles the schema once: these, for the figures of a batch
BATCH = sorted((ROOT / "samples" / "messages" / "valid").glob("*.xml"))
OFFICIAL = Path(os.environ.get("DUIS_OFFICIAL_SCHEMA",
                               ROOT.parent / "shared" / "reference" / "duis-schema-5.4"))
OFFICIAL_MAIN = "DUIS Schema V5.4.xsd"
RUNS = int(os.environ.get("DUIS_BENCH_RUNS", "21"))

CLI_GOAL_MS = 60.0
VALIDATE_GOAL_RATIO = 3.0
PLUGIN_GOAL_MS = 20.0

#: the least any Python validator pays: the interpreter, lxml, compiling the
#: schema and validating the file, nothing of duis
_FLOOR_PROBE = ("import sys\n"
                "from lxml import etree\n"
                "schema = etree.XMLSchema(file=sys.argv[1])\n"
                "sys.exit(0 if schema.validate(etree.parse(sys.argv[2])) else 1)\n")

_PLUGIN_PROBE = ("import time, pytest\n"
                 "start = time.perf_counter()\n"
                 "import duis.pytest_plugin\n"
                 "print((time.perf_counter() - start) * 1000)\n")


def duis_command() -> list[str]:
    """``duis`` as users run it: the console script beside this interpreter."""
    script = Path(sys.executable).parent / "duis"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "duis.cli"]


def child_env(cache: Path) -> tuple[dict[str, str], str | None]:
    """The children's environment; with bytecode writes allowed, as an installed
    duis has them (``PYTHONDONTWRITEBYTECODE`` would make every run compile
    duis from source)."""
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env["PYTHONPYCACHEPREFIX"] = str(cache)
        return env, f"PYTHONDONTWRITEBYTECODE dropped for the runs (bytecode in {cache})"
    return env, None


def xmllint_schema(folder: Path) -> tuple[Path | None, str]:
    """The official main schema file for xmllint, or ``None`` and why not.

    The official files' names contain spaces; libxml2 versions that cannot
    resolve such an import location get a copy whose import locations are
    percent-encoded (as duis does in memory), the files otherwise as published.
    """
    if shutil.which("xmllint") is None:
        return None, "skipped: xmllint not found (Debian: apt-get install libxml2-utils)"
    main = OFFICIAL / OFFICIAL_MAIN
    if not main.is_file():
        return None, f"skipped: official schema not found ({main})"
    probe = subprocess.run(["xmllint", "--noout", "--schema", str(main), str(SAMPLE)],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return main, "official files as published"
    copy = folder / "official"
    copy.mkdir()
    for path in OFFICIAL.iterdir():
        if path.is_file():
            text = path.read_bytes()
            if path.suffix == ".xsd":
                text = re.sub(rb'schemaLocation="([^"]*)"',
                              lambda m: b'schemaLocation="' + m.group(1).replace(b" ", b"%20")
                              + b'"', text)
            (copy / path.name).write_bytes(text)
    probe = subprocess.run(["xmllint", "--noout", "--schema", str(copy / OFFICIAL_MAIN),
                            str(SAMPLE)], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"skipped: xmllint rejects the official schema: {probe.stderr[-200:]}"
    return copy / OFFICIAL_MAIN, "official files, import locations percent-encoded"


def median_ms(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, float]:
    """Median wall time of each command, run in turn ``RUNS`` times (after one
    warm-up run each, which also checks it succeeds)."""
    for name, command in commands.items():
        done = subprocess.run(command, capture_output=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{name} failed ({done.returncode}): {command}\n"
                             f"{done.stderr.decode(errors='replace')[-500:]}")
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, env=env)
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def plugin_import_ms(env: dict[str, str]) -> float:
    """Median time of ``import duis.pytest_plugin`` in a process that has pytest."""
    values = []
    for _ in range(RUNS):
        done = subprocess.run([sys.executable, "-c", _PLUGIN_PROBE], capture_output=True,
                              text=True, env=env, check=True)
        values.append(float(done.stdout))
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


def main() -> None:
    duis = duis_command()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env, note = child_env(folder / "pycache")
        lint_schema, lint_note = xmllint_schema(folder)
        commands = {
            "duis --version": [*duis, "--version"],
            "duis --help": [*duis, "--help"],
            "duis validate (bundled)": [*duis, "validate", str(SAMPLE)],
        }
        batch = [str(path) for path in BATCH]
        commands["duis validate (bundled), batch"] = [*duis, "validate", "-q", *batch]
        if (OFFICIAL / OFFICIAL_MAIN).is_file():
            commands["duis validate (official)"] = [*duis, "validate", "--schema-dir",
                                                    str(OFFICIAL), str(SAMPLE)]
            commands["duis validate (official), batch"] = [
                *duis, "validate", "-q", "--schema-dir", str(OFFICIAL), *batch]
        if lint_schema is not None:
            commands["xmllint (official)"] = ["xmllint", "--noout", "--schema",
                                              str(lint_schema), str(SAMPLE)]
            commands["xmllint (official), batch"] = ["xmllint", "--noout", "--schema",
                                                     str(lint_schema), *batch]
            commands["python + lxml alone (official)"] = [
                sys.executable, "-c", _FLOOR_PROBE, str(lint_schema), str(SAMPLE)]
        figures = median_ms(commands, env)
        plugin = plugin_import_ms(env)
    print(f"whole-process wall time, median of {RUNS} runs each, on {SAMPLE.name} "
          f"(duis: {' '.join(duis)}):")
    if note:
        print(f"  ({note})")
    for name in ("duis --version", "duis --help"):
        ms = figures[name]
        print(f"  {name:28s} {ms:7.1f} ms   goal < {CLI_GOAL_MS:.0f} ms: "
              f"{verdict(ms < CLI_GOAL_MS)}")
    lint = figures.get("xmllint (official)")
    if lint is not None:
        print(f"  {'xmllint --noout --schema':28s} {lint:7.1f} ms   ({lint_note}); "
              f"goal for duis validate <= {VALIDATE_GOAL_RATIO:.0f} x = "
              f"{VALIDATE_GOAL_RATIO * lint:.1f} ms")
    else:
        print(f"  {'xmllint --noout --schema':28s} {lint_note}")
    for name in ("duis validate (bundled)", "duis validate (official)"):
        if name not in figures:
            print(f"  {name:28s} skipped: official schema not found ({OFFICIAL})")
            continue
        ms = figures[name]
        if lint is None:
            print(f"  {name:28s} {ms:7.1f} ms   (no xmllint figure to compare with)")
            continue
        ratio = ms / lint
        print(f"  {name:28s} {ms:7.1f} ms   {ratio:4.1f} x xmllint, goal <= "
              f"{VALIDATE_GOAL_RATIO:.0f} x: {verdict(ratio <= VALIDATE_GOAL_RATIO)}")
    floor = figures.get("python + lxml alone (official)")
    if floor is not None and lint is not None:
        print(f"  {'python + lxml alone':28s} {floor:7.1f} ms   {floor / lint:4.1f} x xmllint "
              f"(the official schema compiled, the file validated, no duis: the least a "
              f"Python validator pays per process)")
    print(f"  {'import duis.pytest_plugin':28s} {plugin:7.1f} ms   goal < {PLUGIN_GOAL_MS:.0f} ms: "
          f"{verdict(plugin < PLUGIN_GOAL_MS)} (in a process that has imported pytest)")
    print(f"one call over the {len(BATCH)} valid samples (the schema compiled once), median "
          f"of {RUNS} runs:")
    for name in ("duis validate (bundled), batch", "duis validate (official), batch",
                 "xmllint (official), batch"):
        if name in figures:
            ms, one = figures[name], figures[name.removesuffix(", batch")]
            print(f"  {name:33s} {ms:7.1f} ms   {ms / len(BATCH):4.1f} ms a file; "
                  f"{(ms - one) / (len(BATCH) - 1):4.1f} ms for each file after the first")


if __name__ == "__main__":
    main()
