"""Small helpers shared by sub-commands: file arguments, progress, output."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator

from ..errors import DuisError
from ..xmlparse import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_NODES, ParseLimits

XML_SUFFIXES = {".xml"}


class UsageError(DuisError):
    """A command-line value that cannot be used (exit 2); its source is the command
    line unless it names a file."""

    def __init__(self, message: str, **fields) -> None:
        fields.setdefault("source", "command line")
        super().__init__(message, **fields)


def instant(text: str | None, option: str):
    """An ISO-8601 instant given on the command line (naive: UTC), or None."""
    if text is None:
        return None
    from ..clock import UTC, parse_instant  # only the commands with --now need the clock
    try:
        return parse_instant(text).astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO-8601; or a zone that leaves the calendar
        raise UsageError("not an instant", path=option,
                         expected="ISO-8601, e.g. 2026-03-09T02:00:00Z", found=repr(text)) from None


def counter_argument(text: str) -> int:
    """``argparse`` type: a RequestID or GBCS counter, 0 to 2**64 - 1 (else exit 2)."""
    from ..messages.ids import MAX_COUNTER
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or int(text) > MAX_COUNTER:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_COUNTER}, "
                                         f"found {text[:40]!r}")
    return int(text)


def eui_argument(text: str) -> str:
    """``argparse`` type: an EUI-64 (dashed or compact, any case), as canonical text."""
    from ..errors import DuisError
    from ..messages.ids import canonical_eui
    try:
        return canonical_eui(text)
    except DuisError:
        raise argparse.ArgumentTypeError("expected an EUI-64 such as 00-DB-12-34-56-78-90-A0, "
                                         f"found {text[:40]!r}") from None


def path_argument(text: str) -> str:
    """``argparse`` type: a path to write (an empty one would write nothing, or into
    the current folder, without a word)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, found an empty one")
    return text


def positive_argument(text: str) -> int:
    """``argparse`` type: a whole number above 0."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, found {text[:40]!r}")
    return int(text)


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input limits")
    group.add_argument("--max-bytes", type=positive_argument, default=None, metavar="N",
                       help=f"refuse inputs larger than N bytes "
                            f"(default {DEFAULT_MAX_BYTES}, env DUIS_MAX_BYTES)")
    group.add_argument("--max-depth", type=positive_argument, default=None, metavar="N",
                       help=f"refuse elements nested deeper than N "
                            f"(default {DEFAULT_MAX_DEPTH}, env DUIS_MAX_DEPTH)")
    group.add_argument("--max-nodes", type=positive_argument, default=None, metavar="N",
                       help=f"refuse inputs with more than N elements and attributes, "
                            f"counted as '<' and '=' characters before parsing "
                            f"(default {DEFAULT_MAX_NODES}, env DUIS_MAX_NODES)")


def limits_from(args: argparse.Namespace) -> ParseLimits:
    base = ParseLimits.from_env()
    return ParseLimits(args.max_bytes or base.max_bytes, args.max_depth or base.max_depth,
                       args.max_nodes or base.max_nodes)


def add_schema_option(parser) -> None:
    """``--schema-dir DIR``, the one schema option of every command that validates
    (a parser or an argument group); :func:`use_schema` applies it."""
    parser.add_argument("--schema-dir", metavar="DIR", default=None,
                        help="validate against the DUIS schema files in DIR: the official "
                             "ones as published (e.g. 'DUIS Schema V5.4.xsd'), or a folder "
                             "with a duis.xsd; default: env DUIS_SCHEMA_DIR, else the "
                             "schema bundled with duis")


def use_schema(args: argparse.Namespace):
    """The schema ``--schema-dir`` names (else ``DUIS_SCHEMA_DIR``, else the bundled
    one), loaded now so that a wrong folder is reported before anything runs.

    Given, the folder also becomes this process's ``DUIS_SCHEMA_DIR``: every part
    of the command that validates (the DSP, a scenario's rig, ``duis serve``'s
    worker processes, which inherit the environment) uses the same schema, until
    the command ends (:func:`duis.cli.main` puts the environment back)."""
    from ..schema import load_schema
    from ..schema.loader import SCHEMA_DIR_ENV
    schema = load_schema(args.schema_dir)
    if args.schema_dir:
        schema.lxml_schema  # noqa: B018  (compiled now: a broken file is reported first)
        os.environ[SCHEMA_DIR_ENV] = os.path.realpath(args.schema_dir)
    return schema


def add_junit_option(parser, cases: str) -> None:
    """``--junit-xml FILE``: a JUnit XML report for CI, besides the usual output."""
    parser.add_argument("--junit-xml", metavar="FILE", default=None, type=path_argument,
                        help=f"also write a JUnit XML report to FILE, the format CI systems "
                             f"read ({cases}; written atomically)")


def expand_inputs(items: Iterable[str]) -> Iterator[str]:
    """Files as given; directories expand to the XML files below them, sorted."""
    for item in items:
        if item != "-" and os.path.isdir(item):
            from pathlib import Path  # for folders only: one file is checked without it
            for found in sorted(Path(item).rglob("*")):
                if found.is_file() and found.suffix.lower() in XML_SUFFIXES:
                    yield str(found)
        else:
            yield item


class Progress:
    """Progress on stderr for long batches (only on a terminal, or when forced)."""

    def __init__(self, total: int, enabled: bool | None = None, every: int = 100) -> None:
        self.total = total
        self.every = every
        self.enabled = (sys.stderr.isatty() and total >= every) if enabled is None else enabled

    def step(self, done: int) -> None:
        if self.enabled and (done % self.every == 0 or done == self.total):
            end = "\n" if done == self.total else ""
            print(f"\r{done}/{self.total} files", end=end, file=sys.stderr, flush=True)


def write_output(data: bytes, output: str | None, *, document: bool = False) -> None:
    """Write to stdout, or atomically to a file (temporary file, then rename).

    ``document``: ``data`` is an XML document, which on stdout ends with a newline
    (the shell's prompt then starts on a line of its own; a newline after the root
    element changes neither the document nor its signature); a file gets the bytes
    exactly."""
    if output in (None, "-"):
        if document and not data.endswith(b"\n"):
            data += b"\n"
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from pathlib import Path  # for files only: standard output needs none

    from ..files import write_file
    write_file(Path(output), data)


def add_store_option(parser) -> None:
    """``--store DIR``: the credential store (a parser or an argument group)."""
    parser.add_argument("--store", metavar="DIR", default=None,
                        help="credential store directory (default: env DUIS_PKI, else "
                             "the test PKI bundled with duis; 'duis pki init' makes one "
                             "for your own users)")


def store_from(args: argparse.Namespace):
    """The credential store ``--store`` names, or the default one."""
    from ..signatures import CredentialStore
    from ..signatures.credentials import default_store_directory
    return CredentialStore(args.store or default_store_directory())
