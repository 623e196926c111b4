"""The service request catalogue, the code tables and the behaviour profiles (data)."""

from __future__ import annotations

import json

import pytest

from duis.catalogue import (
    CRITICAL_VARIANTS,
    NON_CRITICAL_VARIANTS,
    NON_DEVICE_VARIANTS,
    UnknownServiceRequest,
    catalogue,
    lookup,
)
from duis.profiles import JointProfile, ProfilesDisagree, UnknownProfile, profile, profiles


def test_every_variant_the_bundled_schema_covers_is_in_the_catalogue(bundled_schema):
    assert bundled_schema.covered <= set(catalogue())


def test_every_variant_the_schema_knows_is_in_the_catalogue(bundled_schema):
    assert bundled_schema.known == set(catalogue())


@pytest.mark.parametrize("variant, name, critical, non_device, variants", [
    ("11.1", "Update Firmware", False, True, NON_DEVICE_VARIANTS),
    ("11.2", "Read Firmware Version", False, False, NON_CRITICAL_VARIANTS),
    ("11.3", "Activate Firmware", True, False, CRITICAL_VARIANTS),
    ("8.2", "Read Inventory", False, True, NON_DEVICE_VARIANTS),
    ("6.23", "Update Security Credentials (CoS)", False, False, NON_CRITICAL_VARIANTS),
])
def test_covered_requests(variant, name, critical, non_device, variants):
    entry = lookup(variant)
    assert (entry.name, entry.critical, entry.non_device) == (name, critical, non_device)
    assert entry.command_variants == variants


def test_device_types_are_recorded_for_emulated_device_requests():
    assert lookup("2.2").device_types == {"ESME", "GSME"}
    assert "GPF" in lookup("11.2").device_types
    assert lookup("2.2").local_delivery and not lookup("11.2").local_delivery


def test_unknown_variant_is_said_clearly():
    with pytest.raises(UnknownServiceRequest) as caught:
        lookup("99.9")
    assert "unknown service reference variant" in str(caught.value)
    assert "'99.9'" in str(caught.value)


@pytest.mark.reference
def test_catalogue_agrees_with_the_reference_matrix(reference_dir):
    rows = json.loads((reference_dir / "catalogue" / "service-request-matrix.json").read_text())
    assert rows, "the reference matrix lists no service request"
    for row in rows:
        entry = lookup(row["Service Reference Variant"].strip())
        assert entry.critical == row["Critical"].startswith("Y"), entry.variant
        assert entry.non_device == row["Non-Device Request"].startswith("Y"), entry.variant
        assert entry.roles == set(row["Eligible User Roles"]), entry.variant


def test_three_profiles_and_their_differences():
    assert list(profiles()) == ["baseline", "mp105-option1", "mp105-option2"]
    base, one, two = (profile(n) for n in profiles())
    assert profile() is two
    assert not base.allows_while_suspended("11.2", 1, "SMETS2")
    assert one.allows_while_suspended("11.2", 1, "SMETS2")
    assert all(p.allows_while_suspended("2.2", 2, "SMETS1") for p in (base, one, two))
    assert not any(p.allows_while_suspended("2.2", 2, "SMETS2") for p in (base, one, two))
    assert not base.read_firmware_version_processed and one.read_firmware_version_processed
    assert not one.processes_activation(False) and two.processes_activation(False)
    assert base.processes_activation(True)


def test_a_joint_profile_answers_what_its_profiles_agree_on():
    base, one, two = (profile(n) for n in profiles())
    joint = JointProfile([base, one, two], "all profiles")
    assert joint.name == "all profiles"
    assert joint.processes_activation(True) is True
    assert joint.allows_while_suspended("11.1", 8, "SMETS2") is True
    assert joint.allows_while_suspended("3.1", 1, "SMETS2") is False
    assert JointProfile([one, two]).processes_firmware_read() is True
    assert JointProfile([one, two]).name == "mp105-option1 + mp105-option2"


@pytest.mark.parametrize("question, args, answers", [
    ("allows_while_suspended", ("11.2", 1, "SMETS2"),
     "baseline: False, mp105-option1: True, mp105-option2: True"),
    ("processes_activation", (False,),
     "baseline: False, mp105-option1: False, mp105-option2: True"),
    ("processes_firmware_read", (), "baseline: False, mp105-option1: True, mp105-option2: True"),
])
def test_a_joint_profile_refuses_a_question_its_profiles_answer_differently(question, args,
                                                                             answers):
    joint = JointProfile([profile(n) for n in profiles()], "all profiles")
    with pytest.raises(ProfilesDisagree) as caught:
        getattr(joint, question)(*args)
    error = caught.value
    assert error.found == answers
    assert error.path == f"{question}({', '.join(map(repr, args))})"
    assert error.source == "all profiles"


def test_a_joint_profile_has_no_data_fields_to_read_behind_its_back():
    joint = JointProfile([profile("baseline"), profile("mp105-option2")])
    for field in ("suspended_exceptions", "read_firmware_version_processed",
                  "activation_processed_on"):
        with pytest.raises(AttributeError):
            getattr(joint, field)
    with pytest.raises(ValueError):
        JointProfile([profile("baseline")])


def test_unknown_profile():
    with pytest.raises(UnknownProfile) as caught:
        profile("option3")
    assert "baseline or mp105-option1 or mp105-option2" in str(caught.value)
