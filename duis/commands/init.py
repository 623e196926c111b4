"""``duis init DIR``: a small working project for an adaptor team.

The files are package data (``duis/starter/``; a Python file there is stored
as ``NAME.py.txt`` so that the package's linters and import rules leave it
alone, and written as ``NAME.py``). The golden transcripts are not stored:
they are produced here by running the starter's scenarios, so they always
match the installed duis. Everything is written into a temporary folder beside
DIR and moved into place once complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

STARTER = Path(__file__).resolve().parents[1] / "starter"
#: the suffix of a stored Python file (``tools/x.py.txt`` is written as ``tools/x.py``)
STORED = ".txt"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "init",
        description="Write a small working project for an adaptor team into DIR: a world, "
                    "DCC settings, sample request messages, two scenarios with their golden "
                    "transcripts (produced now, by running them), a script that validates, "
                    "signs and verifies the messages with the duis library, a pytest file "
                    "using the duis plugin, and a README of the next steps. DIR must be "
                    "absent or empty unless --force. Exit status: 0 written, 2 refused "
                    "(DIR not empty, not writable).",
        epilog="example:\n  duis init my-adaptor && cd my-adaptor && duis golden check scenarios/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", metavar="DIR", help="the folder to create (or an empty one)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty DIR, replacing the files of the same "
                             "names as the starter's (every other file is left alone)")
    parser.set_defaults(run=run)


def starter_files() -> list[tuple[Path, Path]]:
    """(source in the package, path relative to the new project) of every starter file."""
    found = []
    for source in sorted(STARTER.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            relative = source.relative_to(STARTER)
            if relative.name.endswith(".py" + STORED):
                relative = relative.with_name(relative.name[:-len(STORED)])
            found.append((source, relative))
    return found


def write_starter(folder: Path) -> list[str]:
    """Write the starter into ``folder`` (existing, empty) and its goldens; the
    problems (a scenario whose run fails: a defect of duis), or []."""
    from ..scenario.golden import update
    for source, relative in starter_files():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / relative)
    updated = update([folder / "scenarios"])
    return [u.report() for u in updated if u.status == "refused"]


def _refusal(target: Path, force: bool) -> str | None:
    if target.exists() and not target.is_dir():
        return f"{target} exists and is not a folder"
    if target.is_dir() and any(target.iterdir()) and not force:
        return (f"{target} is not empty (expected an absent or empty folder; --force writes "
                f"the starter into it, replacing its files of the same names)")
    return None


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    refused = _refusal(target, args.force)
    if refused:
        print(f"duis init: {refused}", file=sys.stderr)
        return 2
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-init-", dir=target.parent))
    except OSError as exc:
        print(f"duis init: cannot write beside {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        problems = write_starter(staging)
        if problems:
            print("duis init: the starter's scenarios failed (a defect of duis, please "
                  "report it):\n" + "\n".join(problems), file=sys.stderr)
            return 2
        _move_into(staging, target)
    except Conflict as exc:
        print(f"duis init: {exc} (expected the starter's layout; nothing was written)",
              file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"duis init: cannot write {target}: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote a duis starter project into {target}/ (see its README.md):")
    for top in sorted(p.name for p in staging_names()):
        print(f"  {top}")
    print(f"next: cd {target} && python tools/validate_samples.py && "
          f"duis golden check scenarios/ && python -m pytest -q tests/")
    return 0


def staging_names() -> list[Path]:
    """The top-level files and folders the starter writes."""
    return sorted({Path(relative.parts[0]) for _, relative in starter_files()})


def _move_into(staging: Path, target: Path) -> None:
    """Move the finished project into place: a rename when DIR is absent or empty;
    else file by file, each replacing DIR's file of the same name and nothing else
    (:class:`Conflict`, before anything is moved, where DIR has a folder in the way
    of a starter's file, or a file in the way of a starter's folder)."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.replace(staging, target)
        return
    files = sorted(path.relative_to(staging) for path in staging.rglob("*") if path.is_file())
    for relative in files:
        for folder in reversed(relative.parents[:-1]):
            if (target / folder).exists() and not (target / folder).is_dir():
                raise Conflict(f"{target / folder} is a file where the starter writes a folder")
        if (target / relative).is_dir() and not (target / relative).is_symlink():
            raise Conflict(f"{target / relative} is a folder where the starter writes a file")
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / relative, target / relative)


class Conflict(Exception):
    """DIR holds something in the way of the starter that --force does not replace."""
