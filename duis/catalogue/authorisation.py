"""The authorisation facts (DUIS Table 22 as amended by MP105) as one frozen object,
loaded from ``authorisation.toml``; the role groups here are the one meaning of
"supplier role" and "network role" (E4 eligibility, and who may be recorded as a
device's supplier or network operator)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class AuthorisationRules:
    addressable_statuses: frozenset[str]
    recovery_status: str
    supplier_roles: frozenset[str]
    network_roles: frozenset[str]
    open_roles: frozenset[str]
    local_statuses_supplier: frozenset[str]
    local_statuses_other: frozenset[str]


@lru_cache(maxsize=1)
def authorisation_rules() -> AuthorisationRules:
    text = resources.files(__package__).joinpath("authorisation.toml").read_text("utf-8")
    t = tomllib.loads(text)
    return AuthorisationRules(
        addressable_statuses=frozenset(t["addressable_statuses"]),
        recovery_status=t["recovery_status"],
        supplier_roles=frozenset(t["supplier_roles"]),
        network_roles=frozenset(t["network_roles"]),
        open_roles=frozenset(t["open_roles"]),
        local_statuses_supplier=frozenset(t["local_delivery_statuses"]["supplier"]),
        local_statuses_other=frozenset(t["local_delivery_statuses"]["other"]))
