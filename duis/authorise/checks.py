"""Step 3 of the pipeline: the DUIS authorisation checks, in order, first failure wins.

Each check is a small function of an :class:`AuthorisationContext` that says
whether the request passes it; :data:`CHECKS` lists them in DUIS order with
their response codes.  Checks that need the target device pass when it does
not exist, so that E19 (the last check) reports that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ..catalogue import LOCAL_VARIANTS, WEB_SERVICES, ServiceRequest
from ..catalogue.authorisation import authorisation_rules
from ..messages import Request
from ..profiles import ProfileQuestions
from ..smi import Device, User

SIGNED_PRECOMMAND_VARIANTS = frozenset({5, 6, 7})


@dataclass(frozen=True)
class AuthorisationContext:
    request: Request
    service: ServiceRequest
    user: User | None
    device: Device | None
    """The target device of a device request (None when absent, or for non-device requests)."""
    profile: ProfileQuestions
    dsp_eui: str
    """The DCC's own identity (the Access Control Broker): non-device requests target it."""
    web_service: str | None = None
    """``S``, ``T`` or ``D`` when known (the HTTP endpoint); None in-process (E13 not checked)."""

    @cached_property
    def usable_roles(self) -> frozenset[str]:
        """The user's roles that may send this request."""
        return self.user.roles & self.service.roles if self.user else frozenset()

    @property
    def future_dated(self) -> bool:
        return self.request.body.child("ExecutionDateTime") is not None


@dataclass(frozen=True)
class Decision:
    code: str | None
    """The failing check's response code, or None when every check passed."""
    reason: str

    @property
    def accepted(self) -> bool:
        return self.code is None


def e1_known_user(ctx: AuthorisationContext) -> bool:
    return ctx.user is not None


def e2_role_may_send(ctx: AuthorisationContext) -> bool:
    return bool(ctx.usable_roles)


def e3_user_not_suspended(ctx: AuthorisationContext) -> bool:
    assert ctx.user is not None  # E1 refused an unknown user first
    return ctx.user.status != "Suspended"


def e4_user_eligible_for_device(ctx: AuthorisationContext) -> bool:
    if ctx.device is None or ctx.service.critical or ctx.service.non_device:
        return True
    assert ctx.user is not None  # E1 refused an unknown user first
    r, user, device = authorisation_rules(), ctx.user.eui, ctx.device
    roles = ctx.usable_roles
    return bool(roles & r.open_roles
                or (roles & r.supplier_roles and device.supplier == user)
                or (roles & r.network_roles and device.network_operator == user))


def e5_device_status_allows(ctx: AuthorisationContext) -> bool:
    device, service, r = ctx.device, ctx.service, authorisation_rules()
    if device is None or service.non_device:
        return True
    if service.critical:  # not applied, except to signed pre-commands in Recovery
        return not (ctx.request.command_variant in SIGNED_PRECOMMAND_VARIANTS
                    and device.status == r.recovery_status)
    if device.status in r.addressable_statuses:
        return True
    if device.status == "Suspended":
        return ctx.profile.allows_while_suspended(service.variant, ctx.request.command_variant,
                                                  device.smets)
    return False


def e11_valid_for_device_type(ctx: AuthorisationContext) -> bool:
    types = ctx.service.device_types
    return ctx.device is None or not types or ctx.device.device_type in types


def e12_command_variant_allowed(ctx: AuthorisationContext) -> bool:
    return ctx.request.command_variant in ctx.service.command_variants


def e13_right_web_service(ctx: AuthorisationContext) -> bool:
    if ctx.web_service is None:
        return True
    return ctx.request.command_variant in WEB_SERVICES.get(ctx.web_service, frozenset())


def e17_local_delivery_allowed(ctx: AuthorisationContext) -> bool:
    if ctx.request.command_variant not in LOCAL_VARIANTS:
        return True
    if not ctx.service.local_delivery or ctx.future_dated:
        return False
    if ctx.device is None:
        return True
    r, status = authorisation_rules(), ctx.device.status
    if status == "Suspended" and ctx.profile.allows_while_suspended(
            ctx.service.variant, ctx.request.command_variant, ctx.device.smets):
        return True
    if ctx.usable_roles & r.supplier_roles and status in r.local_statuses_supplier:
        return True
    return bool(ctx.usable_roles - r.supplier_roles) and status in r.local_statuses_other


def e19_device_exists(ctx: AuthorisationContext) -> bool:
    if ctx.service.non_device:
        return str(ctx.request.target) == ctx.dsp_eui
    return ctx.device is not None


Check = Callable[[AuthorisationContext], bool]

#: DUIS Table 22, in order: (response code, what is checked, check)
CHECKS: tuple[tuple[str, str, Check], ...] = (
    ("E1", "the sender is a known DCC user", e1_known_user),
    ("E2", "one of the user's roles may send this service request", e2_role_may_send),
    ("E3", "the user is not suspended", e3_user_not_suspended),
    ("E4", "the user is eligible for the target device", e4_user_eligible_for_device),
    ("E5", "the device's status allows this service request", e5_device_status_allows),
    ("E11", "the service request is valid for the device type", e11_valid_for_device_type),
    ("E12", "the command variant is valid for the service request",
     e12_command_variant_allowed),
    ("E13", "the request came through the right web service", e13_right_web_service),
    ("E17", "local delivery is allowed", e17_local_delivery_allowed),
    ("E19", "the target device exists", e19_device_exists),
)


#: what every accepted request gets (decisions are immutable: one will do)
ACCEPTED = Decision(None, "every authorisation check passed")


def decide(ctx: AuthorisationContext) -> Decision:
    """Run the checks in order; the first that fails decides."""
    for code, what, check in CHECKS:
        if not check(ctx):
            return Decision(code, f"check failed: {what}")
    return ACCEPTED
