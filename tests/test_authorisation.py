"""DUIS authorisation (Table 22 as amended by MP105), against an independent oracle.

The expectations here are written from docs/DOMAIN.md ("Authorisation") and
the MP105 legal text (Table 22: E1-E5, E17, E19), and from the CommandVariant
table documented in the DUIS 5.4 XSD (which web service takes which command
variant).  They deliberately restate the facts instead of calling the code's
catalogue, rules or profile helpers, so a wrong fact there shows up here.

Each case builds a small in-memory SMI so it controls every status.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from duis.authorise import AuthorisationContext, authorise, decide
from duis.catalogue import ServiceRequest
from duis.clock import FixedClock
from duis.dsp import DSP
from duis.messages import build, leaf, node, request
from duis.profiles import profile
from duis.schema import VALID, check_tree
from duis.signatures import sign_with_store, verify
from duis.signatures.gbcs import sign_command
from duis.smi import CplEntry, Device, SqliteInventory, User

PKI = Path(__file__).resolve().parents[1] / "samples" / "pki"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

DSP_EUI = "90-B3-D5-1F-30-00-00-02"          # the DCC Access Control Broker (test PKI)
SUPPLIER = "90-B3-D5-1F-30-01-00-00"         # IS+GS, responsible for the meters
OTHER_SUPPLIER = "90-B3-D5-1F-30-02-00-00"   # IS+GS, responsible for nothing
NETWORK = "90-B3-D5-1F-30-05-00-00"          # ED+GT, network operator of the meters
OTHER_NETWORK = "90-B3-D5-1F-30-06-00-00"    # ED+GT, network operator of nothing
EXPORT = "90-B3-D5-1F-30-07-00-00"           # ES only
AGENT = "90-B3-D5-1F-30-08-00-00"            # RSA only
OTHER_USER = "90-B3-D5-1F-30-0A-00-00"       # OU only
SUSPENDED_USER = "90-B3-D5-1F-30-0B-00-00"   # IS+GS, suspended
UNKNOWN_USER = "90-B3-D5-1F-30-0C-00-00"

METER = "00-DB-12-34-56-78-90-A0"            # the ESME under test
GAS = "00-DB-12-34-56-78-90-A2"              # a GSME, same supplier
HUB = "00-DB-12-34-56-78-90-A1"              # a CHF
PROXY = "00-DB-12-34-56-78-90-A3"            # a GPF
IHD = "00-DB-12-34-56-78-90-A4"              # an IHD
ABSENT = "00-DB-12-34-56-78-90-FF"           # no such device

NAMES = {DSP_EUI: "dcc", SUPPLIER: "supplier", OTHER_SUPPLIER: "other-supplier",
         NETWORK: "network", OTHER_NETWORK: "other-network", EXPORT: "es", AGENT: "rsa",
         OTHER_USER: "ou", SUSPENDED_USER: "suspended-user", UNKNOWN_USER: "unknown-user",
         METER: "meter", GAS: "gas", HUB: "hub", PROXY: "proxy", IHD: "ihd", ABSENT: "absent"}


def ids(value) -> str:
    """Readable test IDs: users and devices by role, not by EUI-64."""
    return NAMES.get(value, str(value))


PROFILES = ("baseline", "mp105-option1", "mp105-option2")
STATUSES = ("Pending", "Whitelisted", "InstalledNotCommissioned", "Commissioned",
            "Decommissioned", "Withdrawn", "Suspended", "Recovery", "Recovered")

# --------------------------------------------------------------------------
# The oracle: facts restated from DOMAIN.md and the MP105 legal text.
# --------------------------------------------------------------------------

#: Table 22 E5: "Devices can only be communicated with ... if they are in a status of
#: Commissioned, InstalledNotCommissioned, Whitelisted, Pending or Recovered".
ADDRESSABLE = {"Commissioned", "InstalledNotCommissioned", "Whitelisted", "Pending",
               "Recovered"}
#: E5 Suspended exception list per profile.  Baseline (MP105 section 2.1 "Current
#: arrangements"): 11.1, 6.23, and 2.2 with CV 2 for SMETS1 devices.  MP105 Requirement 1
#: (both options) adds 11.2.
SUSPENDED_OK = {"baseline": {"11.1", "6.23"},
                "mp105-option1": {"11.1", "6.23", "11.2"},
                "mp105-option2": {"11.1", "6.23", "11.2"}}
#: E17: statuses in which local delivery is possible, by the sender's role group.
LOCAL_STATUSES_SUPPLIER = {"Pending", "Whitelisted", "InstalledNotCommissioned", "Commissioned"}
LOCAL_STATUSES_OTHER = {"InstalledNotCommissioned", "Commissioned"}


@dataclass(frozen=True)
class Case:
    """One request shape of the E5 matrix."""

    name: str
    variant: str
    cv: int
    smets: str = "SMETS2"


#: SR facts for the matrix (DUIS service request matrix, restated):
#: 11.2 non-critical device SR, no local delivery; 11.3 critical; 2.2 non-critical with
#: local delivery (IS/GS, ESME/GSME); 6.23 non-critical (IS/GS, ESME/GSME);
#: 8.2 and 12.1 non-device (CV 8, target = the DCC's ID).
E5_CASES = (
    Case("11.2-cv1", "11.2", 1),
    Case("11.3-cv5-signed-precommand", "11.3", 5),
    Case("11.3-cv4", "11.3", 4),
    Case("2.2-cv1", "2.2", 1),
    Case("6.23-cv1", "6.23", 1),
    Case("8.2-cv8", "8.2", 8),
    Case("12.1-cv8", "12.1", 8),
    Case("2.2-cv2-smets1", "2.2", 2, "SMETS1"),
    Case("2.2-cv2-smets2", "2.2", 2, "SMETS2"),
)


def expected_e5_matrix(case: Case, status: str, profile_name: str) -> str | None:
    """The response code the responsible supplier gets for ``case`` to an ESME in ``status``."""
    if case.variant in ("8.2", "12.1"):
        return None  # non-device: E5 not applicable (8.2 and 12.1 named explicitly)
    if case.variant == "11.3":
        # Critical: E5 not applied, except to signed pre-commands in Recovery.
        return "E5" if case.cv == 5 and status == "Recovery" else None
    if status == "Suspended":
        allowed = (case.variant in SUSPENDED_OK[profile_name]
                   or (case.variant == "2.2" and case.cv == 2 and case.smets == "SMETS1"))
        if not allowed:
            return "E5"
        # Decision (see module report): the Suspended exception for SMETS1 local top-ups
        # would be meaningless if E17 then refused it, so E17 lets it through.
        return None
    if status not in ADDRESSABLE:
        return "E5"  # Decommissioned, Withdrawn, Recovery (device SRs only)
    if case.cv == 2:
        # E17, supplier role: Pending, Whitelisted, InstalledNotCommissioned, Commissioned.
        # Recovered: the status before Recovery should be used, but the SMI does not
        # record it; Recovered is not in the list, so local delivery is refused.
        return None if status in LOCAL_STATUSES_SUPPLIER else "E17"
    return None


# --------------------------------------------------------------------------
# Worlds
# --------------------------------------------------------------------------

def device(eui: str = METER, device_type: str = "ESME", status: str = "Commissioned",
           smets: str = "SMETS2", supplier: str | None = SUPPLIER,
           network_operator: str | None = NETWORK, **kw) -> Device:
    before = kw.pop("status_before_suspension",
                    "Commissioned" if status == "Suspended" else None)
    return Device(eui=eui, device_type=device_type, manufacturer="Acme", model=device_type + "-1",
                  smets=smets, status=status, status_before_suspension=before,
                  firmware_version="1.0", supplier=supplier,
                  network_operator=network_operator, **kw)


def world(*devices: Device) -> SqliteInventory:
    inv = SqliteInventory(":memory:", clock=FixedClock(NOW))
    for eui, name, roles, status in (
            (SUPPLIER, "Supplier A", ["IS", "GS"], "Active"),
            (OTHER_SUPPLIER, "Supplier B", ["IS", "GS"], "Active"),
            (NETWORK, "Network A", ["ED", "GT"], "Active"),
            (OTHER_NETWORK, "Network B", ["ED", "GT"], "Active"),
            (EXPORT, "Exporter", ["ES"], "Active"),
            (AGENT, "Agent", ["RSA"], "Active"),
            (OTHER_USER, "Other", ["OU"], "Active"),
            (SUSPENDED_USER, "Suspended Supplier", ["IS", "GS"], "Suspended")):
        inv.add_user(User(eui, name, roles, status))
    for d in devices:
        inv.add_device(d)
    return inv


_BODIES = {
    "11.2": lambda cv: node("ReadFirmwareVersion"),
    "11.3": lambda cv: (node("SignedPreCommand", leaf("GBCSPayload", "Q1MwNg=="))
                        if cv in (5, 6, 7) else
                        node("ActivateFirmware", leaf("FirmwareHash", "AB" * 32))),
    "2.2": lambda cv: node("TopUpDevice", leaf("UTRN", "73018450291736450182")),
    "6.23": lambda cv: node("UpdateSecurityCredentialsCoS",
                            leaf("SupplierFloorSeqNumber", 5000)),
    "8.2": lambda cv: node("ReadInventory", leaf("DeviceID", METER)),
    "12.1": lambda cv: node("RequestWANMatrix", node("PartialAddress",
                                                     leaf("PostCode", "ZZ99 3AB"))),
}
_NON_DEVICE = {"8.2", "12.1"}


def req(variant: str, cv: int, originator: str = SUPPLIER, target: str | None = None,
        counter: int = 1000, body=None):
    if target is None:
        target = DSP_EUI if variant in _NON_DEVICE else METER
    return request(originator, target, counter, variant,
                   body if body is not None else _BODIES[variant](cv), command_variant=cv)


def code(inv, r, profile_name: str = "mp105-option2", web_service: str | None = None):
    return authorise(r, inv, profile(profile_name), DSP_EUI, web_service=web_service).code


# --------------------------------------------------------------------------
# E5: status x request x profile
# --------------------------------------------------------------------------

@pytest.mark.parametrize("profile_name", PROFILES)
@pytest.mark.parametrize("case", E5_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("status", STATUSES)
def test_e5_matrix(status, case, profile_name):
    inv = world(device(status=status, smets=case.smets))
    assert code(inv, req(case.variant, case.cv), profile_name) == \
        expected_e5_matrix(case, status, profile_name)


@pytest.mark.parametrize("profile_name,expected", [
    ("baseline", "E5"), ("mp105-option1", None), ("mp105-option2", None)])
@pytest.mark.parametrize("before", ["Commissioned", "InstalledNotCommissioned"])
def test_mp105_requirement_1_read_firmware_version_to_suspended(profile_name, expected, before):
    """The MP105 story: 11.2 to a Suspended meter, whatever it was before suspension."""
    inv = world(device(status="Suspended", status_before_suspension=before))
    assert code(inv, req("11.2", 1), profile_name) == expected


@pytest.mark.parametrize("device_type", ["ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"])
def test_read_firmware_version_to_any_suspended_device_type(device_type):
    inv = world(device(device_type=device_type, status="Suspended"))
    assert code(inv, req("11.2", 1), "baseline") == "E5"
    assert code(inv, req("11.2", 1), "mp105-option1") is None


@pytest.mark.parametrize("cv,expected", [(4, None), (5, "E5"), (6, "E5"), (7, "E5")])
def test_recovery_refuses_signed_precommands_only(cv, expected):
    """E5 is applied to Signed Pre-Commands (5, 6, 7) when the device is in Recovery;
    the critical request itself (4) is exempt.  (6/7 fail E5 before E17 is reached.)"""
    inv = world(device(status="Recovery"))
    assert code(inv, req("11.3", cv)) == expected


@pytest.mark.parametrize("status", ["Decommissioned", "Withdrawn", "Suspended"])
@pytest.mark.parametrize("cv", [4, 5])
def test_critical_requests_are_exempt_from_e5(status, cv):
    inv = world(device(status=status))
    assert code(inv, req("11.3", cv), "baseline") is None


# --------------------------------------------------------------------------
# E1, E2, E3
# --------------------------------------------------------------------------

def test_e1_unknown_user():
    inv = world(device())
    assert code(inv, req("11.2", 1, originator=UNKNOWN_USER)) == "E1"


def test_e1_unknown_user_for_non_device_request():
    inv = world(device())
    assert code(inv, req("8.2", 8, originator=UNKNOWN_USER)) == "E1"


@pytest.mark.parametrize("originator,variant,cv", [
    (NETWORK, "11.3", 4),        # network operator sending Activate Firmware (IS, GS only)
    (NETWORK, "11.3", 5),
    (NETWORK, "2.2", 1),         # supplier-only SR (Top Up) sent by an ED/GT
    (NETWORK, "6.23", 1),
    (EXPORT, "2.2", 1),          # ES is a supplier role, but not eligible for 2.2
    (EXPORT, "11.3", 4),
    (AGENT, "11.3", 4),
    (OTHER_USER, "2.2", 1),
], ids=ids)
def test_e2_role_not_eligible(originator, variant, cv):
    inv = world(device())
    assert code(inv, req(variant, cv, originator=originator)) == "E2"


@pytest.mark.parametrize("originator", [SUPPLIER, NETWORK, EXPORT, AGENT, OTHER_USER])
def test_every_role_may_send_read_inventory(originator):
    inv = world(device())
    assert code(inv, req("8.2", 8, originator=originator)) is None


def test_e3_suspended_user():
    inv = world(device(supplier=SUSPENDED_USER))
    assert code(inv, req("11.2", 1, originator=SUSPENDED_USER)) == "E3"


def test_e3_suspended_user_non_device():
    inv = world(device())
    assert code(inv, req("8.2", 8, originator=SUSPENDED_USER)) == "E3"


# --------------------------------------------------------------------------
# E4
# --------------------------------------------------------------------------

@pytest.mark.parametrize("originator,variant,cv,expected", [
    (SUPPLIER, "11.2", 1, None),
    (SUPPLIER, "2.2", 1, None),
    (OTHER_SUPPLIER, "11.2", 1, "E4"),        # not the responsible supplier
    (OTHER_SUPPLIER, "2.2", 1, "E4"),
    (OTHER_SUPPLIER, "6.23", 1, "E4"),
    (OTHER_SUPPLIER, "11.3", 4, None),        # critical: E4 not applied
    (OTHER_SUPPLIER, "11.3", 5, None),        # critical signed pre-command: E4 not applied
    (NETWORK, "11.2", 1, None),               # the device's network operator
    (OTHER_NETWORK, "11.2", 1, "E4"),         # another network operator
    (EXPORT, "11.2", 1, "E4"),                # ES, not the (import) responsible supplier
    (AGENT, "11.2", 1, None),                 # open role
    (OTHER_USER, "11.2", 1, None),            # open role
    (OTHER_SUPPLIER, "8.2", 8, None),         # non-device: no device eligibility
], ids=ids)
def test_e4_eligibility(originator, variant, cv, expected):
    inv = world(device())
    assert code(inv, req(variant, cv, originator=originator)) == expected


def test_e4_user_with_two_role_groups_is_eligible_through_either():
    """A user holding IS and ED is eligible for a device whose network operator it is,
    even though another supplier is responsible."""
    inv = world(device(supplier=OTHER_SUPPLIER, network_operator=None))
    inv.add_user(User("90-B3-D5-1F-30-0D-00-00", "Both", ["IS", "ED"]))
    inv.add_device(device(eui=GAS, device_type="GSME", supplier=OTHER_SUPPLIER,
                          network_operator="90-B3-D5-1F-30-0D-00-00"))
    assert code(inv, req("11.2", 1, originator="90-B3-D5-1F-30-0D-00-00",
                         target=GAS)) is None
    assert code(inv, req("11.2", 1, originator="90-B3-D5-1F-30-0D-00-00")) == "E4"


def test_e4_device_without_responsible_supplier():
    inv = world(device(supplier=None))
    assert code(inv, req("11.2", 1)) == "E4"


# --------------------------------------------------------------------------
# E11, E12, E13
# --------------------------------------------------------------------------

@pytest.mark.parametrize("variant,device_type,expected", [
    ("2.2", "CHF", "E11"), ("2.2", "GPF", "E11"), ("2.2", "PPMID", "E11"),
    ("2.2", "ESME", None), ("2.2", "GSME", None),
    ("6.23", "CHF", "E11"), ("6.23", "GSME", None),
    ("11.2", "IHD", "E11"), ("11.2", "CHF", None), ("11.2", "HCALCS", None),
    ("11.3", "IHD", "E11"), ("11.3", "GPF", None),
], ids=ids)
def test_e11_device_type(variant, device_type, expected):
    inv = world(device(device_type=device_type))
    assert code(inv, req(variant, 4 if variant == "11.3" else 1)) == expected


@pytest.mark.parametrize("variant,cv,expected", [
    ("11.2", 4, "E12"), ("11.2", 5, "E12"), ("11.2", 8, "E12"),
    ("11.2", 1, None), ("11.2", 3, "E17"),          # 3 is valid for it, but local -> E17
    ("11.3", 1, "E12"), ("11.3", 2, "E12"), ("11.3", 8, "E12"),
    ("2.2", 4, "E12"), ("2.2", 8, "E12"), ("2.2", 3, None),
    ("8.2", 1, "E12"), ("8.2", 4, "E12"), ("8.2", 5, "E12"),
    ("12.1", 1, "E12"),
], ids=ids)
def test_e12_command_variant(variant, cv, expected):
    inv = world(device())
    assert code(inv, req(variant, cv)) == expected


#: DUIS XSD CommandVariant table, "Req WS": SC (send command) for 1, 3, 5, 7;
#: T (transform) for 4; DO (DCC only) for 2, 6, 8.
@pytest.mark.parametrize("web_service,variant,cv,expected", [
    ("T", "11.2", 1, "E13"), ("D", "11.2", 1, "E13"), ("S", "11.2", 1, None),
    ("S", "8.2", 8, "E13"), ("T", "8.2", 8, "E13"), ("D", "8.2", 8, None),
    ("S", "11.3", 4, "E13"), ("D", "11.3", 4, "E13"), ("T", "11.3", 4, None),
    ("S", "11.3", 5, None), ("T", "11.3", 5, "E13"),
    ("S", "2.2", 2, "E13"), ("D", "2.2", 2, None),
    ("S", "2.2", 3, None), ("D", "2.2", 3, "E13"),
    (None, "11.2", 1, None), (None, "8.2", 8, None), (None, "11.3", 4, None),
], ids=ids)
def test_e13_web_service(web_service, variant, cv, expected):
    inv = world(device())
    assert code(inv, req(variant, cv), web_service=web_service) == expected


# --------------------------------------------------------------------------
# E17
# --------------------------------------------------------------------------

@pytest.mark.parametrize("variant,cv,expected", [
    ("11.2", 2, "E17"), ("11.2", 3, "E17"),   # 11.2 is not available for local delivery
    ("6.23", 2, "E17"),
    ("11.3", 6, "E17"), ("11.3", 7, "E17"),   # neither is 11.3
    ("2.2", 2, None), ("2.2", 3, None),
], ids=ids)
def test_e17_service_request_without_local_delivery(variant, cv, expected):
    inv = world(device())
    assert code(inv, req(variant, cv)) == expected


def test_e17_future_dated_request_is_never_local():
    """E17: "not available ... for local delivery where [it is] a Future Dated Service".
    (2.2 has no ExecutionDateTime in its schema; the body is built here directly, as a
    future-dated local request would look, since authorise() reads the typed request.)"""
    inv = world(device())
    body = node("TopUpDevice", leaf("UTRN", "73018450291736450182"),
                leaf("ExecutionDateTime", "2030-02-01T00:00:00.000Z"))
    assert code(inv, req("2.2", 2, body=body)) == "E17"
    assert code(inv, req("2.2", 2)) is None


@pytest.mark.parametrize("status", ["Pending", "Whitelisted", "InstalledNotCommissioned",
                                    "Commissioned", "Recovered"])
def test_e17_supplier_local_delivery_by_status(status):
    inv = world(device(status=status))
    expected = None if status in LOCAL_STATUSES_SUPPLIER else "E17"
    assert code(inv, req("2.2", 2)) == expected


# No catalogued local-delivery SR is open to network operators (2.2 is IS/GS only), so
# the role x status rule of E17 is exercised with a hypothetical local-delivery SR
# passed straight to the checks.
_ALL_ROLES = frozenset({"IS", "ES", "GS", "ED", "GT", "RSA", "OU"})
HYPOTHETICAL_LOCAL_SR = ServiceRequest(
    variant="4.1.1", name="hypothetical local read", service_reference="4.1",
    critical=False, non_device=False, on_demand=True, future_dated="none",
    dcc_scheduled=False, roles=_ALL_ROLES, device_types=frozenset(), local_delivery=True)


@pytest.mark.parametrize("status", ["Pending", "Whitelisted", "InstalledNotCommissioned",
                                    "Commissioned"])
@pytest.mark.parametrize("originator,group", [
    (SUPPLIER, "supplier"), (NETWORK, "other"), (AGENT, "other"), (OTHER_USER, "other")])
def test_e17_role_and_status(status, originator, group):
    inv = world(device(status=status))
    r = request(originator, METER, 1000, "4.1.1", node("ReadInstantaneousImportRegisters"),
                command_variant=2)
    ctx = AuthorisationContext(r, HYPOTHETICAL_LOCAL_SR, inv.user(originator),
                               inv.device(METER), profile("mp105-option2"), DSP_EUI)
    allowed = LOCAL_STATUSES_SUPPLIER if group == "supplier" else LOCAL_STATUSES_OTHER
    assert decide(ctx).code == (None if status in allowed else "E17")


# --------------------------------------------------------------------------
# E19
# --------------------------------------------------------------------------

@pytest.mark.parametrize("variant,cv", [("11.2", 1), ("2.2", 1), ("11.3", 4), ("11.3", 5),
                                        ("6.23", 1)])
def test_e19_device_absent(variant, cv):
    inv = world(device())
    assert code(inv, req(variant, cv, target=ABSENT)) == "E19"


def test_e19_device_request_addressed_to_the_dcc():
    inv = world(device())
    assert code(inv, req("11.2", 1, target=DSP_EUI)) == "E19"


@pytest.mark.parametrize("variant", ["8.2", "12.1"])
@pytest.mark.parametrize("target", [METER, ABSENT, "90-B3-D5-1F-30-00-00-03"])
def test_e19_non_device_request_not_addressed_to_the_dcc(variant, target):
    inv = world(device())
    assert code(inv, req(variant, 8, target=target)) == "E19"


# --------------------------------------------------------------------------
# Ordering: the first failing check decides
# --------------------------------------------------------------------------

def test_order_unknown_device_and_bad_command_variant_gives_e12():
    inv = world(device())
    assert code(inv, req("11.2", 4, target=ABSENT)) == "E12"


def test_order_unknown_device_and_wrong_web_service_gives_e13():
    inv = world(device())
    assert code(inv, req("11.2", 1, target=ABSENT), web_service="T") == "E13"


def test_order_unknown_device_and_no_local_delivery_gives_e17():
    inv = world(device())
    assert code(inv, req("11.2", 2, target=ABSENT)) == "E17"


def test_order_unknown_user_beats_everything():
    inv = world(device())
    assert code(inv, req("11.3", 8, originator=UNKNOWN_USER, target=ABSENT),
                web_service="S") == "E1"


def test_order_suspended_user_and_role_not_allowed_gives_e2():
    inv = world(device())
    inv.add_user(User("90-B3-D5-1F-30-0E-00-00", "Suspended NO", ["ED"], "Suspended"))
    assert code(inv, req("11.3", 4, originator="90-B3-D5-1F-30-0E-00-00")) == "E2"


def test_order_suspended_user_and_not_eligible_for_device_gives_e3():
    inv = world(device())  # SUSPENDED_USER is not the meter's supplier
    assert code(inv, req("11.2", 1, originator=SUSPENDED_USER)) == "E3"


def test_order_not_eligible_and_bad_status_gives_e4():
    inv = world(device(status="Decommissioned"))
    assert code(inv, req("11.2", 1, originator=OTHER_SUPPLIER)) == "E4"


def test_order_bad_status_and_wrong_device_type_gives_e5():
    inv = world(device(device_type="CHF", status="Decommissioned"))
    assert code(inv, req("2.2", 1)) == "E5"


def test_order_wrong_device_type_and_bad_command_variant_gives_e11():
    inv = world(device(device_type="CHF"))
    assert code(inv, req("2.2", 5)) == "E11"


@pytest.mark.parametrize("profile_name,expected", [
    ("baseline", "E5"), ("mp105-option1", "E17"), ("mp105-option2", "E17")])
def test_order_suspended_read_firmware_version_locally(profile_name, expected):
    """11.2 with CV 2 to a Suspended device: E5 before MP105, then E17 (no local delivery)."""
    inv = world(device(status="Suspended"))
    assert code(inv, req("11.2", 2), profile_name) == expected


def test_order_recovery_signed_precommand_local_gives_e5_before_e17():
    inv = world(device(status="Recovery"))
    assert code(inv, req("11.3", 6)) == "E5"


# --------------------------------------------------------------------------
# Through the DSP facade: signed Responses
# --------------------------------------------------------------------------

PKI_SUPPLIER, PKI_GAS_SUPPLIER, PKI_NETWORK = SUPPLIER, OTHER_SUPPLIER, NETWORK
HUB_FW, METER_FW, GAS_FW = "2.1.0", "1.0.0", "3.1"


def facade_world(profile_name: str = "mp105-option2", *, with_gas_supplier: bool = True,
                 meter_status: str = "Suspended") -> SqliteInventory:
    """A SMETS2 premises: hub, suspended meter on removed firmware, gas meter, proxy."""
    inv = SqliteInventory(":memory:", clock=FixedClock(NOW))
    inv.add_user(User(PKI_SUPPLIER, "Supplier A", ["IS", "GS"]))
    if with_gas_supplier:
        inv.add_user(User(PKI_GAS_SUPPLIER, "Supplier B", ["IS", "GS"]))
    inv.add_user(User(PKI_NETWORK, "Network", ["ED", "GT"]))
    inv.add_cpl_entry(CplEntry("Hubco", "H-2", HUB_FW, None, "SMETS2"))
    inv.add_cpl_entry(CplEntry("Acme", "E-2", METER_FW, None, "SMETS2", "Removed"))
    inv.add_cpl_entry(CplEntry("Acme", "E-2", "1.1.0", None, "SMETS2"))
    inv.add_cpl_entry(CplEntry("Gasco", "G-2", GAS_FW, None, "SMETS2"))
    common = dict(smets="SMETS2", supplier=PKI_SUPPLIER, network_operator=PKI_NETWORK)
    inv.add_device(Device(HUB, "CHF", "Hubco", "H-2", status="Commissioned",
                          status_before_suspension=None, firmware_version=HUB_FW, **common))
    inv.add_device(Device(METER, "ESME", "Acme", "E-2", status=meter_status,
                          status_before_suspension="Commissioned"
                          if meter_status == "Suspended" else None,
                          firmware_version=METER_FW, hub=HUB, mpxn="1900012345678", **common))
    inv.add_device(Device(GAS, "GSME", "Gasco", "G-2", status="Commissioned",
                          status_before_suspension=None, firmware_version=GAS_FW, hub=HUB,
                          **common))
    return inv


def facade(inv, store, schema, profile_name="mp105-option2") -> DSP:
    return DSP(inv, store, profile=profile(profile_name), clock=FixedClock(NOW), schema=schema)


def submit(dsp: DSP, store, r, web_service=None):
    return dsp.submit(sign_with_store(build(r), store, preserve_counter=True, now=NOW),
                      web_service=web_service)


def check_signed_response(store, schema, out, r, expected_code):
    """Common checks on a synchronous DSP answer."""
    assert out.kind == "response"
    assert out.code == expected_code
    assert out.recipient == str(r.originator)
    tree = etree.fromstring(out.xml).getroottree()
    assert check_tree(tree, schema).verdict == VALID
    verified = verify(out.xml, store, now=NOW)
    assert verified.kind == "Response"
    assert str(verified.signer_eui) == DSP_EUI
    ns = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
    root = verified.root
    assert root.findtext("sr:Header/sr:ResponseCode", namespaces=ns) == expected_code
    assert root.findtext("sr:Header/sr:RequestID", namespaces=ns) == \
        f"{r.originator}:{r.target}:{r.counter}"
    assert root.findtext("sr:Body/sr:ResponseMessage/sr:ServiceReferenceVariant",
                         namespaces=ns) == r.service_reference_variant
    return root


def test_facade_dsp_identity(store, schema):
    assert facade(facade_world(), store, schema).dsp_eui == DSP_EUI


@pytest.mark.parametrize("profile_name,expected", [
    ("baseline", "E5"), ("mp105-option1", "I99"), ("mp105-option2", "I99")])
def test_facade_read_firmware_version_to_suspended_meter(store, schema, profile_name, expected):
    dsp = facade(facade_world(), store, schema, profile_name)
    r = request(PKI_SUPPLIER, METER, 4242, "11.2", node("ReadFirmwareVersion"))
    sub = submit(dsp, store, r)
    assert sub.decision.code == (None if expected == "I99" else expected)
    assert len(sub.outgoing) == 1
    check_signed_response(store, schema, sub.response, r, expected)


def test_facade_read_firmware_version_commissioned_gives_i99(store, schema):
    dsp = facade(facade_world(meter_status="Commissioned"), store, schema, "baseline")
    r = request(PKI_SUPPLIER, METER, 4243, "11.2", node("ReadFirmwareVersion"))
    check_signed_response(store, schema, submit(dsp, store, r).response, r, "I99")


@pytest.mark.parametrize("originator,target,variant,cv,web_service,expected", [
    pytest.param("gas-supplier-absent", METER, "11.2", 1, None, "E1", id="E1-unknown-user"),
    pytest.param(PKI_NETWORK, METER, "11.3", 5, None, "E2", id="E2-role-not-allowed"),
    pytest.param(PKI_GAS_SUPPLIER, METER, "11.2", 1, None, "E4", id="E4-not-responsible"),
    pytest.param(PKI_SUPPLIER, HUB, "2.2", 1, None, "E11", id="E11-wrong-device-type"),
    pytest.param(PKI_SUPPLIER, HUB, "11.2", 1, "T", "E13", id="E13-wrong-web-service"),
    pytest.param(PKI_SUPPLIER, HUB, "11.2", 2, None, "E17", id="E17-no-local-delivery"),
    pytest.param(PKI_SUPPLIER, ABSENT, "11.2", 1, None, "E19", id="E19-absent-device"),
    pytest.param(PKI_SUPPLIER, METER, "8.2", 8, None, "E19", id="E19-non-device-not-to-dcc"),
])
def test_facade_refusals(store, schema, originator, target, variant, cv, web_service,
                         expected):
    inv = facade_world(with_gas_supplier=(originator != "gas-supplier-absent"))
    if originator == "gas-supplier-absent":
        originator = PKI_GAS_SUPPLIER  # has a certificate, but is not in the SMI
    dsp = facade(inv, store, schema)
    r = request(originator, target, 5000, variant, _BODIES[variant](cv), command_variant=cv)
    sub = submit(dsp, store, r, web_service)
    assert sub.decision.code == expected
    check_signed_response(store, schema, sub.response, r, expected)


@pytest.mark.parametrize("meter_status,expected", [
    ("Suspended", "I99"), ("Decommissioned", "I99"), ("Recovery", "E5")])
def test_facade_signed_precommand(store, schema, meter_status, expected):
    """Critical SRs are exempt from E5, except signed pre-commands to a Recovery device."""
    dsp = facade(facade_world(meter_status=meter_status), store, schema, "baseline")
    cv4 = request(PKI_SUPPLIER, METER, 5100, "11.3", _BODIES["11.3"](4), command_variant=4)
    pre = submit(dsp, store, cv4, web_service="T")
    root = check_signed_response(store, schema, pre.response, cv4, "I0")
    ns = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
    command = base64.b64decode(root.findtext(
        "sr:Body/sr:ResponseMessage/sr:PreCommand/sr:GBCSPayload", namespaces=ns))
    key = store.for_eui(PKI_SUPPLIER, "ds")[0].private_key
    signed = base64.b64encode(sign_command(command, key)).decode()
    r = request(PKI_SUPPLIER, METER, 5101, "11.3",
                node("SignedPreCommand", leaf("GBCSPayload", signed)), command_variant=5)
    sub = submit(dsp, store, r, web_service="S")
    check_signed_response(store, schema, sub.response, r, expected)


def test_facade_read_inventory_gives_i0_and_dsp_inventory(store, schema):
    dsp = facade(facade_world(), store, schema)
    r = request(PKI_SUPPLIER, DSP_EUI, 6000, "8.2",
                node("ReadInventory", leaf("DeviceID", METER)))
    sub = submit(dsp, store, r, web_service="D")
    assert sub.decision.code is None
    root = check_signed_response(store, schema, sub.response, r, "I0")
    ns = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
    devices = root.findall("sr:Body/sr:ResponseMessage/sr:DSPInventory/sr:Device", ns)
    got = {d.findtext("sr:DeviceID", namespaces=ns): (
        d.findtext("sr:DeviceType", namespaces=ns),
        d.findtext("sr:DeviceStatus", namespaces=ns),
        d.findtext("sr:DeviceFirmwareVersion", namespaces=ns),
        d.findtext("sr:CPLStatus", namespaces=ns)) for d in devices}
    # DOMAIN.md mapping chosen by the project: Current -> Active, Removed -> Withdrawn.
    assert got == {
        HUB: ("CHF", "Commissioned", HUB_FW, "Active"),
        METER: ("ESME", "Suspended", METER_FW, "Withdrawn"),
        GAS: ("GSME", "Commissioned", GAS_FW, "Active"),
    }
    assert [d.findtext("sr:DeviceID", namespaces=ns) for d in devices] == sorted(got)


def test_facade_read_inventory_reflects_a_restore(store, schema):
    """After the suspended meter reports Current firmware, 8.2 shows it restored."""
    from duis.dsp import FirmwareReport
    dsp = facade(facade_world(), store, schema)
    dsp.process_firmware_report(FirmwareReport(METER, "11.2", "1.1.0", sender=PKI_SUPPLIER))
    r = request(PKI_SUPPLIER, DSP_EUI, 6001, "8.2",
                node("ReadInventory", leaf("DeviceID", METER)))
    root = check_signed_response(store, schema, submit(dsp, store, r).response, r, "I0")
    ns = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
    meter = next(d for d in root.iter(f"{{{ns['sr']}}}Device")
                 if d.findtext("sr:DeviceID", namespaces=ns) == METER)
    assert meter.findtext("sr:DeviceStatus", namespaces=ns) == "Commissioned"
    assert meter.findtext("sr:DeviceFirmwareVersion", namespaces=ns) == "1.1.0"
    assert meter.findtext("sr:CPLStatus", namespaces=ns) == "Active"


def test_decisions_name_the_first_failing_check_or_accept():
    from duis.authorise.checks import ACCEPTED, CHECKS
    inv = world(device())
    accepted = authorise(req("11.2", 1), inv, profile("baseline"), DSP_EUI)
    assert accepted is ACCEPTED and accepted.accepted and accepted.code is None
    refused = authorise(req("11.2", 1, originator=SUSPENDED_USER), inv, profile("baseline"),
                        DSP_EUI)
    assert (refused.code, refused.accepted) == ("E3", False)
    assert refused.reason == "check failed: " + dict((c, w) for c, w, _ in CHECKS)["E3"]
    # the roles a user may use are worked out once per request, and stay right
    from duis.catalogue import lookup
    supplier = inv.user(SUPPLIER)
    ctx = AuthorisationContext(req("11.2", 1), lookup("11.2"), supplier, inv.device(METER),
                               profile("baseline"), DSP_EUI)
    assert ctx.usable_roles == supplier.roles & lookup("11.2").roles
    assert ctx.usable_roles is ctx.usable_roles
    nobody = AuthorisationContext(req("11.2", 1), lookup("11.2"), None, None,
                                  profile("baseline"), DSP_EUI)
    assert nobody.usable_roles == frozenset()
