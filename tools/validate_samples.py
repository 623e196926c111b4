#!/usr/bin/env python3
"""Validate every sample message and compare with its label in MANIFEST.toml.

Exits non-zero on any surprise: a verdict that differs from the label, a
sample without a label, or a label without a file.  With ``--schema-dir DIR``
the samples are also checked against the official schema (files the bundled
schema labels ``not-covered`` must then be valid).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from duis.schema import NOT_COVERED, VALID, load_schema, validate  # noqa: E402

SAMPLES = ROOT / "samples" / "messages"
EXPECT_WORDS = {"valid", "invalid", "not-covered", "unusable"}


def check(manifest: dict, schema, official) -> list[str]:
    surprises = []
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*")
               if p.is_file() and p.name != "MANIFEST.toml"}
    for name in sorted(on_disk - set(manifest)):
        surprises.append(f"{name}: no label in MANIFEST.toml")
    for name, label in manifest.items():
        expect = label.get("expect")
        if expect not in EXPECT_WORDS:
            surprises.append(f"{name}: label 'expect' must be one of {sorted(EXPECT_WORDS)}, "
                             f"found {expect!r}")
            continue
        path = SAMPLES / name
        if not path.is_file():
            surprises.append(f"{name}: labelled but missing")
            continue
        report = validate(str(path), schema)
        if report.verdict != expect:
            detail = report.issues[0].reason if report.issues else "no issues"
            surprises.append(f"{name}: expected {expect}, found {report.verdict} ({detail})")
        if official is not None and expect in (VALID, NOT_COVERED, "invalid"):
            wanted = VALID if expect == NOT_COVERED else expect
            verdict = validate(str(path), official).verdict
            if verdict != wanted:
                surprises.append(f"{name}: official schema says {verdict}, expected {wanted}")
    return surprises


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema-dir", help="also check against the official schema in DIR")
    args = parser.parse_args(argv)
    manifest = tomllib.loads((SAMPLES / "MANIFEST.toml").read_text("utf-8"))
    official = load_schema(args.schema_dir) if args.schema_dir else None
    surprises = check(manifest, load_schema(), official)
    for line in surprises:
        print(f"SURPRISE {line}")
    print(f"samples: {len(manifest)} labelled, {len(surprises)} surprise(s)")
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main())
