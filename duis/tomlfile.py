"""TOML files with positions: where each table and key starts.

``tomllib`` parses but gives no line numbers; world files and scenario files
need them so every error can name its line.  :class:`TomlLines` finds them by
scanning the text (skipping strings, comments and multi-line values).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from typing import Any

from .errors import DuisError


def decode_error_position(text: str) -> tuple[str, int | None]:
    """A ``tomllib`` error message without its position, and the line it names."""
    match = re.search(r"\s*\(at line (\d+), column \d+\)$", text)
    if not match:
        return text, None
    return text[:match.start()], int(match.group(1))


def parse_toml(text: str, source: str, error: type[DuisError]) -> dict[str, Any]:
    """``text`` parsed as TOML; ``error`` ("not valid TOML: ...") naming ``source``
    and the line when it is not."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line = decode_error_position(str(exc))
        raise error(f"not valid TOML: {message}", source=source, line=line) from None
    except RecursionError:  # tomllib parses nested arrays and tables by recursion
        raise error("TOML nested too deeply", source=source,
                    expected="arrays and tables nested a few levels",
                    found="more levels than the parser can follow") from None


def is_number(value: Any, low: float = 0, high: float = math.inf) -> bool:
    """Whether ``value`` is a TOML number from ``low`` to ``high``: an integer or a
    float, not a boolean (a ``bool`` is an ``int`` to Python), and not ``inf`` or
    ``nan`` (which TOML allows)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and low <= value <= high


#: the longest TOML file read (a world, scenario or settings file): refused unread beyond
MAX_TOML_CHARS = 64 * 1024 * 1024
#: how :func:`read_toml`'s error for a file it could not read begins
CANNOT_READ = "cannot read"


def read_toml(path: str | os.PathLike[str], error: type[DuisError],
              what: str) -> tuple[str, dict[str, Any]]:
    """The text of the TOML file ``path`` and its tables; ``error`` ("cannot read
    ``what``" or "not valid TOML") naming the file, and the line where there is one."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read(MAX_TOML_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        found = type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            found += f" ({exc.strerror})"
        raise error(f"{CANNOT_READ} {what}", source=source,
                    expected="a readable UTF-8 TOML file", found=found) from None
    if len(text) > MAX_TOML_CHARS:
        raise error(f"{what} too large", source=source,
                    expected=f"at most {MAX_TOML_CHARS:,} characters", found="more")
    return text, parse_toml(text, source, error)


class TomlLines:
    """Where each table and key starts in the TOML text (1-based line numbers).

    ``item[(table, index)]`` is the line of the index-th ``[[table]]`` header
    (or of ``[table]``, index 0), ``key[(table, index, key)]`` the line of a
    key inside it; top-level keys live under table ``""``.  Lines inside
    multi-line strings and arrays are skipped.
    """

    _ARRAY = re.compile(r"\s*\[\[\s*([^\]]+?)\s*\]\]")
    _TABLE = re.compile(r"\s*\[\s*([^\]]+?)\s*\]")
    _KEY = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]""")

    def __init__(self, text: str) -> None:
        self.item: dict[tuple[str, int], int] = {}
        self.key: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        current = ("", 0)
        for number, line in self._top_level(text.split("\n")):
            if match := self._ARRAY.match(line):
                name = match.group(1).strip("\"'")
                current = (name, counts.get(name, 0))
                counts[name] = current[1] + 1
                self.item[current] = number
            elif match := self._TABLE.match(line):
                current = (match.group(1).strip("\"'"), 0)
                self.item.setdefault(current, number)
            elif match := self._KEY.match(line):
                self.key.setdefault((*current, match.group(1).strip("\"'")), number)

    @staticmethod
    def _top_level(lines: list[str]):
        """Yield (line number, line) for lines that start outside any value."""
        depth, open_string = 0, None
        for number, line in enumerate(lines, start=1):
            if depth == 0 and open_string is None:
                yield number, line
            depth, open_string = scan_line(line, depth, open_string)

    def line(self, table: str, index: int, key: str | None = None) -> int | None:
        if key is not None and (table, index, key) in self.key:
            return self.key[(table, index, key)]
        return self.item.get((table, index)) or self.key.get(("", 0, table))


def scan_line(line: str, depth: int, open_string: str | None) -> tuple[int, str | None]:
    """Bracket depth and open multi-line string after ``line`` (strings and comments skipped)."""
    i, end = 0, len(line)
    while i < end:
        if open_string:
            close = line.find(open_string, i)
            if close < 0:
                return depth, open_string
            i, open_string = close + 3, None
            continue
        char = line[i]
        if char == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            open_string, i = line[i:i + 3], i + 3
        elif char == '"':
            i += 1
            while i < end and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        elif char == "'":
            close = line.find("'", i + 1)
            i = close + 1 if close >= 0 else end
        else:
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth = max(0, depth - 1)
            i += 1
    return depth, open_string
