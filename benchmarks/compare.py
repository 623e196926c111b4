"""Run benchmarks on an earlier commit and on the working tree, in one run, side by side.

    python benchmarks/compare.py BASE [--pairs N] [bench_name ...]
    make bench-compare BASE=REV [BENCH="roundtrip signatures"] [PAIRS=3]

``BASE`` is any git revision.  Each benchmark module runs as its own process,
first on a checkout of ``BASE`` (a git worktree under ``.bench/``) and then on
the working tree, module by module, so both see the same machine at nearly the
same moment.  Each tree runs its own copy of the benchmark (a module renamed
since ``BASE`` keeps working) with its own ``duis`` first on ``sys.path``.

``--pairs N`` runs each module N times on each side, taking turns (before,
now, before, now, ...), and each ratio is the median of the N pairs' ratios,
with the lowest and highest: this machine's speed drifts by 20% and more from
minute to minute, and a single pair can credit that drift to the code.

The output pairs the lines of the two runs, matched by their words as a diff
matches lines (a line one side has and the other has not shifts nothing else):
a line whose words are the same on both sides is printed once, from the working
tree's first run, followed by the ratio of each figure (now / before); the
lines of one side only are printed as ``before:`` and ``now:``.  Whether a
larger figure is better depends on the figure (a time or a rate): read the line.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def _worktree(sha: str) -> Path:
    """A checkout of commit ``sha`` under ``.bench/`` (made once, then reused)."""
    tree = ROOT / ".bench" / f"base-{sha}"
    if not tree.exists():
        _git("worktree", "add", "--detach", str(tree), sha)
    return tree


def _run(tree: Path, module: str) -> list[str]:
    script = tree / "benchmarks" / f"{module}.py"
    if not script.exists():
        return [f"(no {module} at this revision)"]
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, str(tree / "benchmarks" / "run.py"), module],
                          cwd=tree, env=env, capture_output=True, text=True)
    lines = done.stdout.splitlines()
    if done.returncode:
        lines.append(f"(exit status {done.returncode}: {done.stderr.strip()[-300:]})")
    return lines


def _numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(line)]


def _shape(line: str) -> str:
    """A line's words: its figures and the white space that aligns them left out (a
    right-aligned figure one digit longer moves the words before it)."""
    return " ".join(NUMBER.sub("#", line).split())


def side_by_side(before: list[str], now: list[str]) -> list[str]:
    """The two runs' lines paired (see the module docstring)."""
    return compared([(before, now)])


def compared(pairs: list[tuple[list[str], list[str]]]) -> list[str]:
    """The lines of pairs of runs (before, now) side by side.  The first pair's
    lines are matched as ``difflib`` matches them by their words (a line added or
    taken away shifts nothing else); a matched line gives each figure's ratio, the
    median over the pairs whose runs have that line too (and, with more than one
    pair, the lowest and highest); the first pair's unmatched lines are printed
    as ``before:`` and ``now:``."""
    first_before, first_now = pairs[0]
    others = []
    for before, now in pairs[1:]:
        others.append((before, now, _matched(first_now, now), _matched(now, before)))
    out = []
    matcher = difflib.SequenceMatcher(None, _shapes(first_before), _shapes(first_now),
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            out.extend(f"before: {line}" for line in first_before[i1:i2])
            out.extend(f"now:    {line}" for line in first_now[j1:j2])
            continue
        for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
            found = [(first_before[i], first_now[j])]
            for before, now, to_now, to_before in others:
                there = to_now.get(j)
                back = to_before.get(there) if there is not None else None
                if back is not None:
                    found.append((before[back], now[there]))
            out.append(_with_ratios(first_now[j], found, len(pairs)))
    return out


def _shapes(lines: list[str]) -> list[str]:
    return [_shape(line) for line in lines]


def _matched(a: list[str], b: list[str]) -> dict[int, int]:
    """For each line of ``a``, the line of ``b`` with the same words that difflib
    pairs with it."""
    matcher = difflib.SequenceMatcher(None, _shapes(a), _shapes(b), autojunk=False)
    return {block.a + k: block.b + k for block in matcher.get_matching_blocks()
            for k in range(block.size)}


def _with_ratios(line: str, found: list[tuple[str, str]], pairs: int) -> str:
    """``line`` and the ratio of each of its figures over the ``found`` (before,
    now) lines, all with its words."""
    columns = zip(*([b / a if a else None for a, b in
                     zip(_numbers(old), _numbers(new), strict=True)]
                    for old, new in found), strict=True)
    ratios = [_ratio([r for r in column if r is not None]) for column in columns]
    if not ratios:
        return line
    label = "now/before"
    if pairs > 1:
        label += f", median of {len(found)} pair{'s' if len(found) > 1 else ''}"
        if len(found) < pairs:
            label += f" of {pairs} (the words differ in the others)"
    return f"{line}    [{label}: {' '.join(ratios)}]"


def _ratio(values: list[float]) -> str:
    if not values:
        return "-"
    middle = f"{statistics.median(values):.2f}x"
    if len(values) == 1:
        return middle
    return f"{middle} ({min(values):.2f}-{max(values):.2f})"


def _pairs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of pairs, 1 or more")
    return value


def _names(name: str, module: str) -> bool:
    """Whether ``name`` (``bench_x`` or ``x``) names ``module``."""
    return name in (module, module.removeprefix("bench_"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="compare.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", metavar="BASE", help="the earlier revision")
    parser.add_argument("modules", metavar="bench_name", nargs="*",
                        help="benchmark modules (bench_x or x); all by default")
    parser.add_argument("--pairs", type=_pairs, default=1, metavar="N",
                        help="runs of each module on each side, taking turns (default 1)")
    args = parser.parse_intermixed_args(argv)
    try:
        sha = _git("rev-parse", "--short", args.base)
        listed = _git("ls-tree", "--name-only", sha, "benchmarks/").split()
    except subprocess.CalledProcessError as exc:
        print(f"compare.py: no revision {args.base!r}: {exc.stderr.strip()[-200:]}",
              file=sys.stderr)
        return 2
    modules = sorted({p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")}
                     | {Path(name).stem for name in listed
                        if Path(name).name.startswith("bench_") and name.endswith(".py")})
    unknown = [name for name in args.modules if not any(_names(name, m) for m in modules)]
    if unknown:
        print(f"compare.py: no benchmark {', '.join(unknown)} (there are: "
              f"{', '.join(m.removeprefix('bench_') for m in modules)})", file=sys.stderr)
        return 2
    if args.modules:
        modules = [m for m in modules if any(_names(name, m) for name in args.modules)]
    base = _worktree(sha)
    print(f"before: {args.base} ({base}); now: the working tree ({ROOT})"
          + (f"; {args.pairs} pairs of runs, taking turns" if args.pairs > 1 else ""),
          flush=True)
    for module in modules:  # each run's output begins with its "== module" line
        runs = [(_run(base, module), _run(ROOT, module)) for _ in range(args.pairs)]
        for line in compared(runs):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
