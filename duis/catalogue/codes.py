"""Readable meanings of command variants, response codes and DCC alert codes (data in
``codes.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _codes() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("codes.toml").read_text("utf-8"))


def command_variant_meaning(variant: int) -> str:
    return _codes()["command_variants"].get(str(variant), "unknown command variant")


def response_code_meaning(code: str) -> str:
    return _codes()["response_codes"].get(code, "see the DUIS response code table")


@dataclass(frozen=True)
class DccAlertCode:
    """A DCC alert code duis raises: the DCCAlert element it carries and its meaning."""

    code: str
    element: str
    meaning: str


def dcc_alerts() -> dict[str, DccAlertCode]:
    """Every DCC alert code duis raises, by code."""
    return {code: DccAlertCode(code, row["element"], row["meaning"])
            for code, row in _codes()["dcc_alerts"].items()}


def dcc_alert(code: str) -> DccAlertCode:
    """The table row of ``code``; KeyError when duis raises no such alert."""
    row = _codes()["dcc_alerts"][code]
    return DccAlertCode(code, row["element"], row["meaning"])
