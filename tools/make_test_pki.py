"""Regenerate the project's test PKI into ``samples/pki/`` (deterministic: same seed, same bytes).

    python tools/make_test_pki.py [DIRECTORY] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from duis.signatures.testpki import DEFAULT_SEED, generate_test_pki  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(ROOT / "samples" / "pki"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    files = generate_test_pki(args.directory, seed=args.seed)
    print(f"wrote {len(files)} files to {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
