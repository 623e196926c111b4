"""The DUIS service request catalogue, loaded from ``service_requests.toml``.

The table is data, kept in one place; this module only reads it.  Each
Service Reference Variant (``11.3``, ``4.1.1``, ...) maps to a
:class:`ServiceRequest`.  An unknown variant raises :class:`UnknownServiceRequest`
rather than guessing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import DuisError

#: Command variants by kind of request (DUIS "Command Variant" table):
#: non-critical device SRs go as 1 (WAN), 2 (local delivery) or 3 (both);
#: (whether local delivery is allowed at all is a per-request fact, checked as E17)
#: critical ones are transformed (4) then sent signed (5, 6 local, 7 both);
#: non-device SRs are answered by the DCC (8).
NON_CRITICAL_VARIANTS = frozenset({1, 2, 3})
CRITICAL_VARIANTS = frozenset({4, 5, 6, 7})
NON_DEVICE_VARIANTS = frozenset({8})
LOCAL_VARIANTS = frozenset({2, 3, 6, 7})
#: command variants whose command the DSP sends to the device over the WAN (3 and 7: both)
WAN_VARIANTS = frozenset({1, 3, 5, 7})
#: DCC User roles (DUIS "User Role" codes) and what each stands for; which of
#: them are supplier, network and open roles is in ``authorisation.toml``
USER_ROLES: dict[str, str] = {
    "IS": "Import Supplier",
    "ES": "Export Supplier",
    "GS": "Gas Supplier",
    "ED": "Electricity Distributor",
    "GT": "Gas Transporter",
    "RSA": "Registered Supplier Agent",
    "OU": "Other User",
}
#: which command variants each DUIS web service accepts (E13)
WEB_SERVICES = {"S": WAN_VARIANTS, "T": frozenset({4}), "D": frozenset({2, 6, 8})}


class UnknownServiceRequest(DuisError):
    """The service reference variant is not in the DUIS catalogue."""

    exit_code = 1


@dataclass(frozen=True)
class ServiceRequest:
    variant: str
    """Service Reference Variant, e.g. ``11.3``."""
    name: str
    service_reference: str
    critical: bool
    non_device: bool
    on_demand: bool
    future_dated: str
    """Who holds a future-dated execution: ``none``, ``dsp``, ``device``, ``dsp+device``."""
    dcc_scheduled: bool
    roles: frozenset[str]
    """User roles eligible to send it (IS, ES, GS, ED, GT, RSA, OU)."""
    device_types: frozenset[str] = frozenset()
    """Device types a device request may target; empty where not recorded (E11 not checked)."""
    local_delivery: bool = False
    """May be returned for local delivery (command variants 2, 3, 6, 7)."""

    @property
    def command_variants(self) -> frozenset[int]:
        """The command variants this kind of request may use."""
        if self.non_device:
            return NON_DEVICE_VARIANTS
        return CRITICAL_VARIANTS if self.critical else NON_CRITICAL_VARIANTS

    @property
    def kind(self) -> str:
        if self.non_device:
            return "non-device (answered by the DCC)"
        return "critical device command" if self.critical else "non-critical device command"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, ServiceRequest]:
    """Every known service request, keyed by variant, in catalogue order."""
    text = resources.files(__package__).joinpath("service_requests.toml").read_text("utf-8")
    table = tomllib.loads(text)
    return {variant: ServiceRequest(variant=variant, name=row["name"],
                                    service_reference=row["service_reference"],
                                    critical=row["critical"], non_device=row["non_device"],
                                    on_demand=row["on_demand"],
                                    future_dated=row["future_dated"],
                                    dcc_scheduled=row["dcc_scheduled"],
                                    roles=frozenset(row["roles"]),
                                    device_types=frozenset(row.get("device_types", ())),
                                    local_delivery=row.get("local_delivery", False))
            for variant, row in table.items()}


def lookup(variant: str) -> ServiceRequest:
    """The catalogue entry for a service reference variant."""
    try:
        return catalogue()[variant]
    except KeyError:
        raise UnknownServiceRequest("unknown service reference variant",
                                    expected="a variant from the DUIS catalogue",
                                    found=repr(variant)) from None


def allowed_roles(variant: str) -> frozenset[str]:
    """User roles eligible for ``variant`` (the signature checks use this)."""
    return lookup(variant).roles


__all__ = ["USER_ROLES", "ServiceRequest", "UnknownServiceRequest", "allowed_roles", "catalogue",
           "lookup"]
