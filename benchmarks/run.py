"""Run every benchmark module (``bench_*.py``) in this folder and print figures.

Each module exposes ``main()``; figures are medians measured in this run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load(path: Path) -> ModuleType:
    """The benchmark module at ``path``, registered under its name as an import would
    be: one module may use another (bench_serve_hostile runs bench_serve's server),
    and forked workers find its functions by name."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    here = Path(__file__).resolve().parent
    selected = sys.argv[1:]
    for path in sorted(here.glob("bench_*.py")):
        if selected and path.stem not in selected and path.stem[6:] not in selected:
            continue
        module = load(path)
        print(f"== {path.stem}", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
