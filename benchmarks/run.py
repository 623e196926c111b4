"""Run every benchmark module (``bench_*.py``) in this folder and print figures.

Each module exposes ``main()``; figures are medians measured in this run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    selected = sys.argv[1:]
    for path in sorted(here.glob("bench_*.py")):
        if selected and path.stem not in selected and path.stem[6:] not in selected:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem}", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
