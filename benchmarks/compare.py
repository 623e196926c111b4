"""Run benchmarks on an earlier commit and on the working tree, in one run, side by side.

    python benchmarks/compare.py BASE [bench_name ...]

``BASE`` is any git revision (``make bench-compare BASE=0cad18d``).  Each
benchmark module runs as its own process, first on a checkout of ``BASE``
(a git worktree under ``.bench/``) and then on the working tree, module by
module, so both see the same machine at nearly the same moment.  Each tree
runs its own copy of the benchmark (a module renamed since ``BASE`` keeps
working) with its own ``duis`` first on ``sys.path``.

The output pairs the lines of the two runs: a line whose words are the same on
both sides is printed once, from the working tree, followed by the ratio of
each figure (now / before); lines that differ are printed as ``before:`` and
``now:``.  Whether a larger figure is better depends on the figure (a time or
a rate): read the line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def _worktree(revision: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = ROOT / ".bench" / f"base-{sha}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT,
                       check=True, capture_output=True)
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
    return NUMBER.sub("#", line).strip()


def side_by_side(before: list[str], now: list[str]) -> list[str]:
    """The two runs' lines paired in order (see the module docstring)."""
    out = []
    for index in range(max(len(before), len(now))):
        old = before[index] if index < len(before) else ""
        new = now[index] if index < len(now) else ""
        if _shape(old) == _shape(new):
            ratios = [f"{b / a:.2f}x" if a else "-" for a, b in
                      zip(_numbers(old), _numbers(new), strict=True)]
            out.append(new + (f"    [now/before: {' '.join(ratios)}]" if ratios else ""))
        else:
            out.extend([f"before: {old}", f"now:    {new}"])
    return out


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    base = _worktree(argv[0])
    wanted = argv[1:]
    modules = sorted({p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")}
                     | {p.stem for p in (base / "benchmarks").glob("bench_*.py")})
    if wanted:
        modules = [m for m in modules if m in wanted or m[6:] in wanted]
    print(f"before: {argv[0]} ({base}); now: the working tree ({ROOT})", flush=True)
    for module in modules:
        print(f"== {module}", flush=True)
        for line in side_by_side(_run(base, module), _run(ROOT, module)):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
