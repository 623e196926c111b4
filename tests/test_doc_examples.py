"""Every shell and Python example in README.md and docs/*.md runs as written.

The examples are read from the Markdown files themselves (nothing is copied
here) and run outside the checkout, the way a reader runs them after
``pip install duis``.

The convention a Markdown file follows:

* A fenced block tagged ```` ```python ````, ```` ```sh ````, ```` ```bash ```` or
  ```` ```console ```` is an example and is run. Every other block names what it
  holds: ```` ```text ```` for output or a usage line, ```` ```toml ````,
  ```` ```xml ````, ```` ```json ````; a fence without a language is refused.
* Each Markdown file gets a fresh, empty working directory outside the
  checkout, holding only a copy of the repository's ``samples/`` (which the
  command-line examples name, as a reader with a clone would); its examples run
  there in the order of the file, so a later block sees the files an earlier
  one wrote.
* A shell block: the lines that start with ``$ `` are commands (a line ending
  in ``\\`` continues on the next), the other lines the output they print. A
  shown output line without ``...`` must appear in what the command printed;
  ``...`` marks output left out; runs of spaces compare as one, and machine
  figures (times such as ``17.0 s``, memory such as ``68 MB``, the numbers of
  a line about a rate ``per second``) match any value. A block without any
  ``$ `` line is a script: every line is a command. Each command runs in a
  ``bash -o pipefail`` of its own (a ``cd`` or an ``export`` does not carry
  over) with the installed ``duis`` on ``PATH`` and must exit 0, unless its
  comment says ``exit N`` (``duis validate bad.xml   # exit 1: invalid``).
* A Python block runs as a script of its own with the installed package, and
  must not name ``samples/``: a pip user has no such folder (the packaged test
  PKI, default world and schema are reached through the library's defaults).
* A block that cannot run on its own says so in an HTML comment on the line
  just before its fence (invisible once rendered):

  - ``<!-- example: continues -->``: a Python block that goes on from the
    previous Python block of the file (they run as one script);
  - ``<!-- example: pytest -->``: a Python block of pytest tests (the duis
    plugin's fixture, say): written as a test file in the working directory
    and run by pytest, which must pass at least one test;
  - ``<!-- example: slow -->``: runs only with the tests marked ``slow``
    (``make test-slow``), e.g. a simulation of 10,000 meters;
  - ``<!-- example: skip REASON -->``: not run, for the reason given (a live
    ``duis serve`` started by an earlier block, a placeholder path, a command
    of the checkout's Makefile); the reason is required.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SHELL = {"sh", "bash", "console"}
RUN = SHELL | {"python"}
FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
DIRECTIVE = re.compile(r"<!--\s*example:\s*(\w+)\s*(.*?)\s*-->")
EXPECTED_EXIT = re.compile(r"#[^\n]*\bexit (\d+)\b")
MACHINE_FIGURE = re.compile(r"\d[\d,.]*\s?(?:ms|s|KB|MB|GB|KiB|MiB|GiB)\b")
NUMBER = re.compile(r"\d[\d,.]*")
TIMEOUT = 120
DIRECTIVES = ("continues", "pytest", "slow", "skip")


@dataclass
class Block:
    doc: Path
    line: int                # the line of the opening fence
    language: str
    text: str
    directive: str = ""      # continues, slow, skip (or "")
    reason: str = ""

    @property
    def where(self) -> str:
        doc = self.doc.relative_to(ROOT) if self.doc.is_relative_to(ROOT) else self.doc
        return f"{doc}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the directive before each."""
    text = doc.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip().splitlines()
        directive = DIRECTIVE.fullmatch(before[-1].strip()) if before else None
        found.append(Block(doc, text.count("\n", 0, match.start()) + 1, match.group(1),
                           match.group(2),
                           directive.group(1) if directive else "",
                           directive.group(2) if directive else ""))
    return found


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """A shell block's commands, each with the output lines shown after it."""
    lines = block.text.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    found: list[tuple[str, list[str]]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if prompted and not line.startswith("$ "):
            if found and line.strip():
                found[-1][1].append(line)
            continue
        if not prompted and (not line.strip() or line.lstrip().startswith("#")):
            continue
        command = line[2:] if prompted else line
        while command.rstrip().endswith("\\") and index < len(lines):
            command += "\n" + lines[index]
            index += 1
        found.append((command, []))
    return found


def comparable(line: str) -> str:
    """An output line as it is compared: spaces collapsed, machine figures blanked."""
    line = MACHINE_FIGURE.sub("#", " ".join(line.split()))
    return NUMBER.sub("#", line) if "per second" in line else line


def problems_in_form(block: Block) -> list[str]:
    """What breaks the convention, whether or not the block is run."""
    problems = []
    if not block.language:
        problems.append(f"{block.where}: a fence without a language: tag it "
                        f"(```text for output, ```sh or ```python for an example)")
    if block.directive and block.directive not in DIRECTIVES:
        problems.append(f"{block.where}: unknown directive {block.directive!r} "
                        f"(expected continues, pytest, slow or skip REASON)")
    if block.directive == "pytest" and block.language != "python":
        problems.append(f"{block.where}: <!-- example: pytest --> on a ```{block.language} "
                        f"block")
    if block.directive == "skip" and not block.reason:
        problems.append(f"{block.where}: <!-- example: skip --> needs a reason")
    if block.directive and block.language not in RUN:
        problems.append(f"{block.where}: a directive on a ```{block.language} block, "
                        f"which is not run anyway")
    if block.language == "python" and block.directive != "skip" and "samples/" in block.text:
        problems.append(f"{block.where}: a Python example names samples/, which a pip "
                        f"user does not have (use the library's defaults)")
    if block.language in SHELL and not commands(block):
        problems.append(f"{block.where}: a shell block without a command")
    if (block.language in SHELL and block.directive != "skip"
            and any(command.split("#")[0].rstrip().endswith("&") for command, _ in
                    commands(block))):
        problems.append(f"{block.where}: a command left running in the background: "
                        f"skip the block, with the reason")
    return problems


def package_only_environment(folder: Path) -> dict[str, str]:
    """An environment as after ``pip install duis``: this interpreter's ``bin``
    (where ``duis`` is installed) first on PATH; ``duis`` importable from this
    checkout through a link in ``folder`` (and nothing else of the checkout: the
    tests, tools and samples are not on the path); no ``DUIS_*`` or ``PYTHON*``
    settings of the caller."""
    (folder / "duis").symlink_to(ROOT / "duis", target_is_directory=True)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DUIS_", "PYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(folder)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment the examples run in (:func:`package_only_environment`)."""
    return package_only_environment(tmp_path_factory.mktemp("doc-examples-path"))


def run_doc(doc: Path, workdir: Path, env: dict[str, str], *, slow: bool,
            samples: Path | None = ROOT / "samples") -> list[str]:
    """Run a Markdown file's examples in ``workdir`` (created if need be, with a
    copy of ``samples``) with the ``duis`` and ``python`` found on ``env``'s PATH (also
    a virtual environment's, tests/test_wheel_install.py); the failures, each
    naming the file and line of its block."""
    workdir.mkdir(parents=True, exist_ok=True)
    if samples is not None:
        shutil.copytree(samples, workdir / "samples")
    scripts = workdir.parent / f"{workdir.name}-scripts"
    scripts.mkdir()
    failures: list[str] = []
    pending: list[Block] = []     # a Python block and those that continue it

    def run_python() -> None:
        if not pending:
            return
        script = scripts / f"example_{pending[0].line}.py"
        script.write_text("\n".join(block.text for block in pending), encoding="utf-8")
        where = ", ".join(block.where for block in pending)
        pending.clear()
        python = shutil.which("python", path=env["PATH"]) or sys.executable
        done = subprocess.run([python, str(script)], cwd=workdir, env=env,
                              stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=TIMEOUT)
        if done.returncode:
            failures.append(f"{where}: the Python example exited {done.returncode}\n"
                            f"{done.stdout[-2000:]}{done.stderr[-3000:]}")

    for block in blocks(doc):
        if block.language not in RUN or block.directive == "skip":
            continue
        if block.directive == "slow" and not slow:
            continue
        if block.directive == "pytest":
            run_python()
            failures += run_pytest(block, workdir, env)
            continue
        if block.language == "python":
            if block.directive != "continues":
                run_python()
            pending.append(block)
            continue
        run_python()
        for command, shown in commands(block):
            expected = EXPECTED_EXIT.search(command)
            status = int(expected.group(1)) if expected else 0
            done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=workdir,
                                  env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=TIMEOUT)
            printed = {comparable(line) for line in f"{done.stdout}\n{done.stderr}".splitlines()}
            missing = [line for line in shown
                       if "..." not in line and comparable(line) not in printed]
            if done.returncode != status or missing or "Traceback" in done.stderr:
                failures.append(
                    f"{block.where}: $ {command}\n  exit {done.returncode} "
                    f"(expected {status})"
                    + "".join(f"\n  shown but not printed: {line}" for line in missing)
                    + f"\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    run_python()
    return failures


def run_pytest(block: Block, workdir: Path, env: dict[str, str]) -> list[str]:
    """Run a block of pytest tests as a test file in ``workdir``; its failure, or []."""
    test_file = workdir / f"test_doc_example_{block.line}.py"
    test_file.write_text(block.text, encoding="utf-8")
    python = shutil.which("python", path=env["PATH"]) or sys.executable
    try:
        done = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               test_file.name], cwd=workdir, env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    finally:
        test_file.unlink()
    if done.returncode == 0 and " passed" in done.stdout:
        return []
    return [f"{block.where}: the pytest example exited {done.returncode}\n"
            f"{done.stdout[-3000:]}{done.stderr[-2000:]}"]


def test_the_examples_follow_the_convention():
    problems = [problem for doc in DOCS for block in blocks(doc)
                for problem in problems_in_form(block)]
    assert not problems, "\n".join(problems)


def test_the_convention_reads_blocks_as_documented(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "intro\n\n```sh\n$ duis validate a.xml \\\n    b.xml   # exit 1\nout: 1\n...\n"
        "$ true\n```\n\n<!-- example: skip needs a server -->\n```sh\nduis serve\n"
        "# a comment\nduis send x \\\n  --to y\n```\n\n```\nbare\n```\n"
        "\n<!-- example: continues -->\n```python\nprint(samples/x)\n```\n", encoding="utf-8")
    shell, skipped, bare, python = blocks(doc)
    assert (shell.line, shell.language, shell.directive) == (3, "sh", "")
    assert commands(shell) == [("duis validate a.xml \\\n    b.xml   # exit 1", ["out: 1", "..."]),
                               ("true", [])]
    assert EXPECTED_EXIT.search(commands(shell)[0][0]).group(1) == "1"
    assert (skipped.directive, skipped.reason) == ("skip", "needs a server")
    assert commands(skipped) == [("duis serve", []), ("duis send x \\\n  --to y", [])]
    assert python.directive == "continues"
    assert comparable("wall time    17.0 s   4 ms  (30,543 messages, 68 MB)") == \
        "wall time # # (30,543 messages, #)"
    assert comparable("messages per second   2,242  669") == "messages per second # #"
    assert comparable("  line 3: expected sr:X") == "line 3: expected sr:X"
    assert [p.split(": ", 1)[1][:26] for p in problems_in_form(bare)] == \
        ["a fence without a language"]
    assert problems_in_form(python) == [
        f"{python.where}: a Python example names samples/, which a pip user does not "
        f"have (use the library's defaults)"]


def test_a_failing_example_is_reported_with_its_file_and_line(tmp_path: Path, environment):
    doc = tmp_path / "bad.md"
    doc.write_text("```sh\n$ echo hello\nhello\ngoodbye\n$ false\n$ (exit 3)   # exit 3\n```\n"
                   "\n```python\nx = 4\n```\n<!-- example: continues -->\n```python\n"
                   "raise SystemExit(x)\n```\n<!-- example: pytest -->\n```python\n"
                   "def test_it():\n    assert 1 == 2\n```\n", encoding="utf-8")
    failures = run_doc(doc, tmp_path / "work", environment, slow=False, samples=None)
    assert [failure.splitlines()[:3] for failure in failures[:3]] == [
        [f"{doc}:1: $ echo hello", "  exit 0 (expected 0)", "  shown but not printed: goodbye"],
        [f"{doc}:1: $ false", "  exit 1 (expected 0)"],
        [f"{doc}:9, {doc}:13: the Python example exited 4"],
    ]
    (pytest_failure,) = failures[3:]
    assert pytest_failure.startswith(f"{doc}:17: the pytest example exited 1\n")
    assert "assert 1 == 2" in pytest_failure


#: docs whose examples take seconds (the README runs scenarios and golden checks):
#: make test-slow (CI) runs them
HEAVY = {"README.md", "keys.md", "mp102b.md", "secmp0024.md"}


@pytest.mark.parametrize("doc", [pytest.param(doc, marks=pytest.mark.slow)
                                 if doc.name in HEAVY else doc for doc in DOCS],
                         ids=lambda doc: doc.name)
def test_the_examples_run_as_written(doc: Path, tmp_path: Path, environment):
    failures = run_doc(doc, tmp_path / "work", environment, slow=False)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("doc", [doc for doc in DOCS
                                 if any(b.directive == "slow" for b in blocks(doc))],
                         ids=lambda doc: doc.name)
def test_the_examples_run_as_written_slow_ones_included(doc: Path, tmp_path: Path, environment):
    failures = run_doc(doc, tmp_path / "work", environment, slow=True)
    assert not failures, "\n\n".join(failures)
