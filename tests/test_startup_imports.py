"""What a ``duis`` call imports: only what the command it runs needs.

Teams run ``duis validate`` once per file from scripts, git hooks and CI
loops, and the pytest plugin is loaded by every pytest run in an environment
where duis is installed, so start-up is paid again and again.  These tests run
each call in a fresh interpreter and check which modules it imported; no test
here measures a time (``benchmarks/bench_startup.py`` prints the figures).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import duis.cli
from duis.cli import COMMANDS, SUMMARIES, build_parser, chosen_command, command_name

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "samples" / "messages" / "valid" / "8.2_read_inventory_request.xml"
INVALID = ROOT / "samples" / "messages" / "invalid" / "11.2_two_bodies_request.xml"

#: runs ``duis.cli.main`` on argv[2:], then writes its exit code and
#: ``sorted(sys.modules)`` (taken before this probe imports json) to argv[1]
_PROBE = """
import sys
from duis.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
modules = sorted(sys.modules)
import json
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": modules}, out)
"""

#: never needed to parse arguments, print help or validate against a schema
HEAVY = ("aiohttp", "matplotlib", "numpy", "cryptography", "signxml", "multidict", "yarl",
         "asyncio", "ssl", "sqlite3", "multiprocessing", "concurrent")

#: everything of duis that ``duis validate`` may import: the command, the
#: schema package and what it stands on (layer 0)
VALIDATE_NEEDS = {"duis", "duis.cli", "duis.errors", "duis.namespaces", "duis.xmlparse",
                  "duis.schema", "duis.schema.loader", "duis.schema.report",
                  "duis.schema.validate", "duis.commands", "duis.commands.validate",
                  "duis.commands._io"}

#: the standard library's modules ``duis validate`` does without, each some
#: milliseconds of every call: pathlib (it imports urllib.parse, which imports
#: ipaddress), dataclasses (a dataclass's methods are generated and compiled
#: when its module is imported), shutil (it loads the bz2 and lzma extensions;
#: argparse imports it to ask the terminal's width) and json (for --json only)
STDLIB_SPARED = ("pathlib", "urllib", "ipaddress", "dataclasses", "shutil", "bz2", "lzma", "json")


def imported(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    """(exit code, modules imported) of ``duis ARGV`` run in a fresh interpreter."""
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", _PROBE, str(out), *argv], cwd=ROOT,
                          capture_output=True, text=True)
    assert out.exists(), done.stderr
    result = json.loads(out.read_text())
    return result["code"], set(result["modules"])


def duis_modules(modules: set[str]) -> set[str]:
    return {name for name in modules if name == "duis" or name.startswith("duis.")}


def heavy(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in HEAVY}


def spared(modules: set[str]) -> set[str]:
    """The modules of :data:`STDLIB_SPARED` that were imported after all."""
    return {name for name in modules if name.split(".")[0] in STDLIB_SPARED}


def test_validate_imports_only_what_validation_needs(tmp_path):
    code, modules = imported(tmp_path, "validate", str(VALID))
    assert code == 0
    assert duis_modules(modules) <= VALIDATE_NEEDS, duis_modules(modules) - VALIDATE_NEEDS
    assert heavy(modules) == set()
    assert spared(modules) == set()
    assert "lxml.etree" in modules
    # xmlschema builds the detailed report of an invalid document, and only that
    assert "xmlschema" not in modules


def test_validate_of_an_invalid_document_adds_only_the_report_builder(tmp_path):
    code, modules = imported(tmp_path, "validate", str(INVALID))
    assert code == 1
    assert duis_modules(modules) <= VALIDATE_NEEDS, duis_modules(modules) - VALIDATE_NEEDS
    assert heavy(modules) <= {"ssl"}  # xmlschema's own (it imports urllib.request)
    assert "xmlschema" in modules


def test_validate_with_the_official_schema_imports_the_same(tmp_path, official_schema_dir):
    code, modules = imported(tmp_path, "validate", "--schema-dir", str(official_schema_dir),
                             str(VALID))
    assert code == 0
    assert duis_modules(modules) <= VALIDATE_NEEDS, duis_modules(modules) - VALIDATE_NEEDS
    assert heavy(modules) == set() and "xmlschema" not in modules
    assert spared(modules) == set()  # the names' spaces are percent-encoded without urllib


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["-h", "validate"], ["validat"], []],
                         ids=["help", "version", "help-before-command", "typo", "nothing"])
def test_top_level_calls_import_no_command(tmp_path, argv):
    code, modules = imported(tmp_path, *argv)
    assert code == (2 if argv in (["validat"], []) else 0)
    assert duis_modules(modules) <= {"duis", "duis.cli", "duis.errors"}
    assert "lxml" not in modules and heavy(modules) == set()
    assert spared(modules) == set()  # argparse's help width found without shutil


def test_a_command_help_imports_that_command_alone(tmp_path):
    code, modules = imported(tmp_path, "validate", "--help")
    assert code == 0
    assert duis_modules(modules) <= VALIDATE_NEEDS
    assert heavy(modules) == set()


def test_loading_the_pytest_plugin_imports_nothing_else_of_duis():
    probe = ("import sys, pytest\n"
             "before = set(sys.modules)\n"
             "import duis.pytest_plugin\n"
             "print(' '.join(sorted(set(sys.modules) - before)))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert set(done.stdout.split()) <= {"duis", "duis.pytest_plugin"}


# --- every command is still listed, and complete -----------------------------

def test_every_command_module_is_listed_with_its_one_line_help():
    modules = {p.stem for p in (ROOT / "duis" / "commands").glob("*.py")
               if not p.stem.startswith("_")}
    assert set(COMMANDS) == modules
    assert set(SUMMARIES) == set(COMMANDS)
    assert all(SUMMARIES[name].strip() for name in COMMANDS)


def test_duis_help_lists_every_command_with_its_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        duis.cli.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for module in COMMANDS:
        assert f"{command_name(module)} {SUMMARIES[module]}" in text


@pytest.mark.parametrize("module", COMMANDS)
def test_each_command_help_is_complete(module, capsys):
    parser = build_parser(module)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([command_name(module), "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: duis {command_name(module)} ")
    # the command's own description and options, not a stand-in's bare usage
    assert re.search(r"^(options|positional arguments):", out, re.MULTILINE)
    assert len(out.splitlines()) > 4


@pytest.mark.parametrize(("argv", "module"), [
    (["validate", "a.xml"], "validate"),
    (["hub-firmware", "list"], "hub_firmware"),
    (["suppression-log", "--smi", "x"], "suppression_log"),
    (["--", "validate", "a.xml"], "validate"),
    (["-x", "validate"], "validate"),       # argparse rejects -x; the command is still found
    (["hub_firmware"], None),                # not a command name: argparse says so
    (["--help", "validate"], None),          # the top-level help lists every command
    (["--he", "validate"], None),
    (["--version"], None),
    ([], None),
])
def test_the_command_is_found_as_argparse_finds_it(argv, module):
    assert chosen_command(argv) == module


@pytest.mark.parametrize("columns", [None, "50", "200", "0", "-3", "abc", ""])
def test_the_help_width_is_the_one_argparse_would_ask_shutil_for(columns, monkeypatch):
    import shutil
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert duis.cli._help_width() == shutil.get_terminal_size().columns - 2
    parser = build_parser("validate")
    assert parser._get_formatter()._width == argparse.HelpFormatter("duis")._width
