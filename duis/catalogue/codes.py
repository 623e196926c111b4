"""Readable meanings of command variants and response codes (data in ``codes.toml``)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _codes() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("codes.toml").read_text("utf-8"))


def command_variant_meaning(variant: int) -> str:
    return _codes()["command_variants"].get(str(variant), "unknown command variant")


def response_code_meaning(code: str) -> str:
    return _codes()["response_codes"].get(code, "see the DUIS response code table")
